//! Container images: archfn's local image store, standing in for Amazon ECR.
//!
//! An image's layers, config and manifest are blobs in the `BlobStore`, the same store that holds
//! code zips (so a remote blob backend stores images too). What an image is (its id, platform,
//! config and layer digests) is recorded through an `ImageCatalog`, by id and by
//! `repository:tag`; the catalog also holds every blob the image store stored, so that garbage
//! collection never takes one.
//!
//! `archfn image import` (`import.rs`) copies an image (an OCI layout, or a `docker save`
//! archive) into the store; the registry API (`crate::registry`) is the same store behind the
//! distribution API. CreateFunction and UpdateFunctionCode resolve an `ImageUri` against it;
//! preparation unpacks the layers, lowest first and with their whiteouts applied, into the code
//! root (`unpack.rs`); readiness scans an OCI layout written from the store's blobs
//! (`layout.rs`). `legacy.rs` imports a data directory's older image store, whose blobs were
//! files of their own under `images/blobs/sha256/`.

mod catalog;
mod import;
mod layout;
mod legacy;
mod unpack;

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use archfn_blob::{BlobDigest, BlobError, BlobStore};
use archfn_model::{Architecture, FunctionConfig, ImageLaunch};
use serde::{Deserialize, Serialize};

pub use archfn_extract::layer::{LayerError, apply_layer};
pub use catalog::{FsImageCatalog, ImageCatalog, StoreImageCatalog};
pub use legacy::LegacyReport;

use crate::gc::Pins;

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
    /// The config blob's digest (`sha256:<hex>`); empty for an index, and in records written
    /// before it was recorded (the manifest names it).
    #[serde(default)]
    pub config_digest: String,
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
            config_digest: String::new(),
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

    /// The blob keys (hex) the record names: manifest, config and layers.
    fn blob_keys(&self) -> impl Iterator<Item = String> + '_ {
        [&self.manifest, &self.config_digest]
            .into_iter()
            .chain(&self.layers)
            .filter_map(|d| blob_key(d))
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
    /// The blob store failed.
    #[error(transparent)]
    Blob(#[from] BlobError),
}

fn io(e: impl std::fmt::Display) -> ImageError {
    ImageError::Io(e.to_string())
}

/// The media type of an OCI image manifest.
pub(crate) const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";

/// `sha256:<hex>` → the blob store's key (`<hex>`), for a well-formed lower-case digest only.
pub(crate) fn blob_key(digest: &str) -> Option<String> {
    let hex = digest.strip_prefix("sha256:")?;
    BlobDigest::from_hex(hex).map(|d| d.hex())
}

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

/// An image id: 64 hex digits.
pub(crate) fn valid_id(id: &str) -> bool {
    id.len() == 64 && id.chars().all(|c| c.is_ascii_hexdigit())
}

/// `[registry/]repository[:tag][@sha256:hex]`. The registry (the first part when it holds a
/// `.` or `:` or is `localhost`, as Docker reads it) is dropped: every ECR host maps to this store.
pub(crate) fn parse_reference(uri: &str) -> Result<Reference, ImageError> {
    let bad = || ImageError::BadReference(uri.to_string());
    let (name, digest) = match uri.split_once('@') {
        Some((n, d)) => {
            let hex = d.strip_prefix("sha256:").ok_or_else(bad)?;
            if !valid_id(hex) {
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

/// The local image store: blobs in the blob store, records in the catalog, registry uploads in
/// progress. Cheap to clone.
#[derive(Debug, Clone)]
pub struct ImageStore {
    pub(crate) blobs: Arc<dyn BlobStore>,
    pub(crate) catalog: Arc<dyn ImageCatalog>,
    /// Images read by id: an id names one manifest, so an entry never goes stale.
    by_id: Arc<Mutex<HashMap<String, Arc<StoredImage>>>>,
    /// Registry uploads in progress (`crate::registry`).
    pub(crate) uploads: Arc<crate::registry::Uploads>,
    /// The control plane's code pins, taken while a registry request stores or names blobs.
    pub(crate) pins: Arc<Mutex<Pins>>,
}

impl ImageStore {
    /// The store whose blobs are in `blobs` and whose records are in `catalog`.
    pub fn new(blobs: Arc<dyn BlobStore>, catalog: Arc<dyn ImageCatalog>) -> ImageStore {
        ImageStore {
            blobs,
            catalog,
            by_id: Arc::default(),
            uploads: Arc::default(),
            pins: Arc::default(),
        }
    }

    /// The same store, pinning blobs in `pins` (the control plane's).
    pub(crate) fn with_pins(mut self, pins: Arc<Mutex<Pins>>) -> ImageStore {
        self.pins = pins;
        self
    }

    /// The image with this id, read once and then kept.
    pub async fn cached(&self, id: &str) -> Result<Arc<StoredImage>, ImageError> {
        if let Some(image) = self.by_id.lock().ok().and_then(|m| m.get(id).cloned()) {
            return Ok(image);
        }
        let image = Arc::new(self.by_id(id).await?);
        if let Ok(mut m) = self.by_id.lock() {
            m.insert(id.to_string(), image.clone());
        }
        Ok(image)
    }

    /// The image an `ImageUri` names.
    pub async fn resolve(&self, uri: &str) -> Result<StoredImage, ImageError> {
        let reference = parse_reference(uri)?;
        let image = match &reference.tag {
            Some(tag) => self
                .catalog
                .tagged(&reference.repository, tag)
                .await?
                .ok_or(ImageError::NotFound)?,
            None => {
                self.by_id(reference.digest.as_deref().unwrap_or(""))
                    .await?
            }
        };
        match &reference.digest {
            Some(d) if *d != image.id => Err(ImageError::NotFound),
            _ => Ok(image),
        }
    }

    /// Every tagged image: `(repository, tag, image)`, sorted by name.
    pub async fn list(&self) -> Result<Vec<(String, String, StoredImage)>, ImageError> {
        self.catalog.tags().await
    }

    /// The image with this id.
    pub async fn by_id(&self, id: &str) -> Result<StoredImage, ImageError> {
        if !valid_id(id) {
            return Err(ImageError::NotFound);
        }
        self.catalog.image(id).await?.ok_or(ImageError::NotFound)
    }

    /// Every blob key (hex) the image store keeps: those every recorded image names (manifest,
    /// config, layers) and those the catalog holds. Garbage collection never takes them.
    pub async fn referenced_blobs(&self) -> Result<HashSet<String>, ImageError> {
        let mut keys = self.catalog.held().await?;
        for image in self.catalog.images().await? {
            keys.extend(image.blob_keys());
            if image.config_digest.is_empty()
                && let Some(config) = self.config_digest_of(&image).await
            {
                keys.extend(blob_key(&config));
            }
        }
        Ok(keys)
    }

    /// The config blob's digest: recorded, or (records written before it was) read from the
    /// manifest.
    pub(crate) async fn config_digest_of(&self, image: &StoredImage) -> Option<String> {
        if !image.config_digest.is_empty() {
            return Some(image.config_digest.clone());
        }
        let manifest = self.blobs.get(&blob_key(&image.manifest)?).await.ok()?;
        let doc: serde_json::Value = serde_json::from_slice(&manifest).ok()?;
        doc.get("config")?
            .get("digest")?
            .as_str()
            .map(str::to_string)
    }

    /// Records that the image store keeps blob `key` (hex).
    pub(crate) async fn hold(&self, key: &str) -> Result<(), ImageError> {
        self.catalog.hold(key).await
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

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A store over a blob store and a catalog in `dir`.
    pub(crate) fn store_in(dir: &std::path::Path) -> ImageStore {
        let blobs =
            archfn_blob::FsBlobStore::open(dir.join("blobs")).unwrap_or_else(|e| panic!("{e}"));
        let catalog = FsImageCatalog::open(dir.join("images")).unwrap_or_else(|e| panic!("{e}"));
        ImageStore::new(Arc::new(blobs), Arc::new(catalog))
    }

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

    #[tokio::test]
    async fn images_resolve_by_tag_and_by_digest_and_keep_their_blobs() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let store = store_in(dir.path());
        let layer = store
            .blobs
            .put(bytes::Bytes::from_static(b"layer"))
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let id = "cd".repeat(32);
        let image = StoredImage {
            id: id.clone(),
            architecture: "arm64".into(),
            config: serde_json::json!({"config": {"Cmd": ["app.handler"]}}),
            layers: vec![format!("sha256:{layer}")],
            size: 5,
            platforms: Vec::new(),
            manifest: format!("sha256:{id}"),
            manifest_media_type: OCI_MANIFEST.into(),
            config_digest: format!("sha256:{}", "ef".repeat(32)),
        };
        store
            .catalog
            .record("team/app", Some("v1"), &image)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let by_tag = store
            .resolve("123456789012.dkr.ecr.us-east-1.amazonaws.com/team/app:v1")
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(by_tag.id, id);
        assert_eq!(by_tag.function_architecture(), Some(Architecture::Arm64));
        let by_digest = store
            .resolve(&format!("team/app@sha256:{id}"))
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(by_digest.layers, image.layers);
        assert!(matches!(
            store.resolve("team/app:v2").await,
            Err(ImageError::NotFound)
        ));
        assert!(matches!(
            store
                .resolve(&format!("team/app:v1@sha256:{}", "0".repeat(64)))
                .await,
            Err(ImageError::NotFound)
        ));
        let listed = store.list().await.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(listed.len(), 1);
        assert_eq!(
            (listed[0].0.as_str(), listed[0].1.as_str()),
            ("team/app", "v1")
        );
        let kept = store
            .referenced_blobs()
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        for key in [layer.hex(), id, "ef".repeat(32)] {
            assert!(kept.contains(&key), "{key} in {kept:?}");
        }
    }
}
