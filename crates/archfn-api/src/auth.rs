//! Authentication: SigV4 verification against a credentials file, or acceptance of anything.
//!
//! The order is what keeps an attacker who holds no secret cheap to refuse:
//! 1. the declared `Content-Length` against the operation's limit;
//! 2. the `Authorization` header: its scope (service `lambda`, a real region), `host` signed,
//!    the date within 15 minutes, a known key;
//! 3. when `x-amz-content-sha256` is sent, the signature over the canonical request with that
//!    hash, before a byte of the body is read;
//! 4. the body, streamed under the operation's limit and a memory budget shared by all
//!    requests, hashed as it arrives;
//! 5. the body's hash: equal to the signed `x-amz-content-sha256`, or (when that header is
//!    absent, as botocore and the Rust SDK send Lambda requests) the hash the signature is
//!    verified with.
//!
//! Nothing reaches a handler before step 5 has passed.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use archfn_model::InvocationType;
use archfn_sigv4::{Authorization, RequestParts, SigV4Error, parse_authorization};
use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::header::{AUTHORIZATION, CONTENT_LENGTH};
use axum::http::{HeaderMap, Method};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http_body_util::BodyExt;
use sha2::{Digest, Sha256};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::{ApiError, AppState, RequestContext};

/// The service name a Lambda request's credential scope must carry.
const SERVICE: &str = "lambda";

/// The largest body of the operations that upload code (CreateFunction, UpdateFunctionCode,
/// PublishLayerVersion): 50 MiB of zip as base64 in JSON.
pub const CODE_REQUEST_MAX_BYTES: usize = archfn_model::limits::CREATE_REQUEST_MAX_BYTES;
/// The largest synchronous Invoke payload.
pub const SYNC_INVOKE_MAX_BYTES: usize = archfn_model::limits::SYNC_INVOKE_PAYLOAD_MAX_BYTES;
/// The largest asynchronous (`Event`) Invoke payload.
pub const ASYNC_INVOKE_MAX_BYTES: usize = archfn_model::limits::ASYNC_INVOKE_PAYLOAD_MAX_BYTES;
/// The largest body of every other operation (configuration, aliases, tags, concurrency), whose
/// inputs are a few kilobytes at most (environment variables: 4 KB).
pub const OTHER_REQUEST_MAX_BYTES: usize = 262_144;

/// How long the server waits for the next piece of a body before giving up on the request.
const BODY_IDLE_TIMEOUT: Duration = Duration::from_secs(20);
/// How long a whole body may take to arrive.
const BODY_TOTAL_TIMEOUT: Duration = Duration::from_secs(300);

/// AWS's text for a signature that does not match.
const MISMATCH_TEXT: &str = "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.";

/// Why a credentials file is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CredentialsError {
    /// A profile's secret key is empty: anybody could sign as it.
    #[error("profile [{profile}] has an empty aws_secret_access_key")]
    EmptySecret {
        /// The profile's name.
        profile: String,
    },
    /// A profile's access key id is empty.
    #[error("profile [{profile}] has an empty aws_access_key_id")]
    EmptyKeyId {
        /// The profile's name.
        profile: String,
    },
    /// The file holds no key at all.
    #[error("no profile has both aws_access_key_id and aws_secret_access_key")]
    NoKeys,
}

/// Access key id → secret key.
#[derive(Debug, Clone, Default)]
pub struct Credentials {
    keys: HashMap<String, String>,
}

impl Credentials {
    /// Every (access key id, secret) pair, for services that verify signatures themselves (S3).
    pub fn pairs(&self) -> Vec<(String, String)> {
        self.keys
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }

    /// Reads an AWS shared credentials file (`[profile]` sections with `aws_access_key_id` and
    /// `aws_secret_access_key`); every profile's key is accepted. A profile with an empty key
    /// id or secret, or a file with no key, is an error.
    pub fn parse_shared_file(text: &str) -> Result<Credentials, CredentialsError> {
        let mut keys = HashMap::new();
        let mut profile = String::from("default");
        let mut key: Option<String> = None;
        let mut secret: Option<String> = None;
        let mut flush = |profile: &str,
                         k: &mut Option<String>,
                         s: &mut Option<String>|
         -> Result<(), CredentialsError> {
            match (k.take(), s.take()) {
                (Some(k), _) if k.is_empty() => Err(CredentialsError::EmptyKeyId {
                    profile: profile.to_string(),
                }),
                (_, Some(s)) if s.is_empty() => Err(CredentialsError::EmptySecret {
                    profile: profile.to_string(),
                }),
                (Some(k), Some(s)) => {
                    keys.insert(k, s);
                    Ok(())
                }
                _ => Ok(()),
            }
        };
        for line in text.lines().map(str::trim) {
            if let Some(name) = line.strip_prefix('[') {
                flush(&profile, &mut key, &mut secret)?;
                profile = name.trim_end_matches(']').trim().to_string();
            } else if let Some((k, v)) = line.split_once('=') {
                match k.trim() {
                    "aws_access_key_id" => key = Some(v.trim().to_string()),
                    "aws_secret_access_key" => secret = Some(v.trim().to_string()),
                    _ => {}
                }
            }
        }
        flush(&profile, &mut key, &mut secret)?;
        if keys.is_empty() {
            return Err(CredentialsError::NoKeys);
        }
        Ok(Credentials { keys })
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
    /// Any request is accepted; a SigV4 header only selects the region (which must be one).
    Open,
    /// Requests must carry a valid SigV4 signature by a known key.
    SigV4(Credentials),
}

/// Memory that request bodies being read may hold together, shared by all connections.
#[derive(Debug, Clone)]
pub struct BodyBudget {
    kib: Arc<Semaphore>,
}

impl BodyBudget {
    /// A budget of `bytes` (rounded up to whole KiB).
    pub fn new(bytes: usize) -> BodyBudget {
        let kib = bytes.div_ceil(1024).min(Semaphore::MAX_PERMITS);
        BodyBudget {
            kib: Arc::new(Semaphore::new(kib)),
        }
    }

    /// Takes `len` bytes from the budget, or nothing when it is spent.
    fn take(&self, len: usize) -> Option<OwnedSemaphorePermit> {
        let kib = u32::try_from(len.div_ceil(1024)).ok()?;
        self.kib.clone().try_acquire_many_owned(kib).ok()
    }
}

/// An operation's body limit and the words of Lambda's 413 for it.
#[derive(Debug, Clone, Copy)]
struct BodyLimit {
    max: usize,
    operation: Option<&'static str>,
    event: bool,
}

impl BodyLimit {
    fn too_large(&self, received: usize) -> ApiError {
        let max = self.max;
        ApiError::RequestEntityTooLargeException(match self.operation {
            _ if self.event => format!(
                "{received} byte payload is too large for the Event invocation type (limit {max} bytes)"
            ),
            Some(op) => format!("Request must be smaller than {max} bytes for the {op} operation"),
            None => format!("Request must be smaller than {max} bytes"),
        })
    }
}

/// The body limit of the operation at `method` `path`.
fn body_limit(method: &Method, path: &str, headers: &HeaderMap) -> BodyLimit {
    let segments: Vec<&str> = path.trim_end_matches('/').split('/').collect();
    let limit = |max, op| BodyLimit {
        max,
        operation: Some(op),
        event: false,
    };
    match (method, segments.as_slice()) {
        (&Method::POST, ["", "2015-03-31", "functions"]) => {
            limit(CODE_REQUEST_MAX_BYTES, "CreateFunction")
        }
        (&Method::PUT, ["", "2015-03-31", "functions", _, "code"]) => {
            limit(CODE_REQUEST_MAX_BYTES, "UpdateFunctionCode")
        }
        (&Method::POST, ["", "2018-10-31", "layers", _, "versions"]) => {
            limit(CODE_REQUEST_MAX_BYTES, "PublishLayerVersion")
        }
        (&Method::POST, ["", "2015-03-31", "functions", _, "invocations"]) => {
            let kind = headers
                .get("x-amz-invocation-type")
                .and_then(|v| v.to_str().ok())
                .and_then(|t| InvocationType::parse(t).ok());
            match kind {
                Some(InvocationType::Event) => BodyLimit {
                    max: ASYNC_INVOKE_MAX_BYTES,
                    operation: None,
                    event: true,
                },
                _ => limit(SYNC_INVOKE_MAX_BYTES, "InvokeFunction"),
            }
        }
        (&Method::PUT, ["", "2015-03-31", "functions", _, "configuration"]) => {
            limit(OTHER_REQUEST_MAX_BYTES, "UpdateFunctionConfiguration")
        }
        (
            &Method::POST,
            [
                "",
                "2021-11-15",
                "functions",
                _,
                "response-streaming-invocations",
            ],
        ) => limit(SYNC_INVOKE_MAX_BYTES, "InvokeWithResponseStream"),
        _ => BodyLimit {
            max: OTHER_REQUEST_MAX_BYTES,
            operation: None,
            event: false,
        },
    }
}

/// The error answer for a refused signature, with AWS's texts.
fn sigv4_error(e: SigV4Error) -> ApiError {
    match e {
        SigV4Error::Missing => {
            ApiError::MissingAuthenticationTokenException("Missing Authentication Token".into())
        }
        // AWS's text for a credential that is not five elements; its status (400,
        // IncompleteSignatureException) is as AWS's JSON services answer it, not recorded from
        // Lambda itself.
        SigV4Error::MalformedCredential(c) => ApiError::IncompleteSignatureException(format!(
            "Credential must have exactly 5 slash-delimited elements, e.g. keyid/date/region/service/term, got '{c}'"
        )),
        SigV4Error::Malformed(m) => ApiError::IncompleteSignatureException(m),
        // Texts as AWS's SigV4 front end words them for other services (Lambda's exact
        // answer is not recorded in the fact sheet).
        SigV4Error::WrongService { expected, .. } => ApiError::InvalidSignatureException(format!(
            "Credential should be scoped to correct service: '{expected}'. "
        )),
        SigV4Error::InvalidRegion(_) => ApiError::InvalidSignatureException(
            "Credential should be scoped to a valid region. ".into(),
        ),
        SigV4Error::HostNotSigned => ApiError::IncompleteSignatureException(
            "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization.".into(),
        ),
        SigV4Error::Expired(d) => ApiError::InvalidSignatureException(format!(
            "Signature expired: {d} is now earlier or later than the allowed 15 minutes."
        )),
        // Lambda puts the hash of the body it received in the canonical request, so a request
        // signed over `UNSIGNED-PAYLOAD` cannot match: the answer is the mismatch.
        SigV4Error::UnsignedPayload(_) | SigV4Error::Mismatch => {
            ApiError::InvalidSignatureException(MISMATCH_TEXT.into())
        }
        // S3's answer to a body that is not the signed one (XAmzContentSHA256Mismatch, 400);
        // Lambda's own code for this case is not documented.
        SigV4Error::PayloadHashMismatch => ApiError::XAmzContentSHA256Mismatch(
            "The provided 'x-amz-content-sha256' header does not match what was computed.".into(),
        ),
    }
}

/// A body read to its end, with its SHA-256 and the share of the memory budget it holds.
struct ReadBody {
    bytes: Bytes,
    sha256: String,
    _budget: Vec<OwnedSemaphorePermit>,
}

/// Reads `body` up to `limit.max` bytes, taking memory from `budget` as it arrives and hashing
/// it, so a body over the limit is refused as soon as it passes it.
async fn read_body(
    body: Body,
    limit: BodyLimit,
    budget: &BodyBudget,
) -> Result<ReadBody, ApiError> {
    let mut body = body;
    let mut buf: Vec<u8> = Vec::new();
    let mut hasher = Sha256::new();
    let mut permits = Vec::new();
    let deadline = tokio::time::Instant::now() + BODY_TOTAL_TIMEOUT;
    loop {
        let wait = tokio::time::timeout_at(
            deadline.min(tokio::time::Instant::now() + BODY_IDLE_TIMEOUT),
            body.frame(),
        );
        let frame = match wait.await {
            Err(_) => {
                return Err(ApiError::InvalidRequestContentException(
                    "The request body was not received in time.".into(),
                ));
            }
            Ok(None) => break,
            Ok(Some(Err(_))) => {
                return Err(ApiError::InvalidRequestContentException(
                    "The request body could not be read.".into(),
                ));
            }
            Ok(Some(Ok(frame))) => frame,
        };
        let Ok(data) = frame.into_data() else {
            continue;
        };
        if buf.len() + data.len() > limit.max {
            return Err(limit.too_large(buf.len() + data.len()));
        }
        let Some(permit) = budget.take(data.len()) else {
            tracing::warn!("request bodies hold the whole memory budget: request throttled");
            return Err(ApiError::TooManyRequestsException(
                "Rate Exceeded.".into(),
                "CallerRateLimitExceeded",
            ));
        };
        permits.push(permit);
        hasher.update(&data);
        buf.extend_from_slice(&data);
    }
    Ok(ReadBody {
        bytes: Bytes::from(buf),
        sha256: hex::encode(hasher.finalize()),
        _budget: permits,
    })
}

/// A function URL request's body, read as the API's bodies are: under Invoke's 6 MB limit, the
/// idle and total timeouts, and the memory budget all bodies share (held by the permits returned,
/// for as long as the bytes are).
pub(crate) async fn read_url_body(
    body: Body,
    budget: &BodyBudget,
) -> Result<(Bytes, Vec<OwnedSemaphorePermit>), ApiError> {
    let limit = BodyLimit {
        max: SYNC_INVOKE_MAX_BYTES,
        operation: Some("InvokeFunction"),
        event: false,
    };
    let read = read_body(body, limit, budget).await?;
    Ok((read.bytes, read._budget))
}

/// A CloudFormation request's body, read as the API's bodies are, under CloudFormation's limit.
pub(crate) async fn read_cloudformation_body(
    body: Body,
    budget: &BodyBudget,
) -> Result<(Bytes, Vec<OwnedSemaphorePermit>), ApiError> {
    let limit = BodyLimit {
        max: archfn_cloudformation::wire::MAX_REQUEST_BYTES,
        operation: None,
        event: false,
    };
    let read = read_body(body, limit, budget).await?;
    Ok((read.bytes, read._budget))
}

/// The body of a request to another service on the endpoint (CloudWatch Logs, STS), read as
/// the API's bodies are, under `max` bytes.
pub(crate) async fn read_service_body(
    body: Body,
    budget: &BodyBudget,
    max: usize,
) -> Result<(Bytes, Vec<OwnedSemaphorePermit>), ApiError> {
    let limit = BodyLimit {
        max,
        operation: None,
        event: false,
    };
    let read = read_body(body, limit, budget).await?;
    Ok((read.bytes, read._budget))
}

fn header_pairs(headers: &HeaderMap) -> Vec<(String, String)> {
    headers
        .iter()
        .filter_map(|(k, v)| {
            v.to_str()
                .ok()
                .map(|v| (k.as_str().to_string(), v.to_string()))
        })
        .collect()
}

/// The signature checks that come before the body: scope, `host`, date, key, and the signature
/// itself when the payload hash is declared. Returns the key's secret and the declared hash.
fn check_before_body<'c>(
    creds: &'c Credentials,
    auth: &Authorization,
    parts: &axum::http::request::Parts,
    headers: &[(String, String)],
    now_s: i64,
    service: &str,
) -> Result<(&'c str, Option<String>), ApiError> {
    archfn_sigv4::check_scope(auth, service).map_err(sigv4_error)?;
    let Some(secret) = creds.keys.get(&auth.access_key) else {
        return Err(ApiError::UnrecognizedClientException(
            "The security token included in the request is invalid.".into(),
        ));
    };
    archfn_sigv4::precheck(headers, auth, service, now_s).map_err(sigv4_error)?;
    let declared = archfn_sigv4::declared_payload_hash(headers).map_err(sigv4_error)?;
    if let Some(hash) = &declared {
        let rp = RequestParts {
            method: parts.method.as_str(),
            raw_path: parts.uri.path(),
            raw_query: parts.uri.query().unwrap_or(""),
            headers,
            payload_hash: hash,
        };
        archfn_sigv4::verify(&rp, auth, secret, service, now_s).map_err(sigv4_error)?;
    }
    Ok((secret, declared))
}

/// Verifies a request to a function URL whose AuthType is AWS_IAM: signed for service `lambda`
/// by a known key, over `body`. Returns the signing key's id.
pub(crate) fn verify_url_request(
    creds: &Credentials,
    parts: &axum::http::request::Parts,
    body: &[u8],
) -> Result<String, ApiError> {
    verify_request_for(creds, parts, body, SERVICE)
}

/// Verifies a request signed for `service` by a known key, over `body`. Returns the signing
/// key's id.
pub(crate) fn verify_request_for(
    creds: &Credentials,
    parts: &axum::http::request::Parts,
    body: &[u8],
    service: &str,
) -> Result<String, ApiError> {
    let auth = match parts.headers.get(AUTHORIZATION) {
        None => return Err(sigv4_error(SigV4Error::Missing)),
        Some(v) => v
            .to_str()
            .map_err(|_| SigV4Error::Missing)
            .and_then(parse_authorization)
            .map_err(sigv4_error)?,
    };
    let headers = header_pairs(&parts.headers);
    let now = archfn_model::time::now_ms() / 1000;
    let (secret, declared) = check_before_body(creds, &auth, parts, &headers, now, service)?;
    let sha256 = hex::encode(Sha256::digest(body));
    match declared {
        Some(signed) => archfn_sigv4::check_payload_hash(&signed, &sha256).map_err(sigv4_error)?,
        None => {
            let rp = RequestParts {
                method: parts.method.as_str(),
                raw_path: parts.uri.path(),
                raw_query: parts.uri.query().unwrap_or(""),
                headers: &headers,
                payload_hash: &sha256,
            };
            archfn_sigv4::verify(&rp, &auth, secret, service, now).map_err(sigv4_error)?;
        }
    }
    Ok(auth.access_key)
}

/// Middleware: checks the size and signature of a request and records its region.
pub(crate) async fn authenticate(
    State(state): State<AppState>,
    req: Request,
    next: Next,
) -> Response {
    match authenticated(&state, req).await {
        Ok((req, budget)) => {
            let resp = next.run(req).await;
            drop(budget);
            resp
        }
        Err(e) => e.into_response(),
    }
}

/// The request, its body read and verified, and the share of the memory budget its body holds.
async fn authenticated(
    state: &AppState,
    req: Request,
) -> Result<(Request, Vec<OwnedSemaphorePermit>), ApiError> {
    let limit = body_limit(req.method(), req.uri().path(), req.headers());
    let declared_len = req
        .headers()
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    if let Some(n) = declared_len
        && n > limit.max as u64
    {
        return Err(limit.too_large(usize::try_from(n).unwrap_or(usize::MAX)));
    }
    let parsed = req
        .headers()
        .get(AUTHORIZATION)
        .map(|v| v.to_str().map_err(|_| SigV4Error::Missing))
        .map(|v| v.and_then(parse_authorization));
    let (parts, body) = req.into_parts();
    match state.auth.as_ref() {
        AuthMode::Open => {
            // The scope only selects the region here, but the region still becomes part of
            // paths: one that is not a region is refused as in signed mode.
            let region = match parsed {
                Some(Ok(a)) => {
                    if !archfn_sigv4::is_region(&a.region) {
                        return Err(sigv4_error(SigV4Error::InvalidRegion(a.region)));
                    }
                    a.region
                }
                _ => state.default_region.clone(),
            };
            let read = read_body(body, limit, &state.body_budget).await?;
            let mut req = Request::from_parts(parts, Body::from(read.bytes));
            req.extensions_mut().insert(RequestContext { region });
            Ok((req, read._budget))
        }
        AuthMode::SigV4(creds) => {
            let auth = match parsed {
                None => return Err(sigv4_error(SigV4Error::Missing)),
                Some(Err(e)) => return Err(sigv4_error(e)),
                Some(Ok(a)) => a,
            };
            let headers = header_pairs(&parts.headers);
            let now = archfn_model::time::now_ms() / 1000;
            let (secret, declared) =
                check_before_body(creds, &auth, &parts, &headers, now, SERVICE)?;
            let read = read_body(body, limit, &state.body_budget).await?;
            match declared {
                Some(signed) => {
                    archfn_sigv4::check_payload_hash(&signed, &read.sha256).map_err(sigv4_error)?
                }
                None => {
                    let rp = RequestParts {
                        method: parts.method.as_str(),
                        raw_path: parts.uri.path(),
                        raw_query: parts.uri.query().unwrap_or(""),
                        headers: &headers,
                        payload_hash: &read.sha256,
                    };
                    archfn_sigv4::verify(&rp, &auth, secret, SERVICE, now).map_err(sigv4_error)?;
                }
            }
            let region = auth.region;
            let mut req = Request::from_parts(parts, Body::from(read.bytes));
            req.extensions_mut().insert(RequestContext { region });
            Ok((req, read._budget))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_shared_credentials_files() {
        let c = Credentials::parse_shared_file(
            "[default]\naws_access_key_id = AK1\naws_secret_access_key = S1\n\n[other]\naws_access_key_id=AK2\naws_secret_access_key=S2\n",
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(c.len(), 2);
        assert_eq!(c.keys.get("AK2").map(String::as_str), Some("S2"));
    }

    #[test]
    fn refuses_empty_secrets_and_key_ids() {
        assert_eq!(
            Credentials::parse_shared_file(
                "[default]\naws_access_key_id = AK1\naws_secret_access_key = S1\n[weak]\naws_access_key_id = AK2\naws_secret_access_key =\n"
            )
            .err(),
            Some(CredentialsError::EmptySecret {
                profile: "weak".into()
            })
        );
        assert_eq!(
            Credentials::parse_shared_file("[x]\naws_access_key_id =\naws_secret_access_key = s\n")
                .err(),
            Some(CredentialsError::EmptyKeyId {
                profile: "x".into()
            })
        );
        assert_eq!(
            Credentials::parse_shared_file("[x]\nregion = us-east-1\n").err(),
            Some(CredentialsError::NoKeys)
        );
    }

    #[test]
    fn limits_bodies_per_operation() {
        let h = HeaderMap::new();
        let max = |m: Method, p: &str| body_limit(&m, p, &h).max;
        assert_eq!(
            max(Method::POST, "/2015-03-31/functions"),
            CODE_REQUEST_MAX_BYTES
        );
        assert_eq!(
            max(Method::PUT, "/2015-03-31/functions/f/code"),
            CODE_REQUEST_MAX_BYTES
        );
        assert_eq!(
            max(Method::POST, "/2018-10-31/layers/l/versions"),
            CODE_REQUEST_MAX_BYTES
        );
        assert_eq!(
            max(Method::POST, "/2015-03-31/functions/f/invocations"),
            SYNC_INVOKE_MAX_BYTES
        );
        assert_eq!(
            max(Method::PUT, "/2015-03-31/functions/f/configuration"),
            OTHER_REQUEST_MAX_BYTES
        );
        assert_eq!(
            max(Method::POST, "/2017-03-31/tags/x"),
            OTHER_REQUEST_MAX_BYTES
        );
        let mut ev = HeaderMap::new();
        ev.insert(
            "x-amz-invocation-type",
            axum::http::HeaderValue::from_static("Event"),
        );
        assert_eq!(
            body_limit(&Method::POST, "/2015-03-31/functions/f/invocations", &ev).max,
            ASYNC_INVOKE_MAX_BYTES
        );
    }

    #[test]
    fn a_spent_budget_refuses_more() {
        let b = BodyBudget::new(4096);
        let first = b.take(3000);
        assert!(first.is_some());
        assert!(b.take(2048).is_none());
        drop(first);
        assert!(b.take(2048).is_some());
    }
}
