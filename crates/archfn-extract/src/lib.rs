//! Writing the trees that untrusted archives describe (code zips, layers, image layers, the
//! layers merged into `/opt`) beneath one root directory.
//!
//! Owns: resolving a relative path beneath a root one plain name at a time, each step an
//! `openat2` of one name relative to the directory before it, with `RESOLVE_BENEATH` and
//! `O_NOFOLLOW` (cap-std's `Dir`), so that no step follows a symbolic link or leaves the root;
//! creating files (`O_CREAT|O_EXCL|O_NOFOLLOW`), directories, symbolic links and hard links, and
//! removing entries (`unlinkat` of the entry itself), each relative to its directory's
//! descriptor (`Root`); on top of it, a zip's entries written out (`unzip`), an OCI image layer
//! applied with its whiteouts (`layer`), and layer trees merged into one (`merge`).
//! Must not: follow a symbolic link on the way to an entry or at the entry itself, whoever made
//! it; take a path that is empty, absolute or has a `..`; decide what an archive may hold (sizes,
//! link targets, limits: the callers' rules, as Lambda's are `archfn-control`'s).
#![warn(missing_docs)]

pub mod layer;
pub mod merge;
mod root;
pub mod unzip;

use std::ffi::OsStr;
use std::path::{Component, Path, PathBuf};

pub use merge::merge_layers;
pub use root::{Kind, Root};

/// Why an entry was not written beneath the root.
#[derive(Debug, thiserror::Error)]
pub enum ExtractError {
    /// The path is empty, absolute, or has a `..` component.
    #[error("{0:?} is not a path beneath the root")]
    UnsafePath(String),
    /// A name on the way to the entry is a symbolic link or a file, not a directory.
    #[error("{path:?} goes through {at:?}, which is not a directory")]
    NotADirectory {
        /// The entry's path.
        path: String,
        /// The first of its parents that is not a directory.
        at: String,
    },
    /// A hard link names something other than a regular file already beneath the root.
    #[error("hard link {path:?} names {target:?}, which is not a regular file beneath the root")]
    HardLinkTarget {
        /// The hard link's path.
        path: String,
        /// What it names.
        target: String,
    },
    /// The entry is there already.
    #[error("{0:?} exists already")]
    Exists(String),
    /// A system call failed.
    #[error("{path:?}: {source}")]
    Io {
        /// The entry it was about.
        path: String,
        /// The failure.
        #[source]
        source: std::io::Error,
    },
}

impl ExtractError {
    pub(crate) fn io(path: impl AsRef<Path>) -> impl FnOnce(std::io::Error) -> ExtractError {
        let path = path.as_ref().display().to_string();
        move |source| ExtractError::Io { path, source }
    }
}

/// A path beneath a root: one or more plain names. `.` components and repeated or trailing
/// `/` are dropped; an empty path, a root and `..` are refused.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RelPath(PathBuf);

impl RelPath {
    /// Checks `path` and keeps its plain names.
    pub fn new(path: impl AsRef<Path>) -> Result<RelPath, ExtractError> {
        let path = path.as_ref();
        let mut out = PathBuf::new();
        for c in path.components() {
            match c {
                Component::Normal(name) => out.push(name),
                Component::CurDir => {}
                Component::ParentDir | Component::RootDir | Component::Prefix(_) => {
                    return Err(ExtractError::UnsafePath(path.display().to_string()));
                }
            }
        }
        if out.as_os_str().is_empty() {
            return Err(ExtractError::UnsafePath(path.display().to_string()));
        }
        Ok(RelPath(out))
    }

    /// The path, relative.
    pub fn as_path(&self) -> &Path {
        &self.0
    }

    /// Its last name.
    pub fn name(&self) -> &OsStr {
        self.0.file_name().unwrap_or_default()
    }

    /// The directory it is in, relative (empty for an entry directly under the root).
    pub fn parent(&self) -> &Path {
        self.0.parent().unwrap_or(Path::new(""))
    }

    /// The entry `name` inside this one.
    pub fn join(&self, name: impl AsRef<Path>) -> Result<RelPath, ExtractError> {
        RelPath::new(self.0.join(name))
    }
}

impl std::fmt::Display for RelPath {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.display().fmt(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rel_paths_keep_plain_names_only() {
        let ok = |p: &str| RelPath::new(p).map(|r| r.as_path().to_path_buf()).ok();
        assert_eq!(ok("a/./b//c/"), Some(PathBuf::from("a/b/c")));
        assert_eq!(ok("./a"), Some(PathBuf::from("a")));
        for bad in ["", ".", "./", "..", "a/../b", "/etc/passwd", "a/..", "/"] {
            assert!(ok(bad).is_none(), "{bad}");
        }
        let r = RelPath::new("a/b/c").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!((r.parent(), r.name()), (Path::new("a/b"), OsStr::new("c")));
        let top = RelPath::new("c").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(top.parent(), Path::new(""));
    }
}
