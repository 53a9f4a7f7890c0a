//! The translator's stable text of a JSON value (Python's `json.dumps(v, separators=(",", ":"),
//! sort_keys=True)`) and the SHA-1 logical id suffixes made from it.

use serde_json::Value;
use sha1::{Digest, Sha1};
use std::fmt::Write as _;

/// Python's compact, key-sorted, ASCII-only JSON text of `value`; a string is taken as it is.
pub(crate) fn stringify(value: &Value) -> String {
    if let Value::String(text) = value {
        return text.clone();
    }
    let mut out = String::new();
    write_value(&mut out, value);
    out
}

/// The first `length` hex digits of the SHA-1 of `stringify(value)`; empty for a falsy value, as the
/// translator gives.
pub(crate) fn hash_of(value: &Value, length: usize) -> String {
    if is_falsy(value) {
        return String::new();
    }
    let digest = Sha1::digest(stringify(value).as_bytes());
    let mut hex_text = hex::encode(digest);
    hex_text.truncate(length);
    hex_text
}

/// Python's truth of a JSON value: null, false, 0, "", [] and {} are false.
pub(crate) fn is_falsy(value: &Value) -> bool {
    match value {
        Value::Null => true,
        Value::Bool(b) => !b,
        Value::Number(n) => n.as_f64() == Some(0.0),
        Value::String(s) => s.is_empty(),
        Value::Array(a) => a.is_empty(),
        Value::Object(o) => o.is_empty(),
    }
}

fn write_value(out: &mut String, value: &Value) {
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(true) => out.push_str("true"),
        Value::Bool(false) => out.push_str("false"),
        Value::Number(n) => write_number(out, n),
        Value::String(s) => write_string(out, s),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_value(out, item);
            }
            out.push(']');
        }
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push('{');
            for (i, key) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_string(out, key);
                out.push(':');
                if let Some(item) = map.get(key) {
                    write_value(out, item);
                }
            }
            out.push('}');
        }
    }
}

/// Python's `repr` of a number: integers as they are, floats shortest with `.0` or an exponent
/// from 1e16 up and below 1e-4.
fn write_number(out: &mut String, n: &serde_json::Number) {
    if n.is_i64() || n.is_u64() {
        let _ = write!(out, "{n}");
        return;
    }
    let Some(f) = n.as_f64() else {
        let _ = write!(out, "{n}");
        return;
    };
    if !f.is_finite() {
        out.push_str(if f.is_nan() {
            "NaN"
        } else if f > 0.0 {
            "Infinity"
        } else {
            "-Infinity"
        });
        return;
    }
    let magnitude = f.abs();
    if f != 0.0 && !(1e-4..1e16).contains(&magnitude) {
        // Rust's `{:e}` gives the shortest digits, as `1.5e-7`; Python writes `1.5e-07`.
        let text = format!("{f:e}");
        let (mantissa, exponent) = text.split_once('e').unwrap_or((text.as_str(), "0"));
        let (sign, digits) = match exponent.strip_prefix('-') {
            Some(rest) => ('-', rest),
            None => ('+', exponent),
        };
        let _ = write!(out, "{mantissa}e{sign}{digits:0>2}");
    } else {
        let text = format!("{f:?}");
        out.push_str(&text);
    }
}

fn write_string(out: &mut String, text: &str) {
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            c if (c as u32) < 0x20 || (c as u32) > 0x7e => {
                let mut units = [0u16; 2];
                for unit in c.encode_utf16(&mut units) {
                    let _ = write!(out, "\\u{unit:04x}");
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn stringify_matches_python_json_dumps() {
        // json.dumps({"b": [1, 2.5, True, None], "a": "é\n\"x\"", "c": 1e20, "d": 1.0}, separators=(",", ":"), sort_keys=True)
        let value =
            json!({"b": [1, 2.5, true, null], "a": "é\n\"x\"", "c": 1e20, "d": 1.0, "e": 0.00001});
        assert_eq!(
            stringify(&value),
            r#"{"a":"\u00e9\n\"x\"","b":[1,2.5,true,null],"c":1e+20,"d":1.0,"e":1e-05}"#
        );
    }

    #[test]
    fn characters_outside_the_basic_plane_are_surrogate_pairs() {
        assert_eq!(stringify(&json!(["😀"])), r#"["\ud83d\ude00"]"#);
    }

    #[test]
    fn a_string_is_hashed_as_it_is_and_falsy_values_give_no_hash() {
        // hashlib.sha1(b"abc").hexdigest()[:10]
        assert_eq!(hash_of(&json!("abc"), 10), "a9993e3647");
        assert_eq!(hash_of(&json!({}), 10), "");
        assert_eq!(hash_of(&json!(null), 10), "");
    }
}
