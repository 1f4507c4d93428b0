//! What a lab looks like right now, read back from the kernel.

use anyhow::Result;
use prism_kernel::{netns, rtnl};
use serde::Serialize;

use crate::{LabConfig, Topology, state};

#[derive(Clone, Debug, Serialize)]
pub struct LabStatus {
    pub name: String,
    pub config: LabConfig,
    /// Every namespace of the lab exists.
    pub complete: bool,
    pub namespaces: Vec<NamespaceStatus>,
}

#[derive(Clone, Debug, Serialize)]
pub struct NamespaceStatus {
    pub name: String,
    /// `host`, `sandbox`, `router` or `container`.
    pub role: &'static str,
    /// 1 or 2 (0 for the router).
    pub side: u8,
    pub present: bool,
    /// The namespace's inode number (what eBPF sees as `net->ns.inum`).
    pub inode: Option<u32>,
    pub links: Vec<rtnl::Link>,
}

/// The named lab's status, or None when no such lab was built.
pub fn status(name: &str) -> Result<Option<LabStatus>> {
    let Some(config) = state::load(name)? else {
        return Ok(None);
    };
    let topo = Topology::new(config.clone());
    let mut namespaces = Vec::new();
    for side in &topo.sides {
        namespaces.push(namespace_status(&side.host_ns, "host", side.index)?);
        if let Some(sandbox) = &side.sandbox_ns {
            namespaces.push(namespace_status(sandbox, "sandbox", side.index)?);
        }
    }
    if let Some(router) = &topo.router_ns {
        namespaces.push(namespace_status(router, "router", 0)?);
    }
    for side in &topo.sides {
        namespaces.push(namespace_status(
            &side.container_ns,
            "container",
            side.index,
        )?);
    }
    Ok(Some(LabStatus {
        name: name.into(),
        config,
        complete: namespaces.iter().all(|n| n.present),
        namespaces,
    }))
}

fn namespace_status(ns: &str, role: &'static str, side: u8) -> Result<NamespaceStatus> {
    let present = netns::exists(ns);
    let links = if present {
        let mut links = rtnl::run_in(Some(ns), |nl| async move { nl.links().await })?;
        links.sort_by_key(|l| l.ifindex);
        links
    } else {
        Vec::new()
    };
    Ok(NamespaceStatus {
        name: ns.into(),
        role,
        side,
        present,
        inode: present.then(|| netns::inode(ns).ok()).flatten(),
        links,
    })
}

impl LabStatus {
    /// The device `dev` of namespace `ns`, if present.
    pub fn link(&self, ns: &str, dev: &str) -> Option<&rtnl::Link> {
        self.namespaces
            .iter()
            .find(|n| n.name == ns)?
            .links
            .iter()
            .find(|l| l.name == dev)
    }
}
