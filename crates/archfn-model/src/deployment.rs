//! Traffic shifts: an alias moved from one function version to another in weighted steps, as
//! CodeDeploy moves a Lambda alias, judged at every step by guardrails on live traffic and
//! rolled back when one is breached. The record is what the store keeps, so a shift can be
//! resumed after a restart; the rules here need no IO.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::Architecture;
use crate::metrics::{Execution, Histogram, MinuteStats};

/// The longest a custom step may hold its weight.
pub const MAX_HOLD_MS: u64 = 24 * 3_600_000;

/// One step of a shift: the new version's share of the alias's traffic, held for a while.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ShiftStep {
    /// The new version's share, percent (1..=100).
    pub percent: u8,
    /// How long the share is held before the next step, milliseconds (0 for the last step).
    pub hold_ms: u64,
}

/// How a shift moves traffic: a CodeDeploy predefined configuration or custom steps.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ShiftPlan {
    /// The configuration's name as given (`Canary10Percent5Minutes`, `10,50,100@2m`…).
    pub name: String,
    /// The steps, ending at 100 percent.
    pub steps: Vec<ShiftStep>,
}

/// CodeDeploy's predefined Lambda deployment configurations: name, first share, increment
/// (percent), interval (minutes). A canary has one step before all; a linear one adds the
/// increment every interval.
const PREDEFINED: &[(&str, u8, u8, u64)] = &[
    ("Canary10Percent5Minutes", 10, 90, 5),
    ("Canary10Percent10Minutes", 10, 90, 10),
    ("Canary10Percent15Minutes", 10, 90, 15),
    ("Canary10Percent30Minutes", 10, 90, 30),
    ("Linear10PercentEvery1Minute", 10, 10, 1),
    ("Linear10PercentEvery2Minutes", 10, 10, 2),
    ("Linear10PercentEvery3Minutes", 10, 10, 3),
    ("Linear10PercentEvery10Minutes", 10, 10, 10),
];

/// Parses `90s`, `2m`, `1h`, `500ms` into milliseconds.
pub fn parse_hold(text: &str) -> Option<u64> {
    let t = text.trim();
    let (digits, unit) = t.split_at(t.find(|c: char| !c.is_ascii_digit())?);
    let n: u64 = digits.parse().ok()?;
    let factor = match unit {
        "ms" => 1,
        "s" => 1_000,
        "m" => 60_000,
        "h" => 3_600_000,
        _ => return None,
    };
    n.checked_mul(factor)
}

impl ShiftPlan {
    /// Every predefined configuration's name.
    pub fn predefined_names() -> impl Iterator<Item = &'static str> {
        std::iter::once("AllAtOnce").chain(PREDEFINED.iter().map(|p| p.0))
    }

    /// Parses a predefined configuration (`Canary10Percent5Minutes`, also with CodeDeploy's
    /// `CodeDeployDefault.Lambda` prefix, `AllAtOnce`) or custom steps: percentages that rise
    /// to 100, each held for the duration after `@` (`10,25,50,100@2m`; per step,
    /// `10@1m,50@5m,100`). The error says what is wrong, for an InvalidParameterValue.
    pub fn parse(text: &str) -> Result<ShiftPlan, String> {
        let name = text.trim();
        let bare = name
            .strip_prefix("CodeDeployDefault.Lambda")
            .unwrap_or(name);
        if bare == "AllAtOnce" {
            return Ok(ShiftPlan {
                name: bare.to_string(),
                steps: vec![ShiftStep {
                    percent: 100,
                    hold_ms: 0,
                }],
            });
        }
        if let Some(&(n, first, increment, minutes)) = PREDEFINED.iter().find(|p| p.0 == bare) {
            let hold_ms = minutes * 60_000;
            let mut steps = Vec::new();
            let mut percent = first;
            while percent < 100 {
                steps.push(ShiftStep { percent, hold_ms });
                percent = percent.saturating_add(increment).min(100);
            }
            steps.push(ShiftStep {
                percent: 100,
                hold_ms: 0,
            });
            return Ok(ShiftPlan {
                name: n.to_string(),
                steps,
            });
        }
        if !name.starts_with(|c: char| c.is_ascii_digit()) {
            return Err(format!(
                "Unknown deployment configuration '{name}': use one of {} or custom steps such as 10,50,100@2m",
                Self::predefined_names().collect::<Vec<_>>().join(", ")
            ));
        }
        Self::parse_custom(name)
    }

    fn parse_custom(name: &str) -> Result<ShiftPlan, String> {
        // A trailing `@D` after the last percentage applies to every step without its own.
        let items: Vec<&str> = name.split(',').map(str::trim).collect();
        let last_hold = items
            .last()
            .and_then(|l| l.split_once('@'))
            .map(|(_, d)| d.to_string());
        let last_percent = items
            .last()
            .map(|l| l.split('@').next().unwrap_or("").trim());
        if last_percent.is_some_and(|p| p.parse::<u8>().is_ok_and(|p| p < 100)) {
            return Err(format!(
                "The weights of '{name}' do not add up: the last step must send 100% of the traffic to the new version"
            ));
        }
        let mut steps: Vec<ShiftStep> = Vec::new();
        for (i, item) in items.iter().enumerate() {
            let (pct, own) = match item.split_once('@') {
                Some((p, d)) => (p.trim(), Some(d.trim())),
                None => (*item, None),
            };
            let percent: u8 = pct
                .parse()
                .ok()
                .filter(|p| (1..=100).contains(p))
                .ok_or_else(|| {
                    format!("Step '{item}' of '{name}' is not a percentage from 1 to 100")
                })?;
            if steps.last().is_some_and(|s| s.percent >= percent) {
                return Err(format!(
                    "The steps of '{name}' must rise: {percent} follows {}",
                    steps.last().map(|s| s.percent).unwrap_or(0)
                ));
            }
            let is_last = i + 1 == items.len();
            let hold_text = own.map(str::to_string).or_else(|| last_hold.clone());
            let hold_ms = if is_last {
                0
            } else {
                let t = hold_text.ok_or_else(|| {
                    format!("Step {percent}% of '{name}' has no duration: add one such as @2m")
                })?;
                parse_hold(&t)
                    .filter(|ms| (1_000..=MAX_HOLD_MS).contains(ms))
                    .ok_or_else(|| {
                        format!("Duration '{t}' of '{name}' must be from 1s to 24h (such as 90s, 2m, 1h)")
                    })?
            };
            steps.push(ShiftStep { percent, hold_ms });
        }
        if steps.last().map(|s| s.percent) != Some(100) {
            return Err(format!(
                "The weights of '{name}' do not add up: the last step must send 100% of the traffic to the new version"
            ));
        }
        Ok(ShiftPlan {
            name: name.to_string(),
            steps,
        })
    }

    /// The plan's total duration, milliseconds.
    pub fn total_ms(&self) -> u64 {
        self.steps.iter().map(|s| s.hold_ms).sum()
    }
}

/// When a shift rolls back.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Guardrails {
    /// The highest share of the new version's invocations that may fail (0.01 = 1%).
    pub max_error_rate: f64,
    /// The highest ratio of the new version's p99 duration to the old one's.
    pub max_p99_ratio: f64,
    /// Invocations a version needs in a step before a figure of it is judged.
    pub min_invocations: u64,
}

impl Default for Guardrails {
    fn default() -> Self {
        Guardrails {
            max_error_rate: 0.01,
            max_p99_ratio: 1.5,
            min_invocations: 20,
        }
    }
}

impl Guardrails {
    /// What is wrong with these guardrails, if anything.
    pub fn check(&self) -> Result<(), String> {
        if !(0.0..=1.0).contains(&self.max_error_rate) {
            return Err("MaxErrorRate must be from 0 to 1 (0% to 100%)".into());
        }
        if !(self.max_p99_ratio.is_finite() && self.max_p99_ratio >= 1.0) {
            return Err("MaxP99Ratio must be a number of at least 1".into());
        }
        if self.min_invocations == 0 || self.min_invocations > 1_000_000 {
            return Err("MinInvocations must be from 1 to 1000000".into());
        }
        Ok(())
    }
}

/// Functions invoked before traffic moves and after it has all moved; one that fails or
/// times out rolls the shift back (CodeDeploy's BeforeAllowTraffic and AfterAllowTraffic).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Hooks {
    /// BeforeAllowTraffic: a function name or ARN (qualified or not).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pre_traffic: Option<String>,
    /// AfterAllowTraffic.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub post_traffic: Option<String>,
}

/// Where a shift ended, or that it has not.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum DeploymentStatus {
    /// Running.
    InProgress,
    /// All traffic is on the new version.
    Succeeded,
    /// A guardrail or hook failed; the alias is back on the old version.
    RolledBack,
    /// Stopped by a user; the alias is back on the old version.
    Stopped,
    /// The alias could not be moved (deleted meanwhile, or the store failed).
    Failed,
}

impl DeploymentStatus {
    /// The status as it is written.
    pub fn as_str(self) -> &'static str {
        match self {
            DeploymentStatus::InProgress => "InProgress",
            DeploymentStatus::Succeeded => "Succeeded",
            DeploymentStatus::RolledBack => "RolledBack",
            DeploymentStatus::Stopped => "Stopped",
            DeploymentStatus::Failed => "Failed",
        }
    }
}

/// Where a running shift is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "name", rename_all = "camelCase")]
pub enum Phase {
    /// The pre-traffic hook: `invoked` once its invocation began (an outcome lost to a restart
    /// cannot be judged, so the shift rolls back).
    BeforeAllowTraffic {
        /// Its invocation began.
        invoked: bool,
    },
    /// Holding step `step`'s weight.
    Shifting {
        /// Index into the plan's steps.
        step: usize,
    },
    /// The post-traffic hook.
    AfterAllowTraffic {
        /// Its invocation began.
        invoked: bool,
    },
    /// Moving the alias back to the old version; `status` is where the shift ends then.
    RollingBack {
        /// RolledBack, Stopped or Failed.
        status: DeploymentStatus,
    },
    /// Finished (see the record's status).
    Done,
}

/// One version's invocations through the alias during a step, kept so that a restart resumes
/// the step with what it had seen.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Tally {
    /// Invocations that ran.
    pub invocations: u64,
    /// Function errors by type.
    pub errors: BTreeMap<String, u64>,
    /// Throttled invocations.
    pub throttles: u64,
    /// Cold starts.
    pub cold_starts: u64,
    /// Sum of billed durations, milliseconds.
    pub billed_ms: u64,
    /// Largest memory used, MB.
    pub max_memory_mb: u64,
    /// Durations, microseconds ([`Histogram::encode`]).
    pub durations: Vec<u8>,
}

impl Tally {
    /// The tally as metrics figures (a tally that does not decode counts no durations).
    pub fn stats(&self) -> MinuteStats {
        MinuteStats {
            invocations: self.invocations,
            errors: self.errors.clone(),
            throttles: self.throttles,
            cold_starts: self.cold_starts,
            duration_us: Histogram::decode(&self.durations).unwrap_or_default(),
            init_duration_us: Histogram::default(),
            billed_ms: self.billed_ms,
            max_memory_mb: self.max_memory_mb,
        }
    }

    /// A tally of `stats`.
    pub fn of(stats: &MinuteStats) -> Tally {
        Tally {
            invocations: stats.invocations,
            errors: stats.errors.clone(),
            throttles: stats.throttles,
            cold_starts: stats.cold_starts,
            billed_ms: stats.billed_ms,
            max_memory_mb: stats.max_memory_mb,
            durations: stats.duration_us.encode(),
        }
    }
}

/// One version's figures in a step, side by side with the other's.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VersionFigures {
    /// The version.
    pub version: String,
    /// The architecture it ran on, once it ran.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub architecture: Option<Architecture>,
    /// `native` or `emulated`, once it ran.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub execution: Option<Execution>,
    /// Invocations through the alias.
    pub invocations: u64,
    /// Function errors.
    pub errors: u64,
    /// errors / invocations (0 without invocations).
    pub error_rate: f64,
    /// Throttles.
    pub throttles: u64,
    /// Cold starts.
    pub cold_starts: u64,
    /// Median duration, milliseconds.
    pub p50_ms: Option<f64>,
    /// 99th percentile duration, milliseconds.
    pub p99_ms: Option<f64>,
    /// Cost of a million invocations like these at Lambda's prices, USD.
    pub cost_per_million_usd: Option<f64>,
}

impl VersionFigures {
    /// The figures of `stats` (cost left for the caller, who knows prices).
    pub fn of(version: &str, stats: &MinuteStats) -> VersionFigures {
        let ms = |q: f64| stats.duration_us.quantile(q).map(|us| us as f64 / 1000.0);
        let errors = stats.error_count();
        VersionFigures {
            version: version.to_string(),
            architecture: None,
            execution: None,
            invocations: stats.invocations,
            errors,
            error_rate: rate(errors, stats.invocations),
            throttles: stats.throttles,
            cold_starts: stats.cold_starts,
            p50_ms: ms(0.5),
            p99_ms: ms(0.99),
            cost_per_million_usd: None,
        }
    }
}

fn rate(n: u64, of: u64) -> f64 {
    if of == 0 { 0.0 } else { n as f64 / of as f64 }
}

/// A step as it went.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StepRecord {
    /// The new version's share, percent.
    pub percent: u8,
    /// How long it is held, milliseconds.
    pub hold_ms: u64,
    /// When the step began (Unix ms), recorded before the alias is changed.
    pub started_ms: i64,
    /// The alias carries the step's weight.
    pub applied: bool,
    /// When the step ended.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ended_ms: Option<i64>,
    /// The old version's figures.
    pub old: VersionFigures,
    /// The new version's figures.
    pub new: VersionFigures,
    /// The guardrails' verdict on the step.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verdict: Option<String>,
    /// The old version's tally so far.
    pub old_tally: Tally,
    /// The new version's tally so far.
    pub new_tally: Tally,
}

/// Something that happened to a shift.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeploymentEvent {
    /// When (Unix ms).
    pub at_ms: i64,
    /// What.
    pub message: String,
}

/// A traffic shift of an alias, as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeploymentRecord {
    /// `d-` and nine characters, as CodeDeploy's ids.
    pub id: String,
    /// The region.
    pub region: String,
    /// The function's name.
    pub function: String,
    /// The alias shifted.
    pub alias: String,
    /// The version the alias carried when the shift began.
    pub from_version: String,
    /// The version traffic moves to.
    pub to_version: String,
    /// How traffic moves.
    pub plan: ShiftPlan,
    /// When it rolls back.
    pub guardrails: Guardrails,
    /// Hook functions.
    #[serde(default)]
    pub hooks: Hooks,
    /// Where it ended, or InProgress.
    pub status: DeploymentStatus,
    /// Where it is.
    pub phase: Phase,
    /// Steps begun so far.
    #[serde(default)]
    pub steps: Vec<StepRecord>,
    /// Why it rolled back, stopped or failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// What happened, in order.
    #[serde(default)]
    pub events: Vec<DeploymentEvent>,
    /// Created (Unix ms).
    pub created_ms: i64,
    /// Last written.
    pub updated_ms: i64,
    /// Finished.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_ms: Option<i64>,
}

impl DeploymentRecord {
    /// Appends an event.
    pub fn log(&mut self, at_ms: i64, message: impl Into<String>) {
        self.events.push(DeploymentEvent {
            at_ms,
            message: message.into(),
        });
    }

    /// True while the shift runs.
    pub fn is_active(&self) -> bool {
        self.status == DeploymentStatus::InProgress
    }
}

/// The guardrails' view of a step so far.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Within every guardrail (so far).
    Healthy,
    /// Not enough traffic to judge (said at the step's end only).
    NotJudged(String),
    /// A guardrail is breached: roll back.
    Breached(String),
}

/// Why the p99 guardrail was not applied when the versions ran in different execution modes.
pub fn latency_note(
    old_version: &str,
    old: Execution,
    new_version: &str,
    new: Execution,
) -> String {
    format!(
        "p99 not compared: version {new_version} ran {} and version {old_version} {}; emulated latency is QEMU's, not the real processor's, so the latency verdict needs a host (or worker) of the emulated version's architecture",
        new.as_str(),
        old.as_str()
    )
}

/// Judges the new version against the old one on a step's live traffic. Mid-step (`at_end`
/// false) only a breach is reported; at the step's end, also that it could not be judged.
/// `comparable_latency` is false when one version ran emulated and the other natively: QEMU's
/// latency says nothing of the real processor's, so the p99 guardrail is not applied then
/// (see [`latency_note`]).
pub fn judge(
    g: &Guardrails,
    old_version: &str,
    old: &MinuteStats,
    new_version: &str,
    new: &MinuteStats,
    at_end: bool,
    comparable_latency: bool,
) -> Verdict {
    if new.invocations >= g.min_invocations {
        let errors = new.error_count();
        let r = rate(errors, new.invocations);
        if r > g.max_error_rate {
            return Verdict::Breached(format!(
                "version {new_version}'s error rate {:.1}% ({errors} of {} invocations) exceeds the maximum {:.1}%",
                r * 100.0,
                new.invocations,
                g.max_error_rate * 100.0
            ));
        }
        if comparable_latency && old.invocations >= g.min_invocations {
            let p99 = |s: &MinuteStats| s.duration_us.quantile(0.99);
            if let (Some(n), Some(o)) = (p99(new), p99(old)) {
                let ratio = n as f64 / (o.max(1)) as f64;
                if ratio > g.max_p99_ratio {
                    return Verdict::Breached(format!(
                        "version {new_version}'s p99 duration {:.1} ms is {ratio:.2}x version {old_version}'s {:.1} ms (maximum {:.2}x)",
                        n as f64 / 1000.0,
                        o as f64 / 1000.0,
                        g.max_p99_ratio
                    ));
                }
            }
        }
    }
    if at_end && new.invocations < g.min_invocations {
        return Verdict::NotJudged(format!(
            "version {new_version} had {} invocations through the alias in this step, fewer than the {} the guardrails need",
            new.invocations, g.min_invocations
        ));
    }
    Verdict::Healthy
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn predefined_configurations_have_codedeploy_steps() -> Result<(), String> {
        let c = ShiftPlan::parse("Canary10Percent5Minutes")?;
        assert_eq!(
            c.steps,
            vec![
                ShiftStep {
                    percent: 10,
                    hold_ms: 300_000
                },
                ShiftStep {
                    percent: 100,
                    hold_ms: 0
                }
            ]
        );
        let l = ShiftPlan::parse("CodeDeployDefault.LambdaLinear10PercentEvery2Minutes")?;
        assert_eq!(l.name, "Linear10PercentEvery2Minutes");
        assert_eq!(l.steps.len(), 10);
        assert_eq!(
            l.steps[8],
            ShiftStep {
                percent: 90,
                hold_ms: 120_000
            }
        );
        assert_eq!(l.total_ms(), 9 * 120_000);
        assert_eq!(ShiftPlan::parse("AllAtOnce")?.steps.len(), 1);
        assert_eq!(ShiftPlan::predefined_names().count(), 9);
        Ok(())
    }

    #[test]
    fn custom_steps_rise_to_100_with_durations() -> Result<(), String> {
        let p = ShiftPlan::parse("10,25,50,100@2m")?;
        assert_eq!(
            p.steps.iter().map(|s| s.percent).collect::<Vec<_>>(),
            [10, 25, 50, 100]
        );
        assert!(p.steps[..3].iter().all(|s| s.hold_ms == 120_000));
        assert_eq!(p.steps[3].hold_ms, 0);
        let p = ShiftPlan::parse("10@1m,50@5s,100")?;
        assert_eq!(p.steps[1].hold_ms, 5_000);
        for (bad, says) in [
            ("10,50", "do not add up"),
            ("50,10,100@1m", "must rise"),
            ("0,100@1m", "percentage"),
            ("10,100", "no duration"),
            ("10,100@2d", "from 1s to 24h"),
            ("10,101@1m", "percentage"),
            ("Canary5", "Unknown deployment configuration"),
        ] {
            let Err(e) = ShiftPlan::parse(bad) else {
                return Err(format!("{bad} was accepted"));
            };
            assert!(e.contains(says), "{bad}: {e}");
        }
        Ok(())
    }

    fn stats(n: u64, errors: u64, dur_us: u64) -> MinuteStats {
        let mut s = MinuteStats {
            invocations: n,
            ..MinuteStats::default()
        };
        if errors > 0 {
            s.errors.insert("Handled".into(), errors);
        }
        for _ in 0..n {
            s.duration_us.record(dur_us);
        }
        s
    }

    #[test]
    fn guardrails_judge_error_rate_and_p99_ratio() {
        let g = Guardrails {
            max_error_rate: 0.05,
            max_p99_ratio: 1.5,
            min_invocations: 10,
        };
        let old = stats(20, 0, 10_000);
        assert_eq!(
            judge(&g, "1", &old, "2", &stats(20, 1, 10_000), true, true),
            Verdict::Healthy
        );
        match judge(&g, "1", &old, "2", &stats(20, 2, 10_000), false, true) {
            Verdict::Breached(m) => assert!(m.contains("10.0% (2 of 20"), "{m}"),
            v => panic!("{v:?}"),
        }
        match judge(&g, "1", &old, "2", &stats(20, 0, 20_000), false, true) {
            Verdict::Breached(m) => assert!(m.contains("2.00x"), "{m}"),
            v => panic!("{v:?}"),
        }
        // Emulated against native: latency is not evidence, errors still are.
        assert_eq!(
            judge(&g, "1", &old, "2", &stats(20, 0, 20_000), true, false),
            Verdict::Healthy
        );
        assert!(matches!(
            judge(&g, "1", &old, "2", &stats(20, 2, 20_000), false, false),
            Verdict::Breached(_)
        ));
        // Too little traffic: nothing breached mid-step, not judged at the end.
        assert_eq!(
            judge(&g, "1", &old, "2", &stats(5, 5, 10_000), false, true),
            Verdict::Healthy
        );
        assert!(matches!(
            judge(&g, "1", &old, "2", &stats(5, 0, 10_000), true, true),
            Verdict::NotJudged(_)
        ));
        // The p99 ratio needs the old version's traffic too.
        assert_eq!(
            judge(
                &g,
                "1",
                &stats(3, 0, 1_000),
                "2",
                &stats(20, 0, 90_000),
                true,
                true
            ),
            Verdict::Healthy
        );
    }

    #[test]
    fn tallies_round_trip_through_json() -> Result<(), String> {
        let s = stats(7, 2, 1_500);
        let t = Tally::of(&s);
        let json = serde_json::to_string(&t).map_err(|e| e.to_string())?;
        let back: Tally = serde_json::from_str(&json).map_err(|e| e.to_string())?;
        assert_eq!(back.stats(), s);
        assert!(Guardrails::default().check().is_ok());
        assert!(
            Guardrails {
                max_error_rate: 2.0,
                ..Guardrails::default()
            }
            .check()
            .is_err()
        );
        Ok(())
    }
}
