//! Parsing a packet's IP and TCP/UDP headers into the flow the rules match,
//! through `bpf_skb_load_bytes` (works on nonlinear skbs too).

use aya_ebpf::programs::TcContext;
use prism_datapath_common::reason;
use prism_rules::{FlowKey, PROTO_TCP, PROTO_UDP};

use crate::maps::{RULE_FLOW, rule_flow_is_high};

pub const ETH_LEN: usize = 14;
pub const ETH_P_IP: u16 = 0x0800;
pub const ETH_P_IPV6: u16 = 0x86dd;

/// Why a packet's flow could not be read.
pub enum Unreadable {
    NonIp,
    Fragment,
    Truncated,
    /// An IP header whose version or length field is impossible.
    Malformed,
}

impl Unreadable {
    /// The counter it is passed on under (class unknown: counted low).
    #[inline(always)]
    pub fn reason(self) -> (u32, bool) {
        let why = match self {
            Self::NonIp => reason::NON_IP,
            Self::Fragment => reason::FRAGMENT,
            Self::Truncated => reason::TRUNCATED,
            Self::Malformed => reason::MALFORMED,
        };
        (why, false)
    }
}

/// The Ethernet header and flow of a high-priority frame at the start of
/// the packet, or why it keeps the normal path.
#[inline(always)]
pub fn high_priority_frame(ctx: &TcContext) -> Result<([u8; ETH_LEN], Flow), (u32, bool)> {
    let eth: [u8; ETH_LEN] = ctx.load(0).map_err(|_| (reason::TRUNCATED, false))?;
    let flow = classify(ctx, ethertype(&eth), ETH_LEN).map_err(Unreadable::reason)?;
    if !flow.high {
        return Err((reason::LOW, false));
    }
    Ok((eth, flow))
}

/// The IP version, protocol and class of the packet whose IP header is at
/// `ip` with EtherType `ethertype`.
pub struct Flow {
    pub ipv6: bool,
    pub proto: u8,
    pub high: bool,
    /// Where its TCP/UDP header starts in the packet.
    pub l4: usize,
}

/// Reads the flow at `ip` and matches the rules against it.
#[inline(always)]
pub fn classify(ctx: &TcContext, ethertype: u16, ip: usize) -> Result<Flow, Unreadable> {
    let flow = RULE_FLOW.get_ptr_mut(0).ok_or(Unreadable::Truncated)?;
    let flow = unsafe { &mut *flow };
    let ipv6 = ethertype == ETH_P_IPV6;
    let l4 = if ethertype == ETH_P_IP {
        let h: [u8; 20] = ctx.load(ip).map_err(|_| Unreadable::Truncated)?;
        // The ports are found by the header length: it must be one.
        if h[0] >> 4 != 4 || h[0] & 0x0f < 5 {
            return Err(Unreadable::Malformed);
        }
        if u16::from_be_bytes([h[6], h[7]]) & 0x3fff != 0 {
            return Err(Unreadable::Fragment);
        }
        flow.set_ipv4(&h);
        ip + ((h[0] & 0x0f) as usize) * 4
    } else if ipv6 {
        let h: [u8; 40] = ctx.load(ip).map_err(|_| Unreadable::Truncated)?;
        if h[0] >> 4 != 6 {
            return Err(Unreadable::Malformed);
        }
        flow.set_ipv6(&h);
        // Extension headers (a fragment header among them) are not
        // followed: such packets keep the normal path.
        if flow.proto != PROTO_TCP && flow.proto != PROTO_UDP {
            return Err(Unreadable::NonIp);
        }
        ip + 40
    } else {
        return Err(Unreadable::NonIp);
    };
    flow.sport = 0;
    flow.dport = 0;
    if flow.proto == PROTO_TCP || flow.proto == PROTO_UDP {
        let ports: [u8; 4] = ctx.load(l4).map_err(|_| Unreadable::Truncated)?;
        flow.sport = u16::from_be_bytes([ports[0], ports[1]]);
        flow.dport = u16::from_be_bytes([ports[2], ports[3]]);
    }
    Ok(Flow {
        ipv6,
        proto: flow.proto,
        high: rule_flow_is_high(),
        l4,
    })
}

#[inline(always)]
pub fn ethertype(eth: &[u8; ETH_LEN]) -> u16 {
    u16::from_be_bytes([eth[12], eth[13]])
}

/// The flow in `RULE_FLOW`, for the transmit side's source port hash.
#[inline(always)]
pub fn current() -> Option<&'static FlowKey> {
    RULE_FLOW.get(0)
}
