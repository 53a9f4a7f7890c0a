//! The walk over an archive: metadata first (wheel RECORD and WHEEL files, npm package.json),
//! then every file's first bytes, nested archives to a bounded depth.

use std::collections::HashMap;
use std::io::{Cursor, Read};

use archfn_model::Architecture;

use crate::elf;
use crate::report::{Finding, Kind, Report, Severity};

/// Why an artifact could not be scanned.
#[derive(Debug, thiserror::Error)]
pub enum ScanError {
    /// Not a zip (or wheel, or jar).
    #[error("not a readable archive: {0}")]
    NotAnArchive(String),
}

/// How deep archives inside archives are read.
const MAX_DEPTH: usize = 3;
/// Bytes read of each file: enough for ELF headers and their program headers.
const HEAD_BYTES: u64 = 64 * 1024;
/// Largest nested archive read into memory.
const MAX_NESTED_BYTES: u64 = 128 * 1024 * 1024;
/// Largest metadata file (package.json, RECORD, WHEEL) read.
const MAX_METADATA_BYTES: u64 = 4 * 1024 * 1024;

/// Where the files of an artifact come from: a zip in memory, or (in the CLI) a directory.
pub trait Source {
    /// Every file's path, relative and `/`-separated; directories and symlinks left out.
    fn files(&mut self) -> Vec<String>;
    /// A file's size in bytes (0 when unknown).
    fn size(&mut self, path: &str) -> u64;
    /// Up to `cap` bytes from the start of a file (fewer, or none, when it cannot be read).
    fn read(&mut self, path: &str, cap: u64) -> Vec<u8>;
}

/// A zip (or wheel, or jar) held in memory.
struct ZipSource<'a> {
    zip: zip::ZipArchive<Cursor<&'a [u8]>>,
    index: HashMap<String, usize>,
}

impl<'a> ZipSource<'a> {
    fn new(bytes: &'a [u8]) -> Result<ZipSource<'a>, ScanError> {
        let mut zip = zip::ZipArchive::new(Cursor::new(bytes))
            .map_err(|e| ScanError::NotAnArchive(e.to_string()))?;
        let mut index = HashMap::new();
        for i in 0..zip.len() {
            let Ok(entry) = zip.by_index_raw(i) else {
                continue;
            };
            if entry.is_dir() {
                continue;
            }
            if let Ok(name) = entry.name() {
                index.insert(name.to_string(), i);
            }
        }
        Ok(ZipSource { zip, index })
    }
}

impl Source for ZipSource<'_> {
    fn files(&mut self) -> Vec<String> {
        let mut names: Vec<(usize, String)> =
            self.index.iter().map(|(n, i)| (*i, n.clone())).collect();
        names.sort();
        names.into_iter().map(|(_, n)| n).collect()
    }

    fn size(&mut self, path: &str) -> u64 {
        self.index
            .get(path)
            .and_then(|i| self.zip.by_index_raw(*i).ok().map(|e| e.size()))
            .unwrap_or(0)
    }

    fn read(&mut self, path: &str, cap: u64) -> Vec<u8> {
        match self.index.get(path).map(|i| self.zip.by_index(*i)) {
            Some(Ok(entry)) => read_capped(entry, cap),
            _ => Vec::new(),
        }
    }
}

/// Scans any source of files (a directory, through the CLI's own `Source`).
pub fn scan_source(src: &mut dyn Source, target: Architecture) -> Report {
    let mut walk = Walk {
        target,
        findings: Vec::new(),
        files: 0,
        natives: 0,
    };
    walk.source(src, "", 0);
    Report::new(target, walk.findings, walk.files, walk.natives)
}

/// Scans a zip-format artifact (function package, layer, wheel, jar) held in memory.
pub fn scan_zip(bytes: &[u8], target: Architecture) -> Result<Report, ScanError> {
    scan_function(&[("", bytes)], None, target)
}

/// Scans a function: its code and layers (each `(label, zip)`; paths of a labelled archive are
/// shown as `label!/path`), and its runtime (`runtime`, judged at `today`, `YYYY-MM-DD`).
pub fn scan_function(
    archives: &[(&str, &[u8])],
    runtime: Option<(&str, &str)>,
    target: Architecture,
) -> Result<Report, ScanError> {
    let mut walk = Walk {
        target,
        findings: Vec::new(),
        files: 0,
        natives: 0,
    };
    for (label, bytes) in archives {
        let prefix = if label.is_empty() {
            String::new()
        } else {
            format!("{label}!/")
        };
        walk.zip(bytes, &prefix, 0)?;
    }
    if let Some((id, today)) = runtime {
        walk.runtime(id, today);
    }
    Ok(Report::new(target, walk.findings, walk.files, walk.natives))
}

struct Walk {
    target: Architecture,
    findings: Vec<Finding>,
    files: u64,
    natives: u64,
}

/// A package a path belongs to.
#[derive(Debug, Clone)]
enum Component {
    Wheel { name: String, version: String },
    Npm { name: String, version: String },
}

impl Component {
    fn label(&self) -> String {
        match self {
            Component::Wheel { name, version } | Component::Npm { name, version } => {
                format!("{name} {version}")
            }
        }
    }
}

fn python_arch(a: Architecture) -> &'static str {
    match a {
        Architecture::X86_64 => "x86_64",
        Architecture::Arm64 => "aarch64",
    }
}

fn node_arch(a: Architecture) -> &'static str {
    match a {
        Architecture::X86_64 => "x64",
        Architecture::Arm64 => "arm64",
    }
}

fn read_capped(r: impl Read, cap: u64) -> Vec<u8> {
    let mut buf = Vec::new();
    let _ = r.take(cap).read_to_end(&mut buf);
    buf
}

/// `numpy-2.2.6.dist-info/RECORD` → ("numpy", "2.2.6").
fn dist_info_name(path: &str) -> Option<(String, String)> {
    let dir = path.split('/').find(|s| s.ends_with(".dist-info"))?;
    let stem = dir.strip_suffix(".dist-info")?;
    let (name, version) = stem.rsplit_once('-')?;
    Some((name.to_string(), version.to_string()))
}

/// The directory of the npm package a path is in: `node_modules/@scope/pkg/` or `node_modules/pkg/`.
fn npm_package_dir(path: &str) -> Option<String> {
    let idx = path.rfind("node_modules/")?;
    let rest = &path[idx + "node_modules/".len()..];
    let mut parts = rest.split('/');
    let first = parts.next()?;
    let dir = if first.starts_with('@') {
        format!("{first}/{}", parts.next()?)
    } else {
        first.to_string()
    };
    Some(format!("{}{dir}/", &path[..idx + "node_modules/".len()]))
}

impl Walk {
    /// Records a finding about `path`; `architecture` and `advice` are set on the returned value.
    fn push(
        &mut self,
        path: &str,
        component: Option<&Component>,
        kind: Kind,
        severity: Severity,
        message: String,
    ) -> &mut Finding {
        self.findings.push(Finding {
            path: path.to_string(),
            component: component.map(Component::label),
            kind,
            architecture: None,
            severity,
            message,
            advice: None,
        });
        let last = self.findings.len() - 1;
        &mut self.findings[last]
    }

    fn advice(&self, component: Option<&Component>, path: &str) -> String {
        match component {
            Some(Component::Wheel { name, version }) => format!(
                "use the {} wheel: pip download --platform manylinux2014_{} --only-binary=:all: {name}=={version}",
                python_arch(self.target),
                python_arch(self.target)
            ),
            Some(Component::Npm { name, version }) => {
                let other = node_arch(if self.target == Architecture::Arm64 {
                    Architecture::X86_64
                } else {
                    Architecture::Arm64
                });
                if name.contains(other) {
                    format!(
                        "install {} instead (npm install --os=linux --cpu={})",
                        name.replace(other, node_arch(self.target)),
                        node_arch(self.target)
                    )
                } else {
                    format!(
                        "reinstall {name}@{version} for linux-{}: npm install --os=linux --cpu={}",
                        node_arch(self.target),
                        node_arch(self.target)
                    )
                }
            }
            None if path.ends_with("bootstrap") => format!(
                "rebuild the bootstrap for {} (cargo lambda build --{}, GOARCH={}, or an {} cross compiler)",
                self.target,
                if self.target == Architecture::Arm64 {
                    "arm64"
                } else {
                    "x86-64"
                },
                if self.target == Architecture::Arm64 {
                    "arm64"
                } else {
                    "amd64"
                },
                python_arch(self.target)
            ),
            None => format!(
                "rebuild this file for {} ({})",
                self.target,
                python_arch(self.target)
            ),
        }
    }

    fn zip(&mut self, bytes: &[u8], prefix: &str, depth: usize) -> Result<(), ScanError> {
        let mut src = ZipSource::new(bytes)?;
        self.source(&mut src, prefix, depth);
        Ok(())
    }

    /// The two passes over any source of files.
    fn source(&mut self, src: &mut dyn Source, prefix: &str, depth: usize) {
        let names = src.files();
        // Pass 1: metadata that names packages.
        let mut by_path: HashMap<String, Component> = HashMap::new();
        let mut npm_dirs: Vec<(String, Component)> = Vec::new();
        for name in &names {
            let name = name.clone();
            if name.ends_with(".dist-info/RECORD") {
                let Some((dist, version)) = dist_info_name(&name) else {
                    continue;
                };
                let text =
                    String::from_utf8_lossy(&src.read(&name, MAX_METADATA_BYTES)).into_owned();
                let comp = Component::Wheel {
                    name: dist,
                    version,
                };
                for line in text.lines() {
                    if let Some(p) = line.split(',').next().filter(|p| !p.is_empty()) {
                        by_path.insert(p.to_string(), comp.clone());
                    }
                }
            } else if name.ends_with(".dist-info/WHEEL") {
                let Some((dist, version)) = dist_info_name(&name) else {
                    continue;
                };
                let text =
                    String::from_utf8_lossy(&src.read(&name, MAX_METADATA_BYTES)).into_owned();
                let comp = Component::Wheel {
                    name: dist,
                    version,
                };
                self.wheel_tags(&format!("{prefix}{name}"), &comp, &text);
            } else if name.ends_with("package.json")
                && npm_package_dir(&name).is_some_and(|d| format!("{d}package.json") == name)
            {
                let raw = src.read(&name, MAX_METADATA_BYTES);
                let Ok(doc) = serde_json::from_slice::<serde_json::Value>(&raw) else {
                    continue;
                };
                let pkg = doc
                    .get("name")
                    .and_then(|v| v.as_str())
                    .unwrap_or("?")
                    .to_string();
                let version = doc
                    .get("version")
                    .and_then(|v| v.as_str())
                    .unwrap_or("?")
                    .to_string();
                let comp = Component::Npm { name: pkg, version };
                self.npm_fields(&format!("{prefix}{name}"), &comp, &doc);
                if let Some(dir) = npm_package_dir(&name) {
                    npm_dirs.push((dir, comp));
                }
            }
        }
        npm_dirs.sort_by_key(|(d, _)| std::cmp::Reverse(d.len()));
        // Pass 2: every file.
        for name in names {
            self.files += 1;
            let full = format!("{prefix}{name}");
            let component = by_path
                .get(&name)
                .or_else(|| {
                    npm_dirs
                        .iter()
                        .find(|(d, _)| name.starts_with(d.as_str()))
                        .map(|(_, c)| c)
                })
                .cloned();
            let lower = name.to_ascii_lowercase();
            let nested = [".zip", ".whl", ".jar"].iter().any(|s| lower.ends_with(s));
            if nested {
                if depth + 1 > MAX_DEPTH {
                    self.push(
                        &full,
                        component.as_ref(),
                        Kind::NestedArchive,
                        Severity::Warning,
                        format!("archive nested deeper than {MAX_DEPTH} levels, not read"),
                    );
                    continue;
                }
                if src.size(&name) > MAX_NESTED_BYTES {
                    self.push(
                        &full,
                        component.as_ref(),
                        Kind::NestedArchive,
                        Severity::Warning,
                        "nested archive too large to read".into(),
                    );
                    continue;
                }
                let inner = src.read(&name, MAX_NESTED_BYTES);
                if self.zip(&inner, &format!("{full}!/"), depth + 1).is_err() {
                    self.push(
                        &full,
                        component.as_ref(),
                        Kind::NestedArchive,
                        Severity::Warning,
                        "not a readable archive".into(),
                    );
                }
                continue;
            }
            let head = src.read(&name, HEAD_BYTES);
            self.file(&full, component.as_ref(), &lower, &head);
        }
    }

    fn file(&mut self, path: &str, component: Option<&Component>, lower: &str, head: &[u8]) {
        if let Some(info) = elf::parse(head) {
            self.natives += 1;
            let found = info.machine_name();
            match info.architecture() {
                Some(a) if a == self.target => {
                    if info
                        .interpreter
                        .as_deref()
                        .is_some_and(|i| i.contains("musl"))
                    {
                        let f = self.push(
                            path,
                            component,
                            Kind::Elf,
                            Severity::Warning,
                            "musl-linked executable: Lambda's OS is glibc, so it needs its own loader".into(),
                        );
                        f.architecture = Some(found);
                        f.advice = Some("link it statically, or against glibc".into());
                    }
                }
                Some(_) | None => {
                    let what = if info.elf_type == 3 {
                        "shared object"
                    } else {
                        "executable"
                    };
                    let advice = self.advice(component, path);
                    let target = self.target;
                    let f = self.push(
                        path,
                        component,
                        Kind::Elf,
                        Severity::Incompatible,
                        format!("{found} ELF {what}: will not run on {target}"),
                    );
                    f.architecture = Some(found);
                    f.advice = Some(advice);
                }
            }
            return;
        }
        let macho = [
            b"\xfe\xed\xfa\xce",
            b"\xfe\xed\xfa\xcf",
            b"\xce\xfa\xed\xfe",
            b"\xcf\xfa\xed\xfe",
        ]
        .iter()
        .any(|m| head.starts_with(*m));
        let pe = head.starts_with(b"MZ")
            && (lower.ends_with(".dll") || lower.ends_with(".exe") || lower.ends_with(".node"));
        if macho || pe {
            let kind = if macho {
                "macOS (Mach-O)"
            } else {
                "Windows (PE)"
            };
            let f = self.push(
                path,
                component,
                Kind::ForeignBinary,
                Severity::Warning,
                format!("{kind} binary: never loaded on Lambda"),
            );
            f.advice = Some("remove it from the package to save space".into());
        }
    }

    fn runtime(&mut self, id: &str, today: &str) {
        let target = self.target;
        let Some(info) = archfn_model::runtime::lookup(id) else {
            self.push(
                id,
                None,
                Kind::Runtime,
                Severity::Warning,
                format!("runtime {id} is not one archfn knows"),
            );
            return;
        };
        if !info.supports(target) {
            let f = self.push(
                id,
                None,
                Kind::Runtime,
                Severity::Incompatible,
                format!("runtime {id} is not offered on {target}"),
            );
            f.advice = Some(match info.os {
                archfn_model::OsFamily::AmazonLinux1 => {
                    "move to provided.al2023 (Go, custom runtimes) or a current language runtime"
                        .into()
                }
                _ => "move to a current runtime of the same language".into(),
            });
        } else if info.deprecated(today) {
            let f = self.push(
                id,
                None,
                Kind::Runtime,
                Severity::Warning,
                format!(
                    "runtime {id} is deprecated (since {})",
                    info.deprecation.unwrap_or("?")
                ),
            );
            f.advice = Some("upgrade the runtime while migrating: creates and updates on it are or will be blocked".into());
        }
    }

    fn wheel_tags(&mut self, path: &str, comp: &Component, text: &str) {
        let platforms: Vec<&str> = text
            .lines()
            .filter_map(|l| l.strip_prefix("Tag:"))
            .filter_map(|t| t.trim().rsplit('-').next())
            .collect();
        if platforms.is_empty() {
            return;
        }
        if platforms.iter().all(|p| *p == "any") {
            let f = self.push(
                path,
                Some(comp),
                Kind::Wheel,
                Severity::Ok,
                "pure-Python wheel: runs on any architecture".into(),
            );
            f.architecture = Some("any".into());
            return;
        }
        let want = python_arch(self.target);
        if platforms.iter().any(|p| p.contains(want)) {
            return;
        }
        let found = platforms.join(", ");
        let advice = self.advice(Some(comp), path);
        let target = self.target;
        let f = self.push(
            path,
            Some(comp),
            Kind::Wheel,
            Severity::Incompatible,
            format!(
                "platform wheel built for {found}: its compiled modules will not load on {target}"
            ),
        );
        f.architecture = Some(found);
        f.advice = Some(advice);
    }

    fn npm_fields(&mut self, path: &str, comp: &Component, doc: &serde_json::Value) {
        let list = |k: &str| -> Option<Vec<String>> {
            doc.get(k)?.as_array().map(|a| {
                a.iter()
                    .filter_map(|v| v.as_str().map(str::to_string))
                    .collect()
            })
        };
        if let Some(cpu) = list("cpu") {
            let want = node_arch(self.target);
            let allowed = cpu
                .iter()
                .any(|c| c == want || (c.starts_with('!') && &c[1..] != want));
            let excluded = cpu.iter().any(|c| c.strip_prefix('!') == Some(want));
            if !allowed || excluded {
                let advice = self.advice(Some(comp), path);
                let (target, cpus) = (self.target, cpu.join(", "));
                let f = self.push(
                    path,
                    Some(comp),
                    Kind::NpmPackage,
                    Severity::Incompatible,
                    format!("npm package for cpu [{cpus}]: will not run on {target}"),
                );
                f.architecture = Some(cpus);
                f.advice = Some(advice);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;
    use crate::elf::{EM_AARCH64, EM_X86_64};

    fn elf(machine: u16) -> Vec<u8> {
        let mut b = vec![0u8; 64];
        b[..4].copy_from_slice(b"\x7fELF");
        b[4] = 2;
        b[5] = 1;
        b[16..18].copy_from_slice(&3u16.to_le_bytes());
        b[18..20].copy_from_slice(&machine.to_le_bytes());
        b
    }

    fn zip_of(entries: &[(&str, &[u8])]) -> Vec<u8> {
        let mut w = zip::ZipWriter::new(Cursor::new(Vec::new()));
        for (name, data) in entries {
            let _ = w.start_file(*name, zip::write::SimpleFileOptions::default());
            let _ = w.write_all(data);
        }
        w.finish().map(Cursor::into_inner).unwrap_or_default()
    }

    #[test]
    fn names_the_wheel_and_the_file_that_will_not_load() -> Result<(), ScanError> {
        let x86 = elf(EM_X86_64);
        let z = zip_of(&[
            (
                "numpy/core/_multiarray.cpython-311-x86_64-linux-gnu.so",
                &x86,
            ),
            (
                "numpy-2.2.6.dist-info/RECORD",
                b"numpy/core/_multiarray.cpython-311-x86_64-linux-gnu.so,sha256=x,1\n",
            ),
            (
                "numpy-2.2.6.dist-info/WHEEL",
                b"Wheel-Version: 1.0\nTag: cp311-cp311-manylinux_2_17_x86_64\n",
            ),
            (
                "six-1.16.0.dist-info/WHEEL",
                b"Tag: py2-none-any\nTag: py3-none-any\n",
            ),
            ("six.py", b"x = 1"),
        ]);
        let r = scan_zip(&z, Architecture::Arm64)?;
        assert!(!r.compatible);
        let so = r
            .findings
            .iter()
            .find(|f| f.kind == Kind::Elf)
            .ok_or_else(|| ScanError::NotAnArchive("no elf finding".into()))?;
        assert_eq!(so.component.as_deref(), Some("numpy 2.2.6"));
        assert_eq!(so.severity, Severity::Incompatible);
        assert!(so.advice.as_deref().is_some_and(|a| a.contains(
            "pip download --platform manylinux2014_aarch64 --only-binary=:all: numpy==2.2.6"
        )));
        assert!(r.findings.iter().any(|f| f.component.as_deref() == Some("six 1.16.0") && f.severity == Severity::Ok));
        assert!(scan_zip(&z, Architecture::X86_64)?.compatible);
        Ok(())
    }

    #[test]
    fn flags_npm_platform_packages_and_bootstraps() -> Result<(), ScanError> {
        let z = zip_of(&[
            (
                "node_modules/@esbuild/linux-x64/package.json",
                br#"{"name":"@esbuild/linux-x64","version":"0.25.0","os":["linux"],"cpu":["x64"]}"#,
            ),
            (
                "node_modules/@esbuild/linux-x64/bin/esbuild",
                &elf(EM_X86_64),
            ),
            ("bootstrap", &elf(EM_X86_64)),
        ]);
        let r = scan_zip(&z, Architecture::Arm64)?;
        let npm = r
            .findings
            .iter()
            .find(|f| f.kind == Kind::NpmPackage)
            .ok_or_else(|| ScanError::NotAnArchive("no npm finding".into()))?;
        assert!(
            npm.advice
                .as_deref()
                .is_some_and(|a| a.starts_with("install @esbuild/linux-arm64 instead"))
        );
        let boot = r
            .findings
            .iter()
            .find(|f| f.path == "bootstrap")
            .ok_or_else(|| ScanError::NotAnArchive("no bootstrap finding".into()))?;
        assert!(
            boot.advice
                .as_deref()
                .is_some_and(|a| a.contains("cargo lambda build --arm64"))
        );
        Ok(())
    }

    #[test]
    fn reads_nested_archives_to_a_bound() -> Result<(), ScanError> {
        let mut inner = zip_of(&[("lib/native.so", &elf(EM_AARCH64))]);
        for _ in 0..5 {
            inner = zip_of(&[("deeper.zip", &inner)]);
        }
        let r = scan_zip(&inner, Architecture::X86_64)?;
        assert!(r.findings.iter().any(|f| f.kind == Kind::NestedArchive));
        let shallow = zip_of(&[(
            "libs.jar",
            &zip_of(&[("lib/linux-aarch64/x.so", &elf(EM_AARCH64))]),
        )]);
        let r = scan_zip(&shallow, Architecture::X86_64)?;
        assert!(
            r.findings
                .iter()
                .any(|f| f.path == "libs.jar!/lib/linux-aarch64/x.so"
                    && f.severity == Severity::Incompatible)
        );
        assert!(scan_zip(b"not a zip", Architecture::Arm64).is_err());
        Ok(())
    }

    #[test]
    fn judges_the_runtime() -> Result<(), ScanError> {
        let code = zip_of(&[("main.py", b"x = 1")]);
        let r = scan_function(
            &[("", &code)],
            Some(("go1.x", "2026-11-27")),
            Architecture::Arm64,
        )?;
        assert!(!r.compatible);
        assert!(r.findings.iter().any(
            |f| f.kind == Kind::Runtime && f.message == "runtime go1.x is not offered on arm64"
        ));
        let r = scan_function(
            &[("", &code)],
            Some(("python3.9", "2026-11-27")),
            Architecture::Arm64,
        )?;
        assert!(r.compatible);
        assert!(
            r.findings
                .iter()
                .any(|f| f.kind == Kind::Runtime && f.severity == Severity::Warning)
        );
        let r = scan_function(
            &[("", &code)],
            Some(("python3.12", "2026-11-27")),
            Architecture::Arm64,
        )?;
        assert!(r.findings.is_empty());
        Ok(())
    }
}
