//! `Root`: a directory opened once, and every entry beneath it reached one plain name at a
//! time without following a symbolic link.

use std::cell::RefCell;
use std::ffi::OsStr;
use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use cap_fs_ext::{DirExt, FollowSymlinks, OpenOptionsFollowExt};
use cap_std::ambient_authority;
use cap_std::fs::{Dir, OpenOptions};

use crate::{ExtractError, RelPath};

/// What an entry is, read without following it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A regular file.
    File,
    /// A directory.
    Dir,
    /// A symbolic link.
    Symlink,
    /// A device, FIFO or socket.
    Other,
}

/// A directory that an extraction writes beneath, opened once; every operation resolves its
/// path from this descriptor one plain name at a time (`openat2` with `RESOLVE_BENEATH` and
/// `O_NOFOLLOW`), so a symbolic link anywhere on the way, or at the entry itself, is never
/// followed: a link on the way is an error, a link at the entry is the entry.
#[derive(Debug)]
pub struct Root {
    dir: Dir,
    /// The directory of the last entry reached, kept open: archives list a directory's
    /// entries together. Forgotten whenever a directory is removed.
    last: RefCell<Option<(PathBuf, Dir)>>,
}

fn kind_of(dir: &Dir, name: &OsStr) -> io::Result<Option<Kind>> {
    match dir.symlink_metadata(name) {
        Ok(m) => {
            let t = m.file_type();
            Ok(Some(if t.is_symlink() {
                Kind::Symlink
            } else if t.is_dir() {
                Kind::Dir
            } else if t.is_file() {
                Kind::File
            } else {
                Kind::Other
            }))
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

impl Root {
    /// Creates the directory `path` (which must not exist; its parent must) and opens it. The
    /// path itself is the server's own, not an archive's.
    pub fn create(path: &Path) -> Result<Root, ExtractError> {
        std::fs::create_dir(path).map_err(ExtractError::io(path))?;
        Root::open(path)
    }

    /// Opens the existing directory `path` (the server's own) as a root.
    pub fn open(path: &Path) -> Result<Root, ExtractError> {
        let dir =
            Dir::open_ambient_dir(path, ambient_authority()).map_err(ExtractError::io(path))?;
        Ok(Root::from_dir(dir))
    }

    /// A root over an open directory.
    pub fn from_dir(dir: Dir) -> Root {
        Root {
            dir,
            last: RefCell::new(None),
        }
    }

    /// The root directory's descriptor.
    pub fn dir(&self) -> &Dir {
        &self.dir
    }

    fn forget(&self) {
        *self.last.borrow_mut() = None;
    }

    /// Opens directory `path` (empty for the root), creating missing directories when `create`
    /// is set. `Ok(None)` when something on the way is missing and `create` is not set; an
    /// error when something on the way is not a directory (a symbolic link included).
    fn walk(&self, path: &Path, create: bool, entry: &Path) -> Result<Option<Dir>, ExtractError> {
        if let Some((at, dir)) = &*self.last.borrow()
            && at == path
        {
            return dir.try_clone().map(Some).map_err(ExtractError::io(entry));
        }
        let mut cur = self.dir.try_clone().map_err(ExtractError::io(entry))?;
        let mut at = PathBuf::new();
        for name in path.iter() {
            at.push(name);
            let opened = match cur.open_dir_nofollow(name) {
                Err(e) if e.kind() == io::ErrorKind::NotFound && create => {
                    match cur.create_dir(name) {
                        Ok(()) => cur.open_dir_nofollow(name),
                        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                            cur.open_dir_nofollow(name)
                        }
                        Err(e) => Err(e),
                    }
                }
                other => other,
            };
            cur = match opened {
                Ok(d) => d,
                Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
                Err(e) => {
                    return Err(match kind_of(&cur, name) {
                        Ok(Some(Kind::Dir)) | Err(_) => ExtractError::Io {
                            path: entry.display().to_string(),
                            source: e,
                        },
                        Ok(_) => ExtractError::NotADirectory {
                            path: entry.display().to_string(),
                            at: at.display().to_string(),
                        },
                    });
                }
            };
        }
        let kept = cur.try_clone().map_err(ExtractError::io(entry))?;
        *self.last.borrow_mut() = Some((path.to_path_buf(), kept));
        Ok(Some(cur))
    }

    /// The directory `path` is in, created if missing.
    fn parent_of(&self, path: &RelPath) -> Result<Dir, ExtractError> {
        self.walk(path.parent(), true, path.as_path())?
            .ok_or_else(|| ExtractError::Io {
                path: path.to_string(),
                source: io::Error::from(io::ErrorKind::NotFound),
            })
    }

    /// Removes the entry `name` of `dir` unless it is a directory and `keep_dir` is set; a
    /// symbolic link is removed, never what it names.
    fn clear(
        &self,
        dir: &Dir,
        name: &OsStr,
        keep_dir: bool,
        path: &RelPath,
    ) -> Result<(), ExtractError> {
        match kind_of(dir, name).map_err(ExtractError::io(path.as_path()))? {
            None => Ok(()),
            Some(Kind::Dir) if keep_dir => Ok(()),
            Some(Kind::Dir) => {
                self.forget();
                dir.remove_dir_all(name)
                    .map_err(ExtractError::io(path.as_path()))
            }
            Some(_) => dir
                .remove_file_or_symlink(name)
                .map_err(ExtractError::io(path.as_path())),
        }
    }

    /// What `path` is, without following it; `None` when it (or a directory on the way) is
    /// missing. An error when something on the way is not a directory.
    pub fn kind(&self, path: &RelPath) -> Result<Option<Kind>, ExtractError> {
        match self.walk(path.parent(), false, path.as_path())? {
            None => Ok(None),
            Some(dir) => kind_of(&dir, path.name()).map_err(ExtractError::io(path.as_path())),
        }
    }

    /// Creates directory `path` and its missing parents; an error when something on the way,
    /// or `path` itself, is not a directory.
    pub fn create_dir_all(&self, path: &RelPath) -> Result<(), ExtractError> {
        self.walk(path.as_path(), true, path.as_path()).map(drop)
    }

    /// Makes `path` a directory: one already there is kept, anything else there (a file, a
    /// symbolic link) is replaced. With `mode`, sets its permission bits.
    pub fn make_dir(&self, path: &RelPath, mode: Option<u32>) -> Result<(), ExtractError> {
        let parent = self.parent_of(path)?;
        let name = path.name();
        self.clear(&parent, name, true, path)?;
        match parent.create_dir(name) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(ExtractError::io(path.as_path())(e)),
        }
        if let Some(mode) = mode {
            // An `O_RDONLY|O_NOFOLLOW` descriptor of the directory itself, for `fchmod`.
            let mut options = OpenOptions::new();
            options.read(true);
            options.follow(FollowSymlinks::No);
            let dir = parent
                .open_with(name, &options)
                .map_err(ExtractError::io(path.as_path()))?;
            dir.into_std()
                .set_permissions(std::fs::Permissions::from_mode(mode))
                .map_err(ExtractError::io(path.as_path()))?;
        }
        Ok(())
    }

    /// Creates the regular file `path` (`O_CREAT|O_EXCL|O_NOFOLLOW`) with permission bits
    /// `mode`, and its missing parent directories. With `replace`, an entry already there is
    /// removed first (a directory with all it holds); without, it is an error.
    pub fn create_file(
        &self,
        path: &RelPath,
        mode: u32,
        replace: bool,
    ) -> Result<std::fs::File, ExtractError> {
        let parent = self.parent_of(path)?;
        let name = path.name();
        if replace {
            self.clear(&parent, name, false, path)?;
        }
        let mut options = OpenOptions::new();
        options.write(true).create_new(true);
        options.follow(FollowSymlinks::No);
        let file = match parent.open_with(name, &options) {
            Ok(f) => f.into_std(),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                return Err(ExtractError::Exists(path.to_string()));
            }
            Err(e) => return Err(ExtractError::io(path.as_path())(e)),
        };
        file.set_permissions(std::fs::Permissions::from_mode(mode))
            .map_err(ExtractError::io(path.as_path()))?;
        Ok(file)
    }

    /// Creates the symbolic link `path` holding `target` (never resolved here: it may name
    /// anything, and nothing here follows it), and its missing parent directories. With
    /// `replace`, an entry already there is removed first.
    pub fn symlink(
        &self,
        path: &RelPath,
        target: &Path,
        replace: bool,
    ) -> Result<(), ExtractError> {
        let parent = self.parent_of(path)?;
        let name = path.name();
        if replace {
            self.clear(&parent, name, false, path)?;
        }
        match parent.symlink_contents(target, name) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                Err(ExtractError::Exists(path.to_string()))
            }
            Err(e) => Err(ExtractError::io(path.as_path())(e)),
        }
    }

    /// Creates the hard link `path` to `target`, which must be a regular file beneath the root
    /// reached without following a link (`linkat` without `AT_SYMLINK_FOLLOW`). With `replace`,
    /// an entry already at `path` is removed first.
    pub fn hard_link(
        &self,
        path: &RelPath,
        target: &RelPath,
        replace: bool,
    ) -> Result<(), ExtractError> {
        let refused = || ExtractError::HardLinkTarget {
            path: path.to_string(),
            target: target.to_string(),
        };
        let from = match self.walk(target.parent(), false, target.as_path()) {
            Ok(Some(dir)) => dir,
            Ok(None) | Err(ExtractError::NotADirectory { .. }) => return Err(refused()),
            Err(e) => return Err(e),
        };
        if kind_of(&from, target.name()).map_err(ExtractError::io(target.as_path()))?
            != Some(Kind::File)
        {
            return Err(refused());
        }
        if path == target {
            return Ok(());
        }
        let parent = self.parent_of(path)?;
        let name = path.name();
        if replace {
            self.clear(&parent, name, false, path)?;
        }
        match from.hard_link(target.name(), &parent, name) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                Err(ExtractError::Exists(path.to_string()))
            }
            Err(e) => Err(ExtractError::io(path.as_path())(e)),
        }
    }

    /// Hard-links the file `name` of directory `from` (a tree the server made, such as an
    /// unpacked layer) at `path`, replacing an entry already there. `Ok(false)` when the link
    /// could not be made (another file system): the caller copies instead.
    pub fn link_from(
        &self,
        from: &Dir,
        name: &OsStr,
        path: &RelPath,
    ) -> Result<bool, ExtractError> {
        let parent = self.parent_of(path)?;
        self.clear(&parent, path.name(), false, path)?;
        Ok(from.hard_link(name, &parent, path.name()).is_ok())
    }

    /// Removes `path` (a directory with all it holds; a symbolic link itself, never what it
    /// names). `Ok(false)` when there was nothing to remove; an error when something on the
    /// way is not a directory.
    pub fn remove(&self, path: &RelPath) -> Result<bool, ExtractError> {
        let Some(parent) = self.walk(path.parent(), false, path.as_path())? else {
            return Ok(false);
        };
        let there = kind_of(&parent, path.name())
            .map_err(ExtractError::io(path.as_path()))?
            .is_some();
        self.clear(&parent, path.name(), false, path)?;
        Ok(there)
    }

    /// Removes directory `path` if it is empty (`unlinkat` with `AT_REMOVEDIR`, which never
    /// follows a link); `Ok(false)` when it is not there, not empty or not a directory.
    pub fn remove_empty_dir(&self, path: &RelPath) -> Result<bool, ExtractError> {
        let Some(parent) = self.walk(path.parent(), false, path.as_path())? else {
            return Ok(false);
        };
        if kind_of(&parent, path.name()).map_err(ExtractError::io(path.as_path()))?
            != Some(Kind::Dir)
        {
            return Ok(false);
        }
        self.forget();
        Ok(parent.remove_dir(path.name()).is_ok())
    }

    /// Removes every entry of directory `dir` (`None`: the root) for which `keep` is false.
    /// Nothing happens when `dir` is missing; an error when it, or something on the way to it,
    /// is not a directory (a symbolic link included).
    pub fn clear_dir(
        &self,
        dir: Option<&RelPath>,
        mut keep: impl FnMut(&OsStr) -> bool,
    ) -> Result<(), ExtractError> {
        let (parent, path) = match dir {
            None => (Path::new(""), Path::new("")),
            Some(d) => (d.parent(), d.as_path()),
        };
        let Some(opened) = self.walk(parent, false, path)? else {
            return Ok(());
        };
        let opened = match dir {
            None => opened,
            Some(d) => match kind_of(&opened, d.name()).map_err(ExtractError::io(path))? {
                None => return Ok(()),
                Some(Kind::Dir) => match self.walk(path, false, path)? {
                    Some(opened) => opened,
                    None => return Ok(()),
                },
                Some(_) => {
                    return Err(ExtractError::NotADirectory {
                        path: path.display().to_string(),
                        at: path.display().to_string(),
                    });
                }
            },
        };
        let mut names = Vec::new();
        for entry in opened.entries().map_err(ExtractError::io(path))? {
            let name = entry.map_err(ExtractError::io(path))?.file_name();
            if !keep(&name) {
                names.push(name);
            }
        }
        for name in names {
            let child = RelPath::new(path.join(&name))?;
            self.clear(&opened, &name, false, &child)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    fn rel(p: &str) -> RelPath {
        RelPath::new(p).unwrap_or_else(|e| panic!("{p}: {e}"))
    }

    /// A fresh directory with `root/` (the extraction root) and `victim/` (outside it, holding
    /// `file`), and a link `root/out -> ../victim`.
    fn setup() -> (tempfile::TempDir, Root, PathBuf) {
        let d = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let victim = d.path().join("victim");
        std::fs::create_dir(&victim).unwrap_or_else(|e| panic!("{e}"));
        std::fs::write(victim.join("file"), b"precious").unwrap_or_else(|e| panic!("{e}"));
        let root = Root::create(&d.path().join("root")).unwrap_or_else(|e| panic!("{e}"));
        root.symlink(&rel("out"), Path::new("../victim"), false)
            .unwrap_or_else(|e| panic!("{e}"));
        (d, root, victim)
    }

    fn victim_untouched(victim: &Path) {
        let names: Vec<_> = std::fs::read_dir(victim)
            .unwrap_or_else(|e| panic!("{e}"))
            .map(|e| e.map(|e| e.file_name()).unwrap_or_default())
            .collect();
        assert_eq!(
            names,
            ["file"],
            "nothing created or removed in the victim directory"
        );
        assert_eq!(
            std::fs::read(victim.join("file")).unwrap_or_default(),
            b"precious"
        );
    }

    #[test]
    fn never_writes_through_a_link() {
        let (_d, root, victim) = setup();
        assert!(matches!(
            root.create_file(&rel("out/new"), 0o644, true),
            Err(ExtractError::NotADirectory { .. })
        ));
        assert!(matches!(
            root.create_file(&rel("out/file"), 0o644, true),
            Err(ExtractError::NotADirectory { .. })
        ));
        assert!(root.create_dir_all(&rel("out/sub")).is_err());
        assert!(root.make_dir(&rel("out/sub"), None).is_err());
        assert!(root.symlink(&rel("out/l"), Path::new("x"), true).is_err());
        assert!(root.remove(&rel("out/file")).is_err());
        assert!(root.clear_dir(Some(&rel("out")), |_| false).is_err());
        assert!(root.clear_dir(Some(&rel("missing")), |_| false).is_ok());
        assert!(root.clear_dir(Some(&rel("out/x")), |_| false).is_err());
        assert!(root.kind(&rel("out/file")).is_err());
        victim_untouched(&victim);
        // The link itself is an entry: replacing or removing it leaves its target alone.
        assert_eq!(root.kind(&rel("out")).ok().flatten(), Some(Kind::Symlink));
        let mut f = root
            .create_file(&rel("out"), 0o644, true)
            .unwrap_or_else(|e| panic!("{e}"));
        f.write_all(b"mine").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(root.kind(&rel("out")).ok().flatten(), Some(Kind::File));
        root.symlink(&rel("out"), Path::new("../victim"), true)
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(root.remove(&rel("out")).unwrap_or(false));
        victim_untouched(&victim);
    }

    #[test]
    fn creates_without_following_a_link_at_the_name() {
        let (_d, root, victim) = setup();
        assert!(matches!(
            root.create_file(&rel("out"), 0o644, false),
            Err(ExtractError::Exists(_))
        ));
        root.symlink(&rel("f"), Path::new("../victim/file"), false)
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(root.create_file(&rel("f"), 0o644, false).is_err());
        root.make_dir(&rel("out"), Some(0o755))
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(root.kind(&rel("out")).ok().flatten(), Some(Kind::Dir));
        victim_untouched(&victim);
    }

    #[test]
    fn hard_links_only_to_regular_files_beneath() {
        let (d, root, victim) = setup();
        root.create_file(&rel("a/real"), 0o644, false)
            .unwrap_or_else(|e| panic!("{e}"));
        root.hard_link(&rel("b/twin"), &rel("a/real"), false)
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(root.kind(&rel("b/twin")).ok().flatten(), Some(Kind::File));
        for target in ["out", "out/file", "a", "missing", "a/missing"] {
            assert!(
                matches!(
                    root.hard_link(&rel("x"), &rel(target), true),
                    Err(ExtractError::HardLinkTarget { .. })
                ),
                "{target}"
            );
        }
        root.symlink(&rel("lnk"), Path::new("a/real"), false)
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(root.hard_link(&rel("x"), &rel("lnk"), true).is_err());
        victim_untouched(&victim);
        assert!(!d.path().join("root/x").exists());
    }

    #[test]
    fn clear_dir_keeps_what_it_is_told_and_never_follows() {
        let (d, root, victim) = setup();
        for f in ["d/a", "d/b", "d/sub/c"] {
            root.create_file(&rel(f), 0o644, false)
                .unwrap_or_else(|e| panic!("{e}"));
        }
        root.symlink(&rel("d/l"), Path::new("../../victim"), false)
            .unwrap_or_else(|e| panic!("{e}"));
        root.clear_dir(Some(&rel("d")), |n| n == "a")
            .unwrap_or_else(|e| panic!("{e}"));
        let left: Vec<_> = std::fs::read_dir(d.path().join("root/d"))
            .map(|r| r.filter_map(|e| e.ok()).map(|e| e.file_name()).collect())
            .unwrap_or_default();
        assert_eq!(left, ["a"]);
        root.clear_dir(None, |_| false)
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(root.kind(&rel("d")).ok().flatten(), None);
        victim_untouched(&victim);
    }
}
