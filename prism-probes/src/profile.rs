//! Profiles: how much the profilers hook, traded against what they cost.

use std::{fmt, str::FromStr};

use serde::{Deserialize, Serialize};

use crate::stages::{Stage, Unseen};

/// Which hooks the profilers run, and which packets they time.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Profile {
    /// Every hook: every stage, both classes, every packet.
    Full,
    /// Cheap enough to leave on: every high-class packet timed, low-class
    /// journeys sampled (see [`prism_probes_common::sampling`]) with their counts scaled;
    /// no hook that fires once per wire-sized segment
    /// (`napi_gro_receive_entry`), so `nic` is not timed and `gro_cell` is
    /// counted in `vxlan`. Every other stage as in full, and the context
    /// hooks too: they run inside the backlog and socket stages, and a
    /// profile without them would time those stages faster than full does.
    #[default]
    AlwaysOn,
}

/// Low-class journeys the always-on profile times per second: enough for
/// a second's percentiles, few enough that bulk traffic costs little.
pub const ALWAYS_ON_LOW_PER_SEC: u32 = 4000;

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

    /// How many low-class journeys per second are timed; `None`: all.
    pub fn low_timed_per_sec(self) -> Option<u32> {
        match self {
            Self::Full => None,
            Self::AlwaysOn => Some(ALWAYS_ON_LOW_PER_SEC),
        }
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
        let mut parts: Vec<String> = self
            .unseen()
            .iter()
            .map(|u| u.describe().to_string())
            .collect();
        if let Some(n) = self.low_timed_per_sec() {
            parts.push(format!("low class sampled to about {n} journeys/s"));
        }
        parts.join(", ")
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
    fn names_round_trip_and_only_always_on_skips_hooks_and_samples() {
        for p in Profile::ALL {
            assert_eq!(p.name().parse::<Profile>(), Ok(p));
        }
        assert!("lean".parse::<Profile>().is_err());
        assert!(Profile::AlwaysOn.skips("napi_gro_receive_entry"));
        assert!(!Profile::AlwaysOn.skips("netif_receive_skb"));
        assert!(!Profile::AlwaysOn.skips("kfree_skb"), "drops end journeys");
        assert!(
            !Profile::AlwaysOn.skips("softirq_raise"),
            "context hooks run inside stages"
        );
        assert!(Profile::ALL.iter().all(|p| !p.skips("consume_skb")));
        assert!(!Profile::Full.skips("napi_gro_receive_entry"));
        assert_eq!(Profile::Full.low_timed_per_sec(), None);
        assert_eq!(Profile::default(), Profile::AlwaysOn);
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
