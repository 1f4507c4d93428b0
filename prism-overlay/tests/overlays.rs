//! The model learned from hand-written facts laid out as each real overlay
//! lays them out (`../shared/OVERLAYS.md`): Docker's split namespaces,
//! Flannel's routed `flannel.1` + `cni0`, Calico's `vxlan.calico` + `cali*`.

use std::net::{IpAddr, Ipv4Addr};

use prism_kernel::rtnl::{Link, Neighbour, Route, Vxlan};
use prism_overlay::{Facts, Reach, Role, UnderlayFrom, facts::NamespaceFacts, learn::learn};

fn ns(label: &str, inode: u32, links: Vec<Link>) -> NamespaceFacts {
    NamespaceFacts {
        label: label.into(),
        inode,
        links,
        ..Default::default()
    }
}

struct L(Link);

impl L {
    fn new(ifindex: u32, name: &str, kind: &str, mac: &str) -> Self {
        L(Link {
            name: name.into(),
            ifindex,
            kind: (!kind.is_empty()).then(|| kind.into()),
            mac: Some(mac.into()),
            mtu: Some(1450),
            up: true,
            ..Default::default()
        })
    }
    fn master(mut self, m: u32) -> Self {
        self.0.master = Some(m);
        self
    }
    fn peer(mut self, ifindex: u32, nsid: i32) -> Self {
        self.0.link = Some(ifindex);
        self.0.link_netnsid = Some(nsid);
        self
    }
    fn addr(mut self, a: &str) -> Self {
        self.0.addresses.push(a.into());
        self
    }
    fn vxlan(mut self, v: Vxlan) -> Self {
        self.0.vxlan = Some(v);
        self
    }
    fn netnsid(mut self, id: i32) -> Self {
        self.0.link_netnsid = Some(id);
        self
    }
}

fn ip(s: &str) -> Ipv4Addr {
    s.parse().unwrap()
}

fn mac(s: &str) -> [u8; 6] {
    prism_kernel::rtnl::parse_mac(s).unwrap()
}

fn route(dst: &str, prefix: u8, gw: Option<&str>, oif: u32) -> Route {
    Route {
        dst: ip(dst),
        prefix,
        gateway: gw.map(ip),
        oif: Some(oif),
    }
}

fn neigh(ifindex: u32, at: &str, m: &str) -> Neighbour {
    Neighbour {
        ifindex,
        mac: mac(m),
        ip: Some(IpAddr::V4(ip(at))),
        permanent: true,
        master: false,
    }
}

/// Docker swarm: eth0 in the node's namespace, `vxlan0` (no dev, no local,
/// learning proxy) with `br0` and `veth0` in the sandbox `1-<id>`, the
/// container's eth0 (overlay) and eth1 (docker_gwbridge).
fn docker() -> Facts {
    let mut host = ns(
        "root",
        100,
        vec![
            L::new(2, "eth0", "", "52:54:00:00:00:01")
                .addr("192.168.100.1/24")
                .0,
            L::new(3, "docker_gwbridge", "bridge", "02:42:ac:12:00:01")
                .addr("172.18.0.1/16")
                .0,
            L::new(4, "veth9a1b", "veth", "aa:00:00:00:00:04")
                .master(3)
                .peer(3, 1)
                .0,
        ],
    );
    host.routes = vec![
        route("0.0.0.0", 0, Some("192.168.100.254"), 2),
        route("192.168.100.0", 24, None, 2),
        route("172.18.0.0", 16, None, 3),
    ];
    host.neighbours = vec![neigh(2, "192.168.100.2", "52:54:00:00:00:02")];
    host.nsids = vec![(0, 200), (1, 300)];
    let mut sandbox = ns(
        "docker/1-abcdef0123",
        200,
        vec![
            L::new(2, "br0", "bridge", "02:42:0a:00:01:01")
                .addr("10.0.1.1/24")
                .0,
            L::new(5, "vxlan0", "vxlan", "02:42:0a:00:01:fe")
                .master(2)
                .netnsid(0)
                .vxlan(Vxlan {
                    vni: 4096,
                    port: 4789,
                    learning: true,
                    proxy: true,
                    l2miss: true,
                    l3miss: true,
                    ..Default::default()
                })
                .0,
            L::new(7, "veth0", "veth", "aa:00:00:00:00:07")
                .master(2)
                .peer(2, 1)
                .0,
        ],
    );
    sandbox.fdb = vec![Neighbour {
        ifindex: 5,
        mac: mac("02:42:0a:00:01:03"),
        ip: Some(IpAddr::V4(ip("192.168.100.2"))),
        permanent: true,
        master: false,
    }];
    sandbox.neighbours = vec![neigh(5, "10.0.1.3", "02:42:0a:00:01:03")];
    sandbox.nsids = vec![(0, 100), (1, 300)];
    let container = ns(
        "docker/3f2a1b0c9d8e",
        300,
        vec![
            L::new(2, "eth0", "veth", "02:42:0a:00:01:02")
                .addr("10.0.1.2/24")
                .peer(7, 0)
                .0,
            L::new(3, "eth1", "veth", "02:42:ac:12:00:02")
                .addr("172.18.0.2/16")
                .peer(4, 1)
                .0,
        ],
    );
    Facts {
        namespaces: vec![host, sandbox, container],
    }
}

#[test]
fn docker_split_namespaces() {
    let model = learn(&docker());
    assert_eq!(model.overlays.len(), 1);
    let o = &model.overlays[0];
    assert_eq!((o.vni, o.port, o.reach), (4096, 4789, Reach::Bridged));
    assert!(o.is_split(), "socket in the node, device in the sandbox");
    assert_eq!(o.socket_ns.label, "root");
    let u = o.underlay.as_ref().expect("underlay found without dev");
    assert_eq!((u.dev.name.as_str(), u.dev.ns.inode), ("eth0", 100));
    assert_eq!(u.found_by, UnderlayFrom::RouteToVtep);
    assert_eq!(u.local_ip, Some(ip("192.168.100.1")));
    assert_eq!(
        o.locals.len(),
        1,
        "eth1 (docker_gwbridge) is not on the overlay"
    );
    let c = &o.locals[0];
    assert_eq!((c.dev.name.as_str(), c.dev.ns.inode), ("eth0", 300));
    assert_eq!(
        (c.host_veth.name.as_str(), c.host_veth.ns.inode),
        ("veth0", 200)
    );
    assert_eq!(c.ips, [ip("10.0.1.2")]);
    assert_eq!(o.remotes.len(), 1);
    let r = &o.remotes[0];
    assert_eq!(
        (r.vtep, r.next_hop),
        (ip("192.168.100.2"), Some(ip("192.168.100.2")))
    );
    assert_eq!(r.next_hop_mac, Some(mac("52:54:00:00:00:02")));
    let roles: Vec<(u32, u32, Role)> = model
        .devices()
        .iter()
        .map(|d| (d.netns_inum, d.ifindex, d.role))
        .collect();
    assert_eq!(
        roles,
        [
            (100, 2, Role::Underlay),
            (200, 5, Role::Vxlan),
            (200, 2, Role::Bridge),
            (200, 7, Role::HostVeth),
            (300, 2, Role::Container),
        ]
    );
}

/// Flannel's vxlan backend: `flannel.1` (VNI 1, port 8472 by default,
/// `local`, `dev eth0`) routed, pods on `cni0`.
fn flannel() -> Facts {
    let mut node = ns(
        "root",
        100,
        vec![
            L::new(2, "eth0", "", "52:54:00:00:00:01")
                .addr("192.168.100.1/24")
                .0,
            L::new(3, "flannel.1", "vxlan", "5e:00:00:00:00:01")
                .addr("10.244.1.0/32")
                .vxlan(Vxlan {
                    vni: 1,
                    port: 8472,
                    local: Some(ip("192.168.100.1")),
                    lower: Some(2),
                    ..Default::default()
                })
                .0,
            L::new(4, "cni0", "bridge", "c2:00:00:00:00:01")
                .addr("10.244.1.1/24")
                .0,
            L::new(5, "veth1a2b3c4d", "veth", "aa:00:00:00:00:05")
                .master(4)
                .peer(2, 0)
                .0,
        ],
    );
    node.routes = vec![
        route("192.168.100.0", 24, None, 2),
        route("10.244.1.0", 24, None, 4),
        route("10.244.2.0", 24, Some("10.244.2.0"), 3),
    ];
    node.neighbours = vec![
        neigh(3, "10.244.2.0", "5e:00:00:00:00:02"),
        neigh(2, "192.168.100.2", "52:54:00:00:00:02"),
    ];
    node.fdb = vec![Neighbour {
        ifindex: 3,
        mac: mac("5e:00:00:00:00:02"),
        ip: Some(IpAddr::V4(ip("192.168.100.2"))),
        permanent: true,
        master: false,
    }];
    node.nsids = vec![(0, 400)];
    let pod = ns(
        "cni-1b2c3d4e-0000-1111-2222-333344445555",
        400,
        vec![
            L::new(2, "eth0", "veth", "0a:58:0a:f4:01:02")
                .addr("10.244.1.2/24")
                .peer(5, 0)
                .0,
        ],
    );
    Facts {
        namespaces: vec![node, pod],
    }
}

#[test]
fn flannel_routed_with_a_bridge() {
    let model = learn(&flannel());
    let o = &model.overlays[0];
    assert_eq!((o.vni, o.port, o.reach), (1, 8472, Reach::Routed));
    assert!(!o.is_split());
    assert_eq!(o.underlay.as_ref().unwrap().found_by, UnderlayFrom::Dev);
    let c = &o.locals[0];
    assert_eq!(c.ips, [ip("10.244.1.2")]);
    assert_eq!(c.bridge.as_ref().unwrap().name, "cni0");
    assert_eq!(c.gateway_mac, Some(mac("c2:00:00:00:00:01")), "cni0's MAC");
    let r = &o.remotes[0];
    assert_eq!(r.prefix, Some((ip("10.244.2.0"), 24)));
    assert_eq!(r.mac, mac("5e:00:00:00:00:02"), "the remote flannel.1");
    assert_eq!(r.vtep, ip("192.168.100.2"));
    assert_eq!(r.next_hop_mac, Some(mac("52:54:00:00:00:02")));
    let devices = model.devices();
    let roles: Vec<(&str, Role)> = devices.iter().map(|d| (d.name.as_str(), d.role)).collect();
    assert_eq!(
        roles,
        [
            ("eth0", Role::Underlay),
            ("flannel.1", Role::RoutedVxlan),
            ("cni0", Role::Bridge),
            ("veth1a2b3c4d", Role::HostVeth),
            ("eth0", Role::Container),
        ]
    );
    assert_eq!(model.ports(), [8472]);
}

/// Calico VXLAN: `vxlan.calico` routed, `cali*` veths with /32 routes and
/// no bridge; the remote VTEP behind a router.
fn calico() -> Facts {
    let mut node = ns(
        "root",
        100,
        vec![
            L::new(2, "eth0", "", "52:54:00:00:00:01")
                .addr("192.168.100.1/24")
                .0,
            L::new(3, "vxlan.calico", "vxlan", "66:00:00:00:00:01")
                .addr("10.65.1.0/32")
                .vxlan(Vxlan {
                    vni: 4096,
                    port: 4789,
                    local: Some(ip("192.168.100.1")),
                    lower: Some(2),
                    ..Default::default()
                })
                .0,
            L::new(4, "cali0123456789a", "veth", "ee:ee:ee:ee:ee:ee")
                .peer(2, 0)
                .0,
        ],
    );
    node.routes = vec![
        route("192.168.100.0", 24, None, 2),
        route("192.168.200.0", 24, Some("192.168.100.254"), 2),
        route("10.65.1.1", 32, None, 4),
        route("10.65.2.0", 26, Some("10.65.2.0"), 3),
    ];
    node.neighbours = vec![
        neigh(3, "10.65.2.0", "66:00:00:00:00:02"),
        neigh(2, "192.168.100.254", "52:54:00:00:00:fe"),
    ];
    node.fdb = vec![Neighbour {
        ifindex: 3,
        mac: mac("66:00:00:00:00:02"),
        ip: Some(IpAddr::V4(ip("192.168.200.2"))),
        permanent: true,
        master: false,
    }];
    node.nsids = vec![(0, 500)];
    let pod = ns(
        "cni-99999999-0000-1111-2222-333344445555",
        500,
        vec![
            L::new(2, "eth0", "veth", "0a:00:00:00:01:01")
                .addr("10.65.1.1/32")
                .peer(4, 0)
                .0,
        ],
    );
    Facts {
        namespaces: vec![node, pod],
    }
}

#[test]
fn calico_routed_veths_behind_a_router() {
    let model = learn(&calico());
    let o = &model.overlays[0];
    assert_eq!((o.vni, o.reach), (4096, Reach::Routed));
    assert!(o.bridge.is_none());
    let c = &o.locals[0];
    assert!(c.bridge.is_none());
    assert_eq!(c.gateway_mac, Some([0xee; 6]), "the cali veth's own MAC");
    let r = &o.remotes[0];
    assert_eq!(r.prefix, Some((ip("10.65.2.0"), 26)));
    assert_eq!(r.vtep, ip("192.168.200.2"));
    assert_eq!(r.next_hop, Some(ip("192.168.100.254")), "the router");
    assert_eq!(r.next_hop_mac, Some(mac("52:54:00:00:00:fe")));
    let roles: Vec<Role> = model.devices().iter().map(|d| d.role).collect();
    assert_eq!(
        roles,
        [
            Role::Underlay,
            Role::RoutedVxlan,
            Role::RoutedVeth,
            Role::Container
        ]
    );
}

#[test]
fn what_cannot_be_learned_is_noted() {
    let mut facts = flannel();
    // A route to a remote prefix whose gateway has no neighbour entry.
    facts.namespaces[0]
        .routes
        .push(route("10.244.3.0", 24, Some("10.244.3.0"), 3));
    let model = learn(&facts);
    let o = &model.overlays[0];
    assert_eq!(o.remotes.len(), 1);
    assert!(
        o.notes.iter().any(|n| n.contains("10.244.3.0/24")),
        "{:?}",
        o.notes
    );

    // No dev, no VTEP, no local, no default route: no underlay.
    let mut facts = docker();
    facts.namespaces[0].routes.clear();
    facts.namespaces[1].fdb.clear();
    let o = &learn(&facts).overlays[0];
    assert!(o.underlay.is_none());
    assert!(
        o.notes.iter().any(|n| n.contains("underlay is unknown")),
        "{:?}",
        o.notes
    );
}

#[test]
fn namespace_labels_are_checked_and_filter_devices() {
    let model = learn(&docker());
    assert_eq!(model.resolve_namespaces(&["root".into()]).unwrap(), [100]);
    let err = model.resolve_namespaces(&["nope".into()]).unwrap_err();
    assert!(err.to_string().contains("nope"));
    assert!(
        model
            .resolve_namespaces_present(&["nope".into()])
            .is_empty()
    );
    let sandbox = model
        .resolve_namespaces(&["docker/1-abcdef0123".into()])
        .unwrap();
    let only = model.devices_in(&sandbox);
    assert_eq!(only.len(), 3);
    assert!(
        serde_json::to_string(&model)
            .unwrap()
            .contains("\"reach\":\"bridged\"")
    );
}

#[test]
fn a_veth_underlay_is_no_container() {
    // Prism's labs wire the nodes with a veth: the route to the peer node
    // leads out of it, as a pod's would, but it is the underlay.
    let mut facts = flannel();
    facts.namespaces[0].links[0] = L::new(2, "eth0", "veth", "52:54:00:00:00:01")
        .addr("192.168.100.1/24")
        .peer(2, 1)
        .0;
    facts.namespaces[0].nsids.push((1, 600));
    let mut other = flannel().namespaces.remove(0);
    other.label = "node2".into();
    other.inode = 600;
    other.links[0] = L::new(2, "eth0", "veth", "52:54:00:00:00:02")
        .addr("192.168.100.2/24")
        .peer(2, 0)
        .0;
    facts.namespaces.push(other);
    let model = learn(&facts);
    let node1 = &model.overlays[0];
    assert_eq!(node1.locals.len(), 1, "{:?}", node1.locals);
    assert_eq!(node1.locals[0].dev.ns.inode, 400);
    let roles: Vec<(u32, Role)> = model
        .devices()
        .iter()
        .filter(|d| d.ifindex == 2)
        .map(|d| (d.netns_inum, d.role))
        .collect();
    assert!(roles.contains(&(600, Role::Underlay)), "{roles:?}");
}

/// Found by the topology fuzzer (prism-datapath/tests/hostile_topology.rs):
/// a VXLAN device without `dev` whose local address sits on the device
/// itself, and whose VTEP route leads back into it, was taken for its own
/// underlay. The real underlay is found past it.
#[test]
fn a_vxlan_device_is_never_its_own_underlay() {
    let mut facts = flannel();
    let node = &mut facts.namespaces[0];
    // flannel.1 listed before eth0, holding the local address too.
    node.links.swap(0, 1);
    let flannel = &mut node.links[0];
    flannel.vxlan.as_mut().unwrap().lower = None;
    flannel.addresses.push("192.168.100.1/32".into());
    // The route to the remote VTEP through the overlay device (a loop).
    node.routes.insert(0, route("192.168.100.2", 32, None, 3));
    let model = learn(&facts);
    let u = model.overlays[0].underlay.as_ref().unwrap();
    assert_eq!(u.dev.name, "eth0");
    assert_eq!(u.found_by, UnderlayFrom::LocalAddress);

    // With nothing else holding the address, there is no underlay.
    facts.namespaces[0].links[1].addresses.clear();
    facts.namespaces[0].routes.retain(|r| r.oif == Some(3));
    let model = learn(&facts);
    assert!(model.overlays[0].underlay.is_none());
}
