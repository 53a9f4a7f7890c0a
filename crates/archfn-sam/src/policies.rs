//! The execution role SAM generates for a function without `Role`: Lambda's trust policy, the
//! managed policies (basic execution, X-Ray when traced, VPC access with a VpcConfig, then those
//! the `Policies` property names), and inline statements.

use crate::{Document, ResourceError, is_intrinsic, partition_of};
use serde_json::{Map, Value, json};

/// AWS managed policies by path, one a line (scripts/sam-managed-policies.py writes it).
const MANAGED_POLICIES: &str = include_str!("../data/aws-managed-policies.txt");

/// The ARN of the AWS managed policy named `name` in `partition`, if AWS has one of that name.
pub(crate) fn managed_policy_arn(name: &str, partition: &str) -> Option<String> {
    MANAGED_POLICIES
        .lines()
        .find(|path| path.rsplit('/').next() == Some(name))
        .map(|path| format!("arn:{partition}:iam::aws:policy/{path}"))
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
            Value::Object(map) if map.len() == 1 => {
                let template = map.keys().next().map(String::as_str).unwrap_or_default();
                return Err(ResourceError::new(
                    logical_id,
                    format!("Policy template {template} is not supported by archfn."),
                ));
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
}
