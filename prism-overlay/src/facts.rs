//! What the kernel says about each network namespace: the raw material of
//! the model, read once per namespace on a thread inside it.

use std::{net::IpAddr, path::PathBuf};

use anyhow::{Context, Result};
use prism_kernel::{
    netns::{self, Namespace},
    rtnl::{self, Link, Neighbour, Route},
};
use rtnetlink::packet_route::AddressFamily;

/// One namespace's devices, routes, neighbours and FDB.
#[derive(Clone, Debug, Default)]
pub struct NamespaceFacts {
    /// How users know it (see [`prism_kernel::netns::all`]).
    pub label: String,
    pub path: PathBuf,
    pub inode: u32,
    pub links: Vec<Link>,
    /// IPv4 main-table routes.
    pub routes: Vec<Route>,
    /// ARP entries.
    pub neighbours: Vec<Neighbour>,
    /// Bridge-family entries: VXLAN FDBs (`self`) and bridges' (`master`).
    pub fdb: Vec<Neighbour>,
    /// The ids this namespace gives other namespaces (`link_netnsid`), as
    /// (nsid, inode). Only read where a VXLAN device needs them.
    pub nsids: Vec<(i32, u32)>,
    /// Flows conntrack is tracking here (None: conntrack not loaded). More
    /// than none means netfilter rules rely on it in this namespace.
    pub conntrack_entries: Option<u64>,
}

impl NamespaceFacts {
    pub fn link(&self, ifindex: u32) -> Option<&Link> {
        self.links.iter().find(|l| l.ifindex == ifindex)
    }

    /// The inode of the namespace this one calls `nsid`.
    pub fn namespace_of(&self, nsid: i32) -> Option<u32> {
        self.nsids
            .iter()
            .find(|(id, _)| *id == nsid)
            .map(|(_, i)| *i)
    }

    /// The ARP entry for `ip` on device `ifindex`.
    pub fn neighbour(&self, ifindex: u32, ip: std::net::Ipv4Addr) -> Option<&Neighbour> {
        self.neighbours
            .iter()
            .find(|n| n.ifindex == ifindex && n.ip == Some(IpAddr::V4(ip)))
    }

    pub fn has_vxlan(&self) -> bool {
        self.links.iter().any(|l| l.vxlan.is_some())
    }
}

/// Every namespace's facts.
#[derive(Clone, Debug, Default)]
pub struct Facts {
    pub namespaces: Vec<NamespaceFacts>,
}

impl Facts {
    pub fn namespace(&self, inode: u32) -> Option<&NamespaceFacts> {
        self.namespaces.iter().find(|n| n.inode == inode)
    }
}

/// Reads the facts of every namespace on the host. A namespace that
/// vanishes while we look (its process exited) is left out.
pub fn gather() -> Result<Facts> {
    let all = netns::all();
    let mut namespaces: Vec<NamespaceFacts> = all
        .iter()
        .filter_map(|ns| match read(ns) {
            Ok(facts) => Some(facts),
            Err(e) => {
                log::debug!("namespace {} left out: {e:#}", ns.label);
                None
            }
        })
        .collect();
    // Only namespaces with a VXLAN device need to name the others: their
    // device's socket namespace and their veths' peers.
    for facts in namespaces.iter_mut().filter(|f| f.has_vxlan()) {
        facts.nsids = nsids(facts, &all).unwrap_or_default();
    }
    Ok(Facts { namespaces })
}

fn read(ns: &Namespace) -> Result<NamespaceFacts> {
    let file = std::fs::File::open(&ns.path)?;
    let (links, routes, neighbours, fdb, conntrack_entries) =
        netns::run_in_file(Some(&file), &ns.label, || {
            // /proc/sys/net shows the namespace of the thread reading it.
            let conntrack = std::fs::read_to_string("/proc/sys/net/netfilter/nf_conntrack_count")
                .ok()
                .and_then(|t| t.trim().parse().ok());
            rtnl::run(|nl| async move {
                let links = nl.links().await?;
                let routes = nl.routes().await?;
                let neighbours = nl.all_neighbours(AddressFamily::Inet).await?;
                let fdb = nl.all_neighbours(AddressFamily::Bridge).await?;
                Ok((links, routes, neighbours, fdb, conntrack))
            })
        })??;
    Ok(NamespaceFacts {
        label: ns.label.clone(),
        path: ns.path.clone(),
        inode: ns.inode,
        links,
        routes,
        neighbours,
        fdb,
        nsids: Vec::new(),
        conntrack_entries,
    })
}

/// The nsid `facts`' namespace gives each of the others (where it gave one).
fn nsids(facts: &NamespaceFacts, all: &[Namespace]) -> Result<Vec<(i32, u32)>> {
    let file = std::fs::File::open(&facts.path)
        .with_context(|| format!("open namespace {}", facts.label))?;
    let others: Vec<(u32, PathBuf)> = all.iter().map(|n| (n.inode, n.path.clone())).collect();
    netns::run_in_file(Some(&file), &facts.label, || {
        rtnl::run(|nl| async move {
            let mut ids = Vec::new();
            for (inode, path) in &others {
                if let Ok(Some(id)) = nl.nsid_of(path).await {
                    ids.push((id, *inode));
                }
            }
            Ok(ids)
        })
    })?
}
