//! Metadata store: functions, versions, aliases and layer versions; also the queue of Event
//! invocations, traffic shifts and invocation metrics.
//!
//! Owns: the `MetadataStore` trait (optimistic concurrency through etags, atomic publish) and
//! its SQLite (embedded, one process) and PostgreSQL (several nodes) backends. Only this crate
//! speaks SQL.
//! Must not: validate requests or know the Lambda wire format.

mod cache;
pub mod logs;
pub mod objects;
mod postgres;
mod settings;
mod sqlite;
pub mod stacks;

use archfn_model::deployment::DeploymentRecord;
use archfn_model::metrics::MinuteBucket;
use archfn_model::{AliasRecord, FunctionConfig, FunctionRecord, LayerVersionRecord};
use async_trait::async_trait;

pub use cache::{CacheInvalidator, CachedStore};
pub use postgres::{DEFAULT_POOL_SIZE as PG_DEFAULT_POOL_SIZE, PgStore, PgWatch};
pub use settings::{SettingKey, SettingKind, SettingRow, SettingWrite};
pub use sqlite::SqliteStore;

/// A stored value with the etag a conditional write must name.
#[derive(Debug, Clone, PartialEq)]
pub struct Stored<T> {
    /// The value.
    pub value: T,
    /// Changes on every write of the row.
    pub etag: i64,
}

/// What can go wrong in a metadata store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The row to create exists already.
    #[error("already exists")]
    AlreadyExists,
    /// The row to change does not exist.
    #[error("not found")]
    NotFound,
    /// The row changed since it was read.
    #[error("concurrent modification")]
    Conflict,
    /// The backend failed.
    #[error("database: {0}")]
    Database(String),
    /// A stored row does not decode.
    #[error("corrupt row: {0}")]
    Corrupt(String),
}

/// How soon a write must be on disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Durability {
    /// On disk before the call returns: for everything a client is told was done.
    Synced,
    /// On disk with the next synced write (or a checkpoint): for state that can be recomputed
    /// after a crash, such as the outcome of a preparation, which is redone at start.
    Deferred,
}

/// Which traffic shifts to list.
#[derive(Debug, Clone, Copy, Default)]
pub struct DeploymentFilter<'a> {
    /// Only this region's.
    pub region: Option<&'a str>,
    /// Only this function's.
    pub function: Option<&'a str>,
    /// Only this alias's.
    pub alias: Option<&'a str>,
    /// Only those in progress.
    pub active_only: bool,
    /// At most this many, newest first.
    pub limit: usize,
}

/// An asynchronous invocation waiting to run (or to run again).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AsyncEvent {
    /// Request id given to the caller.
    pub id: String,
    /// Region of the function.
    pub region: String,
    /// Function name (or ARN) as the caller gave it.
    pub function: String,
    /// Qualifier as the caller gave it.
    pub qualifier: Option<String>,
    /// The event.
    pub payload: Vec<u8>,
    /// Attempts made so far.
    pub attempts: u32,
    /// When it is due, Unix milliseconds.
    pub next_attempt_ms: i64,
}

/// Account-wide figures for GetAccountSettings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct AccountUsage {
    /// Functions in the region.
    pub function_count: u64,
    /// Bytes of code: every function's $LATEST zip, every version's, every layer version's.
    pub total_code_size: u64,
    /// Sum of reserved concurrency over all functions.
    pub reserved_concurrency: u64,
}

/// The code that metadata references, across regions: what garbage collection keeps.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CodeReferences {
    /// Keys of stored code: zip digests (hex) of every function version's code and layers and of
    /// every layer version, and `image-<id>` of every image function version.
    pub digests: std::collections::BTreeSet<String>,
    /// The layer digests, in order, of every function version that has layers (its `/opt`).
    pub layer_sets: std::collections::BTreeSet<Vec<String>>,
}

/// Persistent metadata. Every method is atomic. A write is durable when it returns, except one
/// made with [`Durability::Deferred`], which is on disk with the next synced write (or a
/// checkpoint).
#[async_trait]
pub trait MetadataStore: Send + Sync + std::fmt::Debug {
    /// Creates a function; `AlreadyExists` when the name is taken.
    async fn create_function(&self, region: &str, rec: &FunctionRecord) -> Result<i64, StoreError>;
    /// Reads a function.
    async fn get_function(
        &self,
        region: &str,
        name: &str,
    ) -> Result<Option<Stored<FunctionRecord>>, StoreError>;
    /// Replaces a function if its etag is still `etag`; returns the new etag.
    async fn put_function(
        &self,
        region: &str,
        rec: &FunctionRecord,
        etag: i64,
        durability: Durability,
    ) -> Result<i64, StoreError>;
    /// Deletes a function with its versions and aliases; false when there was none.
    async fn delete_function(&self, region: &str, name: &str) -> Result<bool, StoreError>;
    /// Functions ordered by name, after `after`, at most `limit`.
    async fn list_functions(
        &self,
        region: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<FunctionRecord>, StoreError>;
    /// Functions and versions whose code is still being prepared, across regions.
    async fn pending_preparations(&self) -> Result<Vec<(String, FunctionConfig)>, StoreError>;

    /// Writes `rec` (if its etag is still `etag`) and inserts `version` in one transaction.
    async fn publish_version(
        &self,
        region: &str,
        rec: &FunctionRecord,
        etag: i64,
        version: &FunctionConfig,
    ) -> Result<i64, StoreError>;
    /// Replaces a published version's configuration (its state, after preparation).
    async fn put_version(
        &self,
        region: &str,
        version: &FunctionConfig,
        durability: Durability,
    ) -> Result<(), StoreError>;
    /// Reads version `n`.
    async fn get_version(
        &self,
        region: &str,
        function: &str,
        n: u64,
    ) -> Result<Option<FunctionConfig>, StoreError>;
    /// Versions ascending, after `after`, at most `limit`.
    async fn list_versions(
        &self,
        region: &str,
        function: &str,
        after: Option<u64>,
        limit: usize,
    ) -> Result<Vec<FunctionConfig>, StoreError>;
    /// Deletes version `n`; false when there was none.
    async fn delete_version(
        &self,
        region: &str,
        function: &str,
        n: u64,
    ) -> Result<bool, StoreError>;

    /// Creates an alias; `AlreadyExists` when taken.
    async fn create_alias(&self, region: &str, alias: &AliasRecord) -> Result<(), StoreError>;
    /// Reads an alias.
    async fn get_alias(
        &self,
        region: &str,
        function: &str,
        name: &str,
    ) -> Result<Option<Stored<AliasRecord>>, StoreError>;
    /// Replaces an alias if its etag is still `etag`.
    async fn put_alias(
        &self,
        region: &str,
        alias: &AliasRecord,
        etag: i64,
    ) -> Result<(), StoreError>;
    /// Deletes an alias; false when there was none.
    async fn delete_alias(
        &self,
        region: &str,
        function: &str,
        name: &str,
    ) -> Result<bool, StoreError>;
    /// Aliases of a function ordered by name, after `after`, at most `limit`.
    async fn list_aliases(
        &self,
        region: &str,
        function: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<AliasRecord>, StoreError>;

    /// Stores a new layer version, numbering it one past the highest ever used; returns it.
    async fn publish_layer_version(
        &self,
        region: &str,
        layer: &LayerVersionRecord,
    ) -> Result<LayerVersionRecord, StoreError>;
    /// Reads a layer version.
    async fn get_layer_version(
        &self,
        region: &str,
        name: &str,
        version: u64,
    ) -> Result<Option<LayerVersionRecord>, StoreError>;
    /// A layer's versions, newest first.
    async fn list_layer_versions(
        &self,
        region: &str,
        name: &str,
    ) -> Result<Vec<LayerVersionRecord>, StoreError>;
    /// Every layer version in the region, by layer name then newest first.
    async fn list_all_layer_versions(
        &self,
        region: &str,
    ) -> Result<Vec<LayerVersionRecord>, StoreError>;
    /// Deletes a layer version; deleting a missing one is not an error.
    async fn delete_layer_version(
        &self,
        region: &str,
        name: &str,
        version: u64,
    ) -> Result<(), StoreError>;

    /// Stores an asynchronous invocation durably.
    async fn enqueue_event(&self, event: &AsyncEvent) -> Result<(), StoreError>;
    /// Events due at `now_ms`, oldest first, at most `limit`, claimed or not (for inspection:
    /// a worker takes events with [`MetadataStore::claim_due_events`]).
    async fn due_events(&self, now_ms: i64, limit: usize) -> Result<Vec<AsyncEvent>, StoreError>;
    /// Takes events due at `now_ms` that no node has claimed (or whose claim expired), oldest
    /// first, at most `limit`, and marks them claimed by `node` until `now_ms + lease_ms`, in
    /// one transaction: two nodes never take the same event while its claim lasts.
    async fn claim_due_events(
        &self,
        node: &str,
        now_ms: i64,
        lease_ms: i64,
        limit: usize,
    ) -> Result<Vec<AsyncEvent>, StoreError>;
    /// Extends `node`'s claims on the events `ids` (those it still holds) to `until_ms`.
    async fn renew_event_claims(
        &self,
        node: &str,
        ids: &[String],
        until_ms: i64,
    ) -> Result<(), StoreError>;
    /// Records another attempt and when the next is due, and releases the event's claim.
    async fn reschedule_event(
        &self,
        id: &str,
        attempts: u32,
        next_attempt_ms: i64,
    ) -> Result<(), StoreError>;
    /// Forgets an event (done, or out of attempts).
    async fn delete_event(&self, id: &str) -> Result<(), StoreError>;

    /// Every code key referenced by a function version (`$LATEST` or published) or a layer
    /// version, in every region, read as one consistent snapshot.
    async fn code_references(&self) -> Result<CodeReferences, StoreError>;
    /// Whether any function version or layer version, in any region, references code `digest`.
    async fn references_code(&self, digest: &str) -> Result<bool, StoreError>;

    /// Account-wide usage in a region.
    async fn account_usage(&self, region: &str) -> Result<AccountUsage, StoreError>;

    /// Adds invocation metrics to what is stored for their series and minutes (a bucket
    /// already stored is merged with, not replaced), in one transaction.
    async fn add_metric_buckets(&self, buckets: &[MinuteBucket]) -> Result<(), StoreError>;
    /// A function's metric buckets of minutes `from_minute..=to_minute`, by minute.
    async fn metric_buckets(
        &self,
        region: &str,
        function: &str,
        from_minute: i64,
        to_minute: i64,
    ) -> Result<Vec<MinuteBucket>, StoreError>;
    /// Deletes the metric buckets of minutes before `before_minute`; returns how many.
    async fn prune_metric_buckets(&self, before_minute: i64) -> Result<u64, StoreError>;

    /// Records a new traffic shift; `AlreadyExists` when one is in progress on its alias.
    async fn create_deployment(&self, d: &DeploymentRecord) -> Result<(), StoreError>;
    /// Writes a shift if its etag is still `etag`; returns the new etag.
    async fn put_deployment(&self, d: &DeploymentRecord, etag: i64) -> Result<i64, StoreError>;
    /// A shift by id.
    async fn get_deployment(
        &self,
        id: &str,
    ) -> Result<Option<Stored<DeploymentRecord>>, StoreError>;
    /// Shifts matching `filter`, newest first.
    async fn list_deployments(
        &self,
        filter: &DeploymentFilter<'_>,
    ) -> Result<Vec<Stored<DeploymentRecord>>, StoreError>;

    /// A setting's document (see [`SettingKind`]).
    async fn get_setting(&self, key: &SettingKey) -> Result<Option<SettingRow>, StoreError>;
    /// Writes a setting as `write` says (create only, replace at an etag, or either); returns
    /// the new etag. `lookup` is a second key, unique per kind (`AlreadyExists` when taken).
    async fn put_setting(
        &self,
        key: &SettingKey,
        document: &str,
        lookup: Option<&str>,
        write: SettingWrite,
    ) -> Result<i64, StoreError>;
    /// Deletes a setting (only at `etag`, when given: else `Conflict`); false when absent.
    async fn delete_setting(&self, key: &SettingKey, etag: Option<i64>)
    -> Result<bool, StoreError>;
    /// The settings of one kind in a region, of one owner when given, ordered by owner then
    /// qualifier.
    async fn list_settings(
        &self,
        region: &str,
        kind: SettingKind,
        owner: Option<&str>,
    ) -> Result<Vec<SettingRow>, StoreError>;
    /// The settings of one kind in every region, ordered by region, owner, then qualifier
    /// (what a background task brings to their target at start and afterwards).
    async fn list_settings_everywhere(
        &self,
        kind: SettingKind,
    ) -> Result<Vec<SettingRow>, StoreError>;
    /// The setting of a kind whose second key is `lookup`, in any region.
    async fn find_setting(
        &self,
        kind: SettingKind,
        lookup: &str,
    ) -> Result<Option<SettingRow>, StoreError>;
}
