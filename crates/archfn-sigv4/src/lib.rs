//! AWS Signature Version 4: parsing the `Authorization` header and verifying a signature.
//!
//! Owns: the canonical request, string to sign and signing key of SigV4 as AWS defines them
//! for services other than S3 (each path segment URI-encoded twice).
//! Must not: do IO or know which credentials exist; the caller supplies the secret.
#![warn(missing_docs)]

use hmac::{Hmac, Mac};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, percent_decode_str, utf8_percent_encode};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

const ALGORITHM: &str = "AWS4-HMAC-SHA256";
/// Characters SigV4 leaves unencoded: A-Z a-z 0-9 - _ . ~
const UNRESERVED: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// The value of `x-amz-content-sha256` that says the payload is not signed.
pub const UNSIGNED_PAYLOAD: &str = "UNSIGNED-PAYLOAD";

/// Why a request's signature is not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SigV4Error {
    /// The request carries no `Authorization` header.
    #[error("missing authentication token")]
    Missing,
    /// The header is not a SigV4 header.
    #[error("malformed authorization header: {0}")]
    Malformed(String),
    /// The credential is not `keyid/date/region/service/aws4_request`.
    #[error("malformed credential {0:?}")]
    MalformedCredential(String),
    /// The signature does not match.
    #[error("signature does not match")]
    Mismatch,
    /// The request time is too far from now.
    #[error("signature expired: request time {0} is more than 15 minutes from now")]
    Expired(String),
    /// The credential scope names another service than the one verifying.
    #[error("credential scoped to service {found:?}, not {expected:?}")]
    WrongService {
        /// The service the verifier is.
        expected: String,
        /// The service the scope names.
        found: String,
    },
    /// The credential scope's region does not have the shape of an AWS region.
    #[error("credential scoped to an invalid region {0:?}")]
    InvalidRegion(String),
    /// `host` is not among the signed headers.
    #[error("host is not a signed header")]
    HostNotSigned,
    /// `x-amz-content-sha256` is `UNSIGNED-PAYLOAD` or a streaming mode: the body is not signed.
    #[error("unsigned payload {0:?}")]
    UnsignedPayload(String),
    /// The body's SHA-256 differs from the signed `x-amz-content-sha256`.
    #[error("x-amz-content-sha256 does not match the body")]
    PayloadHashMismatch,
}

/// The parts of a parsed `Authorization` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authorization {
    /// Access key id.
    pub access_key: String,
    /// `YYYYMMDD` of the credential scope.
    pub date: String,
    /// Region of the credential scope.
    pub region: String,
    /// Service of the credential scope.
    pub service: String,
    /// Lower-case header names, in the order signed.
    pub signed_headers: Vec<String>,
    /// Hex signature.
    pub signature: String,
}

impl Authorization {
    /// The credential scope `date/region/service/aws4_request`.
    pub fn scope(&self) -> String {
        format!(
            "{}/{}/{}/aws4_request",
            self.date, self.region, self.service
        )
    }
}

/// Parses `AWS4-HMAC-SHA256 Credential=AK/20240101/us-east-1/lambda/aws4_request, SignedHeaders=host;x-amz-date, Signature=…`.
pub fn parse_authorization(header: &str) -> Result<Authorization, SigV4Error> {
    let malformed = |m: &str| SigV4Error::Malformed(m.to_string());
    let rest = header
        .strip_prefix(ALGORITHM)
        .ok_or_else(|| malformed("unsupported algorithm"))?;
    let (mut credential, mut signed, mut signature) = (None, None, None);
    for part in rest.split(',') {
        let part = part.trim();
        if let Some(v) = part.strip_prefix("Credential=") {
            credential = Some(v);
        } else if let Some(v) = part.strip_prefix("SignedHeaders=") {
            signed = Some(v);
        } else if let Some(v) = part.strip_prefix("Signature=") {
            signature = Some(v);
        }
    }
    let credential = credential.ok_or_else(|| malformed("missing Credential"))?;
    let c: Vec<&str> = credential.split('/').collect();
    if c.len() != 5 || c[4] != "aws4_request" || c[1].len() != 8 {
        return Err(SigV4Error::MalformedCredential(credential.to_string()));
    }
    let signature = signature.ok_or_else(|| malformed("missing Signature"))?;
    let signed = signed.ok_or_else(|| malformed("missing SignedHeaders"))?;
    Ok(Authorization {
        access_key: c[0].to_string(),
        date: c[1].to_string(),
        region: c[2].to_string(),
        service: c[3].to_string(),
        signed_headers: signed.split(';').map(str::to_ascii_lowercase).collect(),
        signature: signature.to_string(),
    })
}

/// A request as the verifier needs it: the raw path and query, headers, and the hex SHA-256
/// of its body.
///
/// `payload_hash` must be the hash the server computed from the body it read, or the signed
/// `x-amz-content-sha256` value when the signature is checked before the body is read (then the
/// body's hash must be compared with it by [`check_payload_hash`] before anything is acted on).
#[derive(Debug, Clone, Copy)]
pub struct RequestParts<'a> {
    /// HTTP method.
    pub method: &'a str,
    /// Path as received (still percent-encoded).
    pub raw_path: &'a str,
    /// Query string as received, without `?`.
    pub raw_query: &'a str,
    /// All headers, names in any case.
    pub headers: &'a [(String, String)],
    /// Lower-case hex SHA-256 of the body (see the type's documentation).
    pub payload_hash: &'a str,
}

fn header<'a>(parts: &RequestParts<'a>, name: &str) -> Option<&'a str> {
    parts
        .headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

fn canonical_uri(raw_path: &str) -> String {
    if raw_path.is_empty() {
        return "/".into();
    }
    raw_path
        .split('/')
        .map(|seg| utf8_percent_encode(seg, UNRESERVED).to_string())
        .collect::<Vec<_>>()
        .join("/")
}

fn canonical_query(raw_query: &str) -> String {
    let mut pairs: Vec<(String, String)> = raw_query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            let dec = |s: &str| {
                percent_decode_str(&s.replace('+', "%20"))
                    .decode_utf8_lossy()
                    .into_owned()
            };
            let enc = |s: String| utf8_percent_encode(&s, UNRESERVED).to_string();
            (enc(dec(k)), enc(dec(v)))
        })
        .collect();
    pairs.sort();
    pairs
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&")
}

fn hmac(key: &[u8], data: &[u8]) -> Vec<u8> {
    // HMAC accepts keys of any length, so `new_from_slice` cannot fail here.
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(key) else {
        return Vec::new();
    };
    mac.update(data);
    mac.finalize().into_bytes().to_vec()
}

/// The hex signature of `parts` under `auth`'s scope with `secret`.
pub fn signature(
    parts: &RequestParts<'_>,
    auth: &Authorization,
    secret: &str,
) -> Result<String, SigV4Error> {
    let amz_date = header(parts, "x-amz-date")
        .ok_or_else(|| SigV4Error::Malformed("missing X-Amz-Date".into()))?;
    let mut canonical_headers = String::new();
    for name in &auth.signed_headers {
        let values: Vec<String> = parts
            .headers
            .iter()
            .filter(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.split_whitespace().collect::<Vec<_>>().join(" "))
            .collect();
        if values.is_empty() {
            return Err(SigV4Error::Malformed(format!(
                "signed header {name} is missing"
            )));
        }
        canonical_headers.push_str(&format!("{name}:{}\n", values.join(",")));
    }
    let payload_hash = parts.payload_hash;
    let canonical_request = format!(
        "{}\n{}\n{}\n{}\n{}\n{}",
        parts.method,
        canonical_uri(parts.raw_path),
        canonical_query(parts.raw_query),
        canonical_headers,
        auth.signed_headers.join(";"),
        payload_hash
    );
    let string_to_sign = format!(
        "{ALGORITHM}\n{amz_date}\n{}\n{}",
        auth.scope(),
        hex::encode(Sha256::digest(canonical_request.as_bytes()))
    );
    let k_date = hmac(format!("AWS4{secret}").as_bytes(), auth.date.as_bytes());
    let k_region = hmac(&k_date, auth.region.as_bytes());
    let k_service = hmac(&k_region, auth.service.as_bytes());
    let k_signing = hmac(&k_service, b"aws4_request");
    Ok(hex::encode(hmac(&k_signing, string_to_sign.as_bytes())))
}

/// Parses `YYYYMMDDTHHMMSSZ` into Unix seconds.
fn parse_amz_date(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() != 16 || b[8] != b'T' || b[15] != b'Z' {
        return None;
    }
    let num = |r: std::ops::Range<usize>| s.get(r)?.parse::<i64>().ok();
    let (y, m, d) = (num(0..4)?, num(4..6)?, num(6..8)?);
    let (hh, mm, ss) = (num(9..11)?, num(11..13)?, num(13..15)?);
    // Days from civil (Howard Hinnant's algorithm).
    let y2 = if m <= 2 { y - 1 } else { y };
    let era = y2.div_euclid(400);
    let yoe = y2 - era * 400;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(days * 86_400 + hh * 3600 + mm * 60 + ss)
}

/// Whether `r` has the shape of an AWS region: two lower-case letters, an optional `-gov`,
/// a lower-case word and one digit (`us-east-1`, `us-gov-west-1`, `ap-southeast-2`).
///
/// The region of a request becomes part of file paths, so nothing else (no `.`, no `/`) passes.
pub fn is_region(r: &str) -> bool {
    let parts: Vec<&str> = r.split('-').collect();
    let word =
        |w: &str| !w.is_empty() && w.len() <= 16 && w.bytes().all(|b| b.is_ascii_lowercase());
    let cc = |w: &str| w.len() == 2 && word(w);
    let digit = |w: &str| w.len() == 1 && w.bytes().all(|b| b.is_ascii_digit());
    match parts.as_slice() {
        [c, w, n] => cc(c) && word(w) && digit(n),
        [c, "gov", w, n] => cc(c) && word(w) && digit(n),
        _ => false,
    }
}

/// Checks the credential scope: its service must be `service` and its region an AWS region.
pub fn check_scope(auth: &Authorization, service: &str) -> Result<(), SigV4Error> {
    if auth.service != service {
        return Err(SigV4Error::WrongService {
            expected: service.to_string(),
            found: auth.service.clone(),
        });
    }
    if !is_region(&auth.region) {
        return Err(SigV4Error::InvalidRegion(auth.region.clone()));
    }
    Ok(())
}

/// The payload hash a request declares in `x-amz-content-sha256`, if it sends that header.
///
/// `UNSIGNED-PAYLOAD` and the streaming modes (`STREAMING-…`) are refused: services other than
/// S3 sign the body, and so does this verifier. Anything else must be 64 hex digits.
pub fn declared_payload_hash(headers: &[(String, String)]) -> Result<Option<String>, SigV4Error> {
    let Some(v) = headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("x-amz-content-sha256"))
        .map(|(_, v)| v.trim())
    else {
        return Ok(None);
    };
    if v == UNSIGNED_PAYLOAD || v.starts_with("STREAMING-") {
        return Err(SigV4Error::UnsignedPayload(v.to_string()));
    }
    if v.len() != 64 || !v.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(SigV4Error::PayloadHashMismatch);
    }
    Ok(Some(v.to_ascii_lowercase()))
}

/// The lower-case hex SHA-256 of `body`, as the canonical request carries it.
pub fn payload_hash(body: &[u8]) -> String {
    hex::encode(Sha256::digest(body))
}

/// Compares the hash computed from the body read with the one that was signed.
pub fn check_payload_hash(signed: &str, computed: &str) -> Result<(), SigV4Error> {
    if bool::from(
        signed
            .to_ascii_lowercase()
            .as_bytes()
            .ct_eq(computed.as_bytes()),
    ) {
        Ok(())
    } else {
        Err(SigV4Error::PayloadHashMismatch)
    }
}

/// The checks that need neither the secret nor the body: the scope names `service` and a
/// region, `host` is signed, and `X-Amz-Date` is present, within 15 minutes of `now_s` and on
/// the scope's date. Done first, so that a request failing them costs nothing more.
pub fn precheck(
    headers: &[(String, String)],
    auth: &Authorization,
    service: &str,
    now_s: i64,
) -> Result<(), SigV4Error> {
    check_scope(auth, service)?;
    if !auth.signed_headers.iter().any(|h| h == "host") {
        return Err(SigV4Error::HostNotSigned);
    }
    let amz_date = headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("x-amz-date"))
        .map(|(_, v)| v.as_str())
        .ok_or_else(|| SigV4Error::Malformed("missing X-Amz-Date".into()))?;
    let t =
        parse_amz_date(amz_date).ok_or_else(|| SigV4Error::Malformed("bad X-Amz-Date".into()))?;
    if (t - now_s).abs() > 15 * 60 {
        return Err(SigV4Error::Expired(amz_date.to_string()));
    }
    if !amz_date.starts_with(&auth.date) {
        return Err(SigV4Error::Mismatch);
    }
    Ok(())
}

/// Verifies `parts` against `auth` with `secret` for `service`, allowing 15 minutes of clock
/// skew from `now_s`: [`precheck`], then the signature over the canonical request whose payload
/// hash is `parts.payload_hash`.
pub fn verify(
    parts: &RequestParts<'_>,
    auth: &Authorization,
    secret: &str,
    service: &str,
    now_s: i64,
) -> Result<(), SigV4Error> {
    precheck(parts.headers, auth, service, now_s)?;
    let expected = signature(parts, auth, secret)?;
    if bool::from(expected.as_bytes().ct_eq(auth.signature.as_bytes())) {
        Ok(())
    } else {
        Err(SigV4Error::Mismatch)
    }
}

#[cfg(test)]
mod tests;
