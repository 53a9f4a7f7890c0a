//! CreateFunctionUrlConfig, GetFunctionUrlConfig, UpdateFunctionUrlConfig,
//! DeleteFunctionUrlConfig, ListFunctionUrlConfigs.

use std::collections::HashMap;

use archfn_control::{Cors, FunctionUrlInput, FunctionUrlView};
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::functions::paged;
use super::int_param;
use crate::url_front;
use crate::wire::parse_body;
use crate::{ApiError, AppState, RequestContext};

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct UrlRequest {
    auth_type: Option<String>,
    cors: Option<Cors>,
    invoke_mode: Option<String>,
}

impl UrlRequest {
    fn into_input(self) -> FunctionUrlInput {
        FunctionUrlInput {
            auth_type: self.auth_type,
            cors: self.cors,
            invoke_mode: self.invoke_mode,
        }
    }
}

/// Which timestamps and invoke mode an answer shows.
#[derive(Debug, Clone, Copy)]
enum Shape {
    /// Create: no LastModifiedTime; InvokeMode only when set.
    Created,
    /// Update: InvokeMode only when set.
    Updated,
    /// Get and List: InvokeMode always.
    Read,
}

fn url_json(state: &AppState, v: &FunctionUrlView, shape: Shape) -> Value {
    let mut m = Map::new();
    m.insert(
        "FunctionUrl".into(),
        json!(url_front::function_url(
            &state.public_url,
            &v.region,
            &v.url_id
        )),
    );
    m.insert("FunctionArn".into(), json!(v.function_arn));
    m.insert("AuthType".into(), json!(v.auth_type));
    if let Some(c) = &v.cors {
        m.insert("Cors".into(), json!(c));
    }
    m.insert("CreationTime".into(), json!(v.creation_time));
    if !matches!(shape, Shape::Created) {
        m.insert("LastModifiedTime".into(), json!(v.last_modified_time));
    }
    match shape {
        Shape::Read => {
            m.insert("InvokeMode".into(), json!(v.effective_invoke_mode()));
        }
        Shape::Created | Shape::Updated => {
            if let Some(mode) = &v.invoke_mode {
                m.insert("InvokeMode".into(), json!(mode));
            }
        }
    }
    Value::Object(m)
}

pub(crate) async fn create_function_url_config(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Path(name): Path<String>,
    Query(q): Query<HashMap<String, String>>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let req: UrlRequest = parse_body(&body)?;
    let view = state
        .control
        .create_function_url(
            &ctx.region,
            &name,
            q.get("Qualifier").map(String::as_str),
            req.into_input(),
        )
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(url_json(&state, &view, Shape::Created)),
    )
        .into_response())
}

pub(crate) async fn get_function_url_config(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Path(name): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let view = state
        .control
        .get_function_url(&ctx.region, &name, q.get("Qualifier").map(String::as_str))
        .await?;
    Ok(Json(url_json(&state, &view, Shape::Read)).into_response())
}

pub(crate) async fn update_function_url_config(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Path(name): Path<String>,
    Query(q): Query<HashMap<String, String>>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let req: UrlRequest = parse_body(&body)?;
    let view = state
        .control
        .update_function_url(
            &ctx.region,
            &name,
            q.get("Qualifier").map(String::as_str),
            req.into_input(),
        )
        .await?;
    Ok(Json(url_json(&state, &view, Shape::Updated)).into_response())
}

pub(crate) async fn delete_function_url_config(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Path(name): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<StatusCode, ApiError> {
    state
        .control
        .delete_function_url(&ctx.region, &name, q.get("Qualifier").map(String::as_str))
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

pub(crate) async fn list_function_url_configs(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Path(name): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let max = int_param(&q, "MaxItems", "maxItems")?;
    let (views, next) = state
        .control
        .list_function_urls(&ctx.region, &name, q.get("Marker").map(String::as_str), max)
        .await?;
    let items: Vec<Value> = views
        .iter()
        .map(|v| url_json(&state, v, Shape::Read))
        .collect();
    Ok(paged("FunctionUrlConfigs", items, next))
}
