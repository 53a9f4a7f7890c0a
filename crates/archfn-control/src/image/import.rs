//! `archfn image import`: an image archive (an OCI layout, as a directory or a tar, or a
//! `docker save` tar) copied into the store, each layer streamed into the blob store and
//! hashed on the way, then recorded by id and by `repository:tag`.

use std::io::Read;
use std::path::PathBuf;

use archfn_blob::BlobDigest;
use archfn_model::Architecture;
use sha2::{Digest, Sha256};
use tokio::runtime::Handle;

use super::{ImageError, ImageStore, OCI_MANIFEST, StoredImage, io, parse_reference};

/// Bytes read from an archive at a time.
const CHUNK: usize = 1 << 18;

/// A blob as stored: its digest (`sha256:<hex>`), its size and whether it is gzip-compressed.
pub(crate) struct Stored {
    pub(crate) digest: String,
    pub(crate) size: u64,
    pub(crate) gzip: bool,
}

impl ImageStore {
    /// Imports the image at `path` (an OCI layout directory or tar, or a `docker save` tar) as
    /// `reference` (`repository[:tag]`, tag `latest` by default); of a multi-platform image,
    /// the `platform` one when given. `progress` hears each layer as it is copied (`n` of
    /// `total`).
    pub async fn import(
        &self,
        path: PathBuf,
        reference: &str,
        platform: Option<Architecture>,
        progress: impl FnMut(usize, usize) + Send + 'static,
    ) -> Result<StoredImage, ImageError> {
        let reference = parse_reference(reference)?;
        let Some(tag) = reference.tag.clone() else {
            return Err(ImageError::BadReference(
                "import names a tag, not a digest".into(),
            ));
        };
        let this = self.clone();
        let handle = Handle::current();
        let image = tokio::task::spawn_blocking(move || {
            this.copy_archive(&path, platform, progress, &handle)
        })
        .await
        .map_err(io)??;
        self.catalog
            .record(&reference.repository, Some(&tag), &image)
            .await?;
        Ok(image)
    }

    /// Copies the archive's blobs into the blob store (on a blocking thread: the archive is read
    /// with blocking IO) and returns the image they make.
    fn copy_archive(
        &self,
        path: &std::path::Path,
        platform: Option<Architecture>,
        mut progress: impl FnMut(usize, usize),
        handle: &Handle,
    ) -> Result<StoredImage, ImageError> {
        let unreadable = |e: archfn_scan::ScanError| ImageError::Unreadable(e.to_string());
        let archive = archfn_scan::ImageArchive::open(path).map_err(unreadable)?;
        match archive.contents(platform).map_err(unreadable)? {
            archfn_scan::ImageContents::MultiPlatform(platforms) => {
                let id = hex::encode(Sha256::digest(platforms.join(",").as_bytes()));
                Ok(StoredImage::index(
                    id,
                    platforms,
                    String::new(),
                    String::new(),
                ))
            }
            archfn_scan::ImageContents::Single {
                manifest: original,
                config: raw_config,
                layers,
            } => {
                let config: serde_json::Value = serde_json::from_slice(&raw_config)
                    .map_err(|e| ImageError::Unreadable(format!("image config: {e}")))?;
                let architecture = config
                    .get("architecture")
                    .and_then(|a| a.as_str())
                    .unwrap_or("")
                    .to_string();
                let mut digests = Vec::new();
                let mut described = Vec::new();
                let mut size = 0;
                for (n, name) in layers.iter().enumerate() {
                    progress(n + 1, layers.len());
                    let reader = archive.layer(name).map_err(unreadable)?;
                    let stored = self.store_blocking(reader, handle)?;
                    size += stored.size;
                    described.push(serde_json::json!({
                        "mediaType": if stored.gzip {
                            "application/vnd.oci.image.layer.v1.tar+gzip"
                        } else {
                            "application/vnd.oci.image.layer.v1.tar"
                        },
                        "digest": stored.digest,
                        "size": stored.size,
                    }));
                    digests.push(stored.digest);
                }
                let config_blob = self.store_blocking(&raw_config[..], handle)?;
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
                            "digest": config_blob.digest,
                            "size": config_blob.size,
                        },
                        "layers": described,
                    }))
                    .map_err(io)?,
                };
                let media_type = serde_json::from_slice::<serde_json::Value>(&manifest)
                    .ok()
                    .and_then(|m| m.get("mediaType")?.as_str().map(str::to_string))
                    .unwrap_or_else(|| OCI_MANIFEST.to_string());
                let manifest = self.store_blocking(&manifest[..], handle)?.digest;
                let id = manifest.trim_start_matches("sha256:").to_string();
                Ok(StoredImage {
                    id,
                    architecture,
                    config,
                    layers: digests,
                    size,
                    platforms: Vec::new(),
                    manifest,
                    manifest_media_type: media_type,
                    config_digest: config_blob.digest,
                })
            }
        }
    }

    /// Streams `reader` into the blob store and holds the blob, from a blocking thread.
    pub(crate) fn store_blocking(
        &self,
        mut reader: impl Read,
        handle: &Handle,
    ) -> Result<Stored, ImageError> {
        let mut writer = handle.block_on(self.blobs.writer())?;
        let mut buf = vec![0u8; CHUNK];
        let mut head: Vec<u8> = Vec::with_capacity(2);
        loop {
            let n = match reader.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(io(e)),
            };
            if head.len() < 2 {
                head.extend(buf[..n].iter().take(2 - head.len()));
            }
            handle.block_on(writer.write(&buf[..n]))?;
        }
        let size = writer.len();
        let digest: BlobDigest = handle.block_on(writer.commit(None))?;
        handle.block_on(self.hold(&digest.hex()))?;
        Ok(Stored {
            digest: format!("sha256:{digest}"),
            size,
            gzip: head == [0x1f, 0x8b],
        })
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

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    fn sha(bytes: &[u8]) -> String {
        hex::encode(Sha256::digest(bytes))
    }

    /// What `docker save` writes: `manifest.json` naming the config and layer tars.
    fn docker_save(config: &[u8], layers: &[Vec<u8>]) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        let mut add = |name: &str, data: &[u8]| {
            let mut h = tar::Header::new_gnu();
            h.set_size(data.len() as u64);
            h.set_mode(0o644);
            h.set_cksum();
            b.append_data(&mut h, name, data)
                .unwrap_or_else(|e| panic!("{e}"));
        };
        add(&format!("{}.json", sha(config)), config);
        let mut names = Vec::new();
        for layer in layers {
            names.push(format!("{}/layer.tar", sha(layer)));
            add(&format!("{}/layer.tar", sha(layer)), layer);
        }
        let manifest = serde_json::json!([{
            "Config": format!("{}.json", sha(config)),
            "RepoTags": ["x:latest"],
            "Layers": names,
        }]);
        add("manifest.json", manifest.to_string().as_bytes());
        b.into_inner().unwrap_or_else(|e| panic!("{e}"))
    }

    fn layer(name: &str, data: &[u8]) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o755);
        h.set_cksum();
        b.append_data(&mut h, name, data)
            .unwrap_or_else(|e| panic!("{e}"));
        b.into_inner().unwrap_or_else(|e| panic!("{e}"))
    }

    #[tokio::test]
    async fn an_imported_image_is_streamed_into_the_blob_store_and_recorded_by_tag() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let store = crate::image::tests::store_in(dir.path());
        let config = br#"{"architecture":"arm64","config":{"Entrypoint":["/e"],"Cmd":["h"]}}"#;
        // A layer larger than one chunk, so that it is streamed in several writes.
        let big = vec![7u8; CHUNK * 2 + 5];
        let layers = vec![layer("e", b"#!/bin/sh\n"), layer("data", &big)];
        let archive = dir.path().join("image.tar");
        std::fs::write(&archive, docker_save(config, &layers)).unwrap_or_else(|e| panic!("{e}"));
        let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
        let heard = seen.clone();
        let image = store
            .import(archive, "team/app:v1", None, move |n, total| {
                if let Ok(mut s) = heard.lock() {
                    s.push((n, total));
                }
            })
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            seen.lock().map(|s| s.clone()).unwrap_or_default(),
            [(1, 2), (2, 2)]
        );
        assert_eq!(image.architecture, "arm64");
        assert_eq!(
            image.layers,
            layers
                .iter()
                .map(|l| format!("sha256:{}", sha(l)))
                .collect::<Vec<_>>()
        );
        assert_eq!(image.config_digest, format!("sha256:{}", sha(config)));
        assert_eq!(
            image.size,
            layers.iter().map(|l| l.len() as u64).sum::<u64>()
        );
        // Every blob is in the blob store, held; the manifest written for it is the image's id.
        for layer in &layers {
            let got = store
                .blobs
                .get(&sha(layer))
                .await
                .unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(&got[..], &layer[..]);
        }
        let manifest = store
            .blobs
            .get(&image.id)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(sha(&manifest), image.id);
        let doc: serde_json::Value =
            serde_json::from_slice(&manifest).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            doc["layers"][0]["mediaType"],
            "application/vnd.oci.image.layer.v1.tar"
        );
        let held = store.catalog.held().await.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(held.len(), 4, "two layers, the config and the manifest");
        let resolved = store
            .resolve("localhost:5000/team/app:v1")
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(resolved.id, image.id);
        assert!(matches!(
            store
                .import(
                    dir.path().join("image.tar"),
                    &format!("team/app@sha256:{}", "0".repeat(64)),
                    None,
                    |_, _| {}
                )
                .await,
            Err(ImageError::BadReference(_))
        ));
    }
}
