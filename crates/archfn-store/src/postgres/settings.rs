//! Settings in PostgreSQL (`settings`): one JSON document per key, a second unique key per kind.

use sqlx::postgres::PgRow;

use super::{PgStore, get, pg_err};
use crate::{SettingKey, SettingKind, SettingRow, SettingWrite, StoreError};

const COLUMNS: &str = "region, kind, owner, qualifier, document, lookup, etag";

fn row(r: &PgRow) -> Result<SettingRow, StoreError> {
    let kind: &str = get(r, "kind")?;
    let kind = SettingKind::parse(kind)
        .ok_or_else(|| StoreError::Corrupt(format!("unknown setting kind {kind}")))?;
    Ok(SettingRow {
        key: SettingKey {
            region: get(r, "region")?,
            kind,
            owner: get(r, "owner")?,
            qualifier: get(r, "qualifier")?,
        },
        document: get(r, "document")?,
        lookup: get(r, "lookup")?,
        etag: get(r, "etag")?,
    })
}

impl PgStore {
    pub(super) async fn read_setting(
        &self,
        key: &SettingKey,
    ) -> Result<Option<SettingRow>, StoreError> {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM settings \
             WHERE region = $1 AND kind = $2 AND owner = $3 AND qualifier = $4"
        )))
        .bind(&key.region)
        .bind(key.kind.as_str())
        .bind(&key.owner)
        .bind(&key.qualifier)
        .fetch_optional(&self.pool)
        .await
        .map_err(pg_err)?
        .map(|r| row(&r))
        .transpose()
    }

    pub(super) async fn write_setting(
        &self,
        key: &SettingKey,
        document: &str,
        lookup: Option<&str>,
        write: SettingWrite,
    ) -> Result<i64, StoreError> {
        let bind = |sql: &'static str| {
            sqlx::query(sql)
                .bind(document.to_owned())
                .bind(lookup.map(str::to_owned))
                .bind(key.region.clone())
                .bind(key.kind.as_str())
                .bind(key.owner.clone())
                .bind(key.qualifier.clone())
                .bind(i64::from(key.kind.is_function_scoped()))
        };
        match write {
            SettingWrite::Create => {
                bind(
                    "INSERT INTO settings \
                     (document, lookup, region, kind, owner, qualifier, of_function, etag) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, 1)",
                )
                .execute(&self.pool)
                .await
                .map_err(pg_err)?;
                Ok(1)
            }
            SettingWrite::Upsert => {
                let r = bind(
                    "INSERT INTO settings \
                     (document, lookup, region, kind, owner, qualifier, of_function, etag) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, 1) \
                     ON CONFLICT (region, kind, owner, qualifier) DO UPDATE SET \
                     document = excluded.document, lookup = excluded.lookup, \
                     etag = settings.etag + 1 RETURNING etag",
                )
                .fetch_one(&self.pool)
                .await
                .map_err(pg_err)?;
                get(&r, "etag")
            }
            SettingWrite::Replace(etag) => {
                let done = bind(
                    "UPDATE settings SET document = $1, lookup = $2, etag = etag + 1 \
                     WHERE region = $3 AND kind = $4 AND owner = $5 AND qualifier = $6 \
                     AND of_function = $7 AND etag = $8",
                )
                .bind(etag)
                .execute(&self.pool)
                .await
                .map_err(pg_err)?;
                if done.rows_affected() > 0 {
                    return Ok(etag + 1);
                }
                match self.read_setting(key).await? {
                    Some(_) => Err(StoreError::Conflict),
                    None => Err(StoreError::NotFound),
                }
            }
        }
    }

    pub(super) async fn remove_setting(
        &self,
        key: &SettingKey,
        etag: Option<i64>,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "DELETE FROM settings WHERE region = $1 AND kind = $2 AND owner = $3 \
             AND qualifier = $4 AND ($5::bigint IS NULL OR etag = $5)",
        )
        .bind(&key.region)
        .bind(key.kind.as_str())
        .bind(&key.owner)
        .bind(&key.qualifier)
        .bind(etag)
        .execute(&self.pool)
        .await
        .map_err(pg_err)?;
        if done.rows_affected() > 0 {
            return Ok(true);
        }
        match (etag, self.read_setting(key).await?) {
            (Some(_), Some(_)) => Err(StoreError::Conflict),
            _ => Ok(false),
        }
    }

    pub(super) async fn find_settings(
        &self,
        region: &str,
        kind: SettingKind,
        owner: Option<&str>,
    ) -> Result<Vec<SettingRow>, StoreError> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM settings WHERE region = $1 AND kind = $2 \
             AND ($3::text IS NULL OR owner = $3) ORDER BY owner, qualifier"
        )))
        .bind(region)
        .bind(kind.as_str())
        .bind(owner)
        .fetch_all(&self.pool)
        .await
        .map_err(pg_err)?;
        rows.iter().map(row).collect()
    }

    pub(super) async fn find_settings_of_kind(
        &self,
        kind: SettingKind,
    ) -> Result<Vec<SettingRow>, StoreError> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM settings WHERE kind = $1 ORDER BY region, owner, qualifier"
        )))
        .bind(kind.as_str())
        .fetch_all(&self.pool)
        .await
        .map_err(pg_err)?;
        rows.iter().map(row).collect()
    }

    pub(super) async fn find_setting_by_lookup(
        &self,
        kind: SettingKind,
        lookup: &str,
    ) -> Result<Option<SettingRow>, StoreError> {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM settings WHERE kind = $1 AND lookup = $2"
        )))
        .bind(kind.as_str())
        .bind(lookup)
        .fetch_optional(&self.pool)
        .await
        .map_err(pg_err)?
        .map(|r| row(&r))
        .transpose()
    }
}
