//! CreateAlias, GetAlias, UpdateAlias, DeleteAlias, ListAliases.

use std::collections::{BTreeMap, HashMap};

use archfn_control::AliasInput;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde::Deserialize;

use super::functions::paged;
use super::int_param;
use crate::wire::{alias_configuration, parse_body};
use crate::{ApiError, AppState, RequestContext};

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct RoutingIn {
    additional_version_weights: Option<BTreeMap<String, f64>>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct AliasRequest {
    name: Option<String>,
    function_version: Option<String>,
    description: Option<String>,
    routing_config: Option<RoutingIn>,
    revision_id: Option<String>,
}

impl AliasRequest {
    fn into_input(self) -> AliasInput {
        AliasInput {
            function_version: self.function_version,
            description: self.description,
            weights: self
                .routing_config
                .map(|r| r.additional_version_weights.unwrap_or_default()),
            revision_id: self.revision_id,
        }
    }
}

pub(crate) async fn create_alias(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Path(function): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let mut req: AliasRequest = parse_body(&body)?;
    let name = req.name.take().unwrap_or_default();
    let view = state
        .control
        .create_alias(&ctx.region, &function, &name, req.into_input())
        .await?;
    Ok((StatusCode::CREATED, Json(alias_configuration(&view))).into_response())
}

pub(crate) async fn get_alias(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Path((function, name)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let view = state
        .control
        .get_alias(&ctx.region, &function, &name)
        .await?;
    Ok(Json(alias_configuration(&view)).into_response())
}

pub(crate) async fn update_alias(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Path((function, name)): Path<(String, String)>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let req: AliasRequest = parse_body(&body)?;
    let view = state
        .control
        .update_alias(&ctx.region, &function, &name, req.into_input())
        .await?;
    Ok(Json(alias_configuration(&view)).into_response())
}

pub(crate) async fn delete_alias(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Path((function, name)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    state
        .control
        .delete_alias(&ctx.region, &function, &name)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

pub(crate) async fn list_aliases(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Path(function): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let max = int_param(&q, "MaxItems", "maxItems")?;
    let (views, next) = state
        .control
        .list_aliases(
            &ctx.region,
            &function,
            q.get("FunctionVersion").map(String::as_str),
            q.get("Marker").map(String::as_str),
            max,
        )
        .await?;
    Ok(paged(
        "Aliases",
        views.iter().map(alias_configuration).collect(),
        next,
    ))
}
