//! `DeploymentPreference`: gradual deployments through CodeDeploy. Each function with an enabled
//! preference gets `<Fn>DeploymentGroup` and its alias an `UpdatePolicy`; the stack gets one
//! `ServerlessDeploymentApplication` and, unless every preference names its own role,
//! `CodeDeployServiceRole`.

use crate::{Parameters, ResourceError, get_att, is_intrinsic, partition_of, reference};
use serde_json::{Map, Value, json};

const APPLICATION: &str = "ServerlessDeploymentApplication";
const SERVICE_ROLE: &str = "CodeDeployServiceRole";

/// CodeDeploy's predefined Lambda configurations, which SAM writes as `CodeDeployDefault.Lambda<name>`.
const PREDEFINED: [&str; 9] = [
    "Canary10Percent5Minutes",
    "Canary10Percent10Minutes",
    "Canary10Percent15Minutes",
    "Canary10Percent30Minutes",
    "Linear10PercentEvery1Minute",
    "Linear10PercentEvery2Minutes",
    "Linear10PercentEvery3Minutes",
    "Linear10PercentEvery10Minutes",
    "AllAtOnce",
];

#[derive(Debug, Clone)]
struct Preference {
    function: String,
    enabled: bool,
    deployment_type: Value,
    pre_traffic: Option<Value>,
    post_traffic: Option<Value>,
    alarms: Option<Value>,
    role: Option<Value>,
    triggers: Option<Value>,
    tags: Option<Map<String, Value>>,
}

/// The preferences of every function of the template, in the order they were met.
#[derive(Debug, Default)]
pub(crate) struct Deployments {
    preferences: Vec<Preference>,
    partition: String,
}

fn truthy(value: &Value) -> bool {
    !crate::canonical::is_falsy(value)
}

impl Deployments {
    /// Records a function's preference; answers whether it is enabled.
    pub(crate) fn add(
        &mut self,
        function: &str,
        preference: &Value,
        passthrough: &Map<String, Value>,
        parameters: &Parameters,
    ) -> Result<bool, ResourceError> {
        let _ = passthrough;
        let enabled = match preference.get("Enabled").map(|e| parameters.resolve(e)) {
            None => true,
            Some(Value::String(s)) if s == "false" || s == "False" => false,
            Some(other) => truthy(&other),
        };
        if preference.get("PassthroughCondition").is_some() {
            return Err(ResourceError::new(
                function,
                "DeploymentPreference PassthroughCondition is not supported by archfn.",
            ));
        }
        if !enabled {
            self.preferences.push(Preference {
                function: function.to_owned(),
                enabled,
                deployment_type: Value::Null,
                pre_traffic: None,
                post_traffic: None,
                alarms: None,
                role: None,
                triggers: None,
                tags: None,
            });
            return Ok(false);
        }
        let Some(deployment_type) = preference.get("Type") else {
            return Err(ResourceError::new(
                function,
                "'DeploymentPreference' is missing required Property 'Type'",
            ));
        };
        let hooks = match preference.get("Hooks") {
            None => Map::new(),
            Some(Value::Object(h)) => h.clone(),
            Some(_) => {
                return Err(ResourceError::new(
                    function,
                    "'Hooks' property of 'DeploymentPreference' must be a dictionary",
                ));
            }
        };
        self.preferences.push(Preference {
            function: function.to_owned(),
            enabled,
            deployment_type: parameters.resolve(deployment_type),
            pre_traffic: hooks.get("PreTraffic").filter(|v| !v.is_null()).cloned(),
            post_traffic: hooks.get("PostTraffic").filter(|v| !v.is_null()).cloned(),
            alarms: preference.get("Alarms").filter(|v| !v.is_null()).cloned(),
            role: preference.get("Role").filter(|v| truthy(v)).cloned(),
            triggers: preference
                .get("TriggerConfigurations")
                .filter(|v| truthy(v))
                .cloned(),
            tags: None,
        });
        Ok(true)
    }

    /// Records the tags a function propagates (`PropagateTags`) to the CodeDeploy resources.
    pub(crate) fn propagate_tags(&mut self, function: &str, tags: &Map<String, Value>) {
        if let Some(p) = self
            .preferences
            .iter_mut()
            .find(|p| p.function == function && p.enabled)
        {
            p.tags = Some(tags.clone());
        }
    }

    /// Sets the partition of the managed policy ARNs.
    pub(crate) fn set_partition(&mut self, region: &str) {
        self.partition = partition_of(region).to_owned();
    }

    /// The alias's `UpdatePolicy` for a function with an enabled preference.
    pub(crate) fn update_policy(&self, function: &str) -> Value {
        let mut update = Map::new();
        update.insert("ApplicationName".to_owned(), reference(APPLICATION));
        update.insert(
            "DeploymentGroupName".to_owned(),
            reference(&format!("{function}DeploymentGroup")),
        );
        if let Some(p) = self.preferences.iter().find(|p| p.function == function) {
            if let Some(hook) = &p.pre_traffic {
                update.insert("BeforeAllowTrafficHook".to_owned(), hook.clone());
            }
            if let Some(hook) = &p.post_traffic {
                update.insert("AfterAllowTrafficHook".to_owned(), hook.clone());
            }
        }
        json!({ "CodeDeployLambdaAliasUpdate": update })
    }

    /// The CodeDeploy resources: application, service role and one deployment group per function.
    pub(crate) fn resources(&self) -> Result<Vec<(String, Value)>, ResourceError> {
        let enabled: Vec<&Preference> = self.preferences.iter().filter(|p| p.enabled).collect();
        if enabled.is_empty() {
            return Ok(Vec::new());
        }
        let partition = if self.partition.is_empty() {
            "aws"
        } else {
            self.partition.as_str()
        };
        let mut out = Vec::new();
        let mut application = Map::new();
        application.insert("ComputePlatform".to_owned(), json!("Lambda"));
        let mut merged_tags = Map::new();
        for p in &enabled {
            if let Some(tags) = &p.tags {
                merged_tags.extend(tags.clone());
            }
        }
        if !merged_tags.is_empty() {
            application.insert("Tags".to_owned(), tag_list(&merged_tags));
        }
        out.push((
            APPLICATION.to_owned(),
            json!({"Type": "AWS::CodeDeploy::Application", "Properties": application}),
        ));
        if !self
            .preferences
            .iter()
            .all(|p| p.role.is_some() || !p.enabled)
        {
            out.push((SERVICE_ROLE.to_owned(), json!({"Type": "AWS::IAM::Role", "Properties": {
                "AssumeRolePolicyDocument": {"Version": "2012-10-17", "Statement": [{"Action": ["sts:AssumeRole"], "Effect": "Allow", "Principal": {"Service": ["codedeploy.amazonaws.com"]}}]},
                "ManagedPolicyArns": [format!("arn:{partition}:iam::aws:policy/service-role/AWSCodeDeployRoleForLambda")],
            }})));
        }
        for p in enabled {
            let mut group = Map::new();
            if let Some(alarms) = alarm_configuration(p.alarms.as_ref())
                .map_err(|m| ResourceError::new(&p.function, m))?
            {
                group.insert("AlarmConfiguration".to_owned(), alarms);
            }
            group.insert("ApplicationName".to_owned(), reference(APPLICATION));
            group.insert("AutoRollbackConfiguration".to_owned(), json!({"Enabled": true, "Events": ["DEPLOYMENT_FAILURE", "DEPLOYMENT_STOP_ON_ALARM", "DEPLOYMENT_STOP_ON_REQUEST"]}));
            group.insert(
                "DeploymentConfigName".to_owned(),
                replace_types(p.deployment_type.clone(), None),
            );
            group.insert(
                "DeploymentStyle".to_owned(),
                json!({"DeploymentType": "BLUE_GREEN", "DeploymentOption": "WITH_TRAFFIC_CONTROL"}),
            );
            group.insert(
                "ServiceRoleArn".to_owned(),
                p.role
                    .clone()
                    .unwrap_or_else(|| get_att(SERVICE_ROLE, "Arn")),
            );
            if let Some(triggers) = &p.triggers {
                group.insert("TriggerConfigurations".to_owned(), triggers.clone());
            }
            if let Some(tags) = p.tags.as_ref().filter(|t| !t.is_empty()) {
                group.insert("Tags".to_owned(), tag_list(tags));
            }
            out.push((
                format!("{}DeploymentGroup", p.function),
                json!({"Type": "AWS::CodeDeploy::DeploymentGroup", "Properties": group}),
            ));
        }
        Ok(out)
    }
}

fn tag_list(tags: &Map<String, Value>) -> Value {
    Value::Array(tags.iter().map(|(k, v)| json!({"Key": k, "Value": if v.is_null() { json!("") } else { v.clone() }})).collect())
}

fn is_no_value(value: &Value) -> bool {
    value.get("Ref").and_then(Value::as_str) == Some("AWS::NoValue")
}

fn alarm_configuration(alarms: Option<&Value>) -> Result<Option<Value>, String> {
    let Some(alarms) = alarms.filter(|a| truthy(a) && !is_no_value(a)) else {
        return Ok(None);
    };
    if let Some(Value::Array(branches)) = alarms.get("Fn::If") {
        if branches.len() != 3 {
            return Err("Fn::If requires 3 arguments".to_owned());
        }
        let mut branches = branches.clone();
        for branch in branches.iter_mut().skip(1) {
            *branch = build_alarms(branch)?;
        }
        return Ok(Some(json!({"Fn::If": branches})));
    }
    build_alarms(alarms).map(Some)
}

fn build_alarms(alarms: &Value) -> Result<Value, String> {
    let Value::Array(list) = alarms else {
        return Err("Alarms must be a list".to_owned());
    };
    if list.first().is_none_or(is_no_value) {
        return Ok(json!({}));
    }
    Ok(
        json!({"Enabled": true, "Alarms": list.iter().map(|a| json!({"Name": a})).collect::<Vec<_>>()}),
    )
}

/// A predefined configuration's name as `Fn::Sub` of `CodeDeployDefault.Lambda${ConfigName}`,
/// also inside intrinsics; other values as they are.
fn replace_types(value: Value, key: Option<&str>) -> Value {
    match value {
        Value::Array(items) => {
            Value::Array(items.into_iter().map(|v| replace_types(v, None)).collect())
        }
        v if is_intrinsic(&v) => match v {
            Value::Object(map) => Value::Object(
                map.into_iter()
                    .map(|(k, v)| {
                        let replaced = replace_types(v, Some(&k));
                        (k, replaced)
                    })
                    .collect(),
            ),
            other => other,
        },
        Value::String(name) if PREDEFINED.contains(&name.as_str()) => {
            let sub = json!(["CodeDeployDefault.Lambda${ConfigName}", {"ConfigName": name}]);
            if key == Some("Fn::Sub") {
                sub
            } else {
                json!({"Fn::Sub": sub})
            }
        }
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn predefined_types_become_codedeploy_names_and_custom_ones_stay() {
        assert_eq!(
            replace_types(json!("AllAtOnce"), None),
            json!({"Fn::Sub": ["CodeDeployDefault.Lambda${ConfigName}", {"ConfigName": "AllAtOnce"}]})
        );
        assert_eq!(replace_types(json!("MyConfig"), None), json!("MyConfig"));
        assert_eq!(
            replace_types(json!({"Fn::If": ["C", "AllAtOnce", "X"]}), None),
            json!({"Fn::If": ["C", {"Fn::Sub": ["CodeDeployDefault.Lambda${ConfigName}", {"ConfigName": "AllAtOnce"}]}, "X"]})
        );
    }

    #[test]
    fn alarms_become_an_alarm_configuration() {
        assert_eq!(
            alarm_configuration(Some(&json!([{"Ref": "A"}]))).unwrap(),
            Some(json!({"Enabled": true, "Alarms": [{"Name": {"Ref": "A"}}]}))
        );
        assert_eq!(
            alarm_configuration(Some(&json!([{"Ref": "AWS::NoValue"}]))).unwrap(),
            Some(json!({}))
        );
        assert!(alarm_configuration(Some(&json!("A"))).is_err());
    }
}
