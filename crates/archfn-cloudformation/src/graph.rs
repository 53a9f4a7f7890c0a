//! The order resources are made in: dependencies from `Ref`, `Fn::GetAtt`, `Fn::Sub` and
//! `DependsOn`, with CloudFormation's errors for references to nothing and for cycles.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use crate::error::CfnError;
use crate::template::Template;

/// Pseudo parameters every template may name.
pub const PSEUDO_PARAMETERS: &[&str] = &[
    "AWS::AccountId",
    "AWS::NotificationARNs",
    "AWS::NoValue",
    "AWS::Partition",
    "AWS::Region",
    "AWS::StackId",
    "AWS::StackName",
    "AWS::URLSuffix",
];

/// The names a value references: `Ref` targets, `Fn::GetAtt` resources, `Fn::Sub` variables
/// (the list form's own variables excepted).
pub fn references(v: &Value, out: &mut BTreeSet<String>) {
    match v {
        Value::Object(m) => {
            if m.len() == 1
                && let Some((k, arg)) = m.iter().next()
            {
                match k.as_str() {
                    "Ref" => {
                        if let Some(s) = arg.as_str() {
                            out.insert(s.to_owned());
                        }
                        return;
                    }
                    "Fn::GetAtt" => {
                        match arg {
                            Value::Array(a) => {
                                if let Some(s) = a.first().and_then(Value::as_str) {
                                    out.insert(s.to_owned());
                                }
                                a.iter().skip(1).for_each(|x| references(x, out));
                            }
                            Value::String(s) => {
                                out.insert(s.split('.').next().unwrap_or("").to_owned());
                            }
                            _ => {}
                        }
                        return;
                    }
                    "Fn::Sub" => {
                        let (text, vars) = match arg {
                            Value::String(s) => (s.as_str(), None),
                            Value::Array(a) if a.len() == 2 => {
                                (a[0].as_str().unwrap_or(""), a[1].as_object())
                            }
                            _ => ("", None),
                        };
                        let mut rest = text;
                        while let Some(start) = rest.find("${") {
                            let after = &rest[start + 2..];
                            let Some(end) = after.find('}') else { break };
                            let name = &after[..end];
                            if !name.starts_with('!') && !vars.is_some_and(|v| v.contains_key(name))
                            {
                                let target = if name.starts_with("AWS::") {
                                    name
                                } else {
                                    name.split('.').next().unwrap_or(name)
                                };
                                out.insert(target.to_owned());
                            }
                            rest = &after[end + 1..];
                        }
                        if let Some(vars) = vars {
                            vars.values().for_each(|x| references(x, out));
                        }
                        return;
                    }
                    _ => {}
                }
            }
            m.values().for_each(|x| references(x, out));
        }
        Value::Array(a) => a.iter().for_each(|x| references(x, out)),
        _ => {}
    }
}

/// Checks every reference of the template and returns the logical ids of its resources in an
/// order where each comes after those it depends on (template order among equals).
pub fn creation_order(t: &Template) -> Result<Vec<String>, CfnError> {
    let params: BTreeSet<&str> = t.parameters.iter().map(|p| p.name.as_str()).collect();
    let resources: BTreeSet<&str> = t.resources.iter().map(|r| r.logical_id.as_str()).collect();
    let known =
        |n: &str| resources.contains(n) || params.contains(n) || PSEUDO_PARAMETERS.contains(&n);
    let mut deps: BTreeMap<&str, BTreeSet<String>> = BTreeMap::new();
    let mut unresolved = BTreeSet::new();
    for r in &t.resources {
        let mut refs = BTreeSet::new();
        references(&r.properties, &mut refs);
        if let Some(policy) = &r.update_policy {
            references(policy, &mut refs);
        }
        for name in &refs {
            if !known(name) {
                unresolved.insert(name.clone());
            }
        }
        for d in &r.depends_on {
            if !resources.contains(d.as_str()) {
                return Err(CfnError::Validation(format!(
                    "Template format error: Unresolved resource dependencies [{d}] in the Resources block of the template"
                )));
            }
        }
        let mut on: BTreeSet<String> = refs
            .into_iter()
            .filter(|n| resources.contains(n.as_str()))
            .collect();
        on.extend(r.depends_on.iter().cloned());
        deps.insert(&r.logical_id, on);
    }
    if !unresolved.is_empty() {
        return Err(CfnError::Validation(format!(
            "Template format error: Unresolved resource dependencies [{}] in the Resources block of the template",
            unresolved.into_iter().collect::<Vec<_>>().join(", ")
        )));
    }
    let mut output_refs = BTreeSet::new();
    for o in &t.outputs {
        references(&o.value, &mut output_refs);
        if let Some(e) = &o.export_name {
            references(e, &mut output_refs);
        }
    }
    let missing: Vec<String> = output_refs.into_iter().filter(|n| !known(n)).collect();
    if !missing.is_empty() {
        return Err(CfnError::Validation(format!(
            "Template format error: Unresolved resource dependencies [{}] in the Outputs block of the template",
            missing.join(", ")
        )));
    }
    let mut order = Vec::new();
    let mut done: BTreeSet<&str> = BTreeSet::new();
    loop {
        let before = order.len();
        for r in &t.resources {
            let id = r.logical_id.as_str();
            if !done.contains(id)
                && deps
                    .get(id)
                    .is_some_and(|on| on.iter().all(|d| done.contains(d.as_str())))
            {
                done.insert(id);
                order.push(id.to_owned());
            }
        }
        if order.len() == t.resources.len() {
            return Ok(order);
        }
        if order.len() == before {
            let cycle: Vec<&str> = t
                .resources
                .iter()
                .map(|r| r.logical_id.as_str())
                .filter(|id| !done.contains(id))
                .collect();
            return Err(CfnError::Validation(format!(
                "Template format error: Circular dependency between resources: [{}]",
                cycle.join(", ")
            )));
        }
    }
}

/// The resources each resource depends on (within the template).
pub fn dependencies(t: &Template) -> BTreeMap<String, BTreeSet<String>> {
    let resources: BTreeSet<&str> = t.resources.iter().map(|r| r.logical_id.as_str()).collect();
    t.resources
        .iter()
        .map(|r| {
            let mut refs = BTreeSet::new();
            references(&r.properties, &mut refs);
            if let Some(policy) = &r.update_policy {
                references(policy, &mut refs);
            }
            let mut on: BTreeSet<String> = refs
                .into_iter()
                .filter(|n| resources.contains(n.as_str()))
                .collect();
            on.extend(r.depends_on.iter().cloned());
            (r.logical_id.clone(), on)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn order(v: Value) -> Result<Vec<String>, String> {
        let t = Template::from_value(v).map_err(|e| e.to_string())?;
        creation_order(&t).map_err(|e| e.to_string())
    }

    #[test]
    fn orders_by_references() {
        assert_eq!(
            order(json!({"Resources": {
                "Alias": {"Type": "AWS::Lambda::Alias", "Properties": {"FunctionName": {"Ref": "Fn"}, "FunctionVersion": {"Fn::GetAtt": ["Ver", "Version"]}}},
                "Ver": {"Type": "AWS::Lambda::Version", "Properties": {"FunctionName": {"Fn::Sub": "${Fn}"}}},
                "Fn": {"Type": "AWS::Lambda::Function", "DependsOn": "Role", "Properties": {}},
                "Role": {"Type": "AWS::IAM::Role"}
            }})),
            Ok(vec![
                "Role".into(),
                "Fn".into(),
                "Ver".into(),
                "Alias".into()
            ])
        );
    }

    #[test]
    fn an_update_policy_orders_the_deployment_group_first() {
        // SAM's alias names its deployment group only in its UpdatePolicy.
        assert_eq!(
            order(json!({"Resources": {
                "Alias": {"Type": "AWS::Lambda::Alias", "Properties": {}, "UpdatePolicy": {"CodeDeployLambdaAliasUpdate": {
                    "ApplicationName": {"Ref": "App"}, "DeploymentGroupName": {"Ref": "Group"}}}},
                "Group": {"Type": "AWS::CodeDeploy::DeploymentGroup", "Properties": {"ApplicationName": {"Ref": "App"}}},
                "App": {"Type": "AWS::CodeDeploy::Application"}
            }})),
            Ok(vec!["App".into(), "Group".into(), "Alias".into()])
        );
        assert!(
            order(
                json!({"Resources": {"Alias": {"Type": "AWS::Lambda::Alias", "UpdatePolicy": {
                "CodeDeployLambdaAliasUpdate": {"DeploymentGroupName": {"Ref": "Nowhere"}}}}}})
            )
            .is_err()
        );
    }

    #[test]
    fn reports_cycles_and_unresolved_references() {
        assert_eq!(
            order(json!({"Resources": {
                "A": {"Type": "AWS::IAM::Role", "Properties": {"X": {"Ref": "B"}}},
                "B": {"Type": "AWS::IAM::Role", "Properties": {"X": {"Fn::GetAtt": "A.Arn"}}}
            }})),
            Err("Template format error: Circular dependency between resources: [A, B]".into())
        );
        assert_eq!(
            order(json!({"Resources": {
                "A": {"Type": "AWS::IAM::Role", "Properties": {"X": {"Ref": "Nope"}}}
            }})),
            Err("Template format error: Unresolved resource dependencies [Nope] in the Resources block of the template".into())
        );
        assert_eq!(
            order(json!({"Resources": {"A": {"Type": "AWS::IAM::Role"}},
                "Outputs": {"O": {"Value": {"Fn::Sub": "${Gone.Arn}"}}}})),
            Err("Template format error: Unresolved resource dependencies [Gone] in the Outputs block of the template".into())
        );
        assert_eq!(
            order(json!({"Resources": {
                "A": {"Type": "AWS::IAM::Role", "Properties": {"X": {"Fn::Sub": ["${Local}", {"Local": "x"}]}}}
            }})),
            Ok(vec!["A".into()])
        );
    }
}
