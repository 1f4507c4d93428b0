//! Receive: TC ingress on the underlay. A VXLAN packet whose inner flow is
//! high priority and whose inner destination is a container on this host is
//! decapsulated and handed straight to the container's eth0 with
//! `bpf_redirect_peer`: no gro_cells, no bridge, no backlog queue.

use aya_ebpf::{
    bindings::{
        BPF_F_ADJ_ROOM_DECAP_L3_IPV4, BPF_F_ADJ_ROOM_DECAP_L3_IPV6, TC_ACT_UNSPEC,
        bpf_adj_room_mode::BPF_ADJ_ROOM_MAC,
    },
    helpers::generated::bpf_redirect_peer,
    macros::classifier,
    programs::TcContext,
};
use prism_datapath_common::{RX, mac_key, mode, reason};

use crate::{
    maps::{LOCAL, config, count},
    vxlan::{DECAP_LEN, Vxlan, vxlan},
};

const PROTO_TCP: u8 = 6;

#[classifier]
pub fn prism_rx(ctx: TcContext) -> i32 {
    match handle(&ctx) {
        Ok(verdict) => verdict,
        Err((why, high)) => {
            // tcx's "next" (not TC_ACT_OK, which ends the chain): programs
            // of others after ours on this hook still see the packet.
            count(RX, why, high);
            TC_ACT_UNSPEC
        }
    }
}

/// The verdict, or why the packet keeps the normal path (and its class).
fn handle(ctx: &TcContext) -> Result<i32, (u32, bool)> {
    let cfg = config();
    let Vxlan { inner, flow } = vxlan(ctx, &cfg)?;
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
