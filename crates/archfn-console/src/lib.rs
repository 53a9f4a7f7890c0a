//! archfn's web console at `/console`: server-rendered pages (maud templates, checked at compile
//! time) over the same use cases as the API, so the console has no rules of its own.
//!
//! Owns: pages, their HTML and the readiness verdicts cached for the functions list.
//! Must not: decide anything the control plane decides; load scripts, fonts or styles from
//! anywhere but its own answer.

mod alias;
mod architecture;
mod catalog;
mod charts;
mod code;
mod comparisons;
mod csrf;
mod function;
mod functions;
mod invoke;
mod layout;
mod readiness;
mod session;
mod shifts;

use std::sync::Arc;

use archfn_api::AppState;
use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};

pub use readiness::{ReadinessCache, Verdict};

/// What the console's pages share.
#[derive(Debug, Clone)]
pub struct ConsoleState {
    /// The API's state: the control plane, the engine, how requests are authenticated.
    pub app: AppState,
    /// Readiness verdicts of functions' code, scanned in the background.
    pub readiness: Arc<ReadinessCache>,
}

impl ConsoleState {
    /// The console over `app`'s use cases.
    pub fn new(app: AppState) -> ConsoleState {
        ConsoleState {
            readiness: Arc::new(ReadinessCache::new(app.control.clone())),
            app,
        }
    }

    /// Whether anyone who can reach the server can change everything (no authentication).
    fn is_open(&self) -> bool {
        matches!(self.app.auth.as_ref(), archfn_api::AuthMode::Open)
    }
}

/// The console's routes, relative to where they are mounted (`/console`).
pub fn router(state: ConsoleState) -> Router {
    Router::new()
        .route("/", get(functions::page))
        .route("/layers", get(catalog::layers))
        .route("/images", get(catalog::images))
        .route("/comparisons", get(comparisons::list))
        .route("/comparisons/{id}", get(comparisons::page))
        .route("/comparisons/{id}/report", get(comparisons::report))
        .route("/shifts", get(shifts::list).post(shifts::start))
        .route("/shifts/{id}", get(shifts::page))
        .route("/shifts/{id}/live", get(shifts::live))
        .route("/shifts/{id}/{how}", post(shifts::end))
        .route("/login", get(session::form).post(session::login))
        .route("/logout", get(session::logout_form).post(session::logout))
        .route("/functions/{name}", get(function::page))
        .route(
            "/functions/{name}/architecture",
            get(architecture::review).post(architecture::switch),
        )
        .route("/functions/{name}/aliases/{alias}", post(alias::set_weight))
        .route(
            "/functions/{name}/code",
            post(code::upload).layer(DefaultBodyLimit::max(code::MAX_FORM_BYTES)),
        )
        .route(
            "/functions/{name}/invoke",
            post(invoke::run).layer(DefaultBodyLimit::max(invoke::MAX_FORM_BYTES)),
        )
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            session::require,
        ))
        .with_state(state)
}
