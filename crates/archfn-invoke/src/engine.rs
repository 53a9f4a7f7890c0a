//! The invocation engine: warm pools of environments per function version, cold starts,
//! failure handling as Lambda handles it, logs.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use archfn_model::{Architecture, FunctionConfig, ImageLaunch, elf};
use archfn_sandbox::netns::{FunctionNetwork, NetworkPool};
use archfn_sandbox::rootfs::{RuntimeKind, RuntimeStore};
use archfn_sandbox::{ExecutionMode, SandboxError, binfmt, bwrap};
use bytes::Bytes;

use archfn_model::metrics::{MinuteBucket, minute_of};

use crate::aggregate::{Observation, Series};
use crate::environment::{Confiner, Environment, InitFailure, Outcome, StartParams, invocation};
use crate::image::{image_argv, image_launch_error_line};
use crate::logs::{self, FunctionLogs, Report};
use crate::runtime_api::RuntimeReply;
use crate::telemetry::Category;

const PYTHON_BOOTSTRAP: &str = include_str!("bootstrap/python.py");
const NODE_BOOTSTRAP: &str = include_str!("bootstrap/node.js");

/// How the engine is set up.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// Where installed runtimes are (`archfn runtime install`).
    pub runtimes_dir: PathBuf,
    /// Scratch space: bootstraps, merged layers, environment output, function logs.
    pub work_dir: PathBuf,
    /// How long an idle environment is kept warm.
    pub idle_timeout: Duration,
    /// Lambda's init window.
    pub init_timeout: Duration,
    /// Names this server's cgroups (`archfn-<instance>`), apart from other servers' on the host.
    pub instance: String,
    /// What functions' networks reach.
    pub network: FunctionNetwork,
    /// The first host uid of the range environments run under.
    pub sandbox_uid_base: u32,
    /// Memory, MB, all environments together may hold (the sum of their MemorySize).
    pub max_environment_memory_mb: u64,
    /// Processes and threads all environments together may have.
    pub max_environment_pids: u32,
    /// CPU in proportion to MemorySize, as Lambda allocates it (1,769 MB is one core): the
    /// factor an emulated environment's share is multiplied by (QEMU spends several host
    /// instructions per guest instruction); `None` leaves CPU unlimited.
    pub cpu_limit: Option<u32>,
    /// Record invocation metrics (durable per-minute figures, and the live watches traffic
    /// shifts judge by). Off only to measure what recording costs.
    pub record_metrics: bool,
}

/// MemorySize that Lambda gives one full vCPU.
const MB_PER_VCPU: u64 = 1769;

/// An environment's CPU, thousandths of a core: Lambda's share for `memory_mb`, times
/// `emulation_factor` when emulated.
fn cpu_millicores(memory_mb: u32, mode: ExecutionMode, emulation_factor: u32) -> u32 {
    let native = u64::from(memory_mb) * 1000 / MB_PER_VCPU;
    let share = match mode {
        ExecutionMode::Native => native,
        ExecutionMode::Emulated => native * u64::from(emulation_factor.max(1)),
    };
    u32::try_from(share.max(1)).unwrap_or(u32::MAX)
}

/// The function version to run, as the control plane resolved it.
#[derive(Debug, Clone)]
pub struct Target {
    /// Region of the function.
    pub region: String,
    /// The version's configuration.
    pub config: FunctionConfig,
    /// Unpacked code.
    pub task_dir: PathBuf,
    /// Unpacked layers, in order.
    pub layer_dirs: Vec<PathBuf>,
    /// How a container image function starts; its unpacked image is `task_dir`.
    pub image: Option<ImageLaunch>,
}

/// One synchronous invocation.
#[derive(Debug, Clone)]
pub struct InvokeRequest {
    /// What to run.
    pub target: Target,
    /// The ARN the caller used.
    pub invoked_arn: String,
    /// The event.
    pub payload: Bytes,
    /// Decoded client context.
    pub client_context: Option<String>,
    /// The alias the caller invoked through, if any: metrics are kept per alias.
    pub alias: Option<String>,
}

/// What an invocation produced.
#[derive(Debug, Clone)]
pub struct InvokeOutcome {
    /// Request id.
    pub request_id: String,
    /// The response, or the error document.
    pub payload: Bytes,
    /// `Unhandled` when the function failed.
    pub function_error: Option<String>,
    /// The invocation's log (INIT_START…REPORT).
    pub log: String,
    /// Native or emulated.
    pub mode: ExecutionMode,
    /// What the REPORT line says, for callers that measure (`archfn compare`).
    pub figures: InvocationFigures,
}

/// An invocation's measured figures, as its REPORT line gives them.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct InvocationFigures {
    /// `Duration`, milliseconds (0 when the init failed and the handler never ran).
    pub duration_ms: f64,
    /// `Billed Duration`, milliseconds.
    pub billed_ms: u64,
    /// `Max Memory Used`, MB.
    pub max_memory_used_mb: u64,
    /// `Init Duration` of a cold start, milliseconds.
    pub init_ms: Option<f64>,
    /// It started a new execution environment.
    pub cold: bool,
    /// The function error's type (`Runtime.ExitError`, the handler's exception…).
    pub error_type: Option<String>,
}

impl InvokeOutcome {
    /// The last 4 KB of the log, what `LogType: Tail` returns.
    pub fn log_tail(&self) -> &str {
        logs::tail_4k(&self.log)
    }
}

/// Why an invocation could not be attempted at all.
#[derive(Debug, thiserror::Error)]
pub enum InvokeError {
    /// The runtime is not installed, or archfn cannot run it.
    #[error("{0}")]
    Runtime(String),
    /// The host cannot run this architecture.
    #[error("{0}")]
    Unsupported(String),
    /// The host's budget for environments is spent: throttled, as Lambda throttles.
    #[error("{0}")]
    Throttled(String),
    /// The engine failed.
    #[error("{0}")]
    Internal(String),
}

impl From<SandboxError> for InvokeError {
    fn from(e: SandboxError) -> Self {
        match e {
            SandboxError::RuntimeNotInstalled { .. }
            | SandboxError::RuntimeOutdated { .. }
            | SandboxError::UnknownRuntime(..) => InvokeError::Runtime(e.to_string()),
            SandboxError::NoEmulation { .. } => InvokeError::Unsupported(e.to_string()),
            other => InvokeError::Internal(other.to_string()),
        }
    }
}

type PoolKey = (String, String, String, String);

/// Runs invocations. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Engine {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    config: EngineConfig,
    runtimes: RuntimeStore,
    idle: Mutex<HashMap<PoolKey, Vec<Environment>>>,
    metrics: crate::metrics::Metrics,
    /// Per-minute metrics per series, until the server stores them.
    aggregate: crate::aggregate::Aggregate,
    /// Per-function log files under `<work>/logs`.
    logs: Arc<FunctionLogs>,
    /// Environments refuse executables of the other ISA.
    isa_enforced: bool,
    /// What confines each environment.
    confiner: Arc<Confiner>,
    /// The host-wide memory budget of environments.
    budget: crate::budget::MemoryBudget,
    /// Set when the server stops: nothing more is prepared.
    stopping: Arc<std::sync::atomic::AtomicBool>,
    /// The preparation thread, joined at shutdown so that nothing it is making outlives the
    /// server.
    preparer: Mutex<Option<std::thread::JoinHandle<()>>>,
}

/// How many network namespaces are kept prepared for cold starts.
const PREPARED_NETWORKS: usize = 4;

/// How many /tmp file systems of the default size are kept prepared for cold starts.
const PREPARED_SCRATCH: usize = 4;

/// Lambda's limit of processes and threads per environment.
const MAX_PROCESSES: u32 = 1024;

/// How long an environment stays idle before it is frozen (Lambda freezes it at once; a short
/// wait spares invocations that arrive back to back a freeze and a thaw each).
const FREEZE_AFTER: Duration = Duration::from_millis(50);

/// Where a controller-less cgroup v1 hierarchy with `favordynmods` is mounted on hosts that have
/// no cgroup2 mount to remount.
const FAVORDYNMODS_V1_MOUNT: &str = "/run/archfn/cgroup-favordynmods";

/// The external extensions of merged layers: the names of the executable files in
/// `<opt>/extensions/` (`/opt/extensions/NAME` inside the environment), in name order.
fn external_extensions(opt: &std::path::Path) -> Vec<String> {
    use std::os::unix::fs::PermissionsExt;
    let Ok(entries) = std::fs::read_dir(opt.join("extensions")) else {
        return Vec::new();
    };
    let mut names: Vec<String> = entries
        .flatten()
        .filter(|e| {
            e.metadata()
                .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        })
        .filter_map(|e| e.file_name().to_str().map(str::to_string))
        .collect();
    names.sort();
    names
}

/// The first of the external `extensions` (names in `<opt>/extensions/`) that is an ELF program
/// of another ISA than `arch`.
fn foreign_extension<'a>(
    opt: &Path,
    extensions: &'a [String],
    arch: Architecture,
) -> Option<&'a str> {
    extensions.iter().map(String::as_str).find(|name| {
        let mut head = [0u8; 20];
        std::fs::File::open(opt.join("extensions").join(name))
            .and_then(|mut f| std::io::Read::read(&mut f, &mut head))
            .is_ok_and(|n| elf::machine(&head[..n]).is_some_and(|found| found != arch))
    })
}

/// The metrics series of an invocation of `config`.
fn series<'a>(region: &'a str, config: &'a FunctionConfig, alias: Option<&'a str>) -> Series<'a> {
    Series {
        region,
        function: &config.name,
        version: &config.version,
        alias,
        arch: config.architecture,
        execution: match ExecutionMode::for_arch(config.architecture) {
            ExecutionMode::Native => archfn_model::metrics::Execution::Native,
            ExecutionMode::Emulated => archfn_model::metrics::Execution::Emulated,
        },
    }
}

/// Milliseconds as whole microseconds.
fn micros(ms: f64) -> u64 {
    (ms * 1000.0).round().max(0.0) as u64
}

fn error_doc(error_type: &str, message: String) -> Bytes {
    Bytes::from(serde_json::json!({ "errorType": error_type, "errorMessage": message }).to_string())
}

impl Engine {
    /// Prepares the work directory and starts the reaper of idle environments.
    pub fn start(config: EngineConfig) -> Result<Engine, InvokeError> {
        let record_metrics = config.record_metrics;
        let io = |e: std::io::Error| InvokeError::Internal(format!("work directory: {e}"));
        for d in ["runtime", "opt", "env-logs", "logs"] {
            std::fs::create_dir_all(config.work_dir.join(d)).map_err(io)?;
        }
        for (file, text) in [("python.py", PYTHON_BOOTSTRAP), ("node.js", NODE_BOOTSTRAP)] {
            std::fs::write(config.work_dir.join("runtime").join(file), text).map_err(io)?;
        }
        let isa_dir = config.work_dir.join("runtime").join("isa");
        // env-init is every environment's first process: without it nothing starts.
        archfn_sandbox::isa::install(&isa_dir)
            .map_err(|e| InvokeError::Internal(format!("installing env-init: {e}")))?;
        let isa_enforced = if std::env::var("ARCHFN_ISA_ENFORCEMENT").as_deref() == Ok("off") {
            tracing::warn!(
                "ARCHFN_ISA_ENFORCEMENT=off: executables of the other ISA will not be refused"
            );
            false
        } else {
            true
        };
        let cgroups = archfn_sandbox::cgroup::CgroupParent::new(&config.instance);
        let swept = cgroups.sweep_stale();
        if let Err(e) = cgroups.limit_totals(
            config.max_environment_memory_mb,
            config.max_environment_pids,
        ) {
            tracing::warn!(error = %e, "the kernel does not cap the environments' total memory and processes");
        }
        if swept > 0 {
            tracing::info!(groups = swept, "removed cgroups left by an earlier process");
        }
        if std::env::var("ARCHFN_CGROUP_FAVORDYNMODS").as_deref() == Ok("off") {
            tracing::info!(
                "ARCHFN_CGROUP_FAVORDYNMODS=off: cgroup moves left as the host has them"
            );
        } else {
            use archfn_sandbox::cgroup::{FavorDynmods, favor_dynamic_moves};
            match favor_dynamic_moves(Path::new(FAVORDYNMODS_V1_MOUNT)) {
                Ok(FavorDynmods::Already(_)) => {}
                Ok(done) => tracing::info!(
                    ?done,
                    "cgroup moves favoured (favordynmods): cold starts skip an RCU grace period"
                ),
                Err(e) => {
                    tracing::warn!(error = %e, "cgroup moves not favoured: each cold start may wait an RCU grace period (5-15 ms)")
                }
            }
        }
        let pid_dir = config.work_dir.join("links");
        let ended = archfn_sandbox::netns::end_stale_links(&pid_dir);
        if ended > 0 {
            tracing::info!(
                processes = ended,
                "ended network links left by an earlier process"
            );
        }
        let network = Arc::new(NetworkPool::new(
            config.network,
            PREPARED_NETWORKS,
            &pid_dir,
        ));
        let scratch = archfn_sandbox::scratch::ScratchPool::new(
            &config.work_dir.join("scratch"),
            PREPARED_SCRATCH,
        )
        .map(Arc::new);
        if scratch.is_none() {
            tracing::warn!("no private mount namespace: /tmp is a tmpfs, charged to memory");
        }
        let confiner = Arc::new(Confiner {
            cgroups,
            ids: archfn_sandbox::identity::HostIds::new(config.sandbox_uid_base),
            network: network.clone(),
            scratch: scratch.clone(),
            max_processes: MAX_PROCESSES,
        });
        // Network namespaces and /tmp file systems are prepared ahead of the cold starts that
        // take them.
        let stopping = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let stop = stopping.clone();
        let preparer = std::thread::Builder::new()
            .name("archfn-prepare".into())
            .spawn(move || {
                // Below the cold starts it prepares for: on a busy host it takes their idle time.
                let _ = archfn_sandbox::ready::set_nice(0, archfn_sandbox::ready::PREPARATION_NICE);
                let (mut net_warned, mut tmp_warned) = (false, false);
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    if let Err(e) = network.refill()
                        && !net_warned
                    {
                        tracing::warn!(error = %e, "network namespaces cannot be prepared ahead");
                        net_warned = true;
                    }
                    if let Some(s) = &scratch
                        && let Err(e) = s.refill()
                        && !tmp_warned
                    {
                        tracing::warn!(error = %e, "/tmp file systems cannot be prepared ahead");
                        tmp_warned = true;
                    }
                    if Arc::strong_count(&network) == 1 {
                        return;
                    }
                    std::thread::sleep(Duration::from_millis(50));
                }
                // What was made while the server was being stopped goes too.
                network.clear();
                if let Some(s) = &scratch {
                    s.clear();
                }
            })
            .map_err(|e| InvokeError::Internal(format!("preparation thread: {e}")))?;
        let budget = crate::budget::MemoryBudget::new(config.max_environment_memory_mb);
        let engine = Engine {
            inner: Arc::new(Inner {
                budget,
                stopping,
                preparer: Mutex::new(Some(preparer)),
                confiner,
                runtimes: RuntimeStore::new(&config.runtimes_dir),
                logs: Arc::new(FunctionLogs::new(config.work_dir.join("logs"))),
                config,
                idle: Mutex::new(HashMap::new()),
                metrics: crate::metrics::Metrics::default(),
                aggregate: crate::aggregate::Aggregate::new(record_metrics),
                isa_enforced,
            }),
        };
        // The freezer: an environment idle for FREEZE_AFTER is frozen until it is taken again.
        let weak = Arc::downgrade(&engine.inner);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(FREEZE_AFTER / 2);
            loop {
                tick.tick().await;
                let Some(inner) = weak.upgrade() else { return };
                if let Ok(mut idle) = inner.idle.lock() {
                    for env in idle.values_mut().flatten() {
                        if !env.is_frozen() && env.last_used.elapsed() >= FREEZE_AFTER {
                            env.freeze();
                        }
                    }
                }
            }
        });
        let weak = Arc::downgrade(&engine.inner);
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_secs(5)).await;
                let Some(inner) = weak.upgrade() else { return };
                let ttl = inner.config.idle_timeout;
                if let Ok(mut idle) = inner.idle.lock() {
                    for envs in idle.values_mut() {
                        envs.retain(|e| e.last_used.elapsed() < ttl && e.alive());
                    }
                    idle.retain(|_, v| !v.is_empty());
                }
            }
        });
        Ok(engine)
    }

    /// Stops the engine's environments and what was prepared for them: idle environments end
    /// (their pasta links, `/tmp` file systems and cgroups with them), nothing more is
    /// prepared, and the server's parent cgroups are removed once empty. Invocations still
    /// running end with the process.
    pub fn shutdown(&self) {
        self.inner
            .stopping
            .store(true, std::sync::atomic::Ordering::Relaxed);
        let idle: Vec<Environment> = match self.inner.idle.lock() {
            Ok(mut idle) => idle.drain().flat_map(|(_, envs)| envs).collect(),
            Err(_) => Vec::new(),
        };
        drop(idle);
        // The preparation thread ends its current round (a pasta it is starting included) and
        // drops what it holds.
        let preparer = self.inner.preparer.lock().ok().and_then(|mut p| p.take());
        if let Some(p) = preparer {
            let _ = p.join();
        }
        self.inner.confiner.network.clear();
        if let Some(s) = &self.inner.confiner.scratch {
            s.clear();
        }
        self.inner.confiner.cgroups.remove(Duration::from_secs(1));
    }

    /// The runtimes directory.
    pub fn runtimes(&self) -> &RuntimeStore {
        &self.inner.runtimes
    }

    /// Invocation metrics in the Prometheus text format, labelled by architecture and execution.
    pub fn metrics_text(&self) -> String {
        let mut text = self.inner.metrics.render();
        text.push_str("# HELP archfn_idle_environments Warm execution environments waiting for work.\n# TYPE archfn_idle_environments gauge\n");
        text.push_str(&format!(
            "archfn_idle_environments {}\n",
            self.idle_environments()
        ));
        text.push_str("# HELP archfn_environment_memory_mb Memory held by execution environments (the sum of their MemorySize), MB.\n# TYPE archfn_environment_memory_mb gauge\n");
        text.push_str(&format!(
            "archfn_environment_memory_mb {}\narchfn_environment_memory_budget_mb {}\n",
            self.inner.budget.held_mb(),
            self.inner.config.max_environment_memory_mb
        ));
        text
    }

    /// Records a throttled invocation of `config` (refused before it ran, e.g. for
    /// concurrency) in the durable metrics, through `alias` when the caller named one.
    pub fn record_throttle(&self, region: &str, config: &FunctionConfig, alias: Option<&str>) {
        let series = series(region, config, alias);
        self.inner
            .aggregate
            .throttle(series, minute_of(archfn_model::time::now_ms()));
    }

    /// Starts watching invocations of `function` through `alias` as they happen, per version
    /// (throttles included), until the returned watch is dropped. A traffic shift judges its
    /// live traffic with it.
    pub fn watch_alias(&self, region: &str, function: &str, alias: &str) -> AliasWatch {
        AliasWatch {
            watch: self.inner.aggregate.watch(region, function, alias),
            engine: self.clone(),
        }
    }

    /// Hands the per-minute metrics of finished minutes (or of every minute, including the
    /// current one, when `everything`: at shutdown) to `write`, which stores them. Buckets it
    /// fails to store are offered again on the next call. Returns how many were stored.
    /// Recording never waits for this.
    pub async fn flush_metrics<E>(
        &self,
        everything: bool,
        write: impl AsyncFnOnce(&[MinuteBucket]) -> Result<(), E>,
    ) -> Result<usize, E> {
        let before = (!everything).then(|| minute_of(archfn_model::time::now_ms()));
        self.inner.aggregate.flush(before, write).await
    }

    /// Calls `read` with a copy of `function`'s per-minute metrics that are not stored yet
    /// (the current minute's, and finished ones a flush has not stored); no flush stores
    /// anything while `read` runs, so what it reads from the store and what it is given
    /// neither overlap nor miss a bucket.
    pub async fn with_unflushed_metrics<T>(
        &self,
        region: &str,
        function: &str,
        read: impl AsyncFnOnce(Vec<MinuteBucket>) -> T,
    ) -> T {
        self.inner
            .aggregate
            .read_unflushed(region, function, read)
            .await
    }

    /// Number of warm, idle environments.
    pub fn idle_environments(&self) -> usize {
        self.inner
            .idle
            .lock()
            .map(|m| m.values().map(Vec::len).sum())
            .unwrap_or(0)
    }

    /// Ends the idle environments of version `version` of `function`, so that its next
    /// invocation is a cold start (`archfn compare` measures cold starts this way). Returns
    /// how many ended.
    pub fn end_idle(&self, region: &str, function: &str, version: &str) -> usize {
        let ended: Vec<Environment> = match self.inner.idle.lock() {
            Ok(mut idle) => {
                let keys: Vec<PoolKey> = idle
                    .keys()
                    .filter(|k| k.0 == region && k.1 == function && k.2 == version)
                    .cloned()
                    .collect();
                keys.iter()
                    .filter_map(|k| idle.remove(k))
                    .flatten()
                    .collect()
            }
            Err(_) => Vec::new(),
        };
        // Dropped outside the lock.
        let n = ended.len();
        drop(ended);
        n
    }

    fn take_idle(&self, key: &PoolKey) -> Option<Environment> {
        let mut env = {
            let mut idle = self.inner.idle.lock().ok()?;
            let envs = idle.get_mut(key)?;
            loop {
                let env = envs.pop()?;
                if env.alive() {
                    break env;
                }
            }
        };
        env.thaw();
        Some(env)
    }

    /// `memory_mb` of the host's budget for a new environment: if it does not fit, idle
    /// environments are ended, least recently used first, until it does; if it still does not,
    /// the cold start is throttled.
    fn lease_memory(&self, memory_mb: u32) -> Result<crate::budget::Lease, InvokeError> {
        let mb = u64::from(memory_mb);
        loop {
            if let Some(lease) = self.inner.budget.try_lease(mb) {
                return Ok(lease);
            }
            let evicted = {
                let Ok(mut idle) = self.inner.idle.lock() else {
                    break;
                };
                let oldest = idle
                    .iter()
                    .flat_map(|(k, envs)| {
                        envs.iter()
                            .enumerate()
                            .map(move |(i, e)| (k, i, e.last_used))
                    })
                    .min_by_key(|(_, _, used)| *used)
                    .map(|(k, i, _)| (k.clone(), i));
                oldest.and_then(|(k, i)| idle.get_mut(&k).map(|envs| envs.remove(i)))
            };
            // Dropped outside the lock: its share of the budget returns as it goes.
            match evicted {
                Some(env) => drop(env),
                None => break,
            }
        }
        Err(InvokeError::Throttled(format!(
            "Rate Exceeded. (the host's memory budget for execution environments, {} MB, is in use)",
            self.inner.config.max_environment_memory_mb
        )))
    }

    fn put_idle(&self, key: PoolKey, mut env: Environment) {
        // Frozen by the freezer once idle for FREEZE_AFTER, so that invocations arriving back
        // to back skip a freeze and a thaw.
        env.last_used = Instant::now();
        if let Ok(mut idle) = self.inner.idle.lock() {
            idle.entry(key).or_default().push(env);
        }
    }

    /// Merges layers into one directory (later layers win), hard-linking files; cached by the
    /// layers' directories.
    fn merged_opt(&self, layers: &[PathBuf]) -> Result<Option<PathBuf>, InvokeError> {
        if layers.is_empty() {
            return Ok(None);
        }
        let key: Vec<String> = layers
            .iter()
            .filter_map(|p| p.file_name())
            .map(|n| n.to_string_lossy().into_owned())
            .collect();
        let dest = self.inner.config.work_dir.join("opt").join(key.join("+"));
        if dest.is_dir() {
            // Used again: young in the eyes of `sweep_opt`'s grace period.
            let _ = std::fs::File::open(&dest)
                .and_then(|d| d.set_modified(std::time::SystemTime::now()));
            return Ok(Some(dest));
        }
        let tmp = self
            .inner
            .config
            .work_dir
            .join("opt")
            .join(format!(".tmp-{}", uuid::Uuid::new_v4().simple()));
        if let Some(opt) = tmp.parent() {
            std::fs::create_dir_all(opt)
                .map_err(|e| InvokeError::Internal(format!("merging layers: {e}")))?;
        }
        // Never through a symbolic link, whichever layer made it.
        if let Err(e) = archfn_extract::merge_layers(layers, &tmp) {
            let _ = std::fs::remove_dir_all(&tmp);
            return Err(InvokeError::Internal(format!("merging layers: {e}")));
        }
        if std::fs::rename(&tmp, &dest).is_err() {
            let _ = std::fs::remove_dir_all(&tmp);
        }
        Ok(Some(dest))
    }

    /// Removes the merged `/opt` trees no function version uses any more: those whose name (the
    /// layers' directory names joined with `+`) is not in `live` and that are older than `grace`,
    /// and merges abandoned mid-way for an hour. An environment running from a removed tree
    /// keeps its mount; the next cold start of a version that uses the combination merges it
    /// again. Returns how many trees were removed.
    pub fn sweep_opt(&self, live: &std::collections::BTreeSet<String>, grace: Duration) -> usize {
        let root = self.inner.config.work_dir.join("opt");
        let Ok(entries) = std::fs::read_dir(&root) else {
            return 0;
        };
        let mut removed = 0;
        for entry in entries.flatten() {
            let Ok(name) = entry.file_name().into_string() else {
                continue;
            };
            let age = entry
                .metadata()
                .ok()
                .and_then(|m| m.modified().ok())
                .and_then(|t| t.elapsed().ok());
            let keep = if name.starts_with(".tmp-") {
                age.is_none_or(|a| a < Duration::from_secs(3600))
            } else {
                live.contains(&name) || age.is_none_or(|a| a < grace)
            };
            if keep {
                continue;
            }
            match std::fs::remove_dir_all(entry.path()) {
                Ok(()) => removed += 1,
                Err(e) => tracing::warn!(opt = %name, error = %e, "could not remove merged layers"),
            }
        }
        removed
    }

    fn argv(
        kind: RuntimeKind,
        interpreter: &str,
        target: &Target,
        opt: Option<&Path>,
    ) -> Result<Vec<String>, (String, String)> {
        // A managed runtime is started through the function's wrapper script when it names one:
        // the script gets the interpreter and its arguments (OS-only runtimes ignore it, as on
        // Lambda).
        let wrapper = target
            .config
            .environment
            .as_ref()
            .and_then(|vars| vars.get("AWS_LAMBDA_EXEC_WRAPPER"))
            .filter(|w| !w.is_empty());
        let wrapped = |argv: Vec<String>| match wrapper {
            Some(w) => std::iter::once(w.clone()).chain(argv).collect(),
            None => argv,
        };
        if let Some(image) = &target.image {
            return image_argv(image, &target.task_dir, target.config.architecture);
        }
        match kind {
            RuntimeKind::Python => Ok(wrapped(vec![
                interpreter.into(),
                "-u".into(),
                "/var/runtime/python.py".into(),
            ])),
            RuntimeKind::Node => Ok(wrapped(vec![
                interpreter.into(),
                "/var/runtime/node.js".into(),
            ])),
            RuntimeKind::Provided => {
                let candidates = [
                    (target.task_dir.join("bootstrap"), "/var/task/bootstrap"),
                    (
                        opt.map(|o| o.join("bootstrap")).unwrap_or_default(),
                        "/opt/bootstrap",
                    ),
                ];
                for (host, inside) in candidates {
                    if host.as_os_str().is_empty() || !host.is_file() {
                        continue;
                    }
                    let mut head = [0u8; 20];
                    let n = std::fs::File::open(&host)
                        .and_then(|mut f| std::io::Read::read(&mut f, &mut head))
                        .unwrap_or(0);
                    if let Some(found) = elf::machine(&head[..n])
                        && found != target.config.architecture
                    {
                        return Err((
                            "Runtime.InvalidEntrypoint".into(),
                            format!(
                                "fork/exec {inside}: exec format error (the bootstrap is a {found} executable; the function is {})",
                                target.config.architecture
                            ),
                        ));
                    }
                    return Ok(vec![inside.to_string()]);
                }
                Err((
                    "Runtime.InvalidEntrypoint".into(),
                    "Couldn't find valid bootstrap(s): [/var/task/bootstrap /opt/bootstrap]".into(),
                ))
            }
        }
    }

    fn environment_variables(
        target: &Target,
        runtime: &str,
        kind: RuntimeKind,
    ) -> Vec<(String, String)> {
        let c = &target.config;
        let today = archfn_model::time::format_last_modified(archfn_model::time::now_ms());
        let stream = format!(
            "{}/[{}]{}",
            today.get(..10).unwrap_or("1970-01-01").replace('-', "/"),
            c.version,
            uuid::Uuid::new_v4().simple()
        );
        let mut env: Vec<(String, String)> = Vec::new();
        // The image's ENV, then the function's variables, then Lambda's own (the later wins).
        let image_env = target
            .image
            .as_ref()
            .map(|i| &i.env[..])
            .unwrap_or_default();
        env.extend(image_env.iter().cloned());
        if let Some(vars) = &c.environment {
            env.extend(vars.iter().map(|(k, v)| (k.clone(), v.clone())));
        }
        // Where the image sets these for its own programs, its values stand.
        let from_image = |k: &str| image_env.iter().any(|(name, _)| name == k);
        let mut set = |k: &str, v: String| env.push((k.to_string(), v));
        let handler = match &target.image {
            Some(image) => image.command.first().cloned(),
            None => c.handler.clone(),
        };
        set("_HANDLER", handler.unwrap_or_default());
        set("AWS_REGION", target.region.clone());
        set("AWS_DEFAULT_REGION", target.region.clone());
        if kind != RuntimeKind::Provided && target.image.is_none() {
            set("AWS_EXECUTION_ENV", format!("AWS_Lambda_{runtime}"));
        }
        set("AWS_LAMBDA_FUNCTION_NAME", c.name.clone());
        set("AWS_LAMBDA_FUNCTION_VERSION", c.version.clone());
        set("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", c.memory_mb.to_string());
        set("AWS_LAMBDA_INITIALIZATION_TYPE", "on-demand".into());
        set(
            "AWS_LAMBDA_LOG_GROUP_NAME",
            format!("/aws/lambda/{}", c.name),
        );
        set("AWS_LAMBDA_LOG_STREAM_NAME", stream);
        set("LAMBDA_TASK_ROOT", "/var/task".into());
        set("LAMBDA_RUNTIME_DIR", "/var/runtime".into());
        let defaults = [
            ("TZ", ":UTC"),
            ("LANG", "en_US.UTF-8"),
            (
                "PATH",
                "/var/lang/bin:/usr/local/bin:/usr/bin/:/bin:/opt/bin",
            ),
            (
                "LD_LIBRARY_PATH",
                "/var/lang/lib:/lib64:/usr/lib64:/var/runtime:/var/runtime/lib:/var/task:/var/task/lib:/opt/lib",
            ),
        ];
        for (k, v) in defaults {
            if !from_image(k) {
                set(k, v.into());
            }
        }
        if kind == RuntimeKind::Node {
            let major = runtime.trim_start_matches("nodejs").trim_end_matches(".x");
            set(
                "NODE_PATH",
                format!(
                    "/opt/nodejs/node{major}/node_modules:/opt/nodejs/node_modules:/var/runtime/node_modules:/var/runtime:/var/task"
                ),
            );
        }
        env
    }

    /// Runs one invocation. Function failures are outcomes (with `function_error`), not errors.
    pub async fn invoke(&self, req: InvokeRequest) -> Result<InvokeOutcome, InvokeError> {
        let target = &req.target;
        let c = &target.config;
        let arch: Architecture = c.architecture;
        let mode = ExecutionMode::for_arch(arch);
        // A container image brings its own runtime: it starts like an OS-only runtime would.
        let (runtime, kind, interpreter) = match (&c.runtime, &target.image) {
            (Some(runtime), _) => {
                let recipe = archfn_sandbox::rootfs::recipe(runtime)?;
                (runtime.clone(), recipe.kind, recipe.interpreter)
            }
            (None, Some(_)) => ("image".to_string(), RuntimeKind::Provided, ""),
            (None, None) => {
                return Err(InvokeError::Runtime(
                    "the function has neither a runtime nor an image".into(),
                ));
            }
        };
        let request_id = uuid::Uuid::new_v4().to_string();
        let key: PoolKey = (
            target.region.clone(),
            c.name.clone(),
            c.version.clone(),
            c.revision_id.clone(),
        );
        let timeout = Duration::from_secs(c.timeout_s.into());
        let mut log = String::new();

        // When the init ran again inside this invoke, when that began: its time counts
        // against the function's timeout and in the invoke's Duration.
        let mut suppressed_init: Option<Instant> = None;
        let mut cold = false;
        let mut env = match self.take_idle(&key) {
            Some(env) => env,
            None => {
                cold = true;
                binfmt::ensure(arch)?;
                let lease = match self.lease_memory(c.memory_mb) {
                    Ok(lease) => lease,
                    Err(e) => {
                        self.record_throttle(&target.region, c, req.alias.as_deref());
                        return Err(e);
                    }
                };
                let runtime_version = format!("{runtime}.archfn");
                // Lambda names a runtime version for managed runtimes only, not for images.
                let init_start = match &target.image {
                    Some(_) => String::new(),
                    None => logs::init_start_line(&runtime_version, mode),
                };
                let (rootfs, opt) = match &target.image {
                    // The image is the root file system; its /opt may hold extensions.
                    Some(_) => (
                        target.task_dir.clone(),
                        Some(target.task_dir.join("opt")).filter(|o| o.is_dir()),
                    ),
                    None => (
                        self.inner.runtimes.rootfs(&runtime, arch)?,
                        self.merged_opt(&target.layer_dirs)?,
                    ),
                };
                let argv = match Self::argv(kind, interpreter, target, opt.as_deref()) {
                    Ok(a) => a,
                    Err((error_type, message)) => {
                        if let Some(image) = &target.image {
                            log.push_str(&image_launch_error_line(image, &message));
                        }
                        let message = format!("RequestId: {request_id} Error: {message}");
                        log.push_str(&logs::init_report_line(
                            0.0,
                            "init",
                            "error",
                            Some(&error_type),
                            mode,
                        ));
                        return Ok(self.failed(
                            &req,
                            request_id,
                            error_doc(&error_type, message),
                            log,
                            mode,
                            &error_type,
                        ));
                    }
                };
                // env-init first: the environment's identity, limits and seccomp filter, and
                // (enforced) its refusal of the other ISA's executables; it also starts the
                // layers' external extensions before the runtime.
                let extensions = opt.as_deref().map(external_extensions).unwrap_or_default();
                // An extension built for the other ISA cannot be launched: init fails at once
                // with Extension.LaunchError, as on Lambda, instead of waiting for it to register.
                if let Some(name) = opt
                    .as_deref()
                    .and_then(|o| foreign_extension(o, &extensions, arch))
                {
                    log.push_str(&init_start);
                    log.push_str(&format!("EXTENSION\tName: {name}\tState: LaunchError\tEvents: []\tError Type: UnknownError\n"));
                    log.push_str(&logs::init_report_line(
                        0.0,
                        "init",
                        "error",
                        Some("Extension.LaunchError"),
                        mode,
                    ));
                    let message = format!(
                        "RequestId: {request_id} Error: fork/exec /opt/extensions/{name}: exec format error"
                    );
                    return Ok(self.failed(
                        &req,
                        request_id,
                        error_doc("Extension.LaunchError", message),
                        log,
                        mode,
                        "Extension.LaunchError",
                    ));
                }
                let dir = self.inner.config.work_dir.join("runtime").join("isa");
                let paths: Vec<String> = extensions
                    .iter()
                    .map(|n| format!("/opt/extensions/{n}"))
                    .collect();
                let mut full =
                    archfn_sandbox::isa::init_argv(arch, &dir, self.inner.isa_enforced, &paths);
                full.extend(argv);
                let spec = bwrap::EnvironmentSpec {
                    rootfs,
                    task_dir: match &target.image {
                        Some(_) => target.task_dir.join("var/task"),
                        None => target.task_dir.clone(),
                    },
                    opt_dir: opt,
                    runtime_dir: self.inner.config.work_dir.join("runtime"),
                    tmp_size_mb: c.ephemeral_storage_mb,
                    tmp_dir: None,
                    env: Self::environment_variables(target, &runtime, kind),
                    argv: full,
                    working_dir: target
                        .image
                        .as_ref()
                        .map_or_else(|| "/var/task".to_string(), |i| i.working_dir.clone()),
                };
                log.push_str(&init_start);
                let params = StartParams {
                    confiner: self.inner.confiner.clone(),
                    spec,
                    log_dir: self.inner.config.work_dir.join("env-logs"),
                    memory_mb: c.memory_mb,
                    cpu_millicores: self
                        .inner
                        .config
                        .cpu_limit
                        .map(|factor| cpu_millicores(c.memory_mb, mode, factor)),
                    init_timeout: self.inner.config.init_timeout,
                    function: crate::runtime_api::FunctionInfo {
                        function_name: c.name.clone(),
                        function_version: c.version.clone(),
                        handler: c.handler.clone().unwrap_or_default(),
                        account_id: req.invoked_arn.split(':').nth(4).unwrap_or("").to_string(),
                        external_extensions: extensions.clone(),
                    },
                    extensions_expected: extensions.len(),
                    init_phase: "init",
                    runtime_version,
                };
                let mut started = Instant::now();
                let mut result = Environment::start(params.clone()).await;
                if let Err((InitFailure::TimedOut, output)) = &result {
                    // Past the init window, Lambda runs the init again inside the first invoke
                    // ("suppressed init"), under the function's timeout, and bills it as invoke.
                    log.push_str(output);
                    let init_ms = started.elapsed().as_secs_f64() * 1000.0;
                    log.push_str(&logs::init_report_line(
                        init_ms, "init", "timeout", None, mode,
                    ));
                    started = Instant::now();
                    let retry = StartParams {
                        init_timeout: timeout,
                        init_phase: "invoke",
                        ..params
                    };
                    result = Environment::start(retry).await;
                    suppressed_init = Some(started);
                }
                let phase = if suppressed_init.is_some() {
                    "invoke"
                } else {
                    "init"
                };
                match result {
                    Ok(mut env) => {
                        env.budget = Some(lease);
                        let output = env.read_new_log();
                        init_telemetry(&env, &output, phase, started.elapsed());
                        log.push_str(&output);
                        log.push_str(&env.extension_lines());
                        env.log_sink = Some((
                            self.inner.logs.clone(),
                            target.region.clone(),
                            c.name.clone(),
                        ));
                        if suppressed_init.is_some() {
                            env.init_ms = None;
                        }
                        env
                    }
                    Err((failure, output)) => {
                        log.push_str(&output);
                        let init_ms = started.elapsed().as_secs_f64() * 1000.0;
                        let (error_type, body) = match failure {
                            InitFailure::Reported(e) => (e.error_type.clone(), e.body),
                            InitFailure::Exited(info) => (
                                "Runtime.ExitError".to_string(),
                                error_doc(
                                    "Runtime.ExitError",
                                    format!(
                                        "RequestId: {request_id} Error: Runtime exited with error: {info}"
                                    ),
                                ),
                            ),
                            InitFailure::TimedOut => (
                                "Sandbox.Timedout".to_string(),
                                error_doc(
                                    "Sandbox.Timedout",
                                    format!(
                                        "RequestId: {request_id} Error: Task timed out after {}.00 seconds",
                                        c.timeout_s
                                    ),
                                ),
                            ),
                            InitFailure::Spawn(m) => return Err(InvokeError::Internal(m)),
                        };
                        let status = if error_type == "Sandbox.Timedout" {
                            "timeout"
                        } else {
                            "error"
                        };
                        log.push_str(&logs::init_report_line(
                            init_ms,
                            phase,
                            status,
                            Some(&error_type),
                            mode,
                        ));
                        return Ok(self.failed(&req, request_id, body, log, mode, &error_type));
                    }
                }
            }
        };

        log.push_str(&logs::start_line(&request_id, &c.version));
        let started = suppressed_init.unwrap_or_else(Instant::now);
        let timeout = timeout.saturating_sub(started.elapsed());
        let deadline_ms =
            archfn_model::time::now_ms() + i64::try_from(timeout.as_millis()).unwrap_or(i64::MAX);
        let telemetry = env.telemetry().wanted();
        if telemetry {
            env.telemetry().emit(
                Category::Platform,
                "platform.start",
                serde_json::json!({ "requestId": request_id, "version": c.version }),
            );
        }
        let inv = invocation(
            &request_id,
            req.payload.clone(),
            deadline_ms,
            &req.invoked_arn,
            req.client_context.clone(),
        );
        let outcome = env.invoke(inv, timeout).await;
        let duration_ms = started.elapsed().as_secs_f64() * 1000.0;
        let output = env.read_new_log();
        log.push_str(&output);
        log.push_str(&logs::end_line(&request_id));
        let report = Report {
            duration_ms,
            memory_mb: c.memory_mb,
            max_memory_used_mb: env.max_memory_used_mb(),
            init_ms: env.init_ms.take(),
            mode,
        };
        let (payload, function_error, status, keep, error_type) = match outcome {
            Outcome::Reply(RuntimeReply::Response(body)) => (body, None, None, true, None),
            Outcome::Reply(RuntimeReply::Error { error_type, body }) => {
                let error_type = error_type.unwrap_or_else(|| "Function.Unknown".into());
                let body = if body.is_empty() {
                    error_doc(&error_type, String::new())
                } else {
                    body
                };
                // A response too large is the platform's verdict, and Lambda reports it in REPORT.
                let status = (error_type == "Function.ResponseSizeTooLarge")
                    .then_some(("error", "Function.ResponseSizeTooLarge"));
                (
                    body,
                    Some("Unhandled".to_string()),
                    status,
                    true,
                    Some(error_type),
                )
            }
            Outcome::Exited(info) => {
                let (kind, msg) = if env.oom_killed() {
                    (
                        "Runtime.OutOfMemory",
                        format!(
                            "RequestId: {request_id} Error: Runtime exited with error: signal: killed"
                        ),
                    )
                } else if info == "exit status 0" || info == "runtime api closed" {
                    (
                        "Runtime.ExitError",
                        format!(
                            "RequestId: {request_id} Error: Runtime exited without providing a reason"
                        ),
                    )
                } else {
                    (
                        "Runtime.ExitError",
                        format!("RequestId: {request_id} Error: Runtime exited with error: {info}"),
                    )
                };
                (
                    error_doc(kind, msg),
                    Some("Unhandled".to_string()),
                    Some(("error", kind)),
                    false,
                    Some(kind.to_string()),
                )
            }
            Outcome::TimedOut => (
                error_doc(
                    "Sandbox.Timedout",
                    format!(
                        "RequestId: {request_id} Error: Task timed out after {}.00 seconds",
                        c.timeout_s
                    ),
                ),
                Some("Unhandled".to_string()),
                Some(("timeout", "Sandbox.Timedout")),
                false,
                Some("Sandbox.Timedout".to_string()),
            ),
        };
        if status.is_some_and(|(s, _)| s == "timeout") {
            log.push_str(&format!(
                "{} {request_id} Task timed out after {}.00 seconds\n",
                archfn_model::time::format_last_modified(archfn_model::time::now_ms()),
                c.timeout_s
            ));
        }
        log.push_str(&logs::report_line(&request_id, &report, status));
        self.inner.logs.append(&target.region, &c.name, &log);
        let ending = Ending::of(function_error.is_some(), status);
        if telemetry {
            invoke_telemetry(&env, &request_id, &output, &report, &payload, ending);
        }
        self.inner.metrics.record(
            crate::metrics::Labels {
                function: c.name.clone(),
                version: c.version.clone(),
                arch: arch.as_str(),
                execution: mode.as_str(),
                outcome: ending.metric(),
            },
            duration_ms,
            report.init_ms.is_some(),
        );
        self.inner.aggregate.record(
            series(&target.region, c, req.alias.as_deref()),
            minute_of(archfn_model::time::now_ms()),
            Observation {
                duration_us: Some(micros(duration_ms)),
                init_duration_us: report.init_ms.map(micros),
                cold,
                billed_ms: report.billed_ms(),
                max_memory_mb: report.max_memory_used_mb,
                error: error_type.as_deref(),
            },
        );
        if keep && env.alive() {
            self.put_idle(key, env);
        }
        tracing::debug!(function = %c.name, version = %c.version, arch = %arch, mode = mode.as_str(), duration_ms, "invoked");
        Ok(InvokeOutcome {
            request_id,
            payload,
            function_error,
            log,
            mode,
            figures: InvocationFigures {
                duration_ms,
                billed_ms: report.billed_ms(),
                max_memory_used_mb: report.max_memory_used_mb,
                init_ms: report.init_ms,
                cold,
                error_type,
            },
        })
    }

    fn failed(
        &self,
        req: &InvokeRequest,
        request_id: String,
        payload: Bytes,
        log: String,
        mode: ExecutionMode,
        error_type: &str,
    ) -> InvokeOutcome {
        let c = &req.target.config;
        // An init that failed: a cold start that never ran the handler (no duration).
        self.inner.aggregate.record(
            series(&req.target.region, c, req.alias.as_deref()),
            minute_of(archfn_model::time::now_ms()),
            Observation {
                cold: true,
                error: Some(error_type),
                ..Observation::default()
            },
        );
        self.inner.metrics.record(
            crate::metrics::Labels {
                function: c.name.clone(),
                version: c.version.clone(),
                arch: c.architecture.as_str(),
                execution: mode.as_str(),
                outcome: "init_error",
            },
            0.0,
            true,
        );
        self.inner.logs.append(&req.target.region, &c.name, &log);
        InvokeOutcome {
            request_id,
            payload,
            function_error: Some("Unhandled".into()),
            log,
            mode,
            figures: InvocationFigures {
                cold: true,
                error_type: Some(error_type.to_string()),
                ..InvocationFigures::default()
            },
        }
    }
}

/// How an invocation ended, in the words of the metrics and of the Telemetry API.
#[derive(Debug, Clone, Copy)]
enum Ending {
    Success,
    /// The function reported an error (`/error`).
    FunctionError,
    Timeout,
    /// The runtime died, ran out of memory, or answered too much: the platform's verdict.
    Crash,
}

impl Ending {
    /// From whether the answer is a function error, and the REPORT line's status.
    fn of(function_error: bool, status: Option<(&str, &str)>) -> Ending {
        match (function_error, status) {
            (false, _) => Ending::Success,
            (true, Some(("timeout", _))) => Ending::Timeout,
            (true, Some(_)) => Ending::Crash,
            (true, None) => Ending::FunctionError,
        }
    }

    /// The `outcome` label of `/metrics`.
    fn metric(self) -> &'static str {
        match self {
            Ending::Success => "success",
            Ending::FunctionError => "function_error",
            Ending::Timeout => "timeout",
            Ending::Crash => "crash",
        }
    }

    /// The Telemetry API's `status`.
    fn telemetry(self) -> &'static str {
        match self {
            Ending::Success => "success",
            Ending::FunctionError => "error",
            Ending::Timeout => "timeout",
            Ending::Crash => "failure",
        }
    }
}

/// The Telemetry API's events of a successful init: the init's output, `initRuntimeDone` and
/// `initReport`. Init is then over: no more events are kept for late subscribers.
fn init_telemetry(env: &Environment, output: &str, phase: &str, took: Duration) {
    let t = env.telemetry();
    if t.wanted() {
        t.function_lines(output);
        let init = serde_json::json!({ "initializationType": "on-demand", "phase": phase, "status": "success" });
        t.emit(Category::Platform, "platform.initRuntimeDone", init.clone());
        let mut report = init;
        report["metrics"] = serde_json::json!({ "durationMs": took.as_secs_f64() * 1000.0 });
        t.emit(Category::Platform, "platform.initReport", report);
    }
    t.end_init();
}

/// The Telemetry API's events of one invocation after `platform.start`: its output, then
/// `runtimeDone` and `report` with the REPORT line's figures.
fn invoke_telemetry(
    env: &Environment,
    request_id: &str,
    output: &str,
    report: &Report,
    payload: &Bytes,
    ending: Ending,
) {
    let t = env.telemetry();
    t.function_lines(output);
    let status = ending.telemetry();
    t.emit(
        Category::Platform,
        "platform.runtimeDone",
        serde_json::json!({
            "requestId": request_id,
            "status": status,
            "metrics": { "durationMs": report.duration_ms, "producedBytes": payload.len() },
        }),
    );
    let mut metrics = serde_json::json!({
        "durationMs": report.duration_ms,
        "billedDurationMs": report.billed_ms(),
        "memorySizeMB": report.memory_mb,
        "maxMemoryUsedMB": report.max_memory_used_mb,
    });
    if let Some(init) = report.init_ms {
        metrics["initDurationMs"] = serde_json::json!(init);
    }
    t.emit(
        Category::Platform,
        "platform.report",
        serde_json::json!({ "requestId": request_id, "status": status, "metrics": metrics }),
    );
}

/// Where function `name`'s log is, for an engine whose work directory is `work_dir`
/// (what `archfn logs` reads, with or without a running server); `None` when the region or the
/// name is not a plain one.
pub fn function_log_path(work_dir: &Path, region: &str, name: &str) -> Option<PathBuf> {
    logs::function_log_path(&work_dir.join("logs"), region, name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_follows_memory_as_lambda_allocates_it() {
        assert_eq!(cpu_millicores(1769, ExecutionMode::Native, 8), 1000);
        assert_eq!(cpu_millicores(128, ExecutionMode::Native, 8), 72);
        assert_eq!(cpu_millicores(128, ExecutionMode::Emulated, 8), 576);
        assert_eq!(cpu_millicores(10240, ExecutionMode::Native, 8), 5788);
    }
}

/// A live watch of one alias's invocations (see [`Engine::watch_alias`]); it ends when dropped.
#[derive(Debug)]
pub struct AliasWatch {
    watch: std::sync::Arc<crate::aggregate::Watch>,
    engine: Engine,
}

impl AliasWatch {
    /// What was seen since the last call (or since the watch began), per version.
    pub fn drain(&self) -> HashMap<String, crate::aggregate::WatchedVersion> {
        self.watch.drain()
    }
}

impl Drop for AliasWatch {
    fn drop(&mut self) {
        self.engine.inner.aggregate.unwatch(&self.watch);
    }
}
