//! Versions: immutable snapshots of `$LATEST`, keeping the architecture they were published with.

use archfn_model::{FunctionConfig, FunctionRecord};

use crate::error::revision_mismatch;
use crate::function::{FunctionView, decode_marker, encode_marker, page_size};
use crate::{Control, ControlError, new_revision};

impl Control {
    /// Makes the next version of `rec` from its `$LATEST`, and moves `$LATEST` to a new revision.
    pub(crate) fn snapshot_version(
        &self,
        rec: &mut FunctionRecord,
        description: Option<String>,
    ) -> FunctionConfig {
        rec.last_version += 1;
        let mut version = rec.latest.clone();
        version.version = rec.last_version.to_string();
        version.revision_id = new_revision();
        if let Some(d) = description {
            version.description = d;
        }
        rec.latest.revision_id = new_revision();
        rec.published_revision = Some(rec.latest.revision_id.clone());
        version
    }

    /// PublishVersion: a new version, or the last one when `$LATEST` has not changed since.
    pub async fn publish_version(
        &self,
        region: &str,
        name: &str,
        code_sha256: Option<&str>,
        description: Option<String>,
        revision_id: Option<&str>,
    ) -> Result<FunctionView, ControlError> {
        let r = self.resolve(region, name, None).await?;
        let arn = r.arn();
        let latest = &r.stored.value.latest;
        if latest.state == archfn_model::State::Pending
            || latest.last_update_status == Some(archfn_model::LastUpdateStatus::InProgress)
        {
            return Err(ControlError::Conflict(format!(
                "The operation cannot be performed at this time. An update is in progress for resource: {arn}"
            )));
        }
        if revision_id.is_some_and(|rev| rev != latest.revision_id) {
            return Err(revision_mismatch());
        }
        if let Some(sha) = code_sha256
            && sha != latest.code.sha256
        {
            return Err(ControlError::InvalidParameter(format!(
                "CodeSHA256 ({sha}) is different from current CodeSHA256 in $LATEST ({}). Please try again with the CodeSHA256 in $LATEST.",
                latest.code.sha256
            )));
        }
        let rec = &r.stored.value;
        if rec.published_revision.as_deref() == Some(latest.revision_id.as_str())
            && let Some(v) = self
                .store()
                .get_version(region, &r.name, rec.last_version)
                .await?
        {
            return Ok(FunctionView {
                arn: format!("{arn}:{}", v.version),
                config: v,
            });
        }
        let mut rec = rec.clone();
        let version = self.snapshot_version(&mut rec, description);
        self.store_published(region, &rec, r.stored.etag, version, &arn)
            .await
    }

    /// Writes `rec` and its new `version` together if `rec` is still at `etag`; a concurrent
    /// change is Lambda's "update in progress" conflict on `arn`.
    pub(crate) async fn store_published(
        &self,
        region: &str,
        rec: &FunctionRecord,
        etag: i64,
        version: FunctionConfig,
        arn: &str,
    ) -> Result<FunctionView, ControlError> {
        match self
            .store()
            .publish_version(region, rec, etag, &version)
            .await
        {
            Ok(_) => Ok(FunctionView {
                arn: format!("{arn}:{}", version.version),
                config: version,
            }),
            Err(archfn_store::StoreError::Conflict) => Err(ControlError::Conflict(format!(
                "The operation cannot be performed at this time. An update is in progress for resource: {arn}"
            ))),
            Err(e) => Err(e.into()),
        }
    }

    /// ListVersionsByFunction: `$LATEST` first, then versions ascending.
    pub async fn list_versions_by_function(
        &self,
        region: &str,
        name: &str,
        marker: Option<&str>,
        max_items: Option<i64>,
    ) -> Result<(Vec<FunctionView>, Option<String>), ControlError> {
        let r = self.resolve(region, name, None).await?;
        let max = page_size(max_items, 50, 10_000)?;
        let arn = r.arn();
        let (_, start) = decode_marker(marker)?;
        let mut out = Vec::new();
        if start == 0 {
            out.push(FunctionView {
                arn: format!("{arn}:$LATEST"),
                config: r.stored.value.latest.clone(),
            });
        }
        let after = (start > 0).then(|| start as u64 - 1);
        let versions = self
            .store()
            .list_versions(region, &r.name, after, max + 1)
            .await?;
        for v in versions {
            if out.len() == max {
                let n: usize = v.version.parse().unwrap_or(0);
                return Ok((out, Some(encode_marker(&r.name, n))));
            }
            out.push(FunctionView {
                arn: format!("{arn}:{}", v.version),
                config: v,
            });
        }
        Ok((out, None))
    }
}
