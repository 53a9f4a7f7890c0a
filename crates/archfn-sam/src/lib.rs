//! The `AWS::Serverless-2016-10-31` transform (SAM), as AWS's translator (aws-sam-translator)
//! applies it, over a template already in long-form JSON (`{"Ref": …}`, `{"Fn::GetAtt": […]}`).
//!
//! Pure: no IO. archfn expands what it can run — `AWS::Serverless::Function` (without events)
//! and `AWS::Serverless::LayerVersion`, with `Globals` — and refuses the rest (other SAM resource
//! types, event sources, policy templates) with one error in the transform's own shape, never
//! dropping anything silently.

#![cfg_attr(test, allow(clippy::unwrap_used))]

mod canonical;
mod deployment;
mod function;
mod globals;
mod layer;
mod policies;
mod refs;

use serde_json::{Map, Value};
use std::collections::BTreeMap;

/// The transform's name, as a template's `Transform` gives it.
pub const SAM_TRANSFORM: &str = "AWS::Serverless-2016-10-31";

/// What the transform knows of the stack besides the template.
#[derive(Debug, Clone, Default)]
pub struct TransformContext {
    /// The stack's region, e.g. `us-east-1` (decides the partition of generated ARNs).
    pub region: String,
    /// The stack's account id.
    pub account_id: String,
    /// The stack's name.
    pub stack_name: String,
    /// Values given for the template's parameters (defaults are taken from the template).
    pub parameters: BTreeMap<String, Value>,
}

/// The transform's failure: the errors it found, each in the translator's words.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "Transform AWS::Serverless-2016-10-31 failed with: Invalid Serverless Application Specification document. Number of errors found: {}. {}",
    .causes.len(),
    .causes.join(" ")
)]
pub struct SamError {
    causes: Vec<String>,
}

impl SamError {
    /// The errors, each a sentence such as `Resource with id [F] is invalid. …`.
    pub fn causes(&self) -> &[String] {
        &self.causes
    }

    fn structure(message: &str) -> Self {
        Self {
            causes: vec![format!(
                "Structure of the SAM template is invalid. {message}"
            )],
        }
    }
}

/// One resource's error, before it is worded as the document's.
#[derive(Debug)]
pub(crate) struct ResourceError {
    logical_id: String,
    message: String,
}

impl ResourceError {
    pub(crate) fn new(logical_id: &str, message: impl Into<String>) -> Self {
        Self {
            logical_id: logical_id.to_owned(),
            message: message.into(),
        }
    }

    fn text(&self) -> String {
        format!(
            "Resource with id [{}] is invalid. {}",
            self.logical_id, self.message
        )
    }
}

/// Values of parameters and pseudo parameters that the translator resolves `Ref`s to.
#[derive(Debug)]
pub(crate) struct Parameters {
    values: BTreeMap<String, Value>,
}

impl Parameters {
    fn new(template: &Map<String, Value>, context: &TransformContext) -> Self {
        let mut values = context.parameters.clone();
        if let Some(Value::Object(declared)) = template.get("Parameters") {
            for (name, declaration) in declared {
                if let Some(default) = declaration.get("Default") {
                    values
                        .entry(name.clone())
                        .or_insert_with(|| default.clone());
                }
            }
        }
        let partition = partition_of(&context.region);
        for (name, value) in [
            ("AWS::Region", context.region.as_str()),
            ("AWS::AccountId", context.account_id.as_str()),
            ("AWS::StackName", context.stack_name.as_str()),
            ("AWS::Partition", partition),
        ] {
            if !value.is_empty() {
                values.insert(name.to_owned(), Value::String(value.to_owned()));
            }
        }
        Self { values }
    }

    /// A parameter's value, unless it is a placeholder CloudFormation passes for a value not known yet.
    fn value_of(&self, name: &str) -> Option<&Value> {
        self.values.get(name).filter(|v| {
            !v.as_str()
                .is_some_and(|s| s.starts_with("{{IntrinsicFunction:"))
        })
    }

    /// `value` with every `{"Ref": parameter}` replaced by the parameter's value and every
    /// `${parameter}` of an `Fn::Sub` string by its (string) value: the translator's
    /// `resolve_parameter_refs`.
    pub(crate) fn resolve(&self, value: &Value) -> Value {
        match value {
            Value::Object(map) => {
                let resolved: Map<String, Value> = map
                    .iter()
                    .map(|(k, v)| (k.clone(), self.resolve(v)))
                    .collect();
                if resolved.len() == 1 {
                    if let Some(Value::String(name)) = resolved.get("Ref")
                        && let Some(found) = self.value_of(name)
                    {
                        return found.clone();
                    }
                    if let Some(sub) = resolved.get("Fn::Sub") {
                        let substituted = match sub {
                            Value::String(text) => Value::String(self.substitute(text)),
                            Value::Array(parts) => {
                                let mut parts = parts.clone();
                                if let Some(Value::String(text)) = parts.first() {
                                    parts[0] = Value::String(self.substitute(text));
                                }
                                Value::Array(parts)
                            }
                            other => other.clone(),
                        };
                        let mut out = Map::new();
                        out.insert("Fn::Sub".to_owned(), substituted);
                        return Value::Object(out);
                    }
                }
                Value::Object(resolved)
            }
            Value::Array(items) => Value::Array(items.iter().map(|v| self.resolve(v)).collect()),
            other => other.clone(),
        }
    }

    /// `${name}` (a name of letters, digits and dots, or `AWS::Name`) replaced by the parameter's
    /// string value where there is one.
    fn substitute(&self, text: &str) -> String {
        let mut out = String::with_capacity(text.len());
        let mut rest = text;
        while let Some(start) = rest.find("${") {
            out.push_str(&rest[..start]);
            let after = &rest[start + 2..];
            let name_len = reference_name_len(after);
            if name_len > 0 && after[name_len..].starts_with('}') {
                let name = &after[..name_len];
                match self.value_of(name) {
                    Some(Value::String(value)) => out.push_str(value),
                    _ => {
                        out.push_str("${");
                        out.push_str(name);
                        out.push('}');
                    }
                }
                rest = &after[name_len + 1..];
            } else {
                out.push_str("${");
                rest = after;
            }
        }
        out.push_str(rest);
        out
    }
}

/// The length of the reference name at the start of `text`, as the translator's pattern
/// `[A-Za-z0-9.]+|AWS::[A-Z][A-Za-z]*` matches it before a `}`.
fn reference_name_len(text: &str) -> usize {
    let plain = text
        .bytes()
        .take_while(|b| b.is_ascii_alphanumeric() || *b == b'.')
        .count();
    if text[plain..].starts_with('}') {
        return plain;
    }
    if let Some(rest) = text.strip_prefix("AWS::") {
        let mut chars = rest.bytes();
        if chars.next().is_some_and(|b| b.is_ascii_uppercase()) {
            return 5
                + 1
                + rest
                    .bytes()
                    .skip(1)
                    .take_while(u8::is_ascii_alphabetic)
                    .count();
        }
    }
    plain
}

/// The partition of a region: `aws-cn` for China, `aws-us-gov` for GovCloud, else `aws`.
pub(crate) fn partition_of(region: &str) -> &'static str {
    if region.starts_with("cn-") {
        "aws-cn"
    } else if region.starts_with("us-gov-") {
        "aws-us-gov"
    } else {
        "aws"
    }
}

/// Whether `value` is an intrinsic function: an object of one key, `Ref`, `Condition` or `Fn::…`.
pub(crate) fn is_intrinsic(value: &Value) -> bool {
    match value {
        Value::Object(map) if map.len() == 1 => map
            .keys()
            .next()
            .is_some_and(|k| k == "Ref" || k == "Condition" || k.starts_with("Fn::")),
        _ => false,
    }
}

/// `{"Ref": id}`.
pub(crate) fn reference(logical_id: &str) -> Value {
    serde_json::json!({ "Ref": logical_id })
}

/// `{"Fn::GetAtt": [id, attribute]}`.
pub(crate) fn get_att(logical_id: &str, attribute: &str) -> Value {
    serde_json::json!({ "Fn::GetAtt": [logical_id, attribute] })
}

/// State shared by the resources of one transform.
#[derive(Debug)]
pub(crate) struct Document<'a> {
    pub(crate) context: &'a TransformContext,
    pub(crate) parameters: Parameters,
    pub(crate) deployments: deployment::Deployments,
    /// `Fn.Alias` / `Fn.Version` and the generated resources they name.
    pub(crate) property_refs: BTreeMap<String, String>,
    /// A SAM resource's logical id and the one its expansion took (layer versions).
    pub(crate) changed_ids: BTreeMap<String, String>,
    /// The template's `Resources` as given, for resources that look at others.
    pub(crate) original: Map<String, Value>,
}

/// Whether a generated resource of `new_type` may take the logical id of `existing` (the
/// translator's `do_not_verify`: a function replacing its SAM function, for instance; its test is
/// that the existing type is part of the listed one).
fn may_replace(new_type: &str, existing: &Value) -> bool {
    let existing_type = existing
        .get("Type")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let listed: &[&str] = match new_type {
        "AWS::Lambda::Function" => &["AWS::Serverless::Function"],
        "AWS::Lambda::LayerVersion" => &["AWS::Serverless::LayerVersion"],
        "AWS::ApiGateway::RestApi" => &["AWS::Serverless::Api"],
        "AWS::S3::Bucket" => &["AWS::S3::Bucket"],
        "AWS::SNS::Topic" => &["AWS::SNS::Topic"],
        "AWS::DynamoDB::Table" => &["AWS::Serverless::SimpleTable"],
        "AWS::StepFunctions::StateMachine" => &["AWS::Serverless::StateMachine"],
        _ => &[],
    };
    listed.iter().any(|t| t.contains(existing_type))
}

/// The SAM resource types archfn expands.
const EXPANDED_TYPES: [&str; 2] = ["AWS::Serverless::Function", "AWS::Serverless::LayerVersion"];

/// Expands a SAM template into a plain CloudFormation one, as the `AWS::Serverless-2016-10-31`
/// transform does; the errors are the transform's.
pub fn transform(template: Value, context: &TransformContext) -> Result<Value, SamError> {
    let Value::Object(mut template) = template else {
        return Err(SamError::structure("'Resources' section is required"));
    };
    let resources = match template.get("Resources") {
        Some(Value::Object(resources)) if !resources.is_empty() => resources.clone(),
        _ => return Err(SamError::structure("'Resources' section is required")),
    };
    if resources.values().any(|r| !r.is_object()) {
        return Err(SamError::structure(
            "All 'Resources' must be Objects. If you're using YAML, this may be an indentation issue.",
        ));
    }
    let merged = match template.remove("Globals") {
        Some(section) => {
            let parsed = globals::Globals::parse(&section).map_err(|message| SamError {
                causes: vec![message],
            })?;
            let mut merged = Map::new();
            for (id, resource) in resources {
                merged.insert(
                    id.clone(),
                    parsed.apply(&id, resource).map_err(|e| SamError {
                        causes: vec![e.text()],
                    })?,
                );
            }
            merged
        }
        None => resources,
    };

    let mut document = Document {
        context,
        parameters: Parameters::new(&template, context),
        deployments: deployment::Deployments::default(),
        property_refs: BTreeMap::new(),
        changed_ids: BTreeMap::new(),
        original: merged.clone(),
    };
    document.deployments.set_partition(&context.region);
    let mut errors: Vec<String> = Vec::new();
    let mut output = merged.clone();

    // Functions first, then the rest, as the translator orders them.
    let is_sam = |r: &Value| {
        r.get("Type")
            .and_then(Value::as_str)
            .is_some_and(|t| t.starts_with("AWS::Serverless::"))
    };
    let of_type = |r: &Value, t: &str| r.get("Type").and_then(Value::as_str) == Some(t);
    let mut order: Vec<(&String, &Value)> = merged
        .iter()
        .filter(|(_, r)| of_type(r, EXPANDED_TYPES[0]))
        .collect();
    order.extend(
        merged
            .iter()
            .filter(|(_, r)| is_sam(r) && !of_type(r, EXPANDED_TYPES[0])),
    );

    for (logical_id, resource) in order {
        let resource_type = resource
            .get("Type")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let expanded = match resource_type {
            "AWS::Serverless::Function" => function::expand(logical_id, resource, &mut document),
            "AWS::Serverless::LayerVersion" => layer::expand(logical_id, resource, &mut document),
            other => Err(ResourceError::new(
                logical_id,
                format!("Resource type {other} is not supported by archfn."),
            )),
        };
        match expanded {
            Ok(generated) => {
                output.remove(logical_id);
                for (new_id, new_resource) in generated {
                    let new_type = new_resource
                        .get("Type")
                        .and_then(Value::as_str)
                        .unwrap_or_default();
                    if merged
                        .get(&new_id)
                        .is_some_and(|existing| !may_replace(new_type, existing))
                    {
                        errors.push(format!(
                            "Transforming resource with id [{logical_id}] attempts to create a new resource with id [{new_id}] and type \"{new_type}\". A resource with that id already exists within this template. Please use a different id for that resource."
                        ));
                    } else {
                        output.insert(new_id, new_resource);
                    }
                }
            }
            Err(error) => errors.push(error.text()),
        }
    }

    match document.deployments.resources() {
        Ok(generated) => output.extend(generated),
        Err(error) => errors.push(error.text()),
    }

    if !errors.is_empty() {
        let mut seen = std::collections::HashSet::new();
        errors.retain(|e| seen.insert(e.clone()));
        return Err(SamError { causes: errors });
    }
    template.remove("Transform");
    template.insert("Resources".to_owned(), Value::Object(output));
    let mut result = Value::Object(template);
    refs::rewrite(&mut result, &document.changed_ids, &document.property_refs);
    Ok(result)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_template_without_resources_is_refused_in_the_transform_s_words() {
        let error = transform(
            json!({"Transform": SAM_TRANSFORM}),
            &TransformContext::default(),
        )
        .unwrap_err();
        assert_eq!(
            error.to_string(),
            "Transform AWS::Serverless-2016-10-31 failed with: Invalid Serverless Application Specification document. Number of errors found: 1. Structure of the SAM template is invalid. 'Resources' section is required"
        );
    }

    #[test]
    fn unsupported_sam_types_are_named_never_dropped() {
        let template = json!({"Resources": {"Api": {"Type": "AWS::Serverless::Api", "Properties": {"StageName": "p"}},
            "Q": {"Type": "AWS::SQS::Queue"}}});
        let error = transform(template, &TransformContext::default()).unwrap_err();
        assert_eq!(
            error.causes(),
            [
                "Resource with id [Api] is invalid. Resource type AWS::Serverless::Api is not supported by archfn."
            ]
        );
    }

    #[test]
    fn plain_resources_pass_through_and_the_transform_key_goes() {
        let template =
            json!({"Transform": SAM_TRANSFORM, "Resources": {"Q": {"Type": "AWS::SQS::Queue"}}});
        let out = transform(template, &TransformContext::default()).unwrap();
        assert_eq!(
            out,
            json!({"Resources": {"Q": {"Type": "AWS::SQS::Queue"}}})
        );
    }

    #[test]
    fn parameter_refs_resolve_to_given_values_then_defaults() {
        let template = json!({"Parameters": {"A": {"Type": "String", "Default": "d"}, "B": {"Type": "String", "Default": "e"}}});
        let Value::Object(template) = template else {
            unreachable!()
        };
        let context = TransformContext {
            parameters: [("A".to_owned(), json!("given"))].into(),
            ..Default::default()
        };
        let parameters = Parameters::new(&template, &context);
        assert_eq!(
            parameters.resolve(&json!({"x": [{"Ref": "A"}, {"Ref": "B"}, {"Ref": "C"}]})),
            json!({"x": ["given", "e", {"Ref": "C"}]})
        );
        assert_eq!(
            parameters.resolve(&json!({"Fn::Sub": "${A}/${B}-${C}-${A.Arn}-$${A}"})),
            json!({"Fn::Sub": "given/e-${C}-${A.Arn}-$given"})
        );
        assert_eq!(
            parameters.resolve(&json!({"Fn::Sub": ["${A}${X}", {"X": {"Ref": "B"}}]})),
            json!({"Fn::Sub": ["given${X}", {"X": "e"}]})
        );
    }

    #[test]
    fn odd_shapes_anywhere_are_answered_never_a_panic() {
        let odd = [
            json!(null),
            json!(1),
            json!("x"),
            json!([1, {}]),
            json!({}),
            json!({"Ref": 1}),
            json!({"Fn::If": [1]}),
            json!(-1.5e300),
        ];
        let names = [
            "CodeUri",
            "InlineCode",
            "ImageUri",
            "PackageType",
            "Handler",
            "Runtime",
            "Environment",
            "Layers",
            "Role",
            "Policies",
            "Tags",
            "AutoPublishAlias",
            "AutoPublishCodeSha256",
            "DeploymentPreference",
            "FunctionUrlConfig",
            "EventInvokeConfig",
            "Events",
            "DeadLetterQueue",
            "ProvisionedConcurrencyConfig",
            "Tracing",
            "MemorySize",
            "PropagateTags",
            "AutoPublishAliasAllProperties",
            "VersionDeletionPolicy",
            "SnapStart",
        ];
        let base = json!({"InlineCode": "x", "Handler": "a.h", "Runtime": "python3.12", "AutoPublishAlias": "live",
            "DeploymentPreference": {"Type": "AllAtOnce", "Alarms": [], "Hooks": {}},
            "EventInvokeConfig": {"DestinationConfig": {"OnSuccess": {"Type": "SQS"}}}});
        for name in names {
            for value in &odd {
                let mut properties = base.clone();
                properties[name] = value.clone();
                for nested in ["DeploymentPreference", "EventInvokeConfig"] {
                    let template = json!({"Globals": {"Function": {"Tags": {"a": "b"}, "Layers": ["l"]}},
                        "Resources": {"F": {"Type": "AWS::Serverless::Function", "Properties": properties.clone()},
                        "L": {"Type": "AWS::Serverless::LayerVersion", "Properties": {"ContentUri": value.clone(), "RetentionPolicy": value.clone()}}}});
                    let _ = transform(template, &TransformContext::default());
                    let mut deeper = properties.clone();
                    deeper[nested] = json!({"Type": value.clone(), "Alarms": value.clone(), "Hooks": value.clone(), "DestinationConfig": value.clone(), "Enabled": value.clone()});
                    let template = json!({"Resources": {"F": {"Type": "AWS::Serverless::Function", "Properties": deeper, "IgnoreGlobals": value.clone()}}});
                    let _ = transform(template, &TransformContext::default());
                }
            }
        }
        for template in [
            json!([]),
            json!({"Resources": []}),
            json!({"Resources": {"A": 1}}),
            json!({"Globals": 1, "Resources": {"A": {"Type": "AWS::Serverless::Function"}}}),
            json!({"Globals": {"Function": 1}, "Resources": {"A": {"Type": 1}}}),
        ] {
            assert!(transform(template, &TransformContext::default()).is_err());
        }
    }
}
