//! The AWS event stream encoding (`application/vnd.amazon.eventstream`), as the SDKs read
//! InvokeWithResponseStream's answer: each message is a prelude (total length, headers length,
//! both big-endian u32, and the prelude's CRC32), headers, the payload, and the CRC32 of all
//! that came before it. Headers here are strings only (type 7: u16 length, bytes).

/// Bytes of the prelude with its CRC.
const PRELUDE_BYTES: usize = 12;
/// Bytes of the message's trailing CRC.
const CRC_BYTES: usize = 4;
/// The header value type of a string.
const STRING_TYPE: u8 = 7;

/// One encoded message with `headers` (name, string value) and `payload`. Header names longer
/// than 255 bytes or values longer than 65,535 are cut, which the fixed names and types used
/// here never are.
pub fn message(headers: &[(&str, &str)], payload: &[u8]) -> Vec<u8> {
    let mut encoded_headers = Vec::new();
    for (name, value) in headers {
        let name = &name.as_bytes()[..name.len().min(usize::from(u8::MAX))];
        let value = &value.as_bytes()[..value.len().min(usize::from(u16::MAX))];
        encoded_headers.push(name.len() as u8);
        encoded_headers.extend_from_slice(name);
        encoded_headers.push(STRING_TYPE);
        encoded_headers.extend_from_slice(&(value.len() as u16).to_be_bytes());
        encoded_headers.extend_from_slice(value);
    }
    let total = PRELUDE_BYTES + encoded_headers.len() + payload.len() + CRC_BYTES;
    let mut out = Vec::with_capacity(total);
    out.extend_from_slice(&u32::try_from(total).unwrap_or(u32::MAX).to_be_bytes());
    out.extend_from_slice(
        &u32::try_from(encoded_headers.len())
            .unwrap_or(u32::MAX)
            .to_be_bytes(),
    );
    let prelude_crc = crc32fast::hash(&out);
    out.extend_from_slice(&prelude_crc.to_be_bytes());
    out.extend_from_slice(&encoded_headers);
    out.extend_from_slice(payload);
    let message_crc = crc32fast::hash(&out);
    out.extend_from_slice(&message_crc.to_be_bytes());
    out
}

/// An event message: `:event-type`, `:content-type` and `:message-type event`.
pub fn event(event_type: &str, content_type: &str, payload: &[u8]) -> Vec<u8> {
    message(
        &[
            (":event-type", event_type),
            (":content-type", content_type),
            (":message-type", "event"),
        ],
        payload,
    )
}

/// A decoded message (for tests and for clients of the seam that read the stream back).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// Headers, in order, with their string values.
    pub headers: Vec<(String, String)>,
    /// The payload.
    pub payload: Vec<u8>,
}

/// Why bytes are not an event stream message.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DecodeError {
    /// Fewer bytes than the message says it has.
    #[error("truncated message")]
    Truncated,
    /// The prelude's CRC does not match.
    #[error("prelude CRC mismatch")]
    PreludeCrc,
    /// The message's CRC does not match.
    #[error("message CRC mismatch")]
    MessageCrc,
    /// A header is malformed or not a string.
    #[error("bad header")]
    BadHeader,
}

fn be_u32(bytes: &[u8], at: usize) -> Result<u32, DecodeError> {
    bytes
        .get(at..at + 4)
        .and_then(|b| b.try_into().ok())
        .map(u32::from_be_bytes)
        .ok_or(DecodeError::Truncated)
}

/// Decodes the first message of `bytes`; returns it and how many bytes it took. Both CRCs are
/// checked.
pub fn decode(bytes: &[u8]) -> Result<(Message, usize), DecodeError> {
    let total = be_u32(bytes, 0)? as usize;
    let headers_len = be_u32(bytes, 4)? as usize;
    if be_u32(bytes, 8)? != crc32fast::hash(bytes.get(..8).ok_or(DecodeError::Truncated)?) {
        return Err(DecodeError::PreludeCrc);
    }
    if total < PRELUDE_BYTES + headers_len + CRC_BYTES || bytes.len() < total {
        return Err(DecodeError::Truncated);
    }
    let body_end = total - CRC_BYTES;
    if be_u32(bytes, body_end)? != crc32fast::hash(&bytes[..body_end]) {
        return Err(DecodeError::MessageCrc);
    }
    let mut headers = Vec::new();
    let mut rest = &bytes[PRELUDE_BYTES..PRELUDE_BYTES + headers_len];
    while let Some((&name_len, tail)) = rest.split_first() {
        let name_len = usize::from(name_len);
        let name = tail.get(..name_len).ok_or(DecodeError::BadHeader)?;
        let tail = &tail[name_len..];
        if tail.first() != Some(&STRING_TYPE) {
            return Err(DecodeError::BadHeader);
        }
        let len_bytes = tail.get(1..3).ok_or(DecodeError::BadHeader)?;
        let value_len = usize::from(u16::from_be_bytes([len_bytes[0], len_bytes[1]]));
        let value = tail.get(3..3 + value_len).ok_or(DecodeError::BadHeader)?;
        headers.push((
            String::from_utf8_lossy(name).into_owned(),
            String::from_utf8_lossy(value).into_owned(),
        ));
        rest = &tail[3 + value_len..];
    }
    let payload = bytes[PRELUDE_BYTES + headers_len..body_end].to_vec();
    Ok((Message { headers, payload }, total))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_decode_back_with_their_crcs_checked() {
        let chunk = event("PayloadChunk", "application/octet-stream", b"hello");
        let complete = event("InvokeComplete", "application/json", br#"{"LogResult":""}"#);
        let mut stream = chunk.clone();
        stream.extend_from_slice(&complete);
        let (first, used) = decode(&stream).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(used, chunk.len());
        assert_eq!(first.payload, b"hello");
        assert_eq!(
            first.headers,
            vec![
                (":event-type".to_string(), "PayloadChunk".to_string()),
                (
                    ":content-type".to_string(),
                    "application/octet-stream".to_string()
                ),
                (":message-type".to_string(), "event".to_string()),
            ]
        );
        let (second, used2) = decode(&stream[used..]).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(used2, complete.len());
        assert_eq!(second.headers[0].1, "InvokeComplete");
        // The prelude: total length, headers length, then the CRC of those 8 bytes.
        assert_eq!(
            u32::from_be_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]) as usize,
            chunk.len()
        );
        let mut bad = chunk.clone();
        bad[PRELUDE_BYTES + 2] ^= 1;
        assert_eq!(decode(&bad), Err(DecodeError::MessageCrc));
        let mut bad = chunk.clone();
        bad[5] ^= 1;
        assert_eq!(decode(&bad), Err(DecodeError::PreludeCrc));
        assert_eq!(decode(&chunk[..10]), Err(DecodeError::Truncated));
        // An empty payload is a valid message too.
        let (empty, _) = decode(&event("PayloadChunk", "application/octet-stream", b""))
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(empty.payload.is_empty());
    }

    #[test]
    fn a_known_message_encodes_to_the_bytes_the_spec_gives() {
        // The event stream specification's example: no headers, no payload, 16 bytes.
        assert_eq!(
            message(&[], b""),
            vec![
                0x00, 0x00, 0x00, 0x10, 0x00, 0x00, 0x00, 0x00, 0x05, 0xc2, 0x48, 0xeb, 0x7d, 0x98,
                0xc8, 0xff
            ]
        );
    }
}
