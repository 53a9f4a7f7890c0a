//! A package as a directory tree: unpacked from a zip (or copied from a directory) into a
//! working directory, and zipped back up.

use std::fs;
use std::io::{Read, Write};
use std::path::{Component, Path, PathBuf};

use archfn_extract::{ExtractError, RelPath, Root};

use crate::MigrateError;

fn io(context: &str) -> impl Fn(std::io::Error) -> MigrateError + '_ {
    move |e| MigrateError::Io(format!("{context}: {e}"))
}

/// A relative path that stays inside its root (no `..`, no absolute parts).
pub(crate) fn inside(root: &Path, rel: &str) -> Option<PathBuf> {
    let p = Path::new(rel);
    p.components()
        .all(|c| matches!(c, Component::Normal(_)))
        .then(|| root.join(p))
}

/// The working tree `dir` (the server's own temporary directory) as an extraction root.
pub(crate) fn open(dir: &Path) -> Result<Root, MigrateError> {
    Root::open(dir).map_err(|e| MigrateError::Io(e.to_string()))
}

/// A path of an archive or a package as a path beneath the tree, or why not.
pub(crate) fn rel(name: &str) -> Result<RelPath, MigrateError> {
    RelPath::new(name)
        .map_err(|_| MigrateError::Input(format!("{name}: a path outside the package")))
}

/// The refusal (or failure) of writing `name` beneath the tree.
pub(crate) fn refused(name: &str) -> impl Fn(ExtractError) -> MigrateError + '_ {
    move |e| match e {
        ExtractError::Io { .. } => MigrateError::Io(format!("{name}: {e}")),
        _ => MigrateError::Input(format!("{name}: {e}")),
    }
}

/// Unpacks a zip into `dest`; entries that would land outside it, and symlinks, are refused.
/// Every entry is written beneath `dest` through an `archfn_extract::Root`, never through a
/// symbolic link.
pub(crate) fn unzip(reader: impl Read + std::io::Seek, dest: &Path) -> Result<(), MigrateError> {
    let mut zip = zip::ZipArchive::new(reader).map_err(|e| MigrateError::Input(e.to_string()))?;
    let root = open(dest)?;
    for i in 0..zip.len() {
        let mut entry = zip
            .by_index(i)
            .map_err(|e| MigrateError::Input(e.to_string()))?;
        let name = entry
            .name()
            .map_err(|e| MigrateError::Input(e.to_string()))?
            .to_string();
        if inside(dest, name.trim_end_matches('/')).is_none() {
            return Err(MigrateError::Input(format!(
                "{name}: a path outside the package"
            )));
        }
        let path = rel(name.trim_end_matches('/'))?;
        let mode = entry.unix_mode().unwrap_or(0o644);
        if mode & 0o170000 == 0o120000 {
            return Err(MigrateError::Input(format!(
                "{name}: symlinks are not carried over"
            )));
        }
        if entry.is_dir() {
            root.create_dir_all(&path).map_err(refused(&name))?;
            continue;
        }
        let mut out = root
            .create_file(&path, (mode & 0o777).max(0o400), true)
            .map_err(refused(&name))?;
        std::io::copy(&mut entry, &mut out).map_err(io(&name))?;
    }
    Ok(())
}

/// Unpacks an npm tarball's `package/` directory into `base` of the tree `root`.
pub(crate) fn untar_npm(tgz: &Path, root: &Root, base: &RelPath) -> Result<(), MigrateError> {
    let file = fs::File::open(tgz).map_err(io("npm tarball"))?;
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(file));
    root.create_dir_all(base).map_err(refused("npm tarball"))?;
    for entry in archive.entries().map_err(io("npm tarball"))? {
        let mut entry = entry.map_err(io("npm tarball"))?;
        if !entry.header().entry_type().is_file() {
            continue;
        }
        let name = entry
            .path()
            .map_err(io("npm tarball"))?
            .to_string_lossy()
            .into_owned();
        let inner = name.split_once('/').map_or(name.as_str(), |(_, r)| r);
        if inside(Path::new(""), inner).is_none() {
            continue;
        }
        let Ok(path) = base.join(inner) else {
            continue;
        };
        let mode = entry.header().mode().unwrap_or(0o644);
        let mut out = root
            .create_file(&path, (mode & 0o777).max(0o400), true)
            .map_err(refused(&name))?;
        std::io::copy(&mut entry, &mut out).map_err(io(&name))?;
    }
    Ok(())
}

/// Copies a directory tree (regular files and directories; symlinks are refused) into `to`,
/// which must not exist.
pub(crate) fn copy_dir(from: &Path, to: &Path) -> Result<(), MigrateError> {
    if let Some(parent) = to.parent() {
        fs::create_dir_all(parent).map_err(io("output"))?;
    }
    let root = Root::create(to).map_err(refused("output"))?;
    let mut todo = vec![PathBuf::new()];
    while let Some(sub) = todo.pop() {
        let dir = from.join(&sub);
        for entry in fs::read_dir(&dir).map_err(io(&dir.display().to_string()))? {
            let entry = entry.map_err(io("directory"))?;
            let kind = entry.file_type().map_err(io("directory"))?;
            let relative = sub.join(entry.file_name());
            let shown = entry.path().display().to_string();
            if kind.is_dir() {
                root.create_dir_all(&RelPath::new(&relative).map_err(refused(&shown))?)
                    .map_err(refused(&shown))?;
                todo.push(relative);
            } else if kind.is_file() {
                use std::os::unix::fs::PermissionsExt;
                let mut input = fs::File::open(entry.path()).map_err(io(&shown))?;
                let mode = input.metadata().map_err(io(&shown))?.permissions().mode();
                let mut out = root
                    .create_file(
                        &RelPath::new(&relative).map_err(refused(&shown))?,
                        mode & 0o777,
                        false,
                    )
                    .map_err(refused(&shown))?;
                std::io::copy(&mut input, &mut out).map_err(io(&shown))?;
            } else if kind.is_symlink() {
                return Err(MigrateError::Input(format!(
                    "{shown}: symlinks are not carried over"
                )));
            }
        }
    }
    Ok(())
}

/// The file a download tool (pip download, npm pack) left in `dir`, if it has extension `ext`.
pub(crate) fn fetched(dir: &Path, ext: &str) -> Option<PathBuf> {
    fs::read_dir(dir)
        .ok()?
        .find_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == ext))
}

/// Every file under `root`, relative and `/`-separated, sorted.
pub(crate) fn files(root: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![PathBuf::new()];
    while let Some(rel) = stack.pop() {
        let Ok(entries) = fs::read_dir(root.join(&rel)) else {
            continue;
        };
        for e in entries.flatten() {
            let Ok(kind) = e.file_type() else { continue };
            let child = rel.join(e.file_name());
            if kind.is_dir() {
                stack.push(child);
            } else if kind.is_file() {
                out.push(child.to_string_lossy().into_owned());
            }
        }
    }
    out.sort();
    out
}

/// Zips `root` into `out`, keeping file modes.
pub(crate) fn zip_dir(root: &Path, out: &Path) -> Result<(), MigrateError> {
    use std::os::unix::fs::PermissionsExt;
    let file = fs::File::create(out).map_err(io(&out.display().to_string()))?;
    let mut zip = zip::ZipWriter::new(std::io::BufWriter::new(file));
    for rel in files(root) {
        let path = root.join(&rel);
        let mode = fs::metadata(&path).map_err(io(&rel))?.permissions().mode();
        let options = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated)
            .unix_permissions(mode & 0o777)
            .large_file(
                fs::metadata(&path)
                    .map(|m| m.len() > u32::MAX as u64)
                    .unwrap_or(false),
            );
        zip.start_file(rel.as_str(), options)
            .map_err(|e| MigrateError::Io(format!("{rel}: {e}")))?;
        let mut f = fs::File::open(&path).map_err(io(&rel))?;
        std::io::copy(&mut f, &mut zip).map_err(io(&rel))?;
    }
    let mut w = zip.finish().map_err(|e| MigrateError::Io(e.to_string()))?;
    w.flush().map_err(io("output"))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::io::Cursor;

    use super::*;

    /// A fresh place: `victim/file` outside the working tree `work/package`.
    struct Place {
        top: tempfile::TempDir,
    }

    impl Place {
        fn new() -> Place {
            let top = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
            fs::create_dir_all(top.path().join("victim")).unwrap_or_else(|e| panic!("{e}"));
            fs::write(top.path().join("victim/file"), b"precious")
                .unwrap_or_else(|e| panic!("{e}"));
            fs::create_dir_all(top.path().join("work/package")).unwrap_or_else(|e| panic!("{e}"));
            Place { top }
        }

        fn tree(&self) -> PathBuf {
            self.top.path().join("work/package")
        }

        fn victim(&self) -> String {
            self.top.path().join("victim").display().to_string()
        }

        /// Nothing but the victim and the tree's directories outside the tree.
        fn assert_untouched(&self, case: &str) {
            let names = |p: &Path| -> Vec<String> {
                let mut v: Vec<String> = fs::read_dir(p)
                    .map(|r| {
                        r.filter_map(|e| e.ok())
                            .map(|e| e.file_name().to_string_lossy().into_owned())
                            .collect()
                    })
                    .unwrap_or_default();
                v.sort();
                v
            };
            assert_eq!(names(self.top.path()), ["victim", "work"], "{case}");
            assert_eq!(names(&self.top.path().join("work")), ["package"], "{case}");
            assert_eq!(names(&self.top.path().join("victim")), ["file"], "{case}");
            assert_eq!(
                fs::read(self.top.path().join("victim/file")).unwrap_or_default(),
                b"precious",
                "{case}"
            );
        }
    }

    fn zip_of(entries: &[(&str, Option<&str>)]) -> Vec<u8> {
        let mut w = zip::ZipWriter::new(Cursor::new(Vec::new()));
        let opts = zip::write::SimpleFileOptions::default();
        for (name, link) in entries {
            match link {
                Some(target) => w.add_symlink(*name, *target, opts),
                None => w
                    .start_file(*name, opts)
                    .and_then(|()| Ok(w.write_all(b"overwritten")?)),
            }
            .unwrap_or_else(|e| panic!("{e}"));
        }
        w.finish().unwrap_or_else(|e| panic!("{e}")).into_inner()
    }

    #[test]
    fn hostile_zips_are_refused() {
        let place = Place::new();
        let victim = place.victim();
        let abs = format!("{victim}/file");
        type Entries<'a> = Vec<(&'a str, Option<&'a str>)>;
        let cases: Vec<(&str, Entries)> = vec![
            ("a name climbing out", vec![("../../victim/file", None)]),
            ("an absolute name", vec![(&abs, None)]),
            (
                "a link to the victim, then a file through it",
                vec![("l", Some(&victim)), ("l/file", None)],
            ),
            (
                "a chain of links climbing out",
                vec![
                    ("a/l", Some("..")),
                    ("a/l/m", Some("..")),
                    ("a/l/m/x", None),
                ],
            ),
        ];
        for (case, entries) in cases {
            let result = unzip(Cursor::new(zip_of(&entries)), &place.tree());
            assert!(
                matches!(result, Err(MigrateError::Input(_))),
                "{case}: {result:?}"
            );
            place.assert_untouched(case);
        }
    }

    #[test]
    fn npm_tarballs_stay_inside() {
        let place = Place::new();
        let victim = place.victim();
        let mut b = tar::Builder::new(Vec::new());
        let entries: Vec<(String, tar::EntryType, String)> = vec![
            (
                "package/ok.js".into(),
                tar::EntryType::Regular,
                String::new(),
            ),
            ("package/l".into(), tar::EntryType::Symlink, victim.clone()),
            (
                "package/l/file".into(),
                tar::EntryType::Regular,
                String::new(),
            ),
            (
                "package/../../../victim/file".into(),
                tar::EntryType::Regular,
                String::new(),
            ),
            (
                format!("package/{victim}/file"),
                tar::EntryType::Regular,
                String::new(),
            ),
            (
                "package/h".into(),
                tar::EntryType::Link,
                format!("{victim}/file"),
            ),
        ];
        for (name, kind, link) in &entries {
            let mut h = tar::Header::new_gnu();
            let gnu = h.as_gnu_mut().unwrap_or_else(|| panic!("a GNU header"));
            gnu.name[..name.len()].copy_from_slice(name.as_bytes());
            gnu.linkname[..link.len()].copy_from_slice(link.as_bytes());
            h.set_entry_type(*kind);
            let data: &[u8] = if kind.is_file() { b"overwritten" } else { b"" };
            h.set_size(data.len() as u64);
            h.set_mode(0o644);
            h.set_cksum();
            b.append(&h, data).unwrap_or_else(|e| panic!("{e}"));
        }
        let tgz_path = place.tree().join("../pkg.tgz");
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&b.into_inner().unwrap_or_else(|e| panic!("{e}")))
            .unwrap_or_else(|e| panic!("{e}"));
        fs::write(&tgz_path, gz.finish().unwrap_or_else(|e| panic!("{e}")))
            .unwrap_or_else(|e| panic!("{e}"));
        let tree = open(&place.tree()).unwrap_or_else(|e| panic!("{e}"));
        let base = RelPath::new("node_modules/x").unwrap_or_else(|e| panic!("{e}"));
        let result = untar_npm(&tgz_path, &tree, &base);
        fs::remove_file(&tgz_path).unwrap_or_else(|e| panic!("{e}"));
        assert!(result.is_ok(), "{result:?}");
        place.assert_untouched("an npm tarball");
        let inside = place.tree().join("node_modules/x");
        assert!(inside.join("ok.js").is_file() && inside.join("l/file").is_file());
        assert!(!inside.join("l").is_symlink() && !inside.join("h").exists());
    }

    #[test]
    fn copied_directories_refuse_links() {
        let place = Place::new();
        let input = place.top.path().join("work/input");
        fs::create_dir_all(input.join("sub")).unwrap_or_else(|e| panic!("{e}"));
        fs::write(input.join("sub/a.py"), b"x").unwrap_or_else(|e| panic!("{e}"));
        std::os::unix::fs::symlink(place.victim(), input.join("l"))
            .unwrap_or_else(|e| panic!("{e}"));
        let out = place.top.path().join("work/out");
        assert!(matches!(
            copy_dir(&input, &out),
            Err(MigrateError::Input(_))
        ));
        fs::remove_file(input.join("l")).unwrap_or_else(|e| panic!("{e}"));
        let out2 = place.top.path().join("work/out2");
        copy_dir(&input, &out2).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(fs::read(out2.join("sub/a.py")).unwrap_or_default(), b"x");
    }
}
