//! What a comparison is asked to do, checked before anything runs.

use archfn_compare::Strategy;
use archfn_control::ControlError;
use archfn_model::Architecture;
use archfn_model::limits::{MEMORY_MAX_MB, MEMORY_MIN_MB};
use serde::Deserialize;
use serde_json::Value;

/// The most configurations (architectures × memory sizes, or versions) one comparison runs.
pub const MAX_CONFIGURATIONS: usize = 12;
/// The most payloads.
pub const MAX_PAYLOADS: usize = 20;
/// The most warm invocations per payload and configuration.
pub const MAX_INVOCATIONS: u32 = 1_000;
/// The most invocations at once.
pub const MAX_CONCURRENCY: u32 = 16;
/// The most cold starts per configuration.
pub const MAX_COLD: u32 = 20;
/// A synchronous Invoke's largest payload (6 MB).
const SYNC_PAYLOAD_MAX_BYTES: usize = 6_291_456;

/// One payload: a name for the report and the event.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PayloadIn {
    /// Its name (a file name).
    pub name: String,
    /// The event, as JSON.
    pub event: Value,
}

/// `POST /archfn/v1/functions/{name}/comparisons`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ComparisonRequest {
    /// Architectures to compare (default both).
    pub architectures: Option<Vec<String>>,
    /// Memory sizes, MB (default the function's).
    pub memory: Option<Vec<u32>>,
    /// Existing versions to compare instead of building configurations.
    pub versions: Option<Vec<String>>,
    /// The events (default one empty object).
    pub payloads: Option<Vec<PayloadIn>>,
    /// Warm invocations per payload and configuration (default 10).
    pub invocations: Option<u32>,
    /// Invocations at once (default 1).
    pub concurrency: Option<u32>,
    /// Cold starts per configuration (default 1).
    pub cold: Option<u32>,
    /// cost, speed or balanced (default balanced).
    pub strategy: Option<String>,
    /// w of the balanced strategy (default 0.5).
    pub balanced_weight: Option<f64>,
    /// Invocations a month, for the monthly cost (default 1,000,000).
    pub monthly_invocations: Option<u64>,
    /// Tolerance of numbers in answers (default 1e-9).
    pub float_tolerance: Option<f64>,
}

/// What to build: configurations to publish, or versions to use.
#[derive(Debug, Clone)]
pub(crate) enum Subjects {
    /// (architecture, memory) pairs.
    Build(Vec<(Architecture, Option<u32>)>),
    /// Existing versions.
    Versions(Vec<String>),
}

/// A checked request.
#[derive(Debug, Clone)]
pub(crate) struct Plan {
    pub subjects: Subjects,
    pub payloads: Vec<(String, Vec<u8>)>,
    pub invocations: u32,
    pub concurrency: u32,
    pub cold: u32,
    pub strategy: Strategy,
    pub balanced_weight: f64,
    pub monthly_invocations: u64,
    pub float_tolerance: f64,
}

fn invalid(m: impl Into<String>) -> ControlError {
    ControlError::InvalidParameter(m.into())
}

impl ComparisonRequest {
    /// The plan, or what is wrong with the request.
    pub(crate) fn plan(self) -> Result<Plan, ControlError> {
        let subjects = match self.versions {
            Some(v) => {
                if self.architectures.is_some() || self.memory.is_some() {
                    return Err(invalid(
                        "Give either versions or architectures and memory sizes, not both",
                    ));
                }
                if v.len() < 2 || v.len() > MAX_CONFIGURATIONS {
                    return Err(invalid(format!(
                        "Compare from 2 to {MAX_CONFIGURATIONS} versions"
                    )));
                }
                for version in &v {
                    if version.is_empty() || !version.bytes().all(|b| b.is_ascii_digit()) {
                        return Err(invalid(format!(
                            "Version '{version}' is not a published version number"
                        )));
                    }
                }
                Subjects::Versions(v)
            }
            None => {
                let archs = match self.architectures {
                    None => Architecture::ALL.to_vec(),
                    Some(list) => {
                        let mut out = Vec::new();
                        for a in list {
                            let arch = Architecture::parse(&a).ok_or_else(|| {
                                invalid(format!("Architecture '{a}' is not x86_64 or arm64"))
                            })?;
                            if !out.contains(&arch) {
                                out.push(arch);
                            }
                        }
                        out
                    }
                };
                let memory: Vec<Option<u32>> = match self.memory {
                    None => vec![None],
                    Some(m) => {
                        let mut out = Vec::new();
                        for mb in m {
                            if !(MEMORY_MIN_MB..=MEMORY_MAX_MB).contains(&mb) {
                                return Err(invalid(format!(
                                    "Memory size {mb} MB is outside {MEMORY_MIN_MB} to {MEMORY_MAX_MB} MB"
                                )));
                            }
                            if !out.contains(&Some(mb)) {
                                out.push(Some(mb));
                            }
                        }
                        out
                    }
                };
                let pairs: Vec<_> = archs
                    .iter()
                    .flat_map(|a| memory.iter().map(move |m| (*a, *m)))
                    .collect();
                if pairs.is_empty() || pairs.len() > MAX_CONFIGURATIONS {
                    return Err(invalid(format!(
                        "Compare from 1 to {MAX_CONFIGURATIONS} configurations (architectures × memory sizes), not {}",
                        pairs.len()
                    )));
                }
                Subjects::Build(pairs)
            }
        };
        let payloads = match self.payloads {
            None => vec![("{}".to_string(), b"{}".to_vec())],
            Some(p) if p.is_empty() || p.len() > MAX_PAYLOADS => {
                return Err(invalid(format!("Give from 1 to {MAX_PAYLOADS} payloads")));
            }
            Some(p) => p
                .into_iter()
                .map(|p| (p.name, p.event.to_string().into_bytes()))
                .collect(),
        };
        for (name, bytes) in &payloads {
            if bytes.len() > SYNC_PAYLOAD_MAX_BYTES {
                return Err(invalid(format!(
                    "Payload {name} is larger than an Invoke's 6 MB"
                )));
            }
        }
        let bounded = |v: Option<u32>, default: u32, min: u32, max: u32, what: &str| {
            let v = v.unwrap_or(default);
            if (min..=max).contains(&v) {
                Ok(v)
            } else {
                Err(invalid(format!("{what} must be from {min} to {max}")))
            }
        };
        let strategy: Strategy = self
            .strategy
            .as_deref()
            .unwrap_or("balanced")
            .parse()
            .map_err(|e: archfn_compare::CompareError| invalid(e.to_string()))?;
        let balanced_weight = self.balanced_weight.unwrap_or(0.5);
        if !(0.0..=1.0).contains(&balanced_weight) {
            return Err(invalid("The balanced weight must be from 0 to 1"));
        }
        let float_tolerance = self.float_tolerance.unwrap_or(1e-9);
        if !(float_tolerance.is_finite() && float_tolerance >= 0.0) {
            return Err(invalid(
                "The float tolerance must be a number of at least 0",
            ));
        }
        Ok(Plan {
            subjects,
            payloads,
            invocations: bounded(self.invocations, 10, 1, MAX_INVOCATIONS, "Invocations")?,
            concurrency: bounded(self.concurrency, 1, 1, MAX_CONCURRENCY, "Concurrency")?,
            cold: bounded(self.cold, 1, 0, MAX_COLD, "Cold starts")?,
            strategy,
            balanced_weight,
            monthly_invocations: self.monthly_invocations.unwrap_or(1_000_000),
            float_tolerance,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(v: Value) -> Result<Plan, ControlError> {
        serde_json::from_value::<ComparisonRequest>(v)
            .map_err(|e| invalid(e.to_string()))?
            .plan()
    }

    #[test]
    fn defaults_compare_both_architectures_at_the_functions_memory() -> Result<(), ControlError> {
        let p = req(serde_json::json!({}))?;
        match p.subjects {
            Subjects::Build(pairs) => assert_eq!(
                pairs,
                vec![(Architecture::X86_64, None), (Architecture::Arm64, None)]
            ),
            Subjects::Versions(_) => panic!("built"),
        }
        assert_eq!((p.invocations, p.concurrency, p.cold), (10, 1, 1));
        assert_eq!(p.payloads.len(), 1);
        let p = req(serde_json::json!({"architectures": ["arm64"], "memory": [128, 1024, 128]}))?;
        match p.subjects {
            Subjects::Build(pairs) => assert_eq!(pairs.len(), 2),
            Subjects::Versions(_) => panic!("built"),
        }
        Ok(())
    }

    #[test]
    fn bad_requests_say_why() {
        for (v, says) in [
            (
                serde_json::json!({"architectures": ["sparc"]}),
                "not x86_64 or arm64",
            ),
            (serde_json::json!({"memory": [64]}), "outside 128"),
            (serde_json::json!({"versions": ["1"]}), "from 2"),
            (
                serde_json::json!({"versions": ["1", "$LATEST"]}),
                "not a published version",
            ),
            (
                serde_json::json!({"versions": ["1", "2"], "memory": [128]}),
                "either versions",
            ),
            (serde_json::json!({"invocations": 0}), "Invocations must be"),
            (
                serde_json::json!({"concurrency": 99}),
                "Concurrency must be",
            ),
            (serde_json::json!({"strategy": "cheapest"}), "cheapest"),
            (
                serde_json::json!({"balancedWeight": 2.0}),
                "balanced weight",
            ),
            (serde_json::json!({"payloads": []}), "payloads"),
            (
                serde_json::json!({"memory": [128, 256, 512, 1024, 2048, 3008, 4096]}),
                "not 14",
            ),
        ] {
            match req(v.clone()) {
                Err(e) => assert!(e.to_string().contains(says), "{v}: {e}"),
                Ok(_) => panic!("{v} was accepted"),
            }
        }
    }
}
