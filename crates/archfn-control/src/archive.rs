//! Zip archives: inspection before anything is stored, and safe extraction.
//!
//! Inspection reads only the central directory (and symlink targets): it refuses archives
//! that are not zips, hold paths escaping the root, duplicate paths, symlinks pointing outside
//! (followed through the archive's other symlinks, as the kernel would once they are on disk),
//! entries under a symlink of the archive, too many entries, or an entry whose compression
//! ratio marks a zip bomb.
//! Extraction never trusts the declared sizes (each entry is read through a cap), and writes
//! through an `archfn_extract::Root`: every path is resolved beneath the destination one plain
//! name at a time, never through a symbolic link, whatever inspection let through.

use std::collections::{HashMap, HashSet};
use std::ffi::OsString;
use std::io::{Cursor, Read, Seek, SeekFrom};
use std::path::{Component, Path, PathBuf};

use archfn_extract::unzip::{SYMLINK_TARGET_MAX, UnzipError, is_symlink};
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
    /// An entry lies under a symlink (or a file) of the archive, which extraction never follows.
    #[error("entry {0:?} lies under a symlink or a file of the archive")]
    UnderSymlink(String),
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

/// As many symlinks as the kernel follows in one path lookup before it gives up (`ELOOP`).
const SYMLINK_HOPS_MAX: usize = 40;

/// Whether `target`, a symlink at `link`, stays inside the root.
fn symlink_stays_inside(link: &Path, target: &str) -> bool {
    resolves_inside(&HashMap::new(), link, target)
}

/// Whether `target`, a symlink at `link`, stays inside the root once the archive's symlinks
/// (`links`, path to target) are on disk: the target is walked as the kernel would walk it,
/// each name that is one of the archive's symlinks replaced by its own target.
fn resolves_inside(links: &HashMap<PathBuf, String>, link: &Path, target: &str) -> bool {
    enum Step {
        Up,
        Name(OsString),
    }
    fn steps(target: &str) -> Option<Vec<Step>> {
        if target.is_empty() || target.starts_with('/') {
            return None;
        }
        Path::new(target)
            .components()
            .filter_map(|c| match c {
                Component::Normal(n) => Some(Some(Step::Name(n.to_os_string()))),
                Component::CurDir => None,
                Component::ParentDir => Some(Some(Step::Up)),
                Component::RootDir | Component::Prefix(_) => Some(None),
            })
            .collect()
    }
    let mut at: Vec<OsString> = link
        .parent()
        .map(|p| p.iter().map(|n| n.to_os_string()).collect())
        .unwrap_or_default();
    let Some(mut todo) = steps(target) else {
        return false;
    };
    todo.reverse();
    let mut hops = 0;
    while let Some(step) = todo.pop() {
        match step {
            Step::Up => {
                if at.pop().is_none() {
                    return false;
                }
            }
            Step::Name(name) => {
                at.push(name);
                let here: PathBuf = at.iter().collect();
                if let Some(next) = links.get(&here) {
                    hops += 1;
                    let Some(more) = steps(next).filter(|_| hops <= SYMLINK_HOPS_MAX) else {
                        return false;
                    };
                    at.pop();
                    todo.extend(more.into_iter().rev());
                }
            }
        }
    }
    true
}

/// Checks an archive held in memory and sums its sizes; refuses unsafe archives.
pub fn inspect(bytes: &[u8]) -> Result<ArchiveSummary, ArchiveError> {
    inspect_reader(Cursor::new(bytes))
}

/// Checks the archive `reader` reads (a file, say: only its central directory and symlink
/// targets are read) as [`inspect`] does.
pub fn inspect_reader<R: Read + Seek>(reader: R) -> Result<ArchiveSummary, ArchiveError> {
    let mut zip = zip::ZipArchive::new(reader)?;
    let entries = zip.len();
    if entries > ARCHIVE_MAX_ENTRIES {
        return Err(ArchiveError::TooManyEntries(ARCHIVE_MAX_ENTRIES));
    }
    let mut seen = HashSet::with_capacity(entries);
    let mut paths = Vec::with_capacity(entries);
    let mut links = HashMap::new();
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
            links.insert(path.clone(), target);
        }
        unzipped_size = unzipped_size.saturating_add(size);
        paths.push((raw, path));
    }
    if !links.is_empty() {
        for (raw, path) in &paths {
            // Extraction never goes through a symlink: an entry under one cannot be written.
            if path.ancestors().skip(1).any(|a| links.contains_key(a)) {
                return Err(ArchiveError::UnderSymlink(raw.clone()));
            }
            if let Some(target) = links.get(path)
                && !resolves_inside(&links, path, target)
            {
                return Err(ArchiveError::UnsafeSymlink(raw.clone()));
            }
        }
    }
    Ok(ArchiveSummary {
        entries,
        unzipped_size,
    })
}

/// Extracts an archive into `dest` (which must not exist yet): files first, read through a cap
/// of their declared size, modes reduced to 0755/0644, symlinks last and never followed.
pub fn extract(bytes: &[u8], dest: &Path) -> Result<(), ArchiveError> {
    inspect(bytes)?;
    write_entries(bytes, dest)
}

/// Extracts the archive in the file at `path` as [`extract`] does, reading it from the file
/// rather than holding it in memory.
pub fn extract_file(path: &Path, dest: &Path) -> Result<(), ArchiveError> {
    let mut file = std::fs::File::open(path)?;
    inspect_reader(&mut file)?;
    file.seek(SeekFrom::Start(0))?;
    write_entries_from(file, dest)
}

/// Writes the entries of an archive into `dest` (which must not exist yet) beneath it,
/// whatever they say: inspection's rules are not assumed here.
fn write_entries(bytes: &[u8], dest: &Path) -> Result<(), ArchiveError> {
    write_entries_from(Cursor::new(bytes), dest)
}

fn write_entries_from<R: Read + Seek>(reader: R, dest: &Path) -> Result<(), ArchiveError> {
    archfn_extract::unzip::unzip_reader(reader, dest).map_err(|e| match e {
        UnzipError::NotAZip(m) => ArchiveError::NotAZip(m),
        UnzipError::UnsafePath(m) => ArchiveError::UnsafePath(m),
        UnzipError::UnderSymlink(m) => ArchiveError::UnderSymlink(m),
        UnzipError::Duplicate(m) => ArchiveError::Duplicate(m),
        UnzipError::SizeMismatch(m) => ArchiveError::SizeMismatch(m),
        UnzipError::Io(m) => ArchiveError::Io(m),
    })
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

    /// An entry of a hostile zip: a file with its bytes, or a symlink with its target.
    enum E<'a> {
        File(&'a str, &'a [u8]),
        Exec(&'a str),
        Dir(&'a str),
        Link(&'a str, &'a str),
    }

    fn hostile_zip(entries: &[E]) -> Vec<u8> {
        let mut w = zip::ZipWriter::new(Cursor::new(Vec::new()));
        let opts = SimpleFileOptions::default();
        for e in entries {
            match e {
                E::File(name, data) => {
                    w.start_file(*name, opts).unwrap_or_else(|e| panic!("{e}"));
                    w.write_all(data).unwrap_or_else(|e| panic!("{e}"));
                }
                E::Exec(name) => {
                    w.start_file(*name, opts.unix_permissions(0o775))
                        .unwrap_or_else(|e| panic!("{e}"));
                    w.write_all(b"#!/bin/sh\n")
                        .unwrap_or_else(|e| panic!("{e}"));
                }
                E::Dir(name) => w
                    .add_directory(*name, opts)
                    .unwrap_or_else(|e| panic!("{e}")),
                E::Link(name, target) => w
                    .add_symlink(*name, *target, opts)
                    .unwrap_or_else(|e| panic!("{e}")),
            }
        }
        w.finish().unwrap_or_else(|e| panic!("{e}")).into_inner()
    }

    /// The hostile zips: each a list of entries and the error expected from `extract`.
    fn hostile_cases(victim: &str) -> Vec<(&'static str, Vec<E<'_>>, &'static str)> {
        vec![
            (
                "a chain of links climbing one level each, then links and directories through it",
                vec![
                    E::File("ok.py", b"x = 1"),
                    E::Link("a/l", ".."),
                    E::Link("a/l/m", ".."),
                    E::Link("a/l/m/escaped", "x"),
                    E::Link("a/l/m/newdir/deeper", "x"),
                ],
                "lies under a symlink",
            ),
            (
                "a link to the root's parent, then a file through it",
                vec![E::Link("a/l", ".."), E::File("a/l/x", b"x")],
                "lies under a symlink",
            ),
            (
                "a link to a link: y -> x/.. with x -> ., then an entry through y",
                vec![
                    E::Link("x", "."),
                    E::Link("y", "x/.."),
                    E::Link("y/escaped", "z"),
                ],
                "symlink",
            ),
            (
                "a link through another link, alone",
                vec![
                    E::Link("d/x", "."),
                    E::Link("d/y", "x/../.."),
                    E::File("keep", b"1"),
                ],
                "points outside the archive root",
            ),
            (
                "an absolute link, then entries through it",
                vec![
                    E::Link("abs", victim),
                    E::File("abs/file", b"overwritten"),
                    E::Link("abs/new-link", "x"),
                    E::Dir("abs/new-dir/"),
                ],
                "symlink",
            ),
            (
                "a name climbing out",
                vec![E::File("../../victim/file", b"overwritten")],
                "outside the archive root",
            ),
            (
                "a relative link out, then entries through it",
                vec![E::Link("up", "../../victim"), E::Link("up/new-link", "x")],
                "symlink",
            ),
        ]
    }

    /// Each hostile zip is refused, by inspection (what CreateFunction answers) and by
    /// extraction, and leaves everything outside the extraction root as it was.
    #[test]
    fn hostile_zips_are_refused_and_write_nothing_outside() {
        let place = crate::testing::Place::new();
        let victim = place.victim().display().to_string();
        for (case, entries, expect) in hostile_cases(&victim) {
            let z = hostile_zip(&entries);
            assert!(inspect(&z).is_err(), "{case}: inspection refuses it");
            crate::testing::assert_refused(
                extract(&z, &place.dest()).map_err(|e| e.to_string()),
                expect,
                case,
            );
            place.assert_untouched(case);
            crate::testing::reset(&place);
        }
    }

    /// Extraction alone, without inspection's rules, stays beneath the root: what reaches the
    /// disk is never written through a symlink, wherever the symlink points.
    #[test]
    fn extraction_alone_never_goes_through_a_symlink() {
        let place = crate::testing::Place::new();
        let victim = place.victim().display().to_string();
        for (case, entries, _) in hostile_cases(&victim) {
            let z = hostile_zip(&entries);
            let result = write_entries(&z, &place.dest());
            if let Err(e) = &result {
                assert!(
                    matches!(
                        e,
                        ArchiveError::UnderSymlink(_)
                            | ArchiveError::Duplicate(_)
                            | ArchiveError::UnsafePath(_)
                    ),
                    "{case}: {e}"
                );
            }
            place.assert_untouched(case);
            crate::testing::reset(&place);
        }
    }

    /// An absolute name is read beneath the root (the zip crate's `enclosed_name` drops the
    /// leading `/`), as it was before: it lands inside.
    #[test]
    fn an_absolute_name_lands_inside() -> Result<(), ArchiveError> {
        let place = crate::testing::Place::new();
        let victim_file = place.victim().join("file").display().to_string();
        extract(
            &hostile_zip(&[E::File(&victim_file, b"inside")]),
            &place.dest(),
        )?;
        place.assert_untouched("an absolute name");
        assert!(place.inside(victim_file.trim_start_matches('/')));
        Ok(())
    }

    #[test]
    fn follows_the_archives_own_links_when_judging_a_target() {
        let links: HashMap<PathBuf, String> = [
            ("x", "."),
            ("lib/current", "v2"),
            ("lib/v2", "../store/v2"),
            ("loop/a", "b"),
            ("loop/b", "a"),
        ]
        .into_iter()
        .map(|(l, t)| (PathBuf::from(l), t.to_string()))
        .collect();
        let inside = |link: &str, target: &str| resolves_inside(&links, Path::new(link), target);
        assert!(inside("y", "x"));
        assert!(!inside("y", "x/.."));
        assert!(inside("bin/tool", "../lib/current/tool"));
        assert!(inside("bin/tool", "../lib/current/../v2/tool"));
        assert!(!inside("bin/tool", "../lib/current/../../../x"));
        assert!(
            !inside("z", "loop/a"),
            "a loop is refused, not followed forever"
        );
    }

    #[test]
    fn keeps_links_that_stay_inside_and_modes() -> Result<(), ArchiveError> {
        use std::os::unix::fs::PermissionsExt;
        let place = crate::testing::Place::new();
        let z = hostile_zip(&[
            E::File("lib/real.py", b"x = 1"),
            E::Link("lib/alias.py", "real.py"),
            E::Link("lib/current", "."),
            E::Link("top", "lib/current/real.py"),
            E::Exec("bin/run"),
            E::Dir("empty/"),
        ]);
        extract(&z, &place.dest())?;
        let d = place.dest();
        assert_eq!(std::fs::read(d.join("lib/alias.py"))?, b"x = 1");
        assert_eq!(std::fs::read(d.join("top"))?, b"x = 1");
        let mode = |p: &str| {
            std::fs::metadata(d.join(p))
                .map(|m| m.permissions().mode() & 0o7777)
                .unwrap_or(0)
        };
        assert_eq!((mode("bin/run"), mode("lib/real.py")), (0o755, 0o644));
        assert!(place.inside("empty"));
        place.assert_untouched("a legitimate zip");
        Ok(())
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
