//! Variants of a function for `archfn compare`: a published version that is `$LATEST`'s
//! configuration on another architecture or memory size (and, for another architecture, with
//! the package rebuilt for it), made without touching `$LATEST`.
//!
//! On Lambda such a version is made by updating `$LATEST` and publishing it; doing it in one
//! step here leaves `$LATEST` as its owner left it, even if the comparison is interrupted. The
//! version is otherwise an ordinary one: listed, invocable, deletable, usable by an alias.

use archfn_model::{Architecture, FunctionConfig, PackageType, State, ValidationErrors};
use bytes::Bytes;

use crate::function::FunctionView;
use crate::{CodeInput, Control, ControlError, validate};

/// What differs from `$LATEST` in a variant.
#[derive(Debug, Clone)]
pub struct VariantInput {
    /// The architecture it runs on.
    pub architecture: Architecture,
    /// MemorySize, MB.
    pub memory_mb: u32,
    /// A package to run instead of `$LATEST`'s (the one rebuilt for `architecture`).
    pub zip: Option<Bytes>,
    /// The version's description.
    pub description: String,
}

impl Control {
    /// `$LATEST`'s configuration and its zip (`None` for an image function).
    pub async fn latest_code(
        &self,
        region: &str,
        name: &str,
    ) -> Result<(FunctionConfig, Option<Bytes>), ControlError> {
        let r = self.resolve(region, name, None).await?;
        let config = r.stored.value.latest.clone();
        let Some(digest) = config.code.source.zip_digest() else {
            return Ok((config, None));
        };
        let zip = self.inner.blobs.get(digest).await?;
        Ok((config, Some(zip)))
    }

    /// Publishes a variant of `name`'s `$LATEST` as a new version (`Pending` while new code is
    /// unpacked; poll `GetFunction` with the version for `Active`).
    pub async fn publish_variant(
        &self,
        region: &str,
        name: &str,
        input: VariantInput,
    ) -> Result<FunctionView, ControlError> {
        let mut errs = ValidationErrors::new();
        validate::sizes(Some(i64::from(input.memory_mb)), None, None, &mut errs);
        validate::description(&input.description, &mut errs);
        errs.into_result()?;
        let r = self.resolve(region, name, None).await?;
        let arn = r.arn();
        let latest = &r.stored.value.latest;
        if latest.state != State::Active {
            return Err(ControlError::Conflict(format!(
                "The operation cannot be performed at this time. The function is currently in the following state: {}",
                latest.state.as_str()
            )));
        }
        if let Some(rt) = &latest.runtime
            && input.architecture != latest.architecture
        {
            validate::runtime(rt, input.architecture, false, &self.today())?;
        }
        let staged = match input.zip {
            Some(zip) if latest.package_type == PackageType::Zip => {
                let layers_unzipped = latest.layers.iter().map(|l| l.unzipped_size).sum();
                let code = CodeInput {
                    zip: Some(zip),
                    ..CodeInput::default()
                };
                Some(self.stage_code(region, &code, layers_unzipped).await?)
            }
            Some(_) => {
                return Err(ControlError::InvalidParameter(
                    "An image function's package cannot be replaced by a zip".into(),
                ));
            }
            None => None,
        };
        let mut rec = r.stored.value.clone();
        rec.last_version += 1;
        // PublishVersion answers the last version when `$LATEST` has not changed since it was
        // published; the last version is now this variant, so that shortcut must not apply.
        rec.published_revision = None;
        let mut version = rec.latest.clone();
        version.version = rec.last_version.to_string();
        version.revision_id = crate::new_revision();
        version.description = input.description;
        version.architecture = input.architecture;
        version.memory_mb = input.memory_mb;
        let new_code = staged.as_ref().map(|s| s.location.clone());
        if let Some(location) = new_code {
            version.code = location;
            version.state = State::Pending;
            version.state_reason = Some("The function is being created.".into());
            version.state_reason_code = Some("Creating".into());
        }
        let pending = version.state == State::Pending;
        let view = self
            .store_published(region, &rec, r.stored.etag, version, &arn)
            .await?;
        drop(staged);
        if pending {
            self.spawn_prepare(region, &r.name, Some(rec.last_version));
        }
        Ok(view)
    }
}
