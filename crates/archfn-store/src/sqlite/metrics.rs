//! Invocation metrics in SQLite: one row per series and minute (`invocation_metrics`).

use std::collections::BTreeMap;

use archfn_model::Architecture;
use archfn_model::metrics::{Execution, Histogram, MinuteBucket, MinuteStats, SeriesKey};
use sqlx::Row;

use super::{SqliteStore, as_i64};
use crate::StoreError;

fn count(n: u64) -> i64 {
    as_i64(n)
}

fn uncount(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}

fn corrupt(e: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(format!("invocation_metrics: {e}"))
}

/// The figures of a row (every column after the key).
fn stats_of(row: &sqlx::sqlite::SqliteRow) -> Result<MinuteStats, StoreError> {
    let errors: BTreeMap<String, u64> =
        serde_json::from_str(row.try_get::<&str, _>("errors")?).map_err(corrupt)?;
    Ok(MinuteStats {
        invocations: uncount(row.try_get("invocations")?),
        errors,
        throttles: uncount(row.try_get("throttles")?),
        cold_starts: uncount(row.try_get("cold_starts")?),
        duration_us: Histogram::decode(row.try_get::<&[u8], _>("duration")?).map_err(corrupt)?,
        init_duration_us: Histogram::decode(row.try_get::<&[u8], _>("init_duration")?)
            .map_err(corrupt)?,
        billed_ms: uncount(row.try_get("billed_ms")?),
        max_memory_mb: uncount(row.try_get("max_memory_mb")?),
    })
}

/// The figures' columns (every column after the key), in the order they are bound.
macro_rules! stats_columns {
    () => {
        "invocations, throttles, cold_starts, errors, billed_ms, max_memory_mb, duration, init_duration"
    };
}

impl SqliteStore {
    pub(super) async fn add_metrics(&self, buckets: &[MinuteBucket]) -> Result<(), StoreError> {
        if buckets.is_empty() {
            return Ok(());
        }
        let mut tx = self.write.begin().await?;
        for b in buckets {
            let k = &b.key;
            let alias = k.alias.as_deref().unwrap_or("");
            let existing = sqlx::query(concat!(
                "SELECT ",
                stats_columns!(),
                " FROM invocation_metrics WHERE region = ? AND function = ? \
                 AND minute = ? AND version = ? AND alias = ? AND arch = ? AND execution = ?"
            ))
            .bind(&k.region)
            .bind(&k.function)
            .bind(b.minute)
            .bind(&k.version)
            .bind(alias)
            .bind(k.arch.as_str())
            .bind(k.execution.as_str())
            .fetch_optional(&mut *tx)
            .await?;
            let stats = match existing {
                Some(row) => {
                    let mut s = stats_of(&row)?;
                    s.merge(&b.stats);
                    s
                }
                None => b.stats.clone(),
            };
            let errors = serde_json::to_string(&stats.errors).map_err(corrupt)?;
            sqlx::query(concat!(
                "INSERT OR REPLACE INTO invocation_metrics (region, function, minute, version, alias, \
                 arch, execution, ",
                stats_columns!(),
                ") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
            ))
            .bind(&k.region)
            .bind(&k.function)
            .bind(b.minute)
            .bind(&k.version)
            .bind(alias)
            .bind(k.arch.as_str())
            .bind(k.execution.as_str())
            .bind(count(stats.invocations))
            .bind(count(stats.throttles))
            .bind(count(stats.cold_starts))
            .bind(errors)
            .bind(count(stats.billed_ms))
            .bind(count(stats.max_memory_mb))
            .bind(stats.duration_us.encode())
            .bind(stats.init_duration_us.encode())
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    pub(super) async fn read_metrics(
        &self,
        region: &str,
        function: &str,
        from_minute: i64,
        to_minute: i64,
    ) -> Result<Vec<MinuteBucket>, StoreError> {
        let rows = sqlx::query(concat!(
            "SELECT minute, version, alias, arch, execution, ",
            stats_columns!(),
            " FROM invocation_metrics \
             WHERE region = ? AND function = ? AND minute >= ? AND minute <= ? ORDER BY minute"
        ))
        .bind(region)
        .bind(function)
        .bind(from_minute)
        .bind(to_minute)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                let arch: &str = row.try_get("arch")?;
                let execution: &str = row.try_get("execution")?;
                let alias: String = row.try_get("alias")?;
                Ok(MinuteBucket {
                    key: SeriesKey {
                        region: region.to_string(),
                        function: function.to_string(),
                        version: row.try_get("version")?,
                        alias: Some(alias).filter(|a| !a.is_empty()),
                        arch: Architecture::parse(arch)
                            .ok_or_else(|| corrupt(format!("architecture {arch:?}")))?,
                        execution: Execution::parse(execution)
                            .ok_or_else(|| corrupt(format!("execution {execution:?}")))?,
                    },
                    minute: row.try_get("minute")?,
                    stats: stats_of(row)?,
                })
            })
            .collect()
    }

    pub(super) async fn prune_metrics(&self, before_minute: i64) -> Result<u64, StoreError> {
        let done = sqlx::query("DELETE FROM invocation_metrics WHERE minute < ?")
            .bind(before_minute)
            .execute(&self.write)
            .await?;
        Ok(done.rows_affected())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::MetadataStore;

    fn key(version: &str, alias: Option<&str>, arch: Architecture) -> SeriesKey {
        SeriesKey {
            region: "us-east-1".into(),
            function: "f".into(),
            version: version.into(),
            alias: alias.map(str::to_string),
            arch,
            execution: match arch {
                Architecture::X86_64 => Execution::Native,
                Architecture::Arm64 => Execution::Emulated,
            },
        }
    }

    fn stats(invocations: u64, durations_us: &[u64], error: Option<&str>) -> MinuteStats {
        let mut s = MinuteStats {
            invocations,
            cold_starts: 1,
            billed_ms: 7,
            max_memory_mb: 30 + invocations,
            ..MinuteStats::default()
        };
        for d in durations_us {
            s.duration_us.record(*d);
        }
        s.init_duration_us.record(150_000);
        if let Some(e) = error {
            s.errors.insert(e.into(), 1);
        }
        s
    }

    async fn open(name: &str) -> Result<(SqliteStore, std::path::PathBuf), StoreError> {
        let dir =
            std::env::temp_dir().join(format!("archfn-metrics-test-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).map_err(|e| StoreError::Database(e.to_string()))?;
        Ok((SqliteStore::open(&dir.join("db.sqlite")).await?, dir))
    }

    #[tokio::test]
    async fn buckets_round_trip_merge_and_survive_reopening() -> Result<(), StoreError> {
        let (store, dir) = open("roundtrip").await?;
        let a = MinuteBucket {
            key: key("1", Some("live"), Architecture::Arm64),
            minute: 100,
            stats: stats(2, &[1_000, 2_000], Some("ValueError")),
        };
        let b = MinuteBucket {
            key: key("$LATEST", None, Architecture::X86_64),
            minute: 101,
            stats: stats(1, &[500], None),
        };
        store.add_metric_buckets(&[a.clone(), b.clone()]).await?;
        assert_eq!(
            store.metric_buckets("us-east-1", "f", 0, 1000).await?,
            vec![a.clone(), b.clone()]
        );
        // The same series and minute again (a partial minute flushed at shutdown, then the
        // rest after a restart): added, not replaced.
        store.add_metric_buckets(std::slice::from_ref(&a)).await?;
        drop(store);
        let store = SqliteStore::open(&dir.join("db.sqlite")).await?;
        let read = store.metric_buckets("us-east-1", "f", 100, 100).await?;
        let mut doubled = a.stats.clone();
        doubled.merge(&a.stats);
        assert_eq!(read.len(), 1);
        assert_eq!(read[0].key, a.key);
        assert_eq!(read[0].stats, doubled);
        assert_eq!(read[0].stats.errors.get("ValueError"), Some(&2));
        assert!(
            store
                .metric_buckets("us-east-1", "g", 0, 1000)
                .await?
                .is_empty()
        );
        assert!(
            store
                .metric_buckets("eu-west-1", "f", 0, 1000)
                .await?
                .is_empty()
        );
        let _ = std::fs::remove_dir_all(&dir);
        Ok(())
    }

    #[tokio::test]
    async fn pruning_deletes_only_older_minutes() -> Result<(), StoreError> {
        let (store, dir) = open("prune").await?;
        let buckets: Vec<MinuteBucket> = (10..20)
            .map(|minute| MinuteBucket {
                key: key("$LATEST", None, Architecture::X86_64),
                minute,
                stats: stats(1, &[10], None),
            })
            .collect();
        store.add_metric_buckets(&buckets).await?;
        assert_eq!(store.prune_metric_buckets(15).await?, 5);
        let left = store.metric_buckets("us-east-1", "f", 0, 100).await?;
        assert_eq!(
            left.iter().map(|b| b.minute).collect::<Vec<_>>(),
            (15..20).collect::<Vec<_>>()
        );
        assert_eq!(store.prune_metric_buckets(15).await?, 0);
        let _ = std::fs::remove_dir_all(&dir);
        Ok(())
    }
}
