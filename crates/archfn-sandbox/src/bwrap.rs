//! The bubblewrap command line of an execution environment.
//!
//! Mounts, as Lambda lays them out: the runtime's root file system read-only at `/`, the
//! function's code read-only at `/var/task`, the merged layers read-only at `/opt`, archfn's
//! bootstraps read-only at `/var/runtime`, and a private tmpfs of EphemeralStorage size at `/tmp`.
//! New pid, ipc, uts and mount namespaces; the host network is shared so the environment reaches
//! its Runtime API on loopback.

use std::path::PathBuf;

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
    /// Size of /tmp in MB.
    pub tmp_size_mb: u32,
    /// The environment variables, exactly (nothing of archfn's own environment leaks in).
    pub env: Vec<(String, String)>,
    /// The command to run inside.
    pub argv: Vec<String>,
    /// `cgroup.procs` files (space separated) the sandbox joins before it starts.
    pub cgroup_procs: Option<String>,
    /// The runtime's working directory (`/var/task`; an image's WORKDIR).
    pub working_dir: String,
    /// Run in a user namespace of its own, whose first process (`isa-init`, at the head of
    /// `argv`) may mount a private binfmt_misc; it drops every capability before the runtime.
    pub own_binfmt: bool,
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

/// The bubblewrap invocation for `spec`.
pub fn command(spec: &EnvironmentSpec) -> tokio::process::Command {
    // With cgroups, a shell joins them first and then becomes bwrap, so that nothing of the
    // environment ever runs outside its limits.
    let mut c = match &spec.cgroup_procs {
        Some(procs) => {
            let mut sh = tokio::process::Command::new("/bin/sh");
            sh.args([
                "-c",
                r#"for p in $ARCHFN_CGROUP_PROCS; do echo $$ > "$p" || exit 125; done; exec "$@""#,
                "sh",
                bwrap_path(),
            ]);
            sh.env("ARCHFN_CGROUP_PROCS", procs);
            sh
        }
        None => tokio::process::Command::new(bwrap_path()),
    };
    c.arg("--ro-bind").arg(&spec.rootfs).arg("/");
    c.arg("--ro-bind").arg(&spec.task_dir).arg("/var/task");
    c.arg("--ro-bind")
        .arg(&spec.runtime_dir)
        .arg("/var/runtime");
    if let Some(opt) = &spec.opt_dir {
        c.arg("--ro-bind").arg(opt).arg("/opt");
    }
    c.args(["--proc", "/proc", "--dev", "/dev"]);
    c.arg("--size")
        .arg((u64::from(spec.tmp_size_mb) << 20).to_string())
        .args(["--tmpfs", "/tmp"]);
    if spec.own_binfmt {
        c.args(["--unshare-user", "--cap-add", "CAP_SYS_ADMIN"]);
    }
    c.args([
        "--unshare-pid",
        "--unshare-ipc",
        "--unshare-uts",
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
    c
}
