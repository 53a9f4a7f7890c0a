//! Capacity providers (Lambda Managed Instances): Create/Get/List/Update/DeleteCapacityProvider
//! on `/2025-11-30/capacity-providers`. The request's members are checked against the model by
//! the validation layer; the rules are `archfn_control::capacity_provider`'s.

use std::collections::{BTreeMap, HashMap};

use archfn_control::capacity_provider::{
    CapacityProviderInput, CapacityProviderUpdate, CapacityProviderView,
};
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

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct CreateRequest {
    capacity_provider_name: Option<String>,
    vpc_config: Option<Value>,
    permissions_config: Option<Value>,
    instance_requirements: Option<Value>,
    capacity_provider_scaling_config: Option<Value>,
    kms_key_arn: Option<String>,
    tags: Option<BTreeMap<String, String>>,
    propagate_tags: Option<Value>,
    telemetry_config: Option<Value>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct UpdateRequest {
    capacity_provider_scaling_config: Option<Value>,
    propagate_tags: Option<Value>,
    telemetry_config: Option<Value>,
}

/// The `CapacityProvider` structure.
fn provider_json(v: &CapacityProviderView) -> Value {
    let mut out = json!({
        "CapacityProviderArn": v.arn,
        "State": v.state,
        "VpcConfig": v.vpc_config,
        "PermissionsConfig": v.permissions_config,
        "LastModified": archfn_model::time::format_last_modified(v.last_modified_ms),
    });
    let mut requirements = v.instance_requirements.clone().unwrap_or_else(|| json!({}));
    if let Some(r) = requirements.as_object_mut() {
        r.insert("Architectures".into(), json!([v.architecture.as_str()]));
    }
    out["InstanceRequirements"] = requirements;
    if let Some(s) = &v.scaling_config {
        out["CapacityProviderScalingConfig"] = s.clone();
    }
    if let Some(k) = &v.kms_key_arn {
        out["KmsKeyArn"] = json!(k);
    }
    if let Some(p) = &v.propagate_tags {
        out["PropagateTags"] = p.clone();
    }
    if let Some(t) = &v.telemetry_config {
        out["TelemetryConfig"] = t.clone();
    }
    out
}

fn answer(status: StatusCode, v: &CapacityProviderView) -> Response {
    (
        status,
        Json(json!({ "CapacityProvider": provider_json(v) })),
    )
        .into_response()
}

pub(crate) async fn create_capacity_provider(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let req: CreateRequest = parse_body(&body)?;
    let architecture = match req
        .instance_requirements
        .as_ref()
        .and_then(|r| r.get("Architectures"))
        .and_then(Value::as_array)
        .and_then(|a| a.first())
        .and_then(Value::as_str)
    {
        None => None,
        Some(a) => Some(archfn_model::Architecture::parse(a).ok_or_else(|| {
            ApiError::ValidationException(format!(
                "1 validation error detected: Value '[{a}]' at 'instanceRequirements.architectures' failed to satisfy constraint: Member must satisfy enum value set: [x86_64, arm64]"
            ))
        })?),
    };
    let view = state
        .control
        .create_capacity_provider(
            &ctx.region,
            CapacityProviderInput {
                name: req.capacity_provider_name.unwrap_or_default(),
                architecture,
                instance_requirements: req.instance_requirements,
                vpc_config: req.vpc_config.unwrap_or_else(|| json!({})),
                permissions_config: req.permissions_config.unwrap_or_else(|| json!({})),
                scaling_config: req.capacity_provider_scaling_config,
                kms_key_arn: req.kms_key_arn,
                propagate_tags: req.propagate_tags,
                telemetry_config: req.telemetry_config,
                tags: req.tags.unwrap_or_default(),
            },
        )
        .await?;
    Ok(answer(StatusCode::ACCEPTED, &view))
}

pub(crate) async fn get_capacity_provider(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Path(name): Path<String>,
) -> Result<Response, ApiError> {
    let view = state
        .control
        .get_capacity_provider(&ctx.region, &name)
        .await?;
    Ok(answer(StatusCode::OK, &view))
}

pub(crate) async fn update_capacity_provider(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Path(name): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let req: UpdateRequest = parse_body(&body)?;
    let view = state
        .control
        .update_capacity_provider(
            &ctx.region,
            &name,
            CapacityProviderUpdate {
                scaling_config: req.capacity_provider_scaling_config,
                propagate_tags: req.propagate_tags,
                telemetry_config: req.telemetry_config,
            },
        )
        .await?;
    Ok(answer(StatusCode::ACCEPTED, &view))
}

pub(crate) async fn delete_capacity_provider(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Path(name): Path<String>,
) -> Result<Response, ApiError> {
    let view = state
        .control
        .delete_capacity_provider(&ctx.region, &name)
        .await?;
    Ok(answer(StatusCode::ACCEPTED, &view))
}

pub(crate) async fn list_capacity_providers(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let page = state
        .control
        .list_capacity_providers(
            &ctx.region,
            q.get("State").map(String::as_str),
            q.get("Marker").map(String::as_str),
            max_items(&q)?,
        )
        .await?;
    let mut out = json!({
        "CapacityProviders": page.providers.iter().map(provider_json).collect::<Vec<_>>(),
    });
    if let Some(m) = &page.next_marker {
        out["NextMarker"] = json!(m);
    }
    Ok(Json(out).into_response())
}

pub(crate) async fn list_function_versions_by_capacity_provider(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Path(name): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let (arn, versions, next) = state
        .control
        .list_function_versions_by_capacity_provider(
            &ctx.region,
            &name,
            q.get("Marker").map(String::as_str),
            max_items(&q)?,
        )
        .await?;
    let mut out = json!({
        "CapacityProviderArn": arn,
        "FunctionVersions": versions
            .iter()
            .map(|(arn, state)| json!({ "FunctionArn": arn, "State": state }))
            .collect::<Vec<_>>(),
    });
    if let Some(m) = next {
        out["NextMarker"] = json!(m);
    }
    Ok(Json(out).into_response())
}
