//! The image store of older data directories, imported once.
//!
//! Before the image store kept its blobs in the `BlobStore`, they were files of their own under
//! `<data-dir>/images/blobs/sha256/<hex>`, with an OCI layout per image under `images/layouts/`
//! and uploads in progress under `images/uploads/`. Its records (`images/images/`,
//! `images/repositories/`) are what `FsImageCatalog` reads still. `ImageStore::migrate_legacy`
//! streams each old blob into the blob store (checking it against its name), holds it, records
//! the config digest in records written before it was recorded, and only then removes the old
//! directories. It is idempotent: a process killed half-way does the rest at its next start.

use std::path::Path;

use archfn_blob::{BlobDigest, BlobError};
use tokio::io::AsyncReadExt;

use super::{ImageError, ImageStore, io};

/// What `ImageStore::migrate_legacy` did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LegacyReport {
    /// Blobs moved into the blob store.
    pub blobs_moved: usize,
    /// Files that did not hash to their name, left where they were.
    pub blobs_corrupt: usize,
    /// Records given their config digest.
    pub records_updated: usize,
}

impl ImageStore {
    /// Imports the old image store under `images_dir` (`<data-dir>/images`), if there is one.
    pub async fn migrate_legacy(&self, images_dir: &Path) -> Result<LegacyReport, ImageError> {
        let mut report = LegacyReport::default();
        let old_blobs = images_dir.join("blobs").join("sha256");
        if !tokio::fs::try_exists(&old_blobs).await.map_err(io)? {
            return Ok(report);
        }
        let mut entries = tokio::fs::read_dir(&old_blobs).await.map_err(io)?;
        while let Some(entry) = entries.next_entry().await.map_err(io)? {
            let path = entry.path();
            let Ok(name) = entry.file_name().into_string() else {
                continue;
            };
            if name.starts_with(".tmp-") {
                // Half-written by a process killed mid-copy.
                let _ = tokio::fs::remove_file(&path).await;
                continue;
            }
            let Some(expected) = BlobDigest::from_hex(&name) else {
                continue;
            };
            match self.move_blob(&path, expected).await {
                Ok(()) => report.blobs_moved += 1,
                Err(ImageError::Blob(BlobError::DigestMismatch { .. })) => {
                    tracing::warn!(blob = %path.display(), "an old image blob does not match its name; left where it is");
                    report.blobs_corrupt += 1;
                }
                Err(e) => return Err(e),
            }
        }
        report.records_updated = self.record_config_digests().await?;
        for image in self.catalog.images().await? {
            for key in image.blob_keys() {
                if self.blobs.size(&key).await?.is_some() {
                    self.hold(&key).await?;
                }
            }
        }
        if report.blobs_corrupt == 0 {
            for dir in ["blobs", "layouts", "uploads"] {
                match tokio::fs::remove_dir_all(images_dir.join(dir)).await {
                    Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(io(e)),
                    _ => {}
                }
            }
        } else {
            for dir in ["layouts", "uploads"] {
                let _ = tokio::fs::remove_dir_all(images_dir.join(dir)).await;
            }
        }
        tracing::info!(?report, "imported the old image store into the blob store");
        Ok(report)
    }

    /// Streams the old blob at `path` into the blob store, holds it, then removes the file.
    async fn move_blob(&self, path: &Path, expected: BlobDigest) -> Result<(), ImageError> {
        let mut file = tokio::fs::File::open(path).await.map_err(io)?;
        let mut writer = self.blobs.writer().await?;
        let mut buf = vec![0u8; 1 << 18];
        loop {
            let n = file.read(&mut buf).await.map_err(io)?;
            if n == 0 {
                break;
            }
            writer.write(&buf[..n]).await?;
        }
        writer.commit(Some(expected)).await?;
        self.hold(&expected.hex()).await?;
        match tokio::fs::remove_file(path).await {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(io(e)),
            _ => Ok(()),
        }
    }

    /// Records the config digest in every record that lacks it (read from its manifest);
    /// returns how many records were written.
    async fn record_config_digests(&self) -> Result<usize, ImageError> {
        let mut updated = 0;
        for (repository, tag, mut image) in self.catalog.tags().await? {
            if image.config_digest.is_empty()
                && let Some(config) = self.config_digest_of(&image).await
            {
                image.config_digest = config;
                self.catalog.record(&repository, Some(&tag), &image).await?;
                updated += 1;
            }
        }
        for mut image in self.catalog.images().await? {
            if image.config_digest.is_empty()
                && let Some(config) = self.config_digest_of(&image).await
            {
                image.config_digest = config;
                self.catalog.record("", None, &image).await?;
                updated += 1;
            }
        }
        Ok(updated)
    }
}

#[cfg(test)]
mod tests {
    use sha2::{Digest, Sha256};

    use super::*;
    use crate::image::OCI_MANIFEST;

    fn sha(bytes: &[u8]) -> String {
        hex::encode(Sha256::digest(bytes))
    }

    /// A data directory as the previous image store left it: blobs as files of their own, a
    /// record without a config digest (by id and by tag), a layout and an upload.
    fn old_data_dir(data: &Path) -> (String, Vec<(String, Vec<u8>)>) {
        let images = data.join("images");
        let layer = b"a layer".to_vec();
        let config = br#"{"architecture":"arm64","config":{"Cmd":["app.handler"]}}"#.to_vec();
        let manifest = serde_json::json!({
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": { "digest": format!("sha256:{}", sha(&config)) },
            "layers": [{ "digest": format!("sha256:{}", sha(&layer)) }],
        })
        .to_string()
        .into_bytes();
        let blobs = images.join("blobs/sha256");
        std::fs::create_dir_all(&blobs).unwrap_or_else(|e| panic!("{e}"));
        let all = vec![
            (sha(&layer), layer.clone()),
            (sha(&config), config.clone()),
            (sha(&manifest), manifest.clone()),
        ];
        for (hex, bytes) in &all {
            std::fs::write(blobs.join(hex), bytes).unwrap_or_else(|e| panic!("{e}"));
        }
        std::fs::write(blobs.join(".tmp-0123"), b"half").unwrap_or_else(|e| panic!("{e}"));
        let id = sha(&manifest);
        let record = serde_json::json!({
            "id": id,
            "architecture": "arm64",
            "config": serde_json::from_slice::<serde_json::Value>(&config).unwrap_or_default(),
            "layers": [format!("sha256:{}", sha(&layer))],
            "size": layer.len(),
            "platforms": [],
            "manifest": format!("sha256:{id}"),
            "manifest_media_type": OCI_MANIFEST,
        })
        .to_string();
        for path in [
            images.join(format!("images/{id}.json")),
            images.join("repositories/team/app/v1.json"),
        ] {
            std::fs::create_dir_all(path.parent().unwrap_or(Path::new("/")))
                .unwrap_or_else(|e| panic!("{e}"));
            std::fs::write(path, &record).unwrap_or_else(|e| panic!("{e}"));
        }
        let layout = images.join(format!("layouts/{id}"));
        std::fs::create_dir_all(&layout).unwrap_or_else(|e| panic!("{e}"));
        std::os::unix::fs::symlink("../../blobs", layout.join("blobs"))
            .unwrap_or_else(|e| panic!("{e}"));
        std::fs::create_dir_all(images.join("uploads")).unwrap_or_else(|e| panic!("{e}"));
        std::fs::write(images.join("uploads/abc"), b"partial").unwrap_or_else(|e| panic!("{e}"));
        (id, all)
    }

    #[tokio::test]
    async fn an_old_image_store_is_imported_into_the_blob_store_once() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let (id, blobs) = old_data_dir(dir.path());
        let store = crate::image::tests::store_in(dir.path());
        let images = dir.path().join("images");
        let report = store
            .migrate_legacy(&images)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            report,
            LegacyReport {
                blobs_moved: 3,
                blobs_corrupt: 0,
                records_updated: 1,
            }
        );
        for (hex, bytes) in &blobs {
            let got = store.blobs.get(hex).await.unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(&got[..], &bytes[..]);
            assert!(
                store.catalog.holds(hex).await.unwrap_or(false),
                "{hex} held"
            );
        }
        for gone in ["blobs", "layouts", "uploads"] {
            assert!(!images.join(gone).exists(), "{gone} removed");
        }
        // The records are read as before, now with their config digest.
        let image = store
            .resolve("team/app:v1")
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(image.id, id);
        assert_eq!(image.config_digest, format!("sha256:{}", blobs[1].0));
        let by_id = store.by_id(&id).await.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(by_id.config_digest, image.config_digest);
        let kept = store
            .referenced_blobs()
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        for (hex, _) in &blobs {
            assert!(kept.contains(hex), "{hex} kept from collection");
        }
        // A second start finds nothing to do.
        let again = store
            .migrate_legacy(&images)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(again, LegacyReport::default());
    }

    #[tokio::test]
    async fn a_corrupt_old_blob_is_left_where_it_is() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let (_, blobs) = old_data_dir(dir.path());
        let old = dir.path().join("images/blobs/sha256").join(&blobs[0].0);
        std::fs::write(&old, b"not the layer").unwrap_or_else(|e| panic!("{e}"));
        let store = crate::image::tests::store_in(dir.path());
        let report = store
            .migrate_legacy(&dir.path().join("images"))
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!((report.blobs_moved, report.blobs_corrupt), (2, 1));
        assert!(old.is_file(), "kept for a human to look at");
        assert_eq!(
            store.blobs.size(&blobs[0].0).await.unwrap_or_default(),
            None
        );
    }
}
