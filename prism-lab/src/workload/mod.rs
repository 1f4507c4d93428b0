//! Built-in workloads, so the lab needs no iperf3 or sockperf: bulk
//! background traffic (TCP streams, UDP flood) and a request/response
//! latency prober (TCP or UDP). Each runs on threads that have entered a
//! container's namespace and, optionally, been pinned to a CPU.

pub mod bulk;
pub mod integrity;
pub mod prober;
mod thread;

pub use thread::{POLL, Stop, Worker, spawn_in};

/// Ports the workloads listen on inside the containers.
pub const PROBE_PORT: u16 = 7777;
pub const BULK_TCP_PORT: u16 = 5201;
pub const BULK_UDP_PORT: u16 = 5202;
