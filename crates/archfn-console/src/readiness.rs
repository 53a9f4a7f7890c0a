//! Arm64 readiness verdicts for the functions list. A verdict is the readiness scan's
//! (`Control::readiness`, the same use case as the API's) of a function's `$LATEST` at one
//! RevisionId, so a change of code or layers asks again. Scans run in the background, one at a
//! time, so that a page never waits for one: until it is done the list says "scanning".

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use archfn_control::Control;
use archfn_model::Architecture;
use archfn_scan::Severity;

/// What the list says of a function's readiness for arm64.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Nothing in the code or its layers will fail on arm64.
    Ready,
    /// This many findings will not run on arm64.
    NotReady(usize),
    /// The scan could not be made (its reason).
    Failed(String),
    /// Not scanned yet (a scan is queued).
    Pending,
}

impl Verdict {
    /// The filter word and CSS class of the verdict.
    pub fn word(&self) -> &'static str {
        match self {
            Verdict::Ready => "ready",
            Verdict::NotReady(_) => "not-ready",
            Verdict::Failed(_) => "unknown",
            Verdict::Pending => "pending",
        }
    }
}

/// Which scan a verdict is of: the function at one RevisionId of `$LATEST`.
type Key = (String, String, String);

/// Verdicts by function and revision, and the scans queued.
#[derive(Debug)]
pub struct ReadinessCache {
    control: Control,
    verdicts: Mutex<HashMap<Key, Verdict>>,
    queued: Mutex<HashSet<Key>>,
    one_at_a_time: Arc<tokio::sync::Semaphore>,
}

/// Verdicts kept before the cache is emptied (the list asks again for what it shows).
const MAX_VERDICTS: usize = 100_000;

impl ReadinessCache {
    /// An empty cache scanning through `control`.
    pub fn new(control: Control) -> ReadinessCache {
        ReadinessCache {
            control,
            verdicts: Mutex::default(),
            queued: Mutex::default(),
            one_at_a_time: Arc::new(tokio::sync::Semaphore::new(1)),
        }
    }

    /// The verdict of `name` at `revision` in `region`; `Pending` (and a scan queued) when
    /// there is none yet.
    pub fn verdict(self: &Arc<Self>, region: &str, name: &str, revision: &str) -> Verdict {
        let key = (region.to_owned(), name.to_owned(), revision.to_owned());
        if let Some(v) = self.verdicts.lock().ok().and_then(|m| m.get(&key).cloned()) {
            return v;
        }
        let newly_queued = self.queued.lock().is_ok_and(|mut q| q.insert(key.clone()));
        if newly_queued {
            let cache = Arc::clone(self);
            tokio::spawn(async move { cache.scan(key).await });
        }
        Verdict::Pending
    }

    async fn scan(&self, key: Key) {
        let Ok(_turn) = self.one_at_a_time.acquire().await else {
            return;
        };
        let (region, name, _) = &key;
        let verdict = match self
            .control
            .readiness(region, name, None, Architecture::Arm64)
            .await
        {
            Ok(report) if report.compatible => Verdict::Ready,
            Ok(report) => Verdict::NotReady(
                report
                    .findings
                    .iter()
                    .filter(|f| f.severity == Severity::Incompatible)
                    .count(),
            ),
            Err(e) => Verdict::Failed(e.to_string()),
        };
        if let Ok(mut m) = self.verdicts.lock() {
            if m.len() >= MAX_VERDICTS {
                m.clear();
            }
            m.insert(key.clone(), verdict);
        }
        if let Ok(mut q) = self.queued.lock() {
            q.remove(&key);
        }
    }
}
