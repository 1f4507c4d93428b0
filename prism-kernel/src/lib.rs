//! What Prism needs to know about, and do to, the running kernel.
//!
//! Every other crate goes through here for kernel facts (BTF member offsets,
//! tracepoint record layouts, version, capabilities, mounts) and for the
//! host plumbing that is not eBPF (network namespaces, rtnetlink, ethtool,
//! per-namespace sysfs).

pub mod bpf;
pub mod btf;
pub mod caps;
pub mod ethtool;
pub mod files;
pub mod mounts;
pub mod napi;
pub mod netns;
pub mod rtnl;
pub mod rtnl_events;
pub mod sched;
pub mod snmp;
pub mod sysfs;
pub mod tc;
pub mod tracefs;
pub mod version;
