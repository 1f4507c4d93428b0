//! From what the profilers measured to knobs worth trying: which stage the
//! high class waits in longest, and what the NAPI and softirq figures say
//! about why. Each suggestion is a `KNOB=VALUE` to try (measure it with
//! `prism lab bench --tune` or top's compare) and one line of reason.

use serde::Serialize;

/// What the suggestions are drawn from (the CLI fills it from a report).
#[derive(Clone, Debug, Default)]
pub struct Evidence {
    /// High-class stages: (direction, stage, packets, p99 µs).
    pub stages: Vec<(String, String, u64, f64)>,
    /// NAPI per device (`namespace/device` or `backlog`): mean packets per
    /// poll, and the share of polls that used their whole budget.
    pub napi: Vec<(String, f64, f64)>,
    /// NET_RX raise -> run delay p99 per CPU, µs.
    pub softirq_p99: Vec<f64>,
    /// Drops: (reason, `function+0xoff`, count).
    pub drops: Vec<(String, String, u64)>,
    /// Current values of the knobs the rules look at (`name` -> value).
    pub knobs: Vec<(String, String)>,
    pub cpus: usize,
}

impl Evidence {
    fn knob(&self, name: &str) -> Option<i64> {
        self.knobs
            .iter()
            .find(|(n, _)| n == name)
            .and_then(|(_, v)| v.parse().ok())
    }

    fn exhausted(&self, pred: impl Fn(&str) -> bool) -> Option<(&str, f64)> {
        self.napi
            .iter()
            .filter(|(d, _, _)| pred(d))
            .map(|(d, _, e)| (d.as_str(), *e))
            .max_by(|a, b| a.1.total_cmp(&b.1))
    }

    fn dropped_at(&self, function: &str) -> u64 {
        self.drops
            .iter()
            .filter(|(_, loc, _)| loc.split('+').next() == Some(function))
            .map(|(_, _, n)| n)
            .sum()
    }
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Suggestion {
    /// `KNOB=VALUE` (with `--netns NS` when a device is elsewhere), or
    /// `None` for advice no knob carries.
    pub set: Option<String>,
    /// For a device elsewhere: its namespace.
    pub netns: Option<String>,
    pub reason: String,
}

/// Where the high class waits longest: (direction, stage, p99 µs).
pub fn dominant(e: &Evidence) -> Option<(&str, &str, f64)> {
    e.stages
        .iter()
        .filter(|(_, _, n, _)| *n > 0)
        .map(|(d, s, _, p)| (d.as_str(), s.as_str(), *p))
        .max_by(|a, b| a.2.total_cmp(&b.2))
}

fn doubled(e: &Evidence, name: &str, fallback: i64) -> String {
    format!(
        "{name}={}",
        e.knob(name).unwrap_or(fallback).saturating_mul(2)
    )
}

fn advice(set: Option<String>, netns: Option<String>, reason: String) -> Suggestion {
    Suggestion { set, netns, reason }
}

/// The knobs worth trying, most telling first.
pub fn suggest(e: &Evidence) -> Vec<Suggestion> {
    let mut out = Vec::new();
    let Some((direction, stage, p99)) = dominant(e) else {
        out.push(advice(
            None,
            None,
            "no high-class packet was timed: give --high rules that match live traffic".into(),
        ));
        return out;
    };
    let softirq = e.softirq_p99.iter().copied().fold(0.0, f64::max);
    let backlog_full = e.exhausted(|d| d == "backlog");
    let backlog_drops = e.dropped_at("enqueue_to_backlog");
    if stage == "backlog" || backlog_drops > 0 {
        if backlog_drops > 0 {
            out.push(advice(
                Some(doubled(e, "net.core.netdev_max_backlog", 1000)),
                None,
                format!(
                    "{backlog_drops} packets were dropped because a CPU's backlog queue was full"
                ),
            ));
        }
        if let Some((_, share)) = backlog_full.filter(|(_, s)| *s > 0.1) {
            out.push(advice(
                Some(doubled(e, "net.core.dev_weight", 64)),
                None,
                format!(
                    "{direction} backlog is the high class's longest wait (p99 {p99:.0} µs) and {:.0} % of backlog polls end on their weight with packets left",
                    share * 100.0
                ),
            ));
        }
    }
    let busiest = e.exhausted(|d| d != "backlog");
    if let Some((device, share)) = busiest.filter(|(_, s)| *s > 0.3)
        && softirq > 50.0
    {
        out.push(advice(
            Some(doubled(e, "net.core.netdev_budget", 300)),
            None,
            format!(
                "{:.0} % of {device}'s polls use their whole budget and NET_RX waits up to {softirq:.0} µs to run: a bigger budget finishes a burst in one run",
                share * 100.0
            ),
        ));
    }
    if matches!(stage, "nic" | "vxlan" | "gro_cell")
        && let Some((device, share)) = busiest
    {
        let (netns, dev) = match device.split_once('/') {
            Some((ns, dev)) => (Some(ns.to_string()), dev),
            None => (None, device),
        };
        if e.cpus > 1 && share > 0.1 {
            let mask = format!("{:x}", (1u64 << e.cpus.min(63)) - 1);
            out.push(advice(
                Some(format!("{dev}/queues/rx-0/rps_cpus={mask}")),
                netns.clone(),
                format!(
                    "the high class waits longest in {stage} (p99 {p99:.0} µs) behind {device}'s full polls: RPS spreads the queue over the CPUs"
                ),
            ));
        }
        out.push(advice(
            Some(format!("{dev}/threaded=1")),
            netns,
            format!(
                "{device}'s NAPI in a kernel thread can be scheduled (and given priority) instead of running wherever the softirq lands"
            ),
        ));
    }
    if stage == "stack" && e.knob("net.core.gro_normal_batch").is_some_and(|b| b > 1) {
        out.push(advice(
            Some("net.core.gro_normal_batch=1".into()),
            None,
            format!(
                "the high class waits longest in the stack (p99 {p99:.0} µs): GRO holds up to {} packets before handing them on",
                e.knob("net.core.gro_normal_batch").unwrap_or(8)
            ),
        ));
    }
    if stage == "socket" && e.knob("net.core.busy_read") == Some(0) {
        out.push(advice(
            Some("net.core.busy_read=50".into()),
            None,
            format!(
                "the high class waits longest in the socket queue (p99 {p99:.0} µs): a blocking read that busy-polls picks packets up sooner"
            ),
        ));
    }
    let wire_drops = e.dropped_at("veth_xmit");
    if wire_drops > 0 {
        out.push(advice(
            None,
            None,
            format!(
                "{wire_drops} packets were dropped at veth_xmit (the veth's ring was full): no knob sizes it; the datapath's nic mode gives the high class a queue of its own"
            ),
        ));
    }
    if out.is_empty() {
        out.push(advice(
            None,
            None,
            format!(
                "the high class waits longest in {direction} {stage} (p99 {p99:.0} µs), and nothing in the NAPI, softirq or drop figures points at a knob"
            ),
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn evidence(stage: &str, p99: f64) -> Evidence {
        Evidence {
            stages: vec![
                ("rx".into(), "nic".into(), 100, 5.0),
                ("rx".into(), stage.into(), 100, p99),
            ],
            knobs: vec![
                ("net.core.netdev_budget".into(), "300".into()),
                ("net.core.dev_weight".into(), "64".into()),
                ("net.core.netdev_max_backlog".into(), "1000".into()),
                ("net.core.gro_normal_batch".into(), "8".into()),
                ("net.core.busy_read".into(), "0".into()),
            ],
            cpus: 2,
            ..Default::default()
        }
    }

    fn sets(s: &[Suggestion]) -> Vec<&str> {
        s.iter().filter_map(|s| s.set.as_deref()).collect()
    }

    #[test]
    fn a_full_backlog_asks_for_a_longer_queue_and_a_bigger_weight() {
        let mut e = evidence("backlog", 900.0);
        e.napi = vec![("backlog".into(), 60.0, 0.4)];
        e.drops = vec![(
            "NOT_SPECIFIED".into(),
            "enqueue_to_backlog+0x1c4".into(),
            77,
        )];
        let s = suggest(&e);
        assert_eq!(
            sets(&s),
            [
                "net.core.netdev_max_backlog=2000",
                "net.core.dev_weight=128"
            ]
        );
        assert!(s[0].reason.contains("77 packets"), "{s:?}");
    }

    #[test]
    fn full_nic_polls_and_late_softirqs_ask_for_budget_rps_and_threads() {
        let mut e = evidence("vxlan", 400.0);
        e.napi = vec![("prism-h2/eth0".into(), 63.0, 0.6)];
        e.softirq_p99 = vec![20.0, 300.0];
        let s = suggest(&e);
        assert_eq!(
            sets(&s),
            [
                "net.core.netdev_budget=600",
                "eth0/queues/rx-0/rps_cpus=3",
                "eth0/threaded=1"
            ]
        );
        assert_eq!(s[1].netns.as_deref(), Some("prism-h2"));
    }

    #[test]
    fn the_stack_and_the_socket_have_their_own_knobs() {
        assert_eq!(
            sets(&suggest(&evidence("stack", 300.0))),
            ["net.core.gro_normal_batch=1"]
        );
        assert_eq!(
            sets(&suggest(&evidence("socket", 3000.0))),
            ["net.core.busy_read=50"]
        );
    }

    #[test]
    fn wire_drops_and_quiet_hosts_get_advice_without_a_knob() {
        let mut e = evidence("bridge", 10.0);
        e.drops = vec![("NOT_SPECIFIED".into(), "veth_xmit+0x2e3".into(), 400)];
        let s = suggest(&e);
        assert!(
            s[0].set.is_none() && s[0].reason.contains("nic mode"),
            "{s:?}"
        );
        let quiet = suggest(&evidence("bridge", 10.0));
        assert!(quiet[0].reason.contains("nothing"), "{quiet:?}");
        let none = suggest(&Evidence::default());
        assert!(none[0].reason.contains("--high"), "{none:?}");
    }
}
