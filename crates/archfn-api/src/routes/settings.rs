//! Tags, reserved concurrency and account settings.

use std::collections::BTreeMap;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde::Deserialize;
use serde_json::json;

use super::query_multi;
use crate::wire::parse_body;
use crate::{ApiError, AppState, RequestContext};

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct TagRequest {
    #[serde(default)]
    tags: BTreeMap<String, String>,
}

pub(crate) async fn tag_resource(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Path(resource): Path<String>,
    body: Bytes,
) -> Result<StatusCode, ApiError> {
    let req: TagRequest = parse_body(&body)?;
    state
        .control
        .tag_resource(&ctx.region, &resource, req.tags)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

pub(crate) async fn untag_resource(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Path(resource): Path<String>,
    uri: Uri,
) -> Result<StatusCode, ApiError> {
    let keys = query_multi(&uri).remove("tagKeys").unwrap_or_default();
    state
        .control
        .untag_resource(&ctx.region, &resource, &keys)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

pub(crate) async fn list_tags(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Path(resource): Path<String>,
) -> Result<Response, ApiError> {
    let tags = state.control.list_tags(&ctx.region, &resource).await?;
    Ok(Json(json!({ "Tags": tags })).into_response())
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ConcurrencyRequest {
    reserved_concurrent_executions: Option<i64>,
}

pub(crate) async fn put_function_concurrency(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Path(name): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let req: ConcurrencyRequest = parse_body(&body)?;
    let Some(n) = req.reserved_concurrent_executions else {
        return Err(ApiError::ValidationException(
            "1 validation error detected: Value null at 'reservedConcurrentExecutions' failed to satisfy constraint: Member must not be null".into(),
        ));
    };
    let n = state
        .control
        .put_function_concurrency(&ctx.region, &name, n)
        .await?;
    Ok(Json(json!({ "ReservedConcurrentExecutions": n })).into_response())
}

pub(crate) async fn get_function_concurrency(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Path(name): Path<String>,
) -> Result<Response, ApiError> {
    Ok(Json(
        match state
            .control
            .get_function_concurrency(&ctx.region, &name)
            .await?
        {
            Some(n) => json!({ "ReservedConcurrentExecutions": n }),
            None => json!({}),
        },
    )
    .into_response())
}

pub(crate) async fn delete_function_concurrency(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Path(name): Path<String>,
) -> Result<StatusCode, ApiError> {
    state
        .control
        .delete_function_concurrency(&ctx.region, &name)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

pub(crate) async fn get_account_settings(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
) -> Result<Response, ApiError> {
    let s = state.control.account_settings(&ctx.region).await?;
    Ok(Json(json!({
        "AccountLimit": {
            "TotalCodeSize": s.total_code_size_limit,
            "CodeSizeUnzipped": s.code_size_unzipped,
            "CodeSizeZipped": s.code_size_zipped,
            "ConcurrentExecutions": s.concurrent_executions,
            "UnreservedConcurrentExecutions": s.unreserved_concurrent_executions,
        },
        "AccountUsage": { "TotalCodeSize": s.total_code_size, "FunctionCount": s.function_count },
    }))
    .into_response())
}
