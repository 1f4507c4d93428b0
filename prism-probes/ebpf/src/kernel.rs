//! Reading kernel structs through offsets that userspace resolved from BTF,
//! and the other load-time settings.

use aya_ebpf::helpers::bpf_probe_read_kernel;
use prism_probes_common::{KernelOffsets, ProbeConfig, TracepointOffsets};

/// Filled by the loader (`override_global`) before the programs load.
#[unsafe(no_mangle)]
static KERNEL_OFFSETS: KernelOffsets = KernelOffsets {
    skb_dev: 0,
    skb_head: 0,
    skb_mac_header: 0,
    netdev_ifindex: 0,
    netdev_net: 0,
    net_inum: 0,
    sock_receive_queue: 0,
    napi_dev: 0,
};

/// Filled by the loader from tracefs `format` files.
#[unsafe(no_mangle)]
static TRACEPOINT_OFFSETS: TracepointOffsets = TracepointOffsets {
    netif_receive_skb_skbaddr: 0,
};

#[unsafe(no_mangle)]
static PROBE_CONFIG: ProbeConfig = ProbeConfig {
    vxlan_port: 4789,
    _pad: 0,
    events_sample: 0,
    stale_ns: 1_000_000_000,
    gro_merged: 0,
    gro_merged_free: 1,
};

/// The offsets as the loader set them. The volatile read stops the compiler
/// from folding in the values it sees at build time.
#[inline(always)]
pub fn offsets() -> KernelOffsets {
    unsafe { core::ptr::read_volatile(&KERNEL_OFFSETS) }
}

#[inline(always)]
pub fn tracepoint_offsets() -> TracepointOffsets {
    unsafe { core::ptr::read_volatile(&TRACEPOINT_OFFSETS) }
}

#[inline(always)]
pub fn config() -> ProbeConfig {
    unsafe { core::ptr::read_volatile(&PROBE_CONFIG) }
}

/// Reads a `T` at `base + offset` in kernel memory.
#[inline(always)]
pub fn read<T>(base: *const u8, offset: u32) -> Option<T> {
    unsafe { bpf_probe_read_kernel(base.wrapping_add(offset as usize).cast::<T>()).ok() }
}
