//! Traffic shifts in PostgreSQL (`deployments`): the record as JSON, one active per alias.

use archfn_model::deployment::DeploymentRecord;
use sqlx::postgres::PgRow;

use super::{PgStore, as_i64, decode, encode, get, pg_err};
use crate::{DeploymentFilter, StoreError, Stored};

fn stored(row: &PgRow) -> Result<Stored<DeploymentRecord>, StoreError> {
    Ok(Stored {
        value: decode(get::<&str>(row, "record")?)?,
        etag: get(row, "etag")?,
    })
}

impl PgStore {
    pub(super) async fn insert_deployment(&self, d: &DeploymentRecord) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO deployments (id, region, function, alias, active, created_ms, record, etag) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, 1)",
        )
        .bind(&d.id)
        .bind(&d.region)
        .bind(&d.function)
        .bind(&d.alias)
        .bind(i64::from(d.is_active()))
        .bind(d.created_ms)
        .bind(encode(d)?)
        .execute(&self.pool)
        .await
        .map_err(pg_err)?;
        Ok(())
    }

    pub(super) async fn update_deployment(
        &self,
        d: &DeploymentRecord,
        etag: i64,
    ) -> Result<i64, StoreError> {
        let done = sqlx::query(
            "UPDATE deployments SET record = $1, active = $2, etag = etag + 1 \
             WHERE id = $3 AND etag = $4",
        )
        .bind(encode(d)?)
        .bind(i64::from(d.is_active()))
        .bind(&d.id)
        .bind(etag)
        .execute(&self.pool)
        .await
        .map_err(pg_err)?;
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
        sqlx::query("SELECT record, etag FROM deployments WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await
            .map_err(pg_err)?
            .map(|r| stored(&r))
            .transpose()
    }

    pub(super) async fn find_deployments(
        &self,
        f: &DeploymentFilter<'_>,
    ) -> Result<Vec<Stored<DeploymentRecord>>, StoreError> {
        let rows = sqlx::query(
            "SELECT record, etag FROM deployments \
             WHERE ($1::text IS NULL OR region = $1) AND ($2::text IS NULL OR function = $2) \
             AND ($3::text IS NULL OR alias = $3) AND (NOT $4 OR active = 1) \
             ORDER BY created_ms DESC, id LIMIT $5",
        )
        .bind(f.region)
        .bind(f.function)
        .bind(f.alias)
        .bind(f.active_only)
        .bind(as_i64(f.limit as u64))
        .fetch_all(&self.pool)
        .await
        .map_err(pg_err)?;
        rows.iter().map(stored).collect()
    }
}
