//! `archfn compare`: the client of a server's comparisons. It starts one, shows a progress bar
//! while it runs (on a terminal), then writes the report as text, JSON or HTML.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::time::Duration;

use clap::Args;
use serde_json::{Value, json};

/// `archfn compare FUNCTION …`.
#[derive(Debug, Args)]
pub(crate) struct CompareArgs {
    /// The function.
    function: String,
    /// Architectures to compare.
    #[arg(long, value_delimiter = ',', default_value = "x86_64,arm64")]
    architectures: Vec<String>,
    /// Memory sizes, MB (default: the function's).
    #[arg(long, value_delimiter = ',')]
    memory: Vec<u32>,
    /// Compare these existing versions instead (`--versions 3,7`).
    #[arg(long, value_delimiter = ',', conflicts_with_all = ["memory"])]
    versions: Vec<String>,
    /// A JSON event to send (repeatable; default `{}`).
    #[arg(long = "payload")]
    payloads: Vec<PathBuf>,
    /// Warm invocations per payload and configuration.
    #[arg(short = 'n', long, default_value_t = 10)]
    invocations: u32,
    /// Invocations at once.
    #[arg(long, default_value_t = 1)]
    concurrency: u32,
    /// Cold starts per configuration.
    #[arg(long, default_value_t = 1)]
    cold: u32,
    /// What the recommendation optimises: cost, speed or balanced.
    #[arg(long, default_value = "balanced")]
    strategy: String,
    /// The weight of cost in the balanced strategy (0 to 1).
    #[arg(long, default_value_t = 0.5)]
    balanced_weight: f64,
    /// Invocations a month, for the monthly cost with the tiers.
    #[arg(long, default_value_t = 1_000_000)]
    monthly_invocations: u64,
    /// How far numbers in the answers may differ and still be equal.
    #[arg(long, default_value_t = 1e-9)]
    float_tolerance: f64,
    /// Output format: text, json or html.
    #[arg(long, default_value = "text", value_parser = ["text", "json", "html"])]
    format: String,
    /// Write the report here instead of standard output.
    #[arg(short = 'o', long)]
    output: Option<PathBuf>,
    /// The server.
    #[arg(long, env = "ARCHFN_ENDPOINT", default_value = "http://127.0.0.1:9001")]
    endpoint: String,
}

/// Runs `archfn compare`; exit status 0 when every configuration answered alike, 1 when the
/// report has a difference, 2 when the comparison could not run.
pub(crate) async fn run(a: CompareArgs) -> i32 {
    match compare(a).await {
        Ok(status) => status,
        Err(e) => {
            eprintln!("error: {e}");
            2
        }
    }
}

fn payloads(paths: &[PathBuf]) -> Result<Vec<Value>, String> {
    paths
        .iter()
        .map(|p| {
            let text = std::fs::read(p).map_err(|e| format!("{}: {e}", p.display()))?;
            let event: Value = serde_json::from_slice(&text)
                .map_err(|e| format!("{} is not JSON (Lambda events are): {e}", p.display()))?;
            let name = p.file_name().map_or_else(
                || p.display().to_string(),
                |n| n.to_string_lossy().into_owned(),
            );
            Ok(json!({"name": name, "event": event}))
        })
        .collect()
}

async fn send(req: reqwest::RequestBuilder) -> Result<reqwest::Response, String> {
    let r = req.send().await.map_err(|e| e.to_string())?;
    if r.status().is_success() {
        return Ok(r);
    }
    let text = r.text().await.unwrap_or_default();
    let v: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
    Err(v
        .get("message")
        .or_else(|| v.get("Message"))
        .and_then(Value::as_str)
        .map_or(text.clone(), str::to_string))
}

async fn compare(a: CompareArgs) -> Result<i32, String> {
    let base = a.endpoint.trim_end_matches('/').to_string();
    let mut body = json!({
        "invocations": a.invocations,
        "concurrency": a.concurrency,
        "cold": a.cold,
        "strategy": a.strategy,
        "balancedWeight": a.balanced_weight,
        "monthlyInvocations": a.monthly_invocations,
        "floatTolerance": a.float_tolerance,
    });
    if a.versions.is_empty() {
        body["architectures"] = json!(a.architectures);
        if !a.memory.is_empty() {
            body["memory"] = json!(a.memory);
        }
    } else {
        body["versions"] = json!(a.versions);
    }
    if !a.payloads.is_empty() {
        body["payloads"] = Value::Array(payloads(&a.payloads)?);
    }
    let client = reqwest::Client::new();
    let url = format!("{base}/archfn/v1/functions/{}/comparisons", a.function);
    let job: Value = send(client.post(&url).json(&body))
        .await?
        .json()
        .await
        .map_err(|e| e.to_string())?;
    let id = job["id"].as_str().unwrap_or_default().to_string();
    let bar = std::io::stderr().is_terminal();
    let job = loop {
        let job: Value = send(client.get(format!("{base}/archfn/v1/comparisons/{id}")))
            .await?
            .json()
            .await
            .map_err(|e| e.to_string())?;
        if bar {
            draw(&job);
        }
        if job["status"] != "Running" {
            break job;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    if bar {
        eprintln!();
    }
    if job["status"] == "Failed" {
        let mut message = format!(
            "the comparison failed: {}",
            job["error"].as_str().unwrap_or("")
        );
        for f in job["findings"].as_array().into_iter().flatten() {
            message.push_str(&format!("\n  {}", f.as_str().unwrap_or("")));
        }
        return Err(message);
    }
    let rendered = send(client.get(format!(
        "{base}/archfn/v1/comparisons/{id}/report?format={}",
        a.format
    )))
    .await?
    .text()
    .await
    .map_err(|e| e.to_string())?;
    match &a.output {
        Some(path) => {
            std::fs::write(path, &rendered).map_err(|e| format!("{}: {e}", path.display()))?;
            eprintln!("wrote {}", path.display());
        }
        None => {
            let mut out = std::io::stdout();
            let _ = out.write_all(rendered.as_bytes());
        }
    }
    let equivalent = job["report"]["equivalence"]["equivalent"]
        .as_bool()
        .unwrap_or(false);
    Ok(if equivalent { 0 } else { 1 })
}

/// One line of progress: a bar, counts and the phase.
fn draw(job: &Value) {
    let (done, total) = (
        job["done"].as_u64().unwrap_or(0),
        job["total"].as_u64().unwrap_or(0),
    );
    let width = 30usize;
    let filled = if total == 0 {
        0
    } else {
        (done.min(total) as usize * width) / total as usize
    };
    eprint!(
        "\r[{}{}] {done}/{total} {:<40}",
        "#".repeat(filled),
        " ".repeat(width - filled),
        job["phase"].as_str().unwrap_or("")
    );
    let _ = std::io::stderr().flush();
}
