//! archfn's CloudFormation records in SQLite (`cfn_stacks`, `cfn_events`).

use async_trait::async_trait;
use sqlx::Row;

use super::SqliteStore;
use crate::StoreError;
use crate::stacks::{StackCatalog, StackRow};

#[async_trait]
impl StackCatalog for SqliteStore {
    async fn put_stack(&self, row: &StackRow) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO cfn_stacks (stack_id, region, name, document, updated_ms) \
             VALUES (?, ?, ?, ?, ?) ON CONFLICT (stack_id) DO UPDATE SET \
             document = excluded.document, updated_ms = excluded.updated_ms",
        )
        .bind(&row.stack_id)
        .bind(&row.region)
        .bind(&row.name)
        .bind(&row.document)
        .bind(row.updated_ms)
        .execute(&self.write)
        .await?;
        Ok(())
    }

    async fn list_stacks(&self) -> Result<Vec<StackRow>, StoreError> {
        let rows = sqlx::query(
            "SELECT stack_id, region, name, document, updated_ms FROM cfn_stacks ORDER BY rowid",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(StackRow {
                    stack_id: r.try_get("stack_id")?,
                    region: r.try_get("region")?,
                    name: r.try_get("name")?,
                    document: r.try_get("document")?,
                    updated_ms: r.try_get("updated_ms")?,
                })
            })
            .collect()
    }

    async fn put_stack_event(
        &self,
        stack_id: &str,
        seq: i64,
        document: &str,
    ) -> Result<(), StoreError> {
        sqlx::query("INSERT OR REPLACE INTO cfn_events (stack_id, seq, document) VALUES (?, ?, ?)")
            .bind(stack_id)
            .bind(seq)
            .bind(document)
            .execute(&self.write)
            .await?;
        Ok(())
    }

    async fn stack_events(&self, stack_id: &str) -> Result<Vec<String>, StoreError> {
        let rows = sqlx::query("SELECT document FROM cfn_events WHERE stack_id = ? ORDER BY seq")
            .bind(stack_id)
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|r| Ok(r.try_get::<String, _>("document")?))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn keeps_stacks_and_events_across_opens() -> Result<(), StoreError> {
        let dir = std::env::temp_dir().join(format!("archfn-stacks-test-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).map_err(|e| StoreError::Database(e.to_string()))?;
        let path = dir.join("db");
        {
            let store = SqliteStore::open(&path).await?;
            let row = StackRow {
                stack_id: "arn:s".into(),
                region: "us-east-1".into(),
                name: "s".into(),
                document: "{}".into(),
                updated_ms: 1,
            };
            store.put_stack(&row).await?;
            store
                .put_stack(&StackRow {
                    document: "{\"a\":1}".into(),
                    ..row
                })
                .await?;
            store.put_stack_event("arn:s", 1, "e1").await?;
            store.put_stack_event("arn:s", 2, "e2").await?;
        }
        let store = SqliteStore::open(&path).await?;
        let stacks = store.list_stacks().await?;
        assert_eq!(stacks.len(), 1);
        assert_eq!(stacks[0].document, "{\"a\":1}");
        assert_eq!(store.stack_events("arn:s").await?, vec!["e1", "e2"]);
        drop(store);
        let _ = std::fs::remove_dir_all(&dir);
        Ok(())
    }
}
