//! A package as a directory tree: unpacked from a zip (or copied from a directory) into a
//! working directory, and zipped back up.

use std::fs;
use std::io::{Read, Write};
use std::path::{Component, Path, PathBuf};

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

/// Unpacks a zip into `dest`; entries that would land outside it, and symlinks, are refused.
pub(crate) fn unzip(reader: impl Read + std::io::Seek, dest: &Path) -> Result<(), MigrateError> {
    let mut zip = zip::ZipArchive::new(reader).map_err(|e| MigrateError::Input(e.to_string()))?;
    for i in 0..zip.len() {
        let mut entry = zip
            .by_index(i)
            .map_err(|e| MigrateError::Input(e.to_string()))?;
        let name = entry
            .name()
            .map_err(|e| MigrateError::Input(e.to_string()))?
            .to_string();
        let Some(path) = inside(dest, name.trim_end_matches('/')) else {
            return Err(MigrateError::Input(format!(
                "{name}: a path outside the package"
            )));
        };
        let mode = entry.unix_mode().unwrap_or(0o644);
        if mode & 0o170000 == 0o120000 {
            return Err(MigrateError::Input(format!(
                "{name}: symlinks are not carried over"
            )));
        }
        if entry.is_dir() {
            fs::create_dir_all(&path).map_err(io(&name))?;
            continue;
        }
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent).map_err(io(&name))?;
        }
        let mut out = fs::File::create(&path).map_err(io(&name))?;
        std::io::copy(&mut entry, &mut out).map_err(io(&name))?;
        set_mode(&path, mode & 0o777)?;
    }
    Ok(())
}

/// Unpacks an npm tarball's `package/` directory into `dest`.
pub(crate) fn untar_npm(tgz: &Path, dest: &Path) -> Result<(), MigrateError> {
    let file = fs::File::open(tgz).map_err(io("npm tarball"))?;
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(file));
    for entry in archive.entries().map_err(io("npm tarball"))? {
        let mut entry = entry.map_err(io("npm tarball"))?;
        if !entry.header().entry_type().is_file() {
            continue;
        }
        let rel = entry
            .path()
            .map_err(io("npm tarball"))?
            .to_string_lossy()
            .into_owned();
        let rel = rel
            .split_once('/')
            .map_or(rel.as_str(), |(_, r)| r)
            .to_string();
        let Some(path) = inside(dest, &rel) else {
            continue;
        };
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent).map_err(io(&rel))?;
        }
        let mode = entry.header().mode().unwrap_or(0o644);
        let mut out = fs::File::create(&path).map_err(io(&rel))?;
        std::io::copy(&mut entry, &mut out).map_err(io(&rel))?;
        set_mode(&path, mode & 0o777)?;
    }
    Ok(())
}

fn set_mode(path: &Path, mode: u32) -> Result<(), MigrateError> {
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(path, fs::Permissions::from_mode(mode.max(0o400)))
        .map_err(io(&path.display().to_string()))
}

/// Copies a directory tree (regular files and directories; symlinks are refused).
pub(crate) fn copy_dir(from: &Path, to: &Path) -> Result<(), MigrateError> {
    fs::create_dir_all(to).map_err(io("output"))?;
    for entry in fs::read_dir(from).map_err(io(&from.display().to_string()))? {
        let entry = entry.map_err(io("directory"))?;
        let kind = entry.file_type().map_err(io("directory"))?;
        let dest = to.join(entry.file_name());
        if kind.is_dir() {
            copy_dir(&entry.path(), &dest)?;
        } else if kind.is_file() {
            fs::copy(entry.path(), &dest).map_err(io(&entry.path().display().to_string()))?;
        } else if kind.is_symlink() {
            return Err(MigrateError::Input(format!(
                "{}: symlinks are not carried over",
                entry.path().display()
            )));
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
