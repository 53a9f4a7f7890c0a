//! Execution sandboxes.
//!
//! Owns: the root file system of each installed (runtime, architecture), built from Debian
//! packages of that architecture (and, for Node.js majors Debian lacks, the official Node.js
//! build from the npm registry, checked against its published integrity); the binfmt_misc
//! entry that lets a foreign-ISA environment run under QEMU user-mode emulation; the bubblewrap command line of an execution environment and
//! everything that confines it: its unprivileged host identity, its network namespace, its
//! cgroups, and `env-init` (its identity inside, limits, seccomp filter, ISA enforcement).
//! Must not: know the Lambda APIs or the control plane; it only starts processes.

pub mod binfmt;
pub mod bwrap;
pub mod cgroup;
pub mod fake;
pub mod host;
pub mod identity;
pub mod isa;
pub mod launch;
pub mod netns;
pub mod nodedist;
pub mod ready;
pub mod rootfs;
pub mod scratch;
pub mod view;

use archfn_model::Architecture;

/// How an environment of a given architecture runs on this host.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExecutionMode {
    /// The host's own ISA.
    Native,
    /// Under QEMU user-mode emulation.
    Emulated,
}

impl ExecutionMode {
    /// `native` or `emulated`, as logs and metrics say it.
    pub fn as_str(self) -> &'static str {
        match self {
            ExecutionMode::Native => "native",
            ExecutionMode::Emulated => "emulated",
        }
    }

    /// The mode a function of `arch` runs in on this host.
    pub fn for_arch(arch: Architecture) -> ExecutionMode {
        if Architecture::host() == Some(arch) {
            ExecutionMode::Native
        } else {
            ExecutionMode::Emulated
        }
    }
}

/// What can go wrong preparing or starting a sandbox.
#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    /// The runtime is not installed for that architecture.
    #[error(
        "runtime {runtime} is not installed for {arch}: run `archfn runtime install {runtime} --arch {arch}`"
    )]
    RuntimeNotInstalled {
        /// Runtime identifier.
        runtime: String,
        /// Architecture.
        arch: Architecture,
    },
    /// The runtime was installed by an older archfn whose recipe had fewer packages.
    #[error(
        "runtime {runtime} for {arch} was installed from an older recipe: run `archfn runtime install {runtime} --arch {arch}` again"
    )]
    RuntimeOutdated {
        /// Runtime identifier.
        runtime: String,
        /// Architecture.
        arch: Architecture,
    },
    /// archfn cannot build that runtime.
    #[error("archfn has no recipe for runtime {0} (available: {1})")]
    UnknownRuntime(String, String),
    /// Emulation for a foreign ISA is not available.
    #[error("cannot run {arch} code on this host: {reason}")]
    NoEmulation {
        /// Architecture.
        arch: Architecture,
        /// Why.
        reason: String,
    },
    /// A download's digest is not the one its registry published: it was refused, and nothing
    /// was installed from it.
    #[error(
        "{what}: its sha512 digest {actual} does not match the registry's integrity {expected}; nothing was installed"
    )]
    IntegrityMismatch {
        /// What was downloaded.
        what: String,
        /// The registry's `dist.integrity`.
        expected: String,
        /// The digest of what arrived.
        actual: String,
    },
    /// A tool failed.
    #[error("{0}")]
    Tool(String),
    /// IO.
    #[error("sandbox io: {0}")]
    Io(#[from] std::io::Error),
}

/// Marks every descriptor this process inherited (all but stdin, stdout and stderr) close-on-exec,
/// so that none reaches a process archfn starts: an execution environment must not hold what
/// archfn's parent gave it, and a helper that outlives archfn (pasta) must not keep it open (a
/// lock held by the parent, say). Call it first thing in the server, before other threads start.
#[allow(unsafe_code)]
pub fn keep_inherited_descriptors_from_children() {
    use nix::fcntl::{FcntlArg, FdFlag, fcntl};
    use std::os::fd::BorrowedFd;
    let Ok(entries) = std::fs::read_dir("/proc/self/fd") else {
        return;
    };
    let fds: Vec<i32> = entries
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
        .filter(|fd| *fd > 2)
        .collect();
    for fd in fds {
        // SAFETY: `fd` was listed as open a moment ago, and this runs before any other thread
        // could close it; the borrow lasts only for the `fcntl` call. A descriptor closed in
        // between (the directory listing's own) makes `fcntl` fail with EBADF, which is ignored.
        let fd = unsafe { BorrowedFd::borrow_raw(fd) };
        if let Ok(flags) = fcntl(fd, FcntlArg::F_GETFD) {
            let flags = FdFlag::from_bits_truncate(flags) | FdFlag::FD_CLOEXEC;
            let _ = fcntl(fd, FcntlArg::F_SETFD(flags));
        }
    }
}
