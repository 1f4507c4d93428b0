//! Receive: TC ingress on the underlay. A VXLAN packet whose inner flow is
//! high priority and whose inner destination is a container on this host is
//! decapsulated and handed straight to the container's eth0 with
//! `bpf_redirect_peer`: no gro_cells, no bridge or IP forwarding, no
//! backlog queue. On a routed host the container is found by inner
//! destination IP and the packet is given the Ethernet header and TTL the
//! kernel's forwarding would have given it.
//!
//! Docker keeps the VXLAN device in a sandbox namespace, out of reach of
//! `bpf_redirect_peer` from the underlay; there `prism_rx_sandbox` runs on
//! the VXLAN device's ingress, after the kernel's decap, and skips the
//! bridge, the veth and the backlog.

use aya_ebpf::{
    bindings::{
        BPF_F_ADJ_ROOM_DECAP_L3_IPV4, BPF_F_ADJ_ROOM_DECAP_L3_IPV6, BPF_F_ADJ_ROOM_FIXED_GSO,
        TC_ACT_UNSPEC, bpf_adj_room_mode::BPF_ADJ_ROOM_MAC,
    },
    helpers::generated::bpf_redirect_peer,
    macros::classifier,
    programs::TcContext,
};
use prism_datapath_common::{RX, kind, mac_key, mode, reason};

use crate::{
    flow::{ETH_LEN, Flow, high_priority_frame},
    maps::{LOCAL, LOCAL_IP, config, count, helpers, tunnel},
    route,
    vxlan::{DECAP_LEN, INNER_AT, Vxlan, vxlan},
};

const PROTO_TCP: u8 = 6;

#[classifier]
pub fn prism_rx(ctx: TcContext) -> i32 {
    verdict(handle(&ctx))
}

#[classifier]
pub fn prism_rx_sandbox(ctx: TcContext) -> i32 {
    verdict(handle_decapsulated(&ctx))
}

/// tcx's "next" (not TC_ACT_OK, which ends the chain) for every packet
/// not redirected: programs of others after ours still see it.
#[inline(always)]
fn verdict(result: Result<i32, (u32, bool)>) -> i32 {
    match result {
        Ok(verdict) => verdict,
        Err((why, high)) => {
            count(RX, why, high);
            TC_ACT_UNSPEC
        }
    }
}

/// mark mode, then whether sync mode is on: the part every receive
/// program shares once it knows the packet is high priority.
#[inline(always)]
fn mark(ctx: &TcContext) -> Result<(), (u32, bool)> {
    let cfg = config();
    if cfg.modes & mode::MARK != 0 {
        unsafe { (*ctx.skb.skb).priority = cfg.priority };
        count(RX, reason::MARKED, true);
    }
    if cfg.modes & mode::SYNC == 0 {
        return Err((reason::PASSED, true));
    }
    Ok(())
}

/// The verdict, or why the packet keeps the normal path (and its class).
fn handle(ctx: &TcContext) -> Result<i32, (u32, bool)> {
    let Vxlan { inner, flow } = vxlan(ctx, true)?;
    if !flow.high {
        return Err((reason::LOW, false));
    }
    mark(ctx)?;
    let tunnel = tunnel().ok_or((reason::TRUNCATED, true))?;
    if tunnel.kind == kind::ROUTED {
        return routed(ctx, &inner, &flow, &tunnel.vxlan_mac).map_err(|why| (why, true));
    }
    let dst = [inner[0], inner[1], inner[2], inner[3], inner[4], inner[5]];
    let local = unsafe { LOCAL.get(&mac_key(dst)) }.ok_or((reason::UNKNOWN_MAC, true))?;
    decapsulate(ctx, &flow).map_err(|why| (why, true))?;
    // The outer Ethernet header is still in front: make it the inner one.
    ctx.store(0, &inner, 0)
        .map_err(|_| (reason::ADJUST_FAILED, true))?;
    count(RX, reason::FAST, true);
    Ok(unsafe { bpf_redirect_peer(local.host_veth_ifindex, 0) } as i32)
}

/// Removes the outer IPv4, UDP and VXLAN headers and the inner Ethernet
/// header, keeping the outer Ethernet header's room in front.
#[inline(always)]
fn decapsulate(ctx: &TcContext, flow: &Flow) -> Result<(), u32> {
    let gso = unsafe { (*ctx.skb.skb).gso_size } != 0;
    // Shrinking a GSO packet is only supported for TCP.
    if gso && flow.proto != PROTO_TCP {
        return Err(reason::GSO);
    }
    let flags = if helpers().decap_l3 != 0 {
        if flow.ipv6 {
            BPF_F_ADJ_ROOM_DECAP_L3_IPV6
        } else {
            BPF_F_ADJ_ROOM_DECAP_L3_IPV4
        }
    } else if flow.ipv6 || gso {
        // Without the decap flags skb->protocol stays the outer family's,
        // and a GSO packet keeps its tunnel type: the kernel decaps those.
        return Err(reason::KERNEL);
    } else {
        0
    };
    // GRO sized a merged packet's segments by the inner payload: the
    // segment size must not grow by the headers removed.
    let fixed_gso = if gso { BPF_F_ADJ_ROOM_FIXED_GSO } else { 0 };
    ctx.adjust_room(
        -(DECAP_LEN as i32),
        BPF_ADJ_ROOM_MAC,
        (flags | fixed_gso) as u64,
    )
    .map_err(|_| reason::ADJUST_FAILED)
}

/// A routed host: the frame is for this node's VXLAN device; its inner
/// destination IP names the pod.
#[inline(always)]
fn routed(
    ctx: &TcContext,
    inner: &[u8; ETH_LEN],
    flow: &Flow,
    vxlan_mac: &[u8; 6],
) -> Result<i32, u32> {
    if flow.ipv6 {
        return Err(reason::UNKNOWN_IP);
    }
    if inner[..6] != vxlan_mac[..] {
        return Err(reason::UNKNOWN_MAC);
    }
    let ip = INNER_AT + ETH_LEN;
    let dst = route::destination(ctx, ip)?;
    let local = unsafe { LOCAL_IP.get(&u32::from_ne_bytes(dst)) }.ok_or(reason::UNKNOWN_IP)?;
    route::check_ttl(ctx, ip)?;
    decapsulate(ctx, flow)?;
    let eth = route::ethernet(&local.mac, &local.gateway_mac);
    ctx.store(0, &eth, 0).map_err(|_| reason::ADJUST_FAILED)?;
    route::decrement_ttl(ctx, ETH_LEN)?;
    count(RX, reason::FAST, true);
    Ok(unsafe { bpf_redirect_peer(local.host_veth_ifindex, 0) } as i32)
}

/// Docker's sandbox: the frame on the VXLAN device is already the inner
/// one; a high-priority frame for a local container goes to it directly.
fn handle_decapsulated(ctx: &TcContext) -> Result<i32, (u32, bool)> {
    let (eth, _) = high_priority_frame(ctx)?;
    mark(ctx)?;
    let dst = [eth[0], eth[1], eth[2], eth[3], eth[4], eth[5]];
    let local = unsafe { LOCAL.get(&mac_key(dst)) }.ok_or((reason::UNKNOWN_MAC, true))?;
    count(RX, reason::FAST, true);
    Ok(unsafe { bpf_redirect_peer(local.host_veth_ifindex, 0) } as i32)
}
