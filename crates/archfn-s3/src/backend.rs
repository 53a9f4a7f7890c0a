//! The S3 operations: the catalogue says what exists, the blob store holds the bytes.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

use archfn_blob::BlobStore;
use archfn_store::StoreError;
use archfn_store::objects::{BucketRecord, ObjectCatalog, ObjectRecord, PartRecord, UploadRecord};
use futures_util::StreamExt;
use s3s::dto::{self, ETag, StreamingBlob, Timestamp};
use s3s::{S3, S3Error, S3ErrorCode, S3Request, S3Response, S3Result, s3_error};
use tokio::io::AsyncReadExt;

use crate::etag::{self, Md5Worker};

/// S3's smallest part but the last (5 MiB).
const MIN_PART_BYTES: u64 = 5 << 20;
/// S3's largest object written in one request, and largest part (5 GiB): a body that passes it
/// is refused before it fills the disk.
const MAX_BODY_BYTES: u64 = 5 << 30;
/// Bytes read from a blob at a time for a GetObject: each read is a trip to a blocking thread,
/// so reads are large (ReaderStream's default of 4 KiB made GetObject several times slower than
/// the disk).
const READ_CHUNK: usize = 512 << 10;
/// Chunks of a GetObject read ahead of the connection.
const READ_AHEAD: usize = 4;
/// The most keys one listing returns.
const MAX_KEYS: i32 = 1000;

/// archfn's S3: buckets, objects and uploads in `catalog`, bytes in `blobs`.
#[derive(Debug, Clone)]
pub struct S3Backend {
    catalog: Arc<dyn ObjectCatalog>,
    blobs: Arc<dyn BlobStore>,
    /// The account named as every bucket's owner.
    owner_id: String,
}

impl S3Backend {
    /// A backend over a catalogue and a blob store; buckets are owned by `account_id`.
    pub fn new(
        catalog: Arc<dyn ObjectCatalog>,
        blobs: Arc<dyn BlobStore>,
        account_id: &str,
    ) -> S3Backend {
        S3Backend {
            catalog,
            blobs,
            owner_id: account_id.to_owned(),
        }
    }

    async fn bucket(&self, name: &str) -> S3Result<BucketRecord> {
        self.catalog
            .get_bucket(name)
            .await
            .map_err(internal)?
            .ok_or_else(|| {
                S3Error::with_message(
                    S3ErrorCode::NoSuchBucket,
                    "The specified bucket does not exist",
                )
            })
    }

    async fn object(&self, bucket: &str, key: &str) -> S3Result<ObjectRecord> {
        self.bucket(bucket).await?;
        self.catalog
            .get_object(bucket, key)
            .await
            .map_err(internal)?
            .ok_or_else(|| {
                S3Error::with_message(S3ErrorCode::NoSuchKey, "The specified key does not exist.")
            })
    }

    async fn upload(&self, bucket: &str, key: &str, id: &str) -> S3Result<UploadRecord> {
        self.bucket(bucket).await?;
        match self.catalog.get_upload(id).await.map_err(internal)? {
            Some(u) if u.bucket == bucket && u.key == key => Ok(u),
            _ => Err(S3Error::with_message(
                S3ErrorCode::NoSuchUpload,
                "The specified upload does not exist. The upload ID may be invalid, or the upload may have been aborted or completed.",
            )),
        }
    }

    /// Streams a request body into a new blob: its digest, size and MD5. The body's chunks are
    /// gathered into blocks of the blob writer's size, each handed (without a copy) to the
    /// writer (which writes and hashes it on threads of its own) and to the MD5 thread, so that
    /// receiving, hashing and writing overlap and threads are woken per block, not per chunk.
    async fn store_body(&self, body: Option<StreamingBlob>) -> S3Result<(String, u64, String)> {
        let mut writer = self.blobs.writer().await.map_err(internal)?;
        let mut md5 = Md5Worker::start();
        let mut block = bytes::BytesMut::new();
        let mut size: u64 = 0;
        if let Some(mut body) = body {
            while let Some(chunk) = body.next().await {
                let chunk = chunk.map_err(|e| {
                    S3Error::with_message(
                        S3ErrorCode::IncompleteBody,
                        format!("The request body could not be read: {e}"),
                    )
                })?;
                size += chunk.len() as u64;
                if size > MAX_BODY_BYTES {
                    return Err(s3_error!(
                        EntityTooLarge,
                        "Your proposed upload exceeds the maximum allowed size"
                    ));
                }
                block.extend_from_slice(&chunk);
                if block.len() >= archfn_blob::WRITE_BLOCK {
                    hand_on(&mut writer, &mut md5, block.split().freeze()).await?;
                }
            }
        }
        if !block.is_empty() {
            hand_on(&mut writer, &mut md5, block.split().freeze()).await?;
        }
        let digest = writer.commit(None).await.map_err(internal)?;
        let etag = md5
            .finish()
            .await
            .ok_or_else(|| internal("hashing the body failed"))?;
        Ok((digest.hex(), size, etag))
    }

    /// An object's bytes from `start` (inclusive) to `end` (exclusive), as a stream.
    async fn read(&self, o: &ObjectRecord, start: u64, end: u64) -> S3Result<StreamingBlob> {
        let blob = self.blobs.open(&o.digest).await.map_err(internal)?;
        let mut reader = blob.reader;
        if start > 0 {
            tokio::io::copy(&mut (&mut reader).take(start), &mut tokio::io::sink())
                .await
                .map_err(internal)?;
        }
        // Read ahead: a task reads the next chunks while the connection sends the last, so the
        // disk and the socket work at once (at most READ_AHEAD chunks wait). The task ends when
        // the blob is read, or when the response is dropped.
        let (tx, rx) = tokio::sync::mpsc::channel::<std::io::Result<bytes::Bytes>>(READ_AHEAD);
        tokio::spawn(async move {
            let mut chunks =
                tokio_util::io::ReaderStream::with_capacity(reader.take(end - start), READ_CHUNK);
            while let Some(chunk) = chunks.next().await {
                if tx.send(chunk).await.is_err() {
                    break;
                }
            }
        });
        let stream = futures_util::stream::unfold(rx, |mut rx| async move {
            rx.recv().await.map(|chunk| (chunk, rx))
        });
        Ok(StreamingBlob::wrap(stream))
    }
}

/// Hands a block of a body to the blob writer and the MD5 thread.
async fn hand_on(
    writer: &mut Box<dyn archfn_blob::BlobWriter>,
    md5: &mut Md5Worker,
    block: bytes::Bytes,
) -> S3Result<()> {
    if !md5.update(block.clone()).await {
        return Err(internal("hashing the body failed"));
    }
    writer.write_bytes(block).await.map_err(internal)
}

fn internal(e: impl std::fmt::Display) -> S3Error {
    tracing::warn!("S3 storage error: {e}");
    S3Error::with_message(
        S3ErrorCode::InternalError,
        "We encountered an internal error. Please try again.",
    )
}

fn timestamp(ms: i64) -> Timestamp {
    Timestamp::from(UNIX_EPOCH + Duration::from_millis(u64::try_from(ms).unwrap_or(0)))
}

fn strong(etag: &str) -> ETag {
    ETag::Strong(etag.to_owned())
}

fn metadata_of(m: Option<dto::Metadata>) -> BTreeMap<String, String> {
    m.map(|m| m.into_iter().collect()).unwrap_or_default()
}

fn metadata_out(m: &BTreeMap<String, String>) -> Option<dto::Metadata> {
    (!m.is_empty()).then(|| m.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
}

fn size_i64(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

#[async_trait::async_trait]
impl S3 for S3Backend {
    async fn create_bucket(
        &self,
        req: S3Request<dto::CreateBucketInput>,
    ) -> S3Result<S3Response<dto::CreateBucketOutput>> {
        let region = req
            .input
            .create_bucket_configuration
            .as_ref()
            .and_then(|c| c.location_constraint.as_ref())
            .map(|l| l.as_str().to_owned())
            .or_else(|| req.region.as_ref().map(|r| r.as_str().to_owned()))
            .unwrap_or_else(|| "us-east-1".to_owned());
        let record = BucketRecord {
            name: req.input.bucket.clone(),
            region: region.clone(),
            created_ms: archfn_model::time::now_ms(),
        };
        match self.catalog.create_bucket(&record).await {
            Ok(()) => {}
            // S3 in us-east-1 answers a repeated create by the owner with success.
            Err(StoreError::AlreadyExists) if region == "us-east-1" => {}
            Err(StoreError::AlreadyExists) => {
                return Err(S3Error::with_message(
                    S3ErrorCode::BucketAlreadyOwnedByYou,
                    "Your previous request to create the named bucket succeeded and you already own it.",
                ));
            }
            Err(e) => return Err(internal(e)),
        }
        Ok(S3Response::new(dto::CreateBucketOutput {
            location: Some(format!("/{}", req.input.bucket)),
        }))
    }

    async fn head_bucket(
        &self,
        req: S3Request<dto::HeadBucketInput>,
    ) -> S3Result<S3Response<dto::HeadBucketOutput>> {
        let b = self.bucket(&req.input.bucket).await?;
        Ok(S3Response::new(dto::HeadBucketOutput {
            bucket_region: Some(b.region),
            ..Default::default()
        }))
    }

    async fn get_bucket_location(
        &self,
        req: S3Request<dto::GetBucketLocationInput>,
    ) -> S3Result<S3Response<dto::GetBucketLocationOutput>> {
        let b = self.bucket(&req.input.bucket).await?;
        let location =
            (b.region != "us-east-1").then(|| dto::BucketLocationConstraint::from(b.region));
        Ok(S3Response::new(dto::GetBucketLocationOutput {
            location_constraint: location,
        }))
    }

    async fn list_buckets(
        &self,
        _req: S3Request<dto::ListBucketsInput>,
    ) -> S3Result<S3Response<dto::ListBucketsOutput>> {
        let buckets = self.catalog.list_buckets().await.map_err(internal)?;
        Ok(S3Response::new(dto::ListBucketsOutput {
            buckets: Some(
                buckets
                    .into_iter()
                    .map(|b| dto::Bucket {
                        bucket_region: Some(b.region),
                        creation_date: Some(timestamp(b.created_ms)),
                        name: Some(b.name),
                    })
                    .collect(),
            ),
            owner: Some(dto::Owner {
                display_name: None,
                id: Some(self.owner_id.clone()),
            }),
            ..Default::default()
        }))
    }

    async fn delete_bucket(
        &self,
        req: S3Request<dto::DeleteBucketInput>,
    ) -> S3Result<S3Response<dto::DeleteBucketOutput>> {
        match self.catalog.delete_bucket(&req.input.bucket).await {
            Ok(true) => Ok(S3Response::new(dto::DeleteBucketOutput::default())),
            Ok(false) => Err(s3_error!(
                NoSuchBucket,
                "The specified bucket does not exist"
            )),
            Err(StoreError::Conflict) => Err(s3_error!(
                BucketNotEmpty,
                "The bucket you tried to delete is not empty"
            )),
            Err(e) => Err(internal(e)),
        }
    }

    async fn put_object(
        &self,
        req: S3Request<dto::PutObjectInput>,
    ) -> S3Result<S3Response<dto::PutObjectOutput>> {
        let input = req.input;
        self.bucket(&input.bucket).await?;
        let (digest, size, md5) = self.store_body(input.body).await?;
        let record = ObjectRecord {
            bucket: input.bucket,
            key: input.key,
            digest,
            size,
            etag: md5,
            content_type: input.content_type,
            metadata: metadata_of(input.metadata),
            modified_ms: archfn_model::time::now_ms(),
        };
        self.catalog.put_object(&record).await.map_err(internal)?;
        Ok(S3Response::new(dto::PutObjectOutput {
            e_tag: Some(strong(&record.etag)),
            size: Some(size_i64(size)),
            ..Default::default()
        }))
    }

    async fn get_object(
        &self,
        req: S3Request<dto::GetObjectInput>,
    ) -> S3Result<S3Response<dto::GetObjectOutput>> {
        let o = self.object(&req.input.bucket, &req.input.key).await?;
        let (range, partial) = match &req.input.range {
            Some(r) => match r.check(o.size) {
                Ok(r) => (r, true),
                Err(_) => {
                    return Err(s3_error!(
                        InvalidRange,
                        "The requested range is not satisfiable"
                    ));
                }
            },
            None => (0..o.size, false),
        };
        let body = self.read(&o, range.start, range.end).await?;
        let output = dto::GetObjectOutput {
            accept_ranges: Some("bytes".into()),
            body: Some(body),
            content_length: Some(size_i64(range.end - range.start)),
            content_range: partial.then(|| {
                format!(
                    "bytes {}-{}/{}",
                    range.start,
                    range.end.saturating_sub(1),
                    o.size
                )
            }),
            content_type: o.content_type.clone(),
            e_tag: Some(strong(&o.etag)),
            last_modified: Some(timestamp(o.modified_ms)),
            metadata: metadata_out(&o.metadata),
            ..Default::default()
        };
        Ok(if partial {
            S3Response::with_status(output, http::StatusCode::PARTIAL_CONTENT)
        } else {
            S3Response::new(output)
        })
    }

    async fn head_object(
        &self,
        req: S3Request<dto::HeadObjectInput>,
    ) -> S3Result<S3Response<dto::HeadObjectOutput>> {
        let o = self.object(&req.input.bucket, &req.input.key).await?;
        Ok(S3Response::new(dto::HeadObjectOutput {
            accept_ranges: Some("bytes".into()),
            content_length: Some(size_i64(o.size)),
            content_type: o.content_type.clone(),
            e_tag: Some(strong(&o.etag)),
            last_modified: Some(timestamp(o.modified_ms)),
            metadata: metadata_out(&o.metadata),
            ..Default::default()
        }))
    }

    async fn delete_object(
        &self,
        req: S3Request<dto::DeleteObjectInput>,
    ) -> S3Result<S3Response<dto::DeleteObjectOutput>> {
        self.bucket(&req.input.bucket).await?;
        // Deleting a key that does not exist succeeds, as in S3.
        self.catalog
            .delete_object(&req.input.bucket, &req.input.key)
            .await
            .map_err(internal)?;
        Ok(S3Response::with_status(
            dto::DeleteObjectOutput::default(),
            http::StatusCode::NO_CONTENT,
        ))
    }

    async fn delete_objects(
        &self,
        req: S3Request<dto::DeleteObjectsInput>,
    ) -> S3Result<S3Response<dto::DeleteObjectsOutput>> {
        let input = req.input;
        self.bucket(&input.bucket).await?;
        let quiet = input.delete.quiet.unwrap_or(false);
        let mut deleted = Vec::new();
        for id in input.delete.objects {
            self.catalog
                .delete_object(&input.bucket, &id.key)
                .await
                .map_err(internal)?;
            if !quiet {
                deleted.push(dto::DeletedObject {
                    key: Some(id.key),
                    ..Default::default()
                });
            }
        }
        Ok(S3Response::new(dto::DeleteObjectsOutput {
            deleted: Some(deleted),
            ..Default::default()
        }))
    }

    async fn list_objects_v2(
        &self,
        req: S3Request<dto::ListObjectsV2Input>,
    ) -> S3Result<S3Response<dto::ListObjectsV2Output>> {
        let input = req.input;
        self.bucket(&input.bucket).await?;
        let prefix = input.prefix.clone().unwrap_or_default();
        let max_keys = input.max_keys.unwrap_or(MAX_KEYS).clamp(0, MAX_KEYS);
        let limit = usize::try_from(max_keys).unwrap_or(0);
        let token_key = input
            .continuation_token
            .as_deref()
            .map(|t| {
                hex::decode(t)
                    .ok()
                    .and_then(|b| String::from_utf8(b).ok())
                    .ok_or_else(|| {
                        s3_error!(
                            InvalidArgument,
                            "The continuation token provided is incorrect"
                        )
                    })
            })
            .transpose()?;
        let mut after = token_key
            .or_else(|| input.start_after.clone())
            .unwrap_or_default();
        let delimiter = input.delimiter.clone().filter(|d| !d.is_empty());
        let mut contents = Vec::new();
        let mut prefixes: Vec<String> = Vec::new();
        let mut truncated = false;
        let mut last = None;
        'outer: loop {
            if limit == 0 {
                break;
            }
            let batch = self
                .catalog
                .list_objects(&input.bucket, &prefix, &after, limit + 1)
                .await
                .map_err(internal)?;
            if batch.is_empty() {
                break;
            }
            for o in batch {
                if contents.len() + prefixes.len() == limit {
                    truncated = true;
                    break 'outer;
                }
                after = o.key.clone();
                let common = delimiter.as_deref().and_then(|d| {
                    o.key[prefix.len()..]
                        .find(d)
                        .map(|i| o.key[..prefix.len() + i + d.len()].to_owned())
                });
                match common {
                    Some(p) => {
                        // Skip every other key under this common prefix.
                        after = format!("{p}\u{10FFFF}");
                        last = Some(p.clone());
                        prefixes.push(p);
                        continue 'outer;
                    }
                    None => {
                        last = Some(o.key.clone());
                        contents.push(dto::Object {
                            e_tag: Some(strong(&o.etag)),
                            key: Some(o.key),
                            last_modified: Some(timestamp(o.modified_ms)),
                            size: Some(size_i64(o.size)),
                            storage_class: Some(dto::ObjectStorageClass::from_static(
                                dto::ObjectStorageClass::STANDARD,
                            )),
                            ..Default::default()
                        });
                    }
                }
            }
        }
        let key_count = i32::try_from(contents.len() + prefixes.len()).unwrap_or(i32::MAX);
        Ok(S3Response::new(dto::ListObjectsV2Output {
            name: Some(input.bucket),
            prefix: Some(prefix),
            max_keys: Some(max_keys),
            key_count: Some(key_count),
            continuation_token: input.continuation_token,
            is_truncated: Some(truncated),
            next_continuation_token: truncated
                .then(|| last.map(|k| hex::encode(k.as_bytes())))
                .flatten(),
            contents: Some(contents),
            common_prefixes: Some(
                prefixes
                    .into_iter()
                    .map(|p| dto::CommonPrefix { prefix: Some(p) })
                    .collect(),
            ),
            delimiter: input.delimiter,
            encoding_type: input.encoding_type,
            start_after: input.start_after,
            ..Default::default()
        }))
    }

    async fn create_multipart_upload(
        &self,
        req: S3Request<dto::CreateMultipartUploadInput>,
    ) -> S3Result<S3Response<dto::CreateMultipartUploadOutput>> {
        let input = req.input;
        self.bucket(&input.bucket).await?;
        let upload = UploadRecord {
            id: uuid::Uuid::new_v4().simple().to_string(),
            bucket: input.bucket.clone(),
            key: input.key.clone(),
            content_type: input.content_type,
            metadata: metadata_of(input.metadata),
            created_ms: archfn_model::time::now_ms(),
        };
        self.catalog
            .create_upload(&upload)
            .await
            .map_err(internal)?;
        Ok(S3Response::new(dto::CreateMultipartUploadOutput {
            bucket: Some(input.bucket),
            key: Some(input.key),
            upload_id: Some(upload.id),
            ..Default::default()
        }))
    }

    async fn upload_part(
        &self,
        req: S3Request<dto::UploadPartInput>,
    ) -> S3Result<S3Response<dto::UploadPartOutput>> {
        let input = req.input;
        if !(1..=10_000).contains(&input.part_number) {
            return Err(s3_error!(
                InvalidArgument,
                "Part number must be an integer between 1 and 10000, inclusive"
            ));
        }
        self.upload(&input.bucket, &input.key, &input.upload_id)
            .await?;
        let (digest, size, md5) = self.store_body(input.body).await?;
        let part = PartRecord {
            upload: input.upload_id,
            number: u32::try_from(input.part_number).unwrap_or(0),
            digest,
            size,
            etag: md5,
        };
        self.catalog.put_part(&part).await.map_err(internal)?;
        Ok(S3Response::new(dto::UploadPartOutput {
            e_tag: Some(strong(&part.etag)),
            ..Default::default()
        }))
    }

    async fn complete_multipart_upload(
        &self,
        req: S3Request<dto::CompleteMultipartUploadInput>,
    ) -> S3Result<S3Response<dto::CompleteMultipartUploadOutput>> {
        let input = req.input;
        let upload = self
            .upload(&input.bucket, &input.key, &input.upload_id)
            .await?;
        let stored = self
            .catalog
            .list_parts(&upload.id)
            .await
            .map_err(internal)?;
        let asked = input
            .multipart_upload
            .and_then(|m| m.parts)
            .unwrap_or_default();
        if asked.is_empty() {
            return Err(s3_error!(
                MalformedXML,
                "The XML you provided was not well-formed or did not validate against our published schema"
            ));
        }
        let invalid_part = || {
            s3_error!(
                InvalidPart,
                "One or more of the specified parts could not be found.  The part may not have been uploaded, or the specified entity tag may not match the part's entity tag."
            )
        };
        let mut chosen: Vec<&PartRecord> = Vec::with_capacity(asked.len());
        let mut previous = 0;
        for p in &asked {
            let n = p.part_number.unwrap_or(0);
            if n <= previous {
                return Err(s3_error!(
                    InvalidPartOrder,
                    "The list of parts was not in ascending order. Parts must be ordered by part number."
                ));
            }
            previous = n;
            let part = stored
                .iter()
                .find(|s| i64::from(s.number) == i64::from(n))
                .ok_or_else(invalid_part)?;
            if let Some(e) = &p.e_tag
                && e.value().trim_matches('"') != part.etag
            {
                return Err(invalid_part());
            }
            chosen.push(part);
        }
        if let Some((_, but_last)) = chosen.split_last()
            && but_last.iter().any(|p| p.size < MIN_PART_BYTES)
        {
            return Err(s3_error!(
                EntityTooSmall,
                "Your proposed upload is smaller than the minimum allowed object size."
            ));
        }
        let mut writer = self.blobs.writer().await.map_err(internal)?;
        let mut buf = vec![0u8; 256 << 10];
        for part in &chosen {
            let mut reader = self
                .blobs
                .open(&part.digest)
                .await
                .map_err(internal)?
                .reader;
            loop {
                let n = reader.read(&mut buf).await.map_err(internal)?;
                if n == 0 {
                    break;
                }
                writer.write(&buf[..n]).await.map_err(internal)?;
            }
        }
        let size = writer.len();
        let digest = writer.commit(None).await.map_err(internal)?;
        let etags: Vec<&str> = chosen.iter().map(|p| p.etag.as_str()).collect();
        let etag = etag::multipart(&etags).ok_or_else(invalid_part)?;
        let record = ObjectRecord {
            bucket: upload.bucket.clone(),
            key: upload.key.clone(),
            digest: digest.hex(),
            size,
            etag,
            content_type: upload.content_type.clone(),
            metadata: upload.metadata.clone(),
            modified_ms: archfn_model::time::now_ms(),
        };
        match self.catalog.complete_upload(&upload.id, &record).await {
            Ok(()) => {}
            Err(StoreError::NotFound) => {
                return Err(s3_error!(
                    NoSuchUpload,
                    "The specified upload does not exist."
                ));
            }
            Err(e) => return Err(internal(e)),
        }
        Ok(S3Response::new(dto::CompleteMultipartUploadOutput {
            bucket: Some(record.bucket.clone()),
            key: Some(record.key.clone()),
            e_tag: Some(strong(&record.etag)),
            location: Some(format!("/{}/{}", record.bucket, record.key)),
            ..Default::default()
        }))
    }

    async fn abort_multipart_upload(
        &self,
        req: S3Request<dto::AbortMultipartUploadInput>,
    ) -> S3Result<S3Response<dto::AbortMultipartUploadOutput>> {
        let input = req.input;
        self.upload(&input.bucket, &input.key, &input.upload_id)
            .await?;
        self.catalog
            .abort_upload(&input.upload_id)
            .await
            .map_err(internal)?;
        Ok(S3Response::with_status(
            dto::AbortMultipartUploadOutput::default(),
            http::StatusCode::NO_CONTENT,
        ))
    }
}
