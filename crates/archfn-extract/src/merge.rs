//! Layers merged into one tree (a function's `/opt`): each layer's entries in turn, a later
//! layer's entry replacing an earlier one's at the same path, as Lambda extracts layers in
//! order. Neither the layers' symbolic links nor those the merge already made are followed:
//! a later layer's directory where an earlier one put a link replaces the link.

use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use cap_fs_ext::{DirExt, FollowSymlinks, OpenOptionsFollowExt};
use cap_std::ambient_authority;
use cap_std::fs::{Dir, OpenOptions};

use crate::{ExtractError, RelPath, Root};

/// Merges the trees `layers` (directories, lowest first) into `dest`, which must not exist:
/// files are hard-linked (copied when that fails), symbolic links copied as links, devices and
/// the like skipped. Every entry is written beneath `dest` without following a link, and each
/// layer is read without following one.
pub fn merge_layers(layers: &[PathBuf], dest: &Path) -> Result<(), ExtractError> {
    let root = Root::create(dest)?;
    for layer in layers {
        let top =
            Dir::open_ambient_dir(layer, ambient_authority()).map_err(ExtractError::io(layer))?;
        merge_one(&top, &root)?;
    }
    Ok(())
}

/// Opens directory `rel` of a layer, one name at a time, never through a link.
fn open_beneath(top: &Dir, rel: &Path) -> io::Result<Dir> {
    let mut cur = top.try_clone()?;
    for name in rel.iter() {
        cur = cur.open_dir_nofollow(name)?;
    }
    Ok(cur)
}

fn merge_one(top: &Dir, root: &Root) -> Result<(), ExtractError> {
    // Directories still to walk, relative to the layer; walked one at a time, so a deep or
    // wide layer costs neither stack nor open descriptors.
    let mut todo = vec![PathBuf::new()];
    while let Some(rel) = todo.pop() {
        let dir = open_beneath(top, &rel).map_err(ExtractError::io(&rel))?;
        for entry in dir.entries().map_err(ExtractError::io(&rel))? {
            let entry = entry.map_err(ExtractError::io(&rel))?;
            let name = entry.file_name();
            let path = RelPath::new(rel.join(&name))?;
            let kind = entry
                .file_type()
                .map_err(ExtractError::io(path.as_path()))?;
            if kind.is_dir() {
                root.make_dir(&path, None)?;
                todo.push(path.as_path().to_path_buf());
            } else if kind.is_symlink() {
                let target = dir
                    .read_link_contents(&name)
                    .map_err(ExtractError::io(path.as_path()))?;
                root.symlink(&path, &target, true)?;
            } else if kind.is_file() {
                link_or_copy(&dir, &name, root, &path)?;
            }
        }
    }
    Ok(())
}

/// Hard-links the layer's file `name` of `dir` at `path`, or copies it when linking fails
/// (another file system).
fn link_or_copy(
    dir: &Dir,
    name: &std::ffi::OsStr,
    root: &Root,
    path: &RelPath,
) -> Result<(), ExtractError> {
    if root.link_from(dir, name, path)? {
        return Ok(());
    }
    let mut options = OpenOptions::new();
    options.read(true);
    options.follow(FollowSymlinks::No);
    let mut from = dir
        .open_with(name, &options)
        .map_err(ExtractError::io(path.as_path()))?
        .into_std();
    let mode = from
        .metadata()
        .map_err(ExtractError::io(path.as_path()))?
        .permissions()
        .mode();
    let mut to = root.create_file(path, mode & 0o777, true)?;
    io::copy(&mut from, &mut to).map_err(ExtractError::io(path.as_path()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::symlink;

    use super::*;

    fn write(p: &Path, data: &str) {
        if let Some(dir) = p.parent() {
            std::fs::create_dir_all(dir).unwrap_or_else(|e| panic!("{e}"));
        }
        std::fs::write(p, data).unwrap_or_else(|e| panic!("{e}"));
    }

    #[test]
    fn later_layers_win() {
        let d = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let (one, two) = (d.path().join("one"), d.path().join("two"));
        write(&one.join("python/a.py"), "1");
        write(&one.join("python/b.py"), "1");
        write(&one.join("bin/tool"), "1");
        symlink("a.py", one.join("python/alias.py")).unwrap_or_else(|e| panic!("{e}"));
        write(&two.join("python/b.py"), "2");
        write(&two.join("python/c.py"), "2");
        write(&two.join("bin"), "a file now");
        let dest = d.path().join("opt");
        merge_layers(&[one, two], &dest).unwrap_or_else(|e| panic!("{e}"));
        let read = |p: &str| std::fs::read_to_string(dest.join(p)).unwrap_or_default();
        assert_eq!(read("python/a.py"), "1");
        assert_eq!(read("python/b.py"), "2");
        assert_eq!(read("python/c.py"), "2");
        assert_eq!(read("bin"), "a file now");
        assert_eq!(
            std::fs::read_link(dest.join("python/alias.py")).ok(),
            Some(PathBuf::from("a.py"))
        );
    }

    /// Layer 1 holds `lib -> <victim dir>` (absolute, or relative and climbing out), layer 2
    /// holds `lib/file`: the merge must not write into the victim directory.
    #[test]
    fn a_link_from_one_layer_never_carries_the_next_layer_outside() {
        let d = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let victim = d.path().join("victim");
        std::fs::create_dir(&victim).unwrap_or_else(|e| panic!("{e}"));
        let work = d.path().join("work");
        std::fs::create_dir(&work).unwrap_or_else(|e| panic!("{e}"));
        let targets = [
            victim.display().to_string(),
            "../victim".to_string(),
            "../../victim".to_string(),
        ];
        for (n, target) in targets.iter().enumerate() {
            let (one, two) = (work.join(format!("one{n}")), work.join(format!("two{n}")));
            std::fs::create_dir(&one).unwrap_or_else(|e| panic!("{e}"));
            symlink(target, one.join("lib")).unwrap_or_else(|e| panic!("{e}"));
            symlink(target, one.join("file-link")).unwrap_or_else(|e| panic!("{e}"));
            write(&two.join("lib/file"), "escaped");
            write(&two.join("lib/sub/deeper"), "escaped");
            write(&two.join("file-link"), "escaped");
            let dest = work.join(format!("opt{n}"));
            merge_layers(&[one, two], &dest).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(
                std::fs::read_dir(&victim).map(|r| r.count()).unwrap_or(1),
                0,
                "nothing written into the victim directory through {target}"
            );
            assert_eq!(
                std::fs::read_to_string(dest.join("lib/file")).unwrap_or_default(),
                "escaped",
                "the later layer's directory replaced the link"
            );
            assert!(
                std::fs::symlink_metadata(dest.join("lib")).is_ok_and(|m| m.is_dir()),
                "{target}"
            );
        }
    }
}
