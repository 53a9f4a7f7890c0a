//! Function URL configurations: Create, Get, Update, Delete, ListFunctionUrlConfigs, and the
//! lookup of a URL by its id for the front end that serves them.
//!
//! A configuration is a settings document per (function, `$LATEST` or an alias), its URL id
//! (32 lowercase letters and digits, the URL's first host label) as the setting's lookup key.
//! Texts and shapes as AWS answers (LocalStack's snapshots recorded against AWS):
//! "Function does not exist" (Create, Update and List of a missing function, or Create and
//! Update at a missing alias); "The resource you requested does not exist." (Get and Delete of
//! a missing function or configuration, Update of a missing configuration);
//! "Failed to create function url config for [functionArn = ARN]. Error message:
//! FunctionUrlConfig exists for this Lambda function" (409); a version or `$LATEST` as the
//! qualifier breaks the model's pattern `((?!^\d+$)^[0-9a-zA-Z-_]+$)`. `InvokeMode` is stored
//! only when given: Create and Update echo it then, Get and List show `BUFFERED` otherwise.

use archfn_model::ValidationErrors;
use archfn_store::{SettingKey, SettingKind, SettingWrite, StoreError};
use serde::{Deserialize, Serialize};

use crate::{Control, ControlError, NotFoundKind};

/// The pattern of a function URL's qualifier (botocore's `FunctionUrlQualifier`).
const QUALIFIER_PATTERN: &str = "((?!^\\d+$)^[0-9a-zA-Z-_]+$)";
/// The qualifier key of the unqualified function's URL.
const LATEST: &str = "$LATEST";

/// A URL's CORS settings, stored as given.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cors {
    /// Whether cookies and credentials may be sent.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub allow_credentials: Option<bool>,
    /// Headers a request may carry.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub allow_headers: Option<Vec<String>>,
    /// Methods a request may use.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub allow_methods: Option<Vec<String>>,
    /// Origins that may call.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub allow_origins: Option<Vec<String>>,
    /// Response headers the browser may show.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub expose_headers: Option<Vec<String>>,
    /// How long a preflight answer may be cached, in seconds.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub max_age: Option<i64>,
}

/// The stored document.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct UrlDoc {
    url_id: String,
    auth_type: String,
    #[serde(default)]
    cors: Option<Cors>,
    #[serde(default)]
    invoke_mode: Option<String>,
    creation_time: String,
    last_modified_time: String,
}

/// A function URL configuration.
#[derive(Debug, Clone)]
pub struct FunctionUrlView {
    /// The region.
    pub region: String,
    /// The function's name.
    pub function_name: String,
    /// The alias, if the URL is an alias's.
    pub qualifier: Option<String>,
    /// The URL id (first host label).
    pub url_id: String,
    /// The function ARN (qualified for an alias).
    pub function_arn: String,
    /// `NONE` or `AWS_IAM`.
    pub auth_type: String,
    /// CORS settings.
    pub cors: Option<Cors>,
    /// `BUFFERED` or `RESPONSE_STREAM`, when set.
    pub invoke_mode: Option<String>,
    /// When created.
    pub creation_time: String,
    /// When last changed.
    pub last_modified_time: String,
}

impl FunctionUrlView {
    /// The invoke mode in effect (BUFFERED unless set).
    pub fn effective_invoke_mode(&self) -> &str {
        self.invoke_mode.as_deref().unwrap_or("BUFFERED")
    }
}

/// Create and Update parameters.
#[derive(Debug, Clone, Default)]
pub struct FunctionUrlInput {
    /// AuthType (required by Create).
    pub auth_type: Option<String>,
    /// Cors.
    pub cors: Option<Cors>,
    /// InvokeMode.
    pub invoke_mode: Option<String>,
}

/// Lambda's timestamp of URL configurations (`2021-10-31T12:00:00.123000Z`).
fn now_stamp() -> String {
    let ms = archfn_model::time::now_ms();
    let t = archfn_model::time::format_rfc3339_ms(ms);
    match t.strip_suffix('Z') {
        Some(head) => format!("{head}000Z"),
        None => t,
    }
}

fn check_input(input: &FunctionUrlInput) -> Result<(), ControlError> {
    let mut v = ValidationErrors::new();
    if let Some(a) = &input.auth_type
        && a != "NONE"
        && a != "AWS_IAM"
    {
        v.push(
            a,
            "authType",
            "Member must satisfy enum value set: [AWS_IAM, NONE]",
        );
    }
    if let Some(m) = &input.invoke_mode
        && m != "BUFFERED"
        && m != "RESPONSE_STREAM"
    {
        v.push(
            m,
            "invokeMode",
            "Member must satisfy enum value set: [RESPONSE_STREAM, BUFFERED]",
        );
    }
    if let Some(c) = &input.cors {
        if let Some(age) = c.max_age {
            if age > 86400 {
                v.push(
                    &age.to_string(),
                    "cors.maxAge",
                    "Member must have value less than or equal to 86400",
                );
            } else if age < 0 {
                v.push(
                    &age.to_string(),
                    "cors.maxAge",
                    "Member must have value greater than or equal to 0",
                );
            }
        }
        if let Some(m) = &c.allow_methods
            && m.len() > 6
        {
            v.push(
                &format!("[{}]", m.join(", ")),
                "cors.allowMethods",
                "Member must have length less than or equal to 6",
            );
        }
    }
    Ok(v.into_result()?)
}

impl Control {
    /// The function name and alias a URL operation addresses; a version or `$LATEST` breaks
    /// the model's pattern.
    fn url_ref(
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
        if let Some(q) = &q {
            let ok = !q.is_empty()
                && q.len() <= 128
                && q.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
                && !q.bytes().all(|b| b.is_ascii_digit());
            if !ok {
                return Err(ControlError::Validation(ValidationErrors::single(
                    q,
                    "qualifier",
                    &format!("Member must satisfy regular expression pattern: {QUALIFIER_PATTERN}"),
                )));
            }
        }
        Ok((fref.name, q))
    }

    fn url_key(region: &str, name: &str, qualifier: Option<&str>) -> SettingKey {
        SettingKey::new(
            region,
            SettingKind::FunctionUrl,
            name,
            qualifier.unwrap_or(LATEST),
        )
    }

    fn url_view(&self, key: &SettingKey, doc: UrlDoc) -> FunctionUrlView {
        let qualifier = (key.qualifier != LATEST).then(|| key.qualifier.clone());
        let mut function_arn = self.scope(&key.region).function_arn(&key.owner);
        if let Some(q) = &qualifier {
            function_arn = format!("{function_arn}:{q}");
        }
        FunctionUrlView {
            region: key.region.clone(),
            function_name: key.owner.clone(),
            qualifier,
            url_id: doc.url_id,
            function_arn,
            auth_type: doc.auth_type,
            cors: doc.cors,
            invoke_mode: doc.invoke_mode,
            creation_time: doc.creation_time,
            last_modified_time: doc.last_modified_time,
        }
    }

    /// Whether the function exists and, for an alias, the alias; else "Function does not exist".
    async fn url_function_exists(
        &self,
        region: &str,
        name: &str,
        qualifier: Option<&str>,
    ) -> Result<(), ControlError> {
        let missing = || ControlError::not_found(NotFoundKind::Function, "Function does not exist");
        if self.store().get_function(region, name).await?.is_none() {
            return Err(missing());
        }
        if let Some(a) = qualifier
            && self.store().get_alias(region, name, a).await?.is_none()
        {
            return Err(missing());
        }
        Ok(())
    }

    /// CreateFunctionUrlConfig.
    pub async fn create_function_url(
        &self,
        region: &str,
        function_name: &str,
        qualifier: Option<&str>,
        input: FunctionUrlInput,
    ) -> Result<FunctionUrlView, ControlError> {
        let (name, q) = self.url_ref(region, function_name, qualifier)?;
        check_input(&input)?;
        self.url_function_exists(region, &name, q.as_deref())
            .await?;
        let key = Control::url_key(region, &name, q.as_deref());
        let conflict = |view: &FunctionUrlView| {
            ControlError::Conflict(format!(
                "Failed to create function url config for [functionArn = {}]. Error message:  FunctionUrlConfig exists for this Lambda function",
                view.function_arn
            ))
        };
        if let Some(row) = self.store().get_setting(&key).await? {
            let view = self.url_view(&key, row.decode()?);
            return Err(conflict(&view));
        }
        let now = now_stamp();
        let doc = UrlDoc {
            url_id: uuid::Uuid::new_v4().simple().to_string(),
            auth_type: input.auth_type.unwrap_or_else(|| "NONE".into()),
            cors: input.cors,
            invoke_mode: input.invoke_mode,
            creation_time: now.clone(),
            last_modified_time: now,
        };
        let text = serde_json::to_string(&doc)
            .map_err(|e| ControlError::Internal(format!("function url: {e}")))?;
        match self
            .store()
            .put_setting(&key, &text, Some(&doc.url_id), SettingWrite::Create)
            .await
        {
            Ok(_) => Ok(self.url_view(&key, doc)),
            Err(StoreError::AlreadyExists) => Err(conflict(&self.url_view(&key, doc))),
            Err(e) => Err(e.into()),
        }
    }

    /// GetFunctionUrlConfig.
    pub async fn get_function_url(
        &self,
        region: &str,
        function_name: &str,
        qualifier: Option<&str>,
    ) -> Result<FunctionUrlView, ControlError> {
        let (name, q) = self.url_ref(region, function_name, qualifier)?;
        let key = Control::url_key(region, &name, q.as_deref());
        let row = self.store().get_setting(&key).await?.ok_or_else(|| {
            ControlError::not_found(
                NotFoundKind::Function,
                "The resource you requested does not exist.",
            )
        })?;
        Ok(self.url_view(&key, row.decode()?))
    }

    /// UpdateFunctionUrlConfig: what is given replaces what is stored.
    pub async fn update_function_url(
        &self,
        region: &str,
        function_name: &str,
        qualifier: Option<&str>,
        input: FunctionUrlInput,
    ) -> Result<FunctionUrlView, ControlError> {
        let (name, q) = self.url_ref(region, function_name, qualifier)?;
        check_input(&input)?;
        self.url_function_exists(region, &name, q.as_deref())
            .await?;
        let key = Control::url_key(region, &name, q.as_deref());
        for _ in 0..8 {
            let row = self.store().get_setting(&key).await?.ok_or_else(|| {
                ControlError::not_found(
                    NotFoundKind::Function,
                    "The resource you requested does not exist.",
                )
            })?;
            let mut doc: UrlDoc = row.decode()?;
            if let Some(a) = &input.auth_type {
                doc.auth_type = a.clone();
            }
            if let Some(c) = &input.cors {
                doc.cors = Some(c.clone());
            }
            if let Some(m) = &input.invoke_mode {
                doc.invoke_mode = Some(m.clone());
            }
            doc.last_modified_time = now_stamp();
            let text = serde_json::to_string(&doc)
                .map_err(|e| ControlError::Internal(format!("function url: {e}")))?;
            match self
                .store()
                .put_setting(
                    &key,
                    &text,
                    Some(&doc.url_id),
                    SettingWrite::Replace(row.etag),
                )
                .await
            {
                Ok(_) => return Ok(self.url_view(&key, doc)),
                Err(StoreError::Conflict) => continue,
                Err(StoreError::NotFound) => {
                    return Err(ControlError::not_found(
                        NotFoundKind::Function,
                        "The resource you requested does not exist.",
                    ));
                }
                Err(e) => return Err(e.into()),
            }
        }
        Err(ControlError::Conflict(
            "The function URL configuration is being changed by another request. Try again.".into(),
        ))
    }

    /// DeleteFunctionUrlConfig.
    pub async fn delete_function_url(
        &self,
        region: &str,
        function_name: &str,
        qualifier: Option<&str>,
    ) -> Result<(), ControlError> {
        let (name, q) = self.url_ref(region, function_name, qualifier)?;
        let key = Control::url_key(region, &name, q.as_deref());
        if self.store().delete_setting(&key, None).await? {
            Ok(())
        } else {
            Err(ControlError::not_found(
                NotFoundKind::Function,
                "The resource you requested does not exist.",
            ))
        }
    }

    /// ListFunctionUrlConfigs: a page of the function's URLs (unqualified first, then by
    /// alias) and the marker of the next page.
    pub async fn list_function_urls(
        &self,
        region: &str,
        function_name: &str,
        marker: Option<&str>,
        max_items: Option<i64>,
    ) -> Result<(Vec<FunctionUrlView>, Option<String>), ControlError> {
        let fref = self.parse_function_ref(region, function_name)?;
        let name = fref.name;
        if self.store().get_function(region, &name).await?.is_none() {
            return Err(ControlError::not_found(
                NotFoundKind::Function,
                "Function does not exist",
            ));
        }
        let size = crate::function::page_size(max_items, 50, 50)?;
        let (_, skip) = crate::function::decode_marker(marker)?;
        let mut rows = self
            .store()
            .list_settings(region, SettingKind::FunctionUrl, Some(&name))
            .await?;
        rows.sort_by_key(|r| (r.key.qualifier != LATEST, r.key.qualifier.clone()));
        let total = rows.len();
        let mut out = Vec::new();
        for row in rows.into_iter().skip(skip).take(size) {
            let doc: UrlDoc = row.decode()?;
            out.push(self.url_view(&row.key, doc));
        }
        let next =
            (skip + size < total).then(|| crate::function::encode_marker(&name, skip + size));
        Ok((out, next))
    }

    /// The function URL whose id is `url_id`, in any region.
    pub async fn find_function_url(
        &self,
        url_id: &str,
    ) -> Result<Option<FunctionUrlView>, ControlError> {
        let Some(row) = self
            .store()
            .find_setting(SettingKind::FunctionUrl, url_id)
            .await?
        else {
            return Ok(None);
        };
        let doc: UrlDoc = row.decode()?;
        Ok(Some(self.url_view(&row.key, doc)))
    }
}
