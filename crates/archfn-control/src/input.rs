//! What callers hand to the use cases: requests already decoded, not yet validated.

use std::collections::BTreeMap;

use bytes::Bytes;

/// Where new code comes from.
#[derive(Debug, Clone, Default)]
pub struct CodeInput {
    /// The zip itself.
    pub zip: Option<Bytes>,
    /// An S3 bucket and key (not reachable from archfn).
    pub s3: Option<(String, String)>,
    /// A container image URI.
    pub image_uri: Option<String>,
}

/// CreateFunction.
#[derive(Debug, Clone, Default)]
pub struct CreateFunctionInput {
    /// Name (or ARN) of the new function.
    pub function_name: String,
    /// Runtime identifier.
    pub runtime: Option<String>,
    /// Execution role ARN.
    pub role: Option<String>,
    /// Handler string.
    pub handler: Option<String>,
    /// The code.
    pub code: CodeInput,
    /// Free text.
    pub description: Option<String>,
    /// Seconds.
    pub timeout: Option<i64>,
    /// MB.
    pub memory_size: Option<i64>,
    /// Publish version 1 at once.
    pub publish: bool,
    /// `Zip` or `Image`.
    pub package_type: Option<String>,
    /// Environment variables.
    pub environment: Option<BTreeMap<String, String>>,
    /// Layer version ARNs.
    pub layers: Option<Vec<String>>,
    /// Architectures as given.
    pub architectures: Option<Vec<String>>,
    /// /tmp size in MB.
    pub ephemeral_storage: Option<i64>,
    /// Tracing mode.
    pub tracing_mode: Option<String>,
    /// Tags.
    pub tags: Option<BTreeMap<String, String>>,
    /// `LoggingConfig`, as given.
    pub logging: Option<LoggingInput>,
    /// Settings stored as given (VpcConfig, DeadLetterConfig, …).
    pub opaque: BTreeMap<String, serde_json::Value>,
}

/// `LoggingConfig` as given: each member optional, not yet validated.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LoggingInput {
    /// `JSON` or `Text`.
    pub log_format: Option<String>,
    /// An application level.
    pub application_log_level: Option<String>,
    /// A system level.
    pub system_log_level: Option<String>,
    /// A log group name.
    pub log_group: Option<String>,
}

/// UpdateFunctionCode.
#[derive(Debug, Clone, Default)]
pub struct UpdateCodeInput {
    /// The new code.
    pub code: CodeInput,
    /// New architectures, if changing.
    pub architectures: Option<Vec<String>>,
    /// Publish a version after the update.
    pub publish: bool,
    /// Validate only.
    pub dry_run: bool,
    /// Expected RevisionId of `$LATEST`.
    pub revision_id: Option<String>,
}

/// UpdateFunctionConfiguration: every field optional; `None` leaves it as it is.
#[derive(Debug, Clone, Default)]
pub struct UpdateConfigInput {
    /// Execution role.
    pub role: Option<String>,
    /// Handler.
    pub handler: Option<String>,
    /// Description.
    pub description: Option<String>,
    /// Seconds.
    pub timeout: Option<i64>,
    /// MB.
    pub memory_size: Option<i64>,
    /// Environment variables (an empty map clears them).
    pub environment: Option<BTreeMap<String, String>>,
    /// Runtime.
    pub runtime: Option<String>,
    /// Layers (replace the list).
    pub layers: Option<Vec<String>>,
    /// /tmp size in MB.
    pub ephemeral_storage: Option<i64>,
    /// Tracing mode.
    pub tracing_mode: Option<String>,
    /// Expected RevisionId.
    pub revision_id: Option<String>,
    /// `LoggingConfig`, laid over the current one.
    pub logging: Option<LoggingInput>,
    /// Settings stored as given.
    pub opaque: BTreeMap<String, serde_json::Value>,
}

/// CreateAlias / UpdateAlias.
#[derive(Debug, Clone, Default)]
pub struct AliasInput {
    /// Primary version.
    pub function_version: Option<String>,
    /// Description.
    pub description: Option<String>,
    /// Additional version weights; `Some(empty)` removes routing.
    pub weights: Option<BTreeMap<String, f64>>,
    /// Expected alias RevisionId (update only).
    pub revision_id: Option<String>,
}

/// PublishLayerVersion.
#[derive(Debug, Clone, Default)]
pub struct PublishLayerInput {
    /// The layer's zip.
    pub content: CodeInput,
    /// Description.
    pub description: Option<String>,
    /// License.
    pub license_info: Option<String>,
    /// Compatible runtimes, as given.
    pub compatible_runtimes: Option<Vec<String>>,
    /// Compatible architectures, as given.
    pub compatible_architectures: Option<Vec<String>>,
}

/// ListLayers / ListLayerVersions filters.
#[derive(Debug, Clone, Default)]
pub struct LayerFilter {
    /// Only versions compatible with this runtime.
    pub runtime: Option<String>,
    /// Only versions compatible with this architecture.
    pub architecture: Option<String>,
}
