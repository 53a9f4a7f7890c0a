//! Signatures made by aws-sigv4 (the AWS SDK's signer) must verify; tampered ones must not.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
use aws_sigv4::sign::v4;

use super::*;

fn signed(
    method: &str,
    path: &str,
    query: &str,
    body: &[u8],
    secret: &str,
    at: SystemTime,
) -> Vec<(String, String)> {
    let identity =
        aws_credential_types::Credentials::new("AKIDEXAMPLE", secret, None, None, "test").into();
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region("eu-west-1")
        .name("lambda")
        .time(at)
        .settings(SigningSettings::default())
        .build()
        .unwrap_or_else(|e| panic!("{e}"))
        .into();
    let url = if query.is_empty() {
        format!("http://127.0.0.1:9001{path}")
    } else {
        format!("http://127.0.0.1:9001{path}?{query}")
    };
    let base = [("host".to_string(), "127.0.0.1:9001".to_string())];
    let req = SignableRequest::new(
        method,
        url,
        base.iter().map(|(k, v)| (k.as_str(), v.as_str())),
        SignableBody::Bytes(body),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let (instructions, _) = sign(req, &params)
        .unwrap_or_else(|e| panic!("{e}"))
        .into_parts();
    let mut headers = base.to_vec();
    for (k, v) in instructions.headers() {
        headers.push((k.to_string(), v.to_string()));
    }
    headers
}

fn check(
    method: &str,
    path: &str,
    query: &str,
    body: &[u8],
    secret_used: &str,
    secret_known: &str,
) -> Result<(), SigV4Error> {
    let now = SystemTime::now();
    let headers = signed(method, path, query, body, secret_used, now);
    let auth_header = headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("authorization"))
        .map(|(_, v)| v.clone())
        .unwrap_or_default();
    let auth = parse_authorization(&auth_header)?;
    assert_eq!(auth.region, "eu-west-1");
    let hash = payload_hash(body);
    let parts = RequestParts {
        method,
        raw_path: path,
        raw_query: query,
        headers: &headers,
        payload_hash: &hash,
    };
    verify(&parts, &auth, secret_known, "lambda", unix(now))
}

fn unix(t: SystemTime) -> i64 {
    t.duration_since(UNIX_EPOCH)
        .unwrap_or(Duration::ZERO)
        .as_secs() as i64
}

/// Signs a POST of `body` with settings of our choosing, returning its headers and parsed
/// authorization.
fn signed_with(
    body: &[u8],
    settings: SigningSettings,
    name: &str,
    region: &str,
) -> (Vec<(String, String)>, Authorization) {
    let identity =
        aws_credential_types::Credentials::new("AKIDEXAMPLE", "s3cret", None, None, "test").into();
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(region)
        .name(name)
        .time(SystemTime::now())
        .settings(settings)
        .build()
        .unwrap_or_else(|e| panic!("{e}"))
        .into();
    let base = [("host".to_string(), "127.0.0.1:9001".to_string())];
    let req = SignableRequest::new(
        "POST",
        "http://127.0.0.1:9001/2015-03-31/functions",
        base.iter().map(|(k, v)| (k.as_str(), v.as_str())),
        SignableBody::Bytes(body),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let (instructions, _) = sign(req, &params)
        .unwrap_or_else(|e| panic!("{e}"))
        .into_parts();
    let mut headers = base.to_vec();
    for (k, v) in instructions.headers() {
        headers.push((k.to_string(), v.to_string()));
    }
    let auth = headers
        .iter()
        .find(|(k, _)| k == "authorization")
        .map(|(_, v)| parse_authorization(v))
        .unwrap_or_else(|| panic!("no authorization header"))
        .unwrap_or_else(|e| panic!("{e}"));
    (headers, auth)
}

fn verify_body(
    headers: &[(String, String)],
    auth: &Authorization,
    body: &[u8],
) -> Result<(), SigV4Error> {
    let hash = payload_hash(body);
    let parts = RequestParts {
        method: "POST",
        raw_path: "/2015-03-31/functions",
        raw_query: "",
        headers,
        payload_hash: &hash,
    };
    verify(&parts, auth, "s3cret", "lambda", unix(SystemTime::now()))
}

#[test]
fn accepts_sdk_signatures() {
    assert_eq!(
        check("GET", "/2015-03-31/functions", "", b"", "s3cret", "s3cret"),
        Ok(())
    );
    assert_eq!(
        check(
            "POST",
            "/2015-03-31/functions",
            "",
            br#"{"FunctionName":"f"}"#,
            "s3cret",
            "s3cret"
        ),
        Ok(())
    );
    assert_eq!(
        check(
            "GET",
            "/2015-03-31/functions/arn%3Aaws%3Alambda%3Aeu-west-1%3A000000000000%3Afunction%3Af/configuration",
            "Qualifier=%24LATEST&MaxItems=5",
            b"",
            "s3cret",
            "s3cret"
        ),
        Ok(())
    );
}

#[test]
fn rejects_wrong_secret() {
    assert_eq!(
        check("GET", "/2015-03-31/functions", "", b"", "s3cret", "other"),
        Err(SigV4Error::Mismatch)
    );
}

#[test]
fn rejects_malformed_headers() {
    assert!(parse_authorization("Basic Zm9vOmJhcg==").is_err());
    assert!(parse_authorization("AWS4-HMAC-SHA256 Credential=AK/2024/us-east-1/lambda").is_err());
}

#[test]
fn parses_amz_dates() {
    assert_eq!(parse_amz_date("20231114T221320Z"), Some(1_700_000_000));
    assert_eq!(parse_amz_date("2023-11-14"), None);
}

#[test]
fn rejects_another_body_under_the_same_signature() {
    let (headers, auth) = signed_with(
        b"{\"a\":1}",
        SigningSettings::default(),
        "lambda",
        "us-east-1",
    );
    assert_eq!(verify_body(&headers, &auth, b"{\"a\":1}"), Ok(()));
    assert_eq!(
        verify_body(&headers, &auth, b"{\"a\":2}"),
        Err(SigV4Error::Mismatch)
    );
}

#[test]
fn checks_a_declared_payload_hash_against_the_body() {
    let mut settings = SigningSettings::default();
    settings.payload_checksum_kind = aws_sigv4::http_request::PayloadChecksumKind::XAmzSha256;
    let body = b"{\"a\":1}";
    let (headers, auth) = signed_with(body, settings, "lambda", "us-east-1");
    let declared = declared_payload_hash(&headers)
        .unwrap_or_else(|e| panic!("{e}"))
        .unwrap_or_else(|| panic!("x-amz-content-sha256 not sent"));
    // The signature verifies before the body is read, over the declared hash...
    let parts = RequestParts {
        method: "POST",
        raw_path: "/2015-03-31/functions",
        raw_query: "",
        headers: &headers,
        payload_hash: &declared,
    };
    assert_eq!(
        verify(&parts, &auth, "s3cret", "lambda", unix(SystemTime::now())),
        Ok(())
    );
    // ...and the body read afterwards must hash to it.
    assert_eq!(check_payload_hash(&declared, &payload_hash(body)), Ok(()));
    assert_eq!(
        check_payload_hash(&declared, &payload_hash(b"{\"a\":2}")),
        Err(SigV4Error::PayloadHashMismatch)
    );
}

#[test]
fn refuses_unsigned_payloads() {
    let h = |v: &str| vec![("X-Amz-Content-Sha256".to_string(), v.to_string())];
    assert_eq!(
        declared_payload_hash(&h("UNSIGNED-PAYLOAD")),
        Err(SigV4Error::UnsignedPayload("UNSIGNED-PAYLOAD".into()))
    );
    assert!(matches!(
        declared_payload_hash(&h("STREAMING-AWS4-HMAC-SHA256-PAYLOAD")),
        Err(SigV4Error::UnsignedPayload(_))
    ));
    assert_eq!(
        declared_payload_hash(&h("zz")),
        Err(SigV4Error::PayloadHashMismatch)
    );
    assert_eq!(declared_payload_hash(&[]), Ok(None));
    // Signed with UNSIGNED-PAYLOAD in the canonical request: the real hash does not verify.
    let mut settings = SigningSettings::default();
    settings.payload_checksum_kind = aws_sigv4::http_request::PayloadChecksumKind::XAmzSha256;
    let identity =
        aws_credential_types::Credentials::new("AKIDEXAMPLE", "s3cret", None, None, "test").into();
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region("us-east-1")
        .name("lambda")
        .time(SystemTime::now())
        .settings(settings)
        .build()
        .unwrap_or_else(|e| panic!("{e}"))
        .into();
    let base = [("host".to_string(), "127.0.0.1:9001".to_string())];
    let req = SignableRequest::new(
        "POST",
        "http://127.0.0.1:9001/2015-03-31/functions",
        base.iter().map(|(k, v)| (k.as_str(), v.as_str())),
        SignableBody::UnsignedPayload,
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let (instructions, _) = sign(req, &params)
        .unwrap_or_else(|e| panic!("{e}"))
        .into_parts();
    let mut headers = base.to_vec();
    for (k, v) in instructions.headers() {
        headers.push((k.to_string(), v.to_string()));
    }
    assert!(matches!(
        declared_payload_hash(&headers),
        Err(SigV4Error::UnsignedPayload(_))
    ));
    let auth = headers
        .iter()
        .find(|(k, _)| k == "authorization")
        .map(|(_, v)| parse_authorization(v))
        .unwrap_or_else(|| panic!("no authorization header"))
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        verify_body(&headers, &auth, b"x"),
        Err(SigV4Error::Mismatch)
    );
}

#[test]
fn requires_host_to_be_signed() {
    let (headers, mut auth) = signed_with(b"", SigningSettings::default(), "lambda", "us-east-1");
    auth.signed_headers.retain(|h| h != "host");
    assert_eq!(
        precheck(&headers, &auth, "lambda", unix(SystemTime::now())),
        Err(SigV4Error::HostNotSigned)
    );
}

#[test]
fn requires_the_lambda_service_in_the_scope() {
    let (headers, auth) = signed_with(b"", SigningSettings::default(), "s3", "us-east-1");
    assert_eq!(
        verify_body(&headers, &auth, b""),
        Err(SigV4Error::WrongService {
            expected: "lambda".into(),
            found: "s3".into()
        })
    );
}

#[test]
fn requires_a_region_shaped_region_in_the_scope() {
    for bad in [
        "..",
        "us-east-1..",
        "US-EAST-1",
        "us-east-12",
        "a-b-1",
        "us-east-",
        "us_east_1",
        "",
    ] {
        assert!(!is_region(bad), "{bad:?} passed");
    }
    for good in [
        "us-east-1",
        "eu-central-2",
        "us-gov-west-1",
        "ap-southeast-4",
    ] {
        assert!(is_region(good), "{good:?} failed");
    }
    let (headers, auth) = signed_with(b"", SigningSettings::default(), "lambda", "..");
    assert_eq!(
        verify_body(&headers, &auth, b""),
        Err(SigV4Error::InvalidRegion("..".into()))
    );
    assert!(matches!(
        parse_authorization(
            "AWS4-HMAC-SHA256 Credential=AK/20240101/us-east-1/../x/lambda/aws4_request, SignedHeaders=host, Signature=00"
        ),
        Err(SigV4Error::MalformedCredential(_))
    ));
}
