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

/// MD5 computed off the async threads, one block at a time on a blocking thread while the next
/// block arrives and is written (no thread is held between blocks).
pub(crate) struct Md5Worker {
    state: Md5State,
}

enum Md5State {
    Idle(Md5Stream),
    Busy(tokio::task::JoinHandle<Md5Stream>),
    Failed,
}

impl Md5Worker {
    /// An MD5 of nothing yet.
    pub(crate) fn start() -> Md5Worker {
        Md5Worker {
            state: Md5State::Idle(Md5Stream::default()),
        }
    }

    async fn settle(&mut self) -> Option<Md5Stream> {
        match std::mem::replace(&mut self.state, Md5State::Failed) {
            Md5State::Idle(md5) => Some(md5),
            Md5State::Busy(task) => task.await.ok(),
            Md5State::Failed => None,
        }
    }

    /// Feeds a block (once the previous one is hashed); false if hashing failed.
    pub(crate) async fn update(&mut self, block: bytes::Bytes) -> bool {
        let Some(mut md5) = self.settle().await else {
            return false;
        };
        self.state = Md5State::Busy(tokio::task::spawn_blocking(move || {
            md5.update(&block);
            md5
        }));
        true
    }

    /// The hex MD5 of everything fed; `None` if hashing failed.
    pub(crate) async fn finish(mut self) -> Option<String> {
        self.settle().await.map(Md5Stream::finish)
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
