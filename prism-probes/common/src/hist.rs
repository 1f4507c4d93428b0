//! Log-linear latency histograms: four linear sub-buckets per power of two,
//! so any value is within 25% of its bucket's bounds, from 1 ns to 7.5 s
//! (longer values share the top bucket).

/// Buckets per histogram: a power of two, so that a mask proves to the eBPF
/// verifier that an index is in bounds.
pub const BUCKETS: usize = 128;

#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Hist {
    pub count: u64,
    pub sum_ns: u64,
    pub max_ns: u64,
    pub buckets: [u64; BUCKETS],
}

impl Default for Hist {
    fn default() -> Self {
        Self {
            count: 0,
            sum_ns: 0,
            max_ns: 0,
            buckets: [0; BUCKETS],
        }
    }
}

/// The bucket of a value: values below 4 have their own, then four per
/// power of two.
#[inline(always)]
pub fn bucket_of(v: u64) -> usize {
    if v < 4 {
        return v as usize;
    }
    // The top bit by binary search: BPF has no count-leading-zeros, and
    // LLVM's expansion of one leaves the verifier unable to bound it.
    let (mut msb, mut x) = (0u64, v);
    for shift in [32, 16, 8, 4, 2, 1] {
        if x >> shift != 0 {
            x >>= shift;
            msb += shift;
        }
    }
    let sub = (v >> (msb - 2)) & 3;
    let i = 4 * (msb - 1) + sub;
    let i = if i < BUCKETS as u64 {
        i
    } else {
        BUCKETS as u64 - 1
    };
    (i as usize) & (BUCKETS - 1)
}

/// Smallest value of bucket `i`.
pub const fn bucket_lower(i: usize) -> u64 {
    if i < 4 {
        return i as u64;
    }
    let msb = i / 4 + 1;
    ((4 + (i % 4)) as u64) << (msb - 2)
}

/// Largest value of bucket `i`.
pub const fn bucket_upper(i: usize) -> u64 {
    if i < 4 {
        return i as u64;
    }
    bucket_lower(i) + (1u64 << (i / 4 - 1)) - 1
}

impl Hist {
    /// Records one value (kernel side: on a per-CPU slot, so no atomics).
    #[inline(always)]
    pub fn record(&mut self, v: u64) {
        self.record_weighted(v, 1)
    }

    /// Records a value that stands for `weight` values (a sample 1 in
    /// `weight`): counts and sums scale, so totals and percentiles stay
    /// estimates of every packet.
    #[inline(always)]
    pub fn record_weighted(&mut self, v: u64, weight: u64) {
        self.count += weight;
        self.sum_ns += v * weight;
        if v > self.max_ns {
            self.max_ns = v;
        }
        self.buckets[bucket_of(v) & (BUCKETS - 1)] += weight;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_tile_the_number_line() {
        for i in 0..BUCKETS - 1 {
            assert_eq!(bucket_upper(i) + 1, bucket_lower(i + 1), "bucket {i}");
            assert_eq!(bucket_of(bucket_lower(i)), i);
            assert_eq!(bucket_of(bucket_upper(i)), i);
        }
    }

    #[test]
    fn values_land_within_a_quarter_of_their_bucket() {
        for v in [5u64, 99, 1_000, 12_345, 1_000_000, 987_654_321] {
            let i = bucket_of(v);
            let (lo, hi) = (bucket_lower(i), bucket_upper(i));
            assert!(lo <= v && v <= hi, "{v} in [{lo}, {hi}]");
            assert!(
                (hi - lo) as f64 <= 0.25 * lo as f64,
                "{v}: [{lo}, {hi}] too wide"
            );
        }
        assert_eq!(bucket_of(u64::MAX), BUCKETS - 1);
    }

    #[test]
    fn records_count_sum_and_max() {
        let mut h = Hist::default();
        for v in [10, 20, 30] {
            h.record(v);
        }
        assert_eq!((h.count, h.sum_ns, h.max_ns), (3, 60, 30));
        assert_eq!(h.buckets.iter().sum::<u64>(), 3);
        h.record_weighted(40, 8);
        assert_eq!((h.count, h.sum_ns, h.max_ns), (11, 380, 40));
        assert_eq!(h.buckets[bucket_of(40)], 8);
    }
}
