//! Invoke: RequestResponse, Event and DryRun, with Lambda's headers and payload limits.

use std::collections::HashMap;

use archfn_invoke::{InvokeError, InvokeRequest, Target};
use axum::Extension;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;

use crate::{ApiError, AppState, RequestContext};

const SYNC_PAYLOAD_MAX: usize = 6_291_456;
const ASYNC_PAYLOAD_MAX: usize = 1_048_576;

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

pub(crate) async fn invoke(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Path(name): Path<String>,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let invocation_type = header(&headers, "x-amz-invocation-type").unwrap_or("RequestResponse");
    let limit = match invocation_type {
        "RequestResponse" | "DryRun" => SYNC_PAYLOAD_MAX,
        "Event" => ASYNC_PAYLOAD_MAX,
        other => {
            return Err(ApiError::ValidationException(format!(
                "1 validation error detected: Value '{other}' at 'invocationType' failed to satisfy constraint: Member must satisfy enum value set: [Event, RequestResponse, DryRun]"
            )));
        }
    };
    if body.len() > limit {
        return Err(ApiError::RequestEntityTooLargeException(
            if invocation_type == "Event" {
                format!(
                    "{} byte payload is too large for the Event invocation type (limit {limit} bytes)",
                    body.len()
                )
            } else {
                format!(
                    "Request must be smaller than {limit} bytes for the InvokeFunction operation"
                )
            },
        ));
    }
    if !body.is_empty()
        && let Err(e) = serde_json::from_slice::<serde::de::IgnoredAny>(&body)
    {
        return Err(ApiError::InvalidRequestContentException(format!(
            "Could not parse request body into json: Could not parse payload into json: {e}"
        )));
    }
    let tail = match header(&headers, "x-amz-log-type") {
        None | Some("None") => false,
        Some("Tail") => true,
        Some(other) => {
            return Err(ApiError::ValidationException(format!(
                "1 validation error detected: Value '{other}' at 'logType' failed to satisfy constraint: Member must satisfy enum value set: [None, Tail]"
            )));
        }
    };
    let client_context = match header(&headers, "x-amz-client-context") {
        None => None,
        Some(b64) => {
            let raw = base64::engine::general_purpose::STANDARD
                .decode(b64)
                .map_err(|_| {
                    ApiError::InvalidRequestContentException(
                        "Client context must be a valid Base64-encoded JSON object.".into(),
                    )
                })?;
            Some(String::from_utf8(raw).map_err(|_| {
                ApiError::InvalidRequestContentException(
                    "Client context must be a valid Base64-encoded JSON object.".into(),
                )
            })?)
        }
    };
    let inv = state
        .control
        .resolve_invocation(&ctx.region, &name, q.get("Qualifier").map(String::as_str))
        .await?;
    // A synchronous invocation holds its concurrency slot until it answers.
    let _admission = match state
        .control
        .admit(
            &ctx.region,
            &inv.config.name,
            inv.reserved_concurrency,
            invocation_type == "RequestResponse",
        )
        .await
    {
        Ok(a) => a,
        Err(e) => {
            if matches!(e, archfn_control::ControlError::Throttled { .. }) {
                state
                    .engine
                    .record_throttle(&ctx.region, &inv.config, inv.alias.as_deref());
            }
            return Err(e.into());
        }
    };
    if invocation_type == "DryRun" {
        return Ok(StatusCode::NO_CONTENT.into_response());
    }
    if invocation_type == "Event" {
        // Accepted once it is on disk; the event worker runs it and retries it.
        let payload = if body.is_empty() {
            Bytes::from_static(b"{}")
        } else {
            body
        };
        let qualifier = q.get("Qualifier").map(String::as_str);
        let id = state
            .control
            .enqueue_event(&ctx.region, &name, qualifier, &payload)
            .await?;
        let mut resp = StatusCode::ACCEPTED.into_response();
        if let Ok(v) = HeaderValue::from_str(&id) {
            resp.headers_mut().insert("x-amzn-RequestId", v);
        }
        return Ok(resp);
    }
    let executed_version = inv.executed_version.clone();
    let request = InvokeRequest {
        target: Target {
            region: ctx.region.clone(),
            config: inv.config,
            task_dir: inv.task_dir,
            layer_dirs: inv.layer_dirs,
            image: inv.image,
        },
        invoked_arn: inv.invoked_arn,
        payload: if body.is_empty() {
            Bytes::from_static(b"{}")
        } else {
            body
        },
        client_context,
        alias: inv.alias,
    };
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
