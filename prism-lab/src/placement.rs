//! Where the lab's packet processing and workloads run on the CPUs.
//!
//! On this kind of machine a veth delivers to its peer inside the sender's
//! softirq, so with everything on one CPU the kernel queues stay empty and
//! the tail is CPU scheduling. Steering both underlays' receive processing
//! to one CPU (RPS), the prober's, while the bulk sender and sink run on
//! the other, makes the prober's packets queue behind bulk packets in the
//! NIC ring, gro_cells and the backlog: the queuing Prism is about.

use anyhow::{Result, bail};
use serde::Serialize;

use prism_kernel::sysfs::Steering;

use crate::{
    Topology,
    topology::{UNDERLAY_DEV, UNDERLAY_QUEUES},
};

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Placement {
    /// Underlay receive processing (RPS), the prober and its echo server on
    /// CPU 1; bulk sender and sink on CPU 0.
    #[default]
    SharedRx,
    /// Everything on CPU 0, RPS off.
    OneCpu,
}

impl std::str::FromStr for Placement {
    type Err = anyhow::Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "shared-rx" => Ok(Self::SharedRx),
            "one-cpu" => Ok(Self::OneCpu),
            _ => bail!("unknown placement {s:?} (expected shared-rx or one-cpu)"),
        }
    }
}

impl std::fmt::Display for Placement {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::SharedRx => "shared-rx",
            Self::OneCpu => "one-cpu",
        })
    }
}

/// CPUs for each part of a scenario.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Cpus {
    /// Where the underlays' receive processing is steered; None: RPS off.
    pub rx: Option<usize>,
    pub bulk: usize,
    pub prober: usize,
}

impl Placement {
    pub fn cpus(self, online: usize) -> Result<Cpus> {
        match self {
            Self::SharedRx if online < 2 => {
                bail!("placement shared-rx needs 2 CPUs, this machine has {online}")
            }
            Self::SharedRx => Ok(Cpus {
                rx: Some(1),
                bulk: 0,
                prober: 1,
            }),
            Self::OneCpu => Ok(Cpus {
                rx: None,
                bulk: 0,
                prober: 0,
            }),
        }
    }

    /// Sets the RPS masks of every receive queue of the underlays for this
    /// placement.
    pub fn apply(self, topo: &Topology, cpus: &Cpus) -> Result<()> {
        let rx: Vec<usize> = cpus.rx.into_iter().collect();
        let queues: Vec<(usize, Vec<usize>)> = (0..UNDERLAY_QUEUES as usize)
            .map(|q| (q, rx.clone()))
            .collect();
        for side in &topo.sides {
            prism_kernel::sysfs::steer(&side.host_ns, UNDERLAY_DEV, Steering::Rps, &queues)?;
        }
        Ok(())
    }
}

pub fn online_cpus() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn places_work() {
        let shared = Placement::SharedRx.cpus(2).unwrap();
        assert_eq!(shared.rx, Some(shared.prober));
        assert_ne!(shared.prober, shared.bulk);
        assert!(Placement::SharedRx.cpus(1).is_err());
        let one = Placement::OneCpu.cpus(1).unwrap();
        assert_eq!((one.rx, one.bulk, one.prober), (None, 0, 0));
        assert_eq!("one-cpu".parse::<Placement>().unwrap(), Placement::OneCpu);
        assert!("two".parse::<Placement>().is_err());
    }
}
