//! Settings: JSON documents attached to a function (or a version or alias of it), a layer
//! version, or the account, each stored whole under a typed key. The shapes of the documents
//! are the control plane's; the store keys them, versions them with etags, and deletes a
//! function's, version's or alias's settings with it.

/// What a setting is. A function-scoped kind is deleted with its function (and, at a
/// qualifier, with that version or alias).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SettingKind {
    /// A function URL configuration (qualifier `$LATEST` or an alias); lookup: the URL id.
    FunctionUrl,
    /// A resource-based policy (qualifier: `$LATEST`, a version, or an alias).
    Policy,
    /// An asynchronous invocation configuration (event invoke config).
    EventInvokeConfig,
    /// A provisioned concurrency configuration (a version or an alias).
    ProvisionedConcurrency,
    /// The code signing configuration a function uses (qualifier `$LATEST`).
    FunctionCodeSigning,
    /// A runtime management configuration.
    RuntimeManagement,
    /// A recursion (loop detection) configuration.
    Recursion,
    /// A function scaling configuration.
    Scaling,
    /// A code signing configuration (owner '', qualifier: its id), account-scoped.
    CodeSigningConfig,
    /// A layer version's policy (owner: the layer, qualifier: the version).
    LayerVersionPolicy,
    /// A container image's record (region '', owner: its id), account-wide like a registry.
    Image,
    /// An image's name (region '', owner: the repository, qualifier: the tag).
    ImageTag,
    /// A blob the image store keeps (region '', owner: the blob's key; an empty document).
    ImageHeld,
    /// A capacity provider (owner '', qualifier: its name), account-scoped.
    CapacityProvider,
    /// A node's heartbeat (region '', owner '', qualifier: the node id).
    Node,
    /// A lease on work one node at a time drives (region '', owner '', qualifier: its name).
    Lease,
}

impl SettingKind {
    /// Every kind.
    pub const ALL: [SettingKind; 16] = [
        SettingKind::FunctionUrl,
        SettingKind::Policy,
        SettingKind::EventInvokeConfig,
        SettingKind::ProvisionedConcurrency,
        SettingKind::FunctionCodeSigning,
        SettingKind::RuntimeManagement,
        SettingKind::Recursion,
        SettingKind::Scaling,
        SettingKind::CodeSigningConfig,
        SettingKind::LayerVersionPolicy,
        SettingKind::Image,
        SettingKind::ImageTag,
        SettingKind::ImageHeld,
        SettingKind::CapacityProvider,
        SettingKind::Node,
        SettingKind::Lease,
    ];

    /// The name stored in the `kind` column (never changed once written).
    pub fn as_str(self) -> &'static str {
        match self {
            SettingKind::FunctionUrl => "function-url",
            SettingKind::Policy => "policy",
            SettingKind::EventInvokeConfig => "event-invoke-config",
            SettingKind::ProvisionedConcurrency => "provisioned-concurrency",
            SettingKind::FunctionCodeSigning => "function-code-signing",
            SettingKind::RuntimeManagement => "runtime-management",
            SettingKind::Recursion => "recursion",
            SettingKind::Scaling => "scaling",
            SettingKind::CodeSigningConfig => "code-signing-config",
            SettingKind::LayerVersionPolicy => "layer-version-policy",
            SettingKind::Image => "image",
            SettingKind::ImageTag => "image-tag",
            SettingKind::ImageHeld => "image-held",
            SettingKind::CapacityProvider => "capacity-provider",
            SettingKind::Node => "node",
            SettingKind::Lease => "lease",
        }
    }

    /// The kind a stored name stands for.
    pub fn parse(s: &str) -> Option<SettingKind> {
        SettingKind::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// Whether the setting belongs to a function, and goes with it.
    pub fn is_function_scoped(self) -> bool {
        !matches!(
            self,
            SettingKind::CodeSigningConfig
                | SettingKind::LayerVersionPolicy
                | SettingKind::Image
                | SettingKind::ImageTag
                | SettingKind::ImageHeld
                | SettingKind::CapacityProvider
                | SettingKind::Node
                | SettingKind::Lease
        )
    }
}

/// Where a setting is stored.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SettingKey {
    /// The region.
    pub region: String,
    /// What it is.
    pub kind: SettingKind,
    /// The function or layer name; empty for an account-scoped setting.
    pub owner: String,
    /// `$LATEST`, a version, an alias, a layer version, an id; empty when the kind has none.
    pub qualifier: String,
}

impl SettingKey {
    /// A key from its parts.
    pub fn new(
        region: impl Into<String>,
        kind: SettingKind,
        owner: impl Into<String>,
        qualifier: impl Into<String>,
    ) -> SettingKey {
        SettingKey {
            region: region.into(),
            kind,
            owner: owner.into(),
            qualifier: qualifier.into(),
        }
    }
}

/// A stored setting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SettingRow {
    /// Where it is.
    pub key: SettingKey,
    /// The document (JSON).
    pub document: String,
    /// Its second key, if any.
    pub lookup: Option<String>,
    /// Changes on every write.
    pub etag: i64,
}

impl SettingRow {
    /// The document decoded.
    pub fn decode<T: serde::de::DeserializeOwned>(&self) -> Result<T, crate::StoreError> {
        serde_json::from_str(&self.document).map_err(|e| crate::StoreError::Corrupt(e.to_string()))
    }
}

/// How `put_setting` may write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SettingWrite {
    /// Only when absent (else `AlreadyExists`).
    Create,
    /// Only when present with this etag (else `NotFound` or `Conflict`).
    Replace(i64),
    /// Create or overwrite.
    Upsert,
}
