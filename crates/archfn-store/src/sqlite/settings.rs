//! Settings in SQLite (`settings`): one JSON document per key, a second unique key per kind.

use sqlx::Row;

use super::SqliteStore;
use crate::{SettingKey, SettingKind, SettingRow, SettingWrite, StoreError};

fn row(r: &sqlx::sqlite::SqliteRow) -> Result<SettingRow, StoreError> {
    let kind: &str = r.try_get("kind")?;
    let kind = SettingKind::parse(kind)
        .ok_or_else(|| StoreError::Corrupt(format!("unknown setting kind {kind}")))?;
    Ok(SettingRow {
        key: SettingKey {
            region: r.try_get("region")?,
            kind,
            owner: r.try_get("owner")?,
            qualifier: r.try_get("qualifier")?,
        },
        document: r.try_get("document")?,
        lookup: r.try_get("lookup")?,
        etag: r.try_get("etag")?,
    })
}

impl SqliteStore {
    pub(super) async fn read_setting(
        &self,
        key: &SettingKey,
    ) -> Result<Option<SettingRow>, StoreError> {
        sqlx::query(
            "SELECT region, kind, owner, qualifier, document, lookup, etag FROM settings \
             WHERE region = ? AND kind = ? AND owner = ? AND qualifier = ?",
        )
        .bind(&key.region)
        .bind(key.kind.as_str())
        .bind(&key.owner)
        .bind(&key.qualifier)
        .fetch_optional(&self.pool)
        .await?
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
                     VALUES (?, ?, ?, ?, ?, ?, ?, 1)",
                )
                .execute(&self.write)
                .await?;
                Ok(1)
            }
            SettingWrite::Upsert => {
                let r = bind(
                    "INSERT INTO settings \
                     (document, lookup, region, kind, owner, qualifier, of_function, etag) \
                     VALUES (?, ?, ?, ?, ?, ?, ?, 1) \
                     ON CONFLICT (region, kind, owner, qualifier) DO UPDATE SET \
                     document = excluded.document, lookup = excluded.lookup, etag = etag + 1 \
                     RETURNING etag",
                )
                .fetch_one(&self.write)
                .await?;
                Ok(r.try_get("etag")?)
            }
            SettingWrite::Replace(etag) => {
                let done = bind(
                    "UPDATE settings SET document = ?, lookup = ?, etag = etag + 1 \
                     WHERE region = ? AND kind = ? AND owner = ? AND qualifier = ? \
                     AND of_function = ? AND etag = ?",
                )
                .bind(etag)
                .execute(&self.write)
                .await?;
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
            "DELETE FROM settings WHERE region = ? AND kind = ? AND owner = ? AND qualifier = ? \
             AND (? IS NULL OR etag = ?)",
        )
        .bind(&key.region)
        .bind(key.kind.as_str())
        .bind(&key.owner)
        .bind(&key.qualifier)
        .bind(etag)
        .bind(etag)
        .execute(&self.write)
        .await?;
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
        let rows = sqlx::query(
            "SELECT region, kind, owner, qualifier, document, lookup, etag FROM settings WHERE region = ? AND kind = ? \
             AND (? IS NULL OR owner = ?) ORDER BY owner, qualifier",
        )
        .bind(region)
        .bind(kind.as_str())
        .bind(owner)
        .bind(owner)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(row).collect()
    }

    pub(super) async fn find_settings_of_kind(
        &self,
        kind: SettingKind,
    ) -> Result<Vec<SettingRow>, StoreError> {
        let rows = sqlx::query(
            "SELECT region, kind, owner, qualifier, document, lookup, etag FROM settings WHERE kind = ? \
             ORDER BY region, owner, qualifier",
        )
        .bind(kind.as_str())
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(row).collect()
    }

    pub(super) async fn find_setting_by_lookup(
        &self,
        kind: SettingKind,
        lookup: &str,
    ) -> Result<Option<SettingRow>, StoreError> {
        sqlx::query(
            "SELECT region, kind, owner, qualifier, document, lookup, etag FROM settings WHERE kind = ? AND lookup = ?",
        )
        .bind(kind.as_str())
        .bind(lookup)
        .fetch_optional(&self.pool)
        .await?
        .map(|r| row(&r))
        .transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::MetadataStore;

    async fn store(name: &str) -> SqliteStore {
        let dir = std::env::temp_dir().join(format!(
            "archfn-settings-test-{}-{name}",
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{e}"));
        SqliteStore::open(&dir.join("meta.db"))
            .await
            .unwrap_or_else(|e| panic!("{e}"))
    }

    fn url(owner: &str, q: &str) -> SettingKey {
        SettingKey::new("us-east-1", SettingKind::FunctionUrl, owner, q)
    }

    #[tokio::test]
    async fn create_replace_delete_with_etags() {
        let s = store("crud").await;
        let k = url("f", "$LATEST");
        assert_eq!(
            s.put_setting(&k, "{\"a\":1}", Some("id1"), SettingWrite::Create)
                .await
                .ok(),
            Some(1)
        );
        assert!(matches!(
            s.put_setting(&k, "{}", None, SettingWrite::Create).await,
            Err(StoreError::AlreadyExists)
        ));
        assert!(matches!(
            s.put_setting(&k, "{}", Some("id1"), SettingWrite::Replace(7))
                .await,
            Err(StoreError::Conflict)
        ));
        assert_eq!(
            s.put_setting(&k, "{\"a\":2}", Some("id1"), SettingWrite::Replace(1))
                .await
                .ok(),
            Some(2)
        );
        assert_eq!(
            s.put_setting(&k, "{\"a\":3}", Some("id1"), SettingWrite::Upsert)
                .await
                .ok(),
            Some(3)
        );
        let found = s
            .find_setting(SettingKind::FunctionUrl, "id1")
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(found.map(|r| r.document), Some("{\"a\":3}".to_owned()));
        // The second key is unique per kind.
        assert!(matches!(
            s.put_setting(
                &url("g", "$LATEST"),
                "{}",
                Some("id1"),
                SettingWrite::Create
            )
            .await,
            Err(StoreError::AlreadyExists)
        ));
        assert!(matches!(
            s.delete_setting(&k, Some(1)).await,
            Err(StoreError::Conflict)
        ));
        assert_eq!(s.delete_setting(&k, Some(3)).await.ok(), Some(true));
        assert_eq!(s.delete_setting(&k, None).await.ok(), Some(false));
        assert!(matches!(
            s.put_setting(&k, "{}", None, SettingWrite::Replace(1))
                .await,
            Err(StoreError::NotFound)
        ));
    }

    #[tokio::test]
    async fn settings_go_with_their_function_version_and_alias() {
        let s = store("cascade").await;
        for q in ["$LATEST", "1", "live"] {
            for owner in ["f", "other"] {
                s.put_setting(&url(owner, q), "{}", None, SettingWrite::Create)
                    .await
                    .unwrap_or_else(|e| panic!("{e}"));
            }
        }
        let csc = SettingKey::new("us-east-1", SettingKind::CodeSigningConfig, "", "csc-1");
        s.put_setting(&csc, "{}", None, SettingWrite::Create)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        s.delete_version("us-east-1", "f", 1)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        s.delete_alias("us-east-1", "f", "live")
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let left = |rows: Vec<SettingRow>| {
            rows.into_iter()
                .map(|r| format!("{}:{}", r.key.owner, r.key.qualifier))
                .collect::<Vec<_>>()
        };
        let rows = s
            .list_settings("us-east-1", SettingKind::FunctionUrl, None)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            left(rows),
            ["f:$LATEST", "other:$LATEST", "other:1", "other:live"]
        );
        s.delete_function("us-east-1", "f")
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let rows = s
            .list_settings("us-east-1", SettingKind::FunctionUrl, None)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(left(rows), ["other:$LATEST", "other:1", "other:live"]);
        assert!(
            s.get_setting(&csc)
                .await
                .unwrap_or_else(|e| panic!("{e}"))
                .is_some()
        );
    }
}
