//! A zip's entries written beneath a root: files first, each read through a cap of its
//! declared size, modes reduced to 0755/0644, symlinks last, nothing ever written through a
//! symbolic link whatever the entries say. What an archive may hold (sizes, link targets,
//! duplicates) is the caller's rule; this only guarantees where the bytes land.

use std::io::{Cursor, Read, Seek};
use std::path::Path;

use crate::{ExtractError, RelPath, Root};

/// Why a zip's entries were not all written.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum UnzipError {
    /// The bytes are not a zip.
    #[error("not a zip archive: {0}")]
    NotAZip(String),
    /// An entry's path leaves the root.
    #[error("entry {0:?} has a path outside the archive root")]
    UnsafePath(String),
    /// An entry lies under a symlink (or a file) of the archive, which is never followed.
    #[error("entry {0:?} lies under a symlink or a file of the archive")]
    UnderSymlink(String),
    /// An entry's path is taken already.
    #[error("entry {0:?} appears twice")]
    Duplicate(String),
    /// An entry holds more bytes than its header declares.
    #[error("entry {0:?} is larger than its header declares")]
    SizeMismatch(String),
    /// Reading or writing failed.
    #[error("archive io: {0}")]
    Io(String),
}

impl From<zip::result::ZipError> for UnzipError {
    fn from(e: zip::result::ZipError) -> Self {
        UnzipError::NotAZip(e.to_string())
    }
}

impl From<std::io::Error> for UnzipError {
    fn from(e: std::io::Error) -> Self {
        UnzipError::Io(e.to_string())
    }
}

/// The refusal of entry `raw` that writing it beneath the root met.
fn refusal(raw: &str, e: ExtractError) -> UnzipError {
    match e {
        ExtractError::UnsafePath(_) | ExtractError::HardLinkTarget { .. } => {
            UnzipError::UnsafePath(raw.to_string())
        }
        ExtractError::NotADirectory { .. } => UnzipError::UnderSymlink(raw.to_string()),
        ExtractError::Exists(_) => UnzipError::Duplicate(raw.to_string()),
        ExtractError::Io { .. } => UnzipError::Io(e.to_string()),
    }
}

/// The longest symlink target read from an entry.
pub const SYMLINK_TARGET_MAX: u64 = 4096;
const S_IFMT: u32 = 0o170000;
const S_IFLNK: u32 = 0o120000;

/// Whether a zip entry's Unix mode makes it a symbolic link.
pub fn is_symlink(mode: Option<u32>) -> bool {
    mode.is_some_and(|m| m & S_IFMT == S_IFLNK)
}

/// Writes the entries of the zip `bytes` into `dest` (which must not exist yet; its parent
/// must), beneath it, whatever they say.
pub fn unzip(bytes: &[u8], dest: &Path) -> Result<(), UnzipError> {
    unzip_reader(Cursor::new(bytes), dest)
}

/// Writes the entries of the zip `reader` reads (a file, say: nothing is held whole in memory)
/// into `dest`, as [`unzip`] does.
pub fn unzip_reader<R: Read + Seek>(reader: R, dest: &Path) -> Result<(), UnzipError> {
    let mut zip = zip::ZipArchive::new(reader)?;
    let root = Root::create(dest).map_err(|e| UnzipError::Io(e.to_string()))?;
    let mut links: Vec<(RelPath, String, String)> = Vec::new();
    for i in 0..zip.len() {
        let mut entry = zip.by_index(i)?;
        let raw = entry.name()?.to_string();
        let enclosed = entry
            .enclosed_name()
            .ok_or_else(|| UnzipError::UnsafePath(raw.clone()))?;
        if entry.is_dir() && enclosed.as_os_str().is_empty() {
            continue;
        }
        let rel = RelPath::new(&enclosed).map_err(|e| refusal(&raw, e))?;
        if entry.is_dir() {
            root.create_dir_all(&rel).map_err(|e| refusal(&raw, e))?;
            continue;
        }
        if is_symlink(entry.unix_mode()) {
            let mut target = String::new();
            (&mut entry)
                .take(SYMLINK_TARGET_MAX)
                .read_to_string(&mut target)?;
            links.push((rel, raw, target));
            continue;
        }
        let declared = entry.size();
        let exec = entry.unix_mode().is_some_and(|m| m & 0o111 != 0);
        let mut file = root
            .create_file(&rel, if exec { 0o755 } else { 0o644 }, false)
            .map_err(|e| refusal(&raw, e))?;
        let copied = std::io::copy(&mut (&mut entry).take(declared + 1), &mut file)?;
        if copied > declared {
            return Err(UnzipError::SizeMismatch(raw));
        }
    }
    for (link, raw, target) in links {
        root.symlink(&link, Path::new(&target), false)
            .map_err(|e| refusal(&raw, e))?;
    }
    Ok(())
}
