//! The payload format 2.0 event a function URL request becomes, as Lambda builds it.
//!
//! Lambda's rules (AWS's "Invoking Lambda function URLs", request payload): header names are
//! lower-cased and repeated headers joined with commas; `Cookie` headers leave `headers` and
//! become the `cookies` list; `queryStringParameters` holds the decoded parameters, repeated
//! ones joined with commas, and is absent without a query string, as `cookies` is without
//! cookies and `body` without a body; `requestContext.accountId` is `anonymous` for an
//! AuthType NONE URL, and an AWS_IAM request carries `requestContext.authorizer.iam`; a body
//! that is not text (by its content type) is base64-encoded with `isBase64Encoded` true.

use axum::http::HeaderMap;
use base64::Engine as _;
use percent_encoding::percent_decode_str;
use serde_json::{Map, Value, json};

/// The caller of an AWS_IAM URL, as the event's `authorizer.iam` shows it.
#[derive(Debug, Clone)]
pub(crate) struct IamCaller {
    /// The signing key's id.
    pub access_key: String,
    /// The caller's account.
    pub account_id: String,
}

/// A request to a function URL, as the event needs it.
#[derive(Debug)]
pub(crate) struct UrlRequest<'a> {
    /// The URL id.
    pub url_id: &'a str,
    /// The `Host` the request named (the URL's domain).
    pub domain: &'a str,
    /// The HTTP method.
    pub method: &'a str,
    /// The path as sent.
    pub raw_path: &'a str,
    /// The query string as sent (without `?`).
    pub raw_query: &'a str,
    /// The headers.
    pub headers: &'a HeaderMap,
    /// The body.
    pub body: &'a [u8],
    /// The peer's address.
    pub source_ip: String,
    /// The HTTP version (`HTTP/1.1`).
    pub protocol: &'a str,
    /// `requestContext.requestId`.
    pub request_id: &'a str,
    /// Arrival, Unix milliseconds.
    pub time_ms: i64,
    /// The caller of an AWS_IAM URL (`None` for AuthType NONE).
    pub caller: Option<&'a IamCaller>,
}

/// Whether a body of `content_type` travels as text: `text/*` and the JSON, XML and
/// JavaScript types; everything else (form posts and multipart included) is base64.
fn is_text(content_type: Option<&str>) -> bool {
    let Some(ct) = content_type else {
        return false;
    };
    let ct = ct
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    ct.starts_with("text/")
        || ct.ends_with("/json")
        || ct.ends_with("+json")
        || ct.ends_with("/xml")
        || ct.ends_with("+xml")
        || ct.ends_with("/javascript")
}

/// The request's time as Lambda prints it: `12/Mar/2020:19:03:58 +0000`.
fn clf_time(ms: i64) -> String {
    match jiff::Timestamp::from_millisecond(ms) {
        Ok(ts) => ts.strftime("%d/%b/%Y:%H:%M:%S +0000").to_string(),
        Err(_) => "01/Jan/1970:00:00:00 +0000".into(),
    }
}

fn decode(s: &str) -> String {
    percent_decode_str(&s.replace('+', " "))
        .decode_utf8_lossy()
        .into_owned()
}

/// The query parameters, decoded, repeated ones joined with commas (first-seen order).
fn query_parameters(raw: &str) -> Map<String, Value> {
    let mut out: Vec<(String, String)> = Vec::new();
    for pair in raw.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let (k, v) = (decode(k), decode(v));
        match out.iter_mut().find(|(name, _)| *name == k) {
            Some((_, joined)) => {
                joined.push(',');
                joined.push_str(&v);
            }
            None => out.push((k, v)),
        }
    }
    out.into_iter()
        .map(|(k, v)| (k, Value::String(v)))
        .collect()
}

/// The event for `req`.
pub(crate) fn build(req: &UrlRequest<'_>) -> Value {
    let mut headers: Map<String, Value> = Map::new();
    let mut cookies: Vec<Value> = Vec::new();
    for (name, value) in req.headers {
        let Ok(value) = value.to_str() else { continue };
        let name = name.as_str().to_ascii_lowercase();
        if name == "cookie" {
            cookies.extend(
                value
                    .split(';')
                    .map(str::trim)
                    .filter(|c| !c.is_empty())
                    .map(|c| Value::String(c.to_string())),
            );
            continue;
        }
        match headers.get_mut(&name) {
            Some(Value::String(joined)) => {
                joined.push(',');
                joined.push_str(value);
            }
            _ => {
                headers.insert(name, Value::String(value.to_string()));
            }
        }
    }
    headers
        .entry("x-forwarded-for")
        .or_insert_with(|| Value::String(req.source_ip.clone()));
    headers
        .entry("x-forwarded-proto")
        .or_insert_with(|| Value::String("http".into()));
    let user_agent = headers
        .get("user-agent")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let content_type = headers
        .get("content-type")
        .and_then(Value::as_str)
        .map(str::to_string);

    let mut context = Map::new();
    context.insert(
        "accountId".into(),
        json!(match req.caller {
            Some(c) => c.account_id.as_str(),
            None => "anonymous",
        }),
    );
    context.insert("apiId".into(), json!(req.url_id));
    if let Some(c) = req.caller {
        context.insert(
            "authorizer".into(),
            json!({ "iam": {
                "accessKey": c.access_key,
                "accountId": c.account_id,
                "callerId": c.access_key,
                "cognitoIdentity": null,
                "principalOrgId": null,
                "userArn": format!("arn:aws:iam::{}:root", c.account_id),
                "userId": c.access_key,
            }}),
        );
    }
    context.insert("domainName".into(), json!(req.domain));
    context.insert("domainPrefix".into(), json!(req.url_id));
    context.insert(
        "http".into(),
        json!({
            "method": req.method,
            "path": req.raw_path,
            "protocol": req.protocol,
            "sourceIp": req.source_ip,
            "userAgent": user_agent,
        }),
    );
    context.insert("requestId".into(), json!(req.request_id));
    context.insert("routeKey".into(), json!("$default"));
    context.insert("stage".into(), json!("$default"));
    context.insert("time".into(), json!(clf_time(req.time_ms)));
    context.insert("timeEpoch".into(), json!(req.time_ms));

    let mut event = Map::new();
    event.insert("version".into(), json!("2.0"));
    event.insert("routeKey".into(), json!("$default"));
    event.insert("rawPath".into(), json!(req.raw_path));
    event.insert("rawQueryString".into(), json!(req.raw_query));
    if !cookies.is_empty() {
        event.insert("cookies".into(), Value::Array(cookies));
    }
    event.insert("headers".into(), Value::Object(headers));
    if !req.raw_query.is_empty() {
        event.insert(
            "queryStringParameters".into(),
            Value::Object(query_parameters(req.raw_query)),
        );
    }
    event.insert("requestContext".into(), Value::Object(context));
    let mut base64 = false;
    if !req.body.is_empty() {
        let text = is_text(content_type.as_deref())
            .then(|| std::str::from_utf8(req.body).ok())
            .flatten();
        let body = match text {
            Some(t) => t.to_string(),
            None => {
                base64 = true;
                base64::engine::general_purpose::STANDARD.encode(req.body)
            }
        };
        event.insert("body".into(), json!(body));
    }
    event.insert("isBase64Encoded".into(), json!(base64));
    Value::Object(event)
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn builds_lambdas_event() {
        let mut h = HeaderMap::new();
        h.append("X-Multi", HeaderValue::from_static("a"));
        h.append("x-multi", HeaderValue::from_static("b"));
        h.append("Cookie", HeaderValue::from_static("c1=v1; c2=v2"));
        h.append("content-type", HeaderValue::from_static("image/png"));
        let req = UrlRequest {
            url_id: "id",
            domain: "id.lambda-url.us-east-1.localhost:9001",
            method: "POST",
            raw_path: "/p/a%20th",
            raw_query: "q=1&q=2&x=a%2Cb",
            headers: &h,
            body: &[0xff, 0x00],
            source_ip: "127.0.0.1".into(),
            protocol: "HTTP/1.1",
            request_id: "rid",
            time_ms: 1_583_348_638_390,
            caller: None,
        };
        let e = build(&req);
        assert_eq!(e["headers"]["x-multi"], "a,b");
        assert!(e["headers"].get("cookie").is_none());
        assert_eq!(e["cookies"], json!(["c1=v1", "c2=v2"]));
        assert_eq!(e["queryStringParameters"], json!({"q": "1,2", "x": "a,b"}));
        assert_eq!(e["requestContext"]["accountId"], "anonymous");
        assert_eq!(e["requestContext"]["time"], "04/Mar/2020:19:03:58 +0000");
        assert_eq!(e["isBase64Encoded"], true);
        assert_eq!(e["body"], "/wA=");
    }

    #[test]
    fn text_types_stay_text() {
        assert!(is_text(Some("application/json; charset=utf-8")));
        assert!(is_text(Some("text/plain")));
        assert!(!is_text(Some("application/x-www-form-urlencoded")));
        assert!(!is_text(None));
    }
}
