//! Transmit: TC ingress on a container's host-side veth. A packet whose flow
//! is high priority and whose destination is a container behind another
//! VTEP is VXLAN-encapsulated here and sent out of the underlay with
//! `bpf_redirect`: no bridge or IP forwarding, no VXLAN device. The remote
//! container is found by destination MAC on a bridged host, and by
//! destination prefix on a routed one, whose packets are also given the
//! inner Ethernet header and TTL the kernel's forwarding would give them.
//! In Docker's sandbox the underlay is in another namespace: there the
//! frame goes straight to the VXLAN device, skipping the bridge.

use aya_ebpf::maps::lpm_trie::Key;
use aya_ebpf::{
    bindings::{
        BPF_F_ADJ_ROOM_ENCAP_L2_ETH, BPF_F_ADJ_ROOM_ENCAP_L3_IPV4, BPF_F_ADJ_ROOM_ENCAP_L4_UDP,
        BPF_F_ADJ_ROOM_FIXED_GSO, TC_ACT_UNSPEC, bpf_adj_room_mode::BPF_ADJ_ROOM_MAC,
    },
    helpers::generated::bpf_redirect,
    macros::classifier,
    programs::TcContext,
};
use prism_datapath_common::{DSCP_KEEP, TX, Tunnel, kind, mac_key, mode, reason};
use prism_rules::PROTO_TCP;

use crate::{
    dscp,
    flow::{ETH_LEN, Flow, current, high_priority_frame},
    maps::{REMOTE, REMOTE_NET, config, count, helpers, tunnel},
    route,
};

const IPV4_LEN: usize = 20;
const UDP_LEN: usize = 8;
const VXLAN_LEN: usize = 8;
/// Outer Ethernet + IPv4 + UDP + VXLAN, in front of the inner frame.
const OUTER_LEN: usize = ETH_LEN + IPV4_LEN + UDP_LEN + VXLAN_LEN;
/// Bytes the encapsulation adds: a whole outer header; the frame's own
/// Ethernet header becomes the inner one.
const ENCAP_LEN: usize = OUTER_LEN;

#[classifier]
pub fn prism_tx(ctx: TcContext) -> i32 {
    match handle(&ctx) {
        Ok(verdict) => verdict,
        Err((why, high)) => {
            // tcx's "next" (not TC_ACT_OK, which ends the chain): programs
            // of others after ours on this hook still see the packet.
            count(TX, why, high);
            TC_ACT_UNSPEC
        }
    }
}

fn handle(ctx: &TcContext) -> Result<i32, (u32, bool)> {
    let cfg = config();
    let (eth, flow) = high_priority_frame(ctx)?;
    // The DSCP the outer header carries (the kernel's VXLAN device, by
    // default, gives 0): the marked one in mark mode.
    let mut outer_dscp = 0;
    if cfg.modes & mode::MARK != 0 {
        unsafe { (*ctx.skb.skb).priority = cfg.priority };
        dscp::set(ctx, flow.ipv6, ETH_LEN, cfg.dscp).map_err(|_| (reason::TRUNCATED, true))?;
        if cfg.dscp != DSCP_KEEP {
            outer_dscp = cfg.dscp;
        }
        count(TX, reason::MARKED, true);
    }
    if cfg.modes & mode::SYNC == 0 {
        return Err((reason::PASSED, true));
    }
    let tunnel = tunnel().ok_or((reason::TRUNCATED, true))?;
    let dst = [eth[0], eth[1], eth[2], eth[3], eth[4], eth[5]];
    let (inner_eth, vtep, next_hop) = if tunnel.kind == kind::ROUTED {
        if flow.ipv6 {
            return Err((reason::UNKNOWN_IP, true));
        }
        let ip = route::destination(ctx, ETH_LEN).map_err(|why| (why, true))?;
        let remote = REMOTE_NET
            .get(Key::new(32, ip))
            .ok_or((reason::UNKNOWN_IP, true))?;
        route::check_ttl(ctx, ETH_LEN).map_err(|why| (why, true))?;
        let inner = route::ethernet(&remote.vtep_mac, &tunnel.vxlan_mac);
        (inner, remote.vtep_ip, remote.next_hop_mac)
    } else {
        let remote = unsafe { REMOTE.get(&mac_key(dst)) }.ok_or((reason::UNKNOWN_MAC, true))?;
        if tunnel.kind == kind::SANDBOX {
            // The VXLAN device encapsulates: only the bridge is skipped.
            count(TX, reason::FAST, true);
            return Ok(unsafe { bpf_redirect(tunnel.vxlan_ifindex, 0) } as i32);
        }
        (eth, remote.vtep_ip, remote.next_hop_mac)
    };
    let inner_len = ctx.len() as usize;
    let gso_size = unsafe { (*ctx.skb.skb).gso_size } as usize;
    // The largest frame the underlay will carry: the packet itself, or
    // one segment of a GSO packet.
    let frame_len = if gso_size == 0 {
        inner_len
    } else {
        gso_segment_len(ctx, &flow, gso_size, inner_len).map_err(|why| (why, true))?
    };
    // The outer IP packet carries the whole inner frame.
    if frame_len + OUTER_LEN - ETH_LEN > tunnel.underlay_mtu as usize {
        return Err((reason::MTU, true));
    }
    if tunnel.kind == kind::ROUTED {
        route::decrement_ttl(ctx, ETH_LEN).map_err(|why| (why, true))?;
    }
    let outer = outer_headers(&inner_eth, tunnel, &vtep, &next_hop, inner_len, outer_dscp);
    // Without ENCAP_L2_ETH (before 5.12) offloads skip the inner packet and
    // the stack checksums it in software.
    let l2_eth = if helpers().encap_l2_eth != 0 {
        BPF_F_ADJ_ROOM_ENCAP_L2_ETH
    } else {
        0
    };
    // A GSO packet keeps its segment size: the container's MTU already
    // leaves room for the tunnel (checked above), and the kernel cuts it
    // into VXLAN segments where it must, as it does the VXLAN device's.
    let fixed_gso = if gso_size != 0 {
        BPF_F_ADJ_ROOM_FIXED_GSO
    } else {
        0
    };
    let flags = (BPF_F_ADJ_ROOM_ENCAP_L3_IPV4 | BPF_F_ADJ_ROOM_ENCAP_L4_UDP | l2_eth | fixed_gso)
        as u64
        | encap_l2_len(ETH_LEN as u64);
    ctx.adjust_room(ENCAP_LEN as i32, BPF_ADJ_ROOM_MAC, flags)
        .map_err(|_| (reason::ADJUST_FAILED, true))?;
    ctx.store(0, &outer, 0)
        .map_err(|_| (reason::ADJUST_FAILED, true))?;
    count(TX, reason::FAST, true);
    Ok(unsafe { bpf_redirect(tunnel.underlay_ifindex, 0) } as i32)
}

/// The frame length of one segment of a GSO packet: headers and `gso_size`
/// bytes of payload. Only TCP segments are encapsulated whole (the kernel
/// grows other GSO types on no kernel Prism supports); so is a TCP packet
/// the kernel would otherwise send through the bridge and the VXLAN
/// device, where bulk traffic queues, while its flow's small segments take
/// the fast path ahead of it: the receiver would see the stream reordered
/// and retransmit.
#[inline(always)]
fn gso_segment_len(
    ctx: &TcContext,
    flow: &Flow,
    gso_size: usize,
    inner_len: usize,
) -> Result<usize, u32> {
    // Without ENCAP_L2_ETH (before 5.12) the kernel would not know the
    // inner packet starts with an Ethernet header, and would cut it wrong.
    if flow.proto != PROTO_TCP || helpers().encap_l2_eth == 0 {
        return Err(reason::GSO);
    }
    // The outer IPv4 length field holds the whole packet until it is cut.
    if inner_len + OUTER_LEN - ETH_LEN > u16::MAX as usize {
        return Err(reason::GSO);
    }
    let data_offset: u8 = ctx.load(flow.l4 + 12).map_err(|_| reason::TRUNCATED)?;
    Ok(flow.l4 + ((data_offset >> 4) as usize) * 4 + gso_size)
}

/// `BPF_F_ADJ_ROOM_ENCAP_L2(len)`: the inner L2 header's length.
const fn encap_l2_len(len: u64) -> u64 {
    (len & 0xff) << 56
}

/// What goes in front of the inner IP header: outer Ethernet, IPv4, UDP
/// and VXLAN headers, then the inner Ethernet header as it was. Built from
/// whole fields (not byte loops): every byte the verifier has to track on
/// the stack costs it states.
#[repr(C, packed)]
struct Outer {
    dst_mac: [u8; 6],
    src_mac: [u8; 6],
    ethertype: u16,
    ver_ihl_tos: u16,
    ip_len: u16,
    ip_id: u16,
    frag: u16,
    ttl_proto: u16,
    ip_csum: u16,
    src_ip: [u8; 4],
    dst_ip: [u8; 4],
    sport: u16,
    dport: u16,
    udp_len: u16,
    udp_csum: u16,
    vxlan_flags: u32,
    vni: u32,
    inner_eth: [u8; ETH_LEN],
}

const _: () = assert!(core::mem::size_of::<Outer>() == OUTER_LEN + ETH_LEN);

#[inline(always)]
fn outer_headers(
    inner_eth: &[u8; ETH_LEN],
    tunnel: &Tunnel,
    vtep: &[u8; 4],
    next_hop: &[u8; 6],
    inner_len: usize,
    outer_dscp: u8,
) -> Outer {
    let ip_len = (inner_len + OUTER_LEN - ETH_LEN) as u16;
    // Version 4, 5 words, the DSCP (no ECN); DF; TTL 64, UDP.
    let ver_ihl_tos = 0x4500u16 | dscp::tclass_with(0, outer_dscp) as u16;
    let (frag, ttl_proto) = (0x4000u16, (64u16 << 8) | 17);
    let word = |a: &[u8; 4], i: usize| u16::from_be_bytes([a[i], a[i + 1]]) as u32;
    let sum = ver_ihl_tos as u32
        + ip_len as u32
        + frag as u32
        + ttl_proto as u32
        + word(&tunnel.local_ip, 0)
        + word(&tunnel.local_ip, 2)
        + word(vtep, 0)
        + word(vtep, 2);
    let sum = (sum & 0xffff) + (sum >> 16);
    let sum = (sum & 0xffff) + (sum >> 16);
    Outer {
        dst_mac: *next_hop,
        src_mac: tunnel.src_mac,
        ethertype: 0x0800u16.to_be(),
        ver_ihl_tos: ver_ihl_tos.to_be(),
        ip_len: ip_len.to_be(),
        ip_id: 0,
        frag: frag.to_be(),
        ttl_proto: ttl_proto.to_be(),
        ip_csum: (!(sum as u16)).to_be(),
        src_ip: tunnel.local_ip,
        dst_ip: *vtep,
        // The source port spreads flows over the receiver's queues, as the
        // kernel's VXLAN does; the UDP checksum may be 0 over IPv4.
        sport: source_port().to_be(),
        dport: tunnel.port.to_be(),
        udp_len: (ip_len - IPV4_LEN as u16).to_be(),
        udp_csum: 0,
        // The I flag, then the VNI in the top 24 bits.
        vxlan_flags: 0x0800_0000u32.to_be(),
        vni: (tunnel.vni << 8).to_be(),
        inner_eth: *inner_eth,
    }
}

/// A source port in 49152..65535 from the inner flow.
#[inline(always)]
fn source_port() -> u16 {
    let hash = current().map_or(0, |f| {
        let x =
            f.src[0] ^ f.dst[0] ^ f.src[1] ^ f.dst[1] ^ ((f.sport as u64) << 16 | f.dport as u64);
        (x ^ (x >> 32) ^ (x >> 16)) as u16
    });
    49152 | (hash & 0x3fff)
}
