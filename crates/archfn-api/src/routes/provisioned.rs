//! Provisioned concurrency configurations: Put/Get/Delete/ListProvisionedConcurrencyConfigs,
//! all on `/2019-09-30/functions/{name}/provisioned-concurrency` (`?List=ALL` lists).

use std::collections::HashMap;

use archfn_control::provisioned::{ProvisionedPage, ProvisionedView};
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::wire::parse_body;
use crate::{ApiError, AppState, RequestContext};

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct PutRequest {
    provisioned_concurrent_executions: Option<i64>,
}

fn config_json(v: &ProvisionedView, with_arn: bool) -> Value {
    let mut out = json!({
        "RequestedProvisionedConcurrentExecutions": v.requested,
        "AvailableProvisionedConcurrentExecutions": v.available,
        "AllocatedProvisionedConcurrentExecutions": v.allocated,
        "Status": v.status,
        "LastModified": v.last_modified,
    });
    if let Some(reason) = &v.status_reason {
        out["StatusReason"] = json!(reason);
    }
    if with_arn {
        out["FunctionArn"] = json!(v.function_arn);
    }
    out
}

fn page_json(p: &ProvisionedPage) -> Value {
    let mut out = json!({
        "ProvisionedConcurrencyConfigs":
            p.configs.iter().map(|c| config_json(c, true)).collect::<Vec<_>>(),
    });
    if let Some(m) = &p.next_marker {
        out["NextMarker"] = json!(m);
    }
    out
}

/// `MaxItems` of a list operation, as a number.
pub(crate) fn max_items(q: &HashMap<String, String>) -> Result<Option<i64>, ApiError> {
    q.get("MaxItems")
        .map(|v| {
            v.parse::<i64>().map_err(|_| {
                ApiError::ValidationException(format!(
                    "1 validation error detected: Value '{v}' at 'maxItems' failed to satisfy constraint: Member must be a number"
                ))
            })
        })
        .transpose()
}

pub(crate) async fn put_provisioned_concurrency_config(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Path(name): Path<String>,
    Query(q): Query<HashMap<String, String>>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let req: PutRequest = parse_body(&body)?;
    let v = state
        .control
        .put_provisioned_concurrency(
            &ctx.region,
            &name,
            q.get("Qualifier").map(String::as_str),
            req.provisioned_concurrent_executions,
        )
        .await?;
    Ok((StatusCode::ACCEPTED, Json(config_json(&v, false))).into_response())
}

/// GetProvisionedConcurrencyConfig, or ListProvisionedConcurrencyConfigs with `List=ALL`.
pub(crate) async fn get_provisioned_concurrency_config(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Path(name): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    if q.get("List").is_some_and(|l| l == "ALL") {
        let page = state
            .control
            .list_provisioned_concurrency(
                &ctx.region,
                &name,
                q.get("Marker").map(String::as_str),
                max_items(&q)?,
            )
            .await?;
        return Ok(Json(page_json(&page)).into_response());
    }
    let v = state
        .control
        .get_provisioned_concurrency(&ctx.region, &name, q.get("Qualifier").map(String::as_str))
        .await?;
    Ok(Json(config_json(&v, false)).into_response())
}

pub(crate) async fn delete_provisioned_concurrency_config(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Path(name): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<StatusCode, ApiError> {
    state
        .control
        .delete_provisioned_concurrency(&ctx.region, &name, q.get("Qualifier").map(String::as_str))
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
