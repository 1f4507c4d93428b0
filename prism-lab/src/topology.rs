//! Names and addresses of everything in a lab, derived from its config.
//! Pure data: building it is [`crate::lifecycle`]'s job.

use std::net::Ipv4Addr;

use serde::{Deserialize, Serialize};

/// Device names, as Docker's overlay would name them on a real host.
pub const UNDERLAY_DEV: &str = "eth0";
pub const VXLAN_DEV: &str = "vxlan0";
pub const BRIDGE_DEV: &str = "br0";
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
pub const DEFAULT_VNI: u32 = 42;
pub const DEFAULT_PORT: u16 = 4789;

/// What the user chooses about a lab.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LabConfig {
    /// Prefix of the lab's namespaces (`{name}-h1`, ...).
    pub name: String,
    pub vni: u32,
    /// VXLAN UDP destination port.
    pub port: u16,
}

impl Default for LabConfig {
    fn default() -> Self {
        Self {
            name: DEFAULT_NAME.into(),
            vni: DEFAULT_VNI,
            port: DEFAULT_PORT,
        }
    }
}

impl LabConfig {
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
        anyhow::ensure!(self.port != 0, "VXLAN port must not be 0");
        Ok(())
    }
}

/// One side of the lab: a host with its container.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Side {
    /// 1 or 2.
    pub index: u8,
    pub host_ns: String,
    pub container_ns: String,
    /// The host's underlay (VTEP) address.
    pub underlay_ip: Ipv4Addr,
    /// The container's overlay address.
    pub overlay_ip: Ipv4Addr,
    /// The container eth0's MAC, Docker-style: 02:42 + the overlay address.
    pub container_mac: [u8; 6],
    /// Host side of the container's veth pair.
    pub host_veth: String,
}

/// Both sides of a lab.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Topology {
    pub config: LabConfig,
    pub sides: [Side; 2],
}

pub const UNDERLAY_PREFIX: u8 = 24;
pub const OVERLAY_PREFIX: u8 = 24;

impl Topology {
    pub fn new(config: LabConfig) -> Self {
        let side = |index: u8| {
            let overlay_ip = Ipv4Addr::new(10, 42, 0, index);
            let [a, b, c, d] = overlay_ip.octets();
            Side {
                index,
                host_ns: format!("{}-h{index}", config.name),
                container_ns: format!("{}-c{index}", config.name),
                underlay_ip: Ipv4Addr::new(192, 168, 100, index),
                overlay_ip,
                container_mac: [0x02, 0x42, a, b, c, d],
                host_veth: format!("veth-c{index}"),
            }
        };
        let sides = [side(1), side(2)];
        Self { config, sides }
    }

    /// Every namespace of the lab, hosts first.
    pub fn namespaces(&self) -> Vec<String> {
        let hosts = self.sides.iter().map(|s| s.host_ns.clone());
        let containers = self.sides.iter().map(|s| s.container_ns.clone());
        hosts.chain(containers).collect()
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
        assert!(bad(|c| c.port = 0).contains("port"));
        LabConfig::default().validate().unwrap();
    }
}
