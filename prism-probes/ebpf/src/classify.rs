//! Flow classification at a journey's first hit: parse the packet from the
//! skb (through a VXLAN header if there is one) and match the rules.

use aya_ebpf::{helpers::bpf_probe_read_kernel_buf, macros::map, maps::PerCpuArray};
use prism_probes_common::{CLASS_HIGH, CLASS_LOW, ContainerKey, counter};
use prism_rules::FlowKey;

use crate::{
    kernel::{config, field, offsets, read},
    maps::{CONTAINER_IPS, RULE_FLOW, count, rule_flow_is_high},
};

/// The headers of the common case, copied with one helper call: outer
/// Ethernet, IPv4 without options, UDP, VXLAN, inner Ethernet, inner IPv6
/// and its ports (108 bytes). Each helper call costs tens of ns; parsing
/// field by field took eight.
const WINDOW: usize = 112;

/// Per-CPU scratch for the window (too big for the verifier's taste on
/// the stack of a subprogram, and fixed offsets into a map value verify on
/// every kernel).
#[map]
static HEADERS: PerCpuArray<[u8; WINDOW]> = PerCpuArray::with_max_entries(1, 0);

const ETH_LEN: usize = 14;
const ETH_P_IP: u16 = 0x0800;
const ETH_P_IPV6: u16 = 0x86dd;
const VXLAN_LEN: usize = 8;
const UDP_LEN: usize = 8;
const PROTO_UDP: u8 = 17;
const PROTO_TCP: u8 = 6;

/// The class of the packet in `skb` (low byte) and its container's slot
/// (next byte; 0: none or not asked for): on receive the container the
/// packet is to, on transmit the one it is from. Not inlined: as a BPF
/// subprogram it gets a stack frame of its own. (It cannot be a global
/// function, which the verifier would check only once: before 6.8 those
/// take no kernel pointers. The rule loop it calls is one.)
#[inline(never)]
pub fn class_of(skb: *const u8, receive: bool) -> u32 {
    let Some(flow) = RULE_FLOW.get_ptr_mut(0) else {
        return CLASS_LOW as u32;
    };
    let flow = unsafe { &mut *flow };
    if !parse_flow(skb, flow) {
        count(counter::UNPARSED);
        return CLASS_LOW as u32;
    }
    let class = if rule_flow_is_high() {
        CLASS_HIGH
    } else {
        CLASS_LOW
    };
    (class as u32) | (container_of(skb, flow, receive) as u32) << 8
}

/// The local container a flow is to (receive) or from (transmit), by its
/// address in the namespace of the device the packet is on: one lookup.
#[inline(always)]
fn container_of(skb: *const u8, flow: &FlowKey, receive: bool) -> u8 {
    if config().per_container == 0 {
        return 0;
    }
    let off = offsets();
    let dev: *const u8 = field(skb, off.skb_dev);
    if dev.is_null() {
        return 0;
    }
    let net: *const u8 = field(dev, off.netdev_net);
    let key = ContainerKey {
        netns_inum: field(net, off.net_inum),
        _pad: 0,
        addr: if receive { flow.dst } else { flow.src },
    };
    unsafe { CONTAINER_IPS.get(&key) }.copied().unwrap_or(0)
}

/// Fills `flow` with the packet's inner flow: through VXLAN when the outer
/// packet is UDP to the VXLAN port. `skb` is the hook's BTF-typed pointer,
/// so its fields are plain loads; the packet bytes it points to are not
/// typed, and are copied with helpers.
#[inline(always)]
fn parse_flow(skb: *const u8, flow: &mut FlowKey) -> bool {
    let off = offsets();
    let head: *const u8 = field(skb, off.skb_head);
    let mac: u16 = field(skb, off.skb_mac_header);
    if head.is_null() {
        return false;
    }
    if mac == 0xffff {
        return false;
    }
    let eth = head.wrapping_add(mac as usize);
    if let Some(parsed) = window_flow(eth, flow) {
        return parsed;
    }
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

/// The flow from one copy of the headers, when they are laid out as most
/// are (IPv4 without options, VXLAN over IPv4 with inner IPv4 or IPv6);
/// None sends anything else to the field-by-field parse.
#[inline(always)]
fn window_flow(eth: *const u8, flow: &mut FlowKey) -> Option<bool> {
    let buf = unsafe { &mut *HEADERS.get_ptr_mut(0)? };
    unsafe { bpf_probe_read_kernel_buf(eth, buf) }.ok()?;
    let at = |i: usize| buf[i];
    let be16 = |i: usize| u16::from_be_bytes([buf[i], buf[i + 1]]);
    let (ip, l4) = match be16(12) {
        ETH_P_IP if at(14) == 0x45 => (14, 34),
        _ => return None,
    };
    if !ipv4_window(buf, ip, l4, flow) {
        return Some(true); // a later fragment
    }
    if !(flow.proto == PROTO_UDP && is_vxlan_port(flow.dport)) {
        return Some(true);
    }
    // Inner Ethernet after UDP and VXLAN.
    let inner = l4 + UDP_LEN + VXLAN_LEN;
    let ip = inner + ETH_LEN;
    match be16(inner + 12) {
        ETH_P_IP if at(ip) == 0x45 => {
            ipv4_window(buf, ip, ip + 20, flow);
        }
        ETH_P_IPV6 => {
            flow.set_ipv6(window::<40>(buf, ip));
            ports(buf, ip + 40, flow);
        }
        ETH_P_IP => return None,
        _ => return Some(false),
    }
    Some(true)
}

/// An IPv4 header at `ip` and its ports at `l4`; false for a later
/// fragment (no ports).
#[inline(always)]
fn ipv4_window(buf: &[u8; WINDOW], ip: usize, l4: usize, flow: &mut FlowKey) -> bool {
    let h = window::<20>(buf, ip);
    flow.set_ipv4(h);
    flow.sport = 0;
    flow.dport = 0;
    if u16::from_be_bytes([h[6], h[7]]) & 0x1fff != 0 {
        return false;
    }
    ports(buf, l4, flow);
    true
}

#[inline(always)]
fn ports(buf: &[u8; WINDOW], l4: usize, flow: &mut FlowKey) {
    if flow.proto == PROTO_TCP || flow.proto == PROTO_UDP {
        let p = window::<4>(buf, l4);
        flow.sport = u16::from_be_bytes([p[0], p[1]]);
        flow.dport = u16::from_be_bytes([p[2], p[3]]);
    } else {
        flow.sport = 0;
        flow.dport = 0;
    }
}

/// `N` bytes of the window at a constant offset.
#[inline(always)]
fn window<const N: usize>(buf: &[u8; WINDOW], at: usize) -> &[u8; N] {
    buf[at..at + N].try_into().unwrap_or(&[0; N])
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
