//! What the datapath serves on each overlay, from the overlay model: where
//! its programs attach, the tables they need, and, where it can serve
//! nothing, why.

use std::{net::Ipv4Addr, path::PathBuf};

use anyhow::Result;
use prism_overlay::{Model, Overlay, Reach};
use serde::Serialize;

/// A device the datapath attaches to.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct Port {
    pub name: String,
    pub ifindex: u32,
}

/// How the programs serve a host (see `prism_datapath_common::kind`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Plan {
    /// Bridged, underlay beside the VXLAN device: decap on the underlay,
    /// redirect by inner MAC.
    Bridged,
    /// Routed (Flannel, Calico): decap on the underlay, route by inner IP.
    Routed,
    /// Docker: the VXLAN device in a sandbox; redirect after its decap.
    Sandbox,
}

impl Plan {
    pub fn kind(self) -> u8 {
        use prism_datapath_common::kind;
        match self {
            Self::Bridged => kind::BRIDGED,
            Self::Routed => kind::ROUTED,
            Self::Sandbox => kind::SANDBOX,
        }
    }
}

/// A container on this host.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct LocalContainer {
    pub mac: String,
    #[serde(skip)]
    pub mac_bytes: [u8; 6],
    pub ips: Vec<Ipv4Addr>,
    /// Its veth's host side: where the transmit program attaches, and the
    /// receive program's `bpf_redirect_peer` target.
    pub host_veth: Port,
    /// Routed hosts: the source MAC forwarding gives its packets.
    #[serde(skip)]
    pub gateway_mac: [u8; 6],
}

/// A container (bridged) or pod prefix (routed) behind another VTEP.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct RemoteContainer {
    /// The inner destination MAC: the container's, or the remote VTEP
    /// device's on a routed overlay.
    pub mac: String,
    #[serde(skip)]
    pub mac_bytes: [u8; 6],
    pub prefix: Option<(Ipv4Addr, u8)>,
    pub vtep: Ipv4Addr,
    /// The next hop's MAC on the underlay (ARP), if known.
    #[serde(skip)]
    pub next_hop: Option<[u8; 6]>,
}

/// One host of the overlay: a VXLAN device and what hangs off it.
#[derive(Clone, Debug, Serialize)]
pub struct Host {
    /// The namespace the programs attach in (the VXLAN device's) and the
    /// key of its pins.
    pub namespace: String,
    #[serde(skip)]
    pub ns_path: PathBuf,
    pub netns_inode: u32,
    pub plan: Plan,
    pub vxlan: Port,
    #[serde(skip)]
    pub vxlan_mac: [u8; 6],
    pub vni: u32,
    pub port: u16,
    /// The underlay, in `socket_namespace`.
    pub underlay: Port,
    pub socket_namespace: String,
    #[serde(skip)]
    pub socket_ns_path: PathBuf,
    pub socket_netns_inode: u32,
    #[serde(skip)]
    pub underlay_mac: [u8; 6],
    /// A veth (the lab's wire) rather than a NIC.
    pub underlay_is_veth: bool,
    pub underlay_mtu: u32,
    pub local_ip: Ipv4Addr,
    pub locals: Vec<LocalContainer>,
    pub remotes: Vec<RemoteContainer>,
    /// What the fast path skips here that the user should know of.
    pub warnings: Vec<String>,
}

impl Host {
    /// What the fast path can serve here, for people.
    pub fn serves(&self) -> String {
        let remotes = self.remotes.iter().filter(|r| r.next_hop.is_some()).count();
        let unit = if self.plan == Plan::Routed {
            "remote pod prefix(es)"
        } else {
            "remote container(s)"
        };
        format!("{} local container(s), {remotes} {unit}", self.locals.len())
    }
}

/// A VXLAN device the datapath does not serve, and why.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct Refusal {
    pub namespace: String,
    pub device: String,
    pub reason: String,
}

/// What `discover` found: hosts to serve and devices refused.
#[derive(Clone, Debug, Default)]
pub struct Hosts {
    pub served: Vec<Host>,
    pub refused: Vec<Refusal>,
}

/// Choices that decide what may be served.
#[derive(Clone, Debug, Default)]
pub struct Scope<'a> {
    /// Only hosts whose underlay is this device.
    pub underlay: Option<&'a str>,
    /// Only hosts in these namespaces (labels); empty: all.
    pub namespaces: &'a [String],
    /// Routed overlays: the fast path skips IP forwarding and netfilter.
    pub allow_netfilter_bypass: bool,
}

/// Every VXLAN host on this machine, served or refused with the reason.
pub fn discover(scope: &Scope) -> Result<Hosts> {
    let model = prism_overlay::discover()?;
    let only = model.resolve_namespaces(scope.namespaces)?;
    Ok(plan(&model, scope, &only))
}

/// The hosts of a model, in the namespaces with the inodes `only` (all
/// when empty). Pure: tested on hand-written models.
pub fn plan(model: &Model, scope: &Scope, only: &[u32]) -> Hosts {
    let mut hosts = Hosts::default();
    let mut seen_namespaces: Vec<u32> = Vec::new();
    for o in &model.overlays {
        let in_scope = only.is_empty()
            || only.contains(&o.vxlan.ns.inode)
            || only.contains(&o.socket_ns.inode);
        if !in_scope {
            continue;
        }
        if let Some(dev) = scope.underlay
            && o.underlay.as_ref().is_none_or(|u| u.dev.name != dev)
        {
            continue;
        }
        let refuse = |reason: String| Refusal {
            namespace: o.vxlan.ns.label.clone(),
            device: o.vxlan.name.clone(),
            reason,
        };
        if seen_namespaces.contains(&o.vxlan.ns.inode) {
            hosts.refused.push(refuse(format!(
                "namespace {} has another VXLAN device Prism serves; Prism handles one per namespace",
                o.vxlan.ns.label
            )));
            continue;
        }
        match host_of(o, scope) {
            Ok(host) => {
                seen_namespaces.push(o.vxlan.ns.inode);
                hosts.served.push(host);
            }
            Err(reason) => hosts.refused.push(refuse(reason)),
        }
    }
    for t in &model.unsupported {
        hosts.refused.push(Refusal {
            namespace: t.namespace.clone(),
            device: t.name.clone(),
            reason: format!(
                "a {} device: Prism's datapath handles VXLAN overlays only",
                t.kind
            ),
        });
    }
    hosts
}

/// The host of an overlay, or why the datapath cannot serve it.
fn host_of(o: &Overlay, scope: &Scope) -> Result<Host, String> {
    if o.external {
        return Err(
            "a flow-based (external) VXLAN device, as eBPF dataplanes use: it has no fixed VNI or remotes to follow".into(),
        );
    }
    if o.ipv6_underlay {
        return Err("an IPv6 underlay: Prism's datapath handles IPv4 underlays only".into());
    }
    let Some(underlay) = &o.underlay else {
        return Err(format!("its underlay is unknown ({})", o.notes.join("; ")));
    };
    let Some(local_ip) = underlay.local_ip else {
        return Err(format!(
            "no local VTEP address: it has no `local` and {} no IPv4 address",
            underlay.dev.name
        ));
    };
    if o.learning && o.remotes.is_empty() {
        return Err(
            "it learns remote MACs from traffic (`learning`) and has no FDB entries: where remote containers are is not known until they talk".into(),
        );
    }
    let relied_on = calico_hint(o).or(o
        .conntrack_active
        .then_some("conntrack is tracking flows in this namespace, so netfilter rules rely on it: a flow whose one direction skips it can be dropped as INVALID"));
    let mut warnings = Vec::new();
    let plan = match (o.reach, o.is_split()) {
        (Reach::Routed, _) if !scope.allow_netfilter_bypass && relied_on.is_some() => {
            return Err(format!(
                "a routed overlay: for high-priority flows the fast path would skip the node's IP forwarding and netfilter ({}); pass --allow-netfilter-bypass to accept that",
                relied_on.unwrap_or_default()
            ));
        }
        (Reach::Routed, false) if !scope.allow_netfilter_bypass => {
            warnings.push(
                "routed: high-priority packets skip this node's IP forwarding and netfilter FORWARD rules (no conntrack is in use here)".into(),
            );
            Plan::Routed
        }
        (Reach::Routed, true) => {
            return Err(
                "a routed VXLAN device apart from its socket's namespace: not a layout Prism knows"
                    .into(),
            );
        }
        (Reach::Routed, false) => Plan::Routed,
        (Reach::Bridged, true) => Plan::Sandbox,
        (Reach::Bridged, false) => Plan::Bridged,
    };
    let locals = o
        .locals
        .iter()
        .map(|c| LocalContainer {
            mac: prism_kernel::rtnl::format_mac(&c.dev.mac),
            mac_bytes: c.dev.mac,
            ips: c.ips.clone(),
            host_veth: Port {
                name: c.host_veth.name.clone(),
                ifindex: c.host_veth.ifindex,
            },
            gateway_mac: c.gateway_mac.unwrap_or_default(),
        })
        // A routed pod needs its address and its gateway's MAC.
        .filter(|c| plan != Plan::Routed || (!c.ips.is_empty() && c.gateway_mac != [0; 6]))
        .collect();
    let remotes = o
        .remotes
        .iter()
        .map(|r| RemoteContainer {
            mac: prism_kernel::rtnl::format_mac(&r.mac),
            mac_bytes: r.mac,
            prefix: r.prefix,
            vtep: r.vtep,
            next_hop: r.next_hop_mac,
        })
        .collect();
    Ok(Host {
        namespace: o.vxlan.ns.label.clone(),
        ns_path: o.vxlan.ns.path.clone(),
        netns_inode: o.vxlan.ns.inode,
        plan,
        vxlan: Port {
            name: o.vxlan.name.clone(),
            ifindex: o.vxlan.ifindex,
        },
        vxlan_mac: o.vxlan.mac,
        vni: o.vni,
        port: o.port,
        underlay: Port {
            name: underlay.dev.name.clone(),
            ifindex: underlay.dev.ifindex,
        },
        socket_namespace: o.socket_ns.label.clone(),
        socket_ns_path: o.socket_ns.path.clone(),
        socket_netns_inode: o.socket_ns.inode,
        underlay_mac: underlay.dev.mac,
        underlay_is_veth: underlay.is_veth,
        underlay_mtu: underlay.dev.mtu,
        local_ip,
        locals,
        remotes,
        warnings,
    })
}

/// Calico's device and veth names, to say what a bypass would skip.
fn calico_hint(o: &Overlay) -> Option<&'static str> {
    let calico = o.vxlan.name == "vxlan.calico"
        || o.locals
            .iter()
            .any(|c| c.host_veth.name.starts_with("cali"));
    calico.then_some(
        "this looks like Calico: its NetworkPolicy would not apply to them, and a flow conntrack sees only one way is dropped as INVALID",
    )
}

#[cfg(test)]
mod tests {
    use prism_overlay::{Container, DeviceRef, NsRef, OtherTunnel, Remote, Underlay, UnderlayFrom};

    use super::*;

    fn ns(label: &str, inode: u32) -> NsRef {
        NsRef {
            label: label.into(),
            inode,
            path: PathBuf::new(),
        }
    }

    fn dev(ns: &NsRef, ifindex: u32, name: &str) -> DeviceRef {
        DeviceRef {
            ns: ns.clone(),
            ifindex,
            name: name.into(),
            mac: [2, 0, 0, 0, 0, ifindex as u8],
            mtu: 1500,
        }
    }

    /// A bridged host like Prism's lab, one container, one remote.
    fn overlay() -> Overlay {
        let host = ns("h1", 10);
        let c = ns("c1", 20);
        Overlay {
            vxlan: dev(&host, 3, "vxlan0"),
            vni: 42,
            port: 4789,
            local: Some(Ipv4Addr::new(192, 168, 100, 1)),
            learning: false,
            proxy: false,
            l2miss: false,
            l3miss: false,
            external: false,
            ipv6_underlay: false,
            addresses: Vec::new(),
            reach: Reach::Bridged,
            bridge: Some(dev(&host, 4, "br0")),
            socket_ns: host.clone(),
            underlay: Some(Underlay {
                dev: dev(&host, 2, "eth0"),
                is_veth: true,
                local_ip: Some(Ipv4Addr::new(192, 168, 100, 1)),
                found_by: UnderlayFrom::Dev,
            }),
            locals: vec![Container {
                dev: dev(&c, 2, "eth0"),
                host_veth: dev(&host, 5, "veth-c1"),
                bridge: Some(dev(&host, 4, "br0")),
                ips: vec![Ipv4Addr::new(10, 42, 0, 1)],
                gateway_mac: None,
                owner: None,
            }],
            remotes: vec![Remote {
                mac: [2, 0x42, 10, 42, 0, 2],
                prefix: None,
                vtep: Ipv4Addr::new(192, 168, 100, 2),
                next_hop: Some(Ipv4Addr::new(192, 168, 100, 2)),
                next_hop_mac: Some([2, 0, 192, 168, 100, 2]),
            }],
            conntrack_active: false,
            notes: Vec::new(),
        }
    }

    fn model(overlays: Vec<Overlay>) -> Model {
        Model {
            overlays,
            ..Default::default()
        }
    }

    fn reason(o: Overlay, scope: &Scope) -> String {
        let hosts = plan(&model(vec![o]), scope, &[]);
        assert!(hosts.served.is_empty());
        hosts.refused[0].reason.clone()
    }

    #[test]
    fn serves_bridged_routed_and_sandboxed_hosts() {
        let scope = Scope::default();
        let hosts = plan(&model(vec![overlay()]), &scope, &[]);
        assert_eq!(hosts.served.len(), 1);
        assert_eq!(hosts.served[0].plan, Plan::Bridged);
        assert_eq!(
            hosts.served[0].serves(),
            "1 local container(s), 1 remote container(s)"
        );

        let mut docker = overlay();
        docker.socket_ns = ns("root", 1);
        let hosts = plan(&model(vec![docker]), &scope, &[]);
        assert_eq!(hosts.served[0].plan, Plan::Sandbox);
        assert_eq!(hosts.served[0].socket_namespace, "root");

        let mut routed = overlay();
        routed.reach = Reach::Routed;
        routed.bridge = None;
        routed.locals[0].gateway_mac = Some([0xee; 6]);
        let bypass = Scope {
            allow_netfilter_bypass: true,
            ..Default::default()
        };
        let hosts = plan(&model(vec![routed.clone()]), &bypass, &[]);
        assert_eq!(hosts.served[0].plan, Plan::Routed);
        // Without the opt-in, a routed overlay is served only where nothing
        // relies on netfilter, and says what it skips.
        let hosts = plan(&model(vec![routed.clone()]), &scope, &[]);
        assert!(hosts.served[0].warnings[0].contains("netfilter"));
        let mut tracked = routed.clone();
        tracked.conntrack_active = true;
        assert!(reason(tracked, &scope).contains("--allow-netfilter-bypass"));
        let mut calico = routed;
        calico.vxlan.name = "vxlan.calico".into();
        assert!(reason(calico, &scope).contains("Calico"));
    }

    #[test]
    fn refuses_what_it_cannot_serve_with_the_reason() {
        let scope = Scope::default();
        let mut o = overlay();
        o.external = true;
        assert!(reason(o, &scope).contains("flow-based"));
        let mut o = overlay();
        o.ipv6_underlay = true;
        assert!(reason(o, &scope).contains("IPv6 underlay"));
        let mut o = overlay();
        o.learning = true;
        o.remotes.clear();
        assert!(reason(o, &scope).contains("no FDB entries"));
        let mut o = overlay();
        o.underlay = None;
        o.notes.push("no route".into());
        assert!(reason(o, &scope).contains("underlay is unknown (no route)"));
        let mut m = model(vec![overlay(), overlay()]);
        m.unsupported.push(OtherTunnel {
            namespace: "root".into(),
            name: "genev_sys_6081".into(),
            kind: "geneve".into(),
        });
        let hosts = plan(&m, &scope, &[]);
        assert_eq!(hosts.served.len(), 1);
        let reasons: Vec<&str> = hosts.refused.iter().map(|r| r.reason.as_str()).collect();
        assert!(reasons[0].contains("one per namespace"), "{reasons:?}");
        assert!(reasons[1].contains("geneve device"), "{reasons:?}");
    }

    #[test]
    fn scope_narrows_by_namespace_and_underlay() {
        let m = model(vec![overlay()]);
        assert_eq!(plan(&m, &Scope::default(), &[99]).served.len(), 0);
        assert_eq!(plan(&m, &Scope::default(), &[10]).served.len(), 1);
        let other = Scope {
            underlay: Some("eth9"),
            ..Default::default()
        };
        assert!(plan(&m, &other, &[]).served.is_empty());
    }

    #[test]
    fn tables_follow_the_plan() {
        use crate::tables::Tables;
        let mut routed = overlay();
        routed.reach = Reach::Routed;
        routed.bridge = None;
        routed.locals[0].gateway_mac = Some([0xee; 6]);
        routed.remotes[0].prefix = Some((Ipv4Addr::new(10, 42, 1, 0), 24));
        let scope = Scope {
            allow_netfilter_bypass: true,
            ..Default::default()
        };
        let host = plan(&model(vec![routed]), &scope, &[]).served.remove(0);
        let t = Tables::of(&host);
        assert_eq!(t.tunnel.kind, prism_datapath_common::kind::ROUTED);
        assert_eq!(t.tunnel.port, 4789);
        assert!(t.locals.is_empty() && t.remotes.is_empty());
        assert_eq!(t.local_ips[0].0, Ipv4Addr::new(10, 42, 0, 1));
        assert_eq!(t.local_ips[0].1.gateway_mac, [0xee; 6]);
        assert_eq!(t.remote_nets[0].0, (Ipv4Addr::new(10, 42, 1, 0), 24));
        let bridged = plan(&model(vec![overlay()]), &Scope::default(), &[])
            .served
            .remove(0);
        let t = Tables::of(&bridged);
        assert_eq!((t.locals.len(), t.remotes.len()), (1, 1));
        assert!(t.local_ips.is_empty() && t.remote_nets.is_empty());
    }
}
