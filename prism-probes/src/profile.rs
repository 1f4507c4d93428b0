//! Profiles: how much the profilers hook, traded against what they cost.

use std::{fmt, str::FromStr};

use serde::{Deserialize, Serialize};

use crate::stages::{Stage, Unseen};

/// Which hooks the profilers run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Profile {
    /// Every hook: every stage, both classes, every packet.
    #[default]
    Full,
    /// Cheap enough to leave on: no hook that fires once per wire-sized
    /// segment (`napi_gro_receive_entry`), so `nic` is not timed and
    /// `gro_cell` is counted in `vxlan`; every other stage as in full.
    AlwaysOn,
}

impl Profile {
    pub const ALL: [Profile; 2] = [Profile::Full, Profile::AlwaysOn];

    pub fn name(self) -> &'static str {
        match self {
            Self::Full => "full",
            Self::AlwaysOn => "always-on",
        }
    }

    /// Whether this profile leaves `tracepoint` unhooked.
    pub fn skips(self, tracepoint: &str) -> bool {
        self == Self::AlwaysOn && tracepoint == "napi_gro_receive_entry"
    }

    /// The points no program sees with this profile.
    pub fn unseen(self) -> &'static [Unseen] {
        match self {
            Self::Full => &[],
            Self::AlwaysOn => &[Unseen::GroEntry],
        }
    }

    /// Whether `stage` measures the same here as in the full profile
    /// (neither absent nor widened by a merge).
    pub fn measures_as_full(self, stage: Stage) -> bool {
        !self
            .unseen()
            .iter()
            .any(|u| u.removes(stage) || u.widens(stage))
    }

    /// What it leaves out, for humans (empty for full).
    pub fn describe(self) -> String {
        self.unseen()
            .iter()
            .map(|u| u.describe())
            .collect::<Vec<_>>()
            .join(", ")
    }
}

impl fmt::Display for Profile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Profile {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        Self::ALL
            .into_iter()
            .find(|p| p.name() == s)
            .ok_or_else(|| format!("unknown profile {s:?} (expected full or always-on)"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_only_always_on_skips_gro_entry() {
        for p in Profile::ALL {
            assert_eq!(p.name().parse::<Profile>(), Ok(p));
        }
        assert!("lean".parse::<Profile>().is_err());
        assert!(Profile::AlwaysOn.skips("napi_gro_receive_entry"));
        assert!(!Profile::AlwaysOn.skips("netif_receive_skb"));
        assert!(!Profile::Full.skips("napi_gro_receive_entry"));
        assert!(Profile::Full.describe().is_empty());
        let same: Vec<Stage> = Stage::ALL
            .into_iter()
            .filter(|s| !Profile::AlwaysOn.measures_as_full(*s))
            .collect();
        assert_eq!(
            same,
            [Stage::Nic, Stage::Vxlan, Stage::GroCell, Stage::Wire],
            "what the always-on profile changes"
        );
    }
}
