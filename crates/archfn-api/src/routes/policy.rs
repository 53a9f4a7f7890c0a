//! AddPermission, RemovePermission, GetPolicy.

use std::collections::HashMap;

use archfn_control::PermissionInput;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde::Deserialize;
use serde_json::json;

use crate::wire::parse_body;
use crate::{ApiError, AppState, RequestContext};

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct AddPermissionRequest {
    #[serde(default)]
    statement_id: String,
    #[serde(default)]
    action: String,
    #[serde(default)]
    principal: String,
    source_arn: Option<String>,
    source_account: Option<String>,
    event_source_token: Option<String>,
    revision_id: Option<String>,
    #[serde(rename = "PrincipalOrgID")]
    principal_org_id: Option<String>,
    function_url_auth_type: Option<String>,
    invoked_via_function_url: Option<bool>,
}

pub(crate) async fn add_permission(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Path(name): Path<String>,
    Query(q): Query<HashMap<String, String>>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let req: AddPermissionRequest = parse_body(&body)?;
    let input = PermissionInput {
        statement_id: req.statement_id,
        action: req.action,
        principal: req.principal,
        source_arn: req.source_arn,
        source_account: req.source_account,
        event_source_token: req.event_source_token,
        principal_org_id: req.principal_org_id,
        function_url_auth_type: req.function_url_auth_type,
        invoked_via_function_url: req.invoked_via_function_url,
        revision_id: req.revision_id,
    };
    let statement = state
        .control
        .add_permission(
            &ctx.region,
            &name,
            q.get("Qualifier").map(String::as_str),
            input,
        )
        .await?;
    Ok((StatusCode::CREATED, Json(json!({ "Statement": statement }))).into_response())
}

pub(crate) async fn remove_permission(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Path((name, sid)): Path<(String, String)>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<StatusCode, ApiError> {
    state
        .control
        .remove_permission(
            &ctx.region,
            &name,
            q.get("Qualifier").map(String::as_str),
            &sid,
            q.get("RevisionId").map(String::as_str),
        )
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

pub(crate) async fn get_policy(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Path(name): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let view = state
        .control
        .get_policy(&ctx.region, &name, q.get("Qualifier").map(String::as_str))
        .await?;
    Ok(Json(json!({ "Policy": view.policy, "RevisionId": view.revision_id })).into_response())
}
