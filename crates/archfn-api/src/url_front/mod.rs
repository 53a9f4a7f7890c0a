//! The function URL front end: requests whose `Host` names a function URL
//! (`<url-id>.lambda-url.<region>.<domain>`) are answered here instead of by the Lambda API,
//! as Lambda's own front end does: CORS preflights, authorization (the resource-based policy
//! for AuthType NONE, a SigV4 signature for AWS_IAM), the payload format 2.0 event, the
//! invocation through the same path Invoke takes (`Control::begin_invoke`, then the engine:
//! concurrency, metrics, logs and the execution header apply), and the mapping of the result.
//!
//! Authorization, as enforced here:
//! - AuthType NONE: the URL's policy (the function's, or its alias's) must grant both
//!   `lambda:InvokeFunctionUrl` and `lambda:InvokeFunction` to `*` (see
//!   `Control::public_url_allowed`); otherwise 403 with Lambda's `Forbidden` message.
//! - AuthType AWS_IAM: the request must be signed (403 `Forbidden` when it is not). Under
//!   `--auth sigv4` the signature is verified for service `lambda` against the credentials
//!   file, as an API request is; under `--auth none` it is not verified. archfn's credentials
//!   carry no account: every key is of the server's account, so a caller is never
//!   cross-account and Lambda's identity-policy check (which archfn does not have) is not
//!   modelled: any valid key may call.

mod cors;
mod event;
mod host;
mod response;

pub(crate) use archfn_model::url_host::function_url;

use std::net::SocketAddr;

use archfn_control::{Admitted, FunctionUrlView, InvokeRefused};
use archfn_invoke::{ExecutionMode, InvokeError, ResponsePart};
use archfn_model::InvocationType;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::ApiError;
use crate::auth::AuthMode;
use crate::http_prelude::{HTTP_INTEGRATION_CONTENT_TYPE, PreludeError, PreludeReader};
use crate::{AppState, routes};

/// Lambda's answer to a request the URL's policy does not allow (recorded from AWS).
const FORBIDDEN: &str = "Forbidden. For troubleshooting Function URL authorization issues, see: https://docs.aws.amazon.com/lambda/latest/dg/urls-auth.html";

/// Middleware: sends a request to a function URL host to the front end, anything else on.
pub(crate) async fn route_by_host(
    State(state): State<AppState>,
    req: Request,
    next: Next,
) -> Response {
    let target = req
        .headers()
        .get(axum::http::header::HOST)
        .and_then(|h| h.to_str().ok())
        .or_else(|| req.uri().authority().map(|a| a.as_str()))
        .and_then(host::parse_host);
    match target {
        Some((url_id, region)) => serve(&state, &url_id, &region, req).await,
        None => next.run(req).await,
    }
}

/// A JSON `{"Message": …}` answer, as Lambda's front end gives.
fn message(status: StatusCode, kind: &'static str, text: Option<&str>) -> Response {
    let body = serde_json::json!({ "Message": text });
    let mut resp = (status, axum::Json(body)).into_response();
    resp.headers_mut()
        .insert("x-amzn-ErrorType", HeaderValue::from_static(kind));
    resp
}

/// How a URL's answer is produced for its InvokeMode: BUFFERED waits for the whole result and
/// maps it; RESPONSE_STREAM sends the body as the function streams it (InvokeWithResponseStream).
async fn respond(state: &AppState, view: &FunctionUrlView, run: Run) -> Response {
    match view.effective_invoke_mode() {
        "RESPONSE_STREAM" => streamed(state, run).await,
        _ => buffered(state, run).await,
    }
}

/// An admitted invocation of a URL's function.
struct Run {
    region: String,
    target: Box<archfn_control::Invocable>,
    payload: Bytes,
    admission: archfn_control::Admission,
}

/// Runs the function and answers with its mapped result.
async fn buffered(state: &AppState, run: Run) -> Response {
    let request = routes::invoke_request(&run.region, *run.target, run.payload, None);
    let outcome = state.engine.invoke(request).await;
    drop(run.admission);
    let outcome = match outcome {
        Ok(o) => o,
        Err(e) => return never_ran(&e),
    };
    let mapped = if outcome.function_error.is_some() {
        response::function_error()
    } else {
        response::map(&outcome.payload)
    };
    let mut resp = to_response(mapped);
    identify(&mut resp, &outcome.request_id, outcome.mode);
    resp
}

/// The answer to an invocation that never ran (throttled by the host, a runtime missing).
fn never_ran(e: &InvokeError) -> Response {
    if let InvokeError::Throttled(m) = e {
        tracing::warn!(reason = %m, "function URL invocation throttled");
        return message(
            StatusCode::TOO_MANY_REQUESTS,
            "TooManyRequestsException",
            Some("Rate Exceeded."),
        );
    }
    tracing::warn!(error = %e, "function URL invocation failed");
    to_response(response::function_error())
}

/// Names the invocation on its answer: its request id, and whether it ran native or emulated.
fn identify(resp: &mut Response, request_id: &str, mode: ExecutionMode) {
    let h = resp.headers_mut();
    if let Ok(v) = HeaderValue::from_str(request_id) {
        h.insert("x-amzn-RequestId", v);
    }
    h.insert(
        "x-archfn-execution",
        HeaderValue::from_static(mode.as_str()),
    );
}

/// Runs the function with its answer streamed to the client as it comes (RESPONSE_STREAM).
/// A stream that begins with an HTTP prelude (Node.js's `awslambda.HttpResponseStream.from`)
/// gives the status, headers and cookies; any other stream is a 200 with the stream's content
/// type, its bytes as they are. A function that answers with a whole result instead of a stream
/// is mapped as a BUFFERED URL maps it. Nothing is sent before the function's first bytes, so
/// an error before them is still a whole answer (502, or 429 when throttled); after them, a
/// failure can only cut the body short, as on Lambda.
async fn streamed(state: &AppState, run: Run) -> Response {
    let mode = ExecutionMode::for_arch(run.target.config.architecture);
    let request = routes::invoke_request(&run.region, *run.target, run.payload, None);
    let mut stream = routes::start_invocation_stream(&state.engine, request, run.admission);
    let request_id = stream.request_id.clone();
    let content_type = match stream.next_part().await {
        Some(ResponsePart::Begin { content_type }) => content_type,
        Some(ResponsePart::Data(first)) => {
            // Data before a Begin is not what the engine sends; take it as an untyped stream.
            let mut resp = stream_response(StatusCode::OK, first, stream);
            resp.headers_mut().insert(
                axum::http::header::CONTENT_TYPE,
                HeaderValue::from_static("application/octet-stream"),
            );
            identify(&mut resp, &request_id, mode);
            return resp;
        }
        None => {
            let mut resp = match stream.outcome().await {
                Ok(o) if o.function_error.is_some() => to_response(response::function_error()),
                Ok(o) => to_response(response::map(&o.payload)),
                Err(ApiError::TooManyRequestsException(..)) => message(
                    StatusCode::TOO_MANY_REQUESTS,
                    "TooManyRequestsException",
                    Some("Rate Exceeded."),
                ),
                Err(e) => {
                    tracing::warn!(error = ?e, "function URL invocation failed");
                    to_response(response::function_error())
                }
            };
            identify(&mut resp, &request_id, mode);
            return resp;
        }
    };
    let mut resp = if content_type == HTTP_INTEGRATION_CONTENT_TYPE {
        let mut prelude = PreludeReader::new();
        let read = loop {
            match stream.next_part().await {
                Some(ResponsePart::Data(chunk)) => match prelude.push(&chunk) {
                    Ok(Some(read)) => break Ok(read),
                    Ok(None) => {}
                    Err(e) => break Err(e),
                },
                Some(ResponsePart::Begin { .. }) => {}
                None => break Err(PreludeError::Unterminated),
            }
        };
        match read {
            Ok((head, first)) => {
                let status =
                    StatusCode::from_u16(head.status_code).unwrap_or(StatusCode::BAD_GATEWAY);
                let mut resp = stream_response(status, first, stream);
                let h = resp.headers_mut();
                for (k, v) in &head.headers {
                    if let (Ok(k), Ok(v)) = (HeaderName::try_from(k), HeaderValue::from_str(v)) {
                        h.append(k, v);
                    }
                }
                for c in &head.cookies {
                    if let Ok(v) = HeaderValue::from_str(c) {
                        h.append(axum::http::header::SET_COOKIE, v);
                    }
                }
                resp
            }
            Err(e) => {
                tracing::warn!(error = %e, "a streamed function URL answer's HTTP prelude");
                // Let the invocation finish (logs, metrics) without a reader.
                tokio::spawn(async move {
                    let _ = stream.outcome().await;
                });
                to_response(response::function_error())
            }
        }
    } else {
        let mut resp = stream_response(StatusCode::OK, Bytes::new(), stream);
        if let Ok(v) = HeaderValue::from_str(&content_type) {
            resp.headers_mut()
                .insert(axum::http::header::CONTENT_TYPE, v);
        }
        resp
    };
    identify(&mut resp, &request_id, mode);
    resp
}

/// A response whose body is `first`, then the stream's data parts as they come. When the
/// client goes away the invocation still runs to its end.
fn stream_response(status: StatusCode, first: Bytes, stream: routes::InvocationStream) -> Response {
    let body =
        futures_util::stream::unfold((Some(first), Some(stream)), |(first, stream)| async move {
            if let Some(first) = first.filter(|b| !b.is_empty()) {
                return Some((Ok::<_, std::convert::Infallible>(first), (None, stream)));
            }
            let mut stream = stream?;
            loop {
                match stream.next_part().await {
                    Some(ResponsePart::Data(data)) if !data.is_empty() => {
                        return Some((Ok(data), (None, Some(stream))));
                    }
                    Some(_) => {}
                    None => {
                        if let Err(e) = stream.outcome().await {
                            tracing::warn!(error = ?e, "streamed function URL invocation");
                        }
                        return None;
                    }
                }
            }
        });
    let mut resp = (status, axum::body::Body::from_stream(body)).into_response();
    resp.headers_mut().remove(axum::http::header::CONTENT_TYPE);
    resp
}

fn to_response(m: response::Mapped) -> Response {
    let status = StatusCode::from_u16(m.status).unwrap_or(StatusCode::BAD_GATEWAY);
    let mut resp = (status, m.body).into_response();
    let h = resp.headers_mut();
    h.remove(axum::http::header::CONTENT_TYPE);
    for (k, v) in m.headers {
        if let (Ok(k), Ok(v)) = (HeaderName::try_from(k), HeaderValue::from_str(&v)) {
            h.append(k, v);
        }
    }
    resp
}

/// Answers one request to the URL `url_id` of `region`.
async fn serve(state: &AppState, url_id: &str, region: &str, req: Request) -> Response {
    let view = match state.control.find_function_url(url_id).await {
        Ok(Some(v)) if v.region == region => v,
        Ok(_) => return message(StatusCode::FORBIDDEN, "AccessDeniedException", None),
        Err(e) => {
            tracing::warn!(error = %e, "looking up a function URL");
            return message(
                StatusCode::INTERNAL_SERVER_ERROR,
                "ServiceException",
                Some("Internal Server Error"),
            );
        }
    };
    let peer = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip().to_string())
        .unwrap_or_default();
    let (parts, body) = req.into_parts();
    let origin = header(&parts.headers, "origin").map(str::to_string);

    // The preflight is the front end's to answer, before authorization and without a call.
    if parts.method == Method::OPTIONS
        && let Some(cors) = &view.cors
        && let Some(origin) = &origin
        && parts.headers.contains_key("access-control-request-method")
    {
        let mut resp = StatusCode::OK.into_response();
        for (k, v) in cors::preflight_headers(cors, origin) {
            if let Ok(v) = HeaderValue::from_str(&v) {
                resp.headers_mut().insert(k, v);
            }
        }
        return resp;
    }

    // Read as the API reads bodies: size limit, timeouts, and the shared memory budget.
    let (body, _budget) = match crate::auth::read_url_body(body, &state.body_budget).await {
        Ok(read) => read,
        Err(ApiError::RequestEntityTooLargeException(text)) => {
            return message(
                StatusCode::PAYLOAD_TOO_LARGE,
                "RequestEntityTooLargeException",
                Some(&text),
            );
        }
        Err(e) => return e.into_response(),
    };

    let caller = match authorize(state, &view, &parts, &body).await {
        Ok(c) => c,
        Err(resp) => return resp,
    };

    let request_id = uuid::Uuid::new_v4().to_string();
    let domain = header(&parts.headers, "host").unwrap_or("").to_string();
    let raw_query = parts.uri.query().unwrap_or("").to_string();
    let protocol = match parts.version {
        axum::http::Version::HTTP_10 => "HTTP/1.0",
        axum::http::Version::HTTP_2 => "HTTP/2.0",
        _ => "HTTP/1.1",
    };
    let event = event::build(&event::UrlRequest {
        url_id: &view.url_id,
        domain: &domain,
        method: parts.method.as_str(),
        raw_path: parts.uri.path(),
        raw_query: &raw_query,
        headers: &parts.headers,
        body: &body,
        source_ip: peer,
        protocol,
        request_id: &request_id,
        time_ms: archfn_model::time::now_ms(),
        caller: caller.as_ref(),
    });
    let payload = Bytes::from(event.to_string());

    let admitted = state
        .control
        .begin_invoke(
            region,
            &view.function_name,
            view.qualifier.as_deref(),
            InvocationType::RequestResponse,
            payload,
        )
        .await;
    let mut resp = match admitted {
        Ok(Admitted::Run {
            target,
            payload,
            admission,
        }) => {
            let run = Run {
                region: region.to_string(),
                target,
                payload,
                admission,
            };
            respond(state, &view, run).await
        }
        Ok(_) => message(
            StatusCode::INTERNAL_SERVER_ERROR,
            "ServiceException",
            Some("Internal Server Error"),
        ),
        Err(InvokeRefused { error, throttled }) => refused(state, region, error, throttled),
    };

    if let (Some(cors), Some(origin)) = (&view.cors, &origin) {
        let h = resp.headers_mut();
        let ours: Vec<HeaderName> = h
            .keys()
            .filter(|k| k.as_str().starts_with("access-control-"))
            .cloned()
            .collect();
        for k in ours {
            h.remove(k);
        }
        for (k, v) in cors::response_headers(cors, origin) {
            if let Ok(v) = HeaderValue::from_str(&v) {
                h.insert(k, v);
            }
        }
    }
    resp
}

/// The answer to an invocation `begin_invoke` refused.
fn refused(
    state: &AppState,
    region: &str,
    error: archfn_control::ControlError,
    throttled: Option<Box<archfn_control::Invocable>>,
) -> Response {
    use archfn_control::ControlError;
    if let Some(t) = throttled {
        state
            .engine
            .record_throttle(region, &t.config, t.alias.as_deref());
    }
    match error {
        ControlError::Throttled { .. } => message(
            StatusCode::TOO_MANY_REQUESTS,
            "TooManyRequestsException",
            Some("Rate Exceeded."),
        ),
        ControlError::TooLarge(m) => message(
            StatusCode::PAYLOAD_TOO_LARGE,
            "RequestEntityTooLargeException",
            Some(&m),
        ),
        ControlError::NotFound { .. } => {
            message(StatusCode::FORBIDDEN, "AccessDeniedException", None)
        }
        other => {
            tracing::warn!(error = %other, "function URL invocation refused");
            to_response(response::function_error())
        }
    }
}

/// Checks the caller against the URL's AuthType; the IAM caller when it is AWS_IAM.
async fn authorize(
    state: &AppState,
    view: &FunctionUrlView,
    parts: &axum::http::request::Parts,
    body: &[u8],
) -> Result<Option<event::IamCaller>, Response> {
    let forbidden = || {
        message(
            StatusCode::FORBIDDEN,
            "AccessDeniedException",
            Some(FORBIDDEN),
        )
    };
    if view.auth_type == "NONE" {
        let qualifier = view.qualifier.as_deref().unwrap_or("$LATEST");
        return match state
            .control
            .public_url_allowed(&view.region, &view.function_name, qualifier)
            .await
        {
            Ok(true) => Ok(None),
            Ok(false) => Err(forbidden()),
            Err(e) => {
                tracing::warn!(error = %e, "reading a function's policy");
                Err(message(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "ServiceException",
                    Some("Internal Server Error"),
                ))
            }
        };
    }
    let Some(auth_header) = header(&parts.headers, "authorization") else {
        return Err(message(
            StatusCode::FORBIDDEN,
            "AccessDeniedException",
            Some("Forbidden"),
        ));
    };
    let access_key = match state.auth.as_ref() {
        AuthMode::SigV4(creds) => match crate::auth::verify_url_request(creds, parts, body) {
            Ok(k) => k,
            Err(e) => {
                let resp = e.into_response();
                let status = resp.status();
                let kind = resp
                    .headers()
                    .get("x-amzn-ErrorType")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("AccessDeniedException")
                    .to_string();
                let text = error_text(resp).await;
                let mut out = message(status, "AccessDeniedException", Some(&text));
                if let Ok(v) = HeaderValue::from_str(&kind) {
                    out.headers_mut().insert("x-amzn-ErrorType", v);
                }
                return Err(out);
            }
        },
        AuthMode::Open => archfn_sigv4::parse_authorization(auth_header)
            .map(|a| a.access_key)
            .unwrap_or_default(),
    };
    Ok(Some(event::IamCaller {
        access_key,
        account_id: state.control.account().to_string(),
    }))
}

/// The `message` of an API error answer.
async fn error_text(resp: Response) -> String {
    let bytes = axum::body::to_bytes(resp.into_body(), 64 * 1024)
        .await
        .unwrap_or_default();
    serde_json::from_slice::<serde_json::Value>(&bytes)
        .ok()
        .and_then(|v| {
            v.get("message")
                .and_then(|m| m.as_str())
                .map(str::to_string)
        })
        .unwrap_or_else(|| "Forbidden".into())
}

fn header<'a>(h: &'a HeaderMap, name: &str) -> Option<&'a str> {
    h.get(name).and_then(|v| v.to_str().ok())
}
