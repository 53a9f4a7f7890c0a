//! Gradual alias updates: an `AWS::Lambda::Alias` with `UpdatePolicy: CodeDeployLambdaAliasUpdate`
//! whose `FunctionVersion` changes is moved by a traffic shift (CodeDeploy's job on AWS) instead
//! of at once. The shift itself is run by whoever implements [`AliasShifts`] (the binary, over
//! archfn-deploy), so this crate does not depend on the shift engine.

use async_trait::async_trait;

/// One shift an alias update asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AliasShift {
    /// The region.
    pub region: String,
    /// The function (name or ARN).
    pub function: String,
    /// The alias's name.
    pub alias: String,
    /// The version the alias moves to.
    pub to_version: String,
    /// The deployment group's `DeploymentConfigName` (`CodeDeployDefault.LambdaCanary10Percent5Minutes`…).
    pub config: String,
    /// `BeforeAllowTrafficHook`: a function name or ARN.
    pub before_hook: Option<String>,
    /// `AfterAllowTrafficHook`: a function name or ARN.
    pub after_hook: Option<String>,
    /// The deployment group's alarm names (recorded: archfn has no CloudWatch alarms to watch).
    pub alarms: Vec<String>,
}

/// Runs traffic shifts for alias updates.
#[async_trait]
pub trait AliasShifts: std::fmt::Debug + Send + Sync {
    /// Runs `shift` to its end: the deployment's id when all traffic is on the new version, or
    /// why it failed (rolled back: the alias is on the old version again).
    async fn shift(&self, shift: AliasShift) -> Result<String, String>;
}
