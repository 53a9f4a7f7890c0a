//! The batching writer: the invocation engine hands it batches without waiting (a bounded
//! queue; past its bound, batches are dropped and counted), and one task stores whatever has
//! gathered in one transaction, so a warm invoke never waits for the database.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use archfn_model::log_events::{LogBatch, LogSink};
use archfn_store::logs::LogCatalog;
use tokio::sync::{mpsc, oneshot};

/// Batches the queue holds before it drops new ones.
pub const QUEUE_BATCHES: usize = 8192;

/// Batches stored in one transaction at most.
const BATCHES_PER_WRITE: usize = 1024;

/// How often events past their group's retention are deleted (and once at start).
const EXPIRE_EVERY: std::time::Duration = std::time::Duration::from_secs(3600);

/// How long the writer waits for more batches to store with the first one.
const LINGER: std::time::Duration = std::time::Duration::from_millis(100);

enum Message {
    Batch(LogBatch),
    /// Answered once everything queued before it is stored.
    Flush(oneshot::Sender<()>),
}

/// Hands log batches to a task that stores them in a [`LogCatalog`]. Cheap to clone.
#[derive(Debug, Clone)]
pub struct LogWriter {
    tx: mpsc::Sender<Message>,
    dropped: Arc<AtomicU64>,
}

impl std::fmt::Debug for Message {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Message::Batch(b) => write!(f, "Batch({} events)", b.events.len()),
            Message::Flush(_) => write!(f, "Flush"),
        }
    }
}

impl LogWriter {
    /// Starts the writing task (on the current tokio runtime) with a queue of `capacity`
    /// batches.
    pub fn start(catalog: Arc<dyn LogCatalog>, capacity: usize) -> LogWriter {
        let (tx, rx) = mpsc::channel(capacity.max(1));
        tokio::spawn(run(catalog, rx));
        LogWriter {
            tx,
            dropped: Arc::new(AtomicU64::new(0)),
        }
    }

    /// Waits until every batch submitted before the call is stored (or failed to be).
    pub async fn flush(&self) {
        let (done, wait) = oneshot::channel();
        if self.tx.send(Message::Flush(done)).await.is_ok() {
            let _ = wait.await;
        }
    }

    /// Events dropped because the queue was full.
    pub fn dropped_events(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }
}

impl LogSink for LogWriter {
    fn submit(&self, batch: LogBatch) {
        if batch.events.is_empty() {
            return;
        }
        let n = batch.events.len() as u64;
        if let Err(e) = self.tx.try_send(Message::Batch(batch)) {
            let before = self.dropped.fetch_add(n, Ordering::Relaxed);
            // Said once per power of two, so a flood does not flood the server's log too.
            if (before + n).next_power_of_two() != before.next_power_of_two() || before == 0 {
                let why = match e {
                    mpsc::error::TrySendError::Full(_) => "queue full",
                    mpsc::error::TrySendError::Closed(_) => "writer stopped",
                };
                tracing::warn!(
                    dropped_events = before + n,
                    why,
                    "function log events dropped"
                );
            }
        }
    }
}

async fn run(catalog: Arc<dyn LogCatalog>, mut rx: mpsc::Receiver<Message>) {
    let mut batches = Vec::new();
    let mut waiting = Vec::new();
    let mut expiry = tokio::time::interval(EXPIRE_EVERY);
    expiry.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let first = tokio::select! {
            m = rx.recv() => match m {
                Some(m) => m,
                None => break,
            },
            _ = expiry.tick() => {
                match catalog.expire_log_events(archfn_model::time::now_ms()).await {
                    Ok(0) => {}
                    Ok(n) => tracing::info!(events = n, "expired log events past their group's retention"),
                    Err(e) => tracing::warn!(error = %e, "expiring log events"),
                }
                continue;
            }
        };
        // What arrives within LINGER joins the first batch in one transaction (one commit
        // for many invocations), unless somebody waits for it (a read flushes).
        let deadline = tokio::time::Instant::now() + LINGER;
        let mut next = Some(first);
        while let Some(m) = next.take() {
            match m {
                Message::Batch(b) => batches.push(b),
                Message::Flush(done) => waiting.push(done),
            }
            if batches.len() >= BATCHES_PER_WRITE {
                break;
            }
            next = match rx.try_recv() {
                Ok(m) => Some(m),
                Err(_) if !waiting.is_empty() => None,
                Err(_) => tokio::time::timeout_at(deadline, rx.recv())
                    .await
                    .ok()
                    .flatten(),
            };
        }
        if !batches.is_empty() {
            let now = archfn_model::time::now_ms();
            if let Err(e) = catalog.append_log_batches(&batches, now).await {
                let events: usize = batches.iter().map(|b| b.events.len()).sum();
                tracing::warn!(error = %e, events, "storing function log events");
            }
            batches.clear();
        }
        for done in waiting.drain(..) {
            let _ = done.send(());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use archfn_model::log_events::LogEvent;
    use archfn_store::StoreError;
    use archfn_store::logs::{EventQuery, LogEventRow, LogGroupRow, LogStreamRow, StreamOrder};
    use std::sync::Mutex;

    /// Records each transaction's batches (a stand-in for the database, not for archfn's code).
    #[derive(Debug, Default)]
    struct Recorder(Mutex<Vec<usize>>);

    #[async_trait::async_trait]
    impl LogCatalog for Recorder {
        async fn append_log_batches(&self, b: &[LogBatch], _: i64) -> Result<(), StoreError> {
            if let Ok(mut w) = self.0.lock() {
                w.push(b.len());
            }
            Ok(())
        }
        async fn create_log_group(&self, _: &str, _: &str, _: i64) -> Result<(), StoreError> {
            Ok(())
        }
        async fn delete_log_group(&self, _: &str, _: &str) -> Result<(), StoreError> {
            Ok(())
        }
        async fn log_group(&self, _: &str, _: &str) -> Result<Option<LogGroupRow>, StoreError> {
            Ok(None)
        }
        async fn list_log_groups(
            &self,
            _: &str,
            _: &str,
            _: Option<&str>,
            _: usize,
        ) -> Result<Vec<LogGroupRow>, StoreError> {
            Ok(Vec::new())
        }
        async fn set_log_retention(
            &self,
            _: &str,
            _: &str,
            _: Option<i32>,
        ) -> Result<(), StoreError> {
            Ok(())
        }
        async fn list_log_streams(
            &self,
            _: &str,
            _: &str,
            _: &str,
            _: StreamOrder,
            _: bool,
            _: usize,
            _: usize,
        ) -> Result<Vec<LogStreamRow>, StoreError> {
            Ok(Vec::new())
        }
        async fn log_events(&self, _: &EventQuery<'_>) -> Result<Vec<LogEventRow>, StoreError> {
            Ok(Vec::new())
        }
        async fn expire_log_events(&self, _: i64) -> Result<u64, StoreError> {
            Ok(0)
        }
    }

    fn batch() -> LogBatch {
        LogBatch {
            region: "us-east-1".into(),
            group: "g".into(),
            stream: "s".into(),
            events: vec![LogEvent {
                timestamp_ms: 1,
                message: "x\n".into(),
            }],
        }
    }

    #[tokio::test]
    async fn batches_gather_into_one_write_and_a_flush_waits_for_them() {
        let rec = Arc::new(Recorder::default());
        let writer = LogWriter::start(rec.clone(), 16);
        for _ in 0..5 {
            writer.submit(batch());
        }
        writer.flush().await;
        let writes = rec.0.lock().map(|w| w.clone()).unwrap_or_default();
        assert_eq!(writes.iter().sum::<usize>(), 5, "{writes:?}");
        assert_eq!(writes.len(), 1, "one transaction: {writes:?}");
    }

    #[tokio::test]
    async fn a_full_queue_drops_and_counts() {
        let rec = Arc::new(Recorder::default());
        // Not yielding to the writer's task: the queue of 2 fills.
        let writer = LogWriter::start(rec.clone(), 2);
        for _ in 0..5 {
            writer.submit(batch());
        }
        assert_eq!(writer.dropped_events(), 3);
        writer.flush().await;
        let stored: usize = rec.0.lock().map(|w| w.iter().sum()).unwrap_or(0);
        assert_eq!(stored, 2);
    }
}
