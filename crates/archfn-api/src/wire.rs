//! Lambda's JSON shapes: request bodies as they arrive, answers as clients expect them.

use std::collections::BTreeMap;

use archfn_control::{AliasView, FunctionView, LayerVersionView};
use archfn_model::time::format_last_modified;
use archfn_model::{FunctionConfig, PackageType};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
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
    pub s3_object_version: Option<String>,
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
            s3: (self.s3_bucket.is_some()
                || self.s3_key.is_some()
                || self.s3_object_version.is_some())
            .then(|| archfn_control::S3Location {
                bucket: self.s3_bucket.unwrap_or_default(),
                key: self.s3_key.unwrap_or_default(),
                object_version: self.s3_object_version,
            }),
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
    "SnapStart",
    // Acted on: invocations go to the workers of the provider it names (archfn-server's forwarding).
    "CapacityProviderConfig",
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

/// `{"Variables": …}`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct EnvironmentOut<'a> {
    variables: &'a BTreeMap<String, String>,
}

/// `{"Arn": …, "CodeSize": …}`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct LayerOut<'a> {
    arn: &'a str,
    code_size: u64,
}

/// `{"Mode": …}`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct TracingOut<'a> {
    mode: &'a str,
}

/// `{"Size": …}`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct EphemeralOut {
    size: u32,
}

/// `{"ApplyOn": …, "OptimizationStatus": "Off"}`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct SnapStartOut {
    apply_on: Value,
    optimization_status: &'static str,
}

/// `LoggingConfig`: Lambda's defaults, with whatever the function set laid over them.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct LoggingOut {
    log_format: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    application_log_level: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    system_log_level: Option<&'static str>,
    log_group: String,
}

/// `LoggingConfig` in requests: each member as given, checked by the control plane.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct LoggingIn {
    pub log_format: Option<String>,
    pub application_log_level: Option<String>,
    pub system_log_level: Option<String>,
    pub log_group: Option<String>,
}

impl LoggingIn {
    /// The control plane's input.
    pub(crate) fn into_input(self) -> archfn_control::LoggingInput {
        archfn_control::LoggingInput {
            log_format: self.log_format,
            application_log_level: self.application_log_level,
            system_log_level: self.system_log_level,
            log_group: self.log_group,
        }
    }
}

/// Lambda's FunctionConfiguration, serialized straight from the stored configuration.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct FunctionConfigurationOut<'a> {
    function_name: &'a str,
    function_arn: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    runtime: Option<&'a str>,
    role: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    handler: Option<&'a str>,
    code_size: u64,
    description: &'a str,
    timeout: u32,
    memory_size: u32,
    last_modified: String,
    code_sha256: &'a str,
    version: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    environment: Option<EnvironmentOut<'a>>,
    tracing_config: TracingOut<'a>,
    revision_id: &'a str,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    layers: Vec<LayerOut<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    state: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    state_reason: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    state_reason_code: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    last_update_status: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    last_update_status_reason: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    last_update_status_reason_code: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    runtime_version_config: Option<Value>,
    package_type: &'static str,
    architectures: [&'static str; 1],
    ephemeral_storage: EphemeralOut,
    snap_start: SnapStartOut,
    logging_config: LoggingOut,
    #[serde(flatten)]
    opaque: BTreeMap<&'static str, Value>,
}

/// FunctionConfiguration. `full` adds the fields GetFunction shows and list entries omit.
pub(crate) fn function_configuration<'a>(
    view: &'a FunctionView,
    region: &str,
    full: bool,
) -> FunctionConfigurationOut<'a> {
    let c = &view.config;
    let mut snap_start = SnapStartOut {
        apply_on: json!("None"),
        optimization_status: "Off",
    };
    let logging = c.effective_logging();
    let logging_config = LoggingOut {
        log_format: logging.format.as_str(),
        application_log_level: logging.application_level.map(|l| l.as_str()),
        system_log_level: logging.system_level.map(|l| l.as_str()),
        log_group: logging.log_group,
    };
    let mut opaque = BTreeMap::new();
    for (k, v) in &c.opaque {
        match k.as_str() {
            "ImageConfig" => {
                opaque.insert("ImageConfigResponse", json!({ "ImageConfig": v }));
            }
            "SnapStart" => snap_start.apply_on = v.get("ApplyOn").cloned().unwrap_or(json!("None")),
            // Kept in the typed configuration (`FunctionConfig::logging_config`).
            "LoggingConfig" => {}
            other => {
                if let Some(known) = OPAQUE_FIELDS.iter().find(|f| **f == other) {
                    opaque.insert(*known, v.clone());
                }
            }
        }
    }
    FunctionConfigurationOut {
        function_name: &c.name,
        function_arn: &view.arn,
        runtime: c.runtime.as_deref(),
        role: &c.role,
        handler: c.handler.as_deref(),
        code_size: c.code.size,
        description: &c.description,
        timeout: c.timeout_s,
        memory_size: c.memory_mb,
        last_modified: format_last_modified(c.last_modified_ms),
        code_sha256: &c.code.sha256,
        version: &c.version,
        environment: c
            .environment
            .as_ref()
            .map(|variables| EnvironmentOut { variables }),
        tracing_config: TracingOut {
            mode: &c.tracing_mode,
        },
        revision_id: &c.revision_id,
        layers: c
            .layers
            .iter()
            .map(|l| LayerOut {
                arn: &l.arn,
                code_size: l.code_size,
            })
            .collect(),
        state: full.then(|| c.state.as_str()),
        state_reason: c.state_reason.as_deref().filter(|_| full),
        state_reason_code: c.state_reason_code.as_deref().filter(|_| full),
        last_update_status: c.last_update_status.filter(|_| full).map(|s| s.as_str()),
        last_update_status_reason: c.last_update_status_reason.as_deref().filter(|_| full),
        last_update_status_reason_code: c
            .last_update_status_reason_code
            .as_deref()
            .filter(|_| full),
        runtime_version_config: (full && c.package_type == PackageType::Zip)
            .then(|| json!({ "RuntimeVersionArn": runtime_version_arn(region, c) })),
        package_type: match c.package_type {
            PackageType::Zip => "Zip",
            PackageType::Image => "Image",
        },
        architectures: [c.architecture.as_str()],
        ephemeral_storage: EphemeralOut {
            size: c.ephemeral_storage_mb,
        },
        snap_start,
        logging_config,
        opaque,
    }
}

/// A page of a list: `{"<Key>": [...], "NextMarker": …}`, the marker only when there is more.
#[derive(Debug)]
pub(crate) struct Page<T> {
    /// The list's field name (`Functions`, `Versions`, …).
    pub key: &'static str,
    /// The entries.
    pub items: Vec<T>,
    /// Where the next page starts.
    pub next: Option<String>,
}

impl<T: Serialize> Serialize for Page<T> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut m = s.serialize_map(None)?;
        m.serialize_entry(self.key, &self.items)?;
        if let Some(next) = &self.next {
            m.serialize_entry("NextMarker", next)?;
        }
        m.end()
    }
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
