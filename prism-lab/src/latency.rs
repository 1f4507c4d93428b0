//! Percentile summaries of latency histograms, in microseconds.

use hdrhistogram::Histogram;

pub use prism_probes_common::histogram::Percentiles;

/// Summarizes a histogram of nanoseconds, in µs.
pub fn summarize(h: &Histogram<u64>) -> Percentiles {
    if h.is_empty() {
        return Percentiles::default();
    }
    let us = |ns: u64| ns as f64 / 1000.0;
    Percentiles {
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
pub fn median_of(runs: &[Percentiles]) -> Percentiles {
    let m = |f: fn(&Percentiles) -> f64| median(runs.iter().map(f).collect());
    Percentiles {
        count: median(runs.iter().map(|r| r.count as f64).collect()) as u64,
        mean: m(|r| r.mean),
        p50: m(|r| r.p50),
        p90: m(|r| r.p90),
        p99: m(|r| r.p99),
        p999: m(|r| r.p999),
        max: m(|r| r.max),
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
        let s = summarize(&h);
        assert_eq!(s.count, 1000);
        assert!((s.p50 - 500.0).abs() < 1.0, "{s:?}");
        assert!((s.p99 - 990.0).abs() < 1.0, "{s:?}");
        assert!((s.max - 1000.0).abs() < 1.0, "{s:?}");
        assert_eq!(
            summarize(&Histogram::new(3).unwrap()),
            Percentiles::default()
        );
    }

    #[test]
    fn medians() {
        assert_eq!(median(vec![]), 0.0);
        assert_eq!(median(vec![3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(vec![4.0, 1.0, 2.0, 3.0]), 2.5);
        let a = Percentiles {
            p99: 10.0,
            count: 5,
            ..Default::default()
        };
        let b = Percentiles {
            p99: 30.0,
            count: 7,
            ..Default::default()
        };
        let c = Percentiles {
            p99: 20.0,
            count: 6,
            ..Default::default()
        };
        let m = median_of(&[a, b, c]);
        assert_eq!((m.p99, m.count), (20.0, 6));
    }
}
