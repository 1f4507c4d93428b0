//! Context that explains queuing: NET_RX softirq delay, NAPI batches, drops,
//! and what GRO did with each packet.

use aya_ebpf::helpers::bpf_ktime_get_ns;
use prism_probes_common::{DeviceKey, DropKey, NapiStats};

use crate::{
    kernel::{config, offsets, read},
    maps::{DROPS, GRO_PENDING, NAPI, SOFTIRQ_DELAY, SOFTIRQ_RAISED},
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
    let key = match read::<*const u8>(napi, off.napi_dev) {
        Some(dev) if !dev.is_null() => DeviceKey {
            ifindex: read(dev, off.netdev_ifindex).unwrap_or(0),
            netns_inum: read::<*const u8>(dev, off.netdev_net)
                .and_then(|net| read(net, off.net_inum))
                .unwrap_or(0),
        },
        _ => DeviceKey::default(),
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

#[inline(always)]
pub fn gro_entered(skb: u64) {
    if let Some(p) = GRO_PENDING.get_ptr_mut(0) {
        unsafe { *p = skb }
    }
}

/// The skb GRO just took, if GRO merged it into another.
#[inline(always)]
pub fn gro_merged(result: u32) -> Option<u64> {
    let cfg = config();
    if result != cfg.gro_merged && result != cfg.gro_merged_free {
        return None;
    }
    GRO_PENDING.get(0).copied().filter(|&skb| skb != 0)
}
