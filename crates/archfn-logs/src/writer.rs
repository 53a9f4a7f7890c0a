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
    while let Some(first) = rx.recv().await {
        let mut next = Some(first);
        while let Some(m) = next.take() {
            match m {
                Message::Batch(b) => batches.push(b),
                Message::Flush(done) => waiting.push(done),
            }
            if batches.len() < BATCHES_PER_WRITE {
                next = rx.try_recv().ok();
            }
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
