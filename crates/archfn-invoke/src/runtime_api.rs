//! The Lambda Runtime API (2018-06-01) of one execution environment, on its own loopback port.
//!
//! `GET /runtime/invocation/next` hands out the next invocation; `POST …/{id}/response` and
//! `…/{id}/error` answer it; `POST /runtime/init/error` reports a failed init.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use tokio::sync::{Mutex, mpsc, oneshot, watch};

/// One invocation handed to the runtime.
#[derive(Debug)]
pub struct Invocation {
    /// The request id.
    pub request_id: String,
    /// The event, verbatim.
    pub payload: Bytes,
    /// Absolute deadline, Unix milliseconds.
    pub deadline_ms: i64,
    /// The ARN the caller used.
    pub invoked_arn: String,
    /// Client context JSON (decoded from base64), for sync invokes.
    pub client_context: Option<String>,
    /// X-Ray trace header.
    pub trace_id: String,
    /// Where the runtime's answer goes.
    pub reply: oneshot::Sender<RuntimeReply>,
}

/// What the runtime answered.
#[derive(Debug)]
pub enum RuntimeReply {
    /// `/response`.
    Response(Bytes),
    /// `/error`, with the error type header and the body as sent.
    Error {
        /// `Lambda-Runtime-Function-Error-Type`, if sent.
        error_type: Option<String>,
        /// The body, relayed unchanged.
        body: Bytes,
    },
}

/// An init failure reported through `/runtime/init/error`.
#[derive(Debug, Clone)]
pub struct InitError {
    /// Error type.
    pub error_type: String,
    /// Body as sent.
    pub body: Bytes,
}

struct ApiState {
    next: Mutex<mpsc::Receiver<Invocation>>,
    current: std::sync::Mutex<Option<(String, oneshot::Sender<RuntimeReply>)>>,
    ready: watch::Sender<bool>,
    init_error: watch::Sender<Option<InitError>>,
}

/// The host side of one environment's Runtime API.
#[derive(Debug)]
pub struct RuntimeApi {
    /// Where the runtime reaches it (`AWS_LAMBDA_RUNTIME_API`).
    pub addr: SocketAddr,
    /// Sends invocations.
    pub invocations: mpsc::Sender<Invocation>,
    /// Becomes true at the runtime's first `/next` (init done).
    pub ready: watch::Receiver<bool>,
    /// Set when the runtime reports an init error.
    pub init_error: watch::Receiver<Option<InitError>>,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for RuntimeApi {
    fn drop(&mut self) {
        self.server.abort();
    }
}

impl std::fmt::Debug for ApiState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ApiState")
    }
}

fn api_error(status: StatusCode, error_type: &str, message: &str) -> Response {
    (
        status,
        axum::Json(serde_json::json!({ "errorMessage": message, "errorType": error_type })),
    )
        .into_response()
}

async fn next(State(s): State<Arc<ApiState>>) -> Response {
    s.ready.send_replace(true);
    let mut rx = s.next.lock().await;
    let Some(inv) = rx.recv().await else {
        return api_error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "Runtime.Shutdown",
            "environment is shutting down",
        );
    };
    let mut headers = HeaderMap::new();
    let mut put = |k: &'static str, v: &str| {
        if let (false, Ok(v)) = (v.is_empty(), HeaderValue::from_str(v)) {
            headers.insert(k, v);
        }
    };
    put("lambda-runtime-aws-request-id", &inv.request_id);
    put("lambda-runtime-deadline-ms", &inv.deadline_ms.to_string());
    put("lambda-runtime-invoked-function-arn", &inv.invoked_arn);
    put("lambda-runtime-trace-id", &inv.trace_id);
    put(
        "lambda-runtime-client-context",
        inv.client_context.as_deref().unwrap_or(""),
    );
    put("content-type", "application/json");
    if let Ok(mut cur) = s.current.lock() {
        *cur = Some((inv.request_id.clone(), inv.reply));
    }
    (StatusCode::OK, headers, inv.payload).into_response()
}

fn take_current(s: &ApiState, id: &str) -> Option<oneshot::Sender<RuntimeReply>> {
    let mut cur = s.current.lock().ok()?;
    match cur.as_ref() {
        Some((current, _)) if current == id => cur.take().map(|(_, tx)| tx),
        _ => None,
    }
}

const MAX_RESPONSE_BYTES: usize = 6 * 1024 * 1024 + 100;

async fn response(State(s): State<Arc<ApiState>>, Path(id): Path<String>, body: Bytes) -> Response {
    let Some(tx) = take_current(&s, &id) else {
        return api_error(
            StatusCode::BAD_REQUEST,
            "InvalidRequestID",
            "Invalid request ID",
        );
    };
    if body.len() > MAX_RESPONSE_BYTES {
        let _ = tx.send(RuntimeReply::Error {
            error_type: Some("Function.ResponseSizeTooLarge".into()),
            body: Bytes::from(
                serde_json::json!({
                    "errorMessage": format!("Response payload size exceeded maximum allowed payload size ({MAX_RESPONSE_BYTES} bytes)."),
                    "errorType": "Function.ResponseSizeTooLarge",
                })
                .to_string(),
            ),
        });
        return api_error(
            StatusCode::PAYLOAD_TOO_LARGE,
            "RequestEntityTooLarge",
            "response too large",
        );
    }
    let _ = tx.send(RuntimeReply::Response(body));
    (
        StatusCode::ACCEPTED,
        axum::Json(serde_json::json!({ "status": "OK" })),
    )
        .into_response()
}

fn error_type(headers: &HeaderMap) -> Option<String> {
    headers
        .get("lambda-runtime-function-error-type")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

async fn invocation_error(
    State(s): State<Arc<ApiState>>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Some(tx) = take_current(&s, &id) else {
        return api_error(
            StatusCode::BAD_REQUEST,
            "InvalidRequestID",
            "Invalid request ID",
        );
    };
    let _ = tx.send(RuntimeReply::Error {
        error_type: error_type(&headers),
        body,
    });
    (
        StatusCode::ACCEPTED,
        axum::Json(serde_json::json!({ "status": "OK" })),
    )
        .into_response()
}

async fn init_error(State(s): State<Arc<ApiState>>, headers: HeaderMap, body: Bytes) -> Response {
    let error_type = error_type(&headers).unwrap_or_else(|| "Runtime.Unknown".into());
    s.init_error
        .send_replace(Some(InitError { error_type, body }));
    (
        StatusCode::ACCEPTED,
        axum::Json(serde_json::json!({ "status": "OK" })),
    )
        .into_response()
}

impl RuntimeApi {
    /// Starts the Runtime API of one environment on a free loopback port.
    pub async fn start() -> std::io::Result<RuntimeApi> {
        let (tx, rx) = mpsc::channel(1);
        let (ready_tx, ready_rx) = watch::channel(false);
        let (err_tx, err_rx) = watch::channel(None);
        let state = Arc::new(ApiState {
            next: Mutex::new(rx),
            current: std::sync::Mutex::new(None),
            ready: ready_tx,
            init_error: err_tx,
        });
        let router = Router::new()
            .route("/2018-06-01/runtime/invocation/next", get(next))
            .route(
                "/2018-06-01/runtime/invocation/{id}/response",
                post(response),
            )
            .route(
                "/2018-06-01/runtime/invocation/{id}/error",
                post(invocation_error),
            )
            .route("/2018-06-01/runtime/init/error", post(init_error))
            .layer(axum::extract::DefaultBodyLimit::max(
                MAX_RESPONSE_BYTES + 1024 * 1024,
            ))
            .with_state(state);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, router).await;
        });
        Ok(RuntimeApi {
            addr,
            invocations: tx,
            ready: ready_rx,
            init_error: err_rx,
            server,
        })
    }
}
