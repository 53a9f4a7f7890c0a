//! Authentication: SigV4 verification against a credentials file, or acceptance of anything.

use std::collections::HashMap;

use archfn_sigv4::{RequestParts, SigV4Error, parse_authorization};
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::header::{AUTHORIZATION, CONTENT_LENGTH};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::{ApiError, AppState, MAX_REQUEST_BYTES, RequestContext};

/// Access key id → secret key.
#[derive(Debug, Clone, Default)]
pub struct Credentials {
    keys: HashMap<String, String>,
}

impl Credentials {
    /// Reads an AWS shared credentials file (`[profile]` sections with `aws_access_key_id` and
    /// `aws_secret_access_key`); every profile's key is accepted.
    pub fn parse_shared_file(text: &str) -> Credentials {
        let mut keys = HashMap::new();
        let mut key: Option<String> = None;
        let mut secret: Option<String> = None;
        let mut flush = |k: &mut Option<String>, s: &mut Option<String>| {
            if let (Some(k), Some(s)) = (k.take(), s.take()) {
                keys.insert(k, s);
            }
        };
        for line in text.lines().map(str::trim) {
            if line.starts_with('[') {
                flush(&mut key, &mut secret);
            } else if let Some((k, v)) = line.split_once('=') {
                match k.trim() {
                    "aws_access_key_id" => key = Some(v.trim().to_string()),
                    "aws_secret_access_key" => secret = Some(v.trim().to_string()),
                    _ => {}
                }
            }
        }
        flush(&mut key, &mut secret);
        Credentials { keys }
    }

    /// Number of keys known.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// True when no key is known.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }
}

/// How requests are authenticated.
#[derive(Debug, Clone)]
pub enum AuthMode {
    /// Any request is accepted; a SigV4 header only selects the region.
    Open,
    /// Requests must carry a valid SigV4 signature by a known key.
    SigV4(Credentials),
}

fn too_large() -> Response {
    ApiError::RequestEntityTooLargeException(format!(
        "Request must be smaller than {MAX_REQUEST_BYTES} bytes for the CreateFunction operation"
    ))
    .into_response()
}

/// Middleware: checks the size and signature of a request and records its region.
pub(crate) async fn authenticate(
    State(state): State<AppState>,
    req: Request,
    next: Next,
) -> Response {
    let declared = req
        .headers()
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > MAX_REQUEST_BYTES) {
        return too_large();
    }
    let header = req
        .headers()
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let parsed = header.as_deref().map(parse_authorization);
    let region = match &parsed {
        Some(Ok(a)) => a.region.clone(),
        _ => state.default_region.clone(),
    };
    let mut req = match state.auth.as_ref() {
        AuthMode::Open => req,
        AuthMode::SigV4(creds) => {
            let auth = match parsed {
                None => {
                    return ApiError::MissingAuthenticationTokenException(
                        "Missing Authentication Token".into(),
                    )
                    .into_response();
                }
                Some(Err(e)) => {
                    return ApiError::InvalidSignatureException(e.to_string()).into_response();
                }
                Some(Ok(a)) => a,
            };
            let Some(secret) = creds.keys.get(&auth.access_key) else {
                return ApiError::UnrecognizedClientException(
                    "The security token included in the request is invalid.".into(),
                )
                .into_response();
            };
            let (parts, body) = req.into_parts();
            let Ok(bytes) = axum::body::to_bytes(body, MAX_REQUEST_BYTES).await else {
                return too_large();
            };
            let headers: Vec<(String, String)> = parts
                .headers
                .iter()
                .filter_map(|(k, v)| {
                    v.to_str()
                        .ok()
                        .map(|v| (k.as_str().to_string(), v.to_string()))
                })
                .collect();
            let rp = RequestParts {
                method: parts.method.as_str(),
                raw_path: parts.uri.path(),
                raw_query: parts.uri.query().unwrap_or(""),
                headers: &headers,
                body: &bytes,
            };
            let now = archfn_model::time::now_ms() / 1000;
            match archfn_sigv4::verify(&rp, &auth, secret, now) {
                Ok(()) => {}
                Err(SigV4Error::Expired(d)) => {
                    return ApiError::InvalidSignatureException(format!("Signature expired: {d} is now earlier or later than the allowed 15 minutes."))
                        .into_response();
                }
                Err(_) => {
                    return ApiError::InvalidSignatureException(
                        "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.".into(),
                    )
                    .into_response();
                }
            }
            Request::from_parts(parts, Body::from(bytes))
        }
    };
    req.extensions_mut().insert(RequestContext { region });
    next.run(req).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_shared_credentials_files() {
        let c = Credentials::parse_shared_file(
            "[default]\naws_access_key_id = AK1\naws_secret_access_key = S1\n\n[other]\naws_access_key_id=AK2\naws_secret_access_key=S2\n",
        );
        assert_eq!(c.len(), 2);
        assert_eq!(c.keys.get("AK2").map(String::as_str), Some("S2"));
    }
}
