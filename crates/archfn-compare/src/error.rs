//! Why a report could not be built, or a name could not be read.

use archfn_pricing::PricingError;

/// Why a report could not be built, or a format or strategy name could not be read.
#[derive(Debug, thiserror::Error)]
pub enum CompareError {
    /// The input has no configuration to report on.
    #[error("no configurations to compare")]
    NoConfigurations,
    /// A configuration's label is empty or used twice (labels name configurations in every
    /// finding, so they must be unique).
    #[error("configuration {index}: label {label:?} is {why}")]
    BadLabel {
        /// The configuration's position in the input, from 0.
        index: usize,
        /// The label.
        label: String,
        /// `empty` or `used twice`.
        why: &'static str,
    },
    /// A configuration is outside what Lambda allows.
    #[error("configuration {label}: {what}")]
    InvalidConfiguration {
        /// The configuration's label.
        label: String,
        /// What is wrong.
        what: String,
    },
    /// A setting is outside its range.
    #[error("setting {name} is {value}, {expected}")]
    InvalidSetting {
        /// The setting's field name.
        name: &'static str,
        /// The value given.
        value: String,
        /// What it must be.
        expected: &'static str,
    },
    /// A sample's figures cannot be measurements (a NaN, infinite or negative duration, a
    /// payload index past the payloads).
    #[error("configuration {label}, sample {index}: {what}")]
    InvalidSample {
        /// The configuration's label.
        label: String,
        /// The sample's position in the configuration's samples, from 0.
        index: usize,
        /// What is wrong.
        what: String,
    },
    /// The price book has no prices for the input's region (or architecture there).
    #[error(transparent)]
    Prices(#[from] PricingError),
    /// A configuration's cost could not be computed.
    #[error("cost of configuration {label}: {source}")]
    Cost {
        /// The configuration's label.
        label: String,
        /// What the cost model said.
        source: PricingError,
    },
    /// A format name that is not `text`, `json` or `html`.
    #[error("unknown report format {given:?} (expected text, json or html)")]
    UnknownFormat {
        /// The name given.
        given: String,
    },
    /// A strategy name that is not `cost`, `speed` or `balanced`.
    #[error("unknown strategy {given:?} (expected cost, speed or balanced)")]
    UnknownStrategy {
        /// The name given.
        given: String,
    },
}
