//! STS on the same endpoint, GetCallerIdentity only: requests signed for the service `sts`
//! (verified under `--auth sigv4`), and in open mode unsigned form posts whose `Action` is
//! `GetCallerIdentity`. archfn's credentials carry no identity of their own: every key is the
//! server's account, so the caller is that account's root.

use axum::body::Body;
use axum::extract::Request;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::AppState;
use crate::auth::{AuthMode, read_service_body, verify_request_for};
use crate::cfn_front::{is_form_post, scope};

/// The service name of STS's SigV4 scope.
const SERVICE: &str = "sts";

/// STS's query API version.
const VERSION: &str = "2011-06-15";

/// The largest STS request body read.
const MAX_REQUEST_BYTES: usize = 64 << 10;

/// The value of `key` in a form body (or query string).
fn form_value(form: &[u8], key: &str) -> Option<String> {
    form.split(|b| *b == b'&').find_map(|pair| {
        let mut kv = pair.splitn(2, |b| *b == b'=');
        let k = decode(kv.next()?)?;
        (k == key).then(|| kv.next().and_then(decode).unwrap_or_default())
    })
}

fn decode(raw: &[u8]) -> Option<String> {
    let plus: Vec<u8> = raw
        .iter()
        .map(|b| if *b == b'+' { b' ' } else { *b })
        .collect();
    percent_encoding::percent_decode(&plus)
        .decode_utf8()
        .ok()
        .map(|s| s.into_owned())
}

/// Answers an STS request, or hands the request back when it is not one.
pub(crate) async fn route(state: &AppState, req: Request) -> Result<Response, Request> {
    let scope = scope(&req);
    let signed_for_sts = scope.as_ref().is_some_and(|(s, _)| s == SERVICE);
    let open = matches!(state.auth.as_ref(), AuthMode::Open);
    let unsigned_form = scope.is_none() && open && is_form_post(&req);
    if !(signed_for_sts || unsigned_form) {
        return Err(req);
    }
    let (parts, body) = req.into_parts();
    // An unsigned form post may be another service's: read it under the largest limit of the
    // services that take them (CloudFormation's), so that none is refused here.
    let max = if signed_for_sts {
        MAX_REQUEST_BYTES
    } else {
        MAX_REQUEST_BYTES.max(archfn_cloudformation::wire::MAX_REQUEST_BYTES)
    };
    let (bytes, _budget) = match read_service_body(body, &state.body_budget, max).await {
        Ok(read) => read,
        Err(e) => return Ok(xml_error(e.parts().0, e.parts().1, e.parts().2)),
    };
    let query = parts.uri.query().unwrap_or("").as_bytes();
    let action = form_value(&bytes, "Action").or_else(|| form_value(query, "Action"));
    if !signed_for_sts && action.as_deref() != Some("GetCallerIdentity") {
        return Err(Request::from_parts(parts, Body::from(bytes)));
    }
    if let AuthMode::SigV4(creds) = state.auth.as_ref()
        && let Err(e) = verify_request_for(creds, &parts, &bytes, SERVICE)
    {
        let (status, kind, message) = e.parts();
        let code = match kind {
            "InvalidSignatureException" => "SignatureDoesNotMatch",
            "UnrecognizedClientException" => "InvalidClientTokenId",
            other => other,
        };
        return Ok(xml_error(status, code, message));
    }
    let version = form_value(&bytes, "Version").or_else(|| form_value(query, "Version"));
    match action.as_deref() {
        Some("GetCallerIdentity") if version.as_deref() == Some(VERSION) => {
            Ok(caller_identity(state.control.account()))
        }
        Some("GetCallerIdentity") => Ok(xml_error(
            StatusCode::BAD_REQUEST,
            "InvalidAction",
            &format!(
                "Could not find operation GetCallerIdentity for version {}",
                version.unwrap_or_default()
            ),
        )),
        Some(other) => Ok(xml_error(
            StatusCode::BAD_REQUEST,
            "InvalidAction",
            &format!("Could not find operation {other} for version {VERSION}"),
        )),
        None => Ok(xml_error(
            StatusCode::BAD_REQUEST,
            "MissingAction",
            "Missing Action",
        )),
    }
}

fn caller_identity(account: &str) -> Response {
    let xml = format!(
        "<GetCallerIdentityResponse xmlns=\"https://sts.amazonaws.com/doc/{VERSION}/\">\n  \
         <GetCallerIdentityResult>\n    <Arn>arn:aws:iam::{account}:root</Arn>\n    \
         <UserId>{account}</UserId>\n    <Account>{account}</Account>\n  \
         </GetCallerIdentityResult>\n  <ResponseMetadata>\n    <RequestId>{}</RequestId>\n  \
         </ResponseMetadata>\n</GetCallerIdentityResponse>\n",
        uuid::Uuid::new_v4()
    );
    xml_response(StatusCode::OK, xml)
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn xml_error(status: StatusCode, code: &str, message: &str) -> Response {
    let fault = if status.is_server_error() {
        "Receiver"
    } else {
        "Sender"
    };
    let xml = format!(
        "<ErrorResponse xmlns=\"https://sts.amazonaws.com/doc/{VERSION}/\">\n  <Error>\n    \
         <Type>{fault}</Type>\n    <Code>{}</Code>\n    <Message>{}</Message>\n  </Error>\n  \
         <RequestId>{}</RequestId>\n</ErrorResponse>\n",
        escape(code),
        escape(message),
        uuid::Uuid::new_v4()
    );
    xml_response(status, xml)
}

fn xml_response(status: StatusCode, xml: String) -> Response {
    let mut resp = (status, xml).into_response();
    resp.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("text/xml"));
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_form_values() {
        let body = b"Action=GetCallerIdentity&Version=2011-06-15&X=a%20b+c";
        assert_eq!(
            form_value(body, "Action").as_deref(),
            Some("GetCallerIdentity")
        );
        assert_eq!(form_value(body, "X").as_deref(), Some("a b c"));
        assert_eq!(form_value(body, "Missing"), None);
    }
}
