//! A function's page: its configuration, versions and aliases.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use maud::html;
use serde::Deserialize;

use crate::ConsoleState;
use crate::layout::{arch_badge, error_page, shell, time};

/// The page's query.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct FunctionQuery {
    pub(crate) region: Option<String>,
}

/// `GET /console/functions/{name}`.
pub(crate) async fn page(
    State(state): State<ConsoleState>,
    Path(name): Path<String>,
    Query(q): Query<FunctionQuery>,
) -> Response {
    let open = state.is_open();
    let region = q.region.unwrap_or_else(|| state.app.default_region.clone());
    let control = &state.app.control;
    let details = match control.get_function(&region, &name, None).await {
        Ok(d) => d,
        Err(e) => {
            let status = match e {
                archfn_control::ControlError::NotFound { .. } => StatusCode::NOT_FOUND,
                _ => StatusCode::BAD_REQUEST,
            };
            return error_page(open, status, &e.to_string());
        }
    };
    let versions = control
        .list_versions_by_function(&region, &name, None, Some(10_000))
        .await
        .map(|(v, _)| v)
        .unwrap_or_default();
    let aliases = control
        .list_aliases(&region, &name, None, None, Some(10_000))
        .await
        .map(|(a, _)| a)
        .unwrap_or_default();
    let charts = crate::charts::charts(&state, &region, &details.view.config.name).await;
    let c = &details.view.config;
    let token = crate::csrf::token(&state.app.url_secret, archfn_model::time::now_ms());
    let body = html! {
        h1 { (c.name) " " (arch_badge(c.architecture)) }
        dl {
            dt { "ARN" } dd { code { (details.view.arn) } }
            dt { "Runtime" } dd { (c.runtime.as_deref().unwrap_or("image")) }
            dt { "Handler" } dd { (c.handler.as_deref().unwrap_or("")) }
            dt { "Architecture" } dd {
                (c.architecture.as_str()) " · "
                a href={ "/console/functions/" (c.name) "/architecture?to=" (c.architecture.other().as_str()) "&region=" (region) } {
                    "Switch to " (c.architecture.other().as_str()) "…"
                }
            }
            dt { "Memory" } dd { (c.memory_mb) " MB" }
            dt { "Timeout" } dd { (c.timeout_s) " s" }
            dt { "State" } dd { (c.state.as_str()) @if let Some(r) = &c.state_reason { " (" (r) ")" } }
            dt { "Code" } dd { (c.code.size) " bytes, SHA-256 " code { (c.code.sha256) } }
            dt { "Layers" } dd { @if c.layers.is_empty() { "none" } @else { ul { @for l in &c.layers { li { code { (l.arn) } } } } } }
            dt { "Last modified" } dd { (time(c.last_modified_ms)) }
            dt { "RevisionId" } dd { code { (c.revision_id) } }
        }
        h2 { "Code" }
        @if c.code.source.zip_digest().is_some() {
            form.upload method="post" enctype="multipart/form-data" action={ "/console/functions/" (c.name) "/code?region=" (region) } {
                input type="hidden" name="csrf" value=(token);
                input type="hidden" name="revision" value=(c.revision_id);
                label for="zip" { "New code (.zip, up to 50 MB)" }
                " "
                input id="zip" type="file" name="zip" accept=".zip,application/zip" required;
                " "
                button type="submit" { "Upload" }
            }
        } @else {
            p { "An image function's code is its image: update it with the API." }
        }
        h2 { "Metrics" }
        (charts)
        h2 { "Test" }
        form.invoke method="post" action={ "/console/functions/" (c.name) "/invoke?region=" (region) } {
            input type="hidden" name="csrf" value=(token);
            label for="payload" { "Event (JSON)" }
            br;
            textarea id="payload" name="payload" rows="6" cols="60" { "{}" }
            br;
            button type="submit" { "Invoke" }
        }
        h2 { "Versions" }
        table {
            thead { tr { th { "Version" } th { "Architecture" } th { "Runtime" } th.wide { "Description" } th.wide { "Last modified" } } }
            tbody {
                @for v in &versions {
                    tr {
                        td { (v.config.version) }
                        td { (arch_badge(v.config.architecture)) }
                        td { (v.config.runtime.as_deref().unwrap_or("image")) }
                        td.wide { (v.config.description) }
                        td.wide { (time(v.config.last_modified_ms)) }
                    }
                }
            }
        }
        h2 { "Aliases" }
        @if aliases.is_empty() {
            p { "none" }
        } @else {
            table {
                thead { tr { th { "Alias" } th { "Version" } th { "Traffic" } th { "Shift to another version" } } }
                tbody {
                    @for a in &aliases {
                        tr {
                            td { (a.alias.name) }
                            td { (a.alias.function_version) }
                            td {
                                @let extra: f64 = a.alias.additional_weights.values().sum();
                                (a.alias.function_version) ": " (percent(1.0 - extra))
                                @for (v, w) in &a.alias.additional_weights { ", " (v) ": " (percent(*w)) }
                            }
                            td {
                                @let (extra_version, extra_weight) = a.alias.additional_weights.iter().next()
                                    .map(|(v, w)| (v.clone(), (w * 100.0).round()))
                                    .unwrap_or_default();
                                @let slider = format!("weight-{}", a.alias.name);
                                form.weights method="post" action={ "/console/functions/" (c.name) "/aliases/" (a.alias.name) "?region=" (region) } {
                                    input type="hidden" name="csrf" value=(token);
                                    input type="hidden" name="revision" value=(a.alias.revision_id);
                                    label { "Version " select name="version" {
                                        option value="" { "none" }
                                        @for v in versions.iter().filter(|v| v.config.version != a.alias.function_version && v.config.version != "$LATEST") {
                                            option value=(v.config.version) selected[v.config.version == extra_version] {
                                                (v.config.version) " (" (v.config.architecture.as_str()) ")"
                                            }
                                        }
                                    } }
                                    " "
                                    label for=(slider) { "weight" }
                                    " "
                                    input id=(slider) type="range" name="weight" min="0" max="100" step="1" value=(extra_weight)
                                        oninput="this.nextElementSibling.value = this.value + '%'";
                                    output { (extra_weight) "%" }
                                    " "
                                    button type="submit" { "Set" }
                                }
                            }
                        }
                    }
                }
            }
        }
    };
    shell(&c.name, open, body).into_response()
}

/// A weight as a percentage, to one decimal where it has one.
fn percent(w: f64) -> String {
    let p = (w * 1000.0).round() / 10.0;
    if p.fract() == 0.0 {
        format!("{p:.0}%")
    } else {
        format!("{p:.1}%")
    }
}
