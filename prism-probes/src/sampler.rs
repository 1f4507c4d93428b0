//! The sampling core every live front end shares (`stat`, `top`,
//! `metrics`): attached profilers whose device map is kept current, a
//! snapshot on demand, and two snapshots turned into a report.

use std::time::{Duration, Instant};

use anyhow::Result;

use crate::{
    collector::{Collector, CollectorConfig},
    report::IntervalReport,
    snapshot::Snapshot,
    symbols::KernelSymbols,
};

/// Devices are looked for again this often: containers come and go, and a
/// discovery walks every namespace's links.
pub const DEVICE_REFRESH: Duration = Duration::from_secs(5);

pub struct Sampler {
    collector: Collector,
    symbols: KernelSymbols,
    /// The first reading: figures since attach count from here.
    start: Snapshot,
    devices_at: Instant,
}

impl Sampler {
    /// Loads and attaches the profilers (nothing stays attached on failure)
    /// and takes the first reading.
    pub fn attach(config: CollectorConfig) -> Result<Self> {
        Self::new(Collector::attach(config)?)
    }

    pub fn new(collector: Collector) -> Result<Self> {
        let start = collector.snapshot()?;
        Ok(Self {
            collector,
            symbols: KernelSymbols::default(),
            start,
            devices_at: Instant::now(),
        })
    }

    pub fn collector(&self) -> &Collector {
        &self.collector
    }

    pub fn collector_mut(&mut self) -> &mut Collector {
        &mut self.collector
    }

    /// The reading taken at attach.
    pub fn start(&self) -> &Snapshot {
        &self.start
    }

    /// A reading now, after looking for devices again when that is due. A
    /// failed discovery is logged and the old device map kept: a front end
    /// that runs for days must not end on one netlink hiccup.
    pub fn sample(&mut self) -> Result<Snapshot> {
        if self.devices_at.elapsed() >= DEVICE_REFRESH {
            self.devices_at = Instant::now();
            if let Err(e) = self.collector.refresh_devices() {
                log::warn!("device refresh: {e:#}");
            }
        }
        self.collector.snapshot()
    }

    /// What happened between two readings, named for people.
    pub fn report(&self, earlier: &Snapshot, later: &Snapshot) -> IntervalReport {
        IntervalReport::between(&self.collector, &self.symbols, earlier, later)
    }

    /// Kernel text addresses as `function+0xoff`.
    pub fn symbols(&self) -> &KernelSymbols {
        &self.symbols
    }
}
