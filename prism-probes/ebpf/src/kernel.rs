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
    skb_len: 0,
    skb_sk: 0,
};

/// Filled by the loader from tracefs `format` files.
#[unsafe(no_mangle)]
static TRACEPOINT_OFFSETS: TracepointOffsets = TracepointOffsets {
    netif_receive_skb_skbaddr: 0,
};

#[unsafe(no_mangle)]
static PROBE_CONFIG: ProbeConfig = ProbeConfig {
    vxlan_ports: [4789, 0, 0, 0],
    events_sample: 0,
    rx_starts_at_rcv: 0,
    low_per_cpu_per_sec: 0,
    per_container: 0,
    stale_ns: 1_000_000_000,
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

/// Loads the member at `offset` of a BTF-typed kernel pointer (a tracepoint
/// argument, or a pointer loaded from one). The offsets come from frozen
/// read-only globals, so the verifier knows them and checks the access
/// against the kernel's BTF; a faulting load yields 0 instead of an oops.
/// A plain load: several times cheaper than `bpf_probe_read_kernel`.
#[inline(always)]
pub fn field<T: Copy>(base: *const u8, offset: u32) -> T {
    unsafe { core::ptr::read_volatile(base.wrapping_add(offset as usize).cast::<T>()) }
}

/// The low 32 bits of the address a BTF-typed pointer holds, as a plain
/// number (a map key, a hash input), without a helper call. The verifier
/// allows no arithmetic on such pointers, except that a 32-bit subtraction
/// yields a scalar for a privileged loader (`allow_ptr_leaks`, which
/// CAP_PERFMON grants). Two live skbs 4 GiB apart could share a key; the
/// tracker tolerates that as it tolerates hash collisions (`evicted`).
#[inline(always)]
pub fn addr_of(p: *const u8) -> u64 {
    let low: u64;
    unsafe {
        // A fixed register: BPF asm names 32-bit registers w0-w9, and
        // operands expand to the 64-bit names.
        core::arch::asm!(
            "w1 -= 0",
            inout("r1") p => low,
            options(pure, nomem, nostack),
        );
    }
    low
}

/// `*p += v` as one atomic instruction (BPF `XADD`, which every kernel
/// verifies): core has no atomic read-modify-write for BPF, whose target
/// lacks compare-and-swap.
#[inline(always)]
pub fn atomic_add(p: *mut u64, v: u64) {
    unsafe {
        core::arch::asm!(
            "lock *(u64 *)({p} + 0) += {v}",
            p = in(reg) p,
            v = in(reg) v,
            options(nostack),
        );
    }
}

/// Reads a `T` at `base + offset` in kernel memory that BTF does not type
/// (packet bytes), through `bpf_probe_read_kernel`.
#[inline(always)]
pub fn read<T>(base: *const u8, offset: u32) -> Option<T> {
    unsafe { bpf_probe_read_kernel(base.wrapping_add(offset as usize).cast::<T>()).ok() }
}
