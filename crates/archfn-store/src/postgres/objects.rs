//! archfn's S3 catalogue in PostgreSQL (`s3_buckets`, `s3_objects`, `s3_uploads`, `s3_parts`).

use async_trait::async_trait;
use sqlx::postgres::PgRow;

use super::{PgStore, as_i64, decode, encode, get, pg_err};
use crate::StoreError;
use crate::objects::{BucketRecord, ObjectCatalog, ObjectRecord, PartRecord, UploadRecord};

fn size_of(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
}

fn object(r: &PgRow) -> Result<ObjectRecord, StoreError> {
    Ok(ObjectRecord {
        bucket: get(r, "bucket")?,
        key: get(r, "key")?,
        digest: get(r, "digest")?,
        size: size_of(get(r, "size")?),
        etag: get(r, "etag")?,
        content_type: get(r, "content_type")?,
        metadata: decode(get::<&str>(r, "metadata")?)?,
        modified_ms: get(r, "modified_ms")?,
    })
}

fn bucket(r: &PgRow) -> Result<BucketRecord, StoreError> {
    Ok(BucketRecord {
        name: get(r, "name")?,
        region: get(r, "region")?,
        created_ms: get(r, "created_ms")?,
    })
}

async fn upsert_object<'e, E>(e: E, o: &ObjectRecord) -> Result<(), StoreError>
where
    E: sqlx::Executor<'e, Database = sqlx::Postgres>,
{
    sqlx::query(
        "INSERT INTO s3_objects (bucket, key, digest, size, etag, content_type, metadata, modified_ms) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (bucket, key) DO UPDATE SET \
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
    .await
    .map_err(pg_err)?;
    Ok(())
}

#[async_trait]
impl ObjectCatalog for PgStore {
    async fn create_bucket(&self, b: &BucketRecord) -> Result<(), StoreError> {
        sqlx::query("INSERT INTO s3_buckets (name, region, created_ms) VALUES ($1, $2, $3)")
            .bind(&b.name)
            .bind(&b.region)
            .bind(b.created_ms)
            .execute(&self.pool)
            .await
            .map_err(pg_err)?;
        Ok(())
    }

    async fn get_bucket(&self, name: &str) -> Result<Option<BucketRecord>, StoreError> {
        sqlx::query("SELECT name, region, created_ms FROM s3_buckets WHERE name = $1")
            .bind(name)
            .fetch_optional(&self.pool)
            .await
            .map_err(pg_err)?
            .map(|r| bucket(&r))
            .transpose()
    }

    async fn list_buckets(&self) -> Result<Vec<BucketRecord>, StoreError> {
        let rows = sqlx::query("SELECT name, region, created_ms FROM s3_buckets ORDER BY name")
            .fetch_all(&self.pool)
            .await
            .map_err(pg_err)?;
        rows.iter().map(bucket).collect()
    }

    async fn delete_bucket(&self, name: &str) -> Result<bool, StoreError> {
        let mut tx = self.pool.begin().await.map_err(pg_err)?;
        // Locks the bucket's row: an object put into it meanwhile waits for this to commit.
        let exists = sqlx::query("SELECT 1 FROM s3_buckets WHERE name = $1 FOR UPDATE")
            .bind(name)
            .fetch_optional(&mut *tx)
            .await
            .map_err(pg_err)?;
        if exists.is_none() {
            return Ok(false);
        }
        let used = sqlx::query("SELECT 1 FROM s3_objects WHERE bucket = $1 LIMIT 1")
            .bind(name)
            .fetch_optional(&mut *tx)
            .await
            .map_err(pg_err)?;
        if used.is_some() {
            return Err(StoreError::Conflict);
        }
        let n = sqlx::query("DELETE FROM s3_buckets WHERE name = $1")
            .bind(name)
            .execute(&mut *tx)
            .await
            .map_err(pg_err)?
            .rows_affected();
        tx.commit().await.map_err(pg_err)?;
        Ok(n > 0)
    }

    async fn put_object(&self, o: &ObjectRecord) -> Result<(), StoreError> {
        upsert_object(&self.pool, o).await
    }

    async fn get_object(
        &self,
        bucket: &str,
        key: &str,
    ) -> Result<Option<ObjectRecord>, StoreError> {
        sqlx::query("SELECT * FROM s3_objects WHERE bucket = $1 AND key = $2")
            .bind(bucket)
            .bind(key)
            .fetch_optional(&self.pool)
            .await
            .map_err(pg_err)?
            .map(|r| object(&r))
            .transpose()
    }

    async fn delete_object(&self, bucket: &str, key: &str) -> Result<bool, StoreError> {
        let n = sqlx::query("DELETE FROM s3_objects WHERE bucket = $1 AND key = $2")
            .bind(bucket)
            .bind(key)
            .execute(&self.pool)
            .await
            .map_err(pg_err)?
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
        // `starts_with` rather than LIKE: keys may hold `%` and `_`.
        let rows = sqlx::query(
            "SELECT * FROM s3_objects WHERE bucket = $1 AND key > $2 \
             AND starts_with(key, $3) ORDER BY key LIMIT $4",
        )
        .bind(bucket)
        .bind(after)
        .bind(prefix)
        .bind(as_i64(limit as u64))
        .fetch_all(&self.pool)
        .await
        .map_err(pg_err)?;
        rows.iter().map(object).collect()
    }

    async fn create_upload(&self, u: &UploadRecord) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO s3_uploads (id, bucket, key, content_type, metadata, created_ms) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(&u.id)
        .bind(&u.bucket)
        .bind(&u.key)
        .bind(&u.content_type)
        .bind(encode(&u.metadata)?)
        .bind(u.created_ms)
        .execute(&self.pool)
        .await
        .map_err(pg_err)?;
        Ok(())
    }

    async fn get_upload(&self, id: &str) -> Result<Option<UploadRecord>, StoreError> {
        sqlx::query("SELECT * FROM s3_uploads WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await
            .map_err(pg_err)?
            .map(|r| {
                Ok(UploadRecord {
                    id: get(&r, "id")?,
                    bucket: get(&r, "bucket")?,
                    key: get(&r, "key")?,
                    content_type: get(&r, "content_type")?,
                    metadata: decode(get::<&str>(&r, "metadata")?)?,
                    created_ms: get(&r, "created_ms")?,
                })
            })
            .transpose()
    }

    async fn put_part(&self, p: &PartRecord) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO s3_parts (upload, number, digest, size, etag) VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (upload, number) DO UPDATE SET digest = excluded.digest, \
             size = excluded.size, etag = excluded.etag",
        )
        .bind(&p.upload)
        .bind(i64::from(p.number))
        .bind(&p.digest)
        .bind(as_i64(p.size))
        .bind(&p.etag)
        .execute(&self.pool)
        .await
        .map_err(pg_err)?;
        Ok(())
    }

    async fn list_parts(&self, upload: &str) -> Result<Vec<PartRecord>, StoreError> {
        let rows = sqlx::query("SELECT * FROM s3_parts WHERE upload = $1 ORDER BY number")
            .bind(upload)
            .fetch_all(&self.pool)
            .await
            .map_err(pg_err)?;
        rows.iter()
            .map(|r| {
                Ok(PartRecord {
                    upload: get(r, "upload")?,
                    number: u32::try_from(get::<i64>(r, "number")?).unwrap_or(0),
                    digest: get(r, "digest")?,
                    size: size_of(get(r, "size")?),
                    etag: get(r, "etag")?,
                })
            })
            .collect()
    }

    async fn complete_upload(&self, upload: &str, o: &ObjectRecord) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await.map_err(pg_err)?;
        let n = sqlx::query("DELETE FROM s3_uploads WHERE id = $1")
            .bind(upload)
            .execute(&mut *tx)
            .await
            .map_err(pg_err)?
            .rows_affected();
        if n == 0 {
            return Err(StoreError::NotFound);
        }
        sqlx::query("DELETE FROM s3_parts WHERE upload = $1")
            .bind(upload)
            .execute(&mut *tx)
            .await
            .map_err(pg_err)?;
        upsert_object(&mut *tx, o).await?;
        tx.commit().await.map_err(pg_err)?;
        Ok(())
    }

    async fn abort_upload(&self, upload: &str) -> Result<bool, StoreError> {
        let mut tx = self.pool.begin().await.map_err(pg_err)?;
        let n = sqlx::query("DELETE FROM s3_uploads WHERE id = $1")
            .bind(upload)
            .execute(&mut *tx)
            .await
            .map_err(pg_err)?
            .rows_affected();
        sqlx::query("DELETE FROM s3_parts WHERE upload = $1")
            .bind(upload)
            .execute(&mut *tx)
            .await
            .map_err(pg_err)?;
        tx.commit().await.map_err(pg_err)?;
        Ok(n > 0)
    }
}
