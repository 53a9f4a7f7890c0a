//! Functional equivalence: each payload's answer of every configuration against the
//! reference's.
//!
//! An answer is an outcome: 200 with a body (JSON, text, or nothing), a function error of
//! some type, or another status. Two outcomes are the same when both are 200 with equal
//! bodies, or both failed with the same error type (messages and stack traces are not
//! compared: they name paths and addresses that differ between any two machines), or both
//! got the same status. JSON bodies are equal when their values are: object keys in any
//! order, integers exactly, other numbers within the tolerance
//! (`|a-b| <= tol` or `|a-b| <= tol * max(|a|,|b|)`).
//!
//! Each configuration's first answer to a payload (the lowest round) is the one compared.
//! When its own later answers differ from it, the function is nondeterministic there: that is
//! a [`VariationNote`], once per configuration, and not a finding.

use serde_json::{Number, Value};

use crate::input::{ComparisonInput, Sample};
use crate::report::{Equivalence, Finding, FindingKind, VariationNote};

/// Longest rendering of a value in a finding, in characters.
const SHORT_VALUE_CHARS: usize = 80;

/// Longest error message in a finding, in characters.
const DETAIL_CHARS: usize = 200;

/// Where two answers first differ, and what each holds there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Difference {
    /// A JSON path: `$`, `$.key`, `$["odd key"]`, `$[2]`.
    pub(crate) path: String,
    /// The first answer's value there, short.
    pub(crate) left: String,
    /// The second answer's value there, short.
    pub(crate) right: String,
}

/// Whether two numbers are equal: integers exactly, others within `tol`.
pub(crate) fn numbers_equal(a: &Number, b: &Number, tol: f64) -> bool {
    if let (Some(x), Some(y)) = (integer(a), integer(b)) {
        return x == y;
    }
    match (a.as_f64(), b.as_f64()) {
        (Some(x), Some(y)) => floats_equal(x, y, tol),
        _ => a == b,
    }
}

fn integer(n: &Number) -> Option<i128> {
    n.as_i64()
        .map(i128::from)
        .or_else(|| n.as_u64().map(i128::from))
}

/// `|a-b| <= tol` or `|a-b| <= tol * max(|a|,|b|)`.
pub(crate) fn floats_equal(a: f64, b: f64, tol: f64) -> bool {
    if a == b {
        return true;
    }
    let d = (a - b).abs();
    d <= tol || d <= tol * a.abs().max(b.abs())
}

/// The first place, in document order (object keys sorted), where `a` and `b` differ;
/// `None` when they are equal. Walks with an explicit stack, so any depth is safe.
pub(crate) fn first_difference(a: &Value, b: &Value, tol: f64) -> Option<Difference> {
    let mut stack: Vec<(String, Option<&Value>, Option<&Value>)> =
        vec![("$".to_string(), Some(a), Some(b))];
    while let Some((path, a, b)) = stack.pop() {
        let (a, b) = match (a, b) {
            (Some(a), Some(b)) => (a, b),
            (a, b) => {
                return Some(Difference {
                    path,
                    left: a.map_or_else(absent, short_value),
                    right: b.map_or_else(absent, short_value),
                });
            }
        };
        match (a, b) {
            (Value::Object(x), Value::Object(y)) => {
                let mut keys: Vec<&String> = x.keys().chain(y.keys()).collect();
                keys.sort_unstable();
                keys.dedup();
                for key in keys.into_iter().rev() {
                    stack.push((child_key(&path, key), x.get(key), y.get(key)));
                }
            }
            (Value::Array(x), Value::Array(y)) => {
                for i in (0..x.len().max(y.len())).rev() {
                    stack.push((format!("{path}[{i}]"), x.get(i), y.get(i)));
                }
            }
            (Value::Number(x), Value::Number(y)) => {
                if !numbers_equal(x, y, tol) {
                    return Some(leaf(path, a, b));
                }
            }
            _ => {
                if a != b {
                    return Some(leaf(path, a, b));
                }
            }
        }
    }
    None
}

fn leaf(path: String, a: &Value, b: &Value) -> Difference {
    Difference {
        path,
        left: short_value(a),
        right: short_value(b),
    }
}

fn absent() -> String {
    "(absent)".to_string()
}

/// `$.key` for a key that is an identifier, `$["key"]` (JSON-escaped) otherwise.
fn child_key(path: &str, key: &str) -> String {
    let mut chars = key.chars();
    let identifier = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_');
    if identifier {
        format!("{path}.{key}")
    } else {
        format!("{path}[{}]", Value::String(key.to_string()))
    }
}

/// A value as compact JSON, cut to [`SHORT_VALUE_CHARS`] characters.
pub(crate) fn short_value(value: &Value) -> String {
    shorten(value.to_string())
}

/// `text` cut to [`SHORT_VALUE_CHARS`] characters, with `…` when cut.
pub(crate) fn shorten(text: String) -> String {
    shorten_to(text, SHORT_VALUE_CHARS)
}

/// `text` cut to `limit` characters (at least 1), with `…` when cut.
fn shorten_to(text: String, limit: usize) -> String {
    let limit = limit.max(1);
    if text.chars().count() <= limit {
        return text;
    }
    let mut cut: String = text.chars().take(limit - 1).collect();
    cut.push('…');
    cut
}

/// A failed invocation's error message (`errorMessage` of a JSON body), or the start of its
/// body when that is not JSON; `None` when it answered 200 or said nothing.
fn failure_detail(sample: &Sample) -> Option<String> {
    if matches!(Outcome::of(sample), Outcome::Ok(_)) {
        return None;
    }
    let message = match &sample.response {
        Some(Value::Object(fields)) => match fields.get("errorMessage") {
            Some(Value::String(message)) => Some(message.clone()),
            _ => None,
        },
        _ => None,
    };
    message
        .or_else(|| sample.response_text.clone())
        .filter(|text| !text.trim().is_empty())
        .map(|text| shorten_to(text, DETAIL_CHARS))
}

/// What an invocation answered, as far as equivalence is concerned.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Outcome<'a> {
    /// Status 200 and no function error.
    Ok(Body<'a>),
    /// A function error of this type.
    Error(&'a str),
    /// Another status, without a function error.
    Status(u16),
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Body<'a> {
    Json(&'a Value),
    Text(&'a str),
    Empty,
}

impl<'a> Outcome<'a> {
    fn of(sample: &'a Sample) -> Outcome<'a> {
        if let Some(error_type) = &sample.error_type {
            return Outcome::Error(error_type);
        }
        if sample.status != 200 {
            return Outcome::Status(sample.status);
        }
        Outcome::Ok(match (&sample.response, &sample.response_text) {
            (Some(value), _) => Body::Json(value),
            (None, Some(text)) => Body::Text(text),
            (None, None) => Body::Empty,
        })
    }

    /// `200`, the error type, or `status NNN`.
    fn describe(&self) -> String {
        match self {
            Outcome::Ok(_) => "200".to_string(),
            Outcome::Error("") => "an error without a type".to_string(),
            Outcome::Error(error_type) => shorten((*error_type).to_string()),
            Outcome::Status(status) => format!("status {status}"),
        }
    }
}

impl Body<'_> {
    fn render(&self) -> String {
        match self {
            Body::Json(value) => short_value(value),
            Body::Text(text) => short_value(&Value::String((*text).to_string())),
            Body::Empty => "(no body)".to_string(),
        }
    }
}

/// How two outcomes differ: the kind, and the difference (its path is `None` unless both
/// are 200).
fn outcome_difference(
    first: Outcome<'_>,
    second: Outcome<'_>,
    tol: f64,
) -> Option<(FindingKind, Option<String>, String, String)> {
    match (first, second) {
        (Outcome::Ok(a), Outcome::Ok(b)) => {
            let difference = match (a, b) {
                (Body::Json(x), Body::Json(y)) => first_difference(x, y, tol),
                (Body::Empty, Body::Empty) => None,
                (x, y) if x == y => None,
                (x, y) => Some(Difference {
                    path: "$".to_string(),
                    left: x.render(),
                    right: y.render(),
                }),
            }?;
            Some((
                FindingKind::DifferentResponse,
                Some(difference.path),
                difference.left,
                difference.right,
            ))
        }
        (Outcome::Ok(_), failed) => Some((
            FindingKind::ErrorWhereOk,
            None,
            first.describe(),
            failed.describe(),
        )),
        (failed, Outcome::Ok(_)) => Some((
            FindingKind::OkWhereError,
            None,
            failed.describe(),
            second.describe(),
        )),
        (a, b) if a == b => None,
        (a, b) => Some((
            FindingKind::DifferentError,
            None,
            a.describe(),
            b.describe(),
        )),
    }
}

/// A configuration's answers to each payload, lowest round first (input order within a
/// round).
fn answers_by_payload(samples: &[Sample], payloads: usize) -> Vec<Vec<&Sample>> {
    let mut by_payload: Vec<Vec<&Sample>> = vec![Vec::new(); payloads];
    for sample in samples {
        if let Some(answers) = by_payload.get_mut(sample.payload) {
            answers.push(sample);
        }
    }
    for answers in &mut by_payload {
        answers.sort_by_key(|s| s.round);
    }
    by_payload
}

/// Compares every configuration's answers with those of `input.configurations[reference]`.
pub(crate) fn compare(input: &ComparisonInput, reference: usize) -> Equivalence {
    let tol = input.settings.float_tolerance;
    let payloads = input.payloads.len();
    let answers: Vec<Vec<Vec<&Sample>>> = input
        .configurations
        .iter()
        .map(|c| answers_by_payload(&c.samples, payloads))
        .collect();
    let reference_label = input
        .configurations
        .get(reference)
        .map(|c| c.label.clone())
        .unwrap_or_default();
    let payload_name = |p: usize| {
        input
            .payloads
            .get(p)
            .map_or_else(|| format!("#{p}"), |info| info.name.clone())
    };

    let mut variations = Vec::new();
    for (configuration, by_payload) in input.configurations.iter().zip(&answers) {
        let mut varied = Vec::new();
        let mut example = None;
        for (p, samples) in by_payload.iter().enumerate() {
            let Some((first, rest)) = samples.split_first() else {
                continue;
            };
            let first = Outcome::of(first);
            let difference = rest
                .iter()
                .find_map(|other| outcome_difference(first, Outcome::of(other), tol));
            if let Some((_, path, a, b)) = difference {
                varied.push(payload_name(p));
                if example.is_none() {
                    let at = path.map(|path| format!("{path}: ")).unwrap_or_default();
                    example = Some(format!("{}: {at}{a} vs {b}", payload_name(p)));
                }
            }
        }
        if let Some(example) = example {
            let text = format!(
                "{} answered {} differently from one invocation to the next \
                 (nondeterministic; for example {example}); its first answer to each was compared",
                configuration.label,
                varied.join(", "),
            );
            variations.push(VariationNote {
                configuration: configuration.label.clone(),
                payloads: varied,
                example,
                text,
            });
        }
    }

    let mut findings = Vec::new();
    let mut payloads_compared = 0u64;
    let others = input.configurations.len().saturating_sub(1);
    for p in 0..payloads {
        let name = payload_name(p);
        let reference_first = answers
            .get(reference)
            .and_then(|by_payload| by_payload.get(p))
            .and_then(|samples| samples.first());
        let Some(reference_first) = reference_first else {
            findings.push(Finding {
                kind: FindingKind::NoAnswer,
                payload: p,
                payload_name: name.clone(),
                configuration: reference_label.clone(),
                reference: reference_label.clone(),
                path: None,
                reference_answer: "(none)".to_string(),
                answer: "(none)".to_string(),
                detail: None,
                text: format!(
                    "{reference_label} (the reference) has no answer for payload {name}, \
                     so the answers to it were not compared"
                ),
            });
            continue;
        };
        if others > 0 {
            payloads_compared += 1;
        }
        let reference_outcome = Outcome::of(reference_first);
        for (c, configuration) in input.configurations.iter().enumerate() {
            if c == reference {
                continue;
            }
            let label = &configuration.label;
            let first = answers
                .get(c)
                .and_then(|by_payload| by_payload.get(p))
                .and_then(|samples| samples.first());
            let Some(first) = first else {
                findings.push(Finding {
                    kind: FindingKind::NoAnswer,
                    payload: p,
                    payload_name: name.clone(),
                    configuration: label.clone(),
                    reference: reference_label.clone(),
                    path: None,
                    reference_answer: reference_outcome.describe(),
                    answer: "(none)".to_string(),
                    detail: None,
                    text: format!("{label} has no answer for payload {name}"),
                });
                continue;
            };
            let Some((kind, path, reference_answer, answer)) =
                outcome_difference(reference_outcome, Outcome::of(first), tol)
            else {
                continue;
            };
            let text = match &path {
                Some(path) => format!(
                    "{label} answered differently for payload {name}: \
                     {path}: {reference_answer} vs {answer} ({reference_label} vs {label})"
                ),
                None => format!(
                    "{label} answered {answer} where {reference_label} answered \
                     {reference_answer} for payload {name}"
                ),
            };
            let detail = failure_detail(first).or_else(|| failure_detail(reference_first));
            findings.push(Finding {
                kind,
                detail,
                payload: p,
                payload_name: name.clone(),
                configuration: label.clone(),
                reference: reference_label.clone(),
                path,
                reference_answer,
                answer,
                text,
            });
        }
    }

    Equivalence {
        reference: reference_label,
        equivalent: findings.is_empty(),
        payloads_compared,
        findings,
        variations,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    const TOL: f64 = 1e-9;

    #[test]
    fn key_order_does_not_matter() {
        let a: Value =
            serde_json::from_str(r#"{"a": 1, "b": {"x": [1, 2], "y": "z"}}"#).expect("json");
        let b: Value =
            serde_json::from_str(r#"{"b": {"y": "z", "x": [1, 2]}, "a": 1}"#).expect("json");
        assert_eq!(first_difference(&a, &b, TOL), None);
    }

    #[test]
    #[allow(clippy::approx_constant)] // The issue's example, not π.
    fn numbers_within_tolerance_are_equal() {
        // Absolute: a difference of 1e-12 near zero.
        assert_eq!(
            first_difference(&json!({"v": 1e-12}), &json!({"v": 0.0}), TOL),
            None
        );
        // Relative: 1e-7 apart at 1e3 is 1e-10 relative.
        assert_eq!(
            first_difference(&json!([1000.0]), &json!([1000.0000001]), TOL),
            None
        );
        // An integer and the same float are equal.
        assert_eq!(first_difference(&json!(3), &json!(3.0), TOL), None);
        // Outside the tolerance.
        let d = first_difference(
            &json!({"result": [1, 2, 3.14159]}),
            &json!({"result": [1, 2, 3.2]}),
            TOL,
        )
        .expect("differs");
        assert_eq!(d.path, "$.result[2]");
        assert_eq!((d.left.as_str(), d.right.as_str()), ("3.14159", "3.2"));
        // A looser tolerance accepts it.
        assert_eq!(first_difference(&json!(3.14159), &json!(3.2), 0.1), None);
        // Integers are exact whatever the tolerance.
        assert!(
            first_difference(&json!(10_000_000_000u64), &json!(10_000_000_001u64), 1e-3).is_some()
        );
    }

    #[test]
    fn paths_name_missing_keys_odd_keys_and_array_lengths() {
        let d = first_difference(&json!({"a": 1}), &json!({"a": 1, "b": 2}), TOL).expect("differs");
        assert_eq!(
            (d.path.as_str(), d.left.as_str(), d.right.as_str()),
            ("$.b", "(absent)", "2")
        );
        let d = first_difference(&json!({"odd key": [1]}), &json!({"odd key": [1, 2]}), TOL)
            .expect("differs");
        assert_eq!(d.path, "$[\"odd key\"][1]");
        let d = first_difference(&json!({"a": "x"}), &json!({"a": null}), TOL).expect("differs");
        assert_eq!((d.left.as_str(), d.right.as_str()), ("\"x\"", "null"));
        // Document order: the first differing key in sorted order is reported.
        let d = first_difference(&json!({"b": 1, "a": 1}), &json!({"b": 2, "a": 2}), TOL)
            .expect("differs");
        assert_eq!(d.path, "$.a");
    }

    #[test]
    fn deep_values_do_not_overflow_the_stack() {
        let mut a = json!(1);
        let mut b = json!(2);
        for _ in 0..100_000 {
            a = Value::Array(vec![a]);
            b = Value::Array(vec![b]);
        }
        let d = first_difference(&a, &b, TOL).expect("differs");
        assert!(d.path.ends_with("[0]"));
        // Leak the deep values: dropping them recurses in serde_json, which is not what
        // this test is about.
        std::mem::forget(a);
        std::mem::forget(b);
    }

    #[test]
    fn long_values_are_shortened() {
        let long = json!("x".repeat(500));
        let text = short_value(&long);
        assert_eq!(text.chars().count(), SHORT_VALUE_CHARS);
        assert!(text.ends_with('…'));
    }
}
