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
use tokio::io::AsyncRead;

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
    /// Appends `chunk`, which the writer may keep rather than copy (a caller that gathers large
    /// blocks itself saves a copy).
    async fn write_bytes(&mut self, chunk: Bytes) -> Result<(), BlobError> {
        self.write(&chunk).await
    }
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

/// Bytes a writer gathers before handing them on: one write and one hash update per block, not
/// per chunk of the network. A caller that gathers blocks of this size and hands them over with
/// `BlobWriter::write_bytes` saves the writer a copy.
pub const WRITE_BLOCK: usize = 256 << 10;
/// Bytes written between two requests that the disk start writing a long blob out, so that it
/// writes while the rest arrives and `commit`'s fsync finds little left to do.
const SYNC_EVERY: u64 = 8 << 20;

/// A value a blocking task is working on, or is done with. No thread is held between two
/// blocks: a writer kept open across requests (a registry upload) holds no thread.
#[derive(Debug)]
enum Slot<T> {
    Idle(T),
    Busy(tokio::task::JoinHandle<std::io::Result<T>>),
}

impl<T: Send + 'static> Slot<T> {
    /// The value, once the task working on it is done.
    async fn settle(self) -> Result<T, BlobError> {
        match self {
            Slot::Idle(v) => Ok(v),
            Slot::Busy(task) => task
                .await
                .map_err(|e| BlobError::Task(e.to_string()))?
                .map_err(BlobError::from),
        }
    }

    /// Starts `step` on the value (once the previous step is done) on a blocking thread.
    async fn then(
        self,
        step: impl FnOnce(&mut T) -> std::io::Result<()> + Send + 'static,
    ) -> Result<Slot<T>, BlobError> {
        let mut v = self.settle().await?;
        Ok(Slot::Busy(tokio::task::spawn_blocking(move || {
            step(&mut v)?;
            Ok(v)
        })))
    }
}

/// The file a writer appends to. Past every `SYNC_EVERY` bytes a short-lived thread asks the
/// disk to write out what is there (`fdatasync` of a second handle), so the writes never wait
/// for the disk.
#[derive(Debug)]
struct FileSink {
    file: std::fs::File,
    unsynced: u64,
    syncing: Option<std::thread::JoinHandle<()>>,
}

impl FileSink {
    fn append(&mut self, block: &[u8]) -> std::io::Result<()> {
        self.file.write_all(block)?;
        self.unsynced += block.len() as u64;
        let idle = self
            .syncing
            .as_ref()
            .is_none_or(std::thread::JoinHandle::is_finished);
        if self.unsynced >= SYNC_EVERY && idle {
            self.unsynced = 0;
            if let Some(done) = self.syncing.take() {
                let _ = done.join();
            }
            let handle = self.file.try_clone()?;
            // Only a head start: `commit` fsyncs, and reports any error then.
            self.syncing = Some(std::thread::spawn(move || {
                let _ = handle.sync_data();
            }));
        }
        Ok(())
    }

    /// The file, once any sync under way is done.
    fn into_file(mut self) -> std::fs::File {
        if let Some(t) = self.syncing.take() {
            let _ = t.join();
        }
        self.file
    }
}

/// A blob being written to a temporary file under `<root>/tmp`, hashed as it goes: each block
/// is hashed on one blocking thread and written on another while the next block is gathered,
/// so receiving, hashing and writing overlap.
#[derive(Debug)]
struct FsBlobWriter {
    root: PathBuf,
    /// The temporary file's path; `None` once committed.
    tmp: Option<PathBuf>,
    /// The hash and the file; `None` once committed (or after a failed write).
    state: Option<(Slot<Sha256>, Slot<FileSink>)>,
    /// Bytes gathered for the next block.
    block: Vec<u8>,
    len: u64,
}

impl Drop for FsBlobWriter {
    fn drop(&mut self) {
        if let Some(path) = self.tmp.take() {
            let _ = std::fs::remove_file(path);
        }
    }
}

impl FsBlobWriter {
    /// Hands the gathered block on.
    async fn send_block(&mut self) -> Result<(), BlobError> {
        let block = Bytes::from(std::mem::replace(
            &mut self.block,
            Vec::with_capacity(WRITE_BLOCK),
        ));
        self.send(block).await
    }

    /// Starts hashing and writing `block`, once the previous block is hashed and written.
    async fn send(&mut self, block: Bytes) -> Result<(), BlobError> {
        let Some((hashing, writing)) = self.state.take() else {
            return Err(BlobError::Task("write after commit".into()));
        };
        let for_file = block.clone();
        let hashing = hashing
            .then(move |h: &mut Sha256| {
                h.update(&block);
                Ok(())
            })
            .await?;
        let writing = writing
            .then(move |f: &mut FileSink| f.append(&for_file))
            .await?;
        self.state = Some((hashing, writing));
        Ok(())
    }
}

#[async_trait]
impl BlobWriter for FsBlobWriter {
    async fn write(&mut self, mut chunk: &[u8]) -> Result<(), BlobError> {
        if self.state.is_none() {
            return Err(BlobError::Task("write after commit".into()));
        }
        while !chunk.is_empty() {
            let room = WRITE_BLOCK - self.block.len();
            let (now, later) = chunk.split_at(room.min(chunk.len()));
            self.block.extend_from_slice(now);
            self.len += now.len() as u64;
            chunk = later;
            if self.block.len() == WRITE_BLOCK {
                self.send_block().await?;
            }
        }
        Ok(())
    }

    async fn write_bytes(&mut self, chunk: Bytes) -> Result<(), BlobError> {
        if !self.block.is_empty() || chunk.len() < WRITE_BLOCK {
            return self.write(&chunk).await;
        }
        // A block already: handed on as it is.
        self.len += chunk.len() as u64;
        self.send(chunk).await
    }

    fn len(&self) -> u64 {
        self.len
    }

    async fn commit(
        mut self: Box<Self>,
        expected: Option<BlobDigest>,
    ) -> Result<BlobDigest, BlobError> {
        if !self.block.is_empty() {
            self.send_block().await?;
        }
        // Dropped on failure, the writer removes its temporary file.
        let (Some((hashing, writing)), Some(path)) = (self.state.take(), self.tmp.clone()) else {
            return Err(BlobError::Task("commit after commit".into()));
        };
        let sink = writing.settle().await?;
        let digest = BlobDigest(hashing.settle().await?.finalize().into());
        if let Some(expected) = expected
            && expected != digest
        {
            return Err(BlobError::DigestMismatch {
                expected: expected.hex(),
                actual: digest.hex(),
            });
        }
        let root = self.root.clone();
        blocking(move || {
            let file = sink.into_file();
            file.sync_all()?;
            drop(file);
            let hex = digest.hex();
            move_durably(&path, &root.join(&hex[..2]).join(&hex))
        })
        .await?;
        // In place (or dropped for a blob already stored): nothing to remove.
        self.tmp = None;
        Ok(digest)
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
        let sink = FileSink {
            file,
            unsynced: 0,
            syncing: None,
        };
        Ok(Box::new(FsBlobWriter {
            root: self.root.clone(),
            tmp: Some(path),
            state: Some((Slot::Idle(Sha256::new()), Slot::Idle(sink))),
            block: Vec::with_capacity(WRITE_BLOCK),
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
