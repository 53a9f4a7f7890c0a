//! CloudWatch Logs in PostgreSQL (`log_groups`, `log_streams`, `log_events`).

use archfn_model::log_events::LogBatch;
use async_trait::async_trait;
use sqlx::postgres::PgRow;
use sqlx::{Postgres, QueryBuilder};

use super::{PgStore, get, pg_err, retrying};
use crate::logs::{
    EventQuery, LogCatalog, LogEventRow, LogGroupRow, LogStreamRow, StreamOrder, StreamSelection,
};
use crate::{Durability, StoreError};

/// Events in one INSERT statement (the bind parameters of one stay under PostgreSQL's limit).
const EVENTS_PER_INSERT: usize = 500;

fn group_of(r: &PgRow) -> Result<LogGroupRow, StoreError> {
    Ok(LogGroupRow {
        name: get(r, "name")?,
        created_ms: get(r, "created_ms")?,
        retention_days: get(r, "retention_days")?,
        stored_bytes: get(r, "stored_bytes")?,
    })
}

/// `AND column starts with prefix` (characters, not a LIKE pattern).
fn push_prefix(q: &mut QueryBuilder<Postgres>, column: &str, prefix: &str) {
    q.push(format!(" AND starts_with({column}, "))
        .push_bind(prefix.to_string())
        .push(")");
}

impl PgStore {
    async fn append_once(&self, batches: &[LogBatch], ingestion_ms: i64) -> Result<(), StoreError> {
        let mut tx = self.begin(Durability::Deferred).await?;
        for b in batches {
            let (Some(first), Some(last)) = (
                b.events.iter().map(|e| e.timestamp_ms).min(),
                b.events.iter().map(|e| e.timestamp_ms).max(),
            ) else {
                continue;
            };
            let bytes: i64 = b
                .events
                .iter()
                .map(|e| i64::try_from(e.message.len()).unwrap_or(0))
                .sum();
            let group_id: i64 = sqlx::query_scalar(
                "INSERT INTO log_groups (region, name, created_ms, stored_bytes) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (region, name) DO UPDATE SET \
                 stored_bytes = log_groups.stored_bytes + excluded.stored_bytes RETURNING id",
            )
            .bind(&b.region)
            .bind(&b.group)
            .bind(ingestion_ms)
            .bind(bytes)
            .fetch_one(&mut *tx)
            .await
            .map_err(pg_err)?;
            let stream_id: i64 = sqlx::query_scalar(
                "INSERT INTO log_streams (group_id, name, created_ms, first_event_ms, last_event_ms, \
                 last_ingestion_ms) VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (group_id, name) \
                 DO UPDATE SET \
                 first_event_ms = LEAST(log_streams.first_event_ms, excluded.first_event_ms), \
                 last_event_ms = GREATEST(log_streams.last_event_ms, excluded.last_event_ms), \
                 last_ingestion_ms = excluded.last_ingestion_ms RETURNING id",
            )
            .bind(group_id)
            .bind(&b.stream)
            .bind(first.min(ingestion_ms))
            .bind(first)
            .bind(last)
            .bind(ingestion_ms)
            .fetch_one(&mut *tx)
            .await
            .map_err(pg_err)?;
            for chunk in b.events.chunks(EVENTS_PER_INSERT) {
                let mut q = QueryBuilder::<Postgres>::new(
                    "INSERT INTO log_events (group_id, stream_id, ts_ms, ingestion_ms, message) ",
                );
                q.push_values(chunk, |mut row, e| {
                    row.push_bind(group_id)
                        .push_bind(stream_id)
                        .push_bind(e.timestamp_ms)
                        .push_bind(ingestion_ms)
                        .push_bind(e.message.clone());
                });
                q.build().execute(&mut *tx).await.map_err(pg_err)?;
            }
        }
        tx.commit().await.map_err(pg_err)?;
        Ok(())
    }
}

#[async_trait]
impl LogCatalog for PgStore {
    async fn append_log_batches(
        &self,
        batches: &[LogBatch],
        ingestion_ms: i64,
    ) -> Result<(), StoreError> {
        if batches.iter().all(|b| b.events.is_empty()) {
            return Ok(());
        }
        retrying(|| self.append_once(batches, ingestion_ms)).await
    }

    async fn create_log_group(
        &self,
        region: &str,
        name: &str,
        created_ms: i64,
    ) -> Result<(), StoreError> {
        sqlx::query("INSERT INTO log_groups (region, name, created_ms) VALUES ($1, $2, $3)")
            .bind(region)
            .bind(name)
            .bind(created_ms)
            .execute(&self.pool)
            .await
            .map_err(pg_err)?;
        Ok(())
    }

    async fn delete_log_group(&self, region: &str, name: &str) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await.map_err(pg_err)?;
        let id: Option<i64> = sqlx::query_scalar(
            "DELETE FROM log_groups WHERE region = $1 AND name = $2 RETURNING id",
        )
        .bind(region)
        .bind(name)
        .fetch_optional(&mut *tx)
        .await
        .map_err(pg_err)?;
        let Some(id) = id else {
            return Err(StoreError::NotFound);
        };
        for sql in [
            "DELETE FROM log_streams WHERE group_id = $1",
            "DELETE FROM log_events WHERE group_id = $1",
        ] {
            sqlx::query(sql)
                .bind(id)
                .execute(&mut *tx)
                .await
                .map_err(pg_err)?;
        }
        tx.commit().await.map_err(pg_err)?;
        Ok(())
    }

    async fn log_group(&self, region: &str, name: &str) -> Result<Option<LogGroupRow>, StoreError> {
        let row = sqlx::query("SELECT * FROM log_groups WHERE region = $1 AND name = $2")
            .bind(region)
            .bind(name)
            .fetch_optional(&self.pool)
            .await
            .map_err(pg_err)?;
        row.as_ref().map(group_of).transpose()
    }

    async fn list_log_groups(
        &self,
        region: &str,
        prefix: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<LogGroupRow>, StoreError> {
        let mut q = QueryBuilder::<Postgres>::new("SELECT * FROM log_groups WHERE region = ");
        q.push_bind(region.to_string());
        push_prefix(&mut q, "name", prefix);
        if let Some(after) = after {
            q.push(" AND name > ").push_bind(after.to_string());
        }
        q.push(" ORDER BY name LIMIT ")
            .push_bind(i64::try_from(limit).unwrap_or(i64::MAX));
        let rows = q.build().fetch_all(&self.pool).await.map_err(pg_err)?;
        rows.iter().map(group_of).collect()
    }

    async fn set_log_retention(
        &self,
        region: &str,
        name: &str,
        days: Option<i32>,
    ) -> Result<(), StoreError> {
        let done = sqlx::query(
            "UPDATE log_groups SET retention_days = $1 WHERE region = $2 AND name = $3",
        )
        .bind(days)
        .bind(region)
        .bind(name)
        .execute(&self.pool)
        .await
        .map_err(pg_err)?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    async fn list_log_streams(
        &self,
        region: &str,
        group: &str,
        prefix: &str,
        order: StreamOrder,
        descending: bool,
        skip: usize,
        limit: usize,
    ) -> Result<Vec<LogStreamRow>, StoreError> {
        let mut q = QueryBuilder::<Postgres>::new(
            "SELECT * FROM log_streams WHERE group_id = (SELECT id FROM log_groups WHERE region = ",
        );
        q.push_bind(region.to_string())
            .push(" AND name = ")
            .push_bind(group.to_string())
            .push(")");
        push_prefix(&mut q, "name", prefix);
        let dir = if descending { "DESC" } else { "ASC" };
        match order {
            StreamOrder::Name => q.push(format!(" ORDER BY name {dir}")),
            StreamOrder::LastEventTime => q.push(format!(
                " ORDER BY coalesce(last_event_ms, 0) {dir}, name {dir}"
            )),
        };
        q.push(" LIMIT ")
            .push_bind(i64::try_from(limit).unwrap_or(i64::MAX))
            .push(" OFFSET ")
            .push_bind(i64::try_from(skip).unwrap_or(i64::MAX));
        let rows = q.build().fetch_all(&self.pool).await.map_err(pg_err)?;
        rows.iter()
            .map(|r| {
                Ok(LogStreamRow {
                    name: get(r, "name")?,
                    created_ms: get(r, "created_ms")?,
                    first_event_ms: get(r, "first_event_ms")?,
                    last_event_ms: get(r, "last_event_ms")?,
                    last_ingestion_ms: get(r, "last_ingestion_ms")?,
                })
            })
            .collect()
    }

    async fn expire_log_events(&self, now_ms: i64) -> Result<u64, StoreError> {
        let groups: Vec<(i64, i32)> = sqlx::query_as(
            "SELECT id, retention_days FROM log_groups WHERE retention_days IS NOT NULL",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(pg_err)?;
        let mut expired = 0;
        for (id, days) in groups {
            let cutoff = now_ms.saturating_sub(i64::from(days).saturating_mul(86_400_000));
            let mut tx = self.pool.begin().await.map_err(pg_err)?;
            let (gone, bytes): (i64, i64) = sqlx::query_as(
                "WITH gone AS (DELETE FROM log_events WHERE group_id = $1 AND ts_ms < $2 \
                 RETURNING message) \
                 SELECT count(*), coalesce(sum(octet_length(message)), 0)::bigint FROM gone",
            )
            .bind(id)
            .bind(cutoff)
            .fetch_one(&mut *tx)
            .await
            .map_err(pg_err)?;
            if gone > 0 {
                sqlx::query(
                    "UPDATE log_groups SET stored_bytes = GREATEST(0, stored_bytes - $1) WHERE id = $2",
                )
                .bind(bytes)
                .bind(id)
                .execute(&mut *tx)
                .await
                .map_err(pg_err)?;
                sqlx::query(
                    "UPDATE log_streams SET first_event_ms = \
                     (SELECT min(ts_ms) FROM log_events WHERE stream_id = log_streams.id) \
                     WHERE group_id = $1 AND first_event_ms < $2",
                )
                .bind(id)
                .bind(cutoff)
                .execute(&mut *tx)
                .await
                .map_err(pg_err)?;
            }
            tx.commit().await.map_err(pg_err)?;
            expired += u64::try_from(gone).unwrap_or(0);
        }
        Ok(expired)
    }

    async fn log_events(&self, e: &EventQuery<'_>) -> Result<Vec<LogEventRow>, StoreError> {
        let mut q = QueryBuilder::<Postgres>::new(
            "SELECT e.id, s.name AS stream, e.ts_ms, e.ingestion_ms, e.message \
             FROM log_events e JOIN log_streams s ON s.id = e.stream_id \
             WHERE e.group_id = (SELECT id FROM log_groups WHERE region = ",
        );
        q.push_bind(e.region.to_string())
            .push(" AND name = ")
            .push_bind(e.group.to_string())
            .push(")");
        match e.streams {
            StreamSelection::All => {}
            StreamSelection::Named(names) => {
                q.push(" AND s.name = ANY(")
                    .push_bind(names.to_vec())
                    .push(")");
            }
            StreamSelection::Prefix(p) => push_prefix(&mut q, "s.name", p),
        }
        if let Some(start) = e.start_ms {
            q.push(" AND e.ts_ms >= ").push_bind(start);
        }
        if let Some(end) = e.end_ms {
            q.push(" AND e.ts_ms <= ").push_bind(end);
        }
        if let Some(c) = e.after {
            q.push(" AND (e.ts_ms, e.id) > (")
                .push_bind(c.timestamp_ms)
                .push(", ")
                .push_bind(c.id)
                .push(")");
        }
        if let Some(c) = e.before {
            q.push(" AND (e.ts_ms, e.id) < (")
                .push_bind(c.timestamp_ms)
                .push(", ")
                .push_bind(c.id)
                .push(")");
        }
        let dir = if e.descending { "DESC" } else { "ASC" };
        q.push(format!(" ORDER BY e.ts_ms {dir}, e.id {dir} LIMIT "))
            .push_bind(i64::try_from(e.limit).unwrap_or(i64::MAX));
        let rows = q.build().fetch_all(&self.pool).await.map_err(pg_err)?;
        rows.iter()
            .map(|r| {
                Ok(LogEventRow {
                    id: get(r, "id")?,
                    stream: get(r, "stream")?,
                    timestamp_ms: get(r, "ts_ms")?,
                    ingestion_ms: get(r, "ingestion_ms")?,
                    message: get(r, "message")?,
                })
            })
            .collect()
    }
}
