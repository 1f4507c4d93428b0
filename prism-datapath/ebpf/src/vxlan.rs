//! Reading a VXLAN packet on the underlay: the outer headers checked, the
//! inner frame's Ethernet header and flow read and classified.

use aya_ebpf::programs::TcContext;
use prism_datapath_common::{Tunnel, reason};

use crate::{
    flow::{ETH_LEN, ETH_P_IP, Flow, Unreadable, classify, ethertype},
    maps::tunnel,
};

const IPV4_LEN: usize = 20;
const UDP_LEN: usize = 8;
const VXLAN_LEN: usize = 8;
const PROTO_UDP: u8 = 17;
/// Where the inner Ethernet header starts.
pub const INNER_AT: usize = ETH_LEN + IPV4_LEN + UDP_LEN + VXLAN_LEN;
/// Outer IPv4 + UDP + VXLAN + inner Ethernet: what decapsulation removes
/// after the outer Ethernet header.
pub const DECAP_LEN: usize = IPV4_LEN + UDP_LEN + VXLAN_LEN + ETH_LEN;

pub struct Vxlan {
    /// The inner Ethernet header.
    pub inner: [u8; ETH_LEN],
    pub flow: Flow,
}

/// The inner frame of a VXLAN packet of this host's VNI, or why the packet
/// is not one the datapath handles (never high: the class is unknown).
/// `receiving`: a packet off the wire, which must also be one the kernel
/// would decapsulate here (see [`accepted_here`]); on egress the packet is
/// this host's own.
#[inline(always)]
pub fn vxlan(ctx: &TcContext, receiving: bool) -> Result<Vxlan, (u32, bool)> {
    let tunnel = tunnel().ok_or((reason::TRUNCATED, false))?;
    let eth: [u8; ETH_LEN] = ctx.load(0).map_err(|_| (reason::TRUNCATED, false))?;
    if ethertype(&eth) != ETH_P_IP {
        return Err((reason::NOT_VXLAN, false));
    }
    let ip: [u8; IPV4_LEN] = ctx.load(ETH_LEN).map_err(|_| (reason::TRUNCATED, false))?;
    if ip[9] != PROTO_UDP {
        return Err((reason::NOT_VXLAN, false));
    }
    if ip[0] != 0x45 {
        return Err((reason::IP_OPTIONS, false));
    }
    if u16::from_be_bytes([ip[6], ip[7]]) & 0x3fff != 0 {
        return Err((reason::FRAGMENT, false));
    }
    let udp: [u8; UDP_LEN] = ctx
        .load(ETH_LEN + IPV4_LEN)
        .map_err(|_| (reason::TRUNCATED, false))?;
    if u16::from_be_bytes([udp[2], udp[3]]) != tunnel.port {
        return Err((reason::NOT_VXLAN, false));
    }
    let header: [u8; VXLAN_LEN] = ctx
        .load(ETH_LEN + IPV4_LEN + UDP_LEN)
        .map_err(|_| (reason::TRUNCATED, false))?;
    if header[0] & 0x08 == 0 {
        return Err((reason::NOT_VXLAN, false));
    }
    if receiving {
        accepted_here(ctx, tunnel, &eth, &ip, &udp, &header)?;
    }
    let vni = u32::from_be_bytes([0, header[4], header[5], header[6]]);
    if vni != tunnel.vni {
        return Err((reason::OTHER_VNI, false));
    }
    let inner: [u8; ETH_LEN] = ctx.load(INNER_AT).map_err(|_| (reason::TRUNCATED, false))?;
    let flow = classify(ctx, ethertype(&inner), INNER_AT + ETH_LEN).map_err(Unreadable::reason)?;
    Ok(Vxlan { inner, flow })
}

/// Whatever the kernel would drop on the way to its VXLAN device keeps the
/// normal path, so the fast path never delivers more than the kernel
/// would: another host's frame, lengths that disagree, a bad header
/// checksum, flags the device does not know. (The outer UDP checksum, on
/// by default for the kernel's VXLAN over IPv4, is not verified: the
/// inner packet's own checksums are, by the container's stack, on either
/// path.)
#[inline(always)]
fn accepted_here(
    ctx: &TcContext,
    tunnel: &Tunnel,
    eth: &[u8; ETH_LEN],
    ip: &[u8; IPV4_LEN],
    udp: &[u8; UDP_LEN],
    header: &[u8; VXLAN_LEN],
) -> Result<(), (u32, bool)> {
    // A frame seen in promiscuous mode, or for another of this host's
    // addresses: ip_rcv drops the first, the VTEP is not bound to the other.
    if eth[..6] != tunnel.src_mac[..] || ip[16..20] != tunnel.local_ip[..] {
        return Err((reason::OTHER_HOST, false));
    }
    // GRO keeps the outer lengths equal to the merged packet's, so
    // anything else is damage the kernel would drop or trim.
    let ip_len = u16::from_be_bytes([ip[2], ip[3]]) as u32;
    if ip_len + ETH_LEN as u32 != ctx.len()
        || u16::from_be_bytes([udp[4], udp[5]]) as u32 + IPV4_LEN as u32 != ip_len
        || !header_checksum_ok(&ip)
    {
        return Err((reason::MALFORMED, false));
    }
    // The I flag alone, and the reserved bytes zero: the kernel's VXLAN
    // drops a packet with flags it was not configured for.
    if header[0] != 0x08 || header[1] != 0 || header[2] != 0 || header[3] != 0 || header[7] != 0 {
        return Err((reason::MALFORMED, false));
    }
    Ok(())
}

/// Whether an IPv4 header without options sums to 0xffff, as ip_rcv checks.
#[inline(always)]
fn header_checksum_ok(ip: &[u8; IPV4_LEN]) -> bool {
    let mut sum = 0u32;
    let mut i = 0;
    while i < IPV4_LEN {
        sum += u16::from_be_bytes([ip[i], ip[i + 1]]) as u32;
        i += 2;
    }
    let sum = (sum & 0xffff) + (sum >> 16);
    let sum = (sum & 0xffff) + (sum >> 16);
    sum == 0xffff
}
