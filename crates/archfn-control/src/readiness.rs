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
        if let Code::Image { id } = &config.code.source {
            // The image as an OCI layout: its platform, then every layer.
            let layout = self.inner.images.layout(id);
            let opts = archfn_scan::ScanOptions {
                today: self.today(),
                ..archfn_scan::ScanOptions::new(target)
            };
            return tokio::task::spawn_blocking(move || archfn_scan::scan_path(&layout, &opts))
                .await
                .map_err(|e| ControlError::Internal(e.to_string()))?
                .map_err(|e| {
                    ControlError::Internal(format!("the image could not be scanned: {e}"))
                });
        }
        let code = match config.code.source.zip_digest() {
            Some(digest) => Some(self.inner.blobs.get(digest).await?),
            None => None,
        };
        self.scan_package(&config, code, target).await
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
