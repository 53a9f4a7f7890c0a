//! Functions: create, read, list, update code and configuration, delete.

use std::collections::BTreeMap;

use archfn_blob::BlobDigest;
use archfn_model::limits::{self, MAX_LAYERS};
use archfn_model::{
    Code, CodeLocation, FunctionConfig, FunctionRecord, FunctionRef, LastUpdateStatus,
    LayerAttachment, PackageType, Qualifier, Scope, State, ValidationErrors,
};
use archfn_store::Stored;
use base64::Engine as _;

use crate::archive::{self, ArchiveError};
use crate::error::revision_mismatch;
use crate::input::{CodeInput, CreateFunctionInput, UpdateCodeInput, UpdateConfigInput};
use crate::{Control, ControlError, NotFoundKind, new_revision, validate};

/// A function configuration as a caller addressed it.
#[derive(Debug, Clone)]
pub struct FunctionView {
    /// The configuration (of `$LATEST` or of a version).
    pub config: FunctionConfig,
    /// The ARN to show: unqualified, or qualified the way the caller asked.
    pub arn: String,
}

/// GetFunction's answer: the configuration plus function-level settings.
#[derive(Debug, Clone)]
pub struct FunctionDetails {
    /// The configuration as addressed.
    pub view: FunctionView,
    /// Tags of the function.
    pub tags: BTreeMap<String, String>,
    /// Reserved concurrency, when set.
    pub reserved_concurrency: Option<u32>,
}

/// A function found by a request's name and qualifier.
pub(crate) struct Resolved {
    pub scope: Scope,
    pub name: String,
    pub stored: Stored<FunctionRecord>,
    pub qualifier: Option<String>,
}

impl Resolved {
    pub(crate) fn arn(&self) -> String {
        self.scope.function_arn(&self.name)
    }
}

/// How an alias selects its version.
#[derive(Debug, Clone, Copy)]
pub(crate) enum AliasPick {
    /// Its primary version (GetFunction, GetFunctionConfiguration, readiness).
    Primary,
    /// By its routing weights, given a roll in [0, 1) (Invoke).
    Weighted(f64),
}

/// The function version a qualifier selected.
#[derive(Debug)]
pub(crate) struct Selected {
    /// Its configuration.
    pub config: FunctionConfig,
    /// The ARN as addressed: unqualified, or with the caller's qualifier.
    pub arn: String,
    /// The alias the qualifier named, if it named one.
    pub alias: Option<String>,
}

/// The version an alias routes to for `roll` in [0, 1): an additional version with its
/// weight's probability, else the primary.
fn weighted(primary: &str, weights: &BTreeMap<String, f64>, roll: f64) -> String {
    let mut acc = 0.0;
    for (version, w) in weights {
        acc += w;
        if roll < acc {
            return version.clone();
        }
    }
    primary.to_string()
}

/// Code that passed inspection and is in the blob store.
pub(crate) struct StagedCode {
    pub location: CodeLocation,
    pub package_type: PackageType,
    /// Keeps the code from garbage collection until the row referencing it is written.
    pub _pin: Option<crate::gc::CodePin>,
}

const FUNCTION_NAME_MAX: usize = 64;

impl Control {
    /// Parses a FunctionName parameter and checks it names this region and account.
    pub(crate) fn parse_function_ref(
        &self,
        region: &str,
        input: &str,
    ) -> Result<FunctionRef, ControlError> {
        let fref = FunctionRef::parse(input)?;
        if let Some(r) = &fref.region
            && r != region
        {
            return Err(ControlError::not_found(
                NotFoundKind::Region,
                format!("Functions from '{r}' are not reachable in this region ('{region}')"),
            ));
        }
        if let Some(a) = &fref.account
            && a != self.account()
        {
            return Err(ControlError::AccessDenied(format!(
                "User is not authorized to access function {input} in account {a}"
            )));
        }
        Ok(fref)
    }

    /// Finds a function by name/ARN and optional qualifier; 404 as Lambda words it.
    pub(crate) async fn resolve(
        &self,
        region: &str,
        function_name: &str,
        qualifier: Option<&str>,
    ) -> Result<Resolved, ControlError> {
        let fref = self.parse_function_ref(region, function_name)?;
        let qualifier = match (fref.qualifier.as_deref(), qualifier) {
            (Some(a), Some(b)) if a != b => {
                return Err(ControlError::InvalidParameter(
                    "The derived qualifier from the function name does not match the specified qualifier.".into(),
                ));
            }
            (a, b) => a.or(b).map(str::to_string),
        };
        let scope = self.scope(region);
        match self.store().get_function(region, &fref.name).await? {
            Some(stored) => Ok(Resolved {
                scope,
                name: fref.name,
                stored,
                qualifier,
            }),
            None => {
                let mut arn = scope.function_arn(&fref.name);
                if let Some(q) = &qualifier {
                    arn = format!("{arn}:{q}");
                }
                Err(ControlError::not_found(
                    NotFoundKind::Function,
                    format!("Function not found: {arn}"),
                ))
            }
        }
    }

    /// Finds a function for an operation on `$LATEST` itself, which takes no qualifier.
    pub(crate) async fn resolve_unqualified(
        &self,
        region: &str,
        name: &str,
    ) -> Result<Resolved, ControlError> {
        let r = self.resolve(region, name, None).await?;
        if r.qualifier.is_some() {
            return Err(ControlError::InvalidParameter(
                "Qualified function names are not allowed for this operation.".into(),
            ));
        }
        Ok(r)
    }

    /// The configuration a resolved function's qualifier selects, with the ARN to show (an
    /// alias selects its primary version).
    pub(crate) async fn select(&self, r: &Resolved) -> Result<FunctionView, ControlError> {
        let s = self.select_version(r, AliasPick::Primary).await?;
        Ok(FunctionView {
            config: s.config,
            arn: s.arn,
        })
    }

    /// The function version a resolved function's qualifier selects: `$LATEST` without one, or
    /// the version a number, `$LATEST` or an alias names; an alias picks as `pick` says. What
    /// does not exist is "Function not found: <arn>:<qualifier>".
    pub(crate) async fn select_version(
        &self,
        r: &Resolved,
        pick: AliasPick,
    ) -> Result<Selected, ControlError> {
        let arn = r.arn();
        let Some(q) = r.qualifier.as_deref() else {
            return Ok(Selected {
                config: r.stored.value.latest.clone(),
                arn,
                alias: None,
            });
        };
        let not_found = |q: &str| {
            ControlError::not_found(
                NotFoundKind::Version,
                format!("Function not found: {arn}:{q}"),
            )
        };
        let mut alias_name = None;
        let config = match Qualifier::parse(q).ok_or_else(|| not_found(q))? {
            Qualifier::Latest => r.stored.value.latest.clone(),
            Qualifier::Version(n) => self
                .store()
                .get_version(&r.scope.region, &r.name, n)
                .await?
                .ok_or_else(|| not_found(q))?,
            Qualifier::Alias(a) => {
                let alias = self
                    .store()
                    .get_alias(&r.scope.region, &r.name, &a)
                    .await?
                    .ok_or_else(|| not_found(q))?
                    .value;
                // The message names what the operation asked for: the alias when it reads the
                // alias's primary version, the version picked when it routes.
                let (chosen, named) = match pick {
                    AliasPick::Primary => (alias.function_version.clone(), q.to_string()),
                    AliasPick::Weighted(roll) => {
                        let v = weighted(&alias.function_version, &alias.additional_weights, roll);
                        (v.clone(), v)
                    }
                };
                alias_name = Some(a);
                match Qualifier::parse(&chosen) {
                    Some(Qualifier::Version(n)) => self
                        .store()
                        .get_version(&r.scope.region, &r.name, n)
                        .await?
                        .ok_or_else(|| not_found(&named))?,
                    _ => r.stored.value.latest.clone(),
                }
            }
        };
        Ok(Selected {
            config,
            arn: format!("{arn}:{q}"),
            alias: alias_name,
        })
    }

    /// Checks size limits and the archive, then stores it (or, for code in S3, takes the
    /// object's blob as it is). `layers_unzipped` counts toward 250 MB. `region` is the
    /// function's or layer's, where a bucket must be.
    pub(crate) async fn stage_code(
        &self,
        region: &str,
        code: &CodeInput,
        layers_unzipped: u64,
    ) -> Result<StagedCode, ControlError> {
        if let Some(uri) = &code.image_uri {
            let image = match self.inner.images.resolve(uri).await {
                Ok(image) => image,
                Err(
                    crate::image::ImageError::NotFound | crate::image::ImageError::BadReference(_),
                ) => {
                    return Err(ControlError::InvalidParameter(format!(
                        "Source image {uri} does not exist. Provide a valid source image."
                    )));
                }
                Err(e) => return Err(ControlError::Internal(format!("image store: {e}"))),
            };
            if !image.platforms.is_empty() {
                return Err(ControlError::InvalidParameter(format!(
                    "The image manifest, config or layer media type for the source image {uri} is not supported."
                )));
            }
            let source = Code::image(image.id.clone());
            let pin = self.pin_code(vec![source.key()]).await;
            return Ok(StagedCode {
                _pin: Some(pin),
                location: CodeLocation {
                    sha256: image.id.clone(),
                    size: image.size,
                    unzipped_size: 0,
                    source,
                    image_uri: Some(uri.clone()),
                },
                package_type: PackageType::Image,
            });
        }
        if let Some(location) = &code.s3 {
            if code.zip.is_some() {
                return Err(zip_with_s3());
            }
            return self.stage_s3_code(region, location, layers_unzipped).await;
        }
        let Some(zip) = &code.zip else {
            return Err(ControlError::InvalidParameter(
                "Please provide a source for function code.".into(),
            ));
        };
        check_zipped_size(zip)?;
        let bytes = zip.clone();
        let summary = tokio::task::spawn_blocking(move || archive::inspect(&bytes))
            .await
            .map_err(|e| ControlError::Internal(e.to_string()))?
            .map_err(archive_error)?;
        if summary.unzipped_size.saturating_add(layers_unzipped) > limits::UNZIPPED_MAX_BYTES {
            return Err(crate::s3_code::unzipped_too_large());
        }
        let pin = self.pin_code(vec![BlobDigest::of(zip).hex()]).await;
        let digest = self.inner.blobs.put(zip.clone()).await?;
        Ok(StagedCode {
            _pin: Some(pin),
            location: code_location(digest, zip.len() as u64, summary.unzipped_size),
            package_type: PackageType::Zip,
        })
    }

    /// Resolves layer version ARNs for a function in `region`, as Lambda checks them.
    pub(crate) async fn resolve_layers(
        &self,
        region: &str,
        arns: &[String],
    ) -> Result<(Vec<LayerAttachment>, crate::gc::CodePin), ControlError> {
        if arns.len() > MAX_LAYERS {
            return Err(ControlError::InvalidParameter(
                "Cannot reference more than 5 layers.".into(),
            ));
        }
        let mut by_layer: BTreeMap<String, String> = BTreeMap::new();
        let mut out = Vec::with_capacity(arns.len());
        let mut pins = Vec::with_capacity(arns.len());
        for arn in arns {
            let Some((layer_region, account, name, version)) = parse_layer_version_arn(arn) else {
                return Err(ValidationErrors::single(
                    &archfn_model::validation::java_list(arns),
                    "layers",
                    "Member must satisfy constraint: [Member must have length less than or equal to 140, Member must have length greater than or equal to 1, Member must satisfy regular expression pattern: arn:[a-zA-Z0-9-]+:lambda:[a-zA-Z0-9-]+:\\d{12}:layer:[a-zA-Z0-9-_]+:[0-9]+, Member must not be null]",
                )
                .into());
            };
            if layer_region != region {
                return Err(ControlError::InvalidParameter(format!(
                    "Layers are not in the same region as the function. Layers are expected to be in region {region}."
                )));
            }
            let layer_key = format!("{account}:{name}");
            if let Some(other) = by_layer.insert(layer_key, arn.clone()) {
                return Err(ControlError::InvalidParameter(format!(
                    "Two different versions of the same layer are not allowed to be referenced in the same function. {other} and {arn} are versions of the same layer."
                )));
            }
            let mut found = if account == self.account() {
                self.store()
                    .get_layer_version(region, name, version)
                    .await?
            } else {
                None
            };
            if let Some(layer) = &found {
                // Pinned, then read again: a layer version still there after the pin keeps its
                // archive until this function's row is written, whatever a collection does.
                pins.push(self.pin_code(vec![layer.digest.clone()]).await);
                found = self
                    .store()
                    .get_layer_version(region, name, version)
                    .await?;
            }
            let Some(layer) = found else {
                return Err(ControlError::InvalidParameter(format!(
                    "Layer version {arn} does not exist."
                )));
            };
            out.push(LayerAttachment {
                arn: arn.clone(),
                code_size: layer.size,
                unzipped_size: layer.unzipped_size,
                digest: layer.digest,
            });
        }
        let keys = out.iter().map(|l| l.digest.clone()).collect();
        let pin = self.pin_code(keys).await;
        drop(pins);
        Ok((out, pin))
    }

    /// CreateFunction: validates, stores the code, answers Pending, prepares in the background.
    pub async fn create_function(
        &self,
        region: &str,
        input: CreateFunctionInput,
    ) -> Result<FunctionView, ControlError> {
        let fref = self.parse_function_ref(region, &input.function_name)?;
        let mut errs = ValidationErrors::new();
        if fref.name.len() > FUNCTION_NAME_MAX {
            errs.push(
                &fref.name,
                "functionName",
                "Member must have length less than or equal to 64",
            );
            return Err(ControlError::InvalidParameter(errs.message()));
        }
        if fref.qualifier.is_some() {
            return Err(ControlError::InvalidParameter(
                "Qualified function names are not allowed when creating a function.".into(),
            ));
        }
        let architecture = validate::architectures(input.architectures.as_deref(), &mut errs);
        let role = input.role.clone().unwrap_or_default();
        validate::role(&role, &mut errs);
        validate::settings(
            input.memory_size,
            input.timeout,
            input.ephemeral_storage,
            input.description.as_deref(),
            input.tracing_mode.as_deref(),
            &mut errs,
        );
        if let Some(l) = &input.logging {
            crate::logging::check_members(l, &mut errs);
        }
        let package_type = match input.package_type.as_deref() {
            None | Some("Zip") => PackageType::Zip,
            Some("Image") => PackageType::Image,
            Some(other) => {
                errs.push(
                    other,
                    "packageType",
                    "Member must satisfy enum value set: [Zip, Image]",
                );
                PackageType::Zip
            }
        };
        errs.into_result()?;
        validate::timeout_max(input.timeout)?;
        if package_type == PackageType::Zip {
            let Some(runtime) = input.runtime.as_deref() else {
                return Err(ControlError::InvalidParameter("Runtime and Handler are mandatory parameters for functions created with Zip packages.".into()));
            };
            validate::runtime(runtime, architecture, true, &self.today())?;
            if input.handler.as_deref().is_none_or(str::is_empty) {
                return Err(ControlError::InvalidParameter("Runtime and Handler are mandatory parameters for functions created with Zip packages.".into()));
            }
            if input.code.image_uri.is_some() {
                return Err(ControlError::InvalidParameter(
                    "Please don't provide ImageUri when updating a function with packageType Zip."
                        .into(),
                ));
            }
        } else if input.code.image_uri.is_none() {
            return Err(ControlError::InvalidParameter(
                "Please provide ImageUri when creating a function with packageType Image.".into(),
            ));
        }
        if let Some(env) = &input.environment {
            validate::environment(env)?;
        }
        let logging = input
            .logging
            .as_ref()
            .map(|l| crate::logging::apply(Default::default(), l))
            .transpose()?;
        if let Some(tags) = &input.tags {
            crate::account::check_tags(tags)?;
        }
        let (layers, _layer_pin) = self
            .resolve_layers(region, input.layers.as_deref().unwrap_or(&[]))
            .await?;
        let layers_unzipped = layers.iter().map(|l| l.unzipped_size).sum();
        let staged = self
            .stage_code(region, &input.code, layers_unzipped)
            .await?;
        let scope = self.scope(region);
        if self
            .store()
            .get_function(region, &fref.name)
            .await?
            .is_some()
        {
            return Err(ControlError::Conflict(format!(
                "Function already exist: {}",
                fref.name
            )));
        }
        let now = archfn_model::time::now_ms();
        let latest = FunctionConfig {
            name: fref.name.clone(),
            version: "$LATEST".into(),
            runtime: if staged.package_type == PackageType::Zip {
                input.runtime
            } else {
                None
            },
            handler: if staged.package_type == PackageType::Zip {
                input.handler
            } else {
                None
            },
            role,
            description: input.description.unwrap_or_default(),
            timeout_s: validate::to_u32(input.timeout.unwrap_or(3)),
            memory_mb: validate::to_u32(input.memory_size.unwrap_or(128)),
            ephemeral_storage_mb: validate::to_u32(input.ephemeral_storage.unwrap_or(512)),
            architecture,
            package_type: staged.package_type,
            code: staged.location,
            environment: input.environment,
            layers,
            tracing_mode: input.tracing_mode.unwrap_or_else(|| "PassThrough".into()),
            state: State::Pending,
            state_reason: Some("The function is being created.".into()),
            state_reason_code: Some("Creating".into()),
            last_update_status: None,
            last_update_status_reason: None,
            last_update_status_reason_code: None,
            revision_id: new_revision(),
            last_modified_ms: now,
            opaque: input.opaque,
            logging,
        };
        let mut record = FunctionRecord {
            latest,
            tags: input.tags.unwrap_or_default(),
            reserved_concurrency: None,
            last_version: 0,
            published_revision: None,
            created_ms: now,
        };
        let etag = match self.store().create_function(region, &record).await {
            Err(archfn_store::StoreError::AlreadyExists) => {
                return Err(ControlError::Conflict(format!(
                    "Function already exist: {}",
                    fref.name
                )));
            }
            other => other?,
        };
        let mut shown = record.latest.clone();
        if input.publish {
            let version = self.snapshot_version(&mut record, None);
            self.store()
                .publish_version(region, &record, etag, &version)
                .await?;
            shown.version = version.version;
            self.spawn_prepare(region, &fref.name, Some(1));
        }
        self.spawn_prepare(region, &fref.name, None);
        Ok(FunctionView {
            config: shown,
            arn: scope.function_arn(&fref.name),
        })
    }

    /// GetFunction.
    pub async fn get_function(
        &self,
        region: &str,
        name: &str,
        qualifier: Option<&str>,
    ) -> Result<FunctionDetails, ControlError> {
        let r = self.resolve(region, name, qualifier).await?;
        let view = self.select(&r).await?;
        Ok(FunctionDetails {
            view,
            tags: r.stored.value.tags.clone(),
            reserved_concurrency: r.stored.value.reserved_concurrency,
        })
    }

    /// GetFunctionConfiguration.
    pub async fn get_function_configuration(
        &self,
        region: &str,
        name: &str,
        qualifier: Option<&str>,
    ) -> Result<FunctionView, ControlError> {
        let r = self.resolve(region, name, qualifier).await?;
        self.select(&r).await
    }

    /// ListFunctions: `$LATEST` of each function by name; with `all`, each function's
    /// `$LATEST` then its versions. The marker is opaque to callers.
    pub async fn list_functions(
        &self,
        region: &str,
        all: bool,
        marker: Option<&str>,
        max_items: Option<i64>,
    ) -> Result<(Vec<FunctionView>, Option<String>), ControlError> {
        let max = page_size(max_items, 50, 10_000)?;
        let scope = self.scope(region);
        let (start, mut skip) = decode_marker(marker)?;
        let mut queue = std::collections::VecDeque::new();
        if let Some(name) = &start
            && let Some(s) = self.store().get_function(region, name).await?
        {
            queue.push_back(s.value);
        }
        let mut cursor = start;
        let mut exhausted = false;
        let mut out = Vec::with_capacity(max.min(1024));
        loop {
            let Some(rec) = queue.pop_front() else {
                if exhausted {
                    return Ok((out, None));
                }
                let batch = self
                    .store()
                    .list_functions(region, cursor.as_deref(), max + 1)
                    .await?;
                exhausted = batch.len() <= max;
                cursor = batch.last().map(|r| r.latest.name.clone()).or(cursor);
                queue.extend(batch);
                continue;
            };
            let name = rec.latest.name.clone();
            let arn = scope.function_arn(&name);
            let mut entries = vec![FunctionView {
                arn: if all {
                    format!("{arn}:$LATEST")
                } else {
                    arn.clone()
                },
                config: rec.latest,
            }];
            if all {
                for v in self
                    .store()
                    .list_versions(region, &name, None, usize::MAX >> 1)
                    .await?
                {
                    entries.push(FunctionView {
                        arn: format!("{arn}:{}", v.version),
                        config: v,
                    });
                }
            }
            for (i, e) in entries.into_iter().enumerate().skip(skip) {
                if out.len() == max {
                    return Ok((out, Some(encode_marker(&name, i))));
                }
                out.push(e);
            }
            skip = 0;
        }
    }

    fn ensure_updatable(&self, r: &Resolved) -> Result<(), ControlError> {
        let latest = &r.stored.value.latest;
        if latest.state == State::Pending {
            return Err(ControlError::Conflict(format!(
                "The operation cannot be performed at this time. The resource {} is currently in the following state: 'Pending'. StateReasonCode: 'Creating'",
                r.arn()
            )));
        }
        if latest.last_update_status == Some(LastUpdateStatus::InProgress) {
            return Err(ControlError::Conflict(format!(
                "The operation cannot be performed at this time. An update is in progress for resource: {}",
                r.arn()
            )));
        }
        Ok(())
    }

    fn check_revision(r: &Resolved, given: Option<&str>) -> Result<(), ControlError> {
        match given {
            Some(rev) if rev != r.stored.value.latest.revision_id => Err(revision_mismatch()),
            _ => Ok(()),
        }
    }

    /// UpdateFunctionCode: new code and maybe a new architecture; optionally publishes.
    pub async fn update_function_code(
        &self,
        region: &str,
        name: &str,
        input: UpdateCodeInput,
    ) -> Result<FunctionView, ControlError> {
        let r = self.resolve_unqualified(region, name).await?;
        let mut errs = ValidationErrors::new();
        let current = &r.stored.value.latest;
        let architecture = match &input.architectures {
            Some(list) => validate::architectures(Some(list), &mut errs),
            None => current.architecture,
        };
        errs.into_result()?;
        // A zip over the limit is refused as the request arrives, before its revision is compared.
        if let Some(zip) = &input.code.zip {
            check_zipped_size(zip)?;
        }
        self.ensure_updatable(&r)?;
        Self::check_revision(&r, input.revision_id.as_deref())?;
        match current.package_type {
            PackageType::Zip if input.code.image_uri.is_some() => {
                return Err(ControlError::InvalidParameter(
                    "Please don't provide ImageUri when updating a function with packageType Zip."
                        .into(),
                ));
            }
            PackageType::Image if input.code.image_uri.is_none() => {
                return Err(ControlError::InvalidParameter(
                    "Please provide ImageUri when updating a function with packageType Image."
                        .into(),
                ));
            }
            _ => {}
        }
        if let Some(rt) = &current.runtime
            && architecture != current.architecture
        {
            validate::runtime(rt, architecture, false, &self.today())?;
        }
        let layers_unzipped = current.layers.iter().map(|l| l.unzipped_size).sum();
        let staged = if input.dry_run && input.code.zip.is_some() {
            // Validate the archive without storing it.
            self.check_code_only(region, &input.code, layers_unzipped)
                .await?
        } else {
            self.stage_code(region, &input.code, layers_unzipped)
                .await?
        };
        let mut rec = r.stored.value.clone();
        rec.latest.code = staged.location;
        rec.latest.architecture = architecture;
        mark_in_progress(&mut rec.latest);
        if input.dry_run {
            return Ok(FunctionView {
                config: rec.latest,
                arn: r.arn(),
            });
        }
        self.note_unverified_code(region, &r.name).await;
        self.write_update(&r, rec, input.publish).await
    }

    async fn check_code_only(
        &self,
        region: &str,
        code: &CodeInput,
        layers_unzipped: u64,
    ) -> Result<StagedCode, ControlError> {
        let Some(zip) = &code.zip else {
            return self.stage_code(region, code, layers_unzipped).await;
        };
        if code.s3.is_some() {
            return Err(zip_with_s3());
        }
        if zip.len() as u64 > limits::ZIPPED_MAX_BYTES {
            return Err(ControlError::TooLarge(format!(
                "Zipped size must be smaller than {} bytes",
                limits::ZIPPED_MAX_BYTES
            )));
        }
        let summary = archive::inspect(zip).map_err(archive_error)?;
        Ok(StagedCode {
            location: code_location(BlobDigest::of(zip), zip.len() as u64, summary.unzipped_size),
            package_type: PackageType::Zip,
            _pin: None,
        })
    }

    /// Stores an InProgress `$LATEST` (publishing a version too if asked) and starts preparation.
    async fn write_update(
        &self,
        r: &Resolved,
        mut rec: FunctionRecord,
        publish: bool,
    ) -> Result<FunctionView, ControlError> {
        let region = r.scope.region.as_str();
        let result = if publish {
            let mut version = self.snapshot_version(&mut rec, None);
            version.state = State::Pending;
            version.state_reason = Some("The function is being created.".into());
            version.state_reason_code = Some("Creating".into());
            version.last_update_status = None;
            version.last_update_status_reason = None;
            version.last_update_status_reason_code = None;
            let n = rec.last_version;
            self.store()
                .publish_version(region, &rec, r.stored.etag, &version)
                .await
                .map(|_| {
                    (
                        FunctionView {
                            arn: format!("{}:{n}", r.arn()),
                            config: version,
                        },
                        Some(n),
                    )
                })
        } else {
            self.store()
                .put_function(
                    region,
                    &rec,
                    r.stored.etag,
                    archfn_store::Durability::Synced,
                )
                .await
                .map(|_| {
                    (
                        FunctionView {
                            config: rec.latest.clone(),
                            arn: r.arn(),
                        },
                        None,
                    )
                })
        };
        let (view, published) = result.map_err(|e| match e {
            archfn_store::StoreError::Conflict => ControlError::Conflict(format!(
                "The operation cannot be performed at this time. An update is in progress for resource: {}",
                r.arn()
            )),
            other => other.into(),
        })?;
        if let Some(n) = published {
            self.spawn_prepare(region, &r.name, Some(n));
        }
        self.spawn_prepare(region, &r.name, None);
        Ok(view)
    }

    /// UpdateFunctionConfiguration. The architecture is not a parameter here, as on Lambda.
    pub async fn update_function_configuration(
        &self,
        region: &str,
        name: &str,
        input: UpdateConfigInput,
    ) -> Result<FunctionView, ControlError> {
        let r = self.resolve_unqualified(region, name).await?;
        let mut errs = ValidationErrors::new();
        if let Some(role) = &input.role {
            validate::role(role, &mut errs);
        }
        validate::settings(
            input.memory_size,
            input.timeout,
            input.ephemeral_storage,
            input.description.as_deref(),
            input.tracing_mode.as_deref(),
            &mut errs,
        );
        if let Some(l) = &input.logging {
            crate::logging::check_members(l, &mut errs);
        }
        errs.into_result()?;
        validate::timeout_max(input.timeout)?;
        self.ensure_updatable(&r)?;
        Self::check_revision(&r, input.revision_id.as_deref())?;
        let mut rec = r.stored.value.clone();
        let c = &mut rec.latest;
        if let Some(rt) = &input.runtime {
            if c.package_type == PackageType::Image {
                return Err(ControlError::InvalidParameter("Please don't provide Runtime or Handler when updating a function with packageType Image.".into()));
            }
            validate::runtime(rt, c.architecture, false, &self.today())?;
            c.runtime = Some(rt.clone());
        }
        if let Some(env) = input.environment {
            validate::environment(&env)?;
            c.environment = Some(env);
        }
        if let Some(l) = &input.logging {
            let next = crate::logging::apply(c.logging_config(), l)?;
            c.opaque.remove("LoggingConfig");
            c.logging = Some(next);
        }
        // Held until the row is written.
        let mut layer_pins = Vec::new();
        if let Some(arns) = &input.layers {
            let (layers, pin) = self.resolve_layers(region, arns).await?;
            layer_pins.push(pin);
            let total: u64 =
                c.code.unzipped_size + layers.iter().map(|l| l.unzipped_size).sum::<u64>();
            if total > limits::UNZIPPED_MAX_BYTES {
                return Err(ControlError::InvalidParameter(format!(
                    "Function code combined with layers exceeds the maximum allowed size of {} bytes. The actual size is {total} bytes.",
                    limits::UNZIPPED_MAX_BYTES
                )));
            }
            c.layers = layers;
        }
        if let Some(v) = input.role {
            c.role = v;
        }
        if let Some(v) = input.handler {
            c.handler = Some(v);
        }
        if let Some(v) = input.description {
            c.description = v;
        }
        if let Some(v) = input.timeout {
            c.timeout_s = validate::to_u32(v);
        }
        if let Some(v) = input.memory_size {
            c.memory_mb = validate::to_u32(v);
        }
        if let Some(v) = input.ephemeral_storage {
            c.ephemeral_storage_mb = validate::to_u32(v);
        }
        if let Some(v) = input.tracing_mode {
            c.tracing_mode = v;
        }
        c.opaque.extend(input.opaque);
        mark_in_progress(c);
        let written = self.write_update(&r, rec, false).await;
        drop(layer_pins);
        written
    }

    /// DeleteFunction: the whole function, or one version with `Qualifier`.
    pub async fn delete_function(
        &self,
        region: &str,
        name: &str,
        qualifier: Option<&str>,
    ) -> Result<(), ControlError> {
        let r = self.resolve(region, name, qualifier).await?;
        let Some(q) = r.qualifier.as_deref() else {
            if !self.store().delete_function(region, &r.name).await? {
                return Err(ControlError::not_found(
                    NotFoundKind::Function,
                    format!("Function not found: {}", r.arn()),
                ));
            }
            self.request_collection();
            return Ok(());
        };
        match Qualifier::parse(q) {
            Some(Qualifier::Latest) => Err(ControlError::InvalidParameter(
                "$LATEST version cannot be deleted without deleting the function.".into(),
            )),
            Some(Qualifier::Version(n)) => {
                let aliases = self
                    .store()
                    .list_aliases(region, &r.name, None, usize::MAX >> 1)
                    .await?;
                let using: Vec<String> = aliases
                    .into_iter()
                    .filter(|a| a.function_version == q || a.additional_weights.contains_key(q))
                    .map(|a| a.name)
                    .collect();
                if !using.is_empty() {
                    return Err(ControlError::Conflict(format!(
                        "Unable to delete version because the following aliases reference it: [{}]",
                        using.join(", ")
                    )));
                }
                self.store().delete_version(region, &r.name, n).await?;
                self.request_collection();
                Ok(())
            }
            _ => Err(ControlError::InvalidParameter(format!(
                "Deletion of aliases is not supported through DeleteFunction. Use DeleteAlias to delete alias {q}."
            ))),
        }
    }
}

fn mark_in_progress(c: &mut FunctionConfig) {
    c.last_update_status = Some(LastUpdateStatus::InProgress);
    c.last_update_status_reason = Some("The function is being created.".into());
    c.last_update_status_reason_code = Some("Creating".into());
    c.revision_id = new_revision();
    c.last_modified_ms = archfn_model::time::now_ms();
}

pub(crate) fn code_location(digest: BlobDigest, size: u64, unzipped_size: u64) -> CodeLocation {
    CodeLocation {
        sha256: base64::engine::general_purpose::STANDARD.encode(digest.0),
        size,
        unzipped_size,
        source: Code::zip(digest.hex()),
        image_uri: None,
    }
}

/// Lambda's answer to a `ZipFile` given with S3 members.
fn zip_with_s3() -> ControlError {
    ControlError::InvalidParameter(
        "Please do not provide other FunctionCode parameters when providing a ZipFile.".into(),
    )
}

pub(crate) fn archive_error(e: ArchiveError) -> ControlError {
    match e {
        ArchiveError::NotAZip(_) => ControlError::InvalidParameter(
            "Could not unzip uploaded file. Please check your file, then try to upload again."
                .into(),
        ),
        ArchiveError::Io(m) => ControlError::Internal(m),
        other => ControlError::InvalidParameter(format!(
            "Could not unzip uploaded file. Please check your file, then try to upload again. ({other})"
        )),
    }
}

/// Parses `arn:aws:lambda:<region>:<account>:layer:<name>:<version>`.
pub(crate) fn parse_layer_version_arn(arn: &str) -> Option<(&str, &str, &str, u64)> {
    let p: Vec<&str> = arn.split(':').collect();
    if p.len() != 8 || p[0] != "arn" || p[2] != "lambda" || p[5] != "layer" || arn.len() > 140 {
        return None;
    }
    let name_ok = !p[6].is_empty()
        && p[6]
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    let account_ok = p[4].len() == 12 && p[4].bytes().all(|b| b.is_ascii_digit());
    let version = p[7].parse().ok()?;
    (name_ok && account_ok).then_some((p[3], p[4], p[6], version))
}

/// MaxItems: `None` → default; outside 1..=max → ValidationException.
pub(crate) fn page_size(
    given: Option<i64>,
    default: usize,
    max: i64,
) -> Result<usize, ControlError> {
    match given {
        None => Ok(default),
        Some(n) if (1..=max).contains(&n) => Ok(usize::try_from(n).unwrap_or(default)),
        Some(n) => {
            let c = if n < 1 {
                "Member must have value greater than or equal to 1".to_string()
            } else {
                format!("Member must have value less than or equal to {max}")
            };
            Err(ValidationErrors::single(&n.to_string(), "maxItems", &c).into())
        }
    }
}

pub(crate) fn encode_marker(name: &str, index: usize) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("{index}:{name}"))
}

/// A marker's function name (where the next page starts) and how many of its entries to skip.
pub(crate) fn decode_marker(marker: Option<&str>) -> Result<(Option<String>, usize), ControlError> {
    let Some(m) = marker.filter(|m| !m.is_empty()) else {
        return Ok((None, 0));
    };
    let invalid = || ControlError::InvalidParameter(format!("Invalid marker: {m}"));
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(m)
        .map_err(|_| invalid())?;
    let text = String::from_utf8(raw).map_err(|_| invalid())?;
    let (i, name) = text.split_once(':').ok_or_else(invalid)?;
    let i: usize = i.parse().map_err(|_| invalid())?;
    Ok((Some(name.to_string()), i))
}

/// Lambda's limit on a zip uploaded directly.
fn check_zipped_size(zip: &[u8]) -> Result<(), ControlError> {
    if zip.len() as u64 > limits::ZIPPED_MAX_BYTES {
        return Err(ControlError::TooLarge(format!(
            "Zipped size must be smaller than {} bytes",
            limits::ZIPPED_MAX_BYTES
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_alias_routes_by_weight() {
        let mut w = BTreeMap::new();
        w.insert("2".to_string(), 0.25);
        assert_eq!(weighted("1", &w, 0.10), "2");
        assert_eq!(weighted("1", &w, 0.30), "1");
        assert_eq!(weighted("1", &BTreeMap::new(), 0.0), "1");
    }
}
