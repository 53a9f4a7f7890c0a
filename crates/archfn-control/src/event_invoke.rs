//! Asynchronous invocation configurations (Put/Update/Get/Delete/ListFunctionEventInvokeConfigs)
//! with Lambda's rules, stored as settings, and what the event worker reads of them: retries,
//! the maximum age of an event, and where records of invocations go.

use std::time::Duration;

use archfn_model::{Qualifier, ValidationErrors};
use archfn_store::{SettingKey, SettingKind, SettingRow, SettingWrite};
use serde::{Deserialize, Serialize};

use crate::function::Resolved;
use crate::{Control, ControlError, NotFoundKind};

/// Lambda's retries of a failed asynchronous invocation when none are configured.
pub const DEFAULT_RETRIES: u32 = 2;
/// Lambda's maximum age of an event when none is configured: 6 hours.
pub const DEFAULT_MAX_AGE_S: u32 = 21_600;

/// The `DestinationArn` pattern of Lambda's model (an empty string, a Kafka URI, or an ARN).
const DESTINATION_PATTERN: &str = "$|kafka://([^.]([a-zA-Z0-9\\-_.]{0,248}))|arn:(aws[a-zA-Z0-9-]*):([a-zA-Z0-9\\-])+:((eusc-)?[a-z]{2}((-gov)|(-iso([a-z]?)))?-[a-z]+-\\d{1})?:(\\d{12})?:(.*)";

/// The stored document of one configuration.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct EventInvokeDoc {
    #[serde(default)]
    maximum_retry_attempts: Option<u32>,
    #[serde(default)]
    maximum_event_age_s: Option<u32>,
    #[serde(default)]
    on_success: Option<String>,
    #[serde(default)]
    on_failure: Option<String>,
    last_modified_ms: i64,
}

/// What Put/UpdateFunctionEventInvokeConfig ask for (`None`: not given).
#[derive(Debug, Clone, Default)]
pub struct EventInvokeInput {
    /// `MaximumRetryAttempts`.
    pub maximum_retry_attempts: Option<i64>,
    /// `MaximumEventAgeInSeconds`.
    pub maximum_event_age_s: Option<i64>,
    /// `DestinationConfig`, when given: (`OnSuccess.Destination`, `OnFailure.Destination`).
    pub destinations: Option<(Option<String>, Option<String>)>,
}

/// A configuration as the API shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct EventInvokeView {
    /// The function's ARN with the qualifier (`$LATEST` when none).
    pub function_arn: String,
    /// Unix milliseconds.
    pub last_modified_ms: i64,
    /// `MaximumRetryAttempts`, when set.
    pub maximum_retry_attempts: Option<u32>,
    /// `MaximumEventAgeInSeconds`, when set.
    pub maximum_event_age_s: Option<u32>,
    /// `DestinationConfig.OnSuccess.Destination`.
    pub on_success: Option<String>,
    /// `DestinationConfig.OnFailure.Destination`.
    pub on_failure: Option<String>,
}

/// A page of configurations.
#[derive(Debug, Clone)]
pub struct EventInvokePage {
    /// The configurations.
    pub configs: Vec<EventInvokeView>,
    /// Where the next page starts.
    pub next_marker: Option<String>,
}

/// What the event worker does with an event of a function version or alias.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventPolicy {
    /// Retries after the first attempt.
    pub maximum_retries: u32,
    /// The oldest an event may be when it is (re)tried.
    pub maximum_age: Duration,
    /// Where the record of a success goes.
    pub on_success: Option<String>,
    /// Where the record of an event that failed every attempt, or aged out, goes.
    pub on_failure: Option<String>,
}

impl Default for EventPolicy {
    fn default() -> Self {
        EventPolicy {
            maximum_retries: DEFAULT_RETRIES,
            maximum_age: Duration::from_secs(DEFAULT_MAX_AGE_S.into()),
            on_success: None,
            on_failure: None,
        }
    }
}

/// What became of a destination record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delivery {
    /// Queued durably as an asynchronous invocation of the destination function.
    Queued {
        /// Its request id.
        id: String,
    },
    /// The destination is a service archfn does not have (SQS, SNS, EventBridge, S3…).
    NotDelivered {
        /// The service of the ARN.
        service: String,
    },
}

fn view(function_arn: String, d: &EventInvokeDoc) -> EventInvokeView {
    EventInvokeView {
        function_arn,
        last_modified_ms: d.last_modified_ms,
        maximum_retry_attempts: d.maximum_retry_attempts,
        maximum_event_age_s: d.maximum_event_age_s,
        on_success: d.on_success.clone(),
        on_failure: d.on_failure.clone(),
    }
}

/// Whether `arn` has the shape of the model's `DestinationArn` (at most 350 characters).
fn destination_shape_ok(arn: &str) -> bool {
    if arn.is_empty() {
        return true;
    }
    if let Some(rest) = arn.strip_prefix("kafka://") {
        return !rest.starts_with('.')
            && !rest.is_empty()
            && rest.len() <= 249
            && rest
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c));
    }
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    let [arn_word, partition, service, region, account, _resource] = parts[..] else {
        return false;
    };
    arn_word == "arn"
        && partition.starts_with("aws")
        && partition[3..]
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-')
        && !service.is_empty()
        && service
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-')
        && (region.is_empty() || region_shape(region))
        && (account.is_empty()
            || (account.len() == 12 && account.bytes().all(|b| b.is_ascii_digit())))
}

/// `[a-z]{2}((-gov)|(-iso([a-z]?)))?-[a-z]+-\d{1}`, optionally `eusc-` first.
fn region_shape(region: &str) -> bool {
    let region = region.strip_prefix("eusc-").unwrap_or(region);
    let parts: Vec<&str> = region.split('-').collect();
    let lower = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_lowercase());
    let digit = |s: &str| s.len() == 1 && s.bytes().all(|b| b.is_ascii_digit());
    let head = |s: &str| s.len() == 2 && lower(s);
    match parts[..] {
        [a, b, c] => head(a) && lower(b) && digit(c),
        [a, g, b, c] => {
            head(a)
                && (g == "gov" || (g.starts_with("iso") && g.len() <= 4 && lower(g)))
                && lower(b)
                && digit(c)
        }
        _ => false,
    }
}

/// The model's checks of a request: ranges and destination shapes, all reported at once.
fn validate(input: &EventInvokeInput) -> Result<(), ControlError> {
    let mut errors = ValidationErrors::new();
    if let Some(n) = input.maximum_retry_attempts {
        if n < 0 {
            errors.push(
                &n.to_string(),
                "maximumRetryAttempts",
                "Member must have value greater than or equal to 0",
            );
        } else if n > 2 {
            errors.push(
                &n.to_string(),
                "maximumRetryAttempts",
                "Member must have value less than or equal to 2",
            );
        }
    }
    if let Some(n) = input.maximum_event_age_s {
        if n < 60 {
            errors.push(
                &n.to_string(),
                "maximumEventAgeInSeconds",
                "Member must have value greater than or equal to 60",
            );
        } else if n > 21_600 {
            errors.push(
                &n.to_string(),
                "maximumEventAgeInSeconds",
                "Member must have value less than or equal to 21600",
            );
        }
    }
    if let Some((success, failure)) = &input.destinations {
        for (arn, field) in [
            (success, "destinationConfig.onSuccess.destination"),
            (failure, "destinationConfig.onFailure.destination"),
        ] {
            let Some(arn) = arn else { continue };
            if arn.chars().count() > 350 {
                errors.push(
                    arn,
                    field,
                    "Member must have length less than or equal to 350",
                );
            }
            if !destination_shape_ok(arn) {
                errors.push(
                    arn,
                    field,
                    &format!(
                        "Member must satisfy regular expression pattern: {DESTINATION_PATTERN}"
                    ),
                );
            }
        }
    }
    Ok(errors.into_result()?)
}

/// The service an ARN names (`lambda`, `sqs`…), when it is an ARN.
fn service_of(arn: &str) -> Option<&str> {
    arn.strip_prefix("arn:")?.split(':').nth(1)
}

impl Control {
    /// The qualifier an event invoke configuration operation names (`$LATEST` without one), with
    /// the function's ARN; a version or alias that does not exist is `missing`.
    async fn event_config_target(
        &self,
        region: &str,
        name: &str,
        qualifier: Option<&str>,
        missing: impl Fn(&str) -> ControlError,
    ) -> Result<(Resolved, String), ControlError> {
        let r = match self.resolve(region, name, qualifier).await {
            Ok(r) => r,
            Err(ControlError::NotFound { .. }) => {
                let fref = self.parse_function_ref(region, name)?;
                let q = qualifier
                    .or(fref.qualifier.as_deref())
                    .unwrap_or("$LATEST")
                    .to_string();
                return Err(missing(&format!(
                    "{}:{q}",
                    self.scope(region).function_arn(&fref.name)
                )));
            }
            Err(e) => return Err(e),
        };
        let q = r.qualifier.clone().unwrap_or_else(|| "$LATEST".into());
        let qualified = format!("{}:{q}", r.arn());
        let exists = match Qualifier::parse(&q) {
            Some(Qualifier::Latest) => true,
            Some(Qualifier::Version(n)) => self
                .store()
                .get_version(region, &r.name, n)
                .await?
                .is_some(),
            Some(Qualifier::Alias(a)) => {
                self.store().get_alias(region, &r.name, &a).await?.is_some()
            }
            None => false,
        };
        if !exists {
            return Err(missing(&qualified));
        }
        Ok((r, q))
    }

    /// A destination must be a function of this account that exists and is not the function
    /// itself, or another service's ARN Lambda accepts (SQS, SNS, EventBridge, S3).
    async fn check_destinations(
        &self,
        region: &str,
        function: &str,
        destinations: &(Option<String>, Option<String>),
    ) -> Result<(), ControlError> {
        let (success, failure) = destinations;
        let mut acceptable = true;
        for arn in [success, failure].into_iter().flatten() {
            if arn.is_empty() {
                continue;
            }
            match service_of(arn) {
                Some("lambda") => {
                    let invalid = || {
                        ControlError::InvalidParameter(format!(
                            "The destination ARN {arn} is invalid."
                        ))
                    };
                    let fref = archfn_model::FunctionRef::parse(arn).map_err(|_| invalid())?;
                    if fref.account.as_deref().is_some_and(|a| a != self.account()) {
                        return Err(invalid());
                    }
                    let in_region = fref.region.as_deref().unwrap_or(region);
                    if self
                        .store()
                        .get_function(in_region, &fref.name)
                        .await?
                        .is_none()
                    {
                        return Err(invalid());
                    }
                    if fref.name == function && in_region == region {
                        return Err(ControlError::InvalidParameter(
                            "You can't specify the function as a destination for itself.".into(),
                        ));
                    }
                }
                Some("sqs" | "sns" | "events" | "s3") => {}
                _ => acceptable = false,
            }
        }
        if acceptable {
            return Ok(());
        }
        let part = |kind: &str, arn: &Option<String>| match arn {
            Some(a) => format!("{kind}(destination={a})"),
            None => "null".to_string(),
        };
        Err(ControlError::InvalidParameter(format!(
            "The provided destination config DestinationConfig(onSuccess={}, onFailure={}) is invalid.",
            part("OnSuccess", success),
            part("OnFailure", failure)
        )))
    }

    /// PutFunctionEventInvokeConfig (`replace`: the configuration becomes what is given, what
    /// is not given is removed) and UpdateFunctionEventInvokeConfig (`!replace`: what is given
    /// changes an existing configuration).
    pub async fn put_event_invoke_config(
        &self,
        region: &str,
        name: &str,
        qualifier: Option<&str>,
        input: EventInvokeInput,
        replace: bool,
    ) -> Result<EventInvokeView, ControlError> {
        validate(&input)?;
        if input.maximum_retry_attempts.is_none()
            && input.maximum_event_age_s.is_none()
            && input.destinations.is_none()
        {
            return Err(ControlError::InvalidParameter(
                "You must specify at least one of error handling or destination setting.".into(),
            ));
        }
        let (r, q) = self
            .event_config_target(region, name, qualifier, |_| {
                ControlError::not_found(NotFoundKind::Function, "The function doesn't exist.")
            })
            .await?;
        let key = SettingKey::new(region, SettingKind::EventInvokeConfig, &r.name, &q);
        let qualified = format!("{}:{q}", r.arn());
        let existing = self.store().get_setting(&key).await?;
        let mut doc = match (&existing, replace) {
            (_, true) => EventInvokeDoc::default(),
            (Some(row), false) => row.decode::<EventInvokeDoc>()?,
            (None, false) => {
                return Err(ControlError::not_found(
                    NotFoundKind::EventInvokeConfig,
                    format!("The function {qualified} doesn't have an EventInvokeConfig"),
                ));
            }
        };
        if let Some(destinations) = &input.destinations {
            self.check_destinations(region, &r.name, destinations)
                .await?;
            let given = |d: &Option<String>| d.clone().filter(|a| !a.is_empty());
            doc.on_success = given(&destinations.0);
            doc.on_failure = given(&destinations.1);
        }
        if let Some(n) = input.maximum_retry_attempts {
            doc.maximum_retry_attempts = u32::try_from(n).ok();
        }
        if let Some(n) = input.maximum_event_age_s {
            doc.maximum_event_age_s = u32::try_from(n).ok();
        }
        doc.last_modified_ms = archfn_model::time::now_ms();
        let json =
            serde_json::to_string(&doc).map_err(|e| ControlError::Internal(e.to_string()))?;
        self.store()
            .put_setting(&key, &json, None, SettingWrite::Upsert)
            .await?;
        Ok(view(qualified, &doc))
    }

    /// GetFunctionEventInvokeConfig.
    pub async fn get_event_invoke_config(
        &self,
        region: &str,
        name: &str,
        qualifier: Option<&str>,
    ) -> Result<EventInvokeView, ControlError> {
        let missing = |arn: &str| {
            ControlError::not_found(
                NotFoundKind::EventInvokeConfig,
                format!("The function {arn} doesn't have an EventInvokeConfig"),
            )
        };
        let (r, q) = self
            .event_config_target(region, name, qualifier, missing)
            .await?;
        let qualified = format!("{}:{q}", r.arn());
        let key = SettingKey::new(region, SettingKind::EventInvokeConfig, &r.name, &q);
        match self.store().get_setting(&key).await? {
            Some(row) => Ok(view(qualified, &row.decode::<EventInvokeDoc>()?)),
            None => Err(missing(&qualified)),
        }
    }

    /// DeleteFunctionEventInvokeConfig.
    pub async fn delete_event_invoke_config(
        &self,
        region: &str,
        name: &str,
        qualifier: Option<&str>,
    ) -> Result<(), ControlError> {
        let missing = |arn: &str| {
            ControlError::not_found(
                NotFoundKind::EventInvokeConfig,
                format!("The function {arn} doesn't have an EventInvokeConfig"),
            )
        };
        let (r, q) = self
            .event_config_target(region, name, qualifier, missing)
            .await?;
        let key = SettingKey::new(region, SettingKind::EventInvokeConfig, &r.name, &q);
        if self.store().delete_setting(&key, None).await? {
            Ok(())
        } else {
            Err(missing(&format!("{}:{q}", r.arn())))
        }
    }

    /// ListFunctionEventInvokeConfigs; `marker` is where the page starts.
    pub async fn list_event_invoke_configs(
        &self,
        region: &str,
        name: &str,
        marker: Option<&str>,
        max_items: Option<i64>,
    ) -> Result<EventInvokePage, ControlError> {
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
        let r = match self.resolve(region, name, None).await {
            Ok(r) => r,
            Err(ControlError::NotFound { .. }) => {
                return Err(ControlError::not_found(
                    NotFoundKind::Function,
                    "The function doesn't exist.",
                ));
            }
            Err(e) => return Err(e),
        };
        let rows: Vec<SettingRow> = self
            .store()
            .list_settings(region, SettingKind::EventInvokeConfig, Some(&r.name))
            .await?;
        let start = marker.and_then(|m| m.parse::<usize>().ok()).unwrap_or(0);
        let size = usize::try_from(max_items.unwrap_or(50)).unwrap_or(50);
        let mut configs = Vec::new();
        for row in rows.iter().skip(start).take(size) {
            let doc = row.decode::<EventInvokeDoc>()?;
            configs.push(view(format!("{}:{}", r.arn(), row.key.qualifier), &doc));
        }
        let next = start + configs.len();
        Ok(EventInvokePage {
            configs,
            next_marker: (next < rows.len()).then(|| next.to_string()),
        })
    }

    /// How the worker treats an event of `function` invoked through `qualifier` (`$LATEST`, a
    /// version or an alias): its configuration's settings, else Lambda's defaults.
    pub async fn event_policy(
        &self,
        region: &str,
        function: &str,
        qualifier: &str,
    ) -> Result<EventPolicy, ControlError> {
        let key = SettingKey::new(region, SettingKind::EventInvokeConfig, function, qualifier);
        let Some(row) = self.store().get_setting(&key).await? else {
            return Ok(EventPolicy::default());
        };
        let doc = row.decode::<EventInvokeDoc>()?;
        Ok(EventPolicy {
            maximum_retries: doc.maximum_retry_attempts.unwrap_or(DEFAULT_RETRIES),
            maximum_age: Duration::from_secs(
                doc.maximum_event_age_s.unwrap_or(DEFAULT_MAX_AGE_S).into(),
            ),
            on_success: doc.on_success,
            on_failure: doc.on_failure,
        })
    }

    /// Sends an invocation record to `destination`: a Lambda function gets it as an
    /// asynchronous invocation, queued durably; other services are not there to receive it.
    pub async fn deliver_record(
        &self,
        region: &str,
        destination: &str,
        record: &[u8],
    ) -> Result<Delivery, ControlError> {
        match service_of(destination) {
            Some("lambda") => {
                let fref = archfn_model::FunctionRef::parse(destination)?;
                let in_region = fref.region.clone().unwrap_or_else(|| region.to_string());
                let id = self
                    .enqueue_event(&in_region, destination, None, record)
                    .await?;
                Ok(Delivery::Queued { id })
            }
            other => Ok(Delivery::NotDelivered {
                service: other.unwrap_or("unknown").to_string(),
            }),
        }
    }
}

/// Why a record goes to a destination (`requestContext.condition`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Condition {
    /// The function succeeded (OnSuccess).
    Success,
    /// Every attempt failed (OnFailure).
    RetriesExhausted,
    /// The event grew older than the maximum age before it could be (re)tried (OnFailure).
    EventAgeExceeded,
}

impl Condition {
    /// Lambda's word for it.
    pub fn as_str(self) -> &'static str {
        match self {
            Condition::Success => "Success",
            Condition::RetriesExhausted => "RetriesExhausted",
            Condition::EventAgeExceeded => "EventAgeExceeded",
        }
    }
}

/// How the function answered the last attempt, for a record's `responseContext`.
#[derive(Debug, Clone)]
pub struct AttemptResponse {
    /// `statusCode` (200 when the function ran, whether it failed or not).
    pub status_code: u16,
    /// `executedVersion`.
    pub executed_version: String,
    /// `functionError` (`Unhandled`) when it failed.
    pub function_error: Option<String>,
    /// The response or error document.
    pub payload: Vec<u8>,
}

/// A JSON document as a value; what is not JSON, as a string.
fn as_json(bytes: &[u8]) -> serde_json::Value {
    serde_json::from_slice(bytes)
        .unwrap_or_else(|_| serde_json::Value::String(String::from_utf8_lossy(bytes).into_owned()))
}

/// Lambda's invocation record for a destination: `version` "1.0", `timestamp`,
/// `requestContext` (`requestId`, `functionArn` qualified as invoked, `condition`,
/// `approximateInvokeCount`), `requestPayload`, and, when the function ran, `responseContext`
/// (`statusCode`, `executedVersion`, `functionError` when it failed) and `responsePayload`.
pub fn destination_record(
    request_id: &str,
    function_arn: &str,
    condition: Condition,
    approximate_invoke_count: u32,
    request_payload: &[u8],
    response: Option<&AttemptResponse>,
) -> serde_json::Value {
    let now = archfn_model::time::format_last_modified(archfn_model::time::now_ms());
    let timestamp = match now.strip_suffix("+0000") {
        Some(t) => format!("{t}Z"),
        None => now,
    };
    let mut record = serde_json::json!({
        "version": "1.0",
        "timestamp": timestamp,
        "requestContext": {
            "requestId": request_id,
            "functionArn": function_arn,
            "condition": condition.as_str(),
            "approximateInvokeCount": approximate_invoke_count,
        },
        "requestPayload": as_json(request_payload),
    });
    if let Some(r) = response {
        let mut context = serde_json::json!({
            "statusCode": r.status_code,
            "executedVersion": r.executed_version,
        });
        if let Some(e) = &r.function_error {
            context["functionError"] = serde_json::json!(e);
        }
        record["responseContext"] = context;
        record["responsePayload"] = as_json(&r.payload);
    }
    record
}

#[cfg(test)]
mod tests {
    use super::destination_shape_ok;

    #[test]
    fn destination_arns_have_the_models_shape() {
        assert!(destination_shape_ok(""));
        assert!(destination_shape_ok("arn:aws:sqs:us-east-1:123456789012:q"));
        assert!(destination_shape_ok(
            "arn:aws:lambda:us-east-1:123456789012:function:f"
        ));
        assert!(destination_shape_ok("arn:aws:s3:::bucket"));
        assert!(!destination_shape_ok(
            "arn:aws:_-/!lambda:us-east-1:123456789012:function:f"
        ));
        assert!(!destination_shape_ok("not-an-arn"));
        assert!(!destination_shape_ok("arn:aws:sqs:us-east-1:12345:q"));
    }
}
