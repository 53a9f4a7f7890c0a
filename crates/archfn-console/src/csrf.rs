//! Protection of the console's forms against cross-site requests: every form carries a token,
//! an HMAC under the server's own secret of the token's expiry, and a request that changes
//! anything must bring a valid, unexpired one and, when the browser says where it comes from
//! (`Origin`), come from the console's own host.

use axum::http::HeaderMap;
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// How long a form may be kept open before it is sent.
const TOKEN_LIFETIME_MS: i64 = 12 * 60 * 60 * 1000;

fn mac(secret: &[u8], expires_ms: i64) -> Option<String> {
    let mut m = Hmac::<Sha256>::new_from_slice(secret).ok()?;
    m.update(b"archfn-console-form:");
    m.update(expires_ms.to_string().as_bytes());
    Some(hex::encode(m.finalize().into_bytes()))
}

/// A token for a form shown now.
pub(crate) fn token(secret: &[u8], now_ms: i64) -> String {
    let expires = now_ms.saturating_add(TOKEN_LIFETIME_MS);
    format!("{expires}.{}", mac(secret, expires).unwrap_or_default())
}

/// Whether a form request may change something: its token is ours and unexpired, and its
/// `Origin`, when present, names the host it was sent to.
pub(crate) fn allowed(secret: &[u8], now_ms: i64, token: &str, headers: &HeaderMap) -> bool {
    let Some((expires, given)) = token.split_once('.') else {
        return false;
    };
    let Ok(expires) = expires.parse::<i64>() else {
        return false;
    };
    let Some(expected) = mac(secret, expires) else {
        return false;
    };
    let same = subtle::ConstantTimeEq::ct_eq(expected.as_bytes(), given.as_bytes());
    if !bool::from(same) || expires < now_ms {
        return false;
    }
    match headers.get("origin").and_then(|v| v.to_str().ok()) {
        None => true,
        Some(origin) => {
            let host = headers
                .get("host")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("");
            origin
                .split_once("://")
                .is_some_and(|(_, rest)| !host.is_empty() && rest == host)
        }
    }
}

/// The page a form gets when `allowed` says no; `None` when it may go on.
pub(crate) fn refused(
    state: &crate::ConsoleState,
    token: &str,
    headers: &HeaderMap,
) -> Option<axum::response::Response> {
    if allowed(
        &state.app.url_secret,
        archfn_model::time::now_ms(),
        token,
        headers,
    ) {
        return None;
    }
    Some(crate::layout::error_page(
        state.is_open(),
        axum::http::StatusCode::FORBIDDEN,
        "This form is stale or was not sent from the console: load the page again.",
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn a_token_is_good_until_it_expires_and_only_from_our_origin() {
        let secret = b"secret";
        let t = token(secret, 1_000);
        let mut h = HeaderMap::new();
        assert!(allowed(secret, 2_000, &t, &h));
        assert!(!allowed(secret, 1_000 + TOKEN_LIFETIME_MS + 1, &t, &h));
        assert!(!allowed(b"other", 2_000, &t, &h));
        assert!(!allowed(secret, 2_000, "1.abc", &h));
        assert!(!allowed(secret, 2_000, "garbage", &h));
        let forged = format!(
            "{}.{}",
            1_000 + TOKEN_LIFETIME_MS * 10,
            t.split_once('.').map(|p| p.1).unwrap_or("")
        );
        assert!(!allowed(secret, 2_000, &forged, &h));
        h.insert("host", HeaderValue::from_static("127.0.0.1:9001"));
        h.insert("origin", HeaderValue::from_static("http://127.0.0.1:9001"));
        assert!(allowed(secret, 2_000, &t, &h));
        h.insert("origin", HeaderValue::from_static("https://evil.example"));
        assert!(!allowed(secret, 2_000, &t, &h));
    }
}
