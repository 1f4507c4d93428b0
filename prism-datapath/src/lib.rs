//! Prism's prioritized datapath: TC and XDP programs that classify flows
//! and stream high-priority packets past the overlay's queues, and the
//! userspace that loads, attaches and controls them.

pub mod attach;
pub mod capabilities;
pub mod control;
pub mod object;
pub mod pins;
pub mod priority;
pub mod rules;
pub mod tables;
pub mod topology;
pub mod watch;

/// The compiled eBPF object (built by build.rs from `ebpf/`).
pub(crate) fn object() -> &'static [u8] {
    aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/prism-datapath"))
}
