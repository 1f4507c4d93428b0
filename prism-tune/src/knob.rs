//! Which knobs there are: their names as the kernel spells them, defaults,
//! ranges, and the stage of the receive path each acts on.

use anyhow::{Result, bail};
use serde::Serialize;

/// What values a knob takes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Range {
    Int {
        min: i64,
        max: i64,
    },
    /// 0 or 1.
    Bool,
    /// A hex CPU mask (comma-separated 32-bit words), CPUs that exist.
    CpuMask,
}

impl Range {
    /// Checks `value`; the reason when it is refused.
    pub fn check(self, value: &str, cpus: usize) -> Result<()> {
        match self {
            Range::Int { min, max } => match value.parse::<i64>() {
                Ok(v) if (min..=max).contains(&v) => Ok(()),
                _ => bail!("{value:?} is not a whole number from {min} to {max}"),
            },
            Range::Bool => match value {
                "0" | "1" => Ok(()),
                _ => bail!("{value:?} is not 0 or 1"),
            },
            Range::CpuMask => {
                let hex: String = value.chars().filter(|c| *c != ',').collect();
                if hex.is_empty() || !hex.chars().all(|c| c.is_ascii_hexdigit()) {
                    bail!("{value:?} is not a hex CPU mask (e.g. 3 for CPUs 0 and 1)");
                }
                let bits = hex.trim_start_matches('0');
                let highest = bits.len() * 4; // an upper bound on the top CPU + 1
                let top_digit = bits
                    .chars()
                    .next()
                    .and_then(|c| c.to_digit(16))
                    .unwrap_or(0);
                let used = if bits.is_empty() {
                    0
                } else {
                    highest - 4 + (32 - top_digit.leading_zeros()) as usize
                };
                if used > cpus {
                    bail!("{value:?} names CPUs this machine lacks (it has {cpus})");
                }
                Ok(())
            }
        }
    }

    pub fn describe(self) -> String {
        match self {
            Range::Int { min, max } => format!("{min}..{max}"),
            Range::Bool => "0|1".into(),
            Range::CpuMask => "cpu mask".into(),
        }
    }
}

/// One kind of knob.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct Spec {
    /// The sysctl key (`net.core.netdev_budget`) or the device attribute
    /// (`gro_flush_timeout`, `queues/rx-N/rps_cpus`).
    pub key: &'static str,
    /// The kernel's default, where it has one.
    pub default: Option<&'static str>,
    pub range: Range,
    /// The stage of the receive path it acts on.
    pub stage: &'static str,
    pub about: &'static str,
}

const INT_MAX: i64 = i32::MAX as i64;

/// `net.core` sysctls: global, whichever namespace asks.
pub const SYSCTLS: [Spec; 8] = [
    Spec {
        key: "net.core.netdev_budget",
        default: Some("300"),
        range: Range::Int {
            min: 1,
            max: INT_MAX,
        },
        stage: "NET_RX softirq: every NAPI poll (nic, gro_cell, backlog)",
        about: "packets one NET_RX softirq run processes before it yields",
    },
    Spec {
        key: "net.core.netdev_budget_usecs",
        // 2 s / HZ: 2000 at HZ=1000, 8000 at HZ=250.
        default: None,
        range: Range::Int {
            min: 0,
            max: INT_MAX,
        },
        stage: "NET_RX softirq: every NAPI poll (nic, gro_cell, backlog)",
        about: "µs one NET_RX softirq run may last before it yields (default 2 s / HZ)",
    },
    Spec {
        key: "net.core.dev_weight",
        default: Some("64"),
        range: Range::Int {
            min: 1,
            max: INT_MAX,
        },
        stage: "backlog (per-CPU queue: veth, RPS)",
        about: "packets a backlog NAPI poll takes at a time",
    },
    Spec {
        key: "net.core.netdev_max_backlog",
        default: Some("1000"),
        range: Range::Int {
            min: 1,
            max: INT_MAX,
        },
        stage: "backlog (per-CPU queue: veth, RPS)",
        about: "packets a CPU's backlog queue holds before it drops",
    },
    Spec {
        key: "net.core.gro_normal_batch",
        default: Some("8"),
        range: Range::Int {
            min: 1,
            max: INT_MAX,
        },
        stage: "nic -> stack (GRO's list of packets to deliver)",
        about: "packets GRO gathers before handing them to the stack",
    },
    Spec {
        key: "net.core.busy_poll",
        default: Some("0"),
        range: Range::Int {
            min: 0,
            max: INT_MAX,
        },
        stage: "socket (poll/select busy-poll the device queue)",
        about: "µs poll and select spin on the device queue (0: off)",
    },
    Spec {
        key: "net.core.busy_read",
        default: Some("0"),
        range: Range::Int {
            min: 0,
            max: INT_MAX,
        },
        stage: "socket (a blocking read busy-polls the device queue)",
        about: "µs a blocking read spins on the device queue (0: off)",
    },
    Spec {
        key: "net.core.rps_sock_flow_entries",
        default: Some("0"),
        range: Range::Int {
            min: 0,
            max: 1 << 29,
        },
        stage: "backlog (RFS: steering to the reading CPU)",
        about: "flows RFS tracks (rounded up to a power of two; 0: RFS off)",
    },
];

/// A device's own attributes.
pub const DEVICE: [Spec; 3] = [
    Spec {
        key: "gro_flush_timeout",
        default: Some("0"),
        range: Range::Int {
            min: 0,
            max: INT_MAX,
        },
        stage: "nic (NAPI: how long GRO may hold packets)",
        about: "ns GRO may hold packets after a poll (with napi_defer_hard_irqs)",
    },
    Spec {
        key: "napi_defer_hard_irqs",
        default: Some("0"),
        range: Range::Int {
            min: 0,
            max: INT_MAX,
        },
        stage: "nic (NAPI: interrupts deferred to a timer)",
        about: "empty polls before the device's interrupts are on again",
    },
    Spec {
        key: "threaded",
        default: Some("0"),
        range: Range::Bool,
        stage: "nic (NAPI in kernel threads, schedulable)",
        about: "NAPI polls in a kthread per queue rather than in softirq",
    },
];

/// Offload features (`ethtool -k/-K`) that change what the receive path
/// is handed, as `features/NAME` with the kernel's feature name; 1 is on.
pub const FEATURES: [Spec; 5] = [
    Spec {
        key: "features/rx-gro",
        default: Some("1"),
        range: Range::Bool,
        stage: "nic -> stack (GRO: segments merged per poll)",
        about: "generic receive offload: merge a flow's segments before the stack",
    },
    Spec {
        key: "features/rx-gro-hw",
        default: None,
        range: Range::Bool,
        stage: "nic (hardware GRO)",
        about: "the NIC merges segments itself (GRO rules, forwarding-safe)",
    },
    Spec {
        key: "features/rx-lro",
        default: Some("0"),
        range: Range::Bool,
        stage: "nic (LRO)",
        about: "large receive offload (not forwarding-safe: off on bridges/routers)",
    },
    Spec {
        key: "features/rx-gro-list",
        default: Some("0"),
        range: Range::Bool,
        stage: "nic -> stack (fraglist GRO)",
        about: "GRO chains segments without merging (cheap to forward and resegment)",
    },
    Spec {
        key: "features/rx-udp-gro-forwarding",
        default: Some("0"),
        range: Range::Bool,
        stage: "nic -> vxlan (UDP GRO of forwarded/tunnel traffic)",
        about: "GRO for UDP that is forwarded, VXLAN's outer UDP included",
    },
];

/// Interrupt coalescing (`ethtool -c/-C`), as `coalesce/NAME`; only on
/// devices that have it (not veth).
pub const COALESCE: [Spec; 3] = [
    Spec {
        key: "coalesce/rx-usecs",
        default: None,
        range: Range::Int {
            min: 0,
            max: u32::MAX as i64,
        },
        stage: "nic (interrupt: how long the NIC waits to raise it)",
        about: "µs the NIC delays a receive interrupt after a packet",
    },
    Spec {
        key: "coalesce/rx-frames",
        default: None,
        range: Range::Int {
            min: 0,
            max: u32::MAX as i64,
        },
        stage: "nic (interrupt: packets per interrupt)",
        about: "packets the NIC gathers before a receive interrupt",
    },
    Spec {
        key: "coalesce/adaptive-rx",
        default: None,
        range: Range::Bool,
        stage: "nic (interrupt moderation by load)",
        about: "the driver adapts rx-usecs/rx-frames to the packet rate",
    },
];

/// Per receive queue (`queues/rx-N/`).
pub const RX_QUEUE: [Spec; 2] = [
    Spec {
        key: "rps_cpus",
        default: Some("0"),
        range: Range::CpuMask,
        stage: "backlog (RPS: which CPUs process this queue's packets)",
        about: "CPUs RPS spreads this queue's packets over (0: off)",
    },
    Spec {
        key: "rps_flow_cnt",
        default: Some("0"),
        range: Range::Int {
            min: 0,
            max: 1 << 29,
        },
        stage: "backlog (RFS: this queue's flow table)",
        about: "flows RFS tracks for this queue",
    },
];

/// Per transmit queue (`queues/tx-N/`).
pub const TX_QUEUE: [Spec; 1] = [Spec {
    key: "xps_cpus",
    default: None,
    range: Range::CpuMask,
    stage: "wire (XPS: which CPUs send on this queue)",
    about: "CPUs whose packets use this transmit queue",
}];

/// A knob named on the command line: a sysctl, or `DEV/ATTR` with the
/// attribute possibly under `queues/rx-N/` or `queues/tx-N/`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, serde::Deserialize, PartialOrd, Ord)]
pub struct KnobName {
    /// The device, for device attributes.
    pub device: Option<String>,
    /// The sysctl key, or the attribute's path under the device.
    pub key: String,
}

impl KnobName {
    /// Parses a name and finds its spec, or says what is known.
    pub fn parse(text: &str) -> Result<(Self, Spec)> {
        if let Some(spec) = SYSCTLS.iter().find(|s| s.key == text) {
            return Ok((
                KnobName {
                    device: None,
                    key: text.into(),
                },
                *spec,
            ));
        }
        if text.starts_with("net.") {
            bail!(
                "unknown sysctl {text}; the ones Prism tunes: {}",
                SYSCTLS.map(|s| s.key).join(", ")
            );
        }
        let Some((device, key)) = text.split_once('/') else {
            bail!(
                "unknown knob {text}: name a sysctl (e.g. net.core.netdev_budget) or DEV/ATTR (e.g. eth0/gro_flush_timeout)"
            );
        };
        let spec = spec_of_attribute(key).ok_or_else(|| {
            anyhow::anyhow!(
                "unknown device attribute {key}; the ones Prism tunes: {}, {}, {}, queues/rx-N/{}, queues/tx-N/{}",
                DEVICE.map(|s| s.key).join(", "),
                FEATURES.map(|s| s.key).join(", "),
                COALESCE.map(|s| s.key).join(", "),
                RX_QUEUE.map(|s| s.key).join(", queues/rx-N/"),
                TX_QUEUE.map(|s| s.key).join(", queues/tx-N/")
            )
        })?;
        if device.is_empty() || device.contains(['/', '\0']) || device == "." || device == ".." {
            bail!("{device:?} is not a device name");
        }
        Ok((
            KnobName {
                device: Some(device.into()),
                key: key.into(),
            },
            spec,
        ))
    }
}

/// Where the kernel keeps a knob.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Via<'a> {
    /// `/proc/sys` or the device's sysfs directory.
    Sysfs,
    /// An offload feature (ethtool ioctl), by the kernel's name.
    Feature(&'a str),
    /// A coalescing parameter (ethtool ioctl), by ethtool's name.
    Coalesce(&'a str),
}

impl KnobName {
    pub fn via(&self) -> Via<'_> {
        if self.device.is_some() {
            if let Some(f) = self.key.strip_prefix("features/") {
                return Via::Feature(f);
            }
            if let Some(c) = self.key.strip_prefix("coalesce/") {
                return Via::Coalesce(c);
            }
        }
        Via::Sysfs
    }
}

impl std::fmt::Display for KnobName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.device {
            Some(d) => write!(f, "{d}/{}", self.key),
            None => f.write_str(&self.key),
        }
    }
}

/// The spec of `gro_flush_timeout` or `queues/rx-3/rps_cpus`.
fn spec_of_attribute(key: &str) -> Option<Spec> {
    if let Some(s) = DEVICE
        .iter()
        .chain(&FEATURES)
        .chain(&COALESCE)
        .find(|s| s.key == key)
    {
        return Some(*s);
    }
    let (queue, attr) = key.strip_prefix("queues/")?.split_once('/')?;
    let (kind, n) = queue.split_once('-')?;
    n.parse::<u32>().ok()?;
    let specs: &[Spec] = match kind {
        "rx" => &RX_QUEUE,
        "tx" => &TX_QUEUE,
        _ => return None,
    };
    specs.iter().find(|s| s.key == attr).copied()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_parse_to_their_specs_or_say_what_is_known() {
        let (n, s) = KnobName::parse("net.core.netdev_budget").unwrap();
        assert_eq!((n.device, s.default), (None, Some("300")));
        let (n, s) = KnobName::parse("eth0/queues/rx-0/rps_cpus").unwrap();
        assert_eq!(n.device.as_deref(), Some("eth0"));
        assert_eq!(s.range, Range::CpuMask);
        assert_eq!(n.to_string(), "eth0/queues/rx-0/rps_cpus");
        let (n, s) = KnobName::parse("eth0/features/rx-gro-list").unwrap();
        assert_eq!(
            (n.key.as_str(), s.range),
            ("features/rx-gro-list", Range::Bool)
        );
        assert_eq!(n.via(), Via::Feature("rx-gro-list"));
        let (n, _) = KnobName::parse("eth0/coalesce/rx-usecs").unwrap();
        assert_eq!(n.via(), Via::Coalesce("rx-usecs"));
        assert_eq!(
            KnobName::parse("eth0/threaded").unwrap().0.via(),
            Via::Sysfs
        );
        for (bad, says) in [
            ("net.core.somaxconn", "unknown sysctl"),
            ("eth0/mtu", "unknown device attribute"),
            ("eth0/features/rx-checksum", "unknown device attribute"),
            ("eth0/queues/rx-x/rps_cpus", "unknown device attribute"),
            ("../threaded", "not a device name"),
            ("budget", "unknown knob"),
        ] {
            let e = KnobName::parse(bad).unwrap_err().to_string();
            assert!(e.contains(says), "{bad}: {e}");
        }
    }

    #[test]
    fn ranges_refuse_with_the_reason() {
        let int = Range::Int { min: 1, max: 10 };
        assert!(int.check("5", 2).is_ok());
        assert!(
            int.check("0", 2)
                .unwrap_err()
                .to_string()
                .contains("from 1 to 10")
        );
        assert!(int.check("x", 2).is_err());
        assert!(Range::Bool.check("1", 2).is_ok() && Range::Bool.check("2", 2).is_err());
        for ok in ["0", "3", "00000003", "0,00000001"] {
            assert!(Range::CpuMask.check(ok, 2).is_ok(), "{ok}");
        }
        assert!(
            Range::CpuMask
                .check("4", 2)
                .unwrap_err()
                .to_string()
                .contains("lacks")
        );
        assert!(Range::CpuMask.check("g", 2).is_err());
        assert!(Range::CpuMask.check("", 2).is_err());
    }
}
