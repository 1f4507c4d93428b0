//! The overlay model's types: plain data, serializable for `--json`.

use std::{net::Ipv4Addr, path::PathBuf};

use serde::Serialize;

/// A network namespace as the model refers to it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct NsRef {
    /// How users know it (see [`prism_kernel::netns::all`]).
    pub label: String,
    /// Its inode: what eBPF programs see as `net->ns.inum`.
    pub inode: u32,
    /// A file that refers to it, for `setns`.
    #[serde(skip)]
    pub path: PathBuf,
}

/// A device, by (namespace, ifindex); its name is for people only.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct DeviceRef {
    pub ns: NsRef,
    pub ifindex: u32,
    pub name: String,
    #[serde(serialize_with = "crate::model::mac_text")]
    pub mac: [u8; 6],
    pub mtu: u32,
}

pub(crate) fn mac_text<S: serde::Serializer>(mac: &[u8; 6], s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&prism_kernel::rtnl::format_mac(mac))
}

fn mac_text_opt<S: serde::Serializer>(mac: &Option<[u8; 6]>, s: S) -> Result<S::Ok, S::Error> {
    match mac {
        Some(m) => mac_text(m, s),
        None => s.serialize_none(),
    }
}

/// How a VXLAN device is wired into its host, and so how the kernel finds
/// the container a decapsulated frame is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Reach {
    /// A bridge port (Docker, the lab): frames are switched by inner MAC.
    Bridged,
    /// A layer-3 device with routes to the other nodes' pod prefixes
    /// (Flannel, Calico): packets are routed by inner destination IP.
    Routed,
}

/// How the underlay was found.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum UnderlayFrom {
    /// The device's `dev` (IFLA_VXLAN_LINK).
    Dev,
    /// The route, in the socket's namespace, to a remote VTEP.
    RouteToVtep,
    /// The device holding the VXLAN device's `local` address.
    LocalAddress,
    /// The socket namespace's default route.
    DefaultRoute,
}

/// The NIC the VXLAN packets cross, in the socket's namespace.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Underlay {
    pub dev: DeviceRef,
    /// A veth (a lab's wire) rather than a NIC.
    pub is_veth: bool,
    /// The local VTEP address: the device's `local`, else the underlay's.
    pub local_ip: Option<Ipv4Addr>,
    pub found_by: UnderlayFrom,
}

/// A container attached to an overlay on this host.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Container {
    /// Its end of the veth pair (`eth0`), in its own namespace.
    pub dev: DeviceRef,
    /// The host side of the pair, beside the VXLAN device.
    pub host_veth: DeviceRef,
    /// The bridge the host veth is a port of, if any (the overlay's bridge,
    /// or Flannel's `cni0`).
    pub bridge: Option<DeviceRef>,
    pub ips: Vec<Ipv4Addr>,
    /// Routed overlays: the source MAC the kernel writes when it forwards
    /// a packet to this container (the bridge's, or the host veth's).
    #[serde(serialize_with = "mac_text_opt")]
    pub gateway_mac: Option<[u8; 6]>,
    /// The container or pod its runtime made the namespace for.
    pub owner: Option<crate::Owner>,
}

impl Container {
    /// How people know it: its owner's name, else its namespace's label.
    pub fn display_name(&self) -> &str {
        self.owner.as_ref().map_or(&self.dev.ns.label, |o| &o.name)
    }
}

/// Something behind another VTEP.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Remote {
    /// The inner destination MAC a frame to it carries: the remote
    /// container's (bridged), or the remote VTEP device's (routed).
    #[serde(serialize_with = "mac_text")]
    pub mac: [u8; 6],
    /// Routed overlays: the pod prefix behind the VTEP.
    pub prefix: Option<(Ipv4Addr, u8)>,
    /// The remote node's VTEP address.
    pub vtep: Ipv4Addr,
    /// Where the encapsulated packet goes next on the underlay: the VTEP
    /// itself or the router the socket namespace's route names.
    pub next_hop: Option<Ipv4Addr>,
    #[serde(serialize_with = "mac_text_opt")]
    pub next_hop_mac: Option<[u8; 6]>,
}

/// One VXLAN device and everything that hangs off it on this host.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Overlay {
    pub vxlan: DeviceRef,
    pub vni: u32,
    /// UDP destination port (the kernel's default 8472 when none was set).
    pub port: u16,
    pub local: Option<Ipv4Addr>,
    pub learning: bool,
    pub proxy: bool,
    pub l2miss: bool,
    pub l3miss: bool,
    /// Flow-based (`external`) device: no fixed VNI or remotes.
    pub external: bool,
    pub ipv6_underlay: bool,
    /// Addresses on the VXLAN device itself (routed overlays give it one).
    pub addresses: Vec<String>,
    pub reach: Reach,
    /// Bridged: the bridge the device is a port of.
    pub bridge: Option<DeviceRef>,
    /// The namespace that holds the device's UDP socket and the underlay:
    /// where the device was created (Docker moves it into a sandbox).
    pub socket_ns: NsRef,
    pub underlay: Option<Underlay>,
    pub locals: Vec<Container>,
    pub remotes: Vec<Remote>,
    /// conntrack is tracking flows in the device's namespace: netfilter
    /// rules there rely on it (kube-proxy's, a policy engine's).
    pub conntrack_active: bool,
    /// What could not be learned, for people.
    pub notes: Vec<String>,
}

impl Overlay {
    /// The socket is in another namespace than the device (Docker).
    pub fn is_split(&self) -> bool {
        self.socket_ns.inode != self.vxlan.ns.inode
    }

    /// A one-line description: `vxlan0 (VNI 4096, port 4789, bridged) in docker/1-ab…`.
    pub fn describe(&self) -> String {
        let reach = match self.reach {
            Reach::Bridged => "bridged",
            Reach::Routed => "routed",
        };
        let mut text = format!(
            "{} (VNI {}, port {}, {reach}) in {}",
            self.vxlan.name, self.vni, self.port, self.vxlan.ns.label
        );
        if let Some(u) = &self.underlay {
            text.push_str(&format!(", underlay {} in {}", u.dev.name, u.dev.ns.label));
        }
        text
    }
}

/// A tunnel device of another kind than VXLAN (Geneve, GRE): an overlay
/// Prism does not follow, named so that nothing is ignored silently.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct OtherTunnel {
    pub namespace: String,
    pub name: String,
    pub kind: String,
}

/// Every overlay on this machine.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Model {
    pub overlays: Vec<Overlay>,
    pub unsupported: Vec<OtherTunnel>,
    /// Every namespace looked at (labels), for checking `--netns` names.
    #[serde(skip)]
    pub namespaces: Vec<NsRef>,
    /// Who owns each namespace (see [`crate::owners`]), by inode.
    #[serde(skip)]
    pub owners: std::collections::BTreeMap<u32, crate::Owner>,
}

impl Model {
    /// Takes the namespaces' owners and names the containers with them.
    pub fn name_owners(&mut self, owners: std::collections::BTreeMap<u32, crate::Owner>) {
        for c in self.overlays.iter_mut().flat_map(|o| o.locals.iter_mut()) {
            c.owner = owners.get(&c.dev.ns.inode).cloned();
        }
        self.owners = owners;
    }

    /// The owner of the namespace with this inode.
    pub fn owner_of(&self, inode: u32) -> Option<&crate::Owner> {
        self.owners.get(&inode)
    }

    /// The VXLAN UDP ports in use, each once, in order.
    pub fn ports(&self) -> Vec<u16> {
        let mut ports: Vec<u16> = self.overlays.iter().map(|o| o.port).collect();
        ports.sort_unstable();
        ports.dedup();
        ports
    }

    /// The inodes of the namespaces `names` stand for: a label as Prism
    /// shows it (`prism-h1`, `docker/1-ab…`, a path), the name of the
    /// container or pod that owns it (`web.1.x…`, `shop/web-0`), or any
    /// path to the namespace file (another bind mount of it,
    /// `/proc/PID/ns/net`).
    pub fn resolve_namespaces(&self, names: &[String]) -> anyhow::Result<Vec<u32>> {
        let (found, missing) = self.lookup_namespaces(names);
        anyhow::ensure!(
            missing.is_empty(),
            "no network namespace named {}",
            missing.join(", ")
        );
        Ok(found)
    }

    /// Like [`Self::resolve_namespaces`], leaving out names that no longer
    /// resolve (a container that went away).
    pub fn resolve_namespaces_present(&self, names: &[String]) -> Vec<u32> {
        self.lookup_namespaces(names).0
    }

    fn lookup_namespaces(&self, names: &[String]) -> (Vec<u32>, Vec<String>) {
        use std::os::unix::fs::MetadataExt;
        let mut found = Vec::new();
        let mut missing = Vec::new();
        for name in names {
            let by_label = self.namespaces.iter().find(|n| &n.label == name);
            let by_owner = || {
                let (inode, _) = self.owners.iter().find(|(_, o)| &o.name == name)?;
                self.namespaces.iter().find(|n| n.inode == *inode)
            };
            let by_path = || {
                let inode = std::fs::metadata(name).ok()?.ino() as u32;
                self.namespaces.iter().find(|n| n.inode == inode)
            };
            match by_label.or_else(by_owner).or_else(by_path) {
                Some(ns) => found.push(ns.inode),
                None => missing.push(name.clone()),
            }
        }
        (found, missing)
    }
}
