//! Percentiles and means of measured durations.
//!
//! Percentiles are nearest-rank over the exact values (no histogram, no interpolation): the
//! p-th percentile of n sorted values is the value of rank `ceil(p/100 * n)` (at least 1), so
//! it is always a value that was measured, and p50 ≤ p90 ≤ p99 ≤ max. archfn's metrics
//! histogram uses the same rank rule.

use crate::report::Summary;

/// The value at quantile `q` (0..=1) of `sorted` (ascending), by nearest rank; `None` when
/// empty.
pub(crate) fn percentile(sorted: &[f64], q: f64) -> Option<f64> {
    let n = sorted.len();
    if n == 0 {
        return None;
    }
    let q = if q.is_nan() { 0.0 } else { q.clamp(0.0, 1.0) };
    // `q * n` is at most `n`, far below 2^53 for any slice in memory, so the conversion is
    // exact enough; the clamp keeps the index inside the slice whatever the rounding.
    let rank = ((q * n as f64).ceil() as usize).clamp(1, n);
    sorted.get(rank - 1).copied()
}

/// The summary of `values` (finite, in any order); `None` when empty.
pub(crate) fn summarize(values: &[f64]) -> Option<Summary> {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let max = *sorted.last()?;
    Some(Summary {
        count: sorted.len() as u64,
        p50: percentile(&sorted, 0.50)?,
        p90: percentile(&sorted, 0.90)?,
        p99: percentile(&sorted, 0.99)?,
        max,
        mean: mean(&sorted)?,
    })
}

/// The arithmetic mean, kept as a running mean so that large values cannot overflow a sum;
/// `None` when empty.
pub(crate) fn mean(values: &[f64]) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    let mut mean = 0.0;
    for (i, v) in values.iter().enumerate() {
        mean += (v - mean) / (i + 1) as f64;
    }
    Some(mean)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_of_one_to_a_hundred_are_the_ranks() {
        let values: Vec<f64> = (1..=100).rev().map(f64::from).collect();
        let s = summarize(&values).expect("summary");
        assert_eq!(s.count, 100);
        assert_eq!(s.p50, 50.0);
        assert_eq!(s.p90, 90.0);
        assert_eq!(s.p99, 99.0);
        assert_eq!(s.max, 100.0);
        assert!((s.mean - 50.5).abs() < 1e-12, "{}", s.mean);
    }

    #[test]
    fn nearest_rank_on_small_samples() {
        // Ranks: p50 of 4 values is the 2nd, p90 and p99 the 4th.
        let s = summarize(&[4.0, 1.0, 3.0, 2.0]).expect("summary");
        assert_eq!((s.p50, s.p90, s.p99, s.max), (2.0, 4.0, 4.0, 4.0));
        assert_eq!(s.mean, 2.5);
        // Ten values: p90 is the 9th, p99 the 10th.
        let ten: Vec<f64> = (1..=10).map(|v| f64::from(v) * 1.5).collect();
        let s = summarize(&ten).expect("summary");
        assert_eq!((s.p50, s.p90, s.p99), (7.5, 13.5, 15.0));
        // One value is every percentile.
        let s = summarize(&[12.25]).expect("summary");
        assert_eq!(
            (s.p50, s.p90, s.p99, s.max, s.mean),
            (12.25, 12.25, 12.25, 12.25, 12.25)
        );
    }

    #[test]
    fn empty_has_no_summary_and_odd_quantiles_stay_inside() {
        assert_eq!(summarize(&[]), None);
        assert_eq!(percentile(&[], 0.5), None);
        assert_eq!(percentile(&[1.0, 2.0], f64::NAN), Some(1.0));
        assert_eq!(percentile(&[1.0, 2.0], -3.0), Some(1.0));
        assert_eq!(percentile(&[1.0, 2.0], 7.0), Some(2.0));
    }

    #[test]
    fn mean_of_huge_values_does_not_overflow() {
        let m = mean(&[f64::MAX, f64::MAX]).expect("mean");
        assert!(m.is_finite());
    }
}
