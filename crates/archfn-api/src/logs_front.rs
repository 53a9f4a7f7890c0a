//! CloudWatch Logs on the same endpoint: JSON 1.1 requests whose `X-Amz-Target` is
//! `Logs_20140328.<Operation>` (signed for the service `logs`, verified under `--auth sigv4`)
//! go to `archfn-logs`.

use axum::extract::Request;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::AppState;
use crate::auth::{AuthMode, read_service_body, verify_request_for};
use crate::cfn_front::scope;
use crate::error::ApiError;

/// The service name of CloudWatch Logs' SigV4 scope.
const SERVICE: &str = "logs";

/// The operation a request's `X-Amz-Target` names, when it is CloudWatch Logs'.
fn operation(req: &Request) -> Option<String> {
    let target = req.headers().get("x-amz-target")?.to_str().ok()?;
    target
        .strip_prefix(archfn_logs::TARGET_PREFIX)
        .map(str::to_string)
}

/// Answers a CloudWatch Logs request, or hands the request back when it is not one.
pub(crate) async fn route(state: &AppState, req: Request) -> Result<Response, Request> {
    let Some(logs) = &state.logs else {
        return Err(req);
    };
    let scope = scope(&req);
    let op = operation(&req);
    let signed_for_logs = scope.as_ref().is_some_and(|(s, _)| s == SERVICE);
    let Some(op) = op.or_else(|| signed_for_logs.then(String::new)) else {
        return Err(req);
    };
    let (parts, body) = req.into_parts();
    let (bytes, _budget) =
        match read_service_body(body, &state.body_budget, archfn_logs::MAX_REQUEST_BYTES).await {
            Ok(read) => read,
            Err(e) => return Ok(json_error(e)),
        };
    let region = match (&scope, state.auth.as_ref()) {
        (_, AuthMode::SigV4(creds)) => {
            if let Err(e) = verify_request_for(creds, &parts, &bytes, SERVICE) {
                return Ok(json_error(e));
            }
            scope
                .map(|(_, r)| r)
                .unwrap_or_else(|| state.default_region.clone())
        }
        (Some((_, region)), AuthMode::Open) if archfn_sigv4::is_region(region) => region.clone(),
        _ => state.default_region.clone(),
    };
    let (status, body) = logs.handle(&region, &op, &bytes).await;
    Ok(json_response(status, body))
}

/// A refusal of the API's (signature, size, budget) in JSON 1.1's shape.
fn json_error(e: ApiError) -> Response {
    let (status, kind, message) = e.parts();
    let body = serde_json::json!({ "__type": kind, "message": message }).to_string();
    json_response(status.as_u16(), body)
}

fn json_response(status: u16, body: String) -> Response {
    let mut resp = (
        StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
        body,
    )
        .into_response();
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/x-amz-json-1.1"),
    );
    resp
}
