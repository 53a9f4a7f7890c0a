//! Layer version permissions (AddLayerVersionPermission, GetLayerVersionPolicy,
//! RemoveLayerVersionPermission): a layer version's resource policy, one
//! `SettingKind::LayerVersionPolicy` document per version (owner: the layer, qualifier: the
//! version). archfn serves one account, so every caller owns every layer and the statements
//! grant nothing it does not already have: they are recorded and returned, not enforced.

use archfn_model::ValidationErrors;
use archfn_store::{SettingKey, SettingKind, SettingWrite, StoreError};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::{Control, ControlError, NotFoundKind};

/// AddLayerVersionPermission, as given.
#[derive(Debug, Clone, Default)]
pub struct LayerPermissionInput {
    /// Statement id.
    pub statement_id: String,
    /// `lambda:GetLayerVersion`.
    pub action: String,
    /// An account id, `*`, or an account's root ARN.
    pub principal: String,
    /// With `*`: only accounts of this organization.
    pub organization_id: Option<String>,
    /// The policy's expected RevisionId.
    pub revision_id: Option<String>,
}

/// The stored policy of one layer version.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct LayerPolicy {
    revision_id: String,
    statements: Vec<Value>,
}

/// A policy as GetLayerVersionPolicy answers it.
#[derive(Debug, Clone)]
pub struct LayerPolicyView {
    /// The policy document, as JSON text.
    pub policy: String,
    /// Its revision.
    pub revision_id: String,
}

/// A statement as AddLayerVersionPermission answers it.
#[derive(Debug, Clone)]
pub struct LayerStatementView {
    /// The statement, as JSON text.
    pub statement: String,
    /// The policy's new revision.
    pub revision_id: String,
}

fn check(input: &LayerPermissionInput) -> Result<(), ValidationErrors> {
    let mut errs = ValidationErrors::new();
    let sid = &input.statement_id;
    if sid.is_empty() || sid.len() > 100 {
        let c = if sid.is_empty() {
            "Member must have length greater than or equal to 1"
        } else {
            "Member must have length less than or equal to 100"
        };
        errs.push(sid, "statementId", c);
    } else if !sid
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        errs.push(
            sid,
            "statementId",
            "Member must satisfy regular expression pattern: ([a-zA-Z0-9-_]+)",
        );
    }
    if input.action != "lambda:GetLayerVersion" {
        errs.push(
            &input.action,
            "action",
            "Member must satisfy regular expression pattern: lambda:GetLayerVersion",
        );
    }
    if principal_account(&input.principal).is_none() && input.principal != "*" {
        errs.push(
            &input.principal,
            "principal",
            "Member must satisfy regular expression pattern: \\d{12}|\\*|arn:(aws[a-zA-Z-]*):iam::\\d{12}:root",
        );
    }
    if let Some(org) = &input.organization_id {
        let ok = org.len() <= 34
            && org.strip_prefix("o-").is_some_and(|rest| {
                (10..=32).contains(&rest.len())
                    && rest
                        .bytes()
                        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
            });
        if !ok {
            errs.push(
                org,
                "organizationId",
                "Member must satisfy regular expression pattern: o-[a-z0-9]{10,32}",
            );
        }
    }
    errs.into_result()
}

/// The account a principal names: twelve digits, or `arn:aws…:iam::<account>:root`.
fn principal_account(p: &str) -> Option<&str> {
    let digits = |s: &str| s.len() == 12 && s.bytes().all(|b| b.is_ascii_digit());
    if digits(p) {
        return Some(p);
    }
    let rest = p.strip_prefix("arn:")?;
    let (partition, rest) = rest.split_once(':')?;
    let account = rest.strip_prefix("iam::")?.strip_suffix(":root")?;
    (partition.starts_with("aws")
        && partition[3..]
            .bytes()
            .all(|b| b.is_ascii_alphabetic() || b == b'-')
        && digits(account))
    .then_some(account)
}

impl Control {
    /// The layer version's key, once it is known to exist.
    async fn layer_policy_key(
        &self,
        region: &str,
        layer: &str,
        version: i64,
    ) -> Result<(SettingKey, String), ControlError> {
        let name = self.layer_name(region, layer)?;
        let number = Self::check_version_number(version)?;
        if self
            .store()
            .get_layer_version(region, &name, number)
            .await?
            .is_none()
        {
            return Err(ControlError::not_found(
                NotFoundKind::Layer,
                "The resource you requested does not exist.",
            ));
        }
        let arn = format!("{}:{number}", self.scope(region).layer_arn(&name));
        Ok((
            SettingKey::new(
                region,
                SettingKind::LayerVersionPolicy,
                name,
                number.to_string(),
            ),
            arn,
        ))
    }

    /// AddLayerVersionPermission.
    pub async fn add_layer_version_permission(
        &self,
        region: &str,
        layer: &str,
        version: i64,
        input: LayerPermissionInput,
    ) -> Result<LayerStatementView, ControlError> {
        check(&input)?;
        let (key, layer_arn) = self.layer_policy_key(region, layer, version).await?;
        let row = self.store().get_setting(&key).await?;
        let (mut policy, write) = match &row {
            Some(row) => (
                row.decode::<LayerPolicy>()?,
                SettingWrite::Replace(row.etag),
            ),
            None => (LayerPolicy::default(), SettingWrite::Create),
        };
        if let Some(expected) = &input.revision_id
            && row.is_some()
            && *expected != policy.revision_id
        {
            return Err(ControlError::PreconditionFailed("The Revision Id provided does not match the latest Revision Id. Call the GetLayerPolicy API to retrieve the latest Revision Id".into()));
        }
        if policy
            .statements
            .iter()
            .any(|s| s["Sid"] == json!(input.statement_id))
        {
            return Err(ControlError::Conflict("The statement id (sid) provided already exists. Please provide a new statement id, or remove the existing statement.".into()));
        }
        let principal = match principal_account(&input.principal) {
            Some(account) => json!({ "AWS": format!("arn:aws:iam::{account}:root") }),
            None => json!("*"),
        };
        let mut statement = json!({
            "Sid": input.statement_id,
            "Effect": "Allow",
            "Principal": principal,
            "Action": input.action,
            "Resource": layer_arn,
        });
        if let Some(org) = &input.organization_id {
            statement["Condition"] = json!({ "StringEquals": { "aws:PrincipalOrgID": org } });
        }
        policy.statements.push(statement.clone());
        policy.revision_id = crate::new_revision();
        self.write_layer_policy(&key, &policy, write).await?;
        Ok(LayerStatementView {
            statement: statement.to_string(),
            revision_id: policy.revision_id,
        })
    }

    async fn write_layer_policy(
        &self,
        key: &SettingKey,
        policy: &LayerPolicy,
        write: SettingWrite,
    ) -> Result<(), ControlError> {
        let doc =
            serde_json::to_string(policy).map_err(|e| ControlError::Internal(e.to_string()))?;
        self.store()
            .put_setting(key, &doc, None, write)
            .await
            .map_err(|e| match e {
                StoreError::AlreadyExists | StoreError::Conflict | StoreError::NotFound => {
                    ControlError::PreconditionFailed("The Revision Id provided does not match the latest Revision Id. Call the GetLayerPolicy API to retrieve the latest Revision Id".into())
                }
                other => other.into(),
            })?;
        Ok(())
    }

    /// GetLayerVersionPolicy.
    pub async fn get_layer_version_policy(
        &self,
        region: &str,
        layer: &str,
        version: i64,
    ) -> Result<LayerPolicyView, ControlError> {
        let (key, _) = self.layer_policy_key(region, layer, version).await?;
        let Some(row) = self.store().get_setting(&key).await? else {
            return Err(no_policy());
        };
        let policy: LayerPolicy = row.decode()?;
        let doc =
            json!({ "Version": "2012-10-17", "Id": "default", "Statement": policy.statements });
        Ok(LayerPolicyView {
            policy: doc.to_string(),
            revision_id: policy.revision_id,
        })
    }

    /// RemoveLayerVersionPermission: the policy goes when its last statement does.
    pub async fn remove_layer_version_permission(
        &self,
        region: &str,
        layer: &str,
        version: i64,
        statement_id: &str,
        revision_id: Option<&str>,
    ) -> Result<(), ControlError> {
        let (key, _) = self.layer_policy_key(region, layer, version).await?;
        let Some(row) = self.store().get_setting(&key).await? else {
            return Err(no_policy());
        };
        let mut policy: LayerPolicy = row.decode()?;
        if let Some(expected) = revision_id
            && expected != policy.revision_id
        {
            return Err(ControlError::PreconditionFailed("The Revision Id provided does not match the latest Revision Id. Call the GetLayerPolicy API to retrieve the latest Revision Id".into()));
        }
        let before = policy.statements.len();
        policy
            .statements
            .retain(|s| s["Sid"] != json!(statement_id));
        if policy.statements.len() == before {
            return Err(ControlError::not_found(
                NotFoundKind::Layer,
                format!("Statement {statement_id} is not found in resource policy."),
            ));
        }
        if policy.statements.is_empty() {
            self.store().delete_setting(&key, Some(row.etag)).await?;
            return Ok(());
        }
        policy.revision_id = crate::new_revision();
        self.write_layer_policy(&key, &policy, SettingWrite::Replace(row.etag))
            .await
    }

    /// Removes a deleted layer version's policy.
    pub(crate) async fn forget_layer_version_policy(&self, region: &str, name: &str, version: u64) {
        let key = SettingKey::new(
            region,
            SettingKind::LayerVersionPolicy,
            name,
            version.to_string(),
        );
        if let Err(e) = self.store().delete_setting(&key, None).await {
            tracing::warn!(layer = name, version, error = %e, "could not remove a layer version's policy");
        }
    }
}

fn no_policy() -> ControlError {
    ControlError::not_found(
        NotFoundKind::Layer,
        "No policy is associated with the given resource.",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn principals_name_accounts() {
        assert_eq!(principal_account("123456789012"), Some("123456789012"));
        assert_eq!(
            principal_account("arn:aws:iam::123456789012:root"),
            Some("123456789012")
        );
        assert_eq!(principal_account("*"), None);
        assert_eq!(principal_account("arn:aws:iam::123456789012:user/x"), None);
    }

    #[test]
    fn model_constraints_are_checked() {
        let bad = LayerPermissionInput {
            statement_id: "a b".into(),
            action: "lambda:InvokeFunction".into(),
            principal: "someone".into(),
            organization_id: Some("org".into()),
            revision_id: None,
        };
        let Err(errs) = check(&bad) else {
            panic!("accepted a bad request");
        };
        assert!(errs.message().starts_with("4 validation errors detected: "));
    }
}
