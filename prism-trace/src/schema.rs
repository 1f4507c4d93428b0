//! What a trace holds, record by record. The README's "Trace format"
//! section documents these fields; change them only with a new format
//! version (see `format::VERSION`).

use prism_probes_common::hist::{BUCKETS, bucket_lower};
use prism_probes_common::histogram::Histogram;
use serde::{Deserialize, Serialize};

/// The first record (JSON): everything needed to read the rest without
/// the machine it was taken on.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Header {
    pub format_version: u16,
    pub prism_version: String,
    /// Host name and kernel release (`uname -n`, `uname -r`).
    pub host: String,
    pub kernel: String,
    /// The probe mechanism the profilers used (e.g. `tp_btf`).
    pub mechanism: String,
    /// Boundaries taken elsewhere than at their tracepoint on that kernel,
    /// and stages merged where nothing could see one (absent in older
    /// files: none).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fallbacks: Vec<String>,
    /// The profilers' profile, `full` or `always-on` (older files: full).
    #[serde(default = "full_profile")]
    pub profile: String,
    /// The command line that made the recording.
    pub command: Vec<String>,
    /// Wall-clock start, ns since the Unix epoch.
    pub started_unix_ns: u64,
    /// CLOCK_MONOTONIC at the start: every `t_ns` in the trace counts from
    /// here, so `started_unix_ns + t_ns` is a wall-clock time.
    pub clock_base_ns: u64,
    pub snapshot_interval_ns: u64,
    /// Which packets have events: `all`, `sample:N` (1 in N journeys,
    /// whole journeys) or `none`.
    pub events: String,
    /// High-priority rules, in the rule language.
    pub rules: Vec<String>,
    /// The stage map: the devices on the overlay path and their roles.
    pub devices: Vec<DeviceInfo>,
    /// Stage ids as used in snapshots and events.
    pub stages: Vec<StageInfo>,
    /// Names of the values in `SnapshotRecord::counters`, in order.
    pub counters: Vec<String>,
    /// Lower bound (ns) of each histogram bucket; bucket i holds values
    /// from `bucket_lower_ns[i]` up to the next bound.
    pub bucket_lower_ns: Vec<u64>,
    /// `prism status --json` of the datapath at the start.
    pub datapath: serde_json::Value,
}

fn full_profile() -> String {
    "full".into()
}

impl Header {
    /// The recorded containers by name: their owner's where the recording
    /// has it, else their namespace's label; each once.
    pub fn containers(&self) -> Vec<String> {
        prism_overlay::owners::once(
            self.devices
                .iter()
                .filter(|d| d.role == "container")
                .map(|d| d.owner.clone().unwrap_or_else(|| d.namespace.clone())),
        )
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceInfo {
    pub namespace: String,
    /// The container or pod that owns the namespace (absent in format 1
    /// headers). Never skipped when empty: snapshots encode devices with
    /// postcard, which has no field names to tell a missing field by.
    #[serde(default)]
    pub owner: Option<String>,
    pub name: String,
    pub ifindex: u32,
    pub netns_inode: u32,
    /// underlay, vxlan, bridge, host-veth, container.
    pub role: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StageInfo {
    pub id: u8,
    pub name: String,
    /// `rx`, `tx`, or empty for transitions no stage covers.
    pub direction: String,
    /// False when the host lacks the devices the stage runs between.
    pub present: bool,
}

/// Bucket lower bounds, as headers record them.
pub fn bucket_bounds() -> Vec<u64> {
    (0..BUCKETS).map(bucket_lower).collect()
}

/// A reading of every profiler map (postcard, zstd). Values are
/// cumulative since the programs were attached: subtract two snapshots
/// for what happened between them.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct SnapshotRecord {
    /// ns since `Header::clock_base_ns`.
    pub t_ns: u64,
    pub stages: Vec<StageHist>,
    pub counters: Vec<u64>,
    /// NET_RX softirq raise -> entry, per CPU.
    pub softirq: Vec<SparseHist>,
    pub napi: Vec<NapiRecord>,
    pub drops: Vec<DropRecord>,
    /// The devices, when they changed since the previous record said.
    pub devices: Option<Vec<DeviceInfo>>,
    /// Whole receive journeys (underlay GRO entry -> application read), by
    /// class id: every journey the profile timed, with or without events.
    /// Format 2; empty when read from a format 1 file.
    pub receive: Vec<SparseHist>,
    /// Each container's own figures, when the profilers timed containers
    /// one by one. Format 2; empty when read from a format 1 file.
    pub containers: Vec<ContainerRecord>,
}

/// One container's stage and receive histograms, cumulative since the
/// kernel began timing it (which is after the recording began if the
/// container was not in the first snapshot).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContainerRecord {
    /// Its network namespace: what tells two snapshots' containers apart.
    pub netns_inode: u32,
    /// Its owner's name (container, pod/container), else its namespace's.
    pub name: String,
    /// Kubernetes: its pod and the pod's namespace.
    pub pod: Option<String>,
    pub pod_namespace: Option<String>,
    pub stages: Vec<StageHist>,
    /// As [`SnapshotRecord::receive`], for this container's journeys.
    pub receive: Vec<SparseHist>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StageHist {
    pub stage: u8,
    /// 0 low, 1 high.
    pub class: u8,
    pub hist: SparseHist,
}

/// A histogram with only its non-empty buckets.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SparseHist {
    pub count: u64,
    pub sum_ns: u64,
    pub max_ns: u64,
    /// (bucket index, values in it).
    pub buckets: Vec<(u8, u64)>,
}

impl From<&Histogram> for SparseHist {
    fn from(h: &Histogram) -> Self {
        Self {
            count: h.count,
            sum_ns: h.sum_ns,
            max_ns: h.max_ns,
            buckets: h
                .buckets
                .iter()
                .enumerate()
                .filter(|(_, n)| **n > 0)
                .map(|(i, n)| (i as u8, *n))
                .collect(),
        }
    }
}

impl From<&SparseHist> for Histogram {
    fn from(s: &SparseHist) -> Self {
        let mut h = Histogram {
            count: s.count,
            sum_ns: s.sum_ns,
            max_ns: s.max_ns,
            ..Default::default()
        };
        for &(i, n) in &s.buckets {
            if let Some(b) = h.buckets.get_mut(i as usize) {
                *b = n;
            }
        }
        h
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NapiRecord {
    /// `namespace/device`, or `backlog`.
    pub device: String,
    pub polls: u64,
    pub packets: u64,
    /// Polls that used their whole budget.
    pub exhausted: u64,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DropRecord {
    /// `enum skb_drop_reason` name.
    pub reason: String,
    /// Symbolized when recorded: `function+0xoffset`.
    pub location: String,
    pub count: u64,
}

/// One stage boundary crossed by one packet (in batches, postcard, zstd).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventRecord {
    /// ns since `Header::clock_base_ns`.
    pub t_ns: u64,
    /// How long the packet's journey had lasted at this boundary.
    pub age_ns: u64,
    /// The stage's duration: time since the previous boundary.
    pub delta_ns: u64,
    /// The skb's address: which packet, while it lives.
    pub skb: u64,
    pub cpu: u32,
    /// The stage that just ended (`Header::stages`); 0 at a journey's
    /// first boundary.
    pub stage: u8,
    pub class: u8,
    /// The tracepoint and device role of this boundary.
    pub point: u8,
    /// Bit 0: the journey's first boundary.
    pub flags: u8,
}

/// The last record (JSON), written when the recording stops. A trace
/// without one was cut short (the recorder was killed, or the disk filled).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Footer {
    /// `duration`, `signal`, or `error: ...`.
    pub end: String,
    pub duration_ns: u64,
    pub snapshots: u64,
    pub events: u64,
    /// Events the kernel could not hand over (ring buffer full).
    pub events_lost: u64,
    /// Bytes before the footer.
    pub bytes: u64,
}

/// The records as format 1 wrote them, read into today's.
pub mod v1 {
    use serde::Deserialize;

    use super::{DropRecord, NapiRecord, SparseHist, StageHist};

    #[derive(Deserialize)]
    pub struct SnapshotRecord {
        t_ns: u64,
        stages: Vec<StageHist>,
        counters: Vec<u64>,
        softirq: Vec<SparseHist>,
        napi: Vec<NapiRecord>,
        drops: Vec<DropRecord>,
        devices: Option<Vec<DeviceInfo>>,
    }

    /// Format 1 devices had no owner.
    #[derive(Deserialize)]
    pub struct DeviceInfo {
        namespace: String,
        name: String,
        ifindex: u32,
        netns_inode: u32,
        role: String,
    }

    impl From<SnapshotRecord> for super::SnapshotRecord {
        fn from(s: SnapshotRecord) -> Self {
            Self {
                t_ns: s.t_ns,
                stages: s.stages,
                counters: s.counters,
                softirq: s.softirq,
                napi: s.napi,
                drops: s.drops,
                devices: s.devices.map(|d| d.into_iter().map(Into::into).collect()),
                receive: Vec::new(),
                containers: Vec::new(),
            }
        }
    }

    impl From<DeviceInfo> for super::DeviceInfo {
        fn from(d: DeviceInfo) -> Self {
            Self {
                namespace: d.namespace,
                owner: None,
                name: d.name,
                ifindex: d.ifindex,
                netns_inode: d.netns_inode,
                role: d.role,
            }
        }
    }
}
