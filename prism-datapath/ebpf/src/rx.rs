//! Receive: TC ingress on the underlay. A VXLAN packet whose inner flow is
//! high priority and whose inner destination is a container on this host is
//! decapsulated and handed straight to the container's eth0 with
//! `bpf_redirect_peer`: no gro_cells, no bridge, no backlog queue.

use aya_ebpf::{
    bindings::{
        BPF_F_ADJ_ROOM_DECAP_L3_IPV4, BPF_F_ADJ_ROOM_DECAP_L3_IPV6, TC_ACT_OK,
        bpf_adj_room_mode::BPF_ADJ_ROOM_MAC,
    },
    helpers::generated::bpf_redirect_peer,
    macros::classifier,
    programs::TcContext,
};
use prism_datapath_common::{RX, mac_key, mode, reason};

use crate::{
    flow::{ETH_LEN, ETH_P_IP, Unreadable, classify, ethertype},
    maps::{LOCAL, TUNNEL, config, count},
};

const IPV4_LEN: usize = 20;
const UDP_LEN: usize = 8;
const VXLAN_LEN: usize = 8;
/// Outer IPv4 + UDP + VXLAN + inner Ethernet: what decapsulation removes
/// after the outer Ethernet header.
const DECAP_LEN: usize = IPV4_LEN + UDP_LEN + VXLAN_LEN + ETH_LEN;
const PROTO_UDP: u8 = 17;
const PROTO_TCP: u8 = 6;

#[classifier]
pub fn prism_rx(ctx: TcContext) -> i32 {
    match handle(&ctx) {
        Ok(verdict) => verdict,
        Err((why, high)) => {
            count(RX, why, high);
            TC_ACT_OK
        }
    }
}

/// The verdict, or why the packet keeps the normal path (and its class).
fn handle(ctx: &TcContext) -> Result<i32, (u32, bool)> {
    let cfg = config();
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
    if u16::from_be_bytes([udp[2], udp[3]]) != cfg.vxlan_port {
        return Err((reason::NOT_VXLAN, false));
    }
    let vxlan: [u8; VXLAN_LEN] = ctx
        .load(ETH_LEN + IPV4_LEN + UDP_LEN)
        .map_err(|_| (reason::TRUNCATED, false))?;
    if vxlan[0] & 0x08 == 0 {
        return Err((reason::NOT_VXLAN, false));
    }
    let vni = u32::from_be_bytes([0, vxlan[4], vxlan[5], vxlan[6]]);
    let tunnel = TUNNEL.get(0).ok_or((reason::TRUNCATED, false))?;
    if vni != tunnel.vni {
        return Err((reason::OTHER_VNI, false));
    }
    let inner_at = ETH_LEN + IPV4_LEN + UDP_LEN + VXLAN_LEN;
    let inner: [u8; ETH_LEN] = ctx.load(inner_at).map_err(|_| (reason::TRUNCATED, false))?;
    let flow = classify(ctx, ethertype(&inner), inner_at + ETH_LEN).map_err(|e| match e {
        Unreadable::NonIp => (reason::NON_IP, false),
        Unreadable::Fragment => (reason::FRAGMENT, false),
        Unreadable::Truncated => (reason::TRUNCATED, false),
    })?;
    if !flow.high {
        return Err((reason::LOW, false));
    }
    if cfg.modes & mode::MARK != 0 {
        unsafe { (*ctx.skb.skb).priority = cfg.priority };
        count(RX, reason::MARKED, true);
    }
    if cfg.modes & mode::SYNC == 0 {
        return Err((reason::PASSED, true));
    }
    let dst = [inner[0], inner[1], inner[2], inner[3], inner[4], inner[5]];
    let local = unsafe { LOCAL.get(&mac_key(dst)) }.ok_or((reason::UNKNOWN_MAC, true))?;
    // Shrinking a GSO packet is only supported for TCP.
    if unsafe { (*ctx.skb.skb).gso_size } != 0 && flow.proto != PROTO_TCP {
        return Err((reason::GSO, true));
    }
    let l3 = if flow.ipv6 {
        BPF_F_ADJ_ROOM_DECAP_L3_IPV6
    } else {
        BPF_F_ADJ_ROOM_DECAP_L3_IPV4
    };
    ctx.adjust_room(-(DECAP_LEN as i32), BPF_ADJ_ROOM_MAC, l3 as u64)
        .map_err(|_| (reason::ADJUST_FAILED, true))?;
    // The outer Ethernet header is still in front: make it the inner one.
    ctx.store(0, &inner, 0)
        .map_err(|_| (reason::ADJUST_FAILED, true))?;
    count(RX, reason::FAST, true);
    Ok(unsafe { bpf_redirect_peer(local.host_veth_ifindex, 0) } as i32)
}
