//! What `archfn compare` measured: the input of [`crate::build_report`].
//!
//! The orchestration (publishing a version per configuration, invoking it, reading each
//! invocation's REPORT figures and answer) fills these shapes; this crate only reads them.

use std::fmt;
use std::str::FromStr;

use archfn_model::Architecture;
use archfn_model::metrics::Execution;
use serde::{Deserialize, Serialize};

use crate::error::CompareError;

/// Everything one comparison measured: the function, where it ran, how, and every invocation
/// of every configuration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ComparisonInput {
    /// The function compared (its name, as the user gave it).
    pub function: String,
    /// The region whose prices apply (must be in the price book).
    pub region: String,
    /// The instruction set of the host that ran the comparison: the reference configuration
    /// is the first one of this architecture, and the other architecture ran emulated unless
    /// a worker of that architecture ran it.
    pub host_architecture: Architecture,
    /// How the comparison was run and judged.
    pub settings: Settings,
    /// The payloads sent, in order; [`Sample::payload`] indexes this list.
    pub payloads: Vec<PayloadInfo>,
    /// One entry per (architecture, memory) configuration, in the order to report them.
    pub configurations: Vec<ConfigurationRun>,
}

/// How the comparison was run (echoed in the report) and judged.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Settings {
    /// Warm invocations per payload per configuration (`-n`).
    pub invocations_per_payload: u32,
    /// Invocations in flight at once (`--concurrency`).
    pub concurrency: u32,
    /// Cold starts forced per configuration (`--cold`).
    pub cold_per_configuration: u32,
    /// The strategy whose recommendation is the report's answer (`--strategy`).
    pub strategy: Strategy,
    /// `w` of the balanced strategy, in `0..=1`: 1 is pure cost, 0 pure speed
    /// (`--balanced-weight`, default 0.5).
    #[serde(default = "default_balanced_weight")]
    pub balanced_weight: f64,
    /// The month's invocations the monthly cost is computed for (`--monthly-invocations`).
    pub monthly_invocations: u64,
    /// Two JSON numbers are equal when `|a-b| <= tol` or `|a-b| <= tol * max(|a|,|b|)`
    /// (`--float-tolerance`, default 1e-9). Integers are compared exactly.
    #[serde(default = "default_float_tolerance")]
    pub float_tolerance: f64,
}

/// The default `w` of the balanced strategy.
pub const DEFAULT_BALANCED_WEIGHT: f64 = 0.5;

/// The default tolerance of numbers in answers.
pub const DEFAULT_FLOAT_TOLERANCE: f64 = 1e-9;

fn default_balanced_weight() -> f64 {
    DEFAULT_BALANCED_WEIGHT
}

fn default_float_tolerance() -> f64 {
    DEFAULT_FLOAT_TOLERANCE
}

/// What the report recommends a configuration for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Strategy {
    /// The lowest cost per million invocations.
    Cost,
    /// The lowest warm p50 duration (ties go to the lower cost).
    Speed,
    /// The lowest `w*cost/max_cost + (1-w)*p50/max_p50`.
    Balanced,
}

impl Strategy {
    /// All strategies, in the order the report lists them.
    pub const ALL: [Strategy; 3] = [Strategy::Cost, Strategy::Speed, Strategy::Balanced];

    /// `cost`, `speed` or `balanced`.
    pub fn as_str(self) -> &'static str {
        match self {
            Strategy::Cost => "cost",
            Strategy::Speed => "speed",
            Strategy::Balanced => "balanced",
        }
    }
}

impl fmt::Display for Strategy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Strategy {
    type Err = CompareError;

    fn from_str(s: &str) -> Result<Strategy, CompareError> {
        Strategy::ALL
            .into_iter()
            .find(|strategy| strategy.as_str().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| CompareError::UnknownStrategy {
                given: s.to_string(),
            })
    }
}

/// One payload sent to every configuration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PayloadInfo {
    /// The payload's file name, or `payload-1`, `payload-2`… when it had none.
    pub name: String,
    /// Its size in bytes.
    pub size_bytes: u64,
}

/// One configuration (a published version of one architecture and memory size) and every
/// invocation of it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConfigurationRun {
    /// How the report names it, unique within the input (for example `x86_64/512`).
    pub label: String,
    /// The published version that ran.
    pub version: String,
    /// The function's architecture in this configuration.
    pub architecture: Architecture,
    /// MemorySize, MB.
    pub memory_mb: u32,
    /// EphemeralStorage size, MB (512 unless configured).
    pub ephemeral_storage_mb: u32,
    /// Whether it ran natively or under QEMU (`native` or `emulated`).
    pub execution: Execution,
    /// What `archfn migrate` changed in the package for this architecture, as free text
    /// lines; `None` when the package is the same.
    #[serde(default)]
    pub package: Option<String>,
    /// Every invocation of this configuration, warm and cold, in the order they ran.
    pub samples: Vec<Sample>,
}

/// One invocation: Lambda's REPORT figures and the answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Sample {
    /// Index of the payload sent, into [`ComparisonInput::payloads`].
    pub payload: usize,
    /// The round it ran in (rounds interleave configurations); the first answer of a
    /// payload is the one of the lowest round.
    pub round: u32,
    /// Whether it started a new execution environment.
    pub cold: bool,
    /// `Duration`, milliseconds (finite, not negative).
    pub duration_ms: f64,
    /// `Billed Duration`, milliseconds.
    pub billed_duration_ms: u64,
    /// `Init Duration` of a cold start, milliseconds.
    #[serde(default)]
    pub init_duration_ms: Option<f64>,
    /// `Max Memory Used`, MB.
    pub max_memory_used_mb: u64,
    /// The function error's type (`Runtime.ImportModuleError`, `Sandbox.Timedout`, the
    /// handler's exception…); `None` when the function answered normally.
    #[serde(default)]
    pub error_type: Option<String>,
    /// The HTTP status of the Invoke (200 normally, also for function errors).
    pub status: u16,
    /// The answer's body parsed as JSON; `None` when it is not JSON.
    #[serde(default)]
    pub response: Option<serde_json::Value>,
    /// The first KiB of a body that is not JSON, or of an error body.
    #[serde(default)]
    pub response_text: Option<String>,
}
