//! What an invocation runs: the function version a name, qualifier or alias selects (an alias
//! with weights picks per invocation), ready to execute.

use std::path::PathBuf;
use std::time::Duration;

use archfn_model::{FunctionConfig, ImageLaunch, LastUpdateStatus, PackageType, Qualifier, State};

use crate::{Control, ControlError};

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

/// Picks the additional version with probability `weight`, else the primary.
fn pick(primary: &str, weights: &std::collections::BTreeMap<String, f64>, roll: f64) -> String {
    let mut acc = 0.0;
    for (version, w) in weights {
        acc += w;
        if roll < acc {
            return version.clone();
        }
    }
    primary.to_string()
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
                Err(ControlError::NotFound(m))
                    if unqualified && m.starts_with("Function not found") =>
                {
                    return Err(ControlError::NotFound(format!("{m}:$LATEST")));
                }
                other => other?,
            };
            let arn = r.arn();
            let q = r.qualifier.clone();
            let not_found =
                |q: &str| ControlError::NotFound(format!("Function not found: {arn}:{q}"));
            let mut alias_name = None;
            let (config, invoked_arn) = match q.as_deref() {
                None => (r.stored.value.latest.clone(), arn.clone()),
                Some(q) => match Qualifier::parse(q).ok_or_else(|| not_found(q))? {
                    Qualifier::Latest => (r.stored.value.latest.clone(), format!("{arn}:$LATEST")),
                    Qualifier::Version(n) => (
                        self.store()
                            .get_version(region, &r.name, n)
                            .await?
                            .ok_or_else(|| not_found(q))?,
                        format!("{arn}:{q}"),
                    ),
                    Qualifier::Alias(a) => {
                        let alias = self
                            .store()
                            .get_alias(region, &r.name, &a)
                            .await?
                            .ok_or_else(|| not_found(q))?
                            .value;
                        let chosen = pick(
                            &alias.function_version,
                            &alias.additional_weights,
                            rand::random::<f64>(),
                        );
                        let config = match Qualifier::parse(&chosen) {
                            Some(Qualifier::Version(n)) => self
                                .store()
                                .get_version(region, &r.name, n)
                                .await?
                                .ok_or_else(|| not_found(&chosen))?,
                            _ => r.stored.value.latest.clone(),
                        };
                        alias_name = Some(a);
                        (config, format!("{arn}:{q}"))
                    }
                },
            };
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
            let task_dir = self.code_dir(&config.code.source.key());
            let layer_dirs = config
                .layers
                .iter()
                .map(|l| self.code_dir(&l.digest))
                .collect();
            let image = match config.package_type {
                PackageType::Image => Some(self.image_launch(&config).await?),
                PackageType::Zip => None,
            };
            return Ok(Invocable {
                image,
                executed_version: config.version.clone(),
                config,
                invoked_arn,
                task_dir,
                layer_dirs,
                reserved_concurrency: r.stored.value.reserved_concurrency,
                alias: alias_name,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn picks_by_weight() {
        let mut w = std::collections::BTreeMap::new();
        w.insert("2".to_string(), 0.25);
        assert_eq!(pick("1", &w, 0.10), "2");
        assert_eq!(pick("1", &w, 0.30), "1");
        assert_eq!(pick("1", &std::collections::BTreeMap::new(), 0.0), "1");
    }
}
