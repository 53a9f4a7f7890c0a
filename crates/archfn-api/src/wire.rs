//! Lambda's JSON shapes: request bodies as they arrive, answers as clients expect them.

use std::collections::BTreeMap;

use archfn_control::{AliasView, FunctionView, LayerVersionView};
use archfn_model::time::format_last_modified;
use archfn_model::{FunctionConfig, PackageType};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

use crate::error::ApiError;

/// Decodes a JSON body; anything else is Lambda's InvalidRequestContentException.
pub(crate) fn parse_body<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    let body = if body.is_empty() {
        b"{}".as_slice()
    } else {
        body
    };
    serde_json::from_slice(body).map_err(|e| {
        ApiError::InvalidRequestContentException(format!(
            "Could not parse request body into json: {e}"
        ))
    })
}

/// Decodes a base64 blob field.
pub(crate) fn decode_blob(field: &str, b64: &str) -> Result<bytes::Bytes, ApiError> {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD
        .decode(b64.trim())
        .map(bytes::Bytes::from)
        .map_err(|e| {
            ApiError::InvalidRequestContentException(format!(
                "Could not parse request body into json: {field} is not valid base64: {e}"
            ))
        })
}

/// `Environment` in requests.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct EnvironmentIn {
    pub variables: Option<BTreeMap<String, String>>,
}

/// `Code` in CreateFunction, and the code fields of UpdateFunctionCode / PublishLayerVersion.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct CodeIn {
    pub zip_file: Option<String>,
    pub s3_bucket: Option<String>,
    pub s3_key: Option<String>,
    pub image_uri: Option<String>,
}

impl CodeIn {
    pub(crate) fn into_input(self) -> Result<archfn_control::CodeInput, ApiError> {
        Ok(archfn_control::CodeInput {
            zip: self
                .zip_file
                .as_deref()
                .map(|z| decode_blob("ZipFile", z))
                .transpose()?,
            s3: self.s3_bucket.map(|b| (b, self.s3_key.unwrap_or_default())),
            image_uri: self.image_uri,
        })
    }
}

/// `{"Mode": …}` and `{"Size": …}` shapes.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct ModeIn {
    pub mode: Option<String>,
}

/// `EphemeralStorage` in requests.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct SizeIn {
    pub size: i64,
}

/// Fields stored and echoed without being acted on.
pub(crate) const OPAQUE_FIELDS: &[&str] = &[
    "VpcConfig",
    "DeadLetterConfig",
    "KMSKeyArn",
    "FileSystemConfigs",
    "ImageConfig",
    "LoggingConfig",
    "SnapStart",
];

/// Picks the opaque fields out of a raw request object.
pub(crate) fn opaque_of(raw: &Value) -> BTreeMap<String, Value> {
    OPAQUE_FIELDS
        .iter()
        .filter_map(|k| {
            raw.get(*k)
                .filter(|v| !v.is_null())
                .map(|v| (k.to_string(), v.clone()))
        })
        .collect()
}

fn runtime_version_arn(region: &str, c: &FunctionConfig) -> String {
    let seed = format!("{}:{}", c.runtime.as_deref().unwrap_or(""), c.architecture);
    format!(
        "arn:aws:lambda:{region}::runtime:{}",
        hex::encode(Sha256::digest(seed.as_bytes()))
    )
}

/// FunctionConfiguration. `full` adds the fields GetFunction shows and list entries omit.
pub(crate) fn function_configuration(view: &FunctionView, region: &str, full: bool) -> Value {
    let c = &view.config;
    let mut m = Map::new();
    m.insert("FunctionName".into(), json!(c.name));
    m.insert("FunctionArn".into(), json!(view.arn));
    if let Some(r) = &c.runtime {
        m.insert("Runtime".into(), json!(r));
    }
    m.insert("Role".into(), json!(c.role));
    if let Some(h) = &c.handler {
        m.insert("Handler".into(), json!(h));
    }
    m.insert("CodeSize".into(), json!(c.code.size));
    m.insert("Description".into(), json!(c.description));
    m.insert("Timeout".into(), json!(c.timeout_s));
    m.insert("MemorySize".into(), json!(c.memory_mb));
    m.insert(
        "LastModified".into(),
        json!(format_last_modified(c.last_modified_ms)),
    );
    m.insert("CodeSha256".into(), json!(c.code.sha256));
    m.insert("Version".into(), json!(c.version));
    if let Some(env) = &c.environment {
        m.insert("Environment".into(), json!({ "Variables": env }));
    }
    m.insert("TracingConfig".into(), json!({ "Mode": c.tracing_mode }));
    m.insert("RevisionId".into(), json!(c.revision_id));
    if !c.layers.is_empty() {
        let layers: Vec<Value> = c
            .layers
            .iter()
            .map(|l| json!({ "Arn": l.arn, "CodeSize": l.code_size }))
            .collect();
        m.insert("Layers".into(), json!(layers));
    }
    if full {
        m.insert("State".into(), json!(c.state.as_str()));
        if let Some(r) = &c.state_reason {
            m.insert("StateReason".into(), json!(r));
        }
        if let Some(r) = &c.state_reason_code {
            m.insert("StateReasonCode".into(), json!(r));
        }
        if let Some(s) = c.last_update_status {
            m.insert("LastUpdateStatus".into(), json!(s.as_str()));
        }
        if let Some(r) = &c.last_update_status_reason {
            m.insert("LastUpdateStatusReason".into(), json!(r));
        }
        if let Some(r) = &c.last_update_status_reason_code {
            m.insert("LastUpdateStatusReasonCode".into(), json!(r));
        }
        if c.package_type == PackageType::Zip {
            m.insert(
                "RuntimeVersionConfig".into(),
                json!({ "RuntimeVersionArn": runtime_version_arn(region, c) }),
            );
        }
    }
    m.insert(
        "PackageType".into(),
        json!(match c.package_type {
            PackageType::Zip => "Zip",
            PackageType::Image => "Image",
        }),
    );
    m.insert("Architectures".into(), json!([c.architecture.as_str()]));
    m.insert(
        "EphemeralStorage".into(),
        json!({ "Size": c.ephemeral_storage_mb }),
    );
    m.insert(
        "SnapStart".into(),
        json!({ "ApplyOn": "None", "OptimizationStatus": "Off" }),
    );
    m.insert(
        "LoggingConfig".into(),
        json!({ "LogFormat": "Text", "LogGroup": format!("/aws/lambda/{}", c.name) }),
    );
    for (k, v) in &c.opaque {
        match k.as_str() {
            "ImageConfig" => {
                m.insert("ImageConfigResponse".into(), json!({ "ImageConfig": v }));
            }
            "SnapStart" => {
                let apply = v.get("ApplyOn").cloned().unwrap_or(json!("None"));
                m.insert(
                    "SnapStart".into(),
                    json!({ "ApplyOn": apply, "OptimizationStatus": "Off" }),
                );
            }
            "LoggingConfig" => {
                if let (Some(Value::Object(base)), Value::Object(given)) =
                    (m.get_mut("LoggingConfig"), v)
                {
                    base.extend(given.clone());
                }
            }
            _ => {
                m.insert(k.clone(), v.clone());
            }
        }
    }
    Value::Object(m)
}

/// AliasConfiguration.
pub(crate) fn alias_configuration(view: &AliasView) -> Value {
    let a = &view.alias;
    let mut v = json!({
        "AliasArn": view.arn,
        "Name": a.name,
        "FunctionVersion": a.function_version,
        "Description": a.description,
        "RevisionId": a.revision_id,
    });
    if !a.additional_weights.is_empty()
        && let Value::Object(m) = &mut v
    {
        m.insert(
            "RoutingConfig".into(),
            json!({ "AdditionalVersionWeights": a.additional_weights }),
        );
    }
    v
}

/// GetLayerVersion / PublishLayerVersion answers. `location` is a download URL.
pub(crate) fn layer_version(view: &LayerVersionView, location: Option<String>) -> Value {
    let l = &view.layer;
    let mut m = Map::new();
    if let Some(loc) = location {
        m.insert(
            "Content".into(),
            json!({ "Location": loc, "CodeSha256": l.sha256, "CodeSize": l.size }),
        );
    }
    m.insert("LayerArn".into(), json!(view.layer_arn));
    m.insert("LayerVersionArn".into(), json!(view.version_arn()));
    m.insert("Description".into(), json!(l.description));
    m.insert(
        "CreatedDate".into(),
        json!(format_last_modified(l.created_ms)),
    );
    m.insert("Version".into(), json!(l.version));
    if let Some(r) = &l.compatible_runtimes {
        m.insert("CompatibleRuntimes".into(), json!(r));
    }
    if let Some(li) = &l.license_info {
        m.insert("LicenseInfo".into(), json!(li));
    }
    if let Some(a) = &l.compatible_architectures {
        let names: Vec<&str> = a.iter().map(|a| a.as_str()).collect();
        m.insert("CompatibleArchitectures".into(), json!(names));
    }
    Value::Object(m)
}
