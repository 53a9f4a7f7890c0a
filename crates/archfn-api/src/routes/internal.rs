//! The node-to-node route: `POST /archfn/internal/v1/invoke`, where a worker runs an invocation
//! another node resolved and admitted. Authenticated by the cluster's shared secret
//! (`Authorization: Bearer <secret>`, compared in constant time); refused when this node has
//! no secret. The request names the version to run in headers and carries the event as its
//! body; the answer's body is the invocation's log followed by its payload (the log's length in
//! a header), so neither is re-encoded.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;

use crate::AppState;
use crate::internal::{self as h, InvokeErrorKind};

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// Whether `headers` carry the cluster's secret.
fn authorized(state: &AppState, headers: &HeaderMap) -> bool {
    let Some(secret) = state.cluster_secret.as_deref() else {
        return false;
    };
    let Some(given) = header(headers, "authorization").and_then(|a| a.strip_prefix("Bearer "))
    else {
        return false;
    };
    subtle::ConstantTimeEq::ct_eq(given.as_bytes(), secret.as_bytes()).into()
}

fn refused(status: StatusCode, kind: InvokeErrorKind, message: &str) -> Response {
    let mut resp = (status, message.to_string()).into_response();
    resp.headers_mut()
        .insert(h::ERROR_KIND, HeaderValue::from_static(kind.as_str()));
    resp
}

pub(crate) async fn invoke(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if !authorized(&state, &headers) {
        return (StatusCode::FORBIDDEN, "cluster secret required").into_response();
    }
    let (Some(region), Some(function), Some(version), Some(request_id)) = (
        header(&headers, h::REGION),
        header(&headers, h::FUNCTION),
        header(&headers, h::VERSION),
        header(&headers, h::REQUEST_ID),
    ) else {
        return (StatusCode::BAD_REQUEST, "missing invocation headers").into_response();
    };
    let client_context = match header(&headers, h::CLIENT_CONTEXT) {
        None => None,
        Some(b64) => match base64::engine::general_purpose::STANDARD
            .decode(b64)
            .ok()
            .and_then(|raw| String::from_utf8(raw).ok())
        {
            Some(c) => Some(c),
            None => return (StatusCode::BAD_REQUEST, "bad client context").into_response(),
        },
    };
    let mut target = match state
        .control
        .resolve_invocation(region, function, Some(version))
        .await
    {
        Ok(t) => t,
        Err(e) => {
            return refused(
                StatusCode::CONFLICT,
                InvokeErrorKind::NotHere,
                &format!("cannot run {function}:{version} here: {e}"),
            );
        }
    };
    // This node's view of the version must be the one the caller resolved ($LATEST changes).
    if header(&headers, h::REVISION).is_some_and(|r| r != target.config.revision_id) {
        return refused(
            StatusCode::CONFLICT,
            InvokeErrorKind::NotHere,
            "this node sees another revision of the function",
        );
    }
    if let Some(arn) = header(&headers, h::INVOKED_ARN) {
        target.invoked_arn = arn.to_string();
    }
    target.alias = header(&headers, h::ALIAS).map(str::to_string);
    let request = super::invoke_request(region, target, body, client_context);
    let outcome = match state
        .engine
        .invoke_forwarded(request, request_id.to_string())
        .await
    {
        Ok(o) => o,
        Err(e) => {
            let kind = InvokeErrorKind::of(&e);
            return refused(StatusCode::SERVICE_UNAVAILABLE, kind, &e.to_string());
        }
    };
    let log = outcome.log.as_bytes();
    let mut out = Vec::with_capacity(log.len() + outcome.payload.len());
    out.extend_from_slice(log);
    out.extend_from_slice(&outcome.payload);
    let mut resp = (StatusCode::OK, out).into_response();
    let hs = resp.headers_mut();
    let mut put = |name: &'static str, value: &str| {
        if let Ok(v) = HeaderValue::from_str(value) {
            hs.insert(name, v);
        }
    };
    put(h::LOG_LENGTH, &log.len().to_string());
    put(h::EXECUTION, outcome.mode.as_str());
    if let Some(node) = &outcome.node {
        put(h::NODE, node);
    }
    if let Some(e) = &outcome.function_error {
        put(h::FUNCTION_ERROR, e);
    }
    let f = &outcome.figures;
    put(
        h::FIGURES,
        &h::Figures {
            duration_ms: f.duration_ms,
            billed_ms: f.billed_ms,
            max_memory_used_mb: f.max_memory_used_mb,
            init_ms: f.init_ms,
            cold: f.cold,
            error_type: f.error_type.clone(),
        }
        .encode(),
    );
    resp
}
