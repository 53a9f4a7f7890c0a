//! `archfn shift`: the client of a server's traffic shifts (`/archfn/v1/deployments`). It
//! starts a shift and follows it to its end, printing each event and each step's figures of
//! the two versions side by side; `status`, `stop` and `rollback` act on one by id.

use std::collections::HashSet;
use std::time::Duration;

use clap::{Args, Subcommand};
use serde_json::{Value, json};

/// `archfn shift …`.
#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub(crate) struct ShiftCommand {
    #[command(subcommand)]
    action: Option<ShiftAction>,
    #[command(flatten)]
    start: StartArgs,
}

#[derive(Debug, Subcommand)]
enum ShiftAction {
    /// Print a shift (by id), or the shifts of a function and alias.
    Status {
        /// A deployment id (`d-…`).
        id: Option<String>,
        /// Only this function's shifts.
        #[arg(long)]
        function: Option<String>,
        /// Only this alias's shifts.
        #[arg(long)]
        alias: Option<String>,
        #[command(flatten)]
        common: Common,
    },
    /// Stop a running shift: the alias goes back to the old version.
    Stop {
        /// A deployment id.
        id: String,
        #[command(flatten)]
        common: Common,
    },
    /// Roll a shift back, running or succeeded: the alias goes back to the old version.
    Rollback {
        /// A deployment id.
        id: String,
        #[command(flatten)]
        common: Common,
    },
}

#[derive(Debug, Args)]
struct Common {
    /// The server.
    #[arg(long, env = "ARCHFN_ENDPOINT", default_value = "http://127.0.0.1:9001")]
    endpoint: String,
    /// Print the endpoint's JSON instead of text.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Args)]
struct StartArgs {
    /// The function whose alias is shifted.
    function: Option<String>,
    /// The alias.
    #[arg(long)]
    alias: Option<String>,
    /// The version to shift to.
    #[arg(long)]
    to: Option<String>,
    /// A CodeDeploy configuration (Canary10Percent5Minutes, Linear10PercentEvery1Minute,
    /// AllAtOnce…) or custom steps such as `10,25,50,100@2m`.
    #[arg(long, default_value = "Canary10Percent5Minutes")]
    strategy: String,
    /// Roll back when the new version's error rate passes this (`1%` or `0.01`).
    #[arg(long, default_value = "1%")]
    max_error_rate: String,
    /// Roll back when the new version's p99 duration is more than this times the old one's.
    #[arg(long, default_value_t = 1.5)]
    max_p99_ratio: f64,
    /// Invocations a version needs in a step before its figures are judged.
    #[arg(long, default_value_t = 20)]
    min_invocations: u64,
    /// A function invoked before traffic moves; if it fails, the shift rolls back.
    #[arg(long)]
    pre_traffic_hook: Option<String>,
    /// A function invoked after all traffic has moved; if it fails, the shift rolls back.
    #[arg(long)]
    post_traffic_hook: Option<String>,
    /// Start the shift and return at once (follow it with `archfn shift status ID`).
    #[arg(long)]
    no_wait: bool,
    #[command(flatten)]
    common: Common,
}

/// `1%`, `0.5 %` or `0.01` as a fraction.
fn parse_rate(text: &str) -> Option<f64> {
    let t = text.trim();
    let v = match t.strip_suffix('%') {
        Some(p) => p.trim().parse::<f64>().ok()? / 100.0,
        None => t.parse::<f64>().ok()?,
    };
    (0.0..=1.0).contains(&v).then_some(v)
}

/// Runs `archfn shift …`; returns the exit status.
pub(crate) async fn run(cmd: ShiftCommand) -> i32 {
    match cmd.action {
        Some(ShiftAction::Status {
            id,
            function,
            alias,
            common,
        }) => {
            status(
                &common,
                id.as_deref(),
                function.as_deref(),
                alias.as_deref(),
            )
            .await
        }
        Some(ShiftAction::Stop { id, common }) => end(&common, &id, "stop").await,
        Some(ShiftAction::Rollback { id, common }) => end(&common, &id, "rollback").await,
        None => start(cmd.start).await,
    }
}

async fn request(method: reqwest::Method, url: &str, body: Option<Value>) -> Result<Value, String> {
    let client = reqwest::Client::new();
    let mut req = client.request(method, url);
    if let Some(b) = body {
        req = req.json(&b);
    }
    let response = req.send().await.map_err(|e| format!("{url}: {e}"))?;
    let ok = response.status().is_success();
    let text = response.text().await.map_err(|e| format!("{url}: {e}"))?;
    let v: Value = serde_json::from_str(&text).unwrap_or(Value::String(text.clone()));
    if ok {
        Ok(v)
    } else {
        let kind = v
            .get("Type")
            .or_else(|| v.get("__type"))
            .and_then(Value::as_str);
        let message = v
            .get("message")
            .or_else(|| v.get("Message"))
            .and_then(Value::as_str)
            .unwrap_or(&text);
        Err(match kind {
            Some(k) => format!("{k}: {message}"),
            None => message.to_string(),
        })
    }
}

fn base(common: &Common) -> String {
    format!(
        "{}/archfn/v1/deployments",
        common.endpoint.trim_end_matches('/')
    )
}

async fn start(a: StartArgs) -> i32 {
    let (Some(function), Some(alias), Some(to)) = (&a.function, &a.alias, &a.to) else {
        eprintln!(
            "error: archfn shift FUNCTION --alias NAME --to VERSION (or: status, stop, rollback)"
        );
        return 2;
    };
    let Some(max_error_rate) = parse_rate(&a.max_error_rate) else {
        eprintln!("error: --max-error-rate must be a share such as 1% or 0.01");
        return 2;
    };
    let mut hooks = serde_json::Map::new();
    if let Some(h) = &a.pre_traffic_hook {
        hooks.insert("preTraffic".into(), json!(h));
    }
    if let Some(h) = &a.post_traffic_hook {
        hooks.insert("postTraffic".into(), json!(h));
    }
    let body = json!({
        "functionName": function,
        "aliasName": alias,
        "targetVersion": to,
        "strategy": a.strategy,
        "guardrails": {
            "maxErrorRate": max_error_rate,
            "maxP99Ratio": a.max_p99_ratio,
            "minInvocations": a.min_invocations,
        },
        "hooks": hooks,
    });
    let d = match request(reqwest::Method::POST, &base(&a.common), Some(body)).await {
        Ok(d) => d,
        Err(e) => {
            eprintln!("error: {e}");
            return 1;
        }
    };
    let id = text(&d, "id");
    if a.no_wait {
        if a.common.json {
            println!("{d}");
        } else {
            println!("{id}");
        }
        return 0;
    }
    eprintln!(
        "shift {id}: alias {alias} of {function} to version {to} ({})",
        a.strategy
    );
    follow(&a.common, &id).await
}

/// Prints a shift's new events and finished steps until it ends; 0 when it succeeded.
async fn follow(common: &Common, id: &str) -> i32 {
    let url = format!("{}/{id}", base(common));
    let (mut events, mut steps) = (0usize, HashSet::new());
    loop {
        let d = match request(reqwest::Method::GET, &url, None).await {
            Ok(d) => d,
            Err(e) => {
                eprintln!("error: {e}");
                return 1;
            }
        };
        let list = d["events"].as_array().cloned().unwrap_or_default();
        for e in list.iter().skip(events) {
            println!("{}  {}", time(e["atMs"].as_i64()), text(e, "message"));
        }
        events = list.len();
        for (i, s) in d["steps"].as_array().into_iter().flatten().enumerate() {
            if s.get("endedMs").is_some() && s["percent"].as_u64() != Some(100) && steps.insert(i) {
                print!("{}", step_table(i, s));
            }
        }
        let status = text(&d, "status");
        if status != "InProgress" {
            if common.json {
                println!("{d}");
            }
            println!("{id}: {status}{}", reason(&d));
            return i32::from(status != "Succeeded");
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

async fn status(
    common: &Common,
    id: Option<&str>,
    function: Option<&str>,
    alias: Option<&str>,
) -> i32 {
    let url = match id {
        Some(id) => format!("{}/{id}", base(common)),
        None => {
            let mut u = format!("{}?limit=20", base(common));
            for (k, v) in [("function", function), ("alias", alias)] {
                if let Some(v) = v {
                    u.push_str(&format!("&{k}={}", query_escape(v)));
                }
            }
            u
        }
    };
    let v = match request(reqwest::Method::GET, &url, None).await {
        Ok(v) => v,
        Err(e) => {
            eprintln!("error: {e}");
            return 1;
        }
    };
    if common.json {
        println!("{v}");
        return 0;
    }
    match v.get("deployments").and_then(Value::as_array) {
        Some(list) => {
            for d in list {
                print!("{}", summary(d));
            }
        }
        None => {
            print!("{}", summary(&v));
            for (i, s) in v["steps"].as_array().into_iter().flatten().enumerate() {
                print!("{}", step_table(i, s));
            }
            for e in v["events"].as_array().into_iter().flatten() {
                println!("  {}  {}", time(e["atMs"].as_i64()), text(e, "message"));
            }
        }
    }
    0
}

async fn end(common: &Common, id: &str, verb: &str) -> i32 {
    let url = format!("{}/{id}/{verb}", base(common));
    match request(reqwest::Method::POST, &url, None).await {
        Ok(d) => {
            if common.json {
                println!("{d}");
            } else {
                print!("{}", summary(&d));
            }
            0
        }
        Err(e) => {
            eprintln!("error: {e}");
            1
        }
    }
}

fn query_escape(v: &str) -> String {
    v.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                char::from(b).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn text(v: &Value, field: &str) -> String {
    v.get(field)
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string()
}

fn reason(d: &Value) -> String {
    match d.get("reason").and_then(Value::as_str) {
        Some(r) => format!(" ({r})"),
        None => String::new(),
    }
}

fn time(ms: Option<i64>) -> String {
    archfn_model::time::format_rfc3339_ms(ms.unwrap_or(0))
}

fn summary(d: &Value) -> String {
    format!(
        "{}  {:<10} {}:{}  {} -> {}  {}  step {}/{}{}\n",
        text(d, "id"),
        text(d, "status"),
        text(d, "function"),
        text(d, "alias"),
        text(d, "fromVersion"),
        text(d, "toVersion"),
        d["plan"]["name"].as_str().unwrap_or(""),
        d["steps"].as_array().map_or(0, Vec::len),
        d["plan"]["steps"].as_array().map_or(0, Vec::len),
        reason(d)
    )
}

/// A step's two versions side by side.
fn step_table(i: usize, s: &Value) -> String {
    let ms = |v: &Value| v.as_f64().map_or("-".to_string(), |x| format!("{x:.1}"));
    let cost = |v: &Value| v.as_f64().map_or("-".to_string(), |x| format!("{x:.2}"));
    let mut out = format!(
        "  step {} ({}% to the new version): {}\n    {:<8} {:<8} {:<9} {:>6} {:>7} {:>9} {:>9} {:>5} {:>9}\n",
        i + 1,
        s["percent"],
        s["verdict"].as_str().unwrap_or("running"),
        "version",
        "arch",
        "exec",
        "inv",
        "errors",
        "p50 ms",
        "p99 ms",
        "cold",
        "$/1M"
    );
    for side in ["old", "new"] {
        let f = &s[side];
        out.push_str(&format!(
            "    {:<8} {:<8} {:<9} {:>6} {:>6.1}% {:>9} {:>9} {:>5} {:>9}\n",
            text(f, "version"),
            text(f, "architecture"),
            text(f, "execution"),
            f["invocations"].as_u64().unwrap_or(0),
            f["errorRate"].as_f64().unwrap_or(0.0) * 100.0,
            ms(&f["p50Ms"]),
            ms(&f["p99Ms"]),
            f["coldStarts"].as_u64().unwrap_or(0),
            cost(&f["costPerMillionUsd"]),
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_are_percentages_or_fractions() {
        assert_eq!(parse_rate("1%"), Some(0.01));
        assert_eq!(parse_rate("0.05"), Some(0.05));
        assert_eq!(parse_rate("150%"), None);
        assert_eq!(parse_rate("x"), None);
    }

    #[test]
    fn a_step_shows_both_versions() {
        let s = json!({
            "percent": 10, "verdict": "healthy",
            "old": {"version": "1", "architecture": "x86_64", "execution": "native", "invocations": 90, "errorRate": 0.0, "p50Ms": 2.0, "p99Ms": 5.5, "coldStarts": 1, "costPerMillionUsd": 0.21},
            "new": {"version": "2", "architecture": "arm64", "execution": "emulated", "invocations": 10, "errorRate": 0.1, "p50Ms": 20.0, "p99Ms": null, "coldStarts": 1}
        });
        let t = step_table(0, &s);
        assert!(
            t.contains("step 1 (10% to the new version): healthy"),
            "{t}"
        );
        assert!(t.contains("emulated"), "{t}");
        assert!(t.contains("10.0%"), "{t}");
        assert!(t.contains("0.21"), "{t}");
    }
}
