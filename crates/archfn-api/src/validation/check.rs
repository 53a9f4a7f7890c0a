//! Checks a request's members against the model's constraints, in the model's member order, and
//! words each violation as Lambda's front end does (`Value '…' at 'field' failed to satisfy
//! constraint: …`). Type mismatches are left to the handlers' decoding.

use archfn_model::ValidationErrors;
use serde_json::Value;

use super::model::{Model, Shape};

/// Shapes whose enum Lambda does not check at the model: an unknown runtime is refused by the
/// control plane with `InvalidParameterValueException` and the list of current runtimes.
const ENUMS_CHECKED_ELSEWHERE: &[&str] = &["Runtime"];

/// Checks `value` (absent: `None`) of shape `shape_name` at `field`.
pub(crate) fn check(
    model: &Model,
    shape_name: &str,
    value: Option<&Value>,
    field: &str,
    errs: &mut ValidationErrors,
) {
    let (Some(shape), Some(value)) = (model.shape(shape_name), value) else {
        return;
    };
    if value.is_null() {
        return;
    }
    match shape.kind.as_str() {
        "structure" => {
            let Some(obj) = value.as_object() else {
                return;
            };
            for m in members_in_lambdas_order(shape_name, shape) {
                let sub = if field.is_empty() {
                    lower_first(&m.name)
                } else {
                    format!("{field}.{}", lower_first(&m.name))
                };
                let v = obj.get(&m.name);
                if shape.required.contains(&m.name) && v.is_none_or(Value::is_null) {
                    errs.push_null(&sub, "Member must not be null");
                    continue;
                }
                check(model, &m.shape, v, &sub, errs);
            }
        }
        "list" => {
            let Some(items) = value.as_array() else {
                return;
            };
            for c in length_violations(shape, items.len()) {
                push(model, shape_name, value, field, &c, errs);
            }
            let Some(member) = shape.member.as_deref() else {
                return;
            };
            if member == "Runtime" {
                // A list of runtimes (a layer's CompatibleRuntimes) is checked against every
                // identifier Lambda ever had, deprecated ones included, and worded without the
                // list-member wrapper, as Lambda words it.
                let known = model.shape(member).and_then(|s| s.allowed.as_ref());
                if let Some(known) = known
                    && items
                        .iter()
                        .any(|v| v.as_str().is_none_or(|r| !known.iter().any(|k| k == r)))
                {
                    let c = format!("Member must satisfy enum value set: [{}]", known.join(", "));
                    push(model, shape_name, value, field, &c, errs);
                }
            } else if is_structure(model, member) {
                for (i, item) in items.iter().enumerate() {
                    check(
                        model,
                        member,
                        Some(item),
                        &format!("{field}.{}.member", i + 1),
                        errs,
                    );
                }
            } else if items
                .iter()
                .any(|v| v.is_null() || !scalar_violations(model, member, v).is_empty())
            {
                let mut all = all_constraints(model, member);
                all.push("Member must not be null".to_owned());
                push(
                    model,
                    shape_name,
                    value,
                    field,
                    &format!("Member must satisfy constraint: [{}]", all.join(", ")),
                    errs,
                );
            }
        }
        "map" => {
            let Some(entries) = value.as_object() else {
                return;
            };
            for c in length_violations(shape, entries.len()) {
                push(model, shape_name, value, field, &c, errs);
            }
            if let Some(key) = shape.key.as_deref()
                && entries
                    .keys()
                    .any(|k| !scalar_violations(model, key, &Value::String(k.clone())).is_empty())
            {
                let all = all_constraints(model, key);
                push(
                    model,
                    shape_name,
                    value,
                    field,
                    &format!("Map keys must satisfy constraint: [{}]", all.join(", ")),
                    errs,
                );
            }
            if let Some(val) = shape.value.as_deref() {
                if is_structure(model, val) {
                    for (k, v) in entries {
                        check(model, val, Some(v), &format!("{field}.{k}"), errs);
                    }
                } else if entries
                    .values()
                    .any(|v| v.is_null() || !scalar_violations(model, val, v).is_empty())
                {
                    let mut all = all_constraints(model, val);
                    all.push("Member must not be null".to_owned());
                    push(
                        model,
                        shape_name,
                        value,
                        field,
                        &format!("Map value must satisfy constraint: [{}]", all.join(", ")),
                        errs,
                    );
                }
            }
        }
        _ => {
            let v = scalar_violations(model, shape_name, value);
            for c in v {
                push(model, shape_name, value, field, &c, errs);
            }
        }
    }
}

/// Where Lambda lists violations in another order than botocore's model declares the members
/// (recorded from Lambda's answers): the members named here come last, in this order.
const LISTED_LAST: &[(&str, &[&str])] =
    &[("PublishLayerVersionRequest", &["CompatibleArchitectures"])];

/// A structure's members in the order Lambda reports their violations.
fn members_in_lambdas_order<'m>(
    shape_name: &str,
    shape: &'m Shape,
) -> Vec<&'m super::model::Member> {
    let last = LISTED_LAST
        .iter()
        .find(|(s, _)| *s == shape_name)
        .map(|(_, names)| *names)
        .unwrap_or(&[]);
    let mut out: Vec<_> = shape
        .members
        .iter()
        .filter(|m| !last.contains(&m.name.as_str()))
        .collect();
    out.extend(
        last.iter()
            .filter_map(|n| shape.members.iter().find(|m| m.name == *n)),
    );
    out
}

/// Whether `value` has the JSON types `shape_name` needs, all the way down (a blob: valid
/// base64). Lambda reads a body before it validates it: a request that does not read is
/// refused by the handler's decoding (`InvalidRequestContentException`), not here.
pub(crate) fn well_typed(model: &Model, shape_name: &str, value: &Value) -> bool {
    let Some(shape) = model.shape(shape_name) else {
        return true;
    };
    if value.is_null() {
        return true;
    }
    match (shape.kind.as_str(), value) {
        ("structure", Value::Object(obj)) => shape.members.iter().all(|m| {
            obj.get(&m.name)
                .is_none_or(|v| well_typed(model, &m.shape, v))
        }),
        ("list", Value::Array(items)) => {
            let member = shape.member.as_deref().unwrap_or("");
            items
                .iter()
                .all(|v| !v.is_null() && well_typed(model, member, v))
        }
        ("map", Value::Object(entries)) => {
            let val = shape.value.as_deref().unwrap_or("");
            entries.values().all(|v| well_typed(model, val, v))
        }
        ("string", Value::String(_)) | ("boolean", Value::Bool(_)) => true,
        ("integer" | "long", Value::Number(n)) => n.as_i64().is_some(),
        ("double", Value::Number(_)) => true,
        ("timestamp", Value::Number(_) | Value::String(_)) => true,
        ("blob", Value::String(b64)) => {
            use base64::Engine as _;
            base64::engine::general_purpose::STANDARD
                .decode(b64.trim())
                .is_ok()
        }
        _ => false,
    }
}

fn is_structure(model: &Model, shape: &str) -> bool {
    model.shape(shape).is_some_and(|s| s.kind == "structure")
}

/// `FunctionName` → `functionName`, as Lambda names fields in messages.
pub(crate) fn lower_first(name: &str) -> String {
    let mut chars = name.chars();
    match chars.next() {
        Some(c) => c.to_lowercase().chain(chars).collect(),
        None => String::new(),
    }
}

fn length_violations(shape: &Shape, len: usize) -> Vec<String> {
    let mut out = Vec::new();
    let len = len as f64;
    if let Some(max) = shape.max
        && len > max
    {
        out.push(format!(
            "Member must have length less than or equal to {}",
            int(max)
        ));
    }
    if let Some(min) = shape.min
        && len < min
    {
        out.push(format!(
            "Member must have length greater than or equal to {}",
            int(min)
        ));
    }
    out
}

/// The constraints a scalar value breaks, in Lambda's order: length or value (upper bound
/// first), pattern, enum. A value of the wrong JSON type breaks none here.
fn scalar_violations(model: &Model, shape_name: &str, value: &Value) -> Vec<String> {
    let Some(shape) = model.shape(shape_name) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    match (shape.kind.as_str(), value) {
        ("string", Value::String(s)) => {
            out = length_violations(shape, s.encode_utf16().count());
            if let Some(p) = &shape.pattern
                && !model.matches(p, s)
            {
                out.push(format!(
                    "Member must satisfy regular expression pattern: {p}"
                ));
            }
            if let Some(allowed) = &shape.allowed
                && !ENUMS_CHECKED_ELSEWHERE.contains(&shape_name)
                && !allowed.iter().any(|a| a == s)
            {
                out.push(format!(
                    "Member must satisfy enum value set: [{}]",
                    allowed.join(", ")
                ));
            }
        }
        ("integer" | "long" | "double", Value::Number(n)) => {
            let Some(x) = n.as_f64() else {
                return out;
            };
            let double = shape.kind == "double";
            if let Some(max) = shape.max
                && x > max
            {
                out.push(format!(
                    "Member must have value less than or equal to {}",
                    number(max, double)
                ));
            }
            if let Some(min) = shape.min
                && x < min
            {
                out.push(format!(
                    "Member must have value greater than or equal to {}",
                    number(min, double)
                ));
            }
        }
        _ => {}
    }
    out
}

/// Every constraint of a scalar shape, as listed inside `Member must satisfy constraint: […]`.
fn all_constraints(model: &Model, shape_name: &str) -> Vec<String> {
    let Some(shape) = model.shape(shape_name) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    let numeric = matches!(shape.kind.as_str(), "integer" | "long" | "double");
    let double = shape.kind == "double";
    let what = if numeric { "value" } else { "length" };
    if let Some(max) = shape.max {
        out.push(format!(
            "Member must have {what} less than or equal to {}",
            number(max, double)
        ));
    }
    if let Some(min) = shape.min {
        out.push(format!(
            "Member must have {what} greater than or equal to {}",
            number(min, double)
        ));
    }
    if let Some(p) = &shape.pattern {
        out.push(format!(
            "Member must satisfy regular expression pattern: {p}"
        ));
    }
    if let Some(allowed) = &shape.allowed
        && !ENUMS_CHECKED_ELSEWHERE.contains(&shape_name)
    {
        out.push(format!(
            "Member must satisfy enum value set: [{}]",
            allowed.join(", ")
        ));
    }
    out
}

fn int(x: f64) -> String {
    format!("{}", x as i64)
}

/// A bound as Java prints it: `1.0` for a double, `1` for an integer.
fn number(x: f64, double: bool) -> String {
    if double {
        if x.fract() == 0.0 {
            format!("{x:.1}")
        } else {
            format!("{x}")
        }
    } else {
        int(x)
    }
}

/// Records `constraint` broken by `value` at `field`, echoing the value unless its shape is
/// sensitive.
fn push(
    model: &Model,
    shape_name: &str,
    value: &Value,
    field: &str,
    constraint: &str,
    errs: &mut ValidationErrors,
) {
    if model.shape(shape_name).is_some_and(|s| s.sensitive) {
        errs.push_unshown(field, constraint);
    } else {
        errs.push(&render(model, shape_name, value), field, constraint);
    }
}

/// A value as Lambda echoes it (Java's `toString`): lists `[a, b]`, maps `{k=v}`.
pub(crate) fn render(model: &Model, shape_name: &str, value: &Value) -> String {
    let shape = model.shape(shape_name);
    let double = shape.is_some_and(|s| s.kind == "double");
    match value {
        Value::String(s) => s.clone(),
        Value::Null => "null".to_owned(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => match (double, n.as_f64()) {
            (true, Some(x)) => number(x, true),
            _ => n.to_string(),
        },
        Value::Array(items) => {
            let member = shape.and_then(|s| s.member.as_deref()).unwrap_or("");
            let parts: Vec<String> = items.iter().map(|v| render(model, member, v)).collect();
            format!("[{}]", parts.join(", "))
        }
        Value::Object(entries) => {
            let val = shape.and_then(|s| s.value.as_deref()).unwrap_or("");
            let parts: Vec<String> = entries
                .iter()
                .map(|(k, v)| format!("{k}={}", render(model, val, v)))
                .collect();
            format!("{{{}}}", parts.join(", "))
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::super::model::model;
    use super::*;

    fn errors(shape: &str, v: Value) -> String {
        let mut errs = ValidationErrors::new();
        check(model(), shape, Some(&v), "", &mut errs);
        errs.message()
    }

    #[test]
    fn words_violations_as_lambda_does() {
        let m = errors(
            "CreateAliasRequest",
            json!({"FunctionName": "f", "Name": "2024", "FunctionVersion": "1",
                   "RoutingConfig": {"AdditionalVersionWeights": {"2": 2.0}}}),
        );
        assert_eq!(
            m,
            "2 validation errors detected: Value '2024' at 'name' failed to satisfy constraint: Member must satisfy regular expression pattern: (?!^[0-9]+$)([a-zA-Z0-9-_]+); Value '{2=2.0}' at 'routingConfig.additionalVersionWeights' failed to satisfy constraint: Map value must satisfy constraint: [Member must have value less than or equal to 1.0, Member must have value greater than or equal to 0.0, Member must not be null]"
        );
        let m = errors(
            "CreateFunctionRequest",
            json!({"FunctionName": "f", "Role": "r1", "Code": {}, "Architectures": ["X86_64"],
                   "Runtime": "python9", "MemorySize": 64}),
        );
        assert_eq!(
            m,
            "3 validation errors detected: Value 'r1' at 'role' failed to satisfy constraint: Member must satisfy regular expression pattern: arn:(aws[a-zA-Z-]*)?:iam::\\d{12}:role/?[a-zA-Z_0-9+=,.@\\-_/]+; Value '64' at 'memorySize' failed to satisfy constraint: Member must have value greater than or equal to 128; Value '[X86_64]' at 'architectures' failed to satisfy constraint: Member must satisfy constraint: [Member must satisfy enum value set: [x86_64, arm64], Member must not be null]"
        );
    }

    #[test]
    fn sensitive_values_are_not_echoed() {
        let m = errors(
            "UpdateFunctionConfigurationRequest",
            json!({"FunctionName": "f", "Environment": {"Variables": {"A": "secret"}}}),
        );
        assert_eq!(
            m,
            "1 validation error detected: Value at 'environment.variables' failed to satisfy constraint: Map keys must satisfy constraint: [Member must satisfy regular expression pattern: [a-zA-Z]([a-zA-Z0-9_])+]"
        );
    }

    #[test]
    fn required_members_and_good_values() {
        assert_eq!(
            errors(
                "CreateFunctionRequest",
                json!({"FunctionName": "f", "Code": {}})
            ),
            "1 validation error detected: Value null at 'role' failed to satisfy constraint: Member must not be null"
        );
        let mut errs = ValidationErrors::new();
        check(
            model(),
            "CreateFunctionRequest",
            Some(
                &json!({"FunctionName": "f", "Role": "arn:aws:iam::123456789012:role/x",
                         "Code": {"ZipFile": "UEs="}, "Runtime": "python3.12", "Timeout": 3,
                         "Layers": ["arn:aws:lambda:us-east-1:123456789012:layer:l:1"],
                         "TracingConfig": {"Mode": "Active"}}),
            ),
            "",
            &mut errs,
        );
        assert!(errs.is_empty(), "{}", errs.message());
    }
}
