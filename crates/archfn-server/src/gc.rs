//! When stored code is collected: once at start, every `--gc-interval`, and shortly after a
//! deletion asks for it (`Control::collection_requested`), debounced so that a burst of
//! deletions costs one collection. The control plane decides what is garbage
//! (`Control::collect_garbage`); the engine's merged `/opt` trees follow what it found live.

use std::time::Duration;

use archfn_control::Control;
use archfn_invoke::Engine;

/// How often and how carefully stored code is collected.
#[derive(Debug, Clone, Copy)]
pub(crate) struct GcSchedule {
    /// Time between collections.
    pub(crate) interval: Duration,
    /// Age stored code must reach before a collection may remove it.
    pub(crate) grace: Duration,
}

/// How long after a deletion's request the collection runs (more deletions may follow).
const DEBOUNCE: Duration = Duration::from_secs(2);

/// Starts the collector.
pub(crate) fn spawn(control: Control, engine: Engine, schedule: GcSchedule) {
    tokio::spawn(async move {
        loop {
            collect(&control, &engine, schedule.grace).await;
            tokio::select! {
                () = tokio::time::sleep(schedule.interval) => {}
                () = control.collection_requested() => {
                    tokio::time::sleep(DEBOUNCE.min(schedule.interval)).await;
                }
            }
        }
    });
}

async fn collect(control: &Control, engine: &Engine, grace: Duration) {
    match control.collect_garbage(grace).await {
        Ok(report) => {
            let live = report.live_opt_trees.clone();
            let engine = engine.clone();
            let opt_removed = tokio::task::spawn_blocking(move || engine.sweep_opt(&live, grace))
                .await
                .unwrap_or(0);
            if report.blobs_removed + report.code_dirs_removed + opt_removed > 0 {
                tracing::info!(
                    blobs = report.blobs_removed,
                    blob_bytes = report.blob_bytes_removed,
                    code_dirs = report.code_dirs_removed,
                    opt_trees = opt_removed,
                    "collected unreferenced code"
                );
            }
        }
        Err(e) => tracing::warn!(error = %e, "garbage collection failed"),
    }
}
