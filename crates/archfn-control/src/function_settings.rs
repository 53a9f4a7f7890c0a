//! A function's runtime management configuration (PutRuntimeManagementConfig,
//! GetRuntimeManagementConfig: per `$LATEST` or version) and recursion configuration
//! (PutFunctionRecursionConfig, GetFunctionRecursionConfig), each a setting of the function,
//! deleted with it. archfn runs the runtime its installation holds whatever the mode says: the
//! configuration is recorded and returned, not acted on.

use archfn_model::ValidationErrors;
use archfn_store::{SettingKey, SettingKind, SettingWrite};
use serde::{Deserialize, Serialize};

use crate::{Control, ControlError, NotFoundKind};

/// The pattern of a runtime version ARN, as the API model gives it.
const RUNTIME_VERSION_ARN_PATTERN: &str = "((arn:(aws[a-zA-Z-]*):lambda:(eusc-)?[a-z]{2}((-gov)|(-iso([a-z]?)))?-[a-z]+-\\d{1}::runtime:.+)|(arn:(aws[a-zA-Z-]*):lambda:(eusc-)?[a-z]{2}((-gov)|(-iso([a-z]?)))?-[a-z]+-\\d{1}:\\d{12}:runtime/[A-Za-z0-9_.-]{1,128}/version/[A-Za-z0-9_.-]{1,128}))";

/// A runtime management configuration as stored and shown.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RuntimeManagementView {
    /// `Auto`, `FunctionUpdate` or `Manual`.
    pub update_runtime_on: String,
    /// With `Manual`: the runtime version.
    pub runtime_version_arn: Option<String>,
    /// The function's ARN (with the qualifier when one was given).
    #[serde(skip)]
    pub function_arn: String,
}

/// The recursion configuration document.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Recursion {
    recursive_loop: String,
}

fn valid_runtime_version_arn(arn: &str) -> bool {
    let len_ok = (26..=2048).contains(&arn.len());
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    let [a, partition, service, region, account, rest] = parts[..] else {
        return false;
    };
    let head_ok = a == "arn"
        && partition.starts_with("aws")
        && service == "lambda"
        && archfn_model::arn::valid_region(region);
    let managed =
        account.is_empty() && rest.strip_prefix("runtime:").is_some_and(|v| !v.is_empty());
    let custom = account.len() == 12
        && account.bytes().all(|b| b.is_ascii_digit())
        && rest.strip_prefix("runtime/").is_some_and(|v| {
            v.split_once("/version/").is_some_and(|(n, ver)| {
                let seg = |s: &str| {
                    (1..=128).contains(&s.len())
                        && s.bytes()
                            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
                };
                seg(n) && seg(ver)
            })
        });
    len_ok && head_ok && (managed || custom)
}

impl Control {
    /// The function and qualifier a runtime management request addresses: `$LATEST` or a
    /// published version (aliases are refused, as on Lambda).
    async fn runtime_management_target(
        &self,
        region: &str,
        name: &str,
        qualifier: Option<&str>,
    ) -> Result<(SettingKey, String), ControlError> {
        let r = self.resolve(region, name, qualifier).await?;
        let q = r.qualifier.clone().unwrap_or_else(|| "$LATEST".into());
        let arn = match &r.qualifier {
            Some(q) => format!("{}:{q}", r.arn()),
            None => r.arn(),
        };
        if q != "$LATEST" {
            if !q.bytes().all(|b| b.is_ascii_digit()) {
                return Err(ControlError::InvalidParameter(format!(
                    "The provided function name {arn} is invalid. Aliases are not allowed."
                )));
            }
            let number: u64 = q.parse().unwrap_or(0);
            if self
                .store()
                .get_version(region, &r.name, number)
                .await?
                .is_none()
            {
                return Err(ControlError::not_found(
                    NotFoundKind::Version,
                    format!("Function not found: {arn}"),
                ));
            }
        }
        Ok((
            SettingKey::new(region, SettingKind::RuntimeManagement, &r.name, q),
            arn,
        ))
    }

    /// PutRuntimeManagementConfig.
    pub async fn put_runtime_management_config(
        &self,
        region: &str,
        name: &str,
        qualifier: Option<&str>,
        update_runtime_on: &str,
        runtime_version_arn: Option<&str>,
    ) -> Result<RuntimeManagementView, ControlError> {
        let mut errs = ValidationErrors::new();
        if !matches!(update_runtime_on, "Auto" | "Manual" | "FunctionUpdate") {
            errs.push(
                update_runtime_on,
                "updateRuntimeOn",
                "Member must satisfy enum value set: [Auto, Manual, FunctionUpdate]",
            );
        }
        if let Some(arn) = runtime_version_arn
            && !valid_runtime_version_arn(arn)
        {
            errs.push(
                arn,
                "runtimeVersionArn",
                &format!(
                    "Member must satisfy regular expression pattern: {RUNTIME_VERSION_ARN_PATTERN}"
                ),
            );
        }
        errs.into_result()?;
        match (update_runtime_on, runtime_version_arn) {
            ("Manual", None) => {
                return Err(ControlError::InvalidParameter(
                    "RuntimeVersionArn must be provided when UpdateRuntimeOn is Manual.".into(),
                ));
            }
            ("Auto" | "FunctionUpdate", Some(_)) => {
                return Err(ControlError::InvalidParameter(format!(
                    "RuntimeVersionArn can only be provided when UpdateRuntimeOn is Manual, not {update_runtime_on}."
                )));
            }
            _ => {}
        }
        let (key, arn) = self
            .runtime_management_target(region, name, qualifier)
            .await?;
        let view = RuntimeManagementView {
            update_runtime_on: update_runtime_on.to_string(),
            runtime_version_arn: runtime_version_arn.map(str::to_string),
            function_arn: arn,
        };
        let doc =
            serde_json::to_string(&view).map_err(|e| ControlError::Internal(e.to_string()))?;
        self.store()
            .put_setting(&key, &doc, None, SettingWrite::Upsert)
            .await?;
        Ok(view)
    }

    /// GetRuntimeManagementConfig: `Auto` until one is put.
    pub async fn get_runtime_management_config(
        &self,
        region: &str,
        name: &str,
        qualifier: Option<&str>,
    ) -> Result<RuntimeManagementView, ControlError> {
        let (key, arn) = self
            .runtime_management_target(region, name, qualifier)
            .await?;
        let mut view = match self.store().get_setting(&key).await? {
            Some(row) => row.decode::<RuntimeManagementView>()?,
            None => RuntimeManagementView {
                update_runtime_on: "Auto".into(),
                runtime_version_arn: None,
                function_arn: String::new(),
            },
        };
        view.function_arn = arn;
        Ok(view)
    }

    /// PutFunctionRecursionConfig: the loop setting now in force.
    pub async fn put_function_recursion_config(
        &self,
        region: &str,
        name: &str,
        recursive_loop: &str,
    ) -> Result<String, ControlError> {
        if !matches!(recursive_loop, "Allow" | "Terminate") {
            return Err(ValidationErrors::single(
                recursive_loop,
                "recursiveLoop",
                "Member must satisfy enum value set: [Allow, Terminate]",
            )
            .into());
        }
        let r = self.resolve_unqualified(region, name).await?;
        let key = SettingKey::new(region, SettingKind::Recursion, &r.name, "");
        let doc = serde_json::to_string(&Recursion {
            recursive_loop: recursive_loop.to_string(),
        })
        .map_err(|e| ControlError::Internal(e.to_string()))?;
        self.store()
            .put_setting(&key, &doc, None, SettingWrite::Upsert)
            .await?;
        Ok(recursive_loop.to_string())
    }

    /// GetFunctionRecursionConfig: `Terminate` until one is put.
    pub async fn get_function_recursion_config(
        &self,
        region: &str,
        name: &str,
    ) -> Result<String, ControlError> {
        let r = self.resolve_unqualified(region, name).await?;
        let key = SettingKey::new(region, SettingKind::Recursion, &r.name, "");
        Ok(match self.store().get_setting(&key).await? {
            Some(row) => row.decode::<Recursion>()?.recursive_loop,
            None => "Terminate".into(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runtime_version_arns_follow_the_model() {
        assert!(valid_runtime_version_arn(
            "arn:aws:lambda:us-east-1::runtime:0123456789abcdef"
        ));
        assert!(valid_runtime_version_arn(
            "arn:aws:lambda:us-east-1:123456789012:runtime/custom/version/1"
        ));
        assert!(!valid_runtime_version_arn(
            "arn:aws:lambda:us-east-1::runtime:"
        ));
        assert!(!valid_runtime_version_arn("nope"));
    }
}
