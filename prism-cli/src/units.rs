//! Numbers as `top` and the tables show them: short, with their unit.

/// µs to a short time: `8.4µs`, `340µs`, `1.2ms`, `24ms`, `1.5s`.
pub fn time(us: f64) -> String {
    if us < 10.0 {
        format!("{us:.1}µs")
    } else if us < 1000.0 {
        format!("{us:.0}µs")
    } else if us < 10_000.0 {
        format!("{:.1}ms", us / 1e3)
    } else if us < 1e6 {
        format!("{:.0}ms", us / 1e3)
    } else {
        format!("{:.1}s", us / 1e6)
    }
}

/// Bytes per second: `412MiB/s`.
pub fn rate(bytes_per_second: f64) -> String {
    let units = ["B/s", "KiB/s", "MiB/s", "GiB/s"];
    let mut v = bytes_per_second;
    let mut unit = 0;
    while v >= 1024.0 && unit + 1 < units.len() {
        v /= 1024.0;
        unit += 1;
    }
    if v < 10.0 && unit > 0 {
        format!("{v:.1}{}", units[unit])
    } else {
        format!("{v:.0}{}", units[unit])
    }
}

/// A count: `980`, `12.3k`, `4.5M`.
pub fn count(n: f64) -> String {
    if n < 1e4 {
        format!("{n:.0}")
    } else if n < 1e6 {
        format!("{:.1}k", n / 1e3)
    } else {
        format!("{:.1}M", n / 1e6)
    }
}

/// A change from `before` to `now` in percent: `-48%`, `+3%`.
pub fn delta(before: f64, now: f64) -> Option<String> {
    (before > 0.0).then(|| format!("{:+.0}%", (now - before) / before * 100.0))
}

/// A horizontal bar of `width` cells: solid up to `inner`, shaded up to
/// `outer` (fractions 0..1), blank after.
pub fn bar(inner: f64, outer: f64, width: usize) -> String {
    let cells = |f: f64| ((f.clamp(0.0, 1.0) * width as f64).round() as usize).min(width);
    let solid = cells(inner);
    let shaded = cells(outer).max(solid) - solid;
    let mut s = "█".repeat(solid);
    s.push_str(&"░".repeat(shaded));
    s.push_str(&" ".repeat(width - solid - shaded));
    s
}

/// Where `us` falls on a log scale from 1 µs to `max` µs, 0..1.
pub fn log_fraction(us: f64, max: f64) -> f64 {
    if us <= 0.0 || max <= 1.0 {
        return 0.0;
    }
    ((1.0 + us).ln() / (1.0 + max).ln()).clamp(0.0, 1.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_pick_their_unit() {
        assert_eq!(time(8.44), "8.4µs");
        assert_eq!(time(340.2), "340µs");
        assert_eq!(time(1234.0), "1.2ms");
        assert_eq!(time(24_400.0), "24ms");
        assert_eq!(time(1.5e6), "1.5s");
    }

    #[test]
    fn rates_counts_and_deltas() {
        assert_eq!(rate(412.0 * 1024.0 * 1024.0), "412MiB/s");
        assert_eq!(rate(1.5 * 1024.0), "1.5KiB/s");
        assert_eq!(count(12_345.0), "12.3k");
        assert_eq!(delta(200.0, 100.0).as_deref(), Some("-50%"));
        assert_eq!(delta(0.0, 100.0), None);
    }

    #[test]
    fn bars_fill_solid_then_shaded() {
        assert_eq!(bar(0.25, 0.75, 8), "██░░░░  ");
        assert_eq!(bar(0.0, 0.0, 3), "   ");
        assert_eq!(bar(2.0, 2.0, 2), "██");
        assert!(log_fraction(1000.0, 1000.0) == 1.0 && log_fraction(10.0, 1000.0) < 0.4);
    }
}
