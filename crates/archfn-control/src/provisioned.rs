//! Provisioned concurrency configurations (Put/Get/Delete/ListProvisionedConcurrencyConfigs)
//! with Lambda's rules, stored as settings, and what the server's reconciler needs to bring
//! them to their target: the versions each one keeps initialised, and its status.

use std::collections::BTreeMap;

use archfn_model::{Qualifier, ValidationErrors};
use archfn_store::{SettingKey, SettingKind, SettingRow, SettingWrite, StoreError};
use serde::{Deserialize, Serialize};

use crate::function::Resolved;
use crate::{Control, ControlError, Invocable, NotFoundKind};

/// Allocation under way.
pub const IN_PROGRESS: &str = "IN_PROGRESS";
/// Every environment asked for is initialised.
pub const READY: &str = "READY";
/// An environment could not be initialised (see the reason).
pub const FAILED: &str = "FAILED";

/// The stored document of one configuration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct ProvisionedDoc {
    requested: u32,
    last_modified: String,
    status: String,
    #[serde(default)]
    status_reason: Option<String>,
    #[serde(default)]
    allocated: u32,
}

/// A provisioned concurrency configuration, as the API shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProvisionedView {
    /// The alias's or version's ARN.
    pub function_arn: String,
    /// `RequestedProvisionedConcurrentExecutions`.
    pub requested: u32,
    /// `AvailableProvisionedConcurrentExecutions`: environments initialised.
    pub available: u32,
    /// `AllocatedProvisionedConcurrentExecutions`.
    pub allocated: u32,
    /// `IN_PROGRESS`, `READY` or `FAILED`.
    pub status: String,
    /// Why it failed.
    pub status_reason: Option<String>,
    /// When the configuration was last put (`2024-01-31T10:00:00+0000`).
    pub last_modified: String,
}

/// A page of configurations.
#[derive(Debug, Clone)]
pub struct ProvisionedPage {
    /// The configurations.
    pub configs: Vec<ProvisionedView>,
    /// Where the next page starts.
    pub next_marker: Option<String>,
}

/// One configuration and what it keeps initialised, for the reconciler.
#[derive(Debug, Clone)]
pub struct ProvisionedWork {
    /// Where the configuration is stored.
    pub key: SettingKey,
    /// Its etag when read: a status is recorded only over that one.
    pub etag: i64,
    /// Environments asked for.
    pub requested: u32,
    /// It failed: it is left as it is until it is put again.
    pub failed: bool,
    /// The versions that run, each with its share of `requested` (an alias with routing
    /// weights shares it between its versions by weight, as Lambda does).
    pub parts: Vec<(Invocable, u32)>,
}

fn doc_of(row: &SettingRow) -> Result<ProvisionedDoc, ControlError> {
    Ok(row.decode::<ProvisionedDoc>()?)
}

fn view(arn: String, d: &ProvisionedDoc) -> ProvisionedView {
    ProvisionedView {
        function_arn: arn,
        requested: d.requested,
        available: d.allocated,
        allocated: d.allocated,
        status: d.status.clone(),
        status_reason: d.status_reason.clone(),
        last_modified: d.last_modified.clone(),
    }
}

/// `LastModified` of a provisioned concurrency configuration: seconds, `+0000`.
fn now_text() -> String {
    let text = archfn_model::time::format_last_modified(archfn_model::time::now_ms());
    // `2023-11-14T22:13:20.000+0000` without the milliseconds.
    match (text.get(..19), text.get(23..)) {
        (Some(seconds), Some(zone)) => format!("{seconds}{zone}"),
        _ => text,
    }
}

fn qualifier_required(q: Option<&str>) -> Result<&str, ControlError> {
    q.ok_or_else(|| {
        ControlError::Validation(ValidationErrors::single(
            "null",
            "qualifier",
            "Member must not be null",
        ))
    })
}

/// How `requested` environments are shared between an alias's primary version and its
/// weighted additional version: by weight, rounded, the primary keeping the rest.
pub(crate) fn split_by_weight(
    primary: &str,
    weights: &BTreeMap<String, f64>,
    requested: u32,
) -> Vec<(String, u32)> {
    let mut parts = Vec::new();
    let mut rest = requested;
    for (version, w) in weights {
        let n = ((f64::from(requested) * w).round() as u32).min(rest);
        rest -= n;
        if n > 0 {
            parts.push((version.clone(), n));
        }
    }
    parts.insert(0, (primary.to_string(), rest));
    parts.retain(|(_, n)| *n > 0);
    parts
}

impl Control {
    /// The version or alias a provisioned concurrency operation names must exist: "Function not
    /// found" for a version, "Cannot find alias arn" for an alias. Returns the qualifier.
    async fn provisioned_qualifier(
        &self,
        r: &Resolved,
        latest_message: &str,
    ) -> Result<String, ControlError> {
        let q = r.qualifier.clone().unwrap_or_default();
        let arn = r.arn();
        match Qualifier::parse(&q) {
            Some(Qualifier::Latest) => Err(ControlError::InvalidParameter(latest_message.into())),
            Some(Qualifier::Version(n)) => {
                match self
                    .store()
                    .get_version(&r.scope.region, &r.name, n)
                    .await?
                {
                    Some(_) => Ok(q),
                    None => Err(ControlError::not_found(
                        NotFoundKind::Version,
                        format!("Function not found: {arn}:{q}"),
                    )),
                }
            }
            Some(Qualifier::Alias(a)) => {
                match self.store().get_alias(&r.scope.region, &r.name, &a).await? {
                    Some(_) => Ok(q),
                    None => Err(ControlError::not_found(
                        NotFoundKind::Alias,
                        format!("Cannot find alias arn: {arn}:{q}"),
                    )),
                }
            }
            None => Err(ControlError::not_found(
                NotFoundKind::Version,
                format!("Function not found: {arn}:{q}"),
            )),
        }
    }

    /// PutProvisionedConcurrencyConfig: records the configuration (status `IN_PROGRESS`); the
    /// server's reconciler then initialises the environments and moves it to `READY` or
    /// `FAILED`.
    pub async fn put_provisioned_concurrency(
        &self,
        region: &str,
        name: &str,
        qualifier: Option<&str>,
        requested: Option<i64>,
    ) -> Result<ProvisionedView, ControlError> {
        let mut errors = ValidationErrors::new();
        if qualifier.is_none() {
            errors.push("null", "qualifier", "Member must not be null");
        }
        match requested {
            None => errors.push(
                "null",
                "provisionedConcurrentExecutions",
                "Member must not be null",
            ),
            Some(n) if n < 1 => errors.push(
                &n.to_string(),
                "provisionedConcurrentExecutions",
                "Member must have value greater than or equal to 1",
            ),
            Some(_) => {}
        }
        errors.into_result()?;
        let requested = u32::try_from(requested.unwrap_or(1)).unwrap_or(u32::MAX);
        let qualifier = qualifier_required(qualifier)?;
        if qualifier == "$LATEST" {
            return Err(ControlError::InvalidParameter(
                "Provisioned Concurrency Configs cannot be applied to unpublished function versions.".into(),
            ));
        }
        let r = self.resolve(region, name, Some(qualifier)).await?;
        let q = self
            .provisioned_qualifier(
                &r,
                "Provisioned Concurrency Configs cannot be applied to unpublished function versions.",
            )
            .await?;
        let existing = self
            .store()
            .list_settings(region, SettingKind::ProvisionedConcurrency, Some(&r.name))
            .await?;
        let configured = |qual: &str| existing.iter().any(|row| row.key.qualifier == qual);
        match Qualifier::parse(&q) {
            Some(Qualifier::Alias(a)) => {
                let alias = self.store().get_alias(region, &r.name, &a).await?;
                if alias.as_ref().is_some_and(|al| {
                    al.value.function_version == "$LATEST"
                        || al.value.additional_weights.contains_key("$LATEST")
                }) {
                    return Err(ControlError::InvalidParameter(
                        "Provisioned Concurrency Configs cannot be applied to unpublished function versions.".into(),
                    ));
                }
                if let Some(alias) = alias
                    && configured(&alias.value.function_version)
                {
                    return Err(ControlError::Conflict(
                        "Alias can't be used for Provisioned Concurrency configuration on an already Provisioned version".into(),
                    ));
                }
            }
            _ => {
                for row in &existing {
                    if let Some(Qualifier::Alias(a)) = Qualifier::parse(&row.key.qualifier)
                        && let Some(alias) = self.store().get_alias(region, &r.name, &a).await?
                        && alias.value.function_version == q
                    {
                        return Err(ControlError::Conflict(
                            "Version is pointed by a Provisioned Concurrency alias".into(),
                        ));
                    }
                }
            }
        }
        let mut others = 0u64;
        let mut previous = None;
        for row in &existing {
            let d = doc_of(row)?;
            if row.key.qualifier == q {
                previous = Some(d);
            } else {
                others += u64::from(d.requested);
            }
        }
        match r.stored.value.reserved_concurrency {
            Some(reserved) => {
                if others + u64::from(requested) > u64::from(reserved) {
                    return Err(ControlError::InvalidParameter(
                        "Requested Provisioned Concurrency should not be greater than the reservedConcurrentExecution for function".into(),
                    ));
                }
            }
            None => {
                let account = self.inner.account_concurrency;
                if requested > account {
                    return Err(ControlError::InvalidParameter(format!(
                        "Specified ConcurrentExecutions for function is greater than account's unreserved concurrency [{account}]."
                    )));
                }
                let this = previous.as_ref().map_or(0, |d| d.requested);
                let unreserved = i64::from(
                    self.account_settings(region)
                        .await?
                        .unreserved_concurrent_executions,
                ) + i64::from(this);
                let minimum = self.unreserved_minimum();
                if unreserved - i64::from(requested) < i64::from(minimum) {
                    return Err(ControlError::InvalidParameter(format!(
                        "Specified ConcurrentExecutions for function decreases account's UnreservedConcurrentExecution below its minimum value of [{minimum}]."
                    )));
                }
            }
        }
        let doc = ProvisionedDoc {
            requested,
            last_modified: now_text(),
            status: IN_PROGRESS.into(),
            status_reason: None,
            allocated: previous.map_or(0, |d| d.allocated.min(requested)),
        };
        let json =
            serde_json::to_string(&doc).map_err(|e| ControlError::Internal(e.to_string()))?;
        let key = SettingKey::new(region, SettingKind::ProvisionedConcurrency, &r.name, &q);
        self.store()
            .put_setting(&key, &json, None, SettingWrite::Upsert)
            .await?;
        Ok(view(format!("{}:{q}", r.arn()), &doc))
    }

    /// GetProvisionedConcurrencyConfig.
    pub async fn get_provisioned_concurrency(
        &self,
        region: &str,
        name: &str,
        qualifier: Option<&str>,
    ) -> Result<ProvisionedView, ControlError> {
        let qualifier = qualifier_required(qualifier)?;
        let latest = "The function resource provided must be an alias or a published version.";
        if qualifier == "$LATEST" {
            return Err(ControlError::InvalidParameter(latest.into()));
        }
        let r = self.resolve(region, name, Some(qualifier)).await?;
        let q = self.provisioned_qualifier(&r, latest).await?;
        let key = SettingKey::new(region, SettingKind::ProvisionedConcurrency, &r.name, &q);
        match self.store().get_setting(&key).await? {
            Some(row) => Ok(view(format!("{}:{q}", r.arn()), &doc_of(&row)?)),
            None => Err(ControlError::not_found(
                NotFoundKind::ProvisionedConcurrencyConfig,
                "No Provisioned Concurrency Config found for this function",
            )),
        }
    }

    /// DeleteProvisionedConcurrencyConfig: the reconciler then releases the environments.
    pub async fn delete_provisioned_concurrency(
        &self,
        region: &str,
        name: &str,
        qualifier: Option<&str>,
    ) -> Result<(), ControlError> {
        let qualifier = qualifier_required(qualifier)?;
        let latest = "The function resource provided must be an alias or a published version.";
        if qualifier == "$LATEST" {
            return Err(ControlError::InvalidParameter(latest.into()));
        }
        let r = self.resolve(region, name, Some(qualifier)).await?;
        let q = self.provisioned_qualifier(&r, latest).await?;
        let key = SettingKey::new(region, SettingKind::ProvisionedConcurrency, &r.name, &q);
        self.store().delete_setting(&key, None).await?;
        Ok(())
    }

    /// ListProvisionedConcurrencyConfigs, by qualifier; `marker` is where the page starts.
    pub async fn list_provisioned_concurrency(
        &self,
        region: &str,
        name: &str,
        marker: Option<&str>,
        max_items: Option<i64>,
    ) -> Result<ProvisionedPage, ControlError> {
        if let Some(n) = max_items {
            let mut errors = ValidationErrors::new();
            if n < 1 {
                errors.push(
                    &n.to_string(),
                    "maxItems",
                    "Member must have value greater than or equal to 1",
                );
            } else if n > 50 {
                errors.push(
                    &n.to_string(),
                    "maxItems",
                    "Member must have value less than or equal to 50",
                );
            }
            errors.into_result()?;
        }
        let r = self.resolve(region, name, None).await?;
        let rows = self
            .store()
            .list_settings(region, SettingKind::ProvisionedConcurrency, Some(&r.name))
            .await?;
        let start = marker.and_then(|m| m.parse::<usize>().ok()).unwrap_or(0);
        let size = usize::try_from(max_items.unwrap_or(50)).unwrap_or(50);
        let mut configs = Vec::new();
        for row in rows.iter().skip(start).take(size) {
            configs.push(view(
                format!("{}:{}", r.arn(), row.key.qualifier),
                &doc_of(row)?,
            ));
        }
        let next = start + configs.len();
        Ok(ProvisionedPage {
            configs,
            next_marker: (next < rows.len()).then(|| next.to_string()),
        })
    }

    /// Provisioned concurrency of functions without reserved concurrency in `region` (it is
    /// taken from the account's unreserved pool; a function's reservation already holds its own).
    pub(crate) async fn provisioned_outside_reservations(
        &self,
        region: &str,
    ) -> Result<u64, ControlError> {
        let rows = self
            .store()
            .list_settings(region, SettingKind::ProvisionedConcurrency, None)
            .await?;
        let mut per_function: BTreeMap<&str, u64> = BTreeMap::new();
        for row in &rows {
            *per_function.entry(row.key.owner.as_str()).or_default() +=
                u64::from(doc_of(row)?.requested);
        }
        let mut total = 0;
        for (function, n) in per_function {
            let reserved = self
                .store()
                .get_function(region, function)
                .await?
                .and_then(|f| f.value.reserved_concurrency);
            if reserved.is_none() {
                total += n;
            }
        }
        Ok(total)
    }

    /// Every provisioned concurrency configuration in every region, with the versions it keeps
    /// initialised and how many of each. Configurations whose version or alias cannot be
    /// resolved now are left out.
    pub async fn provisioned_work(&self) -> Result<Vec<ProvisionedWork>, ControlError> {
        let rows = self
            .store()
            .list_settings_everywhere(SettingKind::ProvisionedConcurrency)
            .await?;
        let mut work = Vec::new();
        for row in rows {
            let doc = doc_of(&row)?;
            let (region, function, q) = (&row.key.region, &row.key.owner, &row.key.qualifier);
            let versions = match Qualifier::parse(q) {
                Some(Qualifier::Alias(a)) => {
                    match self.store().get_alias(region, function, &a).await? {
                        Some(alias) => split_by_weight(
                            &alias.value.function_version,
                            &alias.value.additional_weights,
                            doc.requested,
                        ),
                        None => continue,
                    }
                }
                _ => vec![(q.clone(), doc.requested)],
            };
            let mut parts = Vec::new();
            for (version, n) in versions {
                match self
                    .resolve_invocation(region, function, Some(&version))
                    .await
                {
                    Ok(target) => parts.push((target, n)),
                    Err(e) => {
                        tracing::debug!(function = %function, version = %version, error = %e, "provisioned version not resolvable now");
                    }
                }
            }
            work.push(ProvisionedWork {
                key: row.key.clone(),
                etag: row.etag,
                requested: doc.requested,
                failed: doc.status == FAILED,
                parts,
            });
        }
        Ok(work)
    }

    /// Records where a configuration's environments are: `allocated` initialised, and why the
    /// next could not be when one could not. Written only when it changes, and only over the
    /// document `work` was read from (a configuration put meanwhile is brought up next round).
    pub async fn record_provisioned(
        &self,
        work: &mut ProvisionedWork,
        allocated: u32,
        failure: Option<String>,
    ) -> Result<(), ControlError> {
        let Some(row) = self.store().get_setting(&work.key).await? else {
            return Ok(());
        };
        if row.etag != work.etag {
            return Ok(());
        }
        let mut doc = doc_of(&row)?;
        let before = doc.clone();
        doc.allocated = allocated.min(doc.requested);
        match failure {
            Some(reason) => {
                doc.status = FAILED.into();
                doc.status_reason = Some(reason);
            }
            None if doc.allocated >= doc.requested => {
                doc.status = READY.into();
                doc.status_reason = None;
            }
            None => {
                doc.status = IN_PROGRESS.into();
                doc.status_reason = None;
            }
        }
        if doc == before {
            return Ok(());
        }
        let json =
            serde_json::to_string(&doc).map_err(|e| ControlError::Internal(e.to_string()))?;
        match self
            .store()
            .put_setting(&work.key, &json, None, SettingWrite::Replace(row.etag))
            .await
        {
            Ok(etag) => {
                work.etag = etag;
                Ok(())
            }
            Err(StoreError::Conflict) | Err(StoreError::NotFound) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::split_by_weight;
    use std::collections::BTreeMap;

    #[test]
    fn a_weighted_alias_shares_its_provisioned_concurrency_by_weight() {
        let none = BTreeMap::new();
        assert_eq!(split_by_weight("1", &none, 4), vec![("1".to_string(), 4)]);
        let w = BTreeMap::from([("2".to_string(), 0.25)]);
        assert_eq!(
            split_by_weight("1", &w, 4),
            vec![("1".to_string(), 3), ("2".to_string(), 1)]
        );
        let w = BTreeMap::from([("2".to_string(), 0.1)]);
        assert_eq!(split_by_weight("1", &w, 2), vec![("1".to_string(), 2)]);
    }
}
