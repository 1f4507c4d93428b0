//! The high-priority rules in their pinned maps, shared by the datapath and
//! the profilers: read, add and delete them while programs run.

use anyhow::{Context, Result, bail};
use aya::maps::{Array, Map, MapData};
use prism_rules::{MAX_RULES, Rule, RuleSet};

use crate::pins;

/// The pinned rule maps, if the datapath has created them.
pub struct PinnedRules {
    rules: Array<MapData, Rule>,
    count: Array<MapData, u32>,
}

impl PinnedRules {
    /// Opens the pinned maps; `None` when the datapath is not enabled.
    pub fn open() -> Result<Option<Self>> {
        let dir = pins::rules_dir();
        let (rules_path, count_path) = (dir.join("RULES"), dir.join("RULE_COUNT"));
        if !rules_path.exists() || !count_path.exists() {
            return Ok(None);
        }
        let rules = Array::try_from(Map::Array(
            MapData::from_pin(&rules_path).context("open pinned RULES")?,
        ))?;
        let count = Array::try_from(Map::Array(
            MapData::from_pin(&count_path).context("open pinned RULE_COUNT")?,
        ))?;
        Ok(Some(Self { rules, count }))
    }

    pub fn read(&self) -> Result<RuleSet> {
        let n = self.count.get(&0, 0)?.min(MAX_RULES);
        let mut set = RuleSet::default();
        for i in 0..n {
            set.add(self.rules.get(&i, 0)?)?;
        }
        Ok(set)
    }

    /// Replaces the rules. New entries are written before the count grows
    /// and the count shrinks before entries go, so a packet never sees a
    /// half-written rule.
    pub fn write(&mut self, set: &RuleSet) -> Result<()> {
        let old = self.count.get(&0, 0)?;
        let new = set.len() as u32;
        if new < old {
            self.count.set(0, new, 0)?;
        }
        for (i, rule) in set.rules().iter().enumerate() {
            self.rules.set(i as u32, *rule, 0)?;
        }
        self.count.set(0, new, 0)?;
        Ok(())
    }

    pub fn add(&mut self, rules: &[Rule]) -> Result<RuleSet> {
        let mut set = self.read()?;
        for rule in rules {
            if set.len() as u32 >= MAX_RULES {
                bail!("the rule map is full ({MAX_RULES} rules); delete one first");
            }
            set.add(*rule)?;
        }
        self.write(&set)?;
        Ok(set)
    }

    pub fn delete(&mut self, rules: &[Rule]) -> Result<RuleSet> {
        let mut set = self.read()?;
        for rule in rules {
            if !set.remove(rule) {
                bail!("there is no rule '{rule}' (see prism rules list)");
            }
        }
        self.write(&set)?;
        Ok(set)
    }
}
