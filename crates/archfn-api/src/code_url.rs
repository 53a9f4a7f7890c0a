//! Code download URLs: archfn's stand-in for the presigned S3 URLs GetFunction and
//! GetLayerVersion return.
//!
//! A URL names the archive's digest and the Unix second it expires at, and carries a keyed hash
//! (HMAC-SHA256 under the server's URL secret) over both, so a caller can neither point it at
//! another archive nor stretch its life. Like a presigned URL it lasts ten minutes by default.

use std::time::Duration;

use hmac::{Hmac, Mac as _};
use sha2::Sha256;

/// How long a download URL lasts unless configured otherwise (Lambda's presigned URLs: 10 min).
pub const DEFAULT_CODE_URL_TTL: Duration = Duration::from_secs(600);

/// Why a download URL is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum UrlRefusal {
    /// The token is missing or does not match the digest and expiry.
    BadToken,
    /// The token matches but its expiry has passed.
    Expired,
}

/// The keyed hash over `digest` and `expires_s` (hex).
pub(crate) fn token(secret: &[u8], digest: &str, expires_s: u64) -> String {
    // HMAC takes a key of any length, so this cannot fail; an empty tag would never verify.
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret) else {
        return String::new();
    };
    mac.update(digest.as_bytes());
    mac.update(b"\n");
    mac.update(expires_s.to_string().as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

/// The query string of a URL for `digest` made at `now_s` that lasts `ttl`.
pub(crate) fn query(secret: &[u8], digest: &str, now_s: u64, ttl: Duration) -> String {
    let expires_s = now_s.saturating_add(ttl.as_secs());
    format!(
        "expires={expires_s}&token={}",
        token(secret, digest, expires_s)
    )
}

/// Checks a URL's `expires` and `token` parameters for `digest` at `now_s`: the token first
/// (compared in constant time), then the expiry it vouches for.
pub(crate) fn check(
    secret: &[u8],
    digest: &str,
    expires: Option<&str>,
    given_token: Option<&str>,
    now_s: u64,
) -> Result<(), UrlRefusal> {
    let (Some(expires), Some(given)) = (expires, given_token) else {
        return Err(UrlRefusal::BadToken);
    };
    let Ok(expires_s) = expires.parse::<u64>() else {
        return Err(UrlRefusal::BadToken);
    };
    let expected = token(secret, digest, expires_s);
    let same: bool = subtle::ConstantTimeEq::ct_eq(given.as_bytes(), expected.as_bytes()).into();
    if !same || expected.is_empty() {
        return Err(UrlRefusal::BadToken);
    }
    if now_s >= expires_s {
        return Err(UrlRefusal::Expired);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &[u8] = b"0123456789abcdef0123456789abcdef";
    const DIGEST: &str = "ab00000000000000000000000000000000000000000000000000000000000000";

    fn parts(q: &str) -> (String, String) {
        let mut expires = String::new();
        let mut token = String::new();
        for pair in q.split('&') {
            match pair.split_once('=') {
                Some(("expires", v)) => expires = v.to_string(),
                Some(("token", v)) => token = v.to_string(),
                _ => {}
            }
        }
        (expires, token)
    }

    #[test]
    fn accepts_a_fresh_url_until_it_expires() {
        let (e, t) = parts(&query(SECRET, DIGEST, 1_000, Duration::from_secs(600)));
        assert_eq!(e, "1600");
        assert_eq!(check(SECRET, DIGEST, Some(&e), Some(&t), 1_000), Ok(()));
        assert_eq!(check(SECRET, DIGEST, Some(&e), Some(&t), 1_599), Ok(()));
        assert_eq!(
            check(SECRET, DIGEST, Some(&e), Some(&t), 1_600),
            Err(UrlRefusal::Expired)
        );
    }

    #[test]
    fn refuses_a_stretched_expiry_another_digest_or_another_key() {
        let (e, t) = parts(&query(SECRET, DIGEST, 1_000, Duration::from_secs(600)));
        assert_eq!(
            check(SECRET, DIGEST, Some("99999999999"), Some(&t), 1_000),
            Err(UrlRefusal::BadToken)
        );
        let other = DIGEST.replace("ab", "cd");
        assert_eq!(
            check(SECRET, &other, Some(&e), Some(&t), 1_000),
            Err(UrlRefusal::BadToken)
        );
        assert_eq!(
            check(b"another key", DIGEST, Some(&e), Some(&t), 1_000),
            Err(UrlRefusal::BadToken)
        );
        let mut flipped = t.clone().into_bytes();
        flipped[0] = if flipped[0] == b'0' { b'1' } else { b'0' };
        let flipped = String::from_utf8_lossy(&flipped).into_owned();
        assert_eq!(
            check(SECRET, DIGEST, Some(&e), Some(&flipped), 1_000),
            Err(UrlRefusal::BadToken)
        );
    }

    #[test]
    fn refuses_missing_or_malformed_parameters() {
        let (e, t) = parts(&query(SECRET, DIGEST, 1_000, Duration::from_secs(600)));
        assert_eq!(
            check(SECRET, DIGEST, None, Some(&t), 1_000),
            Err(UrlRefusal::BadToken)
        );
        assert_eq!(
            check(SECRET, DIGEST, Some(&e), None, 1_000),
            Err(UrlRefusal::BadToken)
        );
        assert_eq!(
            check(SECRET, DIGEST, Some("-1"), Some(&t), 1_000),
            Err(UrlRefusal::BadToken)
        );
        assert_eq!(
            check(SECRET, DIGEST, Some(&e), Some(""), 1_000),
            Err(UrlRefusal::BadToken)
        );
    }
}
