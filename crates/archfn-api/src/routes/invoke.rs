//! Invoke: the wire (headers, status codes) around `Control::begin_invoke`, which holds
//! Lambda's rules, and the engine, which runs a synchronous invocation.

use std::collections::HashMap;

use archfn_control::{Admitted, Invocable, InvokeRefused};
use archfn_invoke::{InvokeError, InvokeRequest, Target};
use archfn_model::InvocationType;
use axum::Extension;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;

use crate::{ApiError, AppState, RequestContext};

fn header<'a>(h: &'a HeaderMap, name: &str) -> Option<&'a str> {
    h.get(name).and_then(|v| v.to_str().ok())
}

impl From<InvokeError> for ApiError {
    fn from(e: InvokeError) -> Self {
        match e {
            InvokeError::Runtime(m) => ApiError::InvalidRuntimeException(m),
            // Lambda says only "Rate Exceeded."; why is in the server's log.
            InvokeError::Throttled(m) => {
                tracing::warn!(reason = %m, "invocation throttled");
                ApiError::TooManyRequestsException(
                    "Rate Exceeded.".into(),
                    "ConcurrentInvocationLimitExceeded",
                )
            }
            InvokeError::Unsupported(m) | InvokeError::Internal(m) => ApiError::ServiceException(m),
        }
    }
}

/// What the engine runs for `target` in `region`: the one translation of a resolved
/// invocation into the engine's request (the Invoke route and the Event worker share it).
pub fn invoke_request(
    region: &str,
    target: Invocable,
    payload: Bytes,
    client_context: Option<String>,
) -> InvokeRequest {
    InvokeRequest {
        target: Target {
            region: region.to_string(),
            config: target.config,
            task_dir: target.task_dir,
            layer_dirs: target.layer_dirs,
            image: target.image,
        },
        invoked_arn: target.invoked_arn,
        payload,
        client_context,
        alias: target.alias,
    }
}

/// `x-amz-invocation-type`: RequestResponse when absent.
fn invocation_type(headers: &HeaderMap) -> Result<InvocationType, ApiError> {
    match header(headers, "x-amz-invocation-type") {
        None => Ok(InvocationType::default()),
        Some(t) => InvocationType::parse(t).map_err(|v| ApiError::ValidationException(v.message())),
    }
}

/// `x-amz-log-type`: whether the answer carries the log's tail.
pub(crate) fn log_tail(headers: &HeaderMap) -> Result<bool, ApiError> {
    match header(headers, "x-amz-log-type") {
        None | Some("None") => Ok(false),
        Some("Tail") => Ok(true),
        Some(other) => Err(ApiError::ValidationException(format!(
            "1 validation error detected: Value '{other}' at 'logType' failed to satisfy constraint: Member must satisfy enum value set: [None, Tail]"
        ))),
    }
}

/// `x-amz-client-context`, decoded from base64.
pub(crate) fn client_context(headers: &HeaderMap) -> Result<Option<String>, ApiError> {
    let Some(b64) = header(headers, "x-amz-client-context") else {
        return Ok(None);
    };
    let bad = || {
        ApiError::InvalidRequestContentException(
            "Client context must be a valid Base64-encoded JSON object.".into(),
        )
    };
    let raw = base64::engine::general_purpose::STANDARD
        .decode(b64)
        .map_err(|_| bad())?;
    String::from_utf8(raw).map(Some).map_err(|_| bad())
}

pub(crate) async fn invoke(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Path(name): Path<String>,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let kind = invocation_type(&headers)?;
    let tail = log_tail(&headers)?;
    let client_context = client_context(&headers)?;
    let qualifier = q.get("Qualifier").map(String::as_str);
    let admitted = match state
        .control
        .begin_invoke(&ctx.region, &name, qualifier, kind, body)
        .await
    {
        Ok(a) => a,
        Err(InvokeRefused { error, throttled }) => {
            if let Some(t) = throttled {
                state
                    .engine
                    .record_throttle(&ctx.region, &t.config, t.alias.as_deref());
            }
            return Err(error.into());
        }
    };
    let (target, payload, _admission) = match admitted {
        Admitted::Checked => return Ok(StatusCode::NO_CONTENT.into_response()),
        Admitted::Queued { id } => {
            let mut resp = StatusCode::ACCEPTED.into_response();
            if let Ok(v) = HeaderValue::from_str(&id) {
                resp.headers_mut().insert("x-amzn-RequestId", v);
            }
            return Ok(resp);
        }
        // The slot is held until the function answers.
        Admitted::Run {
            target,
            payload,
            admission,
        } => (target, payload, admission),
    };
    let executed_version = target.executed_version.clone();
    let request = invoke_request(&ctx.region, *target, payload, client_context);
    let outcome = state.engine.invoke(request).await?;
    let mut resp = (StatusCode::OK, outcome.payload.clone()).into_response();
    let h = resp.headers_mut();
    h.insert("content-type", HeaderValue::from_static("application/json"));
    if let Ok(v) = HeaderValue::from_str(&executed_version) {
        h.insert("x-amz-executed-version", v);
    }
    if let Some(err) = &outcome.function_error
        && let Ok(v) = HeaderValue::from_str(err)
    {
        h.insert("x-amz-function-error", v);
    }
    if tail
        && let Ok(v) = HeaderValue::from_str(
            &base64::engine::general_purpose::STANDARD.encode(outcome.log_tail()),
        )
    {
        h.insert("x-amz-log-result", v);
    }
    if let Ok(v) = HeaderValue::from_str(outcome.mode.as_str()) {
        h.insert("x-archfn-execution", v);
    }
    // With several nodes: which one ran it, and how it came to.
    if let Some(node) = &outcome.node
        && let Ok(v) = HeaderValue::from_str(node)
    {
        h.insert("x-archfn-node", v);
        h.insert(
            "x-archfn-placement",
            HeaderValue::from_static(outcome.placement.as_str()),
        );
    }
    // As on Lambda, the response's request id is the invocation's (START RequestId, context).
    if let Ok(v) = HeaderValue::from_str(&outcome.request_id) {
        h.insert("x-amzn-RequestId", v);
    }
    Ok(resp)
}

/// `GET /archfn/v1/functions/{name}/readiness?target=arm64[&Qualifier=…]`: the function's code,
/// layers and runtime scanned for the target architecture (archfn-scan's JSON report).
pub(crate) async fn readiness(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Path(name): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let target = q.get("target").map(String::as_str).unwrap_or("arm64");
    let Some(arch) = archfn_model::Architecture::parse(target) else {
        return Err(ApiError::ValidationException(format!(
            "1 validation error detected: Value '{target}' at 'target' failed to satisfy constraint: Member must satisfy enum value set: [x86_64, arm64]"
        )));
    };
    let report = state
        .control
        .readiness(
            &ctx.region,
            &name,
            q.get("Qualifier").map(String::as_str),
            arch,
        )
        .await?;
    Ok(([("content-type", "application/json")], report.to_json()).into_response())
}
