//! The HTTP answer a function's result becomes, as Lambda maps it (AWS's "Invoking Lambda
//! function URLs", response payload; answers recorded from AWS in LocalStack's snapshots):
//! - an object with `statusCode` is a response: the status (a number, or a string of one),
//!   `headers`, `cookies` (each a `Set-Cookie`), and `body`, base64-decoded when
//!   `isBase64Encoded` is true; `content-type` is `application/json` unless the function set it;
//! - any other JSON is a 200 `application/json` answer whose body is the result itself, a JSON
//!   string unquoted (`"hello"` answers `hello`);
//! - a function error is a 502 whose body is `Internal Server Error`.

use base64::Engine as _;
use serde_json::Value;

/// An HTTP answer to send.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Mapped {
    /// Status code.
    pub status: u16,
    /// Headers, in order (`set-cookie` may repeat).
    pub headers: Vec<(String, String)>,
    /// Body.
    pub body: Vec<u8>,
}

/// The answer to a function error.
pub(crate) fn function_error() -> Mapped {
    Mapped {
        status: 502,
        headers: vec![("content-type".into(), "application/json".into())],
        body: b"Internal Server Error".to_vec(),
    }
}

fn header_value(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Maps a function's result `payload`.
pub(crate) fn map(payload: &[u8]) -> Mapped {
    let plain = |body: Vec<u8>| Mapped {
        status: 200,
        headers: vec![("content-type".into(), "application/json".into())],
        body,
    };
    let Ok(value) = serde_json::from_slice::<Value>(payload) else {
        return plain(payload.to_vec());
    };
    match &value {
        Value::String(s) => plain(s.as_bytes().to_vec()),
        Value::Object(o) if o.contains_key("statusCode") => {
            let status = match &o["statusCode"] {
                Value::Number(n) => n.as_u64(),
                Value::String(s) => s.trim().parse::<u64>().ok(),
                _ => None,
            };
            let Some(status) = status
                .and_then(|s| u16::try_from(s).ok())
                .filter(|s| (100..=599).contains(s))
            else {
                return function_error();
            };
            let mut headers: Vec<(String, String)> = Vec::new();
            if let Some(Value::Object(h)) = o.get("headers") {
                for (k, v) in h {
                    headers.push((k.to_ascii_lowercase(), header_value(v)));
                }
            }
            if !headers.iter().any(|(k, _)| k == "content-type") {
                headers.push(("content-type".into(), "application/json".into()));
            }
            if let Some(Value::Array(cookies)) = o.get("cookies") {
                for c in cookies {
                    headers.push(("set-cookie".into(), header_value(c)));
                }
            }
            let b64 = o.get("isBase64Encoded").and_then(Value::as_bool) == Some(true);
            let body = match o.get("body") {
                None | Some(Value::Null) => Vec::new(),
                Some(Value::String(s)) if b64 => {
                    match base64::engine::general_purpose::STANDARD.decode(s.trim()) {
                        Ok(b) => b,
                        Err(_) => return function_error(),
                    }
                }
                Some(Value::String(s)) => s.as_bytes().to_vec(),
                Some(other) => other.to_string().into_bytes(),
            };
            Mapped {
                status,
                headers,
                body,
            }
        }
        _ => plain(payload.to_vec()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_results_as_lambda_does() {
        assert_eq!(map(br#""hello""#).body, b"hello");
        assert_eq!(map(b"3.1").body, b"3.1");
        assert_eq!(map(br#"{"hello":"world"}"#).body, br#"{"hello":"world"}"#);
        let r = map(
            br#"{"statusCode":"418","headers":{"X-A":"1"},"cookies":["a=1","b=2"],"body":"aGk=","isBase64Encoded":true}"#,
        );
        assert_eq!(r.status, 418);
        assert_eq!(r.body, b"hi");
        assert!(r.headers.contains(&("x-a".into(), "1".into())));
        assert_eq!(
            r.headers.iter().filter(|(k, _)| k == "set-cookie").count(),
            2
        );
        assert_eq!(map(br#"{"statusCode":"x"}"#).status, 502);
    }
}
