//! Prism's flow rules: which flows are high priority.
//!
//! One rule language, one in-memory layout and one matcher, shared by the
//! profilers and the datapath, in the kernel and in userspace, so that both
//! always agree on what "high" means. A flow is high priority when any rule
//! matches it.
//!
//! ```text
//! tcp dport 11211            requests to memcached
//! udp 10.0.0.0/8 port 53     DNS to or from 10/8, either direction
//! dscp ef                    expedited forwarding
//! src fd00::/64 tcp sport 443-444
//! ```
#![cfg_attr(not(feature = "user"), no_std)]

mod matcher;
#[cfg(feature = "user")]
mod parse;

pub use matcher::matches;
#[cfg(feature = "user")]
pub use parse::{RuleError, RuleSet};

/// Most rules a rule map holds.
pub const MAX_RULES: u32 = 64;

/// IP protocol numbers the rules know.
pub const PROTO_TCP: u8 = 6;
pub const PROTO_UDP: u8 = 17;
/// `dscp` value meaning "any".
pub const DSCP_ANY: u8 = 0xff;

/// A flow's identity as the matcher sees it. IPv4 addresses fill the first
/// four bytes of `src`/`dst`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct FlowKey {
    /// 4 or 6.
    pub family: u8,
    /// IP protocol (6 TCP, 17 UDP, ...).
    pub proto: u8,
    /// DSCP of the (inner) IP header: the top six bits of TOS / traffic class.
    pub dscp: u8,
    pub _pad: u8,
    pub sport: u16,
    pub dport: u16,
    pub src: [u8; 16],
    pub dst: [u8; 16],
}

/// An address prefix; `len == 0` matches every address.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Prefix {
    pub addr: [u8; 16],
    /// 4 or 6; 0 when `len` is 0.
    pub family: u8,
    pub len: u8,
}

/// An inclusive port range; `0..=0` (the default) matches every port.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct PortRange {
    pub lo: u16,
    pub hi: u16,
}

impl PortRange {
    pub const fn is_any(&self) -> bool {
        self.lo == 0 && self.hi == 0
    }
}

/// One rule. Every part that is set must match.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Rule {
    pub src: Prefix,
    pub dst: Prefix,
    /// Source or destination (`10.0.0.0/8` without `src`/`dst`).
    pub either_addr: Prefix,
    pub sport: PortRange,
    pub dport: PortRange,
    /// Source or destination port (`port N`).
    pub either_port: PortRange,
    /// 0: any protocol.
    pub proto: u8,
    /// [`DSCP_ANY`] or a DSCP value.
    pub dscp: u8,
    pub _pad: [u8; 2],
}

impl Default for Rule {
    fn default() -> Self {
        Self {
            src: Prefix::default(),
            dst: Prefix::default(),
            either_addr: Prefix::default(),
            sport: PortRange::default(),
            dport: PortRange::default(),
            either_port: PortRange::default(),
            proto: 0,
            dscp: DSCP_ANY,
            _pad: [0; 2],
        }
    }
}

#[cfg(feature = "user")]
mod pod {
    // SAFETY: plain repr(C) data; every bit pattern is valid.
    unsafe impl aya::Pod for super::Rule {}
    unsafe impl aya::Pod for super::FlowKey {}
}
