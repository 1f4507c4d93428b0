//! What the screen shows, fed by the worker's updates: the latest interval,
//! the trend of the last minutes with the moments the datapath changed, the
//! baseline, and the datapath as it was when `top` started.

use std::collections::VecDeque;

use prism_datapath::control::{CounterRow, Mode, Status};
use prism_probes::{report::IntervalReport, snapshot::Class};
use prism_rules::RuleSet;

/// How far back the trend goes, seconds.
pub const TREND_SECONDS: f64 = 300.0;

/// The datapath as `top` sees it.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct DatapathView {
    pub enabled: bool,
    pub modes: Vec<Mode>,
    pub rules: Vec<String>,
    /// mark mode's skb->priority and DSCP, kept to restore them.
    pub priority: u32,
    pub dscp: Option<u8>,
    /// Since the datapath was enabled (direction, reason, class, packets).
    pub counters: Vec<CounterRow>,
}

impl From<Status> for DatapathView {
    fn from(s: Status) -> Self {
        Self {
            enabled: s.enabled,
            modes: s.modes,
            rules: s.rules,
            priority: s.priority,
            dscp: s.dscp,
            counters: s.counters,
        }
    }
}

impl DatapathView {
    /// `off`, or its modes.
    pub fn label(&self) -> String {
        if self.enabled {
            prism_datapath::control::mode_names(&self.modes)
        } else {
            "off".into()
        }
    }

    /// Same programs, modes and rules: what "as it was" means on leaving.
    pub fn same_as(&self, other: &DatapathView) -> bool {
        self.enabled == other.enabled
            && (!self.enabled || (self.modes == other.modes && self.rules == other.rules))
    }

    /// Packets of a counter reason, summed over directions and classes.
    pub fn packets(&self, reason: &str) -> u64 {
        self.counters
            .iter()
            .filter(|c| c.reason == reason)
            .map(|c| c.packets)
            .sum()
    }
}

/// One interval from the worker.
#[derive(Clone, Debug)]
pub struct Sample {
    /// Seconds since `top` started.
    pub t: f64,
    /// The last interval.
    pub interval: IntervalReport,
    /// The last seconds, back to the latest change at most: steadier
    /// percentiles, and what a baseline keeps.
    pub window: IntervalReport,
    pub datapath: DatapathView,
    /// When `datapath` was read (it is read once a second at most).
    pub datapath_t: f64,
    /// The watched containers by name (see `Collector::containers`).
    pub containers: Vec<String>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct TrendPoint {
    pub t: f64,
    /// µs; None when no high-class packet finished in the interval.
    pub high_p99: Option<f64>,
    /// Low-class bytes per second delivered to sockets.
    pub bulk: f64,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Marker {
    pub t: f64,
    pub label: String,
}

#[derive(Clone, Debug)]
pub struct Baseline {
    pub t: f64,
    /// The datapath when it was taken.
    pub datapath: String,
    pub report: IntervalReport,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Attach {
    /// The worker is loading and attaching; the step it is at.
    Working(String),
    Ready,
    Failed(String),
}

#[derive(Clone, Debug)]
pub struct Model {
    pub host: String,
    pub kernel: String,
    pub mechanism: String,
    pub attach: Attach,
    /// The high-priority rules the profilers (and the datapath) use.
    pub rules: RuleSet,
    /// The datapath when `top` started (None until read).
    pub initial: Option<DatapathView>,
    pub datapath: DatapathView,
    pub latest: Option<Sample>,
    /// The reading of the datapath before the latest one, for rates.
    pub earlier_counters: Option<(f64, DatapathView)>,
    pub trend: VecDeque<TrendPoint>,
    pub markers: VecDeque<Marker>,
    pub baseline: Option<Baseline>,
    /// The receive knobs, as last read (the tune panel lists them).
    pub knobs: Vec<prism_tune::KnobState>,
    /// Knobs were changed from this `top` and not put back yet.
    pub tuned: bool,
}

impl Model {
    pub fn new(host: String, kernel: String) -> Self {
        Self {
            host,
            kernel,
            mechanism: "-".into(),
            attach: Attach::Working("starting".into()),
            rules: RuleSet::default(),
            initial: None,
            datapath: DatapathView::default(),
            latest: None,
            earlier_counters: None,
            trend: VecDeque::new(),
            markers: VecDeque::new(),
            baseline: None,
            knobs: Vec::new(),
            tuned: false,
        }
    }

    /// The datapath differs from how `top` found it.
    pub fn changed(&self) -> bool {
        self.initial
            .as_ref()
            .is_some_and(|i| !i.same_as(&self.datapath))
    }

    pub fn add_sample(&mut self, sample: Sample) {
        if let Some(latest) = self
            .latest
            .as_ref()
            .filter(|l| l.datapath_t != sample.datapath_t)
        {
            self.earlier_counters = Some((latest.datapath_t, latest.datapath.clone()));
        }
        let high = Some(sample.interval.receive_total(Class::High))
            .filter(|p| p.count > 0)
            .map(|p| p.p99);
        let bulk = sample.interval.delivered(Class::Low);
        self.trend.push_back(TrendPoint {
            t: sample.t,
            high_p99: high,
            bulk,
        });
        let oldest = sample.t - TREND_SECONDS;
        while self.trend.front().is_some_and(|p| p.t < oldest) {
            self.trend.pop_front();
        }
        while self.markers.front().is_some_and(|m| m.t < oldest) {
            self.markers.pop_front();
        }
        self.datapath = sample.datapath.clone();
        self.latest = Some(sample);
    }

    pub fn mark(&mut self, t: f64, label: impl Into<String>) {
        self.markers.push_back(Marker {
            t,
            label: label.into(),
        });
    }

    /// Keeps the current window as the baseline.
    pub fn take_baseline(&mut self) -> bool {
        let Some(latest) = &self.latest else {
            return false;
        };
        self.baseline = Some(Baseline {
            t: latest.t,
            datapath: latest.datapath.label(),
            report: latest.window.clone(),
        });
        true
    }

    /// Packets per second of a datapath counter reason over the last interval.
    pub fn counter_rate(&self, reason: &str) -> Option<f64> {
        let latest = self.latest.as_ref()?;
        let (t, earlier) = self.earlier_counters.as_ref()?;
        let dt = latest.datapath_t - t;
        (dt > 0.0).then(|| {
            latest
                .datapath
                .packets(reason)
                .saturating_sub(earlier.packets(reason)) as f64
                / dt
        })
    }
}

#[cfg(test)]
pub mod fixtures {
    //! Fixed model data for the view tests.

    use prism_probes::snapshot::Counters;
    use prism_probes::{
        histogram::Percentiles,
        report::{DropRow, NapiRow, SoftirqRow, StageRow, ThroughputRow, TotalRow},
        stages::{Direction, Stage},
    };

    use super::*;

    fn p(count: u64, p50: f64, p99: f64) -> Percentiles {
        Percentiles {
            count,
            mean: p50 * 1.2,
            p50,
            p90: (p50 + p99) / 2.0,
            p99,
            p999: p99 * 1.5,
            max: p99 * 2.0,
        }
    }

    /// A report where the datapath's effect is `speedup` (1 = off): on,
    /// the high class takes the fast stages instead of those they skip.
    pub fn report(speedup: f64) -> IntervalReport {
        let on = speedup > 1.0;
        let skipped = |s: Stage| {
            matches!(
                s,
                Stage::Vxlan
                    | Stage::GroCell
                    | Stage::Bridge
                    | Stage::Backlog
                    | Stage::Stack
                    | Stage::TxBridge
                    | Stage::Encap
            )
        };
        let routed = |s: Stage| matches!(s, Stage::Route | Stage::TxRoute);
        let mut stages = Vec::new();
        for direction in [Direction::Rx, Direction::Tx] {
            for (i, stage) in Stage::of(direction).enumerate() {
                let base = 4.0 + 3.0 * i as f64;
                for class in Class::ALL {
                    let high = class == Class::High;
                    let packets = match (stage.is_fast_path(), skipped(stage)) {
                        (true, _) => high && on,
                        (_, true) => !(high && on),
                        _ => true,
                    };
                    let slow = if high { speedup } else { 1.0 };
                    stages.push(StageRow {
                        direction,
                        stage: stage.name(),
                        class,
                        // A bridged host: no routed hop.
                        present: !routed(stage),
                        latency: if packets && !routed(stage) {
                            p(1000 + i as u64, base / slow, base * 40.0 / slow)
                        } else {
                            p(0, 0.0, 0.0)
                        },
                    });
                }
            }
        }
        IntervalReport {
            seconds: 1.0,
            profile: prism_probes::profile::Profile::Full,
            stages,
            receive_total: vec![
                TotalRow {
                    class: Class::High,
                    latency: p(980, 70.0 / speedup, 9800.0 / speedup),
                },
                TotalRow {
                    class: Class::Low,
                    latency: p(52000, 90.0, 12000.0),
                },
            ],
            delivered: vec![
                ThroughputRow {
                    class: Class::High,
                    bytes_per_second: 64_000.0,
                },
                ThroughputRow {
                    class: Class::Low,
                    bytes_per_second: 412.0 * 1024.0 * 1024.0,
                },
            ],
            other: None,
            softirq: vec![
                SoftirqRow {
                    cpu: 0,
                    delay: p(3000, 3.1, 41.0),
                },
                SoftirqRow {
                    cpu: 1,
                    delay: p(2500, 2.4, 18.5),
                },
            ],
            napi: vec![
                NapiRow {
                    device: "host-a/uplink".into(),
                    polls: 900,
                    packets: 40000,
                    batch: 44.4,
                    exhausted: 0.62,
                },
                NapiRow {
                    device: "backlog".into(),
                    polls: 800,
                    packets: 9000,
                    batch: 11.2,
                    exhausted: 0.05,
                },
            ],
            drops: vec![DropRow {
                reason: "TCP_OFO_QUEUE_PRUNE".into(),
                location: "tcp_prune_ofo_queue+0x7c".into(),
                count: 12,
            }],
            counters: Counters::default(),
            low_sampled_one_in: None,
            containers: Vec::new(),
        }
    }

    pub fn datapath(enabled: bool, fast: u64) -> DatapathView {
        DatapathView {
            enabled,
            modes: if enabled { vec![Mode::Sync] } else { vec![] },
            rules: vec!["udp port 7777".into()],
            priority: 6,
            dscp: None,
            counters: if enabled {
                vec![
                    CounterRow {
                        direction: "rx",
                        reason: "fast",
                        class: "high",
                        packets: fast,
                    },
                    CounterRow {
                        direction: "rx",
                        reason: "low",
                        class: "low",
                        packets: fast * 50,
                    },
                    CounterRow {
                        direction: "rx",
                        reason: "gso",
                        class: "high",
                        packets: 3,
                    },
                ]
            } else {
                vec![]
            },
        }
    }

    /// A model a minute into a session: datapath switched on at 30 s, a
    /// baseline taken before.
    pub fn model() -> Model {
        let mut m = Model::new("node-1".into(), "6.18.0".into());
        m.mechanism = "tp_btf".into();
        m.attach = Attach::Ready;
        m.rules = RuleSet::parse(&["udp port 7777"]).unwrap();
        m.initial = Some(datapath(false, 0));
        for s in 0..=60 {
            let on = s >= 30;
            let speedup = if on { 2.0 } else { 1.0 };
            let mut interval = report(speedup);
            // A wobble, so the trend is not a flat line.
            interval.receive_total[0].latency.p99 *= 1.0 + 0.2 * ((s % 7) as f64 / 7.0);
            if s == 29 {
                m.baseline = Some(Baseline {
                    t: s as f64,
                    datapath: "off".into(),
                    report: report(1.0),
                });
            }
            if s == 30 {
                m.mark(30.0, "enabled sync");
            }
            m.add_sample(Sample {
                t: s as f64,
                interval,
                window: report(speedup),
                datapath: datapath(on, (s as u64).saturating_sub(30) * 1000),
                datapath_t: s as f64,
                containers: Vec::new(),
            });
        }
        m.rules = RuleSet::parse(&["udp port 7777"]).unwrap();
        m
    }
}

#[cfg(test)]
mod tests {
    use super::{fixtures::*, *};

    #[test]
    fn the_trend_keeps_the_last_minutes_and_their_markers() {
        let mut m = Model::new("h".into(), "k".into());
        m.mark(1.0, "enabled sync");
        for s in 0..400 {
            m.add_sample(Sample {
                t: s as f64,
                interval: report(1.0),
                window: report(1.0),
                datapath: datapath(false, 0),
                datapath_t: s as f64,
                containers: Vec::new(),
            });
        }
        assert_eq!(m.trend.front().unwrap().t, 399.0 - TREND_SECONDS);
        assert!(m.markers.is_empty(), "the marker aged out with its points");
        assert_eq!(m.trend.back().unwrap().high_p99, Some(9800.0));
        assert_eq!(m.trend.back().unwrap().bulk, 412.0 * 1024.0 * 1024.0);
    }

    #[test]
    fn changed_compares_with_the_datapath_at_start() {
        let mut m = model();
        assert!(m.changed(), "enabled during the session");
        m.initial = Some(datapath(true, 0));
        assert!(!m.changed(), "counters do not count as a change");
        m.initial.as_mut().unwrap().rules.push("dscp ef".into());
        assert!(m.changed(), "the rules do");
    }

    #[test]
    fn counter_rates_are_per_second() {
        let m = model();
        assert_eq!(m.counter_rate("fast"), Some(1000.0));
        assert_eq!(m.datapath.packets("fast"), 30_000);
    }
}
