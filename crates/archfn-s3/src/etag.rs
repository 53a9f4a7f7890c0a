//! S3's ETags: the MD5 of an object written in one request, and for a multipart upload the MD5
//! of its parts' MD5s followed by `-<number of parts>`.

use md5::{Digest, Md5};

/// MD5 computed as bytes stream past.
#[derive(Default)]
pub(crate) struct Md5Stream {
    hasher: Md5,
}

impl Md5Stream {
    /// Feeds bytes.
    pub(crate) fn update(&mut self, chunk: &[u8]) {
        self.hasher.update(chunk);
    }

    /// The hex MD5 of everything fed.
    pub(crate) fn finish(self) -> String {
        hex::encode(self.hasher.finalize())
    }
}

/// MD5 computed on a thread of its own, off the path that writes the bytes: chunks are handed
/// over (`Bytes`, no copy) through a bounded queue, so at most `QUEUED_CHUNKS` wait.
pub(crate) struct Md5Worker {
    chunks: tokio::sync::mpsc::Sender<bytes::Bytes>,
    done: tokio::task::JoinHandle<String>,
}

/// Chunks queued for the MD5 thread before the sender waits.
const QUEUED_CHUNKS: usize = 16;

impl Md5Worker {
    /// Starts the thread.
    pub(crate) fn start() -> Md5Worker {
        let (chunks, mut rx) = tokio::sync::mpsc::channel::<bytes::Bytes>(QUEUED_CHUNKS);
        let done = tokio::task::spawn_blocking(move || {
            let mut md5 = Md5Stream::default();
            while let Some(chunk) = rx.blocking_recv() {
                md5.update(&chunk);
            }
            md5.finish()
        });
        Md5Worker { chunks, done }
    }

    /// Feeds a chunk; false if the thread is gone.
    pub(crate) async fn update(&self, chunk: bytes::Bytes) -> bool {
        self.chunks.send(chunk).await.is_ok()
    }

    /// The hex MD5 of everything fed; `None` if the thread failed.
    pub(crate) async fn finish(self) -> Option<String> {
        drop(self.chunks);
        self.done.await.ok()
    }
}

/// The ETag of a multipart object from its parts' ETags (hex MD5s), in part order; `None` when
/// a part's ETag is not a hex MD5.
pub(crate) fn multipart(part_etags: &[&str]) -> Option<String> {
    let mut hasher = Md5::new();
    for e in part_etags {
        hasher.update(hex::decode(e).ok()?);
    }
    Some(format!(
        "{}-{}",
        hex::encode(hasher.finalize()),
        part_etags.len()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn single_and_multipart_etags() {
        let mut m = Md5Stream::default();
        m.update(b"hello ");
        m.update(b"world");
        assert_eq!(m.finish(), "5eb63bbbe01eeed093cb22bb8f5acdc3");
        // Two parts "a" and "b": md5(md5("a") || md5("b")) + "-2".
        let a = "0cc175b9c0f1b6a831c399e269772661";
        let b = "92eb5ffee6ae2fec3ad71c777531578f";
        let expected = {
            let mut h = Md5::new();
            h.update(hex::decode(a).unwrap_or_default());
            h.update(hex::decode(b).unwrap_or_default());
            format!("{}-2", hex::encode(h.finalize()))
        };
        assert_eq!(multipart(&[a, b]), Some(expected));
        assert_eq!(multipart(&["not-hex"]), None);
    }
}
