//! The overlay model and the datapath's plan on whatever rtnetlink could
//! report: random namespaces of devices with dangling, self-referencing and
//! cyclic masters and peers, duplicate ifindexes and inodes, malformed
//! MACs and addresses, impossible prefixes. Learning, planning and building
//! the maps' tables end (no panic, no endless walk) and only ever serve
//! devices that exist.

use std::net::{IpAddr, Ipv4Addr};

use prism_datapath::{
    tables::Tables,
    topology::{Scope, plan},
};
use prism_kernel::rtnl::{Link, Neighbour, Route, Vxlan};
use prism_overlay::{Facts, facts::NamespaceFacts, learn::learn};
use proptest::prelude::*;

const IFINDEXES: std::ops::Range<u32> = 1..10;
const INODES: [u32; 4] = [4026531840, 4026532001, 4026532002, 4026532003];

fn mac() -> impl Strategy<Value = Option<String>> {
    prop_oneof![
        4 => any::<[u8; 6]>().prop_map(|m| Some(
            m.iter().map(|b| format!("{b:02x}")).collect::<Vec<_>>().join(":")
        )),
        1 => Just(None),
        1 => "[0-9a-fx:]{0,20}".prop_map(Some),
    ]
}

fn address() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(vec![
            "192.168.100.1/24",
            "192.168.100.2/24",
            "10.42.0.1/24",
            "10.42.0.2/16",
            "fd00::1/64",
            "10.0.0.1",
            "10.0.0.1/33",
            "/24",
            "",
            "not an address",
        ])
        .prop_map(String::from),
        (any::<[u8; 4]>(), 0u8..40).prop_map(|(a, p)| format!("{}/{p}", Ipv4Addr::from(a))),
    ]
}

fn vxlan() -> impl Strategy<Value = Vxlan> {
    (
        prop_oneof![Just(42u32), Just(1u32), any::<u32>()],
        prop_oneof![Just(4789u16), Just(8472u16), any::<u16>()],
        prop::option::of(prop_oneof![
            Just(Ipv4Addr::new(192, 168, 100, 1)),
            any::<[u8; 4]>().prop_map(Ipv4Addr::from),
        ]),
        prop::option::of(IFINDEXES),
        any::<[bool; 6]>(),
    )
        .prop_map(|(vni, port, local, lower, b)| Vxlan {
            vni,
            port,
            local,
            lower,
            learning: b[0],
            proxy: b[1],
            l2miss: b[2],
            l3miss: b[3],
            external: b[4],
            ipv6: b[5],
        })
}

fn link() -> impl Strategy<Value = Link> {
    (
        prop::sample::select(vec![
            "eth0",
            "vxlan0",
            "br0",
            "veth-c1",
            "flannel.1",
            "cni0",
            "lo",
            "",
        ]),
        IFINDEXES,
        prop::sample::select(vec![
            None,
            Some("veth"),
            Some("vxlan"),
            Some("bridge"),
            Some("dummy"),
            Some("ipvlan"),
        ]),
        mac(),
        prop::option::of(prop_oneof![Just(1500u32), Just(1450u32), any::<u32>()]),
        prop::option::of(IFINDEXES),
        prop::option::of(IFINDEXES),
        prop::option::of(-1i32..4),
        any::<bool>(),
        prop::collection::vec(address(), 0..3),
        prop::option::of(vxlan()),
    )
        .prop_map(
            |(name, ifindex, kind, mac, mtu, master, link, link_netnsid, up, addresses, vx)| {
                let vxlan = if kind == Some("vxlan") { vx } else { None };
                Link {
                    name: name.into(),
                    ifindex,
                    kind: kind.map(String::from),
                    mac,
                    mtu,
                    master,
                    link,
                    link_netnsid,
                    up,
                    addresses,
                    vxlan,
                }
            },
        )
}

fn ip() -> impl Strategy<Value = Option<IpAddr>> {
    prop::option::of(prop_oneof![
        any::<[u8; 4]>().prop_map(IpAddr::from),
        Just(IpAddr::from([192, 168, 100, 1])),
        Just(IpAddr::from([10, 42, 1, 0])),
        any::<[u8; 16]>().prop_map(IpAddr::from),
    ])
}

fn neighbour() -> impl Strategy<Value = Neighbour> {
    (
        IFINDEXES,
        any::<[u8; 6]>(),
        ip(),
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(|(ifindex, mac, ip, permanent, master)| Neighbour {
            ifindex,
            mac,
            ip,
            permanent,
            master,
        })
}

fn route() -> impl Strategy<Value = Route> {
    (
        any::<[u8; 4]>(),
        0u8..=40,
        prop::option::of(any::<[u8; 4]>()),
        prop::option::of(IFINDEXES),
    )
        .prop_map(|(dst, prefix, gateway, oif)| Route {
            dst: dst.into(),
            prefix,
            gateway: gateway.map(Into::into),
            oif,
        })
}

fn namespace() -> impl Strategy<Value = NamespaceFacts> {
    (
        prop::sample::select(INODES.to_vec()),
        prop::collection::vec(link(), 0..8),
        prop::collection::vec(route(), 0..4),
        prop::collection::vec(neighbour(), 0..4),
        prop::collection::vec(neighbour(), 0..4),
        prop::collection::vec((-1i32..4, prop::sample::select(INODES.to_vec())), 0..4),
        prop::option::of(0u64..3),
    )
        .prop_map(
            |(inode, links, routes, neighbours, fdb, nsids, conntrack_entries)| NamespaceFacts {
                label: format!("ns{inode}"),
                inode,
                links,
                routes,
                neighbours,
                fdb,
                nsids,
                conntrack_entries,
                ..Default::default()
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 5000,
        failure_persistence: Some(Box::new(
            proptest::test_runner::FileFailurePersistence::WithSource("regressions"),
        )),
        ..ProptestConfig::default()
    })]

    #[test]
    fn any_facts_learn_plan_and_tabulate(
        namespaces in prop::collection::vec(namespace(), 0..4),
        bypass in any::<bool>(),
    ) {
        // One set of facts per namespace, as `gather` reads them.
        let mut namespaces = namespaces;
        namespaces.sort_by_key(|n| n.inode);
        namespaces.dedup_by_key(|n| n.inode);
        let facts = Facts { namespaces };
        let model = learn(&facts);
        let scope = Scope { allow_netfilter_bypass: bypass, ..Default::default() };
        let hosts = plan(&model, &scope, &[]);
        for host in &hosts.served {
            // Whatever is served is a device the facts have.
            let ns = facts
                .namespace(host.socket_netns_inode)
                .expect("the underlay's namespace");
            prop_assert!(ns.link(host.underlay.ifindex).is_some(), "{:?}", host);
            let vx = facts.namespace(host.netns_inode).expect("the VXLAN's namespace");
            prop_assert!(vx.link(host.vxlan.ifindex).is_some(), "{:?}", host);
            let _ = Tables::of(host);
        }
    }
}
