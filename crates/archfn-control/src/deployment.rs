//! Traffic shifts of an alias (`archfn shift`): Lambda's rules for what may be shifted, the
//! record kept in the store, and the alias moves a shift makes. Running a shift (timers,
//! guardrails, hooks) is `archfn-deploy`'s.

use std::collections::BTreeMap;

use archfn_model::Qualifier;
use archfn_model::deployment::{
    DeploymentRecord, DeploymentStatus, Guardrails, Hooks, Phase, ShiftPlan,
};
use archfn_store::{DeploymentFilter, StoreError, Stored};

use crate::{AliasInput, Control, ControlError, NotFoundKind};

/// A request to shift an alias to a version.
#[derive(Debug, Clone, Default)]
pub struct ShiftInput {
    /// The function: name or ARN.
    pub function: String,
    /// The alias to shift.
    pub alias: String,
    /// The version to shift to: a number, or a qualified ARN of the same function.
    pub to_version: String,
    /// A predefined configuration or custom steps (see [`ShiftPlan::parse`]); `None` is
    /// `Canary10Percent5Minutes`, SAM's usual choice.
    pub strategy: Option<String>,
    /// Guardrails (defaults: 1% errors, 1.5x p99, 20 invocations).
    pub guardrails: Guardrails,
    /// Hook functions.
    pub hooks: Hooks,
    /// Every interval of a predefined configuration times this (`--deploy-time-scale`, for
    /// tests: 0.02 holds Canary10Percent5Minutes's 10% for 6 s); `None` is 1.
    pub time_scale: Option<f64>,
}

/// Characters of a deployment id after `d-` (CodeDeploy's are nine upper-case letters and
/// digits).
const ID_CHARS: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";

fn new_id() -> String {
    let mut id = String::from("d-");
    for _ in 0..9 {
        let i = rand::random_range(0..ID_CHARS.len());
        id.push(char::from(ID_CHARS[i]));
    }
    id
}

fn invalid(m: impl Into<String>) -> ControlError {
    ControlError::InvalidParameter(m.into())
}

impl Control {
    /// Starts a traffic shift: checks it as Lambda would check the alias routing it will make,
    /// and records it (`InProgress`). The caller runs it.
    pub async fn create_deployment(
        &self,
        region: &str,
        input: ShiftInput,
    ) -> Result<DeploymentRecord, ControlError> {
        let plan = ShiftPlan::parse(
            input
                .strategy
                .as_deref()
                .unwrap_or("Canary10Percent5Minutes"),
        )
        .map_err(invalid)?;
        let mut plan = plan;
        let scale = input.time_scale.unwrap_or(1.0);
        if !(scale.is_finite() && scale > 0.0) {
            return Err(invalid(
                "The deployment time scale must be a positive number",
            ));
        }
        let scaled = (scale - 1.0).abs() > f64::EPSILON
            && ShiftPlan::predefined_names().any(|n| n == plan.name);
        if scaled {
            for step in &mut plan.steps {
                step.hold_ms = (step.hold_ms as f64 * scale).round() as u64;
            }
        }
        input.guardrails.check().map_err(invalid)?;
        let r = self.resolve(region, &input.function, None).await?;
        let arn = r.arn();
        let alias = match self
            .store()
            .get_alias(region, &r.name, &input.alias)
            .await?
        {
            Some(a) => a.value,
            None => {
                return Err(ControlError::not_found(
                    NotFoundKind::Alias,
                    format!("Alias not found: {arn}:{}", input.alias),
                ));
            }
        };
        let to = self.target_version(region, &r.name, &arn, &input.to_version)?;
        let from = alias.function_version.clone();
        if Qualifier::parse(&from) == Some(Qualifier::Latest) {
            return Err(invalid(format!(
                "Alias {} points to $LATEST; traffic can be shifted only between published versions",
                input.alias
            )));
        }
        if from == to {
            return Err(invalid(format!(
                "Alias {} already points to version {to}",
                input.alias
            )));
        }
        // The routing every step makes must be one Lambda accepts.
        self.check_routing(&r, &from, &BTreeMap::from([(to.clone(), 0.1)]))
            .await?;
        for hook in [&input.hooks.pre_traffic, &input.hooks.post_traffic]
            .into_iter()
            .flatten()
        {
            self.resolve(region, hook, None).await?;
        }
        let now = archfn_model::time::now_ms();
        let phase = if input.hooks.pre_traffic.is_some() {
            Phase::BeforeAllowTraffic { invoked: false }
        } else {
            Phase::Shifting { step: 0 }
        };
        let mut d = DeploymentRecord {
            id: new_id(),
            region: region.to_string(),
            function: r.name.clone(),
            alias: input.alias.clone(),
            from_version: from.clone(),
            to_version: to.clone(),
            plan,
            guardrails: input.guardrails,
            hooks: input.hooks,
            status: DeploymentStatus::InProgress,
            phase,
            steps: Vec::new(),
            reason: None,
            events: Vec::new(),
            created_ms: now,
            updated_ms: now,
            finished_ms: None,
        };
        let mut created = format!(
            "shift of alias {} from version {from} to {to} created ({})",
            input.alias, d.plan.name
        );
        if !alias.additional_weights.is_empty() {
            created.push_str(&format!(
                "; the alias's routing {:?} is replaced",
                alias.additional_weights
            ));
        }
        d.log(now, created);
        if scaled {
            d.log(
                now,
                format!(
                    "every interval of {} times {scale} (deployment time scale)",
                    d.plan.name
                ),
            );
        }
        match self.store().create_deployment(&d).await {
            Ok(()) => Ok(d),
            Err(StoreError::AlreadyExists) => {
                let running = self
                    .store()
                    .list_deployments(&DeploymentFilter {
                        region: Some(region),
                        function: Some(&r.name),
                        alias: Some(&input.alias),
                        active_only: true,
                        limit: 1,
                    })
                    .await?;
                let id = running
                    .first()
                    .map(|d| d.value.id.clone())
                    .unwrap_or_default();
                Err(ControlError::Conflict(format!(
                    "A deployment ({id}) is already in progress for alias {arn}:{}",
                    input.alias
                )))
            }
            Err(e) => Err(e.into()),
        }
    }

    /// The version number `text` names: a number, or a version ARN of function `name`.
    fn target_version(
        &self,
        region: &str,
        name: &str,
        arn: &str,
        text: &str,
    ) -> Result<String, ControlError> {
        let (function, qualifier) = if text.contains(':') {
            let fref = self.parse_function_ref(region, text)?;
            (fref.name, fref.qualifier)
        } else {
            (name.to_string(), Some(text.to_string()))
        };
        if function != name {
            return Err(invalid(format!(
                "Version {text} belongs to function {function}, not to {name}"
            )));
        }
        match qualifier.as_deref().and_then(Qualifier::parse) {
            Some(Qualifier::Version(n)) => Ok(n.to_string()),
            Some(Qualifier::Latest) => Err(invalid(
                "$LATEST is not supported for an alias pointing to more than 1 version",
            )),
            _ => Err(ControlError::not_found(
                NotFoundKind::Version,
                format!(
                    "Function not found: {arn}:{}",
                    qualifier.unwrap_or_default()
                ),
            )),
        }
    }

    /// A traffic shift by id.
    pub async fn get_deployment(&self, id: &str) -> Result<Stored<DeploymentRecord>, ControlError> {
        self.store().get_deployment(id).await?.ok_or_else(|| {
            ControlError::not_found(
                NotFoundKind::Deployment,
                format!("Deployment not found: {id}"),
            )
        })
    }

    /// Traffic shifts, newest first: of a function (name or ARN) and alias when given.
    pub async fn list_deployments(
        &self,
        region: &str,
        function: Option<&str>,
        alias: Option<&str>,
        active_only: bool,
        limit: usize,
    ) -> Result<Vec<DeploymentRecord>, ControlError> {
        let name = match function {
            Some(f) => Some(self.resolve(region, f, None).await?.name),
            None => None,
        };
        Ok(self
            .store()
            .list_deployments(&DeploymentFilter {
                region: Some(region),
                function: name.as_deref(),
                alias,
                active_only,
                limit,
            })
            .await?
            .into_iter()
            .map(|d| d.value)
            .collect())
    }

    /// Every shift in progress, in every region (to resume at start).
    pub async fn active_deployments(&self) -> Result<Vec<Stored<DeploymentRecord>>, ControlError> {
        Ok(self
            .store()
            .list_deployments(&DeploymentFilter {
                active_only: true,
                limit: 10_000,
                ..DeploymentFilter::default()
            })
            .await?)
    }

    /// Writes a shift's record if nobody else has since `etag`; returns the new etag.
    pub async fn save_deployment(
        &self,
        d: &DeploymentRecord,
        etag: i64,
    ) -> Result<i64, ControlError> {
        match self.store().put_deployment(d, etag).await {
            Err(StoreError::Conflict) => Err(ControlError::PreconditionFailed(format!(
                "Deployment {} was changed by another writer",
                d.id
            ))),
            other => Ok(other?),
        }
    }

    /// Points `alias` at `to` for `percent` of its traffic and at `from` for the rest (at 100,
    /// only `to`; at 0, only `from`), through UpdateAlias and its checks.
    pub async fn route_alias(
        &self,
        region: &str,
        function: &str,
        alias: &str,
        from: &str,
        to: &str,
        percent: u8,
    ) -> Result<(), ControlError> {
        let (primary, weights) = match percent {
            0 => (from, BTreeMap::new()),
            100.. => (to, BTreeMap::new()),
            p => (
                from,
                BTreeMap::from([(to.to_string(), f64::from(p) / 100.0)]),
            ),
        };
        self.update_alias(
            region,
            function,
            alias,
            AliasInput {
                function_version: Some(primary.to_string()),
                weights: Some(weights),
                ..AliasInput::default()
            },
        )
        .await?;
        Ok(())
    }
}
