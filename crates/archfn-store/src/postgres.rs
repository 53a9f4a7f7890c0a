//! The PostgreSQL backend, for several nodes on one database: every method is one transaction
//! (READ COMMITTED; conditional writes name the etag in their `WHERE`, so a lost race shows as
//! no row changed), code references are read in one REPEATABLE READ snapshot, and a
//! transaction that fails to serialize (or deadlocks) is retried a few times, then reported as
//! `Conflict`. Writes to the tables a [`crate::CachedStore`] caches (functions, versions,
//! aliases, settings) send `NOTIFY archfn_metadata` from a trigger, in their transaction:
//! [`PgStore::watch`] hears them.

use std::future::Future;
use std::time::Duration;

use archfn_model::{AliasRecord, FunctionConfig, FunctionRecord, LayerVersionRecord};
use async_trait::async_trait;
use serde::Serialize;
use serde::de::DeserializeOwned;
use sqlx::Row;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions, PgRow};
use sqlx::{ConnectOptions, Postgres, Transaction};

use crate::cache::CacheInvalidator;
use crate::{
    AccountUsage, AsyncEvent, CodeReferences, Durability, MetadataStore, SettingKey, SettingKind,
    SettingRow, SettingWrite, StoreError, Stored,
};

mod deployments;
mod logs;
mod metrics;
mod objects;
mod settings;
mod stacks;

/// The channel that committed writes to cached tables are announced on.
pub const CHANNEL: &str = "archfn_metadata";

/// Connections in the pool when the caller does not say.
pub const DEFAULT_POOL_SIZE: u32 = 16;

/// Attempts at a transaction that fails to serialize before it is reported as `Conflict`.
const ATTEMPTS: u32 = 4;

/// Marks a `StoreError::Database` that retrying the transaction may cure.
const RETRYABLE: &str = "retryable: ";

/// Metadata in a PostgreSQL database that any number of nodes share.
#[derive(Debug, Clone)]
pub struct PgStore {
    pool: PgPool,
}

/// The error of a PostgreSQL statement: unique violations are `AlreadyExists`, serialization
/// failures and deadlocks are marked retryable.
fn pg_err(e: sqlx::Error) -> StoreError {
    if let sqlx::Error::Database(d) = &e {
        if d.is_unique_violation() {
            return StoreError::AlreadyExists;
        }
        if matches!(d.code().as_deref(), Some("40001" | "40P01")) {
            return StoreError::Database(format!("{RETRYABLE}{e}"));
        }
    }
    StoreError::Database(e.to_string())
}

fn retryable(e: &StoreError) -> bool {
    matches!(e, StoreError::Database(m) if m.starts_with(RETRYABLE))
}

/// Runs `attempt` until it does not fail to serialize, at most [`ATTEMPTS`] times; then
/// `Conflict`.
async fn retrying<T, F, Fut>(mut attempt: F) -> Result<T, StoreError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, StoreError>>,
{
    for n in 1..=ATTEMPTS {
        match attempt().await {
            Err(e) if retryable(&e) => {
                if n < ATTEMPTS {
                    tokio::time::sleep(Duration::from_millis(u64::from(n) * 5)).await;
                }
            }
            other => return other,
        }
    }
    Err(StoreError::Conflict)
}

fn encode<T: Serialize>(v: &T) -> Result<String, StoreError> {
    serde_json::to_string(v).map_err(|e| StoreError::Corrupt(e.to_string()))
}

fn decode<T: DeserializeOwned>(s: &str) -> Result<T, StoreError> {
    serde_json::from_str(s).map_err(|e| StoreError::Corrupt(e.to_string()))
}

fn decode_all<T: DeserializeOwned>(rows: &[PgRow], col: &str) -> Result<Vec<T>, StoreError> {
    rows.iter()
        .map(|r| decode(r.try_get::<&str, _>(col).map_err(pg_err)?))
        .collect()
}

fn as_i64(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

fn get<'r, T>(r: &'r PgRow, col: &str) -> Result<T, StoreError>
where
    T: sqlx::Decode<'r, Postgres> + sqlx::Type<Postgres>,
{
    r.try_get(col).map_err(pg_err)
}

/// An `async_events` row.
fn event_of(r: &PgRow) -> Result<AsyncEvent, StoreError> {
    Ok(AsyncEvent {
        id: get(r, "id")?,
        region: get(r, "region")?,
        function: get(r, "function")?,
        qualifier: get(r, "qualifier")?,
        payload: get(r, "payload")?,
        attempts: u32::try_from(get::<i64>(r, "attempts")?).unwrap_or(u32::MAX),
        next_attempt_ms: get(r, "next_attempt_ms")?,
    })
}

/// What is wrong with a database URL, said without its password.
fn redacted(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => {
            let user = &url[s + 3..at];
            let user = user.split(':').next().unwrap_or("");
            format!("{}{user}{}", &url[..s + 3], &url[at..])
        }
        _ => url.to_string(),
    }
}

impl PgStore {
    /// Connects to the database at `url` (`postgres://user[:password]@host[:port]/db`) with at
    /// most `pool_size` connections, and brings its schema up to date (nodes starting together
    /// take turns: the migrator holds an advisory lock).
    pub async fn connect(url: &str, pool_size: u32) -> Result<PgStore, StoreError> {
        let opts: PgConnectOptions = url.parse().map_err(|e: sqlx::Error| {
            StoreError::Database(format!("database URL {}: {e}", redacted(url)))
        })?;
        // One connection first: an unreachable server or a refused login is said as such,
        // not as a pool that timed out.
        let probe = opts
            .connect()
            .await
            .map_err(|e| StoreError::Database(format!("connecting to {}: {e}", redacted(url))))?;
        drop(probe);
        let pool = PgPoolOptions::new()
            .max_connections(pool_size.max(1))
            .acquire_timeout(Duration::from_secs(10))
            .connect_with(opts)
            .await
            .map_err(|e| StoreError::Database(format!("connecting to {}: {e}", redacted(url))))?;
        sqlx::migrate!("./migrations/postgres")
            .run(&pool)
            .await
            .map_err(|e| StoreError::Database(format!("migrating {}: {e}", redacted(url))))?;
        Ok(PgStore { pool })
    }

    /// A transaction; `Deferred` ones commit without waiting for the WAL flush.
    async fn begin(
        &self,
        durability: Durability,
    ) -> Result<Transaction<'static, Postgres>, StoreError> {
        let mut tx = self.pool.begin().await.map_err(pg_err)?;
        if durability == Durability::Deferred {
            sqlx::query("SET LOCAL synchronous_commit = off")
                .execute(&mut *tx)
                .await
                .map_err(pg_err)?;
        }
        Ok(tx)
    }

    /// Listens for other nodes' writes: `cache` is emptied on each, and bypassed while the
    /// listening connection is down (from now until it first connects, too). Runs until the
    /// returned handle is dropped.
    pub fn watch(&self, cache: CacheInvalidator) -> PgWatch {
        cache.set_bypass(true);
        let pool = self.pool.clone();
        let task = tokio::spawn(async move {
            let mut logged_down = false;
            loop {
                let listener = async {
                    let mut l = sqlx::postgres::PgListener::connect_with(&pool).await?;
                    l.listen(CHANNEL).await?;
                    Ok::<_, sqlx::Error>(l)
                }
                .await;
                let mut listener = match listener {
                    Ok(l) => l,
                    Err(e) => {
                        if !logged_down {
                            tracing::warn!(error = %e, "cannot listen for other nodes' writes: metadata cache off");
                            logged_down = true;
                        }
                        tokio::time::sleep(Duration::from_secs(1)).await;
                        continue;
                    }
                };
                // Listening from here on: what committed before is read afresh.
                cache.set_bypass(false);
                if logged_down {
                    tracing::info!("listening for other nodes' writes again: metadata cache on");
                }
                // `None` or an error: the connection is lost.
                while let Ok(Some(_)) = listener.try_recv().await {
                    cache.invalidate();
                }
                cache.set_bypass(true);
                tracing::warn!(
                    "lost the connection that hears other nodes' writes: metadata cache off until it is back"
                );
                logged_down = true;
            }
        });
        PgWatch { task }
    }
}

/// The task of [`PgStore::watch`]; dropping it stops listening.
#[derive(Debug)]
pub struct PgWatch {
    task: tokio::task::JoinHandle<()>,
}

impl Drop for PgWatch {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn update_function(
    tx: &mut Transaction<'_, Postgres>,
    region: &str,
    rec: &FunctionRecord,
    etag: i64,
) -> Result<(), StoreError> {
    let done = sqlx::query(
        "UPDATE functions SET record = $1, code_size = $2, etag = etag + 1 \
         WHERE region = $3 AND name = $4 AND etag = $5",
    )
    .bind(encode(rec)?)
    .bind(as_i64(rec.latest.code.size))
    .bind(region)
    .bind(&rec.latest.name)
    .bind(etag)
    .execute(&mut **tx)
    .await
    .map_err(pg_err)?;
    if done.rows_affected() > 0 {
        return Ok(());
    }
    let exists = sqlx::query("SELECT 1 FROM functions WHERE region = $1 AND name = $2")
        .bind(region)
        .bind(&rec.latest.name)
        .fetch_optional(&mut **tx)
        .await
        .map_err(pg_err)?;
    Err(if exists.is_some() {
        StoreError::Conflict
    } else {
        StoreError::NotFound
    })
}

async fn delete_qualified_settings(
    tx: &mut Transaction<'_, Postgres>,
    region: &str,
    function: &str,
    qualifier: &str,
) -> Result<(), StoreError> {
    sqlx::query(
        "DELETE FROM settings WHERE region = $1 AND owner = $2 AND qualifier = $3 AND of_function = 1",
    )
    .bind(region)
    .bind(function)
    .bind(qualifier)
    .execute(&mut **tx)
    .await
    .map_err(pg_err)?;
    Ok(())
}

#[async_trait]
impl MetadataStore for PgStore {
    async fn create_function(&self, region: &str, rec: &FunctionRecord) -> Result<i64, StoreError> {
        sqlx::query(
            "INSERT INTO functions (region, name, record, code_size, etag) VALUES ($1, $2, $3, $4, 1)",
        )
        .bind(region)
        .bind(&rec.latest.name)
        .bind(encode(rec)?)
        .bind(as_i64(rec.latest.code.size))
        .execute(&self.pool)
        .await
        .map_err(pg_err)?;
        Ok(1)
    }

    async fn get_function(
        &self,
        region: &str,
        name: &str,
    ) -> Result<Option<Stored<FunctionRecord>>, StoreError> {
        let row = sqlx::query("SELECT record, etag FROM functions WHERE region = $1 AND name = $2")
            .bind(region)
            .bind(name)
            .fetch_optional(&self.pool)
            .await
            .map_err(pg_err)?;
        row.map(|r| {
            Ok(Stored {
                value: decode(get::<&str>(&r, "record")?)?,
                etag: get(&r, "etag")?,
            })
        })
        .transpose()
    }

    async fn put_function(
        &self,
        region: &str,
        rec: &FunctionRecord,
        etag: i64,
        durability: Durability,
    ) -> Result<i64, StoreError> {
        let mut tx = self.begin(durability).await?;
        update_function(&mut tx, region, rec, etag).await?;
        tx.commit().await.map_err(pg_err)?;
        Ok(etag + 1)
    }

    async fn delete_function(&self, region: &str, name: &str) -> Result<bool, StoreError> {
        retrying(|| async {
            let mut tx = self.begin(Durability::Synced).await?;
            let n = sqlx::query("DELETE FROM functions WHERE region = $1 AND name = $2")
                .bind(region)
                .bind(name)
                .execute(&mut *tx)
                .await
                .map_err(pg_err)?
                .rows_affected();
            for sql in [
                "DELETE FROM versions WHERE region = $1 AND function = $2",
                "DELETE FROM aliases WHERE region = $1 AND function = $2",
                "DELETE FROM settings WHERE region = $1 AND owner = $2 AND of_function = 1",
            ] {
                sqlx::query(sql)
                    .bind(region)
                    .bind(name)
                    .execute(&mut *tx)
                    .await
                    .map_err(pg_err)?;
            }
            tx.commit().await.map_err(pg_err)?;
            Ok(n > 0)
        })
        .await
    }

    async fn list_functions(
        &self,
        region: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<FunctionRecord>, StoreError> {
        let rows = sqlx::query(
            "SELECT record FROM functions WHERE region = $1 AND name > $2 ORDER BY name LIMIT $3",
        )
        .bind(region)
        .bind(after.unwrap_or(""))
        .bind(as_i64(limit as u64))
        .fetch_all(&self.pool)
        .await
        .map_err(pg_err)?;
        decode_all(&rows, "record")
    }

    async fn pending_preparations(&self) -> Result<Vec<(String, FunctionConfig)>, StoreError> {
        let mut out = Vec::new();
        let rows = sqlx::query(
            "SELECT region, record FROM functions \
             WHERE record::jsonb #>> '{latest,state}' = 'Pending' \
             OR record::jsonb #>> '{latest,last_update_status}' = 'InProgress'",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(pg_err)?;
        for r in rows {
            let rec: FunctionRecord = decode(get::<&str>(&r, "record")?)?;
            out.push((get(&r, "region")?, rec.latest));
        }
        let rows = sqlx::query(
            "SELECT region, config FROM versions WHERE config::jsonb ->> 'state' = 'Pending'",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(pg_err)?;
        for r in rows {
            out.push((get(&r, "region")?, decode(get::<&str>(&r, "config")?)?));
        }
        Ok(out)
    }

    async fn publish_version(
        &self,
        region: &str,
        rec: &FunctionRecord,
        etag: i64,
        version: &FunctionConfig,
    ) -> Result<i64, StoreError> {
        let n: u64 = version
            .version
            .parse()
            .map_err(|_| StoreError::Corrupt(version.version.clone()))?;
        retrying(|| async {
            let mut tx = self.begin(Durability::Synced).await?;
            update_function(&mut tx, region, rec, etag).await?;
            sqlx::query(
                "INSERT INTO versions (region, function, version, config, code_size) \
                 VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(region)
            .bind(&version.name)
            .bind(as_i64(n))
            .bind(encode(version)?)
            .bind(as_i64(version.code.size))
            .execute(&mut *tx)
            .await
            .map_err(pg_err)?;
            tx.commit().await.map_err(pg_err)?;
            Ok(etag + 1)
        })
        .await
    }

    async fn put_version(
        &self,
        region: &str,
        version: &FunctionConfig,
        durability: Durability,
    ) -> Result<(), StoreError> {
        let n: u64 = version
            .version
            .parse()
            .map_err(|_| StoreError::Corrupt(version.version.clone()))?;
        let mut tx = self.begin(durability).await?;
        let done = sqlx::query(
            "UPDATE versions SET config = $1 WHERE region = $2 AND function = $3 AND version = $4",
        )
        .bind(encode(version)?)
        .bind(region)
        .bind(&version.name)
        .bind(as_i64(n))
        .execute(&mut *tx)
        .await
        .map_err(pg_err)?;
        tx.commit().await.map_err(pg_err)?;
        if done.rows_affected() == 0 {
            Err(StoreError::NotFound)
        } else {
            Ok(())
        }
    }

    async fn get_version(
        &self,
        region: &str,
        function: &str,
        n: u64,
    ) -> Result<Option<FunctionConfig>, StoreError> {
        let row = sqlx::query(
            "SELECT config FROM versions WHERE region = $1 AND function = $2 AND version = $3",
        )
        .bind(region)
        .bind(function)
        .bind(as_i64(n))
        .fetch_optional(&self.pool)
        .await
        .map_err(pg_err)?;
        row.map(|r| decode(get::<&str>(&r, "config")?)).transpose()
    }

    async fn list_versions(
        &self,
        region: &str,
        function: &str,
        after: Option<u64>,
        limit: usize,
    ) -> Result<Vec<FunctionConfig>, StoreError> {
        let rows = sqlx::query(
            "SELECT config FROM versions WHERE region = $1 AND function = $2 AND version > $3 \
             ORDER BY version LIMIT $4",
        )
        .bind(region)
        .bind(function)
        .bind(as_i64(after.unwrap_or(0)))
        .bind(as_i64(limit as u64))
        .fetch_all(&self.pool)
        .await
        .map_err(pg_err)?;
        decode_all(&rows, "config")
    }

    async fn delete_version(
        &self,
        region: &str,
        function: &str,
        n: u64,
    ) -> Result<bool, StoreError> {
        retrying(|| async {
            let mut tx = self.begin(Durability::Synced).await?;
            let done = sqlx::query(
                "DELETE FROM versions WHERE region = $1 AND function = $2 AND version = $3",
            )
            .bind(region)
            .bind(function)
            .bind(as_i64(n))
            .execute(&mut *tx)
            .await
            .map_err(pg_err)?;
            delete_qualified_settings(&mut tx, region, function, &n.to_string()).await?;
            tx.commit().await.map_err(pg_err)?;
            Ok(done.rows_affected() > 0)
        })
        .await
    }

    async fn create_alias(&self, region: &str, alias: &AliasRecord) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO aliases (region, function, name, record, etag) VALUES ($1, $2, $3, $4, 1)",
        )
        .bind(region)
        .bind(&alias.function)
        .bind(&alias.name)
        .bind(encode(alias)?)
        .execute(&self.pool)
        .await
        .map_err(pg_err)?;
        Ok(())
    }

    async fn get_alias(
        &self,
        region: &str,
        function: &str,
        name: &str,
    ) -> Result<Option<Stored<AliasRecord>>, StoreError> {
        let row = sqlx::query(
            "SELECT record, etag FROM aliases WHERE region = $1 AND function = $2 AND name = $3",
        )
        .bind(region)
        .bind(function)
        .bind(name)
        .fetch_optional(&self.pool)
        .await
        .map_err(pg_err)?;
        row.map(|r| {
            Ok(Stored {
                value: decode(get::<&str>(&r, "record")?)?,
                etag: get(&r, "etag")?,
            })
        })
        .transpose()
    }

    async fn put_alias(
        &self,
        region: &str,
        alias: &AliasRecord,
        etag: i64,
    ) -> Result<(), StoreError> {
        let done = sqlx::query(
            "UPDATE aliases SET record = $1, etag = etag + 1 \
             WHERE region = $2 AND function = $3 AND name = $4 AND etag = $5",
        )
        .bind(encode(alias)?)
        .bind(region)
        .bind(&alias.function)
        .bind(&alias.name)
        .bind(etag)
        .execute(&self.pool)
        .await
        .map_err(pg_err)?;
        if done.rows_affected() > 0 {
            return Ok(());
        }
        match self.get_alias(region, &alias.function, &alias.name).await? {
            Some(_) => Err(StoreError::Conflict),
            None => Err(StoreError::NotFound),
        }
    }

    async fn delete_alias(
        &self,
        region: &str,
        function: &str,
        name: &str,
    ) -> Result<bool, StoreError> {
        retrying(|| async {
            let mut tx = self.begin(Durability::Synced).await?;
            let done = sqlx::query(
                "DELETE FROM aliases WHERE region = $1 AND function = $2 AND name = $3",
            )
            .bind(region)
            .bind(function)
            .bind(name)
            .execute(&mut *tx)
            .await
            .map_err(pg_err)?;
            delete_qualified_settings(&mut tx, region, function, name).await?;
            tx.commit().await.map_err(pg_err)?;
            Ok(done.rows_affected() > 0)
        })
        .await
    }

    async fn list_aliases(
        &self,
        region: &str,
        function: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<AliasRecord>, StoreError> {
        let rows = sqlx::query(
            "SELECT record FROM aliases WHERE region = $1 AND function = $2 AND name > $3 \
             ORDER BY name LIMIT $4",
        )
        .bind(region)
        .bind(function)
        .bind(after.unwrap_or(""))
        .bind(as_i64(limit as u64))
        .fetch_all(&self.pool)
        .await
        .map_err(pg_err)?;
        decode_all(&rows, "record")
    }

    async fn publish_layer_version(
        &self,
        region: &str,
        layer: &LayerVersionRecord,
    ) -> Result<LayerVersionRecord, StoreError> {
        retrying(|| async {
            let mut tx = self.begin(Durability::Synced).await?;
            // The upsert locks the layer's counter row until commit: a concurrent publisher
            // waits, then counts on from this one's number.
            let last: i64 = sqlx::query_scalar(
                "INSERT INTO layers (region, name, last_version) VALUES ($1, $2, 1) \
                 ON CONFLICT (region, name) DO UPDATE SET last_version = layers.last_version + 1 \
                 RETURNING last_version",
            )
            .bind(region)
            .bind(&layer.name)
            .fetch_one(&mut *tx)
            .await
            .map_err(pg_err)?;
            let mut rec = layer.clone();
            rec.version = u64::try_from(last).map_err(|_| StoreError::Corrupt(last.to_string()))?;
            sqlx::query(
                "INSERT INTO layer_versions (region, name, version, record, code_size) \
                 VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(region)
            .bind(&rec.name)
            .bind(last)
            .bind(encode(&rec)?)
            .bind(as_i64(rec.size))
            .execute(&mut *tx)
            .await
            .map_err(pg_err)?;
            tx.commit().await.map_err(pg_err)?;
            Ok(rec)
        })
        .await
    }

    async fn get_layer_version(
        &self,
        region: &str,
        name: &str,
        version: u64,
    ) -> Result<Option<LayerVersionRecord>, StoreError> {
        let row = sqlx::query(
            "SELECT record FROM layer_versions WHERE region = $1 AND name = $2 AND version = $3",
        )
        .bind(region)
        .bind(name)
        .bind(as_i64(version))
        .fetch_optional(&self.pool)
        .await
        .map_err(pg_err)?;
        row.map(|r| decode(get::<&str>(&r, "record")?)).transpose()
    }

    async fn list_layer_versions(
        &self,
        region: &str,
        name: &str,
    ) -> Result<Vec<LayerVersionRecord>, StoreError> {
        let rows = sqlx::query(
            "SELECT record FROM layer_versions WHERE region = $1 AND name = $2 ORDER BY version DESC",
        )
        .bind(region)
        .bind(name)
        .fetch_all(&self.pool)
        .await
        .map_err(pg_err)?;
        decode_all(&rows, "record")
    }

    async fn list_all_layer_versions(
        &self,
        region: &str,
    ) -> Result<Vec<LayerVersionRecord>, StoreError> {
        let rows = sqlx::query(
            "SELECT record FROM layer_versions WHERE region = $1 ORDER BY name, version DESC",
        )
        .bind(region)
        .fetch_all(&self.pool)
        .await
        .map_err(pg_err)?;
        decode_all(&rows, "record")
    }

    async fn delete_layer_version(
        &self,
        region: &str,
        name: &str,
        version: u64,
    ) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM layer_versions WHERE region = $1 AND name = $2 AND version = $3")
            .bind(region)
            .bind(name)
            .bind(as_i64(version))
            .execute(&self.pool)
            .await
            .map_err(pg_err)?;
        Ok(())
    }

    async fn enqueue_event(&self, e: &AsyncEvent) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO async_events (id, region, function, qualifier, payload, attempts, next_attempt_ms) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(&e.id)
        .bind(&e.region)
        .bind(&e.function)
        .bind(&e.qualifier)
        .bind(&e.payload)
        .bind(i64::from(e.attempts))
        .bind(e.next_attempt_ms)
        .execute(&self.pool)
        .await
        .map_err(pg_err)?;
        Ok(())
    }

    async fn due_events(&self, now_ms: i64, limit: usize) -> Result<Vec<AsyncEvent>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, region, function, qualifier, payload, attempts, next_attempt_ms \
             FROM async_events WHERE next_attempt_ms <= $1 ORDER BY next_attempt_ms, id LIMIT $2",
        )
        .bind(now_ms)
        .bind(as_i64(limit as u64))
        .fetch_all(&self.pool)
        .await
        .map_err(pg_err)?;
        rows.iter().map(event_of).collect()
    }

    async fn claim_due_events(
        &self,
        node: &str,
        now_ms: i64,
        lease_ms: i64,
        limit: usize,
    ) -> Result<Vec<AsyncEvent>, StoreError> {
        // SKIP LOCKED: rows another node is claiming right now are left to it, not waited for.
        let rows = sqlx::query(
            "WITH due AS (SELECT id FROM async_events WHERE next_attempt_ms <= $2 \
               AND (claimed_by IS NULL OR claim_until_ms <= $2) \
               ORDER BY next_attempt_ms, id LIMIT $4 FOR UPDATE SKIP LOCKED) \
             UPDATE async_events e SET claimed_by = $1, claim_until_ms = $2 + $3 FROM due \
             WHERE e.id = due.id \
             RETURNING e.id, e.region, e.function, e.qualifier, e.payload, e.attempts, e.next_attempt_ms",
        )
        .bind(node)
        .bind(now_ms)
        .bind(lease_ms)
        .bind(as_i64(limit as u64))
        .fetch_all(&self.pool)
        .await
        .map_err(pg_err)?;
        let mut events = rows.iter().map(event_of).collect::<Result<Vec<_>, _>>()?;
        events.sort_by(|a, b| (a.next_attempt_ms, &a.id).cmp(&(b.next_attempt_ms, &b.id)));
        Ok(events)
    }

    async fn renew_event_claims(
        &self,
        node: &str,
        ids: &[String],
        until_ms: i64,
    ) -> Result<(), StoreError> {
        if ids.is_empty() {
            return Ok(());
        }
        sqlx::query(
            "UPDATE async_events SET claim_until_ms = $1 WHERE claimed_by = $2 AND id = ANY($3)",
        )
        .bind(until_ms)
        .bind(node)
        .bind(ids)
        .execute(&self.pool)
        .await
        .map_err(pg_err)?;
        Ok(())
    }

    async fn reschedule_event(
        &self,
        id: &str,
        attempts: u32,
        next_attempt_ms: i64,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE async_events SET attempts = $1, next_attempt_ms = $2, claimed_by = NULL, \
             claim_until_ms = NULL WHERE id = $3",
        )
        .bind(i64::from(attempts))
        .bind(next_attempt_ms)
        .bind(id)
        .execute(&self.pool)
        .await
        .map_err(pg_err)?;
        Ok(())
    }

    async fn delete_event(&self, id: &str) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM async_events WHERE id = $1")
            .bind(id)
            .execute(&self.pool)
            .await
            .map_err(pg_err)?;
        Ok(())
    }

    async fn code_references(&self) -> Result<CodeReferences, StoreError> {
        let rows = retrying(|| async {
            let mut tx = self.pool.begin().await.map_err(pg_err)?;
            sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
                .execute(&mut *tx)
                .await
                .map_err(pg_err)?;
            let rows = sqlx::query(
                "SELECT record::jsonb #>> '{latest,code,digest}' AS d, \
                        NULLIF((record::jsonb #> '{latest,layers}')::text, 'null') AS l FROM functions \
                 UNION ALL SELECT config::jsonb #>> '{code,digest}', \
                        NULLIF((config::jsonb -> 'layers')::text, 'null') FROM versions \
                 UNION ALL SELECT record::jsonb ->> 'digest', NULL FROM layer_versions \
                 UNION ALL SELECT digest, NULL FROM s3_objects \
                 UNION ALL SELECT digest, NULL FROM s3_parts",
            )
            .fetch_all(&mut *tx)
            .await
            .map_err(pg_err)?;
            tx.commit().await.map_err(pg_err)?;
            Ok(rows)
        })
        .await?;
        let mut out = CodeReferences::default();
        for row in rows {
            if let Some(d) = get::<Option<String>>(&row, "d")?
                && !d.is_empty()
            {
                out.digests.insert(d);
            }
            if let Some(l) = get::<Option<String>>(&row, "l")? {
                let layers: Vec<archfn_model::LayerAttachment> = decode(&l)?;
                if !layers.is_empty() {
                    let set: Vec<String> = layers.into_iter().map(|a| a.digest).collect();
                    out.digests.extend(set.iter().cloned());
                    out.layer_sets.insert(set);
                }
            }
        }
        Ok(out)
    }

    async fn references_code(&self, digest: &str) -> Result<bool, StoreError> {
        let found: bool = sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM functions WHERE \
                    record::jsonb #>> '{latest,code,digest}' = $1 \
                    OR record::jsonb #> '{latest,layers}' @> jsonb_build_array(jsonb_build_object('digest', $1::text))) \
                 OR EXISTS (SELECT 1 FROM versions WHERE \
                    config::jsonb #>> '{code,digest}' = $1 \
                    OR config::jsonb -> 'layers' @> jsonb_build_array(jsonb_build_object('digest', $1::text))) \
                 OR EXISTS (SELECT 1 FROM layer_versions WHERE record::jsonb ->> 'digest' = $1) \
                 OR EXISTS (SELECT 1 FROM s3_objects WHERE digest = $1) \
                 OR EXISTS (SELECT 1 FROM s3_parts WHERE digest = $1)",
        )
        .bind(digest)
        .fetch_one(&self.pool)
        .await
        .map_err(pg_err)?;
        Ok(found)
    }

    async fn account_usage(&self, region: &str) -> Result<AccountUsage, StoreError> {
        let row = sqlx::query(
            "SELECT (SELECT COUNT(*) FROM functions WHERE region = $1) AS n, \
                    ((SELECT COALESCE(SUM(code_size), 0) FROM functions WHERE region = $1) \
                  + (SELECT COALESCE(SUM(code_size), 0) FROM versions WHERE region = $1) \
                  + (SELECT COALESCE(SUM(code_size), 0) FROM layer_versions WHERE region = $1))::bigint AS size, \
                    (SELECT COALESCE(SUM((record::jsonb ->> 'reserved_concurrency')::bigint), 0) \
                     FROM functions WHERE region = $1)::bigint AS reserved",
        )
        .bind(region)
        .fetch_one(&self.pool)
        .await
        .map_err(pg_err)?;
        let count = |c: &str| -> Result<u64, StoreError> {
            Ok(u64::try_from(get::<i64>(&row, c)?).unwrap_or(0))
        };
        Ok(AccountUsage {
            function_count: count("n")?,
            total_code_size: count("size")?,
            reserved_concurrency: count("reserved")?,
        })
    }

    async fn add_metric_buckets(
        &self,
        buckets: &[archfn_model::metrics::MinuteBucket],
    ) -> Result<(), StoreError> {
        self.add_metrics(buckets).await
    }

    async fn metric_buckets(
        &self,
        region: &str,
        function: &str,
        from_minute: i64,
        to_minute: i64,
    ) -> Result<Vec<archfn_model::metrics::MinuteBucket>, StoreError> {
        self.read_metrics(region, function, from_minute, to_minute)
            .await
    }

    async fn prune_metric_buckets(&self, before_minute: i64) -> Result<u64, StoreError> {
        self.prune_metrics(before_minute).await
    }

    async fn create_deployment(
        &self,
        d: &archfn_model::deployment::DeploymentRecord,
    ) -> Result<(), StoreError> {
        self.insert_deployment(d).await
    }

    async fn put_deployment(
        &self,
        d: &archfn_model::deployment::DeploymentRecord,
        etag: i64,
    ) -> Result<i64, StoreError> {
        self.update_deployment(d, etag).await
    }

    async fn get_deployment(
        &self,
        id: &str,
    ) -> Result<Option<Stored<archfn_model::deployment::DeploymentRecord>>, StoreError> {
        self.read_deployment(id).await
    }

    async fn list_deployments(
        &self,
        filter: &crate::DeploymentFilter<'_>,
    ) -> Result<Vec<Stored<archfn_model::deployment::DeploymentRecord>>, StoreError> {
        self.find_deployments(filter).await
    }

    async fn get_setting(&self, key: &SettingKey) -> Result<Option<SettingRow>, StoreError> {
        self.read_setting(key).await
    }

    async fn put_setting(
        &self,
        key: &SettingKey,
        document: &str,
        lookup: Option<&str>,
        write: SettingWrite,
    ) -> Result<i64, StoreError> {
        self.write_setting(key, document, lookup, write).await
    }

    async fn delete_setting(
        &self,
        key: &SettingKey,
        etag: Option<i64>,
    ) -> Result<bool, StoreError> {
        self.remove_setting(key, etag).await
    }

    async fn list_settings(
        &self,
        region: &str,
        kind: SettingKind,
        owner: Option<&str>,
    ) -> Result<Vec<SettingRow>, StoreError> {
        self.find_settings(region, kind, owner).await
    }

    async fn find_setting(
        &self,
        kind: SettingKind,
        lookup: &str,
    ) -> Result<Option<SettingRow>, StoreError> {
        self.find_setting_by_lookup(kind, lookup).await
    }

    async fn list_settings_everywhere(
        &self,
        kind: SettingKind,
    ) -> Result<Vec<SettingRow>, StoreError> {
        self.find_settings_of_kind(kind).await
    }
}
