//! Preparation: the asynchronous work between "Pending"/"InProgress" and "Active"/"Successful".
//!
//! The archive (and each layer) is unpacked once per digest into `<code_root>/<digest>`, through
//! a temporary directory renamed into place, so a crash never leaves half a directory behind.
//! Preparations left unfinished by a previous process are resumed at start.

use archfn_model::{Code, FunctionConfig, LastUpdateStatus, State};
use archfn_store::{Durability, StoreError};

use crate::{Control, ControlError, new_revision};

impl Control {
    /// Starts preparing `$LATEST` (`version: None`) or version `n` of a function.
    pub(crate) fn spawn_prepare(&self, region: &str, name: &str, version: Option<u64>) {
        let this = self.clone();
        let (region, name) = (region.to_string(), name.to_string());
        tokio::spawn(async move {
            if let Err(e) = this.prepare(&region, &name, version).await {
                tracing::error!(function = %name, ?version, error = %e, "preparation failed to record its outcome");
            }
        });
    }

    pub(crate) async fn resume_preparations(&self) -> Result<(), ControlError> {
        for (region, config) in self.store().pending_preparations().await? {
            let version = config.version.parse().ok();
            tracing::info!(function = %config.name, version = %config.version, "resuming preparation");
            self.spawn_prepare(&region, &config.name, version);
        }
        Ok(())
    }

    /// Unpacks an archive into its digest's directory unless it is there already.
    async fn unpack(&self, digest: &str) -> Result<(), String> {
        if self.code_dir(digest).is_dir() {
            return Ok(());
        }
        // A blob the store keeps as a file is read from it: code from S3 may be far larger
        // than a ZipFile, and is never held whole in memory.
        if let Some(path) = self.inner.blobs.local_path(digest) {
            return self
                .fill(digest, move |tmp| {
                    crate::archive::extract_file(&path, tmp).map_err(|e| e.to_string())
                })
                .await;
        }
        let bytes = self
            .inner
            .blobs
            .get(digest)
            .await
            .map_err(|e| e.to_string())?;
        self.fill(digest, move |tmp| {
            crate::archive::extract(&bytes, tmp).map_err(|e| e.to_string())
        })
        .await
    }

    /// Unpacks image `id`'s layers into its directory (`Code::key`: `image-<id>`) unless it is
    /// there already.
    async fn unpack_image(&self, id: &str) -> Result<(), String> {
        let key = Code::image(id).key();
        if self.code_dir(&key).is_dir() {
            return Ok(());
        }
        let images = self.inner.images.clone();
        let image = images
            .by_id(id)
            .await
            .map_err(|e| format!("image {id}: {e}"))?;
        self.fill(&key, move |tmp| {
            images.unpack(&image, tmp).map_err(|e| e.to_string())
        })
        .await
    }

    /// Builds `digest`'s directory with `build` in a temporary directory, then renames it into
    /// place (a concurrent preparation that got there first wins), off the async threads.
    async fn fill(
        &self,
        digest: &str,
        build: impl FnOnce(&std::path::Path) -> Result<(), String> + Send + 'static,
    ) -> Result<(), String> {
        let dest = self.code_dir(digest);
        let tmp = self
            .inner
            .code_root
            .join(format!(".tmp-{}", uuid::Uuid::new_v4()));
        tokio::task::spawn_blocking(move || {
            let result = build(&tmp).and_then(|()| match std::fs::rename(&tmp, &dest) {
                Ok(()) => Ok(()),
                Err(_) if dest.is_dir() => Ok(()),
                Err(e) => Err(e.to_string()),
            });
            if tmp.exists() {
                let _ = std::fs::remove_dir_all(&tmp);
            }
            result
        })
        .await
        .map_err(|e| e.to_string())?
    }

    /// Unpacks the code and layers of `config` into this node's local cache (what is there
    /// already is kept).
    pub(crate) async fn materialize(&self, config: &FunctionConfig) -> Result<(), String> {
        match &config.code.source {
            Code::Image { id } => return self.unpack_image(id).await,
            Code::Zip { digest } => self.unpack(digest).await?,
        }
        for layer in &config.layers {
            self.unpack(&layer.digest)
                .await
                .map_err(|e| format!("layer {}: {e}", layer.arn))?;
        }
        Ok(())
    }

    async fn prepare(
        &self,
        region: &str,
        name: &str,
        version: Option<u64>,
    ) -> Result<(), ControlError> {
        match version {
            Some(n) => {
                let Some(mut config) = self.store().get_version(region, name, n).await? else {
                    return Ok(());
                };
                if config.state != State::Pending {
                    return Ok(());
                }
                let outcome = self.materialize(&config).await;
                finish(&mut config, outcome, false);
                match self
                    .store()
                    .put_version(region, &config, Durability::Deferred)
                    .await
                {
                    Ok(()) | Err(StoreError::NotFound) => Ok(()),
                    Err(e) => Err(e.into()),
                }
            }
            None => loop {
                let Some(stored) = self.store().get_function(region, name).await? else {
                    return Ok(());
                };
                let mut rec = stored.value;
                let busy = rec.latest.state == State::Pending
                    || rec.latest.last_update_status == Some(LastUpdateStatus::InProgress);
                if !busy {
                    return Ok(());
                }
                let outcome = self.materialize(&rec.latest).await;
                let published = rec.published_revision.as_deref() == Some(&rec.latest.revision_id);
                finish(&mut rec.latest, outcome, true);
                // Published with the update (`Publish: true`): the new revision is still what
                // was published, so PublishVersion without a change returns that version.
                if published {
                    rec.published_revision = Some(rec.latest.revision_id.clone());
                }
                match self
                    .store()
                    .put_function(region, &rec, stored.etag, Durability::Deferred)
                    .await
                {
                    Ok(_) | Err(StoreError::NotFound) => return Ok(()),
                    Err(StoreError::Conflict) => continue,
                    Err(e) => return Err(e.into()),
                }
            },
        }
    }
}

/// Records the outcome of a preparation, as Lambda shows it. A version that becomes Active
/// says `LastUpdateStatus: Successful` as `$LATEST` does: waiters on a version (Terraform's
/// after PublishVersion, the SDKs' `FunctionUpdatedV2` with a qualifier) read it, and take its
/// absence for an update in progress.
fn finish(c: &mut FunctionConfig, outcome: Result<(), String>, is_latest: bool) {
    let ok = outcome.is_ok();
    if c.state == State::Pending {
        c.state = if ok { State::Active } else { State::Failed };
        c.state_reason = outcome.as_ref().err().cloned();
        c.state_reason_code = (!ok).then(|| "InvalidZipFileException".to_string());
        if ok {
            c.last_update_status = Some(LastUpdateStatus::Successful);
        }
    }
    if c.last_update_status == Some(LastUpdateStatus::InProgress) {
        c.last_update_status = Some(if ok {
            LastUpdateStatus::Successful
        } else {
            LastUpdateStatus::Failed
        });
        c.last_update_status_reason = outcome.err();
        c.last_update_status_reason_code = (!ok).then(|| "InvalidZipFileException".to_string());
    } else if c.last_update_status == Some(LastUpdateStatus::Successful) {
        c.last_update_status_reason = None;
        c.last_update_status_reason_code = None;
    }
    if is_latest {
        c.revision_id = new_revision();
    }
}
