//! A read-through cache in front of any `MetadataStore`, for the hot reads of an invoke
//! (function, version, alias) and of a function URL request (its configuration, the policy). Every write through it empties the cache; a read that raced a
//! write does not fill it (a generation counter tells), so it never serves a stale row.
//! Only valid while this process is the database's only writer, or while something else
//! empties it on every other writer's commit: on PostgreSQL the server's listener does, through
//! a [`CacheInvalidator`], and turns the cache off ([`CacheInvalidator::set_bypass`]) while it
//! cannot hear the other nodes.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use archfn_model::{AliasRecord, FunctionConfig, FunctionRecord, LayerVersionRecord};
use async_trait::async_trait;

use crate::{
    AccountUsage, AsyncEvent, CodeReferences, Durability, MetadataStore, StoreError, Stored,
};

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Key {
    Function(String, String),
    Version(String, String, u64),
    Alias(String, String, String),
    Setting(crate::SettingKey),
    SettingByLookup(crate::SettingKind, String),
}

#[derive(Debug, Clone)]
enum Value {
    Function(Option<Stored<FunctionRecord>>),
    Version(Option<FunctionConfig>),
    Alias(Option<Stored<AliasRecord>>),
    Setting(Option<crate::SettingRow>),
}

/// Caches reads of functions, versions and aliases of an inner store.
#[derive(Debug)]
pub struct CachedStore<S> {
    inner: S,
    shared: Arc<Shared>,
}

/// The cache's state, shared with its [`CacheInvalidator`]s.
#[derive(Debug, Default)]
struct Shared {
    generation: AtomicU64,
    entries: Mutex<HashMap<Key, Value>>,
    /// Reads go to the inner store and nothing is cached.
    bypass: AtomicBool,
}

impl Shared {
    fn invalidate(&self) {
        self.generation.fetch_add(1, Ordering::SeqCst);
        if let Ok(mut m) = self.entries.lock() {
            m.clear();
        }
    }
}

/// Empties a [`CachedStore`] from outside it (another node committed a write), or turns it off
/// and on again.
#[derive(Debug, Clone)]
pub struct CacheInvalidator {
    shared: Arc<Shared>,
}

impl CacheInvalidator {
    /// Empties the cache; a read in flight does not fill it afterwards.
    pub fn invalidate(&self) {
        self.shared.invalidate();
    }

    /// While `on`, every read goes to the store and nothing is kept (the cache is emptied
    /// when this is turned either way).
    pub fn set_bypass(&self, on: bool) {
        self.shared.bypass.store(on, Ordering::SeqCst);
        self.shared.invalidate();
    }
}

const MAX_ENTRIES: usize = 100_000;

impl<S: MetadataStore> CachedStore<S> {
    /// Wraps `inner`.
    pub fn new(inner: S) -> CachedStore<S> {
        CachedStore {
            inner,
            shared: Arc::default(),
        }
    }

    /// A handle that empties (or turns off) this cache from another task.
    pub fn invalidator(&self) -> CacheInvalidator {
        CacheInvalidator {
            shared: self.shared.clone(),
        }
    }

    fn get(&self, key: &Key) -> Option<Value> {
        if self.shared.bypass.load(Ordering::SeqCst) {
            return None;
        }
        self.shared.entries.lock().ok()?.get(key).cloned()
    }

    fn fill(&self, key: Key, value: Value, generation: u64) {
        if let Ok(mut m) = self.shared.entries.lock()
            && self.shared.generation.load(Ordering::SeqCst) == generation
            && !self.shared.bypass.load(Ordering::SeqCst)
        {
            if m.len() >= MAX_ENTRIES {
                m.clear();
            }
            m.insert(key, value);
        }
    }

    fn invalidate(&self) {
        self.shared.invalidate();
    }

    /// Runs a write, then empties the cache (also when the write failed: it may have happened).
    async fn write<T>(
        &self,
        fut: impl std::future::Future<Output = Result<T, StoreError>>,
    ) -> Result<T, StoreError> {
        self.invalidate();
        let out = fut.await;
        self.invalidate();
        out
    }
}

#[async_trait]
impl<S: MetadataStore> MetadataStore for CachedStore<S> {
    async fn create_function(&self, region: &str, rec: &FunctionRecord) -> Result<i64, StoreError> {
        self.write(self.inner.create_function(region, rec)).await
    }

    async fn get_function(
        &self,
        region: &str,
        name: &str,
    ) -> Result<Option<Stored<FunctionRecord>>, StoreError> {
        let key = Key::Function(region.into(), name.into());
        if let Some(Value::Function(v)) = self.get(&key) {
            return Ok(v);
        }
        let generation = self.shared.generation.load(Ordering::SeqCst);
        let v = self.inner.get_function(region, name).await?;
        self.fill(key, Value::Function(v.clone()), generation);
        Ok(v)
    }

    async fn put_function(
        &self,
        region: &str,
        rec: &FunctionRecord,
        etag: i64,
        durability: Durability,
    ) -> Result<i64, StoreError> {
        self.write(self.inner.put_function(region, rec, etag, durability))
            .await
    }

    async fn delete_function(&self, region: &str, name: &str) -> Result<bool, StoreError> {
        self.write(self.inner.delete_function(region, name)).await
    }

    async fn list_functions(
        &self,
        region: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<FunctionRecord>, StoreError> {
        self.inner.list_functions(region, after, limit).await
    }

    async fn pending_preparations(&self) -> Result<Vec<(String, FunctionConfig)>, StoreError> {
        self.inner.pending_preparations().await
    }

    async fn publish_version(
        &self,
        region: &str,
        rec: &FunctionRecord,
        etag: i64,
        version: &FunctionConfig,
    ) -> Result<i64, StoreError> {
        self.write(self.inner.publish_version(region, rec, etag, version))
            .await
    }

    async fn put_version(
        &self,
        region: &str,
        version: &FunctionConfig,
        durability: Durability,
    ) -> Result<(), StoreError> {
        self.write(self.inner.put_version(region, version, durability))
            .await
    }

    async fn get_version(
        &self,
        region: &str,
        function: &str,
        n: u64,
    ) -> Result<Option<FunctionConfig>, StoreError> {
        let key = Key::Version(region.into(), function.into(), n);
        if let Some(Value::Version(v)) = self.get(&key) {
            return Ok(v);
        }
        let generation = self.shared.generation.load(Ordering::SeqCst);
        let v = self.inner.get_version(region, function, n).await?;
        self.fill(key, Value::Version(v.clone()), generation);
        Ok(v)
    }

    async fn list_versions(
        &self,
        region: &str,
        function: &str,
        after: Option<u64>,
        limit: usize,
    ) -> Result<Vec<FunctionConfig>, StoreError> {
        self.inner
            .list_versions(region, function, after, limit)
            .await
    }

    async fn delete_version(
        &self,
        region: &str,
        function: &str,
        n: u64,
    ) -> Result<bool, StoreError> {
        self.write(self.inner.delete_version(region, function, n))
            .await
    }

    async fn create_alias(&self, region: &str, alias: &AliasRecord) -> Result<(), StoreError> {
        self.write(self.inner.create_alias(region, alias)).await
    }

    async fn get_alias(
        &self,
        region: &str,
        function: &str,
        name: &str,
    ) -> Result<Option<Stored<AliasRecord>>, StoreError> {
        let key = Key::Alias(region.into(), function.into(), name.into());
        if let Some(Value::Alias(v)) = self.get(&key) {
            return Ok(v);
        }
        let generation = self.shared.generation.load(Ordering::SeqCst);
        let v = self.inner.get_alias(region, function, name).await?;
        self.fill(key, Value::Alias(v.clone()), generation);
        Ok(v)
    }

    async fn put_alias(
        &self,
        region: &str,
        alias: &AliasRecord,
        etag: i64,
    ) -> Result<(), StoreError> {
        self.write(self.inner.put_alias(region, alias, etag)).await
    }

    async fn delete_alias(
        &self,
        region: &str,
        function: &str,
        name: &str,
    ) -> Result<bool, StoreError> {
        self.write(self.inner.delete_alias(region, function, name))
            .await
    }

    async fn list_aliases(
        &self,
        region: &str,
        function: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<AliasRecord>, StoreError> {
        self.inner
            .list_aliases(region, function, after, limit)
            .await
    }

    async fn publish_layer_version(
        &self,
        region: &str,
        layer: &LayerVersionRecord,
    ) -> Result<LayerVersionRecord, StoreError> {
        self.inner.publish_layer_version(region, layer).await
    }

    async fn get_layer_version(
        &self,
        region: &str,
        name: &str,
        version: u64,
    ) -> Result<Option<LayerVersionRecord>, StoreError> {
        self.inner.get_layer_version(region, name, version).await
    }

    async fn list_layer_versions(
        &self,
        region: &str,
        name: &str,
    ) -> Result<Vec<LayerVersionRecord>, StoreError> {
        self.inner.list_layer_versions(region, name).await
    }

    async fn list_all_layer_versions(
        &self,
        region: &str,
    ) -> Result<Vec<LayerVersionRecord>, StoreError> {
        self.inner.list_all_layer_versions(region).await
    }

    async fn delete_layer_version(
        &self,
        region: &str,
        name: &str,
        version: u64,
    ) -> Result<(), StoreError> {
        self.inner.delete_layer_version(region, name, version).await
    }

    async fn enqueue_event(&self, event: &AsyncEvent) -> Result<(), StoreError> {
        self.inner.enqueue_event(event).await
    }

    async fn due_events(&self, now_ms: i64, limit: usize) -> Result<Vec<AsyncEvent>, StoreError> {
        self.inner.due_events(now_ms, limit).await
    }

    async fn claim_due_events(
        &self,
        node: &str,
        now_ms: i64,
        lease_ms: i64,
        limit: usize,
    ) -> Result<Vec<AsyncEvent>, StoreError> {
        self.inner
            .claim_due_events(node, now_ms, lease_ms, limit)
            .await
    }

    async fn renew_event_claims(
        &self,
        node: &str,
        ids: &[String],
        until_ms: i64,
    ) -> Result<(), StoreError> {
        self.inner.renew_event_claims(node, ids, until_ms).await
    }

    async fn reschedule_event(
        &self,
        id: &str,
        attempts: u32,
        next_attempt_ms: i64,
    ) -> Result<(), StoreError> {
        self.inner
            .reschedule_event(id, attempts, next_attempt_ms)
            .await
    }

    async fn delete_event(&self, id: &str) -> Result<(), StoreError> {
        self.inner.delete_event(id).await
    }

    async fn account_usage(&self, region: &str) -> Result<AccountUsage, StoreError> {
        self.inner.account_usage(region).await
    }

    async fn code_references(&self) -> Result<CodeReferences, StoreError> {
        self.inner.code_references().await
    }

    async fn references_code(&self, digest: &str) -> Result<bool, StoreError> {
        self.inner.references_code(digest).await
    }

    // Metrics are not cached: they are read rarely and written in batches.
    async fn add_metric_buckets(
        &self,
        buckets: &[archfn_model::metrics::MinuteBucket],
    ) -> Result<(), StoreError> {
        self.inner.add_metric_buckets(buckets).await
    }

    async fn metric_buckets(
        &self,
        region: &str,
        function: &str,
        from_minute: i64,
        to_minute: i64,
    ) -> Result<Vec<archfn_model::metrics::MinuteBucket>, StoreError> {
        self.inner
            .metric_buckets(region, function, from_minute, to_minute)
            .await
    }

    async fn prune_metric_buckets(&self, before_minute: i64) -> Result<u64, StoreError> {
        self.inner.prune_metric_buckets(before_minute).await
    }

    // Traffic shifts are not cached: their runner reads and writes them itself.
    async fn create_deployment(
        &self,
        d: &archfn_model::deployment::DeploymentRecord,
    ) -> Result<(), StoreError> {
        self.inner.create_deployment(d).await
    }

    async fn put_deployment(
        &self,
        d: &archfn_model::deployment::DeploymentRecord,
        etag: i64,
    ) -> Result<i64, StoreError> {
        self.inner.put_deployment(d, etag).await
    }

    async fn get_deployment(
        &self,
        id: &str,
    ) -> Result<Option<Stored<archfn_model::deployment::DeploymentRecord>>, StoreError> {
        self.inner.get_deployment(id).await
    }

    async fn list_deployments(
        &self,
        filter: &crate::DeploymentFilter<'_>,
    ) -> Result<Vec<Stored<archfn_model::deployment::DeploymentRecord>>, StoreError> {
        self.inner.list_deployments(filter).await
    }

    async fn get_setting(
        &self,
        key: &crate::SettingKey,
    ) -> Result<Option<crate::SettingRow>, StoreError> {
        let cache_key = Key::Setting(key.clone());
        if let Some(Value::Setting(v)) = self.get(&cache_key) {
            return Ok(v);
        }
        let generation = self.shared.generation.load(Ordering::SeqCst);
        let v = self.inner.get_setting(key).await?;
        self.fill(cache_key, Value::Setting(v.clone()), generation);
        Ok(v)
    }

    async fn put_setting(
        &self,
        key: &crate::SettingKey,
        document: &str,
        lookup: Option<&str>,
        write: crate::SettingWrite,
    ) -> Result<i64, StoreError> {
        self.write(self.inner.put_setting(key, document, lookup, write))
            .await
    }

    async fn delete_setting(
        &self,
        key: &crate::SettingKey,
        etag: Option<i64>,
    ) -> Result<bool, StoreError> {
        self.write(self.inner.delete_setting(key, etag)).await
    }

    async fn list_settings(
        &self,
        region: &str,
        kind: crate::SettingKind,
        owner: Option<&str>,
    ) -> Result<Vec<crate::SettingRow>, StoreError> {
        self.inner.list_settings(region, kind, owner).await
    }

    async fn find_setting(
        &self,
        kind: crate::SettingKind,
        lookup: &str,
    ) -> Result<Option<crate::SettingRow>, StoreError> {
        let cache_key = Key::SettingByLookup(kind, lookup.to_owned());
        if let Some(Value::Setting(v)) = self.get(&cache_key) {
            return Ok(v);
        }
        let generation = self.shared.generation.load(Ordering::SeqCst);
        let v = self.inner.find_setting(kind, lookup).await?;
        self.fill(cache_key, Value::Setting(v.clone()), generation);
        Ok(v)
    }

    async fn list_settings_everywhere(
        &self,
        kind: crate::SettingKind,
    ) -> Result<Vec<crate::SettingRow>, StoreError> {
        self.inner.list_settings_everywhere(kind).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::SqliteStore;

    fn record(name: &str, description: &str) -> FunctionRecord {
        let json = serde_json::json!({
            "latest": {
                "name": name, "version": "$LATEST", "runtime": "python3.12", "handler": "a.b",
                "role": "arn:aws:iam::123456789012:role/r", "description": description, "timeout_s": 3,
                "memory_mb": 128, "ephemeral_storage_mb": 512, "architecture": "arm64", "package_type": "Zip",
                "code": { "sha256": "x", "size": 1, "unzipped_size": 1, "digest": "00", "image_uri": null },
                "environment": null, "layers": [], "tracing_mode": "PassThrough", "state": "Active",
                "state_reason": null, "state_reason_code": null, "last_update_status": null,
                "last_update_status_reason": null, "last_update_status_reason_code": null,
                "revision_id": "r1", "last_modified_ms": 0, "opaque": {}
            },
            "tags": {}, "reserved_concurrency": null, "last_version": 0, "published_revision": null, "created_ms": 0
        });
        serde_json::from_value(json).unwrap_or_else(|e| panic!("{e}"))
    }

    #[tokio::test]
    async fn serves_reads_from_cache_and_never_a_stale_row() -> Result<(), StoreError> {
        let dir = std::env::temp_dir().join(format!("archfn-cache-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).map_err(|e| StoreError::Database(e.to_string()))?;
        let store = CachedStore::new(SqliteStore::open(&dir.join("db.sqlite")).await?);
        assert!(store.get_function("r", "f").await?.is_none());
        let etag = store.create_function("r", &record("f", "one")).await?;
        let first = store
            .get_function("r", "f")
            .await?
            .ok_or(StoreError::NotFound)?;
        assert_eq!(first.value.latest.description, "one");
        assert_eq!(
            store.get_function("r", "f").await?.map(|s| s.etag),
            Some(etag)
        );
        store
            .put_function("r", &record("f", "two"), etag, Durability::Synced)
            .await?;
        let second = store
            .get_function("r", "f")
            .await?
            .ok_or(StoreError::NotFound)?;
        assert_eq!(second.value.latest.description, "two");
        assert_eq!(second.etag, etag + 1);
        store.delete_function("r", "f").await?;
        assert!(store.get_function("r", "f").await?.is_none());
        let _ = std::fs::remove_dir_all(&dir);
        Ok(())
    }

    #[tokio::test]
    async fn settings_are_cached_and_never_stale() -> Result<(), StoreError> {
        use crate::{SettingKey, SettingKind, SettingWrite};
        let dir =
            std::env::temp_dir().join(format!("archfn-cache-settings-{}", std::process::id()));
        std::fs::create_dir_all(&dir).map_err(|e| StoreError::Database(e.to_string()))?;
        let store = CachedStore::new(SqliteStore::open(&dir.join("db.sqlite")).await?);
        let key = SettingKey::new("r", SettingKind::FunctionUrl, "f", "$LATEST");
        assert!(
            store
                .find_setting(SettingKind::FunctionUrl, "abc")
                .await?
                .is_none()
        );
        store.create_function("r", &record("f", "one")).await?;
        store
            .put_setting(&key, "{\"n\":1}", Some("abc"), SettingWrite::Create)
            .await?;
        let found = store.find_setting(SettingKind::FunctionUrl, "abc").await?;
        assert_eq!(found.map(|r| r.document), Some("{\"n\":1}".to_string()));
        store
            .put_setting(&key, "{\"n\":2}", Some("abc"), SettingWrite::Upsert)
            .await?;
        let got = store.get_setting(&key).await?;
        assert_eq!(got.map(|r| r.document), Some("{\"n\":2}".to_string()));
        let found = store.find_setting(SettingKind::FunctionUrl, "abc").await?;
        assert_eq!(found.map(|r| r.document), Some("{\"n\":2}".to_string()));
        // A function's deletion takes its settings with it, and the cache with them.
        store.delete_function("r", "f").await?;
        assert!(store.get_setting(&key).await?.is_none());
        assert!(
            store
                .find_setting(SettingKind::FunctionUrl, "abc")
                .await?
                .is_none()
        );
        let _ = std::fs::remove_dir_all(&dir);
        Ok(())
    }
}
