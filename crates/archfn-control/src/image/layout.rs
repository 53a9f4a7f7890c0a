//! An image written out as an OCI image layout, from the blob store: what `archfn-scan` reads
//! (`Control::readiness`). Each blob the layout names is a symbolic link to the blob store's own
//! file when the store keeps its blobs on this machine's disk, and a copy otherwise.

use std::path::Path;

use tokio::io::AsyncWriteExt;

use super::{ImageError, ImageStore, StoredImage, blob_key, io};

impl ImageStore {
    /// Writes `image` as an OCI layout in `dir` (created): `oci-layout`, an `index.json` naming
    /// the image's manifest and platform, and `blobs/sha256/` holding its manifest, config and
    /// layers.
    pub async fn write_layout(&self, image: &StoredImage, dir: &Path) -> Result<(), ImageError> {
        let manifest = blob_key(&image.manifest)
            .ok_or_else(|| ImageError::Unreadable("the image has no manifest".into()))?;
        let blobs = dir.join("blobs").join("sha256");
        tokio::fs::create_dir_all(&blobs).await.map_err(io)?;
        let mut keys = vec![manifest.clone()];
        keys.extend(
            self.config_digest_of(image)
                .await
                .as_deref()
                .and_then(blob_key),
        );
        keys.extend(image.layers.iter().filter_map(|d| blob_key(d)));
        let mut manifest_size = 0;
        for key in keys {
            let dest = blobs.join(&key);
            if tokio::fs::symlink_metadata(&dest).await.is_ok() {
                continue;
            }
            let size = self.link_or_copy(&key, &dest).await?;
            if key == manifest {
                manifest_size = size;
            }
        }
        tokio::fs::write(dir.join("oci-layout"), br#"{"imageLayoutVersion":"1.0.0"}"#)
            .await
            .map_err(io)?;
        let index = serde_json::json!({
            "schemaVersion": 2,
            "manifests": [{
                "mediaType": image.manifest_media_type,
                "digest": image.manifest,
                "size": manifest_size,
                "platform": { "architecture": image.architecture, "os": "linux" },
            }],
        });
        tokio::fs::write(dir.join("index.json"), index.to_string())
            .await
            .map_err(io)
    }

    /// Puts blob `key` at `dest`; returns its size.
    async fn link_or_copy(&self, key: &str, dest: &Path) -> Result<u64, ImageError> {
        if let Some(local) = self.blobs.local_path(key)
            && let Ok(meta) = tokio::fs::metadata(&local).await
        {
            tokio::fs::symlink(&local, dest).await.map_err(io)?;
            return Ok(meta.len());
        }
        let mut blob = self.blobs.open(key).await?;
        let mut file = tokio::fs::File::create(dest).await.map_err(io)?;
        tokio::io::copy(&mut blob.reader, &mut file)
            .await
            .map_err(io)?;
        file.flush().await.map_err(io)?;
        Ok(blob.size)
    }
}

#[cfg(test)]
mod tests {
    use crate::image::OCI_MANIFEST;

    #[tokio::test]
    async fn a_layout_names_the_image_and_reaches_its_blobs() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let store = crate::image::tests::store_in(dir.path());
        let put = |b: &'static [u8]| {
            let blobs = store.blobs.clone();
            async move {
                blobs
                    .put(bytes::Bytes::from_static(b))
                    .await
                    .unwrap_or_else(|e| panic!("{e}"))
            }
        };
        let (layer, config) = (put(b"layer").await, put(b"{}").await);
        let manifest_doc = serde_json::json!({
            "schemaVersion": 2,
            "config": { "digest": format!("sha256:{config}") },
            "layers": [{ "digest": format!("sha256:{layer}") }],
        })
        .to_string();
        let manifest = store
            .blobs
            .put(manifest_doc.clone().into())
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let image = crate::image::StoredImage {
            id: manifest.hex(),
            architecture: "arm64".into(),
            config: serde_json::json!({}),
            layers: vec![format!("sha256:{layer}")],
            size: 5,
            platforms: Vec::new(),
            manifest: format!("sha256:{manifest}"),
            manifest_media_type: OCI_MANIFEST.into(),
            // An older record: the config is found through the manifest.
            config_digest: String::new(),
        };
        let out = dir.path().join("layout");
        store
            .write_layout(&image, &out)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let read = |p: &str| std::fs::read(out.join(p)).unwrap_or_else(|e| panic!("{p}: {e}"));
        assert_eq!(read(&format!("blobs/sha256/{layer}")), b"layer");
        assert_eq!(read(&format!("blobs/sha256/{config}")), b"{}");
        let index: serde_json::Value =
            serde_json::from_slice(&read("index.json")).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            index["manifests"][0]["digest"],
            serde_json::Value::String(format!("sha256:{manifest}"))
        );
        assert_eq!(index["manifests"][0]["size"], manifest_doc.len());
        assert_eq!(index["manifests"][0]["platform"]["architecture"], "arm64");
        assert!(out.join("oci-layout").is_file());
    }
}
