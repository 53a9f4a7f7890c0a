//! The page shell every console page shares: the document, the style sheet (inline: the
//! console loads nothing from elsewhere), the navigation, and the warning of an open server.

use maud::{DOCTYPE, Markup, html};

/// The console's styles: readable on a phone's width, visible focus for keyboard use.
const STYLE: &str = r#"
:root { --fg: #1b1f24; --muted: #57606a; --line: #d0d7de; --x86: #0b5cad; --arm: #1a7f37; --warn: #9a6700; --bad: #cf222e; }
* { box-sizing: border-box; }
body { margin: 0; font: 15px/1.45 system-ui, sans-serif; color: var(--fg); }
header { display: flex; gap: 1rem; align-items: baseline; padding: .6rem 1rem; border-bottom: 1px solid var(--line); flex-wrap: wrap; }
header strong { font-size: 1.1rem; }
main { padding: 1rem; max-width: 72rem; }
a { color: var(--x86); }
a:focus, button:focus, select:focus, input:focus { outline: 3px solid #0969da; outline-offset: 2px; }
.open { background: #fff8c5; border-bottom: 1px solid #d4a72c; padding: .5rem 1rem; }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; padding: .35rem .5rem; border-bottom: 1px solid var(--line); vertical-align: top; }
th { font-weight: 600; color: var(--muted); }
.badge { display: inline-block; padding: 0 .45rem; border-radius: 1rem; font-size: .85em; border: 1px solid currentColor; }
.x86_64 { color: var(--x86); } .arm64 { color: var(--arm); }
.ready { color: var(--arm); } .not-ready { color: var(--bad); } .pending, .unknown { color: var(--muted); }
.error { color: var(--bad); }
.native { color: var(--arm); } .emulated { color: var(--warn); }
pre { background: #f6f8fa; padding: .5rem; overflow-x: auto; white-space: pre-wrap; word-break: break-word; }
figure.chart { margin: 0 0 1rem; max-width: 40rem; }
ul.legend { list-style: none; padding: 0; display: flex; gap: 1rem; flex-wrap: wrap; }
textarea { width: 100%; max-width: 40rem; font-family: ui-monospace, monospace; }
dl { display: grid; grid-template-columns: max-content 1fr; gap: .25rem 1rem; }
dt { color: var(--muted); }
form.filters { display: flex; gap: .75rem; flex-wrap: wrap; margin-bottom: 1rem; align-items: end; }
.sides { display: flex; gap: 1rem; flex-wrap: wrap; } .sides section { flex: 1 1 16rem; border: 1px solid var(--line); padding: .5rem; }
.status.RolledBack, .status.Failed { color: var(--bad); } .status.Succeeded { color: var(--arm); }
.warn { color: var(--warn); }
form.inline { display: inline; }
iframe.report { width: 100%; height: 80vh; border: 1px solid var(--line); }
nav.main a { margin-right: .5rem; }
@media (max-width: 40rem) { .wide { display: none; } }
"#;

/// A whole page: `title`, and `body` inside the shell. `open` says the server has no
/// authentication, which every page then says.
pub(crate) fn shell(title: &str, open: bool, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · archfn" }
                style { (maud::PreEscaped(STYLE)) }
            }
            body {
                @if open {
                    div.open role="alert" {
                        "This server runs without authentication: anyone who can reach it can see and change everything."
                    }
                }
                header {
                    strong { "archfn" }
                    nav.main {
                        a href="/console/" { "Functions" }
                        " "
                        a href="/console/layers" { "Layers" }
                        " "
                        a href="/console/images" { "Images" }
                        " "
                        a href="/console/comparisons" { "Comparisons" }
                        " "
                        a href="/console/shifts" { "Traffic shifts" }
                        @if !open { " " a href="/console/logout" { "Sign out" } }
                    }
                }
                main { (body) }
            }
        }
    }
}

/// An architecture as a badge.
pub(crate) fn arch_badge(arch: archfn_model::Architecture) -> Markup {
    html! { span class={ "badge " (arch.as_str()) } { (arch.as_str()) } }
}

/// A time in milliseconds since the epoch, as UTC to the second.
pub(crate) fn time(ms: i64) -> String {
    jiff::Timestamp::from_millisecond(ms)
        .map(|t| t.strftime("%Y-%m-%d %H:%M:%S UTC").to_string())
        .unwrap_or_else(|_| ms.to_string())
}

/// A page for an error the use case answered (its text, as the API would give it).
pub(crate) fn error_page(
    open: bool,
    status: axum::http::StatusCode,
    text: &str,
) -> axum::response::Response {
    let body = shell(
        "Error",
        open,
        html! { h1 { "Error" } p.error { (text) } p { a href="/console/" { "Back to the functions" } } },
    );
    (status, body).into_response()
}

use axum::response::IntoResponse;
