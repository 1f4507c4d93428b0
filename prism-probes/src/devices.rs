//! The devices of the overlay path and their roles, discovered through
//! rtnetlink in every network namespace (or the ones the user names).

use anyhow::Result;
use prism_kernel::{
    netns::{self, Namespace},
    rtnl::{self, Link},
};
use prism_probes_common::points::role;
use serde::Serialize;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// The NIC under a VXLAN device.
    Underlay,
    Vxlan,
    Bridge,
    /// Host side of a container's veth pair: a bridge port.
    HostVeth,
    /// A container's end of its veth pair.
    Container,
    /// Anything else: not on the overlay path, not tracked.
    Host,
}

impl Role {
    /// The role's number in the eBPF programs' point table.
    pub fn id(self) -> u8 {
        match self {
            Self::Underlay => role::UNDERLAY,
            Self::Vxlan => role::VXLAN,
            Self::Bridge => role::BRIDGE,
            Self::HostVeth => role::HOST_VETH,
            Self::Container => role::CONTAINER,
            Self::Host => role::HOST,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::Underlay => "underlay",
            Self::Vxlan => "vxlan",
            Self::Bridge => "bridge",
            Self::HostVeth => "host-veth",
            Self::Container => "container",
            Self::Host => "host",
        }
    }

    /// Roles whose packets the profiler follows.
    pub fn is_tracked(self) -> bool {
        self != Self::Host
    }
}

/// One device and its role.
#[derive(Clone, Debug, Serialize)]
pub struct Device {
    pub namespace: String,
    pub netns_inum: u32,
    pub ifindex: u32,
    pub name: String,
    pub role: Role,
}

/// Devices in all namespaces, or in those whose label is in `only`.
pub fn discover(only: &[String]) -> Result<Vec<Device>> {
    let mut all = Vec::new();
    for ns in netns::all() {
        if !only.is_empty() && !only.contains(&ns.label) {
            continue;
        }
        // A process may exit while we look: skip what vanished.
        if let Ok(links) = links_of(&ns) {
            all.push((ns, links));
        }
    }
    if !only.is_empty() {
        let missing: Vec<&String> = only
            .iter()
            .filter(|l| !all.iter().any(|(ns, _)| &ns.label == *l))
            .collect();
        anyhow::ensure!(
            missing.is_empty(),
            "no network namespace named {:?}",
            missing
        );
    }
    let mut devices = Vec::new();
    for (ns, links) in &all {
        for (link, role) in links.iter().zip(assign_roles(links)) {
            if let Some(role) = role {
                devices.push(Device {
                    namespace: ns.label.clone(),
                    netns_inum: ns.inode,
                    ifindex: link.ifindex,
                    name: link.name.clone(),
                    role,
                });
            }
        }
    }
    Ok(devices)
}

fn links_of(ns: &Namespace) -> Result<Vec<Link>> {
    let file = std::fs::File::open(&ns.path)?;
    netns::run_in_file(Some(&file), &ns.label, || {
        rtnl::run(|nl| async move { nl.links().await })
    })?
}

/// Roles of the devices of one namespace (`None` for loopback).
///
/// A VXLAN device's lower device is the underlay; bridge ports that are
/// veths lead to containers; a veth in a namespace with neither bridge nor
/// VXLAN device is a container's own end.
pub fn assign_roles(links: &[Link]) -> Vec<Option<Role>> {
    fn kind(l: &Link) -> &str {
        l.kind.as_deref().unwrap_or("")
    }
    let bridges: Vec<u32> = links
        .iter()
        .filter(|l| kind(l) == "bridge")
        .map(|l| l.ifindex)
        .collect();
    let lowers: Vec<u32> = links
        .iter()
        .filter_map(|l| l.vxlan.as_ref()?.lower)
        .collect();
    let overlay_here = links.iter().any(|l| matches!(kind(l), "vxlan" | "bridge"));
    links
        .iter()
        .map(|l| {
            Some(match kind(l) {
                _ if l.name == "lo" => return None,
                _ if lowers.contains(&l.ifindex) => Role::Underlay,
                "vxlan" => Role::Vxlan,
                "bridge" => Role::Bridge,
                "veth" if l.master.is_some_and(|m| bridges.contains(&m)) => Role::HostVeth,
                "veth" if !overlay_here => Role::Container,
                _ => Role::Host,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn link(ifindex: u32, name: &str, kind: &str, master: Option<u32>, lower: Option<u32>) -> Link {
        let vxlan = (kind == "vxlan").then(|| rtnl::Vxlan {
            lower,
            ..Default::default()
        });
        Link {
            name: name.into(),
            ifindex,
            kind: (!kind.is_empty()).then(|| kind.into()),
            master,
            link: lower,
            vxlan,
            ..Default::default()
        }
    }

    #[test]
    fn finds_the_overlay_roles_of_a_docker_like_host() {
        let host = [
            link(1, "lo", "", None, None),
            link(2, "eth0", "veth", None, Some(9)),
            link(3, "vxlan0", "vxlan", Some(4), Some(2)),
            link(4, "br0", "bridge", None, None),
            link(5, "veth-c1", "veth", Some(4), Some(2)),
            link(6, "docker0", "bridge", None, None),
            link(7, "dummy0", "dummy", None, None),
        ];
        let roles = assign_roles(&host);
        assert_eq!(
            roles,
            [
                None,
                Some(Role::Underlay),
                Some(Role::Vxlan),
                Some(Role::Bridge),
                Some(Role::HostVeth),
                Some(Role::Bridge),
                Some(Role::Host)
            ]
        );
        let container = [
            link(1, "lo", "", None, None),
            link(2, "eth0", "veth", None, Some(5)),
        ];
        assert_eq!(assign_roles(&container), [None, Some(Role::Container)]);
    }
}
