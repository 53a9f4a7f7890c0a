//! Content-addressed blob store for code and layer archives, and for container images' layers,
//! configs and manifests.
//!
//! Owns: storing a byte string under its SHA-256, durably (written to a temporary file,
//! fsync'd, renamed into place, directory fsync'd) before `put` or `BlobWriter::commit`
//! returns; reading it back, whole or as a stream. Lists what it holds (with when each blob was
//! last stored) for the control plane's garbage collection, which decides what to delete.
//! Must not: know what a function, a zip or an image is.

use std::fmt::Debug;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::time::SystemTime;

use async_trait::async_trait;
use bytes::Bytes;
use sha2::{Digest as _, Sha256};
use tokio::io::{AsyncRead, AsyncWriteExt};

/// The SHA-256 of a blob.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct BlobDigest(pub [u8; 32]);

impl BlobDigest {
    /// Digest of `bytes`.
    pub fn of(bytes: &[u8]) -> BlobDigest {
        BlobDigest(Sha256::digest(bytes).into())
    }

    /// Lower-case hex, the blob's key.
    pub fn hex(&self) -> String {
        hex::encode(self.0)
    }

    /// Parses lower-case hex (upper-case hex is not a key).
    pub fn from_hex(s: &str) -> Option<BlobDigest> {
        if s.bytes().any(|b| b.is_ascii_uppercase()) {
            return None;
        }
        let mut out = [0u8; 32];
        hex::decode_to_slice(s, &mut out).ok()?;
        Some(BlobDigest(out))
    }
}

impl std::fmt::Display for BlobDigest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.hex())
    }
}

/// What can go wrong in a blob store.
#[derive(Debug, thiserror::Error)]
pub enum BlobError {
    /// No blob has this digest.
    #[error("blob {0} not found")]
    NotFound(String),
    /// The key is not a hex SHA-256.
    #[error("invalid blob key {0:?}")]
    InvalidKey(String),
    /// The disk said no.
    #[error("blob store io: {0}")]
    Io(#[from] std::io::Error),
    /// A blocking task died.
    #[error("blob store task failed: {0}")]
    Task(String),
    /// What was written does not hash to the digest the writer was told to expect; nothing was
    /// stored.
    #[error("blob content hashes to {actual}, not {expected}")]
    DigestMismatch {
        /// The digest the caller expected.
        expected: String,
        /// The digest of what was written.
        actual: String,
    },
}

/// A stored blob, as `BlobStore::list` sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlobEntry {
    /// Hex digest: the blob's key.
    pub key: String,
    /// When the blob was last stored (written, or `put` again while it existed).
    pub stored_at: SystemTime,
    /// Size in bytes.
    pub size: u64,
}

/// A blob opened for reading: its size and its bytes as a stream.
pub struct BlobReader {
    /// Size in bytes.
    pub size: u64,
    /// The blob's bytes.
    pub reader: Pin<Box<dyn AsyncRead + Send + Sync>>,
}

impl Debug for BlobReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BlobReader")
            .field("size", &self.size)
            .finish_non_exhaustive()
    }
}

/// A blob being written a piece at a time (a stream too large to hold, or an upload that comes
/// in several requests). Nothing is visible in the store until `commit`; a writer dropped
/// without it leaves nothing behind.
#[async_trait]
pub trait BlobWriter: Send + Sync + Debug {
    /// Appends `chunk`.
    async fn write(&mut self, chunk: &[u8]) -> Result<(), BlobError>;
    /// Bytes written so far.
    fn len(&self) -> u64;
    /// Whether nothing was written yet.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Stores what was written durably under its SHA-256 and returns the digest, as `put` does.
    /// With `expected`, content that hashes to anything else is discarded and
    /// `BlobError::DigestMismatch` returned.
    async fn commit(self: Box<Self>, expected: Option<BlobDigest>)
    -> Result<BlobDigest, BlobError>;
}

/// A store of immutable blobs keyed by their SHA-256.
#[async_trait]
pub trait BlobStore: Send + Sync + Debug {
    /// Stores `bytes` durably and returns its digest; storing the same bytes twice writes them
    /// once but renews the blob's `stored_at`.
    async fn put(&self, bytes: Bytes) -> Result<BlobDigest, BlobError>;
    /// Starts a blob written in pieces (`BlobWriter::commit` stores it).
    async fn writer(&self) -> Result<Box<dyn BlobWriter>, BlobError>;
    /// Reads the blob with hex digest `key`.
    async fn get(&self, key: &str) -> Result<Bytes, BlobError>;
    /// Opens the blob with hex digest `key` as a stream.
    async fn open(&self, key: &str) -> Result<BlobReader, BlobError>;
    /// The size of the blob with hex digest `key`, `None` when there is no such blob.
    async fn size(&self, key: &str) -> Result<Option<u64>, BlobError>;
    /// Removes the blob; removing a missing blob is not an error.
    async fn delete(&self, key: &str) -> Result<(), BlobError>;
    /// A local file holding the blob, when the store keeps blobs on this machine's disk.
    fn local_path(&self, key: &str) -> Option<PathBuf>;
    /// Every blob held.
    async fn list(&self) -> Result<Vec<BlobEntry>, BlobError>;
}

/// Blobs as files under a directory: `<root>/<ab>/<hex>`.
#[derive(Debug, Clone)]
pub struct FsBlobStore {
    root: PathBuf,
}

impl FsBlobStore {
    /// Opens (creating) a store rooted at `root`.
    pub fn open(root: impl Into<PathBuf>) -> Result<FsBlobStore, BlobError> {
        let root = root.into();
        std::fs::create_dir_all(root.join("tmp"))?;
        Ok(FsBlobStore { root })
    }

    /// Removes temporary files older than `older_than` that a process killed mid-`put` left.
    pub fn sweep_temporaries(&self, older_than: std::time::Duration) -> Result<usize, BlobError> {
        let mut removed = 0;
        for entry in std::fs::read_dir(self.root.join("tmp"))? {
            let entry = entry?;
            let old = entry
                .metadata()?
                .modified()
                .ok()
                .and_then(|m| m.elapsed().ok())
                .is_some_and(|age| age >= older_than);
            if old && std::fs::remove_file(entry.path()).is_ok() {
                removed += 1;
            }
        }
        Ok(removed)
    }

    fn path_of(&self, key: &str) -> Result<PathBuf, BlobError> {
        if BlobDigest::from_hex(key).is_none() {
            return Err(BlobError::InvalidKey(key.to_string()));
        }
        Ok(self.root.join(&key[..2]).join(key))
    }
}

/// A blob being written to a temporary file under `<root>/tmp`, hashed as it goes.
#[derive(Debug)]
struct FsBlobWriter {
    root: PathBuf,
    /// The temporary file; `None` once committed (or if opening failed).
    tmp: Option<(PathBuf, tokio::fs::File)>,
    hasher: Sha256,
    len: u64,
}

impl Drop for FsBlobWriter {
    fn drop(&mut self) {
        if let Some((path, _)) = self.tmp.take() {
            let _ = std::fs::remove_file(path);
        }
    }
}

#[async_trait]
impl BlobWriter for FsBlobWriter {
    async fn write(&mut self, chunk: &[u8]) -> Result<(), BlobError> {
        let Some((_, file)) = self.tmp.as_mut() else {
            return Err(BlobError::Task("write after commit".into()));
        };
        file.write_all(chunk).await?;
        self.hasher.update(chunk);
        self.len += chunk.len() as u64;
        Ok(())
    }

    fn len(&self) -> u64 {
        self.len
    }

    async fn commit(
        mut self: Box<Self>,
        expected: Option<BlobDigest>,
    ) -> Result<BlobDigest, BlobError> {
        let Some((path, mut file)) = self.tmp.take() else {
            return Err(BlobError::Task("commit after commit".into()));
        };
        let digest = BlobDigest(std::mem::take(&mut self.hasher).finalize().into());
        if let Some(expected) = expected
            && expected != digest
        {
            drop(file);
            let _ = tokio::fs::remove_file(&path).await;
            return Err(BlobError::DigestMismatch {
                expected: expected.hex(),
                actual: digest.hex(),
            });
        }
        let stored = async {
            file.flush().await?;
            file.sync_all().await?;
            drop(file);
            let root = self.root.clone();
            let tmp = path.clone();
            blocking(move || {
                let hex = digest.hex();
                move_durably(&tmp, &root.join(&hex[..2]).join(&hex))
            })
            .await
        }
        .await;
        if stored.is_err() {
            let _ = tokio::fs::remove_file(&path).await;
        }
        stored.map(|()| digest)
    }
}

/// Renames the fsync'd temporary file `tmp` to `dest` and fsyncs the directory; when `dest`
/// exists already, renews its time instead and drops `tmp`.
fn move_durably(tmp: &Path, dest: &Path) -> Result<(), BlobError> {
    if dest.exists() {
        std::fs::OpenOptions::new()
            .write(true)
            .open(dest)?
            .set_modified(SystemTime::now())?;
        let _ = std::fs::remove_file(tmp);
        return Ok(());
    }
    let dir = dest
        .parent()
        .ok_or_else(|| BlobError::InvalidKey(dest.display().to_string()))?;
    std::fs::create_dir_all(dir)?;
    std::fs::rename(tmp, dest)?;
    std::fs::File::open(dir)?.sync_all()?;
    Ok(())
}

fn write_durably(root: &Path, dest: &Path, bytes: &[u8]) -> Result<(), BlobError> {
    if dest.exists() {
        // Stored again: a collector judging the blob by age must see it as new.
        std::fs::OpenOptions::new()
            .write(true)
            .open(dest)?
            .set_modified(SystemTime::now())?;
        return Ok(());
    }
    let dir = dest
        .parent()
        .ok_or_else(|| BlobError::InvalidKey(dest.display().to_string()))?;
    std::fs::create_dir_all(dir)?;
    let mut tmp = tempfile_in(&root.join("tmp"))?;
    tmp.1.write_all(bytes)?;
    tmp.1.sync_all()?;
    std::fs::rename(&tmp.0, dest)?;
    std::fs::File::open(dir)?.sync_all()?;
    Ok(())
}

fn tempfile_in(dir: &Path) -> std::io::Result<(PathBuf, std::fs::File)> {
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    loop {
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let path = dir.join(format!("{}-{n}.part", std::process::id()));
        match std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
        {
            Ok(f) => return Ok((path, f)),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        }
    }
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, BlobError> + Send + 'static,
) -> Result<T, BlobError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| BlobError::Task(e.to_string()))?
}

#[async_trait]
impl BlobStore for FsBlobStore {
    async fn put(&self, bytes: Bytes) -> Result<BlobDigest, BlobError> {
        let root = self.root.clone();
        blocking(move || {
            let digest = BlobDigest::of(&bytes);
            let hex = digest.hex();
            let dest = root.join(&hex[..2]).join(&hex);
            write_durably(&root, &dest, &bytes)?;
            Ok(digest)
        })
        .await
    }

    async fn writer(&self) -> Result<Box<dyn BlobWriter>, BlobError> {
        let dir = self.root.join("tmp");
        let (path, file) = blocking(move || {
            std::fs::create_dir_all(&dir)?;
            Ok(tempfile_in(&dir)?)
        })
        .await?;
        Ok(Box::new(FsBlobWriter {
            root: self.root.clone(),
            tmp: Some((path, tokio::fs::File::from_std(file))),
            hasher: Sha256::new(),
            len: 0,
        }))
    }

    async fn get(&self, key: &str) -> Result<Bytes, BlobError> {
        let path = self.path_of(key)?;
        let key = key.to_string();
        match tokio::fs::read(&path).await {
            Ok(v) => Ok(Bytes::from(v)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(BlobError::NotFound(key)),
            Err(e) => Err(e.into()),
        }
    }

    async fn open(&self, key: &str) -> Result<BlobReader, BlobError> {
        let path = self.path_of(key)?;
        let file = match tokio::fs::File::open(&path).await {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(BlobError::NotFound(key.to_string()));
            }
            Err(e) => return Err(e.into()),
        };
        let size = file.metadata().await?.len();
        Ok(BlobReader {
            size,
            reader: Box::pin(file),
        })
    }

    async fn size(&self, key: &str) -> Result<Option<u64>, BlobError> {
        let path = self.path_of(key)?;
        match tokio::fs::metadata(&path).await {
            Ok(m) if m.is_file() => Ok(Some(m.len())),
            Ok(_) => Ok(None),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    async fn delete(&self, key: &str) -> Result<(), BlobError> {
        let path = self.path_of(key)?;
        match tokio::fs::remove_file(&path).await {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e.into()),
            _ => Ok(()),
        }
    }

    fn local_path(&self, key: &str) -> Option<PathBuf> {
        self.path_of(key).ok()
    }

    async fn list(&self) -> Result<Vec<BlobEntry>, BlobError> {
        let root = self.root.clone();
        blocking(move || list_dir(&root)).await
    }
}

/// `<root>/<ab>/<hex>` entries; anything else (`tmp/`, stray files) is not a blob.
fn list_dir(root: &Path) -> Result<Vec<BlobEntry>, BlobError> {
    let mut out = Vec::new();
    for shard in std::fs::read_dir(root)? {
        let shard = shard?;
        let name = shard.file_name();
        let Some(prefix) = name.to_str() else {
            continue;
        };
        if prefix.len() != 2 || !shard.file_type()?.is_dir() {
            continue;
        }
        for entry in std::fs::read_dir(shard.path())? {
            let entry = entry?;
            let name = entry.file_name();
            let Some(key) = name.to_str() else {
                continue;
            };
            if !key.starts_with(prefix) || BlobDigest::from_hex(key).is_none() {
                continue;
            }
            let meta = match entry.metadata() {
                Ok(m) => m,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => return Err(e.into()),
            };
            out.push(BlobEntry {
                key: key.to_string(),
                stored_at: meta.modified()?,
                size: meta.len(),
            });
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn round_trips_and_dedups() -> Result<(), BlobError> {
        let dir = std::env::temp_dir().join(format!("archfn-blob-test-{}", std::process::id()));
        let store = FsBlobStore::open(&dir)?;
        let d1 = store.put(Bytes::from_static(b"hello")).await?;
        let d2 = store.put(Bytes::from_static(b"hello")).await?;
        assert_eq!(d1, d2);
        assert_eq!(
            d1.hex(),
            "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"
        );
        assert_eq!(store.get(&d1.hex()).await?, Bytes::from_static(b"hello"));
        let listed = store.list().await?;
        assert_eq!(listed.len(), 1);
        assert_eq!(
            (listed[0].key.as_str(), listed[0].size),
            (d1.hex().as_str(), 5)
        );
        store.delete(&d1.hex()).await?;
        assert!(store.list().await?.is_empty());
        assert!(matches!(
            store.get(&d1.hex()).await,
            Err(BlobError::NotFound(_))
        ));
        assert!(matches!(
            store.get("../etc/passwd").await,
            Err(BlobError::InvalidKey(_))
        ));
        let _ = std::fs::remove_dir_all(&dir);
        Ok(())
    }

    fn tmp_entries(dir: &Path) -> usize {
        std::fs::read_dir(dir.join("tmp")).map_or(0, |d| d.count())
    }

    #[tokio::test]
    async fn a_streamed_blob_is_stored_under_its_digest_and_read_back_as_a_stream()
    -> Result<(), BlobError> {
        use tokio::io::AsyncReadExt;
        let dir = tempfile::tempdir()?;
        let store = FsBlobStore::open(dir.path())?;
        let whole = b"hello, streamed world".repeat(1000);
        let mut w = store.writer().await?;
        for chunk in whole.chunks(777) {
            w.write(chunk).await?;
        }
        assert_eq!(w.len(), whole.len() as u64);
        let digest = w.commit(Some(BlobDigest::of(&whole))).await?;
        assert_eq!(digest, BlobDigest::of(&whole));
        assert_eq!(store.size(&digest.hex()).await?, Some(whole.len() as u64));
        let mut opened = store.open(&digest.hex()).await?;
        assert_eq!(opened.size, whole.len() as u64);
        let mut back = Vec::new();
        opened.reader.read_to_end(&mut back).await?;
        assert_eq!(back, whole);
        assert_eq!(
            tmp_entries(dir.path()),
            0,
            "the temporary file became the blob"
        );
        // The same content again: stored once.
        let mut again = store.writer().await?;
        again.write(&whole).await?;
        assert_eq!(again.commit(None).await?, digest);
        assert_eq!(store.list().await?.len(), 1);
        assert_eq!(tmp_entries(dir.path()), 0);
        Ok(())
    }

    #[tokio::test]
    async fn a_streamed_blob_that_does_not_match_its_digest_is_not_kept() -> Result<(), BlobError> {
        let dir = tempfile::tempdir()?;
        let store = FsBlobStore::open(dir.path())?;
        let mut w = store.writer().await?;
        w.write(b"data").await?;
        let claimed = BlobDigest([1; 32]);
        match w.commit(Some(claimed)).await {
            Err(BlobError::DigestMismatch { expected, actual }) => {
                assert_eq!(expected, claimed.hex());
                assert_eq!(actual, BlobDigest::of(b"data").hex());
            }
            other => panic!("{other:?}"),
        }
        assert!(store.list().await?.is_empty());
        assert_eq!(store.size(&BlobDigest::of(b"data").hex()).await?, None);
        assert_eq!(tmp_entries(dir.path()), 0);
        // A writer dropped unfinished leaves nothing either.
        let mut w = store.writer().await?;
        w.write(b"abandoned").await?;
        assert_eq!(tmp_entries(dir.path()), 1);
        drop(w);
        assert_eq!(tmp_entries(dir.path()), 0);
        assert!(store.list().await?.is_empty());
        assert!(matches!(
            store.open(&claimed.hex()).await,
            Err(BlobError::NotFound(_))
        ));
        assert!(matches!(
            store.size(&"AB".repeat(32)).await,
            Err(BlobError::InvalidKey(_))
        ));
        Ok(())
    }
}
