//! The stage tracker: follows each skb by address from point to point and
//! adds the time between consecutive stage boundaries to the histogram of
//! (stage, class).

use aya_ebpf::helpers::{bpf_get_prandom_u32, bpf_get_smp_processor_id, bpf_ktime_get_ns};
use prism_probes_common::{
    CLASSES, DeviceKey, EVENT_FIRST, Event, SkbState, counter,
    points::{JOURNEY_STARTS, POINTS, STAGE_PASS, STAGE_UNMAPPED, event, point, role},
};

use crate::{
    classify::class_of,
    kernel::{config, offsets, read},
    maps::{DEVICE_CACHE, DEVICES, EVENTS, HISTS, SKBS, SOCK_PENDING, STAGES, count},
};

/// A packet passed `event` on its device.
#[inline(always)]
pub fn device_hit(event: u8, skb: *const u8) {
    let role = device_role(skb);
    if role != role::UNTRACKED {
        track(point(event, role), skb, true);
    }
}

/// A packet reached its socket (`DATA_READY`, `READ`): only packets already
/// on a journey count.
#[inline(always)]
pub fn socket_hit(event: u8, skb: *const u8) {
    track(point(event, role::SOCKET), skb, false);
}

/// The role of the device the skb is on.
#[inline(always)]
fn device_role(skb: *const u8) -> u8 {
    let off = offsets();
    let Some(dev) = read::<*const u8>(skb, off.skb_dev) else {
        return role::UNTRACKED;
    };
    let dev_addr = dev as u64;
    if let Some(info) = unsafe { DEVICE_CACHE.get(&dev_addr) } {
        return info.role;
    }
    let key = DeviceKey {
        ifindex: read(dev, off.netdev_ifindex).unwrap_or(0),
        netns_inum: read::<*const u8>(dev, off.netdev_net)
            .and_then(|net| read(net, off.net_inum))
            .unwrap_or(0),
    };
    let info = unsafe { DEVICES.get(&key) }.copied().unwrap_or_default();
    let _ = DEVICE_CACHE.insert(&dev_addr, &info, 0);
    info.role
}

#[inline(always)]
fn track(point: u8, skb: *const u8, may_start: bool) {
    let now = unsafe { bpf_ktime_get_ns() };
    let key = skb as u64;
    match SKBS.get_ptr_mut(&key) {
        Some(state) => {
            let state = unsafe { &mut *state };
            let delta = now.wrapping_sub(state.last_ns);
            let stage = stage_between(state.last_point, point);
            // A journey start that does not follow from where this address
            // was: the skb was freed untraced and its memory reused.
            let reused = is_journey_start(point) && stage == STAGE_UNMAPPED;
            if reused || delta > config().stale_ns {
                if may_start {
                    count(counter::RESTARTED);
                    start(point, skb, key, now);
                }
                return;
            }
            if stage == STAGE_PASS {
                return;
            }
            count(counter::HITS);
            if stage == STAGE_UNMAPPED {
                count(counter::UNMAPPED);
            }
            record(stage, state.class, delta);
            if state.sampled != 0 {
                emit(now, state, delta, key, stage, point, 0);
            }
            if point == point_of_read() {
                // The journey is complete; the skb may be freed untraced.
                count(counter::COMPLETED);
                let _ = SKBS.remove(&key);
                return;
            }
            state.last_ns = now;
            state.last_point = point;
        }
        None if may_start => start(point, skb, key, now),
        None => {}
    }
}

#[inline(always)]
fn start(point: u8, skb: *const u8, key: u64, now: u64) {
    count(counter::STARTED);
    count(counter::HITS);
    if !is_journey_start(point) {
        count(counter::PARTIAL);
    }
    let sample = config().events_sample;
    let sampled = sample == 1 || (sample > 1 && unsafe { bpf_get_prandom_u32() } % sample == 0);
    let state = SkbState {
        first_ns: now,
        last_ns: now,
        last_point: point,
        class: class_of(skb),
        sampled: sampled as u8,
        _pad: [0; 5],
    };
    let _ = SKBS.insert(&key, &state, 0);
    if sampled {
        emit(now, &state, 0, key, STAGE_UNMAPPED, point, EVENT_FIRST);
    }
}

#[inline(always)]
const fn point_of_read() -> u8 {
    point(event::READ, role::SOCKET)
}

/// A packet was queued on socket `sk`: remember it as the one the next
/// read takes, unless an older one is still waiting.
#[inline(always)]
pub fn queued_on_socket(sk: u64, skb: *const u8) {
    let key = skb as u64;
    if unsafe { SKBS.get(&key) }.is_none() {
        return;
    }
    if unsafe { SOCK_PENDING.get(&sk) }.is_none() {
        let _ = SOCK_PENDING.insert(&sk, &key, 0);
    }
    socket_hit(event::DATA_READY, skb);
}

/// The application read from socket `sk`: the oldest pending packet is read.
#[inline(always)]
pub fn read_from_socket(sk: u64) {
    if let Some(skb) = unsafe { SOCK_PENDING.get(&sk) }.copied() {
        let _ = SOCK_PENDING.remove(&sk);
        socket_hit(event::READ, skb as *const u8);
    }
}

#[inline(always)]
fn is_journey_start(point: u8) -> bool {
    point == JOURNEY_STARTS[0] || point == JOURNEY_STARTS[1]
}

#[inline(always)]
fn stage_between(from: u8, to: u8) -> u8 {
    let index = from as u32 * POINTS as u32 + to as u32;
    STAGES.get(index).copied().unwrap_or(STAGE_UNMAPPED)
}

#[inline(always)]
fn record(stage: u8, class: u8, delta: u64) {
    let slot = stage as u32 * CLASSES as u32 + (class & 1) as u32;
    if let Some(h) = HISTS.get_ptr_mut(slot) {
        unsafe { (*h).record(delta) }
    }
}

#[inline(always)]
fn emit(now: u64, state: &SkbState, delta: u64, skb: u64, stage: u8, point: u8, flags: u8) {
    let event = Event {
        ts_ns: now,
        first_ns: state.first_ns,
        delta_ns: delta,
        skb,
        cpu: unsafe { bpf_get_smp_processor_id() },
        stage,
        class: state.class,
        point,
        flags,
    };
    if EVENTS.output::<Event>(&event, 0).is_ok() {
        count(counter::EVENTS);
    } else {
        count(counter::EVENTS_LOST);
    }
}

/// The skb left the path: freed (`consume_skb`) or dropped (`kfree_skb`).
#[inline(always)]
pub fn forget(skb: *const u8, dropped: bool) {
    let key = skb as u64;
    if SKBS.remove(&key).is_ok() {
        count(if dropped {
            counter::DROPPED
        } else {
            counter::CONSUMED
        });
    }
}

/// GRO merged this skb into another: its own journey ends here.
#[inline(always)]
pub fn merged(skb: u64) {
    if SKBS.remove(&skb).is_ok() {
        count(counter::GRO_MERGED);
    }
}
