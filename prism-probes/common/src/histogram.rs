//! Latency histograms in userspace: summed over CPUs, subtracted between
//! snapshots, and read as percentiles. Here rather than in the loader so
//! that the trace format, the lab and the front ends share them without
//! building the eBPF programs.

use serde::Serialize;

use crate::hist::{BUCKETS, Hist, bucket_lower, bucket_of, bucket_upper};

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Histogram {
    pub count: u64,
    pub sum_ns: u64,
    /// Largest value seen (over the histogram's whole life: a maximum cannot
    /// be subtracted, so an interval's max is bounded by its top bucket).
    pub max_ns: u64,
    pub buckets: Vec<u64>,
}

impl Default for Histogram {
    fn default() -> Self {
        Self {
            count: 0,
            sum_ns: 0,
            max_ns: 0,
            buckets: vec![0; BUCKETS],
        }
    }
}

/// Percentiles of a histogram, in microseconds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct Percentiles {
    pub count: u64,
    pub mean: f64,
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    pub p999: f64,
    pub max: f64,
}

impl Histogram {
    /// Sums one slot's per-CPU copies.
    pub fn from_per_cpu<'a>(values: impl IntoIterator<Item = &'a Hist>) -> Self {
        let mut h = Self::default();
        // Saturating: the maps are written without locks, so a torn or
        // raced value must not take the reader down.
        for v in values {
            h.count = h.count.saturating_add(v.count);
            h.sum_ns = h.sum_ns.saturating_add(v.sum_ns);
            h.max_ns = h.max_ns.max(v.max_ns);
            for (a, b) in h.buckets.iter_mut().zip(v.buckets.iter()) {
                *a = a.saturating_add(*b);
            }
        }
        h
    }

    /// What was added between `earlier` and `self`.
    pub fn since(&self, earlier: &Histogram) -> Histogram {
        let buckets: Vec<u64> = self
            .buckets
            .iter()
            .zip(&earlier.buckets)
            .map(|(a, b)| a.saturating_sub(*b))
            .collect();
        let top = buckets.iter().rposition(|&n| n > 0);
        Histogram {
            count: self.count.saturating_sub(earlier.count),
            sum_ns: self.sum_ns.saturating_sub(earlier.sum_ns),
            max_ns: top.map_or(0, |i| bucket_upper(i).min(self.max_ns)),
            buckets,
        }
    }

    /// Counts one value, in ns (for histograms built in userspace, such as
    /// end-to-end times from recorded events).
    pub fn record(&mut self, ns: u64) {
        self.count += 1;
        self.sum_ns += ns;
        self.max_ns = self.max_ns.max(ns);
        self.buckets[bucket_of(ns)] += 1;
    }

    pub fn add(&mut self, other: &Histogram) {
        self.count += other.count;
        self.sum_ns += other.sum_ns;
        self.max_ns = self.max_ns.max(other.max_ns);
        for (a, b) in self.buckets.iter_mut().zip(&other.buckets) {
            *a += b;
        }
    }

    /// The value at quantile `q` (0..=1), in ns: the middle of its bucket,
    /// never above the largest value seen.
    pub fn quantile(&self, q: f64) -> f64 {
        let total: u64 = self.buckets.iter().sum();
        if total == 0 {
            return 0.0;
        }
        let rank = ((q * total as f64).ceil() as u64).clamp(1, total);
        let mut seen = 0;
        for (i, &n) in self.buckets.iter().enumerate() {
            seen += n;
            if seen >= rank {
                let mid = (bucket_lower(i) + bucket_upper(i)) as f64 / 2.0;
                return mid.min(self.max_ns.max(bucket_lower(i)) as f64);
            }
        }
        self.max_ns as f64
    }

    pub fn percentiles(&self) -> Percentiles {
        if self.count == 0 {
            return Percentiles::default();
        }
        let us = |ns: f64| ns / 1000.0;
        Percentiles {
            count: self.count,
            mean: us(self.sum_ns as f64 / self.count as f64),
            p50: us(self.quantile(0.50)),
            p90: us(self.quantile(0.90)),
            p99: us(self.quantile(0.99)),
            p999: us(self.quantile(0.999)),
            max: us(self.max_ns as f64),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hist(values: &[u64]) -> Histogram {
        let mut h = Hist::default();
        for &v in values {
            h.record(v);
        }
        Histogram::from_per_cpu([&h])
    }

    #[test]
    fn percentiles_are_within_a_bucket() {
        let values: Vec<u64> = (1..=1000).map(|i| i * 1000).collect();
        let p = hist(&values).percentiles();
        assert_eq!(p.count, 1000);
        assert!((p.p50 - 500.0).abs() / 500.0 < 0.15, "{p:?}");
        assert!((p.p99 - 990.0).abs() / 990.0 < 0.15, "{p:?}");
        assert_eq!(p.max, 1000.0);
        assert!((p.mean - 500.5).abs() < 0.01);
    }

    #[test]
    fn sums_cpus_and_subtracts_snapshots() {
        let (mut a, mut b) = (Hist::default(), Hist::default());
        a.record(100);
        b.record(100_000);
        let both = Histogram::from_per_cpu([&a, &b]);
        assert_eq!(both.count, 2);
        let first = Histogram::from_per_cpu([&a]);
        let delta = both.since(&first);
        assert_eq!(delta.count, 1);
        assert_eq!(delta.sum_ns, 100_000);
        assert!(delta.quantile(0.5) > 80_000.0);
        assert_eq!(Histogram::default().percentiles(), Percentiles::default());
    }
}
