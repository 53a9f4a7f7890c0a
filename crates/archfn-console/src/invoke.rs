//! A test invoke from a function's page: the payload from the form goes through the same use
//! case as Invoke (`Control::begin_invoke`, then the engine); the page shows the answer, whether
//! it ran native or emulated, and the invocation's log lines (REPORT included).

use archfn_control::{Admitted, InvokeRefused};
use archfn_model::InvocationType;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use maud::html;

use crate::ConsoleState;
use crate::function::FunctionQuery;
use crate::layout::{error_page, shell};

/// The largest form accepted: a synchronous invocation's payload (6 MB), form-encoded.
pub(crate) const MAX_FORM_BYTES: usize = 3 * archfn_model::limits::SYNC_INVOKE_PAYLOAD_MAX_BYTES;

/// `POST /console/functions/{name}/invoke`, a form of `csrf` and `payload`.
pub(crate) async fn run(
    State(state): State<ConsoleState>,
    Path(name): Path<String>,
    Query(q): Query<FunctionQuery>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let open = state.is_open();
    let region = q.region.unwrap_or_else(|| state.app.default_region.clone());
    let mut csrf = String::new();
    let mut payload = String::new();
    for (k, v) in form_urlencoded::parse(&body) {
        match k.as_ref() {
            "csrf" => csrf = v.into_owned(),
            "payload" => payload = v.into_owned(),
            _ => {}
        }
    }
    let now = archfn_model::time::now_ms();
    if !crate::csrf::allowed(&state.app.url_secret, now, &csrf, &headers) {
        return error_page(
            open,
            StatusCode::FORBIDDEN,
            "This form is stale or was not sent from the console: load the page again.",
        );
    }
    let admitted = state
        .app
        .control
        .begin_invoke(
            &region,
            &name,
            None,
            InvocationType::RequestResponse,
            Bytes::from(payload.clone()),
        )
        .await;
    let (target, event, admission) = match admitted {
        Ok(Admitted::Run {
            target,
            payload,
            admission,
        }) => (target, payload, admission),
        Ok(_) => {
            return error_page(
                open,
                StatusCode::INTERNAL_SERVER_ERROR,
                "the invocation was not run",
            );
        }
        Err(InvokeRefused { error, throttled }) => {
            if let Some(t) = throttled {
                state
                    .app
                    .engine
                    .record_throttle(&region, &t.config, t.alias.as_deref());
            }
            return api_error_page(open, error.into());
        }
    };
    let request = archfn_api::invoke_request(&region, *target, event, None);
    let outcome = state.app.engine.invoke(request).await;
    drop(admission);
    let outcome = match outcome {
        Ok(o) => o,
        Err(e) => return api_error_page(open, e.into()),
    };
    let answer = String::from_utf8_lossy(&outcome.payload);
    let body = html! {
        h1 { "Test invoke of " a href={ "/console/functions/" (name) "?region=" (region) } { (name) } }
        dl {
            dt { "Result" }
            dd {
                @match &outcome.function_error {
                    Some(kind) => span.error { "function error (" (kind) ")" },
                    None => span.ready { "succeeded" },
                }
            }
            dt { "Ran" } dd { span class={ "badge " (outcome.mode.as_str()) } { (outcome.mode.as_str()) } }
            dt { "Request id" } dd { code { (outcome.request_id) } }
            dt { "Duration" } dd { (format!("{:.2}", outcome.figures.duration_ms)) " ms (billed " (outcome.figures.billed_ms) " ms)" }
        }
        h2 { "Response" }
        pre.response { (answer) }
        h2 { "Log" }
        pre.log { (outcome.log) }
        h2 { "Payload sent" }
        pre { (payload) }
    };
    shell("Test invoke", open, body).into_response()
}

/// A page for an error as the API would answer it: its type and message.
pub(crate) fn api_error_page(open: bool, e: archfn_api::ApiError) -> Response {
    let (status, kind, message) = e.parts();
    error_page(open, status, &format!("{kind}: {message}"))
}
