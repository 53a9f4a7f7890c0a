//! Capacity providers (Lambda Managed Instances): a pool of machines of one instruction set
//! that functions are placed on with their `CapacityProviderConfig`. In archfn a pool's
//! machines are worker nodes (`archfn serve --role worker --capacity-provider NAME`); the
//! provider itself is an account-scoped document (`SettingKind::CapacityProvider`, qualifier:
//! its name). What archfn cannot act on (VPC subnets and security groups, instance types, the
//! operator role, scaling policies, KMS) is recorded and returned as given.

use std::collections::BTreeMap;

use archfn_model::Architecture;
use archfn_store::{SettingKey, SettingKind, SettingWrite, StoreError};
use serde::{Deserialize, Serialize};

use crate::{Control, ControlError, NotFoundKind};

/// The states of a capacity provider, as Lambda names them.
pub const STATES: [&str; 4] = ["Pending", "Active", "Failed", "Deleting"];

/// A capacity provider as stored and shown.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CapacityProviderView {
    /// Its name.
    pub name: String,
    /// Its ARN.
    pub arn: String,
    /// `Active` once created (archfn has no instances to launch), `Deleting` in DeleteCapacityProvider's answer.
    pub state: String,
    /// The one architecture of its instances (`InstanceRequirements.Architectures`).
    pub architecture: Architecture,
    /// Whether `InstanceRequirements` was given (it is shown only then, as Lambda shows it).
    pub instance_requirements: Option<serde_json::Value>,
    /// `VpcConfig`, recorded.
    pub vpc_config: serde_json::Value,
    /// `PermissionsConfig`, recorded.
    pub permissions_config: serde_json::Value,
    /// `CapacityProviderScalingConfig`, recorded.
    pub scaling_config: Option<serde_json::Value>,
    /// `KmsKeyArn`, recorded.
    pub kms_key_arn: Option<String>,
    /// `PropagateTags`, recorded.
    pub propagate_tags: Option<serde_json::Value>,
    /// `TelemetryConfig`, recorded.
    pub telemetry_config: Option<serde_json::Value>,
    /// Tags given at creation.
    pub tags: BTreeMap<String, String>,
    /// Unix milliseconds of the last change.
    pub last_modified_ms: i64,
}

/// CreateCapacityProvider, as given (the wire's members, decoded by the API).
#[derive(Debug, Clone, Default)]
pub struct CapacityProviderInput {
    /// `CapacityProviderName` (a name or the provider's ARN).
    pub name: String,
    /// `InstanceRequirements.Architectures`' one entry; x86_64 when absent.
    pub architecture: Option<Architecture>,
    /// `InstanceRequirements`.
    pub instance_requirements: Option<serde_json::Value>,
    /// `VpcConfig`.
    pub vpc_config: serde_json::Value,
    /// `PermissionsConfig`.
    pub permissions_config: serde_json::Value,
    /// `CapacityProviderScalingConfig`.
    pub scaling_config: Option<serde_json::Value>,
    /// `KmsKeyArn`.
    pub kms_key_arn: Option<String>,
    /// `PropagateTags`.
    pub propagate_tags: Option<serde_json::Value>,
    /// `TelemetryConfig`.
    pub telemetry_config: Option<serde_json::Value>,
    /// `Tags`.
    pub tags: BTreeMap<String, String>,
}

/// UpdateCapacityProvider, as given: absent members stay as they are.
#[derive(Debug, Clone, Default)]
pub struct CapacityProviderUpdate {
    /// `CapacityProviderScalingConfig`.
    pub scaling_config: Option<serde_json::Value>,
    /// `PropagateTags`.
    pub propagate_tags: Option<serde_json::Value>,
    /// `TelemetryConfig`.
    pub telemetry_config: Option<serde_json::Value>,
}

/// A page of capacity providers.
#[derive(Debug, Clone)]
pub struct CapacityProviderPage {
    /// The providers.
    pub providers: Vec<CapacityProviderView>,
    /// Where the next page starts.
    pub next_marker: Option<String>,
}

/// The name a `CapacityProviderName` (a name, or an ARN of this kind) names, and the region
/// an ARN names (`None` for a plain name).
pub fn provider_name(given: &str) -> (Option<&str>, &str) {
    let parts: Vec<&str> = given.split(':').collect();
    match parts[..] {
        ["arn", _, "lambda", region, _, "capacity-provider", name] => (Some(region), name),
        _ => (None, given),
    }
}

/// The provider a function's `CapacityProviderConfig` places it on: (region, name), read from
/// the configuration as stored (`LambdaManagedInstancesCapacityProviderConfig.CapacityProviderArn`).
pub fn function_provider(config: &archfn_model::FunctionConfig) -> Option<(String, String)> {
    let arn = config
        .opaque
        .get("CapacityProviderConfig")?
        .get("LambdaManagedInstancesCapacityProviderConfig")?
        .get("CapacityProviderArn")?
        .as_str()?;
    match provider_name(arn) {
        (Some(region), name) => Some((region.to_string(), name.to_string())),
        (None, _) => None,
    }
}

fn not_found(arn: &str) -> ControlError {
    ControlError::not_found(
        NotFoundKind::CapacityProvider,
        format!("Capacity provider not found: {arn}"),
    )
}

fn check_scaling(scaling: Option<&serde_json::Value>) -> Result<(), ControlError> {
    let Some(s) = scaling else { return Ok(()) };
    let mode = s.get("ScalingMode").and_then(serde_json::Value::as_str);
    let policies = s
        .get("ScalingPolicies")
        .and_then(serde_json::Value::as_array)
        .is_some_and(|p| !p.is_empty());
    match (mode, policies) {
        (Some("Manual"), false) => Err(ControlError::InvalidParameter(
            "ScalingPolicies must be specified when ScalingMode is Manual.".into(),
        )),
        (Some("Auto") | None, true) => Err(ControlError::InvalidParameter(
            "ScalingPolicies can only be specified when ScalingMode is Manual.".into(),
        )),
        _ => Ok(()),
    }
}

impl Control {
    /// A capacity provider's ARN.
    pub fn capacity_provider_arn(&self, region: &str, name: &str) -> String {
        format!(
            "arn:aws:lambda:{region}:{}:capacity-provider:{name}",
            self.account()
        )
    }

    fn provider_key(region: &str, name: &str) -> SettingKey {
        SettingKey::new(region, SettingKind::CapacityProvider, "", name)
    }

    /// The name `given` names in `region` (an ARN of another region or account is not found).
    fn provider_in<'a>(&self, region: &str, given: &'a str) -> Result<&'a str, ControlError> {
        match provider_name(given) {
            (None, name) => Ok(name),
            (Some(r), name) if r == region && given.contains(&format!(":{}:", self.account())) => {
                Ok(name)
            }
            (Some(_), _) => Err(not_found(given)),
        }
    }

    async fn load_provider(
        &self,
        region: &str,
        name: &str,
    ) -> Result<(CapacityProviderView, i64), ControlError> {
        let row = self
            .store()
            .get_setting(&Self::provider_key(region, name))
            .await?
            .ok_or_else(|| not_found(&self.capacity_provider_arn(region, name)))?;
        Ok((row.decode()?, row.etag))
    }

    /// CreateCapacityProvider: recorded and `Active` at once.
    pub async fn create_capacity_provider(
        &self,
        region: &str,
        input: CapacityProviderInput,
    ) -> Result<CapacityProviderView, ControlError> {
        let name = self.provider_in(region, &input.name)?.to_string();
        check_scaling(input.scaling_config.as_ref())?;
        let view = CapacityProviderView {
            arn: self.capacity_provider_arn(region, &name),
            name: name.clone(),
            state: "Active".into(),
            architecture: input.architecture.unwrap_or(Architecture::X86_64),
            instance_requirements: input.instance_requirements,
            vpc_config: input.vpc_config,
            permissions_config: input.permissions_config,
            scaling_config: input.scaling_config,
            kms_key_arn: input.kms_key_arn,
            propagate_tags: input.propagate_tags,
            telemetry_config: input.telemetry_config,
            tags: input.tags,
            last_modified_ms: archfn_model::time::now_ms(),
        };
        let doc =
            serde_json::to_string(&view).map_err(|e| ControlError::Internal(e.to_string()))?;
        match self
            .store()
            .put_setting(
                &Self::provider_key(region, &name),
                &doc,
                None,
                SettingWrite::Create,
            )
            .await
        {
            Ok(_) => Ok(view),
            Err(StoreError::AlreadyExists) => Err(ControlError::Conflict(format!(
                "Capacity provider already exists: {}",
                view.arn
            ))),
            Err(e) => Err(e.into()),
        }
    }

    /// GetCapacityProvider.
    pub async fn get_capacity_provider(
        &self,
        region: &str,
        given: &str,
    ) -> Result<CapacityProviderView, ControlError> {
        let name = self.provider_in(region, given)?;
        Ok(self.load_provider(region, name).await?.0)
    }

    /// UpdateCapacityProvider: the scaling, tag propagation and telemetry configurations.
    pub async fn update_capacity_provider(
        &self,
        region: &str,
        given: &str,
        update: CapacityProviderUpdate,
    ) -> Result<CapacityProviderView, ControlError> {
        let name = self.provider_in(region, given)?;
        let (mut view, etag) = self.load_provider(region, name).await?;
        check_scaling(update.scaling_config.as_ref())?;
        if let Some(s) = update.scaling_config {
            view.scaling_config = Some(s);
        }
        if let Some(p) = update.propagate_tags {
            view.propagate_tags = Some(p);
        }
        if let Some(t) = update.telemetry_config {
            view.telemetry_config = Some(t);
        }
        view.last_modified_ms = archfn_model::time::now_ms();
        let doc =
            serde_json::to_string(&view).map_err(|e| ControlError::Internal(e.to_string()))?;
        match self
            .store()
            .put_setting(
                &Self::provider_key(region, name),
                &doc,
                None,
                SettingWrite::Replace(etag),
            )
            .await
        {
            Ok(_) => Ok(view),
            Err(StoreError::Conflict) => Err(ControlError::Conflict(
                "The capacity provider was changed by another request. Try again.".into(),
            )),
            Err(StoreError::NotFound) => Err(not_found(&view.arn)),
            Err(e) => Err(e.into()),
        }
    }

    /// DeleteCapacityProvider: refused while a function is placed on it; answers the provider
    /// in state `Deleting`.
    pub async fn delete_capacity_provider(
        &self,
        region: &str,
        given: &str,
    ) -> Result<CapacityProviderView, ControlError> {
        let name = self.provider_in(region, given)?;
        let (mut view, etag) = self.load_provider(region, name).await?;
        if let Some((arn, _)) = self.versions_on(region, name).await?.first() {
            return Err(ControlError::Conflict(format!(
                "Capacity provider {} is in use by function version {arn}. Remove the function's capacity provider configuration first.",
                view.arn
            )));
        }
        match self
            .store()
            .delete_setting(&Self::provider_key(region, name), Some(etag))
            .await
        {
            Ok(true) => {}
            Ok(false) => return Err(not_found(&view.arn)),
            Err(StoreError::Conflict) => {
                return Err(ControlError::Conflict(
                    "The capacity provider was changed by another request. Try again.".into(),
                ));
            }
            Err(e) => return Err(e.into()),
        }
        view.state = "Deleting".into();
        Ok(view)
    }

    /// ListCapacityProviders: by name, of one state when given, `max_items` (1–50) a page.
    pub async fn list_capacity_providers(
        &self,
        region: &str,
        state: Option<&str>,
        marker: Option<&str>,
        max_items: Option<i64>,
    ) -> Result<CapacityProviderPage, ControlError> {
        let max = usize::try_from(max_items.unwrap_or(50).clamp(1, 50)).unwrap_or(50);
        let mut providers = Vec::new();
        for row in self
            .store()
            .list_settings(region, SettingKind::CapacityProvider, Some(""))
            .await?
        {
            let view: CapacityProviderView = row.decode()?;
            if state.is_some_and(|s| s != view.state) {
                continue;
            }
            if marker.is_some_and(|m| view.name.as_str() <= m) {
                continue;
            }
            providers.push(view);
        }
        providers.sort_by(|a, b| a.name.cmp(&b.name));
        let next_marker = (providers.len() > max).then(|| providers[max - 1].name.clone());
        providers.truncate(max);
        Ok(CapacityProviderPage {
            providers,
            next_marker,
        })
    }

    /// Every function version on `region`'s `given` provider ($LATEST included): ARN and state.
    async fn versions_on(
        &self,
        region: &str,
        name: &str,
    ) -> Result<Vec<(String, String)>, ControlError> {
        let mut out = Vec::new();
        let mut marker: Option<String> = None;
        loop {
            let (functions, next) = self
                .list_functions(region, true, marker.as_deref(), Some(10_000))
                .await?;
            for f in functions {
                if function_provider(&f.config).is_some_and(|(r, n)| r == region && n == name) {
                    let arn = if f.arn.ends_with(&format!(":{}", f.config.version)) {
                        f.arn.clone()
                    } else {
                        format!("{}:{}", f.arn, f.config.version)
                    };
                    out.push((arn, f.config.state.as_str().to_string()));
                }
            }
            match next {
                Some(n) => marker = Some(n),
                None => return Ok(out),
            }
        }
    }

    /// ListFunctionVersionsByCapacityProvider: (the provider's ARN, a page of (version ARN,
    /// state), the next marker).
    pub async fn list_function_versions_by_capacity_provider(
        &self,
        region: &str,
        given: &str,
        marker: Option<&str>,
        max_items: Option<i64>,
    ) -> Result<(String, Vec<(String, String)>, Option<String>), ControlError> {
        let name = self.provider_in(region, given)?;
        let (view, _) = self.load_provider(region, name).await?;
        let all = self.versions_on(region, name).await?;
        let max = usize::try_from(max_items.unwrap_or(50).clamp(1, 50)).unwrap_or(50);
        let start = match marker {
            None => 0,
            Some(m) => all
                .iter()
                .position(|(arn, _)| arn == m)
                .map_or(all.len(), |i| i + 1),
        };
        let page: Vec<(String, String)> = all.iter().skip(start).take(max).cloned().collect();
        let next = (start + page.len() < all.len())
            .then(|| page.last().map(|(arn, _)| arn.clone()))
            .flatten();
        Ok((view.arn, page, next))
    }

    /// The architecture of the provider a function's `CapacityProviderConfig` names, checked
    /// against the function's: `InvalidParameterValueException` when the provider does not
    /// exist or runs another architecture.
    pub async fn check_function_provider(
        &self,
        region: &str,
        config: &serde_json::Value,
        architecture: Architecture,
    ) -> Result<(), ControlError> {
        let arn = config
            .get("LambdaManagedInstancesCapacityProviderConfig")
            .and_then(|c| c.get("CapacityProviderArn"))
            .and_then(serde_json::Value::as_str)
            .unwrap_or("");
        let (Some(r), name) = provider_name(arn) else {
            return Err(ControlError::InvalidParameter(format!(
                "Capacity provider not found: {arn}"
            )));
        };
        if r != region {
            return Err(ControlError::InvalidParameter(format!(
                "Capacity provider not found: {arn}"
            )));
        }
        let Some(row) = self
            .store()
            .get_setting(&Self::provider_key(region, name))
            .await?
        else {
            return Err(ControlError::InvalidParameter(format!(
                "Capacity provider not found: {arn}"
            )));
        };
        let view: CapacityProviderView = row.decode()?;
        if view.architecture != architecture {
            return Err(ControlError::InvalidParameter(format!(
                "The function's architecture {architecture} does not match the architecture {} of capacity provider {arn}.",
                view.architecture
            )));
        }
        Ok(())
    }
}
