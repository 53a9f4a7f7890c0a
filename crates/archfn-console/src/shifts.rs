//! Traffic shifts: the list, a form to start one (the API's `archfn shift` use case), and a
//! shift's page: the two versions side by side (architecture, native or emulated, invocations,
//! errors, p50/p99, cost), its steps and events, updated live while it runs, with stop and roll
//! back buttons.

use archfn_control::ShiftInput;
use archfn_model::deployment::{
    DeploymentRecord, DeploymentStatus, Guardrails, Phase, ShiftPlan, VersionFigures,
};
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use maud::{Markup, PreEscaped, html};

use crate::ConsoleState;
use crate::function::FunctionQuery;
use crate::invoke::api_error_page;
use crate::layout::{arch_badge, error_page, shell, time};

/// The most shifts the list shows.
const LISTED: usize = 200;

/// How often a running shift's page asks for its progress, milliseconds.
const REFRESH_MS: u32 = 1_000;

fn phase_words(d: &DeploymentRecord) -> String {
    match &d.phase {
        Phase::BeforeAllowTraffic { .. } => "before traffic (hook)".into(),
        Phase::Shifting { step } => {
            let percent = d.plan.steps.get(*step).map_or(0, |s| s.percent);
            format!(
                "step {} of {}: {percent}% on the new version",
                step + 1,
                d.plan.steps.len()
            )
        }
        Phase::AfterAllowTraffic { .. } => "after traffic (hook)".into(),
        Phase::RollingBack { .. } => "rolling back".into(),
        Phase::Done => "done".into(),
    }
}

/// `GET /console/shifts`.
pub(crate) async fn list(
    State(state): State<ConsoleState>,
    Query(q): Query<FunctionQuery>,
) -> Response {
    let open = state.is_open();
    let region = q.region.unwrap_or_else(|| state.app.default_region.clone());
    let shifts = match state
        .app
        .control
        .list_deployments(&region, None, None, false, LISTED)
        .await
    {
        Ok(s) => s,
        Err(e) => return api_error_page(open, e.into()),
    };
    let token = crate::csrf::token(&state.app.url_secret, archfn_model::time::now_ms());
    let body = html! {
        h1 { "Traffic shifts" }
        p { "An alias moves from one version to another in steps, each version's metrics judged by the guardrails; a failing version is rolled back." }
        @if shifts.is_empty() {
            p { "No shift yet." }
        } @else {
            table {
                thead { tr { th { "Shift" } th { "Function" } th { "Alias" } th { "From → to" } th { "Configuration" } th { "Status" } th.wide { "Updated" } } }
                tbody {
                    @for d in &shifts {
                        tr {
                            td { a href={ "/console/shifts/" (d.id) } { (d.id) } }
                            td { a href={ "/console/functions/" (d.function) "?region=" (region) } { (d.function) } }
                            td { (d.alias) }
                            td { (d.from_version) " → " (d.to_version) }
                            td { (d.plan.name) }
                            td class={ "status " (d.status.as_str()) } { (d.status.as_str()) }
                            td.wide { (time(d.updated_ms)) }
                        }
                    }
                }
            }
        }
        h2 { "Start a shift" }
        form.start method="post" action={ "/console/shifts?region=" (region) } {
            input type="hidden" name="csrf" value=(token);
            p { label for="function" { "Function" } br; input id="function" name="function" required; }
            p { label for="alias" { "Alias" } br; input id="alias" name="alias" required; }
            p { label for="to" { "Version to shift to" } br; input id="to" name="to" required inputmode="numeric"; }
            p {
                label for="strategy" { "Configuration" } br;
                select id="strategy" name="strategy" {
                    @for n in ShiftPlan::predefined_names() { option value=(n) { (n) } }
                }
                " or custom steps: "
                input name="custom" placeholder="10,50,100@30s" aria-label="custom steps";
            }
            p { label for="max_error_rate" { "Roll back above this error rate" } br;
                input id="max_error_rate" name="max_error_rate" value=(Guardrails::default().max_error_rate) inputmode="decimal"; }
            button type="submit" { "Start" }
        }
    };
    shell("Traffic shifts", open, body).into_response()
}

/// `POST /console/shifts`, a form of `csrf`, `function`, `alias`, `to`, `strategy`, `custom`
/// and `max_error_rate`.
pub(crate) async fn start(
    State(state): State<ConsoleState>,
    Query(q): Query<FunctionQuery>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let open = state.is_open();
    let region = q.region.unwrap_or_else(|| state.app.default_region.clone());
    let mut form = std::collections::HashMap::new();
    for (k, v) in form_urlencoded::parse(&body) {
        form.insert(k.into_owned(), v.into_owned());
    }
    let field = |k: &str| {
        form.get(k)
            .map(|v| v.trim().to_string())
            .unwrap_or_default()
    };
    if !crate::csrf::allowed(
        &state.app.url_secret,
        archfn_model::time::now_ms(),
        &field("csrf"),
        &headers,
    ) {
        return error_page(
            open,
            StatusCode::FORBIDDEN,
            "This form is stale or was not sent from the console: load the page again.",
        );
    }
    let mut guardrails = Guardrails::default();
    let rate = field("max_error_rate");
    if !rate.is_empty() {
        match rate.parse::<f64>() {
            Ok(r) if (0.0..=1.0).contains(&r) => guardrails.max_error_rate = r,
            _ => {
                return error_page(
                    open,
                    StatusCode::BAD_REQUEST,
                    "The error rate must be a number from 0 to 1.",
                );
            }
        }
    }
    let custom = field("custom");
    let input = ShiftInput {
        function: field("function"),
        alias: field("alias"),
        to_version: field("to"),
        strategy: Some(if custom.is_empty() {
            field("strategy")
        } else {
            custom
        }),
        guardrails,
        hooks: Default::default(),
        time_scale: None,
    };
    match state.app.deployments.start(&region, input).await {
        Ok(d) => (
            StatusCode::SEE_OTHER,
            [(header::LOCATION, format!("/console/shifts/{}", d.id))],
        )
            .into_response(),
        Err(e) => api_error_page(open, e.into()),
    }
}

fn side(title: &str, f: &VersionFigures) -> Markup {
    let ms = |v: Option<f64>| v.map_or("–".to_string(), |v| format!("{v:.1} ms"));
    html! {
        section.side {
            h3 { (title) " · version " (f.version) " "
                @if let Some(a) = f.architecture { (arch_badge(a)) }
                " "
                @if let Some(e) = f.execution { span class=(e.as_str()) { (e.as_str()) } }
            }
            dl {
                dt { "Invocations" } dd.invocations { (f.invocations) }
                dt { "Errors" } dd.errors { (f.errors) " (" (format!("{:.1}", f.error_rate * 100.0)) "%)" }
                dt { "Throttles" } dd { (f.throttles) }
                dt { "Cold starts" } dd { (f.cold_starts) }
                dt { "p50" } dd { (ms(f.p50_ms)) }
                dt { "p99" } dd { (ms(f.p99_ms)) }
                dt { "Per million" } dd { (f.cost_per_million_usd.map_or("–".to_string(), |c| format!("${c:.2}"))) }
            }
        }
    }
}

/// The part of a shift's page that changes while it runs.
fn progress(d: &DeploymentRecord) -> Markup {
    let last = d.steps.last();
    html! {
        p {
            "Status: " strong class={ "status " (d.status.as_str()) } { (d.status.as_str()) }
            @if d.status == DeploymentStatus::InProgress { " · " (phase_words(d)) }
        }
        @if let Some(r) = &d.reason { p.error { (r) } }
        @if let Some(s) = last {
            div.sides {
                (side("Old", &s.old))
                (side("New", &s.new))
            }
            @if d.steps.iter().any(|s| s.old.execution != s.new.execution && s.old.execution.is_some() && s.new.execution.is_some()) {
                p.warn { "The two versions ran differently (native and emulated): their latencies are not compared." }
            }
        }
        h3 { "Steps" }
        table {
            thead { tr { th { "Share" } th { "Hold" } th { "Started" } th { "Old inv./err." } th { "New inv./err." } th { "Verdict" } } }
            tbody {
                @for s in &d.steps {
                    tr {
                        td { (s.percent) "%" }
                        td { (s.hold_ms / 1000) " s" }
                        td { (time(s.started_ms)) }
                        td { (s.old.invocations) " / " (s.old.errors) }
                        td { (s.new.invocations) " / " (s.new.errors) }
                        td { (s.verdict.as_deref().unwrap_or("")) }
                    }
                }
            }
        }
        h3 { "Events" }
        ol.events { @for e in &d.events { li { (time(e.at_ms)) ": " (e.message) } } }
    }
}

/// `GET /console/shifts/{id}`.
pub(crate) async fn page(State(state): State<ConsoleState>, Path(id): Path<String>) -> Response {
    let open = state.is_open();
    let d = match state.app.deployments.get(&id).await {
        Ok(d) => d,
        Err(e) => return api_error_page(open, e.into()),
    };
    let token = crate::csrf::token(&state.app.url_secret, archfn_model::time::now_ms());
    let running = d.status == DeploymentStatus::InProgress;
    let body = html! {
        h1 { "Shift " (d.id) }
        p {
            a href={ "/console/functions/" (d.function) "?region=" (d.region) } { (d.function) }
            " alias " strong { (d.alias) } ": version " (d.from_version) " → " (d.to_version) " · " (d.plan.name)
        }
        div.actions {
            @if running {
                form.inline method="post" action={ "/console/shifts/" (d.id) "/stop" } {
                    input type="hidden" name="csrf" value=(token);
                    button type="submit" { "Stop" }
                }
                " "
            }
            @if running || d.status == DeploymentStatus::Succeeded {
                form.inline method="post" action={ "/console/shifts/" (d.id) "/rollback" } {
                    input type="hidden" name="csrf" value=(token);
                    button type="submit" { "Roll back" }
                }
            }
        }
        div id="live" data-src={ "/console/shifts/" (d.id) "/live" } data-running=(running) aria-live="polite" {
            (progress(&d))
        }
        script { (PreEscaped(LIVE_SCRIPT.replace("REFRESH_MS", &REFRESH_MS.to_string()))) }
    };
    shell(&format!("Shift {}", d.id), open, body).into_response()
}

/// Replaces the progress while the shift runs; reloads the page once it ends (for the buttons).
const LIVE_SCRIPT: &str = r#"
(function () {
  var live = document.getElementById('live');
  if (!live || live.dataset.running !== 'true') return;
  function tick() {
    fetch(live.dataset.src, {credentials: 'same-origin'}).then(function (r) {
      var running = r.headers.get('x-archfn-running') === 'true';
      return r.text().then(function (html) {
        live.innerHTML = html;
        if (running) { setTimeout(tick, REFRESH_MS); } else { location.reload(); }
      });
    }).catch(function () { setTimeout(tick, REFRESH_MS * 3); });
  }
  setTimeout(tick, REFRESH_MS);
})();
"#;

/// `GET /console/shifts/{id}/live`: the progress alone, with `x-archfn-running`.
pub(crate) async fn live(State(state): State<ConsoleState>, Path(id): Path<String>) -> Response {
    match state.app.deployments.get(&id).await {
        Ok(d) => {
            let running = if d.status == DeploymentStatus::InProgress {
                "true"
            } else {
                "false"
            };
            ([("x-archfn-running", running)], progress(&d)).into_response()
        }
        Err(e) => {
            let error = archfn_api::ApiError::from(e);
            let (status, kind, message) = error.parts();
            (status, format!("{kind}: {message}")).into_response()
        }
    }
}

/// `POST /console/shifts/{id}/stop` and `…/rollback`, a form of `csrf`.
pub(crate) async fn end(
    State(state): State<ConsoleState>,
    Path((id, how)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let open = state.is_open();
    let csrf = form_urlencoded::parse(&body)
        .find(|(k, _)| k == "csrf")
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default();
    if let Some(refused) = crate::csrf::refused(&state, &csrf, &headers) {
        return refused;
    }
    let done = match how.as_str() {
        "stop" => state.app.deployments.stop(&id).await,
        "rollback" => state.app.deployments.rollback(&id).await,
        _ => return error_page(open, StatusCode::NOT_FOUND, "No such action."),
    };
    match done {
        Ok(d) => (
            StatusCode::SEE_OTHER,
            [(header::LOCATION, format!("/console/shifts/{}", d.id))],
        )
            .into_response(),
        Err(e) => api_error_page(open, e.into()),
    }
}
