//! Sign-in under `--auth sigv4`: the console asks for an access key id and its secret from the
//! server's credentials file, then keeps a session cookie (HttpOnly, SameSite=Strict, scoped to
//! `/console`) whose value is the key id, an expiry and an HMAC under the server's own secret of
//! both and of the key's secret, so that a session ends when it expires or when its key is no
//! longer one the server accepts. Without authentication every request is let through.

use axum::body::{Body, Bytes};
use axum::extract::{Query, Request, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use hmac::{Hmac, Mac};
use maud::html;
use serde::Deserialize;
use sha2::{Digest, Sha256};

use crate::ConsoleState;
use crate::layout::{error_page, shell};

/// The session cookie's name.
pub(crate) const COOKIE: &str = "archfn_console";

/// How long a sign-in lasts.
const SESSION_LIFETIME_MS: i64 = 8 * 60 * 60 * 1000;

fn mac(server_secret: &[u8], key_id: &str, key_secret: &str, expires_ms: i64) -> Option<String> {
    let mut m = Hmac::<Sha256>::new_from_slice(server_secret).ok()?;
    m.update(b"archfn-console-session:");
    m.update(key_id.as_bytes());
    m.update(b":");
    m.update(expires_ms.to_string().as_bytes());
    m.update(b":");
    m.update(&Sha256::digest(key_secret.as_bytes()));
    Some(hex::encode(m.finalize().into_bytes()))
}

fn same(a: &str, b: &str) -> bool {
    bool::from(subtle::ConstantTimeEq::ct_eq(a.as_bytes(), b.as_bytes()))
}

/// The secret of `key_id` if the server accepts that key, compared in constant time.
fn secret_of(state: &ConsoleState, key_id: &str) -> Option<String> {
    match state.app.auth.as_ref() {
        archfn_api::AuthMode::Open => None,
        archfn_api::AuthMode::SigV4(creds) => creds
            .pairs()
            .into_iter()
            .find(|(k, _)| same(k, key_id))
            .map(|(_, s)| s),
    }
}

/// A session cookie's value for `key_id`, signed in now.
fn issue(server_secret: &[u8], key_id: &str, key_secret: &str, now_ms: i64) -> String {
    let expires = now_ms.saturating_add(SESSION_LIFETIME_MS);
    let sig = mac(server_secret, key_id, key_secret, expires).unwrap_or_default();
    format!("{}.{expires}.{sig}", hex::encode(key_id))
}

/// The key id of a valid, unexpired session `value`.
fn check(state: &ConsoleState, value: &str, now_ms: i64) -> Option<String> {
    let mut parts = value.rsplitn(3, '.');
    let sig = parts.next()?;
    let expires: i64 = parts.next()?.parse().ok()?;
    let key_id = String::from_utf8(hex::decode(parts.next()?).ok()?).ok()?;
    let key_id = key_id.as_str();
    if expires < now_ms {
        return None;
    }
    let key_secret = secret_of(state, key_id)?;
    let expected = mac(&state.app.url_secret, key_id, &key_secret, expires)?;
    same(&expected, sig).then(|| key_id.to_string())
}

/// The session cookie's value among a request's cookies.
fn cookie(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|c| c.trim().strip_prefix(COOKIE)?.strip_prefix('='))
}

/// Who is signed in on this request: `Some("")` when the server has no authentication.
pub(crate) fn signed_in(state: &ConsoleState, headers: &HeaderMap) -> Option<String> {
    if state.is_open() {
        return Some(String::new());
    }
    check(state, cookie(headers)?, archfn_model::time::now_ms())
}

/// Middleware: under `--auth sigv4`, every page but the sign-in form needs a session; a page
/// asked for without one sends the browser to sign in, and anything else is refused.
pub(crate) async fn require(
    State(state): State<ConsoleState>,
    req: Request,
    next: Next,
) -> Response {
    let path = req.uri().path();
    if state.is_open() || path == "/login" || signed_in(&state, req.headers()).is_some() {
        return next.run(req).await;
    }
    if req.method() == Method::GET || req.method() == Method::HEAD {
        let next_page = req
            .uri()
            .path_and_query()
            .map(|p| p.as_str().to_string())
            .unwrap_or_default();
        let target = format!(
            "/console/login?next={}",
            form_urlencoded::byte_serialize(next_page.as_bytes()).collect::<String>()
        );
        return (StatusCode::SEE_OTHER, [(header::LOCATION, target)]).into_response();
    }
    error_page(
        false,
        StatusCode::FORBIDDEN,
        "Sign in to the console first.",
    )
}

/// The sign-in page's query.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct LoginQuery {
    next: Option<String>,
}

/// Where to go after signing in: only a path of the console itself.
fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(n) if n.starts_with('/') && !n.starts_with("//") && !n.contains('\\') => {
            format!("/console{n}")
        }
        _ => "/console/".to_string(),
    }
}

fn login_form(state: &ConsoleState, next: &str, problem: Option<&str>) -> maud::Markup {
    let token = crate::csrf::token(&state.app.url_secret, archfn_model::time::now_ms());
    shell(
        "Sign in",
        false,
        html! {
            h1 { "Sign in" }
            p { "Use an access key id and secret from the server's credentials file (the keys the API accepts)." }
            @if let Some(p) = problem { p.error role="alert" { (p) } }
            form.login method="post" action={ "/console/login?next=" (form_urlencoded::byte_serialize(next.as_bytes()).collect::<String>()) } {
                input type="hidden" name="csrf" value=(token);
                p { label for="key" { "Access key id" } br; input id="key" name="key" autocomplete="username" required; }
                p { label for="secret" { "Secret access key" } br; input id="secret" name="secret" type="password" autocomplete="current-password" required; }
                button type="submit" { "Sign in" }
            }
        },
    )
}

/// `GET /console/login`.
pub(crate) async fn form(
    State(state): State<ConsoleState>,
    Query(q): Query<LoginQuery>,
) -> Response {
    if state.is_open() {
        return (StatusCode::SEE_OTHER, [(header::LOCATION, "/console/")]).into_response();
    }
    let next = q.next.unwrap_or_default();
    login_form(&state, &next, None).into_response()
}

/// `POST /console/login`, a form of `csrf`, `key` and `secret`.
pub(crate) async fn login(
    State(state): State<ConsoleState>,
    Query(q): Query<LoginQuery>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let next = q.next.unwrap_or_default();
    let (mut csrf, mut key, mut secret) = (String::new(), String::new(), String::new());
    for (k, v) in form_urlencoded::parse(&body) {
        match k.as_ref() {
            "csrf" => csrf = v.into_owned(),
            "key" => key = v.into_owned(),
            "secret" => secret = v.into_owned(),
            _ => {}
        }
    }
    let now = archfn_model::time::now_ms();
    if !crate::csrf::allowed(&state.app.url_secret, now, &csrf, &headers) {
        return (
            StatusCode::FORBIDDEN,
            login_form(
                &state,
                &next,
                Some("This form is stale or was not sent from the console: try again."),
            ),
        )
            .into_response();
    }
    let known = secret_of(&state, key.trim()).filter(|s| same(s, &secret));
    let Some(key_secret) = known else {
        return (
            StatusCode::UNAUTHORIZED,
            login_form(
                &state,
                &next,
                Some("The access key id or the secret is not one this server accepts."),
            ),
        )
            .into_response();
    };
    let value = issue(&state.app.url_secret, key.trim(), &key_secret, now);
    let cookie = format!(
        "{COOKIE}={value}; Path=/console; HttpOnly; SameSite=Strict; Max-Age={}",
        SESSION_LIFETIME_MS / 1000
    );
    Response::builder()
        .status(StatusCode::SEE_OTHER)
        .header(header::LOCATION, safe_next(Some(&next)))
        .header(header::SET_COOKIE, cookie)
        .body(Body::empty())
        .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
}

/// `GET /console/logout`: a form to sign out.
pub(crate) async fn logout_form(State(state): State<ConsoleState>) -> Response {
    let token = crate::csrf::token(&state.app.url_secret, archfn_model::time::now_ms());
    shell(
        "Sign out",
        state.is_open(),
        html! {
            h1 { "Sign out" }
            form method="post" action="/console/logout" {
                input type="hidden" name="csrf" value=(token);
                button type="submit" { "Sign out" }
            }
        },
    )
    .into_response()
}

/// `POST /console/logout`, a form of `csrf`: the session cookie is cleared.
pub(crate) async fn logout(
    State(state): State<ConsoleState>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let csrf = form_urlencoded::parse(&body)
        .find(|(k, _)| k == "csrf")
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default();
    if !crate::csrf::allowed(
        &state.app.url_secret,
        archfn_model::time::now_ms(),
        &csrf,
        &headers,
    ) {
        return error_page(
            state.is_open(),
            StatusCode::FORBIDDEN,
            "This form is stale: load the page again.",
        );
    }
    let cookie = format!("{COOKIE}=; Path=/console; HttpOnly; SameSite=Strict; Max-Age=0");
    Response::builder()
        .status(StatusCode::SEE_OTHER)
        .header(header::LOCATION, "/console/login")
        .header(header::SET_COOKIE, cookie)
        .body(Body::empty())
        .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_pages_stay_inside_the_console() {
        assert_eq!(safe_next(Some("/functions/f")), "/console/functions/f");
        assert_eq!(safe_next(Some("//evil.example/")), "/console/");
        assert_eq!(safe_next(Some("https://evil.example/")), "/console/");
        assert_eq!(safe_next(Some("/\\evil.example")), "/console/");
        assert_eq!(safe_next(None), "/console/");
    }

    #[test]
    fn a_session_mac_binds_key_expiry_and_secret() {
        let a = mac(b"s", "AKID", "secret", 10);
        assert_eq!(a, mac(b"s", "AKID", "secret", 10));
        assert_ne!(a, mac(b"s", "AKID", "secret2", 10));
        assert_ne!(a, mac(b"s", "AKID", "secret", 11));
        assert_ne!(a, mac(b"s", "AKIE", "secret", 10));
        assert_ne!(a, mac(b"t", "AKID", "secret", 10));
    }

    #[test]
    fn the_cookie_is_found_among_others() {
        let mut h = HeaderMap::new();
        h.insert(
            header::COOKIE,
            axum::http::HeaderValue::from_static("a=1; archfn_console=K.1.ab; b=2"),
        );
        assert_eq!(cookie(&h), Some("K.1.ab"));
        h.insert(
            header::COOKIE,
            axum::http::HeaderValue::from_static("archfn_consoleX=1"),
        );
        assert_eq!(cookie(&h), None);
    }
}
