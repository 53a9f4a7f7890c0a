//! archfn's CloudFormation records in PostgreSQL (`cfn_stacks`, `cfn_events`).

use async_trait::async_trait;

use super::{PgStore, get, pg_err};
use crate::StoreError;
use crate::stacks::{StackCatalog, StackRow};

#[async_trait]
impl StackCatalog for PgStore {
    async fn put_stack(&self, row: &StackRow) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO cfn_stacks (stack_id, region, name, document, updated_ms) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (stack_id) DO UPDATE SET \
             document = excluded.document, updated_ms = excluded.updated_ms",
        )
        .bind(&row.stack_id)
        .bind(&row.region)
        .bind(&row.name)
        .bind(&row.document)
        .bind(row.updated_ms)
        .execute(&self.pool)
        .await
        .map_err(pg_err)?;
        Ok(())
    }

    async fn list_stacks(&self) -> Result<Vec<StackRow>, StoreError> {
        let rows = sqlx::query(
            "SELECT stack_id, region, name, document, updated_ms FROM cfn_stacks ORDER BY seq",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(pg_err)?;
        rows.iter()
            .map(|r| {
                Ok(StackRow {
                    stack_id: get(r, "stack_id")?,
                    region: get(r, "region")?,
                    name: get(r, "name")?,
                    document: get(r, "document")?,
                    updated_ms: get(r, "updated_ms")?,
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
        sqlx::query(
            "INSERT INTO cfn_events (stack_id, seq, document) VALUES ($1, $2, $3) \
             ON CONFLICT (stack_id, seq) DO UPDATE SET document = excluded.document",
        )
        .bind(stack_id)
        .bind(seq)
        .bind(document)
        .execute(&self.pool)
        .await
        .map_err(pg_err)?;
        Ok(())
    }

    async fn stack_events(&self, stack_id: &str) -> Result<Vec<String>, StoreError> {
        let rows = sqlx::query("SELECT document FROM cfn_events WHERE stack_id = $1 ORDER BY seq")
            .bind(stack_id)
            .fetch_all(&self.pool)
            .await
            .map_err(pg_err)?;
        rows.iter().map(|r| get::<String>(r, "document")).collect()
    }
}
