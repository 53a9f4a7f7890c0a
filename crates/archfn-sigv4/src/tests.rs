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
    let parts = RequestParts {
        method,
        raw_path: path,
        raw_query: query,
        headers: &headers,
        body,
    };
    let now_s = now
        .duration_since(UNIX_EPOCH)
        .unwrap_or(Duration::ZERO)
        .as_secs() as i64;
    verify(&parts, &auth, secret_known, now_s)
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
