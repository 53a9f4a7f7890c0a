//! `AWS::Serverless::Function`: the function, its execution role, the version and alias of
//! `AutoPublishAlias`, the function URL and its permissions, the asynchronous invocation
//! configuration, and the deployment preference handed to [`crate::deployment`].

use crate::canonical::{hash_of, is_falsy};
use crate::{Document, ResourceError, get_att, is_intrinsic, policies, reference};
use serde_json::{Map, Value, json};

/// The properties the translator knows for the type (others are refused in its words).
const PROPERTIES: [&str; 47] = [
    "FunctionName",
    "Handler",
    "Runtime",
    "CodeUri",
    "ImageUri",
    "PackageType",
    "InlineCode",
    "DeadLetterQueue",
    "Description",
    "MemorySize",
    "Timeout",
    "VpcConfig",
    "Role",
    "AssumeRolePolicyDocument",
    "Policies",
    "RolePath",
    "PermissionsBoundary",
    "Environment",
    "Events",
    "Tags",
    "PropagateTags",
    "Tracing",
    "KmsKeyArn",
    "DeploymentPreference",
    "ReservedConcurrentExecutions",
    "Layers",
    "EventInvokeConfig",
    "EphemeralStorage",
    "AutoPublishAlias",
    "AutoPublishCodeSha256",
    "AutoPublishAliasAllProperties",
    "VersionDescription",
    "ProvisionedConcurrencyConfig",
    "FileSystemConfigs",
    "ImageConfig",
    "CodeSigningConfigArn",
    "Architectures",
    "SnapStart",
    "FunctionUrlConfig",
    "RuntimeManagementConfig",
    "LoggingConfig",
    "RecursiveLoop",
    "SourceKMSKeyArn",
    "CapacityProviderConfig",
    "FunctionScalingConfig",
    "VersionDeletionPolicy",
    "PublishToLatestPublished",
];

/// The event source types SAM knows (others are refused as the translator refuses them).
const EVENT_TYPES: [&str; 19] = [
    "Api",
    "HttpApi",
    "S3",
    "SNS",
    "SQS",
    "Kinesis",
    "DynamoDB",
    "MSK",
    "MQ",
    "SelfManagedKafka",
    "DocumentDB",
    "Schedule",
    "ScheduleV2",
    "CloudWatchEvent",
    "EventBridgeRule",
    "CloudWatchLogs",
    "IoTRule",
    "AlexaSkill",
    "Cognito",
];

#[derive(Clone, Copy)]
enum Shape {
    /// A map (an intrinsic is one too): "Property 'X' should be a map."
    Map,
    /// A string or an intrinsic: "Property 'X' should be a string."
    Text,
    /// Other shapes, each refused with "Type of property 'X' is invalid."
    TextOrMap,
    AnyText,
    Bool,
    Layers,
    Policies,
    MapOfMaps,
}

/// The shape the translator checks each property against, in its order.
const SHAPES: [(&str, Shape); 23] = [
    ("FunctionName", Shape::TextOrMap),
    ("DeadLetterQueue", Shape::Map),
    ("Role", Shape::Text),
    ("AssumeRolePolicyDocument", Shape::Map),
    ("Policies", Shape::Policies),
    ("PermissionsBoundary", Shape::Text),
    ("Environment", Shape::MapOfMaps),
    ("Events", Shape::MapOfMaps),
    ("Tags", Shape::Map),
    ("PropagateTags", Shape::Bool),
    ("Tracing", Shape::TextOrMap),
    ("DeploymentPreference", Shape::Map),
    ("Layers", Shape::Layers),
    ("EventInvokeConfig", Shape::Map),
    ("AutoPublishAlias", Shape::AnyText),
    ("AutoPublishCodeSha256", Shape::AnyText),
    ("AutoPublishAliasAllProperties", Shape::Bool),
    ("SnapStart", Shape::Map),
    ("FunctionUrlConfig", Shape::Map),
    ("CapacityProviderConfig", Shape::Map),
    ("FunctionScalingConfig", Shape::Map),
    ("VersionDeletionPolicy", Shape::AnyText),
    ("DurableConfig", Shape::Map),
];

fn check_shapes(properties: &Map<String, Value>, logical_id: &str) -> Result<(), ResourceError> {
    let text_or_map = |v: &Value| v.is_string() || v.is_object();
    for (name, shape) in SHAPES {
        let Some(value) = properties.get(name).filter(|v| !v.is_null()) else {
            continue;
        };
        let fits = match shape {
            Shape::Map => value.is_object(),
            Shape::Text => value.is_string() || is_intrinsic(value),
            Shape::TextOrMap => text_or_map(value),
            Shape::AnyText => value.is_string() || is_intrinsic(value),
            Shape::Bool => value.is_boolean(),
            Shape::Layers => value
                .as_array()
                .is_some_and(|items| items.iter().all(text_or_map)),
            Shape::Policies => {
                text_or_map(value)
                    || value
                        .as_array()
                        .is_some_and(|items| items.iter().all(text_or_map))
            }
            Shape::MapOfMaps => value
                .as_object()
                .is_some_and(|map| name == "Events" || map.values().all(Value::is_object)),
        };
        if !fits {
            let message = match shape {
                Shape::Map => format!("Property '{name}' should be a map."),
                Shape::Text => format!("Property '{name}' should be a string."),
                _ => format!("Type of property '{name}' is invalid."),
            };
            return Err(ResourceError::new(logical_id, message));
        }
    }
    Ok(())
}

/// Properties of the translator that archfn refuses (they need services or features archfn lacks).
const REFUSED: [&str; 3] = [
    "CapacityProviderConfig",
    "FunctionScalingConfig",
    "TenancyConfig",
];

/// Properties copied to the `AWS::Lambda::Function` unchanged, when given.
const PASSED: [&str; 21] = [
    "FunctionName",
    "Handler",
    "Runtime",
    "Description",
    "MemorySize",
    "Timeout",
    "VpcConfig",
    "Role",
    "Environment",
    "KmsKeyArn",
    "ReservedConcurrentExecutions",
    "Layers",
    "FileSystemConfigs",
    "ImageConfig",
    "PackageType",
    "Architectures",
    "SnapStart",
    "EphemeralStorage",
    "CodeSigningConfigArn",
    "RuntimeManagementConfig",
    "LoggingConfig",
];

/// The resource attributes a function keeps, and those its generated resources inherit.
const ATTRIBUTES: [&str; 5] = [
    "DeletionPolicy",
    "UpdatePolicy",
    "Condition",
    "UpdateReplacePolicy",
    "Metadata",
];
const PASSTHROUGH: [&str; 3] = ["Condition", "DeletionPolicy", "UpdateReplacePolicy"];

fn attributes(resource: &Value, names: &[&str]) -> Map<String, Value> {
    names
        .iter()
        .filter_map(|n| resource.get(*n).map(|v| ((*n).to_owned(), v.clone())))
        .collect()
}

fn with_attributes(
    resource_type: &str,
    properties: Map<String, Value>,
    attributes: &Map<String, Value>,
) -> Value {
    let mut out = Map::new();
    out.insert("Type".to_owned(), json!(resource_type));
    out.extend(attributes.clone());
    out.insert("Properties".to_owned(), Value::Object(properties));
    Value::Object(out)
}

/// Converts a `CodeUri`/`ContentUri` (an `s3://bucket/key[?versionId=v]` string or `{Bucket, Key, Version}`)
/// into Lambda's `S3Bucket`/`S3Key`/`S3ObjectVersion`.
pub(crate) fn s3_location(
    location: &Value,
    logical_id: &str,
    property: &str,
) -> Result<Map<String, Value>, ResourceError> {
    let mut code = Map::new();
    match location {
        Value::Object(map) => {
            let (Some(bucket), Some(key)) = (map.get("Bucket"), map.get("Key")) else {
                return Err(ResourceError::new(
                    logical_id,
                    format!("'{property}' requires Bucket and Key properties to be specified."),
                ));
            };
            if is_falsy(bucket) || is_falsy(key) {
                return Err(ResourceError::new(
                    logical_id,
                    format!("'{property}' requires Bucket and Key properties to be specified."),
                ));
            }
            code.insert("S3Bucket".to_owned(), bucket.clone());
            code.insert("S3Key".to_owned(), key.clone());
            if let Some(version) = map.get("Version") {
                code.insert("S3ObjectVersion".to_owned(), version.clone());
            }
            if let Some(mode) = map.get("StorageMode") {
                code.insert("S3ObjectStorageMode".to_owned(), mode.clone());
            }
        }
        Value::String(uri) => {
            let not_s3 = || {
                ResourceError::new(
                    logical_id,
                    format!(
                        "'{property}' is not a valid S3 Uri of the form 's3://bucket/key' with optional versionId query parameter."
                    ),
                )
            };
            let rest = uri.strip_prefix("s3://").ok_or_else(not_s3)?;
            let (location, query) = rest.split_once('?').unwrap_or((rest, ""));
            let (bucket, path) = location.split_once('/').ok_or_else(not_s3)?;
            if bucket.is_empty() {
                return Err(not_s3());
            }
            code.insert("S3Bucket".to_owned(), json!(bucket));
            code.insert("S3Key".to_owned(), json!(path.trim_start_matches('/')));
            let versions: Vec<&str> = query
                .split('&')
                .filter_map(|p| p.strip_prefix("versionId="))
                .filter(|v| !v.is_empty())
                .collect();
            if let [version] = versions.as_slice() {
                code.insert("S3ObjectVersion".to_owned(), json!(version));
            }
        }
        _ => {
            return Err(ResourceError::new(
                logical_id,
                format!("'{property}' must be of type dict or string."),
            ));
        }
    }
    Ok(code)
}

fn code(
    properties: &Map<String, Value>,
    logical_id: &str,
) -> Result<Map<String, Value>, ResourceError> {
    let package_type = properties
        .get("PackageType")
        .and_then(Value::as_str)
        .unwrap_or("Zip");
    let present = |name: &str| properties.get(name).filter(|v| !v.is_null());
    let mut code = match package_type {
        "Zip" => {
            if let Some(inline) = present("InlineCode") {
                let mut code = Map::new();
                code.insert("ZipFile".to_owned(), inline.clone());
                code
            } else if let Some(uri) = present("CodeUri") {
                s3_location(uri, logical_id, "CodeUri")?
            } else {
                return Err(ResourceError::new(
                    logical_id,
                    "Only one of 'InlineCode' or 'CodeUri' can be set.",
                ));
            }
        }
        "Image" => match present("ImageUri") {
            Some(image) if !is_falsy(image) => {
                let mut code = Map::new();
                code.insert("ImageUri".to_owned(), image.clone());
                code
            }
            Some(_) => {
                return Err(ResourceError::new(
                    logical_id,
                    "'ImageUri' requires that a image hosted at a registry be specified.",
                ));
            }
            None => return Err(ResourceError::new(logical_id, "'ImageUri' must be set.")),
        },
        other => {
            return Err(ResourceError::new(
                logical_id,
                format!("invalid 'PackageType' : {other}"),
            ));
        }
    };
    if package_type == "Zip"
        && let Some(key) = present("SourceKMSKeyArn")
    {
        code.insert("SourceKMSKeyArn".to_owned(), key.clone());
    }
    Ok(code)
}

/// The tag list of SAM: `lambda:createdBy: SAM` first, then the resource's tags.
pub(crate) fn tag_list(
    tags: Option<&Value>,
    logical_id: &str,
) -> Result<Vec<Value>, ResourceError> {
    let mut list = vec![json!({"Key": "lambda:createdBy", "Value": "SAM"})];
    if let Some(Value::Object(tags)) = tags {
        if tags.contains_key("lambda:createdBy") {
            return Err(ResourceError::new(
                logical_id,
                "lambda:createdBy is a reserved Tag key name and cannot be set on your resource. Please change the tag key in the input.",
            ));
        }
        for (key, value) in tags {
            let value = if value.is_null() {
                json!("")
            } else {
                value.clone()
            };
            list.push(json!({"Key": key, "Value": value}));
        }
    }
    Ok(list)
}

fn validate_package_type(
    lambda: &Map<String, Value>,
    logical_id: &str,
) -> Result<(), ResourceError> {
    let set = |name: &str| lambda.get(name).is_some_and(|v| !is_falsy(v));
    let code_has_image = lambda
        .get("Code")
        .and_then(|c| c.get("ImageUri"))
        .is_some_and(|v| !is_falsy(v));
    match lambda
        .get("PackageType")
        .and_then(Value::as_str)
        .unwrap_or("Zip")
    {
        "Zip" => {
            if !(set("Runtime") && set("Handler")) {
                return Err(ResourceError::new(
                    logical_id,
                    "Runtime and Handler needs to be present when PackageType is of type `Zip`",
                ));
            }
            if code_has_image || set("ImageConfig") {
                return Err(ResourceError::new(
                    logical_id,
                    "ImageUri or ImageConfig cannot be present when PackageType is of type `Zip`",
                ));
            }
        }
        "Image" => {
            if set("Handler") || set("Runtime") || set("Layers") {
                return Err(ResourceError::new(
                    logical_id,
                    "Runtime, Handler, Layers cannot be present when PackageType is of type `Image`",
                ));
            }
            if !code_has_image {
                return Err(ResourceError::new(
                    logical_id,
                    "ImageUri needs to be present when PackageType is of type `Image`",
                ));
            }
        }
        _ => {
            return Err(ResourceError::new(
                logical_id,
                "PackageType needs to be `Zip` or `Image`",
            ));
        }
    }
    Ok(())
}

/// Expands one function into the resources the translator generates for it.
pub(crate) fn expand(
    logical_id: &str,
    resource: &Value,
    document: &mut Document<'_>,
) -> Result<Vec<(String, Value)>, ResourceError> {
    let properties = match resource.get("Properties") {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(p)) => p.clone(),
        Some(_) => {
            return Err(ResourceError::new(
                logical_id,
                "Attribute 'Properties' should be a map.",
            ));
        }
    };
    if let Some(unknown) = properties.keys().find(|k| {
        !PROPERTIES.contains(&k.as_str())
            && k.as_str() != "TenancyConfig"
            && k.as_str() != "DurableConfig"
    }) {
        return Err(ResourceError::new(
            logical_id,
            format!(
                "property {unknown} not defined for resource of type AWS::Serverless::Function"
            ),
        ));
    }
    check_shapes(&properties, logical_id)?;
    if let Some(refused) = REFUSED.iter().find(|p| properties.contains_key(**p)) {
        return Err(ResourceError::new(
            logical_id,
            format!("Property {refused} is not supported by archfn."),
        ));
    }
    if let Some(Value::Object(events)) = properties.get("Events")
        && let Some((event_id, event)) = events.iter().next()
    {
        let event_type = match event.get("Type") {
            Some(Value::String(t)) if EVENT_TYPES.contains(&t.as_str()) => t.clone(),
            other => {
                let shown = match other {
                    Some(Value::String(t)) => t.clone(),
                    None | Some(Value::Null) => "None".to_owned(),
                    Some(v) => v.to_string(),
                };
                return Err(ResourceError::new(
                    logical_id,
                    format!(
                        "Event with id [{event_id}] is invalid. Resource dict has missing or invalid value for key Type. Event Type is: {shown}."
                    ),
                ));
            }
        };
        return Err(ResourceError::new(
            logical_id,
            format!(
                "Event with id [{event_id}] is invalid. Event type {event_type} is not supported by archfn."
            ),
        ));
    }
    let get = |name: &str| properties.get(name).filter(|v| !v.is_null());
    let all_attributes = attributes(resource, &ATTRIBUTES);
    let passthrough = attributes(resource, &PASSTHROUGH);
    let mut resources: Vec<(String, Value)> = Vec::new();

    // Dead-letter queue.
    let dead_letter = match get("DeadLetterQueue") {
        Some(dlq) => {
            let (Some(kind), Some(target)) = (
                dlq.get("Type").filter(|t| !is_falsy(t)),
                dlq.get("TargetArn").filter(|t| !is_falsy(t)),
            ) else {
                return Err(ResourceError::new(
                    logical_id,
                    "'DeadLetterQueue' requires Type and TargetArn properties to be specified.",
                ));
            };
            let action = match kind.as_str() {
                Some("SQS") => "sqs:SendMessage",
                Some("SNS") => "sns:Publish",
                _ => {
                    return Err(ResourceError::new(
                        logical_id,
                        "'DeadLetterQueue' requires Type of ['SQS', 'SNS']",
                    ));
                }
            };
            Some((action, target.clone()))
        }
        None => None,
    };

    // The function.
    let mut lambda = Map::new();
    for name in PASSED {
        if let Some(value) = get(name) {
            lambda.insert(name.to_owned(), value.clone());
        }
    }
    for name in ["RecursiveLoop", "DurableConfig", "PublishToLatestPublished"] {
        if let Some(value) = get(name) {
            lambda.insert(name.to_owned(), value.clone());
        }
    }
    lambda.insert(
        "Code".to_owned(),
        Value::Object(code(&properties, logical_id)?),
    );
    let tags = tag_list(get("Tags"), logical_id)?;
    lambda.insert("Tags".to_owned(), Value::Array(tags.clone()));
    let tracing = get("Tracing").map(|t| document.parameters.resolve(t));
    let traced = get("Tracing").is_some_and(|t| !is_falsy(t))
        && tracing.as_ref().and_then(Value::as_str) != Some("Disabled");
    if traced && let Some(mode) = get("Tracing") {
        lambda.insert("TracingConfig".to_owned(), json!({"Mode": mode}));
    }
    if let Some((_, target)) = &dead_letter {
        lambda.insert("DeadLetterConfig".to_owned(), json!({"TargetArn": target}));
    }
    validate_package_type(&lambda, logical_id)?;

    if get("ProvisionedConcurrencyConfig").is_some_and(|v| !is_falsy(v))
        && get("AutoPublishAlias").is_none_or(is_falsy)
    {
        return Err(ResourceError::new(
            logical_id,
            "To set ProvisionedConcurrencyConfig AutoPublishALias must be defined on the function",
        ));
    }
    if get("VersionDeletionPolicy").is_some() && get("AutoPublishAlias").is_none() {
        return Err(ResourceError::new(
            logical_id,
            "'VersionDeletionPolicy' requires 'AutoPublishAlias' to be specified.",
        ));
    }

    // AutoPublishAlias: a version named by a hash of what changes it, and the alias.
    let mut alias: Option<(String, String, Value)> = None;
    if let Some(alias_property) = get("AutoPublishAlias").filter(|v| !is_falsy(v)) {
        let Value::String(alias_name) = document.parameters.resolve(alias_property) else {
            return Err(ResourceError::new(
                logical_id,
                "'AutoPublishAlias' must be a string or a Ref to a template parameter",
            ));
        };
        let mut code_sha256 = None;
        if let Some(sha) = get("AutoPublishCodeSha256").filter(|v| !is_falsy(v)) {
            let Value::String(sha) = document.parameters.resolve(sha) else {
                return Err(ResourceError::new(
                    logical_id,
                    "AutoPublishCodeSha256 must be a string",
                ));
            };
            let description = get("Description").map(|d| document.parameters.resolve(d));
            let new_description = match &description {
                None => json!(sha),
                Some(d) if is_falsy(d) => json!(sha),
                Some(Value::String(d)) => json!(format!("{d} {sha}")),
                Some(d) => json!({"Fn::Join": [" ", [d, sha]]}),
            };
            lambda.insert("Description".to_owned(), new_description);
            code_sha256 = Some(sha);
        }
        // The translator resolves parameter references of the code in place while hashing it,
        // so the function's `Code` keeps the resolved values.
        let resolved_code = document
            .parameters
            .resolve(lambda.get("Code").unwrap_or(&Value::Null));
        lambda.insert("Code".to_owned(), resolved_code);
        let hashed = if get("AutoPublishAliasAllProperties").and_then(Value::as_bool) == Some(true)
        {
            let mut all = lambda.clone();
            for layer in lambda
                .get("Layers")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                let Some(layer_id) = layer.get("Ref").and_then(Value::as_str) else {
                    continue;
                };
                let Some(layer_properties) = document
                    .original
                    .get(layer_id)
                    .and_then(|r| r.get("Properties"))
                else {
                    continue;
                };
                if layer_properties
                    .get("PublishLambdaVersion")
                    .is_some_and(|v| !is_falsy(v))
                {
                    all.insert(layer_id.to_owned(), layer_properties.clone());
                }
            }
            Value::Object(all)
        } else {
            let mut dict = match lambda.get("Code").cloned().unwrap_or(Value::Null) {
                Value::Object(map) => map,
                _ => Map::new(),
            };
            if let Some(Value::Object(environment)) =
                lambda.get("Environment").filter(|e| !is_falsy(e))
            {
                dict.extend(environment.clone());
            }
            if let Some(memory) = lambda.get("MemorySize").filter(|m| !is_falsy(m)) {
                dict.insert("MemorySize".to_owned(), memory.clone());
            }
            if let Some(snap) = lambda.get("SnapStart").filter(|s| !is_falsy(s))
                && snap
                    .get("ApplyOn")
                    .and_then(Value::as_str)
                    .unwrap_or("None")
                    != "None"
            {
                dict.insert("SnapStart".to_owned(), snap.clone());
            }
            Value::Object(dict)
        };
        let hash = match &code_sha256 {
            Some(sha) => sha.chars().take(10).collect(),
            None => hash_of(&hashed, 10),
        };
        let version_id = format!("{logical_id}Version{hash}");
        let mut version_attributes = passthrough.clone();
        if !version_attributes.contains_key("DeletionPolicy") {
            let policy = get("VersionDeletionPolicy")
                .cloned()
                .unwrap_or(json!("Retain"));
            version_attributes.insert("DeletionPolicy".to_owned(), policy);
        }
        let mut version_properties = Map::new();
        version_properties.insert("FunctionName".to_owned(), reference(logical_id));
        if let Some(description) = get("VersionDescription") {
            version_properties.insert("Description".to_owned(), description.clone());
        }

        let valid_name = !alias_name.is_empty()
            && alias_name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
            && !alias_name.chars().all(|c| c.is_ascii_digit());
        if alias_name.is_empty() {
            return Err(ResourceError::new(
                logical_id,
                "Alias name is required to create an alias",
            ));
        }
        if !valid_name {
            return Err(ResourceError::new(
                logical_id,
                format!(
                    "AutoPublishAlias name ('{alias_name}') must contain only alphanumeric characters, hyphens, or underscores matching (?!^[0-9]+$)([a-zA-Z0-9-_]+) pattern."
                ),
            ));
        }
        let alias_id = format!(
            "{logical_id}Alias{}",
            alias_name.replace('-', "D").replace('_', "U")
        );
        let mut alias_properties = Map::new();
        alias_properties.insert("Name".to_owned(), json!(alias_name));
        alias_properties.insert("FunctionName".to_owned(), reference(logical_id));
        alias_properties.insert(
            "FunctionVersion".to_owned(),
            get_att(&version_id, "Version"),
        );
        if let Some(provisioned) = get("ProvisionedConcurrencyConfig").filter(|v| !is_falsy(v)) {
            alias_properties.insert(
                "ProvisionedConcurrencyConfig".to_owned(),
                provisioned.clone(),
            );
        }
        resources.push((
            version_id.clone(),
            with_attributes(
                "AWS::Lambda::Version",
                version_properties,
                &version_attributes,
            ),
        ));
        document
            .property_refs
            .insert(format!("{logical_id}.Version"), version_id);
        document
            .property_refs
            .insert(format!("{logical_id}.Alias"), alias_id.clone());
        alias = Some((
            alias_id.clone(),
            alias_name,
            with_attributes("AWS::Lambda::Alias", alias_properties, &passthrough),
        ));
    }

    // Function URL and, for AuthType NONE, its two public permissions.
    if let Some(url_config) = get("FunctionUrlConfig").filter(|v| !is_falsy(v)) {
        let target = match &alias {
            Some((alias_id, _, _)) => reference(alias_id),
            None => reference(logical_id),
        };
        let config_is_intrinsic = is_intrinsic(url_config);
        let auth_type = url_config.get("AuthType").cloned();
        if !config_is_intrinsic && !auth_type.as_ref().is_some_and(is_intrinsic) {
            let valid = matches!(
                auth_type.as_ref().and_then(Value::as_str),
                Some("AWS_IAM" | "NONE")
            );
            if !valid {
                return Err(ResourceError::new(
                    logical_id,
                    "AuthType is required to configure function property `FunctionUrlConfig`. Please provide either AWS_IAM or NONE.",
                ));
            }
            validate_cors(url_config.get("Cors"), logical_id)?;
        }
        let mut url = Map::new();
        if let Some(cors) = url_config.get("Cors").filter(|c| !is_falsy(c)) {
            url.insert("Cors".to_owned(), cors.clone());
        }
        if let Some(auth) = &auth_type {
            url.insert("AuthType".to_owned(), auth.clone());
        }
        url.insert("TargetFunctionArn".to_owned(), target.clone());
        if let Some(mode) = url_config.get("InvokeMode").filter(|m| !m.is_null()) {
            url.insert("InvokeMode".to_owned(), mode.clone());
        }
        resources.push((
            format!("{logical_id}Url"),
            with_attributes("AWS::Lambda::Url", url, &passthrough),
        ));
        if !config_is_intrinsic && auth_type.as_ref().and_then(Value::as_str) == Some("NONE") {
            let mut url_permission = Map::new();
            url_permission.insert("Action".to_owned(), json!("lambda:InvokeFunctionUrl"));
            url_permission.insert("FunctionName".to_owned(), target.clone());
            url_permission.insert("Principal".to_owned(), json!("*"));
            url_permission.insert("FunctionUrlAuthType".to_owned(), json!("NONE"));
            resources.push((
                format!("{logical_id}UrlPublicPermissions"),
                with_attributes("AWS::Lambda::Permission", url_permission, &passthrough),
            ));
            let mut invoke_permission = Map::new();
            invoke_permission.insert("Action".to_owned(), json!("lambda:InvokeFunction"));
            invoke_permission.insert("Principal".to_owned(), json!("*"));
            invoke_permission.insert("FunctionName".to_owned(), target);
            invoke_permission.insert("InvokedViaFunctionUrl".to_owned(), json!(true));
            resources.push((
                format!("{logical_id}URLInvokeAllowPublicAccess"),
                with_attributes("AWS::Lambda::Permission", invoke_permission, &passthrough),
            ));
        }
    }

    // Deployment preference (CodeDeploy resources are added once, after every function).
    if let Some(preference) = get("DeploymentPreference").filter(|v| !is_falsy(v)) {
        let preference =
            document
                .deployments
                .add(logical_id, preference, &passthrough, &document.parameters)?;
        if let (true, Some(true), Some(Value::Object(tags))) = (
            preference,
            get("PropagateTags").and_then(Value::as_bool),
            get("Tags"),
        ) {
            document.deployments.propagate_tags(logical_id, tags);
        }
        if preference {
            let Some((_, _, alias_resource)) = alias.as_mut() else {
                return Err(ResourceError::new(
                    logical_id,
                    "'DeploymentPreference' requires AutoPublishAlias property to be specified.",
                ));
            };
            if let Some(object) = alias_resource.as_object_mut() {
                object.insert(
                    "UpdatePolicy".to_owned(),
                    document.deployments.update_policy(logical_id),
                );
            }
        }
    }

    // Asynchronous invocation configuration.
    let mut invoke_policies: Vec<Value> = Vec::new();
    if let Some(config) = get("EventInvokeConfig").filter(|v| !is_falsy(v)) {
        let config = document.parameters.resolve(config);
        let config_id = format!("{logical_id}EventInvokeConfig");
        let mut destinations = Map::new();
        if let Some(input) = config.get("DestinationConfig").filter(|v| !is_falsy(v)) {
            if !input.is_object() {
                return Err(ResourceError::new(
                    logical_id,
                    "Property 'EventInvokeConfig.DestinationConfig' should be a map.".to_string(),
                ));
            }
            for which in ["OnSuccess", "OnFailure"] {
                let Some(destination) = input.get(which).filter(|v| !v.is_null()) else {
                    continue;
                };
                let (arn, generated, policy) =
                    destination_of(logical_id, &config_id, which, destination, &passthrough)?;
                destinations.insert(which.to_owned(), json!({"Destination": arn}));
                resources.extend(generated);
                invoke_policies.push(policy);
            }
        }
        let mut invoke_config = Map::new();
        invoke_config.insert("FunctionName".to_owned(), reference(logical_id));
        let qualifier = alias
            .as_ref()
            .map(|(_, name, _)| name.clone())
            .unwrap_or_else(|| "$LATEST".to_owned());
        invoke_config.insert("Qualifier".to_owned(), json!(qualifier));
        invoke_config.insert("DestinationConfig".to_owned(), Value::Object(destinations));
        for name in ["MaximumEventAgeInSeconds", "MaximumRetryAttempts"] {
            if let Some(value) = config.get(name).filter(|v| !v.is_null()) {
                invoke_config.insert(name.to_owned(), value.clone());
            }
        }
        let mut resource = with_attributes(
            "AWS::Lambda::EventInvokeConfig",
            invoke_config,
            &all_attributes,
        );
        if let (Some((alias_id, _, _)), Some(object)) = (&alias, resource.as_object_mut()) {
            object.insert("DependsOn".to_owned(), json!([alias_id]));
        }
        resources.push((config_id, resource));
    }

    // The execution role, generated when no Role is given.
    match get("Role") {
        None => {
            let role = policies::execution_role(
                logical_id,
                &properties,
                &passthrough,
                traced,
                dead_letter,
                invoke_policies,
                &tags,
                document,
            )?;
            lambda.insert(
                "Role".to_owned(),
                get_att(&format!("{logical_id}Role"), "Arn"),
            );
            resources.push((format!("{logical_id}Role"), role));
        }
        Some(role) if role.get("Fn::If").is_some() => {
            return Err(ResourceError::new(
                logical_id,
                "A Role given as Fn::If is not supported by archfn.",
            ));
        }
        Some(_) => {}
    }

    let mut function = Map::new();
    function.insert("Type".to_owned(), json!("AWS::Lambda::Function"));
    if let Some(depends_on) = resource.get("DependsOn") {
        function.insert("DependsOn".to_owned(), depends_on.clone());
    }
    function.extend(all_attributes);
    function.insert("Properties".to_owned(), Value::Object(lambda));
    resources.insert(0, (logical_id.to_owned(), Value::Object(function)));
    if let Some((alias_id, _, alias_resource)) = alias {
        resources.push((alias_id, alias_resource));
    }
    if get("PropagateTags").and_then(Value::as_bool) == Some(true) {
        propagate_tags(&mut resources, get("Tags"));
    }
    Ok(resources)
}

fn validate_cors(cors: Option<&Value>, logical_id: &str) -> Result<(), ResourceError> {
    let Some(cors) = cors.filter(|c| !is_falsy(c) && !is_intrinsic(c)) else {
        return Ok(());
    };
    let Value::Object(cors) = cors else {
        return Err(ResourceError::new(
            logical_id,
            "Property 'FunctionUrlConfig.Cors' should be a map.",
        ));
    };
    for (name, value) in cors {
        let (fits, type_name) = match name.as_str() {
            "AllowOrigins" | "AllowMethods" | "AllowHeaders" | "ExposeHeaders" => {
                (value.is_array(), "list")
            }
            "AllowCredentials" => (value.is_boolean(), "bool"),
            "MaxAge" => (value.is_i64() || value.is_u64(), "int"),
            _ => {
                return Err(ResourceError::new(
                    logical_id,
                    format!("{name} is not a valid property for configuring Cors."),
                ));
            }
        };
        if !fits && !is_intrinsic(value) {
            return Err(ResourceError::new(
                logical_id,
                format!("{name} must be of type {type_name}."),
            ));
        }
    }
    Ok(())
}

type Destination = (Value, Vec<(String, Value)>, Value);

/// One destination of `EventInvokeConfig`: its ARN, the queue or topic SAM creates when none is
/// given, and the statement the execution role gets.
fn destination_of(
    logical_id: &str,
    config_id: &str,
    which: &str,
    destination: &Value,
    passthrough: &Map<String, Value>,
) -> Result<Destination, ResourceError> {
    if !destination.is_object() {
        return Err(ResourceError::new(
            logical_id,
            format!("Property 'EventInvokeConfig.DestinationConfig.{which}' should be a map."),
        ));
    }
    let kinds = "['SQS', 'SNS', 'EventBridge', 'Lambda', 'S3Bucket']";
    let kind = destination
        .get("Type")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if !["SQS", "SNS", "EventBridge", "Lambda", "S3Bucket"].contains(&kind) {
        let shown = match destination.get("Type") {
            None | Some(Value::Null) => "None".to_owned(),
            Some(Value::String(s)) => s.clone(),
            Some(other) => other.to_string(),
        };
        return Err(ResourceError::new(
            logical_id,
            format!("'Type: {shown}' must be one of {kinds}"),
        ));
    }
    let named = format!("{config_id}{which}");
    let mut generated = Vec::new();
    let arn = match destination.get("Destination").filter(|d| !d.is_null()) {
        Some(arn) if arn.get("Fn::If").is_some() => {
            return Err(ResourceError::new(
                logical_id,
                "A Destination given as Fn::If is not supported by archfn.",
            ));
        }
        Some(arn) => arn.clone(),
        None => match kind {
            "SQS" => {
                let id = format!("{named}Queue");
                generated.push((
                    id.clone(),
                    with_attributes("AWS::SQS::Queue", Map::new(), passthrough),
                ));
                get_att(&id, "Arn")
            }
            "SNS" => {
                let id = format!("{named}Topic");
                generated.push((
                    id.clone(),
                    with_attributes("AWS::SNS::Topic", Map::new(), passthrough),
                ));
                reference(&id)
            }
            _ => {
                return Err(ResourceError::new(
                    logical_id,
                    "Destination is required if Type is not ['SQS', 'SNS']",
                ));
            }
        },
    };
    let statement = |action: &str, resource: &Value| json!({"Action": action, "Effect": "Allow", "Resource": resource});
    let policy = match kind {
        "SQS" => {
            json!({"PolicyName": format!("{named}SQSPolicy"), "PolicyDocument": {"Statement": [statement("sqs:SendMessage", &arn)]}})
        }
        "SNS" => {
            json!({"PolicyName": format!("{named}SNSPolicy"), "PolicyDocument": {"Statement": [statement("sns:publish", &arn)]}})
        }
        "EventBridge" => {
            json!({"PolicyName": format!("{named}EventBridgePolicy"), "PolicyDocument": {"Statement": [statement("events:PutEvents", &arn)]}})
        }
        "Lambda" => {
            json!({"PolicyName": format!("{named}LambdaPolicy"), "PolicyDocument": {"Statement": [statement("lambda:InvokeFunction", &arn)]}})
        }
        _ => json!({"PolicyName": format!("{named}S3Policy"), "PolicyDocument": {"Statement": [
            statement("s3:PutObject", &json!({"Fn::Join": ["/", [arn, "*"]]})),
            statement("s3:ListBucket", &arn),
        ]}}),
    };
    Ok((arn, generated, policy))
}

/// `PropagateTags`: the function's tags, as they are (without SAM's `lambda:createdBy`), in place of
/// the tags of every generated resource that takes tags, the function included, as the translator does.
fn propagate_tags(resources: &mut [(String, Value)], tags: Option<&Value>) {
    let Some(Value::Object(tags)) = tags else {
        return;
    };
    if tags.is_empty() {
        return;
    }
    let list: Vec<Value> = tags
        .iter()
        .map(|(k, v)| json!({"Key": k, "Value": v}))
        .collect();
    for (_, resource) in resources.iter_mut() {
        let taggable = matches!(
            resource.get("Type").and_then(Value::as_str),
            Some(
                "AWS::IAM::Role" | "AWS::Lambda::Function" | "AWS::SQS::Queue" | "AWS::SNS::Topic"
            )
        );
        if let (true, Some(Value::Object(properties))) = (taggable, resource.get_mut("Properties"))
        {
            properties.insert("Tags".to_owned(), Value::Array(list.clone()));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn s3_uris_become_bucket_key_and_version() {
        let code = s3_location(&json!("s3://b/dir/k.zip?versionId=3"), "F", "CodeUri").unwrap();
        assert_eq!(
            Value::Object(code),
            json!({"S3Bucket": "b", "S3Key": "dir/k.zip", "S3ObjectVersion": "3"})
        );
        let code = s3_location(
            &json!({"Bucket": "b", "Key": "k", "Version": "v"}),
            "F",
            "CodeUri",
        )
        .unwrap();
        assert_eq!(
            Value::Object(code),
            json!({"S3Bucket": "b", "S3Key": "k", "S3ObjectVersion": "v"})
        );
    }

    #[test]
    fn a_local_path_is_refused_as_the_translator_refuses_it() {
        let error = s3_location(&json!("src/"), "F", "CodeUri").unwrap_err();
        assert_eq!(
            error.text(),
            "Resource with id [F] is invalid. 'CodeUri' is not a valid S3 Uri of the form 's3://bucket/key' with optional versionId query parameter."
        );
    }

    #[test]
    fn tags_start_with_sam_s_own() {
        let tags = tag_list(Some(&json!({"team": "a"})), "F").unwrap();
        assert_eq!(
            tags,
            vec![
                json!({"Key": "lambda:createdBy", "Value": "SAM"}),
                json!({"Key": "team", "Value": "a"})
            ]
        );
        assert!(tag_list(Some(&json!({"lambda:createdBy": "me"})), "F").is_err());
    }

    fn expand_one(properties: Value) -> Map<String, Value> {
        let template = json!({"Resources": {"Fn": {"Type": "AWS::Serverless::Function", "Properties": properties}}});
        let out = crate::transform(template, &crate::TransformContext::default()).unwrap();
        out["Resources"].as_object().unwrap().clone()
    }

    #[test]
    fn the_version_is_named_by_the_translator_s_hash_and_the_alias_by_its_name() {
        // aws-sam-translator 1.115.0 names this version FnVersion508c57ab24.
        let resources = expand_one(
            json!({"CodeUri": "s3://b/k.zip", "Handler": "app.h", "Runtime": "python3.12",
            "Environment": {"Variables": {"A": "1", "B": "2"}}, "Timeout": 10, "AutoPublishAlias": "live"}),
        );
        assert_eq!(
            resources["FnVersion508c57ab24"]["DeletionPolicy"],
            json!("Retain")
        );
        assert_eq!(
            resources["FnAliaslive"]["Properties"]["FunctionVersion"],
            json!({"Fn::GetAtt": ["FnVersion508c57ab24", "Version"]})
        );
        let resources = expand_one(
            json!({"InlineCode": "x", "Handler": "a.h", "Runtime": "python3.12", "AutoPublishAlias": "my-live_1"}),
        );
        assert!(resources.contains_key("FnAliasmyDliveU1"));
    }

    #[test]
    fn a_code_sha256_names_the_version_and_joins_the_description() {
        let resources = expand_one(
            json!({"InlineCode": "x", "Handler": "a.h", "Runtime": "python3.12", "AutoPublishAlias": "live",
            "AutoPublishCodeSha256": "0123456789abcdef", "Description": "d"}),
        );
        assert!(resources.contains_key("FnVersion0123456789"));
        assert_eq!(
            resources["Fn"]["Properties"]["Description"],
            json!("d 0123456789abcdef")
        );
    }

    #[test]
    fn a_function_without_role_gets_one_with_basic_execution() {
        let resources = expand_one(
            json!({"InlineCode": "x", "Handler": "a.h", "Runtime": "python3.12", "Policies": ["AWSLambdaRole"]}),
        );
        assert_eq!(
            resources["Fn"]["Properties"]["Role"],
            json!({"Fn::GetAtt": ["FnRole", "Arn"]})
        );
        assert_eq!(
            resources["FnRole"]["Properties"]["ManagedPolicyArns"],
            json!([
                "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole",
                "arn:aws:iam::aws:policy/service-role/AWSLambdaRole"
            ])
        );
        let resources = expand_one(
            json!({"InlineCode": "x", "Handler": "a.h", "Runtime": "python3.12", "Role": "arn:aws:iam::1:role/r"}),
        );
        assert!(!resources.contains_key("FnRole"));
    }

    #[test]
    fn a_public_url_gets_both_permissions_and_an_iam_one_none() {
        let resources = expand_one(
            json!({"InlineCode": "x", "Handler": "a.h", "Runtime": "python3.12", "FunctionUrlConfig": {"AuthType": "NONE"}}),
        );
        assert_eq!(
            resources["FnUrl"]["Properties"]["TargetFunctionArn"],
            json!({"Ref": "Fn"})
        );
        assert_eq!(
            resources["FnUrlPublicPermissions"]["Properties"]["FunctionUrlAuthType"],
            json!("NONE")
        );
        assert_eq!(
            resources["FnURLInvokeAllowPublicAccess"]["Properties"]["InvokedViaFunctionUrl"],
            json!(true)
        );
        let resources = expand_one(
            json!({"InlineCode": "x", "Handler": "a.h", "Runtime": "python3.12", "FunctionUrlConfig": {"AuthType": "AWS_IAM"}}),
        );
        assert!(
            resources.contains_key("FnUrl") && !resources.contains_key("FnUrlPublicPermissions")
        );
    }

    #[test]
    fn a_deployment_preference_adds_codedeploy_and_the_alias_update_policy() {
        let resources = expand_one(
            json!({"InlineCode": "x", "Handler": "a.h", "Runtime": "python3.12", "AutoPublishAlias": "live",
            "DeploymentPreference": {"Type": "Linear10PercentEvery1Minute", "Hooks": {"PreTraffic": {"Ref": "Hook"}}}}),
        );
        assert_eq!(
            resources["ServerlessDeploymentApplication"]["Type"],
            json!("AWS::CodeDeploy::Application")
        );
        assert_eq!(
            resources["CodeDeployServiceRole"]["Type"],
            json!("AWS::IAM::Role")
        );
        assert_eq!(
            resources["FnDeploymentGroup"]["Type"],
            json!("AWS::CodeDeploy::DeploymentGroup")
        );
        assert_eq!(
            resources["FnAliaslive"]["UpdatePolicy"],
            json!({"CodeDeployLambdaAliasUpdate": {"ApplicationName": {"Ref": "ServerlessDeploymentApplication"},
                "DeploymentGroupName": {"Ref": "FnDeploymentGroup"}, "BeforeAllowTrafficHook": {"Ref": "Hook"}}})
        );
    }

    #[test]
    fn events_are_refused_naming_their_type() {
        let template = json!({"Resources": {"Fn": {"Type": "AWS::Serverless::Function", "Properties": {"InlineCode": "x", "Handler": "a.h",
            "Runtime": "python3.12", "Events": {"Tick": {"Type": "Schedule", "Properties": {"Schedule": "rate(1 minute)"}}}}}}});
        let error = crate::transform(template, &crate::TransformContext::default()).unwrap_err();
        assert_eq!(
            error.causes(),
            [
                "Resource with id [Fn] is invalid. Event with id [Tick] is invalid. Event type Schedule is not supported by archfn."
            ]
        );
    }
}
