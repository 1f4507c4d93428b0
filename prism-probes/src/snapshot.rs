//! What the profilers measured, read out of the kernel at one moment.
//! Two snapshots subtract to what happened in between.

use std::collections::BTreeMap;

use prism_probes_common::{CLASS_HIGH, DeviceKey, DropKey, NapiStats, counter};
use serde::{Serialize, Serializer, ser::SerializeMap};

use crate::{histogram::Histogram, stages::Stage};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Class {
    /// Matches a high-priority rule.
    High,
    Low,
}

impl Class {
    pub const ALL: [Class; 2] = [Class::High, Class::Low];

    pub fn from_id(id: u8) -> Self {
        if id == CLASS_HIGH {
            Self::High
        } else {
            Self::Low
        }
    }

    pub fn id(self) -> u8 {
        match self {
            Self::High => CLASS_HIGH,
            Self::Low => prism_probes_common::CLASS_LOW,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::High => "high",
            Self::Low => "low",
        }
    }
}

/// The tracker's own counters (see `prism_probes_common::counter`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counters(pub [u64; counter::COUNT as usize]);

/// One in how many of `journeys` low-class journeys were `timed`.
pub fn low_sampled_one_in(journeys: u64, timed: u64) -> Option<f64> {
    (journeys > 0).then(|| journeys as f64 / timed.max(1) as f64)
}

/// N when the low class was sampled 1 in N: above 1, with a margin for
/// journeys begun in one reading and timed in the next.
pub fn low_sampled(one_in: Option<f64>) -> Option<f64> {
    one_in.filter(|n| *n > 1.05)
}

/// "low class timed 1 in N, its counts scaled", when it was sampled.
pub fn sampling_note(one_in: Option<f64>) -> Option<String> {
    let n = low_sampled(one_in)?;
    Some(format!("low class timed 1 in {n:.0}, its counts scaled"))
}

/// Counter names, by index, as JSON and tables show them.
pub const COUNTER_NAMES: [&str; counter::COUNT as usize] = [
    "hits",
    "journeys",
    "restarted",
    "gro_merged",
    "unmapped",
    "consumed",
    "dropped",
    "events_lost",
    "unparsed",
    "events",
    "completed",
    "evicted",
    "delivered_bytes_low",
    "delivered_bytes_high",
    "low_journeys",
    "low_timed",
];

impl Counters {
    pub fn get(&self, index: u32) -> u64 {
        self.0[index as usize]
    }

    /// One low-class journey in how many was timed (1.0: every one), or
    /// `None` if none began.
    pub fn low_sampled_one_in(&self) -> Option<f64> {
        low_sampled_one_in(
            self.get(counter::LOW_JOURNEYS),
            self.get(counter::LOW_TIMED),
        )
    }

    pub fn since(&self, earlier: &Counters) -> Counters {
        let mut out = *self;
        for (a, b) in out.0.iter_mut().zip(earlier.0) {
            *a = a.saturating_sub(b);
        }
        out
    }
}

impl Serialize for Counters {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(self.0.len()))?;
        for (name, value) in COUNTER_NAMES.iter().zip(self.0) {
            map.serialize_entry(name, &value)?;
        }
        map.end()
    }
}

/// One reading of every profiler map.
#[derive(Clone, Debug, Default)]
pub struct Snapshot {
    /// CLOCK_MONOTONIC when read, the clock of the programs' timestamps.
    pub at_ns: u64,
    pub stages: BTreeMap<(Stage, Class), Histogram>,
    /// Whole receive journeys (underlay GRO entry -> application read),
    /// indexed by class id.
    pub receive_total: [Histogram; 2],
    pub counters: Counters,
    /// NET_RX softirq raise -> entry delay, per CPU.
    pub softirq: Vec<Histogram>,
    /// NAPI polls per device; key {0, 0} is the per-CPU backlog.
    pub napi: BTreeMap<DeviceKey, NapiStats>,
    pub drops: BTreeMap<DropKey, u64>,
    /// Per container, by namespace inode, when per-container figures are
    /// on (see [`crate::containers`]).
    pub containers: BTreeMap<u32, ContainerFigures>,
}

/// One container's stage histograms.
#[derive(Clone, Debug, Default)]
pub struct ContainerFigures {
    pub name: String,
    /// Kubernetes: its pod and the pod's namespace.
    pub pod: Option<(String, String)>,
    pub stages: BTreeMap<(Stage, Class), Histogram>,
    /// Whole receive journeys, indexed by class id.
    pub receive_total: [Histogram; 2],
}

impl ContainerFigures {
    fn since(&self, earlier: Option<&ContainerFigures>) -> ContainerFigures {
        let Some(e) = earlier else {
            return self.clone();
        };
        ContainerFigures {
            name: self.name.clone(),
            pod: self.pod.clone(),
            stages: stages_since(&self.stages, &e.stages),
            receive_total: [0, 1].map(|c| self.receive_total[c].since(&e.receive_total[c])),
        }
    }

    /// The histogram of one stage and class (empty if never hit).
    pub fn stage(&self, stage: Stage, class: Class) -> Histogram {
        self.stages
            .get(&(stage, class))
            .cloned()
            .unwrap_or_default()
    }
}

fn stages_since(
    later: &BTreeMap<(Stage, Class), Histogram>,
    earlier: &BTreeMap<(Stage, Class), Histogram>,
) -> BTreeMap<(Stage, Class), Histogram> {
    later
        .iter()
        .map(|(k, h)| (*k, earlier.get(k).map_or_else(|| h.clone(), |e| h.since(e))))
        .collect()
}

impl Snapshot {
    /// What happened between `earlier` and this snapshot.
    pub fn since(&self, earlier: &Snapshot) -> Snapshot {
        let stages = stages_since(&self.stages, &earlier.stages);
        let softirq = self
            .softirq
            .iter()
            .enumerate()
            .map(|(cpu, h)| {
                earlier
                    .softirq
                    .get(cpu)
                    .map_or_else(|| h.clone(), |e| h.since(e))
            })
            .collect();
        let napi = self
            .napi
            .iter()
            .map(|(k, s)| {
                let e = earlier.napi.get(k).copied().unwrap_or_default();
                let mut d = *s;
                d.polls -= e.polls.min(d.polls);
                d.work -= e.work.min(d.work);
                d.exhausted -= e.exhausted.min(d.exhausted);
                for (a, b) in d.work_log2.iter_mut().zip(e.work_log2) {
                    *a = a.saturating_sub(b);
                }
                (*k, d)
            })
            .filter(|(_, d)| d.polls > 0)
            .collect();
        let drops = self
            .drops
            .iter()
            .map(|(k, n)| {
                (
                    *k,
                    n.saturating_sub(earlier.drops.get(k).copied().unwrap_or(0)),
                )
            })
            .filter(|(_, n)| *n > 0)
            .collect();
        let receive_total = [0, 1].map(|c| self.receive_total[c].since(&earlier.receive_total[c]));

        let containers = self
            .containers
            .iter()
            .map(|(inode, c)| (*inode, c.since(earlier.containers.get(inode))))
            .collect();
        Snapshot {
            at_ns: self.at_ns,
            stages,
            receive_total,
            counters: self.counters.since(&earlier.counters),
            softirq,
            napi,
            drops,
            containers,
        }
    }

    /// Whole receive journeys of one class.
    pub fn receive_total(&self, class: Class) -> &Histogram {
        &self.receive_total[class.id() as usize]
    }

    /// The histogram of one stage and class (empty if never hit).
    pub fn stage(&self, stage: Stage, class: Class) -> Histogram {
        self.stages
            .get(&(stage, class))
            .cloned()
            .unwrap_or_default()
    }
}

/// CLOCK_MONOTONIC in ns, the clock `bpf_ktime_get_ns` reads.
pub fn monotonic_ns() -> u64 {
    let t = nix::time::clock_gettime(nix::time::ClockId::CLOCK_MONOTONIC).expect("CLOCK_MONOTONIC");
    t.tv_sec() as u64 * 1_000_000_000 + t.tv_nsec() as u64
}
