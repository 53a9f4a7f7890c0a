//! Code signing configurations (account-scoped, `SettingKind::CodeSigningConfig`) and the one a
//! function uses (`SettingKind::FunctionCodeSigning`). archfn cannot verify AWS Signer
//! profiles: configurations are recorded and returned, and `Enforce` acts as `Warn` (the code is
//! deployed, and the server logs a warning).

use archfn_model::{PackageType, ValidationErrors};
use archfn_store::{SettingKey, SettingKind, SettingWrite, StoreError};
use serde::{Deserialize, Serialize};

use crate::function::Resolved;
use crate::{Control, ControlError, NotFoundKind};

/// The pattern of a code signing configuration's ARN, as the API model gives it.
const CSC_ARN_PATTERN: &str = "arn:(aws[a-zA-Z-]*)?:lambda:(eusc-)?[a-z]{2}((-gov)|(-iso([a-z]?)))?-[a-z]+-\\d{1}:\\d{12}:code-signing-config:csc-[a-z0-9]{17}";
/// The pattern of a signing profile version's ARN (the model's `Arn`).
const ARN_PATTERN: &str = "arn:(aws[a-zA-Z0-9-]*):([a-zA-Z0-9\\-])+:((eusc-)?[a-z]{2}((-gov)|(-iso([a-z]?)))?-[a-z]+-\\d{1})?:(\\d{12})?:(.*)";
/// The one a function's code signing setting is kept at.
const LATEST: &str = "$LATEST";

/// A code signing configuration as stored and shown.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CodeSigningConfigView {
    /// `csc-` and 17 characters.
    pub id: String,
    /// Its ARN.
    pub arn: String,
    /// Free text.
    pub description: String,
    /// Signing profile version ARNs allowed to sign code.
    pub allowed_publishers: Vec<String>,
    /// `Warn` or `Enforce`.
    pub untrusted_artifact_on_deployment: String,
    /// Unix milliseconds of the last change.
    pub last_modified_ms: i64,
}

/// CreateCodeSigningConfig / UpdateCodeSigningConfig, as given.
#[derive(Debug, Clone, Default)]
pub struct CodeSigningInput {
    /// Free text.
    pub description: Option<String>,
    /// `AllowedPublishers.SigningProfileVersionArns` (`None`: the member was absent).
    pub allowed_publishers: Option<Vec<String>>,
    /// `CodeSigningPolicies.UntrustedArtifactOnDeployment`.
    pub untrusted_artifact_on_deployment: Option<String>,
}

/// Which configuration a function uses (the document of `FunctionCodeSigning`).
#[derive(Debug, Clone, Serialize, Deserialize)]
struct FunctionCodeSigning {
    arn: String,
}

/// A page of code signing configurations.
#[derive(Debug, Clone)]
pub struct CodeSigningPage {
    /// The configurations.
    pub configs: Vec<CodeSigningConfigView>,
    /// Where the next page starts.
    pub next_marker: Option<String>,
}

/// A page of function ARNs.
#[derive(Debug, Clone)]
pub struct FunctionArnPage {
    /// Unqualified function ARNs.
    pub arns: Vec<String>,
    /// Where the next page starts.
    pub next_marker: Option<String>,
}

fn not_found_message(arn: &str) -> String {
    format!(
        "The code signing configuration cannot be found. Check that the provided configuration is not deleted: {arn}."
    )
}

fn check_input(input: &CodeSigningInput, errs: &mut ValidationErrors) {
    if let Some(d) = &input.description
        && d.chars().count() > 256
    {
        errs.push(
            d,
            "description",
            "Member must have length less than or equal to 256",
        );
    }
    match &input.allowed_publishers {
        None => {}
        Some(list) => {
            if list.is_empty() || list.len() > 20 {
                let constraint = if list.is_empty() {
                    "Member must have length greater than or equal to 1"
                } else {
                    "Member must have length less than or equal to 20"
                };
                errs.push(
                    &format!("[{}]", list.join(", ")),
                    "allowedPublishers.signingProfileVersionArns",
                    constraint,
                );
            }
            for arn in list {
                if !valid_arn(arn) {
                    errs.push(
                        arn,
                        "allowedPublishers.signingProfileVersionArns.member",
                        &format!("Member must satisfy regular expression pattern: {ARN_PATTERN}"),
                    );
                }
            }
        }
    }
    if let Some(p) = &input.untrusted_artifact_on_deployment
        && p != "Warn"
        && p != "Enforce"
    {
        errs.push(
            p,
            "codeSigningPolicies.untrustedArtifactOnDeployment",
            "Member must satisfy enum value set: [Warn, Enforce]",
        );
    }
}

/// Whether `s` has the shape of the model's `Arn`: `arn:aws…:service:[region]:[account]:rest`.
fn valid_arn(s: &str) -> bool {
    let parts: Vec<&str> = s.splitn(6, ':').collect();
    let [arn, partition, service, region, account, _rest] = parts[..] else {
        return false;
    };
    arn == "arn"
        && partition.starts_with("aws")
        && partition[3..]
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        && !service.is_empty()
        && service
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        && (region.is_empty() || archfn_model::arn::valid_region(region))
        && (account.is_empty()
            || (account.len() == 12 && account.bytes().all(|b| b.is_ascii_digit())))
        && s.len() <= 10_000
}

impl Control {
    fn csc_arn(&self, region: &str, id: &str) -> String {
        format!(
            "arn:aws:lambda:{region}:{}:code-signing-config:{id}",
            self.account()
        )
    }

    /// The id a configuration ARN of this region and account names (ValidationException when it
    /// is not a configuration ARN; not found when it is another region's or account's).
    fn csc_id<'a>(&self, region: &str, arn: &'a str) -> Result<&'a str, ControlError> {
        let invalid = || {
            ControlError::from(ValidationErrors::single(
                arn,
                "codeSigningConfigArn",
                &format!("Member must satisfy regular expression pattern: {CSC_ARN_PATTERN}"),
            ))
        };
        let parts: Vec<&str> = arn.split(':').collect();
        let [a, partition, service, r, account, kind, id] = parts[..] else {
            return Err(invalid());
        };
        let id_ok = id.len() == 21
            && id.starts_with("csc-")
            && id[4..]
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
        if a != "arn"
            || !partition.starts_with("aws")
            || service != "lambda"
            || !archfn_model::arn::valid_region(r)
            || account.len() != 12
            || !account.bytes().all(|b| b.is_ascii_digit())
            || kind != "code-signing-config"
            || !id_ok
            || arn.len() > 200
        {
            return Err(invalid());
        }
        if r != region || account != self.account() {
            return Err(ControlError::not_found(
                NotFoundKind::CodeSigningConfig,
                not_found_message(arn),
            ));
        }
        Ok(id)
    }

    async fn load_csc(
        &self,
        region: &str,
        arn: &str,
        kind: NotFoundKind,
    ) -> Result<(CodeSigningConfigView, i64), ControlError> {
        let id = self.csc_id(region, arn).map_err(|e| match e {
            ControlError::NotFound { message, .. } => ControlError::not_found(kind, message),
            other => other,
        })?;
        let key = SettingKey::new(region, SettingKind::CodeSigningConfig, "", id);
        match self.store().get_setting(&key).await? {
            Some(row) => Ok((row.decode()?, row.etag)),
            None => Err(ControlError::not_found(kind, not_found_message(arn))),
        }
    }

    /// CreateCodeSigningConfig.
    pub async fn create_code_signing_config(
        &self,
        region: &str,
        input: CodeSigningInput,
    ) -> Result<CodeSigningConfigView, ControlError> {
        let mut errs = ValidationErrors::new();
        check_input(&input, &mut errs);
        if input.allowed_publishers.is_none() {
            // The wire refuses a request without the member; a caller of the library gets this.
            return Err(ControlError::InvalidParameter(
                "AllowedPublishers is required.".into(),
            ));
        }
        errs.into_result()?;
        let hex = uuid::Uuid::new_v4().simple().to_string();
        let id = format!("csc-{}", &hex[..17]);
        let view = CodeSigningConfigView {
            arn: self.csc_arn(region, &id),
            id,
            description: input.description.unwrap_or_default(),
            allowed_publishers: input.allowed_publishers.unwrap_or_default(),
            untrusted_artifact_on_deployment: input
                .untrusted_artifact_on_deployment
                .unwrap_or_else(|| "Warn".into()),
            last_modified_ms: archfn_model::time::now_ms(),
        };
        let key = SettingKey::new(region, SettingKind::CodeSigningConfig, "", &view.id);
        self.store()
            .put_setting(&key, &to_json(&view)?, None, SettingWrite::Create)
            .await?;
        Ok(view)
    }

    /// GetCodeSigningConfig.
    pub async fn get_code_signing_config(
        &self,
        region: &str,
        arn: &str,
    ) -> Result<CodeSigningConfigView, ControlError> {
        Ok(self
            .load_csc(region, arn, NotFoundKind::CodeSigningConfig)
            .await?
            .0)
    }

    /// UpdateCodeSigningConfig: the members given replace the stored ones.
    pub async fn update_code_signing_config(
        &self,
        region: &str,
        arn: &str,
        input: CodeSigningInput,
    ) -> Result<CodeSigningConfigView, ControlError> {
        let mut errs = ValidationErrors::new();
        check_input(&input, &mut errs);
        errs.into_result()?;
        let (mut view, etag) = self
            .load_csc(region, arn, NotFoundKind::CodeSigningConfig)
            .await?;
        if let Some(d) = input.description {
            view.description = d;
        }
        if let Some(p) = input.allowed_publishers {
            view.allowed_publishers = p;
        }
        if let Some(p) = input.untrusted_artifact_on_deployment {
            view.untrusted_artifact_on_deployment = p;
        }
        view.last_modified_ms = archfn_model::time::now_ms();
        let key = SettingKey::new(region, SettingKind::CodeSigningConfig, "", &view.id);
        self.store()
            .put_setting(&key, &to_json(&view)?, None, SettingWrite::Replace(etag))
            .await
            .map_err(|e| match e {
                StoreError::Conflict | StoreError::NotFound => ControlError::Conflict(
                    "The code signing configuration was changed by another request.".into(),
                ),
                other => other.into(),
            })?;
        Ok(view)
    }

    /// DeleteCodeSigningConfig: refused while a function uses it.
    pub async fn delete_code_signing_config(
        &self,
        region: &str,
        arn: &str,
    ) -> Result<(), ControlError> {
        let (view, etag) = self
            .load_csc(region, arn, NotFoundKind::CodeSigningConfig)
            .await?;
        if !self.functions_using(region, &view.arn).await?.is_empty() {
            return Err(ControlError::Conflict(format!(
                "The code signing configuration {} is used by one or more functions. Remove it from them before deleting it.",
                view.arn
            )));
        }
        let key = SettingKey::new(region, SettingKind::CodeSigningConfig, "", &view.id);
        self.store().delete_setting(&key, Some(etag)).await?;
        Ok(())
    }

    /// ListCodeSigningConfigs, in id order.
    pub async fn list_code_signing_configs(
        &self,
        region: &str,
        marker: Option<&str>,
        max_items: Option<i64>,
    ) -> Result<CodeSigningPage, ControlError> {
        let size = crate::function::page_size(max_items, 50, 10_000)?;
        let rows = self
            .store()
            .list_settings(region, SettingKind::CodeSigningConfig, None)
            .await?;
        let mut all = Vec::with_capacity(rows.len());
        for row in rows {
            all.push(row.decode::<CodeSigningConfigView>()?);
        }
        all.sort_by(|a, b| a.id.cmp(&b.id));
        let (page, next_marker) = paginate(all, |c| c.id.clone(), marker, size)?;
        Ok(CodeSigningPage {
            configs: page,
            next_marker,
        })
    }

    /// The unqualified ARNs of the functions of `region` that use configuration `arn`.
    async fn functions_using(&self, region: &str, arn: &str) -> Result<Vec<String>, ControlError> {
        let rows = self
            .store()
            .list_settings(region, SettingKind::FunctionCodeSigning, None)
            .await?;
        let scope = self.scope(region);
        let mut out = Vec::new();
        for row in rows {
            let doc: FunctionCodeSigning = row.decode()?;
            if doc.arn == arn {
                out.push(scope.function_arn(&row.key.owner));
            }
        }
        Ok(out)
    }

    /// ListFunctionsByCodeSigningConfig.
    pub async fn list_functions_by_code_signing_config(
        &self,
        region: &str,
        arn: &str,
        marker: Option<&str>,
        max_items: Option<i64>,
    ) -> Result<FunctionArnPage, ControlError> {
        let size = crate::function::page_size(max_items, 50, 10_000)?;
        let (view, _) = self
            .load_csc(region, arn, NotFoundKind::CodeSigningConfig)
            .await?;
        let arns = self.functions_using(region, &view.arn).await?;
        let (arns, next_marker) = paginate(arns, Clone::clone, marker, size)?;
        Ok(FunctionArnPage { arns, next_marker })
    }

    /// The function a code signing operation addresses: unqualified, not an image.
    async fn code_signing_function(
        &self,
        region: &str,
        name: &str,
    ) -> Result<Resolved, ControlError> {
        let r = self.resolve_unqualified(region, name).await?;
        if r.stored.value.latest.package_type == PackageType::Image {
            return Err(ControlError::InvalidParameter(
                "Code signing is not supported for functions created with container images.".into(),
            ));
        }
        Ok(r)
    }

    /// PutFunctionCodeSigningConfig: the function's name and the configuration's ARN.
    pub async fn put_function_code_signing_config(
        &self,
        region: &str,
        name: &str,
        arn: &str,
    ) -> Result<(String, String), ControlError> {
        let r = self.code_signing_function(region, name).await?;
        let (view, _) = self
            .load_csc(region, arn, NotFoundKind::FunctionCodeSigningConfig)
            .await?;
        let key = SettingKey::new(region, SettingKind::FunctionCodeSigning, &r.name, LATEST);
        let doc = to_json(&FunctionCodeSigning {
            arn: view.arn.clone(),
        })?;
        self.store()
            .put_setting(&key, &doc, None, SettingWrite::Upsert)
            .await?;
        warn_if_enforced(&r.name, &view);
        Ok((r.name, view.arn))
    }

    /// Checks that configuration `arn` exists, as a function about to use it needs
    /// (`CodeSigningConfigNotFoundException` when it does not).
    pub async fn require_code_signing_config(
        &self,
        region: &str,
        arn: &str,
    ) -> Result<(), ControlError> {
        self.load_csc(region, arn, NotFoundKind::FunctionCodeSigningConfig)
            .await
            .map(|_| ())
    }

    /// GetFunctionCodeSigningConfig: the function's name and its configuration's ARN, empty
    /// when it has none (as Lambda answers).
    pub async fn get_function_code_signing_config(
        &self,
        region: &str,
        name: &str,
    ) -> Result<(String, String), ControlError> {
        let r = self.code_signing_function(region, name).await?;
        let key = SettingKey::new(region, SettingKind::FunctionCodeSigning, &r.name, LATEST);
        let arn = match self.store().get_setting(&key).await? {
            Some(row) => row.decode::<FunctionCodeSigning>()?.arn,
            None => String::new(),
        };
        Ok((r.name, arn))
    }

    /// DeleteFunctionCodeSigningConfig.
    pub async fn delete_function_code_signing_config(
        &self,
        region: &str,
        name: &str,
    ) -> Result<(), ControlError> {
        let r = self.code_signing_function(region, name).await?;
        let key = SettingKey::new(region, SettingKind::FunctionCodeSigning, &r.name, LATEST);
        self.store().delete_setting(&key, None).await?;
        Ok(())
    }

    /// Says in the server's log, when function `name` uses a configuration whose policy is
    /// `Enforce`, that its new code was deployed unverified (archfn cannot check signatures).
    pub(crate) async fn note_unverified_code(&self, region: &str, name: &str) {
        let key = SettingKey::new(region, SettingKind::FunctionCodeSigning, name, LATEST);
        let Ok(Some(row)) = self.store().get_setting(&key).await else {
            return;
        };
        let Ok(doc) = row.decode::<FunctionCodeSigning>() else {
            return;
        };
        if let Ok((view, _)) = self
            .load_csc(region, &doc.arn, NotFoundKind::CodeSigningConfig)
            .await
        {
            warn_if_enforced(name, &view);
        }
    }
}

fn warn_if_enforced(function: &str, view: &CodeSigningConfigView) {
    if view.untrusted_artifact_on_deployment == "Enforce" {
        tracing::warn!(
            function,
            code_signing_config = %view.arn,
            "code signing policy Enforce acts as Warn: archfn cannot verify AWS Signer signatures, so the code is deployed unverified"
        );
    }
}

fn to_json<T: Serialize>(v: &T) -> Result<String, ControlError> {
    serde_json::to_string(v).map_err(|e| ControlError::Internal(e.to_string()))
}

/// One page of `items` (ordered by `key`), starting after the marker's key.
pub(crate) fn paginate<T>(
    items: Vec<T>,
    key: impl Fn(&T) -> String,
    marker: Option<&str>,
    size: usize,
) -> Result<(Vec<T>, Option<String>), ControlError> {
    use base64::Engine;
    let start = match marker.filter(|m| !m.is_empty()) {
        None => 0,
        Some(m) => {
            let after = base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(m)
                .ok()
                .and_then(|b| String::from_utf8(b).ok())
                .ok_or_else(|| ControlError::InvalidParameter(format!("Invalid marker: {m}")))?;
            items.iter().take_while(|i| key(i) <= after).count()
        }
    };
    let rest: Vec<T> = items.into_iter().skip(start).collect();
    let more = rest.len() > size;
    let page: Vec<T> = rest.into_iter().take(size).collect();
    let next = more
        .then(|| page.last().map(&key))
        .flatten()
        .map(|k| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(k));
    Ok((page, next))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn publisher_arns_follow_the_model() {
        assert!(valid_arn(
            "arn:aws:signer:us-east-1:123456789012:/signing-profiles/p/abc"
        ));
        assert!(!valid_arn("not-an-arn"));
        assert!(!valid_arn("arn:aws:signer:nowhere:123456789012:x"));
    }

    #[test]
    fn pages_follow_markers() -> Result<(), ControlError> {
        let items: Vec<String> = ["a", "b", "c"].iter().map(|s| s.to_string()).collect();
        let (p1, m1) = paginate(items.clone(), Clone::clone, None, 2)?;
        assert_eq!(p1, ["a", "b"]);
        let (p2, m2) = paginate(items, Clone::clone, m1.as_deref(), 2)?;
        assert_eq!(p2, ["c"]);
        assert!(m2.is_none());
        Ok(())
    }
}
