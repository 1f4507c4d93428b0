//! Reading a VXLAN packet on the underlay: the outer headers checked, the
//! inner frame's Ethernet header and flow read and classified.

use aya_ebpf::programs::TcContext;
use prism_datapath_common::reason;

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
#[inline(always)]
pub fn vxlan(ctx: &TcContext) -> Result<Vxlan, (u32, bool)> {
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
    let vni = u32::from_be_bytes([0, header[4], header[5], header[6]]);
    if vni != tunnel.vni {
        return Err((reason::OTHER_VNI, false));
    }
    let inner: [u8; ETH_LEN] = ctx.load(INNER_AT).map_err(|_| (reason::TRUNCATED, false))?;
    let flow = classify(ctx, ethertype(&inner), INNER_AT + ETH_LEN).map_err(Unreadable::reason)?;
    Ok(Vxlan { inner, flow })
}
