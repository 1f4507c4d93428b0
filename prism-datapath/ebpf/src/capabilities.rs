//! The smallest program of each packet hook. `prism doctor` attaches them to
//! a scratch veth to learn which hooks this kernel offers; they count what
//! they see so a test run can prove they executed, and let every packet pass.

use aya_ebpf::{
    bindings::{TC_ACT_UNSPEC, xdp_action::XDP_PASS},
    macros::{classifier, map, xdp},
    maps::PerCpuArray,
    programs::{TcContext, XdpContext},
};
use prism_datapath_common::{CapHook, CapHook::*};

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
