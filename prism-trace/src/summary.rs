//! What `prism report` shows: a recording boiled down, in one pass and
//! constant memory (the first and last snapshot, a histogram per
//! direction and class, and the journeys in flight).

use std::collections::{BTreeMap, HashMap};
use std::io::Read;

use prism_probes_common::histogram::{Histogram, Percentiles};
use serde::Serialize;

use crate::{
    reader::{Record, TraceError, TraceReader, Truncation},
    schema::{
        ContainerRecord, DropRecord, EventRecord, Footer, Header, SnapshotRecord, SparseHist,
        StageHist,
    },
};

/// A recording, summarized.
#[derive(Clone, Debug, Serialize)]
pub struct Summary {
    pub header: Header,
    /// None when the recording was cut short.
    pub footer: Option<Footer>,
    #[serde(serialize_with = "truncation_text")]
    pub truncated: Option<Truncation>,
    /// Time between the first and the last snapshot.
    pub seconds: f64,
    pub snapshots: u64,
    /// Events in the file, and events the kernel could not hand over.
    pub events: u64,
    pub events_lost: u64,
    pub stages: Vec<StageSummary>,
    /// Whole journeys through one direction: receive ends when the
    /// application reads, transmit when the packet reaches the wire.
    pub end_to_end: Vec<EndToEnd>,
    /// Each container the profilers timed one by one, by name.
    pub containers: Vec<ContainerSummary>,
    /// Counter increases over the recording, by name.
    pub counters: BTreeMap<String, u64>,
    /// The most frequent drop sites over the recording.
    pub drops: Vec<DropRecord>,
}

#[derive(Clone, Debug, Serialize)]
pub struct StageSummary {
    pub direction: String,
    pub stage: String,
    pub class: &'static str,
    pub present: bool,
    /// From the histograms: every packet, events or not.
    pub latency: Percentiles,
    /// Events recorded for this stage and class.
    pub events: u64,
    /// The distribution itself, for plots.
    #[serde(skip)]
    pub histogram: Histogram,
}

#[derive(Clone, Debug, Serialize)]
pub struct EndToEnd {
    pub direction: String,
    pub class: &'static str,
    pub latency: Percentiles,
    /// `histograms` (every timed journey; receive, format 2) or `events`
    /// (the journeys whose every boundary has an event).
    pub source: &'static str,
}

#[derive(Clone, Debug, Serialize)]
pub struct ContainerSummary {
    pub name: String,
    pub pod: Option<String>,
    pub pod_namespace: Option<String>,
    /// Its stages; `events` is 0 (events are not told apart by container).
    pub stages: Vec<StageSummary>,
    /// Its receive journeys, per class, from histograms.
    pub receive: Vec<EndToEnd>,
}

/// How many drop sites a summary lists.
pub const TOP_DROPS: usize = 10;
/// Containers a summary follows at most (a kernel times 63 at once; churn
/// over a long recording brings new ones).
const MAX_CONTAINERS: usize = 4096;
/// Journeys in flight the end-to-end tracking keeps at most; beyond it,
/// those older than [`JOURNEY_TIMEOUT_NS`] are forgotten.
const MAX_JOURNEYS: usize = 1 << 17;
const JOURNEY_TIMEOUT_NS: u64 = 1_000_000_000;

pub fn class_name(class: u8) -> &'static str {
    if class == 1 { "high" } else { "low" }
}

impl Summary {
    /// Reads the whole trace.
    pub fn read<R: Read>(mut reader: TraceReader<R>) -> Result<Self, TraceError> {
        let header = reader.header().clone();
        let mut first: Option<SnapshotRecord> = None;
        let mut last: Option<SnapshotRecord> = None;
        let mut footer = None;
        let mut snapshots = 0;
        let mut first_containers = BTreeMap::new();
        let mut events = EventTally::new(&header);
        // Each container's last figures: it may have left before the end.
        let mut containers: BTreeMap<u32, ContainerRecord> = BTreeMap::new();
        while let Some(record) = reader.next_record()? {
            match record {
                Record::Snapshot(mut s) => {
                    snapshots += 1;
                    for c in std::mem::take(&mut s.containers) {
                        if containers.len() < MAX_CONTAINERS
                            || containers.contains_key(&c.netns_inode)
                        {
                            containers.insert(c.netns_inode, c);
                        }
                    }
                    if first.is_none() {
                        first = Some(s.clone());
                        first_containers = containers.clone();
                    }
                    last = Some(s);
                }
                Record::Events(batch) => events.add(&batch),
                Record::Footer(f) => footer = Some(f),
            }
        }
        let first = first.unwrap_or_default();
        let last = last.unwrap_or_default();
        let counters: BTreeMap<String, u64> = header
            .counters
            .iter()
            .enumerate()
            .map(|(i, name)| {
                let at = |s: &SnapshotRecord| s.counters.get(i).copied().unwrap_or(0);
                (name.clone(), at(&last).saturating_sub(at(&first)))
            })
            .collect();
        let events_lost = footer
            .as_ref()
            .map(|f: &Footer| f.events_lost)
            .unwrap_or_else(|| counters.get("events_lost").copied().unwrap_or(0));
        let mut end_to_end = events.end_to_end(&header);
        if !last.receive.is_empty() {
            end_to_end.retain(|e| e.direction != "rx");
            end_to_end.splice(0..0, receive_rows(&first.receive, &last.receive));
        }
        let containers = containers
            .values()
            .map(|c| container_summary(&header, first_containers.get(&c.netns_inode), c))
            .collect();
        Ok(Self {
            stages: stage_summaries(&header, &first.stages, &last.stages, Some(&events)),
            end_to_end,
            containers,
            seconds: last.t_ns.saturating_sub(first.t_ns) as f64 / 1e9,
            snapshots,
            events: events.total,
            events_lost,
            drops: drops_between(&first, &last),
            counters,
            truncated: reader.truncated(),
            footer,
            header,
        })
    }

    /// The row of one stage and class.
    pub fn stage(&self, direction: &str, stage: &str, class: &str) -> Option<&StageSummary> {
        self.stages
            .iter()
            .find(|s| s.direction == direction && s.stage == stage && s.class == class)
    }
}

fn truncation_text<S: serde::Serializer>(t: &Option<Truncation>, s: S) -> Result<S::Ok, S::Error> {
    match t {
        Some(t) => s.serialize_some(&t.to_string()),
        None => s.serialize_none(),
    }
}

/// What a container measured over the recording: since the first
/// snapshot if it was there, else since the kernel began timing it.
fn container_summary(
    header: &Header,
    first: Option<&ContainerRecord>,
    last: &ContainerRecord,
) -> ContainerSummary {
    let (stages, receive) = first.map_or((&[][..], &[][..]), |f| (&f.stages[..], &f.receive[..]));
    ContainerSummary {
        name: last.name.clone(),
        pod: last.pod.clone(),
        pod_namespace: last.pod_namespace.clone(),
        stages: stage_summaries(header, stages, &last.stages, None),
        receive: receive_rows(receive, &last.receive),
    }
}

/// Receive end-to-end rows, high class first, from histograms by class id.
fn receive_rows(first: &[SparseHist], last: &[SparseHist]) -> Vec<EndToEnd> {
    let hist = |s: &[SparseHist], class: u8| {
        s.get(class as usize)
            .map(Histogram::from)
            .unwrap_or_default()
    };
    [1u8, 0]
        .into_iter()
        .map(|class| EndToEnd {
            direction: "rx".into(),
            class: class_name(class),
            latency: hist(last, class).since(&hist(first, class)).percentiles(),
            source: "histograms",
        })
        .collect()
}

fn stage_summaries(
    header: &Header,
    first: &[StageHist],
    last: &[StageHist],
    events: Option<&EventTally>,
) -> Vec<StageSummary> {
    let hist = |s: &[StageHist], stage: u8, class: u8| -> Histogram {
        s.iter()
            .find(|h| h.stage == stage && h.class == class)
            .map(|h| Histogram::from(&h.hist))
            .unwrap_or_default()
    };
    let mut rows = Vec::new();
    for direction in ["rx", "tx"] {
        for info in header.stages.iter().filter(|s| s.direction == direction) {
            for class in [1u8, 0] {
                let h = hist(last, info.id, class).since(&hist(first, info.id, class));
                rows.push(StageSummary {
                    direction: direction.into(),
                    stage: info.name.clone(),
                    class: class_name(class),
                    // A stage whose devices came after the header was
                    // written is there if it has packets.
                    present: info.present || h.count > 0,
                    latency: h.percentiles(),
                    events: events
                        .and_then(|e| e.per_stage.get(&(info.id, class)))
                        .copied()
                        .unwrap_or(0),
                    histogram: h,
                });
            }
        }
    }
    rows
}

fn drops_between(first: &SnapshotRecord, last: &SnapshotRecord) -> Vec<DropRecord> {
    let mut drops: Vec<DropRecord> = last
        .drops
        .iter()
        .map(|d| {
            let before = first
                .drops
                .iter()
                .find(|e| e.reason == d.reason && e.location == d.location)
                .map_or(0, |e| e.count);
            DropRecord {
                count: d.count.saturating_sub(before),
                ..d.clone()
            }
        })
        .filter(|d| d.count > 0)
        .collect();
    drops.sort_by_key(|d| std::cmp::Reverse(d.count));
    drops.truncate(TOP_DROPS);
    drops
}

/// Events counted per stage, and journeys added up per direction.
struct EventTally {
    total: u64,
    per_stage: HashMap<(u8, u8), u64>,
    /// Stage id -> its direction (0 rx, 1 tx), and whether it ends one.
    direction_of: HashMap<u8, (usize, bool)>,
    /// (skb, journey start) -> time spent so far in each direction.
    journeys: HashMap<(u64, u64), [u64; 2]>,
    /// End-to-end times per direction and class.
    done: [[Histogram; 2]; 2],
}

impl EventTally {
    fn new(header: &Header) -> Self {
        let mut direction_of = HashMap::new();
        for (d, name) in ["rx", "tx"].iter().enumerate() {
            let ids: Vec<u8> = header
                .stages
                .iter()
                .filter(|s| s.direction == *name)
                .map(|s| s.id)
                .collect();
            for (i, id) in ids.iter().enumerate() {
                direction_of.insert(*id, (d, i + 1 == ids.len()));
            }
        }
        Self {
            total: 0,
            per_stage: HashMap::new(),
            direction_of,
            journeys: HashMap::new(),
            done: Default::default(),
        }
    }

    fn add(&mut self, batch: &[EventRecord]) {
        for e in batch {
            self.total += 1;
            if e.flags & 1 != 0 {
                continue; // a journey's first boundary ends no stage
            }
            *self.per_stage.entry((e.stage, e.class)).or_default() += 1;
            let Some(&(d, last)) = self.direction_of.get(&e.stage) else {
                continue;
            };
            let key = (e.skb, e.t_ns.wrapping_sub(e.age_ns));
            let spent = self.journeys.entry(key).or_default();
            spent[d] += e.delta_ns;
            if last {
                let total = spent[d];
                self.done[d][(e.class == 1) as usize].record(total);
                if d == 0 {
                    // Read by the application: the journey is over.
                    self.journeys.remove(&key);
                } else {
                    // On the wire; on a veth wire the same skb goes on.
                    spent[d] = 0;
                }
            }
            if self.journeys.len() > MAX_JOURNEYS {
                let now = e.t_ns;
                self.journeys
                    .retain(|(_, start), _| now.saturating_sub(*start) < JOURNEY_TIMEOUT_NS);
            }
        }
    }

    fn end_to_end(&self, header: &Header) -> Vec<EndToEnd> {
        let mut rows = Vec::new();
        for (d, name) in ["rx", "tx"].iter().enumerate() {
            if !header.stages.iter().any(|s| s.direction == *name) {
                continue;
            }
            for class in [1u8, 0] {
                rows.push(EndToEnd {
                    direction: name.to_string(),
                    class: class_name(class),
                    latency: self.done[d][class as usize].percentiles(),
                    source: "events",
                });
            }
        }
        rows
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        TraceWriter,
        schema::{SparseHist, StageHist, StageInfo},
    };

    fn header() -> Header {
        let stage = |id, name: &str, direction: &str| StageInfo {
            id,
            name: name.into(),
            direction: direction.into(),
            present: true,
        };
        Header {
            format_version: crate::format::VERSION,
            prism_version: "test".into(),
            host: "h".into(),
            kernel: "k".into(),
            mechanism: "tp_btf".into(),
            fallbacks: Vec::new(),
            profile: "full".into(),
            command: vec![],
            started_unix_ns: 0,
            clock_base_ns: 0,
            snapshot_interval_ns: 1_000_000_000,
            events: "all".into(),
            rules: vec![],
            devices: vec![],
            stages: vec![
                stage(0, "other", ""),
                stage(1, "nic", "rx"),
                stage(2, "socket", "rx"),
                stage(3, "wire", "tx"),
            ],
            counters: vec!["journeys".into(), "events_lost".into()],
            bucket_lower_ns: crate::schema::bucket_bounds(),
            datapath: serde_json::Value::Null,
        }
    }

    fn hist(values: &[u64]) -> SparseHist {
        let mut h = Histogram::default();
        for &v in values {
            h.record(v);
        }
        SparseHist::from(&h)
    }

    fn event(t_ns: u64, age_ns: u64, delta_ns: u64, stage: u8, class: u8) -> EventRecord {
        EventRecord {
            t_ns,
            age_ns,
            delta_ns,
            skb: 0xabc,
            stage,
            class,
            flags: (stage == 0) as u8,
            ..Default::default()
        }
    }

    #[test]
    fn summarizes_the_difference_between_first_and_last_snapshot_and_whole_journeys() {
        let mut w = TraceWriter::new(Vec::new(), &header()).unwrap();
        let early = [1_000u64; 10];
        w.snapshot(&SnapshotRecord {
            t_ns: 0,
            stages: vec![StageHist {
                stage: 1,
                class: 1,
                hist: hist(&early),
            }],
            counters: vec![5, 1],
            drops: vec![DropRecord {
                reason: "NO_SOCKET".into(),
                location: "udp_rcv+0x10".into(),
                count: 3,
            }],
            ..Default::default()
        })
        .unwrap();
        // A high journey: nic 4 µs, then socket 6 µs; a low one: nic 50 µs.
        w.events(&[
            event(100, 0, 0, 0, 1),
            event(4_100, 4_000, 4_000, 1, 1),
            event(10_100, 10_000, 6_000, 2, 1),
        ])
        .unwrap();
        let mut later: Vec<u64> = early.to_vec();
        later.extend([100_000u64; 10]);
        w.snapshot(&SnapshotRecord {
            t_ns: 2_000_000_000,
            stages: vec![
                StageHist {
                    stage: 1,
                    class: 1,
                    hist: hist(&later),
                },
                StageHist {
                    stage: 1,
                    class: 0,
                    hist: hist(&[50_000]),
                },
            ],
            counters: vec![25, 4],
            drops: vec![DropRecord {
                reason: "NO_SOCKET".into(),
                location: "udp_rcv+0x10".into(),
                count: 10,
            }],
            ..Default::default()
        })
        .unwrap();
        let bytes = w.finish(Footer::default()).unwrap();
        let s = Summary::read(TraceReader::new(&bytes[..]).unwrap()).unwrap();

        assert_eq!(s.seconds, 2.0);
        let nic = s.stage("rx", "nic", "high").unwrap();
        assert_eq!(nic.latency.count, 10, "only what happened in between");
        assert!((nic.latency.p50 - 100.0).abs() < 25.0, "{nic:?}");
        assert_eq!(nic.events, 1);
        assert_eq!(s.stage("rx", "nic", "low").unwrap().latency.count, 1);
        assert_eq!(s.counters["journeys"], 20);
        assert_eq!(s.drops[0].count, 7);
        let e2e = &s.end_to_end[0];
        assert_eq!((e2e.direction.as_str(), e2e.class), ("rx", "high"));
        assert_eq!(e2e.latency.count, 1);
        assert!((e2e.latency.p50 - 10.0).abs() < 2.5, "{e2e:?}");
        assert_eq!(s.events, 3);
        assert!(s.footer.is_some() && s.truncated.is_none());
    }
}
