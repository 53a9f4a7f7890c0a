//! Invocation metrics that last: the task that moves the engine's finished per-minute buckets
//! into the store and prunes them past their retention, and `archfn metrics`, which asks a
//! server for a function's figures.

use std::time::Duration;

use archfn_control::Control;
use archfn_invoke::Engine;
use archfn_model::metrics::minute_of;
use serde_json::Value;

/// How often finished minutes are stored.
const FLUSH_EVERY: Duration = Duration::from_secs(5);

/// How often metrics past their retention are deleted.
const PRUNE_EVERY: Duration = Duration::from_secs(3600);

/// Stores finished minutes (every minute, the current one included, when `everything`).
pub(crate) async fn flush(control: &Control, engine: &Engine, everything: bool) {
    match engine
        .flush_metrics(everything, async |buckets| {
            control.store_metrics(buckets).await
        })
        .await
    {
        Ok(0) => {}
        Ok(n) => tracing::debug!(buckets = n, "stored invocation metrics"),
        Err(e) => tracing::warn!(error = %e, "storing invocation metrics (kept for the next try)"),
    }
}

/// Deletes stored metrics older than `retention_days`.
async fn prune(control: &Control, retention_days: u32) {
    let keep_ms = i64::from(retention_days) * 86_400_000;
    let before = minute_of(archfn_model::time::now_ms() - keep_ms);
    match control.prune_metrics(before).await {
        Ok(0) => {}
        Ok(n) => tracing::info!(buckets = n, retention_days, "pruned invocation metrics"),
        Err(e) => tracing::warn!(error = %e, "pruning invocation metrics"),
    }
}

/// Starts storing finished minutes every few seconds, and pruning (now, then hourly).
pub(crate) fn spawn(control: Control, engine: Engine, retention_days: u32) {
    let (c, e) = (control.clone(), engine);
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(FLUSH_EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            flush(&c, &e, false).await;
        }
    });
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(PRUNE_EVERY);
        loop {
            tick.tick().await;
            prune(&control, retention_days).await;
        }
    });
}

/// `archfn metrics`: prints a function's metrics from a server; returns the exit status.
pub(crate) async fn print(
    endpoint: &str,
    function: &str,
    by: &str,
    since: &str,
    until: Option<&str>,
    json: bool,
) -> i32 {
    let mut url = match reqwest::Url::parse(endpoint.trim_end_matches('/')) {
        Ok(u) => u,
        Err(e) => {
            eprintln!("error: --endpoint {endpoint}: {e}");
            return 2;
        }
    };
    if let Ok(mut segments) = url.path_segments_mut() {
        segments.extend(["archfn", "v1", "functions", function, "metrics"]);
    }
    url.query_pairs_mut()
        .append_pair("by", by)
        .append_pair("since", since);
    if let Some(u) = until {
        url.query_pairs_mut().append_pair("until", u);
    }
    let Some(body) = crate::fetch_text(url.as_str()).await else {
        return 2;
    };
    if json {
        println!("{body}");
        return 0;
    }
    match serde_json::from_str::<Value>(&body) {
        Ok(v) => {
            print!("{}", text(&v));
            0
        }
        Err(e) => {
            eprintln!("error: unreadable answer: {e}");
            2
        }
    }
}

fn num(v: &Value) -> String {
    match v.as_f64() {
        Some(f) if v.is_f64() => format!("{f:.2}"),
        Some(_) => v.to_string(),
        None => "-".into(),
    }
}

/// The endpoint's answer as a table, one line per group, then each group's error types.
fn text(v: &Value) -> String {
    let by = v["by"].as_str().unwrap_or("version");
    let mut out = format!(
        "{}  by {by}  {} .. {}\n",
        v["function"].as_str().unwrap_or(""),
        v["since"].as_str().unwrap_or(""),
        v["until"].as_str().unwrap_or("")
    );
    out.push_str(&format!(
        "{:<12} {:<9} {:>6} {:>6} {:>6} {:>5} {:>9} {:>9} {:>9} {:>9} {:>9} {:>10} {:>7}\n",
        by.to_uppercase(),
        "EXECUTION",
        "INVOKE",
        "ERRORS",
        "THROTL",
        "COLD",
        "P50 ms",
        "P90 ms",
        "P99 ms",
        "MAX ms",
        "INIT P50",
        "BILLED ms",
        "MEM MB"
    ));
    let groups = v["groups"].as_array().map(Vec::as_slice).unwrap_or(&[]);
    if groups.is_empty() {
        out.push_str("(no invocations in this window)\n");
    }
    for g in groups {
        let key = match &g[by] {
            Value::String(s) => s.clone(),
            Value::Null => "(none)".into(),
            other => other.to_string(),
        };
        let d = &g["durationMs"];
        out.push_str(&format!(
            "{:<12} {:<9} {:>6} {:>6} {:>6} {:>5} {:>9} {:>9} {:>9} {:>9} {:>9} {:>10} {:>7}\n",
            key,
            g["execution"].as_str().unwrap_or("-"),
            num(&g["invocations"]),
            num(&g["errors"]),
            num(&g["throttles"]),
            num(&g["coldStarts"]),
            num(&d["p50"]),
            num(&d["p90"]),
            num(&d["p99"]),
            num(&d["max"]),
            num(&g["initDurationMs"]["p50"]),
            num(&g["billedDurationMs"]),
            num(&g["maxMemoryUsedMB"]),
        ));
        if let Some(errors) = g["errorsByType"].as_object().filter(|e| !e.is_empty()) {
            let list: Vec<String> = errors.iter().map(|(t, n)| format!("{t}={n}")).collect();
            out.push_str(&format!("  errors: {}\n", list.join(", ")));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prints_a_line_per_group_with_its_errors() {
        let v = serde_json::json!({
            "function": "f", "by": "version", "since": "a", "until": "b",
            "groups": [{
                "version": "1", "execution": "emulated", "invocations": 3, "errors": 1,
                "errorsByType": {"ValueError": 1}, "throttles": 0, "coldStarts": 1,
                "durationMs": {"p50": 1.5, "p90": 2.0, "p99": 2.0, "max": 2.25},
                "initDurationMs": null, "billedDurationMs": 9, "maxMemoryUsedMB": 40
            }]
        });
        let t = text(&v);
        assert!(t.contains("VERSION"), "{t}");
        let line = t.lines().nth(2).unwrap_or_default();
        assert!(
            line.starts_with("1 ") && line.contains("emulated") && line.contains("2.25"),
            "{t}"
        );
        assert!(t.contains("errors: ValueError=1"), "{t}");
    }
}
