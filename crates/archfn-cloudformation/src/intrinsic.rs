//! Intrinsic functions and conditions, evaluated over what a stack knows: parameter values,
//! pseudo parameters, the physical ids and attributes of resources made so far, mappings,
//! exports. Pure: no IO.

use std::collections::BTreeMap;

use base64::Engine as _;
use serde_json::{Map, Value};

use crate::error::CfnError;

/// What an evaluation may look up.
#[derive(Debug, Default, Clone)]
pub struct Scope {
    /// `Ref` targets: parameters (lists as arrays), pseudo parameters, resources' physical ids.
    pub refs: BTreeMap<String, Value>,
    /// `Fn::GetAtt` targets: resource → attribute → value.
    pub attrs: BTreeMap<String, BTreeMap<String, Value>>,
    /// Conditions' values.
    pub conditions: BTreeMap<String, bool>,
    /// The template's `Mappings`.
    pub mappings: Map<String, Value>,
    /// The region (for `Fn::GetAZs`).
    pub region: String,
    /// Exports of the region's stacks, for `Fn::ImportValue`.
    pub exports: BTreeMap<String, String>,
}

fn err(message: impl Into<String>) -> CfnError {
    CfnError::Validation(format!("Template error: {}", message.into()))
}

/// The single key of an intrinsic's object, and its argument.
pub fn intrinsic(v: &Value) -> Option<(&str, &Value)> {
    let Value::Object(m) = v else {
        return None;
    };
    if m.len() != 1 {
        return None;
    }
    let (k, arg) = m.iter().next()?;
    (k == "Ref" || k == "Condition" || k.starts_with("Fn::")).then_some((k.as_str(), arg))
}

/// A value as a string (numbers and booleans as written).
pub fn as_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

impl Scope {
    /// Evaluates `v`; `None` is `AWS::NoValue` (the property is dropped).
    pub fn evaluate(&self, v: &Value) -> Result<Option<Value>, CfnError> {
        if let Some((name, arg)) = intrinsic(v) {
            return self.function(name, arg);
        }
        Ok(Some(match v {
            Value::Array(items) => {
                let mut out = Vec::with_capacity(items.len());
                for item in items {
                    if let Some(x) = self.evaluate(item)? {
                        out.push(x);
                    }
                }
                Value::Array(out)
            }
            Value::Object(m) => {
                let mut out = Map::new();
                for (k, item) in m {
                    if let Some(x) = self.evaluate(item)? {
                        out.insert(k.clone(), x);
                    }
                }
                Value::Object(out)
            }
            other => other.clone(),
        }))
    }

    fn required(&self, v: &Value, what: &str) -> Result<Value, CfnError> {
        self.evaluate(v)?
            .ok_or_else(|| err(format!("{what} may not be AWS::NoValue")))
    }

    fn text(&self, v: &Value, what: &str) -> Result<String, CfnError> {
        as_text(&self.required(v, what)?)
            .ok_or_else(|| err(format!("{what} must evaluate to a string")))
    }

    fn list(&self, v: &Value, what: &str) -> Result<Vec<Value>, CfnError> {
        match self.required(v, what)? {
            Value::Array(a) => Ok(a),
            _ => Err(err(format!("{what} must evaluate to a list"))),
        }
    }

    fn function(&self, name: &str, arg: &Value) -> Result<Option<Value>, CfnError> {
        match name {
            "Ref" => {
                let Some(target) = arg.as_str() else {
                    return Err(err("Ref must name a string"));
                };
                if target == "AWS::NoValue" {
                    return Ok(None);
                }
                self.refs
                    .get(target)
                    .cloned()
                    .map(Some)
                    .ok_or_else(|| err(format!("Unresolved reference {target}")))
            }
            "Fn::GetAtt" => {
                let (resource, attribute) = match arg {
                    Value::Array(a) if a.len() == 2 => (
                        self.text(&a[0], "Fn::GetAtt")?,
                        self.text(&a[1], "Fn::GetAtt")?,
                    ),
                    Value::String(s) => match s.split_once('.') {
                        Some((r, a)) => (r.to_owned(), a.to_owned()),
                        None => return Err(err("Fn::GetAtt needs a resource and an attribute")),
                    },
                    _ => return Err(err("Fn::GetAtt needs a resource and an attribute")),
                };
                let Some(attrs) = self.attrs.get(&resource) else {
                    return Err(err(format!(
                        "instance of Fn::GetAtt references undefined resource {resource}"
                    )));
                };
                attrs.get(&attribute).cloned().map(Some).ok_or_else(|| {
                    err(format!(
                        "Fn::GetAtt: resource {resource} has no attribute {attribute}"
                    ))
                })
            }
            "Fn::Join" => {
                let Value::Array(a) = arg else {
                    return Err(err("Fn::Join takes a delimiter and a list"));
                };
                let [delimiter, items] = a.as_slice() else {
                    return Err(err("Fn::Join takes a delimiter and a list"));
                };
                let delimiter = self.text(delimiter, "Fn::Join")?;
                let parts = self
                    .list(items, "Fn::Join")?
                    .iter()
                    .map(|p| as_text(p).ok_or_else(|| err("Fn::Join joins strings")))
                    .collect::<Result<Vec<_>, _>>()?;
                Ok(Some(Value::String(parts.join(&delimiter))))
            }
            "Fn::Select" => {
                let Value::Array(a) = arg else {
                    return Err(err("Fn::Select takes an index and a list"));
                };
                let [index, items] = a.as_slice() else {
                    return Err(err("Fn::Select takes an index and a list"));
                };
                let index: usize = self
                    .text(index, "Fn::Select")?
                    .parse()
                    .map_err(|_| err("Fn::Select's index must be a number"))?;
                let items = self.list(items, "Fn::Select")?;
                items
                    .get(index)
                    .cloned()
                    .map(Some)
                    .ok_or_else(|| err("Fn::Select cannot select nonexistent value at index"))
            }
            "Fn::Split" => {
                let Value::Array(a) = arg else {
                    return Err(err("Fn::Split takes a delimiter and a string"));
                };
                let [delimiter, source] = a.as_slice() else {
                    return Err(err("Fn::Split takes a delimiter and a string"));
                };
                let delimiter = self.text(delimiter, "Fn::Split")?;
                if delimiter.is_empty() {
                    return Err(err("Fn::Split's delimiter may not be empty"));
                }
                let source = self.text(source, "Fn::Split")?;
                Ok(Some(Value::Array(
                    source
                        .split(delimiter.as_str())
                        .map(|s| Value::String(s.to_owned()))
                        .collect(),
                )))
            }
            "Fn::Sub" => self.sub(arg).map(|s| Some(Value::String(s))),
            "Fn::If" => {
                let Value::Array(a) = arg else {
                    return Err(err("Fn::If takes a condition and two values"));
                };
                let [condition, yes, no] = a.as_slice() else {
                    return Err(err("Fn::If takes a condition and two values"));
                };
                let Some(condition) = condition.as_str() else {
                    return Err(err("Fn::If's condition must be a name"));
                };
                let Some(holds) = self.conditions.get(condition) else {
                    return Err(err(format!("Unresolved condition {condition}")));
                };
                self.evaluate(if *holds { yes } else { no })
            }
            "Fn::FindInMap" => {
                let Value::Array(a) = arg else {
                    return Err(err("Fn::FindInMap takes a map, a key and a second key"));
                };
                let [map, top, second] = a.as_slice() else {
                    return Err(err("Fn::FindInMap takes a map, a key and a second key"));
                };
                let (map, top, second) = (
                    self.text(map, "Fn::FindInMap")?,
                    self.text(top, "Fn::FindInMap")?,
                    self.text(second, "Fn::FindInMap")?,
                );
                let Some(m) = self.mappings.get(&map) else {
                    return Err(err(format!(
                        "Mapping named '{map}' is not present in the 'Mappings' section of template."
                    )));
                };
                m.get(&top)
                    .and_then(|t| t.get(&second))
                    .cloned()
                    .map(Some)
                    .ok_or_else(|| err(format!("Unable to get mapping for {map}::{top}::{second}")))
            }
            "Fn::Base64" => {
                let s = self.text(arg, "Fn::Base64")?;
                Ok(Some(Value::String(
                    base64::engine::general_purpose::STANDARD.encode(s),
                )))
            }
            "Fn::GetAZs" => {
                let region = self.text(arg, "Fn::GetAZs")?;
                let region = if region.is_empty() {
                    self.region.clone()
                } else {
                    region
                };
                Ok(Some(Value::Array(
                    ["a", "b", "c"]
                        .iter()
                        .map(|z| Value::String(format!("{region}{z}")))
                        .collect(),
                )))
            }
            "Fn::ImportValue" => {
                let name = self.text(arg, "Fn::ImportValue")?;
                self.exports
                    .get(&name)
                    .map(|v| Some(Value::String(v.clone())))
                    .ok_or_else(|| CfnError::Validation(format!("No export named {name} found.")))
            }
            "Fn::Equals" | "Fn::Not" | "Fn::And" | "Fn::Or" | "Condition" => self
                .condition(&Value::Object(
                    [(name.to_owned(), arg.clone())].into_iter().collect(),
                ))
                .map(|b| Some(Value::Bool(b))),
            other => Err(CfnError::Validation(format!(
                "Template format error: Unrecognized intrinsic function {other}"
            ))),
        }
    }

    /// `Fn::Sub`: `${Name}`, `${Resource.Attribute}`, `${!Literal}`, with the list form's
    /// variables first.
    fn sub(&self, arg: &Value) -> Result<String, CfnError> {
        let (text, variables) = match arg {
            Value::String(s) => (s.clone(), Map::new()),
            Value::Array(a) if a.len() == 2 => {
                let Some(s) = a[0].as_str() else {
                    return Err(err("Fn::Sub's first argument must be a string"));
                };
                let Value::Object(vars) = &a[1] else {
                    return Err(err("Fn::Sub's second argument must be an object"));
                };
                let mut values = Map::new();
                for (k, v) in vars {
                    values.insert(k.clone(), self.required(v, "Fn::Sub")?);
                }
                (s.to_owned(), values)
            }
            _ => return Err(err("Fn::Sub takes a string or a string and variables")),
        };
        let mut out = String::with_capacity(text.len());
        let mut rest = text.as_str();
        while let Some(start) = rest.find("${") {
            out.push_str(&rest[..start]);
            let after = &rest[start + 2..];
            let Some(end) = after.find('}') else {
                out.push_str(&rest[start..]);
                rest = "";
                break;
            };
            let name = &after[..end];
            if let Some(literal) = name.strip_prefix('!') {
                out.push_str("${");
                out.push_str(literal);
                out.push('}');
            } else {
                let value = match variables.get(name) {
                    Some(v) => v.clone(),
                    None => match name.split_once('.') {
                        Some((r, a)) if !name.starts_with("AWS::") => self
                            .function("Fn::GetAtt", &Value::String(format!("{r}.{a}")))?
                            .unwrap_or(Value::Null),
                        _ => self
                            .function("Ref", &Value::String(name.to_owned()))?
                            .unwrap_or(Value::Null),
                    },
                };
                let Some(text) = as_text(&value) else {
                    return Err(err(format!("Fn::Sub: ${{{name}}} is not a string")));
                };
                out.push_str(&text);
            }
            rest = &after[end + 1..];
        }
        out.push_str(rest);
        Ok(out)
    }

    /// A condition function's value.
    pub fn condition(&self, v: &Value) -> Result<bool, CfnError> {
        let Some((name, arg)) = intrinsic(v) else {
            return match v {
                Value::Bool(b) => Ok(*b),
                Value::String(s) if s == "true" => Ok(true),
                Value::String(s) if s == "false" => Ok(false),
                _ => Err(err("a condition must be a condition function")),
            };
        };
        let operands = |n: Option<usize>| -> Result<&Vec<Value>, CfnError> {
            match arg {
                Value::Array(a) if n.is_none_or(|n| a.len() == n) && !a.is_empty() => Ok(a),
                _ => Err(err(format!("{name} has the wrong number of arguments"))),
            }
        };
        match name {
            "Condition" => {
                let Some(c) = arg.as_str() else {
                    return Err(err("Condition must name a condition"));
                };
                self.conditions
                    .get(c)
                    .copied()
                    .ok_or_else(|| err(format!("Unresolved condition {c}")))
            }
            "Fn::Equals" => {
                let a = operands(Some(2))?;
                let left = self
                    .evaluate(&a[0])?
                    .map(|v| as_text(&v).unwrap_or_else(|| v.to_string()));
                let right = self
                    .evaluate(&a[1])?
                    .map(|v| as_text(&v).unwrap_or_else(|| v.to_string()));
                Ok(left == right)
            }
            "Fn::Not" => Ok(!self.condition(&operands(Some(1))?[0])?),
            "Fn::And" => {
                for c in operands(None)? {
                    if !self.condition(c)? {
                        return Ok(false);
                    }
                }
                Ok(true)
            }
            "Fn::Or" => {
                for c in operands(None)? {
                    if self.condition(c)? {
                        return Ok(true);
                    }
                }
                Ok(false)
            }
            _ => Ok(as_text(&self.required(v, "a condition")?).as_deref() == Some("true")),
        }
    }

    /// Evaluates a template's `Conditions` into `self.conditions`, each after those it names.
    pub fn evaluate_conditions(&mut self, conditions: &Map<String, Value>) -> Result<(), CfnError> {
        let mut pending: Vec<&String> = conditions.keys().collect();
        while !pending.is_empty() {
            let before = pending.len();
            let mut still = Vec::new();
            for name in pending {
                let mut named = Vec::new();
                condition_names(&conditions[name], &mut named);
                if let Some(missing) = named.iter().find(|n| !conditions.contains_key(*n)) {
                    return Err(CfnError::Validation(format!(
                        "Template format error: Unresolved dependencies [{missing}]. Cannot reference resources in the Conditions block of the template"
                    )));
                }
                if named.iter().all(|n| self.conditions.contains_key(n)) {
                    let holds = self.condition(&conditions[name])?;
                    self.conditions.insert(name.clone(), holds);
                } else {
                    still.push(name);
                }
            }
            if still.len() == before {
                return Err(CfnError::Validation(format!(
                    "Template format error: Circular dependency between conditions: [{}]",
                    still
                        .iter()
                        .map(|s| s.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                )));
            }
            pending = still;
        }
        Ok(())
    }
}

/// The conditions a condition names through `{"Condition": …}`.
fn condition_names(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                if k == "Condition"
                    && let Some(s) = x.as_str()
                {
                    out.push(s.to_owned());
                } else {
                    condition_names(x, out);
                }
            }
        }
        Value::Array(a) => a.iter().for_each(|x| condition_names(x, out)),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn scope() -> Scope {
        let mut s = Scope {
            region: "us-east-1".into(),
            ..Scope::default()
        };
        s.refs.insert("Env".into(), json!("prod"));
        s.refs.insert("List".into(), json!(["a", "b"]));
        s.refs.insert("AWS::Region".into(), json!("us-east-1"));
        s.refs.insert("Fn".into(), json!("my-fn"));
        s.attrs.insert(
            "Fn".into(),
            [(
                "Arn".to_owned(),
                json!("arn:aws:lambda:us-east-1:1:function:my-fn"),
            )]
            .into_iter()
            .collect(),
        );
        s.mappings = json!({"Sizes": {"prod": {"Mem": 512}}})
            .as_object()
            .cloned()
            .unwrap_or_default();
        s
    }

    fn eval(v: Value) -> Result<Option<Value>, CfnError> {
        scope().evaluate(&v)
    }

    #[test]
    fn evaluates_functions() {
        assert_eq!(eval(json!({"Ref": "Env"})), Ok(Some(json!("prod"))));
        assert_eq!(
            eval(json!({"Fn::Sub": "${Fn}-${Fn.Arn}-${!Keep}-${AWS::Region}"})),
            Ok(Some(json!(
                "my-fn-arn:aws:lambda:us-east-1:1:function:my-fn-${Keep}-us-east-1"
            )))
        );
        assert_eq!(
            eval(json!({"Fn::Sub": ["${X}!", {"X": {"Ref": "Env"}}]})),
            Ok(Some(json!("prod!")))
        );
        assert_eq!(
            eval(json!({"Fn::Join": ["-", {"Ref": "List"}]})),
            Ok(Some(json!("a-b")))
        );
        assert_eq!(
            eval(json!({"Fn::Select": [1, {"Fn::Split": [",", "x,y"]}]})),
            Ok(Some(json!("y")))
        );
        assert_eq!(
            eval(json!({"Fn::FindInMap": ["Sizes", {"Ref": "Env"}, "Mem"]})),
            Ok(Some(json!(512)))
        );
        assert_eq!(eval(json!({"Fn::Base64": "hi"})), Ok(Some(json!("aGk="))));
        assert_eq!(
            eval(json!({"Fn::Select": [0, {"Fn::GetAZs": ""}]})),
            Ok(Some(json!("us-east-1a")))
        );
        assert_eq!(
            eval(json!({"a": {"Ref": "AWS::NoValue"}, "b": [1, {"Ref": "AWS::NoValue"}]})),
            Ok(Some(json!({"b": [1]})))
        );
        assert!(eval(json!({"Fn::Select": [5, ["a"]]})).is_err());
        assert!(eval(json!({"Fn::GetAtt": ["Nope", "Arn"]})).is_err());
    }

    #[test]
    fn evaluates_conditions_in_order() {
        let mut s = scope();
        let conditions = json!({
            "IsProd": {"Fn::Equals": [{"Ref": "Env"}, "prod"]},
            "NotProd": {"Fn::Not": [{"Condition": "IsProd"}]},
            "Both": {"Fn::And": [{"Condition": "IsProd"}, {"Condition": "NotProd"}]},
            "Either": {"Fn::Or": [{"Condition": "IsProd"}, {"Condition": "NotProd"}]}
        });
        let conditions = conditions.as_object().cloned().unwrap_or_default();
        assert_eq!(s.evaluate_conditions(&conditions), Ok(()));
        assert_eq!(s.conditions.get("IsProd"), Some(&true));
        assert_eq!(s.conditions.get("NotProd"), Some(&false));
        assert_eq!(s.conditions.get("Both"), Some(&false));
        assert_eq!(s.conditions.get("Either"), Some(&true));
        assert_eq!(
            s.evaluate(&json!({"Fn::If": ["NotProd", 1, 2]})),
            Ok(Some(json!(2)))
        );
        let circular = json!({"A": {"Condition": "B"}, "B": {"Condition": "A"}});
        let mut s = scope();
        assert!(
            s.evaluate_conditions(circular.as_object().unwrap_or(&Map::new()))
                .is_err()
        );
    }
}
