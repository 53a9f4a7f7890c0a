//! CreateFunctionUrlConfig, GetFunctionUrlConfig, UpdateFunctionUrlConfig,
//! DeleteFunctionUrlConfig, ListFunctionUrlConfigs.

use std::collections::HashMap;

use archfn_control::{Cors, FunctionUrlInput, FunctionUrlView};
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use super::functions::paged;
use super::int_param;
use crate::url_front;
use crate::wire::parse_body;
use crate::{ApiError, AppState, RequestContext};

/// `Cors` on the wire.
#[derive(Debug, Deserialize, Serialize)]
#[serde(rename_all = "PascalCase")]
struct CorsWire {
    #[serde(skip_serializing_if = "Option::is_none")]
    allow_credentials: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    allow_headers: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    allow_methods: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    allow_origins: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    expose_headers: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    max_age: Option<i64>,
}

impl From<CorsWire> for Cors {
    fn from(c: CorsWire) -> Cors {
        Cors {
            allow_credentials: c.allow_credentials,
            allow_headers: c.allow_headers,
            allow_methods: c.allow_methods,
            allow_origins: c.allow_origins,
            expose_headers: c.expose_headers,
            max_age: c.max_age,
        }
    }
}

impl From<&Cors> for CorsWire {
    fn from(c: &Cors) -> CorsWire {
        CorsWire {
            allow_credentials: c.allow_credentials,
            allow_headers: c.allow_headers.clone(),
            allow_methods: c.allow_methods.clone(),
            allow_origins: c.allow_origins.clone(),
            expose_headers: c.expose_headers.clone(),
            max_age: c.max_age,
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct UrlRequest {
    auth_type: Option<String>,
    cors: Option<CorsWire>,
    invoke_mode: Option<String>,
}

impl UrlRequest {
    fn into_input(self) -> FunctionUrlInput {
        FunctionUrlInput {
            auth_type: self.auth_type,
            cors: self.cors.map(Cors::from),
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
        m.insert("Cors".into(), json!(CorsWire::from(c)));
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
