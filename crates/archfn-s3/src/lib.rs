//! The part of Amazon S3 that deployment tools use — buckets, objects, multipart uploads — served
//! on archfn's endpoint beside Lambda, so `aws s3 cp`, `sam deploy` and CloudFormation can put
//! code where `CreateFunction` (`Code.S3Bucket`/`S3Key`) reads it.
//!
//! Owns: the S3 operations over the blob store (bytes, by SHA-256) and the store's object
//! catalogue (`archfn_store::objects`). The protocol — REST routing, path- and virtual-host-style
//! addressing, XML, SigV4 including `aws-chunked` streaming payloads and checksum trailers — is
//! the `s3s` crate's: those are large and exacting, and s3s is tested against the SDKs that send
//! them.
//! Must not: know Lambda; hold an object's bytes in memory (bodies stream to and from blobs).

mod backend;
mod etag;

use std::sync::Arc;

pub use backend::S3Backend;

/// Builds the S3 service over `backend`. `credentials`: access key id → secret of the clients
/// whose signatures are verified; `None` accepts any signature (archfn's open mode).
pub fn service(backend: S3Backend, credentials: Option<Vec<(String, String)>>) -> S3Endpoint {
    let mut builder = s3s::service::S3ServiceBuilder::new(backend);
    let open = credentials.is_none();
    match credentials {
        Some(creds) => builder.set_auth(KnownKeys(creds.into_iter().collect())),
        None => builder.set_access(Anyone),
    }
    S3Endpoint {
        service: Arc::new(builder.build()),
        open,
    }
}

/// The keys whose signatures are verified, with S3's answer for any other.
struct KnownKeys(std::collections::HashMap<String, String>);

#[async_trait::async_trait]
impl s3s::auth::S3Auth for KnownKeys {
    async fn get_secret_key(&self, access_key: &str) -> s3s::S3Result<s3s::auth::SecretKey> {
        self.0
            .get(access_key)
            .map(|s| s3s::auth::SecretKey::from(s.as_str()))
            .ok_or_else(|| {
                s3s::S3Error::with_message(
                    s3s::S3ErrorCode::InvalidAccessKeyId,
                    "The AWS Access Key Id you provided does not exist in our records.",
                )
            })
    }
}

/// Open mode's access rule: every request is allowed (its signature was not checked).
struct Anyone;

#[async_trait::async_trait]
impl s3s::access::S3Access for Anyone {
    async fn check(&self, _cx: &mut s3s::access::S3AccessContext<'_>) -> s3s::S3Result<()> {
        Ok(())
    }
}

/// The S3 service, ready to answer HTTP requests.
#[derive(Clone)]
pub struct S3Endpoint {
    service: Arc<s3s::service::S3Service>,
    /// Signatures are not verified: the request goes on as an anonymous one.
    open: bool,
}

impl std::fmt::Debug for S3Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("S3Endpoint")
    }
}

impl S3Endpoint {
    /// Answers one request (its body streamed through, never collected whole).
    pub async fn handle<B>(&self, req: http::Request<B>) -> http::Response<s3s::Body>
    where
        B: http_body::Body<Data = bytes::Bytes> + Send + 'static,
        B::Error: std::error::Error + Send + Sync + 'static,
    {
        let (mut parts, body) = req.into_parts();
        if self.open {
            // Any signature is accepted in open mode, as on the Lambda API: without a secret to
            // check it against, the request is taken as anonymous (payloads signed chunk by
            // chunk, `aws-chunked`, need `--auth sigv4`).
            parts.headers.remove(http::header::AUTHORIZATION);
        }
        let has_body = parts.headers.contains_key(http::header::TRANSFER_ENCODING)
            || parts
                .headers
                .get(http::header::CONTENT_LENGTH)
                .is_some_and(|v| v.as_bytes() != b"0");
        let req = http::Request::from_parts(parts, s3s::Body::http_body_unsync(body));
        match self.service.call(req).await {
            Ok(mut resp) => {
                // A refused request's body may be left unread: the connection cannot carry
                // another request, and the client is told so instead of finding out.
                if has_body && resp.status().as_u16() >= 400 {
                    resp.headers_mut().insert(
                        http::header::CONNECTION,
                        http::HeaderValue::from_static("close"),
                    );
                }
                resp
            }
            Err(e) => {
                tracing::warn!("S3 request failed: {e:?}");
                let mut resp = http::Response::new(s3s::Body::from(
                    "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>InternalError</Code><Message>We encountered an internal error. Please try again.</Message></Error>".to_owned(),
                ));
                *resp.status_mut() = http::StatusCode::INTERNAL_SERVER_ERROR;
                resp
            }
        }
    }
}

/// Whether a request is for S3: its SigV4 credential scope (header or presigned query) names
/// the service `s3`.
pub fn is_s3_request(headers: &http::HeaderMap, query: Option<&str>) -> bool {
    let scope_service = |credential: &str| {
        // <key>/<date>/<region>/<service>/aws4_request
        credential.split('/').nth(3).map(str::to_owned)
    };
    if let Some(auth) = headers
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        && let Some(rest) = auth.split("Credential=").nth(1)
    {
        let credential = rest.split([',', ' ']).next().unwrap_or("");
        return scope_service(credential).as_deref() == Some("s3");
    }
    query.is_some_and(|q| {
        q.split('&')
            .filter_map(|p| p.strip_prefix("X-Amz-Credential="))
            .any(|c| {
                let decoded = c.replace("%2F", "/").replace("%2f", "/");
                scope_service(&decoded).as_deref() == Some("s3")
            })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tells_s3_requests_by_their_scope() {
        let mut h = http::HeaderMap::new();
        h.insert(
            http::header::AUTHORIZATION,
            http::HeaderValue::from_static(
                "AWS4-HMAC-SHA256 Credential=AKID/20261201/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=00",
            ),
        );
        assert!(is_s3_request(&h, None));
        h.insert(
            http::header::AUTHORIZATION,
            http::HeaderValue::from_static(
                "AWS4-HMAC-SHA256 Credential=AKID/20261201/us-east-1/lambda/aws4_request, SignedHeaders=host, Signature=00",
            ),
        );
        assert!(!is_s3_request(&h, None));
        let empty = http::HeaderMap::new();
        assert!(is_s3_request(
            &empty,
            Some(
                "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKID%2F20261201%2Fus-east-1%2Fs3%2Faws4_request"
            )
        ));
        assert!(!is_s3_request(&empty, Some("Qualifier=1")));
    }
}
