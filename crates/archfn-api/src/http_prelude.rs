//! The HTTP prelude of a streamed answer that Node.js's `awslambda.HttpResponseStream.from`
//! writes for function URLs: a JSON document (`statusCode`, `headers`, `cookies`), then eight
//! NUL bytes, then the body. The runtime marks such a stream with the content type
//! [`HTTP_INTEGRATION_CONTENT_TYPE`]. A function URL in `RESPONSE_STREAM` mode reads the prelude
//! with [`PreludeReader`] for its status and headers, and streams the rest as the body.

use bytes::{Bytes, BytesMut};

/// The content type of a stream that begins with an HTTP prelude.
pub const HTTP_INTEGRATION_CONTENT_TYPE: &str =
    "application/vnd.awslambda.http-integration-response";

/// What ends the prelude.
const DELIMITER: [u8; 8] = [0; 8];

/// The largest prelude read (headers and cookies included); past it the stream is refused.
pub const PRELUDE_MAX_BYTES: usize = 64 * 1024;

/// Status and headers from an HTTP prelude.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpPrelude {
    /// `statusCode` (200 when absent).
    pub status_code: u16,
    /// `headers`, in the document's order, values as strings.
    pub headers: Vec<(String, String)>,
    /// `cookies`, each a `Set-Cookie` value.
    pub cookies: Vec<String>,
}

/// Why a prelude cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PreludeError {
    /// No delimiter within [`PRELUDE_MAX_BYTES`].
    #[error("the HTTP prelude is longer than {PRELUDE_MAX_BYTES} bytes")]
    TooLong,
    /// The stream ended before the delimiter.
    #[error("the stream ended inside the HTTP prelude")]
    Unterminated,
    /// The prelude is not the JSON document expected.
    #[error("the HTTP prelude is not valid: {0}")]
    Invalid(String),
}

impl HttpPrelude {
    /// Parses the JSON document of a prelude.
    pub fn parse(json: &[u8]) -> Result<HttpPrelude, PreludeError> {
        let invalid = |m: String| PreludeError::Invalid(m);
        let doc: serde_json::Value = if json.iter().all(u8::is_ascii_whitespace) {
            serde_json::Value::Object(serde_json::Map::new())
        } else {
            serde_json::from_slice(json).map_err(|e| invalid(e.to_string()))?
        };
        let obj = doc
            .as_object()
            .ok_or_else(|| invalid("not a JSON object".into()))?;
        let status_code = match obj.get("statusCode") {
            None | Some(serde_json::Value::Null) => 200,
            Some(v) => v
                .as_u64()
                .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
                .and_then(|n| u16::try_from(n).ok())
                .filter(|n| (100..=599).contains(n))
                .ok_or_else(|| invalid(format!("statusCode {v}")))?,
        };
        let text = |v: &serde_json::Value| match v {
            serde_json::Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        let headers = match obj.get("headers") {
            Some(serde_json::Value::Object(h)) => {
                h.iter().map(|(k, v)| (k.clone(), text(v))).collect()
            }
            None | Some(serde_json::Value::Null) => Vec::new(),
            Some(_) => return Err(invalid("headers is not an object".into())),
        };
        let cookies = match obj.get("cookies") {
            Some(serde_json::Value::Array(c)) => c.iter().map(text).collect(),
            None | Some(serde_json::Value::Null) => Vec::new(),
            Some(_) => return Err(invalid("cookies is not an array".into())),
        };
        Ok(HttpPrelude {
            status_code,
            headers,
            cookies,
        })
    }
}

/// Reads a prelude from a stream's first chunks, however they are cut.
#[derive(Debug, Default)]
pub struct PreludeReader {
    seen: BytesMut,
}

impl PreludeReader {
    /// A reader at the start of a stream.
    pub fn new() -> PreludeReader {
        PreludeReader::default()
    }

    /// Takes the stream's next chunk: `Ok(None)` while the prelude is not complete, then the
    /// prelude and what of the chunks came after it (the body's first bytes, maybe empty).
    pub fn push(&mut self, chunk: &[u8]) -> Result<Option<(HttpPrelude, Bytes)>, PreludeError> {
        self.seen.extend_from_slice(chunk);
        let Some(at) = self
            .seen
            .windows(DELIMITER.len())
            .position(|w| w == DELIMITER)
        else {
            if self.seen.len() > PRELUDE_MAX_BYTES + DELIMITER.len() {
                return Err(PreludeError::TooLong);
            }
            return Ok(None);
        };
        if at > PRELUDE_MAX_BYTES {
            return Err(PreludeError::TooLong);
        }
        let mut seen = std::mem::take(&mut self.seen);
        let rest = seen.split_off(at + DELIMITER.len()).freeze();
        let prelude = HttpPrelude::parse(&seen[..at])?;
        Ok(Some((prelude, rest)))
    }

    /// The stream ended: a prelude never completed is an error.
    pub fn finish(self) -> Result<(), PreludeError> {
        Err(PreludeError::Unterminated)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_prelude_cut_anywhere_is_read_with_the_body_after_it() {
        let stream: Vec<u8> = [
            &br#"{"statusCode":201,"headers":{"Content-Type":"text/plain","X-N":3},"cookies":["a=1","b=2"]}"#[..],
            &DELIMITER,
            b"hello",
        ]
        .concat();
        for cut in 1..stream.len() {
            let mut reader = PreludeReader::new();
            let (prelude, body) = match reader.push(&stream[..cut]) {
                // Done with the first part: the body is what came after, then the rest.
                Ok(Some((prelude, after))) => (prelude, [after.as_ref(), &stream[cut..]].concat()),
                Ok(None) => match reader.push(&stream[cut..]) {
                    Ok(Some((prelude, after))) => (prelude, after.to_vec()),
                    other => panic!("cut {cut}: {other:?}"),
                },
                Err(e) => panic!("cut {cut}: {e}"),
            };
            assert_eq!(prelude.status_code, 201);
            assert_eq!(
                prelude.headers,
                vec![
                    ("Content-Type".to_string(), "text/plain".to_string()),
                    ("X-N".to_string(), "3".to_string())
                ]
            );
            assert_eq!(prelude.cookies, vec!["a=1", "b=2"]);
            assert_eq!(body, b"hello", "cut {cut}");
        }
    }

    #[test]
    fn defaults_and_refusals() {
        let mut reader = PreludeReader::new();
        let got = reader.push(&[b"{}".as_slice(), &DELIMITER].concat());
        assert_eq!(
            got,
            Ok(Some((
                HttpPrelude {
                    status_code: 200,
                    headers: Vec::new(),
                    cookies: Vec::new()
                },
                Bytes::new()
            )))
        );
        let mut reader = PreludeReader::new();
        assert!(matches!(
            reader.push(&[b"[1]".as_slice(), &DELIMITER].concat()),
            Err(PreludeError::Invalid(_))
        ));
        let mut reader = PreludeReader::new();
        assert!(matches!(
            reader.push(&[br#"{"statusCode":1000}"#.as_slice(), &DELIMITER].concat()),
            Err(PreludeError::Invalid(_))
        ));
        let mut reader = PreludeReader::new();
        assert_eq!(
            reader.push(&vec![b' '; PRELUDE_MAX_BYTES + 9]),
            Err(PreludeError::TooLong)
        );
        let mut reader = PreludeReader::new();
        assert_eq!(reader.push(b"{\"statusCode\":"), Ok(None));
        assert_eq!(reader.finish(), Err(PreludeError::Unterminated));
    }
}
