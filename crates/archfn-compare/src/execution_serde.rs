//! Serde for archfn-model's [`Execution`], which has none of its own: `native` or `emulated`
//! (the words of `Execution::as_str`).

use archfn_model::metrics::Execution;
use serde::{Deserialize, Deserializer, Serializer};

/// Writes `native` or `emulated`.
pub(crate) fn serialize<S: Serializer>(
    execution: &Execution,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(execution.as_str())
}

/// Reads `native` or `emulated`.
pub(crate) fn deserialize<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Execution, D::Error> {
    let word = String::deserialize(deserializer)?;
    Execution::parse(&word)
        .ok_or_else(|| serde::de::Error::unknown_variant(&word, &["native", "emulated"]))
}
