//! OCI image layers applied beneath a root, lowest first: whiteouts, opaque directories, and
//! every entry written or removed without following a symbolic link.

use std::ffi::OsStr;
use std::io::Read;
use std::path::{Component, Path, PathBuf};

use crate::{ExtractError, RelPath, Root};

/// Why a layer was not applied.
#[derive(Debug, thiserror::Error)]
pub enum LayerError {
    /// The layer is not a readable tar stream.
    #[error("{0}")]
    Tar(#[from] std::io::Error),
    /// An entry's name has a `..`.
    #[error("entry {0:?} has a path outside the image root")]
    UnsafePath(String),
    /// A whiteout names no plain entry of its directory (`.wh.`, `.wh..`, `.wh...`).
    #[error("whiteout {0:?} names no entry of its directory")]
    BadWhiteout(String),
    /// A symbolic or hard link entry without a target.
    #[error("link {0:?} has no target")]
    NoLinkTarget(String),
    /// Writing the entry beneath the image root was refused (through a symbolic link, a hard
    /// link to something that is not a regular file of the image) or failed.
    #[error(transparent)]
    Extract(#[from] ExtractError),
}

/// A tar name as a path beneath the root: a leading `/` is dropped (as Docker reads layers),
/// `.` components too; `..` is refused. `None` for the root itself.
fn layer_path(raw: &Path) -> Result<Option<RelPath>, LayerError> {
    let mut out = PathBuf::new();
    for c in raw.components() {
        match c {
            Component::Normal(name) => out.push(name),
            Component::CurDir | Component::RootDir => {}
            Component::ParentDir | Component::Prefix(_) => {
                return Err(LayerError::UnsafePath(raw.display().to_string()));
            }
        }
    }
    if out.as_os_str().is_empty() {
        return Ok(None);
    }
    Ok(Some(RelPath::new(out)?))
}

/// Applies one layer (an uncompressed tar stream) on top of `root`: `.wh.NAME` removes NAME
/// (a plain name) from its directory, `.wh..wh..opq` empties its directory of what lower
/// layers put there, anything else replaces what is at its path. Every entry is written or
/// removed beneath the root through `Root`, never through a symbolic link: an entry under a
/// link is refused, and so is a hard link to anything but a regular file of the image.
/// Devices and FIFOs are skipped; setuid and setgid bits are dropped.
pub fn apply_layer(reader: impl Read, dest: &Path) -> Result<(), LayerError> {
    apply_layer_to(reader, &Root::open(dest)?)
}

/// `apply_layer` on an open root, for an image's layers one after the other.
pub fn apply_layer_to(reader: impl Read, root: &Root) -> Result<(), LayerError> {
    use std::os::unix::ffi::OsStrExt;
    let mut archive = tar::Archive::new(reader);
    // What this layer put in place itself: its own whiteouts apply only to lower layers.
    let mut own = std::collections::HashSet::new();
    for entry in archive.entries()? {
        let mut entry = entry?;
        let raw = entry.path()?.into_owned();
        let shown = || raw.display().to_string();
        let kind = entry.header().entry_type();
        if kind.is_block_special()
            || kind.is_character_special()
            || kind.is_fifo()
            || kind.is_pax_global_extensions()
            || kind.is_pax_local_extensions()
            || kind.is_gnu_longname()
            || kind.is_gnu_longlink()
        {
            continue;
        }
        let Some(path) = layer_path(&raw)? else {
            continue;
        };
        let name = path.name().as_bytes();
        let parent = match path.parent() {
            p if p.as_os_str().is_empty() => None,
            p => Some(RelPath::new(p)?),
        };
        if name == b".wh..wh..opq" {
            let dir = path.parent().to_path_buf();
            root.clear_dir(parent.as_ref(), |child| own.contains(&dir.join(child)))?;
            continue;
        }
        if let Some(hidden) = name.strip_prefix(b".wh.") {
            if hidden.is_empty() || hidden == b"." || hidden == b".." || hidden.contains(&b'/') {
                return Err(LayerError::BadWhiteout(shown()));
            }
            root.remove(&RelPath::new(
                path.parent().join(OsStr::from_bytes(hidden)),
            )?)?;
            continue;
        }
        // No setuid or setgid programs from an image on the host's disk (inside the sandbox
        // they would be powerless anyway: no new privileges).
        let mode = entry.header().mode().unwrap_or(0o644) & 0o1777;
        let old_style_dir =
            entry.header().as_ustar().is_none() && entry.path_bytes().ends_with(b"/");
        if kind.is_dir() || old_style_dir {
            root.make_dir(&path, Some(mode))?;
        } else if kind.is_symlink() {
            let target = entry
                .link_name()?
                .ok_or_else(|| LayerError::NoLinkTarget(shown()))?
                .into_owned();
            root.symlink(&path, &target, true)?;
        } else if kind.is_hard_link() {
            let target = entry
                .link_name()?
                .ok_or_else(|| LayerError::NoLinkTarget(shown()))?
                .into_owned();
            let target = layer_path(&target)?.ok_or_else(|| LayerError::NoLinkTarget(shown()))?;
            root.hard_link(&path, &target, true)?;
        } else {
            // A regular file, as tar reads any type it does not know.
            let mut file = root.create_file(&path, mode, true)?;
            std::io::copy(&mut entry, &mut file)?;
            if let Ok(mtime) = entry.header().mtime() {
                let _ = file
                    .set_modified(std::time::UNIX_EPOCH + std::time::Duration::from_secs(mtime));
            }
        }
        own.insert(path.as_path().to_path_buf());
    }
    Ok(())
}
