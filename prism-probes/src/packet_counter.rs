//! Counts received packets per device with one eBPF program on
//! `netif_receive_skb`: the smallest complete profiler (offsets in, counts
//! out), used by `prism doctor`'s self-test and the integration tests.

use std::collections::BTreeMap;

use anyhow::{Context, Result};
use aya::{
    Btf, Ebpf,
    maps::PerCpuHashMap,
    programs::{BtfTracePoint, RawTracePoint, TracePoint},
};
use prism_kernel::{
    btf::KernelBtf,
    mounts::{PseudoFs, ensure},
};
use prism_probes_common::{DeviceKey, KERNEL_OFFSETS_GLOBAL, TRACEPOINT_OFFSETS_GLOBAL};

use prism_kernel::bpf::program;

use crate::{capabilities::Mechanism, offsets};

const EVENT: (&str, &str) = ("net", "netif_receive_skb");

/// An attached counter. Dropping it detaches and unloads the program.
pub struct PacketCounter {
    ebpf: Ebpf,
    mechanism: Mechanism,
}

impl PacketCounter {
    /// Loads the counter for `mechanism` and attaches it.
    pub fn attach(mechanism: Mechanism) -> Result<Self> {
        let kernel = offsets::kernel_offsets(&KernelBtf::from_sys()?)?;
        let mut loader = prism_kernel::bpf::loader();
        loader.override_global(KERNEL_OFFSETS_GLOBAL, &kernel, true);
        let record = if mechanism == Mechanism::Tracepoint {
            ensure(PseudoFs::Trace)?;
            Some(offsets::tracepoint_offsets()?)
        } else {
            None
        };
        if let Some(record) = &record {
            loader.override_global(TRACEPOINT_OFFSETS_GLOBAL, record, true);
        }
        let mut ebpf = loader
            .load(crate::object())
            .context("load the probe object")?;
        let (sys, event) = EVENT;
        match mechanism {
            Mechanism::TpBtf => {
                let btf = Btf::from_sys_fs().context("kernel BTF")?;
                let p: &mut BtfTracePoint = program(&mut ebpf, "prism_rx_count_btf")?;
                p.load(event, &btf)?;
                p.attach()?;
            }
            Mechanism::RawTp => {
                let p: &mut RawTracePoint = program(&mut ebpf, "prism_rx_count_raw")?;
                p.load()?;
                p.attach(event)?;
            }
            Mechanism::Tracepoint => {
                let p: &mut TracePoint = program(&mut ebpf, "prism_rx_count_tp")?;
                p.load()?;
                p.attach(sys, event)?;
            }
        }
        Ok(Self { ebpf, mechanism })
    }

    pub fn mechanism(&self) -> Mechanism {
        self.mechanism
    }

    /// Packets received so far, per device, summed over CPUs.
    pub fn counts(&self) -> Result<BTreeMap<DeviceKey, u64>> {
        let map = self
            .ebpf
            .map("RX_PACKETS")
            .context("RX_PACKETS map missing")?;
        let map: PerCpuHashMap<_, DeviceKey, u64> = PerCpuHashMap::try_from(map)?;
        map.iter()
            .map(|entry| {
                let (key, per_cpu) = entry?;
                Ok((key, per_cpu.iter().sum()))
            })
            .collect()
    }

    /// Packets received so far on one device.
    pub fn count(&self, netns_inum: u32, ifindex: u32) -> Result<u64> {
        let key = DeviceKey {
            netns_inum,
            ifindex,
        };
        Ok(self.counts()?.get(&key).copied().unwrap_or(0))
    }
}
