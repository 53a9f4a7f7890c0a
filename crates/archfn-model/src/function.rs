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
    /// Lambda's `CodeSha256`: base64(SHA-256(zip)); for an image, the image's digest (the hex
    /// SHA-256 of its manifest).
    pub sha256: String,
    /// Size of the zip in bytes; for an image, of its layers as stored.
    pub size: u64,
    /// Sum of the uncompressed sizes of the zip's entries; 0 for an image.
    pub unzipped_size: u64,
    /// The key of the code: for a zip, its hex SHA-256 (its key in the blob store and the name
    /// of its unpacked directory); for an image, `image-<id>` (the name of its unpacked root
    /// file system).
    pub digest: String,
    /// The image URI, for `PackageType: Image`.
    pub image_uri: Option<String>,
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
