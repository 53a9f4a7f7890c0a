//! Why a price file could not be used, or a cost could not be computed.

use std::path::PathBuf;

use archfn_model::Architecture;

/// Why a price file could not be used, or a cost could not be computed.
#[derive(Debug, thiserror::Error)]
pub enum PricingError {
    /// The override file could not be read.
    #[error("cannot read price file {path}: {source}")]
    Read {
        /// The file asked for.
        path: PathBuf,
        /// What the file system said.
        source: std::io::Error,
    },
    /// The file is not JSON of the price file's shape.
    #[error("malformed price file {origin}: {source}")]
    Malformed {
        /// Where the text came from (a path, or `embedded`).
        origin: String,
        /// What the JSON parser said, with line and column.
        source: serde_json::Error,
    },
    /// The file declares a schema this build does not read.
    #[error("price file {origin} has schema_version {found}, this build reads {supported}")]
    SchemaVersion {
        /// Where the text came from.
        origin: String,
        /// The version the file declares.
        found: u32,
        /// The version this build reads.
        supported: u32,
    },
    /// The file parses but a value breaks a rule (a negative price, tiers out of order, an
    /// unknown source, a name that is not a region).
    #[error("invalid price file {origin}: {what}")]
    Invalid {
        /// Where the text came from.
        origin: String,
        /// Which value, and what is wrong with it.
        what: String,
    },
    /// The price book has no prices for the region asked about.
    #[error("no prices for region {region} (known: {known})")]
    UnknownRegion {
        /// The region asked about.
        region: String,
        /// The regions the book knows, comma-separated.
        known: String,
    },
    /// The region is known but has no prices for the architecture asked about.
    #[error("no {architecture} prices for region {region}", architecture = .architecture.as_str())]
    UnknownArchitecture {
        /// The region asked about.
        region: String,
        /// The architecture asked about.
        architecture: Architecture,
    },
    /// An invocation's configuration is outside what Lambda allows.
    #[error("{what} is {value} MB, Lambda allows {min}..={max} MB")]
    OutOfRange {
        /// `memory` or `ephemeral storage`.
        what: &'static str,
        /// The value given.
        value: u32,
        /// Lambda's minimum.
        min: u32,
        /// Lambda's maximum.
        max: u32,
    },
    /// A cost over a distribution of durations was asked for with no durations.
    #[error("no invocations to average over")]
    NoSamples,
}
