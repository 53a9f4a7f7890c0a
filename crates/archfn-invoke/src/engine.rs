//! The invocation engine: warm pools of environments per function version, cold starts,
//! failure handling as Lambda handles it, logs.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use archfn_model::{FunctionConfig, ImageLaunch};
use archfn_sandbox::cgroup::EnvLimits;
use archfn_sandbox::host::{Host, HostConfig, RealHost};
use archfn_sandbox::launch::{self, LaunchCode, LaunchRequest, PlanError, Refusal};
use archfn_sandbox::netns::FunctionNetwork;
use archfn_sandbox::rootfs::RuntimeStore;
use archfn_sandbox::{ExecutionMode, SandboxError};
use bytes::Bytes;

use archfn_model::metrics::{MinuteBucket, minute_of};

use crate::aggregate::{Observation, Series};
use crate::ending::{Ending, error_doc};
use crate::environment::{Environment, InitFailure, Outcome, StartParams, invocation};
use crate::logs::{self, LogPlace, LogRouter, LogText, PlatformLog, Report};
use crate::runtime_api::{ResponsePart, RuntimeReply, StreamEnd};
use crate::telemetry::Category;

const PYTHON_BOOTSTRAP: &str = include_str!("bootstrap/python.py");
const NODE_BOOTSTRAP: &str = include_str!("bootstrap/node.js");
const RUBY_BOOTSTRAP: &str = include_str!("bootstrap/ruby.rb");

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
    /// Environments refuse executables of the other ISA (`ARCHFN_ISA_ENFORCEMENT=off` turns
    /// it off, for diagnosis).
    pub isa_enforced: bool,
    /// Remount the cgroup hierarchy with `favordynmods` at start (see `RealHost::start`).
    pub favor_cgroup_moves: bool,
    /// Where log lines go, a log stream per execution environment (CloudWatch Logs' batching
    /// writer); `None` drops them (`LogType: Tail` still has them).
    pub log_sink: Option<Arc<dyn archfn_model::log_events::LogSink>>,
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
    /// The runtime streamed its answer: its body went to the invocation's sink as it came
    /// ([`Engine::invoke_streaming`]), and `payload` is only an error document, if any. When
    /// false, `payload` is the whole answer.
    pub streamed: bool,
    /// The node that ran it (`None` when the engine was given no node id: one node alone).
    pub node: Option<Arc<str>>,
    /// How that node came to run it.
    pub placement: crate::Placement,
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

/// What a warm environment serves: one function version at one revision; a provisioned
/// environment (kept for provisioned concurrency) is pooled apart from on-demand ones.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct PoolKey {
    region: String,
    function: String,
    version: String,
    revision: String,
    provisioned: bool,
}

impl PoolKey {
    fn of(target: &Target) -> PoolKey {
        let c = &target.config;
        PoolKey {
            region: target.region.clone(),
            function: c.name.clone(),
            version: c.version.clone(),
            revision: c.revision_id.clone(),
            provisioned: false,
        }
    }

    /// The key of the provisioned environments of the same version.
    fn provisioned(&self) -> PoolKey {
        PoolKey {
            provisioned: true,
            ..self.clone()
        }
    }

    fn is_version(&self, region: &str, function: &str, version: &str) -> bool {
        self.region == region && self.function == function && self.version == version
    }
}

/// How an environment came to be initialised (`AWS_LAMBDA_INITIALIZATION_TYPE`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Initialization {
    /// Started for an invocation (a cold start).
    OnDemand,
    /// Started ahead of invocations for provisioned concurrency.
    Provisioned,
}

impl Initialization {
    /// Lambda's word for it.
    pub fn as_str(self) -> &'static str {
        match self {
            Initialization::OnDemand => "on-demand",
            Initialization::Provisioned => "provisioned-concurrency",
        }
    }
}

/// The provisioned environments of one version: how many are wanted, and how many are taken
/// by invocations now (the idle ones are in the pool under the provisioned key).
#[derive(Debug, Default)]
struct Provision {
    wanted: u32,
    busy: u32,
}

/// Where [`Engine::provision`] brought a version's provisioned environments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProvisionStatus {
    /// Environments initialised and kept for the version (idle or serving), at most the count
    /// asked for.
    pub ready: u32,
    /// Why the next one could not be started (`FUNCTION_ERROR_INIT_FAILURE`, the host's memory
    /// budget…), when one could not.
    pub failure: Option<String>,
}

/// An environment taken for an invocation.
struct Taken {
    env: Environment,
    key: PoolKey,
    /// It was started for this invocation.
    cold: bool,
    /// When the init ran again inside this invoke, when that began: its time counts against
    /// the function's timeout and in the invoke's Duration.
    suppressed_init: Option<Instant>,
}

/// What taking or starting an environment came to.
enum Started {
    /// One is ready.
    Ready(Box<Taken>),
    /// The init failed (or Lambda refused the launch): the invocation's outcome.
    Failed(Box<InvokeOutcome>),
}

/// An invocation that ran.
struct Ran {
    taken: Taken,
    ending: Ending,
    /// The runtime's own answer (response or error document), when it gave one.
    answer: Option<Bytes>,
    output: String,
    report: Report,
    /// Telemetry subscribers want its events.
    telemetry: bool,
    /// The answer was streamed, and so many bytes of it.
    streamed: Option<u64>,
}

/// How an invocation ended, from what the environment reported and, only when the runtime is
/// gone, whether the OOM killer ended it (asked of the cgroup then, not on every invocation);
/// and the runtime's answer when it gave one.
fn classify(
    outcome: Outcome,
    oom_killed: impl FnOnce() -> bool,
    to_sink: bool,
) -> (Ending, Option<Bytes>) {
    match outcome {
        Outcome::Reply(RuntimeReply::Response(body)) => (Ending::Success, Some(body)),
        Outcome::Reply(RuntimeReply::Error { error_type, body }) => {
            let ending = Ending::function_error(error_type);
            (ending, (!body.is_empty()).then_some(body))
        }
        // Followed to its end by the environment: never left as a reply.
        Outcome::Reply(RuntimeReply::Stream { .. }) => {
            (Ending::function_error(Some(STREAM_BROKEN.into())), None)
        }
        Outcome::Streamed { end, buffered, .. } => classify_stream(end, buffered, to_sink),
        Outcome::Exited(info) => {
            if oom_killed() {
                (Ending::OutOfMemory, None)
            } else {
                (Ending::Exited(info), None)
            }
        }
        Outcome::TimedOut => (Ending::Timeout, None),
    }
}

/// The error type of a streamed answer that broke off while the runtime lived on (archfn's
/// word: Lambda documents none).
const STREAM_BROKEN: &str = "Runtime.TruncatedResponse";

/// How a streamed answer's end decides the invocation's ending, and the answer (the buffered
/// body of a plain Invoke, or the error document). `to_sink`: the caller took the stream as it
/// came (InvokeWithResponseStream), so the streamed limit applies rather than the buffered one.
fn classify_stream(
    end: StreamEnd,
    buffered: Option<Bytes>,
    to_sink: bool,
) -> (Ending, Option<Bytes>) {
    match end {
        StreamEnd::Complete => (Ending::Success, buffered),
        StreamEnd::Error { error_type, body } => {
            let ending = Ending::function_error(Some(error_type));
            (ending, (!body.is_empty()).then_some(body))
        }
        StreamEnd::TooLarge => {
            // A plain Invoke buffers what was streamed, up to its own limit.
            let limit = if to_sink {
                crate::runtime_api::MAX_STREAMED_RESPONSE_BYTES
            } else {
                archfn_model::limits::SYNC_INVOKE_PAYLOAD_MAX_BYTES as u64
            };
            let doc = error_doc(
                "Function.ResponseSizeTooLarge",
                format!(
                    "Response payload size exceeded maximum allowed payload size ({limit} bytes)."
                ),
            );
            (Ending::ResponseTooLarge, Some(doc))
        }
        StreamEnd::Broken(why) => (
            Ending::function_error(Some(STREAM_BROKEN.into())),
            Some(error_doc(
                STREAM_BROKEN,
                format!("The response stream broke off: {why}"),
            )),
        ),
    }
}

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
    /// Provisioned concurrency per version (its key with `provisioned`); always locked before
    /// `idle` when both are.
    provisioned: Mutex<HashMap<PoolKey, Provision>>,
    metrics: crate::metrics::Metrics,
    /// Per-minute metrics per series, until the server stores them.
    aggregate: crate::aggregate::Aggregate,
    /// Where log lines go (the server's CloudWatch Logs writer).
    logs: Arc<LogRouter>,
    /// Environments refuse executables of the other ISA.
    isa_enforced: bool,
    /// Where environments are confined: everything privileged goes through it.
    host: Arc<dyn Host>,
    /// The host-wide memory budget of environments.
    budget: crate::budget::MemoryBudget,
    /// This node's id, said in REPORT lines and outcomes (set once, when there are nodes).
    node: std::sync::OnceLock<Arc<str>>,
    /// Sends invocations to other nodes (set once, when there are nodes).
    forwarder: std::sync::OnceLock<crate::placement::SharedForwarder>,
}

tokio::task_local! {
    /// Set while running an invocation another node forwarded here: that node records it in
    /// its per-minute metrics (and its shifts' watches), so this one does not.
    static FORWARDED_HERE: bool;
}

/// Whether the invocation being run was forwarded here by another node.
fn forwarded_here() -> bool {
    FORWARDED_HERE.try_with(|f| *f).unwrap_or(false)
}

/// How often a running invocation's output is read, so that its lines keep their time.
const OUTPUT_POLL: Duration = Duration::from_millis(20);

/// How long an environment stays idle before it is frozen (Lambda freezes it at once; a short
/// wait spares invocations that arrive back to back a freeze and a thaw each).
const FREEZE_AFTER: Duration = Duration::from_millis(50);

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

impl Engine {
    /// Prepares the work directory, takes over this machine's sandboxes ([`RealHost`]) and
    /// starts the freezer and the reaper of idle environments.
    pub fn start(config: EngineConfig) -> Result<Engine, InvokeError> {
        let host = RealHost::start(&HostConfig {
            instance: config.instance.clone(),
            network: config.network,
            sandbox_uid_base: config.sandbox_uid_base,
            work_dir: config.work_dir.clone(),
            max_environment_memory_mb: config.max_environment_memory_mb,
            max_environment_pids: config.max_environment_pids,
            favor_cgroup_moves: config.favor_cgroup_moves,
        })?;
        Self::with_host(config, Arc::new(host))
    }

    /// An engine whose environments `host` confines (a fake one in tests).
    pub fn with_host(config: EngineConfig, host: Arc<dyn Host>) -> Result<Engine, InvokeError> {
        let record_metrics = config.record_metrics;
        let io = |e: std::io::Error| InvokeError::Internal(format!("work directory: {e}"));
        for d in ["runtime", "opt", "env-logs"] {
            std::fs::create_dir_all(config.work_dir.join(d)).map_err(io)?;
        }
        for (file, text) in [
            ("python.py", PYTHON_BOOTSTRAP),
            ("node.js", NODE_BOOTSTRAP),
            ("ruby.rb", RUBY_BOOTSTRAP),
        ] {
            std::fs::write(config.work_dir.join("runtime").join(file), text).map_err(io)?;
        }
        let isa_dir = config.work_dir.join("runtime").join("isa");
        // env-init is every environment's first process: without it nothing starts.
        archfn_sandbox::isa::install(&isa_dir)
            .map_err(|e| InvokeError::Internal(format!("installing env-init: {e}")))?;
        let isa_enforced = config.isa_enforced;
        if !isa_enforced {
            tracing::warn!(
                "ARCHFN_ISA_ENFORCEMENT=off: executables of the other ISA will not be refused"
            );
        }
        let budget = crate::budget::MemoryBudget::new(config.max_environment_memory_mb);
        let engine = Engine {
            inner: Arc::new(Inner {
                budget,
                host,
                runtimes: RuntimeStore::new(&config.runtimes_dir),
                logs: Arc::new(LogRouter::new(config.log_sink.clone())),
                config,
                idle: Mutex::new(HashMap::new()),
                provisioned: Mutex::new(HashMap::new()),
                metrics: crate::metrics::Metrics::default(),
                aggregate: crate::aggregate::Aggregate::new(record_metrics),
                isa_enforced,
                node: std::sync::OnceLock::new(),
                forwarder: std::sync::OnceLock::new(),
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
                    for (key, envs) in idle.iter_mut() {
                        // Provisioned environments are never ended for idleness; dead ones go
                        // (and are replaced by the next `provision`).
                        envs.retain(|e| {
                            (key.provisioned || e.last_used.elapsed() < ttl) && e.alive()
                        });
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
        let idle: Vec<Environment> = match self.inner.idle.lock() {
            Ok(mut idle) => idle.drain().flat_map(|(_, envs)| envs).collect(),
            Err(_) => Vec::new(),
        };
        drop(idle);
        self.inner.host.shutdown();
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
                    .filter(|k| !k.provisioned && k.is_version(region, function, version))
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

    /// Keeps `count` environments of `target`'s version initialised for provisioned concurrency
    /// (`AWS_LAMBDA_INITIALIZATION_TYPE=provisioned-concurrency`, never ended for idleness,
    /// taken before warm on-demand ones and without a cold start), starting the missing ones
    /// one after another and ending surplus idle ones; environments of another revision of the
    /// version are released. `invoked_arn` names the function (its account) in the environment.
    /// Stops at the first start that fails and says why: `FUNCTION_ERROR_INIT_FAILURE` for an
    /// init that failed, or archfn's reason (the host's memory budget, a runtime not
    /// installed). Call it again to replace environments that crashed or timed out.
    pub async fn provision(
        &self,
        target: &Target,
        invoked_arn: &str,
        count: u32,
    ) -> ProvisionStatus {
        let key = PoolKey::of(target);
        let pkey = key.provisioned();
        self.release_where(|k| {
            k.is_version(&pkey.region, &pkey.function, &pkey.version) && *k != pkey
        });
        if let Ok(mut prov) = self.inner.provisioned.lock() {
            prov.entry(pkey.clone()).or_default().wanted = count;
        }
        loop {
            let (have, surplus) = self.trim_provisioned(&pkey);
            drop(surplus);
            if have >= count {
                return ProvisionStatus {
                    ready: count,
                    failure: None,
                };
            }
            let req = InvokeRequest {
                target: target.clone(),
                invoked_arn: invoked_arn.to_string(),
                payload: Bytes::new(),
                client_context: None,
                alias: None,
            };
            let request_id = uuid::Uuid::new_v4().to_string();
            let mut log = LogText::default();
            let started = self
                .start_new(
                    &req,
                    &request_id,
                    &mut log,
                    key.clone(),
                    Initialization::Provisioned,
                )
                .await;
            let failure = match started {
                Ok(Started::Ready(taken)) => {
                    let mut env = taken.env;
                    // Its init is over before any invocation: no Init Duration in a REPORT.
                    env.init_ms = None;
                    if let Some((_, place)) = &env.log_sink {
                        self.inner.logs.append(place, &log);
                    }
                    if let Some(unwanted) = self.add_provisioned(&pkey, env) {
                        drop(unwanted);
                        return ProvisionStatus {
                            ready: have,
                            failure: None,
                        };
                    }
                    continue;
                }
                Ok(Started::Failed(_)) => "FUNCTION_ERROR_INIT_FAILURE".to_string(),
                Err(InvokeError::Throttled(m)) => format!(
                    "INSUFFICIENT_HOST_MEMORY: {}",
                    m.trim_start_matches("Rate Exceeded. ")
                ),
                Err(e) => e.to_string(),
            };
            tracing::warn!(function = %target.config.name, version = %target.config.version, reason = %failure, "provisioned environment could not be started");
            return ProvisionStatus {
                ready: have,
                failure: Some(failure),
            };
        }
    }

    /// Ends the provisioned environments of version `version` of `function` (those serving an
    /// invocation end when it does) and stops keeping any. Returns how many idle ones ended.
    pub fn release_provisioned(&self, region: &str, function: &str, version: &str) -> usize {
        self.release_where(|k| k.is_version(region, function, version))
    }

    /// The versions the engine keeps provisioned environments of: (region, function, version).
    pub fn provisioned_versions(&self) -> Vec<(String, String, String)> {
        self.inner
            .provisioned
            .lock()
            .map(|p| {
                p.keys()
                    .map(|k| (k.region.clone(), k.function.clone(), k.version.clone()))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Provisioned environments of the version of `target` (idle or serving).
    pub fn provisioned_environments(&self, target: &Target) -> u32 {
        let pkey = PoolKey::of(target).provisioned();
        let Ok(prov) = self.inner.provisioned.lock() else {
            return 0;
        };
        let busy = prov.get(&pkey).map_or(0, |p| p.busy);
        let idle = self
            .inner
            .idle
            .lock()
            .map(|i| {
                i.get(&pkey)
                    .map_or(0, |v| v.iter().filter(|e| e.alive()).count())
            })
            .unwrap_or(0);
        busy + u32::try_from(idle).unwrap_or(u32::MAX)
    }

    /// Stops keeping the provisioned keys `which` selects; returns how many idle ones ended.
    fn release_where(&self, which: impl Fn(&PoolKey) -> bool) -> usize {
        let ended: Vec<Environment> = {
            let Ok(mut prov) = self.inner.provisioned.lock() else {
                return 0;
            };
            let keys: Vec<PoolKey> = prov.keys().filter(|k| which(k)).cloned().collect();
            for k in &keys {
                prov.remove(k);
            }
            match self.inner.idle.lock() {
                Ok(mut idle) => keys
                    .iter()
                    .filter_map(|k| idle.remove(k))
                    .flatten()
                    .collect(),
                Err(_) => Vec::new(),
            }
        };
        // Dropped outside the locks.
        let n = ended.len();
        drop(ended);
        n
    }

    /// How many provisioned environments `pkey` has (idle and alive, or serving), after taking
    /// out the dead ones and those past the count wanted (returned, to be dropped unlocked).
    fn trim_provisioned(&self, pkey: &PoolKey) -> (u32, Vec<Environment>) {
        let Ok(prov) = self.inner.provisioned.lock() else {
            return (0, Vec::new());
        };
        let Some(p) = prov.get(pkey) else {
            return (0, Vec::new());
        };
        let Ok(mut idle) = self.inner.idle.lock() else {
            return (p.busy, Vec::new());
        };
        let envs = idle.entry(pkey.clone()).or_default();
        let (mut kept, mut surplus): (Vec<Environment>, Vec<Environment>) = std::mem::take(envs)
            .into_iter()
            .partition(Environment::alive);
        while !kept.is_empty() && kept.len() as u64 + u64::from(p.busy) > u64::from(p.wanted) {
            surplus.extend(kept.pop());
        }
        let have = p.busy + u32::try_from(kept.len()).unwrap_or(u32::MAX);
        *envs = kept;
        (have, surplus)
    }

    /// Adds a new provisioned environment to the pool of `pkey`; gives it back when it is not
    /// wanted (any more).
    fn add_provisioned(&self, pkey: &PoolKey, mut env: Environment) -> Option<Environment> {
        let Ok(prov) = self.inner.provisioned.lock() else {
            return Some(env);
        };
        let Some(p) = prov.get(pkey) else {
            return Some(env);
        };
        let Ok(mut idle) = self.inner.idle.lock() else {
            return Some(env);
        };
        let envs = idle.entry(pkey.clone()).or_default();
        if envs.len() as u64 + u64::from(p.busy) >= u64::from(p.wanted) {
            return Some(env);
        }
        env.last_used = Instant::now();
        envs.push(env);
        None
    }

    /// A provisioned environment of the invoked version, when one is idle.
    fn take_provisioned(&self, key: &PoolKey) -> Option<Environment> {
        let pkey = key.provisioned();
        let mut env = {
            let mut prov = self.inner.provisioned.lock().ok()?;
            let p = prov.get_mut(&pkey)?;
            let mut idle = self.inner.idle.lock().ok()?;
            let envs = idle.get_mut(&pkey)?;
            let env = loop {
                let env = envs.pop()?;
                if env.alive() {
                    break env;
                }
            };
            p.busy += 1;
            env
        };
        env.thaw();
        Some(env)
    }

    /// A provisioned environment's invocation ended: it goes back to its pool when `env` is
    /// given and it is still wanted, else it ends (outside the locks).
    fn return_provisioned(&self, pkey: PoolKey, env: Option<Environment>) {
        let unwanted = {
            let Ok(mut prov) = self.inner.provisioned.lock() else {
                return;
            };
            let Some(p) = prov.get_mut(&pkey) else {
                return;
            };
            p.busy = p.busy.saturating_sub(1);
            drop(prov);
            env.and_then(|env| self.add_provisioned(&pkey, env))
        };
        drop(unwanted);
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
                    .filter(|(k, _)| !k.provisioned)
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

    /// Runs one invocation. Function failures are outcomes (with `function_error`), not errors.
    /// It takes a warm environment or starts one ([`Engine::take_or_start`]), runs the
    /// invocation in it ([`Engine::run`]), and records how it ended ([`Engine::finish`]).
    pub async fn invoke(&self, req: InvokeRequest) -> Result<InvokeOutcome, InvokeError> {
        let request_id = uuid::Uuid::new_v4().to_string();
        self.invoke_to(req, request_id, None).await
    }

    /// Runs one invocation whose answer the caller takes as it comes (InvokeWithResponseStream,
    /// function URLs in RESPONSE_STREAM mode): when the runtime streams its answer, `sink` gets
    /// [`ResponsePart::Begin`] with the stream's content type, then each chunk as it arrives
    /// ([`ResponsePart::Data`]), and the outcome (`streamed`, with only an error document as
    /// `payload`) comes once the stream has ended; when it answers with a whole body, nothing
    /// goes to `sink` and the outcome's `payload` is that body. The sink is dropped before this
    /// returns, so a reader sees the end of the chunks before the outcome. A reader that leaves
    /// does not end the invocation. `request_id` is the invocation's (the caller announces it
    /// before the answer).
    pub async fn invoke_streaming(
        &self,
        req: InvokeRequest,
        request_id: String,
        sink: tokio::sync::mpsc::Sender<ResponsePart>,
    ) -> Result<InvokeOutcome, InvokeError> {
        self.invoke_to(req, request_id, Some(sink)).await
    }

    async fn invoke_to(
        &self,
        req: InvokeRequest,
        request_id: String,
        sink: Option<tokio::sync::mpsc::Sender<ResponsePart>>,
    ) -> Result<InvokeOutcome, InvokeError> {
        // Streams stay on this node; the rest may be another node's to run.
        let mut placement = crate::Placement::Local;
        if sink.is_none()
            && !forwarded_here()
            && let Some(forwarder) = self.inner.forwarder.get()
        {
            match forwarder.forward(&req, &request_id).await {
                crate::Forwarded::Ran(result) => {
                    if let Ok(outcome) = &result {
                        self.record_forwarded(&req, outcome);
                    }
                    return result;
                }
                crate::Forwarded::Here(p) => placement = p,
            }
        }
        let mut log = LogText::default();
        let taken = match self.take_or_start(&req, &request_id, &mut log).await? {
            Started::Ready(taken) => *taken,
            Started::Failed(mut outcome) => {
                outcome.placement = placement;
                return Ok(*outcome);
            }
        };
        let ran = self.run(&req, &request_id, taken, &mut log, sink).await;
        let mut outcome = self.finish(&req, request_id, ran, log);
        outcome.placement = placement;
        Ok(outcome)
    }

    /// Runs an invocation another node forwarded here, under its request id: never forwarded
    /// again, and left out of this node's per-minute metrics (the forwarding node records it).
    pub async fn invoke_forwarded(
        &self,
        req: InvokeRequest,
        request_id: String,
    ) -> Result<InvokeOutcome, InvokeError> {
        FORWARDED_HERE
            .scope(true, self.invoke_to(req, request_id, None))
            .await
    }

    /// Names this node in REPORT lines and outcomes (once; later calls are ignored).
    pub fn set_node(&self, node: &str) {
        let _ = self.inner.node.set(Arc::from(node));
    }

    /// Sends invocations to other nodes from now on (once; later calls are ignored).
    pub fn set_forwarder(&self, forwarder: crate::placement::SharedForwarder) {
        let _ = self.inner.forwarder.set(forwarder);
    }

    /// This node's id, if it was given one.
    pub fn node(&self) -> Option<Arc<str>> {
        self.inner.node.get().cloned()
    }

    /// Memory (MB) environments may still take on this host.
    pub fn free_memory_mb(&self) -> u64 {
        self.inner
            .config
            .max_environment_memory_mb
            .saturating_sub(self.inner.budget.held_mb())
    }

    /// Records an invocation another node ran for this one, as if it had run here, in the
    /// mode it ran in there.
    fn record_forwarded(&self, req: &InvokeRequest, outcome: &InvokeOutcome) {
        let c = &req.target.config;
        let f = &outcome.figures;
        let mut s = series(&req.target.region, c, req.alias.as_deref());
        s.execution = match outcome.mode {
            ExecutionMode::Native => archfn_model::metrics::Execution::Native,
            ExecutionMode::Emulated => archfn_model::metrics::Execution::Emulated,
        };
        let ran = f.duration_ms > 0.0 || f.error_type.is_none();
        self.inner.aggregate.record(
            s,
            minute_of(archfn_model::time::now_ms()),
            Observation {
                duration_us: ran.then(|| micros(f.duration_ms)),
                init_duration_us: f.init_ms.map(micros),
                cold: f.cold,
                billed_ms: f.billed_ms,
                max_memory_mb: f.max_memory_used_mb,
                error: f.error_type.as_deref(),
            },
        );
    }

    /// A warm environment of the invoked version, or a new one (a cold start); or the outcome
    /// of an init that failed.
    async fn take_or_start(
        &self,
        req: &InvokeRequest,
        request_id: &str,
        log: &mut LogText,
    ) -> Result<Started, InvokeError> {
        let key = PoolKey::of(&req.target);
        // Provisioned environments first, then warm on-demand ones, then a cold start.
        if let Some(env) = self.take_provisioned(&key) {
            return Ok(Started::Ready(Box::new(Taken {
                env,
                key: key.provisioned(),
                cold: false,
                suppressed_init: None,
            })));
        }
        if let Some(env) = self.take_idle(&key) {
            return Ok(Started::Ready(Box::new(Taken {
                env,
                key,
                cold: false,
                suppressed_init: None,
            })));
        }
        self.start_new(req, request_id, log, key, Initialization::OnDemand)
            .await
    }

    /// Starts a new environment of the invoked version (pooled under `key`): a cold start, or
    /// (`Initialization::Provisioned`) one kept for provisioned concurrency; or the outcome of
    /// an init that failed. A provisioned start records no invocation metrics or throttles.
    async fn start_new(
        &self,
        req: &InvokeRequest,
        request_id: &str,
        log: &mut LogText,
        key: PoolKey,
        init: Initialization,
    ) -> Result<Started, InvokeError> {
        let target = &req.target;
        let c = &target.config;
        let plog = PlatformLog::of(c).on_node(self.node());
        let mode = ExecutionMode::for_arch(c.architecture);
        self.inner.host.ensure_architecture(c.architecture)?;
        let lease = match self.lease_memory(c.memory_mb) {
            Ok(lease) => lease,
            Err(e) => {
                if init == Initialization::OnDemand {
                    self.record_throttle(&target.region, c, req.alias.as_deref());
                }
                return Err(e);
            }
        };
        let opt = match &target.image {
            Some(_) => None,
            None => self.merged_opt(&target.layer_dirs)?,
        };
        let runtime_dir = self.inner.config.work_dir.join("runtime");
        let isa_dir = runtime_dir.join("isa");
        let request = LaunchRequest {
            config: c,
            region: &target.region,
            code: match &target.image {
                Some(launch) => LaunchCode::Image {
                    root: &target.task_dir,
                    launch,
                },
                None => LaunchCode::Zip {
                    task_dir: &target.task_dir,
                    opt_dir: opt.as_deref(),
                },
            },
            runtime_dir: &runtime_dir,
            isa_dir: &isa_dir,
            isa_enforced: self.inner.isa_enforced,
        };
        let mut plan = match launch::plan(&request, &self.inner.runtimes) {
            Ok(plan) => plan,
            Err(PlanError::Refused(refusal)) => {
                return Ok(Started::Failed(Box::new(
                    self.refused(req, request_id, refusal, log, init),
                )));
            }
            Err(PlanError::NoRuntime) => {
                return Err(InvokeError::Runtime(PlanError::NoRuntime.to_string()));
            }
            Err(PlanError::Sandbox(e)) => return Err(e.into()),
        };
        if init != Initialization::OnDemand {
            for (name, value) in &mut plan.spec.env {
                if name == "AWS_LAMBDA_INITIALIZATION_TYPE" {
                    *value = init.as_str().to_string();
                }
            }
        }
        let init_start = plan
            .runtime_version
            .as_deref()
            .map(|v| plog.init_start(v, mode, &c.name, &c.version))
            .unwrap_or_default();
        log.push_str(&init_start);
        let place = LogPlace::new_environment(&target.region, c);
        let params = StartParams {
            host: self.inner.host.clone(),
            log_dir: self.inner.config.work_dir.join("env-logs"),
            limits: EnvLimits {
                memory_mb: c.memory_mb,
                pids: archfn_sandbox::host::MAX_PROCESSES,
                cpu_millicores: self
                    .inner
                    .config
                    .cpu_limit
                    .map(|factor| cpu_millicores(c.memory_mb, mode, factor)),
            },
            init_timeout: self.inner.config.init_timeout,
            function: crate::runtime_api::FunctionInfo {
                function_name: c.name.clone(),
                function_version: c.version.clone(),
                handler: c.handler.clone().unwrap_or_default(),
                account_id: req.invoked_arn.split(':').nth(4).unwrap_or("").to_string(),
                external_extensions: plan.extensions.clone(),
            },
            extensions_expected: plan.extensions.len(),
            init_phase: "init",
            runtime_version: plan.runtime_version.clone().unwrap_or_default(),
            spec: plan.spec,
        };
        let mut suppressed_init = None;
        let mut started = Instant::now();
        let mut result = Environment::start(params.clone()).await;
        if let Err((InitFailure::TimedOut, output)) = &result {
            // Past the init window, Lambda runs the init again inside the first invoke
            // ("suppressed init"), under the function's timeout, and bills it as invoke.
            log.push_str(&plog.application(output));
            let init_ms = started.elapsed().as_secs_f64() * 1000.0;
            log.push_str(&plog.init_report(init_ms, "init", "timeout", None, mode));
            started = Instant::now();
            let retry = StartParams {
                init_timeout: Duration::from_secs(c.timeout_s.into()),
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
                init_telemetry(&env, &output, phase, started.elapsed(), init);
                log.push_str(&plog.application(&output));
                log.push_str(&env.extension_lines(&plog));
                env.log_sink = Some((self.inner.logs.clone(), place));
                if suppressed_init.is_some() {
                    env.init_ms = None;
                }
                Ok(Started::Ready(Box::new(Taken {
                    env,
                    key,
                    cold: true,
                    suppressed_init,
                })))
            }
            Err((failure, output)) => {
                log.push_str(&plog.application(&output));
                let init_ms = started.elapsed().as_secs_f64() * 1000.0;
                let (error_type, body) = match failure {
                    InitFailure::Reported(e) => (e.error_type.clone(), e.body),
                    InitFailure::Exited(info) => (
                        "Runtime.ExitError".to_string(),
                        error_doc(
                            "Runtime.ExitError",
                            format!(
                                "RequestId: {request_id} Error: Runtime exited with error: {}",
                                info.describe()
                            ),
                        ),
                    ),
                    InitFailure::TimedOut => (
                        "Sandbox.Timedout".to_string(),
                        Ending::Timeout
                            .platform_error(request_id, c.timeout_s)
                            .unwrap_or_default(),
                    ),
                    InitFailure::Spawn(m) => return Err(InvokeError::Internal(m)),
                };
                let status = if error_type == "Sandbox.Timedout" {
                    "timeout"
                } else {
                    "error"
                };
                log.push_str(&plog.init_report(init_ms, phase, status, Some(&error_type), mode));
                if init == Initialization::OnDemand {
                    self.record_init_failure(req, mode, &error_type);
                }
                Ok(Started::Failed(Box::new(self.failed(
                    req,
                    request_id.to_string(),
                    body,
                    std::mem::take(log),
                    (mode, &place),
                    &error_type,
                ))))
            }
        }
    }

    /// The outcome of a launch Lambda refuses before anything runs.
    fn refused(
        &self,
        req: &InvokeRequest,
        request_id: &str,
        refusal: Refusal,
        log: &mut LogText,
        init: Initialization,
    ) -> InvokeOutcome {
        let mode = ExecutionMode::for_arch(req.target.config.architecture);
        let plog = PlatformLog::of(&req.target.config).on_node(self.node());
        let error_type = refusal.error_type();
        match &refusal {
            Refusal::InvalidEntrypoint { image_line, .. } => {
                if let Some(line) = image_line {
                    log.push_str(line);
                }
            }
            Refusal::ExtensionLaunch { name } => {
                if req.target.image.is_none() {
                    let runtime = req.target.config.runtime.as_deref().unwrap_or("");
                    let c = &req.target.config;
                    log.push_str(&plog.init_start(
                        &format!("{runtime}.archfn"),
                        mode,
                        &c.name,
                        &c.version,
                    ));
                }
                if plog.is_json() {
                    log.push_str(&plog.extension(name, "LaunchError", &[]));
                } else {
                    log.push_str(&format!("EXTENSION\tName: {name}\tState: LaunchError\tEvents: []\tError Type: UnknownError\n"));
                }
            }
        }
        log.push_str(&plog.init_report(0.0, "init", "error", Some(error_type), mode));
        let message = format!("RequestId: {request_id} Error: {}", refusal.message());
        if init == Initialization::OnDemand {
            self.record_init_failure(req, mode, error_type);
        }
        let place = LogPlace::new_environment(&req.target.region, &req.target.config);
        self.failed(
            req,
            request_id.to_string(),
            error_doc(error_type, message),
            std::mem::take(log),
            (mode, &place),
            error_type,
        )
    }

    /// Runs the invocation in the environment taken: to an answer, the process's end, or the
    /// deadline (from the suppressed init's start when there was one).
    async fn run(
        &self,
        req: &InvokeRequest,
        request_id: &str,
        mut taken: Taken,
        log: &mut LogText,
        sink: Option<tokio::sync::mpsc::Sender<ResponsePart>>,
    ) -> Ran {
        let c = &req.target.config;
        let plog = PlatformLog::of(c).on_node(self.node());
        log.push_str(&plog.start(request_id, &c.version));
        let started = taken.suppressed_init.unwrap_or_else(Instant::now);
        let timeout = Duration::from_secs(c.timeout_s.into()).saturating_sub(started.elapsed());
        let deadline_ms =
            archfn_model::time::now_ms() + i64::try_from(timeout.as_millis()).unwrap_or(i64::MAX);
        let telemetry = taken.env.telemetry().wanted();
        if telemetry {
            taken.env.telemetry().emit(
                Category::Platform,
                "platform.start",
                serde_json::json!({ "requestId": request_id, "version": c.version }),
            );
        }
        let inv = invocation(
            request_id,
            req.payload.clone(),
            deadline_ms,
            &req.invoked_arn,
            req.client_context.clone(),
        );
        let to_sink = sink.is_some();
        // While the function runs, its whole lines are read every OUTPUT_POLL, so each keeps
        // the time it was written (to that precision); what is left is read at the end.
        let mut tap = taken.env.output_tap();
        let mut pieces: Vec<(i64, String)> = Vec::new();
        let outcome = {
            let invoking = taken.env.invoke(inv, timeout, sink);
            tokio::pin!(invoking);
            let mut poll =
                tokio::time::interval_at(tokio::time::Instant::now() + OUTPUT_POLL, OUTPUT_POLL);
            loop {
                tokio::select! {
                    outcome = &mut invoking => break outcome,
                    _ = poll.tick(), if tap.is_some() => {
                        if let Some(t) = tap.as_mut() {
                            let lines = t.read_lines();
                            if !lines.is_empty() {
                                pieces.push((archfn_model::time::now_ms(), lines));
                            }
                        }
                    }
                }
            }
        };
        if let Some(t) = &tap {
            taken.env.consume_tap(t);
        }
        let streamed = match &outcome {
            Outcome::Streamed { bytes, .. } if to_sink => Some(*bytes),
            _ => None,
        };
        let duration_ms = started.elapsed().as_secs_f64() * 1000.0;
        let rest = taken.env.read_new_log();
        let mut output = String::new();
        for (at, piece) in &pieces {
            log.push_str_at(*at, &plog.application(piece));
            output.push_str(piece);
        }
        log.push_str(&plog.application(&rest));
        output.push_str(&rest);
        log.push_str(&plog.end(request_id));
        let report = Report {
            duration_ms,
            memory_mb: c.memory_mb,
            max_memory_used_mb: taken.env.max_memory_used_mb(),
            init_ms: taken.env.init_ms.take(),
            mode: ExecutionMode::for_arch(c.architecture),
        };
        let (ending, answer) = classify(outcome, || taken.env.oom_killed(), to_sink);
        Ran {
            taken,
            ending,
            answer,
            output,
            report,
            telemetry,
            streamed,
        }
    }

    /// Records how the invocation ended (log, telemetry, metrics), keeps the environment when
    /// it may serve again, and makes the outcome.
    fn finish(
        &self,
        req: &InvokeRequest,
        request_id: String,
        ran: Ran,
        mut log: LogText,
    ) -> InvokeOutcome {
        let target = &req.target;
        let c = &target.config;
        let Ran {
            taken,
            ending,
            answer,
            output,
            report,
            telemetry,
            streamed,
        } = ran;
        let payload = ending
            .platform_error(&request_id, c.timeout_s)
            .or(answer)
            .or_else(|| (ending == Ending::Success).then(Bytes::new))
            .unwrap_or_else(|| {
                error_doc(
                    ending.error_type().unwrap_or("Function.Unknown"),
                    String::new(),
                )
            });
        let plog = PlatformLog::of(c).on_node(self.node());
        if ending == Ending::Timeout {
            log.push_str(&plog.timed_out(&request_id, c.timeout_s));
        }
        log.push_str(&plog.report(
            &request_id,
            &report,
            ending.report_status(),
            ending.telemetry(),
            payload.len(),
        ));
        if let Some((_, place)) = &taken.env.log_sink {
            self.inner.logs.append(place, &log);
        }
        if telemetry {
            let produced = streamed.unwrap_or(payload.len() as u64);
            invoke_telemetry(&taken.env, &request_id, &output, &report, produced, &ending);
        }
        self.inner.metrics.record(
            crate::metrics::Labels {
                function: c.name.clone(),
                version: c.version.clone(),
                arch: c.architecture.as_str(),
                execution: report.mode.as_str(),
                outcome: ending.metric(),
            },
            report.duration_ms,
            report.init_ms.is_some(),
        );
        let error_type = ending.error_type().map(str::to_string);
        if !forwarded_here() {
            self.inner.aggregate.record(
                series(&target.region, c, req.alias.as_deref()),
                minute_of(archfn_model::time::now_ms()),
                Observation {
                    duration_us: Some(micros(report.duration_ms)),
                    init_duration_us: report.init_ms.map(micros),
                    cold: taken.cold,
                    billed_ms: report.billed_ms(),
                    max_memory_mb: report.max_memory_used_mb,
                    error: error_type.as_deref(),
                },
            );
        }
        let cold = taken.cold;
        let keep = ending.keeps_environment() && taken.env.alive();
        if taken.key.provisioned {
            // Kept for the next invocation, or (crashed, timed out, no longer wanted) ended: the
            // next `provision` replaces it.
            self.return_provisioned(taken.key, keep.then_some(taken.env));
        } else if keep {
            self.put_idle(taken.key, taken.env);
        }
        tracing::debug!(function = %c.name, version = %c.version, arch = %c.architecture, mode = report.mode.as_str(), duration_ms = report.duration_ms, "invoked");
        InvokeOutcome {
            request_id,
            payload,
            function_error: ending.error_type().map(|_| "Unhandled".to_string()),
            log: log.into_string(),
            mode: report.mode,
            figures: InvocationFigures {
                duration_ms: report.duration_ms,
                billed_ms: report.billed_ms(),
                max_memory_used_mb: report.max_memory_used_mb,
                init_ms: report.init_ms,
                cold,
                error_type,
            },
            streamed: streamed.is_some(),
            node: self.node(),
            placement: crate::Placement::Local,
        }
    }

    fn failed(
        &self,
        req: &InvokeRequest,
        request_id: String,
        payload: Bytes,
        log: LogText,
        (mode, place): (ExecutionMode, &LogPlace),
        error_type: &str,
    ) -> InvokeOutcome {
        let _ = req;
        self.inner.logs.append(place, &log);
        InvokeOutcome {
            request_id,
            payload,
            function_error: Some("Unhandled".into()),
            log: log.into_string(),
            mode,
            figures: InvocationFigures {
                cold: true,
                error_type: Some(error_type.to_string()),
                ..InvocationFigures::default()
            },
            streamed: false,
            node: self.node(),
            placement: crate::Placement::Local,
        }
    }

    /// Records an invocation whose init failed in the metrics.
    fn record_init_failure(&self, req: &InvokeRequest, mode: ExecutionMode, error_type: &str) {
        let c = &req.target.config;
        // An init that failed: a cold start that never ran the handler (no duration).
        if !forwarded_here() {
            self.inner.aggregate.record(
                series(&req.target.region, c, req.alias.as_deref()),
                minute_of(archfn_model::time::now_ms()),
                Observation {
                    cold: true,
                    error: Some(error_type),
                    ..Observation::default()
                },
            );
        }
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
    }
}

/// The Telemetry API's events of a successful init: the init's output, `initRuntimeDone` and
/// `initReport`. Init is then over: no more events are kept for late subscribers.
fn init_telemetry(
    env: &Environment,
    output: &str,
    phase: &str,
    took: Duration,
    initialization: Initialization,
) {
    let t = env.telemetry();
    if t.wanted() {
        t.function_lines(output);
        let init = serde_json::json!({ "initializationType": initialization.as_str(), "phase": phase, "status": "success" });
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
    produced_bytes: u64,
    ending: &Ending,
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
            "metrics": { "durationMs": report.duration_ms, "producedBytes": produced_bytes },
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
