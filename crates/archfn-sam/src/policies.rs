//! The execution role SAM generates for a function without `Role`: Lambda's trust policy, the
//! managed policies (basic execution, X-Ray when traced, VPC access with a VpcConfig, then those
//! the `Policies` property names), and inline statements.

use crate::{Document, ResourceError, is_intrinsic, partition_of};
use serde_json::{Map, Value, json};
use std::sync::OnceLock;

/// AWS managed policies by path, one a line (scripts/sam-managed-policies.py writes it).
const MANAGED_POLICIES: &str = include_str!("../data/aws-managed-policies.txt");

/// The ARN of the AWS managed policy named `name` in `partition`, if AWS has one of that name.
pub(crate) fn managed_policy_arn(name: &str, partition: &str) -> Option<String> {
    MANAGED_POLICIES
        .lines()
        .find(|path| path.rsplit('/').next() == Some(name))
        .map(|path| format!("arn:{partition}:iam::aws:policy/{path}"))
}

/// SAM's policy templates: per name, its parameters and policy document (scripts/sam-policy-templates.py writes it).
const POLICY_TEMPLATES: &str = include_str!("../data/policy-templates.json");

fn policy_templates() -> &'static Map<String, Value> {
    static TEMPLATES: OnceLock<Map<String, Value>> = OnceLock::new();
    TEMPLATES.get_or_init(|| serde_json::from_str(POLICY_TEMPLATES).unwrap_or_default())
}

/// The template a one-key policy entry names, if it names one.
fn policy_template(entry: &Map<String, Value>) -> Option<&'static Value> {
    entry
        .keys()
        .next()
        .and_then(|name| policy_templates().get(name))
}

/// A policy template with its parameters' values laid in: every `{"Ref": parameter}` of the
/// document becomes the value given for it.
fn expand_template(entry: &Map<String, Value>, logical_id: &str) -> Result<Value, ResourceError> {
    let (Some((name, values)), Some(template)) = (entry.iter().next(), policy_template(entry))
    else {
        return Err(ResourceError::new(
            logical_id,
            "Policy template is not valid",
        ));
    };
    let Value::Object(values) = values else {
        return Err(ResourceError::new(
            logical_id,
            format!("Must specify valid parameter values for policy template '{name}'"),
        ));
    };
    let parameters: Vec<&str> = template
        .get("Parameters")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    let missing: Vec<String> = parameters
        .iter()
        .filter(|p| !values.contains_key(**p))
        .map(|p| format!("'{p}'"))
        .collect();
    if !missing.is_empty() {
        return Err(ResourceError::new(
            logical_id,
            format!(
                "Following required parameters of template '{name}' don't have values: [{}]",
                missing.join(", ")
            ),
        ));
    }
    let definition = template
        .get("Definition")
        .cloned()
        .unwrap_or(Value::Object(Map::new()));
    Ok(substitute(definition, &parameters, values))
}

fn substitute(value: Value, parameters: &[&str], values: &Map<String, Value>) -> Value {
    match value {
        Value::Object(map) => {
            if map.len() == 1
                && let Some(Value::String(name)) = map.get("Ref")
                && parameters.contains(&name.as_str())
            {
                return values.get(name).cloned().unwrap_or(Value::Null);
            }
            Value::Object(
                map.into_iter()
                    .map(|(k, v)| (k, substitute(v, parameters, values)))
                    .collect(),
            )
        }
        Value::Array(items) => Value::Array(
            items
                .into_iter()
                .map(|v| substitute(v, parameters, values))
                .collect(),
        ),
        other => other,
    }
}

fn aws_policy(path: &str, partition: &str) -> Value {
    json!(format!("arn:{partition}:iam::aws:policy/{path}"))
}

/// The `<Fn>Role` resource.
#[allow(clippy::too_many_arguments)]
pub(crate) fn execution_role(
    logical_id: &str,
    properties: &Map<String, Value>,
    passthrough: &Map<String, Value>,
    traced: bool,
    dead_letter: Option<(&str, Value)>,
    invoke_policies: Vec<Value>,
    tags: &[Value],
    document: &Document<'_>,
) -> Result<Value, ResourceError> {
    let partition = partition_of(&document.context.region);
    let get = |name: &str| properties.get(name).filter(|v| !v.is_null());
    let role_id = format!("{logical_id}Role");
    let mut managed = vec![if get("DurableConfig").is_some() {
        aws_policy(
            "service-role/AWSLambdaBasicDurableExecutionRolePolicy",
            partition,
        )
    } else {
        aws_policy("service-role/AWSLambdaBasicExecutionRole", partition)
    }];
    if traced {
        let name = if partition == "aws" {
            "AWSXrayWriteOnlyAccess"
        } else {
            "AWSXRayDaemonWriteAccess"
        };
        managed.push(aws_policy(name, partition));
    }
    if get("VpcConfig").is_some() {
        managed.push(aws_policy(
            "service-role/AWSLambdaVPCAccessExecutionRole",
            partition,
        ));
    }
    let mut documents: Vec<Value> = Vec::new();
    if let Some((action, target)) = dead_letter {
        documents.push(json!({"PolicyName": "DeadLetterQueuePolicy", "PolicyDocument": {
            "Version": "2012-10-17", "Statement": [{"Action": action, "Resource": target, "Effect": "Allow"}]}}));
    }
    documents.extend(invoke_policies);

    let listed: Vec<Value> = match get("Policies") {
        None => Vec::new(),
        Some(Value::Array(items)) => items.clone(),
        Some(single) => vec![single.clone()],
    };
    for (index, policy) in listed.iter().enumerate() {
        match policy {
            Value::String(name) => {
                let arn = managed_policy_arn(name, partition)
                    .map(Value::String)
                    .unwrap_or_else(|| policy.clone());
                if !managed.contains(&arn) {
                    managed.push(arn);
                }
            }
            p if p.get("Fn::If").is_some() => {
                return Err(ResourceError::new(
                    logical_id,
                    format!("Policy at index {index} is an Fn::If, which archfn does not support."),
                ));
            }
            p if is_intrinsic(p) => {
                if !managed.contains(p) {
                    managed.push(p.clone());
                }
            }
            Value::Object(map) if map.contains_key("Statement") => {
                documents.push(json!({"PolicyName": format!("{role_id}Policy{index}"), "PolicyDocument": policy}));
            }
            Value::Object(map) if map.len() == 1 && policy_template(map).is_some() => {
                let statement = expand_template(map, logical_id)?;
                documents.push(json!({"PolicyName": format!("{role_id}Policy{index}"), "PolicyDocument": statement}));
            }
            _ => {
                return Err(ResourceError::new(
                    logical_id,
                    format!("Policy at index {index} in the 'Policies' property is not valid"),
                ));
            }
        }
    }

    let mut role = Map::new();
    role.insert(
        "AssumeRolePolicyDocument".to_owned(),
        get("AssumeRolePolicyDocument").cloned().unwrap_or_else(|| {
            json!({"Version": "2012-10-17", "Statement": [{"Action": ["sts:AssumeRole"], "Effect": "Allow", "Principal": {"Service": ["lambda.amazonaws.com"]}}]})
        }),
    );
    role.insert("ManagedPolicyArns".to_owned(), Value::Array(managed));
    if !documents.is_empty() {
        role.insert("Policies".to_owned(), Value::Array(documents));
    }
    if let Some(path) = get("RolePath") {
        role.insert("Path".to_owned(), path.clone());
    }
    if let Some(boundary) = get("PermissionsBoundary") {
        role.insert("PermissionsBoundary".to_owned(), boundary.clone());
    }
    role.insert("Tags".to_owned(), Value::Array(tags.to_vec()));
    let mut out = Map::new();
    out.insert("Type".to_owned(), json!("AWS::IAM::Role"));
    out.extend(passthrough.clone());
    out.insert("Properties".to_owned(), Value::Object(role));
    Ok(Value::Object(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn managed_policy_names_resolve_to_their_paths() {
        assert_eq!(
            managed_policy_arn("AWSLambdaBasicExecutionRole", "aws").as_deref(),
            Some("arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole")
        );
        assert_eq!(
            managed_policy_arn("AmazonS3ReadOnlyAccess", "aws").as_deref(),
            Some("arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess")
        );
        assert_eq!(managed_policy_arn("NoSuchPolicy", "aws"), None);
    }

    #[test]
    fn policy_templates_take_their_parameters() {
        assert!(policy_templates().len() > 50);
        let entry =
            json!({"SQSSendMessagePolicy": {"QueueName": {"Fn::GetAtt": ["Q", "QueueName"]}}});
        let Value::Object(entry) = entry else {
            unreachable!()
        };
        let statement = expand_template(&entry, "F").unwrap();
        assert!(
            statement
                .to_string()
                .contains(r#"{"queueName":{"Fn::GetAtt":["Q","QueueName"]}}"#),
            "{statement}"
        );
        let entry = json!({"S3ReadPolicy": {}});
        let Value::Object(entry) = entry else {
            unreachable!()
        };
        assert_eq!(
            expand_template(&entry, "F").unwrap_err().text(),
            "Resource with id [F] is invalid. Following required parameters of template 'S3ReadPolicy' don't have values: ['BucketName']"
        );
    }
}
