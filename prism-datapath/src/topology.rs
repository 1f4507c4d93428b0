//! What the datapath needs to know of each host, learned from rtnetlink:
//! the VXLAN device and its underlay, the containers' veths and MACs, the
//! remote containers behind each VTEP (the VXLAN FDB) and the VTEPs' MACs
//! on the underlay (ARP).

use std::{net::IpAddr, net::Ipv4Addr, path::PathBuf};

use anyhow::{Context, Result, bail};
use prism_kernel::{
    netns::{self, Namespace},
    rtnl::{self, Link},
};
use rtnetlink::packet_route::AddressFamily;
use serde::Serialize;

/// A device the datapath attaches to.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct Port {
    pub name: String,
    pub ifindex: u32,
}

/// A container on this host.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct LocalContainer {
    pub mac: String,
    #[serde(skip)]
    pub mac_bytes: [u8; 6],
    /// Its veth's host side: where the transmit program attaches, and the
    /// receive program's `bpf_redirect_peer` target.
    pub host_veth: Port,
}

/// A container behind another VTEP.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct RemoteContainer {
    pub mac: String,
    #[serde(skip)]
    pub mac_bytes: [u8; 6],
    pub vtep: Ipv4Addr,
    /// The VTEP's MAC on the underlay (ARP), if known.
    #[serde(skip)]
    pub next_hop: Option<[u8; 6]>,
}

/// One host of the overlay: a network namespace with a VXLAN device.
#[derive(Clone, Debug, Serialize)]
pub struct Host {
    /// The namespace's label (see `prism_kernel::netns::all`).
    pub namespace: String,
    #[serde(skip)]
    pub ns_path: PathBuf,
    pub netns_inode: u32,
    pub vxlan: Port,
    pub vni: u32,
    pub port: u16,
    pub underlay: Port,
    #[serde(skip)]
    pub underlay_mac: [u8; 6],
    /// A veth (the lab's wire) rather than a NIC.
    pub underlay_is_veth: bool,
    pub underlay_mtu: u32,
    pub local_ip: Ipv4Addr,
    pub locals: Vec<LocalContainer>,
    pub remotes: Vec<RemoteContainer>,
}

/// Every host (namespace with a VXLAN device) on this machine; only those
/// whose underlay device is called `underlay`, and only in the namespaces
/// labelled in `only` when it is not empty.
pub fn discover(underlay: Option<&str>, only: &[String]) -> Result<Vec<Host>> {
    let namespaces: Vec<(Namespace, Vec<Link>)> = netns::all()
        .into_iter()
        .filter_map(|ns| {
            let links = links_in(&ns).ok()?;
            Some((ns, links))
        })
        .collect();
    let mut hosts = Vec::new();
    for (ns, links) in &namespaces {
        if !only.is_empty() && !only.contains(&ns.label) {
            continue;
        }
        let vxlans: Vec<&Link> = links.iter().filter(|l| l.vxlan.is_some()).collect();
        let vxlan = match vxlans.as_slice() {
            [] => continue,
            [one] => *one,
            many => bail!(
                "namespace {} has {} VXLAN devices ({}); Prism handles one per namespace",
                ns.label,
                many.len(),
                many.iter()
                    .map(|l| l.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        };
        let host = host_of(ns, links, vxlan, &namespaces)
            .with_context(|| format!("learn the overlay of namespace {}", ns.label))?;
        if underlay.is_none_or(|u| host.underlay.name == u) {
            hosts.push(host);
        }
    }
    Ok(hosts)
}

fn links_in(ns: &Namespace) -> Result<Vec<Link>> {
    let file = std::fs::File::open(&ns.path)?;
    netns::run_in_file(Some(&file), &ns.label, || {
        rtnl::run(|nl| async move { nl.links().await })
    })?
}

fn host_of(
    ns: &Namespace,
    links: &[Link],
    vxlan: &Link,
    all: &[(Namespace, Vec<Link>)],
) -> Result<Host> {
    let info = vxlan.vxlan.clone().unwrap_or_default();
    let lower = info.lower.with_context(|| {
        format!(
            "VXLAN device {} has no underlay device (no `dev`)",
            vxlan.name
        )
    })?;
    let underlay = links.iter().find(|l| l.ifindex == lower).with_context(|| {
        format!(
            "the underlay of {} (ifindex {lower}) is not in its namespace",
            vxlan.name
        )
    })?;
    let local_ip = info
        .local
        .or_else(|| {
            underlay
                .addresses
                .iter()
                .find_map(|a| a.split('/').next()?.parse().ok())
        })
        .with_context(|| {
            format!(
                "{} has no local address and {} no IPv4 address",
                vxlan.name, underlay.name
            )
        })?;
    let bridge = vxlan.master;
    let nsids = nsids_in(ns, all)?;
    let locals = links
        .iter()
        .filter(|l| l.kind.as_deref() == Some("veth") && bridge.is_some() && l.master == bridge)
        .filter_map(|veth| {
            let mac = peer_mac(veth, &nsids, all)?;
            Some(LocalContainer {
                mac: rtnl::format_mac(&mac),
                mac_bytes: mac,
                host_veth: Port {
                    name: veth.name.clone(),
                    ifindex: veth.ifindex,
                },
            })
        })
        .collect();
    let (fdb, arp) = netns_neighbours(ns, vxlan.ifindex, underlay.ifindex)?;
    let remotes = fdb
        .into_iter()
        .filter(|n| n.mac != [0; 6])
        .filter_map(|n| match n.ip {
            Some(IpAddr::V4(vtep)) => Some(RemoteContainer {
                mac: rtnl::format_mac(&n.mac),
                mac_bytes: n.mac,
                vtep,
                next_hop: arp
                    .iter()
                    .find(|a| a.ip == Some(IpAddr::V4(vtep)))
                    .map(|a| a.mac),
            }),
            _ => None,
        })
        .collect();
    let underlay_mac = underlay
        .mac
        .as_deref()
        .map(rtnl::parse_mac)
        .transpose()?
        .context("the underlay has no MAC address")?;
    Ok(Host {
        namespace: ns.label.clone(),
        ns_path: ns.path.clone(),
        netns_inode: ns.inode,
        vxlan: Port {
            name: vxlan.name.clone(),
            ifindex: vxlan.ifindex,
        },
        vni: info.vni,
        port: if info.port == 0 { 4789 } else { info.port },
        underlay: Port {
            name: underlay.name.clone(),
            ifindex: underlay.ifindex,
        },
        underlay_mac,
        underlay_is_veth: underlay.kind.as_deref() == Some("veth"),
        underlay_mtu: underlay.mtu.unwrap_or(1500),
        local_ip,
        locals,
        remotes,
    })
}

/// The nsid `ns` gives each of the other namespaces (where it gave one).
fn nsids_in(ns: &Namespace, all: &[(Namespace, Vec<Link>)]) -> Result<Vec<(u32, i32)>> {
    let file = std::fs::File::open(&ns.path)?;
    let paths: Vec<(u32, PathBuf)> = all.iter().map(|(n, _)| (n.inode, n.path.clone())).collect();
    netns::run_in_file(Some(&file), &ns.label, || {
        rtnl::run(|nl| async move {
            let mut ids = Vec::new();
            for (inode, path) in &paths {
                if let Ok(Some(id)) = nl.nsid_of(path).await {
                    ids.push((*inode, id));
                }
            }
            Ok(ids)
        })
    })?
}

/// The MAC of a veth's peer: the veth, in the namespace its `link_netnsid`
/// names, whose ifindex is this one's link.
fn peer_mac(veth: &Link, nsids: &[(u32, i32)], all: &[(Namespace, Vec<Link>)]) -> Option<[u8; 6]> {
    let peer_index = veth.link?;
    let peer_ns = veth.link_netnsid?;
    let inode = nsids.iter().find(|(_, id)| *id == peer_ns)?.0;
    let (_, links) = all.iter().find(|(n, _)| n.inode == inode)?;
    let peer = links
        .iter()
        .find(|l| l.ifindex == peer_index && l.link == Some(veth.ifindex))?;
    rtnl::parse_mac(peer.mac.as_deref()?).ok()
}

/// The VXLAN device's FDB and the underlay's ARP entries.
fn netns_neighbours(
    ns: &Namespace,
    vxlan: u32,
    underlay: u32,
) -> Result<(Vec<rtnl::Neighbour>, Vec<rtnl::Neighbour>)> {
    let file = std::fs::File::open(&ns.path)?;
    netns::run_in_file(Some(&file), &ns.label, || {
        rtnl::run(|nl| async move {
            let fdb = nl.neighbours(vxlan, AddressFamily::Bridge).await?;
            let arp = nl.neighbours(underlay, AddressFamily::Inet).await?;
            Ok((fdb, arp))
        })
    })?
}
