//! YAML templates read into the same JSON tree as JSON ones, short-form intrinsics (`!Ref`,
//! `!GetAtt`, `!Sub`, …) turned into their long forms (`{"Ref": …}`, `{"Fn::GetAtt": […]}`).
//!
//! Built on the parser's events rather than a document type, so nesting and the number of nodes
//! (anchors expanded) are bounded here and nothing recurses over the input.

use saphyr_parser::{Event, Parser, ScalarStyle, Tag};
use serde_json::{Map, Number, Value};

/// Deepest nesting of collections accepted.
pub const MAX_DEPTH: usize = 64;
/// Most nodes a document may expand to (aliases count as their copies).
pub const MAX_NODES: usize = 200_000;

/// Why a YAML text is not a template tree.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum YamlError {
    /// The text is not well-formed YAML; 1-based line and column.
    #[error("YAML not well-formed. (line {line}, column {column})")]
    Syntax {
        /// Line of the fault.
        line: usize,
        /// Column of the fault.
        column: usize,
    },
    /// Well-formed, but not something a template can hold.
    #[error("{0}")]
    Unsupported(String),
}

/// A collection being built.
enum Open {
    Seq(Vec<Value>, Option<String>, usize),
    Map(Map<String, Value>, Option<String>, Option<String>, usize),
}

/// Reads one YAML document into a JSON tree.
pub fn parse(text: &str) -> Result<Value, YamlError> {
    let mut parser = Parser::new_from_str(text);
    let mut stack: Vec<Open> = Vec::new();
    let mut anchors: std::collections::HashMap<usize, Value> = std::collections::HashMap::new();
    let mut nodes = 0usize;
    let mut root: Option<Value> = None;
    let mut documents = 0usize;
    while let Some(next) = parser.next_event() {
        let (event, span) = next.map_err(|e| YamlError::Syntax {
            line: e.marker().line(),
            column: e.marker().col() + 1,
        })?;
        let finished: Option<(Value, usize)> = match event {
            Event::StreamEnd => break,
            Event::DocumentStart(_) => {
                documents += 1;
                if documents > 1 {
                    return Err(YamlError::Unsupported(
                        "a template holds one YAML document".into(),
                    ));
                }
                None
            }
            Event::Nothing | Event::StreamStart | Event::DocumentEnd => None,
            Event::Alias(id) => {
                let Some(v) = anchors.get(&id) else {
                    return Err(YamlError::Syntax {
                        line: span.start.line(),
                        column: span.start.col() + 1,
                    });
                };
                nodes = nodes.saturating_add(count_nodes(v));
                if nodes > MAX_NODES {
                    return Err(YamlError::Unsupported(format!(
                        "more than {MAX_NODES} nodes"
                    )));
                }
                Some((v.clone(), 0))
            }
            Event::Scalar(text, style, anchor, tag) => {
                let v = scalar(&text, style, tag.as_deref())?;
                Some((v, anchor))
            }
            Event::SequenceStart(anchor, tag) => {
                if stack.len() >= MAX_DEPTH {
                    return Err(YamlError::Unsupported(format!(
                        "nesting deeper than {MAX_DEPTH} levels"
                    )));
                }
                stack.push(Open::Seq(
                    Vec::new(),
                    intrinsic_name(tag.as_deref()),
                    anchor,
                ));
                None
            }
            Event::MappingStart(anchor, tag) => {
                if stack.len() >= MAX_DEPTH {
                    return Err(YamlError::Unsupported(format!(
                        "nesting deeper than {MAX_DEPTH} levels"
                    )));
                }
                stack.push(Open::Map(
                    Map::new(),
                    None,
                    intrinsic_name(tag.as_deref()),
                    anchor,
                ));
                None
            }
            Event::SequenceEnd => match stack.pop() {
                Some(Open::Seq(items, tag, anchor)) => {
                    Some((wrap(tag, Value::Array(items))?, anchor))
                }
                _ => return Err(YamlError::Unsupported("unbalanced sequence".into())),
            },
            Event::MappingEnd => match stack.pop() {
                Some(Open::Map(map, _, tag, anchor)) => {
                    Some((wrap(tag, Value::Object(map))?, anchor))
                }
                _ => return Err(YamlError::Unsupported("unbalanced mapping".into())),
            },
        };
        let Some((value, anchor)) = finished else {
            continue;
        };
        nodes = nodes.saturating_add(1);
        if nodes > MAX_NODES {
            return Err(YamlError::Unsupported(format!(
                "more than {MAX_NODES} nodes"
            )));
        }
        if anchor != 0 {
            anchors.insert(anchor, value.clone());
        }
        match stack.last_mut() {
            None => root = Some(value),
            Some(Open::Seq(items, _, _)) => items.push(value),
            Some(Open::Map(map, key, _, _)) => match key.take() {
                None => {
                    let k = match value {
                        Value::String(s) => s,
                        Value::Number(n) => n.to_string(),
                        Value::Bool(b) => b.to_string(),
                        _ => {
                            return Err(YamlError::Unsupported(
                                "mapping keys must be strings".into(),
                            ));
                        }
                    };
                    if map.contains_key(&k) {
                        return Err(YamlError::Unsupported(format!("duplicate key {k}")));
                    }
                    *key = Some(k);
                }
                Some(k) => {
                    map.insert(k, value);
                }
            },
        }
    }
    Ok(root.unwrap_or(Value::Null))
}

fn count_nodes(v: &Value) -> usize {
    let mut n = 0usize;
    let mut todo = vec![v];
    while let Some(v) = todo.pop() {
        n += 1;
        match v {
            Value::Array(a) => todo.extend(a.iter()),
            Value::Object(m) => todo.extend(m.values()),
            _ => {}
        }
    }
    n
}

/// The long form's key of a short-form tag (`!Ref` → `Ref`, `!GetAtt` → `Fn::GetAtt`), or
/// `None` for an untagged node or a core-schema tag.
fn intrinsic_name(tag: Option<&Tag>) -> Option<String> {
    let tag = tag?;
    if tag.handle != "!" {
        return None;
    }
    Some(match tag.suffix.as_str() {
        "Ref" => "Ref".to_owned(),
        "Condition" => "Condition".to_owned(),
        other => format!("Fn::{other}"),
    })
}

/// The long form of a tagged node.
fn wrap(tag: Option<String>, inner: Value) -> Result<Value, YamlError> {
    let Some(tag) = tag else {
        return Ok(inner);
    };
    let inner = match (tag.as_str(), inner) {
        ("Fn::GetAtt", Value::String(s)) => match s.split_once('.') {
            Some((resource, attribute)) => Value::Array(vec![
                Value::String(resource.to_owned()),
                Value::String(attribute.to_owned()),
            ]),
            None => Value::String(s),
        },
        (_, v) => v,
    };
    let mut map = Map::new();
    map.insert(tag, inner);
    Ok(Value::Object(map))
}

/// A scalar, resolved as YAML's core schema does (plain scalars only), then wrapped when tagged.
fn scalar(text: &str, style: ScalarStyle, tag: Option<&Tag>) -> Result<Value, YamlError> {
    let core_str = tag.is_some_and(|t| t.handle == "!!" && t.suffix == "str")
        || tag.is_some_and(|t| t.handle == "tag:yaml.org,2002:" && t.suffix == "str");
    let intrinsic = intrinsic_name(tag);
    let value = if style != ScalarStyle::Plain || core_str || intrinsic.is_some() {
        Value::String(text.to_owned())
    } else {
        plain(text)
    };
    wrap(intrinsic, value)
}

/// A plain scalar's value: null, a boolean, a number, or a string.
fn plain(text: &str) -> Value {
    match text {
        "" | "~" | "null" | "Null" | "NULL" => return Value::Null,
        "true" | "True" | "TRUE" => return Value::Bool(true),
        "false" | "False" | "FALSE" => return Value::Bool(false),
        _ => {}
    }
    let digits = text.strip_prefix(['-', '+']).unwrap_or(text);
    if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
        // Leading zeros keep the text (an account id, a version): CloudFormation sees strings.
        if !(digits.len() > 1 && digits.starts_with('0'))
            && let Ok(i) = text.parse::<i64>()
        {
            return Value::Number(i.into());
        }
        return Value::String(text.to_owned());
    }
    let looks_float = digits.bytes().any(|b| b == b'.' || b == b'e' || b == b'E')
        && digits
            .bytes()
            .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'e' | b'E' | b'-' | b'+'))
        && digits
            .bytes()
            .next()
            .is_some_and(|b| b.is_ascii_digit() || b == b'.');
    if looks_float
        && let Ok(f) = text.parse::<f64>()
        && let Some(n) = Number::from_f64(f)
    {
        return Value::Number(n);
    }
    Value::String(text.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn check(yaml: &str, expected: Value) {
        assert_eq!(parse(yaml), Ok(expected), "{yaml}");
    }

    #[test]
    fn reads_short_forms_as_long_forms() {
        check("a: !Ref X", json!({"a": {"Ref": "X"}}));
        check(
            "a: !GetAtt Fn.Arn",
            json!({"a": {"Fn::GetAtt": ["Fn", "Arn"]}}),
        );
        check(
            "a: !GetAtt [Fn, Arn]",
            json!({"a": {"Fn::GetAtt": ["Fn", "Arn"]}}),
        );
        check(
            "a: !Sub '${AWS::Region}-x'",
            json!({"a": {"Fn::Sub": "${AWS::Region}-x"}}),
        );
        check(
            "a: !Sub\n  - '${A}'\n  - A: !Ref B\n",
            json!({"a": {"Fn::Sub": ["${A}", {"A": {"Ref": "B"}}]}}),
        );
        check(
            "a: !If [C, !Join ['', [a, b]], !Ref AWS::NoValue]",
            json!({"a": {"Fn::If": ["C", {"Fn::Join": ["", ["a", "b"]]}, {"Ref": "AWS::NoValue"}]}}),
        );
        check(
            "a: !Equals [!Ref P, prod]",
            json!({"a": {"Fn::Equals": [{"Ref": "P"}, "prod"]}}),
        );
        check("a: !Condition C", json!({"a": {"Condition": "C"}}));
        check(
            "a: !Select [0, !GetAZs '']",
            json!({"a": {"Fn::Select": [0, {"Fn::GetAZs": ""}]}}),
        );
        check(
            "a: !FindInMap [M, !Ref AWS::Region, k]",
            json!({"a": {"Fn::FindInMap": ["M", {"Ref": "AWS::Region"}, "k"]}}),
        );
        check(
            "a: !Base64 x\nb: !ImportValue e\nc: !Split [',', 'a,b']\nd: !Not [!Condition C]\ne: !And [!Condition A, !Condition B]\nf: !Or [!Condition A, !Condition B]",
            json!({"a": {"Fn::Base64": "x"}, "b": {"Fn::ImportValue": "e"}, "c": {"Fn::Split": [",", "a,b"]},
                   "d": {"Fn::Not": [{"Condition": "C"}]}, "e": {"Fn::And": [{"Condition": "A"}, {"Condition": "B"}]},
                   "f": {"Fn::Or": [{"Condition": "A"}, {"Condition": "B"}]}}),
        );
    }

    #[test]
    fn resolves_plain_scalars() {
        check(
            "a: 1\nb: '1'\nc: true\nd: ~\ne: 1.5\nf: 0123\ng: text\nh: \"x\"",
            json!({"a": 1, "b": "1", "c": true, "d": null, "e": 1.5, "f": "0123", "g": "text", "h": "x"}),
        );
        check("a: |\n  line\n", json!({"a": "line\n"}));
    }

    #[test]
    fn expands_anchors_within_bounds() {
        check("a: &x [1]\nb: *x", json!({"a": [1], "b": [1]}));
        let mut bomb = String::from("a: &a [x, x, x, x, x, x, x, x, x, x]\n");
        for (name, prev) in ["b", "c", "d", "e", "f", "g"]
            .into_iter()
            .zip(["a", "b", "c", "d", "e", "f"])
        {
            let refs = vec![format!("*{prev}"); 10].join(", ");
            bomb.push_str(&format!("{name}: &{name} [{refs}]\n"));
        }
        assert!(matches!(parse(&bomb), Err(YamlError::Unsupported(_))));
    }

    #[test]
    fn refuses_deep_nesting_and_bad_syntax() {
        let deep = "[".repeat(10_000);
        assert!(parse(&deep).is_err());
        let deep_block = "- ".repeat(10_000) + "x";
        assert!(parse(&deep_block).is_err());
        assert!(matches!(
            parse("a: [1, 2\nb: c"),
            Err(YamlError::Syntax { .. })
        ));
        assert!(matches!(
            parse("a: 1\na: 2"),
            Err(YamlError::Unsupported(_))
        ));
    }
}
