//! The stage tracker's maps. Userspace reads them by these names.

use aya_ebpf::{
    macros::map,
    maps::{Array, HashMap, LruHashMap, PerCpuArray, PerCpuHashMap, RingBuf},
};
use prism_probes_common::{
    CONTAINER_SLOTS, ContainerKey, ContainerSums, Counters, DEVICE_SLOTS, DeviceKey, DeviceSlot,
    DropKey, Hist, NapiStats, SKB_SLOTS, SkbSlot,
    hist::BUCKETS,
    points::{MAX_STAGES, STAGE_TABLE_SIZE},
    sampling::LowRate,
};

/// The tracker's counters, see [`prism_probes_common::counter`].
#[map]
pub static COUNTERS: PerCpuArray<Counters> = PerCpuArray::with_max_entries(1, 0);

/// Devices on the overlay path and their roles, from userspace, by
/// `device_slot(netns, ifindex)`.
#[map]
pub static DEVICE_TABLE: Array<DeviceSlot> = Array::with_max_entries(DEVICE_SLOTS, 0);

/// `STAGES[from * POINTS + to]`: the stage between two points, from userspace.
#[map]
pub static STAGES: Array<u8> = Array::with_max_entries(STAGE_TABLE_SIZE, 0);

/// Packets on their journeys (see [`prism_probes_common::SkbSlot`]).
#[map]
pub static SKBS: Array<SkbSlot> = Array::with_max_entries(SKB_SLOTS, 0);

/// Each CPU's low-class journey rate and sampling (see
/// [`prism_probes_common::sampling`]).
#[map]
pub static LOW_RATE: PerCpuArray<LowRate> = PerCpuArray::with_max_entries(1, 0);

/// Stage latency histograms, slot `stage * CLASSES + class`.
#[map]
pub static HISTS: PerCpuArray<Hist> = PerCpuArray::with_max_entries(MAX_STAGES * 2, 0);

/// `BPF_F_MMAPABLE`: userspace reads the per-container histograms from
/// memory, not with a syscall per entry.
const MMAPABLE: u32 = 1 << 10;

/// Per-container stage histograms' counts, sums and maxima, slot
/// `container * MAX_STAGES * 2 + stage * 2 + class`, shared by all CPUs
/// (see [`prism_probes_common::CONTAINER_SLOTS`]); one entry when the
/// figures are off.
#[map]
pub static CONTAINER_SUMS: Array<ContainerSums> =
    Array::with_max_entries(CONTAINER_SLOTS * MAX_STAGES * 2, MMAPABLE);

/// Their buckets, entry `slot * BUCKETS + bucket`.
#[map]
pub static CONTAINER_BUCKETS: Array<u64> =
    Array::with_max_entries(CONTAINER_SLOTS * MAX_STAGES * 2 * BUCKETS as u32, MMAPABLE);

/// A local container's inner address, where its journeys start -> its slot
/// in `CONTAINER_HISTS`.
#[map]
pub static CONTAINER_IPS: HashMap<ContainerKey, u8> = HashMap::with_max_entries(2048, 0);

// High-priority rules (`RULES`, `RULE_COUNT`), shared with the datapath.
prism_rules::rule_maps!();

/// Socket -> the oldest packet queued on it that we follow, so that a read
/// (`sock_recv_length`, which names only the socket) can be tied to it.
#[map]
pub static SOCK_PENDING: LruHashMap<u64, u64> = LruHashMap::with_max_entries(16384, 0);

/// Per-packet events for `prism record` and tests.
#[map]
pub static EVENTS: RingBuf = RingBuf::with_byte_size(4 << 20, 0);

/// Context: NET_RX softirq raise -> entry delay, per CPU.
#[map]
pub static SOFTIRQ_DELAY: PerCpuArray<Hist> = PerCpuArray::with_max_entries(1, 0);

/// When NET_RX was raised on this CPU and has not run yet (0: not pending).
#[map]
pub static SOFTIRQ_RAISED: PerCpuArray<u64> = PerCpuArray::with_max_entries(1, 0);

/// Context: NAPI polls per device (key {0, 0}: the per-CPU backlog).
#[map]
pub static NAPI: PerCpuHashMap<DeviceKey, NapiStats> = PerCpuHashMap::with_max_entries(1024, 0);

/// Context: drops by reason and location.
#[map]
pub static DROPS: PerCpuHashMap<DropKey, u64> = PerCpuHashMap::with_max_entries(4096, 0);

#[inline(always)]
pub fn count(index: u32) {
    add(index, 1)
}

#[inline(always)]
pub fn add(index: u32, n: u64) {
    if let Some(c) = COUNTERS.get_ptr_mut(0) {
        let c = unsafe { &mut *c };
        if let Some(c) = c.get_mut(index as usize) {
            *c += n;
        }
    }
}
