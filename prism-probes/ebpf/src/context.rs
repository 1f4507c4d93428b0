//! Context that explains queuing: NET_RX softirq delay, NAPI batches, drops,
//! and what GRO did with each packet.

use aya_ebpf::helpers::bpf_ktime_get_ns;
use prism_probes_common::{DeviceKey, DropKey, NapiStats};

use crate::{
    kernel::{field, offsets},
    maps::{DROPS, NAPI, SOFTIRQ_DELAY, SOFTIRQ_RAISED},
};

/// `NET_RX_SOFTIRQ` in the kernel's softirq enum: stable ABI, it appears in
/// every `irq:softirq_*` record.
const NET_RX_SOFTIRQ: u32 = 3;

#[inline(always)]
pub fn softirq_raised(vec: u32) {
    if vec != NET_RX_SOFTIRQ {
        return;
    }
    if let Some(t) = SOFTIRQ_RAISED.get_ptr_mut(0) {
        // Keep the first raise: the wait is measured from there.
        unsafe {
            if *t == 0 {
                *t = bpf_ktime_get_ns();
            }
        }
    }
}

#[inline(always)]
pub fn softirq_entered(vec: u32) {
    if vec != NET_RX_SOFTIRQ {
        return;
    }
    let Some(t) = SOFTIRQ_RAISED.get_ptr_mut(0) else {
        return;
    };
    let raised = unsafe { core::mem::replace(&mut *t, 0) };
    if raised == 0 {
        return;
    }
    if let Some(h) = SOFTIRQ_DELAY.get_ptr_mut(0) {
        unsafe { (*h).record(bpf_ktime_get_ns().wrapping_sub(raised)) }
    }
}

#[inline(always)]
pub fn napi_polled(napi: *const u8, work: u32, budget: u32) {
    let off = offsets();
    // The per-CPU backlog's NAPI has no device: it is key {0, 0}.
    let dev: *const u8 = field(napi, off.napi_dev);
    let key = if dev.is_null() {
        DeviceKey::default()
    } else {
        let net: *const u8 = field(dev, off.netdev_net);
        DeviceKey {
            ifindex: field(dev, off.netdev_ifindex),
            netns_inum: field(net, off.net_inum),
        }
    };
    let stats = match NAPI.get_ptr_mut(&key) {
        Some(s) => s,
        None => {
            let _ = NAPI.insert(&key, &NapiStats::default(), 0);
            match NAPI.get_ptr_mut(&key) {
                Some(s) => s,
                None => return,
            }
        }
    };
    let stats = unsafe { &mut *stats };
    stats.polls += 1;
    stats.work += work as u64;
    if work >= budget {
        stats.exhausted += 1;
    }
    let bucket = if work == 0 {
        0
    } else {
        (32 - work.leading_zeros()).min(7) as usize
    };
    if bucket < stats.work_log2.len() {
        stats.work_log2[bucket] += 1;
    }
}

#[inline(always)]
pub fn dropped(location: u64, reason: u32) {
    let key = DropKey {
        location,
        reason,
        _pad: 0,
    };
    match DROPS.get_ptr_mut(&key) {
        Some(n) => unsafe { *n += 1 },
        None => {
            let _ = DROPS.insert(&key, &1, 0);
        }
    }
}
