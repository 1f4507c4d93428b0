//! The matcher, written for the eBPF verifier as much as for people: fixed
//! loop bounds, no recursion, no allocation.

use crate::{DSCP_ANY, FlowKey, PortRange, Prefix, Rule};

/// Does `rule` match `flow`?
#[inline(always)]
pub fn matches(rule: &Rule, flow: &FlowKey) -> bool {
    (rule.proto == 0 || rule.proto == flow.proto)
        && (rule.dscp == DSCP_ANY || rule.dscp == flow.dscp)
        && in_range(&rule.sport, flow.sport)
        && in_range(&rule.dport, flow.dport)
        && (rule.either_port.is_any()
            || in_range(&rule.either_port, flow.sport)
            || in_range(&rule.either_port, flow.dport))
        && in_prefix(&rule.src, flow.family, &flow.src)
        && in_prefix(&rule.dst, flow.family, &flow.dst)
        && (rule.either_addr.len == 0
            || in_prefix(&rule.either_addr, flow.family, &flow.src)
            || in_prefix(&rule.either_addr, flow.family, &flow.dst))
}

#[inline(always)]
fn in_range(r: &PortRange, port: u16) -> bool {
    r.is_any() || (r.lo <= port && port <= r.hi)
}

#[inline(always)]
fn in_prefix(p: &Prefix, family: u8, addr: &[u8; 16]) -> bool {
    if p.len == 0 {
        return true;
    }
    if p.family != family {
        return false;
    }
    let mut i = 0;
    while i < 16 {
        let bit = (i * 8) as u8;
        if bit >= p.len {
            break;
        }
        let left = p.len - bit;
        let mask: u8 = if left >= 8 { 0xff } else { 0xff << (8 - left) };
        if (addr[i] ^ p.addr[i]) & mask != 0 {
            return false;
        }
        i += 1;
    }
    true
}
