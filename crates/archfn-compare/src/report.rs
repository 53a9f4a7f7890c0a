//! The report: what [`crate::build_report`] returns and the renderers print.
//!
//! Its JSON (snake_case, `schema_version` 1) is a stable interface, described field by field
//! in `SCHEMA.md`; a field is only ever added, and a change of meaning bumps
//! [`crate::SCHEMA_VERSION`].

use std::collections::BTreeMap;

use archfn_model::Architecture;
use archfn_model::metrics::Execution;
use archfn_pricing::CostBreakdown;
use serde::{Deserialize, Serialize};

use crate::input::{PayloadInfo, Settings, Strategy};

/// The whole report of one comparison.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    /// The version of this schema: 1.
    pub schema_version: u32,
    /// The function compared.
    pub function: String,
    /// The region whose prices were used.
    pub region: String,
    /// The instruction set of the host that ran the comparison.
    pub host_architecture: Architecture,
    /// How the comparison was run and judged, as given.
    pub settings: Settings,
    /// The payloads sent, in order.
    pub payloads: Vec<PayloadInfo>,
    /// One entry per configuration, in the input's order.
    pub configurations: Vec<ConfigurationReport>,
    /// Whether every configuration answered every payload as the reference did.
    pub equivalence: Equivalence,
    /// Configurations whose memory use came near or up to their MemorySize.
    pub memory_findings: Vec<MemoryFinding>,
    /// Which configurations ran natively and which under emulation, and what that means for
    /// the verdicts.
    pub execution: ExecutionSummary,
    /// The recommendation of every strategy; the one asked for is flagged.
    pub recommendations: Recommendations,
    /// The label the asked-for strategy recommends; `None` when no configuration could be
    /// judged (none had warm invocations).
    pub recommended: Option<String>,
    /// The prices used.
    pub prices: PricesUsed,
    /// What a reader needs to know to read the figures, one sentence each.
    pub notes: Vec<String>,
}

/// One configuration's figures.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConfigurationReport {
    /// Its label, unique within the report.
    pub label: String,
    /// The published version that ran.
    pub version: String,
    /// Its architecture.
    pub architecture: Architecture,
    /// MemorySize, MB.
    pub memory_mb: u32,
    /// EphemeralStorage size, MB.
    pub ephemeral_storage_mb: u32,
    /// `native` or `emulated`.
    pub execution: Execution,
    /// True when it ran under QEMU: its latencies (and the costs computed from them) are
    /// QEMU's, not those of a processor of its architecture.
    pub emulated: bool,
    /// True for the configuration the others' answers are compared with.
    pub reference: bool,
    /// What `archfn migrate` changed in its package, if anything.
    pub package: Option<String>,
    /// Invocations measured, warm and cold.
    pub invocations: u64,
    /// Invocations that reused an execution environment.
    pub warm: WarmStats,
    /// Invocations that started one.
    pub cold: ColdStats,
    /// The largest `Max Memory Used` of any invocation, MB; `None` without invocations.
    pub max_memory_used_mb: Option<u64>,
    /// Invocations that failed, by error type; an Invoke that answered a status other than
    /// 200 without an error type counts as `status NNN`.
    pub errors: BTreeMap<String, u64>,
    /// The sum of `errors`.
    pub error_count: u64,
    /// What it costs; `None` without warm invocations to base it on.
    pub cost: Option<CostFigures>,
}

/// Durations of warm invocations.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WarmStats {
    /// Warm invocations.
    pub count: u64,
    /// Their `Duration`, ms; `None` when there were none.
    pub duration_ms: Option<Summary>,
}

/// Durations of cold starts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ColdStats {
    /// Cold starts.
    pub count: u64,
    /// Their `Duration` (the handler's run, without INIT), ms; `None` when there were none.
    pub duration_ms: Option<Summary>,
    /// Their `Init Duration`, ms, over the cold starts that reported one.
    pub init_duration_ms: Option<Summary>,
}

/// A distribution of durations: nearest-rank percentiles of the measured values.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    /// Values summarised.
    pub count: u64,
    /// Median.
    pub p50: f64,
    /// 90th percentile.
    pub p90: f64,
    /// 99th percentile.
    pub p99: f64,
    /// Largest value.
    pub max: f64,
    /// Arithmetic mean.
    pub mean: f64,
}

/// A configuration's cost, from the mean billed duration of its warm invocations.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CostFigures {
    /// The mean `Billed Duration` of its warm invocations, ms.
    pub mean_billed_duration_ms: f64,
    /// Dollars per million invocations (`per_million.total_usd`).
    pub per_million_usd: f64,
    /// Dollars a month at `settings.monthly_invocations` (`monthly.total_usd`).
    pub monthly_usd: f64,
    /// Duration GB-seconds a month (`monthly.gb_seconds`).
    pub monthly_gb_seconds: f64,
    /// A million such invocations, by charge (archfn-pricing's breakdown: duration at the
    /// first tier, requests, ephemeral storage; no free tier).
    pub per_million: CostBreakdown,
    /// A month of them, by charge, with the duration tiers (no free tier).
    pub monthly: CostBreakdown,
}

/// The functional comparison of answers, payload by payload, with the reference.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Equivalence {
    /// The label of the reference configuration: the first one of the host's architecture,
    /// else the first one.
    pub reference: String,
    /// True when there is no finding.
    pub equivalent: bool,
    /// Payloads compared.
    pub payloads_compared: u64,
    /// Differences from the reference, in payload then configuration order.
    pub findings: Vec<Finding>,
    /// Configurations whose own answers to a payload differ from one invocation to the
    /// next; their first answers were compared.
    pub variations: Vec<VariationNote>,
}

/// What kind of difference a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FindingKind {
    /// The configuration failed (a function error or a status other than 200) where the
    /// reference answered 200.
    ErrorWhereOk,
    /// The configuration answered 200 where the reference failed.
    OkWhereError,
    /// Both failed, differently.
    DifferentError,
    /// Both answered 200 with different bodies.
    DifferentResponse,
    /// The configuration (or the reference) has no answer to the payload.
    NoAnswer,
}

/// One difference between a configuration's answer and the reference's.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Finding {
    /// What kind of difference.
    pub kind: FindingKind,
    /// The payload's index.
    pub payload: usize,
    /// The payload's name.
    pub payload_name: String,
    /// The label of the configuration that differs (for `no_answer`, the one without an
    /// answer, which may be the reference).
    pub configuration: String,
    /// The label of the reference.
    pub reference: String,
    /// For `different_response`, the JSON path of the first difference (`$.result[2]`).
    pub path: Option<String>,
    /// The reference's answer there, short (`200`, an error type, a JSON value).
    pub reference_answer: String,
    /// The configuration's answer there, short.
    pub answer: String,
    /// For a failure on either side, the failing side's error message (`errorMessage`) or the
    /// start of its error body, short; `None` otherwise.
    pub detail: Option<String>,
    /// One sentence saying it all.
    pub text: String,
}

/// A configuration whose own answers vary between invocations of the same payload.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VariationNote {
    /// The configuration's label.
    pub configuration: String,
    /// The payloads whose answers varied.
    pub payloads: Vec<String>,
    /// The first difference found, as `payload: path: first vs other`.
    pub example: String,
    /// One sentence saying it all.
    pub text: String,
}

/// A configuration whose memory use came near (90 % or more) or up to its MemorySize.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MemoryFinding {
    /// The configuration's label.
    pub configuration: String,
    /// Its largest `Max Memory Used`, MB.
    pub max_memory_used_mb: u64,
    /// Its MemorySize, MB.
    pub memory_mb: u32,
    /// `max_memory_used_mb / memory_mb`.
    pub share: f64,
    /// One sentence saying it all.
    pub text: String,
}

/// Which configurations ran natively and which under emulation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExecutionSummary {
    /// True when some configurations ran natively and others emulated: latencies across
    /// the two groups are then not comparable.
    pub executions_differ: bool,
    /// Labels of the configurations that ran natively.
    pub native: Vec<String>,
    /// Labels of the configurations that ran under QEMU.
    pub emulated: Vec<String>,
    /// What emulation means for the verdicts; `None` when nothing ran emulated.
    pub caveat: Option<String>,
}

/// The recommendation of each strategy.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Recommendations {
    /// The strategy asked for.
    pub chosen: Strategy,
    /// `judged: …` when the fastest configuration is known across everything compared;
    /// `not judged: …` when executions differ (an emulated configuration's latency is
    /// QEMU's) or everything ran emulated, with the reason.
    pub speed_verdict: String,
    /// The lowest cost per million invocations.
    pub cost: Recommendation,
    /// The lowest warm p50, among configurations of one execution mode.
    pub speed: Recommendation,
    /// The lowest balanced score.
    pub balanced: Recommendation,
}

impl Recommendations {
    /// The recommendation of `strategy`.
    pub fn get(&self, strategy: Strategy) -> &Recommendation {
        match strategy {
            Strategy::Cost => &self.cost,
            Strategy::Speed => &self.speed,
            Strategy::Balanced => &self.balanced,
        }
    }
}

/// One strategy's recommendation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Recommendation {
    /// The strategy.
    pub strategy: Strategy,
    /// True for the strategy asked for.
    pub chosen: bool,
    /// The label recommended; `None` when no configuration could be judged.
    pub configuration: Option<String>,
    /// Why, in a sentence or two.
    pub reason: String,
    /// The configurations it chose among, with their figures, best first.
    pub candidates: Vec<Candidate>,
    /// The configurations it did not consider, and why.
    pub excluded: Vec<Exclusion>,
    /// What limits this verdict (emulated latency or cost); `None` when nothing does.
    pub caveat: Option<String>,
}

/// A configuration a strategy chose among.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Candidate {
    /// Its label.
    pub configuration: String,
    /// Its cost per million invocations, dollars.
    pub per_million_usd: f64,
    /// Its warm p50, ms.
    pub warm_p50_ms: f64,
    /// For `balanced`, its score (lower is better); `None` for the other strategies.
    pub score: Option<f64>,
}

/// A configuration a strategy did not consider.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Exclusion {
    /// Its label.
    pub configuration: String,
    /// Why.
    pub why: String,
}

/// The prices used, and where they come from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PricesUsed {
    /// The region.
    pub region: String,
    /// The date of the most recent pricing change the price book includes.
    pub effective_from: String,
    /// The date its figures were last checked against their sources.
    pub checked_on: String,
    /// Whether INIT duration is billed (cold starts then cost their init time too).
    pub init_billed: bool,
    /// The date from which `init_billed` holds.
    pub init_billed_since: String,
    /// Dollars per million requests.
    pub request_price_per_million_usd: f64,
    /// Whether the free tier was taken off (never: a comparison should not depend on how
    /// much of it other functions use).
    pub free_tier_applied: bool,
}
