//! Container images: archfn's local image store, standing in for Amazon ECR.
//!
//! `archfn image import` copies an image (an OCI layout, or a `docker save` archive) into
//! `<root>/blobs/sha256/<hex>` (each layer as stored, digest checked) and records it twice:
//! `<root>/images/<id>.json` by image id, and `<root>/repositories/<repo>/<tag>.json` by name.
//! CreateFunction and UpdateFunctionCode resolve an `ImageUri` against it; preparation unpacks
//! the layers, lowest first and with their whiteouts applied, into the code root.

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use archfn_extract::layer::apply_layer_to;
pub use archfn_extract::layer::{LayerError, apply_layer};
use archfn_extract::{ExtractError, RelPath, Root};
use archfn_model::{Architecture, FunctionConfig, ImageLaunch};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// An image in the store.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StoredImage {
    /// The image digest (hex): the SHA-256 of its manifest, what registries and ECR call the
    /// image's digest (`REPO@sha256:<id>`).
    pub id: String,
    /// The platform's architecture in the image's words (`amd64`, `arm64`).
    pub architecture: String,
    /// The image config document (`config.Entrypoint`, `config.Cmd`, `config.Env`, …).
    pub config: serde_json::Value,
    /// Layer digests (`sha256:<hex>`), lowest first.
    pub layers: Vec<String>,
    /// Bytes of all layers as stored.
    pub size: u64,
    /// The platforms of a multi-platform index; empty for a single image.
    #[serde(default)]
    pub platforms: Vec<String>,
    /// The manifest (or index) this image was stored with: its digest and media type, as a
    /// registry serves it.
    #[serde(default)]
    pub manifest: String,
    /// The manifest's media type.
    #[serde(default)]
    pub manifest_media_type: String,
}

impl StoredImage {
    /// A multi-platform index, kept so that CreateFunction can refuse it as Lambda does.
    pub(crate) fn index(
        id: String,
        platforms: Vec<String>,
        manifest: String,
        manifest_media_type: String,
    ) -> StoredImage {
        StoredImage {
            id,
            architecture: String::new(),
            config: serde_json::Value::Null,
            layers: Vec::new(),
            size: 0,
            platforms,
            manifest,
            manifest_media_type,
        }
    }

    /// The function architecture the image was built for, if Lambda has it.
    pub fn function_architecture(&self) -> Option<Architecture> {
        Architecture::from_go_arch(&self.architecture)
    }

    /// A field of the image's `config` section (`Entrypoint`, `Cmd`, `WorkingDir`, `Env`).
    pub fn run_config(&self, field: &str) -> Option<&serde_json::Value> {
        self.config
            .get("config")
            .and_then(|c| c.get(field))
            .filter(|v| !v.is_null())
    }
}

/// Why an image could not be imported, found or unpacked.
#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    /// No image of that name in the store.
    #[error("no such image")]
    NotFound,
    /// The reference is not `[registry/]repository[:tag|@sha256:hex]`.
    #[error("not an image reference: {0}")]
    BadReference(String),
    /// The archive is not an image archfn reads.
    #[error("{0}")]
    Unreadable(String),
    /// Reading or writing the store failed.
    #[error("{0}")]
    Io(String),
}

fn io(e: std::io::Error) -> ImageError {
    ImageError::Io(e.to_string())
}

/// The media type of an OCI image manifest.
pub(crate) const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";

/// A parsed image reference: repository and tag (or image digest).
#[derive(Debug, PartialEq)]
pub(crate) struct Reference {
    pub(crate) repository: String,
    pub(crate) tag: Option<String>,
    pub(crate) digest: Option<String>,
}

/// A repository name: lowercase path components (`team/app`), never `.` or `..`.
pub(crate) fn valid_repository(repository: &str) -> bool {
    !repository.is_empty()
        && repository.len() <= 256
        && repository.split('/').all(|part| {
            !part.is_empty()
                && part != "."
                && part != ".."
                && part
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "._-".contains(c))
        })
}

/// A tag: up to 128 letters, digits, `.`, `_` and `-`, not starting with `.`.
pub(crate) fn valid_tag(tag: &str) -> bool {
    !tag.is_empty()
        && tag.len() <= 128
        && !tag.starts_with('.')
        && tag
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
}

/// `[registry/]repository[:tag][@sha256:hex]`. The registry (the first part when it holds a
/// `.` or `:` or is `localhost`, as Docker reads it) is dropped: every ECR host maps to this store.
pub(crate) fn parse_reference(uri: &str) -> Result<Reference, ImageError> {
    let bad = || ImageError::BadReference(uri.to_string());
    let (name, digest) = match uri.split_once('@') {
        Some((n, d)) => {
            let hex = d.strip_prefix("sha256:").ok_or_else(bad)?;
            if hex.len() != 64 || !hex.chars().all(|c| c.is_ascii_hexdigit()) {
                return Err(bad());
            }
            (n, Some(hex.to_ascii_lowercase()))
        }
        None => (uri, None),
    };
    let path = match name.split_once('/') {
        Some((host, rest)) if host.contains('.') || host.contains(':') || host == "localhost" => {
            rest
        }
        _ => name,
    };
    let (repository, tag) = match path.rsplit_once(':') {
        Some((r, t)) if !t.contains('/') => (r, Some(t.to_string())),
        _ => (path, None),
    };
    if !valid_repository(repository) || !tag.as_deref().is_none_or(valid_tag) {
        return Err(bad());
    }
    let tag = if tag.is_none() && digest.is_none() {
        Some("latest".into())
    } else {
        tag
    };
    Ok(Reference {
        repository: repository.to_string(),
        tag,
        digest,
    })
}

/// The local image store.
#[derive(Debug, Clone)]
pub struct ImageStore {
    pub(crate) root: PathBuf,
    /// Images read by id: an id names one config, so an entry never goes stale.
    by_id: Arc<Mutex<HashMap<String, Arc<StoredImage>>>>,
}

impl ImageStore {
    /// The store under `root` (created on first import).
    pub fn new(root: PathBuf) -> ImageStore {
        ImageStore {
            root,
            by_id: Arc::default(),
        }
    }

    /// The image with this id, read once and then kept.
    pub fn cached(&self, id: &str) -> Result<Arc<StoredImage>, ImageError> {
        if let Some(image) = self.by_id.lock().ok().and_then(|m| m.get(id).cloned()) {
            return Ok(image);
        }
        let image = Arc::new(self.by_id(id)?);
        if let Ok(mut m) = self.by_id.lock() {
            m.insert(id.to_string(), image.clone());
        }
        Ok(image)
    }

    /// Where a blob (`sha256:<hex>`) is kept, whether or not it is there.
    pub fn blob(&self, digest: &str) -> Option<PathBuf> {
        let hex = digest.strip_prefix("sha256:")?;
        (hex.len() == 64 && hex.chars().all(|c| c.is_ascii_hexdigit()))
            .then(|| self.root.join("blobs").join("sha256").join(hex))
    }

    /// Imports the image at `path` (an OCI layout directory or tar, or a `docker save` tar) as
    /// `reference` (`repository[:tag]`, tag `latest` by default); of a multi-platform image,
    /// the `platform` one when given. `progress` hears each layer as it is copied (`n` of
    /// `total`).
    pub fn import(
        &self,
        path: &Path,
        reference: &str,
        platform: Option<Architecture>,
        mut progress: impl FnMut(usize, usize),
    ) -> Result<StoredImage, ImageError> {
        let reference = parse_reference(reference)?;
        let Some(tag) = reference.tag.clone() else {
            return Err(ImageError::BadReference(
                "import names a tag, not a digest".into(),
            ));
        };
        let unreadable = |e: archfn_scan::ScanError| ImageError::Unreadable(e.to_string());
        let archive = archfn_scan::ImageArchive::open(path).map_err(unreadable)?;
        let image = match archive.contents(platform).map_err(unreadable)? {
            archfn_scan::ImageContents::MultiPlatform(platforms) => {
                let id = hex::encode(Sha256::digest(platforms.join(",").as_bytes()));
                StoredImage::index(id, platforms, String::new(), String::new())
            }
            archfn_scan::ImageContents::Single {
                manifest: original,
                config,
                layers,
            } => {
                let raw_config = config;
                let config: serde_json::Value = serde_json::from_slice(&raw_config)
                    .map_err(|e| ImageError::Unreadable(format!("image config: {e}")))?;
                let architecture = config
                    .get("architecture")
                    .and_then(|a| a.as_str())
                    .unwrap_or("")
                    .to_string();
                let dir = self.root.join("blobs").join("sha256");
                std::fs::create_dir_all(&dir).map_err(io)?;
                let mut digests = Vec::new();
                let mut described = Vec::new();
                let mut size = 0;
                for (n, name) in layers.iter().enumerate() {
                    progress(n + 1, layers.len());
                    let reader = archive.layer(name).map_err(unreadable)?;
                    let (digest, bytes) = self.store_blob(reader, &dir)?;
                    size += bytes;
                    described.push(serde_json::json!({
                        "mediaType": layer_media_type(&self.root, &digest),
                        "digest": digest,
                        "size": bytes,
                    }));
                    digests.push(digest);
                }
                let (config_digest, config_size) = self.store_blob(&raw_config[..], &dir)?;
                // The archive's own manifest keeps the image's digest; a `docker save` archive
                // has none, so one is written for it.
                let original = original.filter(|m| manifest_layers(m) == digests);
                let manifest = match original {
                    Some(m) => m,
                    None => serde_json::to_vec(&serde_json::json!({
                        "schemaVersion": 2,
                        "mediaType": OCI_MANIFEST,
                        "config": {
                            "mediaType": "application/vnd.oci.image.config.v1+json",
                            "digest": config_digest,
                            "size": config_size,
                        },
                        "layers": described,
                    }))
                    .map_err(|e| ImageError::Io(e.to_string()))?,
                };
                let media_type = serde_json::from_slice::<serde_json::Value>(&manifest)
                    .ok()
                    .and_then(|m| m.get("mediaType")?.as_str().map(str::to_string))
                    .unwrap_or_else(|| OCI_MANIFEST.to_string());
                let (manifest, manifest_size) = self.store_blob(&manifest[..], &dir)?;
                let id = manifest.trim_start_matches("sha256:").to_string();
                self.write_layout(&id, &manifest, manifest_size, &media_type, &architecture)?;
                StoredImage {
                    id,
                    architecture,
                    config,
                    layers: digests,
                    size,
                    platforms: Vec::new(),
                    manifest,
                    manifest_media_type: media_type,
                }
            }
        };
        self.save(&reference.repository, Some(&tag), &image)?;
        Ok(image)
    }

    /// Records an image by id and, with a tag, by `repository:tag`.
    pub(crate) fn save(
        &self,
        repository: &str,
        tag: Option<&str>,
        image: &StoredImage,
    ) -> Result<(), ImageError> {
        let record = serde_json::to_vec_pretty(image).map_err(|e| ImageError::Io(e.to_string()))?;
        write_atomically(
            &self.root.join("images").join(format!("{}.json", image.id)),
            &record,
        )?;
        if let Some(tag) = tag {
            write_atomically(
                &self
                    .root
                    .join("repositories")
                    .join(repository)
                    .join(format!("{tag}.json")),
                &record,
            )?;
        }
        Ok(())
    }

    /// An OCI image layout of one image (`<root>/layouts/<id>`), whose `blobs` is the store's
    /// own: what `archfn scan` and the readiness API read, and what OCI tools can copy from.
    pub fn layout(&self, id: &str) -> PathBuf {
        self.root.join("layouts").join(id)
    }

    pub(crate) fn write_layout(
        &self,
        id: &str,
        manifest: &str,
        manifest_size: u64,
        media_type: &str,
        architecture: &str,
    ) -> Result<(), ImageError> {
        let layout = self.layout(id);
        std::fs::create_dir_all(&layout).map_err(io)?;
        let blobs = layout.join("blobs");
        if std::fs::symlink_metadata(&blobs).is_err() {
            std::os::unix::fs::symlink("../../blobs", &blobs).map_err(io)?;
        }
        write_atomically(
            &layout.join("oci-layout"),
            br#"{"imageLayoutVersion":"1.0.0"}"#,
        )?;
        let index = serde_json::json!({
            "schemaVersion": 2,
            "manifests": [{
                "mediaType": media_type,
                "digest": manifest,
                "size": manifest_size,
                "platform": { "architecture": architecture, "os": "linux" },
            }],
        });
        write_atomically(&layout.join("index.json"), index.to_string().as_bytes())
    }

    /// Copies a layer into the blob directory under its SHA-256; returns its digest and size.
    pub(crate) fn store_blob(
        &self,
        mut reader: impl Read,
        dir: &Path,
    ) -> Result<(String, u64), ImageError> {
        let tmp = dir.join(format!(".tmp-{}", uuid::Uuid::new_v4().simple()));
        let result = (|| {
            let mut out = File::create(&tmp).map_err(io)?;
            let mut hasher = Sha256::new();
            let mut buf = vec![0u8; 1 << 16];
            let mut size = 0u64;
            loop {
                let n = reader.read(&mut buf).map_err(io)?;
                if n == 0 {
                    break;
                }
                hasher.update(&buf[..n]);
                out.write_all(&buf[..n]).map_err(io)?;
                size += n as u64;
            }
            out.sync_all().map_err(io)?;
            let hex = hex::encode(hasher.finalize());
            std::fs::rename(&tmp, dir.join(&hex)).map_err(io)?;
            sync_dir(dir)?;
            Ok((format!("sha256:{hex}"), size))
        })();
        if result.is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
        result
    }

    /// The image an `ImageUri` names.
    pub fn resolve(&self, uri: &str) -> Result<StoredImage, ImageError> {
        let reference = parse_reference(uri)?;
        let repo_dir = self.root.join("repositories").join(&reference.repository);
        let image = match &reference.tag {
            Some(tag) => read_record(&repo_dir.join(format!("{tag}.json")))?,
            None => self.by_id(reference.digest.as_deref().unwrap_or(""))?,
        };
        match &reference.digest {
            Some(d) if *d != image.id => Err(ImageError::NotFound),
            _ => Ok(image),
        }
    }

    /// Every tagged image: `(repository, tag, image)`, sorted by name.
    pub fn list(&self) -> Vec<(String, String, StoredImage)> {
        let root = self.root.join("repositories");
        let mut found = Vec::new();
        let mut dirs = vec![root.clone()];
        while let Some(dir) = dirs.pop() {
            let Ok(entries) = std::fs::read_dir(&dir) else {
                continue;
            };
            for entry in entries.flatten() {
                let path = entry.path();
                if entry.file_type().is_ok_and(|t| t.is_dir()) {
                    dirs.push(path);
                } else if let (Some(tag), Ok(repo)) = (
                    path.file_name()
                        .and_then(|n| n.to_str())
                        .and_then(|n| n.strip_suffix(".json")),
                    dir.strip_prefix(&root),
                ) && let Ok(image) = read_record(&path)
                {
                    found.push((repo.to_string_lossy().into_owned(), tag.to_string(), image));
                }
            }
        }
        found.sort_by(|a, b| (&a.0, &a.1).cmp(&(&b.0, &b.1)));
        found
    }

    /// The image with this id.
    pub fn by_id(&self, id: &str) -> Result<StoredImage, ImageError> {
        if id.len() != 64 || !id.chars().all(|c| c.is_ascii_hexdigit()) {
            return Err(ImageError::NotFound);
        }
        read_record(&self.root.join("images").join(format!("{id}.json")))
    }

    /// Unpacks an image's layers into `dest` (which must not exist), lowest first, applying
    /// whiteouts, and adds the mount points an execution environment needs.
    pub fn unpack(&self, image: &StoredImage, dest: &Path) -> Result<(), ImageError> {
        std::fs::create_dir_all(dest).map_err(io)?;
        let root = Root::open(dest).map_err(|e| ImageError::Io(e.to_string()))?;
        for digest in &image.layers {
            let path = self
                .blob(digest)
                .ok_or_else(|| ImageError::Unreadable(format!("bad layer digest {digest}")))?;
            let file = File::open(&path).map_err(|e| {
                ImageError::Unreadable(format!("layer {digest} is missing from the store: {e}"))
            })?;
            let mut reader = BufReader::new(file);
            let mut magic = [0u8; 2];
            let n = reader.read(&mut magic).map_err(io)?;
            let head = std::io::Cursor::new(magic[..n].to_vec()).chain(reader);
            if magic[..n] == [0x1f, 0x8b] {
                apply_layer_to(flate2::read::GzDecoder::new(head), &root)
            } else {
                apply_layer_to(head, &root)
            }
            .map_err(|e| ImageError::Unreadable(format!("layer {digest}: {e}")))?;
        }
        for dir in ["var/task", "var/runtime", "opt", "proc", "dev", "tmp"] {
            make_dir_inside(&root, dir)?;
        }
        Ok(())
    }
}

/// Strings of a JSON array (`["a", "b"]`); anything else is empty.
fn strings(v: Option<&serde_json::Value>) -> Option<Vec<String>> {
    v.and_then(|v| v.as_array()).map(|a| {
        a.iter()
            .filter_map(|s| s.as_str().map(str::to_string))
            .collect()
    })
}

/// How `config` (a container image function) starts from `image`: the image's ENTRYPOINT, CMD,
/// WORKDIR and ENV, each overridden by the function's `ImageConfig` where it sets one.
pub fn launch(image: &StoredImage, config: &FunctionConfig) -> ImageLaunch {
    let overrides = config.opaque.get("ImageConfig");
    let field = |k: &str| overrides.and_then(|o| o.get(k)).filter(|v| !v.is_null());
    let entrypoint = strings(field("EntryPoint"))
        .or_else(|| strings(image.run_config("Entrypoint")))
        .unwrap_or_default();
    let command = strings(field("Command"))
        .or_else(|| strings(image.run_config("Cmd")))
        .unwrap_or_default();
    let working_dir = field("WorkingDirectory")
        .or_else(|| image.run_config("WorkingDir"))
        .and_then(|v| v.as_str())
        .filter(|w| !w.is_empty())
        .unwrap_or("/")
        .to_string();
    let env = strings(image.run_config("Env"))
        .unwrap_or_default()
        .into_iter()
        .filter_map(|kv| {
            kv.split_once('=')
                .map(|(k, v)| (k.to_string(), v.to_string()))
        })
        .collect();
    ImageLaunch {
        entrypoint,
        command,
        working_dir,
        env,
        image_architecture: image.architecture.clone(),
    }
}

/// The layer digests a manifest lists.
fn manifest_layers(manifest: &[u8]) -> Vec<String> {
    serde_json::from_slice::<serde_json::Value>(manifest)
        .ok()
        .and_then(|m| {
            m.get("layers")?.as_array().map(|ls| {
                ls.iter()
                    .filter_map(|l| l.get("digest")?.as_str().map(str::to_string))
                    .collect()
            })
        })
        .unwrap_or_default()
}

/// A stored layer's OCI media type: gzip-compressed or a plain tar, by its first bytes.
pub(crate) fn layer_media_type(root: &Path, digest: &str) -> &'static str {
    let path = root
        .join("blobs")
        .join("sha256")
        .join(digest.trim_start_matches("sha256:"));
    let mut magic = [0u8; 2];
    let gzip = File::open(path)
        .and_then(|mut f| f.read_exact(&mut magic))
        .is_ok()
        && magic == [0x1f, 0x8b];
    if gzip {
        "application/vnd.oci.image.layer.v1.tar+gzip"
    } else {
        "application/vnd.oci.image.layer.v1.tar"
    }
}

pub(crate) fn read_record(path: &Path) -> Result<StoredImage, ImageError> {
    let raw = match std::fs::read(path) {
        Ok(raw) => raw,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(ImageError::NotFound),
        Err(e) => return Err(io(e)),
    };
    serde_json::from_slice(&raw).map_err(|e| ImageError::Io(format!("{}: {e}", path.display())))
}

pub(crate) fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), ImageError> {
    let dir = path
        .parent()
        .ok_or_else(|| ImageError::Io("no parent directory".into()))?;
    std::fs::create_dir_all(dir).map_err(io)?;
    let tmp = dir.join(format!(".tmp-{}", uuid::Uuid::new_v4().simple()));
    let mut file = File::create(&tmp).map_err(io)?;
    file.write_all(bytes).map_err(io)?;
    file.sync_all().map_err(io)?;
    std::fs::rename(&tmp, path).map_err(io)?;
    sync_dir(dir)
}

/// Makes a rename in `dir` durable, as the blob store does before it acknowledges.
pub(crate) fn sync_dir(dir: &Path) -> Result<(), ImageError> {
    File::open(dir).and_then(|d| d.sync_all()).map_err(io)
}

/// Creates `rel` under `root` unless a component on the way is not a directory (a symbolic
/// link, which could point out of the image): the environment then fails to start, visibly,
/// instead.
fn make_dir_inside(root: &Root, rel: &str) -> Result<(), ImageError> {
    let path = RelPath::new(rel).map_err(|e| ImageError::Io(e.to_string()))?;
    match root.create_dir_all(&path) {
        Ok(()) | Err(ExtractError::NotADirectory { .. }) => Ok(()),
        Err(e) => Err(ImageError::Io(e.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_drop_the_registry_and_default_to_latest() {
        let r = parse_reference("123456789012.dkr.ecr.us-east-1.amazonaws.com/team/app:v1")
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            (r.repository.as_str(), r.tag.as_deref()),
            ("team/app", Some("v1"))
        );
        let r = parse_reference("localhost:5000/app").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            (r.repository.as_str(), r.tag.as_deref()),
            ("app", Some("latest"))
        );
        let hex = "ab".repeat(32);
        let r = parse_reference(&format!("app@sha256:{hex}")).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!((r.tag, r.digest), (None, Some(hex)));
        for bad in ["", "App:1", "app/../x", "app:", "app@sha256:12", "a//b"] {
            assert!(parse_reference(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn whiteouts_remove_what_lower_layers_put_there() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let layer = |files: &[(&str, &[u8])]| {
            let mut b = tar::Builder::new(Vec::new());
            for (name, data) in files {
                let mut h = tar::Header::new_gnu();
                h.set_size(data.len() as u64);
                h.set_mode(0o644);
                h.set_cksum();
                b.append_data(&mut h, name, *data)
                    .unwrap_or_else(|e| panic!("{e}"));
            }
            b.into_inner().unwrap_or_else(|e| panic!("{e}"))
        };
        let lower = layer(&[
            ("a/keep", b"1"),
            ("a/gone", b"2"),
            ("b/x", b"3"),
            ("b/y", b"4"),
        ]);
        let upper = layer(&[("a/.wh.gone", b""), ("b/z", b"5"), ("b/.wh..wh..opq", b"")]);
        apply_layer(&lower[..], dir.path()).unwrap_or_else(|e| panic!("{e}"));
        apply_layer(&upper[..], dir.path()).unwrap_or_else(|e| panic!("{e}"));
        let mut b = tar::Builder::new(Vec::new());
        let mut h = tar::Header::new_gnu();
        h.set_size(1);
        h.set_mode(0o4755);
        h.set_cksum();
        b.append_data(&mut h, "a/suid", &b"x"[..])
            .unwrap_or_else(|e| panic!("{e}"));
        let suid = b.into_inner().unwrap_or_else(|e| panic!("{e}"));
        apply_layer(&suid[..], dir.path()).unwrap_or_else(|e| panic!("{e}"));
        let d = dir.path();
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(d.join("a/suid"))
            .map(|m| m.permissions().mode() & 0o7777)
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(mode, 0o755, "setuid dropped, the rest kept");
        assert!(d.join("a/keep").is_file() && !d.join("a/gone").exists());
        assert!(!d.join("b/x").exists() && !d.join("b/y").exists() && d.join("b/z").is_file());
        assert!(!d.join("a/.wh.gone").exists());
    }

    /// An entry of a hand-made layer; names and link targets are written as given, unchecked.
    enum T<'a> {
        File(&'a str, &'a [u8]),
        Dir(&'a str),
        Link(&'a str, &'a str),
        Hard(&'a str, &'a str),
    }

    fn layer_of(entries: &[T]) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        for e in entries {
            let mut h = tar::Header::new_gnu();
            let (name, kind, link, data): (&str, tar::EntryType, &str, &[u8]) = match e {
                T::File(n, d) => (n, tar::EntryType::Regular, "", d),
                T::Dir(n) => (n, tar::EntryType::Directory, "", b""),
                T::Link(n, t) => (n, tar::EntryType::Symlink, t, b""),
                T::Hard(n, t) => (n, tar::EntryType::Link, t, b""),
            };
            let gnu = h.as_gnu_mut().unwrap_or_else(|| panic!("a GNU header"));
            gnu.name[..name.len()].copy_from_slice(name.as_bytes());
            gnu.linkname[..link.len()].copy_from_slice(link.as_bytes());
            h.set_entry_type(kind);
            h.set_size(data.len() as u64);
            h.set_mode(if kind.is_dir() { 0o755 } else { 0o644 });
            h.set_mtime(1_700_000_000);
            h.set_cksum();
            b.append(&h, data).unwrap_or_else(|e| panic!("{e}"));
        }
        b.into_inner().unwrap_or_else(|e| panic!("{e}"))
    }

    /// Applies `layers` in order into a fresh root; the first error, if any.
    fn apply_all(dest: &Path, layers: &[Vec<u8>]) -> Result<(), String> {
        let root = Root::create(dest).map_err(|e| e.to_string())?;
        for layer in layers {
            apply_layer_to(&layer[..], &root).map_err(|e| e.to_string())?;
        }
        Ok(())
    }

    /// Hostile layers: each a list of layers (lowest first), and what the result must be: a
    /// refusal naming the given words, or (`None`) an extraction that stayed inside.
    /// A hostile case: its name, its layers, and the words its refusal names (`None`: the
    /// extraction stays inside).
    type Case = (&'static str, Vec<Vec<u8>>, Option<&'static str>);

    fn hostile_layers(victim: &str) -> Vec<Case> {
        let file = format!("{victim}/file");
        let up = "../../victim";
        vec![
            (
                "a whiteout through a symlink to the victim directory",
                vec![
                    layer_of(&[T::Link("l", victim)]),
                    layer_of(&[T::File("l/dir/.wh.inner", b"")]),
                ],
                Some("not a directory"),
            ),
            (
                "a whiteout directly under a symlink to the victim directory",
                vec![
                    layer_of(&[T::Link("l", victim)]),
                    layer_of(&[T::File("l/.wh.file", b"")]),
                ],
                Some("not a directory"),
            ),
            (
                "an opaque whiteout through a symlink to the victim directory",
                vec![
                    layer_of(&[T::Link("l", victim)]),
                    layer_of(&[T::File("l/dir/.wh..wh..opq", b"")]),
                ],
                Some("not a directory"),
            ),
            (
                "an opaque whiteout of a symlink to the victim directory",
                vec![
                    layer_of(&[T::Link("l", victim)]),
                    layer_of(&[T::File("l/.wh..wh..opq", b"")]),
                ],
                Some("not a directory"),
            ),
            (
                "whiteouts through a relative symlink climbing out",
                vec![
                    layer_of(&[T::Link("l", up)]),
                    layer_of(&[T::File("l/.wh.file", b""), T::File("l/dir/.wh.inner", b"")]),
                ],
                Some("not a directory"),
            ),
            (
                "both in one layer, the whiteout under a nested path",
                vec![layer_of(&[
                    T::Dir("a/"),
                    T::Link("a/l", "../../../victim"),
                    T::File("a/l/dir/.wh..wh..opq", b""),
                ])],
                Some("not a directory"),
            ),
            (
                "a whiteout of `..` (the directory holding the root)",
                vec![layer_of(&[T::File(".wh...", b"")])],
                Some("whiteout"),
            ),
            (
                "a whiteout of `..` below the top",
                vec![layer_of(&[T::Dir("a/"), T::File("a/.wh...", b"")])],
                Some("whiteout"),
            ),
            (
                "a whiteout of `.`",
                vec![layer_of(&[T::File("x", b"1"), T::File(".wh..", b"")])],
                Some("whiteout"),
            ),
            (
                "a whiteout of nothing",
                vec![layer_of(&[T::File(".wh.", b"")])],
                Some("whiteout"),
            ),
            (
                "a name climbing out",
                vec![layer_of(&[T::File("../escaped", b"x")])],
                Some("outside the image root"),
            ),
            (
                "a name climbing out from below",
                vec![layer_of(&[T::File("a/../../../victim/file", b"x")])],
                Some("outside the image root"),
            ),
            (
                "an absolute name (read beneath the root, as Docker does)",
                vec![layer_of(&[T::File(&file, b"overwritten")])],
                None,
            ),
            (
                "a file through a symlink",
                vec![layer_of(&[
                    T::Link("l", victim),
                    T::File("l/file", b"overwritten"),
                ])],
                Some("not a directory"),
            ),
            (
                "a directory and a link through a symlink",
                vec![
                    layer_of(&[T::Link("l", up)]),
                    layer_of(&[T::Dir("l/newdir/"), T::Link("l/newlink", "x")]),
                ],
                Some("not a directory"),
            ),
            (
                "a hard link to an absolute path outside",
                vec![layer_of(&[T::Hard("stolen", &file)])],
                Some("hard link"),
            ),
            (
                "a hard link climbing out",
                vec![layer_of(&[T::Hard("stolen", "../../victim/file")])],
                Some("outside the image root"),
            ),
            (
                "a hard link through a symlink",
                vec![
                    layer_of(&[T::Link("l", victim)]),
                    layer_of(&[T::Hard("stolen", "l/file")]),
                ],
                Some("hard link"),
            ),
            (
                "a hard link to a symlink",
                vec![layer_of(&[T::Link("s", &file), T::Hard("stolen", "s")])],
                Some("hard link"),
            ),
            (
                "a hard link to a directory",
                vec![layer_of(&[T::Dir("d/"), T::Hard("stolen", "d")])],
                Some("hard link"),
            ),
        ]
    }

    #[test]
    fn hostile_layers_are_refused_or_stay_inside() {
        let place = crate::testing::Place::new();
        let victim = place.victim().display().to_string();
        for (case, layers, expect) in hostile_layers(&victim) {
            let result = apply_all(&place.dest(), &layers);
            match expect {
                Some(words) => crate::testing::assert_refused(result, words, case),
                None => assert!(result.is_ok(), "{case}: {result:?}"),
            }
            place.assert_untouched(case);
            assert!(place.inside(""), "{case}: the root itself is still there");
            crate::testing::reset(&place);
        }
        // The absolute name landed inside.
        let layers = [layer_of(&[T::File(&format!("{victim}/file"), b"inside")])];
        assert!(apply_all(&place.dest(), &layers).is_ok());
        assert!(place.inside(&format!("{}/file", victim.trim_start_matches('/'))));
    }

    /// An image whose layer is refused fails to unpack with an error naming the layer.
    #[test]
    fn a_refused_layer_is_named() {
        let place = crate::testing::Place::new();
        let store = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let images = ImageStore::new(store.path().to_path_buf());
        let dir = store.path().join("blobs/sha256");
        std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{e}"));
        let mut layers = Vec::new();
        for layer in [
            layer_of(&[T::Dir("etc/"), T::File("etc/x", b"1")]),
            layer_of(&[T::File(".wh...", b"")]),
        ] {
            let (digest, _) = images
                .store_blob(&layer[..], &dir)
                .unwrap_or_else(|e| panic!("{e}"));
            layers.push(digest);
        }
        let image = StoredImage {
            id: "0".repeat(64),
            architecture: "amd64".into(),
            config: serde_json::Value::Null,
            layers: layers.clone(),
            size: 0,
            platforms: Vec::new(),
            manifest: String::new(),
            manifest_media_type: String::new(),
        };
        let err = images
            .unpack(&image, &place.dest())
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.contains(&format!("layer {}", layers[1])), "{err}");
        assert!(err.contains("whiteout"), "{err}");
        place.assert_untouched("an image with a whiteout of `..`");
    }

    #[test]
    fn layers_replace_lower_entries_and_keep_links_and_times() {
        use std::os::unix::fs::MetadataExt;
        let place = crate::testing::Place::new();
        let layers = [
            layer_of(&[
                T::Dir("usr/bin/"),
                T::File("usr/bin/tool", b"v1"),
                T::Link("bin", "/usr/bin"),
                T::Link("sbin", "usr/bin"),
                T::File("etc/conf", b"1"),
                T::Dir("opt/lower/"),
            ]),
            layer_of(&[
                T::Dir("sbin/"),
                T::File("sbin/own", b"mine"),
                T::Hard("usr/bin/twin", "usr/bin/tool"),
                T::Hard("etc/twin", "/usr/bin/tool"),
                T::File("opt", b"a file now"),
                T::Dir("etc/"),
                T::File("etc/.wh..wh..opq", b""),
                T::File("etc/new", b"2"),
            ]),
        ];
        apply_all(&place.dest(), &layers).unwrap_or_else(|e| panic!("{e}"));
        let d = place.dest();
        assert_eq!(
            std::fs::read_link(d.join("bin")).ok(),
            Some(PathBuf::from("/usr/bin")),
            "absolute links are kept as they are, never followed here"
        );
        assert!(std::fs::symlink_metadata(d.join("sbin")).is_ok_and(|m| m.is_dir()));
        assert_eq!(
            std::fs::read(d.join("sbin/own")).unwrap_or_default(),
            b"mine"
        );
        let ino = |p: &str| std::fs::metadata(d.join(p)).map(|m| m.ino()).ok();
        assert_eq!(ino("usr/bin/twin"), ino("usr/bin/tool"));
        assert_eq!(
            ino("etc/twin"),
            ino("usr/bin/tool"),
            "a hard link named from the root, made by this layer: kept by its opaque directory"
        );
        assert_eq!(
            std::fs::read(d.join("opt")).unwrap_or_default(),
            b"a file now"
        );
        assert!(!d.join("etc/conf").exists() && d.join("etc/new").is_file());
        assert_eq!(
            std::fs::metadata(d.join("etc/new")).map(|m| m.mtime()).ok(),
            Some(1_700_000_000)
        );
        place.assert_untouched("a legitimate image");
    }
}
