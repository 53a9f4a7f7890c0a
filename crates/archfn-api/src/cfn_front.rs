//! CloudFormation's query API on the same endpoint: requests signed for the service
//! `cloudformation`, and (in open mode) unsigned form posts whose `Action` and
//! `Version=2010-05-15` are CloudFormation's, go to `archfn-cloudformation`.

use axum::body::Body;
use axum::extract::Request;
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::AppState;
use crate::auth::{AuthMode, read_cloudformation_body, verify_request_for};
use crate::error::ApiError;

/// The service name of CloudFormation's SigV4 scope.
const SERVICE: &str = "cloudformation";

/// The service and region of a request's SigV4 credential scope, if it has one.
pub(crate) fn scope(req: &Request) -> Option<(String, String)> {
    let auth = req.headers().get(header::AUTHORIZATION)?.to_str().ok()?;
    let rest = auth.split("Credential=").nth(1)?;
    let credential = rest.split([',', ' ']).next()?;
    let mut parts = credential.split('/');
    let region = parts.nth(2)?.to_owned();
    let service = parts.next()?.to_owned();
    Some((service, region))
}

/// A form POST to `/`, as the query protocols (CloudFormation, STS) send when unsigned.
pub(crate) fn is_form_post(req: &Request) -> bool {
    req.method() == Method::POST
        && req.uri().path() == "/"
        && req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"))
}

/// Answers a CloudFormation request, or hands the request back when it is not one.
pub(crate) async fn route(state: &AppState, req: Request) -> Result<Response, Request> {
    let Some(cfn) = &state.cloudformation else {
        return Err(req);
    };
    let scope = scope(&req);
    let signed_for_cfn = scope.as_ref().is_some_and(|(s, _)| s == SERVICE);
    let open = matches!(state.auth.as_ref(), AuthMode::Open);
    let unsigned_form = scope.is_none() && open && is_form_post(&req);
    if !(signed_for_cfn || unsigned_form) {
        return Err(req);
    }
    let (parts, body) = req.into_parts();
    let (bytes, _budget) = match read_cloudformation_body(body, &state.body_budget).await {
        Ok(read) => read,
        Err(e) => return Ok(xml_error(e)),
    };
    if !signed_for_cfn && !archfn_cloudformation::is_cloudformation_form(&bytes) {
        return Err(Request::from_parts(parts, Body::from(bytes)));
    }
    let region = match (&scope, state.auth.as_ref()) {
        (Some((_, region)), AuthMode::SigV4(creds)) => {
            if let Err(e) = verify_request_for(creds, &parts, &bytes, SERVICE) {
                return Ok(xml_error(e));
            }
            region.clone()
        }
        (Some((_, region)), AuthMode::Open) if archfn_sigv4::is_region(region) => region.clone(),
        _ => state.default_region.clone(),
    };
    let (status, xml) = cfn.handle(&region, &bytes).await;
    Ok(xml_response(status, xml))
}

/// A refusal of the API's (signature, size, budget) in the query protocol's XML, with the codes
/// CloudFormation gives them.
fn xml_error(e: ApiError) -> Response {
    let (status, kind, message) = e.parts();
    let code = match kind {
        "InvalidSignatureException" => "SignatureDoesNotMatch",
        "UnrecognizedClientException" => "InvalidClientTokenId",
        "TooManyRequestsException" => "Throttling",
        "RequestEntityTooLargeException" => "ValidationError",
        other => other,
    };
    let fault = if status.is_server_error() {
        "Receiver"
    } else {
        "Sender"
    };
    let error = archfn_cloudformation::wire::error_xml(fault, code, message);
    xml_response(status.as_u16(), error)
}

fn xml_response(status: u16, xml: String) -> Response {
    let mut resp = (
        StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
        xml,
    )
        .into_response();
    resp.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("text/xml"));
    resp
}
