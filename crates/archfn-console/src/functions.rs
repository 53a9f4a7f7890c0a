//! The functions list: every function of a region with its runtime, architecture, state, last
//! change and arm64 readiness, filtered by architecture and readiness.

use archfn_control::FunctionView;
use archfn_model::Architecture;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use maud::html;
use serde::Deserialize;

use crate::ConsoleState;
use crate::layout::{arch_badge, error_page, shell, time};
use crate::readiness::Verdict;

/// The list's query: region and filters.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct ListQuery {
    region: Option<String>,
    arch: Option<String>,
    readiness: Option<String>,
}

/// The most functions listed on one page.
const MAX_LISTED: usize = 10_000;

/// `GET /console/`.
pub(crate) async fn page(
    State(state): State<ConsoleState>,
    Query(q): Query<ListQuery>,
) -> Response {
    let open = state.is_open();
    let region = q
        .region
        .clone()
        .unwrap_or_else(|| state.app.default_region.clone());
    let arch = match q.arch.as_deref().filter(|a| !a.is_empty()) {
        None => None,
        Some(a) => match Architecture::parse(a) {
            Some(a) => Some(a),
            None => {
                return error_page(
                    open,
                    StatusCode::BAD_REQUEST,
                    &format!("Unknown architecture {a}"),
                );
            }
        },
    };
    let readiness = q.readiness.clone().filter(|r| !r.is_empty());
    let functions = match all_functions(&state, &region).await {
        Ok(f) => f,
        Err(e) => return error_page(open, StatusCode::BAD_REQUEST, &e.to_string()),
    };
    let rows: Vec<(FunctionView, Option<Verdict>)> = functions
        .into_iter()
        .filter(|f| arch.is_none_or(|a| f.config.architecture == a))
        .map(|f| {
            // Readiness is a question only for functions not on arm64 yet.
            let verdict = (f.config.architecture == Architecture::X86_64).then(|| {
                state
                    .readiness
                    .verdict(&region, &f.config.name, &f.config.revision_id)
            });
            (f, verdict)
        })
        .filter(|(_, v)| match readiness.as_deref() {
            None => true,
            Some(word) => v.as_ref().is_some_and(|v| v.word() == word),
        })
        .collect();
    let body = html! {
        h1 { "Functions" }
        form.filters method="get" action="/console/" {
            input type="hidden" name="region" value=(region);
            label { "Architecture " br;
                select name="arch" {
                    option value="" { "any" }
                    @for a in [Architecture::X86_64, Architecture::Arm64] {
                        option value=(a.as_str()) selected[arch == Some(a)] { (a.as_str()) }
                    }
                }
            }
            label { "arm64 readiness " br;
                select name="readiness" {
                    option value="" { "any" }
                    @for (word, text) in [("ready", "ready"), ("not-ready", "not ready"), ("pending", "scanning"), ("unknown", "unknown")] {
                        option value=(word) selected[readiness.as_deref() == Some(word)] { (text) }
                    }
                }
            }
            button type="submit" { "Filter" }
        }
        p { (rows.len()) " function" @if rows.len() != 1 { "s" } " in " (region) }
        table {
            thead { tr {
                th { "Name" } th { "Runtime" } th { "Architecture" } th { "State" }
                th.wide { "Last modified" } th { "arm64 readiness" }
            } }
            tbody {
                @for (f, verdict) in &rows {
                    tr {
                        td { a href={ "/console/functions/" (f.config.name) "?region=" (region) } { (f.config.name) } }
                        td { (f.config.runtime.as_deref().unwrap_or("image")) }
                        td { (arch_badge(f.config.architecture)) }
                        td { (f.config.state.as_str()) }
                        td.wide { (time(f.config.last_modified_ms)) }
                        td {
                            @match verdict {
                                None => span.ready { "runs on arm64" },
                                Some(Verdict::Ready) => span.ready { "ready" },
                                Some(Verdict::NotReady(n)) => span."not-ready" { "not ready (" (n) " incompatible)" },
                                Some(Verdict::Failed(reason)) => span.unknown title=(reason) { "unknown" },
                                Some(Verdict::Pending) => span.pending { "scanning…" },
                            }
                        }
                    }
                }
            }
        }
    };
    shell("Functions", open, body).into_response()
}

/// Every function of `region` (up to [`MAX_LISTED`]), through ListFunctions' use case.
async fn all_functions(
    state: &ConsoleState,
    region: &str,
) -> Result<Vec<FunctionView>, archfn_control::ControlError> {
    let mut out = Vec::new();
    let mut marker: Option<String> = None;
    loop {
        let (page, next) = state
            .app
            .control
            .list_functions(region, false, marker.as_deref(), Some(10_000))
            .await?;
        out.extend(page);
        match next {
            Some(m) if out.len() < MAX_LISTED => marker = Some(m),
            _ => return Ok(out),
        }
    }
}
