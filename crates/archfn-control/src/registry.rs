//! The image store as a registry (the push and pull halves of the OCI distribution API that
//! `docker push`, `skopeo copy` and `crane` use): blob uploads into `<root>/uploads/<id>`,
//! checked against their digest and moved among the store's blobs; a pushed manifest records
//! its image exactly as `archfn image import` does, under its repository and tag.

use std::fs::File;
use std::io::Read;
use std::path::PathBuf;

use sha2::{Digest, Sha256};

use crate::image::{
    ImageError, ImageStore, OCI_MANIFEST, StoredImage, read_record, valid_repository, valid_tag,
};

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

/// Manifest lists and indexes: several platforms under one name.
const INDEX_TYPES: [&str; 2] = [
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
];

impl ImageStore {
    fn uploads(&self) -> PathBuf {
        self.root.join("uploads")
    }

    /// Drops the uploads a previous process left unfinished (a client starts over anyway).
    pub fn clear_uploads(&self) {
        let _ = std::fs::remove_dir_all(self.uploads());
    }

    /// Starts a blob upload; returns its id.
    pub fn start_upload(&self) -> Result<String, RegistryError> {
        std::fs::create_dir_all(self.uploads()).map_err(io)?;
        let id = uuid::Uuid::new_v4().simple().to_string();
        File::create(self.uploads().join(&id)).map_err(io)?;
        Ok(id)
    }

    /// The file an upload's bytes are appended to.
    pub fn upload_file(&self, id: &str) -> Result<PathBuf, RegistryError> {
        let ok = id.len() == 32 && id.chars().all(|c| c.is_ascii_hexdigit());
        let path = self.uploads().join(id);
        (ok && path.is_file())
            .then_some(path)
            .ok_or(RegistryError::UploadUnknown)
    }

    /// Ends an upload: its content must hash to `digest`; it then becomes that blob.
    pub fn finish_upload(&self, id: &str, digest: &str) -> Result<(), RegistryError> {
        let path = self.upload_file(id)?;
        let dest = self.blob(digest).ok_or(RegistryError::DigestInvalid)?;
        let mut hasher = Sha256::new();
        let mut file = File::open(&path).map_err(io)?;
        let mut buf = vec![0u8; 1 << 16];
        loop {
            let n = file.read(&mut buf).map_err(io)?;
            if n == 0 {
                break;
            }
            hasher.update(&buf[..n]);
        }
        if format!("sha256:{}", hex::encode(hasher.finalize())) != digest {
            let _ = std::fs::remove_file(&path);
            return Err(RegistryError::DigestInvalid);
        }
        file.sync_all().map_err(io)?;
        let dir = dest.parent().ok_or(RegistryError::DigestInvalid)?;
        std::fs::create_dir_all(dir).map_err(io)?;
        std::fs::rename(&path, &dest).map_err(io)?;
        crate::image::sync_dir(dir).map_err(image_io)
    }

    /// A blob's size, if the store has it.
    pub fn blob_size(&self, digest: &str) -> Option<u64> {
        let path = self.blob(digest)?;
        std::fs::metadata(path).ok().map(|m| m.len())
    }

    /// Stores a pushed manifest under `repository` and `reference` (a tag or its digest).
    /// An image manifest records its image (config and layers must have been pushed); an index
    /// records its platforms, which CreateFunction refuses as Lambda does. Returns the digest.
    pub fn put_manifest(
        &self,
        repository: &str,
        reference: &str,
        body: &[u8],
        content_type: Option<&str>,
    ) -> Result<String, RegistryError> {
        if !valid_repository(repository) {
            return Err(RegistryError::NameInvalid);
        }
        let doc: serde_json::Value = serde_json::from_slice(body)
            .map_err(|e| RegistryError::ManifestInvalid(e.to_string()))?;
        let media_type = doc
            .get("mediaType")
            .and_then(|m| m.as_str())
            .or(content_type)
            .unwrap_or(OCI_MANIFEST)
            .to_string();
        let digest = format!("sha256:{}", hex::encode(Sha256::digest(body)));
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
        let dir = self.root.join("blobs").join("sha256");
        std::fs::create_dir_all(&dir).map_err(io)?;
        let (stored, size) = self.store_blob(body, &dir).map_err(image_io)?;
        let image = if INDEX_TYPES.contains(&media_type.as_str()) || doc.get("manifests").is_some()
        {
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
            let id = stored.trim_start_matches("sha256:").to_string();
            StoredImage::index(id, platforms, stored, media_type)
        } else {
            self.image_of_manifest(&doc, stored.clone(), size, media_type)?
        };
        self.save(repository, tag, &image).map_err(image_io)?;
        Ok(digest)
    }

    /// The image an image manifest describes, with its layout written.
    fn image_of_manifest(
        &self,
        doc: &serde_json::Value,
        manifest: String,
        manifest_size: u64,
        media_type: String,
    ) -> Result<StoredImage, RegistryError> {
        let invalid = |m: &str| RegistryError::ManifestInvalid(m.to_string());
        let config_digest = doc
            .get("config")
            .and_then(|c| c.get("digest"))
            .and_then(|d| d.as_str())
            .ok_or_else(|| invalid("no config"))?;
        let config_path = self
            .blob(config_digest)
            .filter(|p| p.is_file())
            .ok_or_else(|| RegistryError::ManifestBlobUnknown(config_digest.into()))?;
        let raw = std::fs::read(config_path).map_err(io)?;
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
                .ok_or_else(|| RegistryError::ManifestBlobUnknown(digest.into()))?;
            layers.push(digest.to_string());
        }
        let id = manifest.trim_start_matches("sha256:").to_string();
        let architecture = config
            .get("architecture")
            .and_then(|a| a.as_str())
            .unwrap_or("")
            .to_string();
        self.write_layout(&id, &manifest, manifest_size, &media_type, &architecture)
            .map_err(image_io)?;
        Ok(StoredImage {
            id,
            architecture,
            config,
            layers,
            size,
            platforms: Vec::new(),
            manifest,
            manifest_media_type: media_type,
        })
    }

    /// A manifest by tag or digest: its bytes, media type and digest.
    pub fn get_manifest(
        &self,
        repository: &str,
        reference: &str,
    ) -> Result<(Vec<u8>, String, String), RegistryError> {
        let digest = if reference.starts_with("sha256:") {
            reference.to_string()
        } else {
            if !valid_repository(repository) || !valid_tag(reference) {
                return Err(RegistryError::ManifestUnknown);
            }
            let record = self
                .root
                .join("repositories")
                .join(repository)
                .join(format!("{reference}.json"));
            let image = read_record(&record).map_err(|_| RegistryError::ManifestUnknown)?;
            image.manifest
        };
        let path = self.blob(&digest).ok_or(RegistryError::ManifestUnknown)?;
        let body = std::fs::read(path).map_err(|_| RegistryError::ManifestUnknown)?;
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

fn image_io(e: ImageError) -> RegistryError {
    RegistryError::Io(e.to_string())
}
