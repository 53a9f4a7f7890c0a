//! Layers and container images with their architectures: the newest version of each layer
//! (ListLayers' use case) and every tagged image of the local image store.

use archfn_control::LayerFilter;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use maud::html;

use crate::ConsoleState;
use crate::function::FunctionQuery;
use crate::invoke::api_error_page;
use crate::layout::{arch_badge, shell, time};

/// The most layers one page lists (ListLayers pages at 50; the console follows the markers).
const LAYERS_LISTED: usize = 1_000;

/// `GET /console/layers`.
pub(crate) async fn layers(
    State(state): State<ConsoleState>,
    Query(q): Query<FunctionQuery>,
) -> Response {
    let open = state.is_open();
    let region = q.region.unwrap_or_else(|| state.app.default_region.clone());
    let mut all = Vec::new();
    let mut marker: Option<String> = None;
    loop {
        match state
            .app
            .control
            .list_layers(
                &region,
                &LayerFilter::default(),
                marker.as_deref(),
                Some(50),
            )
            .await
        {
            Ok((page, next)) => {
                all.extend(page);
                match next {
                    Some(n) if all.len() < LAYERS_LISTED => marker = Some(n),
                    _ => break,
                }
            }
            Err(e) => return api_error_page(open, e.into()),
        }
    }
    let body = html! {
        h1 { "Layers" }
        @if all.is_empty() {
            p { "No layer yet." }
        } @else {
            table.layers {
                thead { tr { th { "Layer" } th { "Newest version" } th { "Architectures" } th { "Runtimes" } th.wide { "Size" } th.wide { "Created" } } }
                tbody {
                    @for l in &all {
                        tr {
                            td { (l.layer.name) }
                            td { code { (l.version_arn()) } }
                            td {
                                @match &l.layer.compatible_architectures {
                                    Some(archs) if !archs.is_empty() => { @for a in archs { (arch_badge(*a)) " " } }
                                    _ => span.unknown title="No CompatibleArchitectures: Lambda lets any function use it" { "any (not declared)" },
                                }
                            }
                            td { (l.layer.compatible_runtimes.as_ref().map(|r| r.join(", ")).unwrap_or_default()) }
                            td.wide { (l.layer.size) " bytes" }
                            td.wide { (time(l.layer.created_ms)) }
                        }
                    }
                }
            }
        }
    };
    shell("Layers", open, body).into_response()
}

/// `GET /console/images`.
pub(crate) async fn images(State(state): State<ConsoleState>) -> Response {
    let open = state.is_open();
    let listed = state.app.control.images().list().await;
    let body = html! {
        h1 { "Container images" }
        p { "Images pushed to archfn's registry or imported with " code { "archfn image import" } "." }
        @match &listed {
            Err(e) => p.error { (e.to_string()) },
            Ok(images) if images.is_empty() => p { "No image yet." },
            Ok(images) => table.images {
                thead { tr { th { "Repository:tag" } th { "Architecture" } th.wide { "Digest" } th.wide { "Size" } } }
                tbody {
                    @for (repo, tag, image) in images {
                        tr {
                            td { (repo) ":" (tag) }
                            td {
                                @if !image.platforms.is_empty() {
                                    "index: " (image.platforms.join(", "))
                                } @else {
                                    @match archfn_model::Architecture::from_go_arch(&image.architecture) {
                                        Some(a) => (arch_badge(a)),
                                        None => span.unknown { (image.architecture) },
                                    }
                                }
                            }
                            td.wide { code { "sha256:" (image.id.get(..12).unwrap_or(&image.id)) "…" } }
                            td.wide { (image.size) " bytes" }
                        }
                    }
                }
            },
        }
    };
    shell("Images", open, body).into_response()
}
