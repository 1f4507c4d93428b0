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

#[cfg(feature = "ebpf")]
mod ebpf;
mod matcher;
#[cfg(feature = "user")]
mod parse;

pub use matcher::matches;
#[cfg(feature = "user")]
pub use parse::{RuleError, RuleSet, dscp_name, parse_dscp};

/// Most rules a rule map holds.
pub const MAX_RULES: u32 = 64;

/// IP protocol numbers the rules know.
pub const PROTO_TCP: u8 = 6;
pub const PROTO_UDP: u8 = 17;
/// `dscp` value meaning "any".
pub const DSCP_ANY: u8 = 0xff;

/// An address as the matcher compares it: the 16 bytes in network order
/// (IPv4 in the first four), packed into two native words so that a prefix
/// compares in four operations.
pub type Addr = [u64; 2];

/// Packs address bytes into an [`Addr`].
#[inline(always)]
pub fn addr_from_bytes(b: &[u8; 16]) -> Addr {
    let mut lo = [0u8; 8];
    let mut hi = [0u8; 8];
    lo.copy_from_slice(&b[..8]);
    hi.copy_from_slice(&b[8..]);
    [u64::from_ne_bytes(lo), u64::from_ne_bytes(hi)]
}

/// The bytes of an [`Addr`].
pub fn addr_to_bytes(a: &Addr) -> [u8; 16] {
    let mut b = [0u8; 16];
    b[..8].copy_from_slice(&a[0].to_ne_bytes());
    b[8..].copy_from_slice(&a[1].to_ne_bytes());
    b
}

/// A flow's identity as the matcher sees it.
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
    pub src: Addr,
    pub dst: Addr,
}

impl FlowKey {
    /// Takes family, DSCP, protocol and addresses from an IPv4 header
    /// (options not needed); ports stay as they are.
    #[inline(always)]
    pub fn set_ipv4(&mut self, h: &[u8; 20]) {
        self.family = 4;
        self.dscp = h[1] >> 2;
        self.proto = h[9];
        self.src = [u32::from_ne_bytes([h[12], h[13], h[14], h[15]]) as u64, 0];
        self.dst = [u32::from_ne_bytes([h[16], h[17], h[18], h[19]]) as u64, 0];
    }

    /// The same from an IPv6 fixed header; `proto` is its next header.
    #[inline(always)]
    pub fn set_ipv6(&mut self, h: &[u8; 40]) {
        self.family = 6;
        self.dscp = ((h[0] & 0x0f) << 2) | (h[1] >> 6);
        self.proto = h[6];
        self.src = [word(h, 8), word(h, 16)];
        self.dst = [word(h, 24), word(h, 32)];
    }
}

/// Eight bytes of `h` at `at` as a native word, as [`Addr`] packs them.
#[inline(always)]
fn word(h: &[u8; 40], at: usize) -> u64 {
    u64::from_ne_bytes([
        h[at],
        h[at + 1],
        h[at + 2],
        h[at + 3],
        h[at + 4],
        h[at + 5],
        h[at + 6],
        h[at + 7],
    ])
}

/// An address prefix; `len == 0` matches every address.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Prefix {
    /// The address, already masked.
    pub addr: Addr,
    /// `len` leading one bits: the matcher compares under it without
    /// branching per byte, which keeps the eBPF verifier's work small.
    pub mask: Addr,
    /// 4 or 6; 0 when `len` is 0.
    pub family: u8,
    pub len: u8,
    pub _pad: [u8; 6],
}

impl Prefix {
    /// The prefix of `len` bits of `addr` (IPv4 in the first four bytes).
    pub fn new(addr: [u8; 16], family: u8, len: u8) -> Self {
        let mut mask = [0u8; 16];
        for (i, m) in mask.iter_mut().enumerate() {
            let bits = (len as usize).saturating_sub(i * 8).min(8);
            *m = if bits == 0 { 0 } else { 0xff << (8 - bits) };
        }
        let mut masked = addr;
        for (a, m) in masked.iter_mut().zip(mask) {
            *a &= m;
        }
        Self {
            addr: addr_from_bytes(&masked),
            mask: addr_from_bytes(&mask),
            family,
            len,
            _pad: [0; 6],
        }
    }
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
