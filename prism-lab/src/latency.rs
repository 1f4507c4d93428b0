//! Percentile summaries of latency histograms, in microseconds.

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

/// What a latency table shows; times in µs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct LatencySummary {
    pub count: u64,
    pub mean: f64,
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    pub p999: f64,
    pub max: f64,
}

impl LatencySummary {
    /// Summarizes a histogram of nanoseconds.
    pub fn from_ns(h: &Histogram<u64>) -> Self {
        if h.is_empty() {
            return Self::default();
        }
        let us = |ns: u64| ns as f64 / 1000.0;
        Self {
            count: h.len(),
            mean: h.mean() / 1000.0,
            p50: us(h.value_at_quantile(0.50)),
            p90: us(h.value_at_quantile(0.90)),
            p99: us(h.value_at_quantile(0.99)),
            p999: us(h.value_at_quantile(0.999)),
            max: us(h.max()),
        }
    }

    /// Median of each field over several runs (e.g. alternating rounds).
    pub fn median_of(runs: &[LatencySummary]) -> Self {
        let m = |f: fn(&LatencySummary) -> f64| median(runs.iter().map(f).collect());
        Self {
            count: median(runs.iter().map(|r| r.count as f64).collect()) as u64,
            mean: m(|r| r.mean),
            p50: m(|r| r.p50),
            p90: m(|r| r.p90),
            p99: m(|r| r.p99),
            p999: m(|r| r.p999),
            max: m(|r| r.max),
        }
    }
}

/// Median of a list; the mean of the middle two for even lengths, 0 if empty.
pub fn median(mut values: Vec<f64>) -> f64 {
    if values.is_empty() {
        return 0.0;
    }
    values.sort_by(f64::total_cmp);
    let mid = values.len() / 2;
    if values.len() % 2 == 1 {
        values[mid]
    } else {
        (values[mid - 1] + values[mid]) / 2.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summarizes_in_microseconds() {
        let mut h = Histogram::<u64>::new_with_bounds(1, 60_000_000_000, 3).unwrap();
        for i in 1..=1000u64 {
            h.record(i * 1000).unwrap(); // 1..1000 µs
        }
        let s = LatencySummary::from_ns(&h);
        assert_eq!(s.count, 1000);
        assert!((s.p50 - 500.0).abs() < 1.0, "{s:?}");
        assert!((s.p99 - 990.0).abs() < 1.0, "{s:?}");
        assert!((s.max - 1000.0).abs() < 1.0, "{s:?}");
        assert_eq!(
            LatencySummary::from_ns(&Histogram::new(3).unwrap()),
            LatencySummary::default()
        );
    }

    #[test]
    fn medians() {
        assert_eq!(median(vec![]), 0.0);
        assert_eq!(median(vec![3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(vec![4.0, 1.0, 2.0, 3.0]), 2.5);
        let a = LatencySummary {
            p99: 10.0,
            count: 5,
            ..Default::default()
        };
        let b = LatencySummary {
            p99: 30.0,
            count: 7,
            ..Default::default()
        };
        let c = LatencySummary {
            p99: 20.0,
            count: 6,
            ..Default::default()
        };
        let m = LatencySummary::median_of(&[a, b, c]);
        assert_eq!((m.p99, m.count), (20.0, 6));
    }
}
