//! The Lambda REST API over the control plane.
//!
//! Owns: routes (paths and methods as in the Lambda API model), wire shapes (PascalCase JSON),
//! the mapping of control-plane errors to AWS exceptions, SigV4 checking, request ids.
//! Must not: hold business rules; every decision is the control plane's.

mod auth;
mod cfn_front;
mod code_url;
mod error;
pub mod eventstream;
pub mod http_prelude;
pub mod internal;
mod logs_front;
mod routes;
mod sts_front;
mod url_front;
mod validation;
mod wire;

use std::sync::Arc;

use archfn_control::Control;
use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::HeaderValue;
use axum::middleware;

pub use auth::{
    ASYNC_INVOKE_MAX_BYTES, AuthMode, BodyBudget, CODE_REQUEST_MAX_BYTES, Credentials,
    CredentialsError, OTHER_REQUEST_MAX_BYTES, SYNC_INVOKE_MAX_BYTES,
};
pub use code_url::DEFAULT_CODE_URL_TTL;
pub use error::ApiError;
pub use routes::{InvocationStream, invoke_request, start_invocation_stream};

/// The largest request body accepted (CreateFunction's limit).
pub const MAX_REQUEST_BYTES: usize = archfn_model::limits::CREATE_REQUEST_MAX_BYTES;

/// What every handler shares.
#[derive(Debug, Clone)]
pub struct AppState {
    /// The control plane.
    pub control: Control,
    /// Runs invocations.
    pub engine: archfn_invoke::Engine,
    /// How requests are authenticated.
    pub auth: Arc<AuthMode>,
    /// Region of unsigned requests.
    pub default_region: String,
    /// Key for code download tokens.
    pub url_secret: Arc<Vec<u8>>,
    /// How long a code download URL (`Code.Location`, `Content.Location`) lasts.
    pub code_url_ttl: std::time::Duration,
    /// The server's public base URL (`http://host:port`), from configuration: code download
    /// URLs (`Code.Location`) are built on it, never on a request's `Host` header.
    pub public_url: Arc<str>,
    /// Memory all request bodies being read may hold together.
    pub body_budget: BodyBudget,
    /// Traffic shifts of aliases.
    pub deployments: archfn_deploy::Deployments,
    /// Comparisons of a function's configurations.
    pub comparisons: archfn_compare_runner::Comparisons,
    /// archfn's S3, for requests signed for the service `s3`.
    pub s3: Option<archfn_s3::S3Endpoint>,
    /// archfn's CloudFormation, for requests signed for `cloudformation` (or, in open mode,
    /// unsigned form posts of its actions).
    pub cloudformation: Option<archfn_cloudformation::CloudFormation>,
    /// archfn's CloudWatch Logs, for JSON 1.1 requests whose `X-Amz-Target` is
    /// `Logs_20140328.<Operation>`.
    pub logs: Option<archfn_logs::CloudWatchLogs>,
    /// The secret other nodes present on the node-to-node route (`--cluster-secret`); without
    /// one, the route refuses every request.
    pub cluster_secret: Option<Arc<str>>,
}

/// The region (and caller) a request was made in, from its SigV4 credential scope.
#[derive(Debug, Clone)]
pub struct RequestContext {
    /// AWS region.
    pub region: String,
}

/// The whole HTTP application.
pub fn router(state: AppState) -> Router {
    router_with_console(state, None)
}

/// The whole HTTP application, with `console` (archfn-console's pages) mounted at `/console`,
/// beneath the function URL front end, so that a function URL's `/console` path stays the
/// function's.
pub fn router_with_console(state: AppState, console: Option<Router>) -> Router {
    let api = routes::lambda_routes()
        .route_layer(middleware::from_fn(validation::validate_request))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            auth::authenticate,
        ))
        .layer(DefaultBodyLimit::max(MAX_REQUEST_BYTES + 1));
    let mut app = Router::new()
        .merge(api)
        .merge(routes::local_routes())
        .merge(routes::registry_routes());
    if let Some(console) = console {
        app = app.nest_service("/console", console);
    }
    app.fallback(routes::unknown_operation)
        .layer(middleware::from_fn_with_state(
            state.clone(),
            other_services,
        ))
        // Function URL hosts are the URL front end's, whatever their path.
        .layer(middleware::from_fn_with_state(
            state.clone(),
            url_front::route_by_host,
        ))
        .layer(middleware::from_fn(request_id))
        .layer(tower_http::catch_panic::CatchPanicLayer::custom(|_| {
            axum::response::IntoResponse::into_response(ApiError::ServiceException(
                "internal error".into(),
            ))
        }))
        .with_state(state)
}

/// Sends a request signed for another service that archfn serves on the same endpoint (S3,
/// CloudWatch Logs, STS, CloudFormation) to it, before Lambda's routes, limits and authentication see it.
async fn other_services(
    axum::extract::State(state): axum::extract::State<AppState>,
    req: axum::extract::Request,
    next: middleware::Next,
) -> axum::response::Response {
    if let Some(s3) = &state.s3
        && archfn_s3::is_s3_request(req.headers(), req.uri().query())
    {
        return s3.handle(req).await.map(axum::body::Body::new);
    }
    let req = match logs_front::route(&state, req).await {
        Ok(resp) => return resp,
        Err(req) => req,
    };
    let req = match cfn_front::route(&state, req).await {
        Ok(resp) => return resp,
        Err(req) => req,
    };
    let req = match sts_front::route(&state, req).await {
        Ok(resp) => return resp,
        Err(req) => req,
    };
    next.run(req).await
}

/// Gives every response an `x-amzn-RequestId`, unless its handler set one (Invoke answers with
/// the invocation's request id).
async fn request_id(
    req: axum::extract::Request,
    next: middleware::Next,
) -> axum::response::Response {
    let mut resp = next.run(req).await;
    if !resp.headers().contains_key("x-amzn-RequestId")
        && let Ok(v) = HeaderValue::from_str(&uuid::Uuid::new_v4().to_string())
    {
        resp.headers_mut().insert("x-amzn-RequestId", v);
    }
    resp
}
