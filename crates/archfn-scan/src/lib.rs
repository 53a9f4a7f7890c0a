//! Arm64 readiness: reads a built artifact (a zip, wheel, jar, tar or .tgz, a directory, an
//! OCI image layout or `docker save` archive, or a single binary) and says, file by file, what
//! will not run on the target architecture and what to do about it.
//!
//! Owns: the ELF reader, the one pass over an artifact's files (`collect`, nested archives to
//! a bounded depth, several readers at once where the format allows), the rules that turn
//! what was read into findings (`judge`), images, the table of first arm64 versions, and the
//! report. Must not: panic on any input, or hold more than a bounded part of it in memory.
#![warn(missing_docs)]

mod collect;
pub mod elf;
mod image;
mod judge;
pub mod known;
pub mod report;

use std::io::{BufReader, Read};
use std::path::Path;

use archfn_model::Architecture;

pub use image::{ImageArchive, ImageContents};
pub use report::{Finding, Kind, Report, Severity};

use crate::collect::Collected;
use crate::image::ImageFiles;
use crate::judge::{Component, GlibcLimit, Judge};

/// Why an artifact could not be scanned.
#[derive(Debug, thiserror::Error)]
pub enum ScanError {
    /// Not a format archfn reads.
    #[error("not a readable archive: {0}")]
    NotAnArchive(String),
    /// The file could not be opened or read.
    #[error("{0}")]
    Io(String),
}

/// What to judge against.
#[derive(Debug, Clone)]
pub struct ScanOptions {
    /// The architecture the code should run on.
    pub target: Architecture,
    /// The Lambda runtime (its OS sets the glibc; the runtime itself is judged too).
    pub runtime: Option<String>,
    /// Today, `YYYY-MM-DD`, for runtime deprecation.
    pub today: String,
    /// Readers working at once on a zip or a directory.
    pub workers: usize,
}

impl ScanOptions {
    /// Judge against `target`, with no runtime, on as many readers as there are cores (at most 4).
    pub fn new(target: Architecture) -> ScanOptions {
        ScanOptions {
            target,
            runtime: None,
            today: String::new(),
            workers: std::thread::available_parallelism().map_or(1, |n| n.get().min(4)),
        }
    }

    fn judge(&self) -> Judge {
        let runtime = self
            .runtime
            .as_deref()
            .and_then(|id| archfn_model::runtime::lookup(id).map(|r| (id.to_string(), r.os)));
        Judge {
            target: self.target,
            glibc: GlibcLimit { runtime },
            findings: Vec::new(),
            natives: 0,
            files: 0,
            local_builds: Default::default(),
        }
    }

    fn finish(&self, mut judge: Judge) -> Report {
        if let Some(id) = &self.runtime {
            judge.runtime(id, &self.today);
        }
        Report::new(self.target, judge.findings, judge.files, judge.natives)
    }
}

/// Scans a file or directory of any format archfn reads.
pub fn scan_path(path: &Path, opts: &ScanOptions) -> Result<Report, ScanError> {
    let mut judge = opts.judge();
    if path.is_dir() {
        if ImageFiles::is_layout(path) {
            image::scan_image(&ImageFiles::Dir(path.to_path_buf()), &mut judge)?;
        } else {
            let c = collect::collect_dir(path, opts.workers)?;
            judge.scope(&c, "", None);
        }
        return Ok(opts.finish(judge));
    }
    let io = |e: std::io::Error| ScanError::Io(e.to_string());
    let mut file = std::fs::File::open(path).map_err(io)?;
    let mut head = Vec::new();
    (&mut file).take(512).read_to_end(&mut head).map_err(io)?;
    let open = || {
        std::fs::File::open(path)
            .map(BufReader::new)
            .map_err(|e| ScanError::Io(e.to_string()))
    };
    if head.starts_with(b"PK\x03\x04") || head.starts_with(b"PK\x05\x06") {
        let c = collect::collect_zip(open, opts.workers, 0)?;
        judge.scope(&c, "", None);
    } else if head.starts_with(&[0x1f, 0x8b]) {
        let c = collect::collect_tar(&mut open()?, 0)?;
        judge.scope(&c, "", None);
    } else if head.get(257..262) == Some(b"ustar") {
        match ImageFiles::from_tar(path)? {
            Some(files) => image::scan_image(&files, &mut judge)?,
            None => {
                let c = collect::collect_tar(&mut open()?, 0)?;
                judge.scope(&c, "", None);
            }
        }
    } else if elf::is_elf(&head) || head.starts_with(b"\xcf\xfa\xed\xfe") || head.starts_with(b"MZ")
    {
        let name = path
            .file_name()
            .map_or_else(|| "file".to_string(), |n| n.to_string_lossy().into_owned());
        let size = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
        let mut c = Collected::default();
        c.take(&name, size, &mut open()?, collect::MAX_DEPTH);
        judge.scope(&c, "", None);
    } else {
        return Err(ScanError::NotAnArchive(
            "not a zip, wheel, jar, tar, .tgz, container image or native binary".into(),
        ));
    }
    Ok(opts.finish(judge))
}

/// Scans an artifact held in memory: a zip (or wheel, jar), a tar or .tgz, or a single
/// binary, told apart by its first bytes.
pub fn scan_bytes(bytes: &[u8], opts: &ScanOptions) -> Result<Report, ScanError> {
    let mut judge = opts.judge();
    let c = if bytes.starts_with(b"PK") {
        collect::collect_zip(|| Ok(std::io::Cursor::new(bytes)), opts.workers, 0)?
    } else if bytes.starts_with(&[0x1f, 0x8b]) || bytes.get(257..262) == Some(b"ustar") {
        collect::collect_tar(&mut std::io::Cursor::new(bytes), 0)?
    } else if elf::is_elf(bytes) {
        let mut c = Collected::default();
        c.take(
            "file",
            bytes.len() as u64,
            &mut std::io::Cursor::new(bytes),
            collect::MAX_DEPTH,
        );
        c
    } else {
        return Err(ScanError::NotAnArchive(
            "not a zip, tar, .tgz or ELF file".into(),
        ));
    };
    judge.scope(&c, "", None);
    Ok(opts.finish(judge))
}

/// Scans a zip-format artifact (function package, layer, wheel, jar) held in memory.
pub fn scan_zip(bytes: &[u8], target: Architecture) -> Result<Report, ScanError> {
    scan_function(&[("", bytes)], &ScanOptions::new(target))
}

/// Scans a function: its code and layers (each `(label, zip)`; paths of a labelled archive are
/// shown as `label!/path`, and the label is the component of files no metadata claims), and
/// its runtime when `opts` names one.
pub fn scan_function(archives: &[(&str, &[u8])], opts: &ScanOptions) -> Result<Report, ScanError> {
    let mut judge = opts.judge();
    for (label, bytes) in archives {
        let c = collect::collect_zip(|| Ok(std::io::Cursor::new(*bytes)), opts.workers, 0)?;
        if label.is_empty() {
            judge.scope(&c, "", None);
        } else {
            judge.scope(&c, &format!("{label}!/"), Some(&Component::other(label)));
        }
    }
    Ok(opts.finish(judge))
}
#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;
    use std::io::Cursor;

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

    fn scan_for(bytes: &[u8], target: Architecture, runtime: &str) -> Result<Report, ScanError> {
        let opts = ScanOptions {
            runtime: Some(runtime.to_string()),
            today: "2026-01-01".into(),
            ..ScanOptions::new(target)
        };
        scan_function(&[("", bytes)], &opts)
    }

    #[test]
    fn judges_extensions_against_the_runtimes_interpreter() -> Result<(), ScanError> {
        let x86 = elf(EM_X86_64);
        let z = zip_of(&[
            ("pkg/_speed.cpython-311-x86_64-linux-gnu.so", &x86),
            ("pkg/_stable.abi3.so", &x86),
            (
                "node_modules/addon/prebuilds/linux-x64/node.abi108.node",
                &x86,
            ),
            (
                "node_modules/other/prebuilds/linux-x64/node.napi.node",
                &x86,
            ),
        ]);
        let wrong = |r: &Report| -> Vec<String> {
            r.findings
                .iter()
                .filter(|f| f.severity == Severity::Incompatible)
                .map(|f| f.path.clone())
                .collect()
        };
        // Python 3.12 cannot import a CPython 3.11 module; abi3 loads.
        let r = scan_for(&z, Architecture::X86_64, "python3.12")?;
        assert_eq!(wrong(&r), ["pkg/_speed.cpython-311-x86_64-linux-gnu.so"]);
        assert!(r.findings.iter().any(|f| {
            f.advice
                .as_deref()
                .is_some_and(|a| a.contains("--python-version 3.12"))
        }));
        assert!(wrong(&scan_for(&z, Architecture::X86_64, "python3.11")?).is_empty());
        // Node.js 20 (ABI 115) cannot load an ABI 108 addon; N-API loads.
        let r = scan_for(&z, Architecture::X86_64, "nodejs20.x")?;
        assert_eq!(
            wrong(&r),
            ["node_modules/addon/prebuilds/linux-x64/node.abi108.node"]
        );
        assert!(wrong(&scan_for(&z, Architecture::X86_64, "nodejs18.x")?).is_empty());
        Ok(())
    }

    #[test]
    fn a_wheel_built_from_source_gets_no_download_advice() -> Result<(), ScanError> {
        let x86 = elf(EM_X86_64);
        let z = zip_of(&[
            ("fastlib/_core.cpython-311-x86_64-linux-gnu.so", &x86),
            (
                "fastlib-0.3.1.dist-info/RECORD",
                b"fastlib/_core.cpython-311-x86_64-linux-gnu.so,sha256=x,1\n",
            ),
            (
                "fastlib-0.3.1.dist-info/WHEEL",
                b"Wheel-Version: 1.0\nTag: cp311-cp311-linux_x86_64\n",
            ),
        ]);
        let r = scan_zip(&z, Architecture::Arm64)?;
        let advice: Vec<&str> = r
            .findings
            .iter()
            .filter_map(|f| f.advice.as_deref())
            .collect();
        assert!(!advice.is_empty());
        assert!(
            advice
                .iter()
                .all(|a| a.contains("built from source") && !a.contains("pip download")),
            "{advice:?}"
        );
        Ok(())
    }

    #[test]
    fn an_npm_package_for_another_os_never_loads() -> Result<(), ScanError> {
        let z = zip_of(&[
            (
                "node_modules/@esbuild/darwin-arm64/package.json",
                br#"{"name": "@esbuild/darwin-arm64", "version": "0.25.0", "os": ["darwin"], "cpu": ["arm64"]}"#,
            ),
            (
                "node_modules/@lone/win32-x64/package.json",
                br#"{"name": "@lone/win32-x64", "version": "1.0.0", "os": ["win32"], "cpu": ["x64"]}"#,
            ),
            (
                "node_modules/@esbuild/linux-arm64/package.json",
                br#"{"name": "@esbuild/linux-arm64", "version": "0.25.0", "os": ["linux"], "cpu": ["arm64"]}"#,
            ),
        ]);
        let r = scan_zip(&z, Architecture::Arm64)?;
        let of = |name: &str| {
            r.findings
                .iter()
                .find(|f| f.path.contains(name))
                .map(|f| f.severity)
        };
        // Its Linux counterpart is there: unused, fine.
        assert_eq!(of("darwin-arm64"), Some(Severity::Ok));
        assert_eq!(of("win32-x64"), Some(Severity::Incompatible));
        assert_eq!(of("linux-arm64"), Some(Severity::Ok));
        Ok(())
    }

    #[test]
    fn names_the_gem_whose_extension_or_platform_will_not_load() -> Result<(), ScanError> {
        let x86 = elf(EM_X86_64);
        let arm = elf(EM_AARCH64);
        let base = "vendor/bundle/ruby/3.3.0";
        let so = format!("{base}/extensions/x86_64-linux/3.3.0/json-2.6.3/json/ext/parser.so");
        let gems_so = format!("{base}/gems/json-2.6.3/lib/json/ext/parser.so");
        let nokogiri = format!("{base}/specifications/nokogiri-1.16.0-x86_64-linux.gemspec");
        let ffi_arm = format!("{base}/specifications/ffi-1.17.0-aarch64-linux-gnu.gemspec");
        let spec = b"spec".to_vec();
        let owned: Vec<(String, Vec<u8>)> = vec![
            (so, x86.clone()),
            (gems_so, x86.clone()),
            (
                format!("{base}/specifications/json-2.6.3.gemspec"),
                spec.clone(),
            ),
            (nokogiri, spec.clone()),
            (ffi_arm, spec.clone()),
            (
                format!("{base}/gems/ffi-1.17.0-aarch64-linux-gnu/lib/ffi_c.so"),
                arm,
            ),
            (
                format!("{base}/specifications/aws-sdk-core-3.1.0.gemspec"),
                spec,
            ),
        ];
        let refs: Vec<(&str, &[u8])> = owned
            .iter()
            .map(|(p, b)| (p.as_str(), b.as_slice()))
            .collect();
        let r = scan_zip(&zip_of(&refs), Architecture::Arm64)?;
        assert!(!r.compatible);
        let ext: Vec<_> = r
            .findings
            .iter()
            .filter(|f| f.kind == Kind::Elf && f.severity == Severity::Incompatible)
            .collect();
        assert_eq!(ext.len(), 2, "{:?}", r.findings);
        assert!(
            ext.iter()
                .all(|f| f.component.as_deref() == Some("json 2.6.3"))
        );
        assert!(
            ext[0]
                .advice
                .as_deref()
                .is_some_and(|a| a.contains("bundle lock --add-platform aarch64-linux"))
        );
        let platform = r
            .findings
            .iter()
            .find(|f| f.kind == Kind::Gem && f.severity == Severity::Incompatible)
            .ok_or_else(|| ScanError::NotAnArchive("no gem finding".into()))?;
        assert_eq!(platform.component.as_deref(), Some("nokogiri 1.16.0"));
        assert!(platform.advice.as_deref().is_some_and(|a| {
            a.contains("gem install nokogiri -v 1.16.0 --platform aarch64-linux")
        }));
        // ffi's aarch64-linux-gnu platform gem and its library are fine on arm64.
        assert!(
            r.findings
                .iter()
                .any(|f| f.component.as_deref() == Some("ffi 1.17.0")
                    && f.kind == Kind::Gem
                    && f.severity == Severity::Ok)
        );
        assert!(
            !r.findings
                .iter()
                .any(|f| f.component.as_deref() == Some("ffi 1.17.0")
                    && f.severity == Severity::Incompatible)
        );
        Ok(())
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
            &ScanOptions {
                runtime: Some("go1.x".into()),
                today: "2026-11-27".into(),
                ..ScanOptions::new(Architecture::Arm64)
            },
        )?;
        assert!(!r.compatible);
        assert!(r.findings.iter().any(
            |f| f.kind == Kind::Runtime && f.message == "runtime go1.x is not offered on arm64"
        ));
        let r = scan_function(
            &[("", &code)],
            &ScanOptions {
                runtime: Some("python3.9".into()),
                today: "2026-11-27".into(),
                ..ScanOptions::new(Architecture::Arm64)
            },
        )?;
        assert!(r.compatible);
        assert!(
            r.findings
                .iter()
                .any(|f| f.kind == Kind::Runtime && f.severity == Severity::Warning)
        );
        let r = scan_function(
            &[("", &code)],
            &ScanOptions {
                runtime: Some("python3.12".into()),
                today: "2026-11-27".into(),
                ..ScanOptions::new(Architecture::Arm64)
            },
        )?;
        assert!(r.findings.is_empty());
        Ok(())
    }
}
