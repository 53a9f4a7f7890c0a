//! Templates: text (JSON or YAML) read into one JSON tree, its sections checked, its parameters
//! given values. Pure: no IO.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use crate::error::CfnError;
use crate::yaml;

/// The largest `TemplateBody` CloudFormation takes, in bytes.
pub const MAX_BODY_BYTES: usize = 51_200;
/// The largest template read from a `TemplateURL`, in bytes.
pub const MAX_URL_TEMPLATE_BYTES: usize = 1_048_576;
/// Most resources a template may declare.
pub const MAX_RESOURCES: usize = 500;
/// Most parameters a template may declare.
pub const MAX_PARAMETERS: usize = 200;
/// Most outputs a template may declare.
pub const MAX_OUTPUTS: usize = 200;
/// The transform that a SAM template names.
pub const SAM_TRANSFORM: &str = "AWS::Serverless-2016-10-31";

/// The sections a template may have.
const SECTIONS: &[&str] = &[
    "AWSTemplateFormatVersion",
    "Description",
    "Metadata",
    "Parameters",
    "Rules",
    "Mappings",
    "Conditions",
    "Transform",
    "Resources",
    "Outputs",
    "Hooks",
];

fn format_error(message: impl std::fmt::Display) -> CfnError {
    CfnError::Validation(format!("Template format error: {message}"))
}

/// Reads a template's text: JSON when it starts with `{`, YAML otherwise.
pub fn parse_text(text: &str) -> Result<Value, CfnError> {
    if text.len() > MAX_URL_TEMPLATE_BYTES {
        return Err(CfnError::Validation(
            "Template may not exceed 1048576 bytes in size.".into(),
        ));
    }
    let value = if text.trim_start().starts_with('{') {
        serde_json::from_str::<Value>(text).map_err(|e| {
            format_error(format!(
                "JSON not well-formed. (line {}, column {})",
                e.line(),
                e.column()
            ))
        })?
    } else {
        yaml::parse(text).map_err(format_error)?
    };
    if !value.is_object() {
        return Err(format_error("template must be an object"));
    }
    Ok(value)
}

/// A parameter's declaration.
#[derive(Debug, Clone, PartialEq)]
pub struct ParameterDecl {
    /// Its name.
    pub name: String,
    /// `String`, `Number`, `CommaDelimitedList`, `List<Number>`, an AWS-specific type…
    pub kind: String,
    /// Its default value.
    pub default: Option<String>,
    /// Its description.
    pub description: Option<String>,
    /// Whether its value is masked in answers.
    pub no_echo: bool,
    /// The values it may take.
    pub allowed_values: Option<Vec<String>>,
    /// A pattern its value must match whole.
    pub allowed_pattern: Option<String>,
    /// Fewest characters.
    pub min_length: Option<u64>,
    /// Most characters.
    pub max_length: Option<u64>,
    /// Smallest number.
    pub min_value: Option<f64>,
    /// Largest number.
    pub max_value: Option<f64>,
}

/// A resource's declaration.
#[derive(Debug, Clone, PartialEq)]
pub struct ResourceDecl {
    /// Its logical id.
    pub logical_id: String,
    /// Its type (`AWS::Lambda::Function`).
    pub kind: String,
    /// Its properties (intrinsics unresolved).
    pub properties: Value,
    /// The condition that decides whether it exists.
    pub condition: Option<String>,
    /// Resources it waits for.
    pub depends_on: Vec<String>,
    /// `Retain` keeps it at deletion.
    pub deletion_policy: Option<String>,
    /// Its `UpdatePolicy` (intrinsics unresolved), e.g. an alias's `CodeDeployLambdaAliasUpdate`.
    pub update_policy: Option<Value>,
}

/// An output's declaration.
#[derive(Debug, Clone, PartialEq)]
pub struct OutputDecl {
    /// Its key.
    pub key: String,
    /// Its value (intrinsics unresolved).
    pub value: Value,
    /// Its description.
    pub description: Option<String>,
    /// The export's name (intrinsics unresolved).
    pub export_name: Option<Value>,
    /// The condition that decides whether it exists.
    pub condition: Option<String>,
}

/// A template, its sections read.
#[derive(Debug, Clone, PartialEq)]
pub struct Template {
    /// The whole tree.
    pub raw: Value,
    /// Its description.
    pub description: Option<String>,
    /// Parameters, in template order.
    pub parameters: Vec<ParameterDecl>,
    /// `Mappings`, as written.
    pub mappings: Map<String, Value>,
    /// `Conditions`, as written.
    pub conditions: Map<String, Value>,
    /// Resources, in template order.
    pub resources: Vec<ResourceDecl>,
    /// Outputs, in template order.
    pub outputs: Vec<OutputDecl>,
    /// The transforms it names.
    pub transforms: Vec<String>,
}

fn string_of(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn number_of(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

fn section(raw: &Map<String, Value>, name: &str) -> Result<Map<String, Value>, CfnError> {
    match raw.get(name) {
        None | Some(Value::Null) => Ok(Map::new()),
        Some(Value::Object(m)) => Ok(m.clone()),
        Some(_) => Err(format_error(format!(
            "Every {name} member must be an object."
        ))),
    }
}

impl Template {
    /// Reads a template's sections from its tree.
    pub fn from_value(raw: Value) -> Result<Template, CfnError> {
        let Value::Object(top) = &raw else {
            return Err(format_error("template must be an object"));
        };
        // `Globals` is SAM's section: a template naming the transform may have it.
        let sam = match top.get("Transform") {
            Some(Value::String(s)) => s == SAM_TRANSFORM,
            Some(Value::Array(a)) => a.iter().any(|t| t.as_str() == Some(SAM_TRANSFORM)),
            _ => false,
        };
        let unknown: Vec<&str> = top
            .keys()
            .map(String::as_str)
            .filter(|k| !SECTIONS.contains(k) && (!sam || *k != "Globals"))
            .collect();
        if !unknown.is_empty() {
            return Err(format_error(format!(
                "Invalid template property or properties [{}]",
                unknown.join(", ")
            )));
        }
        if let Some(v) = top.get("AWSTemplateFormatVersion")
            && string_of(v).as_deref() != Some("2010-09-09")
        {
            return Err(format_error(
                "Unsupported template version string. Valid values are [2010-09-09]",
            ));
        }
        let transforms = match top.get("Transform") {
            None => Vec::new(),
            Some(Value::String(s)) => vec![s.clone()],
            Some(Value::Array(a)) => a.iter().filter_map(string_of).collect(),
            Some(_) => return Err(format_error("Transform must be a string or a list")),
        };
        let mut parameters = Vec::new();
        for (name, decl) in section(top, "Parameters")? {
            let Value::Object(d) = decl else {
                return Err(format_error(
                    "Every Parameters object must contain a Type member.",
                ));
            };
            let Some(kind) = d.get("Type").and_then(string_of) else {
                return Err(format_error(
                    "Every Parameters object must contain a Type member.",
                ));
            };
            if !is_parameter_type(&kind) {
                return Err(format_error(format!("Unrecognized parameter type: {kind}")));
            }
            let length = |k: &str| d.get(k).and_then(number_of).map(|n| n.max(0.0) as u64);
            parameters.push(ParameterDecl {
                name: name.clone(),
                kind,
                default: d.get("Default").and_then(|v| match v {
                    Value::Array(a) => {
                        Some(a.iter().filter_map(string_of).collect::<Vec<_>>().join(","))
                    }
                    v => string_of(v),
                }),
                description: d.get("Description").and_then(string_of),
                no_echo: d
                    .get("NoEcho")
                    .and_then(string_of)
                    .is_some_and(|s| s.eq_ignore_ascii_case("true")),
                allowed_values: d
                    .get("AllowedValues")
                    .and_then(Value::as_array)
                    .map(|a| a.iter().filter_map(string_of).collect()),
                allowed_pattern: d.get("AllowedPattern").and_then(string_of),
                min_length: length("MinLength"),
                max_length: length("MaxLength"),
                min_value: d.get("MinValue").and_then(number_of),
                max_value: d.get("MaxValue").and_then(number_of),
            });
        }
        let resources_section = section(top, "Resources")?;
        for (name, count, max) in [
            ("resources", resources_section.len(), MAX_RESOURCES),
            (
                "parameters",
                section(top, "Parameters")?.len(),
                MAX_PARAMETERS,
            ),
            ("outputs", section(top, "Outputs")?.len(), MAX_OUTPUTS),
        ] {
            if count > max {
                return Err(format_error(format!(
                    "Number of {name}, {count}, is greater than maximum allowed, {max}"
                )));
            }
        }
        if resources_section.is_empty() {
            return Err(format_error(
                "At least one Resources member must be defined.",
            ));
        }
        let mut resources = Vec::new();
        for (logical_id, decl) in resources_section {
            if logical_id.is_empty()
                || logical_id.len() > 255
                || !logical_id.bytes().all(|b| b.is_ascii_alphanumeric())
            {
                return Err(format_error(format!(
                    "Resource name {logical_id} is non alphanumeric."
                )));
            }
            let Value::Object(d) = decl else {
                return Err(format_error(format!(
                    "[/Resources/{logical_id}] Every Resources object must contain a Type member."
                )));
            };
            let Some(kind) = d.get("Type").and_then(Value::as_str) else {
                return Err(format_error(format!(
                    "[/Resources/{logical_id}] Every Resources object must contain a Type member."
                )));
            };
            let depends_on = match d.get("DependsOn") {
                None => Vec::new(),
                Some(Value::String(s)) => vec![s.clone()],
                Some(Value::Array(a)) => a.iter().filter_map(string_of).collect(),
                Some(_) => {
                    return Err(format_error(format!(
                        "[/Resources/{logical_id}/DependsOn] DependsOn must be a string or list of strings"
                    )));
                }
            };
            let properties = match d.get("Properties") {
                None | Some(Value::Null) => Value::Object(Map::new()),
                Some(v @ Value::Object(_)) => v.clone(),
                Some(_) => {
                    return Err(format_error(format!(
                        "[/Resources/{logical_id}/Properties] Properties must be an object"
                    )));
                }
            };
            resources.push(ResourceDecl {
                logical_id: logical_id.clone(),
                kind: kind.to_owned(),
                properties,
                condition: d.get("Condition").and_then(string_of),
                depends_on,
                deletion_policy: d.get("DeletionPolicy").and_then(string_of),
                update_policy: d.get("UpdatePolicy").filter(|v| v.is_object()).cloned(),
            });
        }
        let mut outputs = Vec::new();
        for (key, decl) in section(top, "Outputs")? {
            let Value::Object(d) = decl else {
                return Err(format_error(format!(
                    "[/Outputs/{key}] Every Outputs member must contain a Value object"
                )));
            };
            let Some(value) = d.get("Value") else {
                return Err(format_error(format!(
                    "[/Outputs/{key}] Every Outputs member must contain a Value object"
                )));
            };
            outputs.push(OutputDecl {
                key: key.clone(),
                value: value.clone(),
                description: d.get("Description").and_then(string_of),
                export_name: d
                    .get("Export")
                    .and_then(Value::as_object)
                    .and_then(|e| e.get("Name"))
                    .cloned(),
                condition: d.get("Condition").and_then(string_of),
            });
        }
        let conditions = section(top, "Conditions")?;
        for r in &resources {
            if let Some(c) = &r.condition
                && !conditions.contains_key(c)
            {
                return Err(format_error(format!(
                    "Unresolved dependencies [{c}]. Cannot reference resources in the Conditions block of the template"
                )));
            }
        }
        Ok(Template {
            description: top.get("Description").and_then(string_of),
            parameters,
            mappings: section(top, "Mappings")?,
            conditions,
            resources,
            outputs,
            transforms,
            raw,
        })
    }

    /// Whether the template must first go through the SAM transform.
    pub fn needs_sam_transform(&self) -> bool {
        self.transforms.iter().any(|t| t == SAM_TRANSFORM)
    }
}

fn is_parameter_type(kind: &str) -> bool {
    matches!(
        kind,
        "String" | "Number" | "CommaDelimitedList" | "List<Number>"
    ) || kind.starts_with("AWS::")
        || kind.starts_with("List<AWS::")
}

/// A parameter as the caller gave it: a value, or the previous value kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GivenParameter {
    /// Its key.
    pub key: String,
    /// The value given.
    pub value: Option<String>,
    /// Keep the value the stack has.
    pub use_previous: bool,
}

/// Parameter values, checked against the declarations: each declared parameter's value, as a
/// string (a list's items joined by commas).
pub fn resolve_parameters(
    decls: &[ParameterDecl],
    given: &[GivenParameter],
    previous: &BTreeMap<String, String>,
) -> Result<BTreeMap<String, String>, CfnError> {
    let unknown: Vec<&str> = given
        .iter()
        .filter(|g| !decls.iter().any(|d| d.name == g.key))
        .map(|g| g.key.as_str())
        .collect();
    if !unknown.is_empty() {
        return Err(CfnError::Validation(format!(
            "Parameters: [{}] do not exist in the template",
            unknown.join(", ")
        )));
    }
    let mut values = BTreeMap::new();
    let mut missing = Vec::new();
    for d in decls {
        let g = given.iter().find(|g| g.key == d.name);
        let value = match g {
            Some(g) if g.use_previous => previous.get(&d.name).cloned(),
            Some(g) => g.value.clone(),
            None => d.default.clone(),
        };
        match value {
            None => missing.push(d.name.as_str()),
            Some(v) => {
                check_parameter(d, &v)?;
                values.insert(d.name.clone(), v);
            }
        }
    }
    if !missing.is_empty() {
        return Err(CfnError::Validation(format!(
            "Parameters: [{}] must have values",
            missing.join(", ")
        )));
    }
    Ok(values)
}

fn check_parameter(d: &ParameterDecl, v: &str) -> Result<(), CfnError> {
    let name = &d.name;
    let items: Vec<&str> = if d.kind.starts_with("List<") || d.kind == "CommaDelimitedList" {
        v.split(',').map(str::trim).collect()
    } else {
        vec![v]
    };
    let numeric = d.kind == "Number" || d.kind == "List<Number>";
    for item in items {
        if numeric {
            let Ok(n) = item.trim().parse::<f64>() else {
                return Err(CfnError::Validation(format!(
                    "Parameter '{name}' must be a number."
                )));
            };
            if let Some(min) = d.min_value
                && n < min
            {
                return Err(CfnError::Validation(format!(
                    "Parameter '{name}' must be a number not less than {}",
                    fmt_number(min)
                )));
            }
            if let Some(max) = d.max_value
                && n > max
            {
                return Err(CfnError::Validation(format!(
                    "Parameter '{name}' must be a number not greater than {}",
                    fmt_number(max)
                )));
            }
        }
        if let Some(allowed) = &d.allowed_values
            && !allowed.iter().any(|a| a == item)
        {
            return Err(CfnError::Validation(format!(
                "Parameter '{name}' must be one of AllowedValues"
            )));
        }
    }
    let chars = v.chars().count() as u64;
    if let Some(min) = d.min_length
        && chars < min
    {
        return Err(CfnError::Validation(format!(
            "Parameter '{name}' must contain at least {min} characters"
        )));
    }
    if let Some(max) = d.max_length
        && chars > max
    {
        return Err(CfnError::Validation(format!(
            "Parameter '{name}' must contain at most {max} characters"
        )));
    }
    if let Some(pattern) = &d.allowed_pattern {
        let re = fancy_regex::Regex::new(&format!("^(?:{pattern})$")).map_err(|_| {
            CfnError::Validation(format!(
                "Parameter '{name}' has an AllowedPattern that is not a valid pattern"
            ))
        })?;
        if !re.is_match(v).unwrap_or(false) {
            return Err(CfnError::Validation(format!(
                "Parameter '{name}' must match pattern {pattern}"
            )));
        }
    }
    Ok(())
}

fn fmt_number(n: f64) -> String {
    if n.fract() == 0.0 && n.abs() < 1e15 {
        format!("{}", n as i64)
    } else {
        n.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn template(v: Value) -> Result<Template, CfnError> {
        Template::from_value(v)
    }

    fn message(e: CfnError) -> String {
        e.to_string()
    }

    #[test]
    fn reports_syntax_errors_as_cloudformation_does() {
        let e = parse_text("{\"Resources\": ").map(|_| ()).map_err(message);
        assert!(
            e.as_ref()
                .is_err_and(|m| m.starts_with("Template format error: JSON not well-formed.")),
            "{e:?}"
        );
        let e = parse_text("Resources:\n  A: [1,\n")
            .map(|_| ())
            .map_err(message);
        assert!(
            e.as_ref()
                .is_err_and(|m| m.starts_with("Template format error: YAML not well-formed.")),
            "{e:?}"
        );
    }

    #[test]
    fn reads_sections() -> Result<(), CfnError> {
        let t = template(json!({
            "Parameters": {"P": {"Type": "String", "Default": "x", "AllowedValues": ["x", "y"]}},
            "Resources": {"A": {"Type": "AWS::IAM::Role", "DependsOn": "B"}, "B": {"Type": "AWS::IAM::Role"}},
            "Outputs": {"O": {"Value": {"Ref": "A"}, "Export": {"Name": "e"}}}
        }))?;
        assert_eq!(t.parameters.len(), 1);
        assert_eq!(t.resources[0].depends_on, vec!["B".to_owned()]);
        assert_eq!(t.outputs[0].export_name, Some(json!("e")));
        Ok(())
    }

    #[test]
    fn refuses_too_many_resources() {
        let resources: Map<String, Value> = (0..501)
            .map(|i| (format!("R{i}"), json!({"Type": "AWS::IAM::Role"})))
            .collect();
        let e = template(json!({ "Resources": resources })).map_err(message);
        assert_eq!(
            e,
            Err("Template format error: Number of resources, 501, is greater than maximum allowed, 500".into())
        );
    }

    #[test]
    fn refuses_templates_without_resources() {
        let e = template(json!({"Description": "x"})).map_err(message);
        assert_eq!(
            e,
            Err("Template format error: At least one Resources member must be defined.".into())
        );
    }

    #[test]
    fn checks_parameter_values() {
        let decls = match template(json!({
            "Parameters": {
                "Env": {"Type": "String", "AllowedValues": ["dev", "prod"]},
                "Mem": {"Type": "Number", "MinValue": 128, "MaxValue": 1024, "Default": 256},
                "Name": {"Type": "String", "AllowedPattern": "[a-z]+", "MinLength": 2, "Default": "ab"}
            },
            "Resources": {"A": {"Type": "AWS::IAM::Role"}}
        })) {
            Ok(t) => t.parameters,
            Err(e) => panic!("{e}"),
        };
        let given = |k: &str, v: &str| GivenParameter {
            key: k.into(),
            value: Some(v.into()),
            use_previous: false,
        };
        let none = BTreeMap::new();
        assert_eq!(
            resolve_parameters(&decls, &[], &none).map_err(message),
            Err("Parameters: [Env] must have values".into())
        );
        assert_eq!(
            resolve_parameters(&decls, &[given("Env", "qa")], &none).map_err(message),
            Err("Parameter 'Env' must be one of AllowedValues".into())
        );
        assert_eq!(
            resolve_parameters(&decls, &[given("Env", "dev"), given("Mem", "64")], &none)
                .map_err(message),
            Err("Parameter 'Mem' must be a number not less than 128".into())
        );
        assert_eq!(
            resolve_parameters(&decls, &[given("Env", "dev"), given("Name", "A1")], &none)
                .map_err(message),
            Err("Parameter 'Name' must match pattern [a-z]+".into())
        );
        assert_eq!(
            resolve_parameters(&decls, &[given("Nope", "x")], &none).map_err(message),
            Err("Parameters: [Nope] do not exist in the template".into())
        );
        let ok = resolve_parameters(&decls, &[given("Env", "dev")], &none);
        assert_eq!(
            ok.ok().and_then(|m| m.get("Mem").cloned()),
            Some("256".to_owned())
        );
    }
}
