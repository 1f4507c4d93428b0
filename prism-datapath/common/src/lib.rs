//! Types shared by the datapath's eBPF programs and their userspace loader.
#![no_std]

/// Slots of the `CAP_HITS` counters of the capability probe programs.
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CapHook {
    Tc = 0,
    Xdp = 1,
}

impl CapHook {
    pub const COUNT: u32 = 2;
}
