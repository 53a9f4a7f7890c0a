//! The SQLite backend: WAL journal, `synchronous=FULL` (a commit is fsync'd before it returns).

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use archfn_model::{AliasRecord, FunctionConfig, FunctionRecord, LayerVersionRecord};
use async_trait::async_trait;
use serde::Serialize;
use serde::de::DeserializeOwned;
use sqlx::Row;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};

use sqlx::pool::PoolConnection;
use sqlx::{Acquire, Sqlite};

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

/// Metadata in one SQLite database file.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    /// Readers: WAL lets them run beside the writer.
    pool: SqlitePool,
    /// The one writer connection: writers queue here, in process, instead of spinning in
    /// SQLite's busy handler.
    write: SqlitePool,
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        match &e {
            sqlx::Error::Database(d) if d.is_unique_violation() => StoreError::AlreadyExists,
            _ => StoreError::Database(e.to_string()),
        }
    }
}

fn encode<T: Serialize>(v: &T) -> Result<String, StoreError> {
    serde_json::to_string(v).map_err(|e| StoreError::Corrupt(e.to_string()))
}

fn decode<T: DeserializeOwned>(s: &str) -> Result<T, StoreError> {
    serde_json::from_str(s).map_err(|e| StoreError::Corrupt(e.to_string()))
}

fn decode_all<T: DeserializeOwned>(
    rows: &[sqlx::sqlite::SqliteRow],
    col: &str,
) -> Result<Vec<T>, StoreError> {
    rows.iter()
        .map(|r| decode(r.try_get::<&str, _>(col)?))
        .collect()
}

/// Decodes a row whose `records` column is a JSON array built by `group_concat` (one row per
/// page instead of one per record: rows cross a thread boundary one by one in sqlx).
fn decode_array<T: DeserializeOwned>(row: &sqlx::sqlite::SqliteRow) -> Result<Vec<T>, StoreError> {
    match row.try_get::<Option<&str>, _>("records")? {
        Some(text) => decode(text),
        None => Ok(Vec::new()),
    }
}

/// An `async_events` row.
fn event_of(r: &sqlx::sqlite::SqliteRow) -> Result<AsyncEvent, StoreError> {
    Ok(AsyncEvent {
        id: r.try_get("id")?,
        region: r.try_get("region")?,
        function: r.try_get("function")?,
        qualifier: r.try_get("qualifier")?,
        payload: r.try_get("payload")?,
        attempts: u32::try_from(r.try_get::<i64, _>("attempts")?).unwrap_or(u32::MAX),
        next_attempt_ms: r.try_get("next_attempt_ms")?,
    })
}

fn as_i64(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

impl SqliteStore {
    /// The writer connection, set to fsync (`FULL`) or not (`NORMAL`) on commit. In WAL mode a
    /// later `FULL` commit makes every earlier frame durable too, so deferred writes are never
    /// reordered after synced ones.
    async fn writer(&self, durability: Durability) -> Result<PoolConnection<Sqlite>, StoreError> {
        let mut conn = self.write.acquire().await?;
        if durability == Durability::Deferred {
            sqlx::query("PRAGMA synchronous = NORMAL")
                .execute(&mut *conn)
                .await?;
        }
        Ok(conn)
    }

    /// Returns the writer connection with `synchronous = FULL` restored; a connection that
    /// cannot be restored is closed rather than reused.
    async fn release(&self, mut conn: PoolConnection<Sqlite>, durability: Durability) {
        if durability == Durability::Deferred
            && sqlx::query("PRAGMA synchronous = FULL")
                .execute(&mut *conn)
                .await
                .is_err()
        {
            drop(conn.detach());
        }
    }

    /// Opens (creating and migrating) the database at `path`.
    pub async fn open(path: &Path) -> Result<SqliteStore, StoreError> {
        let opts = SqliteConnectOptions::from_str("sqlite://")?
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(Duration::from_secs(10))
            .foreign_keys(true);
        let write = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(opts.clone())
            .await?;
        sqlx::migrate!("./migrations/sqlite")
            .run(&write)
            .await
            .map_err(|e| StoreError::Database(e.to_string()))?;
        // One process uses a SQLite database: claims on events are an earlier run's, whose
        // attempts ended with it.
        sqlx::query("UPDATE async_events SET claimed_by = NULL, claim_until_ms = NULL WHERE claimed_by IS NOT NULL")
            .execute(&write)
            .await?;
        let pool = SqlitePoolOptions::new()
            .max_connections(8)
            .connect_with(opts)
            .await?;
        Ok(SqliteStore { pool, write })
    }
}

#[async_trait]
impl MetadataStore for SqliteStore {
    async fn create_function(&self, region: &str, rec: &FunctionRecord) -> Result<i64, StoreError> {
        sqlx::query(
            "INSERT INTO functions (region, name, record, code_size, etag) VALUES (?, ?, ?, ?, 1)",
        )
        .bind(region)
        .bind(&rec.latest.name)
        .bind(encode(rec)?)
        .bind(as_i64(rec.latest.code.size))
        .execute(&self.write)
        .await?;
        Ok(1)
    }

    async fn get_function(
        &self,
        region: &str,
        name: &str,
    ) -> Result<Option<Stored<FunctionRecord>>, StoreError> {
        let row = sqlx::query("SELECT record, etag FROM functions WHERE region = ? AND name = ?")
            .bind(region)
            .bind(name)
            .fetch_optional(&self.pool)
            .await?;
        row.map(|r| {
            Ok(Stored {
                value: decode(r.try_get::<&str, _>("record")?)?,
                etag: r.try_get("etag")?,
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
        let mut conn = self.writer(durability).await?;
        let result = async {
            let mut tx = conn.begin().await?;
            update_function(&mut tx, region, rec, etag).await?;
            tx.commit().await.map_err(StoreError::from)
        }
        .await;
        self.release(conn, durability).await;
        result.map(|()| etag + 1)
    }

    async fn delete_function(&self, region: &str, name: &str) -> Result<bool, StoreError> {
        let mut tx = self.write.begin().await?;
        let n = sqlx::query("DELETE FROM functions WHERE region = ? AND name = ?")
            .bind(region)
            .bind(name)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        for sql in [
            "DELETE FROM versions WHERE region = ? AND function = ?",
            "DELETE FROM aliases WHERE region = ? AND function = ?",
            "DELETE FROM settings WHERE region = ? AND owner = ? AND of_function = 1",
        ] {
            sqlx::query(sql)
                .bind(region)
                .bind(name)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(n > 0)
    }

    async fn list_functions(
        &self,
        region: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<FunctionRecord>, StoreError> {
        let row = sqlx::query(
            "SELECT '[' || group_concat(record, ',' ORDER BY name) || ']' AS records FROM \
             (SELECT name, record FROM functions WHERE region = ? AND name > ? ORDER BY name LIMIT ?)",
        )
        .bind(region)
        .bind(after.unwrap_or(""))
        .bind(as_i64(limit as u64))
        .fetch_one(&self.pool)
        .await?;
        decode_array(&row)
    }

    async fn pending_preparations(&self) -> Result<Vec<(String, FunctionConfig)>, StoreError> {
        let mut out = Vec::new();
        let rows = sqlx::query(
            "SELECT region, record FROM functions WHERE json_extract(record, '$.latest.state') = 'Pending' \
             OR json_extract(record, '$.latest.last_update_status') = 'InProgress'",
        )
        .fetch_all(&self.pool)
        .await?;
        for r in rows {
            let rec: FunctionRecord = decode(r.try_get::<&str, _>("record")?)?;
            out.push((r.try_get("region")?, rec.latest));
        }
        let rows = sqlx::query(
            "SELECT region, config FROM versions WHERE json_extract(config, '$.state') = 'Pending'",
        )
        .fetch_all(&self.pool)
        .await?;
        for r in rows {
            out.push((
                r.try_get("region")?,
                decode(r.try_get::<&str, _>("config")?)?,
            ));
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
        let mut tx = self.write.begin().await?;
        update_function(&mut tx, region, rec, etag).await?;
        sqlx::query("INSERT INTO versions (region, function, version, config, code_size) VALUES (?, ?, ?, ?, ?)")
            .bind(region)
            .bind(&version.name)
            .bind(as_i64(n))
            .bind(encode(version)?)
            .bind(as_i64(version.code.size))
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(etag + 1)
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
        let mut conn = self.writer(durability).await?;
        let done = sqlx::query(
            "UPDATE versions SET config = ? WHERE region = ? AND function = ? AND version = ?",
        )
        .bind(encode(version)?)
        .bind(region)
        .bind(&version.name)
        .bind(as_i64(n))
        .execute(&mut *conn)
        .await;
        self.release(conn, durability).await;
        if done?.rows_affected() == 0 {
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
            "SELECT config FROM versions WHERE region = ? AND function = ? AND version = ?",
        )
        .bind(region)
        .bind(function)
        .bind(as_i64(n))
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| decode(r.try_get::<&str, _>("config")?))
            .transpose()
    }

    async fn list_versions(
        &self,
        region: &str,
        function: &str,
        after: Option<u64>,
        limit: usize,
    ) -> Result<Vec<FunctionConfig>, StoreError> {
        let row = sqlx::query(
            "SELECT '[' || group_concat(config, ',' ORDER BY version) || ']' AS records FROM \
             (SELECT version, config FROM versions WHERE region = ? AND function = ? AND version > ? ORDER BY version LIMIT ?)",
        )
        .bind(region)
        .bind(function)
        .bind(as_i64(after.unwrap_or(0)))
        .bind(as_i64(limit as u64))
        .fetch_one(&self.pool)
        .await?;
        decode_array(&row)
    }

    async fn delete_version(
        &self,
        region: &str,
        function: &str,
        n: u64,
    ) -> Result<bool, StoreError> {
        let mut tx = self.write.begin().await?;
        let done =
            sqlx::query("DELETE FROM versions WHERE region = ? AND function = ? AND version = ?")
                .bind(region)
                .bind(function)
                .bind(as_i64(n))
                .execute(&mut *tx)
                .await?;
        delete_qualified_settings(&mut tx, region, function, &n.to_string()).await?;
        tx.commit().await?;
        Ok(done.rows_affected() > 0)
    }

    async fn create_alias(&self, region: &str, alias: &AliasRecord) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO aliases (region, function, name, record, etag) VALUES (?, ?, ?, ?, 1)",
        )
        .bind(region)
        .bind(&alias.function)
        .bind(&alias.name)
        .bind(encode(alias)?)
        .execute(&self.write)
        .await?;
        Ok(())
    }

    async fn get_alias(
        &self,
        region: &str,
        function: &str,
        name: &str,
    ) -> Result<Option<Stored<AliasRecord>>, StoreError> {
        let row = sqlx::query(
            "SELECT record, etag FROM aliases WHERE region = ? AND function = ? AND name = ?",
        )
        .bind(region)
        .bind(function)
        .bind(name)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| {
            Ok(Stored {
                value: decode(r.try_get::<&str, _>("record")?)?,
                etag: r.try_get("etag")?,
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
            "UPDATE aliases SET record = ?, etag = etag + 1 WHERE region = ? AND function = ? AND name = ? AND etag = ?",
        )
        .bind(encode(alias)?)
        .bind(region)
        .bind(&alias.function)
        .bind(&alias.name)
        .bind(etag)
        .execute(&self.write)
        .await?;
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
        let mut tx = self.write.begin().await?;
        let done =
            sqlx::query("DELETE FROM aliases WHERE region = ? AND function = ? AND name = ?")
                .bind(region)
                .bind(function)
                .bind(name)
                .execute(&mut *tx)
                .await?;
        delete_qualified_settings(&mut tx, region, function, name).await?;
        tx.commit().await?;
        Ok(done.rows_affected() > 0)
    }

    async fn list_aliases(
        &self,
        region: &str,
        function: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<AliasRecord>, StoreError> {
        let rows = sqlx::query(
            "SELECT record FROM aliases WHERE region = ? AND function = ? AND name > ? ORDER BY name LIMIT ?",
        )
        .bind(region)
        .bind(function)
        .bind(after.unwrap_or(""))
        .bind(as_i64(limit as u64))
        .fetch_all(&self.pool)
        .await?;
        decode_all(&rows, "record")
    }

    async fn publish_layer_version(
        &self,
        region: &str,
        layer: &LayerVersionRecord,
    ) -> Result<LayerVersionRecord, StoreError> {
        let mut tx = self.write.begin().await?;
        let last: i64 = sqlx::query(
            "INSERT INTO layers (region, name, last_version) VALUES (?, ?, 1) \
             ON CONFLICT (region, name) DO UPDATE SET last_version = last_version + 1 RETURNING last_version",
        )
        .bind(region)
        .bind(&layer.name)
        .fetch_one(&mut *tx)
        .await?
        .try_get("last_version")?;
        let mut rec = layer.clone();
        rec.version = u64::try_from(last).map_err(|_| StoreError::Corrupt(last.to_string()))?;
        sqlx::query("INSERT INTO layer_versions (region, name, version, record, code_size) VALUES (?, ?, ?, ?, ?)")
            .bind(region)
            .bind(&rec.name)
            .bind(last)
            .bind(encode(&rec)?)
            .bind(as_i64(rec.size))
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(rec)
    }

    async fn get_layer_version(
        &self,
        region: &str,
        name: &str,
        version: u64,
    ) -> Result<Option<LayerVersionRecord>, StoreError> {
        let row = sqlx::query(
            "SELECT record FROM layer_versions WHERE region = ? AND name = ? AND version = ?",
        )
        .bind(region)
        .bind(name)
        .bind(as_i64(version))
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| decode(r.try_get::<&str, _>("record")?))
            .transpose()
    }

    async fn list_layer_versions(
        &self,
        region: &str,
        name: &str,
    ) -> Result<Vec<LayerVersionRecord>, StoreError> {
        let rows = sqlx::query(
            "SELECT record FROM layer_versions WHERE region = ? AND name = ? ORDER BY version DESC",
        )
        .bind(region)
        .bind(name)
        .fetch_all(&self.pool)
        .await?;
        decode_all(&rows, "record")
    }

    async fn list_all_layer_versions(
        &self,
        region: &str,
    ) -> Result<Vec<LayerVersionRecord>, StoreError> {
        let rows = sqlx::query(
            "SELECT record FROM layer_versions WHERE region = ? ORDER BY name, version DESC",
        )
        .bind(region)
        .fetch_all(&self.pool)
        .await?;
        decode_all(&rows, "record")
    }

    async fn delete_layer_version(
        &self,
        region: &str,
        name: &str,
        version: u64,
    ) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM layer_versions WHERE region = ? AND name = ? AND version = ?")
            .bind(region)
            .bind(name)
            .bind(as_i64(version))
            .execute(&self.write)
            .await?;
        Ok(())
    }

    async fn enqueue_event(&self, e: &AsyncEvent) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO async_events (id, region, function, qualifier, payload, attempts, next_attempt_ms) \
             VALUES (?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(&e.id)
        .bind(&e.region)
        .bind(&e.function)
        .bind(&e.qualifier)
        .bind(&e.payload)
        .bind(i64::from(e.attempts))
        .bind(e.next_attempt_ms)
        .execute(&self.write)
        .await?;
        Ok(())
    }

    async fn due_events(&self, now_ms: i64, limit: usize) -> Result<Vec<AsyncEvent>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, region, function, qualifier, payload, attempts, next_attempt_ms FROM async_events \
             WHERE next_attempt_ms <= ? ORDER BY next_attempt_ms LIMIT ?",
        )
        .bind(now_ms)
        .bind(as_i64(limit as u64))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(event_of).collect()
    }

    async fn claim_due_events(
        &self,
        node: &str,
        now_ms: i64,
        lease_ms: i64,
        limit: usize,
    ) -> Result<Vec<AsyncEvent>, StoreError> {
        // Every node polls often: a read (beside the writer) says first whether anything is
        // claimable, so an empty queue never takes the one writer from the writes waiting for it.
        let claimable = sqlx::query(
            "SELECT 1 FROM async_events WHERE next_attempt_ms <= ?1 \
             AND (claimed_by IS NULL OR claim_until_ms <= ?1) LIMIT 1",
        )
        .bind(now_ms)
        .fetch_optional(&self.pool)
        .await?;
        if claimable.is_none() {
            return Ok(Vec::new());
        }
        // One statement through the one writer: the choice and the claim are atomic.
        let rows = sqlx::query(
            "UPDATE async_events SET claimed_by = ?1, claim_until_ms = ?2 + ?3 WHERE id IN \
             (SELECT id FROM async_events WHERE next_attempt_ms <= ?2 \
              AND (claimed_by IS NULL OR claim_until_ms <= ?2) ORDER BY next_attempt_ms LIMIT ?4) \
             RETURNING id, region, function, qualifier, payload, attempts, next_attempt_ms",
        )
        .bind(node)
        .bind(now_ms)
        .bind(lease_ms)
        .bind(as_i64(limit as u64))
        .fetch_all(&self.write)
        .await?;
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
        let mut q = sqlx::QueryBuilder::<Sqlite>::new("UPDATE async_events SET claim_until_ms = ");
        q.push_bind(until_ms)
            .push(" WHERE claimed_by = ")
            .push_bind(node.to_string())
            .push(" AND id IN (");
        let mut list = q.separated(", ");
        for id in ids {
            list.push_bind(id.clone());
        }
        q.push(")");
        q.build().execute(&self.write).await?;
        Ok(())
    }

    async fn reschedule_event(
        &self,
        id: &str,
        attempts: u32,
        next_attempt_ms: i64,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE async_events SET attempts = ?, next_attempt_ms = ?, claimed_by = NULL, \
             claim_until_ms = NULL WHERE id = ?",
        )
        .bind(i64::from(attempts))
        .bind(next_attempt_ms)
        .bind(id)
        .execute(&self.write)
        .await?;
        Ok(())
    }

    async fn delete_event(&self, id: &str) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM async_events WHERE id = ?")
            .bind(id)
            .execute(&self.write)
            .await?;
        Ok(())
    }

    async fn code_references(&self) -> Result<CodeReferences, StoreError> {
        // One statement, so one snapshot of every table that names blobs (S3's objects and parts too).
        let rows = sqlx::query(
            "SELECT json_extract(record, '$.latest.code.digest') AS d, \
                    json_extract(record, '$.latest.layers') AS l FROM functions \
             UNION ALL SELECT json_extract(config, '$.code.digest'), \
                    json_extract(config, '$.layers') FROM versions \
             UNION ALL SELECT json_extract(record, '$.digest'), NULL FROM layer_versions \
             UNION ALL SELECT digest, NULL FROM s3_objects \
             UNION ALL SELECT digest, NULL FROM s3_parts",
        )
        .fetch_all(&self.pool)
        .await?;
        let mut out = CodeReferences::default();
        for row in rows {
            if let Some(d) = row.try_get::<Option<String>, _>("d")?
                && !d.is_empty()
            {
                out.digests.insert(d);
            }
            if let Some(l) = row.try_get::<Option<String>, _>("l")? {
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
        let row = sqlx::query(
            "SELECT EXISTS (SELECT 1 FROM functions WHERE \
                    json_extract(record, '$.latest.code.digest') = ?1 \
                    OR EXISTS (SELECT 1 FROM json_each(functions.record, '$.latest.layers') \
                               WHERE json_extract(value, '$.digest') = ?1)) \
                 OR EXISTS (SELECT 1 FROM versions WHERE \
                    json_extract(config, '$.code.digest') = ?1 \
                    OR EXISTS (SELECT 1 FROM json_each(versions.config, '$.layers') \
                               WHERE json_extract(value, '$.digest') = ?1)) \
                 OR EXISTS (SELECT 1 FROM layer_versions WHERE json_extract(record, '$.digest') = ?1) \
                 OR EXISTS (SELECT 1 FROM s3_objects WHERE digest = ?1) \
                 OR EXISTS (SELECT 1 FROM s3_parts WHERE digest = ?1) \
             AS found",
        )
        .bind(digest)
        .fetch_one(&self.pool)
        .await?;
        Ok(row.try_get::<bool, _>("found")?)
    }

    async fn account_usage(&self, region: &str) -> Result<AccountUsage, StoreError> {
        let row = sqlx::query(
            "SELECT (SELECT COUNT(*) FROM functions WHERE region = ?1) AS n, \
                    (SELECT COALESCE(SUM(code_size), 0) FROM functions WHERE region = ?1) \
                  + (SELECT COALESCE(SUM(code_size), 0) FROM versions WHERE region = ?1) \
                  + (SELECT COALESCE(SUM(code_size), 0) FROM layer_versions WHERE region = ?1) AS size, \
                    (SELECT COALESCE(SUM(json_extract(record, '$.reserved_concurrency')), 0) FROM functions WHERE region = ?1) AS reserved",
        )
        .bind(region)
        .fetch_one(&self.pool)
        .await?;
        let get = |c: &str| -> Result<u64, StoreError> {
            Ok(u64::try_from(row.try_get::<i64, _>(c)?).unwrap_or(0))
        };
        Ok(AccountUsage {
            function_count: get("n")?,
            total_code_size: get("size")?,
            reserved_concurrency: get("reserved")?,
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

/// Deletes the function-scoped settings of one version or alias of a function.
async fn delete_qualified_settings(
    tx: &mut sqlx::Transaction<'_, sqlx::Sqlite>,
    region: &str,
    function: &str,
    qualifier: &str,
) -> Result<(), StoreError> {
    sqlx::query(
        "DELETE FROM settings WHERE region = ? AND owner = ? AND qualifier = ? AND of_function = 1",
    )
    .bind(region)
    .bind(function)
    .bind(qualifier)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

async fn update_function(
    tx: &mut sqlx::Transaction<'_, sqlx::Sqlite>,
    region: &str,
    rec: &FunctionRecord,
    etag: i64,
) -> Result<(), StoreError> {
    let done = sqlx::query(
        "UPDATE functions SET record = ?, code_size = ?, etag = etag + 1 WHERE region = ? AND name = ? AND etag = ?",
    )
    .bind(encode(rec)?)
    .bind(as_i64(rec.latest.code.size))
    .bind(region)
    .bind(&rec.latest.name)
    .bind(etag)
    .execute(&mut **tx)
    .await?;
    if done.rows_affected() > 0 {
        return Ok(());
    }
    let exists = sqlx::query("SELECT 1 FROM functions WHERE region = ? AND name = ?")
        .bind(region)
        .bind(&rec.latest.name)
        .fetch_optional(&mut **tx)
        .await?;
    Err(if exists.is_some() {
        StoreError::Conflict
    } else {
        StoreError::NotFound
    })
}
