//! What an invocation runs: the function version a name, qualifier or alias selects (an alias
//! with weights picks per invocation), ready to execute.

use std::path::PathBuf;
use std::time::Duration;

use archfn_model::{FunctionConfig, ImageLaunch, LastUpdateStatus, PackageType, State};

use crate::function::AliasPick;
use crate::{Control, ControlError, NotFoundKind};

/// A resolved invocation target.
#[derive(Debug, Clone)]
pub struct Invocable {
    /// The configuration of the version that runs.
    pub config: FunctionConfig,
    /// The ARN as the caller used it (qualified when they qualified it).
    pub invoked_arn: String,
    /// `$LATEST` or the version number that runs (`X-Amz-Executed-Version`).
    pub executed_version: String,
    /// Unpacked code.
    pub task_dir: PathBuf,
    /// Unpacked layers, in order.
    pub layer_dirs: Vec<PathBuf>,
    /// Reserved concurrency of the function, if set.
    pub reserved_concurrency: Option<u32>,
    /// How a container image function starts (`None` for a .zip function).
    pub image: Option<ImageLaunch>,
    /// The alias the caller invoked through, if any (for metrics per alias).
    pub alias: Option<String>,
}

impl Control {
    /// Resolves what an Invoke of `name` (with `qualifier`) runs. Waits for a `$LATEST` update in
    /// progress to finish preparing (Lambda would run the previous code meanwhile).
    pub async fn resolve_invocation(
        &self,
        region: &str,
        name: &str,
        qualifier: Option<&str>,
    ) -> Result<Invocable, ControlError> {
        let unqualified =
            qualifier.is_none() && self.parse_function_ref(region, name)?.qualifier.is_none();
        let mut waited = Duration::ZERO;
        loop {
            let r = match self.resolve(region, name, qualifier).await {
                Err(ControlError::NotFound {
                    kind: NotFoundKind::Function,
                    message,
                }) if unqualified => {
                    return Err(ControlError::not_found(
                        NotFoundKind::Function,
                        format!("{message}:$LATEST"),
                    ));
                }
                other => other?,
            };
            let selected = self
                .select_version(&r, AliasPick::Weighted(rand::random::<f64>()))
                .await?;
            let config = selected.config;
            let busy = config.state == State::Pending
                || config.last_update_status == Some(LastUpdateStatus::InProgress);
            if busy && waited < Duration::from_secs(30) {
                tokio::time::sleep(Duration::from_millis(20)).await;
                waited += Duration::from_millis(20);
                continue;
            }
            if config.state != State::Active {
                return Err(ControlError::Conflict(format!(
                    "The operation cannot be performed at this time. The function is currently in the following state: {}",
                    config.state.as_str()
                )));
            }
            let task_dir = self.code_dir(&config.code.digest);
            let layer_dirs = config
                .layers
                .iter()
                .map(|l| self.code_dir(&l.digest))
                .collect();
            let image = match config.package_type {
                PackageType::Image => Some(self.image_launch(&config)?),
                PackageType::Zip => None,
            };
            return Ok(Invocable {
                image,
                executed_version: config.version.clone(),
                config,
                invoked_arn: selected.arn,
                task_dir,
                layer_dirs,
                reserved_concurrency: r.stored.value.reserved_concurrency,
                alias: selected.alias,
            });
        }
    }
}

impl Control {
    /// Accepts an asynchronous invocation durably; runs later (see `due_events`).
    pub async fn enqueue_event(
        &self,
        region: &str,
        function: &str,
        qualifier: Option<&str>,
        payload: &[u8],
    ) -> Result<String, ControlError> {
        let id = uuid::Uuid::new_v4().to_string();
        self.store()
            .enqueue_event(&archfn_store::AsyncEvent {
                id: id.clone(),
                region: region.to_string(),
                function: function.to_string(),
                qualifier: qualifier.map(str::to_string),
                payload: payload.to_vec(),
                attempts: 0,
                next_attempt_ms: archfn_model::time::now_ms(),
            })
            .await?;
        Ok(id)
    }

    /// Asynchronous invocations due now.
    pub async fn due_events(
        &self,
        limit: usize,
    ) -> Result<Vec<archfn_store::AsyncEvent>, ControlError> {
        Ok(self
            .store()
            .due_events(archfn_model::time::now_ms(), limit)
            .await?)
    }

    /// Records a failed attempt; the next is due after `delay`.
    pub async fn retry_event(
        &self,
        id: &str,
        attempts: u32,
        delay: Duration,
    ) -> Result<(), ControlError> {
        let next =
            archfn_model::time::now_ms() + i64::try_from(delay.as_millis()).unwrap_or(i64::MAX / 2);
        Ok(self.store().reschedule_event(id, attempts, next).await?)
    }

    /// Forgets an event that ran, or ran out of attempts.
    pub async fn finish_event(&self, id: &str) -> Result<(), ControlError> {
        Ok(self.store().delete_event(id).await?)
    }
}
