//! What each device is on the overlay path: the profilers' view of the
//! model. A stage is named after what happens between two devices, so a
//! routed hop and a bridged one need different roles.

use serde::Serialize;

use crate::model::{DeviceRef, Model, Reach};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Role {
    /// The NIC the VXLAN packets cross.
    Underlay,
    /// A VXLAN device that is a bridge port (Docker, the lab).
    Vxlan,
    /// A VXLAN device the host routes through (Flannel, Calico).
    RoutedVxlan,
    /// A bridge of the overlay (Docker's `br0`, Flannel's `cni0`).
    Bridge,
    /// Host side of a container's veth pair, a bridge port.
    HostVeth,
    /// Host side of a container's veth pair that the host routes to
    /// (Calico's `cali*`).
    RoutedVeth,
    /// A container's end of its veth pair.
    Container,
}

impl Role {
    pub fn name(self) -> &'static str {
        match self {
            Self::Underlay => "underlay",
            Self::Vxlan => "vxlan",
            Self::RoutedVxlan => "vxlan-routed",
            Self::Bridge => "bridge",
            Self::HostVeth => "host-veth",
            Self::RoutedVeth => "host-veth-routed",
            Self::Container => "container",
        }
    }
}

/// One device on the overlay path and its role.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Device {
    pub namespace: String,
    /// The container or pod that owns the namespace, by name.
    pub owner: Option<String>,
    pub netns_inum: u32,
    pub ifindex: u32,
    pub name: String,
    pub role: Role,
}

impl Model {
    /// Every device on an overlay path, each once (an underlay that serves
    /// several VXLAN devices, a bridge with many ports), in path order.
    pub fn devices(&self) -> Vec<Device> {
        let mut out: Vec<Device> = Vec::new();
        let mut add = |d: &DeviceRef, role: Role| {
            let known = out
                .iter()
                .any(|x| x.netns_inum == d.ns.inode && x.ifindex == d.ifindex);
            if !known {
                out.push(Device {
                    namespace: d.ns.label.clone(),
                    owner: self.owner_of(d.ns.inode).map(|o| o.name.clone()),
                    netns_inum: d.ns.inode,
                    ifindex: d.ifindex,
                    name: d.name.clone(),
                    role,
                });
            }
        };
        for o in &self.overlays {
            if let Some(u) = &o.underlay {
                add(&u.dev, Role::Underlay);
            }
            let vxlan = match o.reach {
                Reach::Bridged => Role::Vxlan,
                Reach::Routed => Role::RoutedVxlan,
            };
            add(&o.vxlan, vxlan);
            if let Some(b) = &o.bridge {
                add(b, Role::Bridge);
            }
            for c in &o.locals {
                if let Some(b) = &c.bridge {
                    add(b, Role::Bridge);
                }
                let veth = match c.bridge {
                    Some(_) => Role::HostVeth,
                    None => Role::RoutedVeth,
                };
                add(&c.host_veth, veth);
                add(&c.dev, Role::Container);
            }
        }
        out
    }

    /// The devices in the namespaces with these inodes (all when empty;
    /// see [`Model::resolve_namespaces`]).
    pub fn devices_in(&self, only: &[u32]) -> Vec<Device> {
        let mut devices = self.devices();
        if !only.is_empty() {
            devices.retain(|d| only.contains(&d.netns_inum));
        }
        devices
    }
}
