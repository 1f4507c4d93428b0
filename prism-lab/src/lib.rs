//! The lab: a Docker-overlay-like VXLAN testbed built in network namespaces,
//! and the workloads that load it.
//!
//! ```text
//!   {lab}-c1 (container)                              {lab}-c2 (container)
//!     eth0 10.42.0.1                                    eth0 10.42.0.2
//!      |  veth                                            |  veth
//!   {lab}-h1 (host)  veth-c1 - br0 - vxlan0          vxlan0 - br0 - veth-c2  {lab}-h2 (host)
//!                                      \              /
//!                                  eth0 192.168.100.1 ==== eth0 192.168.100.2
//!                                          (underlay veth wire, NAPI + GRO)
//! ```
//!
//! Nothing is created in, or changed on, the caller's own namespace.

pub mod build;
pub mod connectivity;
pub mod integrity;
pub mod latency;
pub mod lifecycle;
pub mod placement;
pub mod scenario;
pub mod state;
pub mod status;
pub mod topology;
pub mod workload;

pub use topology::{Flavor, LabConfig, Topology};
