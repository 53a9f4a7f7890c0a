//! The stored shape of a function: its `$LATEST` configuration, published versions, aliases.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::Architecture;

/// How a function's code is packaged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum PackageType {
    /// A .zip archive.
    Zip,
    /// A container image.
    Image,
}

/// A function's lifecycle state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum State {
    /// Created; the code is being prepared.
    Pending,
    /// Ready to invoke.
    Active,
    /// Preparation failed.
    Failed,
    /// Idle for long; resumes on invoke.
    Inactive,
}

impl State {
    /// Lambda's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            State::Pending => "Pending",
            State::Active => "Active",
            State::Failed => "Failed",
            State::Inactive => "Inactive",
        }
    }
}

/// The outcome of the latest update of a function.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum LastUpdateStatus {
    /// The update is being applied.
    InProgress,
    /// The update was applied.
    Successful,
    /// The update failed.
    Failed,
}

impl LastUpdateStatus {
    /// Lambda's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            LastUpdateStatus::InProgress => "InProgress",
            LastUpdateStatus::Successful => "Successful",
            LastUpdateStatus::Failed => "Failed",
        }
    }
}

/// Where a function's code is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CodeLocation {
    /// base64(SHA-256(zip)), Lambda's `CodeSha256`.
    pub sha256: String,
    /// Size of the zip in bytes.
    pub size: u64,
    /// Sum of the uncompressed sizes of the zip's entries.
    pub unzipped_size: u64,
    /// The stored code: a zip or an image. Stored as the string `digest` (`Code::key`), which
    /// the metadata store's queries read.
    #[serde(rename = "digest")]
    pub source: Code,
    /// The image URI, for `PackageType: Image`.
    pub image_uri: Option<String>,
}

/// Which stored code a function version runs.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Code {
    /// A zip in the blob store.
    Zip {
        /// Hex SHA-256 of the zip: its key in the blob store.
        digest: String,
    },
    /// A container image in the image store.
    Image {
        /// The image's id: the hex SHA-256 of its manifest.
        id: String,
    },
}

/// The prefix of an image's key (`image-<id>`).
const IMAGE_KEY_PREFIX: &str = "image-";

impl Code {
    /// A zip with hex digest `digest`.
    pub fn zip(digest: impl Into<String>) -> Code {
        Code::Zip {
            digest: digest.into(),
        }
    }

    /// The image with id `id`.
    pub fn image(id: impl Into<String>) -> Code {
        Code::Image { id: id.into() }
    }

    /// The code's key: the zip's hex digest, or `image-<id>`. It is what the metadata store
    /// holds (and reports as a code reference), what pins hold, and the name of the unpacked
    /// code's directory.
    pub fn key(&self) -> String {
        match self {
            Code::Zip { digest } => digest.clone(),
            Code::Image { id } => format!("{IMAGE_KEY_PREFIX}{id}"),
        }
    }

    /// Reads a key (`Code::key`); anything not `image-…` is a zip's digest, as stored rows
    /// have always had it.
    pub fn from_key(key: &str) -> Code {
        match key.strip_prefix(IMAGE_KEY_PREFIX) {
            Some(id) => Code::image(id),
            None => Code::zip(key),
        }
    }

    /// The zip's hex digest, unless this is an image (or no zip at all: an empty digest).
    pub fn zip_digest(&self) -> Option<&str> {
        match self {
            Code::Zip { digest } if !digest.is_empty() => Some(digest),
            _ => None,
        }
    }

    /// The image's id, unless this is a zip.
    pub fn image_id(&self) -> Option<&str> {
        match self {
            Code::Image { id } => Some(id),
            Code::Zip { .. } => None,
        }
    }
}

impl std::fmt::Display for Code {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.key())
    }
}

impl Serialize for Code {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.key())
    }
}

impl<'de> Deserialize<'de> for Code {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Code, D::Error> {
        let key = String::deserialize(d)?;
        Ok(Code::from_key(&key))
    }
}

/// A layer version a function uses.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LayerAttachment {
    /// The layer version ARN.
    pub arn: String,
    /// Size of the layer's zip in bytes.
    pub code_size: u64,
    /// Unzipped size of the layer, counted in the function's 250 MB.
    pub unzipped_size: u64,
    /// Hex digest of the layer's zip in the blob store.
    pub digest: String,
}

/// One version of a function: `$LATEST` or a published, immutable version.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FunctionConfig {
    /// Function name.
    pub name: String,
    /// `$LATEST` or a decimal version number.
    pub version: String,
    /// Runtime identifier (absent for images).
    pub runtime: Option<String>,
    /// Handler string (absent for images).
    pub handler: Option<String>,
    /// Execution role ARN.
    pub role: String,
    /// Free text.
    pub description: String,
    /// Timeout in seconds.
    pub timeout_s: u32,
    /// Memory size in MB.
    pub memory_mb: u32,
    /// Size of /tmp in MB.
    pub ephemeral_storage_mb: u32,
    /// The one architecture the function runs on.
    pub architecture: Architecture,
    /// Zip or image.
    pub package_type: PackageType,
    /// The code.
    pub code: CodeLocation,
    /// Environment variables, when set.
    pub environment: Option<BTreeMap<String, String>>,
    /// Layers, in extraction order.
    pub layers: Vec<LayerAttachment>,
    /// `PassThrough` or `Active`.
    pub tracing_mode: String,
    /// Lifecycle state.
    pub state: State,
    /// Why the state is what it is.
    pub state_reason: Option<String>,
    /// Lambda's code for the state reason.
    pub state_reason_code: Option<String>,
    /// Outcome of the latest update; absent until the function first became Active.
    pub last_update_status: Option<LastUpdateStatus>,
    /// Why the last update is what it is.
    pub last_update_status_reason: Option<String>,
    /// Lambda's code for the last-update reason.
    pub last_update_status_reason_code: Option<String>,
    /// Changes with every change of this configuration.
    pub revision_id: String,
    /// Unix milliseconds of the last change.
    pub last_modified_ms: i64,
    /// Settings stored and returned as given but not acted on (VpcConfig, DeadLetterConfig, …),
    /// keyed by their Lambda field name.
    pub opaque: BTreeMap<String, serde_json::Value>,
    /// The logging configuration the function set (`None`: Lambda's defaults).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logging: Option<crate::logging::LoggingConfig>,
}

impl FunctionConfig {
    /// The logging configuration as set: the typed field, or (for configurations stored before
    /// it existed) the `LoggingConfig` kept among the opaque settings, or the defaults.
    pub fn logging_config(&self) -> crate::logging::LoggingConfig {
        if let Some(l) = &self.logging {
            return l.clone();
        }
        let Some(v) = self.opaque.get("LoggingConfig") else {
            return crate::logging::LoggingConfig::default();
        };
        let field = |k: &str| v.get(k).and_then(serde_json::Value::as_str);
        crate::logging::LoggingConfig {
            log_format: field("LogFormat")
                .and_then(crate::logging::LogFormat::parse)
                .unwrap_or_default(),
            application_log_level: field("ApplicationLogLevel")
                .and_then(crate::logging::LogLevel::parse),
            system_log_level: field("SystemLogLevel").and_then(crate::logging::LogLevel::parse),
            log_group: field("LogGroup").map(str::to_string),
        }
    }

    /// The logging configuration with Lambda's defaults applied.
    pub fn effective_logging(&self) -> crate::logging::EffectiveLogging {
        self.logging_config().effective(&self.name)
    }
}

/// A function: its `$LATEST` configuration and function-level settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FunctionRecord {
    /// The editable `$LATEST` configuration.
    pub latest: FunctionConfig,
    /// Tags on the function.
    pub tags: BTreeMap<String, String>,
    /// Reserved concurrency, when set.
    pub reserved_concurrency: Option<u32>,
    /// The highest version number ever published (numbers are not reused).
    pub last_version: u64,
    /// `$LATEST`'s revision right after the last publish: publishing again without a change
    /// returns that version.
    pub published_revision: Option<String>,
    /// Unix milliseconds of creation.
    pub created_ms: i64,
}

/// An alias: a name pointing at one version, or two with weights.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AliasRecord {
    /// Function name.
    pub function: String,
    /// Alias name.
    pub name: String,
    /// Primary version (`$LATEST` or a number).
    pub function_version: String,
    /// Free text.
    pub description: String,
    /// Additional version → weight in [0, 1]; empty when the alias has no routing.
    pub additional_weights: BTreeMap<String, f64>,
    /// Changes on every update of the alias.
    pub revision_id: String,
}

/// How a container image function starts: the image config's ENTRYPOINT, CMD, WORKDIR and ENV,
/// with the function's `ImageConfig` (EntryPoint, Command, WorkingDirectory) applied over them.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ImageLaunch {
    /// ENTRYPOINT.
    pub entrypoint: Vec<String>,
    /// CMD (its first element is the handler, `_HANDLER`).
    pub command: Vec<String>,
    /// WORKDIR (`/` when the image names none).
    pub working_dir: String,
    /// ENV, in order.
    pub env: Vec<(String, String)>,
    /// The image's platform architecture in its own words (`amd64`, `arm64`).
    pub image_architecture: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn location(json: &str) -> CodeLocation {
        serde_json::from_str(json).unwrap_or_else(|e| panic!("{json}: {e}"))
    }

    #[test]
    fn stored_code_locations_read_as_typed_code_and_write_back_the_same() {
        let hex = "ab".repeat(32);
        for (digest, code) in [
            (hex.clone(), Code::zip(hex.clone())),
            (format!("image-{hex}"), Code::image(hex.clone())),
            (String::new(), Code::zip("")),
        ] {
            let json = format!(
                r#"{{"sha256":"x","size":1,"unzipped_size":2,"digest":"{digest}","image_uri":null}}"#
            );
            let read = location(&json);
            assert_eq!(read.source, code, "{json}");
            assert_eq!(read.source.key(), digest);
            let written = serde_json::to_value(&read).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(written["digest"], serde_json::Value::String(digest.clone()));
            assert_eq!(written.get("source"), None);
        }
    }

    #[test]
    fn code_keys_name_zips_and_images() {
        let image = Code::from_key("image-00ff");
        assert_eq!(image.image_id(), Some("00ff"));
        assert_eq!(image.zip_digest(), None);
        let zip = Code::from_key("00ff");
        assert_eq!((zip.zip_digest(), zip.image_id()), (Some("00ff"), None));
        assert_eq!(Code::zip("").zip_digest(), None, "no zip at all");
        assert_eq!(image.to_string(), "image-00ff");
    }
}
