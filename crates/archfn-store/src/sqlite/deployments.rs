//! Traffic shifts in SQLite (`deployments`): the record as JSON, one active per alias.

use archfn_model::deployment::DeploymentRecord;
use sqlx::Row;

use super::{SqliteStore, as_i64, decode, encode};
use crate::{DeploymentFilter, StoreError, Stored};

fn stored(row: &sqlx::sqlite::SqliteRow) -> Result<Stored<DeploymentRecord>, StoreError> {
    Ok(Stored {
        value: decode(row.try_get::<&str, _>("record")?)?,
        etag: row.try_get("etag")?,
    })
}

impl SqliteStore {
    pub(super) async fn insert_deployment(&self, d: &DeploymentRecord) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO deployments (id, region, function, alias, active, created_ms, record, etag) \
             VALUES (?, ?, ?, ?, ?, ?, ?, 1)",
        )
        .bind(&d.id)
        .bind(&d.region)
        .bind(&d.function)
        .bind(&d.alias)
        .bind(i64::from(d.is_active()))
        .bind(d.created_ms)
        .bind(encode(d)?)
        .execute(&self.write)
        .await?;
        Ok(())
    }

    pub(super) async fn update_deployment(
        &self,
        d: &DeploymentRecord,
        etag: i64,
    ) -> Result<i64, StoreError> {
        let done = sqlx::query(
            "UPDATE deployments SET record = ?, active = ?, etag = etag + 1 WHERE id = ? AND etag = ?",
        )
        .bind(encode(d)?)
        .bind(i64::from(d.is_active()))
        .bind(&d.id)
        .bind(etag)
        .execute(&self.write)
        .await?;
        if done.rows_affected() > 0 {
            return Ok(etag + 1);
        }
        match self.read_deployment(&d.id).await? {
            Some(_) => Err(StoreError::Conflict),
            None => Err(StoreError::NotFound),
        }
    }

    pub(super) async fn read_deployment(
        &self,
        id: &str,
    ) -> Result<Option<Stored<DeploymentRecord>>, StoreError> {
        sqlx::query("SELECT record, etag FROM deployments WHERE id = ?")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?
            .map(|r| stored(&r))
            .transpose()
    }

    pub(super) async fn find_deployments(
        &self,
        f: &DeploymentFilter<'_>,
    ) -> Result<Vec<Stored<DeploymentRecord>>, StoreError> {
        let rows = sqlx::query(
            "SELECT record, etag FROM deployments \
             WHERE (? IS NULL OR region = ?) AND (? IS NULL OR function = ?) \
             AND (? IS NULL OR alias = ?) AND (? = 0 OR active = 1) \
             ORDER BY created_ms DESC, id LIMIT ?",
        )
        .bind(f.region)
        .bind(f.region)
        .bind(f.function)
        .bind(f.function)
        .bind(f.alias)
        .bind(f.alias)
        .bind(i64::from(f.active_only))
        .bind(as_i64(f.limit as u64))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(stored).collect()
    }
}

#[cfg(test)]
mod tests {
    use archfn_model::deployment::{DeploymentStatus, Guardrails, Hooks, Phase, ShiftPlan};

    use super::*;
    use crate::MetadataStore;

    fn record(id: &str, alias: &str, created_ms: i64) -> DeploymentRecord {
        DeploymentRecord {
            id: id.into(),
            region: "us-east-1".into(),
            function: "f".into(),
            alias: alias.into(),
            from_version: "1".into(),
            to_version: "2".into(),
            plan: ShiftPlan::parse("AllAtOnce").unwrap_or_else(|e| panic!("{e}")),
            guardrails: Guardrails::default(),
            hooks: Hooks::default(),
            status: DeploymentStatus::InProgress,
            phase: Phase::Shifting { step: 0 },
            steps: Vec::new(),
            reason: None,
            events: Vec::new(),
            created_ms,
            updated_ms: created_ms,
            finished_ms: None,
        }
    }

    #[tokio::test]
    async fn one_shift_per_alias_at_a_time_and_writes_are_conditional() -> Result<(), StoreError> {
        let dir = std::env::temp_dir().join(format!("archfn-deploy-test-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).map_err(|e| StoreError::Database(e.to_string()))?;
        let store = SqliteStore::open(&dir.join("db.sqlite")).await?;
        store.create_deployment(&record("d-A", "live", 1)).await?;
        assert!(matches!(
            store.create_deployment(&record("d-B", "live", 2)).await,
            Err(StoreError::AlreadyExists)
        ));
        store.create_deployment(&record("d-C", "beta", 3)).await?;
        let Some(mut a) = store.get_deployment("d-A").await? else {
            panic!("d-A is stored");
        };
        a.value.status = DeploymentStatus::Succeeded;
        let etag = store.put_deployment(&a.value, a.etag).await?;
        assert!(matches!(
            store.put_deployment(&a.value, a.etag).await,
            Err(StoreError::Conflict)
        ));
        assert_eq!(etag, a.etag + 1);
        // Finished, the alias is free for the next shift.
        store.create_deployment(&record("d-B", "live", 4)).await?;
        let all = store
            .list_deployments(&DeploymentFilter {
                function: Some("f"),
                limit: 10,
                ..DeploymentFilter::default()
            })
            .await?;
        let ids: Vec<_> = all.iter().map(|d| d.value.id.as_str()).collect();
        assert_eq!(ids, ["d-B", "d-C", "d-A"]);
        let active = store
            .list_deployments(&DeploymentFilter {
                alias: Some("live"),
                active_only: true,
                limit: 10,
                ..DeploymentFilter::default()
            })
            .await?;
        assert_eq!(active.len(), 1);
        assert_eq!(active[0].value.id, "d-B");
        let _ = std::fs::remove_dir_all(&dir);
        Ok(())
    }
}
