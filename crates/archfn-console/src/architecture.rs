//! The architecture switch of a function's page: first the readiness scan of the function's
//! code and layers for the new architecture (`Control::readiness`, the API's use case), its
//! findings and advice; then, when asked, UpdateFunctionCode with the same package and the new
//! `Architectures`, as the Lambda console does it.

use archfn_control::{CodeInput, UpdateCodeInput};
use archfn_model::{Architecture, Code};
use archfn_scan::Severity;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use maud::html;
use serde::Deserialize;

use crate::ConsoleState;
use crate::invoke::api_error_page;
use crate::layout::{arch_badge, error_page, shell};

/// The switch's query: the region, and the architecture to switch to.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct SwitchQuery {
    region: Option<String>,
    to: Option<String>,
}

/// The answer to a switch without a known architecture to switch to.
fn no_target(open: bool) -> Response {
    error_page(
        open,
        StatusCode::BAD_REQUEST,
        "Say which architecture to switch to: x86_64 or arm64.",
    )
}

/// `GET /console/functions/{name}/architecture?to=arm64`: the scan, and the switch's form.
pub(crate) async fn review(
    State(state): State<ConsoleState>,
    Path(name): Path<String>,
    Query(q): Query<SwitchQuery>,
) -> Response {
    let open = state.is_open();
    let region = q.region.unwrap_or_else(|| state.app.default_region.clone());
    let Some(to) = q.to.as_deref().and_then(Architecture::parse) else {
        return no_target(open);
    };
    let control = &state.app.control;
    let details = match control.get_function(&region, &name, None).await {
        Ok(d) => d,
        Err(e) => return api_error_page(open, e.into()),
    };
    let config = &details.view.config;
    let report = match control.readiness(&region, &name, None, to).await {
        Ok(r) => r,
        Err(e) => return api_error_page(open, e.into()),
    };
    let is_image = matches!(config.code.source, Code::Image { .. });
    let body = html! {
        h1 { "Switch " a href={ "/console/functions/" (name) "?region=" (region) } { (name) } " to " (arch_badge(to)) }
        p { "Now: " (arch_badge(config.architecture)) ". The code and its layers, scanned for " (to.as_str()) ": "
            (report.files_scanned) " files, " (report.native_files) " native." }
        @if report.compatible {
            p.ready { "Nothing found that will not run on " (to.as_str()) "." }
        } @else {
            p."not-ready" { "Some files will not run on " (to.as_str()) ": switching now would break the function." }
        }
        @if !report.findings.is_empty() {
            table {
                thead { tr { th { "File" } th { "Package" } th { "Verdict" } th { "What was found" } th { "What to do" } } }
                tbody {
                    @for f in &report.findings {
                        tr {
                            td { code { (f.path) } }
                            td { (f.component.as_deref().unwrap_or("")) }
                            td {
                                @match f.severity {
                                    Severity::Incompatible => span."not-ready" { "will not run" },
                                    Severity::Warning => span.pending { "warning" },
                                    Severity::Ok => span.ready { "fine" },
                                }
                            }
                            td { (f.message) }
                            td { (f.advice.as_deref().unwrap_or("")) }
                        }
                    }
                }
            }
        }
        @if is_image {
            p { "An image's architecture is its own: push an image built for " (to.as_str()) " and update the function with it (UpdateFunctionCode with ImageUri and Architectures)." }
        } @else if config.architecture == to {
            p { "The function already runs on " (to.as_str()) "." }
        } @else {
            form method="post" action={ "/console/functions/" (name) "/architecture?region=" (region) } {
                input type="hidden" name="csrf" value=(crate::csrf::token(&state.app.url_secret, archfn_model::time::now_ms()));
                input type="hidden" name="to" value=(to.as_str());
                input type="hidden" name="revision" value=(config.revision_id);
                button type="submit" {
                    @if report.compatible { "Switch to " (to.as_str()) } @else { "Switch to " (to.as_str()) " anyway" }
                }
            }
        }
    };
    shell("Switch architecture", open, body).into_response()
}

/// `POST /console/functions/{name}/architecture`, a form of `csrf`, `to` and `revision` (the
/// RevisionId the scan was of: a function changed since is not switched).
pub(crate) async fn switch(
    State(state): State<ConsoleState>,
    Path(name): Path<String>,
    Query(q): Query<SwitchQuery>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let open = state.is_open();
    let region = q.region.unwrap_or_else(|| state.app.default_region.clone());
    let (mut csrf, mut to, mut revision) = (String::new(), None, None);
    for (k, v) in form_urlencoded::parse(&body) {
        match k.as_ref() {
            "csrf" => csrf = v.into_owned(),
            "to" => to = Some(v.into_owned()),
            "revision" => revision = Some(v.into_owned()),
            _ => {}
        }
    }
    if let Some(refused) = crate::csrf::refused(&state, &csrf, &headers) {
        return refused;
    }
    let Some(to) = to.as_deref().and_then(Architecture::parse) else {
        return no_target(open);
    };
    let control = &state.app.control;
    let details = match control.get_function(&region, &name, None).await {
        Ok(d) => d,
        Err(e) => return api_error_page(open, e.into()),
    };
    let Some(digest) = details.view.config.code.source.zip_digest() else {
        return error_page(
            open,
            StatusCode::BAD_REQUEST,
            "An image's architecture is its own: update the function with an image of the other architecture.",
        );
    };
    let zip = match control.blobs().get(digest).await {
        Ok(bytes) => bytes,
        Err(e) => return error_page(open, StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()),
    };
    let input = UpdateCodeInput {
        code: CodeInput {
            zip: Some(zip),
            ..CodeInput::default()
        },
        architectures: Some(vec![to.as_str().to_string()]),
        publish: false,
        dry_run: false,
        revision_id: revision,
    };
    match control.update_function_code(&region, &name, input).await {
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
