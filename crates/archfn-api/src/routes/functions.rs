//! Functions and versions: CreateFunction, GetFunction, GetFunctionConfiguration, ListFunctions,
//! UpdateFunctionCode, UpdateFunctionConfiguration, DeleteFunction, PublishVersion,
//! ListVersionsByFunction.

use std::collections::{BTreeMap, HashMap};

use archfn_control::{CreateFunctionInput, UpdateCodeInput, UpdateConfigInput};
use axum::Extension;
use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{code_location, int_param};
use crate::wire::{
    self, CodeIn, EnvironmentIn, LoggingIn, ModeIn, Page, SizeIn, function_configuration,
    parse_body,
};
use crate::{ApiError, AppState, RequestContext};

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct CreateFunctionRequest {
    function_name: String,
    runtime: Option<String>,
    role: Option<String>,
    handler: Option<String>,
    code: Option<CodeIn>,
    description: Option<String>,
    timeout: Option<i64>,
    memory_size: Option<i64>,
    #[serde(default)]
    publish: bool,
    package_type: Option<String>,
    environment: Option<EnvironmentIn>,
    layers: Option<Vec<String>>,
    architectures: Option<Vec<String>>,
    ephemeral_storage: Option<SizeIn>,
    tracing_config: Option<ModeIn>,
    tags: Option<BTreeMap<String, String>>,
    logging_config: Option<LoggingIn>,
}

pub(crate) async fn create_function(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let raw: Value = parse_body(&body)?;
    let req: CreateFunctionRequest = serde_json::from_value(raw.clone()).map_err(|e| {
        ApiError::InvalidRequestContentException(format!(
            "Could not parse request body into json: {e}"
        ))
    })?;
    let input = CreateFunctionInput {
        function_name: req.function_name,
        runtime: req.runtime,
        role: req.role,
        handler: req.handler,
        code: req.code.unwrap_or_default().into_input()?,
        description: req.description,
        timeout: req.timeout,
        memory_size: req.memory_size,
        publish: req.publish,
        package_type: req.package_type,
        environment: req.environment.map(|e| e.variables.unwrap_or_default()),
        layers: req.layers,
        architectures: req.architectures,
        ephemeral_storage: req.ephemeral_storage.map(|e| e.size),
        tracing_mode: req.tracing_config.and_then(|t| t.mode),
        tags: req.tags,
        logging: req.logging_config.map(LoggingIn::into_input),
        opaque: wire::opaque_of(&raw),
    };
    if let Some(cp) = raw.get("CapacityProviderConfig").filter(|v| !v.is_null()) {
        let arch = input
            .architectures
            .as_ref()
            .and_then(|a| a.first())
            .and_then(|a| archfn_model::Architecture::parse(a))
            .unwrap_or(archfn_model::Architecture::X86_64);
        state
            .control
            .check_function_provider(&ctx.region, cp, arch)
            .await?;
    }
    let csc = raw
        .get("CodeSigningConfigArn")
        .and_then(Value::as_str)
        .filter(|a| !a.is_empty());
    if let Some(arn) = csc {
        // Refused before anything is created when it does not exist.
        state
            .control
            .require_code_signing_config(&ctx.region, arn)
            .await?;
    }
    let view = state.control.create_function(&ctx.region, input).await?;
    if let Some(arn) = csc {
        state
            .control
            .put_function_code_signing_config(&ctx.region, &view.config.name, arn)
            .await?;
    }
    Ok((
        StatusCode::CREATED,
        Json(function_configuration(&view, &ctx.region, true)),
    )
        .into_response())
}

pub(crate) async fn get_function(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Path(name): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let d = state
        .control
        .get_function(&ctx.region, &name, q.get("Qualifier").map(String::as_str))
        .await?;
    let c = &d.view.config;
    let code = match &c.code.image_uri {
        Some(uri) => {
            json!({ "RepositoryType": "ECR", "ImageUri": uri, "ResolvedImageUri": resolved_image_uri(uri, &c.code.sha256) })
        }
        None => {
            json!({ "RepositoryType": "S3", "Location": code_location(&state, c.code.source.zip_digest().unwrap_or_default()) })
        }
    };
    let mut out = json!({
        "Configuration": function_configuration(&d.view, &ctx.region, true),
        "Code": code,
    });
    if let Value::Object(m) = &mut out {
        if !d.tags.is_empty() {
            m.insert("Tags".into(), json!(d.tags));
        }
        if let Some(n) = d.reserved_concurrency {
            m.insert(
                "Concurrency".into(),
                json!({ "ReservedConcurrentExecutions": n }),
            );
        }
    }
    Ok(Json(out).into_response())
}

pub(crate) async fn get_function_configuration(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Path(name): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let view = state
        .control
        .get_function_configuration(&ctx.region, &name, q.get("Qualifier").map(String::as_str))
        .await?;
    Ok(Json(function_configuration(&view, &ctx.region, true)).into_response())
}

pub(crate) async fn list_functions(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let all = match q.get("FunctionVersion").map(String::as_str) {
        None => false,
        Some("ALL") => true,
        Some(other) => {
            return Err(ApiError::ValidationException(format!(
                "1 validation error detected: Value '{other}' at 'functionVersion' failed to satisfy constraint: Member must satisfy enum value set: [ALL]"
            )));
        }
    };
    let max = int_param(&q, "MaxItems", "maxItems")?;
    let (views, next) = state
        .control
        .list_functions(&ctx.region, all, q.get("Marker").map(String::as_str), max)
        .await?;
    let items: Vec<_> = views
        .iter()
        .map(|v| function_configuration(v, &ctx.region, false))
        .collect();
    Ok(paged("Functions", items, next))
}

/// A page of a list in Lambda's shape.
pub(crate) fn paged<T: serde::Serialize>(
    key: &'static str,
    items: Vec<T>,
    next: Option<String>,
) -> Response {
    Json(Page { key, items, next }).into_response()
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct UpdateCodeRequest {
    #[serde(flatten)]
    code: CodeIn,
    #[serde(default)]
    publish: bool,
    #[serde(default)]
    dry_run: bool,
    revision_id: Option<String>,
    architectures: Option<Vec<String>>,
}

pub(crate) async fn update_function_code(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Path(name): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let req: UpdateCodeRequest = parse_body(&body)?;
    let input = UpdateCodeInput {
        code: req.code.into_input()?,
        architectures: req.architectures,
        publish: req.publish,
        dry_run: req.dry_run,
        revision_id: req.revision_id,
    };
    let view = state
        .control
        .update_function_code(&ctx.region, &name, input)
        .await?;
    Ok(Json(function_configuration(&view, &ctx.region, true)).into_response())
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct UpdateConfigRequest {
    role: Option<String>,
    handler: Option<String>,
    description: Option<String>,
    timeout: Option<i64>,
    memory_size: Option<i64>,
    environment: Option<EnvironmentIn>,
    runtime: Option<String>,
    layers: Option<Vec<String>>,
    ephemeral_storage: Option<SizeIn>,
    tracing_config: Option<ModeIn>,
    revision_id: Option<String>,
    logging_config: Option<LoggingIn>,
}

pub(crate) async fn update_function_configuration(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Path(name): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let raw: Value = parse_body(&body)?;
    if raw.get("Architectures").is_some() {
        return Err(ApiError::InvalidParameterValueException(
            "Architectures can only be changed with UpdateFunctionCode.".into(),
        ));
    }
    let req: UpdateConfigRequest = serde_json::from_value(raw.clone()).map_err(|e| {
        ApiError::InvalidRequestContentException(format!(
            "Could not parse request body into json: {e}"
        ))
    })?;
    let input = UpdateConfigInput {
        role: req.role,
        handler: req.handler,
        description: req.description,
        timeout: req.timeout,
        memory_size: req.memory_size,
        environment: req.environment.map(|e| e.variables.unwrap_or_default()),
        runtime: req.runtime,
        layers: req.layers,
        ephemeral_storage: req.ephemeral_storage.map(|e| e.size),
        tracing_mode: req.tracing_config.and_then(|t| t.mode),
        revision_id: req.revision_id,
        logging: req.logging_config.map(LoggingIn::into_input),
        opaque: wire::opaque_of(&raw),
    };
    if let Some(cp) = raw.get("CapacityProviderConfig").filter(|v| !v.is_null()) {
        let current = state
            .control
            .get_function_configuration(&ctx.region, &name, None)
            .await?;
        state
            .control
            .check_function_provider(&ctx.region, cp, current.config.architecture)
            .await?;
    }
    let view = state
        .control
        .update_function_configuration(&ctx.region, &name, input)
        .await?;
    Ok(Json(function_configuration(&view, &ctx.region, true)).into_response())
}

pub(crate) async fn delete_function(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Path(name): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<StatusCode, ApiError> {
    state
        .control
        .delete_function(&ctx.region, &name, q.get("Qualifier").map(String::as_str))
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct PublishVersionRequest {
    code_sha256: Option<String>,
    description: Option<String>,
    revision_id: Option<String>,
}

pub(crate) async fn publish_version(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Path(name): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let req: PublishVersionRequest = parse_body(&body)?;
    let view = state
        .control
        .publish_version(
            &ctx.region,
            &name,
            req.code_sha256.as_deref(),
            req.description,
            req.revision_id.as_deref(),
        )
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(function_configuration(&view, &ctx.region, true)),
    )
        .into_response())
}

pub(crate) async fn list_versions_by_function(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Path(name): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let max = int_param(&q, "MaxItems", "maxItems")?;
    let (views, next) = state
        .control
        .list_versions_by_function(&ctx.region, &name, q.get("Marker").map(String::as_str), max)
        .await?;
    let items = views
        .iter()
        .map(|v| function_configuration(v, &ctx.region, false))
        .collect();
    Ok(paged("Versions", items, next))
}

/// The image by digest (`registry/repository@sha256:…`), as Lambda resolves a tag at deploy time.
fn resolved_image_uri(uri: &str, id: &str) -> String {
    let name = uri.split_once('@').map_or(uri, |(n, _)| n);
    let slash = name.rfind('/').map_or(0, |i| i + 1);
    let repository = match name[slash..].rfind(':') {
        Some(colon) => &name[..slash + colon],
        None => name,
    };
    format!("{repository}@sha256:{id}")
}
