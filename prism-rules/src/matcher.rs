//! The matcher, written for the eBPF verifier as much as for people: fixed
//! loop bounds, no recursion, no allocation.

use crate::{Addr, DSCP_ANY, FlowKey, PortRange, Prefix, Rule};

/// Does `rule` match `flow`? Every check returns early on failure: the
/// eBPF verifier then follows one path per check, instead of one per
/// combination of intermediate booleans (BPF has no conditional moves).
#[inline(always)]
pub fn matches(rule: &Rule, flow: &FlowKey) -> bool {
    if rule.proto != 0 && rule.proto != flow.proto {
        return false;
    }
    if rule.dscp != DSCP_ANY && rule.dscp != flow.dscp {
        return false;
    }
    if !in_range(&rule.sport, flow.sport) || !in_range(&rule.dport, flow.dport) {
        return false;
    }
    if !rule.either_port.is_any()
        && !in_range(&rule.either_port, flow.sport)
        && !in_range(&rule.either_port, flow.dport)
    {
        return false;
    }
    if !in_prefix(&rule.src, flow.family, &flow.src)
        || !in_prefix(&rule.dst, flow.family, &flow.dst)
    {
        return false;
    }
    rule.either_addr.len == 0
        || in_prefix(&rule.either_addr, flow.family, &flow.src)
        || in_prefix(&rule.either_addr, flow.family, &flow.dst)
}

#[inline(always)]
fn in_range(r: &PortRange, port: u16) -> bool {
    r.is_any() || (r.lo <= port && port <= r.hi)
}

/// Two masked word compares: no per-byte loop for the verifier to walk.
#[inline(always)]
fn in_prefix(p: &Prefix, family: u8, addr: &Addr) -> bool {
    if p.len == 0 {
        return true;
    }
    p.family == family
        && (addr[0] ^ p.addr[0]) & p.mask[0] == 0
        && (addr[1] ^ p.addr[1]) & p.mask[1] == 0
}
