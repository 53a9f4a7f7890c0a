//! CloudWatch Logs on archfn's endpoint: the log groups, streams and events of functions.
//!
//! Owns: the CloudWatch Logs JSON 1.1 operations (`Logs_20140328.<Op>`) archfn serves, their
//! errors and shapes, filter patterns, paging tokens, and the batching writer the invocation
//! engine's log lines go through.
//! Must not: speak SQL (the store's `LogCatalog` does) or know HTTP (archfn-api's front does).

pub mod pattern;
pub mod writer;

use std::sync::Arc;

use archfn_store::StoreError;
use archfn_store::logs::{
    EventCursor, EventQuery, LogCatalog, LogEventRow, LogGroupRow, StreamOrder, StreamSelection,
};
use base64::Engine as _;
use serde_json::{Map, Value, json};

pub use pattern::{FilterPattern, PatternError};
pub use writer::LogWriter;

/// The JSON 1.1 target prefix of CloudWatch Logs' operations.
pub const TARGET_PREFIX: &str = "Logs_20140328.";

/// The largest request body accepted.
pub const MAX_REQUEST_BYTES: usize = 1 << 20;

/// Retention periods CloudWatch Logs accepts, days.
pub const RETENTION_DAYS: [i64; 22] = [
    1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922,
    3288, 3653,
];

/// Responses hold at most this many bytes of messages (CloudWatch Logs' 1 MB).
const MAX_RESPONSE_BYTES: usize = 1 << 20;

/// Events FilterLogEvents reads in one call before it answers with a `nextToken`.
const FILTER_SCAN_ROWS: usize = 10_000;

/// A refusal, as CloudWatch Logs answers it: HTTP 400 with `__type` and `message`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{kind}: {message}")]
pub struct LogsError {
    /// `__type`: `ResourceNotFoundException`, `InvalidParameterException`…
    pub kind: &'static str,
    /// The message.
    pub message: String,
    /// The HTTP status.
    pub status: u16,
}

impl LogsError {
    fn new(kind: &'static str, message: impl Into<String>) -> LogsError {
        LogsError {
            kind,
            message: message.into(),
            status: 400,
        }
    }

    fn invalid(message: impl Into<String>) -> LogsError {
        LogsError::new("InvalidParameterException", message)
    }

    fn no_group() -> LogsError {
        LogsError::new(
            "ResourceNotFoundException",
            "The specified log group does not exist.",
        )
    }

    fn store(e: StoreError) -> LogsError {
        tracing::warn!(error = %e, "log catalog");
        LogsError {
            kind: "ServiceUnavailableException",
            message: "The service cannot complete the request.".into(),
            status: 500,
        }
    }

    /// The error's JSON body.
    pub fn body(&self) -> String {
        json!({ "__type": self.kind, "message": self.message }).to_string()
    }
}

/// archfn's CloudWatch Logs. Cheap to clone.
#[derive(Debug, Clone)]
pub struct CloudWatchLogs {
    catalog: Arc<dyn LogCatalog>,
    writer: LogWriter,
    account: String,
}

type Input = Map<String, Value>;

fn opt_str<'a>(input: &'a Input, key: &str) -> Result<Option<&'a str>, LogsError> {
    match input.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(serialization(key)),
    }
}

fn opt_i64(input: &Input, key: &str) -> Result<Option<i64>, LogsError> {
    match input.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => v.as_i64().map(Some).ok_or_else(|| serialization(key)),
    }
}

fn opt_bool(input: &Input, key: &str) -> Result<Option<bool>, LogsError> {
    match input.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(_) => Err(serialization(key)),
    }
}

fn serialization(key: &str) -> LogsError {
    LogsError::new(
        "SerializationException",
        format!("Unexpected value type for '{key}'"),
    )
}

fn validation(value: &str, member: &str, constraint: &str) -> LogsError {
    LogsError::invalid(format!(
        "1 validation error detected: Value '{value}' at '{member}' failed to satisfy constraint: {constraint}"
    ))
}

/// A limit within `[1, max]`, or `default`.
fn limit(input: &Input, max: i64, default: usize) -> Result<usize, LogsError> {
    match opt_i64(input, "limit")? {
        None => Ok(default),
        Some(n) if n < 1 => Err(validation(
            &n.to_string(),
            "limit",
            "Member must have value greater than or equal to 1",
        )),
        Some(n) if n > max => Err(validation(
            &n.to_string(),
            "limit",
            &format!("Member must have value less than or equal to {max}"),
        )),
        Some(n) => Ok(usize::try_from(n).unwrap_or(default)),
    }
}

fn check_group_name(name: &str, member: &str) -> Result<(), LogsError> {
    if name.is_empty() || name.len() > 512 {
        return Err(validation(
            name,
            member,
            "Member must have length less than or equal to 512",
        ));
    }
    if !archfn_model::logging::valid_log_group_chars(name) {
        return Err(validation(
            name,
            member,
            "Member must satisfy regular expression pattern: [\\.\\-_/#A-Za-z0-9]+",
        ));
    }
    Ok(())
}

/// The group an operation names: `logGroupName`, or `logGroupIdentifier` (a name or an ARN).
fn group_name(input: &Input) -> Result<String, LogsError> {
    let name = opt_str(input, "logGroupName")?;
    let identifier = opt_str(input, "logGroupIdentifier")?;
    match (name, identifier) {
        (Some(_), Some(_)) => Err(LogsError::invalid(
            "LogGroup name and LogGroup ARN are mutually exclusive parameters.",
        )),
        (Some(n), None) => {
            check_group_name(n, "logGroupName")?;
            Ok(n.to_string())
        }
        (None, Some(id)) => {
            let n = match id.strip_prefix("arn:") {
                Some(_) => id
                    .split_once(":log-group:")
                    .map(|(_, rest)| rest.trim_end_matches(":*"))
                    .ok_or_else(|| LogsError::invalid("Invalid log group ARN"))?,
                None => id,
            };
            check_group_name(n, "logGroupIdentifier")?;
            Ok(n.to_string())
        }
        (None, None) => Err(LogsError::invalid(
            "Should provide either name or ARN of the log group.",
        )),
    }
}

/// An event's position as a 56-digit number: its timestamp (20 digits) and id (36).
fn cursor_digits(c: EventCursor) -> String {
    format!("{:020}{:036}", c.timestamp_ms.max(0), c.id.max(0))
}

fn parse_cursor_digits(s: &str) -> Option<EventCursor> {
    if s.len() != 56 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(EventCursor {
        timestamp_ms: s.get(..20)?.parse().ok()?,
        id: s.get(20..)?.parse().ok()?,
    })
}

fn cursor_of(e: &LogEventRow) -> EventCursor {
    EventCursor {
        timestamp_ms: e.timestamp_ms,
        id: e.id,
    }
}

fn bad_token() -> LogsError {
    LogsError::invalid("The specified nextToken is invalid.")
}

/// An opaque paging token for names and offsets.
fn encode_token(text: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(text)
}

fn decode_token(token: &str, tag: &str) -> Result<String, LogsError> {
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(token)
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .and_then(|s| s.strip_prefix(tag).map(str::to_string))
        .ok_or_else(bad_token)
}

impl CloudWatchLogs {
    /// The service over `catalog`, whose log lines arrive through `writer`; ARNs name
    /// `account`.
    pub fn new(catalog: Arc<dyn LogCatalog>, writer: LogWriter, account: String) -> Self {
        CloudWatchLogs {
            catalog,
            writer,
            account,
        }
    }

    /// Log events dropped so far because the writer's queue was full.
    pub fn dropped_events(&self) -> u64 {
        self.writer.dropped_events()
    }

    /// Answers operation `operation` (the part of `X-Amz-Target` after
    /// [`TARGET_PREFIX`]) of `region` with a JSON body: (status, body).
    pub async fn handle(&self, region: &str, operation: &str, body: &[u8]) -> (u16, String) {
        match self.answer(region, operation, body).await {
            Ok(v) => (200, v.to_string()),
            Err(e) => (e.status, e.body()),
        }
    }

    async fn answer(&self, region: &str, operation: &str, body: &[u8]) -> Result<Value, LogsError> {
        let input: Input = if body.iter().all(u8::is_ascii_whitespace) {
            Map::new()
        } else {
            serde_json::from_slice(body).map_err(|_| {
                LogsError::new(
                    "SerializationException",
                    "Start of structure or map found where not expected.",
                )
            })?
        };
        match operation {
            "CreateLogGroup" => self.create_log_group(region, &input).await,
            "DeleteLogGroup" => self.delete_log_group(region, &input).await,
            "DescribeLogGroups" => self.describe_log_groups(region, &input).await,
            "DescribeLogStreams" => self.describe_log_streams(region, &input).await,
            "GetLogEvents" => self.get_log_events(region, &input).await,
            "FilterLogEvents" => self.filter_log_events(region, &input).await,
            "PutRetentionPolicy" => self.put_retention(region, &input).await,
            "DeleteRetentionPolicy" => self.delete_retention(region, &input).await,
            _ => Err(LogsError::new(
                "UnknownOperationException",
                format!("archfn's CloudWatch Logs does not serve {operation}"),
            )),
        }
    }

    fn group_arn(&self, region: &str, name: &str) -> String {
        format!("arn:aws:logs:{region}:{}:log-group:{name}", self.account)
    }

    async fn existing_group(&self, region: &str, name: &str) -> Result<LogGroupRow, LogsError> {
        self.catalog
            .log_group(region, name)
            .await
            .map_err(LogsError::store)?
            .ok_or_else(LogsError::no_group)
    }

    async fn create_log_group(&self, region: &str, input: &Input) -> Result<Value, LogsError> {
        let name = opt_str(input, "logGroupName")?.unwrap_or("");
        check_group_name(name, "logGroupName")?;
        if let Some(class) = opt_str(input, "logGroupClass")?
            && !matches!(class, "STANDARD" | "INFREQUENT_ACCESS" | "DELIVERY")
        {
            return Err(validation(
                class,
                "logGroupClass",
                "Member must satisfy enum value set: [DELIVERY, INFREQUENT_ACCESS, STANDARD]",
            ));
        }
        match self
            .catalog
            .create_log_group(region, name, archfn_model::time::now_ms())
            .await
        {
            Ok(()) => Ok(json!({})),
            Err(StoreError::AlreadyExists) => Err(LogsError::new(
                "ResourceAlreadyExistsException",
                "The specified log group already exists",
            )),
            Err(e) => Err(LogsError::store(e)),
        }
    }

    async fn delete_log_group(&self, region: &str, input: &Input) -> Result<Value, LogsError> {
        let name = opt_str(input, "logGroupName")?.unwrap_or("");
        check_group_name(name, "logGroupName")?;
        // Lines on their way are stored first, so none recreate the group after it is gone.
        self.writer.flush().await;
        match self.catalog.delete_log_group(region, name).await {
            Ok(()) => Ok(json!({})),
            Err(StoreError::NotFound) => Err(LogsError::no_group()),
            Err(e) => Err(LogsError::store(e)),
        }
    }

    async fn put_retention(&self, region: &str, input: &Input) -> Result<Value, LogsError> {
        let name = opt_str(input, "logGroupName")?.unwrap_or("");
        check_group_name(name, "logGroupName")?;
        let days = opt_i64(input, "retentionInDays")?.unwrap_or(0);
        if !RETENTION_DAYS.contains(&days) {
            let set: Vec<String> = RETENTION_DAYS.iter().map(i64::to_string).collect();
            return Err(validation(
                &days.to_string(),
                "retentionInDays",
                &format!("Member must satisfy enum value set: [{}]", set.join(", ")),
            ));
        }
        let days = i32::try_from(days).unwrap_or(i32::MAX);
        self.set_retention(region, name, Some(days)).await
    }

    async fn delete_retention(&self, region: &str, input: &Input) -> Result<Value, LogsError> {
        let name = opt_str(input, "logGroupName")?.unwrap_or("");
        check_group_name(name, "logGroupName")?;
        self.set_retention(region, name, None).await
    }

    async fn set_retention(
        &self,
        region: &str,
        name: &str,
        days: Option<i32>,
    ) -> Result<Value, LogsError> {
        self.writer.flush().await;
        match self.catalog.set_log_retention(region, name, days).await {
            Ok(()) => Ok(json!({})),
            Err(StoreError::NotFound) => Err(LogsError::no_group()),
            Err(e) => Err(LogsError::store(e)),
        }
    }

    async fn describe_log_groups(&self, region: &str, input: &Input) -> Result<Value, LogsError> {
        let prefix = opt_str(input, "logGroupNamePrefix")?.unwrap_or("");
        let pattern = opt_str(input, "logGroupNamePattern")?;
        if pattern.is_some() && !prefix.is_empty() {
            return Err(LogsError::invalid(
                "LogGroup name prefix and LogGroup name pattern are mutually exclusive parameters.",
            ));
        }
        let limit = limit(input, 50, 50)?;
        let after = match opt_str(input, "nextToken")? {
            Some(t) => Some(decode_token(t, "g/")?),
            None => None,
        };
        self.writer.flush().await;
        let mut groups = Vec::new();
        let mut cursor = after;
        let mut more = false;
        // A pattern (a substring, case-sensitive) is applied over pages of names.
        'pages: loop {
            let page = self
                .catalog
                .list_log_groups(region, prefix, cursor.as_deref(), limit + 1)
                .await
                .map_err(LogsError::store)?;
            let exhausted = page.len() <= limit;
            for g in page {
                cursor = Some(g.name.clone());
                let wanted = pattern.is_none_or(|p| g.name.contains(p));
                if !wanted {
                    continue;
                }
                if groups.len() == limit {
                    more = true;
                    break 'pages;
                }
                groups.push(g);
            }
            if exhausted {
                break;
            }
        }
        let shapes: Vec<Value> = groups
            .iter()
            .map(|g| {
                let shape = self.group_shape(region, g);
                match pattern {
                    // With a pattern, CloudWatch Logs answers only these three.
                    Some(_) => json!({
                        "logGroupName": shape["logGroupName"],
                        "creationTime": shape["creationTime"],
                        "arn": shape["arn"],
                    }),
                    None => shape,
                }
            })
            .collect();
        let mut out = json!({ "logGroups": shapes });
        if more && let Some(last) = groups.last() {
            out["nextToken"] = json!(encode_token(&format!("g/{}", last.name)));
        }
        Ok(out)
    }

    fn group_shape(&self, region: &str, g: &LogGroupRow) -> Value {
        let arn = self.group_arn(region, &g.name);
        let mut v = json!({
            "logGroupName": g.name,
            "creationTime": g.created_ms,
            "metricFilterCount": 0,
            "arn": format!("{arn}:*"),
            "storedBytes": g.stored_bytes,
            "logGroupClass": "STANDARD",
            "logGroupArn": arn,
        });
        if let Some(days) = g.retention_days {
            v["retentionInDays"] = json!(days);
        }
        v
    }

    async fn describe_log_streams(&self, region: &str, input: &Input) -> Result<Value, LogsError> {
        let group = group_name(input)?;
        let prefix = opt_str(input, "logStreamNamePrefix")?.unwrap_or("");
        let order = match opt_str(input, "orderBy")? {
            None | Some("LogStreamName") => StreamOrder::Name,
            Some("LastEventTime") => StreamOrder::LastEventTime,
            Some(other) => {
                return Err(validation(
                    other,
                    "orderBy",
                    "Member must satisfy enum value set: [LogStreamName, LastEventTime]",
                ));
            }
        };
        if order == StreamOrder::LastEventTime && !prefix.is_empty() {
            return Err(LogsError::invalid(
                "Cannot order by LastEventTime with a logStreamNamePrefix.",
            ));
        }
        let descending = opt_bool(input, "descending")?.unwrap_or(false);
        let limit = limit(input, 50, 50)?;
        let skip = match opt_str(input, "nextToken")? {
            Some(t) => decode_token(t, "s/")?
                .parse::<usize>()
                .map_err(|_| bad_token())?,
            None => 0,
        };
        self.writer.flush().await;
        self.existing_group(region, &group).await?;
        let mut streams = self
            .catalog
            .list_log_streams(region, &group, prefix, order, descending, skip, limit + 1)
            .await
            .map_err(LogsError::store)?;
        let more = streams.len() > limit;
        streams.truncate(limit);
        let arn = self.group_arn(region, &group);
        let shapes: Vec<Value> = streams
            .iter()
            .map(|s| {
                let mut v = json!({
                    "logStreamName": s.name,
                    "creationTime": s.created_ms,
                    "arn": format!("{arn}:log-stream:{}", s.name),
                    "storedBytes": 0,
                });
                for (key, value) in [
                    ("firstEventTimestamp", s.first_event_ms),
                    ("lastEventTimestamp", s.last_event_ms),
                    ("lastIngestionTime", s.last_ingestion_ms),
                ] {
                    if let Some(t) = value {
                        v[key] = json!(t);
                    }
                }
                v
            })
            .collect();
        let mut out = json!({ "logStreams": shapes });
        if more {
            out["nextToken"] = json!(encode_token(&format!("s/{}", skip + limit)));
        }
        Ok(out)
    }

    async fn get_log_events(&self, region: &str, input: &Input) -> Result<Value, LogsError> {
        let group = group_name(input)?;
        let stream = opt_str(input, "logStreamName")?.unwrap_or("").to_string();
        let start = opt_i64(input, "startTime")?;
        // GetLogEvents' endTime is exclusive.
        let end = opt_i64(input, "endTime")?.map(|e| e.saturating_sub(1));
        let limit = limit(input, 10_000, 10_000)?;
        let from_head = opt_bool(input, "startFromHead")?.unwrap_or(false);
        let token = opt_str(input, "nextToken")?;
        let position = match token {
            None => None,
            Some(t) => {
                let (dir, digits) = t.split_at_checked(2).ok_or_else(bad_token)?;
                let digits = digits.strip_suffix("/s").ok_or_else(bad_token)?;
                let cursor = parse_cursor_digits(digits).ok_or_else(bad_token)?;
                match dir {
                    "f/" => Some((true, cursor)),
                    "b/" => Some((false, cursor)),
                    _ => return Err(bad_token()),
                }
            }
        };
        self.writer.flush().await;
        self.existing_group(region, &group).await?;
        let exists = self
            .catalog
            .list_log_streams(region, &group, &stream, StreamOrder::Name, false, 0, 1)
            .await
            .map_err(LogsError::store)?
            .first()
            .is_some_and(|s| s.name == stream);
        if !exists {
            return Err(LogsError::new(
                "ResourceNotFoundException",
                "The specified log stream does not exist.",
            ));
        }
        let names = [stream];
        let query = EventQuery {
            region,
            group: &group,
            streams: StreamSelection::Named(&names),
            start_ms: start,
            end_ms: end,
            after: None,
            before: None,
            descending: false,
            limit,
        };
        // Forward: the oldest events after the position; backward (and by default, from the
        // tail): the newest before it, answered oldest first.
        let forward = match position {
            Some((forward, _)) => forward,
            None => from_head,
        };
        let query = match position {
            Some((true, c)) => EventQuery {
                after: Some(c),
                ..query
            },
            Some((false, c)) => EventQuery {
                before: Some(c),
                descending: true,
                ..query
            },
            None if from_head => query,
            None => EventQuery {
                descending: true,
                ..query
            },
        };
        let mut events = self
            .catalog
            .log_events(&query)
            .await
            .map_err(LogsError::store)?;
        if !forward {
            events.reverse();
        }
        let mut bytes = 0;
        let keep = events
            .iter()
            .take_while(|e| {
                bytes += e.message.len() + 26;
                bytes <= MAX_RESPONSE_BYTES
            })
            .count()
            .max(1)
            .min(events.len());
        if forward {
            events.truncate(keep);
        } else {
            events.drain(..events.len() - keep);
        }
        let start_cursor = EventCursor {
            timestamp_ms: 0,
            id: 0,
        };
        let (next_forward, next_backward) = match (events.first(), events.last()) {
            (Some(first), Some(last)) => (
                format!("f/{}/s", cursor_digits(cursor_of(last))),
                format!("b/{}/s", cursor_digits(cursor_of(first))),
            ),
            _ => match (token, position) {
                // At the end: the same token again, and the other direction from there.
                (Some(t), Some((true, c))) => (t.to_string(), format!("b/{}/s", cursor_digits(c))),
                (Some(t), Some((false, c))) => (format!("f/{}/s", cursor_digits(c)), t.to_string()),
                _ => (
                    format!("f/{}/s", cursor_digits(start_cursor)),
                    format!("b/{}/s", cursor_digits(start_cursor)),
                ),
            },
        };
        let shapes: Vec<Value> = events
            .iter()
            .map(|e| {
                json!({
                    "timestamp": e.timestamp_ms,
                    "message": e.message,
                    "ingestionTime": e.ingestion_ms,
                })
            })
            .collect();
        Ok(json!({
            "events": shapes,
            "nextForwardToken": next_forward,
            "nextBackwardToken": next_backward,
        }))
    }

    async fn filter_log_events(&self, region: &str, input: &Input) -> Result<Value, LogsError> {
        let group = group_name(input)?;
        let names: Option<Vec<String>> = match input.get("logStreamNames") {
            None | Some(Value::Null) => None,
            Some(Value::Array(items)) => Some(
                items
                    .iter()
                    .map(|v| v.as_str().map(str::to_string))
                    .collect::<Option<Vec<_>>>()
                    .ok_or_else(|| serialization("logStreamNames"))?,
            ),
            Some(_) => return Err(serialization("logStreamNames")),
        };
        let prefix = opt_str(input, "logStreamNamePrefix")?;
        if names.is_some() && prefix.is_some() {
            return Err(LogsError::invalid(
                "Cannot specify both logStreamNames and logStreamNamePrefix.",
            ));
        }
        if let Some(n) = &names
            && (n.is_empty() || n.len() > 100)
        {
            return Err(validation(
                &format!("[{}]", n.join(", ")),
                "logStreamNames",
                "Member must have length less than or equal to 100",
            ));
        }
        let start = opt_i64(input, "startTime")?;
        let end = opt_i64(input, "endTime")?;
        let pattern_text = opt_str(input, "filterPattern")?.unwrap_or("");
        if pattern_text.len() > 1024 {
            return Err(validation(
                pattern_text,
                "filterPattern",
                "Member must have length less than or equal to 1024",
            ));
        }
        let pattern =
            FilterPattern::parse(pattern_text).map_err(|e| LogsError::invalid(e.to_string()))?;
        let limit = limit(input, 10_000, 10_000)?;
        let mut after = match opt_str(input, "nextToken")? {
            Some(t) => Some(
                decode_token(t, "e/")
                    .ok()
                    .and_then(|d| parse_cursor_digits(&d))
                    .ok_or_else(bad_token)?,
            ),
            None => None,
        };
        self.writer.flush().await;
        self.existing_group(region, &group).await?;
        let selection = match (&names, prefix) {
            (Some(n), _) => StreamSelection::Named(n),
            (None, Some(p)) => StreamSelection::Prefix(p),
            (None, None) => StreamSelection::All,
        };
        // Events of the selection in time order, from past `after`, at most `limit`.
        let query = |after, limit| EventQuery {
            region,
            group: &group,
            streams: selection,
            start_ms: start,
            end_ms: end,
            after,
            before: None,
            descending: false,
            limit,
        };
        let mut found: Vec<LogEventRow> = Vec::new();
        let (mut scanned, mut bytes) = (0usize, 0usize);
        let mut more = false;
        loop {
            let page = self
                .catalog
                .log_events(&query(after, 1000))
                .await
                .map_err(LogsError::store)?;
            let exhausted = page.len() < 1000;
            for e in page {
                scanned += 1;
                after = Some(cursor_of(&e));
                if pattern.matches(&e.message) {
                    bytes += e.message.len() + 26;
                    found.push(e);
                }
                if found.len() >= limit
                    || bytes >= MAX_RESPONSE_BYTES
                    || scanned >= FILTER_SCAN_ROWS
                {
                    more = true;
                    break;
                }
            }
            if more || exhausted {
                break;
            }
        }
        // Whether anything is left past the last event read.
        if more && let Some(c) = after {
            more = !self
                .catalog
                .log_events(&query(Some(c), 1))
                .await
                .map_err(LogsError::store)?
                .is_empty();
        }
        let searched: Vec<String> = match &names {
            Some(n) => n.clone(),
            None => self
                .catalog
                .list_log_streams(
                    region,
                    &group,
                    prefix.unwrap_or(""),
                    StreamOrder::Name,
                    false,
                    0,
                    100,
                )
                .await
                .map_err(LogsError::store)?
                .into_iter()
                .map(|s| s.name)
                .collect(),
        };
        let shapes: Vec<Value> = found
            .iter()
            .map(|e| {
                json!({
                    "logStreamName": e.stream,
                    "timestamp": e.timestamp_ms,
                    "message": e.message,
                    "ingestionTime": e.ingestion_ms,
                    "eventId": cursor_digits(cursor_of(e)),
                })
            })
            .collect();
        let searched: Vec<Value> = searched
            .iter()
            .map(|s| json!({ "logStreamName": s, "searchedCompletely": !more }))
            .collect();
        let mut out = json!({ "events": shapes, "searchedLogStreams": searched });
        if more && let Some(c) = after {
            out["nextToken"] = json!(encode_token(&format!("e/{}", cursor_digits(c))));
        }
        Ok(out)
    }
}
