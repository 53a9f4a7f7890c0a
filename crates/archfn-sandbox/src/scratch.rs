//! Each execution environment's `/tmp`: storage of EphemeralStorage size that is not memory.
//!
//! A tmpfs would be charged to the memory cgroup of whoever writes it, so a 128 MB function
//! writing 200 MB to `/tmp` would be killed as out of memory, where on Lambda `/tmp` is storage
//! of its own (512 MB to 10 GB). So `/tmp` is an ext4 file system in a sparse image file of
//! exactly that size, loop-mounted in the server's own mount namespace and bound into the
//! environment: the kernel enforces the size, and what is written is page cache the kernel
//! writes back and reclaims instead of memory that must stay. Making one takes some tens of
//! milliseconds, so [`ScratchPool`] keeps a few of the default size ready.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// Lambda's default EphemeralStorage, MB: the size the pool keeps ready.
pub const DEFAULT_MB: u32 = 512;

/// One environment's `/tmp`, unmounted and deleted when dropped.
#[derive(Debug)]
pub struct Scratch {
    image: PathBuf,
    mount_point: PathBuf,
}

impl Scratch {
    /// Where the file system is mounted (what the environment binds at `/tmp`).
    pub fn path(&self) -> &Path {
        &self.mount_point
    }

    /// Gives the file system's root to the environment's host user, who alone may use it.
    pub fn give_to(&self, host_id: u32) -> io::Result<()> {
        use std::os::unix::fs::PermissionsExt;
        let id = Some(host_id);
        std::os::unix::fs::chown(&self.mount_point, id, id)?;
        std::fs::set_permissions(&self.mount_point, std::fs::Permissions::from_mode(0o700))
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = nix::mount::umount2(&self.mount_point, nix::mount::MntFlags::MNT_DETACH);
        let _ = std::fs::remove_dir(&self.mount_point);
        let _ = std::fs::remove_file(&self.image);
    }
}

fn run(program: &str, args: &[&std::ffi::OsStr]) -> io::Result<()> {
    let out = std::process::Command::new(program)
        .args(args)
        .stdin(std::process::Stdio::null())
        .output()?;
    if out.status.success() {
        Ok(())
    } else {
        Err(io::Error::other(format!(
            "{program} failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        )))
    }
}

/// Makes and mounts a new scratch file system of `size_mb` with its image in `images` and its
/// mount point in `mounts` (a directory of the server's own mount namespace).
fn create(images: &Path, mounts: &Path, size_mb: u32) -> io::Result<Scratch> {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let name = format!("tmp-{}-{n}", std::process::id());
    let image = images.join(format!("{name}.img"));
    let mount_point = mounts.join(&name);
    let file = std::fs::File::create(&image)?;
    file.set_len(u64::from(size_mb) << 20)?;
    drop(file);
    std::fs::create_dir_all(&mount_point)?;
    // From here on, dropping the scratch undoes whatever was done.
    let scratch = Scratch { image, mount_point };
    // No journal (nothing of /tmp outlives its environment), no reserved blocks (the function
    // gets all of its size), inode tables initialized lazily (creation stays fast).
    run(
        "mkfs.ext4",
        &[
            "-q".as_ref(),
            "-F".as_ref(),
            "-O".as_ref(),
            "^has_journal,^resize_inode".as_ref(),
            "-E".as_ref(),
            "lazy_itable_init=1,nodiscard".as_ref(),
            "-m".as_ref(),
            "0".as_ref(),
            scratch.image.as_os_str(),
        ],
    )?;
    run(
        "mount",
        &[
            "-o".as_ref(),
            "loop,nosuid,nodev".as_ref(),
            scratch.image.as_os_str(),
            scratch.mount_point.as_os_str(),
        ],
    )?;
    // Lambda's /tmp starts empty.
    let _ = std::fs::remove_dir(scratch.mount_point.join("lost+found"));
    Ok(scratch)
}

/// Scratch file systems made ahead of the cold starts that take them.
#[derive(Debug)]
pub struct ScratchPool {
    images: PathBuf,
    mounts: PathBuf,
    ready: crate::ready::Ready<Scratch>,
}

impl ScratchPool {
    /// A pool whose images live in `images` (emptied of what an earlier process left) and whose
    /// mounts are in the server's own mount namespace; `None` when the server has none (then
    /// environments get a tmpfs `/tmp`).
    pub fn new(images: &Path, target: usize) -> Option<ScratchPool> {
        let mounts = crate::view::private_dir("tmp")?;
        std::fs::create_dir_all(images).ok()?;
        if let Ok(entries) = std::fs::read_dir(images) {
            for e in entries.flatten() {
                let _ = std::fs::remove_file(e.path());
            }
        }
        Some(ScratchPool {
            images: images.to_path_buf(),
            mounts,
            ready: crate::ready::Ready::new(target),
        })
    }

    /// A scratch file system of `size_mb`: a ready one of the default size, or a new one.
    /// Blocking.
    pub fn take(&self, size_mb: u32) -> io::Result<Scratch> {
        if size_mb == DEFAULT_MB
            && let Some(s) = self.ready.take()
        {
            return Ok(s);
        }
        create(&self.images, &self.mounts, size_mb)
    }

    /// Unmounts and deletes every ready file system: the server is stopping.
    pub fn clear(&self) {
        drop(self.ready.clear());
    }

    /// Makes scratch file systems of the default size until the pool holds its target.
    /// Blocking; returns how many it made.
    pub fn refill(&self) -> io::Result<usize> {
        self.ready
            .refill(|| create(&self.images, &self.mounts, DEFAULT_MB))
    }
}
