//! Types shared by the datapath's eBPF programs and their userspace loader.
#![cfg_attr(not(test), no_std)]

/// Slots of the `CAP_HITS` counters of the capability probe programs.
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CapHook {
    Tc = 0,
    Xdp = 1,
}

impl CapHook {
    pub const COUNT: u32 = 2;
}

/// `Config.modes` bits.
pub mod mode {
    /// Stream high-priority packets past the overlay's queues: VXLAN decap
    /// and `bpf_redirect_peer` on receive, encap and `bpf_redirect` on
    /// transmit.
    pub const SYNC: u32 = 1;
    /// Set `skb->priority` of high-priority packets, for egress qdiscs.
    pub const MARK: u32 = 2;
    /// Keep high-priority packets apart before the receiver's shared
    /// queues: the sender's underlay egress puts them on a transmit queue
    /// of their own (which is a receive ring of their own on a veth wire,
    /// or a queue a NIC's flow steering can match).
    pub const NIC: u32 = 4;
}

/// Live settings (the `CONFIG` map), changed without reloading.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Config {
    /// [`mode`] bits.
    pub modes: u32,
    /// `skb->priority` for high-priority packets in mark mode.
    pub priority: u32,
    /// In nic mode, the transmit queue (plus one, as the kernel records a
    /// queue in `queue_mapping`) for high-priority packets, and for others.
    pub nic_high_queue: u16,
    pub nic_low_queue: u16,
    /// In mark mode, the DSCP that high-priority packets leave their
    /// container with, or [`DSCP_KEEP`].
    pub dscp: u8,
    pub _pad: [u8; 3],
}

/// `Config::dscp`: leave the packets' DSCP as it is.
pub const DSCP_KEEP: u8 = 0xff;

/// How the host's overlay reaches its containers, and so what the
/// programs do (`Tunnel::kind`).
pub mod kind {
    /// The VXLAN device is a bridge port beside the underlay (Prism's lab):
    /// decapsulate on the underlay and redirect by inner MAC; encapsulate
    /// on the host veth and redirect to the underlay.
    pub const BRIDGED: u8 = 0;
    /// The host routes between the VXLAN device and its pods (Flannel,
    /// Calico): decapsulate, route by inner destination IP as the kernel
    /// would (MACs, TTL); on transmit find the VTEP by prefix.
    pub const ROUTED: u8 = 1;
    /// The VXLAN device sits in a sandbox namespace apart from the underlay
    /// (Docker): receive redirects from the VXLAN device's ingress after the
    /// kernel's decap; transmit hands frames straight to the VXLAN device.
    pub const SANDBOX: u8 = 2;
}

/// This host's end of the tunnel (the `TUNNEL` map).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Tunnel {
    pub underlay_ifindex: u32,
    /// Local VTEP address, network byte order bytes.
    pub local_ip: [u8; 4],
    pub vni: u32,
    /// MTU of the underlay: encapsulated packets must fit.
    pub underlay_mtu: u32,
    /// The underlay's MAC, source of encapsulated frames.
    pub src_mac: [u8; 6],
    /// The VXLAN device's UDP port, host byte order.
    pub port: u16,
    /// The VXLAN device (the transmit target in a sandbox).
    pub vxlan_ifindex: u32,
    /// The VXLAN device's MAC: routed overlays' inner destination on
    /// receive and inner source on transmit.
    pub vxlan_mac: [u8; 6],
    /// One of [`kind`].
    pub kind: u8,
    pub _pad: u8,
}

/// A container on this host (the `LOCAL` map, by its MAC).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Local {
    /// The host side of its veth pair: `bpf_redirect_peer` target.
    pub host_veth_ifindex: u32,
}

/// A container on a routed host (the `LOCAL_IP` map, by its IPv4 address
/// in network byte order): where to redirect and the Ethernet header the
/// kernel's forwarding would have written.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LocalIp {
    pub host_veth_ifindex: u32,
    /// The container's MAC: the new destination.
    pub mac: [u8; 6],
    /// Its gateway's MAC (the bridge's or the host veth's): the new source.
    pub gateway_mac: [u8; 6],
}

/// A pod prefix behind another VTEP (the `REMOTE_NET` LPM trie, keyed by
/// the prefix's address bytes in network order).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RemoteNet {
    /// The VTEP's address, network byte order bytes.
    pub vtep_ip: [u8; 4],
    /// The next hop's MAC on the underlay.
    pub next_hop_mac: [u8; 6],
    /// The remote VXLAN device's MAC: the inner destination.
    pub vtep_mac: [u8; 6],
}

/// A container behind another VTEP (the `REMOTE` map, by its MAC).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Remote {
    /// The VTEP's address, network byte order bytes.
    pub vtep_ip: [u8; 4],
    /// The next hop's MAC on the underlay (the VTEP's, on one segment).
    pub next_hop_mac: [u8; 6],
    pub _pad: [u8; 6],
}

/// A MAC address as a map key: the six bytes, zero-padded.
#[inline(always)]
pub const fn mac_key(mac: [u8; 6]) -> u64 {
    u64::from_le_bytes([mac[0], mac[1], mac[2], mac[3], mac[4], mac[5], 0, 0])
}

pub const RX: u32 = 0;
pub const TX: u32 = 1;
/// The underlay's egress (nic mode).
pub const EGRESS: u32 = 2;
pub const DIRECTIONS: u32 = 3;

/// What the datapath did with a packet; `COUNTERS` slot
/// `(direction * reason::COUNT + reason) * 2 + class`.
pub mod reason {
    /// Streamed past the queues (sync mode).
    pub const FAST: u32 = 0;
    /// Not high priority: passed to the normal path.
    pub const LOW: u32 = 1;
    /// High priority, passed to the normal path for the reason below, or
    /// because sync mode is off.
    pub const PASSED: u32 = 2;
    pub const NOT_VXLAN: u32 = 3;
    pub const NON_IP: u32 = 4;
    pub const FRAGMENT: u32 = 5;
    pub const IP_OPTIONS: u32 = 6;
    pub const GSO: u32 = 7;
    pub const MTU: u32 = 8;
    pub const UNKNOWN_MAC: u32 = 9;
    pub const TRUNCATED: u32 = 10;
    pub const OTHER_VNI: u32 = 11;
    pub const ADJUST_FAILED: u32 = 12;
    /// Given `skb->priority` (mark mode).
    pub const MARKED: u32 = 13;
    /// Put on its class's transmit queue (nic mode).
    pub const STEERED: u32 = 14;
    /// Routed overlays: no local container or remote prefix for the inner
    /// destination address.
    pub const UNKNOWN_IP: u32 = 15;
    /// Routed overlays: the TTL would expire (the kernel answers it).
    pub const TTL: u32 = 16;
    /// This kernel's `bpf_skb_adjust_room` cannot decapsulate it (an inner
    /// family other than the outer one, or GSO, before the decap flags).
    pub const KERNEL: u32 = 17;
    /// Receive: outer lengths that disagree with the packet, a bad IPv4
    /// header checksum, or VXLAN flags the kernel refuses: the kernel
    /// drops it, so the fast path must not deliver it.
    pub const MALFORMED: u32 = 18;
    /// Receive: not addressed to this host's underlay MAC and VTEP address
    /// (the kernel would not decapsulate it here).
    pub const OTHER_HOST: u32 = 19;
    pub const COUNT: u32 = 20;

    pub const NAMES: [&str; COUNT as usize] = [
        "fast",
        "low",
        "passed",
        "not_vxlan",
        "non_ip",
        "fragment",
        "ip_options",
        "gso",
        "mtu",
        "unknown_mac",
        "truncated",
        "other_vni",
        "adjust_failed",
        "marked",
        "steered",
        "unknown_ip",
        "ttl",
        "kernel",
        "malformed",
        "other_host",
    ];
}

/// What this kernel's `bpf_skb_adjust_room` accepts, found by trying it
/// before the datapath is loaded, and given to the programs as a read-only
/// global (the verifier drops the branches the kernel cannot take).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Helpers {
    /// `BPF_F_ADJ_ROOM_DECAP_L3_IPV4/6` (6.3): the decap sets the inner
    /// family and leaves GSO packets valid. Without them only an inner
    /// IPv4 packet without GSO is decapsulated.
    pub decap_l3: u8,
    /// `BPF_F_ADJ_ROOM_ENCAP_L2_ETH` (5.12): marks the inner protocol as
    /// Ethernet, so checksum offload applies to the inner packet. Without
    /// it the stack checksums in software.
    pub encap_l2_eth: u8,
    pub _pad: [u8; 6],
}

/// `CAP_ADJUST` slots: the flags and the length `prism_cap_adjust` tries.
pub const CAP_ADJUST_FLAGS: u32 = 0;
pub const CAP_ADJUST_DELTA: u32 = 1;

/// Slots of the `COUNTERS` per-CPU array.
pub const COUNTER_SLOTS: u32 = DIRECTIONS * reason::COUNT * 2;

#[inline(always)]
pub const fn counter_slot(direction: u32, reason: u32, class: u32) -> u32 {
    (direction * reason::COUNT + reason) * 2 + class
}

#[cfg(feature = "user")]
mod pod {
    // SAFETY: repr(C) plain data; every bit pattern is valid.
    unsafe impl aya::Pod for super::Config {}
    unsafe impl aya::Pod for super::Tunnel {}
    unsafe impl aya::Pod for super::Local {}
    unsafe impl aya::Pod for super::Remote {}
    unsafe impl aya::Pod for super::LocalIp {}
    unsafe impl aya::Pod for super::RemoteNet {}
    unsafe impl aya::Pod for super::Helpers {}
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counter_slots_are_distinct_and_in_range() {
        let mut seen = std::collections::BTreeSet::new();
        for d in [RX, TX, EGRESS] {
            for r in 0..reason::COUNT {
                for c in 0..2 {
                    let s = counter_slot(d, r, c);
                    assert!(s < COUNTER_SLOTS);
                    assert!(seen.insert(s));
                }
            }
        }
        assert_eq!(mac_key([1, 2, 3, 4, 5, 6]), 0x0605_0403_0201);
    }
}
