//! The datapath's eBPF object for one host: its programs and tables.

use std::path::Path;

use anyhow::{Context, Result};
use aya::{
    Ebpf,
    maps::{Array, PerCpuArray},
    programs::SchedClassifier,
};
use prism_datapath_common::{COUNTER_SLOTS, Config, counter_slot, reason};
use prism_kernel::bpf::program;
use prism_rules::{Rule, RuleSet};
use serde::Serialize;

use crate::tables::{Maps, Tables};

/// Program names in the object.
pub const RX_PROGRAM: &str = "prism_rx";
pub const RX_SANDBOX_PROGRAM: &str = "prism_rx_sandbox";
pub const TX_PROGRAM: &str = "prism_tx";
pub const STEER_PROGRAM: &str = "prism_steer";

/// Every program, and the name its pin has in a host's directory.
pub const PROGRAMS: [(&str, &str); 4] = [
    (RX_PROGRAM, "prog_rx"),
    (RX_SANDBOX_PROGRAM, "prog_rx_sandbox"),
    (TX_PROGRAM, "prog_tx"),
    (STEER_PROGRAM, "prog_steer"),
];

/// The loaded (not yet attached) datapath of one host.
pub struct DatapathObject {
    ebpf: Ebpf,
}

impl DatapathObject {
    /// Loads the object. With `rules_pin`, the rule maps are shared through
    /// that bpffs directory (created there if absent), as `prism enable`
    /// and `prism stat` do; without, they are private (tests).
    pub fn load(rules_pin: Option<&Path>) -> Result<Self> {
        let helpers = crate::capabilities::helpers()?;
        let mut loader = prism_kernel::bpf::loader();
        loader.override_global("HELPERS", &helpers, true);
        if let Some(dir) = rules_pin {
            prism_kernel::files::create_dirs(dir)
                .with_context(|| format!("create {}", dir.display()))?;
            loader.map_pin_path("RULES", dir.join("RULES"));
            loader.map_pin_path("RULE_COUNT", dir.join("RULE_COUNT"));
        }
        let mut ebpf = loader
            .load(crate::object())
            .context("load the datapath object")?;
        for (name, _) in PROGRAMS {
            let p: &mut SchedClassifier = program(&mut ebpf, name)?;
            p.load().with_context(|| format!("load {name}"))?;
        }
        Ok(Self { ebpf })
    }

    pub fn ebpf(&self) -> &Ebpf {
        &self.ebpf
    }

    pub fn ebpf_mut(&mut self) -> &mut Ebpf {
        &mut self.ebpf
    }

    pub fn program(&mut self, name: &str) -> Result<&mut SchedClassifier> {
        program(&mut self.ebpf, name)
    }

    fn map_mut(&mut self, name: &str) -> Result<&mut aya::maps::Map> {
        self.ebpf
            .map_mut(name)
            .with_context(|| format!("{name} map missing"))
    }
}

impl Maps for DatapathObject {
    fn map(&mut self, name: &str) -> Result<&mut aya::maps::Map> {
        self.map_mut(name)
    }
}

impl DatapathObject {
    pub fn set_config(&mut self, config: Config) -> Result<()> {
        Array::<_, Config>::try_from(self.map_mut("CONFIG")?)?.set(0, config, 0)?;
        Ok(())
    }

    /// Writes the tunnel and the container tables.
    pub fn set_tables(&mut self, tables: &Tables) -> Result<()> {
        tables.write(self)
    }

    /// Writes the rules (into the shared map when pinned).
    pub fn set_rules(&mut self, rules: &RuleSet) -> Result<()> {
        write_rules(self.map_mut("RULES")?, rules)?;
        Array::<_, u32>::try_from(self.map_mut("RULE_COUNT")?)?.set(0, rules.len() as u32, 0)?;
        Ok(())
    }

    /// Counters summed over CPUs.
    pub fn counters(&self) -> Result<Counters> {
        let map = self.ebpf.map("COUNTERS").context("COUNTERS map missing")?;
        Counters::read(&PerCpuArray::<_, u64>::try_from(map)?)
    }
}

pub(crate) fn write_rules(map: &mut aya::maps::Map, rules: &RuleSet) -> Result<()> {
    let mut array: Array<_, Rule> = Array::try_from(map)?;
    for (i, rule) in rules.rules().iter().enumerate() {
        array.set(i as u32, *rule, 0)?;
    }
    Ok(())
}

/// What the datapath did, per direction, reason and class.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Counters {
    /// `[direction][reason][class]`, class 0 low, 1 high.
    pub slots: Vec<u64>,
}

impl Counters {
    pub fn read<T: std::borrow::Borrow<aya::maps::MapData>>(
        map: &PerCpuArray<T, u64>,
    ) -> Result<Self> {
        let mut slots = vec![0; COUNTER_SLOTS as usize];
        for (i, slot) in slots.iter_mut().enumerate() {
            *slot = map.get(&(i as u32), 0)?.iter().sum();
        }
        Ok(Self { slots })
    }

    pub fn get(&self, direction: u32, reason: u32, high: bool) -> u64 {
        self.slots[counter_slot(direction, reason, high as u32) as usize]
    }

    /// Non-zero counters as (direction, reason name, class, count).
    pub fn nonzero(&self) -> Vec<(&'static str, &'static str, &'static str, u64)> {
        let mut out = Vec::new();
        for (d, dname) in [(0, "rx"), (1, "tx"), (2, "egress")] {
            for r in 0..reason::COUNT {
                for (c, cname) in [(1, "high"), (0, "low")] {
                    let n = self.get(d, r, c == 1);
                    if n > 0 {
                        out.push((dname, reason::NAMES[r as usize], cname, n));
                    }
                }
            }
        }
        out
    }

    /// The counters' sum with another set (several hosts).
    pub fn add(&mut self, other: &Counters) {
        if self.slots.is_empty() {
            self.slots = vec![0; COUNTER_SLOTS as usize];
        }
        for (a, b) in self.slots.iter_mut().zip(&other.slots) {
            *a += b;
        }
    }
}
