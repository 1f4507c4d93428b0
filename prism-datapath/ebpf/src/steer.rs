//! nic mode: TC egress on the underlay puts high-priority VXLAN packets on
//! a transmit queue of their own and everything else on another, so the
//! receiver can process them on different rings and CPUs (per-queue RPS on
//! a veth wire; flow steering and IRQ affinity on a NIC).

use aya_ebpf::{bindings::TC_ACT_UNSPEC, macros::classifier, programs::TcContext};
use prism_datapath_common::{EGRESS, mode, reason};

use crate::{
    maps::{config, count},
    vxlan::vxlan,
};

#[classifier]
pub fn prism_steer(ctx: TcContext) -> i32 {
    let cfg = config();
    if cfg.modes & mode::NIC == 0 {
        return TC_ACT_UNSPEC;
    }
    let high = match vxlan(&ctx, false) {
        Ok(v) => v.flow.high,
        // Another VXLAN device's packet: its own steering program (Docker
        // gives each network one, on one underlay) decides.
        Err((reason::OTHER_VNI, _)) => return TC_ACT_UNSPEC,
        Err(_) => false,
    };
    // The kernel takes queue_mapping = q + 1 written here as a recorded
    // queue and transmits on q (while no XPS map overrides it).
    let queue = if high {
        cfg.nic_high_queue
    } else {
        cfg.nic_low_queue
    };
    unsafe { (*ctx.skb.skb).queue_mapping = queue as u32 };
    count(EGRESS, reason::STEERED, high);
    TC_ACT_UNSPEC
}
