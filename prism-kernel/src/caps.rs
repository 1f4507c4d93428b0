//! Effective capabilities of this process, read from `/proc/self/status`.

use serde::Serialize;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Capability {
    NetAdmin = 12,
    SysAdmin = 21,
    Perfmon = 38,
    Bpf = 39,
}

impl Capability {
    pub const ALL: [Capability; 4] = [Self::Bpf, Self::NetAdmin, Self::Perfmon, Self::SysAdmin];

    pub fn name(self) -> &'static str {
        match self {
            Self::NetAdmin => "CAP_NET_ADMIN",
            Self::SysAdmin => "CAP_SYS_ADMIN",
            Self::Perfmon => "CAP_PERFMON",
            Self::Bpf => "CAP_BPF",
        }
    }
}

/// The effective capability set.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CapSet(u64);

impl CapSet {
    pub fn current() -> Self {
        let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
        Self::parse_status(&status)
    }

    fn parse_status(status: &str) -> Self {
        let bits = status
            .lines()
            .find_map(|l| l.strip_prefix("CapEff:"))
            .and_then(|hex| u64::from_str_radix(hex.trim(), 16).ok())
            .unwrap_or(0);
        Self(bits)
    }

    pub fn has(self, cap: Capability) -> bool {
        self.0 & (1 << cap as u64) != 0
    }

    /// Loading tracing programs needs CAP_BPF + CAP_PERFMON, or CAP_SYS_ADMIN.
    pub fn can_trace(self) -> bool {
        self.has(Capability::SysAdmin) || self.has(Capability::Bpf) && self.has(Capability::Perfmon)
    }

    /// Attaching to network hooks and building namespaces needs CAP_NET_ADMIN,
    /// plus CAP_BPF (or CAP_SYS_ADMIN) for the programs.
    pub fn can_manage_network(self) -> bool {
        self.has(Capability::NetAdmin)
            && (self.has(Capability::Bpf) || self.has(Capability::SysAdmin))
    }
}

/// The one-line refusal every privileged command gives.
pub fn require(ok: bool, what: &str, needs: &str) -> anyhow::Result<()> {
    if ok {
        Ok(())
    } else {
        anyhow::bail!("{what} needs {needs}; run it as root (e.g. with sudo)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_root_and_unprivileged_sets() {
        let root = CapSet::parse_status("Name:\tx\nCapEff:\t000001ffffffffff\n");
        assert!(root.can_trace() && root.can_manage_network());
        let none = CapSet::parse_status("CapEff:\t0000000000000000\n");
        assert!(!none.can_trace() && !none.can_manage_network());
        let bpf_only = CapSet(1 << Capability::Bpf as u64 | 1 << Capability::Perfmon as u64);
        assert!(bpf_only.can_trace() && !bpf_only.can_manage_network());
    }
}
