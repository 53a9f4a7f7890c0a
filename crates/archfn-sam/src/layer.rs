//! `AWS::Serverless::LayerVersion`: an `AWS::Lambda::LayerVersion` whose logical id carries a hash of
//! the SAM resource (so each change publishes a new version), retained unless `RetentionPolicy` says
//! `Delete`, named after the SAM logical id unless `LayerName` is given.

use crate::canonical::hash_of;
use crate::function::s3_location;
use crate::{Document, ResourceError, is_intrinsic};
use serde_json::{Map, Value, json};

const PROPERTIES: [&str; 8] = [
    "LayerName",
    "Description",
    "PublishLambdaVersion",
    "ContentUri",
    "CompatibleArchitectures",
    "CompatibleRuntimes",
    "LicenseInfo",
    "RetentionPolicy",
];
const ATTRIBUTES: [&str; 5] = [
    "DeletionPolicy",
    "UpdatePolicy",
    "Condition",
    "UpdateReplacePolicy",
    "Metadata",
];
const PASSTHROUGH: [&str; 3] = ["Condition", "DeletionPolicy", "UpdateReplacePolicy"];

/// Expands one layer version; the new logical id is recorded so that references follow it.
pub(crate) fn expand(
    logical_id: &str,
    resource: &Value,
    document: &mut Document<'_>,
) -> Result<Vec<(String, Value)>, ResourceError> {
    let mut properties = match resource.get("Properties") {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(p)) => p.clone(),
        Some(_) => {
            return Err(ResourceError::new(
                logical_id,
                "Attribute 'Properties' should be a map.",
            ));
        }
    };
    if let Some(unknown) = properties
        .keys()
        .find(|k| !PROPERTIES.contains(&k.as_str()))
    {
        return Err(ResourceError::new(
            logical_id,
            format!(
                "property {unknown} not defined for resource of type AWS::Serverless::LayerVersion"
            ),
        ));
    }
    properties.retain(|_, v| !v.is_null());
    let Some(content) = properties.get("ContentUri").cloned() else {
        return Err(ResourceError::new(
            logical_id,
            "Missing required property 'ContentUri'.",
        ));
    };
    for name in ["LayerName", "LicenseInfo", "Description", "RetentionPolicy"] {
        if let Some(value) = properties.get(name) {
            let resolved = document.parameters.resolve(value);
            properties.insert(name.to_owned(), resolved);
        }
    }
    let options = "['Retain', 'Delete']";
    let retention = match properties.get("RetentionPolicy") {
        None => None,
        Some(v) if is_intrinsic(v) => {
            return Err(ResourceError::new(
                logical_id,
                format!(
                    "'RetentionPolicy' does not accept intrinsic functions, please use one of the following options: {options}"
                ),
            ));
        }
        Some(Value::String(v)) => match v.to_ascii_lowercase().as_str() {
            "retain" => Some("Retain"),
            "delete" => Some("Delete"),
            _ => {
                return Err(ResourceError::new(
                    logical_id,
                    format!("'RetentionPolicy' must be one of the following options: {options}."),
                ));
            }
        },
        Some(_) => {
            return Err(ResourceError::new(
                logical_id,
                format!(
                    "Invalid 'RetentionPolicy' type, please use one of the following options: {options}"
                ),
            ));
        }
    };
    let mut attributes: Map<String, Value> = PASSTHROUGH
        .iter()
        .filter_map(|n| resource.get(*n).map(|v| ((*n).to_owned(), v.clone())))
        .collect();
    attributes
        .entry("DeletionPolicy".to_owned())
        .or_insert(json!("Retain"));
    if let Some(retention) = retention {
        attributes.insert("DeletionPolicy".to_owned(), json!(retention));
    }

    // The hash covers the SAM resource as the translator holds it, without DeletionPolicy,
    // UpdateReplacePolicy and Metadata.
    let mut hashed = Map::new();
    hashed.insert("Type".to_owned(), json!("AWS::Serverless::LayerVersion"));
    for name in ATTRIBUTES {
        if let Some(value) = resource
            .get(name)
            .filter(|_| !matches!(name, "DeletionPolicy" | "UpdateReplacePolicy" | "Metadata"))
        {
            hashed.insert(name.to_owned(), value.clone());
        }
    }
    if let Some(depends_on) = resource
        .get("DependsOn")
        .filter(|d| !crate::canonical::is_falsy(d))
    {
        hashed.insert("DependsOn".to_owned(), depends_on.clone());
    }
    hashed.insert("Properties".to_owned(), Value::Object(properties.clone()));
    let mut wrapper = Map::new();
    wrapper.insert(logical_id.to_owned(), Value::Object(hashed));
    let new_id = format!("{logical_id}{}", hash_of(&Value::Object(wrapper), 10));

    let architectures = properties
        .get("CompatibleArchitectures")
        .cloned()
        .unwrap_or(json!(["x86_64"]));
    if let Value::Array(items) = &architectures {
        for item in items {
            if !is_intrinsic(item)
                && item.as_str() != Some("arm64")
                && item.as_str() != Some("x86_64")
            {
                return Err(ResourceError::new(
                    &new_id,
                    "CompatibleArchitectures needs to be a list of 'x86_64' or 'arm64'".to_string(),
                ));
            }
        }
    }
    let mut layer = Map::new();
    layer.insert(
        "LayerName".to_owned(),
        properties
            .get("LayerName")
            .cloned()
            .unwrap_or_else(|| json!(logical_id)),
    );
    for name in [
        "Description",
        "CompatibleArchitectures",
        "CompatibleRuntimes",
        "LicenseInfo",
    ] {
        if let Some(value) = properties.get(name) {
            layer.insert(name.to_owned(), value.clone());
        }
    }
    layer.insert(
        "Content".to_owned(),
        Value::Object(s3_location(&content, &new_id, "ContentUri")?),
    );

    let mut out = Map::new();
    out.insert("Type".to_owned(), json!("AWS::Lambda::LayerVersion"));
    if let Some(depends_on) = resource.get("DependsOn") {
        out.insert("DependsOn".to_owned(), depends_on.clone());
    }
    out.extend(attributes);
    out.insert("Properties".to_owned(), Value::Object(layer));
    document
        .changed_ids
        .insert(logical_id.to_owned(), new_id.clone());
    Ok(vec![(new_id, Value::Object(out))])
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    #[test]
    fn the_layer_takes_the_translator_s_hashed_id_and_references_follow() {
        // aws-sam-translator 1.115.0 names this layer version L3c2b834dbc.
        let template = json!({"Resources": {
            "L": {"Type": "AWS::Serverless::LayerVersion", "Properties": {"ContentUri": "s3://b/l.zip", "CompatibleRuntimes": ["python3.12"]}},
            "P": {"Type": "AWS::Lambda::LayerVersionPermission", "Properties": {"LayerVersionArn": {"Ref": "L"}}}}});
        let out = crate::transform(template, &crate::TransformContext::default()).unwrap();
        let layer = &out["Resources"]["L3c2b834dbc"];
        assert_eq!(layer["DeletionPolicy"], json!("Retain"));
        assert_eq!(layer["Properties"]["LayerName"], json!("L"));
        assert_eq!(
            layer["Properties"]["Content"],
            json!({"S3Bucket": "b", "S3Key": "l.zip"})
        );
        assert_eq!(
            out["Resources"]["P"]["Properties"]["LayerVersionArn"],
            json!({"Ref": "L3c2b834dbc"})
        );
    }

    #[test]
    fn retention_policy_sets_the_deletion_policy_and_is_checked() {
        let template = json!({"Resources": {"L": {"Type": "AWS::Serverless::LayerVersion", "Properties": {"ContentUri": "s3://b/l.zip", "RetentionPolicy": "DELETE"}}}});
        let out = crate::transform(template, &crate::TransformContext::default()).unwrap();
        let layer = out["Resources"]
            .as_object()
            .unwrap()
            .values()
            .next()
            .unwrap()
            .clone();
        assert_eq!(layer["DeletionPolicy"], json!("Delete"));
        let template = json!({"Resources": {"L": {"Type": "AWS::Serverless::LayerVersion", "Properties": {"ContentUri": "s3://b/l.zip", "RetentionPolicy": "Keep"}}}});
        let error = crate::transform(template, &crate::TransformContext::default()).unwrap_err();
        assert_eq!(
            error.causes(),
            [
                "Resource with id [L] is invalid. 'RetentionPolicy' must be one of the following options: ['Retain', 'Delete']."
            ]
        );
    }
}
