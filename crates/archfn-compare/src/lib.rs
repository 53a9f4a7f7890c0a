//! The report of `archfn compare`: given every invocation of every configuration (an
//! architecture and a memory size) of one function, it says how fast each was (warm and cold
//! percentiles), what it costs (per million invocations and per month, with the tiers),
//! whether every configuration answered every payload as the reference did, which
//! configuration each strategy (cost, speed, balanced) recommends, and, everywhere, which
//! configurations ran under emulation and what that does to each verdict.
//!
//! Owns: the report's shape and its JSON schema (`SCHEMA.md`, [`SCHEMA_VERSION`]),
//! percentiles (`stats.rs`), the equivalence of answers (`equivalence.rs`), the
//! recommendation rules (`recommend.rs`), and the text, JSON and HTML renderings
//! (`render/`).
//!
//! Must not: do IO, read a clock, or know how the samples were collected; prices come from
//! the [`PriceBook`] it is given. An emulated configuration's latency is never evidence of
//! its architecture's speed: it is never weighed against a native one's.
//!
//! ```
//! use archfn_compare::{build_report, render, ComparisonInput, Format};
//! use archfn_pricing::PriceBook;
//!
//! let input: ComparisonInput = serde_json::from_value(serde_json::json!({
//!     "function": "resize",
//!     "region": "us-east-1",
//!     "host_architecture": "x86_64",
//!     "settings": {
//!         "invocations_per_payload": 1, "concurrency": 1, "cold_per_configuration": 0,
//!         "strategy": "cost", "monthly_invocations": 1000000
//!     },
//!     "payloads": [{ "name": "p.json", "size_bytes": 2 }],
//!     "configurations": [{
//!         "label": "x86_64/512", "version": "1", "architecture": "x86_64",
//!         "memory_mb": 512, "ephemeral_storage_mb": 512, "execution": "native",
//!         "samples": [{
//!             "payload": 0, "round": 0, "cold": false, "duration_ms": 11.5,
//!             "billed_duration_ms": 12, "max_memory_used_mb": 60, "status": 200,
//!             "response": { "ok": true }
//!         }]
//!     }]
//! }))?;
//! let report = build_report(&input, &PriceBook::embedded()?)?;
//! assert_eq!(report.recommended.as_deref(), Some("x86_64/512"));
//! assert!(render(&report, Format::Text).contains("x86_64/512"));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![warn(missing_docs)]

mod equivalence;
mod error;
mod input;
mod recommend;
mod render;
mod report;
mod stats;
mod units;

use std::collections::BTreeMap;
use std::time::Duration;

use archfn_model::limits::{EPHEMERAL_MAX_MB, EPHEMERAL_MIN_MB, MEMORY_MAX_MB, MEMORY_MIN_MB};
use archfn_model::metrics::Execution;
use archfn_pricing::{FreeTier, Invocation, PriceBook};

pub use error::CompareError;
pub use input::{
    ComparisonInput, ConfigurationRun, DEFAULT_BALANCED_WEIGHT, DEFAULT_FLOAT_TOLERANCE,
    PayloadInfo, Sample, Settings, Strategy,
};
pub use render::{Format, render, render_html, render_json, render_text};
pub use report::{
    Candidate, ColdStats, ConfigurationReport, CostFigures, Equivalence, Exclusion,
    ExecutionSummary, Finding, FindingKind, MemoryFinding, PricesUsed, Recommendation,
    Recommendations, Report, Summary, VariationNote, WarmStats,
};

/// The version of the report's JSON schema (`SCHEMA.md`).
pub const SCHEMA_VERSION: u32 = 1;

/// The share of MemorySize from which a configuration's memory use is a finding.
pub const MEMORY_FINDING_SHARE: f64 = 0.9;

/// Builds the report of `input`, pricing it with `prices` in `input.region`.
///
/// Fails when the input cannot be measurements (no configuration, a label empty or used
/// twice, a NaN, infinite or negative duration, a payload index out of range, a setting out
/// of its range, a memory size Lambda does not allow) or when the price book has no prices
/// for the region or for an architecture of the input there.
pub fn build_report(input: &ComparisonInput, prices: &PriceBook) -> Result<Report, CompareError> {
    validate(input)?;
    prices.region(&input.region)?;
    for configuration in &input.configurations {
        prices.duration_prices(&input.region, configuration.architecture)?;
    }

    let reference = reference_index(input);
    let equivalence = equivalence::compare(input, reference);
    let configurations = input
        .configurations
        .iter()
        .enumerate()
        .map(|(i, c)| configuration_report(c, i == reference, input, prices))
        .collect::<Result<Vec<_>, _>>()?;

    let memory_findings = memory_findings(&configurations);
    let native: Vec<String> = labels_of(&configurations, Execution::Native);
    let emulated: Vec<String> = labels_of(&configurations, Execution::Emulated);
    let executions_differ = !native.is_empty() && !emulated.is_empty();
    let caveat = recommend::emulation_caveat(&configurations, input.host_architecture);
    let recommendations = recommend::recommend(
        &configurations,
        &equivalence,
        &input.settings,
        input.host_architecture,
    );
    let recommended = recommendations
        .get(input.settings.strategy)
        .configuration
        .clone();
    let notes = notes(input, &configurations, prices);

    Ok(Report {
        schema_version: SCHEMA_VERSION,
        function: input.function.clone(),
        region: input.region.clone(),
        host_architecture: input.host_architecture,
        settings: input.settings.clone(),
        payloads: input.payloads.clone(),
        configurations,
        equivalence,
        memory_findings,
        execution: ExecutionSummary {
            executions_differ,
            native,
            emulated,
            caveat,
        },
        recommendations,
        recommended,
        prices: PricesUsed {
            region: input.region.clone(),
            effective_from: prices.effective_from().to_string(),
            checked_on: prices.checked_on().to_string(),
            init_billed: prices.init_phase().billed,
            init_billed_since: prices.init_phase().billed_since.clone(),
            request_price_per_million_usd: prices.request_price_per_million(),
            free_tier_applied: false,
        },
        notes,
    })
}

fn validate(input: &ComparisonInput) -> Result<(), CompareError> {
    if input.configurations.is_empty() {
        return Err(CompareError::NoConfigurations);
    }
    let settings = &input.settings;
    let w = settings.balanced_weight;
    if !(0.0..=1.0).contains(&w) {
        return Err(CompareError::InvalidSetting {
            name: "balanced_weight",
            value: w.to_string(),
            expected: "expected a number from 0 to 1",
        });
    }
    let tol = settings.float_tolerance;
    if !tol.is_finite() || tol < 0.0 {
        return Err(CompareError::InvalidSetting {
            name: "float_tolerance",
            value: tol.to_string(),
            expected: "expected a finite number of at least 0",
        });
    }
    let mut seen = std::collections::BTreeSet::new();
    for (index, c) in input.configurations.iter().enumerate() {
        let bad_label = |why| CompareError::BadLabel {
            index,
            label: c.label.clone(),
            why,
        };
        if c.label.trim().is_empty() {
            return Err(bad_label("empty"));
        }
        if !seen.insert(c.label.as_str()) {
            return Err(bad_label("used twice"));
        }
        let invalid = |what: String| CompareError::InvalidConfiguration {
            label: c.label.clone(),
            what,
        };
        if !(MEMORY_MIN_MB..=MEMORY_MAX_MB).contains(&c.memory_mb) {
            return Err(invalid(format!(
                "memory is {} MB, Lambda allows {MEMORY_MIN_MB}..={MEMORY_MAX_MB} MB",
                c.memory_mb
            )));
        }
        if !(EPHEMERAL_MIN_MB..=EPHEMERAL_MAX_MB).contains(&c.ephemeral_storage_mb) {
            return Err(invalid(format!(
                "ephemeral storage is {} MB, Lambda allows {EPHEMERAL_MIN_MB}..={EPHEMERAL_MAX_MB} MB",
                c.ephemeral_storage_mb
            )));
        }
        for (i, sample) in c.samples.iter().enumerate() {
            let invalid = |what: String| CompareError::InvalidSample {
                label: c.label.clone(),
                index: i,
                what,
            };
            if sample.payload >= input.payloads.len() {
                return Err(invalid(format!(
                    "payload {} does not exist ({} payloads)",
                    sample.payload,
                    input.payloads.len()
                )));
            }
            if !sample.duration_ms.is_finite() || sample.duration_ms < 0.0 {
                return Err(invalid(format!(
                    "duration_ms is {}, not a duration",
                    sample.duration_ms
                )));
            }
            if let Some(init) = sample.init_duration_ms
                && (!init.is_finite() || init < 0.0)
            {
                return Err(invalid(format!(
                    "init_duration_ms is {init}, not a duration"
                )));
            }
        }
    }
    Ok(())
}

/// The first configuration of the host's architecture, else the first.
fn reference_index(input: &ComparisonInput) -> usize {
    input
        .configurations
        .iter()
        .position(|c| c.architecture == input.host_architecture)
        .unwrap_or(0)
}

fn labels_of(configurations: &[ConfigurationReport], execution: Execution) -> Vec<String> {
    configurations
        .iter()
        .filter(|c| c.execution == execution)
        .map(|c| c.label.clone())
        .collect()
}

fn configuration_report(
    c: &ConfigurationRun,
    reference: bool,
    input: &ComparisonInput,
    prices: &PriceBook,
) -> Result<ConfigurationReport, CompareError> {
    let warm: Vec<&Sample> = c.samples.iter().filter(|s| !s.cold).collect();
    let cold: Vec<&Sample> = c.samples.iter().filter(|s| s.cold).collect();
    let durations =
        |samples: &[&Sample]| -> Vec<f64> { samples.iter().map(|s| s.duration_ms).collect() };
    let init: Vec<f64> = cold.iter().filter_map(|s| s.init_duration_ms).collect();

    let mut errors: BTreeMap<String, u64> = BTreeMap::new();
    for sample in &c.samples {
        let key = match (&sample.error_type, sample.status) {
            (Some(error_type), _) if error_type.is_empty() => "(no type)".to_string(),
            (Some(error_type), _) => error_type.clone(),
            (None, 200) => continue,
            (None, status) => format!("status {status}"),
        };
        *errors.entry(key).or_insert(0) += 1;
    }
    let error_count = errors.values().sum();

    let cost = if warm.is_empty() {
        None
    } else {
        let invocations: Vec<Invocation> = warm
            .iter()
            .map(|s| {
                Invocation::new(c.memory_mb, Duration::from_millis(s.billed_duration_ms))
                    .with_ephemeral_storage_mb(c.ephemeral_storage_mb)
            })
            .collect();
        let priced = |source| CompareError::Cost {
            label: c.label.clone(),
            source,
        };
        let per_million = prices
            .cost_per_million(&input.region, c.architecture, &invocations)
            .map_err(priced)?;
        let monthly = prices
            .monthly_cost(
                &input.region,
                c.architecture,
                &invocations,
                input.settings.monthly_invocations,
                FreeTier::Exclude,
            )
            .map_err(priced)?;
        let billed: Vec<f64> = warm.iter().map(|s| s.billed_duration_ms as f64).collect();
        Some(CostFigures {
            mean_billed_duration_ms: stats::mean(&billed).unwrap_or(0.0),
            per_million_usd: per_million.total_usd,
            monthly_usd: monthly.total_usd,
            monthly_gb_seconds: monthly.gb_seconds,
            per_million,
            monthly,
        })
    };

    Ok(ConfigurationReport {
        label: c.label.clone(),
        version: c.version.clone(),
        architecture: c.architecture,
        memory_mb: c.memory_mb,
        ephemeral_storage_mb: c.ephemeral_storage_mb,
        execution: c.execution,
        emulated: c.execution == Execution::Emulated,
        reference,
        package: c.package.clone(),
        invocations: c.samples.len() as u64,
        warm: WarmStats {
            count: warm.len() as u64,
            duration_ms: stats::summarize(&durations(&warm)),
        },
        cold: ColdStats {
            count: cold.len() as u64,
            duration_ms: stats::summarize(&durations(&cold)),
            init_duration_ms: stats::summarize(&init),
        },
        max_memory_used_mb: c.samples.iter().map(|s| s.max_memory_used_mb).max(),
        errors,
        error_count,
        cost,
    })
}

fn memory_findings(configurations: &[ConfigurationReport]) -> Vec<MemoryFinding> {
    let mut findings = Vec::new();
    for c in configurations {
        let Some(used) = c.max_memory_used_mb else {
            continue;
        };
        let share = used as f64 / f64::from(c.memory_mb.max(1));
        if share < MEMORY_FINDING_SHARE {
            continue;
        }
        let mut text = if used >= u64::from(c.memory_mb) {
            format!(
                "{} used {used} MB of its {} MB, all of it: it risks running out of memory",
                c.label, c.memory_mb
            )
        } else {
            format!(
                "{} used up to {used} MB of its {} MB ({:.0} %): little headroom",
                c.label,
                c.memory_mb,
                share * 100.0
            )
        };
        if c.emulated {
            text.push_str(" (under QEMU, whose own memory is counted too)");
        }
        findings.push(MemoryFinding {
            configuration: c.label.clone(),
            max_memory_used_mb: used,
            memory_mb: c.memory_mb,
            share,
            text,
        });
    }
    findings
}

fn notes(
    input: &ComparisonInput,
    configurations: &[ConfigurationReport],
    prices: &PriceBook,
) -> Vec<String> {
    let mut notes = vec![format!(
        "Prices: the price book effective from {}, checked on {}, for region {}; \
         on-demand prices, without the free tier.",
        prices.effective_from(),
        prices.checked_on(),
        input.region
    )];
    let init = prices.init_phase();
    notes.push(if init.billed {
        format!(
            "INIT is billed (since {}, per the price book): a cold start also bills its init \
             duration, which the costs here, from warm invocations, leave out.",
            init.billed_since
        )
    } else {
        "INIT is not billed, per the price book.".to_string()
    });
    notes.push(format!(
        "Cost per million and monthly cost ({} invocations) come from the mean billed \
         duration of each configuration's warm invocations, with the request charge and \
         ephemeral storage above 512 MB; the monthly duration tiers apply as if the \
         configuration were the month's only usage of its architecture in the region.",
        input.settings.monthly_invocations
    ));
    notes.push(
        "Percentiles are nearest-rank over every measured invocation, failed ones included."
            .to_string(),
    );
    if input.settings.concurrency > 1 {
        notes.push(format!(
            "Invocations ran {} at a time on one host, so latencies include their contention \
             for its processors.",
            input.settings.concurrency
        ));
    }
    if input.payloads.is_empty() {
        notes.push("No payloads were sent, so no answers were compared.".to_string());
    } else if input.configurations.len() == 1 {
        notes
            .push("Only one configuration: there was nothing to compare answers with.".to_string());
    }
    for c in configurations.iter().filter(|c| c.warm.count == 0) {
        notes.push(format!(
            "{} had no warm invocations: it has no warm latency or cost.",
            c.label
        ));
    }
    notes
}

#[cfg(test)]
mod tests;
