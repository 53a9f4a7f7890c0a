//! Layers: published versions of shared archives, extracted into /opt of the functions using them.
//!
//! Compatible runtimes and architectures are labels: they filter ListLayers and
//! ListLayerVersions, and a function of another architecture may still use the layer.

use archfn_model::validation::{
    ARCH_ENUM_CONSTRAINT, LAYER_NAME_PATTERN, is_plain_name, java_list,
};
use archfn_model::{Architecture, LayerVersionRecord, ValidationErrors, runtime};

use crate::function::{decode_marker, encode_marker, page_size};
use crate::input::{LayerFilter, PublishLayerInput};
use crate::{Control, ControlError, NotFoundKind};

/// A layer version and its ARNs.
#[derive(Debug, Clone)]
pub struct LayerVersionView {
    /// The version.
    pub layer: LayerVersionRecord,
    /// `arn:aws:lambda:<region>:<account>:layer:<name>`.
    pub layer_arn: String,
}

impl LayerVersionView {
    /// `<layer arn>:<version>`.
    pub fn version_arn(&self) -> String {
        format!("{}:{}", self.layer_arn, self.layer.version)
    }
}

const LAYER_VERSION_ARN_PATTERN: &str =
    "arn:[a-zA-Z0-9-]+:lambda:[a-zA-Z0-9-]+:\\d{12}:layer:[a-zA-Z0-9-_]+:[0-9]+";

fn runtime_enum() -> String {
    let ids: Vec<&str> = runtime::identifiers().collect();
    format!("Member must satisfy enum value set: {}", java_list(&ids))
}

impl Control {
    /// A LayerName parameter (a name or a layer ARN) reduced to the name.
    pub(crate) fn layer_name(&self, region: &str, given: &str) -> Result<String, ControlError> {
        let name = match given.strip_prefix("arn:") {
            Some(_) => {
                let p: Vec<&str> = given.split(':').collect();
                let word = |w: &str| {
                    !w.is_empty() && w.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                };
                let account = p
                    .get(4)
                    .is_some_and(|a| a.len() == 12 && a.bytes().all(|b| b.is_ascii_digit()));
                if p.len() != 7
                    || !word(p[1])
                    || p[2] != "lambda"
                    || !word(p[3])
                    || !account
                    || p[5] != "layer"
                {
                    return Err(self.bad_layer_name(given));
                }
                if p[3] != region {
                    return Err(ControlError::not_found(
                        NotFoundKind::Layer,
                        "The resource you requested does not exist.",
                    ));
                }
                p[6]
            }
            None => given,
        };
        if !is_plain_name(name, 140) {
            return Err(self.bad_layer_name(given));
        }
        Ok(name.to_string())
    }

    fn bad_layer_name(&self, given: &str) -> ControlError {
        ValidationErrors::single(
            given,
            "layerName",
            &format!("Member must satisfy regular expression pattern: {LAYER_NAME_PATTERN}"),
        )
        .into()
    }

    fn view(&self, region: &str, layer: LayerVersionRecord) -> LayerVersionView {
        LayerVersionView {
            layer_arn: self.scope(region).layer_arn(&layer.name),
            layer,
        }
    }

    /// PublishLayerVersion: every call makes a new version, numbers never reused.
    pub async fn publish_layer_version(
        &self,
        region: &str,
        layer_name: &str,
        input: PublishLayerInput,
    ) -> Result<LayerVersionView, ControlError> {
        let name = self.layer_name(region, layer_name)?;
        let mut errs = ValidationErrors::new();
        if let Some(rts) = &input.compatible_runtimes {
            if rts.len() > 15 {
                errs.push(
                    &java_list(rts),
                    "compatibleRuntimes",
                    "Member must have length less than or equal to 15",
                );
            } else if rts.iter().any(|r| runtime::lookup(r).is_none()) {
                errs.push(&java_list(rts), "compatibleRuntimes", &runtime_enum());
            }
        }
        let mut archs = None;
        if let Some(given) = &input.compatible_architectures {
            if given.len() > 2 {
                errs.push(
                    &java_list(given),
                    "compatibleArchitectures",
                    "Member must have length less than or equal to 2",
                );
            } else if given.iter().any(|a| Architecture::parse(a).is_none()) {
                errs.push(
                    &java_list(given),
                    "compatibleArchitectures",
                    ARCH_ENUM_CONSTRAINT,
                );
            }
            archs = Some(
                given
                    .iter()
                    .filter_map(|a| Architecture::parse(a))
                    .collect(),
            );
        }
        if let Some(d) = &input.description
            && d.chars().count() > 256
        {
            errs.push(
                d,
                "description",
                "Member must have length less than or equal to 256",
            );
        }
        errs.into_result()?;
        let staged = self.stage_code(region, &input.content, 0).await?;
        let archfn_model::Code::Zip { digest } = staged.location.source else {
            return Err(ControlError::InvalidParameter(
                "Layers must be .zip file archives.".into(),
            ));
        };
        let record = LayerVersionRecord {
            name,
            version: 0,
            description: input.description.unwrap_or_default(),
            license_info: input.license_info,
            compatible_runtimes: input.compatible_runtimes,
            compatible_architectures: archs,
            sha256: staged.location.sha256,
            size: staged.location.size,
            unzipped_size: staged.location.unzipped_size,
            digest,
            created_ms: archfn_model::time::now_ms(),
        };
        let stored = self.store().publish_layer_version(region, &record).await?;
        Ok(self.view(region, stored))
    }

    pub(crate) fn check_version_number(version: i64) -> Result<u64, ControlError> {
        u64::try_from(version)
            .ok()
            .filter(|v| *v >= 1)
            .ok_or_else(|| {
                ControlError::InvalidParameter("Layer Version Cannot be less than 1".into())
            })
    }

    /// GetLayerVersion.
    pub async fn get_layer_version(
        &self,
        region: &str,
        layer_name: &str,
        version: i64,
    ) -> Result<LayerVersionView, ControlError> {
        let name = self.layer_name(region, layer_name)?;
        let version = Self::check_version_number(version)?;
        match self
            .store()
            .get_layer_version(region, &name, version)
            .await?
        {
            Some(l) => Ok(self.view(region, l)),
            None => Err(ControlError::not_found(
                NotFoundKind::Layer,
                "The resource you requested does not exist.",
            )),
        }
    }

    /// GetLayerVersionByArn.
    pub async fn get_layer_version_by_arn(
        &self,
        region: &str,
        arn: &str,
    ) -> Result<LayerVersionView, ControlError> {
        let Some((layer_region, account, name, version)) =
            crate::function::parse_layer_version_arn(arn)
        else {
            return Err(ValidationErrors::single(
                arn,
                "arn",
                &format!(
                    "Member must satisfy regular expression pattern: {LAYER_VERSION_ARN_PATTERN}"
                ),
            )
            .into());
        };
        if layer_region != region || account != self.account() {
            return Err(ControlError::not_found(
                NotFoundKind::Layer,
                "The resource you requested does not exist.",
            ));
        }
        let version = i64::try_from(version).unwrap_or(i64::MAX);
        self.get_layer_version(region, name, version).await
    }

    /// DeleteLayerVersion: idempotent. Functions using it keep their copy.
    pub async fn delete_layer_version(
        &self,
        region: &str,
        layer_name: &str,
        version: i64,
    ) -> Result<(), ControlError> {
        let name = self.layer_name(region, layer_name)?;
        let version = Self::check_version_number(version)?;
        self.store()
            .delete_layer_version(region, &name, version)
            .await?;
        self.forget_layer_version_policy(region, &name, version)
            .await;
        self.request_collection();
        Ok(())
    }

    fn check_filter(filter: &LayerFilter) -> Result<(), ControlError> {
        let mut errs = ValidationErrors::new();
        if let Some(r) = &filter.runtime
            && runtime::lookup(r).is_none()
        {
            errs.push(r, "compatibleRuntime", &runtime_enum());
        }
        if let Some(a) = &filter.architecture
            && Architecture::parse(a).is_none()
        {
            errs.push(
                a,
                "compatibleArchitecture",
                "Member must satisfy enum value set: [x86_64, arm64]",
            );
        }
        Ok(errs.into_result()?)
    }

    fn matches(layer: &LayerVersionRecord, filter: &LayerFilter) -> bool {
        let rt_ok = filter.runtime.as_ref().is_none_or(|r| {
            layer
                .compatible_runtimes
                .as_ref()
                .is_some_and(|list| list.contains(r))
        });
        let arch_ok = filter
            .architecture
            .as_deref()
            .and_then(Architecture::parse)
            .is_none_or(|a| {
                layer
                    .compatible_architectures
                    .as_ref()
                    .is_some_and(|list| list.contains(&a))
            });
        rt_ok && arch_ok
    }

    /// ListLayerVersions: newest first; `[]` for unknown layers.
    pub async fn list_layer_versions(
        &self,
        region: &str,
        layer_name: &str,
        filter: &LayerFilter,
        marker: Option<&str>,
        max_items: Option<i64>,
    ) -> Result<(Vec<LayerVersionView>, Option<String>), ControlError> {
        let name = self.layer_name(region, layer_name)?;
        Self::check_filter(filter)?;
        let max = page_size(max_items, 50, 50)?;
        let (_, skip) = decode_marker(marker)?;
        let all: Vec<_> = self
            .store()
            .list_layer_versions(region, &name)
            .await?
            .into_iter()
            .filter(|l| Self::matches(l, filter))
            .collect();
        let next = (all.len() > skip + max).then(|| encode_marker(&name, skip + max));
        let page = all
            .into_iter()
            .skip(skip)
            .take(max)
            .map(|l| self.view(region, l))
            .collect();
        Ok((page, next))
    }

    /// ListLayers: each layer with its newest version matching the filter, by layer name.
    pub async fn list_layers(
        &self,
        region: &str,
        filter: &LayerFilter,
        marker: Option<&str>,
        max_items: Option<i64>,
    ) -> Result<(Vec<LayerVersionView>, Option<String>), ControlError> {
        Self::check_filter(filter)?;
        let max = page_size(max_items, 50, 50)?;
        let (_, skip) = decode_marker(marker)?;
        let mut latest: Vec<LayerVersionRecord> = Vec::new();
        for l in self.store().list_all_layer_versions(region).await? {
            let seen = latest.last().is_some_and(|prev| prev.name == l.name);
            if !seen && Self::matches(&l, filter) {
                latest.push(l);
            }
        }
        let next = (latest.len() > skip + max).then(|| encode_marker("layers", skip + max));
        let page = latest
            .into_iter()
            .skip(skip)
            .take(max)
            .map(|l| self.view(region, l))
            .collect();
        Ok((page, next))
    }
}
