//! The profilers as the tests attach them to a lab, and the prober's
//! run options.

use std::time::Duration;

use prism_lab::{scenario::RunOptions, workload::prober::ProberConfig};
use prism_probes::{
    collector::{Collector, CollectorConfig, EventSampling},
    profile::Profile,
};
use prism_rules::RuleSet;

use super::Lab;

/// The lab prober's port, marked high.
pub const PROBER_RULE: &str = "udp port 7777";

/// A prober run of `duration_ms` at `rate` exchanges per second, after a
/// short warm-up.
pub fn options(duration_ms: u64, rate: u32) -> RunOptions {
    RunOptions {
        duration: Duration::from_millis(duration_ms),
        warmup: Duration::from_millis(300),
        prober: ProberConfig {
            rate,
            ..Default::default()
        },
        ..Default::default()
    }
}

/// The profilers on the lab's namespaces with this profile, the prober
/// marked high.
pub fn collector_with(lab: &Lab, events: EventSampling, profile: Profile) -> Collector {
    let namespaces = lab.namespaces();
    Collector::attach(CollectorConfig {
        rules: RuleSet::parse(&[PROBER_RULE]).unwrap(),
        namespaces,
        events,
        profile,
        ..Default::default()
    })
    .expect("attach the profilers")
}
