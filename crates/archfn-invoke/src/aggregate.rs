//! The in-memory aggregate of invocation metrics: per series (function, version, alias,
//! architecture, execution) and minute, recorded on the invoke path without IO, and handed out
//! in finished minutes for someone else (the server) to store. Public for its benchmark
//! (`benches/record.rs`); the engine is its only user.

use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use archfn_model::Architecture;
use archfn_model::metrics::{Execution, MinuteBucket, MinuteStats, SeriesKey};

/// Independent locks, so that concurrent invocations of different series rarely meet.
const SHARDS: usize = 16;

/// What one invocation (or throttle) is about, borrowed from the request.
#[derive(Debug, Clone, Copy)]
pub struct Series<'a> {
    /// The region.
    pub region: &'a str,
    /// The function's name.
    pub function: &'a str,
    /// `$LATEST` or the version number that ran.
    pub version: &'a str,
    /// The alias invoked through, if any.
    pub alias: Option<&'a str>,
    /// The architecture it ran on.
    pub arch: Architecture,
    /// Native or emulated.
    pub execution: Execution,
}

impl Series<'_> {
    fn matches(&self, key: &SeriesKey) -> bool {
        key.function == self.function
            && key.version == self.version
            && key.alias.as_deref() == self.alias
            && key.arch == self.arch
            && key.execution == self.execution
            && key.region == self.region
    }

    fn to_key(self) -> SeriesKey {
        SeriesKey {
            region: self.region.to_string(),
            function: self.function.to_string(),
            version: self.version.to_string(),
            alias: self.alias.map(str::to_string),
            arch: self.arch,
            execution: self.execution,
        }
    }
}

/// What one invocation contributes.
#[derive(Debug, Clone, Copy, Default)]
pub struct Observation<'a> {
    /// Microseconds the invocation took (`None` when it never ran: a failed init).
    pub duration_us: Option<u64>,
    /// Microseconds of its cold start's init.
    pub init_duration_us: Option<u64>,
    /// It started a new environment.
    pub cold: bool,
    /// Its billed duration, milliseconds.
    pub billed_ms: u64,
    /// The memory it used, MB.
    pub max_memory_mb: u64,
    /// Its function error's type.
    pub error: Option<&'a str>,
}

type Shard = HashMap<u64, Vec<MinuteBucket>>;

/// What a watch has seen of one version since it was last drained.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WatchedVersion {
    /// The architecture the version ran on.
    pub arch: Option<Architecture>,
    /// Native or emulated.
    pub execution: Option<Execution>,
    /// The figures.
    pub stats: MinuteStats,
}

/// Invocations through one alias, per version, as they happen (the live traffic a traffic
/// shift judges); see [`crate::Engine::watch_alias`].
#[derive(Debug)]
pub struct Watch {
    region: String,
    function: String,
    alias: String,
    seen: Mutex<HashMap<String, WatchedVersion>>,
}

impl Watch {
    fn matches(&self, series: &Series<'_>) -> bool {
        series.alias == Some(self.alias.as_str())
            && series.function == self.function
            && series.region == self.region
    }

    fn with_version(&self, series: &Series<'_>, f: impl FnOnce(&mut MinuteStats)) {
        let Ok(mut seen) = self.seen.lock() else {
            return;
        };
        let v = match seen.get_mut(series.version) {
            Some(v) => v,
            None => seen.entry(series.version.to_string()).or_default(),
        };
        v.arch = Some(series.arch);
        v.execution = Some(series.execution);
        f(&mut v.stats);
    }

    /// What was seen since the last call, per version.
    pub fn drain(&self) -> HashMap<String, WatchedVersion> {
        self.seen
            .lock()
            .map(|mut s| std::mem::take(&mut *s))
            .unwrap_or_default()
    }
}

/// Adds one observation to `s`.
fn apply(s: &mut MinuteStats, o: &Observation<'_>) {
    s.invocations += 1;
    s.cold_starts += u64::from(o.cold);
    if let Some(d) = o.duration_us {
        s.duration_us.record(d);
    }
    if let Some(d) = o.init_duration_us {
        s.init_duration_us.record(d);
    }
    s.billed_ms = s.billed_ms.saturating_add(o.billed_ms);
    s.max_memory_mb = s.max_memory_mb.max(o.max_memory_mb);
    if let Some(e) = o.error {
        match s.errors.get_mut(e) {
            Some(n) => *n += 1,
            None => {
                s.errors.insert(e.to_string(), 1);
            }
        }
    }
}

/// Buckets being recorded, and finished ones not yet stored.
#[derive(Debug)]
pub struct Aggregate {
    shards: Vec<Mutex<Shard>>,
    hasher: RandomState,
    /// Finished buckets handed out but not yet stored (a failed write keeps them here).
    flushing: Mutex<Vec<MinuteBucket>>,
    /// Held for writing while a flush stores buckets, for reading while a reader combines
    /// what is in memory with what is stored: no reader sees a bucket twice or not at all.
    flush: tokio::sync::RwLock<()>,
    /// Live watches of aliases; `watching` is their number, so that recording without any
    /// costs one atomic load.
    watches: RwLock<Vec<Arc<Watch>>>,
    watching: AtomicUsize,
    /// Recording is on (off only to measure what it costs).
    enabled: bool,
}

impl Default for Aggregate {
    fn default() -> Self {
        Aggregate {
            shards: (0..SHARDS).map(|_| Mutex::default()).collect(),
            hasher: RandomState::new(),
            flushing: Mutex::default(),
            flush: tokio::sync::RwLock::new(()),
            watches: RwLock::default(),
            watching: AtomicUsize::new(0),
            enabled: true,
        }
    }
}

impl Aggregate {
    /// An aggregate that records (`enabled`) or ignores every observation.
    pub fn new(enabled: bool) -> Aggregate {
        Aggregate {
            enabled,
            ..Aggregate::default()
        }
    }

    fn slot(&self, series: &Series<'_>, minute: i64) -> (u64, usize) {
        let h = self.hasher.hash_one((
            series.region,
            series.function,
            series.version,
            series.alias,
            series.arch,
            series.execution,
            minute,
        ));
        (h, (h % SHARDS as u64) as usize)
    }

    /// Applies `f` to the bucket of `series` and `minute`; only a bucket's first record in a
    /// minute allocates (its key).
    fn with_bucket(&self, series: Series<'_>, minute: i64, f: impl FnOnce(&mut MinuteStats)) {
        let (hash, shard) = self.slot(&series, minute);
        let Some(lock) = self.shards.get(shard) else {
            return;
        };
        let Ok(mut map) = lock.lock() else {
            return;
        };
        let entries = map.entry(hash).or_default();
        match entries
            .iter_mut()
            .find(|b| b.minute == minute && series.matches(&b.key))
        {
            Some(b) => f(&mut b.stats),
            None => {
                let mut stats = MinuteStats::default();
                f(&mut stats);
                entries.push(MinuteBucket {
                    key: series.to_key(),
                    minute,
                    stats,
                });
            }
        }
    }

    /// Records an invocation that ran (or failed to initialize) in `minute`.
    pub fn record(&self, series: Series<'_>, minute: i64, o: Observation<'_>) {
        if !self.enabled {
            return;
        }
        self.with_bucket(series, minute, |s| apply(s, &o));
        self.each_watch(&series, |w| w.with_version(&series, |s| apply(s, &o)));
    }

    /// Records a throttled invocation in `minute`.
    pub fn throttle(&self, series: Series<'_>, minute: i64) {
        if !self.enabled {
            return;
        }
        self.with_bucket(series, minute, |s| s.throttles += 1);
        self.each_watch(&series, |w| w.with_version(&series, |s| s.throttles += 1));
    }

    fn each_watch(&self, series: &Series<'_>, f: impl Fn(&Watch)) {
        if series.alias.is_none() || self.watching.load(Ordering::Relaxed) == 0 {
            return;
        }
        if let Ok(watches) = self.watches.read() {
            for w in watches.iter().filter(|w| w.matches(series)) {
                f(w);
            }
        }
    }

    /// Starts watching invocations of `function` through `alias`.
    pub fn watch(&self, region: &str, function: &str, alias: &str) -> Arc<Watch> {
        let w = Arc::new(Watch {
            region: region.to_string(),
            function: function.to_string(),
            alias: alias.to_string(),
            seen: Mutex::default(),
        });
        if let Ok(mut watches) = self.watches.write() {
            watches.push(w.clone());
            self.watching.store(watches.len(), Ordering::Relaxed);
        }
        w
    }

    /// Stops a watch.
    pub fn unwatch(&self, watch: &Arc<Watch>) {
        if let Ok(mut watches) = self.watches.write() {
            watches.retain(|w| !Arc::ptr_eq(w, watch));
            self.watching.store(watches.len(), Ordering::Relaxed);
        }
    }

    /// Moves buckets of minutes before `before_minute` (every bucket when `None`) out of the
    /// shards into `flushing`.
    fn take_finished(&self, before_minute: Option<i64>) {
        let mut done = Vec::new();
        for lock in &self.shards {
            let Ok(mut map) = lock.lock() else { continue };
            map.retain(|_, entries| {
                let mut i = 0;
                while i < entries.len() {
                    if before_minute.is_none_or(|m| entries[i].minute < m) {
                        done.push(entries.swap_remove(i));
                    } else {
                        i += 1;
                    }
                }
                !entries.is_empty()
            });
        }
        if let Ok(mut f) = self.flushing.lock() {
            f.append(&mut done);
        }
    }

    /// Hands finished buckets (minutes before `before_minute`, or all when `None`) to `write`;
    /// those it fails to store are offered again next time. Returns how many were stored.
    pub(crate) async fn flush<E>(
        &self,
        before_minute: Option<i64>,
        write: impl AsyncFnOnce(&[MinuteBucket]) -> Result<(), E>,
    ) -> Result<usize, E> {
        let _writing = self.flush.write().await;
        self.take_finished(before_minute);
        let batch = self
            .flushing
            .lock()
            .map(|mut f| std::mem::take(&mut *f))
            .unwrap_or_default();
        if batch.is_empty() {
            return Ok(0);
        }
        match write(&batch).await {
            Ok(()) => Ok(batch.len()),
            Err(e) => {
                if let Ok(mut f) = self.flushing.lock() {
                    f.extend(batch);
                }
                Err(e)
            }
        }
    }

    /// Calls `read` with copies of the buckets of `function` not yet stored; no flush stores
    /// anything until `read` is done.
    pub(crate) async fn read_unflushed<T>(
        &self,
        region: &str,
        function: &str,
        read: impl AsyncFnOnce(Vec<MinuteBucket>) -> T,
    ) -> T {
        let _reading = self.flush.read().await;
        let wanted = |b: &&MinuteBucket| b.key.function == function && b.key.region == region;
        let mut out: Vec<MinuteBucket> = Vec::new();
        for lock in &self.shards {
            if let Ok(map) = lock.lock() {
                out.extend(map.values().flatten().filter(wanted).cloned());
            }
        }
        if let Ok(f) = self.flushing.lock() {
            out.extend(f.iter().filter(wanted).cloned());
        }
        read(out).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn series<'a>(version: &'a str, alias: Option<&'a str>) -> Series<'a> {
        Series {
            region: "us-east-1",
            function: "f",
            version,
            alias,
            arch: Architecture::Arm64,
            execution: Execution::Emulated,
        }
    }

    fn ran(duration_us: u64, error: Option<&str>) -> Observation<'_> {
        Observation {
            duration_us: Some(duration_us),
            billed_ms: 1,
            max_memory_mb: 40,
            error,
            ..Observation::default()
        }
    }

    async fn unflushed(a: &Aggregate) -> Vec<MinuteBucket> {
        let mut all = a
            .read_unflushed("us-east-1", "f", async |b: Vec<MinuteBucket>| b)
            .await;
        all.sort_by(|x, y| (x.minute, &x.key).cmp(&(y.minute, &y.key)));
        all
    }

    #[tokio::test]
    async fn records_per_series_and_minute() {
        let a = Aggregate::default();
        a.record(series("1", Some("live")), 10, ran(1_000, None));
        a.record(
            series("1", Some("live")),
            10,
            ran(3_000, Some("ValueError")),
        );
        a.record(series("1", None), 10, ran(2_000, None));
        a.record(series("1", Some("live")), 11, ran(2_000, None));
        a.throttle(series("1", Some("live")), 11);
        let all = unflushed(&a).await;
        assert_eq!(all.len(), 3);
        let live10 = all
            .iter()
            .find(|b| b.minute == 10 && b.key.alias.as_deref() == Some("live"));
        let Some(live10) = live10 else {
            panic!("no bucket for minute 10 through live: {all:?}")
        };
        assert_eq!(live10.stats.invocations, 2);
        assert_eq!(live10.stats.duration_us.count(), 2);
        assert_eq!(live10.stats.duration_us.max(), 3_000);
        assert_eq!(live10.stats.errors.get("ValueError"), Some(&1));
        assert_eq!(live10.stats.billed_ms, 2);
        let live11 = all.iter().find(|b| b.minute == 11);
        assert_eq!(
            live11.map(|b| (b.stats.invocations, b.stats.throttles)),
            Some((1, 1))
        );
    }

    #[tokio::test]
    async fn flushes_finished_minutes_and_keeps_failed_writes() {
        let a = Aggregate::default();
        a.record(series("1", None), 10, ran(1_000, None));
        a.record(series("1", None), 11, ran(1_000, None));
        a.record(series("2", None), 12, ran(1_000, None));
        // A failed write loses nothing.
        let failed = a
            .flush(Some(12), async |_: &[MinuteBucket]| Err("disk full"))
            .await;
        assert_eq!(failed, Err("disk full"));
        assert_eq!(unflushed(&a).await.len(), 3);
        let mut stored = Vec::new();
        let n = a
            .flush(Some(12), async |b: &[MinuteBucket]| {
                stored.extend_from_slice(b);
                Ok::<(), ()>(())
            })
            .await;
        assert_eq!(n, Ok(2));
        let mut minutes: Vec<i64> = stored.iter().map(|b| b.minute).collect();
        minutes.sort();
        assert_eq!(minutes, vec![10, 11]);
        // The current minute stays in memory, visible to readers, until everything is flushed.
        let left = unflushed(&a).await;
        assert_eq!(left.len(), 1);
        assert_eq!(left[0].minute, 12);
        let n = a
            .flush(None, async |b: &[MinuteBucket]| {
                assert_eq!(b.len(), 1);
                Ok::<(), ()>(())
            })
            .await;
        assert_eq!(n, Ok(1));
        assert!(unflushed(&a).await.is_empty());
        assert_eq!(
            a.flush(None, async |_: &[MinuteBucket]| Err("not called"))
                .await,
            Ok(0)
        );
    }
}
