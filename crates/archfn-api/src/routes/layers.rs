//! PublishLayerVersion, GetLayerVersion, GetLayerVersionByArn, ListLayers, ListLayerVersions,
//! DeleteLayerVersion.

use std::collections::HashMap;

use archfn_control::{LayerFilter, PublishLayerInput};
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde::Deserialize;
use serde_json::json;

use super::functions::paged;
use super::{code_location, int_param};
use crate::wire::{CodeIn, layer_version, parse_body};
use crate::{ApiError, AppState, RequestContext};

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct PublishLayerRequest {
    content: Option<CodeIn>,
    description: Option<String>,
    license_info: Option<String>,
    compatible_runtimes: Option<Vec<String>>,
    compatible_architectures: Option<Vec<String>>,
}

pub(crate) async fn publish_layer_version(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Path(layer): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let req: PublishLayerRequest = parse_body(&body)?;
    let input = PublishLayerInput {
        content: req.content.unwrap_or_default().into_input()?,
        description: req.description,
        license_info: req.license_info,
        compatible_runtimes: req.compatible_runtimes,
        compatible_architectures: req.compatible_architectures,
    };
    let view = state
        .control
        .publish_layer_version(&ctx.region, &layer, input)
        .await?;
    let loc = code_location(&state, &view.layer.digest);
    Ok((StatusCode::CREATED, Json(layer_version(&view, Some(loc)))).into_response())
}

pub(crate) fn version_number(raw: &str) -> Result<i64, ApiError> {
    raw.parse().map_err(|_| {
        ApiError::ValidationException(format!(
            "1 validation error detected: Value '{raw}' at 'versionNumber' failed to satisfy constraint: Member must be a number"
        ))
    })
}

pub(crate) async fn get_layer_version(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Path((layer, version)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let view = state
        .control
        .get_layer_version(&ctx.region, &layer, version_number(&version)?)
        .await?;
    let loc = code_location(&state, &view.layer.digest);
    Ok(Json(layer_version(&view, Some(loc))).into_response())
}

pub(crate) async fn delete_layer_version(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Path((layer, version)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    state
        .control
        .delete_layer_version(&ctx.region, &layer, version_number(&version)?)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

fn filter_of(q: &HashMap<String, String>) -> LayerFilter {
    LayerFilter {
        runtime: q.get("CompatibleRuntime").cloned(),
        architecture: q.get("CompatibleArchitecture").cloned(),
    }
}

/// `GET /2018-10-31/layers` is ListLayers, or GetLayerVersionByArn with `find=LayerVersion`.
pub(crate) async fn list_layers_or_find(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    if q.get("find").map(String::as_str) == Some("LayerVersion") {
        let arn = q.get("Arn").cloned().unwrap_or_default();
        let view = state
            .control
            .get_layer_version_by_arn(&ctx.region, &arn)
            .await?;
        let loc = code_location(&state, &view.layer.digest);
        return Ok(Json(layer_version(&view, Some(loc))).into_response());
    }
    let max = int_param(&q, "MaxItems", "maxItems")?;
    let (views, next) = state
        .control
        .list_layers(
            &ctx.region,
            &filter_of(&q),
            q.get("Marker").map(String::as_str),
            max,
        )
        .await?;
    let items = views
        .iter()
        .map(|v| {
            json!({
                "LayerName": v.layer.name,
                "LayerArn": v.layer_arn,
                "LatestMatchingVersion": layer_version(v, None),
            })
        })
        .collect();
    Ok(paged("Layers", items, next))
}

pub(crate) async fn list_layer_versions(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Path(layer): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let max = int_param(&q, "MaxItems", "maxItems")?;
    let (views, next) = state
        .control
        .list_layer_versions(
            &ctx.region,
            &layer,
            &filter_of(&q),
            q.get("Marker").map(String::as_str),
            max,
        )
        .await?;
    Ok(paged(
        "LayerVersions",
        views.iter().map(|v| layer_version(v, None)).collect(),
        next,
    ))
}
