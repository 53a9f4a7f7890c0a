//! The Lambda Runtime API (2018-06-01) and Extensions API (2020-01-01) of one execution
//! environment, on its own loopback port.
//!
//! `GET /runtime/invocation/next` hands out the next invocation; `POST …/{id}/response` and
//! `…/{id}/error` answer it; `POST /runtime/init/error` reports a failed init. A response sent
//! with `Lambda-Runtime-Function-Response-Mode: streaming` (chunked) is passed on chunk by chunk
//! as it arrives (`RuntimeReply::Stream`), an error mid-stream coming in the trailers
//! (`Lambda-Runtime-Function-Error-Type`, `Lambda-Runtime-Function-Error-Body` in base64).
//! Extensions `POST /extension/register` for `INVOKE` and `SHUTDOWN`, then long-poll
//! `GET /extension/event/next`; an extension's next call after an event says it is done with
//! it. `POST /extension/init/error` and `/extension/exit/error` report failures.
//! `PUT /2022-07-01/telemetry` (or the older `PUT /2020-08-15/logs`) subscribes an extension to
//! the environment's telemetry (`telemetry.rs`).

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use tokio::sync::{Mutex, mpsc, oneshot, watch};

use crate::telemetry::{Api, Subscription, Telemetry};

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
    /// `/response` in streaming mode.
    Stream {
        /// The `Content-Type` the runtime gave its stream (Node.js's `HttpResponseStream` says
        /// `application/vnd.awslambda.http-integration-response`: a JSON prelude comes first).
        content_type: Option<String>,
        /// Its parts, in order, as they arrive; the last is [`StreamPart::End`] (a channel
        /// closed without it is a stream broken off).
        parts: mpsc::Receiver<StreamPart>,
    },
}

/// What a caller taking a streamed answer gets, in order: [`ResponsePart::Begin`] once, when the
/// runtime starts streaming, then the body's bytes as they arrive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ResponsePart {
    /// The runtime started streaming, with this content type
    /// (`application/octet-stream` when it gave none).
    Begin {
        /// The stream's `Content-Type`.
        content_type: String,
    },
    /// Bytes of the body.
    Data(Bytes),
}

/// One part of a streamed response.
#[derive(Debug)]
pub enum StreamPart {
    /// Bytes of the body, as the runtime sent them.
    Chunk(Bytes),
    /// The body ended so.
    End(StreamEnd),
}

/// How a streamed response ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StreamEnd {
    /// The body ended without an error trailer.
    Complete,
    /// The runtime reported an error in the trailers.
    Error {
        /// `Lambda-Runtime-Function-Error-Type`.
        error_type: String,
        /// `Lambda-Runtime-Function-Error-Body`, decoded from base64 (Lambda's error document).
        body: Bytes,
    },
    /// The body went past Lambda's limit of a streamed response
    /// ([`MAX_STREAMED_RESPONSE_BYTES`]); the rest was refused.
    TooLarge,
    /// The body broke off (the connection closed or the chunked encoding was bad).
    Broken(String),
}

/// Lambda's limit of a streamed response's body (200 MB, the default maximum since July 2025;
/// it was a soft limit of 20 MB before).
pub const MAX_STREAMED_RESPONSE_BYTES: u64 = 200 * 1024 * 1024;

/// Parts of a streamed response waiting for the engine: the runtime's writes wait when the
/// caller reads slower than it writes.
const STREAM_QUEUE: usize = 16;

/// An init failure reported through `/runtime/init/error`.
#[derive(Debug, Clone)]
pub struct InitError {
    /// Error type.
    pub error_type: String,
    /// Body as sent.
    pub body: Bytes,
}

/// What `/extension/register` answers with.
#[derive(Debug, Clone, Default)]
pub struct FunctionInfo {
    /// Function name.
    pub function_name: String,
    /// `$LATEST` or a version number.
    pub function_version: String,
    /// The handler string.
    pub handler: String,
    /// The account id (sent when the extension asks for the `accountId` feature).
    pub account_id: String,
    /// Names of the external extensions started with the runtime (`/opt/extensions/*`); any
    /// other name that registers is an internal extension (a part of the runtime's process).
    pub external_extensions: Vec<String>,
}

/// Lambda's limit on extensions per function, external and internal together.
const MAX_EXTENSIONS: usize = 10;

/// A registered extension.
struct ExtensionSlot {
    name: String,
    id: String,
    events: Vec<String>,
    queue: mpsc::UnboundedSender<serde_json::Value>,
    inbox: Mutex<mpsc::UnboundedReceiver<serde_json::Value>>,
    /// It has called `/event/next` at least once (its init is done).
    started: std::sync::atomic::AtomicBool,
    /// It was given an event and has not called `/event/next` since.
    busy: std::sync::atomic::AtomicBool,
}

impl ExtensionSlot {
    /// Whether it registered for `event_type` (`INVOKE`, `SHUTDOWN`).
    fn wants(&self, event_type: &str) -> bool {
        self.events.iter().any(|t| t == event_type)
    }
}

pub(crate) struct ApiState {
    next: Mutex<mpsc::Receiver<Invocation>>,
    current: std::sync::Mutex<Option<(String, oneshot::Sender<RuntimeReply>)>>,
    ready: watch::Sender<bool>,
    init_error: watch::Sender<Option<InitError>>,
    info: FunctionInfo,
    extensions: std::sync::Mutex<Vec<Arc<ExtensionSlot>>>,
    /// Extensions whose init is done.
    extensions_started: watch::Sender<usize>,
    /// Extensions still working on an event.
    extensions_busy: watch::Sender<usize>,
    /// Telemetry API subscriptions and their streams.
    pub(crate) telemetry: Telemetry,
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
    /// Extensions whose init is done (registered, then called `/event/next`).
    pub extensions_started: watch::Receiver<usize>,
    /// Extensions still working on the last event they were given.
    pub extensions_busy: watch::Receiver<usize>,
    state: Arc<ApiState>,
    server: Option<tokio::task::JoinHandle<()>>,
}

impl Drop for RuntimeApi {
    fn drop(&mut self) {
        if let Some(s) = self.server.take() {
            s.abort();
        }
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

async fn response(
    State(s): State<Arc<ApiState>>,
    Path(id): Path<String>,
    request: axum::extract::Request,
) -> Response {
    let Some(tx) = take_current(&s, &id) else {
        return api_error(
            StatusCode::BAD_REQUEST,
            "InvalidRequestID",
            "Invalid request ID",
        );
    };
    let (head, body) = request.into_parts();
    if header_str(&head.headers, "lambda-runtime-function-response-mode")
        .is_some_and(|m| m.eq_ignore_ascii_case("streaming"))
    {
        let content_type = header_str(&head.headers, "content-type").map(str::to_string);
        return stream_response(tx, content_type, body).await;
    }
    let body = match read_whole(body, MAX_RESPONSE_BYTES).await {
        Ok(body) => body,
        Err(WholeBody::TooLarge) => {
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
        Err(WholeBody::Broken(e)) => {
            // Nothing usable arrived: the invocation waits for the process or the deadline.
            drop(tx);
            return api_error(StatusCode::BAD_REQUEST, "InvalidRequestFormat", &e);
        }
    };
    let _ = tx.send(RuntimeReply::Response(body));
    // The caller's answer first: the invocation woken by that send usually waits on this worker,
    // and yielding lets it answer its client before this 202 wakes the runtime for its next
    // `next` (about 6% more throughput at concurrency 4 in BENCHMARKS' warm run).
    tokio::task::yield_now().await;
    accepted()
}

fn accepted() -> Response {
    (
        StatusCode::ACCEPTED,
        axum::Json(serde_json::json!({ "status": "OK" })),
    )
        .into_response()
}

/// Why a whole (buffered) body could not be read.
enum WholeBody {
    TooLarge,
    Broken(String),
}

/// A buffered body, read up to `limit` bytes.
async fn read_whole(mut body: axum::body::Body, limit: usize) -> Result<Bytes, WholeBody> {
    use http_body_util::BodyExt;
    let mut buf = bytes::BytesMut::new();
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| WholeBody::Broken(e.to_string()))?;
        if let Ok(data) = frame.into_data() {
            if buf.len() + data.len() > limit {
                return Err(WholeBody::TooLarge);
            }
            buf.extend_from_slice(&data);
        }
    }
    Ok(buf.freeze())
}

/// A streamed response: the engine gets its parts as they arrive; the runtime gets its 202 once
/// the body has ended (or a 413 past [`MAX_STREAMED_RESPONSE_BYTES`]).
async fn stream_response(
    reply: oneshot::Sender<RuntimeReply>,
    content_type: Option<String>,
    mut body: axum::body::Body,
) -> Response {
    use http_body_util::BodyExt;
    let (parts, rx) = mpsc::channel(STREAM_QUEUE);
    let _ = reply.send(RuntimeReply::Stream {
        content_type,
        parts: rx,
    });
    let mut streamed: u64 = 0;
    let mut reported = None;
    let end = loop {
        let frame = match body.frame().await {
            None => break reported.take().unwrap_or(StreamEnd::Complete),
            Some(Err(e)) => break StreamEnd::Broken(e.to_string()),
            Some(Ok(frame)) => frame,
        };
        match frame.into_data() {
            Ok(data) => {
                streamed += data.len() as u64;
                if streamed > MAX_STREAMED_RESPONSE_BYTES {
                    break StreamEnd::TooLarge;
                }
                // A receiver gone (the invocation ended: deadline, a caller that left) leaves
                // the rest to be read and dropped, so that the runtime can go on.
                if !data.is_empty() {
                    let _ = parts.send(StreamPart::Chunk(data)).await;
                }
            }
            Err(frame) => {
                if let Ok(trailers) = frame.into_trailers() {
                    reported = trailer_error(&trailers);
                }
            }
        }
    };
    let too_large = end == StreamEnd::TooLarge;
    let _ = parts.send(StreamPart::End(end)).await;
    if too_large {
        return api_error(
            StatusCode::PAYLOAD_TOO_LARGE,
            "RequestEntityTooLarge",
            "response too large",
        );
    }
    tokio::task::yield_now().await; // the caller's answer first, as in `response`
    accepted()
}

/// The error a streamed response's trailers report, if they report one: its type, and its body
/// decoded from base64 (a body that is not base64 is taken as it is; none at all gets Lambda's
/// document with the type alone).
fn trailer_error(trailers: &HeaderMap) -> Option<StreamEnd> {
    use base64::Engine as _;
    let error_type = error_type(trailers).filter(|t| !t.is_empty())?;
    let body = match header_str(trailers, "lambda-runtime-function-error-body") {
        Some(b64) => base64::engine::general_purpose::STANDARD
            .decode(b64.trim())
            .map(Bytes::from)
            .unwrap_or_else(|_| Bytes::copy_from_slice(b64.as_bytes())),
        None => Bytes::from(
            serde_json::json!({ "errorType": error_type, "errorMessage": "" }).to_string(),
        ),
    };
    Some(StreamEnd::Error { error_type, body })
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
    tokio::task::yield_now().await; // the caller's answer first, as in `response`
    accepted()
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

fn header_str<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty())
}

/// `POST /extension/register`, with the Extensions API's answers: every refusal is a 403 with
/// the API's error type.
async fn register(State(s): State<Arc<ApiState>>, headers: HeaderMap, body: Bytes) -> Response {
    let forbidden =
        |error_type: &str, message: &str| api_error(StatusCode::FORBIDDEN, error_type, message);
    let Some(name) = header_str(&headers, "lambda-extension-name") else {
        return forbidden("Extension.InvalidExtensionName", "Empty extension name");
    };
    #[derive(serde::Deserialize)]
    struct RegisterRequest {
        #[serde(default)]
        events: Vec<String>,
    }
    let events = match serde_json::from_slice::<RegisterRequest>(&body) {
        Ok(r) => r.events,
        Err(e) => return forbidden("InvalidRequestFormat", &e.to_string()),
    };
    let external = s.info.external_extensions.iter().any(|e| e == name);
    for e in &events {
        let problem = match e.as_str() {
            "INVOKE" => None,
            "SHUTDOWN" if external => None,
            // SHUTDOWN comes after the runtime is stopped: an extension inside it never sees it.
            "SHUTDOWN" => Some("ShutdownEventNotSupportedForInternalExtension"),
            _ => Some("ErrorInvalidEventType"),
        };
        if let Some(problem) = problem {
            return forbidden("Extension.InvalidEventType", &format!("{e}: {problem}"));
        }
    }
    // Registration closes when the runtime asks for its first event. Launched extensions are
    // awaited by init whatever the order (archfn starts them with the runtime, where Lambda starts
    // them first), so only internal ones can come too late.
    if !external && *s.ready.borrow() {
        return forbidden(
            "Extension.RegistrationClosed",
            "Extension registration closed already",
        );
    }
    let (queue, inbox) = mpsc::unbounded_channel();
    let slot = Arc::new(ExtensionSlot {
        name: name.to_string(),
        id: uuid::Uuid::new_v4().to_string(),
        events,
        queue,
        inbox: Mutex::new(inbox),
        started: false.into(),
        busy: false.into(),
    });
    if let Ok(mut all) = s.extensions.lock() {
        if all.iter().any(|e| e.name == slot.name) {
            return forbidden(
                "Extension.InvalidExtensionState",
                "Extension with this name already registered",
            );
        }
        if all.len() >= MAX_EXTENSIONS {
            return forbidden(
                "Extension.TooManyExtensions",
                &format!("Extension limit ({MAX_EXTENSIONS}) reached"),
            );
        }
        all.push(slot.clone());
    }
    let mut doc = serde_json::json!({
        "functionName": s.info.function_name,
        "functionVersion": s.info.function_version,
        "handler": s.info.handler,
    });
    if header_str(&headers, "lambda-extension-accept-feature") == Some("accountId") {
        doc["accountId"] = serde_json::Value::String(s.info.account_id.clone());
    }
    let mut resp = (StatusCode::OK, axum::Json(doc)).into_response();
    if let Ok(v) = HeaderValue::from_str(&slot.id) {
        resp.headers_mut().insert("lambda-extension-identifier", v);
    }
    resp
}

fn extension(s: &ApiState, headers: &HeaderMap) -> Option<Arc<ExtensionSlot>> {
    let id = header_str(headers, "lambda-extension-identifier")?;
    s.extensions
        .lock()
        .ok()?
        .iter()
        .find(|e| e.id == id)
        .cloned()
}

fn unknown_extension() -> Response {
    api_error(
        StatusCode::FORBIDDEN,
        "Extension.UnknownExtensionIdentifier",
        "missing or unknown Lambda-Extension-Identifier",
    )
}

async fn event_next(State(s): State<Arc<ApiState>>, headers: HeaderMap) -> Response {
    use std::sync::atomic::Ordering;
    let Some(slot) = extension(&s, &headers) else {
        return unknown_extension();
    };
    if !slot.started.swap(true, Ordering::SeqCst) {
        s.extensions_started.send_modify(|n| *n += 1);
    }
    if slot.busy.swap(false, Ordering::SeqCst) {
        s.extensions_busy.send_modify(|n| *n = n.saturating_sub(1));
    }
    let Some(event) = slot.inbox.lock().await.recv().await else {
        return api_error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "Extension.Shutdown",
            "environment is shutting down",
        );
    };
    let mut resp = (StatusCode::OK, axum::Json(event)).into_response();
    if let Ok(v) = HeaderValue::from_str(&uuid::Uuid::new_v4().to_string()) {
        resp.headers_mut()
            .insert("lambda-extension-event-identifier", v);
    }
    resp
}

async fn extension_error(
    State(s): State<Arc<ApiState>>,
    Path(kind): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Some(slot) = extension(&s, &headers) else {
        return unknown_extension();
    };
    let error_type = header_str(&headers, "lambda-extension-function-error-type")
        .unwrap_or("Extension.Unknown")
        .to_string();
    if kind == "init" {
        let body = if body.is_empty() {
            Bytes::from(
                serde_json::json!({
                    "errorMessage": format!("extension {} failed to initialize", slot.name),
                    "errorType": error_type,
                })
                .to_string(),
            )
        } else {
            body
        };
        s.init_error
            .send_replace(Some(InitError { error_type, body }));
    } else {
        tracing::info!(extension = %slot.name, %error_type, "extension reported an exit error");
    }
    (
        StatusCode::ACCEPTED,
        axum::Json(serde_json::json!({ "status": "OK" })),
    )
        .into_response()
}

/// `PUT /2022-07-01/telemetry`: an extension subscribes to the environment's telemetry.
async fn subscribe_telemetry(
    State(s): State<Arc<ApiState>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    subscribe(&s, &headers, Api::Telemetry, &body)
}

/// `PUT /2020-08-15/logs`: the Logs API, the Telemetry API's predecessor.
async fn subscribe_logs(
    State(s): State<Arc<ApiState>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    subscribe(
        &s,
        &headers,
        Api::Logs {
            runtime_done: false,
        },
        &body,
    )
}

fn subscribe(s: &ApiState, headers: &HeaderMap, api: Api, body: &[u8]) -> Response {
    let Some(slot) = extension(s, headers) else {
        return unknown_extension();
    };
    let result =
        Subscription::parse(api, body).and_then(|sub| s.telemetry.subscribe(&slot.name, sub));
    match result {
        Ok(()) => (StatusCode::OK, axum::Json("OK")).into_response(),
        Err(message) => api_error(StatusCode::BAD_REQUEST, api.validation_error(), &message),
    }
}

impl ApiState {
    /// Gives the event `make` builds to every extension subscribed to `event_type`; returns how
    /// many. Nothing is built when none is (the common case, on every invocation).
    pub(crate) fn dispatch(
        &self,
        event_type: &str,
        make: impl FnOnce() -> serde_json::Value,
    ) -> usize {
        use std::sync::atomic::Ordering;
        let Ok(all) = self.extensions.lock() else {
            return 0;
        };
        let mut subscribed = all.iter().filter(|e| e.wants(event_type)).peekable();
        if subscribed.peek().is_none() {
            return 0;
        }
        let event = make();
        let mut sent = 0;
        for e in subscribed {
            if !e.busy.swap(true, Ordering::SeqCst) {
                self.extensions_busy.send_modify(|n| *n += 1);
            }
            if e.queue.send(event.clone()).is_ok() {
                sent += 1;
            }
        }
        sent
    }
}

impl RuntimeApi {
    /// The server task, for a caller that keeps serving after this handle is gone (extensions
    /// answering SHUTDOWN); it is the caller's to abort.
    pub(crate) fn take_server(&mut self) -> Option<tokio::task::JoinHandle<()>> {
        self.server.take()
    }

    /// How many extensions have registered, external and internal.
    pub(crate) fn registered(&self) -> usize {
        self.state
            .extensions
            .lock()
            .map(|all| all.len())
            .unwrap_or(0)
    }

    /// Registered extensions: name and events, in registration order.
    pub fn extensions(&self) -> Vec<(String, Vec<String>)> {
        self.state
            .extensions
            .lock()
            .map(|all| {
                all.iter()
                    .map(|e| (e.name.clone(), e.events.clone()))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Gives the event `make` builds to every extension subscribed to `event_type`; returns how
    /// many. Nothing is built when none is (the common case, on every invocation).
    pub fn dispatch(&self, event_type: &str, make: impl FnOnce() -> serde_json::Value) -> usize {
        self.state.dispatch(event_type, make)
    }

    /// Whether some extension is subscribed to `event_type`.
    pub(crate) fn subscribed(&self, event_type: &str) -> bool {
        self.state
            .extensions
            .lock()
            .is_ok_and(|all| all.iter().any(|e| e.wants(event_type)))
    }

    /// The state the server shares, for work that outlives this handle (SHUTDOWN).
    pub(crate) fn shared(&self) -> Arc<ApiState> {
        self.state.clone()
    }

    /// This environment's telemetry.
    pub(crate) fn telemetry(&self) -> &Telemetry {
        &self.state.telemetry
    }

    /// Serves the Runtime API of one environment on `listener` (bound inside the environment's
    /// network namespace, `network`, where telemetry subscribers are reached too; `None` for a
    /// free port on the server's own loopback).
    pub async fn start(
        info: FunctionInfo,
        listener: Option<std::net::TcpListener>,
        network: Option<Arc<archfn_sandbox::netns::NetworkNamespace>>,
    ) -> std::io::Result<RuntimeApi> {
        let (tx, rx) = mpsc::channel(1);
        let (ready_tx, ready_rx) = watch::channel(false);
        let (err_tx, err_rx) = watch::channel(None);
        let (started_tx, started_rx) = watch::channel(0);
        let (busy_tx, busy_rx) = watch::channel(0);
        let state = Arc::new(ApiState {
            next: Mutex::new(rx),
            current: std::sync::Mutex::new(None),
            ready: ready_tx,
            init_error: err_tx,
            info,
            extensions: std::sync::Mutex::new(Vec::new()),
            extensions_started: started_tx,
            extensions_busy: busy_tx,
            telemetry: Telemetry::new(network),
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
            .route("/2020-01-01/extension/register", post(register))
            .route("/2020-01-01/extension/event/next", get(event_next))
            .route("/2020-01-01/extension/{kind}/error", post(extension_error))
            .route("/2022-07-01/telemetry", put(subscribe_telemetry))
            .route("/2022-07-01/telemetry/", put(subscribe_telemetry))
            .route("/2020-08-15/logs", put(subscribe_logs))
            .route("/2020-08-15/logs/", put(subscribe_logs))
            .layer(axum::extract::DefaultBodyLimit::max(
                MAX_RESPONSE_BYTES + 1024 * 1024,
            ))
            .with_state(state.clone());
        let listener = match listener {
            Some(l) => tokio::net::TcpListener::from_std(l)?,
            None => tokio::net::TcpListener::bind("127.0.0.1:0").await?,
        };
        let addr = listener.local_addr()?;
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, router).await;
        });
        Ok(RuntimeApi {
            addr,
            invocations: tx,
            ready: ready_rx,
            init_error: err_rx,
            extensions_started: started_rx,
            extensions_busy: busy_rx,
            state,
            server: Some(server),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    type TestResult = Result<(), Box<dyn std::error::Error>>;

    async fn api(external: &[&str]) -> std::io::Result<RuntimeApi> {
        RuntimeApi::start(
            FunctionInfo {
                function_name: "f".into(),
                function_version: "$LATEST".into(),
                handler: "app.handler".into(),
                account_id: "123456789012".into(),
                external_extensions: external.iter().map(|s| s.to_string()).collect(),
            },
            None,
            None,
        )
        .await
    }

    fn url(api: &RuntimeApi, path: &str) -> String {
        format!("http://{}{path}", api.addr)
    }

    #[tokio::test]
    async fn an_event_goes_to_next_and_its_answer_comes_back() -> TestResult {
        let api = api(&[]).await?;
        let (reply, answer) = oneshot::channel();
        let client = reqwest::Client::new();
        let next = tokio::spawn({
            let u = url(&api, "/2018-06-01/runtime/invocation/next");
            let c = client.clone();
            async move { c.get(u).send().await }
        });
        api.invocations
            .send(Invocation {
                request_id: "r-1".into(),
                payload: Bytes::from_static(b"{\"a\":1}"),
                deadline_ms: 1_700_000_000_000,
                invoked_arn: "arn:aws:lambda:us-east-1:123456789012:function:f".into(),
                client_context: None,
                trace_id: "Root=1-x".into(),
                reply,
            })
            .await?;
        let got = next.await??;
        let header = |h: &str| {
            got.headers()
                .get(h)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .to_string()
        };
        assert_eq!(header("lambda-runtime-aws-request-id"), "r-1");
        assert_eq!(header("lambda-runtime-deadline-ms"), "1700000000000");
        assert_eq!(
            header("lambda-runtime-invoked-function-arn"),
            "arn:aws:lambda:us-east-1:123456789012:function:f"
        );
        assert_eq!(got.bytes().await?.as_ref(), b"{\"a\":1}");
        assert!(*api.ready.borrow(), "the first /next ends init");
        let posted = client
            .post(url(&api, "/2018-06-01/runtime/invocation/r-1/error"))
            .header("Lambda-Runtime-Function-Error-Type", "ValueError")
            .body("{\"errorType\":\"ValueError\"}")
            .send()
            .await?;
        assert_eq!(posted.status().as_u16(), 202);
        match answer.await? {
            RuntimeReply::Error { error_type, body } => {
                assert_eq!(error_type.as_deref(), Some("ValueError"));
                assert_eq!(body.as_ref(), b"{\"errorType\":\"ValueError\"}");
            }
            other => panic!("not an error: {other:?}"),
        }
        Ok(())
    }

    #[tokio::test]
    async fn an_init_error_is_reported() -> TestResult {
        let api = api(&[]).await?;
        let r = reqwest::Client::new()
            .post(url(&api, "/2018-06-01/runtime/init/error"))
            .header(
                "Lambda-Runtime-Function-Error-Type",
                "Runtime.ImportModuleError",
            )
            .body("{}")
            .send()
            .await?;
        assert_eq!(r.status().as_u16(), 202);
        let mut init_error = api.init_error.clone();
        init_error.wait_for(Option::is_some).await?;
        let reported = init_error.borrow().clone().map(|e| e.error_type);
        assert_eq!(reported.as_deref(), Some("Runtime.ImportModuleError"));
        Ok(())
    }

    #[tokio::test]
    async fn extension_registration_is_refused_as_lambda_refuses_it() -> TestResult {
        let api = api(&["ext"]).await?;
        let client = reqwest::Client::new();
        let register = |name: Option<&str>, body: &str| {
            let mut req = client
                .post(url(&api, "/2020-01-01/extension/register"))
                .body(body.to_string());
            if let Some(n) = name {
                req = req.header("Lambda-Extension-Name", n);
            }
            req.send()
        };
        let kind = |r: reqwest::Response| async move {
            let status = r.status().as_u16();
            let v: serde_json::Value = r.json().await.unwrap_or_default();
            (status, v["errorType"].as_str().unwrap_or("").to_string())
        };
        let events = r#"{"events": ["INVOKE", "SHUTDOWN"]}"#;
        assert_eq!(
            kind(register(None, events).await?).await,
            (403, "Extension.InvalidExtensionName".into())
        );
        assert_eq!(
            kind(register(Some("ext"), "not json").await?).await,
            (403, "InvalidRequestFormat".into())
        );
        assert_eq!(
            kind(register(Some("ext"), r#"{"events": ["BOGUS"]}"#).await?).await,
            (403, "Extension.InvalidEventType".into())
        );
        // An internal extension (no launched file of its name) never sees SHUTDOWN.
        assert_eq!(
            kind(register(Some("inside"), events).await?).await,
            (403, "Extension.InvalidEventType".into())
        );
        let ok = register(Some("ext"), events).await?;
        assert_eq!(ok.status().as_u16(), 200);
        assert!(ok.headers().contains_key("lambda-extension-identifier"));
        assert_eq!(
            kind(register(Some("ext"), events).await?).await,
            (403, "Extension.InvalidExtensionState".into())
        );
        Ok(())
    }

    /// Sends an event and has the runtime take it; returns where its answer goes.
    async fn take_event(
        api: &RuntimeApi,
        id: &str,
    ) -> Result<oneshot::Receiver<RuntimeReply>, Box<dyn std::error::Error>> {
        let (reply, answer) = oneshot::channel();
        let next = tokio::spawn(
            reqwest::Client::new()
                .get(url(api, "/2018-06-01/runtime/invocation/next"))
                .send(),
        );
        api.invocations
            .send(Invocation {
                request_id: id.into(),
                payload: Bytes::from_static(b"{}"),
                deadline_ms: 0,
                invoked_arn: String::new(),
                client_context: None,
                trace_id: String::new(),
                reply,
            })
            .await?;
        next.await??;
        Ok(answer)
    }

    #[tokio::test]
    async fn a_streamed_response_is_passed_on_as_it_arrives_with_its_trailers() -> TestResult {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let api = api(&[]).await?;
        let answer = take_event(&api, "r-2").await?;
        let mut conn = tokio::net::TcpStream::connect(api.addr).await?;
        conn.write_all(
            b"POST /2018-06-01/runtime/invocation/r-2/response HTTP/1.1\r\nHost: x\r\n\
              Lambda-Runtime-Function-Response-Mode: streaming\r\nContent-Type: text/plain\r\n\
              Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n",
        )
        .await?;
        let RuntimeReply::Stream {
            content_type,
            mut parts,
        } = answer.await?
        else {
            panic!("not a stream");
        };
        assert_eq!(content_type.as_deref(), Some("text/plain"));
        // The first chunk is passed on while the body is still being sent.
        match parts.recv().await {
            Some(StreamPart::Chunk(c)) => assert_eq!(c.as_ref(), b"hello"),
            other => panic!("{other:?}"),
        }
        // base64 of {"errorType":"E","errorMessage":"m"}
        conn.write_all(
            b"1\r\n!\r\n0\r\nLambda-Runtime-Function-Error-Type: E\r\n\
              Lambda-Runtime-Function-Error-Body: eyJlcnJvclR5cGUiOiJFIiwiZXJyb3JNZXNzYWdlIjoibSJ9\r\n\r\n",
        )
        .await?;
        match parts.recv().await {
            Some(StreamPart::Chunk(c)) => assert_eq!(c.as_ref(), b"!"),
            other => panic!("{other:?}"),
        }
        match parts.recv().await {
            Some(StreamPart::End(StreamEnd::Error { error_type, body })) => {
                assert_eq!(error_type, "E");
                assert_eq!(body.as_ref(), br#"{"errorType":"E","errorMessage":"m"}"#);
            }
            other => panic!("{other:?}"),
        }
        let mut status = [0u8; 12];
        conn.read_exact(&mut status).await?;
        assert_eq!(&status, b"HTTP/1.1 202");
        Ok(())
    }

    #[tokio::test]
    async fn a_stream_without_an_error_trailer_is_complete() -> TestResult {
        let api = api(&[]).await?;
        let answer = take_event(&api, "r-3").await?;
        let posted = reqwest::Client::new()
            .post(url(&api, "/2018-06-01/runtime/invocation/r-3/response"))
            .header("Lambda-Runtime-Function-Response-Mode", "streaming")
            .body("whole")
            .send()
            .await?;
        assert_eq!(posted.status().as_u16(), 202);
        let RuntimeReply::Stream { mut parts, .. } = answer.await? else {
            panic!("not a stream");
        };
        let mut got = Vec::new();
        while let Some(part) = parts.recv().await {
            got.push(format!("{part:?}"));
        }
        assert_eq!(got, ["Chunk(b\"whole\")", "End(Complete)"]);
        Ok(())
    }
}
