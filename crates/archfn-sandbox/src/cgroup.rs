//! cgroups for execution environments: a memory limit of MemorySize, a pids limit and a
//! freezer, on cgroup v2 (unified) or v1 (the memory, pids and freezer hierarchies) hosts. Each
//! server owns a parent group of its own (`archfn-<instance>`) and one child per environment,
//! so two servers on one host never touch each other's groups.

use std::path::{Path, PathBuf};

const ROOT: &str = "/sys/fs/cgroup";

/// The limits of one environment.
#[derive(Debug, Clone, Copy)]
pub struct EnvLimits {
    /// Memory, MB (MemorySize).
    pub memory_mb: u32,
    /// Processes and threads.
    pub pids: u32,
    /// CPU time per wall time, in thousandths of a core (`None`: unlimited).
    pub cpu_millicores: Option<u32>,
}

/// The scheduler period CPU quotas are counted in, microseconds.
const CPU_PERIOD_US: u64 = 100_000;

/// The quota, microseconds per [`CPU_PERIOD_US`], of `millicores` (at least 1 ms, the kernel's
/// floor).
fn cpu_quota_us(millicores: u32) -> u64 {
    (u64::from(millicores) * CPU_PERIOD_US / 1000).max(1000)
}

/// How an environment is stopped between invocations.
#[derive(Debug)]
enum Freezer {
    /// `cgroup.freeze` (v2): `1` freezes, `0` thaws.
    V2(std::fs::File),
    /// `freezer.state` (v1): `FROZEN`, `THAWED`.
    V1(std::fs::File),
}

/// One environment's cgroup(s).
#[derive(Debug)]
pub struct EnvCgroup {
    /// `cgroup.procs` files the environment's first process must join.
    procs: Vec<PathBuf>,
    /// Peak memory file (`memory.peak` on v2, `memory.max_usage_in_bytes` on v1), kept open:
    /// it is read after every invocation, and a positional read of it is one syscall.
    peak: Option<std::fs::File>,
    /// Kill counter (`memory.events` on v2, `memory.failcnt`/oom on v1).
    oom: PathBuf,
    freezer: Option<Freezer>,
    dirs: Vec<PathBuf>,
}

fn write(path: &Path, value: &str) -> std::io::Result<()> {
    std::fs::write(path, value)
}

fn open_rw(path: &Path) -> Option<std::fs::File> {
    std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .ok()
}

/// The parent group of one server's environments, in each hierarchy it uses.
#[derive(Debug, Clone)]
pub struct CgroupParent {
    name: String,
}

impl CgroupParent {
    /// The parent group `archfn-<instance>`; `instance` names the server (its data directory,
    /// say), so that a restarted server finds, and sweeps, its own groups.
    pub fn new(instance: &str) -> CgroupParent {
        let safe: String = instance
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
            .collect();
        CgroupParent {
            name: format!("archfn-{safe}"),
        }
    }

    /// The parent's directories, one per hierarchy that may hold it.
    fn dirs(&self) -> Vec<PathBuf> {
        ["", "memory", "pids", "freezer", "cpu"]
            .iter()
            .map(|h| Path::new(ROOT).join(h).join(&self.name))
            .collect()
    }

    /// Caps the sum of all this server's environments: `memory_mb` of memory and `pids`
    /// processes and threads, enforced by the kernel on the parent groups (a backstop to the
    /// engine's own accounting: however the environments behave, together they stay under).
    pub fn limit_totals(&self, memory_mb: u64, pids: u32) -> std::io::Result<()> {
        let bytes = (memory_mb << 20).to_string();
        let unified = Path::new(ROOT).join("cgroup.controllers");
        if std::fs::read_to_string(&unified)
            .is_ok_and(|c| c.split_whitespace().any(|x| x == "memory"))
        {
            let parent = Path::new(ROOT).join(&self.name);
            std::fs::create_dir_all(&parent)?;
            let _ = write(
                &Path::new(ROOT).join("cgroup.subtree_control"),
                "+memory +pids +cpu",
            );
            write(&parent.join("memory.max"), &bytes)?;
            return write(&parent.join("pids.max"), &pids.to_string());
        }
        let memory = Path::new(ROOT).join("memory").join(&self.name);
        if Path::new(ROOT)
            .join("memory")
            .join("memory.limit_in_bytes")
            .exists()
        {
            std::fs::create_dir_all(&memory)?;
            write(&memory.join("memory.limit_in_bytes"), &bytes)?;
        }
        let pids_dir = Path::new(ROOT).join("pids").join(&self.name);
        if Path::new(ROOT).join("pids").join("cgroup.procs").exists() {
            std::fs::create_dir_all(&pids_dir)?;
            write(&pids_dir.join("pids.max"), &pids.to_string())?;
        }
        Ok(())
    }

    /// Creates the groups of environment `id` with `limits`. `None` when this host offers no
    /// usable memory controller (the environment then runs unlimited, and the server says so at
    /// start).
    pub fn create(&self, id: &str, limits: EnvLimits) -> Option<EnvCgroup> {
        let bytes = (u64::from(limits.memory_mb) << 20).to_string();
        let pids = limits.pids.to_string();
        let unified = Path::new(ROOT).join("cgroup.controllers");
        if std::fs::read_to_string(&unified)
            .is_ok_and(|c| c.split_whitespace().any(|x| x == "memory"))
        {
            let parent = Path::new(ROOT).join(&self.name);
            std::fs::create_dir_all(&parent).ok()?;
            let _ = write(
                &Path::new(ROOT).join("cgroup.subtree_control"),
                "+memory +pids +cpu",
            );
            let _ = write(&parent.join("cgroup.subtree_control"), "+memory +pids +cpu");
            let dir = parent.join(id);
            std::fs::create_dir_all(&dir).ok()?;
            write(&dir.join("memory.max"), &bytes).ok()?;
            let _ = write(&dir.join("memory.swap.max"), "0");
            let _ = write(&dir.join("pids.max"), &pids);
            if let Some(m) = limits.cpu_millicores {
                write(
                    &dir.join("cpu.max"),
                    &format!("{} {CPU_PERIOD_US}", cpu_quota_us(m)),
                )
                .ok()?;
            }
            return Some(EnvCgroup {
                procs: vec![dir.join("cgroup.procs")],
                peak: std::fs::File::open(dir.join("memory.peak")).ok(),
                oom: dir.join("memory.events"),
                freezer: open_rw(&dir.join("cgroup.freeze")).map(Freezer::V2),
                dirs: vec![dir],
            });
        }
        let mem = Path::new(ROOT).join("memory");
        if !mem.join("memory.limit_in_bytes").exists() {
            return None;
        }
        let dir = mem.join(&self.name).join(id);
        std::fs::create_dir_all(&dir).ok()?;
        write(&dir.join("memory.limit_in_bytes"), &bytes).ok()?;
        let _ = write(&dir.join("memory.memsw.limit_in_bytes"), &bytes);
        let mut procs = vec![dir.join("cgroup.procs")];
        let mut dirs = vec![dir.clone()];
        let pids_dir = Path::new(ROOT).join("pids").join(&self.name).join(id);
        if std::fs::create_dir_all(&pids_dir).is_ok()
            && write(&pids_dir.join("pids.max"), &pids).is_ok()
        {
            procs.push(pids_dir.join("cgroup.procs"));
            dirs.push(pids_dir);
        }
        if let Some(m) = limits.cpu_millicores {
            let cpu_dir = Path::new(ROOT).join("cpu").join(&self.name).join(id);
            if Path::new(ROOT)
                .join("cpu")
                .join("cpu.cfs_quota_us")
                .exists()
            {
                std::fs::create_dir_all(&cpu_dir).ok()?;
                write(
                    &cpu_dir.join("cpu.cfs_period_us"),
                    &CPU_PERIOD_US.to_string(),
                )
                .ok()?;
                write(
                    &cpu_dir.join("cpu.cfs_quota_us"),
                    &cpu_quota_us(m).to_string(),
                )
                .ok()?;
                procs.push(cpu_dir.join("cgroup.procs"));
                dirs.push(cpu_dir);
            }
        }
        let mut freezer = None;
        let freezer_dir = Path::new(ROOT).join("freezer").join(&self.name).join(id);
        let has_freezer = Path::new(ROOT)
            .join("freezer")
            .join("cgroup.procs")
            .exists();
        if has_freezer && std::fs::create_dir_all(&freezer_dir).is_ok() {
            freezer = open_rw(&freezer_dir.join("freezer.state")).map(Freezer::V1);
            procs.push(freezer_dir.join("cgroup.procs"));
            dirs.push(freezer_dir);
        }
        Some(EnvCgroup {
            procs,
            peak: std::fs::File::open(dir.join("memory.max_usage_in_bytes")).ok(),
            oom: dir.join("memory.oom_control"),
            freezer,
            dirs,
        })
    }

    /// Removes the parent groups (once their environments' groups are gone; waits up to
    /// `patience` for that): the server is stopping.
    pub fn remove(&self, patience: std::time::Duration) {
        let deadline = std::time::Instant::now() + patience;
        loop {
            self.sweep_stale();
            let left: Vec<PathBuf> = self
                .dirs()
                .into_iter()
                .filter(|d| d.exists() && std::fs::remove_dir(d).is_err())
                .collect();
            if left.is_empty() || std::time::Instant::now() > deadline {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }

    /// Ends this server's environments left behind by a process that was killed, and removes
    /// their groups. An environment frozen between invocations does not die with the server
    /// (the kill that bubblewrap's parent-death signal sends waits for a thaw), so each group is
    /// thawed and every process in it killed first. Other servers' groups are under other
    /// parents and never touched.
    pub fn sweep_stale(&self) -> usize {
        let children = |parent: &Path| -> Vec<PathBuf> {
            std::fs::read_dir(parent)
                .map(|entries| {
                    entries
                        .flatten()
                        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
                        .map(|e| e.path())
                        .collect()
                })
                .unwrap_or_default()
        };
        let parents = self.dirs();
        for parent in &parents {
            for child in children(parent) {
                let _ = write(&child.join("freezer.state"), "THAWED");
                let _ = write(&child.join("cgroup.freeze"), "0");
                let procs = std::fs::read_to_string(child.join("cgroup.procs")).unwrap_or_default();
                for pid in procs.lines().filter_map(|l| l.trim().parse::<i32>().ok()) {
                    let _ = nix::sys::signal::kill(
                        nix::unistd::Pid::from_raw(pid),
                        nix::sys::signal::Signal::SIGKILL,
                    );
                }
            }
        }
        // Killed processes take a moment to leave their groups.
        let mut removed = 0;
        for _ in 0..50 {
            let mut left = 0;
            for parent in &parents {
                for child in children(parent) {
                    if std::fs::remove_dir(&child).is_ok() {
                        removed += 1;
                    } else {
                        left += 1;
                    }
                }
            }
            if left == 0 {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        removed
    }
}

impl EnvCgroup {
    /// The `cgroup.procs` files to join, opened for writing (before the environment's first
    /// process is started, which writes to each).
    pub fn open_procs(&self) -> std::io::Result<Vec<std::fs::File>> {
        self.procs
            .iter()
            .map(|p| std::fs::OpenOptions::new().write(true).open(p))
            .collect()
    }

    /// Peak memory use so far, in bytes.
    pub fn peak_bytes(&self) -> Option<u64> {
        use std::os::unix::fs::FileExt;
        let mut buf = [0u8; 32];
        // Each read from offset 0 renders the value afresh.
        let n = self.peak.as_ref()?.read_at(&mut buf, 0).ok()?;
        std::str::from_utf8(&buf[..n]).ok()?.trim().parse().ok()
    }

    /// Whether the kernel's OOM killer has fired in this group.
    pub fn oom_killed(&self) -> bool {
        let Ok(text) = std::fs::read_to_string(&self.oom) else {
            return false;
        };
        // Both `memory.events` (v2) and `memory.oom_control` (v1) carry an `oom_kill N` line.
        text.lines()
            .filter_map(|l| l.split_once(' '))
            .any(|(k, v)| k == "oom_kill" && v.trim().parse::<u64>().is_ok_and(|n| n > 0))
    }

    /// Whether this group can be frozen.
    pub fn can_freeze(&self) -> bool {
        self.freezer.is_some()
    }

    /// Stops every process of the environment until [`EnvCgroup::thaw`] (asynchronous: the
    /// kernel finishes freezing on its own).
    pub fn freeze(&self) -> std::io::Result<()> {
        self.set_frozen(true)
    }

    /// Lets the environment's processes run again.
    pub fn thaw(&self) -> std::io::Result<()> {
        self.set_frozen(false)
    }

    fn set_frozen(&self, frozen: bool) -> std::io::Result<()> {
        use std::os::unix::fs::FileExt;
        match &self.freezer {
            Some(Freezer::V2(f)) => f.write_at(if frozen { b"1" } else { b"0" }, 0).map(|_| ()),
            Some(Freezer::V1(f)) => f
                .write_at(if frozen { b"FROZEN" } else { b"THAWED" }, 0)
                .map(|_| ()),
            None => Ok(()),
        }
    }
}

impl Drop for EnvCgroup {
    fn drop(&mut self) {
        // A frozen group's processes cannot die (v1) until thawed.
        let _ = self.thaw();
        // A group can only be removed once its processes are gone, which takes a moment after a
        // kill. Retry off the async runtime's threads, briefly.
        let dirs = std::mem::take(&mut self.dirs);
        std::thread::spawn(move || {
            for _ in 0..200 {
                let left: Vec<&PathBuf> = dirs
                    .iter()
                    .filter(|d| d.exists() && std::fs::remove_dir(d).is_err())
                    .collect();
                if left.is_empty() {
                    return;
                }
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
        });
    }
}

/// How cgroup moves were made cheap (see [`favor_dynamic_moves`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FavorDynmods {
    /// A cgroup hierarchy was already mounted with `favordynmods` (at this mount point).
    Already(PathBuf),
    /// The cgroup2 hierarchy at this mount point was remounted with `favordynmods`.
    Remounted(PathBuf),
    /// No cgroup2 hierarchy is mounted: a controller-less v1 hierarchy with `favordynmods` was
    /// mounted here.
    Mounted(PathBuf),
}

/// A cgroup mount from `/proc/self/mountinfo`: mount point, file system type, super options.
fn cgroup_mounts(mountinfo: &str) -> Vec<(PathBuf, String, String)> {
    mountinfo
        .lines()
        .filter_map(|line| {
            let (head, tail) = line.split_once(" - ")?;
            let mount_point = head.split(' ').nth(4)?;
            let mut tail = tail.split(' ');
            let fstype = tail.next()?;
            let super_options = tail.nth(1).unwrap_or("");
            matches!(fstype, "cgroup" | "cgroup2").then(|| {
                (
                    PathBuf::from(mount_point.replace("\\040", " ")),
                    fstype.to_string(),
                    super_options.to_string(),
                )
            })
        })
        .collect()
}

/// Makes moving a process into a cgroup cheap, as every environment's first process is moved
/// into its own groups.
///
/// The kernel guards all cgroup moves with one per-CPU reader/writer lock (the threadgroup lock),
/// and by default each move first waits for an RCU grace period to switch that lock to its
/// writer mode: 5 to 15 ms per cold start on this project's hosts, a quarter of a Python cold
/// start. The `favordynmods` mount option (Linux 6.0+) keeps the lock in writer-friendly mode,
/// making moves about 0.4 ms, at a small cost to fork and exit. It is global: one hierarchy
/// mounted with it is enough. Needs root.
pub fn favor_dynamic_moves(v1_mount_dir: &Path) -> Result<FavorDynmods, String> {
    use nix::mount::{MsFlags, mount};
    let mountinfo = std::fs::read_to_string("/proc/self/mountinfo")
        .map_err(|e| format!("reading /proc/self/mountinfo: {e}"))?;
    let mounts = cgroup_mounts(&mountinfo);
    if let Some((at, _, _)) = mounts
        .iter()
        .find(|(_, _, opts)| opts.split(',').any(|o| o == "favordynmods"))
    {
        return Ok(FavorDynmods::Already(at.clone()));
    }
    if let Some((at, _, opts)) = mounts.iter().find(|(_, t, _)| t == "cgroup2") {
        // A remount sets exactly the options it is given: keep the hierarchy's own (nsdelegate,
        // memory_recursiveprot, …), which the kernel shows next to the read/write flag.
        let mut data: Vec<&str> = opts
            .split(',')
            .filter(|o| !o.is_empty() && *o != "rw" && *o != "ro")
            .collect();
        data.push("favordynmods");
        mount(
            None::<&str>,
            at,
            None::<&str>,
            MsFlags::MS_REMOUNT,
            Some(data.join(",").as_str()),
        )
        .map_err(|e| format!("remounting {} with favordynmods: {e}", at.display()))?;
        return Ok(FavorDynmods::Remounted(at.clone()));
    }
    std::fs::create_dir_all(v1_mount_dir)
        .map_err(|e| format!("creating {}: {e}", v1_mount_dir.display()))?;
    mount(
        Some("cgroup"),
        v1_mount_dir,
        Some("cgroup"),
        MsFlags::empty(),
        Some("none,name=archfn,favordynmods"),
    )
    .map_err(|e| {
        format!(
            "mounting a favordynmods hierarchy at {}: {e}",
            v1_mount_dir.display()
        )
    })?;
    Ok(FavorDynmods::Mounted(v1_mount_dir.to_path_buf()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_quotas_follow_millicores_with_the_kernels_floor() {
        assert_eq!(cpu_quota_us(1000), 100_000);
        assert_eq!(cpu_quota_us(72), 7_200);
        assert_eq!(cpu_quota_us(1), 1000);
    }

    #[test]
    fn reads_cgroup_mounts_and_their_super_options() {
        let info = "\
30 1 0:26 / / rw,relatime shared:1 - ext4 /dev/vda rw
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw,nsdelegate
42 31 0:39 / /sys/fs/cgroup/memory rw,relatime shared:5 - cgroup cgroup rw,memory
";
        let m = cgroup_mounts(info);
        assert_eq!(m.len(), 2);
        assert_eq!(m[0].0, PathBuf::from("/sys/fs/cgroup/unified"));
        assert_eq!(
            (m[0].1.as_str(), m[0].2.as_str()),
            ("cgroup2", "rw,nsdelegate")
        );
        assert_eq!((m[1].1.as_str(), m[1].2.as_str()), ("cgroup", "rw,memory"));
    }
}
