//! `GET /archfn/v1/functions/{name}/metrics`: a function's invocation metrics over a window,
//! grouped by version, architecture or alias, from the store and what is not stored yet.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use archfn_model::Architecture;
use archfn_model::metrics::{
    Execution, Histogram, MinuteBucket, MinuteStats, minute_of, parse_time,
};
use axum::Extension;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::{ApiError, AppState, RequestContext};

/// The window when `since` is not given.
const DEFAULT_SINCE: &str = "24h";

/// What groups are made of.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum By {
    Version,
    Architecture,
    Alias,
}

impl By {
    fn parse(s: &str) -> Option<By> {
        match s {
            "version" => Some(By::Version),
            "architecture" | "arch" => Some(By::Architecture),
            "alias" => Some(By::Alias),
            _ => None,
        }
    }

    fn field(self) -> &'static str {
        match self {
            By::Version => "version",
            By::Architecture => "architecture",
            By::Alias => "alias",
        }
    }

    /// The group of a bucket; `None` is "invoked without an alias".
    fn key(self, b: &MinuteBucket) -> Option<String> {
        match self {
            By::Version => Some(b.key.version.clone()),
            By::Architecture => Some(b.key.arch.as_str().to_string()),
            By::Alias => b.key.alias.clone(),
        }
    }
}

#[derive(Debug, Default)]
struct Group {
    stats: MinuteStats,
    architectures: BTreeSet<Architecture>,
    executions: BTreeSet<Execution>,
    versions: BTreeSet<String>,
}

fn ms(us: u64) -> f64 {
    (us as f64) / 1000.0
}

/// Percentiles of a histogram of microseconds, in milliseconds.
fn distribution(h: &Histogram) -> Value {
    if h.count() == 0 {
        return Value::Null;
    }
    let q = |q: f64| h.quantile(q).map(ms);
    json!({
        "count": h.count(),
        "p50": q(0.5),
        "p90": q(0.9),
        "p99": q(0.99),
        "max": ms(h.max()),
        "mean": ms(h.sum() / h.count()),
    })
}

fn group_json(by: By, key: Option<String>, g: &Group) -> Value {
    let s = &g.stats;
    let errors = s.error_count();
    let execution = match (
        g.executions.contains(&Execution::Native),
        g.executions.contains(&Execution::Emulated),
    ) {
        (true, true) => "mixed",
        (false, true) => "emulated",
        _ => "native",
    };
    json!({
        by.field(): key,
        "architectures": g.architectures.iter().map(|a| a.as_str()).collect::<Vec<_>>(),
        "execution": execution,
        "executions": g.executions.iter().map(|e| e.as_str()).collect::<Vec<_>>(),
        "versions": g.versions,
        "invocations": s.invocations,
        "errors": errors,
        "errorsByType": s.errors,
        "errorRate": if s.invocations == 0 { 0.0 } else { errors as f64 / s.invocations as f64 },
        "throttles": s.throttles,
        "coldStarts": s.cold_starts,
        "durationMs": distribution(&s.duration_us),
        "initDurationMs": distribution(&s.init_duration_us),
        "billedDurationMs": s.billed_ms,
        "maxMemoryUsedMB": s.max_memory_mb,
    })
}

/// Groups `buckets` by `by` and renders the answer.
fn report(function: &str, by: By, since_ms: i64, until_ms: i64, buckets: &[MinuteBucket]) -> Value {
    let mut groups: BTreeMap<Option<String>, Group> = BTreeMap::new();
    for b in buckets {
        let g = groups.entry(by.key(b)).or_default();
        g.stats.merge(&b.stats);
        g.architectures.insert(b.key.arch);
        g.executions.insert(b.key.execution);
        if !g.versions.contains(&b.key.version) {
            g.versions.insert(b.key.version.clone());
        }
    }
    json!({
        "function": function,
        "by": by.field(),
        "since": archfn_model::time::format_rfc3339_ms(since_ms),
        "until": archfn_model::time::format_rfc3339_ms(until_ms),
        "groups": groups.into_iter().map(|(k, g)| group_json(by, k, &g)).collect::<Vec<_>>(),
    })
}

fn validation(value: &str, field: &str, constraint: &str) -> ApiError {
    ApiError::ValidationException(format!(
        "1 validation error detected: Value '{value}' at '{field}' failed to satisfy constraint: {constraint}"
    ))
}

/// `GET /archfn/v1/functions/{name}/metrics?by=version|architecture|alias&since=…&until=…`.
pub(crate) async fn get_function_metrics(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Path(name): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let by_text = q.get("by").map(String::as_str).unwrap_or("version");
    let by = By::parse(by_text).ok_or_else(|| {
        validation(
            by_text,
            "by",
            "Member must satisfy enum value set: [version, architecture, alias]",
        )
    })?;
    let now = archfn_model::time::now_ms();
    let time = |field: &str, default: &str| {
        let text = q.get(field).map(String::as_str).unwrap_or(default);
        parse_time(text, now).ok_or_else(|| {
            validation(
                text,
                field,
                "Member must be an RFC 3339 time or a duration such as 15m, 1h, 7d",
            )
        })
    };
    let since_ms = time("since", DEFAULT_SINCE)?;
    let until_ms = time("until", "0s")?;
    let (from, to) = (minute_of(since_ms), minute_of(until_ms));
    let function = state.control.function_name(&ctx.region, &name).await?;
    let control = state.control.clone();
    let buckets = state
        .engine
        .with_unflushed_metrics(&ctx.region, &function, async |mut unflushed| {
            let (_, mut stored) = control
                .function_metrics(&ctx.region, &function, from, to)
                .await?;
            unflushed.retain(|b| b.minute >= from && b.minute <= to);
            stored.append(&mut unflushed);
            Ok::<_, ApiError>(stored)
        })
        .await?;
    Ok((
        [("content-type", "application/json")],
        report(&function, by, since_ms, until_ms, &buckets).to_string(),
    )
        .into_response())
}

#[cfg(test)]
mod tests {
    use super::*;
    use archfn_model::metrics::SeriesKey;

    fn bucket(
        version: &str,
        alias: Option<&str>,
        arch: Architecture,
        durations: &[u64],
    ) -> MinuteBucket {
        let mut stats = MinuteStats {
            invocations: durations.len() as u64,
            ..MinuteStats::default()
        };
        for d in durations {
            stats.duration_us.record(*d);
        }
        MinuteBucket {
            key: SeriesKey {
                region: "us-east-1".into(),
                function: "f".into(),
                version: version.into(),
                alias: alias.map(str::to_string),
                arch,
                execution: if arch == Architecture::Arm64 {
                    Execution::Emulated
                } else {
                    Execution::Native
                },
            },
            minute: 1,
            stats,
        }
    }

    #[test]
    fn groups_by_version_architecture_and_alias() {
        let buckets = [
            bucket("1", None, Architecture::X86_64, &[1_000, 2_000]),
            bucket("2", Some("live"), Architecture::Arm64, &[5_000]),
            bucket("2", None, Architecture::Arm64, &[7_000]),
        ];
        let r = report("f", By::Version, 0, 0, &buckets);
        let groups = r["groups"].as_array().cloned().unwrap_or_default();
        assert_eq!(groups.len(), 2);
        assert_eq!(groups[0]["version"], "1");
        assert_eq!(groups[0]["execution"], "native");
        assert_eq!(groups[0]["invocations"], 2);
        assert_eq!(groups[1]["execution"], "emulated");
        assert_eq!(groups[1]["invocations"], 2);
        assert_eq!(groups[1]["durationMs"]["max"], 7.0);
        let r = report("f", By::Alias, 0, 0, &buckets);
        assert_eq!(r["groups"][0]["alias"], Value::Null);
        assert_eq!(r["groups"][0]["invocations"], 3);
        assert_eq!(r["groups"][0]["execution"], "mixed");
        assert_eq!(r["groups"][1]["alias"], "live");
        let r = report("f", By::Architecture, 0, 0, &buckets);
        assert_eq!(r["groups"][0]["architecture"], "arm64");
        assert_eq!(r["groups"][1]["architecture"], "x86_64");
        assert_eq!(r["groups"][1]["initDurationMs"], Value::Null);
    }
}
