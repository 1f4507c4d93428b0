//! Property tests of the datapath's real receive and transmit programs,
//! through BPF_PROG_TEST_RUN: generated frames (VXLAN with random inner
//! IPv4/IPv6 TCP/UDP, options, fragments, VLAN tags, lengths) and byte-level
//! mutations of them (cuts, bit flips, wrong length fields, wrong
//! checksums) against a model of what the kernel's own path accepts.
//!
//! Properties, on host 2 of the lab (see `support::datapath`):
//! - a frame is redirected exactly when the model says the kernel would
//!   have decapsulated it, it is high priority and its container is here;
//! - a redirected frame is the inner frame byte for byte, except what the
//!   overlay rewrites (routed: MACs, TTL and the IPv4 checksum, which stays
//!   valid when it was); an encapsulated one carries valid outer headers;
//! - anything not redirected leaves the program unchanged;
//! - every run is counted once, and the fast-path counter equals the
//!   redirects.
//!
//! A failure shrinks to a minimal frame and proptest keeps its seed in
//! `datapath_props.regressions` beside this file, replayed first on every
//! later run. `PRISM_PROPTEST_CASES` sets the cases per property (default
//! in [`CASES`]).

mod support;

use std::cell::{Cell, RefCell};

use prism_datapath::{
    capabilities::helpers,
    object::{DatapathObject, RX_PROGRAM, TX_PROGRAM},
};
use prism_datapath_common::{RX, TX, mode, reason};
use prism_rules::{FlowKey, RuleSet};
use proptest::{
    prelude::*,
    sample::Index,
    test_runner::{Config, FileFailurePersistence, TestRunner},
};
use support::{datapath::*, packets::*};

/// Cases per property: 40 000 each for bridged receive and transmit, 20 000
/// for routed receive, 100 000 in all.
const CASES: [u32; 3] = [40_000, 40_000, 20_000];
const MTU: usize = 1500;

fn runner(default: u32) -> TestRunner {
    let cases = std::env::var("PRISM_PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default);
    TestRunner::new(Config {
        cases,
        source_file: Some(file!()),
        failure_persistence: Some(Box::new(FileFailurePersistence::WithSource("regressions"))),
        ..Config::default()
    })
}

/// An inner packet as a container sends it.
#[derive(Clone, Debug)]
struct Inner {
    ipv6: bool,
    tcp: bool,
    sport: u16,
    dport: u16,
    tos: u8,
    /// IPv4 flags and fragment offset.
    frag: u16,
    option_words: u8,
    vlan: bool,
    payload: Vec<u8>,
}

fn port() -> impl Strategy<Value = u16> {
    prop_oneof![
        3 => Just(HIGH_PORT),
        2 => Just(11211u16),
        1 => Just(53u16),
        4 => any::<u16>(),
    ]
}

fn frag() -> impl Strategy<Value = u16> {
    prop_oneof![
        6 => Just(0u16),
        2 => Just(0x4000u16), // DF
        1 => Just(0x2000u16), // MF
        1 => 1u16..0x1fff, // an offset
    ]
}

fn inner() -> impl Strategy<Value = Inner> {
    (
        any::<bool>(),
        any::<bool>(),
        port(),
        port(),
        any::<u8>(),
        frag(),
        prop_oneof![8 => Just(0u8), 1 => 1u8..=10],
        prop::bool::weighted(0.05),
        prop_oneof![
            4 => prop::collection::vec(any::<u8>(), 0..64),
            1 => prop::collection::vec(any::<u8>(), 0..1500),
        ],
    )
        .prop_map(
            |(ipv6, tcp, sport, dport, tos, frag, option_words, vlan, payload)| Inner {
                ipv6,
                tcp,
                sport,
                dport,
                tos,
                frag,
                option_words,
                vlan,
                payload,
            },
        )
}

/// The inner frame from `src` to `dst` (Ethernet), with `ttl`.
fn inner_frame(i: &Inner, dst: [u8; 6], src: [u8; 6], addrs: ([u8; 4], [u8; 4])) -> Vec<u8> {
    let proto = if i.tcp { 6 } else { 17 };
    let l4 = if i.tcp {
        tcp(i.sport, i.dport, &i.payload)
    } else {
        udp(i.sport, i.dport, &i.payload)
    };
    let (ethertype, mut ip) = if i.ipv6 {
        (ETH_P_IPV6, ipv6(v6(1), v6(2), proto, &l4))
    } else {
        let v = V4 {
            tos: i.tos,
            frag: i.frag,
            option_words: i.option_words,
        };
        (ETH_P_IP, ipv4(addrs.0, addrs.1, proto, &l4, v))
    };
    if i.ipv6 {
        ip[1] = i.tos; // traffic class bits, for DSCP rules
    }
    tagged(dst, src, ethertype, &ip, i.vlan)
}

/// An Ethernet frame, with an 802.1Q tag when `vlan`.
fn tagged(dst: [u8; 6], src: [u8; 6], ethertype: u16, payload: &[u8], vlan: bool) -> Vec<u8> {
    if !vlan {
        return eth(dst, src, ethertype, payload);
    }
    let mut tag = vec![0, 7];
    tag.extend(ethertype.to_be_bytes());
    tag.extend(payload);
    eth(dst, src, ETH_P_8021Q, &tag)
}

/// The outer headers the peer VTEP (or someone else) puts around it.
#[derive(Clone, Debug)]
struct Outer {
    for_us: bool,
    to_our_ip: bool,
    vni: u32,
    port: u16,
    udp_csum: u16,
    frag: u16,
    option_words: u8,
    vlan: bool,
    vxlan_flags: u8,
}

fn outer() -> impl Strategy<Value = Outer> {
    (
        prop::bool::weighted(0.95),
        prop::bool::weighted(0.95),
        prop_oneof![9 => Just(VNI), 1 => any::<u32>().prop_map(|v| v & 0xff_ffff)],
        prop_oneof![9 => Just(4789u16), 1 => any::<u16>()],
        prop_oneof![1 => Just(0u16), 1 => any::<u16>()],
        prop_oneof![8 => Just(0u16), 2 => frag()],
        prop_oneof![15 => Just(0u8), 1 => 1u8..=10],
        prop::bool::weighted(0.03),
        prop_oneof![15 => Just(0x08u8), 1 => any::<u8>()],
    )
        .prop_map(
            |(for_us, to_our_ip, vni, port, udp_csum, frag, option_words, vlan, vxlan_flags)| {
                Outer {
                    for_us,
                    to_our_ip,
                    vni,
                    port,
                    udp_csum,
                    frag,
                    option_words,
                    vlan,
                    vxlan_flags,
                }
            },
        )
}

fn encapsulate(inner: &[u8], o: &Outer) -> Vec<u8> {
    let mut vx = vxlan(o.vni, inner);
    vx[0] = o.vxlan_flags;
    let mut u = udp(51000, o.port, &vx);
    u[6..8].copy_from_slice(&o.udp_csum.to_be_bytes());
    let dst_ip = if o.to_our_ip {
        LOCAL_VTEP
    } else {
        [192, 168, 100, 7]
    };
    let v = V4 {
        tos: 0,
        frag: o.frag,
        option_words: o.option_words,
    };
    let ip = ipv4(REMOTE_VTEP, dst_ip, 17, &u, v);
    let dst_mac = if o.for_us {
        UNDERLAY_MAC
    } else {
        [2, 0, 0, 0, 0, 7]
    };
    tagged(dst_mac, PEER_UNDERLAY_MAC, ETH_P_IP, &ip, o.vlan)
}

/// Damage done to a frame after it was built.
#[derive(Clone, Debug)]
enum Mutation {
    None,
    /// Cut to this share of its length.
    Cut(Index),
    FlipBit(Index, u8),
    /// A 16-bit field overwritten: the outer or inner IP length, the UDP
    /// length, a checksum, or anywhere.
    Field(Index, u16),
    /// Bytes appended after the packet.
    Trailer(Vec<u8>),
}

/// Offsets of the 16-bit fields worth damaging in an encapsulated frame.
const FIELDS: [usize; 7] = [16, 24, 38, 40, 50 + 16, 50 + 24, 12];

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        6 => Just(Mutation::None),
        1 => any::<Index>().prop_map(Mutation::Cut),
        2 => (any::<Index>(), 0u8..8).prop_map(|(i, b)| Mutation::FlipBit(i, b)),
        2 => (any::<Index>(), any::<u16>()).prop_map(|(i, v)| Mutation::Field(i, v)),
        1 => prop::collection::vec(any::<u8>(), 1..8).prop_map(Mutation::Trailer),
    ]
}

/// `f` damaged by `m`, unless the kernel would refuse to test-run the
/// result (an IPv4 or IPv6 frame shorter than its IP header): then `f`.
fn mutate(f: Vec<u8>, m: &Mutation, fields: &[usize]) -> Vec<u8> {
    let damaged = damage(f.clone(), m, fields);
    let runnable = match be16(&damaged, 12) {
        ETH_P_IP => damaged.len() >= 34,
        ETH_P_IPV6 => damaged.len() >= 54,
        _ => true,
    };
    if runnable { damaged } else { f }
}

fn damage(mut f: Vec<u8>, m: &Mutation, fields: &[usize]) -> Vec<u8> {
    match m {
        Mutation::None => {}
        Mutation::Cut(i) => f.truncate(14 + i.index(f.len() - 13)),
        Mutation::FlipBit(i, bit) => {
            let at = i.index(f.len());
            f[at] ^= 1 << bit;
        }
        Mutation::Field(i, value) => {
            // Half the time a field that matters, else anywhere.
            let at = if i.index(2) == 0 {
                fields[i.index(fields.len())]
            } else {
                i.index(f.len())
            };
            if at + 2 <= f.len() {
                f[at..at + 2].copy_from_slice(&value.to_be_bytes());
            }
        }
        Mutation::Trailer(bytes) => f.extend(bytes),
    }
    f
}

fn be16(f: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([f[at], f[at + 1]])
}

/// The flow the rules see in the frame at the start of `f`, if its IP and
/// port headers are all there and make sense; the IPv4 header's offset.
fn flow_of(f: &[u8]) -> Option<(FlowKey, bool)> {
    if f.len() < 14 {
        return None;
    }
    let mut flow = FlowKey::default();
    let (l4, ipv6) = match be16(f, 12) {
        ETH_P_IP => {
            let h: &[u8; 20] = f.get(14..34)?.try_into().unwrap();
            if h[0] >> 4 != 4 || h[0] & 0x0f < 5 || be16(h, 6) & 0x3fff != 0 {
                return None;
            }
            flow.set_ipv4(h);
            (14 + (h[0] & 0x0f) as usize * 4, false)
        }
        ETH_P_IPV6 => {
            let h: &[u8; 40] = f.get(14..54)?.try_into().unwrap();
            if h[0] >> 4 != 6 || (h[6] != 6 && h[6] != 17) {
                return None;
            }
            flow.set_ipv6(h);
            (54, true)
        }
        _ => return None,
    };
    if flow.proto == 6 || flow.proto == 17 {
        let ports = f.get(l4..l4 + 4)?;
        flow.sport = be16(ports, 0);
        flow.dport = be16(ports, 2);
    }
    Some((flow, ipv6))
}

/// The inner frame of `f` if the kernel would decapsulate it on host 2's
/// underlay: for this host's MAC and VTEP address, IPv4 without options or
/// fragmentation, lengths that agree with the frame, a valid header
/// checksum, UDP to the VXLAN port, the plain VXLAN flags and this VNI.
fn decapsulated(f: &[u8]) -> Option<&[u8]> {
    if f.len() < 64 || f[..6] != UNDERLAY_MAC || be16(f, 12) != ETH_P_IP {
        return None;
    }
    let ip = &f[14..34];
    let ours =
        ip[0] == 0x45 && ip[9] == 17 && be16(ip, 6) & 0x3fff == 0 && ip[16..20] == LOCAL_VTEP;
    let whole = be16(f, 16) as usize + 14 == f.len()
        && be16(f, 38) as usize + 20 == be16(f, 16) as usize
        && checksum(ip) == 0;
    let vxlan = be16(f, 36) == 4789
        && f[42..46] == [0x08, 0, 0, 0]
        && f[49] == 0
        && u32::from_be_bytes([0, f[46], f[47], f[48]]) == VNI;
    (ours && whole && vxlan).then(|| &f[50..])
}

/// The model of bridged receive: the frame the container gets, if any.
fn bridged_receive(f: &[u8], rules: &RuleSet, decap_l3: bool) -> Option<Vec<u8>> {
    let inner = decapsulated(f)?;
    let (flow, ipv6) = flow_of(inner)?;
    let fast = inner[..6] == LOCAL_CONTAINER && rules.is_high(&flow) && (decap_l3 || !ipv6);
    fast.then(|| inner.to_vec())
}

/// The model of routed receive: the forwarded frame, if any (its IPv4
/// checksum is checked apart: see [`routed_matches`]).
fn routed_receive(f: &[u8], rules: &RuleSet) -> Option<Vec<u8>> {
    let inner = decapsulated(f)?;
    let (flow, ipv6) = flow_of(inner)?;
    let fast = !ipv6
        && inner[..6] == VXLAN_MAC
        && rules.is_high(&flow)
        && inner[30..34] == C_LOCAL
        && inner[22] > 1;
    fast.then(|| {
        let mut out = inner.to_vec();
        out[..6].copy_from_slice(&LOCAL_CONTAINER);
        out[6..12].copy_from_slice(&GATEWAY_MAC);
        out[22] -= 1;
        out
    })
}

/// Forwarded as the model says, the IPv4 checksum aside, which must be
/// valid exactly when it was.
fn routed_matches(out: &[u8], want: &[u8], sent_valid: bool) -> Result<(), String> {
    let strip = |f: &[u8]| [&f[..24], &f[26..]].concat();
    if out.len() != want.len() || strip(out) != strip(want) {
        return Err(format!("forwarded as\n{out:02x?}\nnot\n{want:02x?}"));
    }
    let valid = checksum(&out[14..14 + (out[14] & 0x0f) as usize * 4]) == 0;
    if valid != sent_valid {
        return Err(format!(
            "IPv4 checksum valid: {valid}, sent valid: {sent_valid}"
        ));
    }
    Ok(())
}

/// Runs, counting runs and expected redirects, and checks the verdict and
/// the bytes against `expected` (None: left unchanged).
/// (Interior mutability: proptest's runner takes an `Fn`.)
struct Checked<'a> {
    dp: RefCell<&'a mut DatapathObject>,
    program: &'static str,
    runs: Cell<u64>,
    redirects: Cell<u64>,
    /// Runs on a mutated frame.
    damaged: Cell<u64>,
}

impl Checked<'_> {
    fn run(&self, frame: &[u8], m: &Mutation, redirect: bool) -> Result<Vec<u8>, TestCaseError> {
        let (verdict, out) = run(&mut self.dp.borrow_mut(), self.program, frame, 0);
        self.runs.set(self.runs.get() + 1);
        if !matches!(m, Mutation::None) {
            self.damaged.set(self.damaged.get() + 1);
        }
        if redirect {
            self.redirects.set(self.redirects.get() + 1);
            prop_assert_eq!(verdict, TC_ACT_REDIRECT, "not redirected: {:02x?}", frame);
        } else {
            prop_assert_eq!(verdict, TC_ACT_UNSPEC, "redirected: {:02x?}", frame);
            prop_assert_eq!(&out[..], frame, "changed but not redirected");
        }
        Ok(out)
    }

    /// Every run counted once in `direction`, the redirects as fast.
    fn counters_add_up(&self, direction: u32) {
        let c = self.dp.borrow().counters().unwrap();
        let total: u64 = (0..reason::COUNT)
            .flat_map(|r| [c.get(direction, r, false), c.get(direction, r, true)])
            .sum();
        assert_eq!(total, self.runs.get(), "counted {:?}", c.nonzero());
        assert_eq!(
            c.get(direction, reason::FAST, true),
            self.redirects.get(),
            "fast"
        );
        assert!(self.redirects.get() > 0, "no case was redirected");
        eprintln!(
            "{}: {} runs, {} on damaged frames, {} redirected, every one checked",
            self.program,
            self.runs.get(),
            self.damaged.get(),
            self.redirects.get()
        );
    }
}

fn checked<'a>(dp: &'a mut DatapathObject, program: &'static str) -> Checked<'a> {
    Checked {
        dp: RefCell::new(dp),
        program,
        runs: Cell::new(0),
        redirects: Cell::new(0),
        damaged: Cell::new(0),
    }
}

fn rules() -> RuleSet {
    RuleSet::parse(&["udp port 7777", "tcp dport 11211"]).unwrap()
}

#[test]
fn bridged_receive_redirects_exactly_what_the_kernel_would_deliver_unchanged() {
    let mut dp = datapath(mode::SYNC);
    let (rules, decap_l3) = (rules(), helpers().unwrap().decap_l3 != 0);
    let c = checked(&mut dp, RX_PROGRAM);
    let dst = prop_oneof![4 => Just(LOCAL_CONTAINER), 1 => Just(UNKNOWN_CONTAINER)];
    let strategy = (inner(), dst, outer(), mutation());
    runner(CASES[0])
        .run(&strategy, |(i, dst, o, m)| {
            let inner = inner_frame(&i, dst, REMOTE_CONTAINER, (C_REMOTE, C_LOCAL));
            let frame = mutate(encapsulate(&inner, &o), &m, &FIELDS);
            let want = bridged_receive(&frame, &rules, decap_l3);
            let out = c.run(&frame, &m, want.is_some())?;
            if let Some(want) = want {
                prop_assert_eq!(out, want, "not the inner frame");
            }
            Ok(())
        })
        .unwrap();
    c.counters_add_up(RX);
}

#[test]
fn routed_receive_forwards_exactly_what_the_kernel_would_with_a_valid_checksum() {
    let mut dp = routed_datapath();
    let rules = rules();
    let c = checked(&mut dp, RX_PROGRAM);
    let dst = prop_oneof![4 => Just(C_LOCAL), 1 => Just([10, 42, 0, 99])];
    let ttl = prop_oneof![6 => Just(64u8), 1 => 0u8..=2];
    let strategy = (inner(), dst, ttl, outer(), mutation());
    runner(CASES[2])
        .run(&strategy, |(i, dst, ttl, o, m)| {
            let mut inner = inner_frame(&i, VXLAN_MAC, REMOTE_VXLAN_MAC, (REMOTE_POD, dst));
            if be16(&inner, 12) == ETH_P_IP {
                inner[22] = ttl;
                let ihl = (inner[14] & 0x0f) as usize * 4;
                inner[24..26].copy_from_slice(&[0, 0]);
                let sum = checksum(&inner[14..14 + ihl]);
                inner[24..26].copy_from_slice(&sum.to_be_bytes());
            }
            let frame = mutate(encapsulate(&inner, &o), &m, &FIELDS);
            let want = routed_receive(&frame, &rules);
            let out = c.run(&frame, &m, want.is_some())?;
            if let Some(want) = want {
                let sent = &frame[50..];
                let valid = checksum(&sent[14..14 + (sent[14] & 0x0f) as usize * 4]) == 0;
                routed_matches(&out, &want, valid).map_err(TestCaseError::fail)?;
            }
            Ok(())
        })
        .unwrap();
    c.counters_add_up(RX);
}

#[test]
fn transmit_encapsulates_exactly_the_high_frames_to_known_remotes() {
    let mut dp = datapath(mode::SYNC);
    let rules = rules();
    let c = checked(&mut dp, TX_PROGRAM);
    let dst = prop_oneof![4 => Just(REMOTE_CONTAINER), 1 => Just(UNKNOWN_CONTAINER)];
    let strategy = (inner(), dst, mutation());
    // From the container: its frame's own IP and length fields.
    let fields = [16, 24, 12, 14 + 20 + 4, 14 + 20 + 16];
    runner(CASES[1])
        .run(&strategy, |(i, dst, m)| {
            let sent = inner_frame(&i, dst, LOCAL_CONTAINER, (C_LOCAL, C_REMOTE));
            let frame = mutate(sent, &m, &fields);
            let fast = frame[..6] == REMOTE_CONTAINER
                && flow_of(&frame).is_some_and(|(flow, _)| rules.is_high(&flow))
                && frame.len() + 36 <= MTU;
            let out = c.run(&frame, &m, fast)?;
            if fast {
                check_encapsulated(&out, &frame).map_err(TestCaseError::fail)?;
            }
            Ok(())
        })
        .unwrap();
    c.counters_add_up(TX);
}
