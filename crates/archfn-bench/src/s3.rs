//! The S3 throughput benchmark: PutObject and GetObject through archfn's S3 against the disk's
//! own rates, measured in the same run on the same file system.
//!
//! The client is plain HTTP (reqwest): a PUT's body is a `Bytes` handed to the connection
//! without a copy, a GET's body is drained chunk by chunk, so the client's own cost is a small
//! part of what is measured. The request carries an `Authorization` header whose credential
//! scope names `s3`, which is how archfn tells S3 requests from Lambda's; archfn's open mode
//! checks no signature, so none is computed.
//!
//! For each object size, each round alternates the two sides (which goes first swaps every
//! round):
//! - write: a new file of the size written whole and fsync'd (the disk), next to a PutObject of
//!   as many bytes (archfn: body streamed to a temporary file while it is hashed with SHA-256 and
//!   MD5, fsync'd, renamed, the directory fsync'd, the object's row committed); and, as a second
//!   floor, the disk doing what any content-addressed store must (a temporary file written and
//!   fsync'd, renamed, the directory fsync'd);
//! - cold read: both files (the disk's, and the object's blob in the server's data directory)
//!   evicted from the page cache (`posix_fadvise(DONTNEED)`, only those files), then the file read
//!   to its end next to a GetObject drained to its end;
//! - warm read: the same again straight after, from the page cache.
//!
//! Every object's content differs (a counter in its first bytes), so none is deduplicated.

use std::io::{Read, Write};
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use bytes::Bytes;
use sha2::Digest as _;

/// Arguments of `archfn-bench s3`.
#[derive(Debug, clap::Args)]
pub struct S3Args {
    /// archfn's endpoint, e.g. http://127.0.0.1:9000 (served in open mode).
    #[arg(long)]
    endpoint: String,
    /// The server's data directory: where the objects' blobs are, to evict them for cold reads.
    #[arg(long)]
    data_dir: PathBuf,
    /// A directory on the same file system as the data directory, for the disk's own files.
    #[arg(long)]
    scratch: PathBuf,
    /// Object sizes, in MiB.
    #[arg(long, value_delimiter = ',', default_value = "1,50")]
    sizes_mib: Vec<usize>,
    /// Rounds per size (one object and one file each).
    #[arg(long, default_value_t = 20)]
    rounds: usize,
    /// Write the figures here as JSON.
    #[arg(long)]
    json_out: Option<PathBuf>,
}

/// What one size measured: MB/s of each operation, per round.
#[derive(Debug, Default)]
struct Figures {
    disk_write: Vec<f64>,
    disk_durable_create: Vec<f64>,
    put: Vec<f64>,
    disk_cold_read: Vec<f64>,
    get_cold: Vec<f64>,
    disk_warm_read: Vec<f64>,
    get_warm: Vec<f64>,
}

fn mb_per_s(bytes: usize, took: Duration) -> f64 {
    bytes as f64 / 1e6 / took.as_secs_f64().max(1e-9)
}

fn median(values: &[f64]) -> f64 {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    match v.len() {
        0 => 0.0,
        n if n % 2 == 1 => v[n / 2],
        n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}

/// The header that routes a request to archfn's S3 (credential scope `…/s3/aws4_request`).
const S3_AUTHORIZATION: &str = "AWS4-HMAC-SHA256 Credential=AKIDBENCH/20261201/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=00";

/// Drops `path`'s pages from the page cache (they are clean: written and fsync'd).
fn evict(path: &Path) -> anyhow::Result<()> {
    let file = std::fs::File::open(path).with_context(|| path.display().to_string())?;
    nix::fcntl::posix_fadvise(
        file.as_fd(),
        0,
        0,
        nix::fcntl::PosixFadviseAdvice::POSIX_FADV_DONTNEED,
    )
    .with_context(|| format!("posix_fadvise {}", path.display()))?;
    Ok(())
}

fn disk_write(path: &Path, data: &[u8]) -> anyhow::Result<Duration> {
    let started = Instant::now();
    let mut file = std::fs::File::create(path)?;
    file.write_all(data)?;
    file.sync_all()?;
    Ok(started.elapsed())
}

/// What a content-addressed store must do to keep a file durably under a name known only once
/// it is written: a temporary file written and fsync'd, renamed, its directory fsync'd.
fn disk_durable_create(dir: &Path, name: &str, data: &[u8]) -> anyhow::Result<Duration> {
    let started = Instant::now();
    let tmp = dir.join(format!("{name}.tmp"));
    let mut file = std::fs::File::create(&tmp)?;
    file.write_all(data)?;
    file.sync_all()?;
    drop(file);
    std::fs::rename(&tmp, dir.join(name))?;
    std::fs::File::open(dir)?.sync_all()?;
    Ok(started.elapsed())
}

fn disk_read(path: &Path, buf: &mut [u8]) -> anyhow::Result<(Duration, usize)> {
    let started = Instant::now();
    let mut file = std::fs::File::open(path)?;
    let mut total = 0;
    loop {
        let n = file.read(buf)?;
        if n == 0 {
            break;
        }
        total += n;
    }
    Ok((started.elapsed(), total))
}

async fn put(client: &reqwest::Client, url: &str, body: Bytes) -> anyhow::Result<Duration> {
    let started = Instant::now();
    let resp = client
        .put(url)
        .header("authorization", S3_AUTHORIZATION)
        .body(body)
        .send()
        .await?;
    let status = resp.status();
    let text = resp.text().await?;
    anyhow::ensure!(status.is_success(), "PUT {url}: {status} {text}");
    Ok(started.elapsed())
}

async fn get(client: &reqwest::Client, url: &str) -> anyhow::Result<(Duration, usize)> {
    let started = Instant::now();
    let mut resp = client
        .get(url)
        .header("authorization", S3_AUTHORIZATION)
        .send()
        .await?;
    anyhow::ensure!(resp.status().is_success(), "GET {url}: {}", resp.status());
    let mut total = 0;
    while let Some(chunk) = resp.chunk().await? {
        total += chunk.len();
    }
    Ok((started.elapsed(), total))
}

/// Runs the benchmark and prints a Markdown table (and JSON with `--json-out`).
pub async fn s3(args: S3Args) -> anyhow::Result<()> {
    let client = reqwest::Client::new();
    let endpoint = args.endpoint.trim_end_matches('/');
    let bucket = format!("{endpoint}/bench-{}", std::process::id());
    let resp = client
        .put(&bucket)
        .header("authorization", S3_AUTHORIZATION)
        .send()
        .await?;
    anyhow::ensure!(
        resp.status().is_success(),
        "CreateBucket: {}",
        resp.status()
    );
    std::fs::create_dir_all(&args.scratch)?;
    let mut rows = Vec::new();
    let mut json = Vec::new();
    let mut read_buf = vec![0u8; 1 << 20];
    for &size_mib in &args.sizes_mib {
        let size = size_mib << 20;
        let mut seed = vec![0u8; size];
        // Incompressible, and cheap to make: a xorshift stream.
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        for chunk in seed.chunks_mut(8) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let bytes = x.to_le_bytes();
            chunk.copy_from_slice(&bytes[..chunk.len()]);
        }
        let mut f = Figures::default();
        for round in 0..args.rounds {
            let mut data = seed.clone();
            data[..8].copy_from_slice(&(round as u64).to_le_bytes());
            data[8..16].copy_from_slice(&(size_mib as u64).to_le_bytes());
            let data = Bytes::from(data);
            let digest = hex::encode(sha2::Sha256::digest(&data));
            let blob = args.data_dir.join("blobs").join(&digest[..2]).join(&digest);
            let file = args.scratch.join(format!("disk-{size_mib}-{round}"));
            let url = format!("{bucket}/obj-{size_mib}-{round}");
            let disk_first = round % 2 == 0;
            if disk_first {
                f.disk_write.push(mb_per_s(size, disk_write(&file, &data)?));
            }
            f.put
                .push(mb_per_s(size, put(&client, &url, data.clone()).await?));
            if !disk_first {
                f.disk_write.push(mb_per_s(size, disk_write(&file, &data)?));
            }
            let durable = format!("durable-{size_mib}-{round}");
            f.disk_durable_create.push(mb_per_s(
                size,
                disk_durable_create(&args.scratch, &durable, &data)?,
            ));
            std::fs::remove_file(args.scratch.join(&durable))?;
            anyhow::ensure!(blob.is_file(), "no blob at {}", blob.display());
            for cold in [true, false] {
                if cold {
                    evict(&file)?;
                    evict(&blob)?;
                }
                let (disk, get_side) = if disk_first {
                    let d = disk_read(&file, &mut read_buf)?;
                    (d, get(&client, &url).await?)
                } else {
                    let g = get(&client, &url).await?;
                    (disk_read(&file, &mut read_buf)?, g)
                };
                anyhow::ensure!(disk.1 == size && get_side.1 == size, "short read");
                let (d, g) = (mb_per_s(size, disk.0), mb_per_s(size, get_side.0));
                if cold {
                    f.disk_cold_read.push(d);
                    f.get_cold.push(g);
                } else {
                    f.disk_warm_read.push(d);
                    f.get_warm.push(g);
                }
            }
            std::fs::remove_file(&file)?;
            client
                .delete(&url)
                .header("authorization", S3_AUTHORIZATION)
                .send()
                .await?;
        }
        let pairs = [
            ("write (fsync'd) / PutObject", &f.disk_write, &f.put),
            (
                "write, fsync, rename, directory fsync / PutObject",
                &f.disk_durable_create,
                &f.put,
            ),
            (
                "read, cold / GetObject, cold",
                &f.disk_cold_read,
                &f.get_cold,
            ),
            (
                "read, page cache / GetObject, page cache",
                &f.disk_warm_read,
                &f.get_warm,
            ),
        ];
        for (what, disk, archfn) in pairs {
            let (d, a) = (median(disk), median(archfn));
            rows.push(format!(
                "| {size_mib} MiB | {what} | {d:.0} | {a:.0} | {:.2}x |",
                d / a.max(1e-9)
            ));
            json.push(serde_json::json!({
                "size_mib": size_mib, "operation": what, "rounds": args.rounds,
                "disk_mb_s": d, "archfn_mb_s": a, "disk_over_archfn": d / a.max(1e-9),
            }));
        }
        eprintln!("{size_mib} MiB done");
    }
    println!("| size | disk / archfn | disk MB/s | archfn MB/s | disk ÷ archfn |");
    println!("|---|---|---|---|---|");
    for r in rows {
        println!("{r}");
    }
    if let Some(out) = args.json_out {
        std::fs::write(out, serde_json::to_string_pretty(&json)?)?;
    }
    Ok(())
}
