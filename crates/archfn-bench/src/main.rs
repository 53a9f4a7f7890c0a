//! `archfn-bench`: control-plane throughput of a Lambda endpoint (archfn, or a peer such as moto),
//! measured with the same client (aws-sdk-lambda) for every target.
//!
//! Operations: CreateFunction with a small zip, GetFunction, and ListFunctions over 1,000
//! functions (every page, with the server's default page size), each at concurrency 1 and 8.

use std::collections::HashMap;
use std::io::Write;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use aws_sdk_lambda::Client;
use aws_sdk_lambda::primitives::Blob;
use aws_sdk_lambda::types::{FunctionCode, Runtime};
use clap::Parser;

mod s3;
mod scan;

#[derive(Debug, Parser)]
#[command(about = "archfn benchmarks: control plane, warm invokes, cold starts, floors")]
enum Bench {
    /// Control-plane throughput (CreateFunction, GetFunction, ListFunctions).
    Control(Args),
    /// Warm invoke latency and throughput over plain HTTP (any Lambda Invoke endpoint).
    Warm(WarmArgs),
    /// Cold starts: a configuration change forces a new environment before each invoke; with
    /// `--floor-label … -- CMD`, each alternates with a run of the floor command.
    Cold(ColdArgs),
    /// `archfn scan` on a large package next to `unzip -tq` of it: wall time and peak memory.
    Scan(scan::ScanArgs),
    /// Runs one command, printing its wall time and peak memory as JSON (used by `scan`).
    Measure(scan::MeasureArgs),
    /// PutObject and GetObject through archfn's S3 next to the disk's own write (fsync'd) and
    /// read rates, on the same file system.
    S3(s3::S3Args),
}

#[derive(Debug, clap::Args)]
struct WarmArgs {
    /// Invoke URL, e.g. http://127.0.0.1:9001/2015-03-31/functions/f/invocations.
    #[arg(long)]
    url: String,
    /// Name of the measurement.
    #[arg(long)]
    label: String,
    /// Invocations per concurrency level.
    #[arg(long, default_value_t = 2000)]
    ops: usize,
    /// Concurrency levels.
    #[arg(long, value_delimiter = ',', default_value = "1,4")]
    concurrency: Vec<usize>,
    /// Also measure the CPU time of the processes named COMM (as in /proc/PID/comm), per
    /// invocation, reported as NAME; e.g. `--cpu server=archfn --cpu function=bootstrap`.
    #[arg(long, value_parser = parse_cpu_arg)]
    cpu: Vec<(String, String)>,
    /// Append JSON lines here.
    #[arg(long)]
    json_out: Option<std::path::PathBuf>,
}

fn parse_cpu_arg(s: &str) -> Result<(String, String), String> {
    s.split_once('=')
        .map(|(n, c)| (n.to_string(), c.to_string()))
        .ok_or_else(|| format!("expected NAME=COMM, got {s:?}"))
}

/// CPU time (user + system), in clock ticks, of each running process whose comm is `comm`.
fn cpu_ticks(comm: &str) -> HashMap<u32, u64> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return HashMap::new();
    };
    dir.flatten()
        .filter_map(|e| {
            let pid: u32 = e.file_name().to_str()?.parse().ok()?;
            let stat = std::fs::read_to_string(e.path().join("stat")).ok()?;
            let (head, tail) = stat.rsplit_once(')')?;
            if head.split_once('(')?.1 != comm {
                return None;
            }
            // After the comm: state is field 3; utime and stime are fields 14 and 15.
            let f: Vec<&str> = tail.split_whitespace().collect();
            Some((
                pid,
                f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?,
            ))
        })
        .collect()
}

/// Ticks used between two snapshots: by processes in both, and all of a process new in the
/// second (one that ended in between is not counted).
fn ticks_between(before: &HashMap<u32, u64>, after: &HashMap<u32, u64>) -> u64 {
    after
        .iter()
        .map(|(pid, t)| t.saturating_sub(before.get(pid).copied().unwrap_or(0)))
        .sum()
}

fn ticks_per_second() -> f64 {
    nix::unistd::sysconf(nix::unistd::SysconfVar::CLK_TCK)
        .ok()
        .flatten()
        .map_or(100.0, |t| t as f64)
}

#[derive(Debug, clap::Args)]
struct ColdArgs {
    /// The archfn endpoint.
    #[arg(long)]
    endpoint: String,
    /// Function to cold-start.
    #[arg(long)]
    function: String,
    /// Name of the measurement.
    #[arg(long)]
    label: String,
    /// Cold starts to measure.
    #[arg(long, default_value_t = 10)]
    rounds: usize,
    /// Append JSON lines here.
    #[arg(long)]
    json_out: Option<std::path::PathBuf>,
    /// Name of the floor measurement: with it, the command after `--` runs once after each cold
    /// start, so that both see the machine in the same state and their ratio is not skewed by
    /// what else the machine did while one of them ran.
    #[arg(long, requires = "floor_command")]
    floor_label: Option<String>,
    /// The floor command (after `--`).
    #[arg(last = true)]
    floor_command: Vec<String>,
}

#[derive(Debug, clap::Args)]
struct Args {
    /// The Lambda endpoint, e.g. http://127.0.0.1:9001; several, comma-separated, for nodes
    /// sharing one database: operation `i` goes to endpoint `i` modulo their number.
    #[arg(long, value_delimiter = ',', required = true)]
    endpoint: Vec<String>,
    /// Name of the target in the output.
    #[arg(long)]
    label: String,
    /// Execution role ARN for CreateFunction.
    #[arg(long, default_value = "arn:aws:iam::123456789012:role/bench")]
    role: String,
    /// Operations per CreateFunction / GetFunction measurement (at most 500: the two
    /// CreateFunction runs must leave room for exactly 1,000 functions to list).
    #[arg(long, default_value_t = 500)]
    ops: usize,
    /// Full listings of 1,000 functions per ListFunctions measurement.
    #[arg(long, default_value_t = 20)]
    listings: usize,
    /// Append one JSON object per measurement to this file.
    #[arg(long)]
    json_out: Option<std::path::PathBuf>,
}

struct Measurement {
    op: &'static str,
    concurrency: usize,
    ops: usize,
    elapsed: Duration,
    latencies_ms: Vec<f64>,
    /// CPU microseconds per operation of named process groups (`warm --cpu`).
    cpu_us: Vec<(String, f64)>,
}

impl Measurement {
    fn per_second(&self) -> f64 {
        self.ops as f64 / self.elapsed.as_secs_f64()
    }

    fn percentile(&self, p: f64) -> f64 {
        let mut v = self.latencies_ms.clone();
        v.sort_by(f64::total_cmp);
        v.get(((v.len() as f64 - 1.0) * p).round() as usize)
            .copied()
            .unwrap_or(0.0)
    }
}

/// aws-sdk-lambda pointed at `endpoint`, with throwaway credentials.
async fn sdk_client(endpoint: &str) -> Client {
    let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .endpoint_url(endpoint)
        .region(aws_config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_lambda::config::Credentials::new(
            "AKIDBENCH",
            "bench",
            None,
            None,
            "bench",
        ))
        .load()
        .await;
    Client::new(&config)
}

fn small_zip() -> anyhow::Result<Vec<u8>> {
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    w.start_file(
        "lambda_function.py",
        zip::write::SimpleFileOptions::default(),
    )?;
    w.write_all(b"def handler(event, context):\n    return event\n")?;
    Ok(w.finish()?.into_inner())
}

async fn create(client: &Client, role: &str, name: &str, zip: &[u8]) -> anyhow::Result<()> {
    client
        .create_function()
        .function_name(name)
        .runtime(Runtime::Python312)
        .role(role)
        .handler("lambda_function.handler")
        .code(
            FunctionCode::builder()
                .zip_file(Blob::new(zip.to_vec()))
                .build(),
        )
        .send()
        .await
        .with_context(|| format!("CreateFunction {name}"))?;
    Ok(())
}

/// Lists every function, `page_size` per request (`None`: the server's default page).
async fn list_all(client: &Client, page_size: Option<i32>) -> anyhow::Result<usize> {
    let mut n = 0;
    let mut marker: Option<String> = None;
    loop {
        let page = client
            .list_functions()
            .set_marker(marker.clone())
            .set_max_items(page_size)
            .send()
            .await?;
        n += page.functions().len();
        marker = page.next_marker().map(str::to_string);
        if marker.is_none() {
            return Ok(n);
        }
    }
}

/// Runs `ops` operations over `concurrency` tasks; `op(i)` performs operation number `i`.
async fn measure<F, Fut>(
    op_name: &'static str,
    concurrency: usize,
    ops: usize,
    op: F,
) -> anyhow::Result<Measurement>
where
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = anyhow::Result<()>> + Send,
{
    let op = Arc::new(op);
    let next = Arc::new(AtomicUsize::new(0));
    let start = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..concurrency {
        let (op, next) = (op.clone(), next.clone());
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= ops {
                    return Ok::<_, anyhow::Error>(lat);
                }
                let t = Instant::now();
                op(i).await?;
                lat.push(t.elapsed().as_secs_f64() * 1000.0);
            }
        }));
    }
    let mut latencies_ms = Vec::with_capacity(ops);
    for t in tasks {
        latencies_ms.extend(t.await??);
    }
    Ok(Measurement {
        op: op_name,
        concurrency,
        ops,
        elapsed: start.elapsed(),
        latencies_ms,
        cpu_us: Vec::new(),
    })
}

fn print_and_save(
    label: &str,
    results: &[Measurement],
    json_out: Option<&std::path::Path>,
) -> anyhow::Result<()> {
    println!("| target | operation | concurrency | ops | ops/s | p50 ms | p99 ms |");
    println!("|---|---|---|---|---|---|---|");
    let mut json = String::new();
    for m in results {
        println!(
            "| {label} | {} | {} | {} | {:.1} | {:.2} | {:.2} |",
            m.op,
            m.concurrency,
            m.ops,
            m.per_second(),
            m.percentile(0.5),
            m.percentile(0.99)
        );
        json.push_str(
            &serde_json::json!({
                "target": label, "op": m.op, "concurrency": m.concurrency, "ops": m.ops,
                "ops_per_s": m.per_second(), "p50_ms": m.percentile(0.5), "p99_ms": m.percentile(0.99),
                "mean_ms": m.latencies_ms.iter().sum::<f64>() / m.latencies_ms.len().max(1) as f64,
                "cpu_us_per_op": m.cpu_us.iter().map(|(k, v)| (k.clone(), serde_json::json!(v))).collect::<serde_json::Map<String, serde_json::Value>>(),
            })
            .to_string(),
        );
        json.push('\n');
    }
    if let Some(path) = json_out {
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)?
            .write_all(json.as_bytes())?;
    }
    Ok(())
}

async fn warm(args: WarmArgs) -> anyhow::Result<()> {
    let http = reqwest::Client::new();
    // One request first so that the measured ones all find a warm environment.
    http.post(&args.url)
        .body("{}")
        .send()
        .await?
        .bytes()
        .await?;
    let mut results = Vec::new();
    for &c in &args.concurrency {
        let (http, url) = (http.clone(), args.url.clone());
        let before: Vec<HashMap<u32, u64>> =
            args.cpu.iter().map(|(_, comm)| cpu_ticks(comm)).collect();
        let mut m = measure("Invoke (warm)", c, args.ops, move |_| {
            let (http, url) = (http.clone(), url.clone());
            async move {
                let resp = http.post(&url).body(r#"{"bench":true}"#).send().await?;
                anyhow::ensure!(resp.status().is_success(), "{}", resp.status());
                anyhow::ensure!(
                    resp.headers().get("x-amz-function-error").is_none(),
                    "function error"
                );
                resp.bytes().await?;
                Ok(())
            }
        })
        .await?;
        let tick_us = 1e6 / ticks_per_second();
        m.cpu_us = args
            .cpu
            .iter()
            .zip(before)
            .map(|((name, comm), b)| {
                let used = ticks_between(&b, &cpu_ticks(comm)) as f64 * tick_us;
                (name.clone(), used / args.ops as f64)
            })
            .collect();
        eprintln!(
            "[{}] warm c={c}: {:.0}/s p50 {:.2} ms cpu µs/invoke {:?}",
            args.label,
            m.per_second(),
            m.percentile(0.5),
            m.cpu_us
        );
        results.push(m);
    }
    print_and_save(&args.label, &results, args.json_out.as_deref())
}

async fn cold(args: ColdArgs) -> anyhow::Result<()> {
    let client = sdk_client(&args.endpoint).await;
    let http = reqwest::Client::new();
    let url = format!(
        "{}/2015-03-31/functions/{}/invocations",
        args.endpoint, args.function
    );
    let mut latencies_ms = Vec::new();
    let mut busy = Duration::ZERO;
    let (mut floor_ms, mut floor_busy) = (Vec::new(), Duration::ZERO);
    for round in 0..args.rounds {
        // A new RevisionId means a new pool: the next invoke starts a new environment.
        client
            .update_function_configuration()
            .function_name(&args.function)
            .description(format!("cold {round}"))
            .send()
            .await?;
        loop {
            let c = client
                .get_function_configuration()
                .function_name(&args.function)
                .send()
                .await?;
            if c.last_update_status().map(|s| s.as_str()) == Some("Successful") {
                break;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let t = Instant::now();
        let resp = http.post(&url).body("{}").send().await?;
        anyhow::ensure!(
            resp.headers().get("x-amz-function-error").is_none(),
            "function error on cold start"
        );
        resp.bytes().await?;
        busy += t.elapsed();
        latencies_ms.push(t.elapsed().as_secs_f64() * 1000.0);
        eprintln!(
            "[{}] cold start {}: {:.1} ms",
            args.label,
            round + 1,
            latencies_ms[round]
        );
        if args.floor_label.is_some() {
            let took = run_floor_once(&args.floor_command)?;
            floor_busy += took;
            floor_ms.push(took.as_secs_f64() * 1000.0);
        }
    }
    let m = Measurement {
        op: "Invoke (cold)",
        concurrency: 1,
        ops: args.rounds,
        elapsed: busy,
        latencies_ms,
        cpu_us: Vec::new(),
    };
    print_and_save(&args.label, &[m], args.json_out.as_deref())?;
    if let Some(label) = &args.floor_label {
        let f = Measurement {
            op: "floor",
            concurrency: 1,
            ops: args.rounds,
            elapsed: floor_busy,
            latencies_ms: floor_ms,
            cpu_us: Vec::new(),
        };
        print_and_save(label, &[f], args.json_out.as_deref())?;
    }
    Ok(())
}

/// Runs `command` once, to its end, and returns how long it took.
fn run_floor_once(command: &[String]) -> anyhow::Result<Duration> {
    let Some((program, args)) = command.split_first() else {
        anyhow::bail!("no floor command");
    };
    let t = Instant::now();
    let status = std::process::Command::new(program)
        .args(args)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()?;
    anyhow::ensure!(status.success(), "{command:?} failed: {status}");
    Ok(t.elapsed())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = match Bench::parse() {
        Bench::Control(a) => a,
        Bench::Warm(a) => return warm(a).await,
        Bench::Cold(a) => return cold(a).await,
        Bench::Scan(a) => return scan::scan(a),
        Bench::Measure(a) => return scan::measure(a),
        Bench::S3(a) => return s3::s3(a).await,
    };
    let mut clients = Vec::new();
    for endpoint in &args.endpoint {
        clients.push(sdk_client(endpoint).await);
    }
    let clients = Arc::new(clients);
    let client = clients[0].clone();
    let zip = Arc::new(small_zip()?);
    let role = Arc::new(args.role.clone());
    let mut results = Vec::new();
    let mut created = 0usize;

    for &c in &[1usize, 8] {
        let (cls, z, r) = (clients.clone(), zip.clone(), role.clone());
        let m = measure("CreateFunction", c, args.ops, move |i| {
            let (cl, z, r) = (cls[i % cls.len()].clone(), z.clone(), r.clone());
            async move { create(&cl, &r, &format!("bench-c{c}-{i:05}"), &z).await }
        })
        .await?;
        created += args.ops;
        eprintln!(
            "[{}] CreateFunction c={c}: {:.0}/s",
            args.label,
            m.per_second()
        );
        results.push(m);
    }
    for &c in &[1usize, 8] {
        let (cls, ops) = (clients.clone(), args.ops);
        let m = measure("GetFunction", c, args.ops, move |i| {
            // Another node than the one that created it, when there are several.
            let cl = cls[(i + 1) % cls.len()].clone();
            async move {
                cl.get_function()
                    .function_name(format!("bench-c1-{:05}", i % ops))
                    .send()
                    .await?;
                Ok(())
            }
        })
        .await?;
        eprintln!(
            "[{}] GetFunction c={c}: {:.0}/s",
            args.label,
            m.per_second()
        );
        results.push(m);
    }
    // Top up to exactly 1,000 functions for the listing measurements.
    if created > 1000 {
        anyhow::bail!(
            "--ops above 500 makes more than 1,000 functions; ListFunctions is measured over exactly 1,000"
        );
    }
    for i in created..1000 {
        create(&client, &role, &format!("bench-fill-{i:05}"), &zip).await?;
    }
    let total = list_all(&client, None).await?;
    anyhow::ensure!(total == 1000, "expected 1000 functions, listed {total}");
    for (op, page_size) in [
        ("ListFunctions 1000, default pages", None),
        ("ListFunctions 1000, MaxItems=1000", Some(1000)),
    ] {
        for &c in &[1usize, 8] {
            let cl = client.clone();
            let m = measure(op, c, args.listings, move |_| {
                let cl = cl.clone();
                async move {
                    let n = list_all(&cl, page_size).await?;
                    anyhow::ensure!(n == 1000, "listed {n}");
                    Ok(())
                }
            })
            .await?;
            eprintln!(
                "[{}] {op} c={c}: {:.1} listings/s",
                args.label,
                m.per_second()
            );
            results.push(m);
        }
    }

    // The same reads over plain HTTP, without the SDK's parsing: what the server itself sustains.
    let http = reqwest::Client::new();
    for (op, path) in [
        (
            "GetFunction, raw HTTP",
            "/2015-03-31/functions/bench-c1-00000",
        ),
        (
            "ListFunctions MaxItems=1000, raw HTTP",
            "/2015-03-31/functions?MaxItems=1000",
        ),
    ] {
        for &c in &[1usize, 8] {
            let urls: Arc<Vec<String>> =
                Arc::new(args.endpoint.iter().map(|e| format!("{e}{path}")).collect());
            let http = http.clone();
            let n = if op.starts_with("Get") {
                args.ops
            } else {
                args.listings * 5
            };
            let m = measure(op, c, n, move |i| {
                let (http, url) = (http.clone(), urls[i % urls.len()].clone());
                async move {
                    // Unsigned, but with a credential scope, so both servers pick the same region.
                    let resp = http
                        .get(&url)
                        .header(
                            "authorization",
                            "AWS4-HMAC-SHA256 Credential=AKIDBENCH/20260101/us-east-1/lambda/aws4_request, SignedHeaders=host, Signature=0",
                        )
                        .send()
                        .await?;
                    anyhow::ensure!(resp.status().is_success(), "{url}: {}", resp.status());
                    resp.bytes().await?;
                    Ok(())
                }
            })
            .await?;
            eprintln!("[{}] {op} c={c}: {:.1}/s", args.label, m.per_second());
            results.push(m);
        }
    }

    print_and_save(&args.label, &results, args.json_out.as_deref())
}
