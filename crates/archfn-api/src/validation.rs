//! Request validation derived from the Lambda API model: before a handler runs, every member of
//! the operation's input (path segments, query parameters, headers and the JSON body) is checked
//! against the model's constraints (required, lengths, ranges, patterns, enums), and a request
//! that breaks any is answered with Lambda's `ValidationException` ("N validation errors
//! detected: …"), listing every violation in the model's member order.
//!
//! The model is `data/lambda-model.json`, written from botocore's by `scripts/lambda-model.py`;
//! a test checks it against the installed botocore. Rules Lambda applies beyond the model (which
//! runtimes exist, limits of the account) stay in the control plane.

mod check;
mod model;

use axum::extract::{MatchedPath, Request};
use axum::http::HeaderMap;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use percent_encoding::percent_decode_str;
use serde_json::{Map, Value};

use crate::ApiError;
use model::{Location, Model, Operation};

/// The middleware: validates requests of the routes it wraps (`route_layer`, so only requests
/// that matched a route), passing on those without violations unchanged.
pub(crate) async fn validate_request(req: Request, next: Next) -> Response {
    let Some(template) = req
        .extensions()
        .get::<MatchedPath>()
        .map(|m| m.as_str().to_owned())
    else {
        return next.run(req).await;
    };
    let model = model::model();
    let query: Vec<(String, String)> = crate::routes::query_multi(req.uri())
        .into_iter()
        .flat_map(|(k, vs)| vs.into_iter().map(move |v| (k.clone(), v)))
        .collect();
    let Some((_, op)) = model.operation(req.method().as_str(), &template, &query) else {
        return next.run(req).await;
    };
    let Some(input) = op.input.as_deref() else {
        return next.run(req).await;
    };
    let Some(shape) = model.shape(input) else {
        return next.run(req).await;
    };
    let has_body_members = shape
        .members
        .iter()
        .any(|m| m.location.is_none() && shape.payload.as_deref() != Some(m.name.as_str()));
    let (parts, body) = req.into_parts();
    let (body_value, body) = if has_body_members {
        let Ok(bytes) = axum::body::to_bytes(body, usize::MAX).await else {
            // The body was read under its limit before this layer: a failure here is the
            // client's connection, and the handler reports it.
            return next
                .run(Request::from_parts(parts, axum::body::Body::empty()))
                .await;
        };
        let parsed = if bytes.is_empty() {
            Some(Value::Object(Map::new()))
        } else {
            serde_json::from_slice::<Value>(&bytes).ok()
        };
        let body = axum::body::Body::from(bytes);
        match parsed {
            Some(v @ Value::Object(_)) if check::well_typed(model, input, &v) => (Some(v), body),
            // A body that does not read as the input is the handler's to refuse, as Lambda
            // refuses it (InvalidRequestContentException) before validating anything.
            _ => return next.run(Request::from_parts(parts, body)).await,
        }
    } else {
        (None, body)
    };
    let members = request_members(
        model,
        op,
        parts.uri.path(),
        &query,
        &parts.headers,
        body_value,
    );
    let mut errs = archfn_model::ValidationErrors::new();
    check::check(model, input, Some(&Value::Object(members)), "", &mut errs);
    if !errs.is_empty() {
        return ApiError::ValidationException(errs.message()).into_response();
    }
    next.run(Request::from_parts(parts, body)).await
}

/// The input's members as one JSON object: the body's members, then each member bound to a path
/// segment, query parameter or header, typed as its shape says (a number that does not parse is
/// left out, for the handler to refuse).
fn request_members(
    model: &Model,
    op: &Operation,
    path: &str,
    query: &[(String, String)],
    headers: &HeaderMap,
    body: Option<Value>,
) -> Map<String, Value> {
    let mut out = match body {
        Some(Value::Object(m)) => m,
        _ => Map::new(),
    };
    let Some(shape) = op.input.as_deref().and_then(|i| model.shape(i)) else {
        return out;
    };
    if let Some(payload) = &shape.payload {
        out.remove(payload);
    }
    let template: Vec<&str> = op.uri.split('?').next().unwrap_or("").split('/').collect();
    let actual: Vec<&str> = path.split('/').collect();
    for m in &shape.members {
        let Some(location) = m.location else {
            continue;
        };
        let wire = m.location_name.as_deref().unwrap_or(&m.name);
        let kind = model
            .shape(&m.shape)
            .map(|s| s.kind.as_str())
            .unwrap_or("string");
        let raw: Vec<String> = match location {
            Location::Uri => template
                .iter()
                .position(|seg| {
                    seg.trim_start_matches('{')
                        .trim_end_matches('}')
                        .trim_end_matches('+')
                        == wire
                        && seg.starts_with('{')
                })
                .and_then(|i| actual.get(i))
                .map(|seg| vec![percent_decode_str(seg).decode_utf8_lossy().into_owned()])
                .unwrap_or_default(),
            Location::Querystring => query
                .iter()
                .filter(|(k, _)| k == wire)
                .map(|(_, v)| v.clone())
                .collect(),
            Location::Header => headers
                .get(wire)
                .and_then(|v| v.to_str().ok())
                .map(|v| vec![v.to_owned()])
                .unwrap_or_default(),
            Location::Headers => Vec::new(),
        };
        let value = match (kind, raw.as_slice()) {
            (_, []) => continue,
            ("list", all) => Value::Array(all.iter().cloned().map(Value::String).collect()),
            ("integer" | "long", [first, ..]) => match first.parse::<i64>() {
                Ok(n) => Value::from(n),
                Err(_) => continue,
            },
            ("boolean", [first, ..]) => match first.as_str() {
                "true" => Value::Bool(true),
                "false" => Value::Bool(false),
                _ => continue,
            },
            (_, [first, ..]) => Value::String(first.clone()),
        };
        out.insert(m.name.clone(), value);
    }
    out
}
