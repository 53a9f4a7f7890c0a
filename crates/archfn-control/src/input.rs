//! What callers hand to the use cases: requests already decoded, not yet validated.

use std::collections::BTreeMap;

use bytes::Bytes;

/// Where new code comes from, as a request gave it: every member that was present, so that the
/// use case can refuse the combinations Lambda refuses (a `ZipFile` with S3 members).
/// Build one from a [`CodeSource`] when the source is already known.
#[derive(Debug, Clone, Default)]
pub struct CodeInput {
    /// The zip itself (`ZipFile`).
    pub zip: Option<Bytes>,
    /// An object of archfn's S3 holding the zip (`S3Bucket`, `S3Key`, `S3ObjectVersion`).
    pub s3: Option<S3Location>,
    /// A container image URI.
    pub image_uri: Option<String>,
}

/// An object of archfn's S3 named as a function's or layer's code: read from the S3 catalogue by
/// the control plane itself (no HTTP), its blob reused as the code without a copy.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct S3Location {
    /// `S3Bucket`: a bucket of archfn's S3 in the function's region.
    pub bucket: String,
    /// `S3Key`: the object's key.
    pub key: String,
    /// `S3ObjectVersion`: the object version to use. archfn's S3 keeps one version per key, whose
    /// id is `null` (as S3 names the version of an object written without versioning).
    pub object_version: Option<String>,
}

/// Where a zip package comes from, once a caller knows: for callers that build requests
/// themselves (CloudFormation, SAM), turned into a [`CodeInput`] with `CodeInput::from`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CodeSource {
    /// The zip's bytes.
    Zip(Bytes),
    /// An object of archfn's S3.
    S3(S3Location),
}

impl From<CodeSource> for CodeInput {
    fn from(source: CodeSource) -> CodeInput {
        match source {
            CodeSource::Zip(bytes) => CodeInput {
                zip: Some(bytes),
                ..CodeInput::default()
            },
            CodeSource::S3(location) => CodeInput {
                s3: Some(location),
                ..CodeInput::default()
            },
        }
    }
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
