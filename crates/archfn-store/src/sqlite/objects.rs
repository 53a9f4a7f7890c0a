//! archfn's S3 catalogue in SQLite (`s3_buckets`, `s3_objects`, `s3_uploads`, `s3_parts`).

use async_trait::async_trait;
use sqlx::Row;

use super::{SqliteStore, as_i64, decode, encode};
use crate::StoreError;
use crate::objects::{BucketRecord, ObjectCatalog, ObjectRecord, PartRecord, UploadRecord};

fn size_of(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
}

fn object(r: &sqlx::sqlite::SqliteRow) -> Result<ObjectRecord, StoreError> {
    Ok(ObjectRecord {
        bucket: r.try_get("bucket")?,
        key: r.try_get("key")?,
        digest: r.try_get("digest")?,
        size: size_of(r.try_get("size")?),
        etag: r.try_get("etag")?,
        content_type: r.try_get("content_type")?,
        metadata: decode(r.try_get::<&str, _>("metadata")?)?,
        modified_ms: r.try_get("modified_ms")?,
    })
}

async fn upsert_object<'e, E>(e: E, o: &ObjectRecord) -> Result<(), StoreError>
where
    E: sqlx::Executor<'e, Database = sqlx::Sqlite>,
{
    sqlx::query(
        "INSERT INTO s3_objects (bucket, key, digest, size, etag, content_type, metadata, modified_ms) \
         VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (bucket, key) DO UPDATE SET \
         digest = excluded.digest, size = excluded.size, etag = excluded.etag, \
         content_type = excluded.content_type, metadata = excluded.metadata, \
         modified_ms = excluded.modified_ms",
    )
    .bind(&o.bucket)
    .bind(&o.key)
    .bind(&o.digest)
    .bind(as_i64(o.size))
    .bind(&o.etag)
    .bind(&o.content_type)
    .bind(encode(&o.metadata)?)
    .bind(o.modified_ms)
    .execute(e)
    .await?;
    Ok(())
}

#[async_trait]
impl ObjectCatalog for SqliteStore {
    async fn create_bucket(&self, b: &BucketRecord) -> Result<(), StoreError> {
        sqlx::query("INSERT INTO s3_buckets (name, region, created_ms) VALUES (?, ?, ?)")
            .bind(&b.name)
            .bind(&b.region)
            .bind(b.created_ms)
            .execute(&self.write)
            .await?;
        Ok(())
    }

    async fn get_bucket(&self, name: &str) -> Result<Option<BucketRecord>, StoreError> {
        sqlx::query("SELECT name, region, created_ms FROM s3_buckets WHERE name = ?")
            .bind(name)
            .fetch_optional(&self.pool)
            .await?
            .map(|r| {
                Ok(BucketRecord {
                    name: r.try_get("name")?,
                    region: r.try_get("region")?,
                    created_ms: r.try_get("created_ms")?,
                })
            })
            .transpose()
    }

    async fn list_buckets(&self) -> Result<Vec<BucketRecord>, StoreError> {
        let rows = sqlx::query("SELECT name, region, created_ms FROM s3_buckets ORDER BY name")
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|r| {
                Ok(BucketRecord {
                    name: r.try_get("name")?,
                    region: r.try_get("region")?,
                    created_ms: r.try_get("created_ms")?,
                })
            })
            .collect()
    }

    async fn delete_bucket(&self, name: &str) -> Result<bool, StoreError> {
        let mut tx = self.write.begin().await?;
        let used = sqlx::query("SELECT 1 FROM s3_objects WHERE bucket = ? LIMIT 1")
            .bind(name)
            .fetch_optional(&mut *tx)
            .await?;
        if used.is_some() {
            return Err(StoreError::Conflict);
        }
        let n = sqlx::query("DELETE FROM s3_buckets WHERE name = ?")
            .bind(name)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        tx.commit().await?;
        Ok(n > 0)
    }

    async fn put_object(&self, o: &ObjectRecord) -> Result<(), StoreError> {
        upsert_object(&self.write, o).await
    }

    async fn get_object(
        &self,
        bucket: &str,
        key: &str,
    ) -> Result<Option<ObjectRecord>, StoreError> {
        sqlx::query("SELECT * FROM s3_objects WHERE bucket = ? AND key = ?")
            .bind(bucket)
            .bind(key)
            .fetch_optional(&self.pool)
            .await?
            .map(|r| object(&r))
            .transpose()
    }

    async fn delete_object(&self, bucket: &str, key: &str) -> Result<bool, StoreError> {
        let n = sqlx::query("DELETE FROM s3_objects WHERE bucket = ? AND key = ?")
            .bind(bucket)
            .bind(key)
            .execute(&self.write)
            .await?
            .rows_affected();
        Ok(n > 0)
    }

    async fn list_objects(
        &self,
        bucket: &str,
        prefix: &str,
        after: &str,
        limit: usize,
    ) -> Result<Vec<ObjectRecord>, StoreError> {
        // `substr` rather than LIKE: keys may hold `%` and `_`.
        let rows = sqlx::query(
            "SELECT * FROM s3_objects WHERE bucket = ? AND key > ? \
             AND substr(key, 1, length(?)) = ? ORDER BY key LIMIT ?",
        )
        .bind(bucket)
        .bind(after)
        .bind(prefix)
        .bind(prefix)
        .bind(as_i64(limit as u64))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(object).collect()
    }

    async fn create_upload(&self, u: &UploadRecord) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO s3_uploads (id, bucket, key, content_type, metadata, created_ms) \
             VALUES (?, ?, ?, ?, ?, ?)",
        )
        .bind(&u.id)
        .bind(&u.bucket)
        .bind(&u.key)
        .bind(&u.content_type)
        .bind(encode(&u.metadata)?)
        .bind(u.created_ms)
        .execute(&self.write)
        .await?;
        Ok(())
    }

    async fn get_upload(&self, id: &str) -> Result<Option<UploadRecord>, StoreError> {
        sqlx::query("SELECT * FROM s3_uploads WHERE id = ?")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?
            .map(|r| {
                Ok(UploadRecord {
                    id: r.try_get("id")?,
                    bucket: r.try_get("bucket")?,
                    key: r.try_get("key")?,
                    content_type: r.try_get("content_type")?,
                    metadata: decode(r.try_get::<&str, _>("metadata")?)?,
                    created_ms: r.try_get("created_ms")?,
                })
            })
            .transpose()
    }

    async fn put_part(&self, p: &PartRecord) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO s3_parts (upload, number, digest, size, etag) VALUES (?, ?, ?, ?, ?) \
             ON CONFLICT (upload, number) DO UPDATE SET digest = excluded.digest, \
             size = excluded.size, etag = excluded.etag",
        )
        .bind(&p.upload)
        .bind(i64::from(p.number))
        .bind(&p.digest)
        .bind(as_i64(p.size))
        .bind(&p.etag)
        .execute(&self.write)
        .await?;
        Ok(())
    }

    async fn list_parts(&self, upload: &str) -> Result<Vec<PartRecord>, StoreError> {
        let rows = sqlx::query("SELECT * FROM s3_parts WHERE upload = ? ORDER BY number")
            .bind(upload)
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|r| {
                Ok(PartRecord {
                    upload: r.try_get("upload")?,
                    number: u32::try_from(r.try_get::<i64, _>("number")?).unwrap_or(0),
                    digest: r.try_get("digest")?,
                    size: size_of(r.try_get("size")?),
                    etag: r.try_get("etag")?,
                })
            })
            .collect()
    }

    async fn complete_upload(&self, upload: &str, o: &ObjectRecord) -> Result<(), StoreError> {
        let mut tx = self.write.begin().await?;
        let n = sqlx::query("DELETE FROM s3_uploads WHERE id = ?")
            .bind(upload)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if n == 0 {
            return Err(StoreError::NotFound);
        }
        sqlx::query("DELETE FROM s3_parts WHERE upload = ?")
            .bind(upload)
            .execute(&mut *tx)
            .await?;
        upsert_object(&mut *tx, o).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn abort_upload(&self, upload: &str) -> Result<bool, StoreError> {
        let mut tx = self.write.begin().await?;
        let n = sqlx::query("DELETE FROM s3_uploads WHERE id = ?")
            .bind(upload)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        sqlx::query("DELETE FROM s3_parts WHERE upload = ?")
            .bind(upload)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(n > 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn store() -> SqliteStore {
        let dir = std::env::temp_dir().join(format!("archfn-objects-test-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{e}"));
        SqliteStore::open(&dir.join("meta.db"))
            .await
            .unwrap_or_else(|e| panic!("{e}"))
    }

    fn obj(key: &str, digest: &str) -> ObjectRecord {
        ObjectRecord {
            bucket: "b".into(),
            key: key.into(),
            digest: digest.into(),
            size: 3,
            etag: "e".into(),
            content_type: None,
            metadata: BTreeMap::from([("k".to_owned(), "v".to_owned())]),
            modified_ms: 1,
        }
    }

    use std::collections::BTreeMap;

    #[tokio::test]
    async fn buckets_objects_and_uploads() {
        let s = store().await;
        let b = BucketRecord {
            name: "b".into(),
            region: "us-east-1".into(),
            created_ms: 1,
        };
        s.create_bucket(&b).await.unwrap_or_else(|e| panic!("{e}"));
        assert!(matches!(
            s.create_bucket(&b).await,
            Err(StoreError::AlreadyExists)
        ));
        for k in ["a/1", "a/2", "a%_", "b/1"] {
            s.put_object(&obj(k, "d1"))
                .await
                .unwrap_or_else(|e| panic!("{e}"));
        }
        s.put_object(&obj("a/1", "d2"))
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let keys = |v: Vec<ObjectRecord>| v.into_iter().map(|o| o.key).collect::<Vec<_>>();
        let listed = s
            .list_objects("b", "a", "", 10)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(keys(listed), ["a%_", "a/1", "a/2"]);
        let listed = s
            .list_objects("b", "a/", "a/1", 10)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(keys(listed), ["a/2"]);
        let got = s
            .get_object("b", "a/1")
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            got.map(|o| (o.digest, o.metadata.len())),
            Some(("d2".to_owned(), 1))
        );
        assert!(matches!(
            s.delete_bucket("b").await,
            Err(StoreError::Conflict)
        ));

        let u = UploadRecord {
            id: "u1".into(),
            bucket: "b".into(),
            key: "big".into(),
            content_type: Some("text/plain".into()),
            metadata: BTreeMap::new(),
            created_ms: 1,
        };
        s.create_upload(&u).await.unwrap_or_else(|e| panic!("{e}"));
        for n in [2, 1, 2] {
            let p = PartRecord {
                upload: "u1".into(),
                number: n,
                digest: format!("p{n}"),
                size: 5,
                etag: "m".into(),
            };
            s.put_part(&p).await.unwrap_or_else(|e| panic!("{e}"));
        }
        let parts = s.list_parts("u1").await.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(parts.iter().map(|p| p.number).collect::<Vec<_>>(), [1, 2]);
        s.complete_upload("u1", &obj("big", "whole"))
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(
            s.get_upload("u1")
                .await
                .unwrap_or_else(|e| panic!("{e}"))
                .is_none()
        );
        assert!(
            s.list_parts("u1")
                .await
                .unwrap_or_else(|e| panic!("{e}"))
                .is_empty()
        );
        assert!(matches!(
            s.complete_upload("u1", &obj("big", "x")).await,
            Err(StoreError::NotFound)
        ));
        for k in ["a/1", "a/2", "a%_", "b/1", "big"] {
            assert!(
                s.delete_object("b", k)
                    .await
                    .unwrap_or_else(|e| panic!("{e}"))
            );
        }
        assert!(s.delete_bucket("b").await.unwrap_or_else(|e| panic!("{e}")));
    }
}
