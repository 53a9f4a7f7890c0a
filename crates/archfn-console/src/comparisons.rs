//! Comparisons: those this server keeps, their progress, and a finished one's report as
//! `archfn compare`'s HTML report shows it.

use archfn_compare::Format;
use archfn_compare_runner::ReportState;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use maud::html;

use crate::ConsoleState;
use crate::invoke::api_error_page;
use crate::layout::{error_page, shell, time};

/// `GET /console/comparisons`.
pub(crate) async fn list(State(state): State<ConsoleState>) -> Response {
    let open = state.is_open();
    let all = state.app.comparisons.list();
    let body = html! {
        h1 { "Comparisons" }
        p { "x86_64 and arm64 (or memory sizes) of one function, measured side by side, costed at Lambda's prices. Start one with " code { "archfn compare" } "." }
        @if all.is_empty() {
            p { "No comparison on this server yet (the last 64 are kept while it runs)." }
        } @else {
            table.comparisons {
                thead { tr { th { "Comparison" } th { "Function" } th { "Status" } th { "Progress" } th.wide { "Started" } } }
                tbody {
                    @for c in &all {
                        tr {
                            td { a href={ "/console/comparisons/" (c.id) } { (c.id) } }
                            td { a href={ "/console/functions/" (c.function) "?region=" (c.region) } { (c.function) } }
                            td { (c.status) }
                            td { progress max=(c.total.max(1)) value=(c.done) { (c.done) " of " (c.total) } " " (c.phase) }
                            td.wide { (time(c.created_ms)) }
                        }
                    }
                }
            }
        }
    };
    shell("Comparisons", open, body).into_response()
}

/// `GET /console/comparisons/{id}`: the report inside the console's page.
pub(crate) async fn page(State(state): State<ConsoleState>, Path(id): Path<String>) -> Response {
    let open = state.is_open();
    let body = match state.app.comparisons.report(&id) {
        Err(e) => return api_error_page(open, e.into()),
        Ok(ReportState::Running) => html! {
            h1 { "Comparison " (id) }
            p { "Still running: " a href={ "/console/comparisons/" (id) } { "reload" } " to see its report." }
        },
        Ok(ReportState::Failed(why)) => html! { h1 { "Comparison " (id) } p.error { (why) } },
        Ok(ReportState::Ready(_)) => html! {
            h1 { "Comparison " (id) }
            p { a href={ "/console/comparisons/" (id) "/report" } { "Open the report alone" } }
            iframe.report src={ "/console/comparisons/" (id) "/report" } title="Comparison report" {}
        },
    };
    shell(&format!("Comparison {id}"), open, body).into_response()
}

/// `GET /console/comparisons/{id}/report`: the HTML report.
pub(crate) async fn report(State(state): State<ConsoleState>, Path(id): Path<String>) -> Response {
    let open = state.is_open();
    match state.app.comparisons.report(&id) {
        Ok(ReportState::Ready(report)) => (
            [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
            archfn_compare::render(&report, Format::Html),
        )
            .into_response(),
        Ok(_) => error_page(
            open,
            StatusCode::CONFLICT,
            "The comparison has no report yet.",
        ),
        Err(e) => api_error_page(open, e.into()),
    }
}
