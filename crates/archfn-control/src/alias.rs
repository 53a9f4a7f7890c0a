//! Aliases: a name for one version, or for two with weighted routing between them.
//!
//! Weighted routing between an x86_64 version and an arm64 version is how an architecture
//! migration is canaried: nothing here asks both versions to share an architecture.

use std::collections::BTreeMap;

use archfn_model::validation::{ALIAS_NAME_PATTERN, java_double};
use archfn_model::{AliasRecord, Qualifier, ValidationErrors};

use crate::error::revision_mismatch;
use crate::function::{Resolved, decode_marker, encode_marker, page_size};
use crate::input::AliasInput;
use crate::{Control, ControlError, NotFoundKind, new_revision};

/// An alias and its ARN.
#[derive(Debug, Clone)]
pub struct AliasView {
    /// The alias.
    pub alias: AliasRecord,
    /// `<function arn>:<alias>`.
    pub arn: String,
}

fn java_map(m: &BTreeMap<String, f64>) -> String {
    let items: Vec<String> = m
        .iter()
        .map(|(k, v)| format!("{k}={}", java_double(*v)))
        .collect();
    format!("{{{}}}", items.join(", "))
}

fn check_alias_name(name: &str, errs: &mut ValidationErrors) {
    let ok = !name.is_empty()
        && name.len() <= 128
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        && !name.bytes().all(|b| b.is_ascii_digit());
    if !ok {
        errs.push(
            name,
            "name",
            &format!("Member must satisfy regular expression pattern: {ALIAS_NAME_PATTERN}"),
        );
    }
}

/// An alias name given in a request's path, checked before anything is looked up.
fn alias_name(name: &str) -> Result<(), ValidationErrors> {
    let mut errs = ValidationErrors::new();
    check_alias_name(name, &mut errs);
    errs.into_result()
}

fn check_version_field(v: &str, errs: &mut ValidationErrors) {
    if !matches!(
        Qualifier::parse(v),
        Some(Qualifier::Latest | Qualifier::Version(_))
    ) {
        errs.push(
            v,
            "functionVersion",
            "Member must satisfy regular expression pattern: (\\$LATEST|[0-9]+)",
        );
    }
}

fn check_weights(w: &BTreeMap<String, f64>, errs: &mut ValidationErrors) {
    let shown = java_map(w);
    if w.keys()
        .any(|k| k.is_empty() || !k.bytes().all(|b| b.is_ascii_digit()))
    {
        errs.push(&shown, "routingConfig.additionalVersionWeights", "Map keys must satisfy constraint: [Member must have length less than or equal to 1024, Member must have length greater than or equal to 1, Member must satisfy regular expression pattern: [0-9]+]");
    }
    if w.values().any(|v| !(0.0..=1.0).contains(v)) {
        errs.push(&shown, "routingConfig.additionalVersionWeights", "Map value must satisfy constraint: [Member must have value less than or equal to 1.0, Member must have value greater than or equal to 0.0, Member must not be null]");
    }
}

impl Control {
    /// Checks that a routing target exists and obeys Lambda's rules.
    pub(crate) async fn check_routing(
        &self,
        r: &Resolved,
        primary: &str,
        weights: &BTreeMap<String, f64>,
    ) -> Result<(), ControlError> {
        let arn = r.arn();
        if weights.len() > 1 {
            return Err(ControlError::InvalidParameter(
                "Number of items in AdditionalVersionWeights cannot be greater than 1".into(),
            ));
        }
        if !weights.is_empty() && primary == "$LATEST" {
            return Err(ControlError::InvalidParameter(
                "$LATEST is not supported for an alias pointing to more than 1 version".into(),
            ));
        }
        if weights.contains_key(primary) {
            return Err(ControlError::InvalidParameter(format!(
                "Invalid function version {primary}. Function version {primary} is already included in routing configuration."
            )));
        }
        for v in std::iter::once(primary).chain(weights.keys().map(String::as_str)) {
            if let Some(Qualifier::Version(n)) = Qualifier::parse(v)
                && self
                    .store()
                    .get_version(&r.scope.region, &r.name, n)
                    .await?
                    .is_none()
            {
                return Err(ControlError::not_found(
                    NotFoundKind::Version,
                    format!("Function not found: {arn}:{v}"),
                ));
            }
        }
        Ok(())
    }

    async fn resolve_for_alias(
        &self,
        region: &str,
        function: &str,
        version_hint: &str,
    ) -> Result<Resolved, ControlError> {
        match self.resolve(region, function, None).await {
            Err(ControlError::NotFound { kind, message }) => Err(ControlError::not_found(
                kind,
                format!("{message}:{version_hint}"),
            )),
            other => other,
        }
    }

    /// CreateAlias.
    pub async fn create_alias(
        &self,
        region: &str,
        function: &str,
        name: &str,
        input: AliasInput,
    ) -> Result<AliasView, ControlError> {
        let mut errs = ValidationErrors::new();
        check_alias_name(name, &mut errs);
        let primary = input.function_version.clone().unwrap_or_default();
        check_version_field(&primary, &mut errs);
        let weights = input.weights.unwrap_or_default();
        check_weights(&weights, &mut errs);
        errs.into_result()?;
        let r = self.resolve_for_alias(region, function, &primary).await?;
        self.check_routing(&r, &primary, &weights).await?;
        let alias = AliasRecord {
            function: r.name.clone(),
            name: name.to_string(),
            function_version: primary,
            description: input.description.unwrap_or_default(),
            additional_weights: weights,
            revision_id: new_revision(),
        };
        let arn = format!("{}:{name}", r.arn());
        match self.store().create_alias(region, &alias).await {
            Err(archfn_store::StoreError::AlreadyExists) => Err(ControlError::Conflict(format!(
                "Alias already exists: {arn}"
            ))),
            other => other.map_err(ControlError::from),
        }?;
        Ok(AliasView { alias, arn })
    }

    /// GetAlias.
    pub async fn get_alias(
        &self,
        region: &str,
        function: &str,
        name: &str,
    ) -> Result<AliasView, ControlError> {
        alias_name(name)?;
        let r = self.resolve(region, function, None).await?;
        let arn = format!("{}:{name}", r.arn());
        match self.store().get_alias(region, &r.name, name).await? {
            Some(s) => Ok(AliasView {
                alias: s.value,
                arn,
            }),
            None => Err(ControlError::not_found(
                NotFoundKind::Alias,
                format!("Cannot find alias arn: {arn}"),
            )),
        }
    }

    /// UpdateAlias: every call issues a new alias RevisionId.
    pub async fn update_alias(
        &self,
        region: &str,
        function: &str,
        name: &str,
        input: AliasInput,
    ) -> Result<AliasView, ControlError> {
        alias_name(name)?;
        let mut errs = ValidationErrors::new();
        if let Some(v) = &input.function_version {
            check_version_field(v, &mut errs);
        }
        if let Some(w) = &input.weights {
            check_weights(w, &mut errs);
        }
        errs.into_result()?;
        let r = self.resolve(region, function, None).await?;
        let arn = format!("{}:{name}", r.arn());
        let Some(stored) = self.store().get_alias(region, &r.name, name).await? else {
            return Err(ControlError::not_found(
                NotFoundKind::Alias,
                format!("Alias not found: {arn}"),
            ));
        };
        if input
            .revision_id
            .as_deref()
            .is_some_and(|rev| rev != stored.value.revision_id)
        {
            return Err(revision_mismatch());
        }
        let mut alias = stored.value;
        if let Some(v) = input.function_version {
            alias.function_version = v;
        }
        if let Some(d) = input.description {
            alias.description = d;
        }
        if let Some(w) = input.weights {
            alias.additional_weights = w;
        }
        self.check_routing(&r, &alias.function_version, &alias.additional_weights)
            .await?;
        alias.revision_id = new_revision();
        match self.store().put_alias(region, &alias, stored.etag).await {
            Err(archfn_store::StoreError::Conflict) => Err(revision_mismatch()),
            Err(archfn_store::StoreError::NotFound) => Err(ControlError::not_found(
                NotFoundKind::Alias,
                format!("Alias not found: {arn}"),
            )),
            other => other.map_err(ControlError::from),
        }?;
        Ok(AliasView { alias, arn })
    }

    /// DeleteAlias: succeeds also when the alias does not exist.
    pub async fn delete_alias(
        &self,
        region: &str,
        function: &str,
        name: &str,
    ) -> Result<(), ControlError> {
        alias_name(name)?;
        let r = self.resolve(region, function, None).await?;
        self.store().delete_alias(region, &r.name, name).await?;
        Ok(())
    }

    /// ListAliases, optionally only those pointing at `function_version`.
    pub async fn list_aliases(
        &self,
        region: &str,
        function: &str,
        function_version: Option<&str>,
        marker: Option<&str>,
        max_items: Option<i64>,
    ) -> Result<(Vec<AliasView>, Option<String>), ControlError> {
        let r = self.resolve(region, function, None).await?;
        let max = page_size(max_items, 50, 10_000)?;
        let (after, _) = decode_marker(marker)?;
        let base = r.arn();
        let mut out = Vec::new();
        let mut cursor = after;
        loop {
            let batch = self
                .store()
                .list_aliases(region, &r.name, cursor.as_deref(), max + 1)
                .await?;
            let done = batch.len() <= max;
            for alias in batch {
                cursor = Some(alias.name.clone());
                if function_version.is_some_and(|v| v != alias.function_version) {
                    continue;
                }
                if out.len() == max {
                    // The marker names the last alias returned; the next page starts after it.
                    let last = out
                        .last()
                        .map(|a: &AliasView| a.alias.name.clone())
                        .unwrap_or_default();
                    return Ok((out, Some(encode_marker(&last, 0))));
                }
                out.push(AliasView {
                    arn: format!("{base}:{}", alias.name),
                    alias,
                });
            }
            if done {
                return Ok((out, None));
            }
        }
    }
}
