//! Resource-based policies of functions: AddPermission, RemovePermission, GetPolicy, and the
//! questions the function URL front end asks of a policy.
//!
//! A policy is one settings document per (function, qualifier): `$LATEST` for the unqualified
//! function, or a version or an alias. Lambda's behaviour this follows (answers recorded from
//! AWS in LocalStack's validated snapshots, and AWS's documentation):
//! - a statement is `{Sid, Effect: Allow, Principal, Action, Resource, Condition}`, in that
//!   order; the principal is `"*"`, `{"Service": …}` for a `*.amazonaws.com` name, or
//!   `{"AWS": arn}` for an IAM ARN or an account id (as `arn:aws:iam::ID:root`); conditions are
//!   `StringEquals` (`AWS:SourceAccount`, `lambda:FunctionUrlAuthType`, `aws:PrincipalOrgID`,
//!   `lambda:EventSourceToken`), `ArnLike` (`AWS:SourceArn`) and `Bool`
//!   (`lambda:InvokedViaFunctionUrl`);
//! - the policy is `{"Version": "2012-10-17", "Id": "default", "Statement": [...]}`;
//! - texts: "The statement id (X) provided already exists. Please provide a new statement id,
//!   or remove the existing statement." (409); "The resource you requested does not exist."
//!   (GetPolicy without a policy); "No policy is associated with the given resource." and
//!   "Statement X is not found in resource policy." (RemovePermission); "We currently do not
//!   support adding policies for $LATEST."; "The provided principal was invalid. Please check
//!   the principal and try again.".
//!
//! Deviation: Lambda's policy `RevisionId` is the function's (or alias's) RevisionId, which
//! AddPermission and RemovePermission change. Here a policy has its own RevisionId, changed on
//! every write; GetPolicy returns it and a `RevisionId` given to AddPermission or
//! RemovePermission is compared with it.

use archfn_model::{Qualifier, ValidationErrors};
use archfn_store::{SettingKey, SettingKind, SettingWrite, StoreError};
use serde::{Deserialize, Serialize};

use crate::{Control, ControlError, NotFoundKind};

/// The pattern AddPermission's `Action` must match (botocore's model).
const ACTION_PATTERN: &str = "(lambda:[*]|lambda:[a-zA-Z]+|[*])";
/// The pattern AddPermission's `StatementId` must match.
const SID_PATTERN: &str = "([a-zA-Z0-9-_]+)";
/// The qualifier key of the unqualified function's policy.
const LATEST: &str = "$LATEST";

/// `StringEquals` conditions, in the order Lambda writes them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StringEquals {
    /// SourceAccount.
    #[serde(
        rename = "AWS:SourceAccount",
        skip_serializing_if = "Option::is_none",
        default
    )]
    pub source_account: Option<String>,
    /// FunctionUrlAuthType.
    #[serde(
        rename = "lambda:FunctionUrlAuthType",
        skip_serializing_if = "Option::is_none",
        default
    )]
    pub function_url_auth_type: Option<String>,
    /// PrincipalOrgID.
    #[serde(
        rename = "aws:PrincipalOrgID",
        skip_serializing_if = "Option::is_none",
        default
    )]
    pub principal_org_id: Option<String>,
    /// EventSourceToken.
    #[serde(
        rename = "lambda:EventSourceToken",
        skip_serializing_if = "Option::is_none",
        default
    )]
    pub event_source_token: Option<String>,
}

impl StringEquals {
    fn is_empty(&self) -> bool {
        *self == StringEquals::default()
    }
}

/// `ArnLike` conditions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ArnLike {
    /// SourceArn.
    #[serde(rename = "AWS:SourceArn")]
    pub source_arn: String,
}

/// `Bool` conditions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BoolCondition {
    /// InvokedViaFunctionUrl (`"true"` or `"false"`).
    #[serde(rename = "lambda:InvokedViaFunctionUrl")]
    pub invoked_via_function_url: String,
}

/// A statement's `Condition`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Condition {
    /// `StringEquals`.
    #[serde(
        rename = "StringEquals",
        skip_serializing_if = "Option::is_none",
        default
    )]
    pub string_equals: Option<StringEquals>,
    /// `ArnLike`.
    #[serde(rename = "ArnLike", skip_serializing_if = "Option::is_none", default)]
    pub arn_like: Option<ArnLike>,
    /// `Bool`.
    #[serde(rename = "Bool", skip_serializing_if = "Option::is_none", default)]
    pub bool: Option<BoolCondition>,
}

/// One statement of a policy, shaped (and ordered) as Lambda writes it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Statement {
    /// Statement id.
    #[serde(rename = "Sid")]
    pub sid: String,
    /// Always `Allow`.
    #[serde(rename = "Effect")]
    pub effect: String,
    /// `"*"`, `{"Service": …}` or `{"AWS": …}`.
    #[serde(rename = "Principal")]
    pub principal: serde_json::Value,
    /// The action.
    #[serde(rename = "Action")]
    pub action: String,
    /// The function ARN (qualified when the policy is a version's or an alias's).
    #[serde(rename = "Resource")]
    pub resource: String,
    /// Conditions, if any.
    #[serde(rename = "Condition", skip_serializing_if = "Option::is_none", default)]
    pub condition: Option<Condition>,
}

impl Statement {
    /// The statement as Lambda returns it (a JSON string).
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    /// Whether the statement grants `action` (directly, as `lambda:*`, or as `*`).
    fn grants(&self, action: &str) -> bool {
        self.effect == "Allow"
            && (self.action == action || self.action == "lambda:*" || self.action == "*")
    }

    /// Whether the principal is everyone.
    fn is_public(&self) -> bool {
        self.principal.as_str() == Some("*")
            || self.principal.get("AWS").and_then(|v| v.as_str()) == Some("*")
    }
}

/// The stored document of a policy.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct PolicyDoc {
    revision_id: String,
    statements: Vec<Statement>,
}

/// The whole policy as GetPolicy shows it.
#[derive(Debug, Serialize)]
struct PolicyJson<'a> {
    #[serde(rename = "Version")]
    version: &'static str,
    #[serde(rename = "Id")]
    id: &'static str,
    #[serde(rename = "Statement")]
    statement: &'a [Statement],
}

/// GetPolicy's answer.
#[derive(Debug, Clone)]
pub struct PolicyView {
    /// The policy document (JSON).
    pub policy: String,
    /// Its revision.
    pub revision_id: String,
}

/// AddPermission's parameters.
#[derive(Debug, Clone, Default)]
pub struct PermissionInput {
    /// StatementId.
    pub statement_id: String,
    /// Action.
    pub action: String,
    /// Principal.
    pub principal: String,
    /// SourceArn.
    pub source_arn: Option<String>,
    /// SourceAccount.
    pub source_account: Option<String>,
    /// EventSourceToken.
    pub event_source_token: Option<String>,
    /// PrincipalOrgID.
    pub principal_org_id: Option<String>,
    /// FunctionUrlAuthType.
    pub function_url_auth_type: Option<String>,
    /// InvokedViaFunctionUrl.
    pub invoked_via_function_url: Option<bool>,
    /// RevisionId the caller expects the policy to be at.
    pub revision_id: Option<String>,
}

/// The principal as a statement holds it, or Lambda's refusal.
fn principal_json(principal: &str) -> Result<serde_json::Value, ControlError> {
    let invalid = || {
        ControlError::InvalidParameter(
            "The provided principal was invalid. Please check the principal and try again.".into(),
        )
    };
    if principal == "*" {
        return Ok(serde_json::Value::String("*".into()));
    }
    if principal.len() == 12 && principal.bytes().all(|b| b.is_ascii_digit()) {
        return Ok(serde_json::json!({ "AWS": format!("arn:aws:iam::{principal}:root") }));
    }
    if principal.starts_with("arn:aws") && principal.contains(":iam::") {
        return Ok(serde_json::json!({ "AWS": principal }));
    }
    let is_service = principal.ends_with(".amazonaws.com") || principal.ends_with(".amazon.com");
    if is_service && principal.len() > ".amazonaws.com".len() && !principal.contains(':') {
        return Ok(serde_json::json!({ "Service": principal }));
    }
    Err(invalid())
}

fn matches_action(action: &str) -> bool {
    if action == "*" || action == "lambda:*" {
        return true;
    }
    action
        .strip_prefix("lambda:")
        .is_some_and(|rest| !rest.is_empty() && rest.bytes().all(|b| b.is_ascii_alphabetic()))
}

fn check_input(input: &PermissionInput) -> Result<(), ControlError> {
    let mut v = ValidationErrors::new();
    let sid = &input.statement_id;
    if sid.is_empty() || sid.len() > 100 {
        v.push(
            sid,
            "statementId",
            "Member must have length less than or equal to 100",
        );
    } else if !sid
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        v.push(
            sid,
            "statementId",
            &format!("Member must satisfy regular expression pattern: {SID_PATTERN}"),
        );
    }
    if !matches_action(&input.action) {
        v.push(
            &input.action,
            "action",
            &format!("Member must satisfy regular expression pattern: {ACTION_PATTERN}"),
        );
    }
    if let Some(t) = &input.function_url_auth_type
        && t != "NONE"
        && t != "AWS_IAM"
    {
        v.push(
            t,
            "functionUrlAuthType",
            "Member must satisfy enum value set: [AWS_IAM, NONE]",
        );
    }
    v.into_result()?;
    if input.invoked_via_function_url.is_some() && input.action != "lambda:InvokeFunction" {
        // Lambda accepts InvokedViaFunctionUrl only with lambda:InvokeFunction (its
        // documentation); its exact refusal text is not recorded.
        return Err(ControlError::InvalidParameter(
            "InvokedViaFunctionUrl is only supported for the lambda:InvokeFunction action.".into(),
        ));
    }
    Ok(())
}

fn statement_for(input: &PermissionInput, resource: String) -> Result<Statement, ControlError> {
    let principal = principal_json(&input.principal)?;
    let string_equals = StringEquals {
        source_account: input.source_account.clone(),
        function_url_auth_type: input.function_url_auth_type.clone(),
        principal_org_id: input.principal_org_id.clone(),
        event_source_token: input.event_source_token.clone(),
    };
    let condition = Condition {
        string_equals: (!string_equals.is_empty()).then_some(string_equals),
        arn_like: input
            .source_arn
            .clone()
            .map(|source_arn| ArnLike { source_arn }),
        bool: input.invoked_via_function_url.map(|b| BoolCondition {
            invoked_via_function_url: b.to_string(),
        }),
    };
    Ok(Statement {
        sid: input.statement_id.clone(),
        effect: "Allow".into(),
        principal,
        action: input.action.clone(),
        resource,
        condition: (condition != Condition::default()).then_some(condition),
    })
}

fn qualifier_error(q: &str) -> ControlError {
    ControlError::Validation(ValidationErrors::single(
        q,
        "qualifier",
        "Member must satisfy regular expression pattern: \\$(LATEST(\\.PUBLISHED)?)|[a-zA-Z0-9-_$]+",
    ))
}

/// What a policy operation addresses: the function, the key of its policy, and the ARN its
/// statements name.
struct Target {
    key: SettingKey,
    resource: String,
}

impl Control {
    /// The function name and qualifier a policy operation addresses (qualifier from the
    /// name or the parameter, which must agree).
    fn policy_ref(
        &self,
        region: &str,
        function_name: &str,
        qualifier: Option<&str>,
    ) -> Result<(String, Option<String>), ControlError> {
        let fref = self.parse_function_ref(region, function_name)?;
        let q = match (fref.qualifier.as_deref(), qualifier) {
            (Some(a), Some(b)) if a != b => {
                return Err(ControlError::InvalidParameter(
                    "The derived qualifier from the function name does not match the specified qualifier.".into(),
                ));
            }
            (a, b) => a.or(b).map(str::to_string),
        };
        if let Some(q) = &q
            && (q.is_empty()
                || q.len() > 128
                || !q
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_$".contains(&b)))
        {
            return Err(qualifier_error(q));
        }
        Ok((fref.name, q))
    }

    /// Checks that the function and the version or alias a qualifier names exist, as
    /// AddPermission and RemovePermission do.
    async fn policy_target(
        &self,
        region: &str,
        name: &str,
        qualifier: Option<&str>,
        missing_function: impl FnOnce(String) -> ControlError,
    ) -> Result<Target, ControlError> {
        let arn = self.scope(region).function_arn(name);
        if self.store().get_function(region, name).await?.is_none() {
            return Err(missing_function(arn));
        }
        let Some(q) = qualifier else {
            return Ok(Target {
                key: SettingKey::new(region, SettingKind::Policy, name, LATEST),
                resource: arn,
            });
        };
        let qarn = format!("{arn}:{q}");
        let exists = match Qualifier::parse(q) {
            Some(Qualifier::Latest) => true,
            Some(Qualifier::Version(n)) => {
                self.store().get_version(region, name, n).await?.is_some()
            }
            Some(Qualifier::Alias(a)) => {
                if self.store().get_alias(region, name, &a).await?.is_none() {
                    return Err(ControlError::not_found(
                        NotFoundKind::Alias,
                        format!("Cannot find alias arn: {qarn}"),
                    ));
                }
                true
            }
            None => false,
        };
        if !exists {
            return Err(ControlError::not_found(
                NotFoundKind::Version,
                format!("Function not found: {qarn}"),
            ));
        }
        Ok(Target {
            key: SettingKey::new(region, SettingKind::Policy, name, q),
            resource: qarn,
        })
    }

    /// AddPermission: adds a statement to the policy of the function (or of its version or
    /// alias); returns the statement as Lambda shows it.
    pub async fn add_permission(
        &self,
        region: &str,
        function_name: &str,
        qualifier: Option<&str>,
        input: PermissionInput,
    ) -> Result<String, ControlError> {
        let (name, q) = self.policy_ref(region, function_name, qualifier)?;
        if q.as_deref() == Some(LATEST) {
            return Err(ControlError::InvalidParameter(
                "We currently do not support adding policies for $LATEST.".into(),
            ));
        }
        let target = self
            .policy_target(region, &name, q.as_deref(), |arn| {
                ControlError::not_found(
                    NotFoundKind::Function,
                    format!("Function not found: {arn}"),
                )
            })
            .await?;
        check_input(&input)?;
        let statement = statement_for(&input, target.resource.clone())?;
        for _ in 0..8 {
            let row = self.store().get_setting(&target.key).await?;
            let (mut doc, write) = match &row {
                Some(r) => (r.decode::<PolicyDoc>()?, SettingWrite::Replace(r.etag)),
                None => (
                    PolicyDoc {
                        revision_id: String::new(),
                        statements: Vec::new(),
                    },
                    SettingWrite::Create,
                ),
            };
            if let Some(expected) = &input.revision_id
                && *expected != doc.revision_id
            {
                return Err(ControlError::PreconditionFailed(
                    "The Revision Id provided does not match the latest Revision Id. Call the GetPolicy API to retrieve the latest Revision Id".into(),
                ));
            }
            if doc.statements.iter().any(|s| s.sid == statement.sid) {
                return Err(ControlError::Conflict(format!(
                    "The statement id ({}) provided already exists. Please provide a new statement id, or remove the existing statement.",
                    statement.sid
                )));
            }
            doc.statements.push(statement.clone());
            doc.revision_id = crate::new_revision();
            let text = serde_json::to_string(&doc)
                .map_err(|e| ControlError::Internal(format!("policy: {e}")))?;
            match self
                .store()
                .put_setting(&target.key, &text, None, write)
                .await
            {
                Ok(_) => return Ok(statement.to_json()),
                Err(StoreError::AlreadyExists | StoreError::Conflict) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(ControlError::Conflict(
            "The policy is being changed by another request. Try again.".into(),
        ))
    }

    /// RemovePermission: removes a statement; the policy goes with its last statement.
    pub async fn remove_permission(
        &self,
        region: &str,
        function_name: &str,
        qualifier: Option<&str>,
        statement_id: &str,
        revision_id: Option<&str>,
    ) -> Result<(), ControlError> {
        let (name, q) = self.policy_ref(region, function_name, qualifier)?;
        let target = self
            .policy_target(region, &name, q.as_deref(), |arn| {
                ControlError::not_found(
                    NotFoundKind::Function,
                    format!("No policy found for: {arn}"),
                )
            })
            .await?;
        for _ in 0..8 {
            let Some(row) = self.store().get_setting(&target.key).await? else {
                return Err(ControlError::not_found(
                    NotFoundKind::Function,
                    "No policy is associated with the given resource.",
                ));
            };
            let mut doc: PolicyDoc = row.decode()?;
            let before = doc.statements.len();
            doc.statements.retain(|s| s.sid != statement_id);
            if doc.statements.len() == before {
                return Err(ControlError::not_found(
                    NotFoundKind::Function,
                    format!("Statement {statement_id} is not found in resource policy."),
                ));
            }
            if let Some(expected) = revision_id
                && expected != doc.revision_id
            {
                return Err(crate::error::revision_mismatch());
            }
            let result = if doc.statements.is_empty() {
                self.store()
                    .delete_setting(&target.key, Some(row.etag))
                    .await
                    .map(|_| ())
            } else {
                doc.revision_id = crate::new_revision();
                let text = serde_json::to_string(&doc)
                    .map_err(|e| ControlError::Internal(format!("policy: {e}")))?;
                self.store()
                    .put_setting(&target.key, &text, None, SettingWrite::Replace(row.etag))
                    .await
                    .map(|_| ())
            };
            match result {
                Ok(()) => return Ok(()),
                Err(StoreError::Conflict | StoreError::NotFound) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(ControlError::Conflict(
            "The policy is being changed by another request. Try again.".into(),
        ))
    }

    /// GetPolicy: the policy of the function (or of its version or alias).
    pub async fn get_policy(
        &self,
        region: &str,
        function_name: &str,
        qualifier: Option<&str>,
    ) -> Result<PolicyView, ControlError> {
        let (name, q) = self.policy_ref(region, function_name, qualifier)?;
        let none = || {
            ControlError::not_found(
                NotFoundKind::Function,
                "The resource you requested does not exist.",
            )
        };
        if self.store().get_function(region, &name).await?.is_none() {
            return Err(none());
        }
        let key = SettingKey::new(
            region,
            SettingKind::Policy,
            &name,
            q.as_deref().unwrap_or(LATEST),
        );
        let row = self.store().get_setting(&key).await?.ok_or_else(none)?;
        let doc: PolicyDoc = row.decode()?;
        let policy = serde_json::to_string(&PolicyJson {
            version: "2012-10-17",
            id: "default",
            statement: &doc.statements,
        })
        .map_err(|e| ControlError::Internal(format!("policy: {e}")))?;
        Ok(PolicyView {
            policy,
            revision_id: doc.revision_id,
        })
    }

    /// Whether the policy at (`name`, `qualifier`) lets anyone call a function URL whose
    /// AuthType is NONE. Since October 2025 Lambda requires two grants to the public
    /// (principal `*`): `lambda:InvokeFunctionUrl` (conditioned, if at all, on
    /// `lambda:FunctionUrlAuthType` = `NONE`) and `lambda:InvokeFunction` (conditioned, if at
    /// all, on `lambda:InvokedViaFunctionUrl` = `true`); AWS's "Control access to Lambda
    /// function URLs" (urls-auth). The exception AWS granted older URLs ended on
    /// 1 November 2026. A statement with another condition (source ARN or account,
    /// organization, event source token) cannot match an anonymous caller.
    pub async fn public_url_allowed(
        &self,
        region: &str,
        name: &str,
        qualifier: &str,
    ) -> Result<bool, ControlError> {
        let key = SettingKey::new(region, SettingKind::Policy, name, qualifier);
        let Some(row) = self.store().get_setting(&key).await? else {
            return Ok(false);
        };
        let doc: PolicyDoc = row.decode()?;
        let url_grant = doc.statements.iter().any(|s| {
            s.grants("lambda:InvokeFunctionUrl")
                && s.is_public()
                && only_conditions(s, Some("NONE"), None)
        });
        let invoke_grant = doc.statements.iter().any(|s| {
            s.grants("lambda:InvokeFunction")
                && s.is_public()
                && only_conditions(s, Some("NONE"), Some("true"))
        });
        Ok(url_grant && invoke_grant)
    }
}

/// Whether a statement's conditions are at most an auth type equal to `auth_type` and an
/// InvokedViaFunctionUrl equal to `via_url`: what an anonymous function URL request satisfies.
fn only_conditions(s: &Statement, auth_type: Option<&str>, via_url: Option<&str>) -> bool {
    let Some(c) = &s.condition else {
        return true;
    };
    if c.arn_like.is_some() {
        return false;
    }
    if let Some(b) = &c.bool
        && Some(b.invoked_via_function_url.as_str()) != via_url
    {
        return false;
    }
    if let Some(se) = &c.string_equals {
        if se.source_account.is_some() || se.principal_org_id.is_some() {
            return false;
        }
        if se.event_source_token.is_some() {
            return false;
        }
        if let Some(t) = &se.function_url_auth_type
            && Some(t.as_str()) != auth_type
        {
            return false;
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statements_are_written_as_lambda_writes_them() {
        let input = PermissionInput {
            statement_id: "urlPermission".into(),
            action: "lambda:InvokeFunctionUrl".into(),
            principal: "*".into(),
            source_arn: Some("arn:aws:s3:::bucket".into()),
            source_account: Some("111111111111".into()),
            principal_org_id: Some("o-1234567890".into()),
            function_url_auth_type: Some("NONE".into()),
            ..PermissionInput::default()
        };
        let s = statement_for(&input, "arn:aws:lambda:us-east-1:1:function:f".into())
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            s.to_json(),
            r#"{"Sid":"urlPermission","Effect":"Allow","Principal":"*","Action":"lambda:InvokeFunctionUrl","Resource":"arn:aws:lambda:us-east-1:1:function:f","Condition":{"StringEquals":{"AWS:SourceAccount":"111111111111","lambda:FunctionUrlAuthType":"NONE","aws:PrincipalOrgID":"o-1234567890"},"ArnLike":{"AWS:SourceArn":"arn:aws:s3:::bucket"}}}"#
        );
    }

    #[test]
    fn principals_take_lambdas_shapes() {
        let p = |s: &str| principal_json(s).map(|v| v.to_string()).ok();
        assert_eq!(p("*").as_deref(), Some("\"*\""));
        assert_eq!(
            p("123456789012").as_deref(),
            Some(r#"{"AWS":"arn:aws:iam::123456789012:root"}"#)
        );
        assert_eq!(
            p("s3.amazonaws.com").as_deref(),
            Some(r#"{"Service":"s3.amazonaws.com"}"#)
        );
        assert_eq!(
            p("arn:aws:iam::123456789012:user/u").as_deref(),
            Some(r#"{"AWS":"arn:aws:iam::123456789012:user/u"}"#)
        );
        assert!(p("not-a-principal").is_none());
        assert!(p("1234").is_none());
    }

    #[test]
    fn actions_follow_the_model_pattern() {
        assert!(matches_action("lambda:InvokeFunction"));
        assert!(matches_action("lambda:*"));
        assert!(matches_action("*"));
        assert!(!matches_action("s3:GetObject"));
        assert!(!matches_action("lambda:"));
        assert!(!matches_action("lambda:Invoke-Function"));
    }
}
