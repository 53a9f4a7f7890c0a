//! The catalogue of archfn's S3: buckets, objects (their bytes are blobs, named by digest) and
//! multipart uploads in progress.

use async_trait::async_trait;
use std::collections::BTreeMap;

use crate::StoreError;

/// A bucket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BucketRecord {
    /// Its name (global, as in S3).
    pub name: String,
    /// The region it was created in.
    pub region: String,
    /// Creation time, Unix milliseconds.
    pub created_ms: i64,
}

/// An object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectRecord {
    /// Its bucket.
    pub bucket: String,
    /// Its key.
    pub key: String,
    /// The blob holding its bytes (SHA-256, hex).
    pub digest: String,
    /// Its size in bytes.
    pub size: u64,
    /// Its ETag, without quotes.
    pub etag: String,
    /// Its Content-Type, if one was given.
    pub content_type: Option<String>,
    /// Its user metadata (`x-amz-meta-*`).
    pub metadata: BTreeMap<String, String>,
    /// Last written, Unix milliseconds.
    pub modified_ms: i64,
}

/// A multipart upload in progress.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadRecord {
    /// Its id.
    pub id: String,
    /// The bucket.
    pub bucket: String,
    /// The key it will complete into.
    pub key: String,
    /// Content-Type for the object.
    pub content_type: Option<String>,
    /// User metadata for the object.
    pub metadata: BTreeMap<String, String>,
    /// Started, Unix milliseconds.
    pub created_ms: i64,
}

/// A part of a multipart upload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartRecord {
    /// The upload.
    pub upload: String,
    /// Part number, 1 to 10,000.
    pub number: u32,
    /// The blob holding its bytes.
    pub digest: String,
    /// Its size.
    pub size: u64,
    /// Its ETag (MD5, hex), without quotes.
    pub etag: String,
}

/// Buckets, objects and uploads. Every method is atomic and durable when it returns.
#[async_trait]
pub trait ObjectCatalog: Send + Sync + std::fmt::Debug {
    /// Creates a bucket; `AlreadyExists` when the name is taken.
    async fn create_bucket(&self, b: &BucketRecord) -> Result<(), StoreError>;
    /// A bucket by name.
    async fn get_bucket(&self, name: &str) -> Result<Option<BucketRecord>, StoreError>;
    /// Every bucket, by name.
    async fn list_buckets(&self) -> Result<Vec<BucketRecord>, StoreError>;
    /// Deletes an empty bucket: `Conflict` when it holds objects, false when absent.
    async fn delete_bucket(&self, name: &str) -> Result<bool, StoreError>;
    /// Writes an object (replacing one of the same key).
    async fn put_object(&self, o: &ObjectRecord) -> Result<(), StoreError>;
    /// An object.
    async fn get_object(&self, bucket: &str, key: &str)
    -> Result<Option<ObjectRecord>, StoreError>;
    /// Deletes an object; false when absent.
    async fn delete_object(&self, bucket: &str, key: &str) -> Result<bool, StoreError>;
    /// Objects of a bucket whose keys start with `prefix` and sort after `after`, in key order,
    /// at most `limit`.
    async fn list_objects(
        &self,
        bucket: &str,
        prefix: &str,
        after: &str,
        limit: usize,
    ) -> Result<Vec<ObjectRecord>, StoreError>;
    /// Records a new multipart upload.
    async fn create_upload(&self, u: &UploadRecord) -> Result<(), StoreError>;
    /// An upload in progress.
    async fn get_upload(&self, id: &str) -> Result<Option<UploadRecord>, StoreError>;
    /// Records a part (replacing one of the same number).
    async fn put_part(&self, p: &PartRecord) -> Result<(), StoreError>;
    /// The parts of an upload, by number.
    async fn list_parts(&self, upload: &str) -> Result<Vec<PartRecord>, StoreError>;
    /// Completes an upload: writes the object and forgets the upload and its parts, in one
    /// transaction.
    async fn complete_upload(&self, upload: &str, o: &ObjectRecord) -> Result<(), StoreError>;
    /// Forgets an upload and its parts; false when absent.
    async fn abort_upload(&self, upload: &str) -> Result<bool, StoreError>;
}
