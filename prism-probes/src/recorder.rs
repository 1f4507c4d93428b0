//! Turning the live collector's output into trace records: the header that
//! describes this machine and recording, snapshots with names resolved
//! (devices, drop reasons, kernel symbols) and event batches on the
//! trace's clock. The command drives the timing; this does the writing.

use std::{collections::BTreeMap, collections::HashMap, io::Write, path::Path};

use anyhow::{Context, Result};
use prism_probes_common::{EVENT_FIRST, Event, histogram::Histogram};
use prism_trace::{
    TraceWriter,
    format::VERSION,
    schema::{
        ContainerRecord, DeviceInfo, DropRecord, EventRecord, Footer, Header, NapiRecord,
        SnapshotRecord, SparseHist, StageHist, StageInfo, bucket_bounds,
    },
};

use crate::{
    collector::{Collector, EventSampling},
    devices::Device,
    sampler::Sampler,
    snapshot::{COUNTER_NAMES, Class, ContainerFigures, Snapshot, monotonic_ns},
    stages::{Direction, Stage},
};

/// What the header says beyond what the collector knows.
pub struct RecordingInfo {
    pub command: Vec<String>,
    pub snapshot_interval_ns: u64,
    pub events: EventSampling,
    /// The datapath's status at the start, as `prism status --json`.
    pub datapath: serde_json::Value,
}

pub struct Recorder<W: Write> {
    writer: TraceWriter<W>,
    base_ns: u64,
    devices: Vec<DeviceInfo>,
    names: HashMap<u64, String>,
    first_lost: u64,
    last_lost: u64,
    batch: Vec<Event>,
    records: Vec<EventRecord>,
}

impl Recorder<std::io::BufWriter<std::fs::File>> {
    pub fn create(path: &Path, sampler: &Sampler, info: RecordingInfo) -> Result<Self> {
        let header = header(sampler.collector(), info);
        let writer = TraceWriter::create(path, &header)
            .with_context(|| format!("create {}", path.display()))?;
        Recorder::new(writer, header, sampler)
    }
}

impl<W: Write> Recorder<W> {
    fn new(writer: TraceWriter<W>, header: Header, sampler: &Sampler) -> Result<Self> {
        let mut r = Self {
            writer,
            base_ns: header.clock_base_ns,
            devices: header.devices,
            names: HashMap::new(),
            first_lost: 0,
            last_lost: 0,
            batch: Vec::new(),
            records: Vec::new(),
        };
        let first = sampler.collector().snapshot()?;
        r.first_lost = lost(&first);
        r.snapshot(sampler, &first)?;
        Ok(r)
    }

    /// Moves waiting events from the kernel into the file; returns how many.
    pub fn drain_events(&mut self, sampler: &mut Sampler) -> Result<usize> {
        self.batch.clear();
        let n = sampler.collector_mut().read_events(&mut self.batch);
        self.records.clear();
        self.records
            .extend(self.batch.iter().map(|e| event(e, self.base_ns)));
        self.writer.events(&self.records).context("write events")?;
        Ok(n)
    }

    /// Reads and writes a snapshot (with the devices if they changed), then
    /// flushes, so that everything so far survives a kill.
    pub fn take_snapshot(&mut self, sampler: &mut Sampler) -> Result<()> {
        let s = sampler.sample()?;
        self.snapshot(sampler, &s)?;
        self.writer.flush().context("write the trace")
    }

    fn snapshot(&mut self, sampler: &Sampler, s: &Snapshot) -> Result<()> {
        let collector = sampler.collector();
        self.last_lost = lost(s);
        let devices = device_infos(collector.devices());
        let changed = devices != self.devices;
        if changed {
            self.devices = devices.clone();
        }
        let record = SnapshotRecord {
            t_ns: s.at_ns.saturating_sub(self.base_ns),
            stages: stage_hists(&s.stages),
            counters: s.counters.0.to_vec(),
            softirq: s.softirq.iter().map(SparseHist::from).collect(),
            napi: s
                .napi
                .iter()
                .map(|(key, n)| NapiRecord {
                    device: collector.device_name(key),
                    polls: n.polls,
                    packets: n.work,
                    exhausted: n.exhausted,
                })
                .collect(),
            drops: self.drops(sampler, s),
            devices: changed.then_some(devices),
            receive: by_class(&s.receive_total),
            containers: s
                .containers
                .iter()
                .map(|(inode, c)| container_record(*inode, c))
                .collect(),
        };
        self.writer.snapshot(&record).context("write a snapshot")
    }

    /// Drop sites with names; symbols are resolved once per address.
    fn drops(&mut self, sampler: &Sampler, s: &Snapshot) -> Vec<DropRecord> {
        let unknown: Vec<u64> = s
            .drops
            .keys()
            .map(|k| k.location)
            .filter(|a| !self.names.contains_key(a))
            .collect();
        if !unknown.is_empty() {
            let names = sampler.symbols().names(&unknown);
            self.names.extend(unknown.into_iter().zip(names));
        }
        s.drops
            .iter()
            .map(|(k, n)| DropRecord {
                reason: sampler.collector().drop_reason(k.reason),
                location: self.names[&k.location].clone(),
                count: *n,
            })
            .collect()
    }

    pub fn bytes(&self) -> u64 {
        self.writer.bytes()
    }

    pub fn events_written(&self) -> u64 {
        self.writer.event_count()
    }

    /// Events the kernel could not hand over since the recording began.
    pub fn events_lost(&self) -> u64 {
        self.last_lost.saturating_sub(self.first_lost)
    }

    /// Drains the last events, takes a last snapshot and writes the footer.
    pub fn finish(mut self, sampler: &mut Sampler, end: &str) -> Result<Footer> {
        self.drain_events(sampler)?;
        self.take_snapshot(sampler)?;
        let footer = Footer {
            end: end.into(),
            duration_ns: monotonic_ns().saturating_sub(self.base_ns),
            snapshots: self.writer.snapshot_count(),
            events: self.writer.event_count(),
            events_lost: self.events_lost(),
            bytes: self.writer.bytes(),
        };
        self.writer
            .finish(footer.clone())
            .context("write the trace's footer")?;
        Ok(footer)
    }
}

fn stage_hists(stages: &BTreeMap<(Stage, Class), Histogram>) -> Vec<StageHist> {
    stages
        .iter()
        .map(|((stage, class), h)| StageHist {
            stage: stage.id(),
            class: class.id(),
            hist: SparseHist::from(h),
        })
        .collect()
}

/// Histograms indexed by class id, as records keep them.
fn by_class(hists: &[Histogram; 2]) -> Vec<SparseHist> {
    hists.iter().map(SparseHist::from).collect()
}

fn container_record(netns_inode: u32, c: &ContainerFigures) -> ContainerRecord {
    let (pod, pod_namespace) = c.pod.clone().unzip();
    ContainerRecord {
        netns_inode,
        name: c.name.clone(),
        pod,
        pod_namespace,
        stages: stage_hists(&c.stages),
        receive: by_class(&c.receive_total),
    }
}

fn lost(s: &Snapshot) -> u64 {
    s.counters.get(prism_probes_common::counter::EVENTS_LOST)
}

fn event(e: &Event, base_ns: u64) -> EventRecord {
    EventRecord {
        t_ns: e.ts_ns.saturating_sub(base_ns),
        age_ns: e.ts_ns.saturating_sub(e.first_ns),
        delta_ns: e.delta_ns,
        skb: e.skb,
        cpu: e.cpu,
        stage: e.stage,
        class: e.class,
        point: e.point,
        flags: (e.flags & EVENT_FIRST != 0) as u8,
    }
}

fn device_infos(devices: &[Device]) -> Vec<DeviceInfo> {
    devices
        .iter()
        .map(|d| DeviceInfo {
            namespace: d.namespace.clone(),
            owner: d.owner.clone(),
            name: d.name.clone(),
            ifindex: d.ifindex,
            netns_inode: d.netns_inum,
            role: d.role.name().into(),
        })
        .collect()
}

/// The header for a recording starting now.
pub fn header(collector: &Collector, info: RecordingInfo) -> Header {
    let uname = nix::sys::utsname::uname().ok();
    let field = |f: fn(&nix::sys::utsname::UtsName) -> &std::ffi::OsStr| {
        uname
            .as_ref()
            .map(|u| f(u).to_string_lossy().into_owned())
            .unwrap_or_default()
    };
    // In path order per direction: readers take a direction's last stage
    // as the end of its journeys.
    let stages = Stage::of(Direction::Rx)
        .chain(Stage::of(Direction::Tx))
        .chain([Stage::Other])
        .map(|s| StageInfo {
            id: s.id(),
            name: s.name().into(),
            direction: match s.direction() {
                Some(Direction::Rx) => "rx".into(),
                Some(Direction::Tx) => "tx".into(),
                None => String::new(),
            },
            present: s.direction().is_some() && collector.present(s),
        })
        .collect();
    let events = match info.events {
        EventSampling::Off => "none".to_string(),
        EventSampling::All => "all".into(),
        EventSampling::OneIn(n) => format!("sample:{n}"),
    };
    let wall = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    Header {
        format_version: VERSION,
        prism_version: env!("CARGO_PKG_VERSION").into(),
        host: field(|u| u.nodename()),
        kernel: field(|u| u.release()),
        mechanism: collector.mechanism().to_string(),
        profile: collector.profile().to_string(),
        fallbacks: collector
            .fallbacks()
            .iter()
            .map(|f| f.to_string())
            .collect(),
        command: info.command,
        started_unix_ns: wall,
        clock_base_ns: monotonic_ns(),
        snapshot_interval_ns: info.snapshot_interval_ns,
        events,
        rules: collector
            .rules()
            .rules()
            .iter()
            .map(ToString::to_string)
            .collect(),
        devices: device_infos(collector.devices()),
        stages,
        counters: COUNTER_NAMES.iter().map(|s| s.to_string()).collect(),
        bucket_lower_ns: bucket_bounds(),
        datapath: info.datapath,
    }
}
