//! The `archfn` binary: `archfn serve` runs the Lambda-compatible API.
//!
//! The only crate that reads configuration, installs tracing or wires backends together.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context as _;
use archfn_api::{AppState, AuthMode, Credentials};
use archfn_blob::FsBlobStore;
use archfn_control::image::{FsImageCatalog, ImageCatalog};
use archfn_control::{Control, ControlConfig};
use archfn_sandbox::netns::FunctionNetwork;
use archfn_store::{CachedStore, SqliteStore};
use clap::{Parser, Subcommand, ValueEnum};

mod cfn_shifts;
mod cluster;
mod compare;
mod events;
mod gc;
mod listen;
mod logs_cli;
mod metrics;
mod provisioned;
mod sam_transform;
mod shift;

/// Serving JSON is allocation-heavy; mimalloc halves the time glibc's allocator takes here.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Debug, Parser)]
#[command(
    name = "archfn",
    version,
    about = "Self-hosted AWS Lambda, on x86_64 and arm64"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// What `archfn serve` does among several nodes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum RoleArg {
    /// Serves the API and runs invocations (one node alone, or a front node).
    All,
    /// Also joins a capacity provider: other nodes forward its functions' invocations here.
    Worker,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum AuthArg {
    /// Accept any request; a SigV4 header only selects the region.
    None,
    /// Verify SigV4 signatures against a credentials file.
    Sigv4,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve the Lambda REST API.
    Serve {
        /// Address to listen on.
        #[arg(long, env = "ARCHFN_LISTEN", default_value = "127.0.0.1:9001")]
        listen: SocketAddr,
        /// The URL clients reach this server at (`http://lambda.example:9001`): GetFunction's
        /// `Code.Location` and layers' `Content.Location` point there. Default: `http://` and
        /// the listen address (127.0.0.1 in place of an unspecified address).
        #[arg(long, env = "ARCHFN_PUBLIC_URL")]
        public_url: Option<String>,
        /// Connections served at once; past it, new connections wait in the kernel's backlog.
        #[arg(long, env = "ARCHFN_MAX_CONNECTIONS", default_value_t = 2048)]
        max_connections: usize,
        /// Seconds a client has to send a request's headers, and that an idle keep-alive
        /// connection is kept open.
        #[arg(long, env = "ARCHFN_HEADER_TIMEOUT", default_value_t = 10)]
        header_timeout: u64,
        /// Memory, MB, that the bodies of all requests being read may hold together; a request
        /// past it is throttled with Lambda's 429.
        #[arg(long, env = "ARCHFN_MAX_BODY_MEMORY", default_value_t = 1024)]
        max_body_memory: usize,
        /// Directory for all state (SQLite database, blobs, prepared code).
        #[arg(long, env = "ARCHFN_DATA_DIR", default_value = "./.archfn")]
        data_dir: PathBuf,
        /// Where metadata is kept: `sqlite` (`<data-dir>/archfn.db`, one process) or
        /// `postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE`, a PostgreSQL database that several
        /// nodes share (its tables are created or migrated at start).
        #[arg(long, env = "ARCHFN_STORE", default_value = "sqlite")]
        store: String,
        /// Connections to PostgreSQL this node keeps at most (`--store postgres://…`).
        #[arg(long, env = "ARCHFN_STORE_POOL_SIZE", default_value_t = archfn_store::PG_DEFAULT_POOL_SIZE)]
        store_pool_size: u32,
        /// Where code zips, layers and image blobs are kept: `file` (under the data directory)
        /// or `s3://BUCKET[/PREFIX][?endpoint=URL&region=REGION]`, a bucket of an
        /// S3-compatible object store that several nodes share, signed with
        /// AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY (/ AWS_SESSION_TOKEN).
        #[arg(long, env = "ARCHFN_BLOBS", default_value = "file")]
        blobs: String,
        /// Authentication of API requests.
        #[arg(long, env = "ARCHFN_AUTH", value_enum, default_value = "none")]
        auth: AuthArg,
        /// AWS shared credentials file with the keys `--auth sigv4` accepts.
        #[arg(long, env = "ARCHFN_CREDENTIALS_FILE")]
        credentials_file: Option<PathBuf>,
        /// Account id in ARNs.
        #[arg(long, env = "ARCHFN_ACCOUNT_ID", default_value = "000000000000")]
        account_id: String,
        /// Region of unsigned requests.
        #[arg(long, env = "ARCHFN_DEFAULT_REGION", default_value = "us-east-1")]
        default_region: String,
        /// Judge runtime deprecation at this date (YYYY-MM-DD) instead of today.
        #[arg(long, env = "ARCHFN_RUNTIME_POLICY_DATE")]
        runtime_policy_date: Option<String>,
        /// Where installed runtimes are (default: <data-dir>/runtimes).
        #[arg(long, env = "ARCHFN_RUNTIMES_DIR")]
        runtimes_dir: Option<PathBuf>,
        /// The account's concurrency quota per region (GetAccountSettings' ConcurrentExecutions):
        /// synchronous invocations over it are throttled as Lambda throttles them.
        #[arg(long, env = "ARCHFN_ACCOUNT_CONCURRENCY", default_value_t = 1000)]
        account_concurrency: u32,
        /// Seconds an idle execution environment is kept warm.
        #[arg(long, env = "ARCHFN_IDLE_TIMEOUT", default_value_t = 300)]
        idle_timeout: u64,
        /// Seconds before the first retry of a failed asynchronous invocation (doubled for the
        /// second); Lambda waits about a minute.
        #[arg(long, env = "ARCHFN_ASYNC_RETRY_DELAY", default_value_t = 60)]
        async_retry_delay: u64,
        /// Seconds between garbage collections of stored code (archives, unpacked code, merged
        /// layers, unpacked images) that no function version or layer version references; one
        /// also runs at start and shortly after DeleteFunction and DeleteLayerVersion.
        #[arg(long, env = "ARCHFN_GC_INTERVAL", default_value_t = 60)]
        gc_interval: u64,
        /// Seconds stored code must be old before garbage collection may remove it, so that code
        /// stored for a request still in flight is never taken.
        #[arg(long, env = "ARCHFN_GC_GRACE", default_value_t = 300)]
        gc_grace: u64,
        /// Seconds a code download URL (GetFunction's Code.Location, GetLayerVersion's
        /// Content.Location) lasts; Lambda's presigned URLs last 10 minutes.
        #[arg(long, env = "ARCHFN_CODE_URL_TTL", default_value_t = 600)]
        code_url_ttl: u64,
        /// What functions' networks reach: `outbound` (the internet, as a Lambda function
        /// outside a VPC; never the host, its loopback or private ranges; needs pasta from the
        /// passt package) or `none` (loopback only).
        #[arg(long, env = "ARCHFN_FUNCTION_NETWORK", default_value = "outbound")]
        function_network: FunctionNetwork,
        /// First host uid (and gid) of the range of 65,536 that execution environments run
        /// under, one per environment; none of them may belong to anybody else on the host.
        #[arg(long, env = "ARCHFN_SANDBOX_UID_BASE", default_value_t = archfn_sandbox::identity::DEFAULT_BASE)]
        sandbox_uid_base: u32,
        /// Memory, MB, that all execution environments together may hold (the sum of their
        /// MemorySize); a cold start past it, once idle environments are ended, is throttled.
        /// Default: three quarters of the host's memory.
        #[arg(long, env = "ARCHFN_MAX_ENVIRONMENT_MEMORY")]
        max_environment_memory: Option<u64>,
        /// Processes and threads that all execution environments together may have.
        #[arg(long, env = "ARCHFN_MAX_ENVIRONMENT_PIDS", default_value_t = 32_768)]
        max_environment_pids: u32,
        /// CPU of an environment: `lambda` (in proportion to MemorySize, 1,769 MB a core, as
        /// Lambda allocates it) or `off` (unlimited).
        #[arg(long, env = "ARCHFN_CPU_LIMIT", value_enum, default_value = "lambda")]
        cpu_limit: CpuLimitArg,
        /// With `--cpu-limit lambda`, what an emulated environment's share is multiplied by,
        /// for the host instructions QEMU spends per guest instruction.
        #[arg(long, env = "ARCHFN_EMULATION_CPU_FACTOR", default_value_t = 8)]
        emulation_cpu_factor: u32,
        /// Days per-minute invocation metrics are kept (`archfn metrics`).
        #[arg(long, env = "ARCHFN_METRICS_RETENTION_DAYS", default_value_t = 14)]
        metrics_retention_days: u32,
        /// A price file to use instead of the embedded one (the format of
        /// `crates/archfn-pricing/data/lambda-prices.json`), for traffic shifts' and
        /// comparisons' costs.
        #[arg(long, env = "ARCHFN_PRICES")]
        prices: Option<PathBuf>,
        /// The Python interpreter whose pip fetches wheels when a comparison rebuilds a
        /// package for the other architecture.
        #[arg(long, env = "ARCHFN_PYTHON", default_value = "python3")]
        python: String,
        /// The npm command, for the same.
        #[arg(long, env = "ARCHFN_NPM", default_value = "npm")]
        npm: String,
        /// Record invocation metrics: `on`, or `off` only to measure what recording costs
        /// (no `archfn metrics`, and traffic shifts see no traffic).
        #[arg(
            long,
            env = "ARCHFN_INVOCATION_METRICS",
            value_enum,
            default_value = "on"
        )]
        invocation_metrics: Toggle,
        /// Do not serve the web console at `/console` (under `--auth sigv4` it asks for a key of
        /// the credentials file).
        #[arg(long, env = "ARCHFN_NO_CONSOLE")]
        no_console: bool,
        /// Every interval of CodeDeploy's predefined deployment configurations times this, in
        /// traffic shifts (`archfn shift`, and SAM's `DeploymentPreference` through
        /// CloudFormation): for tests, 0.02 holds Canary10Percent5Minutes's 10% for 6 s.
        #[arg(long, env = "ARCHFN_DEPLOY_TIME_SCALE", default_value_t = 1.0, value_parser = parse_time_scale)]
        deploy_time_scale: f64,
        /// `worker` joins the capacity provider `--capacity-provider` (its architecture must be
        /// the host's), and other nodes forward its functions' invocations here.
        #[arg(long, env = "ARCHFN_ROLE", value_enum, default_value = "all")]
        role: RoleArg,
        /// The capacity provider (name or ARN) a worker joins.
        #[arg(long, env = "ARCHFN_CAPACITY_PROVIDER")]
        capacity_provider: Option<String>,
        /// The URL other nodes reach this one at (default: the public URL).
        #[arg(long, env = "ARCHFN_ADVERTISE")]
        advertise: Option<String>,
        /// The secret nodes share: with it this node heartbeats, forwards invocations to
        /// workers, and serves the node-to-node route to nodes that present it.
        #[arg(long, env = "ARCHFN_CLUSTER_SECRET", hide_env_values = true)]
        cluster_secret: Option<String>,
        /// Lets a worker join a capacity provider of the other architecture: its functions then
        /// run here under QEMU emulation, and every invocation says `emulated` (a pool kept
        /// apart on hosts of the other ISA; tests on a host of one ISA).
        #[arg(long, env = "ARCHFN_EMULATED_POOL")]
        emulated_pool: bool,
    },
    /// Install and list runtimes (root file systems per architecture).
    Runtime {
        #[command(subcommand)]
        command: RuntimeCommand,
    },
    /// Say, file by file, what in a package (zip, wheel, jar, tar/.tgz, directory, OCI image
    /// layout or `docker save` archive, binary) will not run on an architecture.
    /// Exit status: 0 compatible, 1 something will not run, 2 the input could not be read.
    Scan {
        /// Packages to scan.
        #[arg(required_unless_present = "function")]
        paths: Vec<PathBuf>,
        /// Scan a deployed function (NAME or NAME:QUALIFIER): its code, layers and runtime.
        #[arg(long)]
        function: Option<String>,
        /// The server for `--function`.
        #[arg(long, env = "ARCHFN_ENDPOINT", default_value = "http://127.0.0.1:9001")]
        endpoint: String,
        /// The architecture to judge against.
        #[arg(long, default_value = "arm64")]
        target: String,
        /// The Lambda runtime the code will run on (judged too; its OS sets the glibc).
        #[arg(long)]
        runtime: Option<String>,
        /// Output format.
        #[arg(long, value_enum, default_value = "text")]
        format: ScanFormat,
        /// Readers working at once on a zip or directory (0: one per core, at most 4).
        #[arg(long, default_value_t = 0)]
        jobs: usize,
    },
    /// Rebuild a Python or Node.js package for another architecture: each platform wheel or
    /// npm platform package is swapped for the target's build of the same version, then the
    /// result is scanned. Exit status as `scan`.
    Migrate(MigrateArgs),
    /// Container images for `PackageType: Image` functions (archfn's stand-in for Amazon ECR).
    Image {
        #[command(subcommand)]
        command: ImageCommand,
    },
    /// Print a function's invocation metrics from a server: per version, architecture or
    /// alias, counts, errors by type, duration percentiles, native or emulated.
    Metrics {
        /// Function name.
        function: String,
        /// What groups are made of.
        #[arg(long, default_value = "version", value_parser = ["version", "architecture", "alias"])]
        by: String,
        /// Start of the window: an RFC 3339 time, or a duration before now (`15m`, `1h`, `7d`).
        #[arg(long, default_value = "24h")]
        since: String,
        /// End of the window, as `--since` (default: now).
        #[arg(long)]
        until: Option<String>,
        /// The server.
        #[arg(long, env = "ARCHFN_ENDPOINT", default_value = "http://127.0.0.1:9001")]
        endpoint: String,
        /// Output format.
        #[arg(long, value_enum, default_value = "text")]
        format: MetricsFormat,
    },
    /// Shift an alias's traffic to a version gradually, with guardrails and rollback, as
    /// CodeDeploy does (`archfn shift FUNCTION --alias live --to 7`); `status`, `stop`,
    /// `rollback` act on a shift by id.
    Shift(shift::ShiftCommand),
    /// Compare a function's configurations (x86_64 and arm64, memory sizes) side by side:
    /// equivalent answers, latency (native or emulated, said so), memory, cost at Lambda's
    /// prices, and a recommendation.
    Compare(compare::CompareArgs),
    /// Expand a SAM template (long-form JSON) as the AWS::Serverless-2016-10-31 transform does,
    /// printing the CloudFormation template, or the transform's error (exit status 1).
    #[command(hide = true)]
    SamTransform(sam_transform::SamTransformArgs),
    /// Print a function's log (START/END/REPORT lines and its output), read from the server's
    /// CloudWatch Logs (FilterLogEvents, signed with AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY
    /// when they are set).
    Logs {
        /// Function name.
        function: String,
        /// Keep printing as new lines arrive.
        #[arg(long, short)]
        follow: bool,
        /// The server's URL.
        #[arg(long, env = "ARCHFN_ENDPOINT", default_value = "http://127.0.0.1:9001")]
        endpoint: String,
        /// Region of the function.
        #[arg(long, env = "AWS_REGION", default_value = "us-east-1")]
        region: String,
        /// Only lines from this long ago (30s, 10m, 2h, 1d, 1w) or since this RFC 3339 time.
        #[arg(long)]
        since: Option<String>,
    },
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum MetricsFormat {
    /// For people.
    Text,
    /// The endpoint's JSON.
    Json,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum MigrateLanguage {
    /// Wheels installed in the package.
    Python,
    /// npm packages in node_modules.
    Node,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum ScanFormat {
    /// For people.
    Text,
    /// For programs.
    Json,
    /// SARIF 2.1.0, for code-scanning tools.
    Sarif,
}

#[derive(Debug, Subcommand)]
enum ImageCommand {
    /// Copy an image (an OCI image layout, as a directory or tar, or a `docker save` archive)
    /// into the store as REPOSITORY[:TAG]. A function names it by `ImageUri`, with any
    /// registry in front (`123456789012.dkr.ecr.us-east-1.amazonaws.com/REPOSITORY:TAG`).
    Import {
        /// The image archive or layout directory.
        path: PathBuf,
        /// REPOSITORY[:TAG] (tag `latest` by default).
        #[arg(long)]
        tag: String,
        /// Of a multi-platform image, import this platform's image (`linux/arm64`,
        /// `linux/amd64`, or a function architecture: `arm64`, `x86_64`). Lambda takes
        /// one-platform images only.
        #[arg(long)]
        platform: Option<String>,
        /// The server's data directory.
        #[arg(long, env = "ARCHFN_DATA_DIR", default_value = "./.archfn")]
        data_dir: PathBuf,
    },
    /// Show the images in the store: name, id, platform, size.
    List {
        /// The server's data directory.
        #[arg(long, env = "ARCHFN_DATA_DIR", default_value = "./.archfn")]
        data_dir: PathBuf,
    },
}

#[derive(Debug, Subcommand)]
enum RuntimeCommand {
    /// Build a runtime's root file system for an architecture from Debian packages (nodejs22.x
    /// and nodejs24.x: a Debian base and the official Node.js build from the npm registry,
    /// `ARCHFN_NPM_REGISTRY` or `npm_config_registry` naming another registry).
    Install {
        /// Runtime identifier, e.g. python3.11.
        name: String,
        /// x86_64 or arm64.
        #[arg(long)]
        arch: String,
        /// Where runtimes are installed.
        #[arg(
            long,
            env = "ARCHFN_RUNTIMES_DIR",
            default_value = "./.archfn/runtimes"
        )]
        runtimes_dir: PathBuf,
        /// Build it again even when it is installed from the current recipe.
        #[arg(long)]
        force: bool,
    },
    /// Show installed runtimes and where they are.
    List {
        /// Where runtimes are installed.
        #[arg(
            long,
            env = "ARCHFN_RUNTIMES_DIR",
            default_value = "./.archfn/runtimes"
        )]
        runtimes_dir: PathBuf,
    },
}

fn main() -> anyhow::Result<()> {
    // Before any thread or child: nothing archfn inherited is handed on.
    archfn_sandbox::keep_inherited_descriptors_from_children();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("ARCHFN_LOG")
                .unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    if let Command::Serve {
        data_dir,
        runtimes_dir,
        ..
    } = &cli.command
    {
        // Before any thread exists: the server's own mount namespace, where the sandboxes'
        // unprivileged users reach the data and runtimes directories (sandbox view).
        let runtimes = runtimes_dir
            .clone()
            .unwrap_or_else(|| data_dir.join("runtimes"));
        archfn_sandbox::view::enter(&[("data", data_dir), ("runtimes", &runtimes)]).context(
            "preparing the sandboxes' view of the data directory (archfn serve needs root)",
        )?;
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        match cli.command {
            Command::Serve {
                listen,
                public_url,
                max_connections,
                header_timeout,
                max_body_memory,
                data_dir,
                store,
                store_pool_size,
                blobs,
                auth,
                credentials_file,
                account_id,
                default_region,
                runtime_policy_date,
                runtimes_dir,
                idle_timeout,
                async_retry_delay,
                gc_interval,
                gc_grace,
                code_url_ttl,
                account_concurrency,
                function_network,
                sandbox_uid_base,
                max_environment_memory,
                max_environment_pids,
                cpu_limit,
                emulation_cpu_factor,
                metrics_retention_days,
                prices,
                python,
                npm,
                invocation_metrics,
                no_console,
                deploy_time_scale,
                role,
                capacity_provider,
                advertise,
                cluster_secret,
                emulated_pool,
            } => {
                let runtimes_dir = runtimes_dir.unwrap_or_else(|| data_dir.join("runtimes"));
                serve(ServeArgs {
                    listen,
                    public_url,
                    max_connections,
                    header_timeout: std::time::Duration::from_secs(header_timeout),
                    max_body_memory_bytes: max_body_memory.saturating_mul(1 << 20),
                    data_dir,
                    store,
                    store_pool_size,
                    blobs,
                    auth,
                    credentials_file,
                    account_id,
                    default_region,
                    runtime_policy_date,
                    runtimes_dir,
                    idle_timeout: std::time::Duration::from_secs(idle_timeout),
                    async_retry_delay: std::time::Duration::from_secs(async_retry_delay),
                    gc: gc::GcSchedule {
                        interval: std::time::Duration::from_secs(gc_interval.max(1)),
                        grace: std::time::Duration::from_secs(gc_grace),
                    },
                    code_url_ttl: std::time::Duration::from_secs(code_url_ttl.max(1)),
                    account_concurrency,
                    function_network,
                    sandbox_uid_base,
                    max_environment_memory_mb: max_environment_memory
                        .unwrap_or_else(|| host_memory_mb() * 3 / 4),
                    max_environment_pids,
                    cpu_limit: match cpu_limit {
                        CpuLimitArg::Lambda => Some(emulation_cpu_factor),
                        CpuLimitArg::Off => None,
                    },
                    metrics_retention_days,
                    prices,
                    migrate_tools: archfn_compare_runner::MigrateTools { python, npm },
                    record_metrics: matches!(invocation_metrics, Toggle::On),
                    console: !no_console,
                    deploy_time_scale,
                    role,
                    capacity_provider,
                    advertise,
                    cluster_secret,
                    emulated_pool,
                })
                .await
            }
            Command::SamTransform(args) => std::process::exit(sam_transform::run(&args)),
            Command::Metrics {
                function,
                by,
                since,
                until,
                endpoint,
                format,
            } => {
                let json = matches!(format, MetricsFormat::Json);
                let status =
                    metrics::print(&endpoint, &function, &by, &since, until.as_deref(), json).await;
                std::process::exit(status)
            }
            Command::Shift(cmd) => std::process::exit(shift::run(cmd).await),
            Command::Compare(args) => std::process::exit(compare::run(args).await),
            Command::Runtime { command } => runtime_command(command),
            Command::Scan {
                paths,
                function,
                endpoint,
                target,
                runtime,
                format,
                jobs,
            } => {
                let status = match function {
                    Some(f) => scan_function(&endpoint, &f, &target, format).await,
                    None => scan(&paths, &target, runtime.as_deref(), format, jobs),
                };
                std::process::exit(status)
            }
            Command::Migrate(args) => std::process::exit(migrate(&args)),
            Command::Image { command } => match command {
                ImageCommand::Import {
                    path,
                    tag,
                    platform,
                    data_dir,
                } => import_image(&path, &tag, platform.as_deref(), &data_dir).await,
                ImageCommand::List { data_dir } => list_images(&data_dir).await,
            },
            Command::Logs {
                function,
                follow,
                endpoint,
                region,
                since,
            } => {
                let credentials = match (
                    std::env::var("AWS_ACCESS_KEY_ID"),
                    std::env::var("AWS_SECRET_ACCESS_KEY"),
                ) {
                    (Ok(key), Ok(secret)) if !key.is_empty() && !secret.is_empty() => {
                        Some((key, secret, std::env::var("AWS_SESSION_TOKEN").ok()))
                    }
                    _ => None,
                };
                logs_cli::run(logs_cli::LogsArgs {
                    function,
                    follow,
                    endpoint,
                    region,
                    since,
                    credentials,
                })
                .await
            }
        }
    })
}

/// The blob store `--blobs` names: files under the data directory, or a bucket.
fn open_blob_store(
    location: &str,
    data_dir: &Path,
) -> anyhow::Result<Arc<dyn archfn_blob::BlobStore>> {
    if location == "file" {
        let blobs = FsBlobStore::open(data_dir.join("blobs")).context("opening the blob store")?;
        // What a process killed mid-`put` left (an hour old: `archfn image import` may be writing).
        blobs
            .sweep_temporaries(std::time::Duration::from_secs(3600))
            .context("cleaning the blob store")?;
        return Ok(Arc::new(blobs));
    }
    let parsed = archfn_blob_s3::S3Location::parse(location)?;
    let var = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    let (Some(access_key_id), Some(secret_access_key)) =
        (var("AWS_ACCESS_KEY_ID"), var("AWS_SECRET_ACCESS_KEY"))
    else {
        anyhow::bail!("--blobs {location}: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY");
    };
    let credentials = archfn_blob_s3::S3Credentials {
        access_key_id,
        secret_access_key,
        session_token: var("AWS_SESSION_TOKEN"),
    };
    // Pieces of a blob being written wait here, hashed, until they are uploaded whole.
    let spool = data_dir.join("blob-spool");
    if spool.is_dir() {
        std::fs::remove_dir_all(&spool).context("emptying the blob spool")?;
    }
    let store = archfn_blob_s3::S3BlobStore::new(&parsed, &credentials, spool)?;
    tracing::info!(bucket = %parsed.bucket, endpoint = ?parsed.endpoint, "blobs in an S3 bucket");
    Ok(Arc::new(store))
}

/// The image store of a data directory (`<data-dir>/blobs`, `<data-dir>/images`), with an older
/// data directory's image store imported first (`ImageStore::migrate_legacy`).
async fn open_image_store(
    data_dir: &Path,
    blobs: Arc<dyn archfn_blob::BlobStore>,
) -> anyhow::Result<(archfn_control::image::ImageStore, Arc<dyn ImageCatalog>)> {
    let images_dir = data_dir.join("images");
    let catalog: Arc<dyn ImageCatalog> =
        Arc::new(FsImageCatalog::open(&images_dir).context("opening the image catalog")?);
    let store = archfn_control::image::ImageStore::new(blobs, catalog.clone());
    store
        .migrate_legacy(&images_dir)
        .await
        .context("importing the image store of an older data directory")?;
    Ok((store, catalog))
}

async fn import_image(
    path: &Path,
    reference: &str,
    platform: Option<&str>,
    data_dir: &Path,
) -> anyhow::Result<()> {
    let platform = match platform {
        None => None,
        Some(p) => {
            let name = p.trim_start_matches("linux/");
            let arch = archfn_model::Architecture::from_go_arch(name)
                .or_else(|| archfn_model::Architecture::parse(name));
            Some(arch.with_context(|| {
                format!("--platform {p}: Lambda has linux/amd64 (x86_64) and linux/arm64 only")
            })?)
        }
    };
    let blobs = FsBlobStore::open(data_dir.join("blobs")).context("opening the blob store")?;
    let (store, _) = open_image_store(data_dir, Arc::new(blobs)).await?;
    let image = store
        .import(path.to_path_buf(), reference, platform, |n, total| {
            eprintln!("copying layer {n}/{total}");
        })
        .await
        .with_context(|| format!("importing {}", path.display()))?;
    if image.platforms.is_empty() {
        println!(
            "{reference}: image {} for linux/{}, {} layers, {} bytes",
            image.id,
            image.architecture,
            image.layers.len(),
            image.size
        );
    } else {
        println!(
            "{reference}: an index of several platforms ({}); Lambda takes one-platform images only",
            image.platforms.join(", ")
        );
    }
    Ok(())
}

async fn list_images(data_dir: &Path) -> anyhow::Result<()> {
    let blobs = FsBlobStore::open(data_dir.join("blobs")).context("opening the blob store")?;
    let (store, _) = open_image_store(data_dir, Arc::new(blobs)).await?;
    println!(
        "{:<40} {:<14} {:<24} {:>12}",
        "IMAGE", "ID", "PLATFORM", "SIZE"
    );
    for (repo, tag, image) in store.list().await.context("listing images")? {
        let platform = if image.platforms.is_empty() {
            format!("linux/{}", image.architecture)
        } else {
            image.platforms.join(",")
        };
        let id: String = image.id.chars().take(12).collect();
        println!(
            "{:<40} {:<14} {:<24} {:>12}",
            format!("{repo}:{tag}"),
            id,
            platform,
            image.size
        );
    }
    Ok(())
}

struct ServeArgs {
    listen: SocketAddr,
    public_url: Option<String>,
    max_connections: usize,
    header_timeout: std::time::Duration,
    max_body_memory_bytes: usize,
    data_dir: PathBuf,
    store: String,
    store_pool_size: u32,
    blobs: String,
    auth: AuthArg,
    credentials_file: Option<PathBuf>,
    account_id: String,
    default_region: String,
    runtime_policy_date: Option<String>,
    runtimes_dir: PathBuf,
    idle_timeout: std::time::Duration,
    async_retry_delay: std::time::Duration,
    gc: gc::GcSchedule,
    code_url_ttl: std::time::Duration,
    account_concurrency: u32,
    function_network: FunctionNetwork,
    sandbox_uid_base: u32,
    max_environment_memory_mb: u64,
    max_environment_pids: u32,
    cpu_limit: Option<u32>,
    metrics_retention_days: u32,
    prices: Option<PathBuf>,
    migrate_tools: archfn_compare_runner::MigrateTools,
    record_metrics: bool,
    /// Serve the web console.
    console: bool,
    /// `--deploy-time-scale`.
    deploy_time_scale: f64,
    /// `--role`.
    role: RoleArg,
    /// `--capacity-provider`.
    capacity_provider: Option<String>,
    /// `--advertise`.
    advertise: Option<String>,
    /// `--cluster-secret`.
    cluster_secret: Option<String>,
    /// `--emulated-pool`.
    emulated_pool: bool,
}

/// `--deploy-time-scale`: a number above 0 and at most 1000.
fn parse_time_scale(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(v) if v.is_finite() && v > 0.0 && v <= 1000.0 => Ok(v),
        _ => Err(format!(
            "{text:?} is not a time scale: a number above 0 and at most 1000, such as 0.02"
        )),
    }
}

/// A feature switched on or off.
#[derive(Debug, Clone, Copy, ValueEnum)]
enum Toggle {
    On,
    Off,
}

/// `--cpu-limit`.
#[derive(Debug, Clone, Copy, ValueEnum)]
enum CpuLimitArg {
    /// In proportion to MemorySize, as Lambda allocates CPU.
    Lambda,
    /// Unlimited.
    Off,
}

/// The host's memory, MB (`MemTotal`; 4 GB when it cannot be read).
fn host_memory_mb() -> u64 {
    std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|text| {
            text.lines()
                .find_map(|l| l.strip_prefix("MemTotal:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        })
        .map_or(4096, |kb| kb / 1024)
}

fn runtime_command(command: RuntimeCommand) -> anyhow::Result<()> {
    match command {
        RuntimeCommand::Install {
            name,
            arch,
            runtimes_dir,
            force,
        } => {
            let arch = archfn_model::Architecture::parse(&arch)
                .with_context(|| format!("--arch must be x86_64 or arm64, not {arch:?}"))?;
            let mut store = archfn_sandbox::rootfs::RuntimeStore::new(&runtimes_dir);
            // The npm registry Node.js builds come from: ARCHFN_NPM_REGISTRY, else npm's own setting.
            if let Some(registry) = [
                "ARCHFN_NPM_REGISTRY",
                "npm_config_registry",
                "NPM_CONFIG_REGISTRY",
            ]
            .iter()
            .filter_map(|k| std::env::var(k).ok())
            .find(|r| !r.trim().is_empty())
            {
                store = store.with_npm_registry(registry);
            }
            if !force && store.is_current(&name, arch) {
                let path = store.rootfs(&name, arch)?;
                eprintln!(
                    "{name} ({arch}) is already installed from the current recipe (--force builds it again)"
                );
                println!("{}", path.display());
                return Ok(());
            }
            let started = std::time::Instant::now();
            let path = store.install(&name, arch, &mut |line| eprintln!("{line}"))?;
            eprintln!(
                "installed {name} ({arch}) in {:.1} s",
                started.elapsed().as_secs_f64()
            );
            println!("{}", path.display());
            Ok(())
        }
        RuntimeCommand::List { runtimes_dir } => {
            let store = archfn_sandbox::rootfs::RuntimeStore::new(&runtimes_dir);
            let host = archfn_model::Architecture::host();
            println!(
                "{:<18} {:<8} {:<9} {:<9} {:<14} ROOTFS",
                "RUNTIME", "ARCH", "EXECUTION", "SUITE", "NODE"
            );
            for r in store.list() {
                let mode = if Some(r.architecture) == host {
                    "native"
                } else {
                    "emulated"
                };
                // The exact Node.js release of a runtime whose binary came from the npm registry.
                let node = r.node.as_ref().map_or("-", |n| n.version.as_str());
                println!(
                    "{:<18} {:<8} {:<9} {:<9} {:<14} {}",
                    r.runtime,
                    r.architecture.as_str(),
                    mode,
                    r.suite,
                    node,
                    r.rootfs.display()
                );
            }
            Ok(())
        }
    }
}

/// Writes a report to stdout; a reader that went away (`| head`) is not an error.
fn emit_report(label: &str, r: &archfn_scan::Report, format: ScanFormat) {
    use std::io::Write;
    let text = match format {
        ScanFormat::Text => format!("{label}: {}", r.to_text()),
        ScanFormat::Json => format!("{}\n", r.to_json()),
        ScanFormat::Sarif => format!("{}\n", r.to_sarif()),
    };
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(text.as_bytes()).and_then(|()| out.flush());
}

/// Scans each path; returns the exit status (0 compatible, 1 incompatible, 2 unreadable).
fn scan(
    paths: &[PathBuf],
    target: &str,
    runtime: Option<&str>,
    format: ScanFormat,
    jobs: usize,
) -> i32 {
    let Some(target) = archfn_model::Architecture::parse(target) else {
        eprintln!("error: --target must be x86_64 or arm64, not {target:?}");
        return 2;
    };
    if let Some(id) = runtime
        && archfn_model::runtime::lookup(id).is_none()
    {
        eprintln!("error: --runtime {id:?} is not a Lambda runtime identifier");
        return 2;
    }
    let mut opts = archfn_scan::ScanOptions {
        runtime: runtime.map(str::to_string),
        today: archfn_model::time::today_utc(),
        ..archfn_scan::ScanOptions::new(target)
    };
    if jobs > 0 {
        opts.workers = jobs;
    }
    let mut status = 0;
    for path in paths {
        let report = archfn_scan::scan_path(path, &opts);
        match report {
            Ok(r) => {
                emit_report(&path.display().to_string(), &r, format);
                if !r.compatible && status == 0 {
                    status = 1;
                }
            }
            Err(e) => {
                eprintln!("error: {}: {e}", path.display());
                status = 2;
            }
        }
    }
    status
}

/// Arguments of `archfn migrate`.
#[derive(Debug, clap::Args)]
struct MigrateArgs {
    /// The package's language.
    #[arg(value_enum)]
    language: MigrateLanguage,
    /// The package: a zip or a directory.
    input: PathBuf,
    /// The architecture to rebuild for.
    #[arg(long, default_value = "arm64")]
    to: String,
    /// The zip to write.
    #[arg(long, short)]
    output: PathBuf,
    /// The Lambda runtime the package is for: sets the Python version and the newest
    /// glibc a wheel may need (Amazon Linux 2: 2.26, the default; 2023: 2.34).
    #[arg(long)]
    runtime: Option<String>,
    /// The Python interpreter whose pip fetches wheels.
    #[arg(long, env = "ARCHFN_PYTHON", default_value = "python3")]
    python: String,
    /// The npm command.
    #[arg(long, env = "ARCHFN_NPM", default_value = "npm")]
    npm: String,
    /// Output format of the scan of the result.
    #[arg(long, value_enum, default_value = "text")]
    format: ScanFormat,
}

/// Migrates a package, then scans the result; returns the exit status as `scan` does.
fn migrate(a: &MigrateArgs) -> i32 {
    let Some(target) = archfn_model::Architecture::parse(&a.to) else {
        eprintln!("error: --to must be x86_64 or arm64, not {:?}", a.to);
        return 2;
    };
    let runtime = match a.runtime.as_deref() {
        Some(id) => match archfn_model::runtime::lookup(id) {
            Some(info) => Some(info),
            None => {
                eprintln!("error: --runtime {id:?} is not a Lambda runtime identifier");
                return 2;
            }
        },
        None => None,
    };
    let opts = archfn_migrate::Options {
        language: match a.language {
            MigrateLanguage::Python => archfn_migrate::Language::Python,
            MigrateLanguage::Node => archfn_migrate::Language::Node,
        },
        target,
        python: a.python.clone(),
        python_version: runtime
            .and_then(|r| r.id.strip_prefix("python"))
            .map(str::to_string),
        glibc: runtime.map_or(archfn_model::OsFamily::AmazonLinux2.glibc(), |r| {
            r.os.glibc()
        }),
        npm: a.npm.clone(),
    };
    let outcome = match archfn_migrate::migrate(&a.input, &a.output, &opts, &mut |line| {
        eprintln!("{line}")
    }) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("error: {e}");
            return 2;
        }
    };
    for s in &outcome.swapped {
        eprintln!("swapped: {s}");
    }
    for l in &outcome.left {
        eprintln!("not swapped: {l}");
    }
    eprintln!(
        "wrote {} ({} swapped, {} left); scanning it for {target}",
        a.output.display(),
        outcome.swapped.len(),
        outcome.left.len()
    );
    scan(
        std::slice::from_ref(&a.output),
        &a.to,
        a.runtime.as_deref(),
        a.format,
        0,
    )
}

/// Asks a server for a function's readiness report; same exit statuses as `scan`.
async fn scan_function(endpoint: &str, function: &str, target: &str, format: ScanFormat) -> i32 {
    let (name, qualifier) = match function.split_once(':') {
        Some((n, q)) if !function.starts_with("arn:") => (n, Some(q)),
        _ => (function, None),
    };
    let mut url = format!(
        "{}/archfn/v1/functions/{name}/readiness?target={target}",
        endpoint.trim_end_matches('/')
    );
    if let Some(q) = qualifier {
        url.push_str(&format!("&Qualifier={q}"));
    }
    let Some(body) = fetch_text(&url).await else {
        return 2;
    };
    match archfn_scan::Report::from_json(&body) {
        Ok(r) => {
            emit_report(function, &r, format);
            if r.compatible { 0 } else { 1 }
        }
        Err(e) => {
            eprintln!("error: unreadable report: {e}");
            2
        }
    }
}

/// The invocation engine's scratch directory under a data directory.
fn engine_dir(data_dir: &Path) -> PathBuf {
    data_dir.join("engine")
}

/// The key that signs code download URLs, kept so URLs survive restarts.
fn url_secret(data_dir: &Path) -> anyhow::Result<Vec<u8>> {
    let path = data_dir.join("url-secret");
    if let Ok(bytes) = std::fs::read(&path)
        && bytes.len() >= 32
    {
        return Ok(bytes);
    }
    let secret = format!(
        "{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    )
    .into_bytes();
    std::fs::write(&path, &secret).with_context(|| format!("writing {}", path.display()))?;
    Ok(secret)
}

/// The body of a successful GET of `url` (archfn's own endpoints, for the CLI); on failure the
/// reason is printed and `None` returned (the caller exits with status 2).
async fn fetch_text(url: &str) -> Option<String> {
    let response = match reqwest::get(url).await {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: {url}: {e}");
            return None;
        }
    };
    let ok = response.status().is_success();
    let body = response.text().await.unwrap_or_default();
    if !ok {
        eprintln!("error: {body}");
        return None;
    }
    Some(body)
}

/// A short name for this server, the same across restarts: a hash of its data directory.
fn instance_name(data_dir: &Path) -> String {
    use sha2::Digest;
    let path = data_dir
        .canonicalize()
        .unwrap_or_else(|_| data_dir.to_path_buf());
    let digest = sha2::Sha256::digest(path.as_os_str().as_encoded_bytes());
    hex::encode(&digest[..6])
}

async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    if args.account_id.len() != 12 || !args.account_id.bytes().all(|b| b.is_ascii_digit()) {
        anyhow::bail!("--account-id must be 12 digits, got {:?}", args.account_id);
    }
    if !archfn_model::arn::valid_region(&args.default_region) {
        anyhow::bail!(
            "--default-region must be an AWS region such as us-east-1, got {:?}",
            args.default_region
        );
    }
    if args.max_connections == 0 {
        anyhow::bail!("--max-connections must be at least 1");
    }
    let public_url = public_url(args.public_url.as_deref(), args.listen)?;
    std::fs::create_dir_all(&args.data_dir)
        .with_context(|| format!("creating data directory {}", args.data_dir.display()))?;
    let auth = match args.auth {
        AuthArg::None => {
            tracing::warn!(
                "authentication is off: any request is accepted (start with --auth sigv4 to verify signatures)"
            );
            AuthMode::Open
        }
        AuthArg::Sigv4 => {
            let path = args
                .credentials_file
                .context("--auth sigv4 needs --credentials-file")?;
            let text = std::fs::read_to_string(&path)
                .with_context(|| format!("reading {}", path.display()))?;
            let creds = Credentials::parse_shared_file(&text)
                .with_context(|| format!("credentials file {}", path.display()))?;
            tracing::info!(keys = creds.len(), "verifying SigV4 signatures");
            AuthMode::SigV4(creds)
        }
    };
    let s3_credentials = match &auth {
        AuthMode::SigV4(creds) => Some(creds.pairs()),
        AuthMode::Open => None,
    };
    let metadata = open_metadata(&args.store, args.store_pool_size, &args.data_dir).await?;
    let store = metadata.stores;
    let blobs = open_blob_store(&args.blobs, &args.data_dir)?;
    // Images' blobs are in the blob store; an older data directory's are moved there first.
    // Their records are in the data directory with SQLite, and in the database every node
    // shares with PostgreSQL (an image pushed to one node is found by all).
    let images: Arc<dyn ImageCatalog> = if args.store == "sqlite" {
        open_image_store(&args.data_dir, blobs.clone()).await?.1
    } else {
        Arc::new(archfn_control::image::StoreImageCatalog::new(
            store.metadata.clone(),
        ))
    };
    let s3 = archfn_s3::service(
        archfn_s3::S3Backend::new(store.objects.clone(), blobs.clone(), &args.account_id),
        s3_credentials,
    );
    let stacks_store = store.stacks.clone();
    let stacks_objects = store.objects.clone();
    let log_catalog = store.logs.clone();
    let log_writer =
        archfn_logs::LogWriter::start(log_catalog.clone(), archfn_logs::writer::QUEUE_BATCHES);
    let stacks_blobs = blobs.clone();
    // The registry and leases read the store itself, never this node's cache.
    let cluster_store = store.direct.clone();
    let control = Control::start(ControlConfig {
        objects: store.objects.clone(),
        store: store.metadata.clone(),
        blobs,
        code_root: args.data_dir.join("code"),
        images,
        account: args.account_id.clone(),
        policy_date: args.runtime_policy_date,
        account_concurrency: args.account_concurrency,
    })
    .await
    .context("starting the control plane")?;
    // Nodes may share a data directory (and its SQLite file) on one host: each one's engine
    // (scratch space, merged layers, cgroups) is then its own, named after the address it
    // advertises, which stays the same across restarts.
    let node_tag = args.cluster_secret.as_ref().map(|_| {
        use sha2::Digest;
        let advertise = args.advertise.as_deref().unwrap_or(&public_url);
        hex::encode(&sha2::Sha256::digest(advertise.as_bytes())[..4])
    });
    let engine = archfn_invoke::Engine::start(archfn_invoke::EngineConfig {
        runtimes_dir: args.runtimes_dir.clone(),
        work_dir: match &node_tag {
            None => engine_dir(&args.data_dir),
            Some(tag) => engine_dir(&args.data_dir).join("nodes").join(tag),
        },
        idle_timeout: args.idle_timeout,
        init_timeout: std::time::Duration::from_secs(10),
        instance: match &node_tag {
            None => instance_name(&args.data_dir),
            Some(tag) => format!("{}-{tag}", instance_name(&args.data_dir)),
        },
        network: args.function_network,
        sandbox_uid_base: args.sandbox_uid_base,
        max_environment_memory_mb: args.max_environment_memory_mb,
        max_environment_pids: args.max_environment_pids,
        cpu_limit: args.cpu_limit,
        record_metrics: args.record_metrics,
        // Diagnosis switches, documented in README.md.
        isa_enforced: std::env::var("ARCHFN_ISA_ENFORCEMENT").as_deref() != Ok("off"),
        favor_cgroup_moves: std::env::var("ARCHFN_CGROUP_FAVORDYNMODS").as_deref() != Ok("off"),
        log_sink: Some(Arc::new(log_writer.clone())),
    })
    .context("starting the invocation engine")?;
    for arch in archfn_model::Architecture::ALL {
        match archfn_sandbox::binfmt::ensure(arch) {
            Ok(()) => {
                tracing::info!(%arch, execution = archfn_sandbox::ExecutionMode::for_arch(arch).as_str(), "architecture available")
            }
            Err(e) => {
                tracing::warn!(%arch, error = %e, "architecture unavailable: its functions will fail to invoke")
            }
        }
    }
    let installed = engine.runtimes().list();
    if installed.is_empty() {
        tracing::warn!(runtimes_dir = %args.runtimes_dir.display(), "no runtime installed: `archfn runtime install python3.11 --arch arm64` installs one");
    }
    let cluster = join_cluster(
        &Joining {
            role: args.role,
            capacity_provider: args.capacity_provider.as_deref(),
            advertise: args.advertise.as_deref(),
            cluster_secret: args.cluster_secret.as_deref(),
            emulated_pool: args.emulated_pool,
            default_region: &args.default_region,
            node: &metadata.node,
        },
        &control,
        &engine,
        cluster_store,
        &public_url,
    )
    .await?;
    events::spawn(
        control.clone(),
        engine.clone(),
        args.async_retry_delay,
        metadata.node.clone(),
    );
    provisioned::spawn(control.clone(), engine.clone(), cluster.clone());
    gc::spawn(control.clone(), engine.clone(), args.gc);
    metrics::spawn(control.clone(), engine.clone(), args.metrics_retention_days);
    let (metrics_control, stopping_engine) = (control.clone(), engine.clone());
    let prices = match &args.prices {
        Some(path) => archfn_pricing::PriceBook::load(path)
            .with_context(|| format!("reading prices from {}", path.display()))?,
        None => archfn_pricing::PriceBook::embedded().context("the embedded price file")?,
    };
    let prices = Arc::new(prices);
    let deployments = archfn_deploy::Deployments::new(
        control.clone(),
        engine.clone(),
        prices.clone(),
        archfn_deploy::Cadence {
            time_scale: args.deploy_time_scale,
            ..archfn_deploy::Cadence::default()
        },
    );
    if (args.deploy_time_scale - 1.0).abs() > f64::EPSILON {
        tracing::warn!(
            scale = args.deploy_time_scale,
            "traffic shifts' predefined intervals are scaled (--deploy-time-scale): for tests only"
        );
    }
    let comparisons = archfn_compare_runner::Comparisons::new(
        control.clone(),
        engine.clone(),
        prices,
        args.migrate_tools.clone(),
    );
    if let Some(cluster) = &cluster {
        deployments.drive_with(cluster.clone());
    }
    match deployments.resume_all().await {
        Ok(0) => {}
        Ok(n) => tracing::info!(shifts = n, "resumed traffic shifts in progress"),
        Err(e) => tracing::warn!(error = %e, "reading traffic shifts in progress"),
    }
    let cloudformation = archfn_cloudformation::CloudFormation::new(
        archfn_cloudformation::engine::Engine::start(
            archfn_cloudformation::resources::Providers {
                control: control.clone(),
                objects: stacks_objects.clone(),
                account: args.account_id.clone(),
                shifts: Some(Arc::new(cfn_shifts::DeployShifts::new(deployments.clone()))),
                public_url: public_url.clone(),
            },
            stacks_store,
        )
        .await
        .context("loading CloudFormation stacks")?,
        stacks_objects,
        stacks_blobs,
    );
    let state = AppState {
        deployments,
        comparisons,
        control,
        engine,
        auth: Arc::new(auth),
        default_region: args.default_region,
        url_secret: Arc::new(url_secret(&args.data_dir)?),
        code_url_ttl: args.code_url_ttl,
        public_url: public_url.into(),
        body_budget: archfn_api::BodyBudget::new(args.max_body_memory_bytes),
        s3: Some(s3),
        cloudformation: Some(cloudformation),
        logs: Some(archfn_logs::CloudWatchLogs::new(
            log_catalog,
            log_writer.clone(),
            args.account_id.clone(),
        )),
        cluster_secret: args.cluster_secret.as_deref().map(Arc::from),
    };
    // Under `--auth sigv4` the console asks for a key of the credentials file and keeps a session.
    let console = args
        .console
        .then(|| archfn_console::router(archfn_console::ConsoleState::new(state.clone())));
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("binding {}", args.listen))?;
    tracing::info!(listen = %listener.local_addr()?, data_dir = %args.data_dir.display(), "archfn serving the Lambda API");
    listen::serve(
        listener,
        archfn_api::router_with_console(state, console),
        listen::Limits {
            max_connections: args.max_connections,
            header_timeout: args.header_timeout,
        },
        shutdown_signal(),
    )
    .await;
    // What was recorded since the last flush, the current minute included, survives.
    metrics::flush(&metrics_control, &stopping_engine, true).await;
    // And so do the log lines queued.
    log_writer.flush().await;
    if let Some(cluster) = &cluster
        && let Err(e) = cluster.leave().await
    {
        tracing::warn!(error = %e, "removing this node's heartbeat");
    }
    tracing::info!("stopping: ending execution environments");
    stopping_engine.shutdown();
    Ok(())
}

/// The stores of one metadata backend, each as the trait its users take.
struct Stores {
    metadata: Arc<dyn archfn_store::MetadataStore>,
    /// The same store without the cache: for what must see other nodes' writes at once
    /// (the node registry and leases).
    direct: Arc<dyn archfn_store::MetadataStore>,
    objects: Arc<dyn archfn_store::objects::ObjectCatalog>,
    logs: Arc<dyn archfn_store::logs::LogCatalog>,
    stacks: Arc<dyn archfn_store::stacks::StackCatalog>,
}

impl Stores {
    /// One backend behind all four traits; its metadata reads through a cache unless
    /// `ARCHFN_METADATA_CACHE=off` (a diagnosis switch, README.md). The cache's invalidator
    /// goes with it.
    fn of<S>(store: S) -> (Stores, Option<archfn_store::CacheInvalidator>)
    where
        S: archfn_store::MetadataStore
            + archfn_store::objects::ObjectCatalog
            + archfn_store::logs::LogCatalog
            + archfn_store::stacks::StackCatalog
            + Clone
            + 'static,
    {
        let cached = std::env::var("ARCHFN_METADATA_CACHE").as_deref() != Ok("off");
        let (metadata, invalidator): (Arc<dyn archfn_store::MetadataStore>, _) = if cached {
            let c = CachedStore::new(store.clone());
            let inv = c.invalidator();
            (Arc::new(c), Some(inv))
        } else {
            tracing::warn!("metadata cache off (ARCHFN_METADATA_CACHE=off)");
            (Arc::new(store.clone()), None)
        };
        let stores = Stores {
            metadata,
            direct: Arc::new(store.clone()),
            objects: Arc::new(store.clone()),
            logs: Arc::new(store.clone()),
            stacks: Arc::new(store),
        };
        (stores, invalidator)
    }
}

/// The metadata backend `--store` names, and this node's identity in it.
struct Metadata {
    stores: Stores,
    /// This node's id in the shared event queue: made at start.
    node: String,
    /// Keeps listening for other nodes' writes (PostgreSQL) while the server runs.
    _watch: Option<archfn_store::PgWatch>,
}

/// Opens `--store`: SQLite under the data directory, or a PostgreSQL database.
async fn open_metadata(spec: &str, pool_size: u32, data_dir: &Path) -> anyhow::Result<Metadata> {
    let node = archfn_control::cluster::Cluster::new_node_id();
    if spec == "sqlite" {
        let store = SqliteStore::open(&data_dir.join("archfn.db"))
            .await
            .context("opening the metadata store")?;
        let (stores, _) = Stores::of(store);
        return Ok(Metadata {
            stores,
            node,
            _watch: None,
        });
    }
    if !(spec.starts_with("postgres://") || spec.starts_with("postgresql://")) {
        anyhow::bail!(
            "--store must be `sqlite` or a postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE URL"
        );
    }
    let store = archfn_store::PgStore::connect(spec, pool_size)
        .await
        .context("opening the PostgreSQL metadata store (--store)")?;
    let (stores, invalidator) = Stores::of(store.clone());
    // Other nodes write too: their commits empty this node's cache.
    let watch = invalidator.map(|inv| store.watch(inv));
    tracing::info!(node = %node, pool_size, "metadata in PostgreSQL");
    Ok(Metadata {
        stores,
        node,
        _watch: watch,
    })
}

/// The flags of `archfn serve` that say how a node joins the others.
struct Joining<'a> {
    /// `--emulated-pool`: a worker may join a provider of the other architecture.
    emulated_pool: bool,
    /// This node's id (the one it claims Event invocations under).
    node: &'a str,
    role: RoleArg,
    capacity_provider: Option<&'a str>,
    advertise: Option<&'a str>,
    cluster_secret: Option<&'a str>,
    default_region: &'a str,
}

/// With `--cluster-secret` (or `--role worker`): this node's id, heartbeat and forwarding.
/// A worker's capacity provider must exist and run the host's architecture.
async fn join_cluster(
    args: &Joining<'_>,
    control: &Control,
    engine: &archfn_invoke::Engine,
    store: Arc<dyn archfn_store::MetadataStore>,
    public_url: &str,
) -> anyhow::Result<Option<archfn_control::cluster::Cluster>> {
    use archfn_control::cluster::{Cluster, ProviderRef, Role};
    let Some(secret) = args.cluster_secret else {
        if args.role == RoleArg::Worker {
            anyhow::bail!("--role worker needs --cluster-secret (ARCHFN_CLUSTER_SECRET)");
        }
        return Ok(None);
    };
    if secret.len() < 16 {
        anyhow::bail!("--cluster-secret must be at least 16 characters");
    }
    let host = archfn_model::Architecture::host()
        .context("this host's architecture is neither x86_64 nor arm64")?;
    let provider = match args.role {
        RoleArg::All => None,
        RoleArg::Worker => {
            let given = args
                .capacity_provider
                .context("--role worker needs --capacity-provider NAME")?;
            let (region, name) = archfn_control::capacity_provider::provider_name(given);
            let region = region.unwrap_or(args.default_region);
            let view = control
                .get_capacity_provider(region, name)
                .await
                .with_context(|| {
                    format!(
                        "capacity provider {given} (create it with CreateCapacityProvider first)"
                    )
                })?;
            if view.architecture != host {
                if !args.emulated_pool {
                    anyhow::bail!(
                        "capacity provider {} runs {} (InstanceRequirements.Architectures) but this host is {host}: start this worker on a {} host, join a provider of {host}, or run its functions emulated with --emulated-pool",
                        view.arn,
                        view.architecture,
                        view.architecture
                    );
                }
                tracing::warn!(
                    provider = %view.arn,
                    "a worker of a {} pool on a {host} host (--emulated-pool): its functions run under QEMU emulation, not at {} speed",
                    view.architecture,
                    view.architecture
                );
            }
            Some((
                ProviderRef {
                    region: region.to_string(),
                    name: view.name,
                },
                view.architecture,
            ))
        }
    };
    // A worker serves its provider's architecture (the host's, unless --emulated-pool).
    let serves = provider.as_ref().map_or(host, |(_, arch)| *arch);
    let provider = provider.map(|(p, _)| p);
    let id = args.node.to_string();
    let cluster = Cluster::new(store, id.clone());
    let advertise = args.advertise.unwrap_or(public_url).to_string();
    tracing::info!(role = ?args.role, %advertise, provider = ?provider, "joining the cluster as node {id}");
    cluster::start(
        cluster.clone(),
        engine,
        cluster::Me {
            id,
            role: match args.role {
                RoleArg::All => Role::All,
                RoleArg::Worker => Role::Worker,
            },
            advertise,
            architecture: serves,
            provider,
        },
        Arc::from(secret),
    )?;
    Ok(Some(cluster))
}

/// Completes on Ctrl-C (SIGINT) or SIGTERM.
async fn shutdown_signal() {
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        () = term => {}
    }
    tracing::info!("shutting down");
}

/// The public base URL: `--public-url` (an `http://` or `https://` URL with a host and no
/// path), or `http://` and the listen address.
fn public_url(flag: Option<&str>, listen: SocketAddr) -> anyhow::Result<String> {
    let Some(url) = flag else {
        let mut addr = listen;
        if addr.ip().is_unspecified() {
            addr.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
            tracing::warn!(
                "listening on an unspecified address: code download URLs name {addr}; set --public-url to the address clients use"
            );
        }
        return Ok(format!("http://{addr}"));
    };
    let url = url.trim_end_matches('/');
    let rest = url
        .strip_prefix("http://")
        .or_else(|| url.strip_prefix("https://"))
        .with_context(|| format!("--public-url {url:?} must start with http:// or https://"))?;
    if rest.is_empty() || rest.contains(['/', '?', '#', '@', ' ']) {
        anyhow::bail!("--public-url {url:?} must be a scheme and host[:port] only");
    }
    Ok(url.to_string())
}
