//! The lab's host 2 as the datapath's programs see it, for running them
//! on crafted packets through BPF_PROG_TEST_RUN: its tunnel, containers
//! and rules, the frames they exchange, and one call to run a program.

use aya::programs::{SchedClassifier, TestRun, TestRunOptions};
use prism_datapath::object::DatapathObject;
use prism_datapath::tables::Tables;
use prism_datapath_common::{
    Config, DSCP_KEEP, Local, LocalIp, Remote, RemoteNet, Tunnel, kind, mode,
};
use prism_rules::RuleSet;

use super::packets::*;

/// tcx's "next": the packet goes on to the following programs unchanged.
pub const TC_ACT_UNSPEC: u32 = -1i32 as u32;
pub const TC_ACT_REDIRECT: u32 = 7;

pub const UNDERLAY_IFINDEX: u32 = 2;
pub const HOST_VETH_IFINDEX: u32 = 5;
pub const VXLAN_IFINDEX: u32 = 3;
pub const VXLAN_MAC: [u8; 6] = [0x5e, 0, 0x0f, 0, 0, 2];
pub const VNI: u32 = 42;
pub const LOCAL_VTEP: [u8; 4] = [192, 168, 100, 2];
pub const REMOTE_VTEP: [u8; 4] = [192, 168, 100, 1];
pub const UNDERLAY_MAC: [u8; 6] = [2, 0, 192, 168, 100, 2];
pub const PEER_UNDERLAY_MAC: [u8; 6] = [2, 0, 192, 168, 100, 1];
pub const LOCAL_CONTAINER: [u8; 6] = [2, 0x42, 10, 42, 0, 2];
pub const REMOTE_CONTAINER: [u8; 6] = [2, 0x42, 10, 42, 0, 1];
pub const UNKNOWN_CONTAINER: [u8; 6] = [2, 0x42, 10, 42, 0, 9];
pub const C_LOCAL: [u8; 4] = [10, 42, 0, 2];
pub const C_REMOTE: [u8; 4] = [10, 42, 0, 1];
pub const HIGH_PORT: u16 = 7777;

pub fn v6(last: u8) -> [u8; 16] {
    let mut a = [0u8; 16];
    a[0] = 0xfd;
    a[15] = last;
    a
}

/// Host 2's end of the tunnel.
pub fn tunnel(kind: u8) -> Tunnel {
    Tunnel {
        underlay_ifindex: UNDERLAY_IFINDEX,
        local_ip: LOCAL_VTEP,
        vni: VNI,
        underlay_mtu: 1500,
        src_mac: UNDERLAY_MAC,
        port: 4789,
        vxlan_ifindex: VXLAN_IFINDEX,
        vxlan_mac: VXLAN_MAC,
        kind,
        _pad: 0,
    }
}

/// A datapath as on host 2 of the lab: rules "udp port 7777" and
/// "tcp dport 11211", sync mode.
pub fn datapath(modes: u32) -> DatapathObject {
    datapath_with(modes, DSCP_KEEP)
}

/// The same, with mark mode's DSCP.
pub fn datapath_with(modes: u32, dscp: u8) -> DatapathObject {
    super::require_root();
    let mut dp = DatapathObject::load(None).expect("load the datapath");
    dp.set_config(Config {
        modes,
        priority: 6,
        nic_high_queue: 3,
        nic_low_queue: 1,
        dscp,
        _pad: [0; 3],
    })
    .unwrap();
    let remote = Remote {
        vtep_ip: REMOTE_VTEP,
        next_hop_mac: PEER_UNDERLAY_MAC,
        _pad: [0; 6],
    };
    dp.set_tables(&Tables {
        tunnel: tunnel(kind::BRIDGED),
        locals: vec![(
            LOCAL_CONTAINER,
            Local {
                host_veth_ifindex: HOST_VETH_IFINDEX,
            },
        )],
        remotes: vec![(REMOTE_CONTAINER, remote)],
        ..Default::default()
    })
    .unwrap();
    dp.set_rules(&RuleSet::parse(&["udp port 7777", "tcp dport 11211"]).unwrap())
        .unwrap();
    dp
}

/// Runs `name` on `frame` (with an optional gso_size) and returns the
/// verdict and the frame as the program left it.
pub fn run(dp: &mut DatapathObject, name: &str, frame: &[u8], gso_size: u32) -> (u32, Vec<u8>) {
    let p: &mut SchedClassifier = dp.program(name).unwrap();
    let mut out = vec![0u8; frame.len() + 128];
    // struct __sk_buff: gso_size is at byte 176 (see aya-ebpf-bindings);
    // only set when asked, so the default context is used otherwise.
    let mut ctx = [0u8; 192];
    ctx[176..180].copy_from_slice(&gso_size.to_ne_bytes());
    let mut ctx_out = [0u8; 192];
    let opts = TestRunOptions {
        data_in: Some(frame),
        data_out: Some(&mut out),
        ctx_in: (gso_size != 0).then_some(&ctx[..]),
        ctx_out: (gso_size != 0).then_some(&mut ctx_out[..]),
        ..Default::default()
    };
    let r = p
        .test_run(opts)
        .unwrap_or_else(|e| panic!("test run of {name} on {} bytes: {e:?}", frame.len()));
    out.truncate(r.data_size_out as usize);
    (r.return_value, out)
}

/// An inner frame from the remote container to the local one.
pub fn inner_v4_udp(dport: u16, payload: &[u8]) -> Vec<u8> {
    let l4 = udp(40000, dport, payload);
    eth(
        LOCAL_CONTAINER,
        REMOTE_CONTAINER,
        ETH_P_IP,
        &ipv4(C_REMOTE, C_LOCAL, 17, &l4, V4::default()),
    )
}

pub fn inner_v6_tcp(dport: u16) -> Vec<u8> {
    let l4 = tcp(40000, dport, b"get key\r\n");
    eth(
        LOCAL_CONTAINER,
        REMOTE_CONTAINER,
        ETH_P_IPV6,
        &ipv6(v6(1), v6(2), 6, &l4),
    )
}

/// `inner` as the peer VTEP sends it over the underlay.
pub fn encapsulated(inner: &[u8], outer: V4) -> Vec<u8> {
    let vx = vxlan(VNI, inner);
    let ip = ipv4(REMOTE_VTEP, LOCAL_VTEP, 17, &udp(51000, 4789, &vx), outer);
    eth(UNDERLAY_MAC, PEER_UNDERLAY_MAC, ETH_P_IP, &ip)
}

/// A frame from the local container to the remote one, as the host veth
/// receives it.
pub fn from_container_v4_udp(sport: u16, payload: &[u8]) -> Vec<u8> {
    let l4 = udp(sport, 40000, payload);
    eth(
        REMOTE_CONTAINER,
        LOCAL_CONTAINER,
        ETH_P_IP,
        &ipv4(C_LOCAL, C_REMOTE, 17, &l4, V4::default()),
    )
}

/// This node's VXLAN device (routed overlays: the inner destination on
/// receive) and the remote node's, and the gateway a routed pod sends to.
pub const REMOTE_VXLAN_MAC: [u8; 6] = [0x5e, 0, 0x0f, 0, 0, 1];
pub const GATEWAY_MAC: [u8; 6] = [0xee; 6];
pub const REMOTE_POD: [u8; 4] = [10, 42, 1, 5];

/// A routed host (Flannel or Calico): one pod here by IP, one remote prefix.
pub fn routed_datapath() -> DatapathObject {
    let mut dp = datapath(mode::SYNC);
    dp.set_tables(&Tables {
        tunnel: tunnel(kind::ROUTED),
        local_ips: vec![(
            C_LOCAL.into(),
            LocalIp {
                host_veth_ifindex: HOST_VETH_IFINDEX,
                mac: LOCAL_CONTAINER,
                gateway_mac: GATEWAY_MAC,
            },
        )],
        remote_nets: vec![(
            ([10, 42, 1, 0].into(), 24),
            RemoteNet {
                vtep_ip: REMOTE_VTEP,
                next_hop_mac: PEER_UNDERLAY_MAC,
                vtep_mac: REMOTE_VXLAN_MAC,
            },
        )],
        ..Default::default()
    })
    .unwrap();
    dp
}

/// Whether `out` is `inner` as the transmit program must send it to the
/// remote container's VTEP: the outer Ethernet, IPv4 (valid checksum), UDP
/// and VXLAN headers host 2 puts in front, then the frame unchanged.
pub fn check_encapsulated(out: &[u8], inner: &[u8]) -> Result<(), String> {
    let be16 = |at: usize| u16::from_be_bytes([out[at], out[at + 1]]) as usize;
    let fail = |what: &str| Err(format!("{what}: {out:02x?}"));
    if out.len() != inner.len() + 50 || out[50..] != *inner {
        return fail("the inner frame does not follow the outer headers unchanged");
    }
    if out[0..6] != PEER_UNDERLAY_MAC || out[6..12] != UNDERLAY_MAC || be16(12) != ETH_P_IP as usize
    {
        return fail("outer Ethernet: not from this host to the next hop");
    }
    let ip = &out[14..34];
    if ip[0] != 0x45 || be16(16) != inner.len() + 36 || ip[9] != 17 || checksum(ip) != 0 {
        return fail("outer IPv4: version, length, protocol or checksum");
    }
    if ip[12..16] != LOCAL_VTEP || ip[16..20] != REMOTE_VTEP {
        return fail("outer IPv4: not from this VTEP to the remote one");
    }
    if be16(34) < 49152 || be16(36) != 4789 || be16(38) != inner.len() + 16 {
        return fail("outer UDP: ports or length");
    }
    if out[42..50] != [0x08, 0, 0, 0, 0, 0, VNI as u8, 0] {
        return fail("VXLAN header");
    }
    Ok(())
}
