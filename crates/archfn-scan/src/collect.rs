//! The first half of a scan: one pass over the files of an artifact, keeping only what the
//! rules need. Metadata files (wheel RECORD/WHEEL, package.json, pom.properties, .deps.json,
//! installed gems' specifications)
//! are kept whole; every other file is read just far enough to know what it is (an ELF file
//! to its version needs, a program to its end for Go and Rust markers); archives inside are
//! read to a bounded depth. Sources that allow it (a zip, a directory) are read by several
//! threads at once, each with its own reader.

use std::io::{Cursor, Read, Seek};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::ScanError;
use crate::elf::{self, ElfInfo};

/// How deep archives inside archives are read.
pub(crate) const MAX_DEPTH: usize = 3;
/// Bytes read of every file to learn what it is.
const HEAD_BYTES: usize = 64 * 1024;
/// Most of an ELF file kept in memory to reach its dynamic section and version needs; past
/// it, the version names are read from the stream.
const MAX_ELF_PREFIX: usize = 1024 * 1024;
/// Most of a program read while looking for Go and Rust markers.
const MAX_PROGRAM_BYTES: u64 = 512 * 1024 * 1024;
/// Nested archives up to this size are read in memory; larger ones go to a temporary file.
const NESTED_IN_MEMORY: u64 = 16 * 1024 * 1024;
/// Largest nested archive read at all (decompressed).
const MAX_NESTED_BYTES: u64 = 512 * 1024 * 1024;
/// Largest metadata file kept.
const MAX_METADATA_BYTES: u64 = 4 * 1024 * 1024;

/// The language a program was built with, when its bytes say so.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Language {
    /// Go, with the toolchain version when the build info carries it.
    Go(Option<String>),
    /// Rust (panic locations under `/rustc/<commit>/`).
    Rust,
}

/// A file that is native code of some platform.
#[derive(Debug, Clone)]
pub(crate) enum Binary {
    /// An ELF object, and the language of a program.
    Elf(ElfInfo, Option<Language>),
    /// A Mach-O (macOS) file.
    MachO,
    /// A PE (Windows) file.
    Pe,
}

/// What one pass over an artifact found.
#[derive(Debug, Default)]
pub(crate) struct Collected {
    /// Regular files seen in this archive (a nested archive counts its own, in `nested`).
    pub files: u64,
    /// Metadata files, whole, by path.
    pub metadata: Vec<(String, Vec<u8>)>,
    /// Native files, by path.
    pub binaries: Vec<(String, Binary)>,
    /// Archives inside, by path: what they held, or why they were not read.
    pub nested: Vec<(String, Result<Collected, String>)>,
    /// Files or parts that could not be read, and why.
    pub errors: Vec<(String, String)>,
}

impl Collected {
    fn merge(&mut self, other: Collected) {
        self.files += other.files;
        self.metadata.extend(other.metadata);
        self.binaries.extend(other.binaries);
        self.nested.extend(other.nested);
        self.errors.extend(other.errors);
    }

    /// Takes one regular file of the artifact.
    pub(crate) fn take(&mut self, path: &str, size: u64, reader: &mut dyn Read, depth: usize) {
        self.files += 1;
        let lower = path.to_ascii_lowercase();
        if is_metadata(path) {
            let mut raw = Vec::new();
            match reader.take(MAX_METADATA_BYTES).read_to_end(&mut raw) {
                Ok(_) => self.metadata.push((path.to_string(), raw)),
                Err(e) => self.errors.push((path.to_string(), e.to_string())),
            }
            return;
        }
        if let Some(format) = nested_format(&lower) {
            self.files -= 1;
            let inner = if depth + 1 > MAX_DEPTH {
                Err(format!(
                    "archive nested deeper than {MAX_DEPTH} levels, not read"
                ))
            } else if size > MAX_NESTED_BYTES {
                Err("nested archive too large to read".to_string())
            } else {
                collect_nested(format, size, reader, depth + 1)
            };
            self.nested.push((path.to_string(), inner));
            return;
        }
        match examine(&lower, reader) {
            Ok(Some(b)) => self.binaries.push((path.to_string(), b)),
            Ok(None) => {}
            Err(e) => self.errors.push((path.to_string(), e.to_string())),
        }
    }
}

/// Whether a file is one the rules read whole.
fn is_metadata(path: &str) -> bool {
    let name = path.rsplit('/').next().unwrap_or(path);
    (path.contains(".dist-info/") && (name == "RECORD" || name == "WHEEL"))
        || name == "package.json"
        || (name == "pom.properties" && path.contains("META-INF/maven/"))
        || name.ends_with(".deps.json")
        || (name.ends_with(".gemspec") && path.contains("specifications/"))
}

/// The kinds of archive read inside an artifact.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Format {
    /// Zip, wheel, jar, war, ear, nupkg.
    Zip,
    /// A tar, gzip-compressed or not (told apart by its first bytes).
    Tar,
}

fn nested_format(lower: &str) -> Option<Format> {
    let zip = [".zip", ".whl", ".jar", ".war", ".ear", ".nupkg", ".egg"];
    let tar = [".tgz", ".tar.gz", ".tar"];
    if zip.iter().any(|s| lower.ends_with(s)) {
        Some(Format::Zip)
    } else if tar.iter().any(|s| lower.ends_with(s)) {
        Some(Format::Tar)
    } else {
        None
    }
}

/// Reads an archive inside an archive: in memory when small, through a temporary file when
/// not, never more than [`MAX_NESTED_BYTES`].
fn collect_nested(
    format: Format,
    size: u64,
    reader: &mut dyn Read,
    depth: usize,
) -> Result<Collected, String> {
    let mut limited = reader.take(MAX_NESTED_BYTES);
    if format == Format::Tar {
        return collect_tar(&mut limited, depth).map_err(|e| e.to_string());
    }
    if size <= NESTED_IN_MEMORY {
        let mut raw = Vec::with_capacity(usize::try_from(size).unwrap_or(0));
        limited.read_to_end(&mut raw).map_err(|e| e.to_string())?;
        collect_zip(|| Ok(Cursor::new(raw.as_slice())), 1, depth).map_err(|e| e.to_string())
    } else {
        let mut spool = tempfile::tempfile().map_err(|e| e.to_string())?;
        std::io::copy(&mut limited, &mut spool).map_err(|e| e.to_string())?;
        let spool = std::sync::Mutex::new(Some(spool));
        collect_zip(
            || {
                spool
                    .lock()
                    .ok()
                    .and_then(|mut s| s.take())
                    .ok_or_else(|| ScanError::NotAnArchive("spool already taken".into()))
            },
            1,
            depth,
        )
        .map_err(|e| e.to_string())
    }
}

/// Reads `reader` to the end, or up to `cap` bytes, into `buf` (appending).
fn fill(reader: &mut dyn Read, buf: &mut Vec<u8>, upto: usize) -> std::io::Result<()> {
    let have = buf.len();
    if upto > have {
        reader
            .take(u64::try_from(upto - have).unwrap_or(0))
            .read_to_end(buf)?;
    }
    Ok(())
}

/// Reads just enough of one file to say what native code it is, if any.
fn examine(lower: &str, reader: &mut dyn Read) -> std::io::Result<Option<Binary>> {
    let mut buf = Vec::new();
    fill(reader, &mut buf, HEAD_BYTES)?;
    if elf::is_elf(&buf) {
        let mut info = match elf::parse(&buf) {
            Some(i) => i,
            None => return Ok(None),
        };
        // Read on while the reader asks for more (a long string table), within bounds.
        for _ in 0..4 {
            match info.wants {
                Some(w) if w <= MAX_ELF_PREFIX && w > buf.len() => {
                    let before = buf.len();
                    fill(reader, &mut buf, w)?;
                    if buf.len() == before {
                        break;
                    }
                    info = elf::parse(&buf).unwrap_or(info);
                }
                _ => break,
            }
        }
        // The version needs were out of reach (the dynamic section sits after the code): read
        // the GLIBC_2.x names from the read-only segment that holds the string table instead.
        let glibc_until = if info.glibc.is_none() && info.dynamic && info.wants.is_some() {
            info.first_load_end.unwrap_or(0)
        } else {
            0
        };
        let tail = Tail {
            glibc_until,
            language: info.is_program() || lower.ends_with("bootstrap"),
            go_note: info.go_note,
        };
        if tail.glibc_until > 0 || tail.language {
            let (glibc, language) = read_tail(&buf, reader, &tail)?;
            info.glibc = info.glibc.or(glibc);
            return Ok(Some(Binary::Elf(info, language)));
        }
        return Ok(Some(Binary::Elf(info, None)));
    }
    let macho: [&[u8]; 5] = [
        b"\xfe\xed\xfa\xce",
        b"\xfe\xed\xfa\xcf",
        b"\xce\xfa\xed\xfe",
        b"\xcf\xfa\xed\xfe",
        b"\xca\xfe\xba\xbe",
    ];
    // 0xcafebabe is also a Java class file; a Mach-O universal binary has few architectures.
    if macho[..4].iter().any(|m| buf.starts_with(m))
        || (buf.starts_with(macho[4])
            && buf.get(7).is_some_and(|n| *n < 20)
            && !lower.ends_with(".class"))
    {
        return Ok(Some(Binary::MachO));
    }
    let pe_name = [".dll", ".exe", ".node", ".pyd"]
        .iter()
        .any(|s| lower.ends_with(s));
    if buf.starts_with(b"MZ") && pe_name {
        return Ok(Some(Binary::Pe));
    }
    Ok(None)
}

const GO_MAGIC: &[u8] = b"\xff Go buildinf:";
const RUST_MARKER: &[u8] = b"/rustc/";
const GLIBC_MARKER: &[u8] = b"\0GLIBC_2.";

/// A glibc version, as (major, minor).
type GlibcVersion = (u32, u32);

/// What a pass over the rest of an ELF file looks for.
struct Tail {
    /// Collect `GLIBC_2.x` strings before this offset (the read-only segment holding the
    /// dynamic string table), when the precise reader could not get to the version needs.
    glibc_until: u64,
    /// Look for Go and Rust markers to the end of the file.
    language: bool,
    /// A Go build-id note was seen.
    go_note: bool,
}

/// The newest `GLIBC_2.x` named by a NUL-terminated string in `window` starting before `limit`
/// (offsets relative to the window).
fn glibc_strings(window: &[u8], limit: usize) -> Option<(u32, u32)> {
    let mut newest = None;
    for at in memchr::memmem::find_iter(window, GLIBC_MARKER) {
        if at >= limit {
            break;
        }
        let rest = &window[at + GLIBC_MARKER.len()..];
        let Some(end) = rest.iter().take(8).position(|&c| c == 0) else {
            continue;
        };
        let minor = std::str::from_utf8(&rest[..end])
            .ok()
            .and_then(|m| m.split('.').next()?.parse::<u32>().ok());
        if let Some(minor) = minor {
            newest = newest.max(Some((2, minor)));
        }
    }
    newest
}

/// What the pass over an ELF file has found so far.
#[derive(Default)]
struct TailFound {
    glibc: Option<(u32, u32)>,
    go: Option<Option<String>>,
    rust: bool,
}

impl TailFound {
    /// Looks through `window`, which starts at file offset `start`.
    fn look(&mut self, window: &[u8], start: u64, tail: &Tail) {
        if start < tail.glibc_until {
            let limit = usize::try_from(tail.glibc_until - start).unwrap_or(usize::MAX);
            self.glibc = self.glibc.max(glibc_strings(window, limit));
        }
        if tail.language {
            if self.go.is_none()
                && let Some(at) = memchr::memmem::find(window, GO_MAGIC)
                && window.len() - at >= 64
            {
                self.go = Some(go_version(&window[at..]));
            }
            self.rust = self.rust
                || memchr::memmem::find_iter(window, RUST_MARKER)
                    .any(|at| is_rustc_path(&window[at + RUST_MARKER.len()..]));
        }
    }
}

/// One forward pass over the rest of an ELF file (after `prefix`), in small chunks: never more
/// than a chunk and a short carry in memory, whatever the file's size.
fn read_tail(
    prefix: &[u8],
    reader: &mut dyn Read,
    tail: &Tail,
) -> std::io::Result<(Option<GlibcVersion>, Option<Language>)> {
    let until = if tail.language {
        MAX_PROGRAM_BYTES
    } else {
        tail.glibc_until.min(MAX_PROGRAM_BYTES)
    };
    let mut found = TailFound::default();
    found.look(prefix, 0, tail);
    let mut pos = u64::try_from(prefix.len()).unwrap_or(u64::MAX);
    let carry = prefix.len().min(128);
    let mut window: Vec<u8> = prefix[prefix.len() - carry..].to_vec();
    let mut chunk = vec![0u8; 256 * 1024];
    while pos < until && found.go.is_none() {
        let n = reader.read(&mut chunk)?;
        if n == 0 {
            break;
        }
        let start = pos - u64::try_from(window.len()).unwrap_or(0);
        window.extend_from_slice(&chunk[..n]);
        found.look(&window, start, tail);
        pos += u64::try_from(n).unwrap_or(0);
        let keep = window.len().min(128);
        window.drain(..window.len() - keep);
    }
    let language = match found.go {
        Some(v) => Some(Language::Go(v)),
        None if tail.go_note => Some(Language::Go(None)),
        None if found.rust => Some(Language::Rust),
        None => None,
    };
    Ok((found.glibc, language))
}

/// `/rustc/` followed by a 40-digit commit hash (or a short window's worth of it).
fn is_rustc_path(after: &[u8]) -> bool {
    let hex = after
        .iter()
        .take(40)
        .take_while(|c| c.is_ascii_hexdigit())
        .count();
    hex == 40 || (hex == after.len() && hex > 0)
}

/// The Go version in a build-info blob (Go 1.18 and later keep it inline).
fn go_version(info: &[u8]) -> Option<String> {
    let flags = *info.get(15)?;
    if flags & 2 == 0 {
        return None;
    }
    let len = usize::from(*info.get(32)?);
    let raw = info.get(33..33 + len)?;
    let v = std::str::from_utf8(raw).ok()?;
    v.starts_with("go").then(|| v.to_string())
}

/// A source that can open its i-th file, so that several readers can share the work.
trait Indexed {
    fn count(&self) -> usize;
    fn visit(&mut self, i: usize, into: &mut Collected, depth: usize);
}

impl<R: Read + Seek> Indexed for zip::ZipArchive<R> {
    fn count(&self) -> usize {
        self.len()
    }

    fn visit(&mut self, i: usize, into: &mut Collected, depth: usize) {
        let error = match self.by_index(i) {
            Ok(mut entry) => {
                let is_link = entry.unix_mode().is_some_and(|m| m & 0o170000 == 0o120000);
                if entry.is_dir() || is_link {
                    return;
                }
                let Ok(name) = entry.name().map(|n| n.trim_start_matches('/').to_string()) else {
                    into.errors
                        .push((format!("entry {i}"), "a name that is not UTF-8".into()));
                    return;
                };
                let size = entry.size();
                into.take(&name, size, &mut entry, depth);
                return;
            }
            Err(e) => e.to_string(),
        };
        // Only an entry that cannot be opened needs its name looked up again.
        let label = match self.name_for_index(i) {
            Some(Ok(n)) => n.to_string(),
            _ => format!("entry {i}"),
        };
        into.errors.push((label, error));
    }
}

/// Every regular file under a directory; symlinks are never followed.
struct DirFiles {
    root: PathBuf,
    files: std::sync::Arc<Vec<String>>,
}

impl Indexed for DirFiles {
    fn count(&self) -> usize {
        self.files.len()
    }

    fn visit(&mut self, i: usize, into: &mut Collected, depth: usize) {
        let Some(rel) = self.files.get(i) else {
            return;
        };
        match std::fs::File::open(self.root.join(rel)) {
            Ok(mut f) => {
                let size = f.metadata().map(|m| m.len()).unwrap_or(0);
                into.take(rel, size, &mut f, depth);
            }
            Err(e) => into.errors.push((rel.clone(), e.to_string())),
        }
    }
}

/// Lists a directory's regular files, relative and `/`-separated, without following symlinks.
pub(crate) fn list_dir(root: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![PathBuf::new()];
    while let Some(rel) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(root.join(&rel)) else {
            continue;
        };
        for e in entries.flatten() {
            let Ok(meta) = std::fs::symlink_metadata(e.path()) else {
                continue;
            };
            let child = rel.join(e.file_name());
            if meta.is_dir() {
                stack.push(child);
            } else if meta.is_file() && out.len() < 1_000_000 {
                out.push(child.to_string_lossy().replace('\\', "/"));
            }
        }
    }
    out.sort();
    out
}

/// Runs `workers` readers over an indexed source, each taking the next file as it finishes one.
fn collect_indexed<S: Indexed + Send>(
    open: impl Fn() -> Result<S, ScanError> + Sync,
    workers: usize,
    depth: usize,
) -> Result<Collected, ScanError> {
    let first = open()?;
    let count = first.count();
    let next = AtomicUsize::new(0);
    let run = |mut src: S| {
        let mut c = Collected::default();
        loop {
            let i = next.fetch_add(1, Ordering::Relaxed);
            if i >= count {
                break;
            }
            src.visit(i, &mut c, depth);
        }
        c
    };
    let workers = workers.clamp(1, count.max(1));
    if workers == 1 {
        return Ok(run(first));
    }
    std::thread::scope(|s| {
        let mut handles = vec![s.spawn(|| run(first))];
        for _ in 1..workers {
            match open() {
                Ok(src) => handles.push(s.spawn(|| run(src))),
                Err(_) => break,
            }
        }
        let mut all = Collected::default();
        for h in handles {
            match h.join() {
                Ok(c) => all.merge(c),
                Err(_) => all
                    .errors
                    .push((String::new(), "a reader thread failed".into())),
            }
        }
        Ok(all)
    })
}

/// Reads a zip (or wheel, jar) with `workers` readers, each opened by `open`.
pub(crate) fn collect_zip<R: Read + Seek + Send>(
    open: impl Fn() -> Result<R, ScanError> + Sync,
    workers: usize,
    depth: usize,
) -> Result<Collected, ScanError> {
    collect_indexed(
        || zip::ZipArchive::new(open()?).map_err(|e| ScanError::NotAnArchive(e.to_string())),
        workers,
        depth,
    )
}

/// Reads a directory with `workers` readers.
pub(crate) fn collect_dir(root: &Path, workers: usize) -> Result<Collected, ScanError> {
    let files = std::sync::Arc::new(list_dir(root));
    collect_indexed(
        || {
            Ok(DirFiles {
                root: root.to_path_buf(),
                files: files.clone(),
            })
        },
        workers,
        0,
    )
}

/// Reads a tar stream, gzip-compressed or not (told apart by its first two bytes).
pub(crate) fn collect_tar(reader: &mut dyn Read, depth: usize) -> Result<Collected, ScanError> {
    let mut magic = [0u8; 2];
    let mut got = 0;
    while got < 2 {
        match reader.read(&mut magic[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) => return Err(ScanError::NotAnArchive(e.to_string())),
        }
    }
    let mut chained = Cursor::new(magic[..got].to_vec()).chain(reader);
    if magic == [0x1f, 0x8b] {
        let mut gz = flate2::read::GzDecoder::new(chained);
        read_tar(&mut gz, depth)
    } else {
        read_tar(&mut chained, depth)
    }
}

fn read_tar(reader: &mut dyn Read, depth: usize) -> Result<Collected, ScanError> {
    let mut archive = tar::Archive::new(reader);
    let entries = archive
        .entries()
        .map_err(|e| ScanError::NotAnArchive(e.to_string()))?;
    let mut c = Collected::default();
    let mut seen_one = false;
    for entry in entries {
        let mut entry = match entry {
            Ok(e) => e,
            Err(e) if !seen_one => return Err(ScanError::NotAnArchive(e.to_string())),
            Err(e) => {
                c.errors
                    .push((String::new(), format!("the archive ends early: {e}")));
                break;
            }
        };
        seen_one = true;
        if !entry.header().entry_type().is_file() {
            continue;
        }
        let path = match entry.path() {
            Ok(p) => p
                .to_string_lossy()
                .trim_start_matches("./")
                .trim_start_matches('/')
                .to_string(),
            Err(_) => continue,
        };
        let size = entry.size();
        c.take(&path, size, &mut entry, depth);
    }
    if !seen_one {
        return Err(ScanError::NotAnArchive("an empty or unreadable tar".into()));
    }
    Ok(c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_glibc_names_from_the_stream_when_the_dynamic_section_is_far() -> std::io::Result<()> {
        let mut elf = crate::elf::tests::elf64_needing(crate::elf::EM_X86_64, "GLIBC_2.38");
        // Move PT_DYNAMIC beyond what is kept in memory; the string table stays in the first
        // LOAD segment, as in real libraries whose .dynamic follows the code.
        let far = (3 * MAX_ELF_PREFIX) as u64;
        elf[128..136].copy_from_slice(&far.to_le_bytes());
        elf.resize(3 * MAX_ELF_PREFIX + 4096, 0);
        let Some(Binary::Elf(info, _)) = examine("lib/libfar.so", &mut elf.as_slice())? else {
            panic!("not an ELF finding");
        };
        assert_eq!(info.glibc, Some((2, 38)));
        assert_eq!(
            glibc_strings(b"\0GLIBC_2.17\0GLIBC_2.3.4\0GLIBC_PRIVATE\0", 100),
            Some((2, 17))
        );
        Ok(())
    }

    #[test]
    fn finds_go_and_rust_programs() -> std::io::Result<()> {
        let mut go = crate::elf::tests::elf64(crate::elf::EM_X86_64, Some("/lib64/ld"));
        go.extend(vec![0u8; 300_000]);
        let mut info = GO_MAGIC.to_vec();
        info.extend([8u8, 2]);
        info.resize(32, 0);
        info.push(8);
        info.extend(b"go1.22.4");
        go.extend(&info);
        go.extend(vec![0u8; 100]);
        let found = examine("bootstrap", &mut go.as_slice())?;
        assert!(
            matches!(found, Some(Binary::Elf(_, Some(Language::Go(Some(v))))) if v == "go1.22.4")
        );

        let mut rust = crate::elf::tests::elf64(crate::elf::EM_AARCH64, Some("/lib/ld"));
        rust.extend(vec![1u8; 70_000]);
        rust.extend(b"/rustc/59807616e1c4e4a1d2b1b6f1e3b0ad0e51dd7ef1/library/std/src/io.rs");
        let found = examine("bootstrap", &mut rust.as_slice())?;
        assert!(matches!(found, Some(Binary::Elf(_, Some(Language::Rust)))));
        let plain = crate::elf::tests::elf64(crate::elf::EM_AARCH64, Some("/lib/ld"));
        assert!(matches!(
            examine("bootstrap", &mut plain.as_slice())?,
            Some(Binary::Elf(_, None))
        ));
        Ok(())
    }
}
