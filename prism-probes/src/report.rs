//! One interval of profiler output as users see it: per direction, stage
//! and class, percentiles in µs, plus the context that explains queuing.
//! Built from two snapshots; `prism stat` prints it, `--json` serializes it.

use serde::Serialize;

use crate::{
    collector::Collector,
    histogram::{Histogram, Percentiles},
    snapshot::{Class, Counters, Snapshot},
    stages::{Direction, Stage},
    symbols::KernelSymbols,
};

#[derive(Clone, Debug, Serialize)]
pub struct IntervalReport {
    /// Seconds this interval covers.
    pub seconds: f64,
    /// The profile that ran (which hooks, so which stages are present).
    pub profile: crate::profile::Profile,
    pub stages: Vec<StageRow>,
    /// Whole receive journeys per class: underlay NIC -> application read.
    pub receive_total: Vec<TotalRow>,
    /// Bytes per second each class delivered to its sockets.
    pub delivered: Vec<ThroughputRow>,
    /// Transitions that fit no stage, if any: time that is not lost, just
    /// not attributed.
    pub other: Option<Percentiles>,
    pub softirq: Vec<SoftirqRow>,
    pub napi: Vec<NapiRow>,
    pub drops: Vec<DropRow>,
    pub counters: Counters,
    /// Low-class journeys were timed one in this many (absent: none began);
    /// above 1, the low class's counts are estimates, scaled.
    pub low_sampled_one_in: Option<f64>,
    /// Per container, when per-container figures are on.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub containers: Vec<ContainerReport>,
}

/// One container's stages and whole receive journeys.
#[derive(Clone, Debug, Serialize)]
pub struct ContainerReport {
    pub name: String,
    pub stages: Vec<StageRow>,
    pub receive_total: Vec<TotalRow>,
}

impl ContainerReport {
    /// The row of one stage and class.
    pub fn row(&self, direction: Direction, stage: &str, class: Class) -> Option<&StageRow> {
        find_row(&self.stages, direction, stage, class)
    }
}

fn find_row<'a>(
    rows: &'a [StageRow],
    direction: Direction,
    stage: &str,
    class: Class,
) -> Option<&'a StageRow> {
    rows.iter()
        .find(|r| r.direction == direction && r.stage == stage && r.class == class)
}

/// Rows for every stage of both directions and both classes, from `hist`.
fn stage_rows(collector: &Collector, hist: impl Fn(Stage, Class) -> Histogram) -> Vec<StageRow> {
    let mut rows = Vec::new();
    for direction in [Direction::Rx, Direction::Tx] {
        for stage in Stage::of(direction) {
            for class in Class::ALL {
                rows.push(StageRow {
                    direction,
                    stage: stage.name(),
                    class,
                    present: collector.present(stage),
                    latency: hist(stage, class).percentiles(),
                });
            }
        }
    }
    rows
}

fn total_rows(hist: impl Fn(Class) -> Percentiles) -> Vec<TotalRow> {
    Class::ALL
        .into_iter()
        .map(|class| TotalRow {
            class,
            latency: hist(class),
        })
        .collect()
}

#[derive(Clone, Debug, Serialize)]
pub struct StageRow {
    pub direction: Direction,
    pub stage: &'static str,
    pub class: Class,
    /// False when this host lacks the devices the stage runs between.
    pub present: bool,
    /// Packets that completed the stage, and their times in µs.
    pub latency: Percentiles,
}

#[derive(Clone, Debug, Serialize)]
pub struct TotalRow {
    pub class: Class,
    /// µs.
    pub latency: Percentiles,
}

#[derive(Clone, Debug, Serialize)]
pub struct ThroughputRow {
    pub class: Class,
    pub bytes_per_second: f64,
}

#[derive(Clone, Debug, Serialize)]
pub struct SoftirqRow {
    pub cpu: usize,
    /// NET_RX raise -> softirq entry, µs.
    pub delay: Percentiles,
}

#[derive(Clone, Debug, Serialize)]
pub struct NapiRow {
    /// `namespace/device`, or `backlog` for the per-CPU backlog.
    pub device: String,
    pub polls: u64,
    pub packets: u64,
    /// Mean packets per poll.
    pub batch: f64,
    /// Share of polls that used their whole budget, 0..1.
    pub exhausted: f64,
}

#[derive(Clone, Debug, Serialize)]
pub struct DropRow {
    pub reason: String,
    /// The kernel function that dropped the packet, `name+0xoff`.
    pub location: String,
    pub count: u64,
}

/// How many drop sites a report lists.
pub const TOP_DROPS: usize = 8;

impl IntervalReport {
    /// The report of what happened between `earlier` and `later`.
    pub fn between(
        collector: &Collector,
        symbols: &KernelSymbols,
        earlier: &Snapshot,
        later: &Snapshot,
    ) -> Self {
        let d = later.since(earlier);
        let stages = stage_rows(collector, |stage, class| d.stage(stage, class));
        let containers = d
            .containers
            .values()
            .map(|c| ContainerReport {
                name: c.name.clone(),
                stages: stage_rows(collector, |stage, class| c.stage(stage, class)),
                receive_total: total_rows(|class| {
                    c.receive_total[class.id() as usize].percentiles()
                }),
            })
            .collect();
        let mut other = d.stage(Stage::Other, Class::Low);
        other.add(&d.stage(Stage::Other, Class::High));
        let softirq = d
            .softirq
            .iter()
            .enumerate()
            .map(|(cpu, h)| SoftirqRow {
                cpu,
                delay: h.percentiles(),
            })
            .collect();
        let napi = d
            .napi
            .iter()
            .map(|(key, s)| NapiRow {
                device: collector.device_name(key),
                polls: s.polls,
                packets: s.work,
                batch: s.work as f64 / s.polls.max(1) as f64,
                exhausted: s.exhausted as f64 / s.polls.max(1) as f64,
            })
            .collect();
        let mut drops: Vec<_> = d.drops.iter().collect();
        drops.sort_by_key(|(_, n)| std::cmp::Reverse(**n));
        drops.truncate(TOP_DROPS);
        let addrs: Vec<u64> = drops.iter().map(|(k, _)| k.location).collect();
        let names = symbols.names(&addrs);
        let drops = drops
            .iter()
            .zip(names)
            .map(|((k, n), location)| DropRow {
                reason: collector.drop_reason(k.reason),
                location,
                count: **n,
            })
            .collect();
        let seconds = later.at_ns.saturating_sub(earlier.at_ns) as f64 / 1e9;
        let receive_total = total_rows(|class| d.receive_total(class).percentiles());
        let delivered = Class::ALL
            .into_iter()
            .map(|class| ThroughputRow {
                class,
                bytes_per_second: d
                    .counters
                    .get(prism_probes_common::counter::DELIVERED_BYTES + class.id() as u32)
                    as f64
                    / seconds.max(1e-9),
            })
            .collect();
        Self {
            seconds,
            profile: collector.profile(),
            stages,
            receive_total,
            delivered,
            other: (other.count > 0).then(|| other.percentiles()),
            softirq,
            napi,
            drops,
            low_sampled_one_in: d.counters.low_sampled_one_in(),
            counters: d.counters,
            containers,
        }
    }

    /// "low class timed 1 in N, its counts scaled" when it was sampled.
    pub fn sampling_note(&self) -> Option<String> {
        crate::snapshot::sampling_note(self.low_sampled_one_in)
    }

    /// Whole receive journeys of one class (empty if none finished).
    pub fn receive_total(&self, class: Class) -> Percentiles {
        self.receive_total
            .iter()
            .find(|r| r.class == class)
            .map(|r| r.latency)
            .unwrap_or_default()
    }

    /// Bytes per second one class delivered to its sockets.
    pub fn delivered(&self, class: Class) -> f64 {
        self.delivered
            .iter()
            .find(|r| r.class == class)
            .map_or(0.0, |r| r.bytes_per_second)
    }

    /// The row of one stage and class.
    pub fn row(&self, direction: Direction, stage: &str, class: Class) -> Option<&StageRow> {
        find_row(&self.stages, direction, stage, class)
    }
}
