//! The smallest program of each tracing attach type. `prism doctor` loads
//! and attaches each one to learn, by trying, what this kernel allows.

use aya_ebpf::{
    macros::{btf_tracepoint, fentry, kprobe, raw_tracepoint, tracepoint},
    programs::{
        BtfTracePointContext, FEntryContext, ProbeContext, RawTracePointContext, TracePointContext,
    },
};

#[tracepoint]
pub fn prism_cap_tracepoint(_ctx: TracePointContext) -> u32 {
    0
}

#[raw_tracepoint]
pub fn prism_cap_raw_tp(_ctx: RawTracePointContext) -> i32 {
    0
}

#[btf_tracepoint]
pub fn prism_cap_tp_btf(_ctx: BtfTracePointContext) -> i32 {
    0
}

#[fentry]
pub fn prism_cap_fentry(_ctx: FEntryContext) -> u32 {
    0
}

#[kprobe]
pub fn prism_cap_kprobe(_ctx: ProbeContext) -> u32 {
    0
}
