//! Invocation metrics in PostgreSQL: one row per series and minute (`invocation_metrics`).
//! Several nodes add to the same rows: each bucket is merged under the row's lock.

use std::collections::BTreeMap;

use archfn_model::Architecture;
use archfn_model::metrics::{Execution, Histogram, MinuteBucket, MinuteStats, SeriesKey};
use sqlx::postgres::PgRow;

use super::{PgStore, as_i64, get, pg_err, retrying};
use crate::{Durability, StoreError};

fn uncount(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}

fn corrupt(e: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(format!("invocation_metrics: {e}"))
}

fn stats_of(row: &PgRow) -> Result<MinuteStats, StoreError> {
    let errors: BTreeMap<String, u64> =
        serde_json::from_str(get::<&str>(row, "errors")?).map_err(corrupt)?;
    Ok(MinuteStats {
        invocations: uncount(get(row, "invocations")?),
        errors,
        throttles: uncount(get(row, "throttles")?),
        cold_starts: uncount(get(row, "cold_starts")?),
        duration_us: Histogram::decode(get::<&[u8]>(row, "duration")?).map_err(corrupt)?,
        init_duration_us: Histogram::decode(get::<&[u8]>(row, "init_duration")?)
            .map_err(corrupt)?,
        billed_ms: uncount(get(row, "billed_ms")?),
        max_memory_mb: uncount(get(row, "max_memory_mb")?),
    })
}

const KEY: &str = "region = $1 AND function = $2 AND minute = $3 AND version = $4 AND alias = $5 \
                   AND arch = $6 AND execution = $7";

impl PgStore {
    async fn add_metrics_once(&self, buckets: &[MinuteBucket]) -> Result<(), StoreError> {
        let mut tx = self.begin(Durability::Synced).await?;
        for b in buckets {
            let k = &b.key;
            let alias = k.alias.as_deref().unwrap_or("");
            let empty = MinuteStats::default();
            // The row exists (empty if new) and is locked: concurrent adders take turns.
            sqlx::query(
                "INSERT INTO invocation_metrics (region, function, minute, version, alias, arch, \
                 execution, invocations, throttles, cold_starts, errors, billed_ms, max_memory_mb, \
                 duration, init_duration) VALUES ($1, $2, $3, $4, $5, $6, $7, 0, 0, 0, '{}', 0, 0, $8, $9) \
                 ON CONFLICT DO NOTHING",
            )
            .bind(&k.region)
            .bind(&k.function)
            .bind(b.minute)
            .bind(&k.version)
            .bind(alias)
            .bind(k.arch.as_str())
            .bind(k.execution.as_str())
            .bind(empty.duration_us.encode())
            .bind(empty.init_duration_us.encode())
            .execute(&mut *tx)
            .await
            .map_err(pg_err)?;
            let row = sqlx::query(sqlx::AssertSqlSafe(format!(
                "SELECT invocations, throttles, cold_starts, errors, billed_ms, max_memory_mb, \
                 duration, init_duration FROM invocation_metrics WHERE {KEY} FOR UPDATE"
            )))
            .bind(&k.region)
            .bind(&k.function)
            .bind(b.minute)
            .bind(&k.version)
            .bind(alias)
            .bind(k.arch.as_str())
            .bind(k.execution.as_str())
            .fetch_one(&mut *tx)
            .await
            .map_err(pg_err)?;
            let mut stats = stats_of(&row)?;
            stats.merge(&b.stats);
            let errors = serde_json::to_string(&stats.errors).map_err(corrupt)?;
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "UPDATE invocation_metrics SET invocations = $8, throttles = $9, cold_starts = $10, \
                 errors = $11, billed_ms = $12, max_memory_mb = $13, duration = $14, \
                 init_duration = $15 WHERE {KEY}"
            )))
            .bind(&k.region)
            .bind(&k.function)
            .bind(b.minute)
            .bind(&k.version)
            .bind(alias)
            .bind(k.arch.as_str())
            .bind(k.execution.as_str())
            .bind(as_i64(stats.invocations))
            .bind(as_i64(stats.throttles))
            .bind(as_i64(stats.cold_starts))
            .bind(errors)
            .bind(as_i64(stats.billed_ms))
            .bind(as_i64(stats.max_memory_mb))
            .bind(stats.duration_us.encode())
            .bind(stats.init_duration_us.encode())
            .execute(&mut *tx)
            .await
            .map_err(pg_err)?;
        }
        tx.commit().await.map_err(pg_err)?;
        Ok(())
    }

    pub(super) async fn add_metrics(&self, buckets: &[MinuteBucket]) -> Result<(), StoreError> {
        if buckets.is_empty() {
            return Ok(());
        }
        retrying(|| self.add_metrics_once(buckets)).await
    }

    pub(super) async fn read_metrics(
        &self,
        region: &str,
        function: &str,
        from_minute: i64,
        to_minute: i64,
    ) -> Result<Vec<MinuteBucket>, StoreError> {
        let rows = sqlx::query(
            "SELECT minute, version, alias, arch, execution, invocations, throttles, cold_starts, \
             errors, billed_ms, max_memory_mb, duration, init_duration FROM invocation_metrics \
             WHERE region = $1 AND function = $2 AND minute >= $3 AND minute <= $4 \
             ORDER BY minute, version, alias, arch, execution",
        )
        .bind(region)
        .bind(function)
        .bind(from_minute)
        .bind(to_minute)
        .fetch_all(&self.pool)
        .await
        .map_err(pg_err)?;
        rows.iter()
            .map(|row| {
                let arch: &str = get(row, "arch")?;
                let execution: &str = get(row, "execution")?;
                let alias: String = get(row, "alias")?;
                Ok(MinuteBucket {
                    key: SeriesKey {
                        region: region.to_string(),
                        function: function.to_string(),
                        version: get(row, "version")?,
                        alias: Some(alias).filter(|a| !a.is_empty()),
                        arch: Architecture::parse(arch)
                            .ok_or_else(|| corrupt(format!("architecture {arch:?}")))?,
                        execution: Execution::parse(execution)
                            .ok_or_else(|| corrupt(format!("execution {execution:?}")))?,
                    },
                    minute: get(row, "minute")?,
                    stats: stats_of(row)?,
                })
            })
            .collect()
    }

    pub(super) async fn prune_metrics(&self, before_minute: i64) -> Result<u64, StoreError> {
        let done = sqlx::query("DELETE FROM invocation_metrics WHERE minute < $1")
            .bind(before_minute)
            .execute(&self.pool)
            .await
            .map_err(pg_err)?;
        Ok(done.rows_affected())
    }
}
