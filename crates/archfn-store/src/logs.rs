//! The records of archfn's CloudWatch Logs: log groups, log streams and log events.

use archfn_model::log_events::LogBatch;
use async_trait::async_trait;

use crate::StoreError;

/// A log group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogGroupRow {
    /// Its name.
    pub name: String,
    /// When it was created, Unix milliseconds.
    pub created_ms: i64,
    /// Its retention policy, days; `None`: kept forever.
    pub retention_days: Option<i32>,
    /// Bytes of its events' messages.
    pub stored_bytes: i64,
}

/// A log stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogStreamRow {
    /// Its name.
    pub name: String,
    /// When it was created, Unix milliseconds.
    pub created_ms: i64,
    /// Timestamp of its earliest event.
    pub first_event_ms: Option<i64>,
    /// Timestamp of its latest event.
    pub last_event_ms: Option<i64>,
    /// When an event was last stored in it.
    pub last_ingestion_ms: Option<i64>,
}

/// A stored event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogEventRow {
    /// Its position among the group's events with the same timestamp (ascending as stored).
    pub id: i64,
    /// Its stream.
    pub stream: String,
    /// When it was emitted, Unix milliseconds.
    pub timestamp_ms: i64,
    /// When it was stored, Unix milliseconds.
    pub ingestion_ms: i64,
    /// The line.
    pub message: String,
}

/// A position between events: events are ordered by (timestamp, id).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct EventCursor {
    /// Timestamp, Unix milliseconds.
    pub timestamp_ms: i64,
    /// Id.
    pub id: i64,
}

/// Which streams of a group an event query reads.
#[derive(Debug, Clone, Copy)]
pub enum StreamSelection<'a> {
    /// Every stream.
    All,
    /// These streams.
    Named(&'a [String]),
    /// Streams whose names start with this.
    Prefix(&'a str),
}

/// How log streams are listed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamOrder {
    /// By name.
    Name,
    /// By the timestamp of their latest event (streams without events first).
    LastEventTime,
}

/// Events of a group to read, ordered by (timestamp, id).
#[derive(Debug, Clone, Copy)]
pub struct EventQuery<'a> {
    /// Region.
    pub region: &'a str,
    /// Log group.
    pub group: &'a str,
    /// Streams.
    pub streams: StreamSelection<'a>,
    /// No event with an earlier timestamp.
    pub start_ms: Option<i64>,
    /// No event with a later timestamp (inclusive).
    pub end_ms: Option<i64>,
    /// Only events after this position.
    pub after: Option<EventCursor>,
    /// Only events before this position.
    pub before: Option<EventCursor>,
    /// Newest first.
    pub descending: bool,
    /// At most this many.
    pub limit: usize,
}

/// Log groups, streams and events. Writes are atomic.
#[async_trait]
pub trait LogCatalog: Send + Sync + std::fmt::Debug {
    /// Stores batches of events in one transaction, creating their groups and streams when
    /// missing (stamped `ingestion_ms`). Durable with the next synced write of the store:
    /// logs are never acknowledged to a client.
    async fn append_log_batches(
        &self,
        batches: &[LogBatch],
        ingestion_ms: i64,
    ) -> Result<(), StoreError>;
    /// Creates a log group; [`StoreError::AlreadyExists`] when it exists.
    async fn create_log_group(
        &self,
        region: &str,
        name: &str,
        created_ms: i64,
    ) -> Result<(), StoreError>;
    /// Deletes a log group with its streams and events; [`StoreError::NotFound`] when it does
    /// not exist.
    async fn delete_log_group(&self, region: &str, name: &str) -> Result<(), StoreError>;
    /// A log group.
    async fn log_group(&self, region: &str, name: &str) -> Result<Option<LogGroupRow>, StoreError>;
    /// Log groups by name, those whose names start with `prefix`, after `after`, at most
    /// `limit`.
    async fn list_log_groups(
        &self,
        region: &str,
        prefix: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<LogGroupRow>, StoreError>;
    /// Sets (or, with `None`, removes) a group's retention; [`StoreError::NotFound`] when the
    /// group does not exist.
    async fn set_log_retention(
        &self,
        region: &str,
        name: &str,
        days: Option<i32>,
    ) -> Result<(), StoreError>;
    /// A group's streams whose names start with `prefix`, in `order`, skipping `skip`, at most
    /// `limit`.
    #[allow(clippy::too_many_arguments)]
    async fn list_log_streams(
        &self,
        region: &str,
        group: &str,
        prefix: &str,
        order: StreamOrder,
        descending: bool,
        skip: usize,
        limit: usize,
    ) -> Result<Vec<LogStreamRow>, StoreError>;
    /// Events of a group.
    async fn log_events(&self, q: &EventQuery<'_>) -> Result<Vec<LogEventRow>, StoreError>;
    /// Deletes the events older than their group's retention at `now_ms`; answers how many.
    async fn expire_log_events(&self, now_ms: i64) -> Result<u64, StoreError>;
}
