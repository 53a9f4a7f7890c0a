//! Asynchronous invocation configurations: Put/Update/Get/Delete/ListFunctionEventInvokeConfigs
//! on `/2019-09-25/functions/{name}/event-invoke-config[/list]`.

use std::collections::HashMap;

use archfn_control::event_invoke::{EventInvokeInput, EventInvokeView};
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde::Deserialize;
use serde_json::{Value, json};

use super::provisioned::max_items;
use crate::wire::parse_body;
use crate::{ApiError, AppState, RequestContext};

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Destination {
    destination: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct DestinationConfig {
    on_success: Option<Destination>,
    on_failure: Option<Destination>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ConfigRequest {
    maximum_retry_attempts: Option<i64>,
    maximum_event_age_in_seconds: Option<i64>,
    destination_config: Option<DestinationConfig>,
}

impl From<ConfigRequest> for EventInvokeInput {
    fn from(r: ConfigRequest) -> Self {
        EventInvokeInput {
            maximum_retry_attempts: r.maximum_retry_attempts,
            maximum_event_age_s: r.maximum_event_age_in_seconds,
            destinations: r.destination_config.map(|d| {
                (
                    d.on_success.and_then(|s| s.destination),
                    d.on_failure.and_then(|f| f.destination),
                )
            }),
        }
    }
}

fn destination_json(arn: &Option<String>) -> Value {
    match arn {
        Some(a) => json!({ "Destination": a }),
        None => json!({}),
    }
}

/// A configuration in Lambda's shape (`LastModified` in epoch seconds).
fn config_json(v: &EventInvokeView) -> Value {
    let mut out = json!({
        "LastModified": v.last_modified_ms as f64 / 1000.0,
        "FunctionArn": v.function_arn,
        "DestinationConfig": {
            "OnSuccess": destination_json(&v.on_success),
            "OnFailure": destination_json(&v.on_failure),
        },
    });
    if let Some(n) = v.maximum_retry_attempts {
        out["MaximumRetryAttempts"] = json!(n);
    }
    if let Some(n) = v.maximum_event_age_s {
        out["MaximumEventAgeInSeconds"] = json!(n);
    }
    out
}

async fn put_or_update(
    state: AppState,
    ctx: RequestContext,
    name: String,
    q: HashMap<String, String>,
    body: Bytes,
    replace: bool,
) -> Result<Response, ApiError> {
    let req: ConfigRequest = parse_body(&body)?;
    let v = state
        .control
        .put_event_invoke_config(
            &ctx.region,
            &name,
            q.get("Qualifier").map(String::as_str),
            req.into(),
            replace,
        )
        .await?;
    Ok(Json(config_json(&v)).into_response())
}

pub(crate) async fn put_function_event_invoke_config(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Path(name): Path<String>,
    Query(q): Query<HashMap<String, String>>,
    body: Bytes,
) -> Result<Response, ApiError> {
    put_or_update(state, ctx, name, q, body, true).await
}

pub(crate) async fn update_function_event_invoke_config(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Path(name): Path<String>,
    Query(q): Query<HashMap<String, String>>,
    body: Bytes,
) -> Result<Response, ApiError> {
    put_or_update(state, ctx, name, q, body, false).await
}

pub(crate) async fn get_function_event_invoke_config(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Path(name): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let v = state
        .control
        .get_event_invoke_config(&ctx.region, &name, q.get("Qualifier").map(String::as_str))
        .await?;
    Ok(Json(config_json(&v)).into_response())
}

pub(crate) async fn delete_function_event_invoke_config(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Path(name): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<StatusCode, ApiError> {
    state
        .control
        .delete_event_invoke_config(&ctx.region, &name, q.get("Qualifier").map(String::as_str))
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

pub(crate) async fn list_function_event_invoke_configs(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Path(name): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let page = state
        .control
        .list_event_invoke_configs(
            &ctx.region,
            &name,
            q.get("Marker").map(String::as_str),
            max_items(&q)?,
        )
        .await?;
    let mut out = json!({
        "FunctionEventInvokeConfigs": page.configs.iter().map(config_json).collect::<Vec<_>>(),
    });
    if let Some(m) = &page.next_marker {
        out["NextMarker"] = json!(m);
    }
    Ok(Json(out).into_response())
}
