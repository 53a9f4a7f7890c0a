//! CloudWatch Logs in SQLite (`log_groups`, `log_streams`, `log_events`).

use archfn_model::log_events::LogBatch;
use async_trait::async_trait;
use sqlx::{QueryBuilder, Row, Sqlite};

use super::SqliteStore;
use crate::logs::{
    EventQuery, LogCatalog, LogEventRow, LogGroupRow, LogStreamRow, StreamOrder, StreamSelection,
};
use crate::{Durability, StoreError};

/// Events inserted per statement (7 parameters each, well under SQLite's limit).
const EVENTS_PER_INSERT: usize = 500;

fn group_of(r: &sqlx::sqlite::SqliteRow) -> Result<LogGroupRow, StoreError> {
    Ok(LogGroupRow {
        name: r.try_get("name")?,
        created_ms: r.try_get("created_ms")?,
        retention_days: r.try_get("retention_days")?,
        stored_bytes: r.try_get("stored_bytes")?,
    })
}

/// `substr(column, 1, length(prefix)) = prefix`: a prefix match without LIKE's wildcards.
/// (SQLite counts a text's characters, not its bytes.)
fn push_prefix(q: &mut QueryBuilder<Sqlite>, column: &str, prefix: &str) {
    q.push(format!(" AND substr({column}, 1, "))
        .push_bind(i64::try_from(prefix.chars().count()).unwrap_or(i64::MAX))
        .push(") = ")
        .push_bind(prefix.to_string());
}

impl SqliteStore {
    async fn append_in(
        &self,
        conn: &mut sqlx::SqliteConnection,
        batches: &[LogBatch],
        ingestion_ms: i64,
    ) -> Result<(), StoreError> {
        let mut tx = sqlx::Connection::begin(conn).await?;
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
                "INSERT INTO log_groups (region, name, created_ms, stored_bytes) VALUES (?, ?, ?, ?) \
                 ON CONFLICT (region, name) DO UPDATE SET stored_bytes = stored_bytes + excluded.stored_bytes \
                 RETURNING id",
            )
            .bind(&b.region)
            .bind(&b.group)
            .bind(ingestion_ms)
            .bind(bytes)
            .fetch_one(&mut *tx)
            .await?;
            let stream_id: i64 = sqlx::query_scalar(
                "INSERT INTO log_streams (group_id, name, created_ms, first_event_ms, last_event_ms, last_ingestion_ms) \
                 VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (group_id, name) DO UPDATE SET \
                 first_event_ms = min(coalesce(first_event_ms, excluded.first_event_ms), excluded.first_event_ms), \
                 last_event_ms = max(coalesce(last_event_ms, excluded.last_event_ms), excluded.last_event_ms), \
                 last_ingestion_ms = excluded.last_ingestion_ms RETURNING id",
            )
            .bind(group_id)
            .bind(&b.stream)
            .bind(first.min(ingestion_ms))
            .bind(first)
            .bind(last)
            .bind(ingestion_ms)
            .fetch_one(&mut *tx)
            .await?;
            for chunk in b.events.chunks(EVENTS_PER_INSERT) {
                let mut q = QueryBuilder::<Sqlite>::new(
                    "INSERT INTO log_events (group_id, stream_id, ts_ms, ingestion_ms, message) ",
                );
                q.push_values(chunk, |mut row, e| {
                    row.push_bind(group_id)
                        .push_bind(stream_id)
                        .push_bind(e.timestamp_ms)
                        .push_bind(ingestion_ms)
                        .push_bind(e.message.clone());
                });
                q.build().execute(&mut *tx).await?;
            }
        }
        tx.commit().await?;
        Ok(())
    }
}

#[async_trait]
impl LogCatalog for SqliteStore {
    async fn append_log_batches(
        &self,
        batches: &[LogBatch],
        ingestion_ms: i64,
    ) -> Result<(), StoreError> {
        if batches.iter().all(|b| b.events.is_empty()) {
            return Ok(());
        }
        let mut conn = self.writer(Durability::Deferred).await?;
        let result = self.append_in(&mut conn, batches, ingestion_ms).await;
        self.release(conn, Durability::Deferred).await;
        result
    }

    async fn create_log_group(
        &self,
        region: &str,
        name: &str,
        created_ms: i64,
    ) -> Result<(), StoreError> {
        sqlx::query("INSERT INTO log_groups (region, name, created_ms) VALUES (?, ?, ?)")
            .bind(region)
            .bind(name)
            .bind(created_ms)
            .execute(&self.write)
            .await?;
        Ok(())
    }

    async fn delete_log_group(&self, region: &str, name: &str) -> Result<(), StoreError> {
        let mut tx = self.write.begin().await?;
        let id: Option<i64> =
            sqlx::query_scalar("DELETE FROM log_groups WHERE region = ? AND name = ? RETURNING id")
                .bind(region)
                .bind(name)
                .fetch_optional(&mut *tx)
                .await?;
        let Some(id) = id else {
            return Err(StoreError::NotFound);
        };
        for sql in [
            "DELETE FROM log_streams WHERE group_id = ?",
            "DELETE FROM log_events WHERE group_id = ?",
        ] {
            sqlx::query(sql).bind(id).execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn log_group(&self, region: &str, name: &str) -> Result<Option<LogGroupRow>, StoreError> {
        let row = sqlx::query("SELECT * FROM log_groups WHERE region = ? AND name = ?")
            .bind(region)
            .bind(name)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(group_of).transpose()
    }

    async fn list_log_groups(
        &self,
        region: &str,
        prefix: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<LogGroupRow>, StoreError> {
        let mut q = QueryBuilder::<Sqlite>::new("SELECT * FROM log_groups WHERE region = ");
        q.push_bind(region.to_string());
        push_prefix(&mut q, "name", prefix);
        if let Some(after) = after {
            q.push(" AND name > ").push_bind(after.to_string());
        }
        q.push(" ORDER BY name LIMIT ")
            .push_bind(i64::try_from(limit).unwrap_or(i64::MAX));
        let rows = q.build().fetch_all(&self.pool).await?;
        rows.iter().map(group_of).collect()
    }

    async fn set_log_retention(
        &self,
        region: &str,
        name: &str,
        days: Option<i32>,
    ) -> Result<(), StoreError> {
        let done =
            sqlx::query("UPDATE log_groups SET retention_days = ? WHERE region = ? AND name = ?")
                .bind(days)
                .bind(region)
                .bind(name)
                .execute(&self.write)
                .await?;
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
        let mut q = QueryBuilder::<Sqlite>::new(
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
        let rows = q.build().fetch_all(&self.pool).await?;
        rows.iter()
            .map(|r| {
                Ok(LogStreamRow {
                    name: r.try_get("name")?,
                    created_ms: r.try_get("created_ms")?,
                    first_event_ms: r.try_get("first_event_ms")?,
                    last_event_ms: r.try_get("last_event_ms")?,
                    last_ingestion_ms: r.try_get("last_ingestion_ms")?,
                })
            })
            .collect()
    }

    async fn expire_log_events(&self, now_ms: i64) -> Result<u64, StoreError> {
        let groups: Vec<(i64, i64)> = sqlx::query_as(
            "SELECT id, retention_days FROM log_groups WHERE retention_days IS NOT NULL",
        )
        .fetch_all(&self.pool)
        .await?;
        let mut expired = 0;
        for (id, days) in groups {
            let cutoff = now_ms.saturating_sub(days.saturating_mul(86_400_000));
            let mut tx = self.write.begin().await?;
            let bytes: i64 = sqlx::query_scalar(
                "SELECT coalesce(sum(length(CAST(message AS BLOB))), 0) FROM log_events \
                 WHERE group_id = ? AND ts_ms < ?",
            )
            .bind(id)
            .bind(cutoff)
            .fetch_one(&mut *tx)
            .await?;
            let gone = sqlx::query("DELETE FROM log_events WHERE group_id = ? AND ts_ms < ?")
                .bind(id)
                .bind(cutoff)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            if gone > 0 {
                sqlx::query(
                    "UPDATE log_groups SET stored_bytes = max(0, stored_bytes - ?) WHERE id = ?",
                )
                .bind(bytes)
                .bind(id)
                .execute(&mut *tx)
                .await?;
                sqlx::query(
                    "UPDATE log_streams SET first_event_ms = \
                     (SELECT min(ts_ms) FROM log_events WHERE stream_id = log_streams.id) \
                     WHERE group_id = ? AND first_event_ms < ?",
                )
                .bind(id)
                .bind(cutoff)
                .execute(&mut *tx)
                .await?;
            }
            tx.commit().await?;
            expired += gone;
        }
        Ok(expired)
    }

    async fn log_events(&self, e: &EventQuery<'_>) -> Result<Vec<LogEventRow>, StoreError> {
        let mut q = QueryBuilder::<Sqlite>::new(
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
                q.push(" AND s.name IN (");
                let mut list = q.separated(", ");
                for n in names {
                    list.push_bind(n.clone());
                }
                if names.is_empty() {
                    list.push("NULL");
                }
                q.push(")");
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
        let rows = q.build().fetch_all(&self.pool).await?;
        rows.iter()
            .map(|r| {
                Ok(LogEventRow {
                    id: r.try_get("id")?,
                    stream: r.try_get("stream")?,
                    timestamp_ms: r.try_get("ts_ms")?,
                    ingestion_ms: r.try_get("ingestion_ms")?,
                    message: r.try_get("message")?,
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::logs::EventCursor;
    use archfn_model::log_events::LogEvent;

    fn batch(stream: &str, events: &[(i64, &str)]) -> LogBatch {
        LogBatch {
            region: "us-east-1".into(),
            group: "/aws/lambda/f".into(),
            stream: stream.into(),
            events: events
                .iter()
                .map(|(t, m)| LogEvent {
                    timestamp_ms: *t,
                    message: (*m).into(),
                })
                .collect(),
        }
    }

    #[tokio::test]
    async fn groups_streams_and_events_round_trip() -> Result<(), StoreError> {
        let dir = std::env::temp_dir().join(format!("archfn-logs-test-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).map_err(|e| StoreError::Database(e.to_string()))?;
        let store = SqliteStore::open(&dir.join("db")).await?;
        store
            .append_log_batches(
                &[
                    batch("s1", &[(10, "a\n"), (30, "c\n")]),
                    batch("s2", &[(20, "b\n")]),
                ],
                40,
            )
            .await?;
        store
            .append_log_batches(&[batch("s1", &[(30, "d\n")])], 50)
            .await?;
        let g = store.log_group("us-east-1", "/aws/lambda/f").await?;
        assert_eq!(g.map(|g| g.stored_bytes), Some(8));
        assert!(matches!(
            store
                .create_log_group("us-east-1", "/aws/lambda/f", 1)
                .await,
            Err(StoreError::AlreadyExists)
        ));
        let q = EventQuery {
            region: "us-east-1",
            group: "/aws/lambda/f",
            streams: StreamSelection::All,
            start_ms: None,
            end_ms: None,
            after: None,
            before: None,
            descending: false,
            limit: 100,
        };
        let all: Vec<String> = store
            .log_events(&q)
            .await?
            .into_iter()
            .map(|e| e.message)
            .collect();
        assert_eq!(all, vec!["a\n", "b\n", "c\n", "d\n"]);
        let first = store.log_events(&EventQuery { limit: 1, ..q }).await?;
        let after = EventCursor {
            timestamp_ms: first[0].timestamp_ms,
            id: first[0].id,
        };
        let names = ["s1".to_string()];
        let rest: Vec<String> = store
            .log_events(&EventQuery {
                after: Some(after),
                streams: StreamSelection::Named(&names),
                ..q
            })
            .await?
            .into_iter()
            .map(|e| e.message)
            .collect();
        assert_eq!(rest, vec!["c\n", "d\n"]);
        let streams = store
            .list_log_streams(
                "us-east-1",
                "/aws/lambda/f",
                "",
                StreamOrder::LastEventTime,
                true,
                0,
                10,
            )
            .await?;
        assert_eq!(streams[0].name, "s1");
        assert_eq!(streams[0].last_event_ms, Some(30));
        assert_eq!(streams[0].last_ingestion_ms, Some(50));
        // Retention: a day's events go a day later, and only in the group that has it.
        let day = 86_400_000;
        store
            .append_log_batches(&[batch("s3", &[(day, "late\n")])], day)
            .await?;
        assert_eq!(
            store.expire_log_events(2 * day).await?,
            0,
            "no retention yet"
        );
        store
            .set_log_retention("us-east-1", "/aws/lambda/f", Some(1))
            .await?;
        assert_eq!(store.expire_log_events(day + 31).await?, 4);
        let left: Vec<String> = store
            .log_events(&q)
            .await?
            .into_iter()
            .map(|e| e.message)
            .collect();
        assert_eq!(left, vec!["late\n"]);
        let g = store.log_group("us-east-1", "/aws/lambda/f").await?;
        assert_eq!(g.map(|g| g.stored_bytes), Some(5));
        store.delete_log_group("us-east-1", "/aws/lambda/f").await?;
        assert!(store.log_events(&q).await?.is_empty());
        assert!(matches!(
            store.delete_log_group("us-east-1", "/aws/lambda/f").await,
            Err(StoreError::NotFound)
        ));
        drop(store);
        let _ = std::fs::remove_dir_all(&dir);
        Ok(())
    }
}
