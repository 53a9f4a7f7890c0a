//! Invocation metrics that last: per-minute buckets of one series (function, version, alias,
//! architecture, execution mode), with log-linear histograms of durations.
//!
//! Pure data and arithmetic: the engine records into these shapes, the store keeps them, the
//! API merges them over a window.

use std::collections::BTreeMap;

use crate::Architecture;

/// Milliseconds in a bucket.
pub const MINUTE_MS: i64 = 60_000;

/// The minute (Unix milliseconds / 60,000, rounded down) that `ms` falls in.
pub fn minute_of(ms: i64) -> i64 {
    ms.div_euclid(MINUTE_MS)
}

/// Why stored metrics do not decode.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MetricsDecodeError {
    /// The bytes end inside a value.
    #[error("histogram truncated")]
    Truncated,
    /// An encoding this version does not know.
    #[error("unknown histogram encoding {0}")]
    UnknownEncoding(u8),
    /// A bucket index past the largest one.
    #[error("histogram bucket {0} out of range")]
    BadIndex(u64),
    /// Bytes left after the histogram.
    #[error("trailing bytes after the histogram")]
    Trailing,
}

/// Sub-buckets per power of two: each bucket is at most 1/128 of its lower bound wide, so a
/// value reported from a bucket (its midpoint) is within 1/256 (0.4 %) of the value recorded.
const SUB_BITS: u32 = 7;
const SUB_COUNT: u64 = 1 << SUB_BITS;
/// Buckets of the whole `u64` range.
const BUCKETS: u64 = (65 - SUB_BITS as u64) * SUB_COUNT;
/// The relative error bound of a reported percentile (half a bucket's width).
pub const HISTOGRAM_RELATIVE_ERROR: f64 = 1.0 / (2 * SUB_COUNT) as f64;

/// The bucket of `v`: exact below 256, then 128 buckets per power of two.
fn index_of(v: u64) -> u32 {
    if v < 2 * SUB_COUNT {
        return v as u32;
    }
    let exp = 63 - v.leading_zeros(); // >= SUB_BITS + 1
    let shift = exp - SUB_BITS;
    let mantissa = (v >> shift) & (SUB_COUNT - 1);
    ((u64::from(shift) + 1) * SUB_COUNT + mantissa) as u32
}

/// The lowest value of bucket `i` and its width.
fn bucket_range(i: u32) -> (u64, u64) {
    let i = u64::from(i);
    if i < 2 * SUB_COUNT {
        return (i, 1);
    }
    let shift = i / SUB_COUNT - 1;
    let mantissa = i % SUB_COUNT;
    ((SUB_COUNT + mantissa) << shift, 1 << shift)
}

/// A log-linear histogram of non-negative integers (archfn records microseconds): sparse,
/// exact below 256, within [`HISTOGRAM_RELATIVE_ERROR`] above; min and max are exact.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Histogram {
    /// `(bucket, count)`, ascending by bucket, no zero counts.
    buckets: Vec<(u32, u64)>,
    count: u64,
    min: u64,
    max: u64,
    sum: u64,
}

impl Histogram {
    /// An empty histogram.
    pub fn new() -> Histogram {
        Histogram::default()
    }

    /// Records one value. Allocates only the first time a value falls in a bucket.
    pub fn record(&mut self, v: u64) {
        self.record_n(index_of(v), 1);
        if self.count == 0 || v < self.min {
            self.min = v;
        }
        self.max = self.max.max(v);
        self.count += 1;
        self.sum = self.sum.saturating_add(v);
    }

    fn record_n(&mut self, index: u32, n: u64) {
        match self.buckets.binary_search_by_key(&index, |(i, _)| *i) {
            Ok(at) => self.buckets[at].1 += n,
            Err(at) => self.buckets.insert(at, (index, n)),
        }
    }

    /// Adds every value of `other`.
    pub fn merge(&mut self, other: &Histogram) {
        if other.count == 0 {
            return;
        }
        for &(i, n) in &other.buckets {
            self.record_n(i, n);
        }
        self.min = if self.count == 0 {
            other.min
        } else {
            self.min.min(other.min)
        };
        self.max = self.max.max(other.max);
        self.count += other.count;
        self.sum = self.sum.saturating_add(other.sum);
    }

    /// Values recorded.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// The largest value recorded (0 when empty).
    pub fn max(&self) -> u64 {
        self.max
    }

    /// The smallest value recorded (0 when empty).
    pub fn min(&self) -> u64 {
        self.min
    }

    /// The sum of the values recorded.
    pub fn sum(&self) -> u64 {
        self.sum
    }

    /// The value at quantile `q` (0..=1, nearest rank): the midpoint of its bucket, kept within
    /// the exact min and max, so percentiles never decrease as `q` grows. `None` when empty.
    pub fn quantile(&self, q: f64) -> Option<u64> {
        if self.count == 0 {
            return None;
        }
        let rank = ((q.clamp(0.0, 1.0) * self.count as f64).ceil() as u64).max(1);
        let mut seen = 0u64;
        for &(i, n) in &self.buckets {
            seen += n;
            if seen >= rank {
                let (low, width) = bucket_range(i);
                let mid = low + width / 2;
                return Some(mid.clamp(self.min, self.max));
            }
        }
        Some(self.max)
    }

    /// A compact encoding: a version byte, then LEB128 varints: count, min, max, sum, the
    /// number of buckets, and per bucket the distance from the previous bucket and its count.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(8 + self.buckets.len() * 3);
        out.push(1);
        for v in [
            self.count,
            self.min,
            self.max,
            self.sum,
            self.buckets.len() as u64,
        ] {
            put_varint(&mut out, v);
        }
        let mut prev = 0u32;
        for &(i, n) in &self.buckets {
            put_varint(&mut out, u64::from(i - prev));
            put_varint(&mut out, n);
            prev = i;
        }
        out
    }

    /// Reads what [`Histogram::encode`] wrote; the empty slice is the empty histogram.
    pub fn decode(bytes: &[u8]) -> Result<Histogram, MetricsDecodeError> {
        let Some((&version, mut rest)) = bytes.split_first() else {
            return Ok(Histogram::default());
        };
        if version != 1 {
            return Err(MetricsDecodeError::UnknownEncoding(version));
        }
        let mut next = || get_varint(&mut rest);
        let (count, min, max, sum, len) = (next()?, next()?, next()?, next()?, next()?);
        if len > BUCKETS {
            return Err(MetricsDecodeError::BadIndex(len));
        }
        let mut buckets = Vec::with_capacity(len as usize);
        let mut index = 0u64;
        for _ in 0..len {
            index += get_varint(&mut rest)?;
            if index >= BUCKETS {
                return Err(MetricsDecodeError::BadIndex(index));
            }
            let n = get_varint(&mut rest)?;
            buckets.push((index as u32, n));
        }
        if !rest.is_empty() {
            return Err(MetricsDecodeError::Trailing);
        }
        Ok(Histogram {
            buckets,
            count,
            min,
            max,
            sum,
        })
    }
}

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn get_varint(bytes: &mut &[u8]) -> Result<u64, MetricsDecodeError> {
    let mut v = 0u64;
    for shift in (0..64).step_by(7) {
        let (&b, rest) = bytes.split_first().ok_or(MetricsDecodeError::Truncated)?;
        *bytes = rest;
        v |= u64::from(b & 0x7f) << shift;
        if b & 0x80 == 0 {
            return Ok(v);
        }
    }
    Err(MetricsDecodeError::Truncated)
}

/// Whether a series ran natively or under QEMU.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Execution {
    /// On the host's own ISA.
    Native,
    /// Under QEMU user-mode emulation.
    Emulated,
}

impl Execution {
    /// `native` or `emulated`.
    pub fn as_str(self) -> &'static str {
        match self {
            Execution::Native => "native",
            Execution::Emulated => "emulated",
        }
    }

    /// The inverse of [`Execution::as_str`].
    pub fn parse(s: &str) -> Option<Execution> {
        match s {
            "native" => Some(Execution::Native),
            "emulated" => Some(Execution::Emulated),
            _ => None,
        }
    }
}

/// What one series of metrics is about.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SeriesKey {
    /// Region of the function.
    pub region: String,
    /// Function name.
    pub function: String,
    /// `$LATEST` or the version number that ran.
    pub version: String,
    /// The alias the caller invoked through, if any.
    pub alias: Option<String>,
    /// The function's architecture.
    pub arch: Architecture,
    /// Native or emulated.
    pub execution: Execution,
}

/// What happened in one series during one minute.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MinuteStats {
    /// Invocations that ran (or failed to initialize); throttled ones are not counted here.
    pub invocations: u64,
    /// Function errors by error type (`Runtime.ExitError`, `Sandbox.Timedout`, the
    /// handler's exception type…).
    pub errors: BTreeMap<String, u64>,
    /// Invocations refused for concurrency or memory.
    pub throttles: u64,
    /// Invocations that started a new execution environment.
    pub cold_starts: u64,
    /// Duration of invocations, microseconds.
    pub duration_us: Histogram,
    /// Init duration of cold starts, microseconds.
    pub init_duration_us: Histogram,
    /// Sum of billed durations, milliseconds.
    pub billed_ms: u64,
    /// The largest memory used by one invocation, MB.
    pub max_memory_mb: u64,
}

impl MinuteStats {
    /// Adds `other`'s figures to these.
    pub fn merge(&mut self, other: &MinuteStats) {
        self.invocations += other.invocations;
        for (t, n) in &other.errors {
            match self.errors.get_mut(t) {
                Some(c) => *c += n,
                None => {
                    self.errors.insert(t.clone(), *n);
                }
            }
        }
        self.throttles += other.throttles;
        self.cold_starts += other.cold_starts;
        self.duration_us.merge(&other.duration_us);
        self.init_duration_us.merge(&other.init_duration_us);
        self.billed_ms = self.billed_ms.saturating_add(other.billed_ms);
        self.max_memory_mb = self.max_memory_mb.max(other.max_memory_mb);
    }

    /// Function errors of every type.
    pub fn error_count(&self) -> u64 {
        self.errors.values().sum()
    }
}

/// One series' figures for one minute.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MinuteBucket {
    /// The series.
    pub key: SeriesKey,
    /// The minute (see [`minute_of`]).
    pub minute: i64,
    /// The figures.
    pub stats: MinuteStats,
}

/// Parses a point in time for a metrics window: an RFC 3339 timestamp, or a duration before
/// `now_ms` such as `90s`, `15m`, `1h`, `7d`. Returns Unix milliseconds.
pub fn parse_time(s: &str, now_ms: i64) -> Option<i64> {
    let s = s.trim();
    if let Ok(ts) = s.parse::<jiff::Timestamp>() {
        return Some(ts.as_millisecond());
    }
    let unit_at = s.find(|c: char| !c.is_ascii_digit())?;
    let (digits, unit) = s.split_at(unit_at);
    let n: i64 = digits.parse().ok()?;
    let ms = match unit {
        "s" => 1_000,
        "m" | "min" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        "w" => 7 * 86_400_000,
        _ => return None,
    };
    Some(now_ms.saturating_sub(n.checked_mul(ms)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_contiguous_and_monotonic() {
        let mut prev = 0;
        for v in (0..100_000u64).chain([u64::MAX / 3, u64::MAX - 1, u64::MAX]) {
            let i = index_of(v);
            assert!(i >= prev, "{v}");
            assert!(u64::from(i) < BUCKETS);
            let (low, width) = bucket_range(i);
            assert!(low <= v && v - low < width, "{v} in [{low}, +{width})");
            prev = i;
        }
    }

    #[test]
    fn percentiles_are_within_the_bound() {
        let mut h = Histogram::new();
        // 1..=100,000 µs: the nearest-rank quantile q is q * 100,000.
        for v in 1..=100_000u64 {
            h.record(v);
        }
        for q in [0.5, 0.9, 0.99, 0.999] {
            let exact = (q * 100_000.0_f64).ceil();
            let got = h.quantile(q).unwrap_or(0) as f64;
            let err = (got - exact).abs() / exact;
            assert!(err <= HISTOGRAM_RELATIVE_ERROR, "q={q}: {got} vs {exact}");
        }
        assert_eq!(h.quantile(1.0), Some(100_000));
        assert_eq!(h.max(), 100_000);
        assert_eq!(h.min(), 1);
        assert_eq!(h.count(), 100_000);
        assert_eq!(h.sum(), 5_000_050_000);
        assert_eq!(Histogram::new().quantile(0.5), None);
    }

    #[test]
    fn percentiles_never_exceed_max_nor_decrease() {
        let mut h = Histogram::new();
        for v in [1_000_003u64, 1_000_001, 5, 999_999_999] {
            h.record(v);
        }
        let qs: Vec<u64> = [0.0, 0.5, 0.9, 0.99, 1.0]
            .iter()
            .filter_map(|&q| h.quantile(q))
            .collect();
        assert!(qs.windows(2).all(|w| w[0] <= w[1]), "{qs:?}");
        assert_eq!(qs.last().copied(), Some(999_999_999));
        assert_eq!(qs.first().copied(), Some(5));
    }

    #[test]
    fn merged_histogram_equals_one_recorded_whole() {
        let (mut a, mut b, mut whole) = (Histogram::new(), Histogram::new(), Histogram::new());
        for v in 0..5_000u64 {
            let v = v * v % 77_777;
            if v % 3 == 0 { &mut a } else { &mut b }.record(v);
            whole.record(v);
        }
        let mut merged = a.clone();
        merged.merge(&b);
        assert_eq!(merged, whole);
        let mut empty = Histogram::new();
        empty.merge(&a);
        assert_eq!(empty, a);
        a.merge(&Histogram::new());
        assert_eq!(empty, a);
    }

    #[test]
    fn encoding_round_trips_and_is_compact() {
        let mut h = Histogram::new();
        for v in 0..10_000u64 {
            h.record(20_000 + v * 13);
        }
        let bytes = h.encode();
        assert_eq!(Histogram::decode(&bytes), Ok(h.clone()));
        assert!(bytes.len() < 1_000, "{} bytes", bytes.len());
        assert_eq!(
            Histogram::decode(&Histogram::new().encode()),
            Ok(Histogram::new())
        );
        assert_eq!(Histogram::decode(&[]), Ok(Histogram::new()));
        assert_eq!(
            Histogram::decode(&bytes[..bytes.len() - 1]),
            Err(MetricsDecodeError::Truncated)
        );
        assert_eq!(
            Histogram::decode(&[2]),
            Err(MetricsDecodeError::UnknownEncoding(2))
        );
        let mut long = bytes.clone();
        long.push(0);
        assert_eq!(Histogram::decode(&long), Err(MetricsDecodeError::Trailing));
        // A bucket index past the last one is refused rather than trusted.
        assert!(Histogram::decode(&[1, 1, 0, 0, 0, 1, 0xff, 0xff, 0x7f, 1]).is_err());
    }

    #[test]
    fn minutes_round_down() {
        assert_eq!(minute_of(0), 0);
        assert_eq!(minute_of(59_999), 0);
        assert_eq!(minute_of(60_000), 1);
        assert_eq!(minute_of(-1), -1);
    }

    #[test]
    fn stats_merge_adds_counts_and_keeps_max_memory() {
        let mut a = MinuteStats {
            invocations: 2,
            max_memory_mb: 40,
            billed_ms: 10,
            ..MinuteStats::default()
        };
        a.errors.insert("ValueError".into(), 1);
        let mut b = a.clone();
        b.max_memory_mb = 70;
        b.errors.insert("Runtime.ExitError".into(), 2);
        b.throttles = 1;
        a.merge(&b);
        assert_eq!(a.invocations, 4);
        assert_eq!(a.errors.get("ValueError"), Some(&2));
        assert_eq!(a.errors.get("Runtime.ExitError"), Some(&2));
        assert_eq!(a.error_count(), 4);
        assert_eq!(a.throttles, 1);
        assert_eq!(a.billed_ms, 20);
        assert_eq!(a.max_memory_mb, 70);
    }

    #[test]
    fn times_are_timestamps_or_durations_ago() {
        let now = 1_700_000_000_000;
        assert_eq!(parse_time("1h", now), Some(now - 3_600_000));
        assert_eq!(parse_time("90s", now), Some(now - 90_000));
        assert_eq!(parse_time("2d", now), Some(now - 2 * 86_400_000));
        assert_eq!(
            parse_time("2023-11-14T22:13:20Z", now),
            Some(1_700_000_000_000)
        );
        assert_eq!(parse_time("yesterday", now), None);
        assert_eq!(parse_time("5y", now), None);
        assert_eq!(parse_time("", now), None);
    }
}
