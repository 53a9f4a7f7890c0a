//! Route table: one module per AWS resource group, handlers named after the operations.

mod aliases;
mod capacity_providers;
mod comparisons;
mod configs;
mod deployments;
mod event_invoke;
mod function_urls;
mod functions;
mod internal;
mod invoke;
mod layers;
mod metrics;
mod policy;
mod provisioned;
mod registry;
mod settings;
mod streaming;

pub use invoke::invoke_request;
pub use streaming::{InvocationStream, start_invocation_stream};

use std::collections::HashMap;

use crate::code_url;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::header::CONTENT_TYPE;
use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use percent_encoding::percent_decode_str;

use crate::{ApiError, AppState};

/// The Lambda API's routes (authenticated).
pub(crate) fn lambda_routes() -> Router<AppState> {
    use axum::routing::put;
    Router::new()
        .route(
            "/2015-03-31/functions",
            get(functions::list_functions).post(functions::create_function),
        )
        .route(
            "/2015-03-31/functions/",
            get(functions::list_functions).post(functions::create_function),
        )
        .route(
            "/2015-03-31/functions/{name}",
            get(functions::get_function).delete(functions::delete_function),
        )
        .route(
            "/2015-03-31/functions/{name}/configuration",
            get(functions::get_function_configuration)
                .put(functions::update_function_configuration),
        )
        .route(
            "/2015-03-31/functions/{name}/code",
            put(functions::update_function_code),
        )
        .route(
            "/2015-03-31/functions/{name}/versions",
            get(functions::list_versions_by_function).post(functions::publish_version),
        )
        .route(
            "/2015-03-31/functions/{name}/aliases",
            get(aliases::list_aliases).post(aliases::create_alias),
        )
        .route(
            "/2015-03-31/functions/{name}/aliases/{alias}",
            get(aliases::get_alias)
                .put(aliases::update_alias)
                .delete(aliases::delete_alias),
        )
        .route(
            "/2015-03-31/functions/{name}/policy",
            get(policy::get_policy).post(policy::add_permission),
        )
        .route(
            "/2015-03-31/functions/{name}/policy/{sid}",
            axum::routing::delete(policy::remove_permission),
        )
        .route(
            "/2021-10-31/functions/{name}/url",
            get(function_urls::get_function_url_config)
                .post(function_urls::create_function_url_config)
                .put(function_urls::update_function_url_config)
                .delete(function_urls::delete_function_url_config),
        )
        .route(
            "/2021-10-31/functions/{name}/urls",
            get(function_urls::list_function_url_configs),
        )
        .route("/2018-10-31/layers", get(layers::list_layers_or_find))
        .route(
            "/2018-10-31/layers/{layer}/versions",
            get(layers::list_layer_versions).post(layers::publish_layer_version),
        )
        .route(
            "/2018-10-31/layers/{layer}/versions/{version}",
            get(layers::get_layer_version).delete(layers::delete_layer_version),
        )
        .route(
            "/2017-10-31/functions/{name}/concurrency",
            put(settings::put_function_concurrency).delete(settings::delete_function_concurrency),
        )
        .route(
            "/2019-09-30/functions/{name}/concurrency",
            get(settings::get_function_concurrency),
        )
        .route(
            "/2019-09-30/functions/{name}/provisioned-concurrency",
            get(provisioned::get_provisioned_concurrency_config)
                .put(provisioned::put_provisioned_concurrency_config)
                .delete(provisioned::delete_provisioned_concurrency_config),
        )
        .route(
            "/2019-09-25/functions/{name}/event-invoke-config",
            get(event_invoke::get_function_event_invoke_config)
                .put(event_invoke::put_function_event_invoke_config)
                .post(event_invoke::update_function_event_invoke_config)
                .delete(event_invoke::delete_function_event_invoke_config),
        )
        .route(
            "/2019-09-25/functions/{name}/event-invoke-config/list",
            get(event_invoke::list_function_event_invoke_configs),
        )
        .route(
            "/2017-03-31/tags/{resource}",
            get(settings::list_tags)
                .post(settings::tag_resource)
                .delete(settings::untag_resource),
        )
        .route(
            "/2016-08-19/account-settings",
            get(settings::get_account_settings),
        )
        .route(
            "/2016-08-19/account-settings/",
            get(settings::get_account_settings),
        )
        .route(
            "/2015-03-31/functions/{name}/invocations",
            axum::routing::post(invoke::invoke),
        )
        .route(
            "/2021-11-15/functions/{name}/response-streaming-invocations",
            axum::routing::post(streaming::invoke_with_response_stream),
        )
        .route(
            "/archfn/v1/functions/{name}/readiness",
            get(invoke::readiness),
        )
        .route(
            "/archfn/v1/functions/{name}/metrics",
            get(metrics::get_function_metrics),
        )
        .route(
            "/archfn/v1/deployments",
            get(deployments::list).post(deployments::start),
        )
        .route("/archfn/v1/deployments/{id}", get(deployments::get_one))
        .route(
            "/archfn/v1/functions/{name}/comparisons",
            axum::routing::post(comparisons::start),
        )
        .route("/archfn/v1/comparisons/{id}", get(comparisons::get_one))
        .route(
            "/archfn/v1/comparisons/{id}/report",
            get(comparisons::report),
        )
        .route(
            "/archfn/v1/deployments/{id}/stop",
            axum::routing::post(deployments::stop),
        )
        .route(
            "/archfn/v1/deployments/{id}/rollback",
            axum::routing::post(deployments::rollback),
        )
        .route("/metrics", get(metrics))
        .route(
            "/2025-11-30/capacity-providers",
            get(capacity_providers::list_capacity_providers)
                .post(capacity_providers::create_capacity_provider),
        )
        .route(
            "/2025-11-30/capacity-providers/{name}",
            get(capacity_providers::get_capacity_provider)
                .put(capacity_providers::update_capacity_provider)
                .delete(capacity_providers::delete_capacity_provider),
        )
        .route(
            "/2025-11-30/capacity-providers/{name}/function-versions",
            get(capacity_providers::list_function_versions_by_capacity_provider),
        )
        .merge(config_routes())
}

/// Code signing, layer version permissions, runtime management and recursion (`configs.rs`).
fn config_routes() -> Router<AppState> {
    Router::new()
        .route(
            "/2020-04-22/code-signing-configs",
            get(configs::list_code_signing_configs).post(configs::create_code_signing_config),
        )
        .route(
            "/2020-04-22/code-signing-configs/",
            get(configs::list_code_signing_configs).post(configs::create_code_signing_config),
        )
        .route(
            "/2020-04-22/code-signing-configs/{arn}",
            get(configs::get_code_signing_config)
                .put(configs::update_code_signing_config)
                .delete(configs::delete_code_signing_config),
        )
        .route(
            "/2020-04-22/code-signing-configs/{arn}/functions",
            get(configs::list_functions_by_code_signing_config),
        )
        .route(
            "/2020-06-30/functions/{name}/code-signing-config",
            get(configs::get_function_code_signing_config)
                .put(configs::put_function_code_signing_config)
                .delete(configs::delete_function_code_signing_config),
        )
        .route(
            "/2018-10-31/layers/{layer}/versions/{version}/policy",
            get(configs::get_layer_version_policy).post(configs::add_layer_version_permission),
        )
        .route(
            "/2018-10-31/layers/{layer}/versions/{version}/policy/{sid}",
            axum::routing::delete(configs::remove_layer_version_permission),
        )
        .route(
            "/2021-07-20/functions/{name}/runtime-management-config",
            get(configs::get_runtime_management_config).put(configs::put_runtime_management_config),
        )
        .route(
            "/2024-08-31/functions/{name}/recursion-config",
            get(configs::get_function_recursion_config).put(configs::put_function_recursion_config),
        )
}

/// archfn's own routes: health and code downloads (authorized by a token in the URL).
/// The image store's registry API (`/v2/…`), without Lambda's body limit: layers stream to disk.
pub(crate) fn registry_routes() -> Router<AppState> {
    Router::new()
        .route("/v2/", get(registry::base))
        .route("/v2/{*path}", axum::routing::any(registry::dispatch))
        .layer(axum::extract::DefaultBodyLimit::disable())
}

pub(crate) fn local_routes() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/archfn/v1/code/{digest}", get(download_code))
        .route(
            crate::internal::PATH,
            axum::routing::post(internal::invoke).layer(axum::extract::DefaultBodyLimit::max(
                crate::SYNC_INVOKE_MAX_BYTES + 1,
            )),
        )
}

pub(crate) async fn unknown_operation(uri: Uri) -> ApiError {
    ApiError::UnknownOperationException(format!("Unknown operation {}", uri.path()))
}

/// Every value of every query parameter, decoded.
pub(crate) fn query_multi(uri: &Uri) -> HashMap<String, Vec<String>> {
    let mut out: HashMap<String, Vec<String>> = HashMap::new();
    for pair in uri
        .query()
        .unwrap_or("")
        .split('&')
        .filter(|p| !p.is_empty())
    {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let dec = |s: &str| {
            percent_decode_str(&s.replace('+', " "))
                .decode_utf8_lossy()
                .into_owned()
        };
        out.entry(dec(k)).or_default().push(dec(v));
    }
    out
}

/// An integer query parameter; a non-integer is a ValidationException.
pub(crate) fn int_param(
    q: &HashMap<String, String>,
    name: &str,
    field: &str,
) -> Result<Option<i64>, ApiError> {
    match q.get(name) {
        None => Ok(None),
        Some(v) => v.parse().map(Some).map_err(|_| {
            ApiError::ValidationException(format!(
                "1 validation error detected: Value '{v}' at '{field}' failed to satisfy constraint: Member must be a number"
            ))
        }),
    }
}

/// A URL on this server that serves the archive `digest` (what Lambda's presigned S3 URL is),
/// on the configured public URL: a request's `Host` header never chooses where it points. It
/// expires after `AppState::code_url_ttl`.
pub(crate) fn code_location(state: &AppState, digest: &str) -> String {
    format!(
        "{}/archfn/v1/code/{digest}?{}",
        state.public_url.trim_end_matches('/'),
        code_url::query(
            state.url_secret.as_slice(),
            digest,
            unix_now_s(),
            state.code_url_ttl
        )
    )
}

fn unix_now_s() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// An S3-shaped XML error, as a presigned URL's refusals are.
fn s3_error(status: StatusCode, code: &str, message: &str) -> Response {
    let request_id = uuid::Uuid::new_v4().simple().to_string();
    let body = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{code}</Code><Message>{message}</Message><RequestId>{request_id}</RequestId></Error>"
    );
    (status, [(CONTENT_TYPE, "application/xml")], body).into_response()
}

async fn metrics(State(state): State<AppState>) -> Response {
    let mut text = state.engine.metrics_text();
    if let Some(logs) = &state.logs {
        text.push_str(&format!(
            "# HELP archfn_log_events_dropped_total Function log events dropped because the CloudWatch Logs writer's queue was full.\n\
             # TYPE archfn_log_events_dropped_total counter\n\
             archfn_log_events_dropped_total {}\n",
            logs.dropped_events()
        ));
    }
    ([(CONTENT_TYPE, "text/plain; version=0.0.4")], text).into_response()
}

async fn download_code(
    State(state): State<AppState>,
    Path(digest): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let checked = code_url::check(
        state.url_secret.as_slice(),
        &digest,
        q.get("expires").map(String::as_str),
        q.get("token").map(String::as_str),
        unix_now_s(),
    );
    match checked {
        Ok(()) => {}
        Err(code_url::UrlRefusal::Expired) => {
            return s3_error(StatusCode::FORBIDDEN, "AccessDenied", "Request has expired");
        }
        Err(code_url::UrlRefusal::BadToken) => {
            return s3_error(StatusCode::FORBIDDEN, "AccessDenied", "Access Denied");
        }
    }
    // The URL dies with the last function version or layer version that references the code,
    // whether or not garbage collection has removed the archive yet.
    let no_such_key = || {
        s3_error(
            StatusCode::NOT_FOUND,
            "NoSuchKey",
            "The specified key does not exist.",
        )
    };
    match state.control.code_is_referenced(&digest).await {
        Ok(true) => {}
        Ok(false) => return no_such_key(),
        Err(e) => {
            tracing::warn!(error = %e, "could not check a code download");
            return s3_error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "InternalError",
                "We encountered an internal error. Please try again.",
            );
        }
    }
    match state.control.blobs().get(&digest).await {
        Ok(bytes) => ([(CONTENT_TYPE, "application/zip")], bytes).into_response(),
        Err(_) => no_such_key(),
    }
}
