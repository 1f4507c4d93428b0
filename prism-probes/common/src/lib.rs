//! Types shared by the profiler's eBPF programs and their userspace loader.
//!
//! Everything here is `#[repr(C)]` plain data: the kernel side reads it from
//! globals and writes it into maps, userspace fills or reads the same bytes.
#![no_std]

/// Byte offsets of the kernel struct members the programs read.
///
/// aya-ebpf emits no CO-RE relocations, so userspace resolves these from the
/// running kernel's BTF and hands them over as the `KERNEL_OFFSETS` global
/// before the programs load.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct KernelOffsets {
    /// `sk_buff.dev` (a `struct net_device *`, inside anonymous unions).
    pub skb_dev: u32,
    /// `net_device.ifindex`.
    pub netdev_ifindex: u32,
    /// `net_device.nd_net.net` (a `struct net *`).
    pub netdev_net: u32,
    /// `net.ns.inum`: the namespace's inode number, as `stat /run/netns/X` shows.
    pub net_inum: u32,
}

/// Offsets inside classic tracepoint records, read from tracefs `format` files.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TracepointOffsets {
    /// `skbaddr` in `net:netif_receive_skb`.
    pub netif_receive_skb_skbaddr: u32,
}

/// Identifies a network device across namespaces: ifindexes repeat per netns.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DeviceKey {
    pub netns_inum: u32,
    pub ifindex: u32,
}

/// Name of the global that carries [`KernelOffsets`].
pub const KERNEL_OFFSETS_GLOBAL: &str = "KERNEL_OFFSETS";
/// Name of the global that carries [`TracepointOffsets`].
pub const TRACEPOINT_OFFSETS_GLOBAL: &str = "TRACEPOINT_OFFSETS";

#[cfg(feature = "user")]
mod pod {
    // SAFETY: all of these are repr(C) structs of u32 fields, with no padding.
    unsafe impl aya::Pod for super::KernelOffsets {}
    unsafe impl aya::Pod for super::TracepointOffsets {}
    unsafe impl aya::Pod for super::DeviceKey {}
}
