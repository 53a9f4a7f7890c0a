//! Control-plane use cases: functions, versions, aliases, layers, tags, concurrency, and the
//! asynchronous preparation of code that moves a function from Pending to Active.
//!
//! Owns: every rule Lambda applies to a control-plane request (architecture, runtime, limits,
//! states, revisions), expressed over the model and the store and blob traits.
//! Must not: know the Lambda wire format (JSON field names, headers, status codes) or SQL.

mod account;
mod alias;
pub mod archive;
pub mod capacity_provider;
pub mod cluster;
mod code_signing;
mod concurrency;
mod deployment;
mod error;
pub mod event_invoke;
mod function;
mod function_settings;
mod function_url;
mod gc;
pub mod image;
mod input;
mod invoke;
mod layer;
mod layer_policy;
mod logging;
mod metrics;
mod policy;
mod prepare;
pub mod provisioned;
mod readiness;
pub mod registry;
mod s3_code;
#[cfg(test)]
mod testing;
mod validate;
mod variant;
mod version;

use std::path::PathBuf;
use std::sync::Arc;

use archfn_blob::BlobStore;
use archfn_store::MetadataStore;
use archfn_store::objects::ObjectCatalog;

pub use account::AccountSettings;
pub use alias::AliasView;
pub use code_signing::{CodeSigningConfigView, CodeSigningInput, CodeSigningPage, FunctionArnPage};
pub use concurrency::Admission;
pub use deployment::ShiftInput;
pub use error::{ControlError, NotFoundKind};
pub use function::{FunctionDetails, FunctionView};
pub use function_settings::RuntimeManagementView;
pub use function_url::{Cors, FunctionUrlInput, FunctionUrlView};
pub use gc::GcReport;
pub use input::{
    AliasInput, CodeInput, CodeSource, CreateFunctionInput, LayerFilter, LoggingInput,
    PublishLayerInput, S3Location, UpdateCodeInput, UpdateConfigInput,
};
pub use invoke::{Admitted, Invocable, InvokeRefused, enqueued_ms};
pub use layer::LayerVersionView;
pub use layer_policy::{LayerPermissionInput, LayerPolicyView, LayerStatementView};
pub use policy::{PermissionInput, PolicyView};
pub use variant::VariantInput;

/// The control plane: cheap to clone, shared by every request handler and background task.
#[derive(Debug, Clone)]
pub struct Control {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    store: Arc<dyn MetadataStore>,
    blobs: Arc<dyn BlobStore>,
    objects: Arc<dyn ObjectCatalog>,
    code_root: PathBuf,
    images: image::ImageStore,
    account: String,
    policy_date: Option<String>,
    account_concurrency: u32,
    in_flight: Arc<std::sync::Mutex<concurrency::InFlight>>,
    pins: Arc<std::sync::Mutex<gc::Pins>>,
    gc_wanted: tokio::sync::Notify,
    gc_running: tokio::sync::Mutex<()>,
}

/// How a control plane is put together.
#[derive(Debug)]
pub struct ControlConfig {
    /// Metadata backend.
    pub store: Arc<dyn MetadataStore>,
    /// Archive backend.
    pub blobs: Arc<dyn BlobStore>,
    /// archfn's S3 catalogue, where code given as `S3Bucket`/`S3Key` is found (its bytes are
    /// blobs of `blobs`).
    pub objects: Arc<dyn ObjectCatalog>,
    /// Directory that receives prepared (unpacked) code, one directory per archive digest.
    pub code_root: PathBuf,
    /// The image store's records (`archfn image import`, the registry), which `ImageUri`s
    /// name; the images' blobs are in `blobs`.
    pub images: Arc<dyn image::ImageCatalog>,
    /// The account id in every ARN.
    pub account: String,
    /// The date runtime deprecation rules are judged at (`YYYY-MM-DD`); today when `None`.
    pub policy_date: Option<String>,
    /// The account's concurrency quota per region (ConcurrentExecutions; Lambda's default 1000).
    pub account_concurrency: u32,
}

impl Control {
    /// Builds a control plane and resumes any preparation a previous process left unfinished.
    pub async fn start(config: ControlConfig) -> Result<Control, ControlError> {
        std::fs::create_dir_all(&config.code_root)
            .map_err(|e| ControlError::Internal(format!("code directory: {e}")))?;
        let pins: Arc<std::sync::Mutex<gc::Pins>> = Arc::default();
        let images =
            image::ImageStore::new(config.blobs.clone(), config.images).with_pins(pins.clone());
        let control = Control {
            inner: Arc::new(Inner {
                store: config.store,
                blobs: config.blobs,
                objects: config.objects,
                code_root: config.code_root,
                images,
                account: config.account,
                policy_date: config.policy_date,
                account_concurrency: config.account_concurrency,
                in_flight: Arc::default(),
                pins,
                gc_wanted: tokio::sync::Notify::new(),
                gc_running: tokio::sync::Mutex::new(()),
            }),
        };
        control.sweep_temporaries();
        control.resume_preparations().await?;
        Ok(control)
    }

    /// The account id of every resource.
    pub fn account(&self) -> &str {
        &self.inner.account
    }

    /// The blob store, for serving code downloads.
    pub fn blobs(&self) -> &Arc<dyn BlobStore> {
        &self.inner.blobs
    }

    /// The local image store (and registry).
    pub fn images(&self) -> &image::ImageStore {
        &self.inner.images
    }

    /// How a container image function version starts.
    pub async fn image_launch(
        &self,
        config: &archfn_model::FunctionConfig,
    ) -> Result<archfn_model::ImageLaunch, ControlError> {
        let Some(id) = config.code.source.image_id() else {
            return Err(ControlError::Internal(format!(
                "{} is not an image function",
                config.name
            )));
        };
        let image = self
            .inner
            .images
            .cached(id)
            .await
            .map_err(|e| ControlError::Internal(format!("image {id}: {e}")))?;
        Ok(image::launch(&image, config))
    }

    /// Where the unpacked code with key `key` (`Code::key`: a zip's digest, `image-<id>`) is,
    /// once prepared.
    pub fn code_dir(&self, key: &str) -> PathBuf {
        self.inner.code_root.join(key)
    }

    fn store(&self) -> &dyn MetadataStore {
        self.inner.store.as_ref()
    }

    fn today(&self) -> String {
        self.inner
            .policy_date
            .clone()
            .unwrap_or_else(archfn_model::time::today_utc)
    }

    fn scope(&self, region: &str) -> archfn_model::Scope {
        archfn_model::Scope {
            region: region.to_string(),
            account: self.inner.account.clone(),
        }
    }
}

pub(crate) fn new_revision() -> String {
    uuid::Uuid::new_v4().to_string()
}
