//! The privileged half of the sandbox behind one seam: everything that needs root or the
//! kernel (binfmt_misc, cgroups, network namespaces, `/tmp` file systems, host uids, starting
//! bubblewrap) is done by a [`Host`]. [`RealHost`] does it on this machine; the engine sees only
//! the trait, so that its decisions can be tested against `fake::FakeHost`, which records what
//! it is asked and runs a scripted runtime instead of a process.

use std::fs::File;
use std::future::Future;
use std::io;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use archfn_model::Architecture;

use crate::SandboxError;
use crate::bwrap::{self, EnvironmentSpec};
use crate::cgroup::{CgroupParent, EnvCgroup, EnvLimits};
use crate::identity::{HostId, HostIds};
use crate::netns::{FunctionNetwork, NetworkNamespace, NetworkPool, PreparedNetwork};
use crate::scratch::{Scratch, ScratchPool};

/// How a process ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProcessExit {
    /// It exited with this status.
    Code(i32),
    /// A signal ended it.
    Signal(i32),
}

impl ProcessExit {
    /// As Lambda's messages say it: `exit status 1`, `signal: killed`.
    pub fn describe(self) -> String {
        match self {
            ProcessExit::Code(c) => format!("exit status {c}"),
            ProcessExit::Signal(9) => "signal: killed".into(),
            ProcessExit::Signal(s) => format!("signal: {s}"),
        }
    }
}

/// A running environment process.
pub trait Process: Send {
    /// Waits for it to end.
    fn wait(&mut self) -> Pin<Box<dyn Future<Output = io::Result<ProcessExit>> + Send + '_>>;
    /// Asks it to end now (SIGKILL).
    fn start_kill(&mut self);
}

/// One environment's confinement, prepared by a host: its network, identity, `/tmp` and
/// cgroups, all released when it is dropped.
pub trait Confined: Send + Sync + std::fmt::Debug {
    /// Starts the environment's first process as `spec` says, its output to `out` and `err`.
    fn spawn(
        &mut self,
        spec: &EnvironmentSpec,
        out: File,
        err: File,
    ) -> io::Result<Box<dyn Process>>;
    /// Stops every process of the environment; true when it is frozen.
    fn freeze(&self) -> bool;
    /// Lets them run again.
    fn thaw(&self);
    /// The most memory the environment has used, bytes.
    fn peak_memory_bytes(&self) -> Option<u64>;
    /// Whether the OOM killer ended a process of it.
    fn oom_killed(&self) -> bool;
}

/// What a host prepared for one environment.
#[derive(Debug)]
pub struct Prepared {
    /// Where the Runtime API listens, reachable from inside the environment.
    pub listener: std::net::TcpListener,
    /// The environment's network namespace (`None`: the host's own, for a fake).
    pub namespace: Option<Arc<NetworkNamespace>>,
    /// `AWS_LAMBDA_RUNTIME_API` inside the environment.
    pub runtime_api: String,
    /// The environment itself.
    pub confined: Box<dyn Confined>,
}

/// Everything privileged an engine needs.
pub trait Host: Send + Sync + std::fmt::Debug {
    /// Makes executables of `arch` runnable here (QEMU through binfmt_misc for a foreign ISA).
    fn ensure_architecture(&self, arch: Architecture) -> Result<(), SandboxError>;
    /// Prepares one environment (`id` names its cgroups) with `limits` and a `/tmp` of
    /// `tmp_size_mb`. Blocking.
    fn prepare(
        &self,
        id: &str,
        limits: EnvLimits,
        tmp_size_mb: u32,
    ) -> Result<Prepared, SandboxError>;
    /// Stops preparing ahead and releases what was prepared (the server stops).
    fn shutdown(&self);
}

/// How many network namespaces are kept prepared for cold starts.
const PREPARED_NETWORKS: usize = 4;

/// How many /tmp file systems of the default size are kept prepared for cold starts.
const PREPARED_SCRATCH: usize = 4;

/// Lambda's limit of processes and threads per environment.
pub const MAX_PROCESSES: u32 = 1024;

/// Where a controller-less cgroup v1 hierarchy with `favordynmods` is mounted on hosts that have
/// no cgroup2 mount to remount.
const FAVORDYNMODS_V1_MOUNT: &str = "/run/archfn/cgroup-favordynmods";

/// What a [`RealHost`] is made with.
#[derive(Debug, Clone)]
pub struct HostConfig {
    /// Names this server's cgroup parent (`archfn-<instance>`).
    pub instance: String,
    /// What functions' networks reach.
    pub network: FunctionNetwork,
    /// First of the host uids environments run under.
    pub sandbox_uid_base: u32,
    /// The engine's work directory (`links/` for pasta's pid files, `scratch/` for `/tmp`
    /// images).
    pub work_dir: PathBuf,
    /// Memory all environments together may hold, MB.
    pub max_environment_memory_mb: u64,
    /// Processes of all environments together.
    pub max_environment_pids: u32,
    /// Remount the cgroup hierarchy with `favordynmods` (cheap moves into cgroups).
    pub favor_cgroup_moves: bool,
}

/// This machine: cgroups under the server's own parent, a network namespace and a `/tmp` file
/// system per environment (prepared ahead by a thread at low priority), host uids from the
/// sandbox range, bubblewrap started under them.
#[derive(Debug)]
pub struct RealHost {
    cgroups: CgroupParent,
    ids: HostIds,
    network: Arc<NetworkPool>,
    scratch: Option<Arc<ScratchPool>>,
    stopping: Arc<AtomicBool>,
    preparer: std::sync::Mutex<Option<std::thread::JoinHandle<()>>>,
}

impl RealHost {
    /// Takes over this server's cgroups (ending what an earlier process left), caps the
    /// environments' totals, favours cgroup moves, and starts preparing environments ahead.
    pub fn start(config: &HostConfig) -> Result<RealHost, SandboxError> {
        let cgroups = CgroupParent::new(&config.instance);
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
        if !config.favor_cgroup_moves {
            tracing::info!(
                "ARCHFN_CGROUP_FAVORDYNMODS=off: cgroup moves left as the host has them"
            );
        } else {
            use crate::cgroup::{FavorDynmods, favor_dynamic_moves};
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
        let ended = crate::netns::end_stale_links(&pid_dir);
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
        let scratch =
            ScratchPool::new(&config.work_dir.join("scratch"), PREPARED_SCRATCH).map(Arc::new);
        if scratch.is_none() {
            tracing::warn!("no private mount namespace: /tmp is a tmpfs, charged to memory");
        }
        let stopping = Arc::new(AtomicBool::new(false));
        let preparer = spawn_preparer(network.clone(), scratch.clone(), stopping.clone())
            .map_err(|e| SandboxError::Io(io::Error::other(format!("preparation thread: {e}"))))?;
        Ok(RealHost {
            cgroups,
            ids: HostIds::new(config.sandbox_uid_base),
            network,
            scratch,
            stopping,
            preparer: std::sync::Mutex::new(Some(preparer)),
        })
    }
}

/// Network namespaces and /tmp file systems are prepared ahead of the cold starts that take
/// them, by a thread below the cold starts' priority: on a busy host it takes their idle time.
fn spawn_preparer(
    network: Arc<NetworkPool>,
    scratch: Option<Arc<ScratchPool>>,
    stop: Arc<AtomicBool>,
) -> io::Result<std::thread::JoinHandle<()>> {
    std::thread::Builder::new()
        .name("archfn-prepare".into())
        .spawn(move || {
            let _ = crate::ready::set_nice(0, crate::ready::PREPARATION_NICE);
            let (mut net_warned, mut tmp_warned) = (false, false);
            while !stop.load(Ordering::Relaxed) {
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
}

impl Host for RealHost {
    fn ensure_architecture(&self, arch: Architecture) -> Result<(), SandboxError> {
        crate::binfmt::ensure(arch)
    }

    fn prepare(
        &self,
        id: &str,
        limits: EnvLimits,
        tmp_size_mb: u32,
    ) -> Result<Prepared, SandboxError> {
        let io = |what: &str, e: &dyn std::fmt::Display| {
            SandboxError::Io(io::Error::other(format!("{what}: {e}")))
        };
        let preparing = Instant::now();
        let network = self
            .network
            .take()
            .map_err(|e| io("network namespace", &e))?;
        let listener = network
            .listener
            .try_clone()
            .map_err(|e| io("runtime api", &e))?;
        let host_id = self.ids.allocate().ok_or_else(|| {
            SandboxError::Io(io::Error::other(
                "sandbox identity: every host uid of the sandbox range is in use",
            ))
        })?;
        let network_ms = preparing.elapsed();
        let scratch = match &self.scratch {
            Some(pool) => {
                let s = pool.take(tmp_size_mb).map_err(|e| io("/tmp", &e))?;
                s.give_to(host_id.get()).map_err(|e| io("/tmp", &e))?;
                Some(s)
            }
            None => None,
        };
        let scratch_ms = preparing.elapsed();
        let cgroup = self.cgroups.create(
            id,
            EnvLimits {
                pids: MAX_PROCESSES,
                ..limits
            },
        );
        tracing::debug!(
            network_ms = network_ms.as_secs_f64() * 1e3,
            scratch_ms = scratch_ms.as_secs_f64() * 1e3,
            cgroup_ms = preparing.elapsed().as_secs_f64() * 1e3,
            "environment prepared"
        );
        Ok(Prepared {
            listener,
            namespace: Some(network.namespace.clone()),
            runtime_api: crate::netns::RUNTIME_API.to_string(),
            confined: Box::new(RealConfined {
                cgroup,
                scratch,
                host_id,
                network,
            }),
        })
    }

    fn shutdown(&self) {
        self.stopping.store(true, Ordering::Relaxed);
        // The preparation thread ends its current round (a pasta it is starting included) and
        // drops what it holds.
        let preparer = self.preparer.lock().ok().and_then(|mut p| p.take());
        if let Some(p) = preparer {
            let _ = p.join();
        }
        self.network.clear();
        if let Some(s) = &self.scratch {
            s.clear();
        }
        self.cgroups.remove(Duration::from_secs(1));
    }
}

/// An environment on this machine. Field order is drop order: the cgroup (its processes
/// killed) before the `/tmp` and the network they used.
#[derive(Debug)]
struct RealConfined {
    cgroup: Option<EnvCgroup>,
    scratch: Option<Scratch>,
    host_id: HostId,
    network: PreparedNetwork,
}

impl Confined for RealConfined {
    fn spawn(
        &mut self,
        spec: &EnvironmentSpec,
        out: File,
        err: File,
    ) -> io::Result<Box<dyn Process>> {
        let cgroups = match &self.cgroup {
            Some(c) => c.open_procs()?,
            None => Vec::new(),
        };
        let netns = self.network.namespace.fd().try_clone_to_owned()?;
        let mut spec = spec.clone();
        spec.tmp_dir = self.scratch.as_ref().map(|s| s.path().to_path_buf());
        let mut cmd = bwrap::command(
            &spec,
            bwrap::Confinement {
                cgroups,
                netns: Some(netns),
                host_id: self.host_id.get(),
            },
        );
        cmd.stdin(std::process::Stdio::null())
            .stdout(out)
            .stderr(err);
        Ok(Box::new(RealProcess(cmd.spawn()?)))
    }

    fn freeze(&self) -> bool {
        self.cgroup
            .as_ref()
            .is_some_and(|c| c.freeze().is_ok() && c.can_freeze())
    }

    fn thaw(&self) {
        if let Some(c) = &self.cgroup {
            let _ = c.thaw();
        }
    }

    fn peak_memory_bytes(&self) -> Option<u64> {
        self.cgroup.as_ref().and_then(EnvCgroup::peak_bytes)
    }

    fn oom_killed(&self) -> bool {
        self.cgroup.as_ref().is_some_and(EnvCgroup::oom_killed)
    }
}

/// bubblewrap, running.
struct RealProcess(tokio::process::Child);

impl Process for RealProcess {
    fn wait(&mut self) -> Pin<Box<dyn Future<Output = io::Result<ProcessExit>> + Send + '_>> {
        Box::pin(async move {
            use std::os::unix::process::ExitStatusExt;
            let s = self.0.wait().await?;
            Ok(match (s.code(), s.signal()) {
                (Some(c), _) => ProcessExit::Code(c),
                (None, Some(sig)) => ProcessExit::Signal(sig),
                _ => ProcessExit::Code(0),
            })
        })
    }

    fn start_kill(&mut self) {
        let _ = self.0.start_kill();
    }
}
