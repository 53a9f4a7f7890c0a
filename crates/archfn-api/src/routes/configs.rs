//! Code signing configurations (CreateCodeSigningConfig, GetCodeSigningConfig,
//! UpdateCodeSigningConfig, DeleteCodeSigningConfig, ListCodeSigningConfigs,
//! ListFunctionsByCodeSigningConfig, Put/Get/DeleteFunctionCodeSigningConfig), layer version
//! permissions (AddLayerVersionPermission, GetLayerVersionPolicy,
//! RemoveLayerVersionPermission), runtime management (Put/GetRuntimeManagementConfig) and
//! recursion (Put/GetFunctionRecursionConfig).

use std::collections::HashMap;

use archfn_control::{CodeSigningConfigView, CodeSigningInput, LayerPermissionInput};
use archfn_model::time::format_last_modified;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde::Deserialize;
use serde_json::{Value, json};

use super::int_param;
use super::layers::version_number;
use crate::wire::parse_body;
use crate::{ApiError, AppState, RequestContext};

/// "Value null at '<field>' …": a required member missing from the body.
fn null_member(field: &str) -> ApiError {
    ApiError::ValidationException(format!(
        "1 validation error detected: Value null at '{field}' failed to satisfy constraint: Member must not be null"
    ))
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct PublishersIn {
    signing_profile_version_arns: Option<Vec<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct PoliciesIn {
    untrusted_artifact_on_deployment: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct CodeSigningRequest {
    description: Option<String>,
    allowed_publishers: Option<PublishersIn>,
    code_signing_policies: Option<PoliciesIn>,
}

impl CodeSigningRequest {
    fn into_input(self) -> Result<CodeSigningInput, ApiError> {
        let allowed_publishers = match self.allowed_publishers {
            None => None,
            Some(p) => Some(
                p.signing_profile_version_arns
                    .ok_or_else(|| null_member("allowedPublishers.signingProfileVersionArns"))?,
            ),
        };
        Ok(CodeSigningInput {
            description: self.description,
            allowed_publishers,
            untrusted_artifact_on_deployment: self
                .code_signing_policies
                .and_then(|p| p.untrusted_artifact_on_deployment),
        })
    }
}

/// Lambda's CodeSigningConfig shape.
fn code_signing_config(v: &CodeSigningConfigView) -> Value {
    json!({
        "CodeSigningConfigId": v.id,
        "CodeSigningConfigArn": v.arn,
        "Description": v.description,
        "AllowedPublishers": { "SigningProfileVersionArns": v.allowed_publishers },
        "CodeSigningPolicies": { "UntrustedArtifactOnDeployment": v.untrusted_artifact_on_deployment },
        "LastModified": format_last_modified(v.last_modified_ms),
    })
}

fn next_marker(out: &mut Value, next: Option<String>) {
    if let (Some(m), Value::Object(map)) = (next, out) {
        map.insert("NextMarker".into(), json!(m));
    }
}

pub(crate) async fn create_code_signing_config(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let req: CodeSigningRequest = parse_body(&body)?;
    if req.allowed_publishers.is_none() {
        return Err(null_member("allowedPublishers"));
    }
    let view = state
        .control
        .create_code_signing_config(&ctx.region, req.into_input()?)
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({ "CodeSigningConfig": code_signing_config(&view) })),
    )
        .into_response())
}

pub(crate) async fn get_code_signing_config(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Path(arn): Path<String>,
) -> Result<Response, ApiError> {
    let view = state
        .control
        .get_code_signing_config(&ctx.region, &arn)
        .await?;
    Ok(Json(json!({ "CodeSigningConfig": code_signing_config(&view) })).into_response())
}

pub(crate) async fn update_code_signing_config(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Path(arn): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let req: CodeSigningRequest = parse_body(&body)?;
    let view = state
        .control
        .update_code_signing_config(&ctx.region, &arn, req.into_input()?)
        .await?;
    Ok(Json(json!({ "CodeSigningConfig": code_signing_config(&view) })).into_response())
}

pub(crate) async fn delete_code_signing_config(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Path(arn): Path<String>,
) -> Result<StatusCode, ApiError> {
    state
        .control
        .delete_code_signing_config(&ctx.region, &arn)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

pub(crate) async fn list_code_signing_configs(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let page = state
        .control
        .list_code_signing_configs(
            &ctx.region,
            q.get("Marker").map(String::as_str),
            int_param(&q, "MaxItems", "maxItems")?,
        )
        .await?;
    let configs: Vec<Value> = page.configs.iter().map(code_signing_config).collect();
    let mut out = json!({ "CodeSigningConfigs": configs });
    next_marker(&mut out, page.next_marker);
    Ok(Json(out).into_response())
}

pub(crate) async fn list_functions_by_code_signing_config(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Path(arn): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let page = state
        .control
        .list_functions_by_code_signing_config(
            &ctx.region,
            &arn,
            q.get("Marker").map(String::as_str),
            int_param(&q, "MaxItems", "maxItems")?,
        )
        .await?;
    let mut out = json!({ "FunctionArns": page.arns });
    next_marker(&mut out, page.next_marker);
    Ok(Json(out).into_response())
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct FunctionCodeSigningRequest {
    code_signing_config_arn: Option<String>,
}

pub(crate) async fn put_function_code_signing_config(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Path(name): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let req: FunctionCodeSigningRequest = parse_body(&body)?;
    let arn = req
        .code_signing_config_arn
        .ok_or_else(|| null_member("codeSigningConfigArn"))?;
    let (name, arn) = state
        .control
        .put_function_code_signing_config(&ctx.region, &name, &arn)
        .await?;
    Ok(Json(json!({ "CodeSigningConfigArn": arn, "FunctionName": name })).into_response())
}

pub(crate) async fn get_function_code_signing_config(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Path(name): Path<String>,
) -> Result<Response, ApiError> {
    let (name, arn) = state
        .control
        .get_function_code_signing_config(&ctx.region, &name)
        .await?;
    Ok(Json(json!({ "CodeSigningConfigArn": arn, "FunctionName": name })).into_response())
}

pub(crate) async fn delete_function_code_signing_config(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Path(name): Path<String>,
) -> Result<StatusCode, ApiError> {
    state
        .control
        .delete_function_code_signing_config(&ctx.region, &name)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct LayerPermissionRequest {
    statement_id: Option<String>,
    action: Option<String>,
    principal: Option<String>,
    organization_id: Option<String>,
}

pub(crate) async fn add_layer_version_permission(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Path((layer, version)): Path<(String, String)>,
    Query(q): Query<HashMap<String, String>>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let req: LayerPermissionRequest = parse_body(&body)?;
    let input = LayerPermissionInput {
        statement_id: req.statement_id.ok_or_else(|| null_member("statementId"))?,
        action: req.action.ok_or_else(|| null_member("action"))?,
        principal: req.principal.ok_or_else(|| null_member("principal"))?,
        organization_id: req.organization_id,
        revision_id: q.get("RevisionId").cloned(),
    };
    let view = state
        .control
        .add_layer_version_permission(&ctx.region, &layer, version_number(&version)?, input)
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({ "Statement": view.statement, "RevisionId": view.revision_id })),
    )
        .into_response())
}

pub(crate) async fn get_layer_version_policy(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Path((layer, version)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let view = state
        .control
        .get_layer_version_policy(&ctx.region, &layer, version_number(&version)?)
        .await?;
    Ok(Json(json!({ "Policy": view.policy, "RevisionId": view.revision_id })).into_response())
}

pub(crate) async fn remove_layer_version_permission(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Path((layer, version, sid)): Path<(String, String, String)>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<StatusCode, ApiError> {
    state
        .control
        .remove_layer_version_permission(
            &ctx.region,
            &layer,
            version_number(&version)?,
            &sid,
            q.get("RevisionId").map(String::as_str),
        )
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct RuntimeManagementRequest {
    update_runtime_on: Option<String>,
    runtime_version_arn: Option<String>,
}

fn runtime_management(v: &archfn_control::RuntimeManagementView) -> Value {
    let mut out = json!({ "UpdateRuntimeOn": v.update_runtime_on, "FunctionArn": v.function_arn });
    if let (Some(arn), Value::Object(m)) = (&v.runtime_version_arn, &mut out) {
        m.insert("RuntimeVersionArn".into(), json!(arn));
    }
    out
}

pub(crate) async fn put_runtime_management_config(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Path(name): Path<String>,
    Query(q): Query<HashMap<String, String>>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let req: RuntimeManagementRequest = parse_body(&body)?;
    let mode = req
        .update_runtime_on
        .ok_or_else(|| null_member("updateRuntimeOn"))?;
    let view = state
        .control
        .put_runtime_management_config(
            &ctx.region,
            &name,
            q.get("Qualifier").map(String::as_str),
            &mode,
            req.runtime_version_arn.as_deref(),
        )
        .await?;
    Ok(Json(runtime_management(&view)).into_response())
}

pub(crate) async fn get_runtime_management_config(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Path(name): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let view = state
        .control
        .get_runtime_management_config(&ctx.region, &name, q.get("Qualifier").map(String::as_str))
        .await?;
    Ok(Json(runtime_management(&view)).into_response())
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct RecursionRequest {
    recursive_loop: Option<String>,
}

pub(crate) async fn put_function_recursion_config(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Path(name): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let req: RecursionRequest = parse_body(&body)?;
    let mode = req
        .recursive_loop
        .ok_or_else(|| null_member("recursiveLoop"))?;
    let mode = state
        .control
        .put_function_recursion_config(&ctx.region, &name, &mode)
        .await?;
    Ok(Json(json!({ "RecursiveLoop": mode })).into_response())
}

pub(crate) async fn get_function_recursion_config(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Path(name): Path<String>,
) -> Result<Response, ApiError> {
    let mode = state
        .control
        .get_function_recursion_config(&ctx.region, &name)
        .await?;
    Ok(Json(json!({ "RecursiveLoop": mode })).into_response())
}
