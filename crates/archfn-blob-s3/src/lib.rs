//! The blob store in a bucket of an S3-compatible object store, so that several `archfn serve`
//! nodes share code zips, layers and image blobs.
//!
//! Owns: the `BlobStore` contract (content-addressed, immutable, durable before acknowledged)
//! over S3: each blob is the object `<prefix>blobs/<hex sha-256>`. A blob written in pieces is
//! spooled to a local file while it is hashed (its key is known only at the end), then uploaded
//! in parts; `commit` returns once the object store has acknowledged it. Reads stream from the
//! bucket; each node unpacks what it runs into its own local cache (the control plane does
//! that, as it does for the file store).
//! Must not: read the environment (the server passes the location and credentials), or know
//! what a function, a zip or an image is.

use std::fmt::Debug;
use std::io::Write as _;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use archfn_blob::{BlobDigest, BlobEntry, BlobError, BlobReader, BlobStore, BlobWriter};
use async_trait::async_trait;
use bytes::Bytes;
use futures_util::StreamExt as _;
use futures_util::stream::BoxStream;
use object_store::aws::{AmazonS3, AmazonS3Builder};
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, ObjectStoreExt as _, PutPayload, WriteMultipart};
use sha2::{Digest as _, Sha256};
use tokio::io::{AsyncRead, ReadBuf};
use tokio_util::io::StreamReader;

/// Blobs above this size are uploaded in parts of this size (S3's parts are at least 5 MiB).
const PART_BYTES: usize = 16 * 1024 * 1024;
/// At most this many parts in flight per upload.
const PARTS_IN_FLIGHT: usize = 4;

/// What is wrong with an `s3://` location.
#[derive(Debug, thiserror::Error)]
pub enum LocationError {
    /// Not of the form `s3://bucket[/prefix][?endpoint=URL&region=R]`.
    #[error(
        "invalid blob location {0:?}: expected s3://BUCKET[/PREFIX][?endpoint=URL&region=REGION]"
    )]
    Invalid(String),
    /// The object store client could not be built.
    #[error("object store: {0}")]
    Client(String),
}

/// Where the blobs live: a bucket, a key prefix within it, and the endpoint of an S3-compatible
/// server (AWS S3 itself when absent).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct S3Location {
    /// The bucket.
    pub bucket: String,
    /// Prefix of every key, empty or ending in `/`.
    pub prefix: String,
    /// The server's URL (`http://127.0.0.1:9000`), or `None` for AWS.
    pub endpoint: Option<String>,
    /// The region requests are signed for.
    pub region: String,
}

impl S3Location {
    /// Parses `s3://bucket[/prefix][?endpoint=URL&region=REGION]`.
    pub fn parse(url: &str) -> Result<S3Location, LocationError> {
        let invalid = || LocationError::Invalid(url.to_string());
        let rest = url.strip_prefix("s3://").ok_or_else(invalid)?;
        let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
        let (bucket, prefix) = path.split_once('/').unwrap_or((path, ""));
        let bucket_ok = (3..=63).contains(&bucket.len())
            && bucket
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.');
        if !bucket_ok {
            return Err(invalid());
        }
        let prefix = prefix.trim_matches('/');
        let mut location = S3Location {
            bucket: bucket.to_string(),
            prefix: if prefix.is_empty() {
                String::new()
            } else {
                format!("{prefix}/")
            },
            endpoint: None,
            region: "us-east-1".to_string(),
        };
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            match pair.split_once('=') {
                Some(("endpoint", v)) if v.starts_with("http://") || v.starts_with("https://") => {
                    location.endpoint = Some(v.trim_end_matches('/').to_string());
                }
                Some(("region", v)) if !v.is_empty() => location.region = v.to_string(),
                _ => return Err(invalid()),
            }
        }
        Ok(location)
    }
}

/// The credentials requests are signed with.
#[derive(Clone)]
pub struct S3Credentials {
    /// Access key id.
    pub access_key_id: String,
    /// Secret access key.
    pub secret_access_key: String,
    /// Session token, for temporary credentials.
    pub session_token: Option<String>,
}

impl Debug for S3Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3Credentials")
            .field("access_key_id", &self.access_key_id)
            .finish_non_exhaustive()
    }
}

/// A `BlobStore` in an S3 bucket.
#[derive(Debug, Clone)]
pub struct S3BlobStore {
    store: Arc<AmazonS3>,
    /// `<prefix>blobs/`.
    keys: String,
    /// Where blobs written in pieces wait, hashed, until they are uploaded.
    spool: PathBuf,
}

impl S3BlobStore {
    /// A store at `location`, signing with `credentials`, spooling pieces under `spool`.
    pub fn new(
        location: &S3Location,
        credentials: &S3Credentials,
        spool: PathBuf,
    ) -> Result<S3BlobStore, LocationError> {
        let mut builder = AmazonS3Builder::new()
            .with_bucket_name(&location.bucket)
            .with_region(&location.region)
            .with_access_key_id(&credentials.access_key_id)
            .with_secret_access_key(&credentials.secret_access_key);
        if let Some(token) = &credentials.session_token {
            builder = builder.with_token(token);
        }
        if let Some(endpoint) = &location.endpoint {
            builder = builder
                .with_endpoint(endpoint)
                .with_allow_http(endpoint.starts_with("http://"))
                .with_virtual_hosted_style_request(false);
        }
        let store = builder
            .build()
            .map_err(|e| LocationError::Client(e.to_string()))?;
        std::fs::create_dir_all(&spool).map_err(|e| LocationError::Client(e.to_string()))?;
        Ok(S3BlobStore {
            store: Arc::new(store),
            keys: format!("{}blobs/", location.prefix),
            spool,
        })
    }

    fn path_of(&self, key: &str) -> Result<ObjectPath, BlobError> {
        if BlobDigest::from_hex(key).is_none() {
            return Err(BlobError::InvalidKey(key.to_string()));
        }
        Ok(ObjectPath::from(format!("{}{key}", self.keys)))
    }

    /// Uploads `bytes` as blob `digest`: one request, or parts for a large blob.
    async fn upload(&self, digest: &BlobDigest, bytes: Bytes) -> Result<(), BlobError> {
        let path = self.path_of(&digest.hex())?;
        if bytes.len() <= PART_BYTES {
            self.store
                .put(&path, PutPayload::from(bytes))
                .await
                .map_err(remote)?;
            return Ok(());
        }
        let upload = self.store.put_multipart(&path).await.map_err(remote)?;
        let mut parts = WriteMultipart::new_with_chunk_size(upload, PART_BYTES);
        parts.put(bytes);
        parts.finish().await.map_err(remote)?;
        Ok(())
    }
}

/// An object store failure as the blob store's error.
fn remote(e: object_store::Error) -> BlobError {
    match e {
        object_store::Error::NotFound { path, .. } => BlobError::NotFound(path),
        other => BlobError::Io(std::io::Error::other(other.to_string())),
    }
}

#[async_trait]
impl BlobStore for S3BlobStore {
    async fn put(&self, bytes: Bytes) -> Result<BlobDigest, BlobError> {
        let hashed = bytes.clone();
        let digest = tokio::task::spawn_blocking(move || BlobDigest::of(&hashed))
            .await
            .map_err(|e| BlobError::Task(e.to_string()))?;
        // Stored again even when present: that renews its last-modified time, which the
        // control plane's garbage collection reads as `stored_at`.
        self.upload(&digest, bytes).await?;
        Ok(digest)
    }

    async fn writer(&self) -> Result<Box<dyn BlobWriter>, BlobError> {
        let spool = self.spool.clone();
        let file = tokio::task::spawn_blocking(move || tempfile::NamedTempFile::new_in(spool))
            .await
            .map_err(|e| BlobError::Task(e.to_string()))??;
        Ok(Box::new(S3Writer {
            store: self.clone(),
            spooled: Some((file, Sha256::new())),
            len: 0,
        }))
    }

    async fn get(&self, key: &str) -> Result<Bytes, BlobError> {
        let path = self.path_of(key)?;
        let got = self.store.get(&path).await.map_err(|e| not_found(e, key))?;
        got.bytes().await.map_err(|e| not_found(e, key))
    }

    async fn open(&self, key: &str) -> Result<BlobReader, BlobError> {
        let path = self.path_of(key)?;
        let got = self.store.get(&path).await.map_err(|e| not_found(e, key))?;
        let size = got.meta.size;
        let stream: BoxStream<'static, std::io::Result<Bytes>> = got
            .into_stream()
            .map(|chunk| chunk.map_err(|e| std::io::Error::other(e.to_string())))
            .boxed();
        Ok(BlobReader {
            size,
            reader: Box::pin(SyncRead(Mutex::new(StreamReader::new(stream)))),
        })
    }

    async fn size(&self, key: &str) -> Result<Option<u64>, BlobError> {
        let path = self.path_of(key)?;
        match self.store.head(&path).await {
            Ok(meta) => Ok(Some(meta.size)),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(remote(e)),
        }
    }

    async fn delete(&self, key: &str) -> Result<(), BlobError> {
        let path = self.path_of(key)?;
        match self.store.delete(&path).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(remote(e)),
        }
    }

    fn local_path(&self, _key: &str) -> Option<PathBuf> {
        None
    }

    async fn list(&self) -> Result<Vec<BlobEntry>, BlobError> {
        let prefix = ObjectPath::from(self.keys.trim_end_matches('/'));
        let mut listed = self.store.list(Some(&prefix));
        let mut out = Vec::new();
        while let Some(meta) = listed.next().await {
            let meta = meta.map_err(remote)?;
            let Some(key) = meta.location.filename() else {
                continue;
            };
            // Only what this store writes: a stray object under the prefix is not a blob.
            if BlobDigest::from_hex(key).is_none() {
                continue;
            }
            out.push(BlobEntry {
                key: key.to_string(),
                stored_at: meta.last_modified.into(),
                size: meta.size,
            });
        }
        Ok(out)
    }
}

/// A missing object as `NotFound` of the blob's key.
fn not_found(e: object_store::Error, key: &str) -> BlobError {
    match e {
        object_store::Error::NotFound { .. } => BlobError::NotFound(key.to_string()),
        other => remote(other),
    }
}

/// An `AsyncRead` that is `Sync` (as `BlobReader` asks) over a stream that is only `Send`: the
/// stream is polled through an uncontended lock.
struct SyncRead<R>(Mutex<R>);

impl<R: AsyncRead + Unpin> AsyncRead for SyncRead<R> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let Ok(mut inner) = self.0.lock() else {
            return Poll::Ready(Err(std::io::Error::other("blob stream lock poisoned")));
        };
        Pin::new(&mut *inner).poll_read(cx, buf)
    }
}

/// A blob written in pieces: spooled to a local file and hashed as it comes, uploaded at
/// `commit`.
struct S3Writer {
    store: S3BlobStore,
    /// The spool file and the running hash; taken while a blocking task writes.
    spooled: Option<(tempfile::NamedTempFile, Sha256)>,
    len: u64,
}

impl Debug for S3Writer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3Writer")
            .field("len", &self.len)
            .finish_non_exhaustive()
    }
}

#[async_trait]
impl BlobWriter for S3Writer {
    async fn write(&mut self, chunk: &[u8]) -> Result<(), BlobError> {
        self.write_bytes(Bytes::copy_from_slice(chunk)).await
    }

    async fn write_bytes(&mut self, chunk: Bytes) -> Result<(), BlobError> {
        let (mut file, mut hash) = self
            .spooled
            .take()
            .ok_or_else(|| BlobError::Task("an earlier write failed".into()))?;
        let n = chunk.len() as u64;
        let back = tokio::task::spawn_blocking(move || {
            hash.update(&chunk);
            file.write_all(&chunk).map(|()| (file, hash))
        })
        .await
        .map_err(|e| BlobError::Task(e.to_string()))??;
        self.spooled = Some(back);
        self.len += n;
        Ok(())
    }

    fn len(&self) -> u64 {
        self.len
    }

    async fn commit(
        self: Box<Self>,
        expected: Option<BlobDigest>,
    ) -> Result<BlobDigest, BlobError> {
        let (file, hash) = self
            .spooled
            .ok_or_else(|| BlobError::Task("an earlier write failed".into()))?;
        let digest = BlobDigest(hash.finalize().into());
        if let Some(expected) = expected
            && expected != digest
        {
            return Err(BlobError::DigestMismatch {
                expected: expected.hex(),
                actual: digest.hex(),
            });
        }
        let path = self.store.path_of(&digest.hex())?;
        let upload = self
            .store
            .store
            .put_multipart(&path)
            .await
            .map_err(remote)?;
        let mut parts = WriteMultipart::new_with_chunk_size(upload, PART_BYTES);
        let mut reader = tokio::fs::File::from_std(file.reopen()?);
        let mut block = vec![0u8; PART_BYTES];
        loop {
            let n = read_full(&mut reader, &mut block).await?;
            if n == 0 {
                break;
            }
            parts
                .wait_for_capacity(PARTS_IN_FLIGHT)
                .await
                .map_err(remote)?;
            parts.write(&block[..n]);
        }
        parts.finish().await.map_err(remote)?;
        // The spool file goes with `file`, here.
        drop(file);
        Ok(digest)
    }
}

/// Reads until `buf` is full or the file ends; the count read.
async fn read_full(file: &mut tokio::fs::File, buf: &mut [u8]) -> Result<usize, BlobError> {
    use tokio::io::AsyncReadExt as _;
    let mut filled = 0;
    while filled < buf.len() {
        let n = file.read(&mut buf[filled..]).await?;
        if n == 0 {
            break;
        }
        filled += n;
    }
    Ok(filled)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locations_parse_as_documented() {
        let l = S3Location::parse(
            "s3://code-bucket/archfn/node1?endpoint=http://127.0.0.1:9000/&region=eu-west-1",
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(l.bucket, "code-bucket");
        assert_eq!(l.prefix, "archfn/node1/");
        assert_eq!(l.endpoint.as_deref(), Some("http://127.0.0.1:9000"));
        assert_eq!(l.region, "eu-west-1");
        let plain = S3Location::parse("s3://code-bucket").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            (plain.prefix.as_str(), plain.endpoint, plain.region.as_str()),
            ("", None, "us-east-1")
        );
        for bad in [
            "file:///tmp",
            "s3://",
            "s3://Upper",
            "s3://ab",
            "s3://bucket?endpoint=ftp://x",
            "s3://bucket?color=blue",
        ] {
            assert!(S3Location::parse(bad).is_err(), "{bad}");
        }
    }
}
