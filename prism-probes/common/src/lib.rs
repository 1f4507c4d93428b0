//! Types shared by the profiler's eBPF programs and their userspace loader.
//!
//! Everything here is `#[repr(C)]` plain data: the kernel side reads it from
//! globals and writes it into maps, userspace fills or reads the same bytes.
#![cfg_attr(not(any(test, feature = "user")), no_std)]

pub mod hist;
#[cfg(feature = "user")]
pub mod histogram;
pub mod points;
pub mod sampling;

pub use hist::Hist;

/// Byte offsets of the kernel struct members the programs read.
///
/// aya-ebpf emits no CO-RE relocations, so userspace resolves these from the
/// running kernel's BTF and hands them over as the `KERNEL_OFFSETS` global
/// before the programs load.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct KernelOffsets {
    /// `sk_buff.dev` (a `struct net_device *`, inside anonymous unions).
    pub skb_dev: u32,
    /// `sk_buff.head`: start of the packet buffer.
    pub skb_head: u32,
    /// `sk_buff.mac_header`: u16 offset of the Ethernet header from `head`.
    pub skb_mac_header: u32,
    /// `net_device.ifindex`.
    pub netdev_ifindex: u32,
    /// `net_device.nd_net.net` (a `struct net *`).
    pub netdev_net: u32,
    /// `net.ns.inum`: the namespace's inode number, as `stat /run/netns/X` shows.
    pub net_inum: u32,
    /// `sock.sk_receive_queue`: a `struct sk_buff_head` (next, prev, ...).
    pub sock_receive_queue: u32,
    /// `napi_struct.dev`.
    pub napi_dev: u32,
    /// `sk_buff.len`: bytes of data, all GRO segments included.
    pub skb_len: u32,
    /// `sk_buff.sk`: the socket a queued packet belongs to.
    pub skb_sk: u32,
}

/// Offsets inside classic tracepoint records, read from tracefs `format` files.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TracepointOffsets {
    /// `skbaddr` in `net:netif_receive_skb`.
    pub netif_receive_skb_skbaddr: u32,
}

/// How many VXLAN UDP ports the classifier knows (Docker and Calico use
/// 4789, Flannel 8472; a host rarely runs more than two overlays).
pub const VXLAN_PORTS: usize = 4;

/// Settings fixed at load time (the `PROBE_CONFIG` global).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ProbeConfig {
    /// UDP ports that mark VXLAN, host byte order; 0 ends the list.
    pub vxlan_ports: [u16; VXLAN_PORTS],
    /// Per-packet events: 0 none, 1 every hit, N one packet in N.
    pub events_sample: u32,
    /// 1 when GRO entry is not hooked (the always-on profile): receive
    /// journeys start where the underlay hands the packet to the stack.
    pub rx_starts_at_rcv: u32,
    /// Low-class journeys each CPU times per second (see [`sampling`]);
    /// 0: every one.
    pub low_per_cpu_per_sec: u32,
    /// 1: journeys are also timed per container (`CONTAINER_HISTS`), the
    /// container found by the inner addresses in `CONTAINER_IPS`.
    pub per_container: u32,
    /// A gap longer than this ends a journey: the skb address was reused.
    pub stale_ns: u64,
}

impl Default for ProbeConfig {
    fn default() -> Self {
        Self {
            vxlan_ports: [4789, 0, 0, 0],
            events_sample: 0,
            rx_starts_at_rcv: 0,
            low_per_cpu_per_sec: 0,
            per_container: 0,
            stale_ns: 1_000_000_000,
        }
    }
}

/// Identifies a network device across namespaces: ifindexes repeat per netns.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DeviceKey {
    pub netns_inum: u32,
    pub ifindex: u32,
}

/// One tracked device in the device table.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DeviceEntry {
    pub netns_inum: u32,
    pub ifindex: u32,
    /// One of [`points::role`]; 0 marks a free entry.
    pub role: u8,
    pub _pad: [u8; 7],
}

/// Devices whose [`device_slot`] is this slot's index. An array
/// (which the verifier inlines) with a few ways per slot instead of a hash
/// map: a device lookup on every hit then costs a few loads.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DeviceSlot {
    pub entries: [DeviceEntry; DEVICE_WAYS],
}

pub const DEVICE_SLOTS: u32 = 1024;
pub const DEVICE_WAYS: usize = 8;

/// The device table slot of (namespace, ifindex). Both count: every
/// container's eth0 is ifindex 2, and every Docker sandbox numbers its
/// `vxlan0`, `br0` and `veth0` alike, so the ifindex alone would pile a
/// host's containers into one slot.
#[inline(always)]
pub const fn device_slot(netns_inum: u32, ifindex: u32) -> u32 {
    // Multiplicative hashing (Knuth): the top bits of the product.
    let mixed = (netns_inum ^ ifindex.wrapping_mul(0x9e37_79b9)).wrapping_mul(0x85eb_ca6b);
    (mixed >> 22) % DEVICE_SLOTS
}

const _: () = assert!(DEVICE_SLOTS == 1 << 10, "device_slot keeps 10 bits");

/// One slot of the `SKBS` table: a packet on its journey, by skb address.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SkbSlot {
    /// The skb's address; 0 marks a free slot.
    pub skb: u64,
    pub state: SkbState,
}

/// Slots of the `SKBS` table, a power of two. A direct-mapped array rather
/// than a hash map: finding a packet is an address hash and one inlined
/// array access, with no locks. Two live packets that hash alike evict one
/// another (counted); with far fewer packets in flight than slots, rarely.
pub const SKB_SLOTS: u32 = 1 << 16;

/// The slot of an skb address: the bits that differ between sk_buffs (the
/// slab packs them a few hundred bytes apart), folded.
#[inline(always)]
pub const fn skb_slot(skb: u64) -> u32 {
    (((skb >> 8) ^ (skb >> 24)) as u32) & (SKB_SLOTS - 1)
}

/// Where one skb is on its journey.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SkbState {
    pub first_ns: u64,
    pub last_ns: u64,
    pub last_point: u8,
    /// [`CLASS_LOW`] or [`CLASS_HIGH`].
    pub class: u8,
    /// This journey's packets go to the event stream.
    pub sampled: u8,
    /// The container's slot in `CONTAINER_HISTS` (see
    /// [`CONTAINER_SLOTS`]); 0: none (host traffic, or per-container
    /// figures off).
    pub container: u8,
    /// How many journeys this one stands for: 1, or N for a low-class
    /// journey sampled 1 in N (its histogram counts are scaled by N).
    pub weight: u32,
    /// When the packet entered the receive path (underlay GRO); 0 if it
    /// has not. A journey that began on transmit in the same kernel (the
    /// lab's veth wire) goes on into receive with this reset.
    pub rx_start_ns: u64,
}

/// Containers timed one by one: slot 0 means none, so 63 at most; more
/// are counted in the host's figures only. Each slot has a histogram per
/// stage and class (`CONTAINER_HISTS[slot * MAX_STAGES * CLASSES + stage *
/// CLASSES + class]`), one array for all CPUs, updated with atomic adds:
/// per-CPU copies would take this times the number of CPUs.
pub const CONTAINER_SLOTS: u32 = 64;

/// A container histogram's count, sum and maximum (`CONTAINER_SUMS`); its
/// buckets are entries of `CONTAINER_BUCKETS` of their own, so that every
/// atomic add is at offset 0 of a pointer the map lookup returned (5.10's
/// and 6.1's verifiers lost the type of a pointer into a bucket array).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ContainerSums {
    pub count: u64,
    pub sum_ns: u64,
    pub max_ns: u64,
}

/// `CONTAINER_IPS`'s key: an inner address as the classifier's flow holds
/// it, in the namespace of the device a journey starts on (the underlay's
/// for receive, the container's for transmit), so that overlays with the
/// same pod addresses on one host (two kind clusters, two labs) stay apart.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ContainerKey {
    pub netns_inum: u32,
    pub _pad: u32,
    pub addr: [u64; 2],
}

pub const CLASS_LOW: u8 = 0;
pub const CLASS_HIGH: u8 = 1;
/// A packet that entered GRO and is not classified yet: GRO may still merge
/// it into another, and then it was never worth classifying.
pub const CLASS_PENDING: u8 = 0xff;
/// A low-class journey left out by sampling (see [`sampling`]): its slot
/// only remembers that, so the packet's later hits cost a lookup.
pub const CLASS_UNSAMPLED: u8 = 0xfe;
pub const CLASSES: usize = 2;

/// One stage boundary crossed by one packet (the `EVENTS` ring buffer).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Event {
    /// `bpf_ktime_get_ns` at this hit (CLOCK_MONOTONIC).
    pub ts_ns: u64,
    /// When this packet's journey began.
    pub first_ns: u64,
    /// Time since the previous boundary: the stage's duration.
    pub delta_ns: u64,
    /// skb address: identifies the packet while it lives.
    pub skb: u64,
    pub cpu: u32,
    /// Stage that just ended (see [`points`]); 0 at a journey's first hit.
    pub stage: u8,
    pub class: u8,
    pub point: u8,
    /// [`EVENT_FIRST`] at a journey's first hit.
    pub flags: u8,
}

pub const EVENT_FIRST: u8 = 1;

/// NAPI polls of one device (the `NAPI` map): batch sizes and budget use.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NapiStats {
    pub polls: u64,
    pub work: u64,
    /// Polls that used their whole budget (more packets were waiting).
    pub exhausted: u64,
    /// Polls by work done: 0, 1, 2-3, 4-7, 8-15, 16-31, 32-63, 64+.
    pub work_log2: [u64; 8],
}

/// A drop site: why and where (`skb:kfree_skb`).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DropKey {
    /// Kernel text address of the caller of kfree_skb.
    pub location: u64,
    /// `enum skb_drop_reason`.
    pub reason: u32,
    pub _pad: u32,
}

/// The tracker's counters (`COUNTERS[0]`, per CPU), by [`counter`] index:
/// one entry, so that a reader takes them all with one lookup.
pub type Counters = [u64; counter::COUNT as usize];

/// Indexes into [`Counters`].
pub mod counter {
    /// Boundary hits on tracked devices and sockets.
    pub const HITS: u32 = 0;
    /// Journeys begun (first hit of an skb).
    pub const STARTED: u32 = 1;
    /// A tracked address came back at a journey start, or after the stale
    /// limit: the skb was freed without a trace event and reused.
    pub const RESTARTED: u32 = 2;
    /// Packets that entered GRO and never left it on their own: merged
    /// into another packet (or dropped there). Counted when their slot is
    /// taken again.
    pub const GRO_MERGED: u32 = 3;
    /// A packet on a journey turned up where no stage leads: a topology
    /// Prism does not know, or an address freed untraced and reused. The
    /// journey ends there (and restarts if this is a journey start).
    pub const UNMAPPED: u32 = 4;
    /// Tracked skbs consumed normally.
    pub const CONSUMED: u32 = 5;
    /// Tracked skbs dropped (`kfree_skb`).
    pub const DROPPED: u32 = 6;
    /// Events the ring buffer had no room for.
    pub const EVENTS_LOST: u32 = 7;
    /// Packets whose headers could not be parsed (classified low).
    pub const UNPARSED: u32 = 8;
    /// Events written to the ring buffer.
    pub const EVENTS: u32 = 9;
    /// Journeys that ended with the application reading the packet.
    pub const COMPLETED: u32 = 10;
    /// Journeys lost because another packet took their slot.
    pub const EVICTED: u32 = 11;
    /// Bytes of low-class packets queued on their socket (`+ class` for high).
    pub const DELIVERED_BYTES: u32 = 12;
    /// Bytes of high-class packets queued on their socket.
    pub const DELIVERED_BYTES_HIGH: u32 = 13;
    /// Low-class journeys begun, timed or left out by sampling: the rate
    /// the sampling adapts to. (The counts above are of timed journeys,
    /// each scaled by its weight.)
    pub const LOW_JOURNEYS: u32 = 14;
    /// Low-class journeys timed (unscaled): `LOW_JOURNEYS / LOW_TIMED` is
    /// the N they were sampled at.
    pub const LOW_TIMED: u32 = 15;
    pub const COUNT: u32 = 16;
}

/// Names of the globals the loader sets.
pub const KERNEL_OFFSETS_GLOBAL: &str = "KERNEL_OFFSETS";
pub const TRACEPOINT_OFFSETS_GLOBAL: &str = "TRACEPOINT_OFFSETS";
pub const PROBE_CONFIG_GLOBAL: &str = "PROBE_CONFIG";

#[cfg(feature = "user")]
mod pod {
    // SAFETY: repr(C) plain data, every bit pattern valid, no padding holes
    // the kernel could leave uninitialized that we would misread.
    unsafe impl aya::Pod for super::KernelOffsets {}
    unsafe impl aya::Pod for super::TracepointOffsets {}
    unsafe impl aya::Pod for super::ProbeConfig {}
    unsafe impl aya::Pod for super::DeviceKey {}
    unsafe impl aya::Pod for super::DeviceSlot {}
    unsafe impl aya::Pod for super::SkbState {}
    unsafe impl aya::Pod for super::SkbSlot {}
    unsafe impl aya::Pod for super::Event {}
    unsafe impl aya::Pod for super::NapiStats {}
    unsafe impl aya::Pod for super::DropKey {}
    unsafe impl aya::Pod for super::ContainerKey {}
    unsafe impl aya::Pod for super::ContainerSums {}
    unsafe impl aya::Pod for super::Hist {}
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn containers_eth0_spread_over_the_device_table() {
        // 2000 namespaces with consecutive inodes, each with ifindex 2 and
        // 3 (a pod's eth0, a sandbox's vxlan0): no slot overflows.
        let mut load = vec![0usize; DEVICE_SLOTS as usize];
        for inum in 0xf000_0000u32..0xf000_0000 + 2000 {
            for ifindex in [2, 3] {
                load[device_slot(inum, ifindex) as usize] += 1;
            }
        }
        let worst = load.iter().max().copied().unwrap();
        assert!(worst <= DEVICE_WAYS, "{worst} devices in one slot");
    }
}
