//! Garbage collection of stored code: mark and sweep.
//!
//! Mark: every code key the metadata references (`MetadataStore::code_references`: the code and
//! layers of every function version, `$LATEST` and published, and every layer version), every
//! blob the image store keeps (`ImageStore::referenced_blobs`: the manifest, config and layers of
//! every recorded image, and every blob it holds), plus every key pinned by a request in flight.
//! Sweep: every blob and every unpacked code directory (`<code_root>/<hex>`,
//! `<code_root>/image-<id>`, named by `Code::key`) that is not marked and is older than the
//! grace period. Nothing is remembered between runs, so a crash at any point leaves nothing that the
//! next run does not judge afresh.
//!
//! A request that stores code pins its key before the blob is written and holds the pin until its
//! row is written (`CodePin`). A key pinned while a collection runs is kept by that collection
//! even if the pin is gone by the time the sweep reaches it (its row may have been written after
//! the mark read the store), and a key being deleted cannot be pinned until the deletion is done
//! (the pin then writes the blob again). The grace period protects the same window by age, and
//! whatever another process (`archfn image import`) or a future backend may do without pins.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, SystemTime};

use archfn_model::Code;

use crate::{Control, ControlError};

/// The keys requests in flight hold, and the keys a running collection is deleting.
#[derive(Debug, Default)]
pub(crate) struct Pins {
    active: HashMap<String, usize>,
    recent: HashSet<String>,
    doomed: HashSet<String>,
    collecting: bool,
}

/// Keeps code keys from being collected while it lives (from before a blob is stored until the
/// row referencing it is written).
#[derive(Debug)]
pub(crate) struct CodePin {
    pins: Arc<Mutex<Pins>>,
    keys: Vec<String>,
}

impl Drop for CodePin {
    fn drop(&mut self) {
        let mut p = lock(&self.pins);
        for k in &self.keys {
            if let Some(n) = p.active.get_mut(k) {
                *n -= 1;
                if *n == 0 {
                    p.active.remove(k);
                }
            }
        }
    }
}

fn lock(pins: &Mutex<Pins>) -> MutexGuard<'_, Pins> {
    pins.lock().unwrap_or_else(PoisonError::into_inner)
}

/// What one collection did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GcReport {
    /// Blobs deleted.
    pub blobs_removed: usize,
    /// Bytes of blobs deleted.
    pub blob_bytes_removed: u64,
    /// Unpacked code directories deleted.
    pub code_dirs_removed: usize,
    /// The names of the merged `/opt` trees still in use: each function version's layer
    /// directories' names (their digests) joined with `+`, as the engine names them.
    pub live_opt_trees: BTreeSet<String>,
}

/// Whether `name` is a key of stored code (`Code::key`): a hex SHA-256 or `image-<hex>`.
fn is_code_key(name: &str) -> bool {
    let hex = match Code::from_key(name) {
        Code::Zip { digest } => digest,
        Code::Image { id } => id,
    };
    hex.len() == 64
        && hex
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// Pins code `keys` in `pins` until the returned guard is dropped; waits while a collection is
/// deleting one of them, so that the caller stores it afresh.
pub(crate) async fn pin(pins: &Arc<Mutex<Pins>>, keys: Vec<String>) -> CodePin {
    loop {
        {
            let mut p = lock(pins);
            if !keys.iter().any(|k| p.doomed.contains(k)) {
                for k in &keys {
                    *p.active.entry(k.clone()).or_default() += 1;
                    if p.collecting {
                        p.recent.insert(k.clone());
                    }
                }
                return CodePin {
                    pins: pins.clone(),
                    keys,
                };
            }
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

fn older_than(t: SystemTime, grace: Duration) -> bool {
    // A time in the future (a clock step) is young.
    SystemTime::now()
        .duration_since(t)
        .is_ok_and(|age| age >= grace)
}

impl Control {
    /// Pins code `keys` until the returned guard is dropped; waits while a collection is deleting
    /// one of them, so that the caller stores it afresh.
    pub(crate) async fn pin_code(&self, keys: Vec<String>) -> CodePin {
        pin(&self.inner.pins, keys).await
    }

    /// Marks `key` as being deleted unless a request holds it or held it during this collection.
    fn doom(&self, key: &str) -> bool {
        let mut p = lock(&self.inner.pins);
        if p.active.contains_key(key) || p.recent.contains(key) {
            return false;
        }
        p.doomed.insert(key.to_string())
    }

    fn undoom(&self, key: &str) {
        lock(&self.inner.pins).doomed.remove(key);
    }

    /// Whether code `digest` is still referenced by a function version or a layer version: a
    /// download URL for it is good only while it is.
    pub async fn code_is_referenced(&self, digest: &str) -> Result<bool, ControlError> {
        Ok(self.store().references_code(digest).await?)
    }

    /// Asks the collector to run soon (after a deletion made code unreferenced).
    pub(crate) fn request_collection(&self) {
        self.inner.gc_wanted.notify_one();
    }

    /// Waits until a deletion asks for a collection.
    pub async fn collection_requested(&self) {
        self.inner.gc_wanted.notified().await;
    }

    /// Runs one mark and sweep: deletes every blob and unpacked code directory that no function
    /// version or layer version references, no request holds, and that is older than `grace`.
    pub async fn collect_garbage(&self, grace: Duration) -> Result<GcReport, ControlError> {
        let _one_at_a_time = self.inner.gc_running.lock().await;
        self.begin_collection();
        let result = self.mark_and_sweep(grace).await;
        self.end_collection();
        result
    }

    /// From here until `end_collection`, every key pinned (now, or at any moment until then) is
    /// kept: a pin held now may be dropped after its row is written but after the mark read.
    fn begin_collection(&self) {
        let mut p = lock(&self.inner.pins);
        p.collecting = true;
        p.recent = p.active.keys().cloned().collect();
    }

    fn end_collection(&self) {
        let mut p = lock(&self.inner.pins);
        p.collecting = false;
        p.recent.clear();
    }

    async fn mark_and_sweep(&self, grace: Duration) -> Result<GcReport, ControlError> {
        let refs = self.store().code_references().await?;
        let images = self
            .inner
            .images
            .referenced_blobs()
            .await
            .map_err(|e| ControlError::Internal(format!("image store: {e}")))?;
        let mut report = GcReport {
            live_opt_trees: refs.layer_sets.iter().map(|s| s.join("+")).collect(),
            ..GcReport::default()
        };
        for blob in self.inner.blobs.list().await? {
            if refs.digests.contains(&blob.key)
                || images.contains(&blob.key)
                || !older_than(blob.stored_at, grace)
                || !self.doom(&blob.key)
            {
                continue;
            }
            let deleted = self.inner.blobs.delete(&blob.key).await;
            self.undoom(&blob.key);
            match deleted {
                Ok(()) => {
                    report.blobs_removed += 1;
                    report.blob_bytes_removed += blob.size;
                }
                Err(e) => tracing::warn!(blob = %blob.key, error = %e, "could not delete blob"),
            }
        }
        let root = self.inner.code_root.clone();
        let entries = tokio::task::spawn_blocking(move || code_entries(&root))
            .await
            .map_err(|e| ControlError::Internal(e.to_string()))?
            .map_err(|e| ControlError::Internal(format!("code directory: {e}")))?;
        for (name, modified) in entries {
            if name.starts_with(".trash-") {
                self.remove_tree(&name).await;
                continue;
            }
            if !is_code_key(&name)
                || refs.digests.contains(&name)
                || !older_than(modified, grace)
                || !self.doom(&name)
            {
                continue;
            }
            // Renamed away while doomed, so that a preparation never finds half a directory;
            // an environment running from it keeps its mounts.
            let trash = format!(".trash-{}", uuid::Uuid::new_v4().simple());
            let moved = std::fs::rename(self.code_dir(&name), self.code_dir(&trash));
            self.undoom(&name);
            match moved {
                Ok(()) => {
                    self.remove_tree(&trash).await;
                    report.code_dirs_removed += 1;
                }
                Err(e) => tracing::warn!(code = %name, error = %e, "could not remove code"),
            }
        }
        Ok(report)
    }

    async fn remove_tree(&self, name: &str) {
        let path = self.code_dir(name);
        let removed = tokio::task::spawn_blocking(move || std::fs::remove_dir_all(path)).await;
        if let Ok(Err(e)) = removed {
            tracing::warn!(code = %name, error = %e, "could not remove directory");
        }
    }

    /// Removes what a process killed mid-way left: half-unpacked code (`.tmp-*`). Only at start,
    /// before any preparation runs.
    pub(crate) fn sweep_temporaries(&self) {
        let Ok(entries) = code_entries(&self.inner.code_root) else {
            return;
        };
        for (name, _) in entries {
            if name.starts_with(".tmp-") || name.starts_with(".trash-") {
                let _ = std::fs::remove_dir_all(self.code_dir(&name));
            }
        }
    }
}

/// The names of the entries of the code directory, with their modification times.
fn code_entries(root: &Path) -> std::io::Result<Vec<(String, SystemTime)>> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(root)? {
        let entry = entry?;
        let Ok(name) = entry.file_name().into_string() else {
            continue;
        };
        let Ok(meta) = entry.metadata() else {
            continue;
        };
        out.push((name, meta.modified()?));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use std::io::Write as _;
    use std::sync::Arc;

    use archfn_blob::{BlobStore, FsBlobStore};
    use bytes::Bytes;

    use super::*;
    use crate::{CodeInput, ControlConfig, PublishLayerInput};

    fn zip_of(name: &str, data: &[u8]) -> Bytes {
        let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
        w.start_file(name, zip::write::SimpleFileOptions::default())
            .unwrap_or_else(|e| panic!("{e}"));
        w.write_all(data).unwrap_or_else(|e| panic!("{e}"));
        Bytes::from(w.finish().unwrap_or_else(|e| panic!("{e}")).into_inner())
    }

    fn age(path: &Path, by: Duration) {
        let then = SystemTime::now() - by;
        std::fs::File::open(path)
            .and_then(|f| f.set_modified(then))
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    }

    struct World {
        dir: tempfile::TempDir,
        control: Control,
        blobs: Arc<FsBlobStore>,
    }

    async fn world() -> World {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let store = archfn_store::SqliteStore::open(&dir.path().join("archfn.db"))
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let blobs =
            Arc::new(FsBlobStore::open(dir.path().join("blobs")).unwrap_or_else(|e| panic!("{e}")));
        let control = Control::start(ControlConfig {
            objects: Arc::new(store.clone()),
            store: Arc::new(store),
            blobs: blobs.clone(),
            code_root: dir.path().join("code"),
            images: Arc::new(
                crate::image::FsImageCatalog::open(dir.path().join("images"))
                    .unwrap_or_else(|e| panic!("{e}")),
            ),
            account: "123456789012".into(),
            policy_date: None,
            account_concurrency: 1000,
        })
        .await
        .unwrap_or_else(|e| panic!("{e}"));
        World {
            dir,
            control,
            blobs,
        }
    }

    impl World {
        async fn put_aged(&self, bytes: Bytes, by: Duration) -> String {
            let key = self
                .blobs
                .put(bytes)
                .await
                .unwrap_or_else(|e| panic!("{e}"))
                .hex();
            self.age_blob(&key, by);
            key
        }

        fn age_blob(&self, key: &str, by: Duration) {
            let path = self
                .blobs
                .local_path(key)
                .unwrap_or_else(|| panic!("no path for {key}"));
            age(&path, by);
        }

        fn code_dir(&self, key: &str, by: Duration) -> std::path::PathBuf {
            let path = self.dir.path().join("code").join(key);
            std::fs::create_dir_all(path.join("sub")).unwrap_or_else(|e| panic!("{e}"));
            age(&path, by);
            path
        }

        async fn has_blob(&self, key: &str) -> bool {
            self.blobs.get(key).await.is_ok()
        }
    }

    const HOUR: Duration = Duration::from_secs(3600);
    const GRACE: Duration = Duration::from_secs(60);

    #[tokio::test]
    async fn keeps_referenced_and_young_code_and_removes_old_unreferenced_code() {
        let w = world().await;
        let layer = w
            .control
            .publish_layer_version(
                "us-east-1",
                "kept",
                PublishLayerInput {
                    content: CodeInput {
                        zip: Some(zip_of("kept.txt", b"kept")),
                        ..CodeInput::default()
                    },
                    ..PublishLayerInput::default()
                },
            )
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let referenced = layer.layer.digest.clone();
        w.age_blob(&referenced, HOUR);
        let referenced_dir = w.code_dir(&referenced, HOUR);
        let old = w.put_aged(zip_of("old.txt", b"old"), HOUR).await;
        let old_dir = w.code_dir(&old, HOUR);
        let young = w
            .put_aged(Bytes::from_static(b"young"), Duration::ZERO)
            .await;
        let young_dir = w.code_dir(&young, Duration::ZERO);
        let old_image = w.code_dir(&Code::image("c".repeat(64)).key(), HOUR);
        let not_code = w.code_dir("not-a-digest", HOUR);

        let report = w
            .control
            .collect_garbage(GRACE)
            .await
            .unwrap_or_else(|e| panic!("{e}"));

        assert!(
            w.has_blob(&referenced).await,
            "a referenced archive is kept"
        );
        assert!(referenced_dir.is_dir(), "referenced code is kept");
        assert!(!w.has_blob(&old).await, "an old unreferenced archive goes");
        assert!(!old_dir.exists(), "old unreferenced code goes");
        assert!(
            !old_image.exists(),
            "an old unpacked image no version uses goes"
        );
        assert!(
            w.has_blob(&young).await,
            "a young archive stays (in flight?)"
        );
        assert!(young_dir.is_dir(), "young code stays");
        assert!(not_code.is_dir(), "what is not code is not the collector's");
        assert_eq!((report.blobs_removed, report.code_dirs_removed), (1, 2));

        // Once its layer version is deleted, the archive is garbage too.
        w.control
            .delete_layer_version("us-east-1", "kept", 1)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(
            !w.control
                .code_is_referenced(&referenced)
                .await
                .unwrap_or_else(|e| panic!("{e}"))
        );
        w.control
            .collect_garbage(GRACE)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(!w.has_blob(&referenced).await);
        assert!(!referenced_dir.exists());
    }

    #[tokio::test]
    async fn a_pinned_key_survives_a_collection_even_if_unpinned_before_the_sweep() {
        let w = world().await;
        let key = w.put_aged(zip_of("a.txt", b"a"), HOUR).await;
        let pin = w.control.pin_code(vec![key.clone()]).await;
        w.control
            .collect_garbage(GRACE)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(w.has_blob(&key).await, "pinned");
        drop(pin);
        // Pinned when a collection starts, released before its sweep: still kept by that one
        // (the row may have been written after the mark read the store).
        let pin = w.control.pin_code(vec![key.clone()]).await;
        w.control.begin_collection();
        drop(pin);
        assert!(!w.control.doom(&key));
        w.control.end_collection();
        // Pinned during a collection, released before its sweep: kept too.
        w.control.begin_collection();
        drop(w.control.pin_code(vec![key.clone()]).await);
        assert!(!w.control.doom(&key));
        w.control.end_collection();
        w.control
            .collect_garbage(GRACE)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(!w.has_blob(&key).await, "unpinned and old: collected");
    }

    #[tokio::test]
    async fn storing_an_old_archive_again_makes_it_young() {
        let w = world().await;
        let bytes = zip_of("a.txt", b"again");
        let key = w.put_aged(bytes.clone(), HOUR).await;
        w.blobs.put(bytes).await.unwrap_or_else(|e| panic!("{e}"));
        w.control
            .collect_garbage(GRACE)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(w.has_blob(&key).await);
    }

    /// Blobs a recorded image names (manifest, config, layers) or the image store holds are
    /// never collected, however old; an old blob nothing references still goes.
    #[tokio::test]
    async fn keeps_the_blobs_of_recorded_and_held_images() {
        let w = world().await;
        let layer = w.put_aged(Bytes::from_static(b"layer"), HOUR).await;
        let config = w.put_aged(Bytes::from_static(b"{}"), HOUR).await;
        let manifest = w.put_aged(Bytes::from_static(b"manifest"), HOUR).await;
        let held = w
            .put_aged(Bytes::from_static(b"pushed, no manifest yet"), HOUR)
            .await;
        let orphan = w.put_aged(Bytes::from_static(b"orphan"), HOUR).await;
        let image = crate::image::StoredImage {
            id: manifest.clone(),
            architecture: "amd64".into(),
            config: serde_json::json!({}),
            layers: vec![format!("sha256:{layer}")],
            size: 5,
            platforms: Vec::new(),
            manifest: format!("sha256:{manifest}"),
            manifest_media_type: String::new(),
            config_digest: format!("sha256:{config}"),
        };
        let images = w.control.images();
        images
            .catalog
            .record("app", Some("v1"), &image)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        images
            .catalog
            .hold(&held)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let report = w
            .control
            .collect_garbage(GRACE)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        for key in [&layer, &config, &manifest, &held] {
            assert!(w.has_blob(key).await, "{key} kept");
        }
        assert!(
            !w.has_blob(&orphan).await,
            "an old blob nothing references goes"
        );
        assert_eq!(report.blobs_removed, 1);
    }

    #[test]
    fn code_keys_are_digests_and_image_ids_only() {
        let hex = "a".repeat(64);
        assert!(is_code_key(&hex));
        assert!(is_code_key(&Code::image(hex.clone()).key()));
        for bad in [
            ".tmp-x",
            ".trash-x",
            "..",
            "image-",
            &"A".repeat(64),
            &"a".repeat(63),
        ] {
            assert!(!is_code_key(bad), "{bad}");
        }
    }
}
