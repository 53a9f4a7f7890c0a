//! An alias's traffic split from a function's page: the weight of one additional version, set
//! with a slider, through UpdateAlias's use case (its checks and errors are the API's).

use std::collections::BTreeMap;

use archfn_control::AliasInput;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::ConsoleState;
use crate::function::FunctionQuery;
use crate::invoke::api_error_page;
use crate::layout::error_page;

/// `POST /console/functions/{name}/aliases/{alias}`, a form of `csrf`, `revision` (the alias's
/// RevisionId as shown), `version` (the additional version, or empty for none) and `weight`
/// (its share in percent).
pub(crate) async fn set_weight(
    State(state): State<ConsoleState>,
    Path((name, alias)): Path<(String, String)>,
    Query(q): Query<FunctionQuery>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let open = state.is_open();
    let region = q.region.unwrap_or_else(|| state.app.default_region.clone());
    let (mut csrf, mut revision, mut version, mut weight) =
        (String::new(), None, String::new(), String::new());
    for (k, v) in form_urlencoded::parse(&body) {
        match k.as_ref() {
            "csrf" => csrf = v.into_owned(),
            "revision" => revision = Some(v.into_owned()).filter(|r| !r.is_empty()),
            "version" => version = v.into_owned(),
            "weight" => weight = v.into_owned(),
            _ => {}
        }
    }
    if let Some(refused) = crate::csrf::refused(&state, &csrf, &headers) {
        return refused;
    }
    let Ok(percent) = weight.trim().parse::<f64>() else {
        return error_page(
            open,
            StatusCode::BAD_REQUEST,
            "The weight must be a number of percent.",
        );
    };
    let weights = if version.is_empty() || percent == 0.0 {
        BTreeMap::new()
    } else {
        BTreeMap::from([(version, percent / 100.0)])
    };
    let input = AliasInput {
        weights: Some(weights),
        revision_id: revision,
        ..AliasInput::default()
    };
    match state
        .app
        .control
        .update_alias(&region, &name, &alias, input)
        .await
    {
        Ok(_) => (
            StatusCode::SEE_OTHER,
            [(
                header::LOCATION,
                format!("/console/functions/{name}?region={region}"),
            )],
        )
            .into_response(),
        Err(e) => api_error_page(open, e.into()),
    }
}
