//! The smallest program of each packet hook. `prism doctor` attaches them to
//! a scratch veth to learn which hooks this kernel offers; they count what
//! they see so a test run can prove they executed, and let every packet pass.

use aya_ebpf::{
    bindings::{TC_ACT_UNSPEC, bpf_adj_room_mode::BPF_ADJ_ROOM_MAC, xdp_action::XDP_PASS},
    macros::{classifier, map, xdp},
    maps::{Array, PerCpuArray},
    programs::{TcContext, XdpContext},
};
use prism_datapath_common::{CAP_ADJUST_DELTA, CAP_ADJUST_FLAGS, CapHook, CapHook::*};

#[map]
static CAP_HITS: PerCpuArray<u64> = PerCpuArray::with_max_entries(CapHook::COUNT, 0);

#[inline(always)]
fn hit(hook: CapHook) {
    if let Some(n) = CAP_HITS.get_ptr_mut(hook as u32) {
        unsafe { *n += 1 }
    }
}

/// `TC_ACT_UNSPEC` is tcx's "next": hand the packet on unchanged.
#[classifier]
pub fn prism_cap_tc(_ctx: TcContext) -> i32 {
    hit(Tc);
    TC_ACT_UNSPEC
}

#[xdp]
pub fn prism_cap_xdp(_ctx: XdpContext) -> u32 {
    hit(Xdp);
    XDP_PASS
}

/// What `prism_cap_adjust` tries: flags and length delta (userspace sets).
#[map]
static CAP_ADJUST: Array<u64> = Array::with_max_entries(2, 0);

/// Returns 0 if this kernel's `bpf_skb_adjust_room` accepts the flags in
/// `CAP_ADJUST` for that delta at the MAC header, 1 if not. Run with
/// `BPF_PROG_TEST_RUN` only.
#[classifier]
pub fn prism_cap_adjust(ctx: TcContext) -> i32 {
    let get = |slot| CAP_ADJUST.get(slot).copied().unwrap_or(0);
    let (flags, delta) = (get(CAP_ADJUST_FLAGS), get(CAP_ADJUST_DELTA) as i64 as i32);
    match ctx.adjust_room(delta, BPF_ADJ_ROOM_MAC, flags) {
        Ok(()) => 0,
        Err(_) => 1,
    }
}
