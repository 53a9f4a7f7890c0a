//! Traffic shifts (`archfn shift`): `POST /archfn/v1/deployments` starts one,
//! `GET /archfn/v1/deployments[?function=&alias=&active=true]` lists them,
//! `GET /archfn/v1/deployments/{id}` reads one, `POST …/{id}/stop` and `POST …/{id}/rollback`
//! end one. JSON in camelCase, as archfn's other own endpoints.

use std::collections::HashMap;

use archfn_control::ShiftInput;
use archfn_model::deployment::{DeploymentRecord, Guardrails, Hooks};
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde::Deserialize;
use serde_json::Value;

use crate::{ApiError, AppState, RequestContext};

/// The most shifts one listing returns.
const MAX_LISTED: usize = 1_000;

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct GuardrailsIn {
    max_error_rate: Option<f64>,
    max_p99_ratio: Option<f64>,
    min_invocations: Option<u64>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct ShiftRequest {
    function_name: String,
    alias_name: String,
    target_version: String,
    strategy: Option<String>,
    guardrails: Option<GuardrailsIn>,
    hooks: Option<Hooks>,
}

/// A shift as answered: the stored record without the raw tallies a resumed step needs.
fn view(d: &DeploymentRecord) -> Value {
    let mut v = serde_json::to_value(d).unwrap_or(Value::Null);
    if let Some(steps) = v.get_mut("steps").and_then(Value::as_array_mut) {
        for s in steps {
            if let Some(o) = s.as_object_mut() {
                o.remove("oldTally");
                o.remove("newTally");
            }
        }
    }
    v
}

pub(crate) async fn start(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let req: ShiftRequest = serde_json::from_slice(&body).map_err(|e| {
        ApiError::InvalidRequestContentException(format!(
            "Could not parse request body into json: {e}"
        ))
    })?;
    let defaults = Guardrails::default();
    let g = req.guardrails.map_or(defaults.clone(), |g| Guardrails {
        max_error_rate: g.max_error_rate.unwrap_or(defaults.max_error_rate),
        max_p99_ratio: g.max_p99_ratio.unwrap_or(defaults.max_p99_ratio),
        min_invocations: g.min_invocations.unwrap_or(defaults.min_invocations),
    });
    let input = ShiftInput {
        function: req.function_name,
        alias: req.alias_name,
        to_version: req.target_version,
        strategy: req.strategy,
        guardrails: g,
        hooks: req.hooks.unwrap_or_default(),
        time_scale: None,
    };
    let d = state.deployments.start(&ctx.region, input).await?;
    Ok((StatusCode::CREATED, Json(view(&d))).into_response())
}

pub(crate) async fn list(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let limit = match q.get("limit") {
        Some(l) => l
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=MAX_LISTED).contains(n))
            .ok_or_else(|| {
                ApiError::ValidationException(format!(
                    "1 validation error detected: Value '{l}' at 'limit' failed to satisfy constraint: Member must have value between 1 and {MAX_LISTED}"
                ))
            })?,
        None => 50,
    };
    let active = q.get("active").is_some_and(|a| a == "true");
    let list = state
        .control
        .list_deployments(
            &ctx.region,
            q.get("function").map(String::as_str),
            q.get("alias").map(String::as_str),
            active,
            limit,
        )
        .await?;
    let items: Vec<Value> = list.iter().map(view).collect();
    Ok(Json(serde_json::json!({ "deployments": items })).into_response())
}

pub(crate) async fn get_one(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    Ok(Json(view(&state.deployments.get(&id).await?)).into_response())
}

pub(crate) async fn stop(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    Ok(Json(view(&state.deployments.stop(&id).await?)).into_response())
}

pub(crate) async fn rollback(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    Ok(Json(view(&state.deployments.rollback(&id).await?)).into_response())
}
