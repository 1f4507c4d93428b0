//! Counts received packets per device (netns, ifindex): the smallest real
//! profiler, and the check that BTF and tracefs offsets read the right bytes.

use aya_ebpf::{
    macros::{btf_tracepoint, map, raw_tracepoint, tracepoint},
    maps::PerCpuHashMap,
    programs::{BtfTracePointContext, RawTracePointContext, TracePointContext},
};
use prism_probes_common::DeviceKey;

use crate::kernel::{offsets, read, tracepoint_offsets};

#[map]
static RX_PACKETS: PerCpuHashMap<DeviceKey, u64> = PerCpuHashMap::with_max_entries(1024, 0);

/// Classic tracepoint: the skb comes from the record at a tracefs offset.
#[tracepoint]
pub fn prism_rx_count_tp(ctx: TracePointContext) -> u32 {
    let at = tracepoint_offsets().netif_receive_skb_skbaddr as usize;
    if let Ok(skb) = unsafe { ctx.read_at::<u64>(at) } {
        count(skb as *const u8);
    }
    0
}

/// BTF tracepoint: the skb is the first argument.
#[btf_tracepoint]
pub fn prism_rx_count_btf(ctx: BtfTracePointContext) -> i32 {
    count(ctx.arg(0));
    0
}

/// Raw tracepoint: the same arguments, without BTF typing.
#[raw_tracepoint]
pub fn prism_rx_count_raw(ctx: RawTracePointContext) -> i32 {
    count(ctx.arg(0));
    0
}

#[inline(always)]
fn count(skb: *const u8) {
    let Some(key) = device_of(skb) else { return };
    match RX_PACKETS.get_ptr_mut(key) {
        // Per-CPU values: no other CPU writes this slot.
        Some(n) => unsafe { *n += 1 },
        None => {
            let _ = RX_PACKETS.insert(key, 1, 0);
        }
    }
}

#[inline(always)]
fn device_of(skb: *const u8) -> Option<DeviceKey> {
    let off = offsets();
    let dev: *const u8 = read(skb, off.skb_dev)?;
    let ifindex: u32 = read(dev, off.netdev_ifindex)?;
    let net: *const u8 = read(dev, off.netdev_net)?;
    let netns_inum: u32 = read(net, off.net_inum)?;
    Some(DeviceKey {
        netns_inum,
        ifindex,
    })
}
