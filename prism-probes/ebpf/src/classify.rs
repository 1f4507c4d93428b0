//! Flow classification at a journey's first hit: parse the packet from the
//! skb (through a VXLAN header if there is one) and match the rules.

use prism_probes_common::{CLASS_HIGH, CLASS_LOW, counter};
use prism_rules::FlowKey;

use crate::{
    kernel::{config, offsets, read},
    maps::{RULE_FLOW, count, rule_flow_is_high},
};

const ETH_LEN: usize = 14;
const ETH_P_IP: u16 = 0x0800;
const ETH_P_IPV6: u16 = 0x86dd;
const VXLAN_LEN: usize = 8;
const UDP_LEN: usize = 8;
const PROTO_UDP: u8 = 17;
const PROTO_TCP: u8 = 6;

/// The class of the packet in `skb`. Not inlined: as a BPF subprogram it
/// gets a stack frame of its own and is verified once.
#[inline(never)]
pub fn class_of(skb: *const u8) -> u8 {
    let Some(flow) = RULE_FLOW.get_ptr_mut(0) else {
        return CLASS_LOW;
    };
    if !parse_flow(skb, unsafe { &mut *flow }) {
        count(counter::UNPARSED);
        return CLASS_LOW;
    }
    if rule_flow_is_high() {
        CLASS_HIGH
    } else {
        CLASS_LOW
    }
}

/// Fills `flow` with the packet's inner flow: through VXLAN when the outer
/// packet is UDP to the VXLAN port. `skb` may be an address kept in a map
/// (a journey that starts after GRO), so this reads with probe helpers.
#[inline(always)]
fn parse_flow(skb: *const u8, flow: &mut FlowKey) -> bool {
    let off = offsets();
    let (Some(head), Some(mac)) = (
        read::<*const u8>(skb, off.skb_head),
        read::<u16>(skb, off.skb_mac_header),
    ) else {
        return false;
    };
    if mac == 0xffff {
        return false;
    }
    let eth = head.wrapping_add(mac as usize);
    if !ip_flow(eth, flow) {
        return false;
    }
    if flow.proto == PROTO_UDP && is_vxlan_port(flow.dport) {
        let Some(l4) = outer_l4_offset(eth) else {
            return false;
        };
        return ip_flow(eth.wrapping_add(l4 + UDP_LEN + VXLAN_LEN), flow);
    }
    true
}

/// Is `port` one of the overlays' VXLAN ports? Unrolled: four compares.
#[inline(always)]
fn is_vxlan_port(port: u16) -> bool {
    let ports = config().vxlan_ports;
    let mut i = 0;
    while i < ports.len() {
        if ports[i] == port && port != 0 {
            return true;
        }
        i += 1;
    }
    false
}

/// Offset from the Ethernet header to the L4 header of an IPv4 packet.
#[inline(always)]
fn outer_l4_offset(eth: *const u8) -> Option<usize> {
    let ver_ihl: u8 = read(eth, ETH_LEN as u32)?;
    Some(ETH_LEN + ((ver_ihl & 0x0f) as usize) * 4)
}

/// Parses Ethernet + IPv4/IPv6 + TCP/UDP ports at `eth` into `flow`.
#[inline(always)]
fn ip_flow(eth: *const u8, flow: &mut FlowKey) -> bool {
    let Some(ethertype) = read::<u16>(eth, 12).map(u16::from_be) else {
        return false;
    };
    let ip = eth.wrapping_add(ETH_LEN);
    // Field by field: a whole-struct default would be a memset loop that
    // the verifier walks byte by byte.
    flow.sport = 0;
    flow.dport = 0;
    let l4;
    if ethertype == ETH_P_IP {
        let Some(h) = read::<[u8; 20]>(ip, 0) else {
            return false;
        };
        flow.set_ipv4(&h);
        let frag_offset = u16::from_be_bytes([h[6], h[7]]) & 0x1fff;
        if frag_offset != 0 {
            return true; // a later fragment: no ports to read
        }
        l4 = ip.wrapping_add(((h[0] & 0x0f) as usize) * 4);
    } else if ethertype == ETH_P_IPV6 {
        let Some(h) = read::<[u8; 40]>(ip, 0) else {
            return false;
        };
        flow.set_ipv6(&h);
        l4 = ip.wrapping_add(40);
    } else {
        return false;
    }
    if flow.proto == PROTO_TCP || flow.proto == PROTO_UDP {
        let Some(ports) = read::<[u8; 4]>(l4, 0) else {
            return false;
        };
        flow.sport = u16::from_be_bytes([ports[0], ports[1]]);
        flow.dport = u16::from_be_bytes([ports[2], ports[3]]);
    }
    true
}
