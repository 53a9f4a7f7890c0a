//! The server's view of its own directories, as the sandboxes' unprivileged users reach them.
//!
//! bubblewrap runs under each environment's unprivileged host uid, so every directory it binds
//! into an environment must be reachable by that uid. The data directory may sit below
//! directories only root may enter (`/root/...`, a 0700 temporary directory). So at start, the
//! server moves into a mount namespace of its own (shared with nothing but its children) and
//! binds its data and runtimes directories under [`VIEW_ROOT`], a directory anyone may traverse;
//! bubblewrap is given those paths. Nothing is mounted on the host: the namespace, and the
//! view with it, ends with the server.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use crate::SandboxError;

/// Where the view is mounted, inside the server's mount namespace.
pub const VIEW_ROOT: &str = "/run/archfn/view";

/// Host directories and where the view shows them.
static MAPPINGS: OnceLock<Vec<(PathBuf, PathBuf)>> = OnceLock::new();

/// Enters a mount namespace of the server's own and mounts the view of `dirs` (name, host
/// directory). Must run before the process has a second thread (the kernel refuses a new mount
/// namespace to a process whose threads share their file system context). Needs root.
pub fn enter(dirs: &[(&str, &Path)]) -> Result<(), SandboxError> {
    use nix::mount::{MsFlags, mount};
    use nix::sched::CloneFlags;
    let tool = |what: &str, e: nix::Error| SandboxError::Tool(format!("{what}: {e}"));
    nix::sched::unshare(CloneFlags::CLONE_NEWNS)
        .map_err(|e| tool("entering the server's own mount namespace", e))?;
    // Host mounts still reach the server; nothing mounted here reaches the host.
    mount(
        None::<&str>,
        "/",
        None::<&str>,
        MsFlags::MS_REC | MsFlags::MS_SLAVE,
        None::<&str>,
    )
    .map_err(|e| tool("making the server's mounts its own", e))?;
    std::fs::create_dir_all(VIEW_ROOT).map_err(SandboxError::Io)?;
    mount(
        Some("archfn-view"),
        VIEW_ROOT,
        Some("tmpfs"),
        MsFlags::MS_NOSUID | MsFlags::MS_NODEV,
        Some("mode=0711,size=1m"),
    )
    .map_err(|e| tool("mounting the sandbox view", e))?;
    let mut mappings = Vec::new();
    for (name, host) in dirs {
        std::fs::create_dir_all(host).map_err(SandboxError::Io)?;
        let host = host.canonicalize().map_err(SandboxError::Io)?;
        let shown = Path::new(VIEW_ROOT).join(name);
        std::fs::create_dir_all(&shown).map_err(SandboxError::Io)?;
        mount(
            Some(&host),
            &shown,
            None::<&str>,
            MsFlags::MS_BIND | MsFlags::MS_REC,
            None::<&str>,
        )
        .map_err(|e| tool(&format!("binding {} into the view", host.display()), e))?;
        mappings.push((host, shown));
    }
    // The longest host path first, so that a directory inside another maps by its own entry.
    mappings.sort_by_key(|(host, _)| std::cmp::Reverse(host.as_os_str().len()));
    let _ = MAPPINGS.set(mappings);
    Ok(())
}

/// Where a sandbox's bubblewrap finds `host`: its place in the view, or `host` itself when no
/// view covers it.
pub fn sandbox_path(host: &Path) -> PathBuf {
    let Some(mappings) = MAPPINGS.get() else {
        return host.to_path_buf();
    };
    let canonical = host.canonicalize().unwrap_or_else(|_| host.to_path_buf());
    for (from, to) in mappings {
        if let Ok(rest) = canonical.strip_prefix(from) {
            return to.join(rest);
        }
    }
    host.to_path_buf()
}

/// A directory of the server's own under the view (`VIEW_ROOT/NAME`), for mounts nobody else
/// sees; `None` when the server has no view.
pub fn private_dir(name: &str) -> Option<PathBuf> {
    MAPPINGS.get()?;
    let dir = Path::new(VIEW_ROOT).join(name);
    std::fs::create_dir_all(&dir).ok()?;
    Some(dir)
}
