//! Function-level settings (tags, reserved concurrency) and account-wide settings.

use std::collections::BTreeMap;

use archfn_model::ValidationErrors;
use archfn_model::limits;
use archfn_store::{Durability, StoreError};

use crate::function::Resolved;
use crate::{Control, ControlError, NotFoundKind};

/// GetAccountSettings' figures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AccountSettings {
    /// Limit: unzipped size of a function and its layers.
    pub code_size_unzipped: u64,
    /// Limit: zipped size of a direct upload.
    pub code_size_zipped: u64,
    /// Limit: concurrent executions.
    pub concurrent_executions: u32,
    /// Limit: total code storage.
    pub total_code_size_limit: u64,
    /// Concurrency not reserved by any function.
    pub unreserved_concurrent_executions: u32,
    /// Usage: functions.
    pub function_count: u64,
    /// Usage: code storage.
    pub total_code_size: u64,
}

/// Tag rules: at most 50, keys 1–128 characters and not `aws:`-prefixed, values up to 256.
pub(crate) fn check_tags(tags: &BTreeMap<String, String>) -> Result<(), ControlError> {
    if tags.len() > limits::MAX_TAGS {
        return Err(ControlError::InvalidParameter(
            "Number of tags exceeds resource tag limit.".into(),
        ));
    }
    for (k, v) in tags {
        if k.is_empty() || k.chars().count() > 128 || v.chars().count() > 256 {
            return Err(ControlError::InvalidParameter(format!(
                "Tag key or value has invalid length: {k}"
            )));
        }
        if k.starts_with("aws:") {
            return Err(ControlError::InvalidParameter(
                "Tag keys cannot start with the reserved prefix 'aws:'.".into(),
            ));
        }
    }
    Ok(())
}

impl Control {
    /// Reads, changes and writes a function record, retrying when another writer got there first.
    async fn modify_function<T>(
        &self,
        region: &str,
        name: &str,
        mut change: impl FnMut(&mut archfn_model::FunctionRecord, &Resolved) -> Result<T, ControlError>,
    ) -> Result<T, ControlError> {
        loop {
            let r = self.resolve(region, name, None).await?;
            let mut rec = r.stored.value.clone();
            let out = change(&mut rec, &r)?;
            match self
                .store()
                .put_function(region, &rec, r.stored.etag, Durability::Synced)
                .await
            {
                Ok(_) => return Ok(out),
                Err(StoreError::Conflict) => continue,
                Err(StoreError::NotFound) => {
                    return Err(ControlError::not_found(
                        NotFoundKind::Function,
                        format!("Function not found: {}", r.arn()),
                    ));
                }
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// The function a tagging ARN names; tags live on unqualified functions only.
    fn tag_target(&self, region: &str, resource: &str) -> Result<String, ControlError> {
        if !resource.starts_with("arn:") {
            return Err(ValidationErrors::single(
                resource,
                "resource",
                "Member must satisfy regular expression pattern: arn:(aws[a-zA-Z-]*):lambda:[a-z]{2}((-gov)|(-iso([a-z]?)))?-[a-z]+-\\d{1}:\\d{12}:(function:[a-zA-Z0-9-_]+(:(\\$LATEST|[a-zA-Z0-9-_]+))?|layer:([a-zA-Z0-9-_]+)|code-signing-config:csc-[a-z0-9]{17}|event-source-mapping:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})",
            )
            .into());
        }
        let fref = self.parse_function_ref(region, resource)?;
        if fref.qualifier.is_some() {
            return Err(ControlError::InvalidParameter(
                "Tags on function aliases and versions are not supported. Please specify a function ARN.".into(),
            ));
        }
        Ok(fref.name)
    }

    /// TagResource.
    pub async fn tag_resource(
        &self,
        region: &str,
        resource: &str,
        tags: BTreeMap<String, String>,
    ) -> Result<(), ControlError> {
        let name = self.tag_target(region, resource)?;
        self.modify_function(region, &name, |rec, _| {
            let mut merged = rec.tags.clone();
            merged.extend(tags.clone());
            check_tags(&merged)?;
            rec.tags = merged;
            Ok(())
        })
        .await
    }

    /// UntagResource.
    pub async fn untag_resource(
        &self,
        region: &str,
        resource: &str,
        keys: &[String],
    ) -> Result<(), ControlError> {
        let name = self.tag_target(region, resource)?;
        self.modify_function(region, &name, |rec, _| {
            for k in keys {
                rec.tags.remove(k);
            }
            Ok(())
        })
        .await
    }

    /// ListTags.
    pub async fn list_tags(
        &self,
        region: &str,
        resource: &str,
    ) -> Result<BTreeMap<String, String>, ControlError> {
        let name = self.tag_target(region, resource)?;
        Ok(self.resolve(region, &name, None).await?.stored.value.tags)
    }

    /// PutFunctionConcurrency: keeps at least 100 unreserved for the account.
    pub async fn put_function_concurrency(
        &self,
        region: &str,
        name: &str,
        reserved: i64,
    ) -> Result<u32, ControlError> {
        let Ok(reserved) = u32::try_from(reserved) else {
            return Err(ValidationErrors::single(
                &reserved.to_string(),
                "reservedConcurrentExecutions",
                "Member must have value greater than or equal to 0",
            )
            .into());
        };
        let usage = self.store().account_usage(region).await?;
        let (account, minimum) = (self.inner.account_concurrency, self.unreserved_minimum());
        self.modify_function(region, name, |rec, _| {
            let others = usage.reserved_concurrency.saturating_sub(rec.reserved_concurrency.unwrap_or(0).into());
            let unreserved = i64::from(account) - others as i64 - i64::from(reserved);
            if unreserved < i64::from(minimum) {
                return Err(ControlError::InvalidParameter(format!(
                    "Specified ReservedConcurrentExecutions for function decreases account's UnreservedConcurrentExecution below its minimum value of [{minimum}]."
                )));
            }
            rec.reserved_concurrency = Some(reserved);
            Ok(reserved)
        })
        .await
    }

    /// GetFunctionConcurrency.
    pub async fn get_function_concurrency(
        &self,
        region: &str,
        name: &str,
    ) -> Result<Option<u32>, ControlError> {
        Ok(self
            .resolve(region, name, None)
            .await?
            .stored
            .value
            .reserved_concurrency)
    }

    /// DeleteFunctionConcurrency.
    pub async fn delete_function_concurrency(
        &self,
        region: &str,
        name: &str,
    ) -> Result<(), ControlError> {
        self.modify_function(region, name, |rec, _| {
            rec.reserved_concurrency = None;
            Ok(())
        })
        .await
    }

    /// GetAccountSettings.
    pub async fn account_settings(&self, region: &str) -> Result<AccountSettings, ControlError> {
        let usage = self.store().account_usage(region).await?;
        // Provisioned concurrency of functions without a reservation is taken from the pool too.
        let provisioned = self.provisioned_outside_reservations(region).await?;
        let reserved = u32::try_from(usage.reserved_concurrency.saturating_add(provisioned))
            .unwrap_or(u32::MAX);
        Ok(AccountSettings {
            code_size_unzipped: limits::UNZIPPED_MAX_BYTES,
            code_size_zipped: limits::ZIPPED_MAX_BYTES,
            concurrent_executions: self.inner.account_concurrency,
            total_code_size_limit: limits::TOTAL_CODE_SIZE_BYTES,
            unreserved_concurrent_executions: self
                .inner
                .account_concurrency
                .saturating_sub(reserved),
            function_count: usage.function_count,
            total_code_size: usage.total_code_size,
        })
    }
}
