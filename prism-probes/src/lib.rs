//! Prism's profilers: eBPF programs on the tracepoints along the overlay
//! path, and the userspace that loads them, feeds them kernel offsets and
//! reads what they measured.

pub mod baseline;
pub mod capabilities;
pub mod collector;
pub mod containers;
pub mod devices;
pub mod offsets;
pub mod packet_counter;
pub mod profile;
pub mod recorder;
pub mod report;
pub mod sampler;
pub mod snapshot;
pub mod stages;
pub mod symbols;

pub use prism_probes_common::histogram;

/// The compiled eBPF object (built by build.rs from `ebpf/`).
pub(crate) fn object() -> &'static [u8] {
    aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/prism-probes"))
}
