//! Sampling of low-class journeys: under bulk traffic the profilers time
//! one low-class journey in N and scale what they count by N; high-class
//! journeys are always timed. Each CPU keeps N to its own low-class rate,
//! in the kernel, so a burst is sampled within one window whatever reads
//! the maps and how often: N is 1 (every journey) on a quiet host and
//! grows with the rate to keep about a target number timed per second.

/// The window a CPU measures its rate over.
pub const WINDOW_NS: u64 = 100_000_000;
/// The largest N: beyond it a second holds too few samples to show a
/// percentile of anything.
pub const MAX_EVERY: u32 = 1 << 14;

/// One CPU's low-class journey rate and the N it samples at
/// (the `LOW_RATE` per-CPU map).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LowRate {
    pub window_start_ns: u64,
    pub journeys: u32,
    pub every: u32,
}

impl LowRate {
    /// A low-class journey begins at `now_ns`; returns N, the one in how
    /// many it is drawn at (1: timed for sure). `target_per_sec` 0: every
    /// journey is timed.
    #[inline(always)]
    pub fn begin(&mut self, now_ns: u64, target_per_sec: u32) -> u32 {
        if target_per_sec == 0 {
            return 1;
        }
        self.journeys = self.journeys.saturating_add(1);
        let elapsed = now_ns.wrapping_sub(self.window_start_ns);
        if elapsed >= WINDOW_NS {
            self.every = next_every(self.every, self.journeys, elapsed, target_per_sec);
            self.window_start_ns = now_ns;
            self.journeys = 0;
        }
        if self.every > 1 { self.every } else { 1 }
    }
}

/// N for the next window, from `journeys` seen over `elapsed_ns`: up at
/// once to what the rate needs, so a burst is sampled from its start; down
/// by halves, and only when the rate needs at most half, so that N does
/// not swing with noise.
#[inline(always)]
pub fn next_every(every: u32, journeys: u32, elapsed_ns: u64, target_per_sec: u32) -> u32 {
    let every = if every > 1 { every } else { 1 };
    if elapsed_ns == 0 || target_per_sec == 0 {
        return every;
    }
    let rate = journeys as u64 * 1_000_000_000 / elapsed_ns;
    let target = target_per_sec as u64;
    let needed = rate.div_ceil(target);
    let needed = if needed > MAX_EVERY as u64 {
        MAX_EVERY
    } else if needed < 1 {
        1
    } else {
        needed as u32
    };
    if needed > every {
        needed
    } else if needed * 2 <= every {
        every / 2
    } else {
        every
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: u64 = 1_000_000;

    #[test]
    fn without_a_target_every_journey_is_timed() {
        let mut r = LowRate::default();
        for i in 0..100_000 {
            assert_eq!(r.begin(i * 1000, 0), 1);
        }
    }

    #[test]
    fn n_rises_within_a_window_and_falls_by_halves() {
        let mut r = LowRate::default();
        let mut now = 1_000 * MS;
        // 1000 journeys/s against a target of 2000: every one is timed.
        for _ in 0..300 {
            now += MS;
            assert_eq!(r.begin(now, 2000), 1);
        }
        // 1 000 000/s: after one window N is what the rate needs.
        for _ in 0..200_000 {
            now += 1000;
            r.begin(now, 2000);
        }
        assert!((450..=550).contains(&r.every), "N {}", r.every);
        // Quiet again (100/s): halving, one window at a time, down to 1.
        let high = r.every;
        for _ in 0..40 {
            now += 10 * MS;
            r.begin(now, 2000);
        }
        assert!(r.every < high / 2, "N {} after {high}", r.every);
        for _ in 0..200 {
            now += 10 * MS;
            r.begin(now, 2000);
        }
        assert_eq!(r.every, 1);
    }

    #[test]
    fn noise_does_not_move_n_and_n_is_bounded() {
        assert_eq!(next_every(100, 19_000, 100 * MS, 2000), 100, "needed 95");
        assert_eq!(next_every(100, 21_000, 100 * MS, 2000), 105);
        assert_eq!(next_every(100, 9_000, 100 * MS, 2000), 50);
        assert_eq!(next_every(1, u32::MAX, 1, 1), MAX_EVERY);
        assert_eq!(next_every(0, 0, 0, 2000), 1);
    }
}
