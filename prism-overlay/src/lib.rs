//! The overlay model: what a host's VXLAN overlays are made of, learned
//! from rtnetlink in every network namespace.
//!
//! One model serves every front end: the profilers take the devices and
//! their roles from it, the datapath its tables, `status`, `top` and
//! `record` its description. Learning is two steps: [`facts::gather`] reads
//! links, addresses, routes, neighbours, FDB entries and namespace ids from
//! the kernel; [`learn::learn`] turns those facts into [`Model`] without
//! touching the kernel, so every overlay's layout can be tested from
//! hand-written facts.
//!
//! Devices are keyed by (namespace inode, ifindex), never by name: Docker
//! gives every network sandbox a `vxlan0`, `br0` and `veth0`, and every
//! container has an `eth0`.

pub mod facts;
pub mod learn;
pub mod model;
pub mod owners;
pub mod roles;
pub mod routes;

pub use facts::Facts;
pub use model::{
    Container, DeviceRef, Model, NsRef, OtherTunnel, Overlay, Reach, Remote, Underlay, UnderlayFrom,
};
pub use owners::Owner;
pub use roles::{Device, Role};

/// Learns the overlays of this machine, from every network namespace.
/// Learns the overlays of this machine, from every network namespace, and
/// names the containers by what their runtimes say (see [`owners`]).
pub fn discover() -> anyhow::Result<Model> {
    let facts = facts::gather()?;
    let mut model = learn::learn(&facts);
    model.name_owners(owners::find(&facts));
    Ok(model)
}
