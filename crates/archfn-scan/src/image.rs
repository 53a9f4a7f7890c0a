//! Container images: an OCI image layout (a directory, or a tar of one) or a `docker save`
//! archive. The image's own word on its platform (index and config) is judged first, then
//! each layer of the chosen manifest is scanned like any other tar.

use std::collections::HashMap;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use archfn_model::Architecture;
use serde_json::Value;

use crate::ScanError;
use crate::collect::collect_tar;
use crate::judge::{Component, Judge};
use crate::report::{Kind, Severity};

/// Where an image's files are.
pub(crate) enum ImageFiles {
    /// An OCI layout directory.
    Dir(PathBuf),
    /// A tar (OCI layout or `docker save`): each file's offset and size in it.
    Tar(PathBuf, HashMap<String, (u64, u64)>),
}

impl ImageFiles {
    /// Indexes a tar archive; `None` when it holds no image (no `manifest.json` or `index.json`).
    pub(crate) fn from_tar(path: &Path) -> Result<Option<ImageFiles>, ScanError> {
        let file = File::open(path).map_err(|e| ScanError::Io(e.to_string()))?;
        let mut archive = tar::Archive::new(file);
        let mut index = HashMap::new();
        let entries = archive
            .entries()
            .map_err(|e| ScanError::NotAnArchive(e.to_string()))?;
        for entry in entries {
            let Ok(entry) = entry else { break };
            if !entry.header().entry_type().is_file() {
                continue;
            }
            let Ok(p) = entry.path() else { continue };
            let name = p.to_string_lossy().trim_start_matches("./").to_string();
            index.insert(name, (entry.raw_file_position(), entry.size()));
        }
        let is_image = index.contains_key("manifest.json")
            || (index.contains_key("index.json") && index.contains_key("oci-layout"));
        Ok(is_image.then(|| ImageFiles::Tar(path.to_path_buf(), index)))
    }

    /// Whether a directory is an OCI image layout.
    pub(crate) fn is_layout(dir: &Path) -> bool {
        dir.join("oci-layout").is_file() && dir.join("index.json").is_file()
    }

    fn open(&self, name: &str) -> Option<Box<dyn Read + '_>> {
        match self {
            ImageFiles::Dir(root) => {
                if name.split('/').any(|s| s == "..") {
                    return None;
                }
                File::open(root.join(name))
                    .ok()
                    .map(|f| Box::new(f) as Box<dyn Read>)
            }
            ImageFiles::Tar(path, index) => {
                let (offset, size) = *index.get(name.trim_start_matches("./"))?;
                let mut f = File::open(path).ok()?;
                f.seek(SeekFrom::Start(offset)).ok()?;
                Some(Box::new(f.take(size)))
            }
        }
    }

    fn json(&self, name: &str) -> Option<Value> {
        let mut raw = Vec::new();
        self.open(name)?
            .take(16 * 1024 * 1024)
            .read_to_end(&mut raw)
            .ok()?;
        serde_json::from_slice(&raw).ok()
    }

    fn has(&self, name: &str) -> bool {
        match self {
            ImageFiles::Dir(root) => root.join(name).is_file(),
            ImageFiles::Tar(_, index) => index.contains_key(name),
        }
    }
}

/// `sha256:abcd…` → `blobs/sha256/abcd…`.
fn blob_path(digest: &str) -> Option<String> {
    let (alg, hex) = digest.split_once(':')?;
    let safe = |s: &str| !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric());
    (safe(alg) && safe(hex)).then(|| format!("blobs/{alg}/{hex}"))
}

fn platform_of(v: &Value) -> String {
    let field = |k: &str| v.get(k).and_then(Value::as_str).unwrap_or("");
    let mut p = format!("{}/{}", field("os"), field("architecture"));
    if !field("variant").is_empty() {
        p.push('/');
        p.push_str(field("variant"));
    }
    p
}

/// The chosen manifest's config and layer files, and the platforms an index offers.
struct Chosen {
    /// The chosen manifest's file, when the archive has registry manifests (OCI layouts).
    manifest: Option<String>,
    config: Option<String>,
    layers: Vec<(String, String)>,
    offered: Vec<String>,
}

fn choose(files: &ImageFiles, target: Architecture) -> Result<Chosen, ScanError> {
    let bad = |why: &str| ScanError::NotAnArchive(format!("image: {why}"));
    if files.has("index.json") {
        let mut index = files
            .json("index.json")
            .ok_or_else(|| bad("unreadable index.json"))?;
        let mut offered = Vec::new();
        // Follow nested indexes (docker's layout points at one) a few levels down.
        for _ in 0..4 {
            let manifests = index
                .get("manifests")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            let described: Vec<&Value> = manifests
                .iter()
                .filter(|m| {
                    m.get("platform")
                        .is_some_and(|p| p.get("os").and_then(Value::as_str) != Some("unknown"))
                })
                .collect();
            if !described.is_empty() {
                offered = described
                    .iter()
                    .filter_map(|m| m.get("platform").map(platform_of))
                    .collect();
            }
            let pick = described
                .iter()
                .find(|m| {
                    m.get("platform")
                        .and_then(|p| p.get("architecture"))
                        .and_then(Value::as_str)
                        == Some(target.go_arch())
                })
                .copied()
                .or_else(|| manifests.first())
                .ok_or_else(|| bad("no manifests in the index"))?;
            let digest = pick
                .get("digest")
                .and_then(Value::as_str)
                .and_then(blob_path)
                .ok_or_else(|| bad("a manifest without a digest"))?;
            let doc = files
                .json(&digest)
                .ok_or_else(|| bad("unreadable manifest"))?;
            if doc.get("manifests").is_some() {
                index = doc;
                continue;
            }
            let config = doc
                .get("config")
                .and_then(|c| c.get("digest"))
                .and_then(Value::as_str)
                .and_then(blob_path);
            let layers = doc
                .get("layers")
                .and_then(Value::as_array)
                .map(|ls| {
                    ls.iter()
                        .filter_map(|l| {
                            let d = l.get("digest").and_then(Value::as_str)?;
                            Some((blob_path(d)?, d.to_string()))
                        })
                        .collect()
                })
                .unwrap_or_default();
            return Ok(Chosen {
                manifest: Some(digest),
                config,
                layers,
                offered,
            });
        }
        return Err(bad("indexes nested too deep"));
    }
    let manifest = files
        .json("manifest.json")
        .ok_or_else(|| bad("unreadable manifest.json"))?;
    let first = manifest
        .as_array()
        .and_then(|a| a.first())
        .ok_or_else(|| bad("empty manifest.json"))?;
    let config = first
        .get("Config")
        .and_then(Value::as_str)
        .map(str::to_string);
    let layers = first
        .get("Layers")
        .and_then(Value::as_array)
        .map(|ls| {
            ls.iter()
                .filter_map(Value::as_str)
                .map(|l| (l.to_string(), l.to_string()))
                .collect()
        })
        .unwrap_or_default();
    Ok(Chosen {
        manifest: None,
        config,
        layers,
        offered: Vec::new(),
    })
}

/// A container image to read whole (for `archfn image import`): an OCI image layout, as a
/// directory or a tar, or a `docker save` archive.
pub struct ImageArchive {
    files: ImageFiles,
}

impl std::fmt::Debug for ImageArchive {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ImageArchive")
    }
}

/// What an image archive holds.
#[derive(Debug)]
pub enum ImageContents {
    /// One image: its config document (verbatim) and its layers' names in the archive, in order.
    Single {
        /// The image manifest as stored, when the archive has one (an OCI layout does; a
        /// `docker save` archive does not).
        manifest: Option<Vec<u8>>,
        /// The image config (`architecture`, `os`, `config.Entrypoint`, …), as stored.
        config: Vec<u8>,
        /// Layer files, lowest first.
        layers: Vec<String>,
    },
    /// An index offering several platforms (`linux/amd64`, `linux/arm64`, …).
    MultiPlatform(Vec<String>),
}

impl ImageArchive {
    /// Opens an OCI layout directory, or a tar holding an OCI layout or a `docker save` archive.
    pub fn open(path: &Path) -> Result<ImageArchive, ScanError> {
        let files = if path.is_dir() {
            ImageFiles::is_layout(path)
                .then(|| ImageFiles::Dir(path.to_path_buf()))
                .ok_or_else(|| {
                    ScanError::NotAnArchive("a directory without oci-layout and index.json".into())
                })?
        } else {
            ImageFiles::from_tar(path)?.ok_or_else(|| {
                ScanError::NotAnArchive(
                    "a tar without index.json (OCI layout) or manifest.json (docker save)".into(),
                )
            })?
        };
        Ok(ImageArchive { files })
    }

    /// The image's config and layers, or the platforms of a multi-platform index. With
    /// `platform`, a multi-platform index gives that platform's image instead.
    pub fn contents(&self, platform: Option<Architecture>) -> Result<ImageContents, ScanError> {
        let chosen = choose(&self.files, platform.unwrap_or(Architecture::X86_64))?;
        if chosen.offered.len() > 1 {
            let Some(wanted) = platform else {
                return Ok(ImageContents::MultiPlatform(chosen.offered));
            };
            let wanted = format!("linux/{}", wanted.go_arch());
            if !chosen.offered.contains(&wanted) {
                return Err(ScanError::NotAnArchive(format!(
                    "the image offers {}, not {wanted}",
                    chosen.offered.join(", ")
                )));
            }
        }
        let name = chosen
            .config
            .ok_or_else(|| ScanError::NotAnArchive("image: no config".into()))?;
        let config = self.read_whole(&name)?;
        let manifest = match &chosen.manifest {
            Some(m) => Some(self.read_whole(m)?),
            None => None,
        };
        Ok(ImageContents::Single {
            manifest,
            config,
            layers: chosen.layers.into_iter().map(|(file, _)| file).collect(),
        })
    }

    /// A JSON document of the archive (a config or manifest), up to 16 MB.
    fn read_whole(&self, name: &str) -> Result<Vec<u8>, ScanError> {
        let mut bytes = Vec::new();
        self.files
            .open(name)
            .ok_or_else(|| ScanError::NotAnArchive(format!("image: {name} is missing")))?
            .take(16 * 1024 * 1024)
            .read_to_end(&mut bytes)
            .map_err(|e| ScanError::Io(e.to_string()))?;
        Ok(bytes)
    }

    /// A layer's bytes as stored (a tar, gzip-compressed or not).
    pub fn layer(&self, name: &str) -> Result<Box<dyn Read + '_>, ScanError> {
        self.files
            .open(name)
            .ok_or_else(|| ScanError::NotAnArchive(format!("image: layer {name} is missing")))
    }
}

/// Scans an image: its platform, then every layer of the manifest for the target.
pub(crate) fn scan_image(files: &ImageFiles, judge: &mut Judge) -> Result<(), ScanError> {
    let target = judge.target;
    let chosen = choose(files, target)?;
    let config = chosen.config.as_deref().and_then(|c| files.json(c));
    let platform = config
        .as_ref()
        .map(platform_of)
        .unwrap_or_else(|| "unknown".into());
    let arch = config
        .as_ref()
        .and_then(|c| c.get("architecture"))
        .and_then(Value::as_str)
        .unwrap_or("");
    let offered = if chosen.offered.is_empty() {
        String::new()
    } else {
        format!(" (the index offers {})", chosen.offered.join(", "))
    };
    let path = chosen
        .config
        .clone()
        .unwrap_or_else(|| "image config".into());
    if arch == target.go_arch() {
        judge.push_image(
            path,
            Severity::Ok,
            format!("image config says {platform}{offered}"),
            platform,
            None,
        );
    } else {
        let advice = format!(
            "rebuild the image for linux/{0}: docker buildx build --platform linux/{0} (AWS base images have {1} tags, e.g. public.ecr.aws/lambda/python:3.12-{1})",
            target.go_arch(),
            target.as_str()
        );
        judge.push_image(
            path,
            Severity::Incompatible,
            format!("image built for {platform}{offered}: will not run on {target}"),
            platform,
            Some(advice),
        );
    }
    let total = chosen.layers.len();
    for (n, (file, digest)) in chosen.layers.iter().enumerate() {
        let short: String = digest
            .trim_start_matches("sha256:")
            .chars()
            .take(12)
            .collect();
        let label = format!("layer {}/{total} {short}", n + 1);
        let Some(mut reader) = files.open(file) else {
            judge.push_image(
                file.clone(),
                Severity::Warning,
                "layer missing from the image".into(),
                String::new(),
                None,
            );
            continue;
        };
        match collect_tar(&mut reader, 1) {
            Ok(c) => judge.scope(&c, &format!("{label}!/"), Some(&Component::other(&label))),
            Err(e) => judge.push_image(
                file.clone(),
                Severity::Warning,
                format!("layer not readable: {e}"),
                String::new(),
                None,
            ),
        }
    }
    Ok(())
}

impl Judge {
    fn push_image(
        &mut self,
        path: String,
        severity: Severity,
        message: String,
        architecture: String,
        advice: Option<String>,
    ) {
        self.findings.push(crate::report::Finding {
            path,
            component: None,
            kind: Kind::Image,
            architecture: (!architecture.is_empty()).then_some(architecture),
            severity,
            message,
            advice,
        });
    }
}
