//! Names and addresses of everything in a lab, derived from its config.
//! Pure data: building it is [`crate::build`]'s job.
//!
//! Each flavor is laid out as the real overlay lays out a node (see
//! `../shared/OVERLAYS.md`): Docker's per-network sandbox, Flannel's
//! `flannel.1` routed to `cni0`, Calico's `vxlan.calico` routed to `cali*`
//! veths. Only the workloads' namespaces keep short names, except the CNI
//! flavors' pods, which are named as containerd names them.

use std::net::Ipv4Addr;

use serde::{Deserialize, Serialize};

pub const UNDERLAY_DEV: &str = "eth0";
pub const CONTAINER_DEV: &str = "eth0";
/// The VXLAN header, outer UDP, IPv4 and Ethernet: what the overlay costs.
pub const VXLAN_OVERHEAD: u32 = 50;
pub const UNDERLAY_MTU: u32 = 1500;
/// Receive (and transmit) queues of the underlay wire, like a multi-queue
/// NIC: enough for the datapath's nic mode to give high-priority flows a
/// ring of their own (ring 2: a veth reads ring k's RPS map from rx-(k-1)).
pub const UNDERLAY_QUEUES: u32 = 3;
pub const OVERLAY_MTU: u32 = UNDERLAY_MTU - VXLAN_OVERHEAD;
pub const DEFAULT_NAME: &str = "prism";

/// Which real overlay the lab copies.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Flavor {
    /// Prism's own lab: bridge, VXLAN device and underlay in one host
    /// namespace, static FDB.
    #[default]
    Prism,
    /// Docker swarm's overlay driver: `vxlan0`, `br0` and `veth0` in a
    /// per-network sandbox namespace, the VXLAN socket and the underlay in
    /// the node's; `learning proxy l2miss l3miss`, no `dev`, no `local`.
    Docker,
    /// Flannel's vxlan backend with the bridge CNI: `flannel.1` (VNI 1,
    /// the kernel's default port 8472) routed to `cni0`.
    Flannel,
    /// Calico in VXLAN mode: `vxlan.calico` (VNI 4096) routed to `cali*`
    /// veths by /32 routes, no bridge.
    Calico,
}

impl Flavor {
    pub const ALL: [Flavor; 4] = [Self::Prism, Self::Docker, Self::Flannel, Self::Calico];

    pub fn name(self) -> &'static str {
        match self {
            Self::Prism => "prism",
            Self::Docker => "docker",
            Self::Flannel => "flannel",
            Self::Calico => "calico",
        }
    }

    pub fn default_vni(self) -> u32 {
        match self {
            Self::Prism => 42,
            Self::Docker | Self::Calico => 4096,
            Self::Flannel => 1,
        }
    }

    /// None: the kernel's default (8472), which is what Flannel leaves it at.
    pub fn default_port(self) -> Option<u16> {
        match self {
            Self::Flannel => None,
            _ => Some(4789),
        }
    }

    /// Routed (the node forwards by IP) rather than bridged.
    pub fn is_routed(self) -> bool {
        matches!(self, Self::Flannel | Self::Calico)
    }

    fn vxlan_dev(self) -> &'static str {
        match self {
            Self::Prism | Self::Docker => "vxlan0",
            Self::Flannel => "flannel.1",
            Self::Calico => "vxlan.calico",
        }
    }
}

impl std::str::FromStr for Flavor {
    type Err = anyhow::Error;
    fn from_str(s: &str) -> anyhow::Result<Self> {
        Self::ALL
            .into_iter()
            .find(|f| f.name() == s)
            .ok_or_else(|| {
                anyhow::anyhow!("unknown overlay {s:?} (expected prism, docker, flannel or calico)")
            })
    }
}

impl std::fmt::Display for Flavor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// What the user chooses about a lab.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LabConfig {
    /// Prefix of the lab's namespaces (`{name}-h1`, ...).
    pub name: String,
    pub vni: u32,
    /// VXLAN UDP destination port; None: the kernel's default (8472).
    pub port: Option<u16>,
    #[serde(default)]
    pub overlay: Flavor,
    /// A router namespace between the hosts: the VTEPs are on different
    /// subnets, so the next hop of encapsulated packets is the router.
    #[serde(default)]
    pub router: bool,
    /// The wire's veths get a qdisc (`mq`), as a NIC has: a full ring then
    /// stops the queue and the qdisc holds packets, where a veth without
    /// one drops them.
    #[serde(default)]
    pub queued_wire: bool,
}

impl Default for LabConfig {
    fn default() -> Self {
        Self::new(DEFAULT_NAME, Flavor::Prism)
    }
}

impl LabConfig {
    /// A lab of this flavor with its overlay's VNI and port.
    pub fn new(name: &str, overlay: Flavor) -> Self {
        Self {
            name: name.into(),
            vni: overlay.default_vni(),
            port: overlay.default_port(),
            overlay,
            router: false,
            queued_wire: false,
        }
    }

    /// The UDP port the VXLAN devices use.
    pub fn udp_port(&self) -> u16 {
        self.port.unwrap_or(8472)
    }

    /// Checks what the kernel would otherwise reject with a vaguer message.
    pub fn validate(&self) -> anyhow::Result<()> {
        let name_ok = !self.name.is_empty()
            && self.name.len() <= 40
            && self
                .name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
        anyhow::ensure!(
            name_ok,
            "lab name {:?} must be 1-40 letters, digits, '-' or '_'",
            self.name
        );
        anyhow::ensure!(
            (1..1 << 24).contains(&self.vni),
            "VNI {} is out of range (1-16777215)",
            self.vni
        );
        anyhow::ensure!(self.port != Some(0), "VXLAN port must not be 0");
        Ok(())
    }
}

/// One side of the lab: a host with its container.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Side {
    /// 1 or 2.
    pub index: u8,
    /// The node: underlay, VXLAN socket (and, but for Docker, device).
    pub host_ns: String,
    /// Docker: the network sandbox holding `vxlan0`, `br0` and `veth0`.
    pub sandbox_ns: Option<String>,
    pub container_ns: String,
    /// The host's underlay (VTEP) address.
    pub underlay_ip: Ipv4Addr,
    /// The container's overlay address.
    pub overlay_ip: Ipv4Addr,
    pub overlay_prefix: u8,
    /// The container eth0's MAC.
    pub container_mac: [u8; 6],
    /// Host side of the container's veth pair (in the sandbox on Docker).
    pub host_veth: String,
    pub vxlan_dev: String,
    /// The VXLAN device's MAC (routed overlays put it on the wire).
    pub vxlan_mac: [u8; 6],
    /// The bridge: `br0` (Prism, Docker) or `cni0` (Flannel); Calico has none.
    pub bridge: Option<String>,
    pub bridge_mac: [u8; 6],
    /// Routed: this node's pod prefix, and the address on its VXLAN device
    /// (the prefix's first address, as Flannel and Calico choose it).
    pub pod_prefix: (Ipv4Addr, u8),
    /// Where the container's default route points: the bridge's address
    /// (Docker, Flannel), Calico's 169.254.1.1, none in Prism's lab.
    pub gateway: Option<Ipv4Addr>,
    pub gateway_mac: [u8; 6],
}

/// Both sides of a lab.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Topology {
    pub config: LabConfig,
    pub sides: [Side; 2],
    /// The router between the hosts (`--router`).
    pub router_ns: Option<String>,
}

pub const UNDERLAY_PREFIX: u8 = 24;

/// A short, stable hex digest of `text`, for names the real overlays
/// derive from ids (Docker's network id, containerd's netns UUIDs).
pub fn digest(text: &str, chars: usize) -> String {
    // FNV-1a, twice with different seeds: enough bits for 24 hex digits.
    let fnv = |seed: u64| {
        text.bytes()
            .fold(seed, |h, b| (h ^ b as u64).wrapping_mul(0x100_0000_01b3))
    };
    let hex = format!(
        "{:016x}{:016x}",
        fnv(0xcbf2_9ce4_8422_2325),
        fnv(0x84222325cbf29ce4)
    );
    hex[..chars.min(hex.len())].to_string()
}

impl Topology {
    pub fn new(config: LabConfig) -> Self {
        let flavor = config.overlay;
        let name = config.name.clone();
        let side = |index: u8| {
            let host_ns = format!("{name}-h{index}");
            let n = index;
            let (overlay_ip, overlay_prefix, pod_prefix, gateway) = match flavor {
                Flavor::Prism => (
                    Ipv4Addr::new(10, 42, 0, n),
                    24,
                    (Ipv4Addr::new(10, 42, 0, 0), 24),
                    None,
                ),
                Flavor::Docker => (
                    Ipv4Addr::new(10, 0, 1, n + 1),
                    24,
                    (Ipv4Addr::new(10, 0, 1, 0), 24),
                    Some(Ipv4Addr::new(10, 0, 1, 1)),
                ),
                Flavor::Flannel => (
                    Ipv4Addr::new(10, 244, n, 2),
                    24,
                    (Ipv4Addr::new(10, 244, n, 0), 24),
                    Some(Ipv4Addr::new(10, 244, n, 1)),
                ),
                Flavor::Calico => (
                    Ipv4Addr::new(10, 65, n, 1),
                    32,
                    (Ipv4Addr::new(10, 65, n, 0), 26),
                    Some(Ipv4Addr::new(169, 254, 1, 1)),
                ),
            };
            let [a, b, c, d] = overlay_ip.octets();
            let container_mac = match flavor {
                // Docker and Prism: 02:42 + the IPv4 address; the CNI
                // bridge plugin: 0a:58 + the address.
                Flavor::Prism | Flavor::Docker => [0x02, 0x42, a, b, c, d],
                Flavor::Flannel | Flavor::Calico => [0x0a, 0x58, a, b, c, d],
            };
            let pod_id = digest(&format!("{name}-pod{n}"), 32);
            let container_ns = match flavor {
                Flavor::Prism | Flavor::Docker => format!("{name}-c{n}"),
                Flavor::Flannel | Flavor::Calico => format!(
                    "cni-{}-{}-{}-{}-{}",
                    &pod_id[0..8],
                    &pod_id[8..12],
                    &pod_id[12..16],
                    &pod_id[16..20],
                    &pod_id[20..32]
                ),
            };
            let host_veth = match flavor {
                Flavor::Prism => format!("veth-c{n}"),
                Flavor::Docker => "veth0".into(),
                Flavor::Flannel => format!("veth{}", &pod_id[..8]),
                Flavor::Calico => format!("cali{}", &pod_id[..11]),
            };
            let bridge = match flavor {
                Flavor::Prism | Flavor::Docker => Some("br0".to_string()),
                Flavor::Flannel => Some("cni0".to_string()),
                Flavor::Calico => None,
            };
            let bridge_mac = [0x02, 0x00, 0x0b, 0x00, 0x00, n];
            let gateway_mac = match flavor {
                Flavor::Calico => [0xee; 6],
                _ => bridge_mac,
            };
            Side {
                index,
                sandbox_ns: (flavor == Flavor::Docker)
                    .then(|| format!("{host_ns}-1-{}", digest(&format!("{name}-net"), 10))),
                host_ns,
                container_ns,
                underlay_ip: if config.router && n == 2 {
                    Ipv4Addr::new(192, 168, 200, n)
                } else {
                    Ipv4Addr::new(192, 168, 100, n)
                },
                overlay_ip,
                overlay_prefix,
                container_mac,
                host_veth,
                vxlan_dev: flavor.vxlan_dev().into(),
                vxlan_mac: match flavor {
                    Flavor::Calico => [0x66, 0x00, 0x0c, 0x00, 0x00, n],
                    _ => [0x5e, 0x00, 0x0f, 0x00, 0x00, n],
                },
                bridge,
                bridge_mac,
                pod_prefix,
                gateway,
                gateway_mac,
            }
        };
        let sides = [side(1), side(2)];
        Self {
            router_ns: config.router.then(|| format!("{name}-r")),
            config,
            sides,
        }
    }

    /// Every namespace of the lab: hosts, sandboxes, router, containers.
    pub fn namespaces(&self) -> Vec<String> {
        let hosts = self.sides.iter().map(|s| s.host_ns.clone());
        let sandboxes = self.sides.iter().filter_map(|s| s.sandbox_ns.clone());
        let containers = self.sides.iter().map(|s| s.container_ns.clone());
        hosts
            .chain(sandboxes)
            .chain(self.router_ns.clone())
            .chain(containers)
            .collect()
    }

    /// The other side of `side`.
    pub fn peer(&self, side: &Side) -> &Side {
        &self.sides[if side.index == 1 { 1 } else { 0 }]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derives_names_and_addresses() {
        let t = Topology::new(LabConfig::default());
        assert_eq!(
            t.namespaces(),
            ["prism-h1", "prism-h2", "prism-c1", "prism-c2"]
        );
        let [a, b] = &t.sides;
        assert_eq!(a.overlay_ip.to_string(), "10.42.0.1");
        assert_eq!(b.underlay_ip.to_string(), "192.168.100.2");
        assert_eq!(b.container_mac, [0x02, 0x42, 10, 42, 0, 2]);
        assert_eq!(t.peer(a).index, 2);
        assert_eq!(t.peer(b).index, 1);
        assert_eq!(OVERLAY_MTU, 1450);
        assert_eq!(t.config.udp_port(), 4789);
    }

    #[test]
    fn flavors_are_named_as_the_real_overlays_name_things() {
        let docker = Topology::new(LabConfig::new("d", Flavor::Docker));
        let s = &docker.sides[0];
        assert_eq!(
            (s.vxlan_dev.as_str(), s.host_veth.as_str()),
            ("vxlan0", "veth0")
        );
        let sandbox = s.sandbox_ns.as_deref().unwrap();
        assert!(sandbox.starts_with("d-h1-1-") && sandbox.len() == "d-h1-1-".len() + 10);
        assert_eq!(
            docker.sides[1].sandbox_ns.as_deref().unwrap()[5..],
            sandbox[5..]
        );
        assert_eq!(docker.namespaces().len(), 6);
        assert_eq!(docker.config.vni, 4096);

        let flannel = Topology::new(LabConfig::new("f", Flavor::Flannel));
        let s = &flannel.sides[1];
        assert_eq!(flannel.config.port, None);
        assert_eq!(flannel.config.udp_port(), 8472);
        assert_eq!(s.overlay_ip.to_string(), "10.244.2.2");
        assert!(s.container_ns.starts_with("cni-") && s.container_ns.len() == 40);
        assert!(s.host_veth.starts_with("veth") && s.host_veth.len() == 12);
        assert_eq!(s.gateway.unwrap().to_string(), "10.244.2.1");

        let calico = Topology::new(LabConfig::new("c", Flavor::Calico));
        let s = &calico.sides[0];
        assert!(s.host_veth.starts_with("cali") && s.host_veth.len() == 15);
        assert_eq!(s.bridge, None);
        assert_eq!(s.gateway_mac, [0xee; 6]);
        assert_eq!(s.pod_prefix, (Ipv4Addr::new(10, 65, 1, 0), 26));

        let mut routed = LabConfig::new("r", Flavor::Prism);
        routed.router = true;
        let t = Topology::new(routed);
        assert_eq!(t.router_ns.as_deref(), Some("r-r"));
        assert_eq!(t.sides[1].underlay_ip.to_string(), "192.168.200.2");
        assert_ne!(digest("a", 10), digest("b", 10));
    }

    #[test]
    fn rejects_bad_configs() {
        let bad = |f: fn(&mut LabConfig)| {
            let mut c = LabConfig::default();
            f(&mut c);
            c.validate().unwrap_err().to_string()
        };
        assert!(bad(|c| c.name = "a b".into()).contains("lab name"));
        assert!(bad(|c| c.name = String::new()).contains("lab name"));
        assert!(bad(|c| c.vni = 0).contains("VNI 0"));
        assert!(bad(|c| c.vni = 1 << 24).contains("out of range"));
        assert!(bad(|c| c.port = Some(0)).contains("port"));
        LabConfig::default().validate().unwrap();
        assert!("geneve".parse::<Flavor>().is_err());
        assert_eq!("calico".parse::<Flavor>().unwrap(), Flavor::Calico);
    }
}
