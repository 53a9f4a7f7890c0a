//! The `Globals` section: its properties laid under each resource of the type, as the translator
//! merges them (a resource's own value wins; maps merge key by key; lists concatenate, global
//! first; `Function.Architectures` is replaced; an intrinsic counts as a plain value).

use crate::ResourceError;
use serde_json::{Map, Value};

/// The sections the translator accepts, in its order (for its error text).
const SECTIONS: [&str; 10] = [
    "Api",
    "CapacityProvider",
    "Function",
    "HttpApi",
    "LayerVersion",
    "MicrovmImage",
    "NetworkConnector",
    "SimpleTable",
    "StateMachine",
    "WebSocketApi",
];

/// Every property of `AWS::Serverless::Function` but Role, Policies, FunctionName and Events.
const FUNCTION_PROPERTIES: [&str; 39] = [
    "Handler",
    "Runtime",
    "CodeUri",
    "DeadLetterQueue",
    "Description",
    "MemorySize",
    "Timeout",
    "VpcConfig",
    "Environment",
    "Tags",
    "PropagateTags",
    "Tracing",
    "KmsKeyArn",
    "AutoPublishAlias",
    "AutoPublishAliasAllProperties",
    "Layers",
    "DeploymentPreference",
    "RolePath",
    "PermissionsBoundary",
    "ReservedConcurrentExecutions",
    "ProvisionedConcurrencyConfig",
    "AssumeRolePolicyDocument",
    "EventInvokeConfig",
    "FileSystemConfigs",
    "CodeSigningConfigArn",
    "Architectures",
    "SnapStart",
    "EphemeralStorage",
    "FunctionUrlConfig",
    "RuntimeManagementConfig",
    "LoggingConfig",
    "RecursiveLoop",
    "SourceKMSKeyArn",
    "TenancyConfig",
    "DurableConfig",
    "CapacityProviderConfig",
    "FunctionScalingConfig",
    "PublishToLatestPublished",
    "VersionDeletionPolicy",
];

const LAYER_PROPERTIES: [&str; 1] = ["PublishLambdaVersion"];

/// The parsed `Globals` section: per SAM resource type, the properties to lay under.
#[derive(Debug, Default)]
pub(crate) struct Globals {
    sections: Map<String, Value>,
}

fn invalid(message: String) -> String {
    format!("'Globals' section is invalid. {message}")
}

fn python_list(items: &[&str]) -> String {
    let quoted: Vec<String> = items.iter().map(|s| format!("'{s}'")).collect();
    format!("[{}]", quoted.join(", "))
}

impl Globals {
    /// Reads the section, refusing what the translator refuses, in its words.
    pub(crate) fn parse(section: &Value) -> Result<Self, String> {
        let Value::Object(section) = section else {
            return Err(invalid("It must be a non-empty dictionary".to_owned()));
        };
        for (name, properties) in section {
            if !SECTIONS.contains(&name.as_str()) {
                return Err(invalid(format!(
                    "'{name}' is not supported. Must be one of the following values - {}",
                    python_list(&SECTIONS)
                )));
            }
            let Value::Object(properties) = properties else {
                return Err(invalid(
                    "Value of ${section} must be a dictionary".to_owned(),
                ));
            };
            let supported: Option<&[&str]> = match name.as_str() {
                "Function" => Some(&FUNCTION_PROPERTIES),
                "LayerVersion" => Some(&LAYER_PROPERTIES),
                // Sections of types archfn refuses: their resources fail on their own.
                _ => None,
            };
            if let Some(supported) = supported
                && let Some(key) = properties.keys().find(|k| !supported.contains(&k.as_str()))
            {
                return Err(invalid(format!(
                    "'{key}' is not a supported property of '{name}'. Must be one of the following values - {}",
                    python_list(supported)
                )));
            }
        }
        Ok(Self {
            sections: section.clone(),
        })
    }

    /// `resource` with the globals of its type laid under its properties, `IgnoreGlobals` heeded.
    pub(crate) fn apply(
        &self,
        logical_id: &str,
        mut resource: Value,
    ) -> Result<Value, ResourceError> {
        let Some(section_name) = resource
            .get("Type")
            .and_then(Value::as_str)
            .and_then(|t| t.strip_prefix("AWS::Serverless::"))
            .map(str::to_owned)
        else {
            return Ok(resource);
        };
        let section_name = section_name.as_str();
        let Some(Value::Object(section)) = self.sections.get(section_name) else {
            return Ok(resource);
        };
        let mut globals = section.clone();
        match resource.get("IgnoreGlobals") {
            None => {}
            Some(Value::String(all)) if all == "*" => globals.clear(),
            Some(Value::Array(names)) => {
                for name in names {
                    let name = name.as_str().unwrap_or_default();
                    if globals.remove(name).is_none() {
                        return Err(ResourceError::new(
                            logical_id,
                            format!(
                                "Resource {logical_id} has invalid resource attribute 'IgnoreGlobals' on item '{name}'."
                            ),
                        ));
                    }
                }
            }
            Some(_) => {
                return Err(ResourceError::new(
                    logical_id,
                    format!(
                        "Resource {logical_id} has invalid resource attribute 'IgnoreGlobals'."
                    ),
                ));
            }
        }
        let Some(object) = resource.as_object_mut() else {
            return Ok(resource);
        };
        let local = match object.remove("Properties") {
            None | Some(Value::Null) => Value::Object(Map::new()),
            Some(other) => other,
        };
        let merged = merge(&Value::Object(globals), &local, section_name, "");
        object.insert("Properties".to_owned(), merged);
        Ok(resource)
    }
}

#[derive(PartialEq)]
enum Token {
    Primitive,
    Map,
    List,
}

fn token(value: &Value) -> Token {
    match value {
        Value::Object(_) if crate::is_intrinsic(value) => Token::Primitive,
        Value::Object(_) => Token::Map,
        Value::Array(_) => Token::List,
        _ => Token::Primitive,
    }
}

fn merge(global: &Value, local: &Value, section: &str, path: &str) -> Value {
    let (global_token, local_token) = (token(global), token(local));
    if global_token != local_token || global_token == Token::Primitive {
        return local.clone();
    }
    let replaced = section == "Function" && path == "Architectures";
    match (global, local) {
        (Value::Object(g), Value::Object(l)) => {
            let mut out = g.clone();
            for (key, value) in l {
                let child = if path.is_empty() {
                    key.clone()
                } else {
                    format!("{path}.{key}")
                };
                let merged = match g.get(key) {
                    Some(global_value) => merge(global_value, value, section, &child),
                    None => value.clone(),
                };
                out.insert(key.clone(), merged);
            }
            Value::Object(out)
        }
        (Value::Array(g), Value::Array(l)) if !replaced => {
            Value::Array(g.iter().chain(l).cloned().collect())
        }
        _ => local.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn apply(globals: Value, resource: Value) -> Value {
        Globals::parse(&globals)
            .unwrap()
            .apply("F", resource)
            .unwrap()
    }

    #[test]
    fn local_values_win_maps_merge_lists_concatenate() {
        let out = apply(
            json!({"Function": {"Timeout": 3, "Environment": {"Variables": {"A": "1", "B": "g"}}, "Layers": ["g"]}}),
            json!({"Type": "AWS::Serverless::Function", "Properties": {"Timeout": 9, "Environment": {"Variables": {"B": "l"}}, "Layers": ["l"]}}),
        );
        assert_eq!(
            out["Properties"],
            json!({"Timeout": 9, "Environment": {"Variables": {"A": "1", "B": "l"}}, "Layers": ["g", "l"]})
        );
    }

    #[test]
    fn architectures_and_intrinsics_are_replaced() {
        let out = apply(
            json!({"Function": {"Architectures": ["x86_64"], "Environment": {"Variables": {"A": "1"}}}}),
            json!({"Type": "AWS::Serverless::Function", "Properties": {"Architectures": ["arm64"], "Environment": {"Ref": "E"}}}),
        );
        assert_eq!(
            out["Properties"],
            json!({"Architectures": ["arm64"], "Environment": {"Ref": "E"}})
        );
    }

    #[test]
    fn ignore_globals_drops_named_properties_or_all() {
        let globals = json!({"Function": {"Timeout": 3, "MemorySize": 256}});
        let out = apply(
            globals.clone(),
            json!({"Type": "AWS::Serverless::Function", "IgnoreGlobals": ["Timeout"], "Properties": {}}),
        );
        assert_eq!(out["Properties"], json!({"MemorySize": 256}));
        let out = apply(
            globals,
            json!({"Type": "AWS::Serverless::Function", "IgnoreGlobals": "*", "Properties": {}}),
        );
        assert_eq!(out["Properties"], json!({}));
    }

    #[test]
    fn unsupported_sections_and_properties_are_refused_in_the_translator_s_words() {
        let error = Globals::parse(&json!({"Function": {"Role": "r"}})).unwrap_err();
        assert!(error.starts_with("'Globals' section is invalid. 'Role' is not a supported property of 'Function'. Must be one of the following values - ['Handler', 'Runtime',"), "{error}");
        let error = Globals::parse(&json!({"Foo": {}})).unwrap_err();
        assert_eq!(
            error,
            "'Globals' section is invalid. 'Foo' is not supported. Must be one of the following values - ['Api', 'CapacityProvider', 'Function', 'HttpApi', 'LayerVersion', 'MicrovmImage', 'NetworkConnector', 'SimpleTable', 'StateMachine', 'WebSocketApi']"
        );
    }
}
