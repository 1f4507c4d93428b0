//! From facts to the model, without touching the kernel.

use std::net::{IpAddr, Ipv4Addr};

use prism_kernel::rtnl::{self, Link, Neighbour};

use crate::{
    facts::{Facts, NamespaceFacts},
    model::{
        Container, DeviceRef, Model, NsRef, OtherTunnel, Overlay, Reach, Remote, Underlay,
        UnderlayFrom,
    },
    routes,
};

/// The kernel's VXLAN port when a device is created without one
/// (`vxlan_config_validate`: the module parameter `udp_port`).
const KERNEL_DEFAULT_PORT: u16 = 8472;

/// Every VXLAN device of every namespace, with what hangs off it.
pub fn learn(facts: &Facts) -> Model {
    let overlays = facts
        .namespaces
        .iter()
        .flat_map(|ns| {
            ns.links
                .iter()
                .filter(|l| l.vxlan.is_some())
                .map(move |l| overlay_of(facts, ns, l))
        })
        .collect();
    let unsupported = facts
        .namespaces
        .iter()
        .flat_map(|ns| {
            ns.links
                .iter()
                .filter(|l| OTHER_TUNNELS.contains(&kind(l)))
                .map(|l| OtherTunnel {
                    namespace: ns.label.clone(),
                    name: l.name.clone(),
                    kind: kind(l).to_string(),
                })
        })
        .collect();
    Model {
        overlays,
        unsupported,
        namespaces: facts.namespaces.iter().map(ns_ref).collect(),
        owners: Default::default(),
    }
}

/// Link kinds of overlay tunnels other than VXLAN.
const OTHER_TUNNELS: [&str; 5] = ["geneve", "gretap", "ip6gretap", "erspan", "bareudp"];

fn ns_ref(ns: &NamespaceFacts) -> NsRef {
    NsRef {
        label: ns.label.clone(),
        inode: ns.inode,
        path: ns.path.clone(),
    }
}

fn device(ns: &NamespaceFacts, link: &Link) -> DeviceRef {
    DeviceRef {
        ns: ns_ref(ns),
        ifindex: link.ifindex,
        name: link.name.clone(),
        mac: link
            .mac
            .as_deref()
            .and_then(|m| rtnl::parse_mac(m).ok())
            .unwrap_or_default(),
        mtu: link.mtu.unwrap_or(1500),
    }
}

fn kind(link: &Link) -> &str {
    link.kind.as_deref().unwrap_or("")
}

fn ipv4_addresses(link: &Link) -> Vec<Ipv4Addr> {
    link.addresses
        .iter()
        .filter_map(|a| a.split('/').next()?.parse().ok())
        .collect()
}

fn overlay_of(facts: &Facts, ns: &NamespaceFacts, link: &Link) -> Overlay {
    let info = link.vxlan.clone().unwrap_or_default();
    let mut notes = Vec::new();
    let socket = match link.link_netnsid {
        None => ns,
        Some(id) => match ns.namespace_of(id).and_then(|i| facts.namespace(i)) {
            Some(other) => other,
            None => {
                notes.push(format!(
                    "the namespace holding {}'s socket (nsid {id}) was not found",
                    link.name
                ));
                ns
            }
        },
    };
    let bridge = link
        .master
        .and_then(|m| ns.link(m))
        .filter(|b| kind(b) == "bridge");
    let reach = if bridge.is_some() {
        Reach::Bridged
    } else {
        Reach::Routed
    };
    let fdb: Vec<&Neighbour> = ns
        .fdb
        .iter()
        .filter(|n| n.ifindex == link.ifindex && !n.master)
        .collect();
    let mut vteps: Vec<Ipv4Addr> = fdb
        .iter()
        .filter_map(|n| match n.ip {
            Some(IpAddr::V4(ip)) if !ip.is_unspecified() => Some(ip),
            _ => None,
        })
        .collect();
    vteps.sort_unstable();
    vteps.dedup();
    let underlay = underlay_of(socket, link, &vteps, &mut notes);
    let hop = |vtep: Ipv4Addr| next_hop(socket, vtep);
    let locals = containers(facts, ns, bridge, reach, underlay.as_ref());
    let remotes = match reach {
        Reach::Bridged => fdb
            .iter()
            .filter(|n| n.mac != [0; 6])
            .filter_map(|n| match n.ip {
                Some(IpAddr::V4(vtep)) if !vtep.is_unspecified() => {
                    let (next_hop, next_hop_mac) = hop(vtep);
                    Some(Remote {
                        mac: n.mac,
                        prefix: None,
                        vtep,
                        next_hop,
                        next_hop_mac,
                    })
                }
                _ => None,
            })
            .collect(),
        Reach::Routed => routed_remotes(ns, link, &fdb, &mut notes)
            .into_iter()
            .map(|(mac, prefix, vtep)| {
                let (next_hop, next_hop_mac) = hop(vtep);
                Remote {
                    mac,
                    prefix: Some(prefix),
                    vtep,
                    next_hop,
                    next_hop_mac,
                }
            })
            .collect(),
    };
    Overlay {
        vxlan: device(ns, link),
        vni: info.vni,
        port: if info.port == 0 {
            KERNEL_DEFAULT_PORT
        } else {
            info.port
        },
        local: info.local,
        learning: info.learning,
        proxy: info.proxy,
        l2miss: info.l2miss,
        l3miss: info.l3miss,
        external: info.external,
        ipv6_underlay: info.ipv6,
        addresses: link.addresses.clone(),
        reach,
        bridge: bridge.map(|b| device(ns, b)),
        socket_ns: ns_ref(socket),
        underlay,
        locals,
        remotes,
        conntrack_active: ns.conntrack_entries.is_some_and(|n| n > 0),
        notes,
    }
}

/// The device the VXLAN packets cross, in the socket's namespace: `dev`
/// if the device has one, else where the route to a remote VTEP leads,
/// else the device holding `local`, else the default route's device.
fn underlay_of(
    socket: &NamespaceFacts,
    vxlan: &Link,
    vteps: &[Ipv4Addr],
    notes: &mut Vec<String>,
) -> Option<Underlay> {
    let info = vxlan.vxlan.clone().unwrap_or_default();
    // Never the VXLAN device itself (a route to a VTEP through the overlay,
    // or the local address put on the VXLAN device): its packets cannot
    // leave over it.
    let itself = |ifindex: u32| socket.link(ifindex) == Some(vxlan);
    let by_route = |ip: Ipv4Addr| {
        routes::lookup(&socket.routes, ip)
            .and_then(|r| r.oif)
            .filter(|oif| !itself(*oif))
    };
    let found = if let Some(lower) = info.lower.filter(|l| !itself(*l)) {
        Some((lower, UnderlayFrom::Dev))
    } else if let Some(oif) = vteps.iter().find_map(|v| by_route(*v)) {
        Some((oif, UnderlayFrom::RouteToVtep))
    } else if let Some(local) = info.local
        && let Some(l) = socket
            .links
            .iter()
            .find(|l| ipv4_addresses(l).contains(&local) && !itself(l.ifindex))
    {
        Some((l.ifindex, UnderlayFrom::LocalAddress))
    } else {
        socket
            .routes
            .iter()
            .find(|r| r.prefix == 0)
            .and_then(|r| r.oif)
            .filter(|oif| !itself(*oif))
            .map(|oif| (oif, UnderlayFrom::DefaultRoute))
    };
    let Some((ifindex, found_by)) = found else {
        notes.push(format!(
            "{} has no `dev`, no remote VTEP with a route, no local address and {} no default route: its underlay is unknown",
            vxlan.name, socket.label
        ));
        return None;
    };
    let Some(link) = socket.link(ifindex) else {
        notes.push(format!(
            "{}'s underlay (ifindex {ifindex}) is not in namespace {}",
            vxlan.name, socket.label
        ));
        return None;
    };
    Some(Underlay {
        dev: device(socket, link),
        is_veth: kind(link) == "veth",
        local_ip: info.local.or_else(|| ipv4_addresses(link).first().copied()),
        found_by,
    })
}

/// The next hop towards a VTEP on the underlay, and its MAC if ARP knows it.
fn next_hop(socket: &NamespaceFacts, vtep: Ipv4Addr) -> (Option<Ipv4Addr>, Option<[u8; 6]>) {
    let Some(route) = routes::lookup(&socket.routes, vtep) else {
        return (None, None);
    };
    let hop = routes::next_hop(route, vtep);
    let mac = route
        .oif
        .and_then(|oif| socket.neighbour(oif, hop))
        .map(|n| n.mac);
    (Some(hop), mac)
}

/// A routed overlay's remote prefixes: `PREFIX via GW dev VXLAN` (onlink),
/// the gateway's neighbour entry on the device (the remote VTEP device's
/// MAC) and that MAC's FDB entry (the remote node).
fn routed_remotes(
    ns: &NamespaceFacts,
    vxlan: &Link,
    fdb: &[&Neighbour],
    notes: &mut Vec<String>,
) -> Vec<([u8; 6], (Ipv4Addr, u8), Ipv4Addr)> {
    let mut out = Vec::new();
    for route in ns.routes.iter().filter(|r| r.oif == Some(vxlan.ifindex)) {
        let Some(gw) = route.gateway else {
            continue;
        };
        let prefix = format!("{}/{}", route.dst, route.prefix);
        let Some(neigh) = ns.neighbour(vxlan.ifindex, gw) else {
            notes.push(format!(
                "route {prefix} via {gw}: no neighbour entry for {gw} on {}",
                vxlan.name
            ));
            continue;
        };
        let vtep = fdb.iter().find_map(|n| match n.ip {
            Some(IpAddr::V4(ip)) if n.mac == neigh.mac => Some(ip),
            _ => None,
        });
        match vtep {
            Some(vtep) => out.push((neigh.mac, (route.dst, route.prefix), vtep)),
            None => notes.push(format!(
                "route {prefix} via {gw}: no FDB entry for {} on {}",
                rtnl::format_mac(&neigh.mac),
                vxlan.name
            )),
        }
    }
    out
}

/// Containers reached through the overlay on this host. Bridged: the veths
/// that are ports of the VXLAN device's bridge. Routed: the veths whose
/// peer's addresses this namespace routes to that veth or to its bridge;
/// never the underlay (a veth in a lab) nor a veth to another overlay host.
fn containers(
    facts: &Facts,
    ns: &NamespaceFacts,
    bridge: Option<&Link>,
    reach: Reach,
    underlay: Option<&Underlay>,
) -> Vec<Container> {
    let is_underlay = |l: &Link| {
        underlay.is_some_and(|u| u.dev.ns.inode == ns.inode && u.dev.ifindex == l.ifindex)
    };
    ns.links
        .iter()
        .filter(|l| kind(l) == "veth" && l.link_netnsid.is_some() && !is_underlay(l))
        .filter(|l| {
            reach == Reach::Routed || (bridge.is_some() && l.master == bridge.map(|b| b.ifindex))
        })
        .filter_map(|veth| {
            let (peer_ns, peer) = peer_of(facts, ns, veth)?;
            if peer_ns.has_vxlan() {
                return None;
            }
            let ips = ipv4_addresses(peer);
            let port_of = veth
                .master
                .and_then(|m| ns.link(m))
                .filter(|b| kind(b) == "bridge");
            let gateway_mac = match reach {
                Reach::Bridged => None,
                Reach::Routed => {
                    let oif = ips
                        .iter()
                        .find_map(|ip| routes::lookup(&ns.routes, *ip)?.oif)
                        .filter(|oif| *oif == veth.ifindex || Some(*oif) == veth.master)?;
                    Some(device(ns, ns.link(oif)?).mac)
                }
            };
            Some(Container {
                dev: device(peer_ns, peer),
                host_veth: device(ns, veth),
                bridge: port_of.map(|b| device(ns, b)),
                ips,
                gateway_mac,
                owner: None,
            })
        })
        .collect()
}

/// A veth's other end: the veth, in the namespace its `link_netnsid`
/// names, whose ifindex is this one's link and whose link is this one.
fn peer_of<'a>(
    facts: &'a Facts,
    ns: &NamespaceFacts,
    veth: &Link,
) -> Option<(&'a NamespaceFacts, &'a Link)> {
    let peer_ns = facts.namespace(ns.namespace_of(veth.link_netnsid?)?)?;
    let peer = peer_ns
        .links
        .iter()
        .find(|l| Some(l.ifindex) == veth.link && l.link == Some(veth.ifindex))?;
    Some((peer_ns, peer))
}
