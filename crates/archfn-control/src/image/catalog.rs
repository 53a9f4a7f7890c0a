//! Where images are recorded: `ImageCatalog`, and `FsImageCatalog`, its file-backed
//! implementation.
//!
//! The catalog holds small documents only; an image's bytes are blobs in the `BlobStore`.
//! A file-backed catalog can be written by another process at the same time (`archfn image
//! import` beside a running server): every file is written to a temporary name, fsync'd and
//! renamed into place, so a reader sees a record whole or not at all.

use std::collections::HashSet;
use std::fmt::Debug;
use std::io::Write;
use std::path::{Path, PathBuf};

use async_trait::async_trait;

use super::{ImageError, StoredImage, io, valid_id, valid_repository, valid_tag};

/// The records of an image store: images by id and by `repository:tag`, and the blobs the image
/// store keeps.
#[async_trait]
pub trait ImageCatalog: Send + Sync + Debug {
    /// The image with id `id` (64 hex digits).
    async fn image(&self, id: &str) -> Result<Option<StoredImage>, ImageError>;
    /// The image `repository:tag` names.
    async fn tagged(&self, repository: &str, tag: &str) -> Result<Option<StoredImage>, ImageError>;
    /// Records `image` by its id and, with a tag, as `repository:tag` (which then names it,
    /// whatever it named before). Returns once the records are durable.
    async fn record(
        &self,
        repository: &str,
        tag: Option<&str>,
        image: &StoredImage,
    ) -> Result<(), ImageError>;
    /// Every tagged image: `(repository, tag, image)`, sorted by name.
    async fn tags(&self) -> Result<Vec<(String, String, StoredImage)>, ImageError>;
    /// Every image recorded by id.
    async fn images(&self) -> Result<Vec<StoredImage>, ImageError>;
    /// Holds blob `key` (hex) for the image store: a held blob is the image store's (the
    /// registry serves it) and is never collected. Holding it again is not an error.
    async fn hold(&self, key: &str) -> Result<(), ImageError>;
    /// Whether blob `key` is held.
    async fn holds(&self, key: &str) -> Result<bool, ImageError>;
    /// Every held blob.
    async fn held(&self) -> Result<HashSet<String>, ImageError>;
}

/// Images as JSON files under a directory (`<data-dir>/images`), the layout archfn has always
/// used for its records:
/// - `images/<id>.json`: an image by id;
/// - `repositories/<repository>/<tag>.json`: an image by name (a copy of its record);
/// - `held/<hex>`: an empty file per blob the image store keeps.
#[derive(Debug, Clone)]
pub struct FsImageCatalog {
    root: PathBuf,
}

impl FsImageCatalog {
    /// The catalog under `root` (created if missing).
    pub fn open(root: impl Into<PathBuf>) -> Result<FsImageCatalog, ImageError> {
        let root = root.into();
        std::fs::create_dir_all(&root).map_err(io)?;
        Ok(FsImageCatalog { root })
    }

    /// The directory the catalog is under.
    pub fn root(&self) -> &Path {
        &self.root
    }

    fn by_id(&self, id: &str) -> Result<PathBuf, ImageError> {
        if !valid_id(id) {
            return Err(ImageError::NotFound);
        }
        Ok(self.root.join("images").join(format!("{id}.json")))
    }

    fn by_tag(&self, repository: &str, tag: &str) -> Result<PathBuf, ImageError> {
        if !valid_repository(repository) || !valid_tag(tag) {
            return Err(ImageError::BadReference(format!("{repository}:{tag}")));
        }
        Ok(self
            .root
            .join("repositories")
            .join(repository)
            .join(format!("{tag}.json")))
    }

    fn held_path(&self, key: &str) -> Result<PathBuf, ImageError> {
        if archfn_blob::BlobDigest::from_hex(key).is_none() {
            return Err(ImageError::Io(format!("not a blob key: {key:?}")));
        }
        Ok(self.root.join("held").join(key))
    }
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, ImageError> + Send + 'static,
) -> Result<T, ImageError> {
    tokio::task::spawn_blocking(f).await.map_err(io)?
}

#[async_trait]
impl ImageCatalog for FsImageCatalog {
    async fn image(&self, id: &str) -> Result<Option<StoredImage>, ImageError> {
        let path = match self.by_id(id) {
            Ok(path) => path,
            Err(ImageError::NotFound) => return Ok(None),
            Err(e) => return Err(e),
        };
        blocking(move || read_record(&path)).await
    }

    async fn tagged(&self, repository: &str, tag: &str) -> Result<Option<StoredImage>, ImageError> {
        let Ok(path) = self.by_tag(repository, tag) else {
            return Ok(None);
        };
        blocking(move || read_record(&path)).await
    }

    async fn record(
        &self,
        repository: &str,
        tag: Option<&str>,
        image: &StoredImage,
    ) -> Result<(), ImageError> {
        let record = serde_json::to_vec_pretty(image).map_err(io)?;
        let by_id = self.by_id(&image.id)?;
        let by_tag = match tag {
            Some(tag) => Some(self.by_tag(repository, tag)?),
            None => None,
        };
        blocking(move || {
            write_atomically(&by_id, &record)?;
            if let Some(path) = by_tag {
                write_atomically(&path, &record)?;
            }
            Ok(())
        })
        .await
    }

    async fn tags(&self) -> Result<Vec<(String, String, StoredImage)>, ImageError> {
        let root = self.root.join("repositories");
        blocking(move || {
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
                            .and_then(|n| n.strip_suffix(".json"))
                            .filter(|t| valid_tag(t)),
                        dir.strip_prefix(&root),
                    ) && let Ok(Some(image)) = read_record(&path)
                    {
                        found.push((repo.to_string_lossy().into_owned(), tag.to_string(), image));
                    }
                }
            }
            found.sort_by(|a, b| (&a.0, &a.1).cmp(&(&b.0, &b.1)));
            Ok(found)
        })
        .await
    }

    async fn images(&self) -> Result<Vec<StoredImage>, ImageError> {
        let dir = self.root.join("images");
        blocking(move || {
            let entries = match std::fs::read_dir(&dir) {
                Ok(entries) => entries,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
                Err(e) => return Err(io(e)),
            };
            let mut found = Vec::new();
            for entry in entries {
                let path = entry.map_err(io)?.path();
                let is_record = path
                    .file_name()
                    .and_then(|n| n.to_str())
                    .and_then(|n| n.strip_suffix(".json"))
                    .is_some_and(valid_id);
                if is_record && let Some(image) = read_record(&path)? {
                    found.push(image);
                }
            }
            Ok(found)
        })
        .await
    }

    async fn hold(&self, key: &str) -> Result<(), ImageError> {
        let path = self.held_path(key)?;
        blocking(move || {
            if path.exists() {
                return Ok(());
            }
            write_atomically(&path, b"")
        })
        .await
    }

    async fn holds(&self, key: &str) -> Result<bool, ImageError> {
        let Ok(path) = self.held_path(key) else {
            return Ok(false);
        };
        Ok(tokio::fs::try_exists(&path).await.map_err(io)?)
    }

    async fn held(&self) -> Result<HashSet<String>, ImageError> {
        let dir = self.root.join("held");
        blocking(move || {
            let entries = match std::fs::read_dir(&dir) {
                Ok(entries) => entries,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(HashSet::new()),
                Err(e) => return Err(io(e)),
            };
            let mut keys = HashSet::new();
            for entry in entries {
                if let Ok(name) = entry.map_err(io)?.file_name().into_string()
                    && archfn_blob::BlobDigest::from_hex(&name).is_some()
                {
                    keys.insert(name);
                }
            }
            Ok(keys)
        })
        .await
    }
}

/// A record; `None` when there is none.
fn read_record(path: &Path) -> Result<Option<StoredImage>, ImageError> {
    let raw = match std::fs::read(path) {
        Ok(raw) => raw,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io(e)),
    };
    serde_json::from_slice(&raw)
        .map(Some)
        .map_err(|e| ImageError::Io(format!("{}: {e}", path.display())))
}

/// Writes `bytes` to `path` through a temporary file, fsync'd, renamed into place, with the
/// directory fsync'd.
fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), ImageError> {
    let dir = path
        .parent()
        .ok_or_else(|| ImageError::Io("no parent directory".into()))?;
    std::fs::create_dir_all(dir).map_err(io)?;
    let tmp = dir.join(format!(".tmp-{}", uuid::Uuid::new_v4().simple()));
    let written = (|| {
        let mut file = std::fs::File::create(&tmp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        std::fs::rename(&tmp, path)?;
        std::fs::File::open(dir)?.sync_all()
    })();
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    written.map_err(io)
}

/// Images as documents of the metadata store (settings of kinds `Image`, `ImageTag` and
/// `ImageHeld`, outside every region), for nodes that share one database: an image pushed to one
/// node is found by every other. Its blobs are in the (shared) blob store.
#[derive(Debug, Clone)]
pub struct StoreImageCatalog {
    store: std::sync::Arc<dyn archfn_store::MetadataStore>,
}

/// The region images are kept under: none (they are the account's, as one ECR registry's).
const IMAGE_REGION: &str = "";

impl StoreImageCatalog {
    /// The catalog in `store`.
    pub fn new(store: std::sync::Arc<dyn archfn_store::MetadataStore>) -> StoreImageCatalog {
        StoreImageCatalog { store }
    }

    async fn read(
        &self,
        kind: archfn_store::SettingKind,
        owner: &str,
        qualifier: &str,
    ) -> Result<Option<StoredImage>, ImageError> {
        let key = archfn_store::SettingKey::new(IMAGE_REGION, kind, owner, qualifier);
        match self.store.get_setting(&key).await.map_err(io)? {
            Some(row) => Ok(Some(row.decode().map_err(io)?)),
            None => Ok(None),
        }
    }

    async fn write(
        &self,
        kind: archfn_store::SettingKind,
        owner: &str,
        qualifier: &str,
        document: &str,
    ) -> Result<(), ImageError> {
        let key = archfn_store::SettingKey::new(IMAGE_REGION, kind, owner, qualifier);
        self.store
            .put_setting(&key, document, None, archfn_store::SettingWrite::Upsert)
            .await
            .map_err(io)?;
        Ok(())
    }
}

#[async_trait]
impl ImageCatalog for StoreImageCatalog {
    async fn image(&self, id: &str) -> Result<Option<StoredImage>, ImageError> {
        if !valid_id(id) {
            return Ok(None);
        }
        self.read(archfn_store::SettingKind::Image, id, "").await
    }

    async fn tagged(&self, repository: &str, tag: &str) -> Result<Option<StoredImage>, ImageError> {
        if !valid_repository(repository) || !valid_tag(tag) {
            return Ok(None);
        }
        self.read(archfn_store::SettingKind::ImageTag, repository, tag)
            .await
    }

    async fn record(
        &self,
        repository: &str,
        tag: Option<&str>,
        image: &StoredImage,
    ) -> Result<(), ImageError> {
        if !valid_id(&image.id) || !valid_repository(repository) {
            return Err(ImageError::BadReference(repository.to_string()));
        }
        let document = serde_json::to_string(image).map_err(io)?;
        self.write(archfn_store::SettingKind::Image, &image.id, "", &document)
            .await?;
        if let Some(tag) = tag {
            if !valid_tag(tag) {
                return Err(ImageError::BadReference(format!("{repository}:{tag}")));
            }
            self.write(
                archfn_store::SettingKind::ImageTag,
                repository,
                tag,
                &document,
            )
            .await?;
        }
        Ok(())
    }

    async fn tags(&self) -> Result<Vec<(String, String, StoredImage)>, ImageError> {
        let rows = self
            .store
            .list_settings_everywhere(archfn_store::SettingKind::ImageTag)
            .await
            .map_err(io)?;
        let mut found = Vec::with_capacity(rows.len());
        for row in rows {
            found.push((
                row.key.owner.clone(),
                row.key.qualifier.clone(),
                row.decode().map_err(io)?,
            ));
        }
        found.sort_by(|a, b| (&a.0, &a.1).cmp(&(&b.0, &b.1)));
        Ok(found)
    }

    async fn images(&self) -> Result<Vec<StoredImage>, ImageError> {
        let rows = self
            .store
            .list_settings_everywhere(archfn_store::SettingKind::Image)
            .await
            .map_err(io)?;
        rows.iter().map(|row| row.decode().map_err(io)).collect()
    }

    async fn hold(&self, key: &str) -> Result<(), ImageError> {
        if archfn_blob::BlobDigest::from_hex(key).is_none() {
            return Err(ImageError::Io(format!("not a blob key: {key:?}")));
        }
        self.write(archfn_store::SettingKind::ImageHeld, key, "", "{}")
            .await
    }

    async fn holds(&self, key: &str) -> Result<bool, ImageError> {
        let key = archfn_store::SettingKey::new(
            IMAGE_REGION,
            archfn_store::SettingKind::ImageHeld,
            key,
            "",
        );
        Ok(self.store.get_setting(&key).await.map_err(io)?.is_some())
    }

    async fn held(&self) -> Result<HashSet<String>, ImageError> {
        let rows = self
            .store
            .list_settings_everywhere(archfn_store::SettingKind::ImageHeld)
            .await
            .map_err(io)?;
        Ok(rows.into_iter().map(|row| row.key.owner).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn image(id: &str) -> StoredImage {
        StoredImage {
            id: id.to_string(),
            architecture: "amd64".into(),
            config: serde_json::json!({}),
            layers: vec![format!("sha256:{}", "1".repeat(64))],
            size: 1,
            platforms: Vec::new(),
            manifest: format!("sha256:{id}"),
            manifest_media_type: super::super::OCI_MANIFEST.into(),
            config_digest: String::new(),
        }
    }

    /// Both catalogs: files under a directory, and documents of a (SQLite) metadata store.
    async fn catalogs(dir: &tempfile::TempDir) -> Result<Vec<Box<dyn ImageCatalog>>, ImageError> {
        let store = archfn_store::SqliteStore::open(&dir.path().join("archfn.db"))
            .await
            .map_err(io)?;
        Ok(vec![
            Box::new(FsImageCatalog::open(dir.path().join("files"))?),
            Box::new(StoreImageCatalog::new(std::sync::Arc::new(store))),
        ])
    }

    #[tokio::test]
    async fn records_images_by_id_and_by_tag_and_a_tag_moves() -> Result<(), ImageError> {
        let dir = tempfile::tempdir().map_err(io)?;
        for catalog in catalogs(&dir).await? {
            records_and_moves_tags(catalog.as_ref()).await?;
        }
        Ok(())
    }

    async fn records_and_moves_tags(catalog: &dyn ImageCatalog) -> Result<(), ImageError> {
        let (a, b) = ("a".repeat(64), "b".repeat(64));
        catalog.record("team/app", Some("v1"), &image(&a)).await?;
        catalog.record("team/app", None, &image(&b)).await?;
        assert_eq!(catalog.image(&a).await?.map(|i| i.id), Some(a.clone()));
        assert_eq!(catalog.image(&b).await?.map(|i| i.id), Some(b.clone()));
        assert_eq!(
            catalog.tagged("team/app", "v1").await?.map(|i| i.id),
            Some(a.clone())
        );
        assert!(catalog.tagged("team/app", "v2").await?.is_none());
        catalog.record("team/app", Some("v1"), &image(&b)).await?;
        assert_eq!(
            catalog.tagged("team/app", "v1").await?.map(|i| i.id),
            Some(b.clone()),
            "the tag names the image recorded last"
        );
        catalog.record("other", Some("latest"), &image(&a)).await?;
        let tags: Vec<(String, String, String)> = catalog
            .tags()
            .await?
            .into_iter()
            .map(|(r, t, i)| (r, t, i.id))
            .collect();
        assert_eq!(
            tags,
            [
                ("other".to_string(), "latest".to_string(), a.clone()),
                ("team/app".to_string(), "v1".to_string(), b.clone()),
            ]
        );
        let mut ids: Vec<String> = catalog.images().await?.into_iter().map(|i| i.id).collect();
        ids.sort();
        assert_eq!(ids, [a.clone(), b]);
        // Names that would leave the catalog's directory are no names.
        assert!(
            catalog
                .record("../x", Some("v1"), &image(&a))
                .await
                .is_err()
        );
        assert!(catalog.tagged("..", "v1").await?.is_none());
        assert!(catalog.image("../../etc/passwd").await?.is_none());
        Ok(())
    }

    #[tokio::test]
    async fn holds_blobs() -> Result<(), ImageError> {
        let dir = tempfile::tempdir().map_err(io)?;
        for catalog in catalogs(&dir).await? {
            holds_blobs_in(catalog.as_ref()).await?;
        }
        Ok(())
    }

    async fn holds_blobs_in(catalog: &dyn ImageCatalog) -> Result<(), ImageError> {
        let key = "ab".repeat(32);
        assert!(!catalog.holds(&key).await?);
        catalog.hold(&key).await?;
        catalog.hold(&key).await?;
        assert!(catalog.holds(&key).await?);
        assert_eq!(catalog.held().await?, HashSet::from([key]));
        assert!(catalog.hold("../x").await.is_err());
        assert!(!catalog.holds("../x").await?);
        Ok(())
    }
}
