//! The scan benchmark: `archfn scan` on a large package next to the floor of decompressing it
//! once (`unzip -tq`), each run in a fresh process whose wall time and peak memory (the
//! child's `ru_maxrss`) are measured by a `measure` child of this binary.

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Instant;

use anyhow::Context as _;

/// Arguments of `archfn-bench scan`.
#[derive(Debug, clap::Args)]
pub struct ScanArgs {
    /// The package (a zip).
    #[arg(long)]
    package: PathBuf,
    /// The archfn binary.
    #[arg(long, default_value = "target/release/archfn")]
    archfn: PathBuf,
    /// Runs of each command.
    #[arg(long, default_value_t = 5)]
    runs: usize,
    /// Write the figures here as JSON.
    #[arg(long)]
    out: Option<PathBuf>,
}

/// Arguments of `archfn-bench measure` (used by `scan` on itself).
#[derive(Debug, clap::Args)]
pub struct MeasureArgs {
    /// The command.
    #[arg(last = true, required = true)]
    command: Vec<String>,
}

/// Runs one command and prints `{"wall_ms":…, "max_rss_kb":…, "status":…}`.
pub fn measure(args: MeasureArgs) -> anyhow::Result<()> {
    let started = Instant::now();
    let status = Command::new(&args.command[0])
        .args(&args.command[1..])
        .stdout(Stdio::null())
        .status()
        .with_context(|| format!("starting {:?}", args.command))?;
    let wall_ms = started.elapsed().as_secs_f64() * 1000.0;
    let usage = nix::sys::resource::getrusage(nix::sys::resource::UsageWho::RUSAGE_CHILDREN)?;
    println!(
        "{}",
        serde_json::json!({"wall_ms": wall_ms, "max_rss_kb": usage.max_rss(), "status": status.code()})
    );
    Ok(())
}

struct Figures {
    label: String,
    wall_ms: Vec<f64>,
    max_rss_kb: i64,
}

impl Figures {
    fn median(&self) -> f64 {
        let mut v = self.wall_ms.clone();
        v.sort_by(f64::total_cmp);
        v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
    }
}

fn run(label: &str, command: &[String], runs: usize, ok: &[i32]) -> anyhow::Result<Figures> {
    let me = std::env::current_exe()?;
    let mut f = Figures {
        label: label.to_string(),
        wall_ms: Vec::new(),
        max_rss_kb: 0,
    };
    for i in 0..runs {
        let out = Command::new(&me)
            .arg("measure")
            .arg("--")
            .args(command)
            .output()?;
        anyhow::ensure!(
            out.status.success(),
            "measure failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let v: serde_json::Value = serde_json::from_slice(&out.stdout)?;
        let status = v["status"].as_i64().unwrap_or(-1);
        anyhow::ensure!(
            ok.iter().any(|c| i64::from(*c) == status),
            "{command:?} exited {status}"
        );
        let wall = v["wall_ms"].as_f64().unwrap_or(f64::NAN);
        eprintln!("[{label}] run {}/{runs}: {wall:.0} ms", i + 1);
        f.wall_ms.push(wall);
        f.max_rss_kb = f.max_rss_kb.max(v["max_rss_kb"].as_i64().unwrap_or(0));
    }
    Ok(f)
}

/// Measures archfn scan (all readers, one reader) and unzip -tq on the same package.
pub fn scan(args: ScanArgs) -> anyhow::Result<()> {
    let pkg = args.package.display().to_string();
    let archfn = args.archfn.display().to_string();
    let unzipped: u64 = {
        let f = std::fs::File::open(&args.package)?;
        let mut z = zip::ZipArchive::new(f)?;
        (0..z.len())
            .filter_map(|i| z.by_index_raw(i).ok().map(|e| e.size()))
            .sum()
    };
    let zipped = std::fs::metadata(&args.package)?.len();
    eprintln!(
        "package: {} MB zipped, {} MB unzipped",
        zipped / 1_000_000,
        unzipped / 1_000_000
    );
    let scan_cmd = |jobs: &str| -> Vec<String> {
        [&archfn, "scan", "--format", "json", "--jobs", jobs, &pkg]
            .iter()
            .map(|s| s.to_string())
            .collect()
    };
    let floor = run(
        "unzip -tq (floor)",
        &["unzip".into(), "-tq".into(), pkg.clone()],
        args.runs,
        &[0],
    )?;
    let all = run("archfn scan", &scan_cmd("0"), args.runs, &[0, 1])?;
    let one = run("archfn scan --jobs 1", &scan_cmd("1"), args.runs, &[0, 1])?;
    println!("| command | median wall | peak RSS | vs floor |");
    println!("|---|---|---|---|");
    let mut rows = Vec::new();
    for f in [&floor, &all, &one] {
        let ratio = f.median() / floor.median();
        println!(
            "| {} | {:.0} ms | {:.1} MB | {ratio:.2}x |",
            f.label,
            f.median(),
            f.max_rss_kb as f64 / 1024.0
        );
        rows.push(serde_json::json!({
            "label": f.label, "median_ms": f.median(), "runs_ms": f.wall_ms,
            "peak_rss_mb": f.max_rss_kb as f64 / 1024.0, "ratio_to_floor": ratio,
        }));
    }
    if let Some(out) = args.out {
        let doc = serde_json::json!({"package_zipped_bytes": zipped, "package_unzipped_bytes": unzipped, "results": rows});
        std::fs::write(&out, serde_json::to_string_pretty(&doc)?)?;
    }
    Ok(())
}
