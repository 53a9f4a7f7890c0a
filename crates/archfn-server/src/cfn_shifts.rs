//! CloudFormation's gradual alias updates (`UpdatePolicy: CodeDeployLambdaAliasUpdate`, what
//! SAM's `DeploymentPreference` makes) run as archfn-deploy traffic shifts: CodeDeploy's part,
//! wired here so that archfn-cloudformation does not depend on the shift engine.

use std::time::Duration;

use archfn_cloudformation::{AliasShift, AliasShifts};
use archfn_deploy::Deployments;
use archfn_model::deployment::{DeploymentStatus, Guardrails, Hooks};

/// How often a running shift's record is read while a stack waits for it.
const POLL: Duration = Duration::from_millis(500);

/// [`AliasShifts`] over the server's [`Deployments`].
#[derive(Debug, Clone)]
pub(crate) struct DeployShifts {
    deployments: Deployments,
}

impl DeployShifts {
    /// Shifts run by `deployments`.
    pub(crate) fn new(deployments: Deployments) -> Self {
        DeployShifts { deployments }
    }
}

/// The guardrails of a shift CloudFormation starts. CodeDeploy rolls back on the deployment
/// group's CloudWatch alarms, which archfn does not have; archfn judges the new version's own
/// function errors instead, from its first invocation through the alias (more than 1% of them
/// failing rolls back). Latency is not judged: CodeDeploy does not judge it either.
fn guardrails() -> Guardrails {
    Guardrails {
        max_error_rate: 0.01,
        max_p99_ratio: f64::MAX,
        min_invocations: 1,
    }
}

#[async_trait::async_trait]
impl AliasShifts for DeployShifts {
    async fn shift(&self, shift: AliasShift) -> Result<String, String> {
        if !shift.alarms.is_empty() {
            tracing::warn!(
                function = %shift.function,
                alias = %shift.alias,
                alarms = ?shift.alarms,
                "the deployment group's CloudWatch alarms are recorded, not watched: archfn has no CloudWatch alarms; the new version's errors are the guardrail"
            );
        }
        let input = archfn_control::ShiftInput {
            function: shift.function.clone(),
            alias: shift.alias.clone(),
            to_version: shift.to_version.clone(),
            strategy: Some(shift.config.clone()),
            guardrails: guardrails(),
            hooks: Hooks {
                pre_traffic: shift.before_hook.clone(),
                post_traffic: shift.after_hook.clone(),
            },
            time_scale: None,
        };
        let started = self
            .deployments
            .start(&shift.region, input)
            .await
            .map_err(|e| format!("The deployment could not start: {e}"))?;
        let id = started.id.clone();
        tracing::info!(deployment = %id, function = %shift.function, alias = %shift.alias, config = %shift.config, "CloudFormation alias update shifts traffic");
        loop {
            let d = self
                .deployments
                .get(&id)
                .await
                .map_err(|e| format!("Deployment {id} could not be read: {e}"))?;
            match d.status {
                DeploymentStatus::InProgress => tokio::time::sleep(POLL).await,
                DeploymentStatus::Succeeded => return Ok(id),
                other => {
                    return Err(format!(
                        "Deployment {id} of alias {} failed ({}): {}. Traffic is on version {} again.",
                        shift.alias,
                        other.as_str(),
                        d.reason.as_deref().unwrap_or("no reason recorded"),
                        d.from_version
                    ));
                }
            }
        }
    }
}
