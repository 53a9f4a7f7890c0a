//! Zip archives: inspection before anything is stored, and safe extraction.
//!
//! Inspection reads only the central directory (and symlink targets): it refuses archives
//! that are not zips, hold paths escaping the root, duplicate paths, symlinks pointing outside,
//! too many entries, or an entry whose compression ratio marks a zip bomb.
//! Extraction never trusts the declared sizes: each entry is read through a cap.

use std::collections::HashSet;
use std::io::{Cursor, Read};
use std::path::{Component, Path, PathBuf};

use archfn_model::limits::{ARCHIVE_MAX_ENTRIES, ARCHIVE_MAX_RATIO};

/// Why an archive is refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ArchiveError {
    /// The bytes are not a zip.
    #[error("not a zip archive: {0}")]
    NotAZip(String),
    /// An entry's path leaves the archive root (zip slip).
    #[error("entry {0:?} has a path outside the archive root")]
    UnsafePath(String),
    /// Two entries have the same path.
    #[error("entry {0:?} appears twice")]
    Duplicate(String),
    /// A symlink points outside the archive root.
    #[error("symlink {0:?} points outside the archive root")]
    UnsafeSymlink(String),
    /// More entries than allowed.
    #[error("archive has more than {0} entries")]
    TooManyEntries(usize),
    /// An entry expands far more than real data does.
    #[error("entry {0:?} has a compression ratio above {1}:1 (zip bomb)")]
    ZipBomb(String, u64),
    /// An entry holds more bytes than its header declares.
    #[error("entry {0:?} is larger than its header declares")]
    SizeMismatch(String),
    /// Reading or writing failed.
    #[error("archive io: {0}")]
    Io(String),
}

impl From<std::io::Error> for ArchiveError {
    fn from(e: std::io::Error) -> Self {
        ArchiveError::Io(e.to_string())
    }
}

impl From<zip::result::ZipError> for ArchiveError {
    fn from(e: zip::result::ZipError) -> Self {
        ArchiveError::NotAZip(e.to_string())
    }
}

/// What inspection learnt of an archive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ArchiveSummary {
    /// Number of entries.
    pub entries: usize,
    /// Sum of the declared uncompressed sizes.
    pub unzipped_size: u64,
}

const SYMLINK_TARGET_MAX: u64 = 4096;
const S_IFMT: u32 = 0o170000;
const S_IFLNK: u32 = 0o120000;

fn is_symlink(mode: Option<u32>) -> bool {
    mode.is_some_and(|m| m & S_IFMT == S_IFLNK)
}

/// Whether `target`, a symlink at `link`, stays inside the root.
fn symlink_stays_inside(link: &Path, target: &str) -> bool {
    if target.is_empty() || target.starts_with('/') {
        return false;
    }
    let mut depth: i64 = link.components().count() as i64 - 1;
    for c in Path::new(target).components() {
        match c {
            Component::Normal(_) => depth += 1,
            Component::CurDir => {}
            Component::ParentDir => {
                depth -= 1;
                if depth < 0 {
                    return false;
                }
            }
            Component::RootDir | Component::Prefix(_) => return false,
        }
    }
    true
}

/// Checks an archive held in memory and sums its sizes; refuses unsafe archives.
pub fn inspect(bytes: &[u8]) -> Result<ArchiveSummary, ArchiveError> {
    let mut zip = zip::ZipArchive::new(Cursor::new(bytes))?;
    let entries = zip.len();
    if entries > ARCHIVE_MAX_ENTRIES {
        return Err(ArchiveError::TooManyEntries(ARCHIVE_MAX_ENTRIES));
    }
    let mut seen = HashSet::with_capacity(entries);
    let mut unzipped_size = 0u64;
    for i in 0..entries {
        let mut entry = zip.by_index(i)?;
        let raw = entry.name()?.to_string();
        let path = entry
            .enclosed_name()
            .ok_or_else(|| ArchiveError::UnsafePath(raw.clone()))?;
        if !seen.insert(path.clone()) {
            return Err(ArchiveError::Duplicate(raw));
        }
        let size = entry.size();
        let compressed = entry.compressed_size().max(1);
        if size > 1 << 20 && size / compressed > ARCHIVE_MAX_RATIO {
            return Err(ArchiveError::ZipBomb(raw, ARCHIVE_MAX_RATIO));
        }
        if is_symlink(entry.unix_mode()) {
            let mut target = String::new();
            (&mut entry)
                .take(SYMLINK_TARGET_MAX)
                .read_to_string(&mut target)?;
            if !symlink_stays_inside(&path, &target) {
                return Err(ArchiveError::UnsafeSymlink(raw));
            }
        }
        unzipped_size = unzipped_size.saturating_add(size);
    }
    Ok(ArchiveSummary {
        entries,
        unzipped_size,
    })
}

/// Extracts an archive into `dest` (which must not exist yet): files first, read through a cap
/// of their declared size, modes reduced to 0755/0644, symlinks last and never followed.
pub fn extract(bytes: &[u8], dest: &Path) -> Result<(), ArchiveError> {
    use std::os::unix::fs::PermissionsExt;
    inspect(bytes)?;
    let mut zip = zip::ZipArchive::new(Cursor::new(bytes))?;
    std::fs::create_dir(dest)?;
    let mut links: Vec<(PathBuf, String)> = Vec::new();
    for i in 0..zip.len() {
        let mut entry = zip.by_index(i)?;
        let raw = entry.name()?.to_string();
        let rel = entry
            .enclosed_name()
            .ok_or_else(|| ArchiveError::UnsafePath(raw.clone()))?;
        let out = dest.join(&rel);
        if entry.is_dir() {
            std::fs::create_dir_all(&out)?;
            continue;
        }
        if is_symlink(entry.unix_mode()) {
            let mut target = String::new();
            (&mut entry)
                .take(SYMLINK_TARGET_MAX)
                .read_to_string(&mut target)?;
            links.push((out, target));
            continue;
        }
        if let Some(parent) = out.parent() {
            std::fs::create_dir_all(parent)?;
        }
        let declared = entry.size();
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&out)?;
        let copied = std::io::copy(&mut (&mut entry).take(declared + 1), &mut file)?;
        if copied > declared {
            return Err(ArchiveError::SizeMismatch(raw));
        }
        let exec = entry.unix_mode().is_some_and(|m| m & 0o111 != 0);
        file.set_permissions(std::fs::Permissions::from_mode(if exec {
            0o755
        } else {
            0o644
        }))?;
    }
    for (link, target) in links {
        if let Some(parent) = link.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::os::unix::fs::symlink(&target, &link)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use zip::write::SimpleFileOptions;

    use super::*;

    fn zip_of(entries: &[(&str, &[u8])]) -> Vec<u8> {
        let mut w = zip::ZipWriter::new(Cursor::new(Vec::new()));
        for (name, data) in entries {
            w.start_file(*name, SimpleFileOptions::default())
                .unwrap_or_else(|e| panic!("{e}"));
            w.write_all(data).unwrap_or_else(|e| panic!("{e}"));
        }
        w.finish().unwrap_or_else(|e| panic!("{e}")).into_inner()
    }

    #[test]
    fn sums_sizes_of_a_plain_zip() {
        let z = zip_of(&[("a.py", b"print(1)"), ("lib/b.py", b"x = 2")]);
        assert_eq!(
            inspect(&z),
            Ok(ArchiveSummary {
                entries: 2,
                unzipped_size: 13
            })
        );
    }

    #[test]
    fn rejects_entry_with_parent_dir() {
        let z = zip_of(&[("../evil.sh", b"rm -rf /")]);
        assert!(matches!(inspect(&z), Err(ArchiveError::UnsafePath(_))));
    }

    #[test]
    fn rejects_duplicates_and_non_zips() {
        let z = zip_of(&[("a", b"1"), ("./a", b"2")]);
        assert!(matches!(inspect(&z), Err(ArchiveError::Duplicate(_))));
        assert!(matches!(
            inspect(b"not a zip"),
            Err(ArchiveError::NotAZip(_))
        ));
    }

    #[test]
    fn rejects_high_ratio_entries() {
        let zeros = vec![0u8; 8 << 20];
        let mut w = zip::ZipWriter::new(Cursor::new(Vec::new()));
        let opts =
            SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
        w.start_file("zeros", opts)
            .unwrap_or_else(|e| panic!("{e}"));
        w.write_all(&zeros).unwrap_or_else(|e| panic!("{e}"));
        let z = w.finish().unwrap_or_else(|e| panic!("{e}")).into_inner();
        assert!(matches!(inspect(&z), Err(ArchiveError::ZipBomb(_, _))));
    }

    #[test]
    fn judges_symlink_targets() {
        assert!(symlink_stays_inside(Path::new("lib/libx.so"), "libx.so.1"));
        assert!(symlink_stays_inside(Path::new("bin/tool"), "../lib/tool"));
        assert!(!symlink_stays_inside(
            Path::new("bin/tool"),
            "../../etc/passwd"
        ));
        assert!(!symlink_stays_inside(Path::new("x"), "/etc/passwd"));
    }

    #[test]
    fn extracts_files_with_modes() -> Result<(), ArchiveError> {
        let z = zip_of(&[("dir/a.txt", b"hello")]);
        let dest = std::env::temp_dir().join(format!("archfn-extract-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dest);
        extract(&z, &dest)?;
        assert_eq!(std::fs::read(dest.join("dir/a.txt"))?, b"hello");
        let _ = std::fs::remove_dir_all(&dest);
        Ok(())
    }
}
