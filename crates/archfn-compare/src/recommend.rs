//! The recommendation of each strategy, and what emulation does to it.
//!
//! Who is considered:
//! 1. Only configurations with warm invocations (cost and warm p50 come from them).
//! 2. Of those, only configurations without errors and without equivalence findings, when
//!    there is at least one; otherwise all of them, and the reason says so.
//!
//! Then, per strategy:
//! - `cost`: the lowest cost per million invocations (ties: lower warm p50, then input
//!   order).
//! - `speed`: the lowest warm p50 (ties: lower cost, then input order), but only among
//!   configurations of one execution mode: the native ones when any is considered, else the
//!   emulated ones. An emulated configuration's latency is QEMU's, so it is never weighed
//!   against a native one's; when executions differ the cross-architecture
//!   [`Recommendations::speed_verdict`] is `not judged: …`.
//! - `balanced`: the lowest `w*cost/max_cost + (1-w)*p50/max_p50` (maxima over the
//!   configurations it chooses among; ties: lower cost, lower p50, input order). Its latency
//!   term obeys the speed rule, so it chooses among the same configurations as `speed`,
//!   except at `w = 1`, where latency has no weight and it chooses among the same
//!   configurations as `cost`. So `w = 1` is `cost` and `w = 0` is `speed`.
//!
//! Cost comes from billed durations, so an emulated configuration's cost is computed from
//! QEMU's durations, which are longer than its own processor's would be. When the cheapest
//! configuration is emulated it is the cheapest even so; when it is native, the cost caveat
//! gives, for each emulated configuration, the warm billed duration below which it would
//! cost less (cost per million is linear in the mean billed duration).

use archfn_model::Architecture;
use archfn_model::metrics::Execution;

use crate::input::{Settings, Strategy};
use crate::report::{
    Candidate, ConfigurationReport, CostFigures, Equivalence, Exclusion, Recommendation,
    Recommendations,
};
use crate::units::{list, ms, usd};

/// A configuration that can be judged: it has a cost and a warm p50.
#[derive(Debug, Clone)]
struct Entry<'a> {
    index: usize,
    label: &'a str,
    architecture: Architecture,
    execution: Execution,
    cost: &'a CostFigures,
    p50: f64,
}

impl Entry<'_> {
    fn per_million(&self) -> f64 {
        self.cost.per_million_usd
    }

    fn candidate(&self, score: Option<f64>) -> Candidate {
        Candidate {
            configuration: self.label.to_string(),
            per_million_usd: self.per_million(),
            warm_p50_ms: self.p50,
            score,
        }
    }
}

/// The processor an emulated configuration of `architecture` stands in for.
fn processor_name(architecture: Architecture) -> &'static str {
    match architecture {
        Architecture::Arm64 => "Graviton",
        Architecture::X86_64 => "an x86_64 processor",
    }
}

/// Whose latency an emulated configuration of `architecture` stands in for.
fn processor(architecture: Architecture) -> String {
    format!("{}'s", processor_name(architecture))
}

/// What still holds when some configurations ran emulated.
const STILL_HOLDS: &str = "equivalence and memory findings still hold (memory used under \
                           emulation includes QEMU's own, so it errs high)";

/// The caveat of a latency-based verdict among configurations that all ran emulated.
const ALL_EMULATED: &str = "Every configuration considered ran under QEMU emulation: its \
                            latencies are QEMU's and rank the configurations only roughly.";

/// One clause per emulated architecture: which configurations ran under QEMU on this host,
/// whose latency theirs is not, and what the speed verdict needs instead.
fn emulation_clauses(configurations: &[ConfigurationReport], host: Architecture) -> Vec<String> {
    let mut clauses = Vec::new();
    for architecture in Architecture::ALL {
        let labels: Vec<String> = configurations
            .iter()
            .filter(|c| c.emulated && c.architecture == architecture)
            .map(|c| c.label.clone())
            .collect();
        if labels.is_empty() {
            continue;
        }
        let arch = architecture.as_str();
        clauses.push(format!(
            "{} ran under QEMU emulation on this {} host: the latency of an emulated \
             configuration is QEMU's, not {}, so the speed verdict across architectures \
             needs an {arch} host or an {arch} worker",
            list(&labels),
            host.as_str(),
            processor(architecture),
        ));
    }
    clauses
}

/// What emulation means for the verdicts: a sentence per emulated architecture, then what
/// still holds; `None` when nothing ran emulated.
pub(crate) fn emulation_caveat(
    configurations: &[ConfigurationReport],
    host: Architecture,
) -> Option<String> {
    let clauses = emulation_clauses(configurations, host);
    if clauses.is_empty() {
        return None;
    }
    Some(format!("{}. The {STILL_HOLDS}.", clauses.join(". ")))
}

/// Why a configuration is not among the clean ones: its errors and its findings.
fn trouble(configuration: &ConfigurationReport, equivalence: &Equivalence) -> Option<String> {
    let mut why = Vec::new();
    if configuration.error_count > 0 {
        let types: Vec<String> = configuration
            .errors
            .iter()
            .map(|(error_type, n)| format!("{error_type} ×{n}"))
            .collect();
        why.push(format!(
            "{} failed invocation{} ({})",
            configuration.error_count,
            if configuration.error_count == 1 {
                ""
            } else {
                "s"
            },
            types.join(", ")
        ));
    }
    let findings: Vec<&str> = equivalence
        .findings
        .iter()
        .filter(|f| f.configuration == configuration.label)
        .map(|f| f.text.as_str())
        .collect();
    if let Some(first) = findings.first() {
        let more = findings.len() - 1;
        if more == 0 {
            why.push((*first).to_string());
        } else {
            why.push(format!(
                "{first} (and {more} more difference{})",
                if more == 1 { "" } else { "s" }
            ));
        }
    }
    if why.is_empty() {
        None
    } else {
        Some(why.join("; "))
    }
}

fn exclusion(label: &str, why: impl Into<String>) -> Exclusion {
    Exclusion {
        configuration: label.to_string(),
        why: why.into(),
    }
}

/// Who each strategy may consider.
struct Pool<'a> {
    /// Measured, and clean when any measured configuration is.
    entries: Vec<Entry<'a>>,
    /// Everyone else, and why.
    excluded: Vec<Exclusion>,
    /// Said in every reason when the pool had to include troubled configurations.
    note: Option<String>,
}

fn pool<'a>(configurations: &'a [ConfigurationReport], equivalence: &Equivalence) -> Pool<'a> {
    let mut measured = Vec::new();
    let mut excluded = Vec::new();
    for (index, c) in configurations.iter().enumerate() {
        match (&c.cost, &c.warm.duration_ms) {
            (Some(cost), Some(warm)) => measured.push((
                Entry {
                    index,
                    label: &c.label,
                    architecture: c.architecture,
                    execution: c.execution,
                    cost,
                    p50: warm.p50,
                },
                trouble(c, equivalence),
            )),
            _ => excluded.push(exclusion(
                &c.label,
                "no warm invocations, so no warm latency or cost",
            )),
        }
    }
    let any_clean = measured.iter().any(|(_, why)| why.is_none());
    let mut entries = Vec::new();
    let mut note = None;
    for (entry, why) in measured {
        match why {
            Some(why) if any_clean => excluded.push(exclusion(entry.label, why)),
            Some(_) => {
                note = Some(
                    "Every configuration failed some invocations or answered differently \
                     from the reference, so all of them were considered."
                        .to_string(),
                );
                entries.push(entry);
            }
            None => entries.push(entry),
        }
    }
    Pool {
        entries,
        excluded,
        note,
    }
}

fn with_note(reason: String, note: &Option<String>) -> String {
    match note {
        Some(note) => format!("{reason} {note}"),
        None => reason,
    }
}

/// The entries of the execution mode speed is judged in: native when any is there, else
/// all (then every one is emulated). The others are returned with the reason.
fn same_execution<'a, 'b>(entries: &'b [Entry<'a>]) -> (Vec<&'b Entry<'a>>, Vec<&'b Entry<'a>>) {
    let any_native = entries.iter().any(|e| e.execution == Execution::Native);
    entries
        .iter()
        .partition(|e| !any_native || e.execution == Execution::Native)
}

fn by_cost(a: &&Entry<'_>, b: &&Entry<'_>) -> std::cmp::Ordering {
    a.per_million()
        .total_cmp(&b.per_million())
        .then(a.p50.total_cmp(&b.p50))
        .then(a.index.cmp(&b.index))
}

fn by_speed(a: &&Entry<'_>, b: &&Entry<'_>) -> std::cmp::Ordering {
    a.p50
        .total_cmp(&b.p50)
        .then(a.per_million().total_cmp(&b.per_million()))
        .then(a.index.cmp(&b.index))
}

fn mixed(entries: &[&Entry<'_>]) -> bool {
    entries.iter().any(|e| e.execution == Execution::Native)
        && entries.iter().any(|e| e.execution == Execution::Emulated)
}

/// What limits a cost verdict among `ranked` (best first) when executions differ among
/// them; `None` when they do not.
fn cost_caveat(ranked: &[&Entry<'_>]) -> Option<String> {
    if !mixed(ranked) {
        return None;
    }
    let winner = ranked.first()?;
    if winner.execution == Execution::Emulated {
        return Some(format!(
            "{}'s cost comes from durations measured under QEMU emulation, which are longer \
             than they would be on {}: it is the cheapest even so.",
            winner.label,
            processor_name(winner.architecture),
        ));
    }
    let mut sentences = vec![
        "The costs of emulated configurations come from durations measured under QEMU, which \
         are longer than on their own processors, so the cost verdict across architectures is \
         provisional."
            .to_string(),
    ];
    for entry in ranked.iter().filter(|e| e.execution == Execution::Emulated) {
        let cost = entry.cost;
        let duration_part = cost.per_million_usd - cost.per_million.requests_usd;
        if cost.mean_billed_duration_ms <= 0.0 || duration_part <= 0.0 {
            continue;
        }
        // Cost per million is requests + k × mean billed ms (duration and ephemeral storage
        // are both proportional to billed ms), so it equals the winner's at this duration.
        let per_ms = duration_part / cost.mean_billed_duration_ms;
        let break_even = (winner.per_million() - cost.per_million.requests_usd) / per_ms;
        sentences.push(format!(
            "{} would cost less than {} if its warm billed duration on {} were below {} \
             (it billed {} under QEMU).",
            entry.label,
            winner.label,
            processor_name(entry.architecture),
            ms(break_even.max(0.0)),
            ms(cost.mean_billed_duration_ms),
        ));
    }
    Some(sentences.join(" "))
}

fn cost_recommendation(pool: &Pool<'_>, chosen: bool) -> Recommendation {
    let mut ranked: Vec<&Entry<'_>> = pool.entries.iter().collect();
    ranked.sort_by(by_cost);
    let configuration = ranked.first().map(|e| e.label.to_string());
    let reason = match ranked.as_slice() {
        [] => "No configuration had warm invocations to base a cost on.".to_string(),
        [only] => format!(
            "{} costs {} per million invocations; it is the only configuration considered.",
            only.label,
            usd(only.per_million())
        ),
        [first, second, ..] => format!(
            "{} costs {} per million invocations, the lowest of the {} configurations \
             considered (next: {} at {}).",
            first.label,
            usd(first.per_million()),
            ranked.len(),
            second.label,
            usd(second.per_million()),
        ),
    };
    Recommendation {
        strategy: Strategy::Cost,
        chosen,
        configuration,
        reason: with_note(reason, &pool.note),
        candidates: ranked.iter().map(|e| e.candidate(None)).collect(),
        excluded: pool.excluded.clone(),
        caveat: cost_caveat(&ranked),
    }
}

/// The exclusion of an emulated configuration from a latency-based verdict.
fn emulated_exclusion(entry: &Entry<'_>) -> Exclusion {
    exclusion(
        entry.label,
        format!(
            "ran under QEMU emulation: its latency is QEMU's, not {}, so it is not weighed \
             against native configurations",
            processor(entry.architecture)
        ),
    )
}

fn speed_recommendation(
    pool: &Pool<'_>,
    chosen: bool,
    caveat: &Option<String>,
    clauses: &[String],
) -> (Recommendation, String) {
    let (group, others) = same_execution(&pool.entries);
    let mut ranked = group;
    ranked.sort_by(by_speed);
    let mut excluded = pool.excluded.clone();
    excluded.extend(others.iter().map(|e| emulated_exclusion(e)));
    let all_emulated =
        !ranked.is_empty() && ranked.iter().all(|e| e.execution == Execution::Emulated);
    let configuration = ranked.first().map(|e| e.label.to_string());
    let labels: Vec<String> = ranked.iter().map(|e| e.label.to_string()).collect();

    let (reason, verdict) = match ranked.first() {
        None => (
            "No configuration had warm invocations to base a latency on.".to_string(),
            "not judged: no configuration had warm invocations".to_string(),
        ),
        Some(first) => {
            let group = if all_emulated {
                "emulated configuration"
            } else if others.is_empty() {
                "configuration"
            } else {
                "native configuration"
            };
            let mut reason = if ranked.len() == 1 {
                format!(
                    "{} ({} warm p50) is the only {group} considered.",
                    first.label,
                    ms(first.p50)
                )
            } else {
                format!(
                    "{} has the lowest warm p50 ({}) of the {group}s considered ({}).",
                    first.label,
                    ms(first.p50),
                    list(&labels)
                )
            };
            let mut emulated: Vec<&&Entry<'_>> = others.iter().collect();
            emulated.sort_by(|a, b| by_speed(a, b));
            if let Some(fastest) = emulated.first() {
                reason.push_str(&format!(
                    " Among the emulated configurations {} is fastest under QEMU ({}), which \
                     ranks them against each other only roughly.",
                    fastest.label,
                    ms(fastest.p50)
                ));
            }
            let verdict = if all_emulated {
                format!(
                    "not judged: every configuration considered ran under QEMU emulation, so \
                     its latency is QEMU's; {} is fastest under QEMU, which ranks them only \
                     roughly",
                    first.label
                )
            } else if caveat.is_some() {
                format!(
                    "not judged: {}. Among the native configurations, {} is fastest; the {STILL_HOLDS}.",
                    clauses.join(". "),
                    first.label
                )
            } else {
                format!(
                    "judged: {} has the lowest warm p50 ({}) of {}",
                    first.label,
                    ms(first.p50),
                    list(&labels)
                )
            };
            (reason, verdict)
        }
    };
    let caveat = if all_emulated && caveat.is_none() {
        Some(ALL_EMULATED.to_string())
    } else {
        caveat.clone()
    };
    let recommendation = Recommendation {
        strategy: Strategy::Speed,
        chosen,
        configuration,
        reason: with_note(reason, &pool.note),
        candidates: ranked.iter().map(|e| e.candidate(None)).collect(),
        excluded,
        caveat,
    };
    (recommendation, verdict)
}

fn balanced_recommendation(
    pool: &Pool<'_>,
    weight: f64,
    chosen: bool,
    caveat: &Option<String>,
) -> Recommendation {
    let latency_counts = weight < 1.0;
    let (group, others) = if latency_counts {
        same_execution(&pool.entries)
    } else {
        (pool.entries.iter().collect(), Vec::new())
    };
    let max_cost = group.iter().map(|e| e.per_million()).fold(0.0, f64::max);
    let max_p50 = group.iter().map(|e| e.p50).fold(0.0, f64::max);
    let share = |value: f64, max: f64| if max > 0.0 { value / max } else { 0.0 };
    let mut scored: Vec<(f64, &Entry<'_>)> = group
        .iter()
        .map(|e| {
            let score =
                weight * share(e.per_million(), max_cost) + (1.0 - weight) * share(e.p50, max_p50);
            (score, *e)
        })
        .collect();
    scored.sort_by(|(sa, a), (sb, b)| sa.total_cmp(sb).then(by_cost(a, b)));
    let mut excluded = pool.excluded.clone();
    excluded.extend(others.iter().map(|e| emulated_exclusion(e)));
    let configuration = scored.first().map(|(_, e)| e.label.to_string());
    let labels: Vec<String> = scored.iter().map(|(_, e)| e.label.to_string()).collect();
    let reason = match scored.as_slice() {
        [] => "No configuration had warm invocations to score.".to_string(),
        [(_, only)] => format!(
            "{} is the only {}configuration considered{}.",
            only.label,
            if others.is_empty() { "" } else { "native " },
            if latency_counts {
                ""
            } else {
                " (at w = 1 latency has no weight)"
            },
        ),
        [(score, first), ..] => format!(
            "{} has the lowest balanced score ({score:.3}; w = {weight}: w × cost / max cost + \
             (1 − w) × warm p50 / max warm p50) among {}{}.",
            first.label,
            if others.is_empty() {
                list(&labels)
            } else {
                format!("the native configurations ({})", list(&labels))
            },
            if latency_counts {
                ""
            } else {
                "; at w = 1 latency has no weight"
            },
        ),
    };
    let ranked: Vec<&Entry<'_>> = scored.iter().map(|(_, e)| *e).collect();
    let all_emulated =
        !ranked.is_empty() && ranked.iter().all(|e| e.execution == Execution::Emulated);
    let caveat = if !latency_counts {
        cost_caveat(&ranked)
    } else if all_emulated && caveat.is_none() {
        Some(ALL_EMULATED.to_string())
    } else {
        caveat.clone()
    };
    Recommendation {
        strategy: Strategy::Balanced,
        chosen,
        configuration,
        reason: with_note(reason, &pool.note),
        candidates: scored
            .iter()
            .map(|(score, e)| e.candidate(Some(*score)))
            .collect(),
        excluded,
        caveat,
    }
}

/// Every strategy's recommendation over `configurations`, measured on a `host` host. When
/// executions differ, the latency-based verdicts carry the emulation caveat
/// ([`emulation_caveat`]).
pub(crate) fn recommend(
    configurations: &[ConfigurationReport],
    equivalence: &Equivalence,
    settings: &Settings,
    host: Architecture,
) -> Recommendations {
    let pool = pool(configurations, equivalence);
    let chosen = settings.strategy;
    let executions_differ =
        configurations.iter().any(|c| c.emulated) && configurations.iter().any(|c| !c.emulated);
    let latency_caveat = if executions_differ {
        emulation_caveat(configurations, host)
    } else {
        None
    };
    let clauses = emulation_clauses(configurations, host);
    let cost = cost_recommendation(&pool, chosen == Strategy::Cost);
    let (speed, speed_verdict) =
        speed_recommendation(&pool, chosen == Strategy::Speed, &latency_caveat, &clauses);
    let balanced = balanced_recommendation(
        &pool,
        settings.balanced_weight,
        chosen == Strategy::Balanced,
        &latency_caveat,
    );
    Recommendations {
        chosen,
        speed_verdict,
        cost,
        speed,
        balanced,
    }
}
