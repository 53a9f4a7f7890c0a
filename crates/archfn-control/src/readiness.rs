//! Arm64 readiness of a deployed function: its code, its layers and its runtime, scanned
//! together for a target architecture.

use archfn_model::{Architecture, Code};
use archfn_scan::Report;

use crate::{Control, ControlError};

impl Control {
    /// Scans the code and layers of `name` (at `qualifier`) and its runtime for `target`.
    pub async fn readiness(
        &self,
        region: &str,
        name: &str,
        qualifier: Option<&str>,
        target: Architecture,
    ) -> Result<Report, ControlError> {
        let r = self.resolve(region, name, qualifier).await?;
        let config = self.select(&r).await?.config;
        let code = match &config.code.source {
            Code::Image { id } => return self.scan_image(id, target).await,
            Code::Zip { .. } => match config.code.source.zip_digest() {
                Some(digest) => Some(self.inner.blobs.get(digest).await?),
                None => None,
            },
        };
        self.scan_package(&config, code, target).await
    }

    /// Scans image `id` for `target`: its platform, then every layer, read from an OCI layout
    /// written from the blob store into a temporary directory under the code root.
    async fn scan_image(&self, id: &str, target: Architecture) -> Result<Report, ControlError> {
        let image = self
            .inner
            .images
            .by_id(id)
            .await
            .map_err(|e| ControlError::Internal(format!("image {id}: {e}")))?;
        let layout = self
            .inner
            .code_root
            .join(format!(".tmp-layout-{}", uuid::Uuid::new_v4().simple()));
        let written = self.inner.images.write_layout(&image, &layout).await;
        let scanned = match written {
            Ok(()) => {
                let opts = archfn_scan::ScanOptions {
                    today: self.today(),
                    ..archfn_scan::ScanOptions::new(target)
                };
                let dir = layout.clone();
                tokio::task::spawn_blocking(move || archfn_scan::scan_path(&dir, &opts))
                    .await
                    .map_err(|e| ControlError::Internal(e.to_string()))
                    .and_then(|r| {
                        r.map_err(|e| {
                            ControlError::Internal(format!("the image could not be scanned: {e}"))
                        })
                    })
            }
            Err(e) => Err(ControlError::Internal(format!(
                "the image could not be scanned: {e}"
            ))),
        };
        if let Err(e) = tokio::fs::remove_dir_all(&layout).await {
            tracing::warn!(layout = %layout.display(), error = %e, "could not remove a scanned layout");
        }
        scanned
    }

    /// Scans `zip` as if it were `name`'s `$LATEST` package (with `$LATEST`'s layers and
    /// runtime) for `target`: whether a rebuilt package will run there.
    pub async fn readiness_of_package(
        &self,
        region: &str,
        name: &str,
        zip: bytes::Bytes,
        target: Architecture,
    ) -> Result<Report, ControlError> {
        let r = self.resolve(region, name, None).await?;
        let config = r.stored.value.latest.clone();
        self.scan_package(&config, Some(zip), target).await
    }

    async fn scan_package(
        &self,
        config: &archfn_model::FunctionConfig,
        code: Option<bytes::Bytes>,
        target: Architecture,
    ) -> Result<Report, ControlError> {
        let mut archives = Vec::new();
        if let Some(zip) = code {
            archives.push((String::new(), zip));
        }
        for layer in &config.layers {
            archives.push((
                layer.arn.clone(),
                self.inner.blobs.get(&layer.digest).await?,
            ));
        }
        let runtime = config.runtime.clone();
        let today = self.today();
        tokio::task::spawn_blocking(move || {
            let refs: Vec<(&str, &[u8])> = archives
                .iter()
                .map(|(l, b)| (l.as_str(), b.as_ref()))
                .collect();
            let opts = archfn_scan::ScanOptions {
                runtime,
                today,
                ..archfn_scan::ScanOptions::new(target)
            };
            archfn_scan::scan_function(&refs, &opts)
        })
        .await
        .map_err(|e| ControlError::Internal(e.to_string()))?
        .map_err(|e| ControlError::Internal(format!("stored code could not be scanned: {e}")))
    }
}
