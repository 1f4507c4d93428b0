//! Reading kernel structs through offsets that userspace resolved from BTF.

use aya_ebpf::helpers::bpf_probe_read_kernel;
use prism_probes_common::{KernelOffsets, TracepointOffsets};

/// Filled by the loader (`override_global`) before the programs load.
#[unsafe(no_mangle)]
static KERNEL_OFFSETS: KernelOffsets = KernelOffsets {
    skb_dev: 0,
    netdev_ifindex: 0,
    netdev_net: 0,
    net_inum: 0,
};

/// Filled by the loader from tracefs `format` files.
#[unsafe(no_mangle)]
static TRACEPOINT_OFFSETS: TracepointOffsets = TracepointOffsets {
    netif_receive_skb_skbaddr: 0,
};

/// The offsets as the loader set them. The volatile read stops the compiler
/// from folding in the zeros it sees at build time.
#[inline(always)]
pub fn offsets() -> KernelOffsets {
    unsafe { core::ptr::read_volatile(&KERNEL_OFFSETS) }
}

#[inline(always)]
pub fn tracepoint_offsets() -> TracepointOffsets {
    unsafe { core::ptr::read_volatile(&TRACEPOINT_OFFSETS) }
}

/// Reads a `T` at `base + offset` in kernel memory.
#[inline(always)]
pub fn read<T>(base: *const u8, offset: u32) -> Option<T> {
    unsafe { bpf_probe_read_kernel(base.wrapping_add(offset as usize).cast::<T>()).ok() }
}
