//! The image store as a registry (the push and pull halves of the OCI distribution API that
//! `docker push`, `skopeo copy` and `crane` use): blob uploads streamed into the blob store
//! through a `BlobWriter` per upload, checked against their digest when they end; blobs and
//! manifests read back as streams or bytes; a pushed manifest records its image exactly as
//! `archfn image import` does, under its repository and tag. The registry serves only blobs the
//! image store holds (`ImageCatalog::holds`), never other code in the blob store.
//!
//! Uploads in progress live in memory: a restart drops them, and clients start over (as they
//! did when uploads were files dropped at start).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use archfn_blob::{BlobDigest, BlobError, BlobReader, BlobWriter};
use bytes::Bytes;
use tokio::sync::OwnedMutexGuard;

use crate::image::{
    ImageError, ImageStore, OCI_MANIFEST, StoredImage, blob_key, valid_repository, valid_tag,
};

/// Bodies larger than this are refused (Lambda's image size limit).
pub const MAX_BLOB_BYTES: u64 = 10 * 1024 * 1024 * 1024;

/// An upload nobody wrote to for this long is dropped when another starts.
const UPLOAD_IDLE: Duration = Duration::from_secs(3600);

/// A registry request's failure, as the distribution API names it (`{"errors":[{"code":…}]}`).
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// `BLOB_UNKNOWN` (404).
    #[error("blob unknown to registry")]
    BlobUnknown,
    /// `BLOB_UPLOAD_UNKNOWN` (404).
    #[error("blob upload unknown to registry")]
    UploadUnknown,
    /// `DIGEST_INVALID` (400): the content does not match the digest given.
    #[error("provided digest did not match uploaded content")]
    DigestInvalid,
    /// `MANIFEST_UNKNOWN` (404).
    #[error("manifest unknown")]
    ManifestUnknown,
    /// `MANIFEST_INVALID` (400).
    #[error("manifest invalid: {0}")]
    ManifestInvalid(String),
    /// `MANIFEST_BLOB_UNKNOWN` (400): the manifest names a blob that was not pushed.
    #[error("blob unknown to registry: {0}")]
    ManifestBlobUnknown(String),
    /// `NAME_INVALID` (400).
    #[error("invalid repository name")]
    NameInvalid,
    /// Storage failed (500).
    #[error("{0}")]
    Io(String),
}

impl RegistryError {
    /// The distribution API's error code.
    pub fn code(&self) -> &'static str {
        match self {
            RegistryError::BlobUnknown => "BLOB_UNKNOWN",
            RegistryError::UploadUnknown => "BLOB_UPLOAD_UNKNOWN",
            RegistryError::DigestInvalid => "DIGEST_INVALID",
            RegistryError::ManifestUnknown => "MANIFEST_UNKNOWN",
            RegistryError::ManifestInvalid(_) => "MANIFEST_INVALID",
            RegistryError::ManifestBlobUnknown(_) => "MANIFEST_BLOB_UNKNOWN",
            RegistryError::NameInvalid => "NAME_INVALID",
            RegistryError::Io(_) => "UNKNOWN",
        }
    }
}

fn io(e: impl std::fmt::Display) -> RegistryError {
    RegistryError::Io(e.to_string())
}

impl From<ImageError> for RegistryError {
    fn from(e: ImageError) -> RegistryError {
        io(e)
    }
}

impl From<BlobError> for RegistryError {
    fn from(e: BlobError) -> RegistryError {
        io(e)
    }
}

/// Manifest lists and indexes: several platforms under one name.
const INDEX_TYPES: [&str; 2] = [
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
];

/// One upload: what was written so far, and when.
#[derive(Debug)]
struct Session {
    /// `None` once the upload ended.
    writer: Option<Box<dyn BlobWriter>>,
    touched: Instant,
}

/// Registry uploads in progress, by id.
#[derive(Debug, Default)]
pub(crate) struct Uploads {
    sessions: Mutex<HashMap<String, Arc<tokio::sync::Mutex<Session>>>>,
}

impl Uploads {
    fn sessions(
        &self,
    ) -> std::sync::MutexGuard<'_, HashMap<String, Arc<tokio::sync::Mutex<Session>>>> {
        self.sessions.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn get(&self, id: &str) -> Result<Arc<tokio::sync::Mutex<Session>>, RegistryError> {
        self.sessions()
            .get(id)
            .cloned()
            .ok_or(RegistryError::UploadUnknown)
    }
}

/// An upload being written to (`ImageStore::upload`); the upload is this request's until the
/// writer is dropped.
#[derive(Debug)]
pub struct UploadWriter {
    session: OwnedMutexGuard<Session>,
}

impl UploadWriter {
    /// Appends `chunk`; an upload past `MAX_BLOB_BYTES` is refused.
    pub async fn write(&mut self, chunk: &[u8]) -> Result<(), RegistryError> {
        let session = &mut *self.session;
        session.touched = Instant::now();
        let writer = session
            .writer
            .as_mut()
            .ok_or(RegistryError::UploadUnknown)?;
        if writer.len().saturating_add(chunk.len() as u64) > MAX_BLOB_BYTES {
            return Err(RegistryError::Io("blob over 10 GB".into()));
        }
        writer.write(chunk).await.map_err(io)
    }

    /// Bytes uploaded so far.
    pub fn size(&self) -> u64 {
        self.session.writer.as_ref().map_or(0, |w| w.len())
    }
}

impl ImageStore {
    /// Starts a blob upload; returns its id.
    pub async fn start_upload(&self) -> Result<String, RegistryError> {
        let writer = self.blobs.writer().await?;
        let id = uuid::Uuid::new_v4().simple().to_string();
        let mut sessions = self.uploads.sessions();
        // Uploads abandoned long ago go (one being written to is locked, so it stays).
        sessions.retain(|_, s| {
            s.try_lock()
                .map_or(true, |s| s.touched.elapsed() < UPLOAD_IDLE)
        });
        sessions.insert(
            id.clone(),
            Arc::new(tokio::sync::Mutex::new(Session {
                writer: Some(writer),
                touched: Instant::now(),
            })),
        );
        Ok(id)
    }

    /// The upload `id`, to append to.
    pub async fn upload(&self, id: &str) -> Result<UploadWriter, RegistryError> {
        let session = self.uploads.get(id)?.lock_owned().await;
        if session.writer.is_none() {
            return Err(RegistryError::UploadUnknown);
        }
        Ok(UploadWriter { session })
    }

    /// Bytes uploaded so far to upload `id`.
    pub async fn upload_size(&self, id: &str) -> Result<u64, RegistryError> {
        Ok(self.upload(id).await?.size())
    }

    /// Ends an upload: its content must hash to `digest` (`sha256:<hex>`); it then becomes
    /// that blob, held by the image store. Content that does not match is not kept.
    pub async fn finish_upload(&self, id: &str, digest: &str) -> Result<(), RegistryError> {
        let session = self.uploads.get(id)?;
        let key = blob_key(digest).ok_or(RegistryError::DigestInvalid)?;
        let expected = BlobDigest::from_hex(&key).ok_or(RegistryError::DigestInvalid)?;
        self.uploads.sessions().remove(id);
        let writer = session
            .lock()
            .await
            .writer
            .take()
            .ok_or(RegistryError::UploadUnknown)?;
        let _pin = crate::gc::pin(&self.pins, vec![key.clone()]).await;
        match writer.commit(Some(expected)).await {
            Ok(_) => {}
            Err(BlobError::DigestMismatch { .. }) => return Err(RegistryError::DigestInvalid),
            Err(e) => return Err(io(e)),
        }
        self.hold(&key).await?;
        Ok(())
    }

    /// A blob's size, if the image store has it.
    pub async fn blob_size(&self, digest: &str) -> Result<Option<u64>, RegistryError> {
        let Some(key) = blob_key(digest) else {
            return Ok(None);
        };
        if !self.catalog.holds(&key).await? {
            return Ok(None);
        }
        Ok(self.blobs.size(&key).await?)
    }

    /// A cross-repository mount of blob `digest`: whether the image store has it (blobs are
    /// shared by every repository, so there is nothing else to do).
    pub async fn mount(&self, digest: &str) -> Result<bool, RegistryError> {
        Ok(self.blob_size(digest).await?.is_some())
    }

    /// A blob of the image store, as a stream.
    pub async fn read_blob(&self, digest: &str) -> Result<BlobReader, RegistryError> {
        let key = blob_key(digest).ok_or(RegistryError::BlobUnknown)?;
        if !self.catalog.holds(&key).await? {
            return Err(RegistryError::BlobUnknown);
        }
        match self.blobs.open(&key).await {
            Ok(blob) => Ok(blob),
            Err(BlobError::NotFound(_) | BlobError::InvalidKey(_)) => {
                Err(RegistryError::BlobUnknown)
            }
            Err(e) => Err(io(e)),
        }
    }

    /// Stores a pushed manifest under `repository` and `reference` (a tag or its digest).
    /// An image manifest records its image (config and layers must have been pushed); an index
    /// records its platforms, which CreateFunction refuses as Lambda does. Returns the digest.
    pub async fn put_manifest(
        &self,
        repository: &str,
        reference: &str,
        body: Bytes,
        content_type: Option<&str>,
    ) -> Result<String, RegistryError> {
        if !valid_repository(repository) {
            return Err(RegistryError::NameInvalid);
        }
        let doc: serde_json::Value = serde_json::from_slice(&body)
            .map_err(|e| RegistryError::ManifestInvalid(e.to_string()))?;
        let media_type = doc
            .get("mediaType")
            .and_then(|m| m.as_str())
            .or(content_type)
            .unwrap_or(OCI_MANIFEST)
            .to_string();
        let manifest = BlobDigest::of(&body);
        let digest = format!("sha256:{manifest}");
        let tag = if reference.starts_with("sha256:") {
            if reference != digest {
                return Err(RegistryError::DigestInvalid);
            }
            None
        } else if valid_tag(reference) {
            Some(reference)
        } else {
            return Err(RegistryError::ManifestInvalid("bad tag".into()));
        };
        let is_index = INDEX_TYPES.contains(&media_type.as_str()) || doc.get("manifests").is_some();
        // What the manifest names is kept from collection until it is recorded.
        let mut named = vec![manifest.hex()];
        named.extend(
            ["config"]
                .into_iter()
                .filter_map(|k| doc.get(k)?.get("digest")?.as_str())
                .chain(
                    doc.get("layers")
                        .and_then(|l| l.as_array())
                        .into_iter()
                        .flatten()
                        .filter_map(|l| l.get("digest")?.as_str()),
                )
                .filter_map(blob_key),
        );
        let _pin = crate::gc::pin(&self.pins, named).await;
        let image = if is_index {
            let platforms = doc
                .get("manifests")
                .and_then(|m| m.as_array())
                .map(|ms| {
                    ms.iter()
                        .filter_map(|m| m.get("platform"))
                        .filter(|p| p.get("os").and_then(|o| o.as_str()) != Some("unknown"))
                        .map(|p| {
                            let f = |k: &str| p.get(k).and_then(|v| v.as_str()).unwrap_or("");
                            format!("{}/{}", f("os"), f("architecture"))
                        })
                        .collect()
                })
                .unwrap_or_default();
            StoredImage::index(manifest.hex(), platforms, digest.clone(), media_type)
        } else {
            self.image_of_manifest(&doc, digest.clone(), media_type)
                .await?
        };
        let stored = self.blobs.put(body).await?;
        self.hold(&stored.hex()).await?;
        self.catalog.record(repository, tag, &image).await?;
        Ok(digest)
    }

    /// The image an image manifest describes; its config and layers must be in the store.
    async fn image_of_manifest(
        &self,
        doc: &serde_json::Value,
        manifest: String,
        media_type: String,
    ) -> Result<StoredImage, RegistryError> {
        let invalid = |m: &str| RegistryError::ManifestInvalid(m.to_string());
        let config_digest = doc
            .get("config")
            .and_then(|c| c.get("digest"))
            .and_then(|d| d.as_str())
            .ok_or_else(|| invalid("no config"))?;
        let unknown = || RegistryError::ManifestBlobUnknown(config_digest.into());
        let config_key = blob_key(config_digest).ok_or_else(unknown)?;
        if !self.catalog.holds(&config_key).await? {
            return Err(unknown());
        }
        let raw = match self.blobs.get(&config_key).await {
            Ok(raw) => raw,
            Err(BlobError::NotFound(_)) => return Err(unknown()),
            Err(e) => return Err(io(e)),
        };
        let config: serde_json::Value =
            serde_json::from_slice(&raw).map_err(|e| invalid(&format!("config: {e}")))?;
        let mut layers = Vec::new();
        let mut size = 0;
        for layer in doc
            .get("layers")
            .and_then(|l| l.as_array())
            .ok_or_else(|| invalid("no layers"))?
        {
            let digest = layer
                .get("digest")
                .and_then(|d| d.as_str())
                .ok_or_else(|| invalid("a layer without a digest"))?;
            size += self
                .blob_size(digest)
                .await?
                .ok_or_else(|| RegistryError::ManifestBlobUnknown(digest.into()))?;
            layers.push(digest.to_string());
        }
        let id = manifest.trim_start_matches("sha256:").to_string();
        let architecture = config
            .get("architecture")
            .and_then(|a| a.as_str())
            .unwrap_or("")
            .to_string();
        Ok(StoredImage {
            id,
            architecture,
            config,
            layers,
            size,
            platforms: Vec::new(),
            manifest,
            manifest_media_type: media_type,
            config_digest: config_digest.to_string(),
        })
    }

    /// A manifest by tag or digest: its bytes, media type and digest.
    pub async fn get_manifest(
        &self,
        repository: &str,
        reference: &str,
    ) -> Result<(Bytes, String, String), RegistryError> {
        let digest = if reference.starts_with("sha256:") {
            reference.to_string()
        } else {
            if !valid_repository(repository) || !valid_tag(reference) {
                return Err(RegistryError::ManifestUnknown);
            }
            let image = self
                .catalog
                .tagged(repository, reference)
                .await
                .ok()
                .flatten()
                .ok_or(RegistryError::ManifestUnknown)?;
            image.manifest
        };
        let key = blob_key(&digest).ok_or(RegistryError::ManifestUnknown)?;
        if !self.catalog.holds(&key).await? {
            return Err(RegistryError::ManifestUnknown);
        }
        let body = self
            .blobs
            .get(&key)
            .await
            .map_err(|_| RegistryError::ManifestUnknown)?;
        let media_type = serde_json::from_slice::<serde_json::Value>(&body)
            .ok()
            .and_then(|d| {
                d.get("mediaType")
                    .and_then(|m| m.as_str())
                    .map(str::to_string)
            })
            .unwrap_or_else(|| OCI_MANIFEST.to_string());
        Ok((body, media_type, digest))
    }
}

#[cfg(test)]
mod tests {
    use sha2::{Digest, Sha256};

    use super::*;

    /// The SHA-256 of `bytes` as a registry digest (`sha256:<hex>`).
    fn sha256_digest(bytes: &[u8]) -> String {
        format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
    }

    async fn upload(
        store: &ImageStore,
        chunks: &[&[u8]],
        digest: &str,
    ) -> Result<(), RegistryError> {
        let id = store.start_upload().await?;
        for chunk in chunks {
            let mut w = store.upload(&id).await?;
            w.write(chunk).await?;
        }
        store.finish_upload(&id, digest).await
    }

    #[tokio::test]
    async fn a_chunked_upload_becomes_the_blob_its_digest_names() -> Result<(), RegistryError> {
        let dir = tempfile::tempdir().map_err(io)?;
        let store = crate::image::tests::store_in(dir.path());
        let digest = sha256_digest(b"hello world");
        let id = store.start_upload().await?;
        store.upload(&id).await?.write(b"hello ").await?;
        assert_eq!(store.upload_size(&id).await?, 6);
        store.upload(&id).await?.write(b"world").await?;
        assert_eq!(store.blob_size(&digest).await?, None, "not before it ends");
        store.finish_upload(&id, &digest).await?;
        assert_eq!(store.blob_size(&digest).await?, Some(11));
        assert!(store.mount(&digest).await?);
        let mut blob = store.read_blob(&digest).await?;
        let mut back = Vec::new();
        tokio::io::AsyncReadExt::read_to_end(&mut blob.reader, &mut back)
            .await
            .map_err(io)?;
        assert_eq!(back, b"hello world");
        assert!(matches!(
            store.upload(&id).await,
            Err(RegistryError::UploadUnknown)
        ));
        Ok(())
    }

    #[tokio::test]
    async fn an_upload_that_does_not_match_its_digest_is_not_kept() -> Result<(), RegistryError> {
        let dir = tempfile::tempdir().map_err(io)?;
        let store = crate::image::tests::store_in(dir.path());
        let claimed = format!("sha256:{}", "1".repeat(64));
        let id = store.start_upload().await?;
        store.upload(&id).await?.write(b"data").await?;
        assert!(matches!(
            store.finish_upload(&id, &claimed).await,
            Err(RegistryError::DigestInvalid)
        ));
        assert!(matches!(
            store.upload(&id).await,
            Err(RegistryError::UploadUnknown)
        ));
        assert_eq!(store.blob_size(&claimed).await?, None);
        assert_eq!(store.blob_size(&sha256_digest(b"data")).await?, None);
        assert!(store.blobs.list().await?.is_empty());
        assert!(matches!(
            store.finish_upload(&"f".repeat(32), &claimed).await,
            Err(RegistryError::UploadUnknown)
        ));
        Ok(())
    }

    #[tokio::test]
    async fn the_registry_serves_only_the_image_stores_blobs() -> Result<(), RegistryError> {
        let dir = tempfile::tempdir().map_err(io)?;
        let store = crate::image::tests::store_in(dir.path());
        // A function's zip in the same blob store.
        let zip = store.blobs.put(Bytes::from_static(b"PK zip")).await?;
        let digest = format!("sha256:{zip}");
        assert_eq!(store.blob_size(&digest).await?, None);
        assert!(matches!(
            store.read_blob(&digest).await,
            Err(RegistryError::BlobUnknown)
        ));
        assert!(!store.mount(&digest).await?);
        Ok(())
    }

    #[tokio::test]
    async fn a_pushed_manifest_records_its_image_by_tag_and_by_digest() -> Result<(), RegistryError>
    {
        let dir = tempfile::tempdir().map_err(io)?;
        let store = crate::image::tests::store_in(dir.path());
        let config = br#"{"architecture":"arm64","config":{"Entrypoint":["/e"]}}"#;
        let layer = b"layer bytes";
        upload(&store, &[config], &sha256_digest(config)).await?;
        let missing = serde_json::json!({
            "schemaVersion": 2,
            "config": { "digest": sha256_digest(config) },
            "layers": [{ "digest": sha256_digest(layer) }],
        })
        .to_string();
        assert!(matches!(
            store
                .put_manifest("team/app", "v1", missing.clone().into(), None)
                .await,
            Err(RegistryError::ManifestBlobUnknown(d)) if d == sha256_digest(layer)
        ));
        upload(&store, &[&layer[..5], &layer[5..]], &sha256_digest(layer)).await?;
        let digest = store
            .put_manifest("team/app", "v1", missing.clone().into(), None)
            .await?;
        assert_eq!(digest, sha256_digest(missing.as_bytes()));
        let image = store.resolve("team/app:v1").await?;
        assert_eq!(image.id, digest.trim_start_matches("sha256:"));
        assert_eq!(image.architecture, "arm64");
        assert_eq!(image.layers, [sha256_digest(layer)]);
        assert_eq!(image.config_digest, sha256_digest(config));
        assert_eq!(image.size, layer.len() as u64);
        let (body, media_type, got) = store.get_manifest("team/app", "v1").await?;
        assert_eq!(
            (&body[..], media_type.as_str(), got.as_str()),
            (missing.as_bytes(), OCI_MANIFEST, digest.as_str())
        );
        let (by_digest, _, _) = store.get_manifest("other", &digest).await?;
        assert_eq!(by_digest, body);
        assert!(matches!(
            store.get_manifest("team/app", "v2").await,
            Err(RegistryError::ManifestUnknown)
        ));
        assert!(matches!(
            store
                .put_manifest("Team", "v1", missing.clone().into(), None)
                .await,
            Err(RegistryError::NameInvalid)
        ));
        assert!(matches!(
            store
                .put_manifest(
                    "team/app",
                    &format!("sha256:{}", "0".repeat(64)),
                    missing.into(),
                    None
                )
                .await,
            Err(RegistryError::DigestInvalid)
        ));
        let kept = store.referenced_blobs().await?;
        for d in [&digest, &sha256_digest(config), &sha256_digest(layer)] {
            assert!(kept.contains(d.trim_start_matches("sha256:")), "{d}");
        }
        Ok(())
    }
}
