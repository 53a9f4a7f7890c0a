//! The stored shape of a layer version.

use serde::{Deserialize, Serialize};

use crate::Architecture;

/// One published version of a layer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LayerVersionRecord {
    /// Layer name.
    pub name: String,
    /// Version number, from 1, never reused.
    pub version: u64,
    /// Free text.
    pub description: String,
    /// License text, when given.
    pub license_info: Option<String>,
    /// Compatible runtimes as given; `None` when the request omitted them.
    pub compatible_runtimes: Option<Vec<String>>,
    /// Compatible architectures as given; `None` when the request omitted them.
    pub compatible_architectures: Option<Vec<Architecture>>,
    /// base64(SHA-256(zip)).
    pub sha256: String,
    /// Zip size in bytes.
    pub size: u64,
    /// Sum of the entries' uncompressed sizes.
    pub unzipped_size: u64,
    /// Hex digest: the key in the blob store.
    pub digest: String,
    /// Unix milliseconds of creation.
    pub created_ms: i64,
}
