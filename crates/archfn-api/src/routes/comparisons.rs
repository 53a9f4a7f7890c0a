//! Comparisons (`archfn compare`): `POST /archfn/v1/functions/{name}/comparisons` starts one
//! (202, the job), `GET /archfn/v1/comparisons/{id}` follows it (progress, then the report as
//! JSON), `GET /archfn/v1/comparisons/{id}/report?format=text|json|html` renders the report.

use archfn_compare::Format;
use archfn_compare_runner::{ComparisonRequest, ReportState};
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use std::collections::HashMap;

use crate::{ApiError, AppState, RequestContext};

pub(crate) async fn start(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Path(name): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let text: &[u8] = if body.is_empty() { b"{}" } else { &body };
    let req: ComparisonRequest = serde_json::from_slice(text).map_err(|e| {
        ApiError::InvalidRequestContentException(format!(
            "Could not parse request body into json: {e}"
        ))
    })?;
    let job = state.comparisons.start(&ctx.region, &name, req).await?;
    Ok((StatusCode::ACCEPTED, Json(job)).into_response())
}

pub(crate) async fn get_one(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    Ok(Json(state.comparisons.get(&id)?).into_response())
}

pub(crate) async fn report(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let format_text = q.get("format").map(String::as_str).unwrap_or("json");
    let format: Format = format_text.parse().map_err(|_| {
        ApiError::ValidationException(format!(
            "1 validation error detected: Value '{format_text}' at 'format' failed to satisfy constraint: Member must satisfy enum value set: [text, json, html]"
        ))
    })?;
    match state.comparisons.report(&id)? {
        ReportState::Ready(report) => {
            let content_type = match format {
                Format::Text => "text/plain; charset=utf-8",
                Format::Json => "application/json",
                Format::Html => "text/html; charset=utf-8",
            };
            Ok((
                [("content-type", content_type)],
                archfn_compare::render(&report, format),
            )
                .into_response())
        }
        ReportState::Running => Err(ApiError::ResourceConflictException(format!(
            "Comparison {id} is still running"
        ))),
        ReportState::Failed(why) => Err(ApiError::ResourceConflictException(format!(
            "Comparison {id} failed: {why}"
        ))),
    }
}
