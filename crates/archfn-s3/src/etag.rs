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

/// How many blocks may wait for the MD5 thread: enough that it never waits for the network
/// between blocks, bounded so that a slow hash holds back the body instead of buffering it.
const MD5_QUEUE_BLOCKS: u32 = 8;

/// MD5 computed off the async threads. Blocks queue up (at most [`MD5_QUEUE_BLOCKS`]) and one
/// blocking task hashes them in order while more arrive, so MD5, the one hash of an object that
/// cannot be split, never waits between blocks; the task ends when the queue is empty (no
/// thread is held while a body is idle).
pub(crate) struct Md5Worker {
    shared: std::sync::Arc<std::sync::Mutex<Md5Queue>>,
    room: std::sync::Arc<tokio::sync::Semaphore>,
}

struct Md5Queue {
    /// The hash so far; taken out while a block is being hashed.
    md5: Option<Md5Stream>,
    /// Blocks waiting, each with its place in the queue.
    waiting: std::collections::VecDeque<(bytes::Bytes, tokio::sync::OwnedSemaphorePermit)>,
    /// Whether a blocking task is draining the queue.
    draining: bool,
    /// A hashing task panicked: the hash is lost.
    failed: bool,
}

impl Md5Worker {
    /// An MD5 of nothing yet.
    pub(crate) fn start() -> Md5Worker {
        Md5Worker {
            shared: std::sync::Arc::new(std::sync::Mutex::new(Md5Queue {
                md5: Some(Md5Stream::default()),
                waiting: std::collections::VecDeque::new(),
                draining: false,
                failed: false,
            })),
            room: std::sync::Arc::new(tokio::sync::Semaphore::new(MD5_QUEUE_BLOCKS as usize)),
        }
    }

    /// Queues a block (waiting while the queue is full); false if hashing failed.
    pub(crate) async fn update(&mut self, block: bytes::Bytes) -> bool {
        let Ok(place) = self.room.clone().acquire_owned().await else {
            return false;
        };
        let start = {
            let Ok(mut q) = self.shared.lock() else {
                return false;
            };
            if q.failed {
                return false;
            }
            q.waiting.push_back((block, place));
            !std::mem::replace(&mut q.draining, true)
        };
        if start {
            let shared = self.shared.clone();
            // Not awaited: `finish` waits for the blocks, not for the task.
            let _hashing = tokio::task::spawn_blocking(move || drain(&shared));
        }
        true
    }

    /// The hex MD5 of everything fed; `None` if hashing failed.
    pub(crate) async fn finish(self) -> Option<String> {
        // Every place back means every block is hashed and the hash is back in the queue.
        let _all = self.room.acquire_many(MD5_QUEUE_BLOCKS).await.ok()?;
        let mut q = self.shared.lock().ok()?;
        if q.failed {
            return None;
        }
        q.md5.take().map(Md5Stream::finish)
    }
}

/// Hashes queued blocks in order until the queue is empty.
fn drain(shared: &std::sync::Mutex<Md5Queue>) {
    loop {
        let (block, place, mut md5) = {
            let Ok(mut q) = shared.lock() else { return };
            let Some((block, place)) = q.waiting.pop_front() else {
                q.draining = false;
                return;
            };
            let Some(md5) = q.md5.take() else {
                q.failed = true;
                q.draining = false;
                return;
            };
            (block, place, md5)
        };
        md5.update(&block);
        if let Ok(mut q) = shared.lock() {
            q.md5 = Some(md5);
        }
        // The block's place is given back only once its bytes are in the hash.
        drop(place);
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

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn queued_blocks_hash_in_order() {
        let data: Vec<u8> = (0..3_000_000u32).map(|i| (i * 7 % 251) as u8).collect();
        let mut worker = Md5Worker::start();
        for block in data.chunks(100_003) {
            assert!(worker.update(bytes::Bytes::copy_from_slice(block)).await);
        }
        let mut whole = Md5Stream::default();
        whole.update(&data);
        assert_eq!(worker.finish().await, Some(whole.finish()));
        assert_eq!(
            Md5Worker::start().finish().await.as_deref(),
            Some("d41d8cd98f00b204e9800998ecf8427e")
        );
    }
}
