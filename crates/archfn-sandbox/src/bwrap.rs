//! The bubblewrap command line of an execution environment, and the identity it starts under.
//!
//! Mounts, as Lambda lays them out: the runtime's root file system read-only at `/`, the
//! function's code read-only at `/var/task`, the merged layers read-only at `/opt`, archfn's
//! bootstraps read-only at `/var/runtime`, and the environment's own storage of EphemeralStorage
//! size at `/tmp` (`scratch.rs`).
//! New user, pid, ipc, uts and cgroup namespaces; the network namespace is the environment's own
//! (`netns.rs`), joined before bubblewrap starts.
//!
//! Before bubblewrap is executed, the child process (still root) joins the environment's cgroups
//! and network namespace, then becomes the environment's unprivileged host user for good. So
//! bubblewrap, `env-init` and everything the function starts are that user to the kernel.

use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

use crate::view::sandbox_path;

/// Everything needed to start one execution environment.
#[derive(Debug, Clone)]
pub struct EnvironmentSpec {
    /// Root file system of the (runtime, architecture).
    pub rootfs: PathBuf,
    /// Unpacked function code.
    pub task_dir: PathBuf,
    /// Merged layers, if the function has any.
    pub opt_dir: Option<PathBuf>,
    /// archfn's bootstraps.
    pub runtime_dir: PathBuf,
    /// Size of /tmp in MB (of a tmpfs, when there is no `tmp_dir`).
    pub tmp_size_mb: u32,
    /// The environment's own storage for /tmp (`scratch.rs`), bound read-write.
    pub tmp_dir: Option<PathBuf>,
    /// The environment variables, exactly (nothing of archfn's own environment leaks in).
    pub env: Vec<(String, String)>,
    /// The command to run inside: `env-init`, its options, `--`, then the runtime.
    pub argv: Vec<String>,
    /// The runtime's working directory (`/var/task`; an image's WORKDIR).
    pub working_dir: String,
}

/// What the environment's first process joins and becomes before bubblewrap runs.
#[derive(Debug)]
pub struct Confinement {
    /// `cgroup.procs` files of the environment's cgroups, opened for writing.
    pub cgroups: Vec<std::fs::File>,
    /// The environment's network namespace.
    pub netns: Option<OwnedFd>,
    /// The environment's host uid and gid (never 0).
    pub host_id: u32,
}

/// Where bwrap is, found once on `PATH` (Debian's is `/usr/bin/bwrap`), so that no cold start
/// pays for a `PATH` search.
fn bwrap_path() -> &'static str {
    static PATH: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    PATH.get_or_init(|| {
        std::env::var_os("PATH")
            .and_then(|paths| {
                std::env::split_paths(&paths)
                    .map(|d| d.join("bwrap"))
                    .find(|p| p.is_file())
                    .map(|p| p.to_string_lossy().into_owned())
            })
            .unwrap_or_else(|| "bwrap".into())
    })
}

fn bind(c: &mut tokio::process::Command, host: &Path, inside: &str) {
    c.arg("--ro-bind").arg(sandbox_path(host)).arg(inside);
}

/// The bubblewrap invocation for `spec`, confined by `confinement`.
pub fn command(spec: &EnvironmentSpec, confinement: Confinement) -> tokio::process::Command {
    let mut c = tokio::process::Command::new(bwrap_path());
    bind(&mut c, &spec.rootfs, "/");
    bind(&mut c, &spec.task_dir, "/var/task");
    bind(&mut c, &spec.runtime_dir, "/var/runtime");
    if let Some(opt) = &spec.opt_dir {
        bind(&mut c, opt, "/opt");
    }
    c.args(["--proc", "/proc", "--dev", "/dev"]);
    match &spec.tmp_dir {
        Some(dir) => {
            c.arg("--bind").arg(sandbox_path(dir)).arg("/tmp");
        }
        None => {
            c.arg("--size")
                .arg((u64::from(spec.tmp_size_mb) << 20).to_string())
                .args(["--tmpfs", "/tmp"]);
        }
    }
    // The namespace's root is the environment's host user; env-init needs CAP_SYS_ADMIN in it
    // for the private binfmt_misc, and CAP_SETFCAP to map that root into the function's nested
    // namespace. It drops both before anything of the function runs.
    c.args([
        "--unshare-user",
        "--uid",
        "0",
        "--gid",
        "0",
        "--cap-add",
        "CAP_SYS_ADMIN",
        "--cap-add",
        "CAP_SETFCAP",
        "--unshare-pid",
        "--unshare-ipc",
        "--unshare-uts",
        "--unshare-cgroup-try",
        "--hostname",
        "localhost",
    ]);
    c.args([
        "--die-with-parent",
        "--new-session",
        "--clearenv",
        "--chdir",
    ]);
    c.arg(&spec.working_dir);
    for (k, v) in &spec.env {
        c.arg("--setenv").arg(k).arg(v);
    }
    c.arg("--");
    c.args(&spec.argv);
    c.kill_on_drop(true);
    confine(&mut c, confinement);
    c
}

/// Makes the child join the environment's cgroups and network namespace and become its host
/// user, between fork and exec.
#[allow(unsafe_code)]
fn confine(c: &mut tokio::process::Command, confinement: Confinement) {
    use nix::sched::{CloneFlags, setns};
    use nix::unistd::{Gid, Uid, setgroups, setresgid, setresuid};
    let Confinement {
        cgroups,
        netns,
        host_id,
    } = confinement;
    let (uid, gid) = (Uid::from_raw(host_id), Gid::from_raw(host_id));
    // SAFETY: the closure runs in the forked child before exec, where only async-signal-safe
    // calls are allowed. It makes only system calls (write, setns, setgroups, setresgid,
    // setresuid) on values prepared before the fork, and allocates nothing.
    unsafe {
        c.pre_exec(move || {
            // The host's root is never an environment's identity: refuse to start instead.
            if uid.is_root() {
                return Err(std::io::Error::from(nix::errno::Errno::EPERM));
            }
            for procs in &cgroups {
                // "0" moves the writing process itself.
                nix::unistd::write(procs, b"0").map_err(std::io::Error::from)?;
            }
            if let Some(ns) = &netns {
                setns(ns, CloneFlags::CLONE_NEWNET).map_err(std::io::Error::from)?;
            }
            setgroups(&[]).map_err(std::io::Error::from)?;
            setresgid(gid, gid, gid).map_err(std::io::Error::from)?;
            setresuid(uid, uid, uid).map_err(std::io::Error::from)?;
            Ok(())
        });
    }
}
