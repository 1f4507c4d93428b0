//! The stage tracker: follows each skb by address from point to point and
//! adds the time between consecutive stage boundaries to the histogram of
//! (stage, class).
//!
//! Journeys start only where a packet enters the overlay path: the
//! underlay's GRO (receive) and the container's device queue (transmit).
//! Packets born inside the path (GSO segments, clones) are not followed, and
//! a packet entering GRO is classified only once it leaves GRO on its own:
//! bulk traffic, which GRO merges dozens to one, then costs a few loads and
//! one slot write per segment instead of a classification.

use aya_ebpf::helpers::{bpf_get_prandom_u32, bpf_get_smp_processor_id, bpf_ktime_get_ns};
use prism_probes_common::{
    CLASS_LOW, CLASS_PENDING, CLASS_UNSAMPLED, CLASSES, DEVICE_WAYS, EVENT_FIRST, Event, SkbSlot,
    SkbState, counter, device_slot,
    hist::{BUCKETS, bucket_of},
    points::{
        MAX_STAGES, POINTS, RECEIVE_START_AT_RCV, RECEIVE_TOTAL, STAGE_PASS, STAGE_UNMAPPED,
        TRANSMIT_START, event, is_journey_start, is_receive_start, point, role,
    },
    skb_slot,
};

use crate::{
    classify::class_of,
    kernel::{addr_of, atomic_add, config, field, offsets},
    maps::{
        CONTAINER_BUCKETS, CONTAINER_SUMS, DEVICE_TABLE, EVENTS, HISTS, LOW_RATE, SKBS,
        SOCK_PENDING, STAGES, add, count,
    },
};

const READ_POINT: u8 = point(event::READ, role::SOCKET);

/// The role of the device the skb is on.
#[inline(always)]
fn device_role(skb: *const u8) -> u8 {
    let off = offsets();
    let dev: *const u8 = field(skb, off.skb_dev);
    if dev.is_null() {
        return role::UNTRACKED;
    }
    let ifindex: u32 = field(dev, off.netdev_ifindex);
    let net: *const u8 = field(dev, off.netdev_net);
    let inum: u32 = field(net, off.net_inum);
    let Some(slot) = DEVICE_TABLE.get(device_slot(inum, ifindex)) else {
        return role::UNTRACKED;
    };
    for way in 0..DEVICE_WAYS {
        let e = &slot.entries[way];
        if e.role == role::UNTRACKED {
            break;
        }
        if e.ifindex == ifindex && e.netns_inum == inum {
            return e.role;
        }
    }
    role::UNTRACKED
}

/// A packet passed `event` on its device.
#[inline(always)]
pub fn device_hit(event: u8, skb: *const u8) {
    let role = device_role(skb);
    if role != role::UNTRACKED {
        let point = point(event, role);
        track(point, skb, journey_start(point));
    }
}

/// Where receive journeys begin with this profile: where GRO entry is not
/// hooked, at the underlay's hand-off to the stack too.
#[inline(always)]
fn receive_start(point: u8) -> bool {
    is_receive_start(point) || (point == RECEIVE_START_AT_RCV && config().rx_starts_at_rcv != 0)
}

#[inline(always)]
fn journey_start(point: u8) -> bool {
    receive_start(point) || point == TRANSMIT_START
}

/// A packet reached its socket: only packets on a journey count.
#[inline(always)]
pub fn socket_hit(event: u8, skb: *const u8) {
    track(point(event, role::SOCKET), skb, false);
}

/// A NAPI device handed `skb` to GRO. A packet on a journey crosses the
/// boundary; a packet that may start one only takes a slot, unclassified:
/// GRO merges most bulk segments into others, and those never need more.
/// The packets that do leave GRO are classified at their next boundary.
#[inline(always)]
pub fn gro_entered(skb: *const u8) {
    let role = device_role(skb);
    if role == role::UNTRACKED {
        return;
    }
    let point = point(event::GRO_ENTRY, role);
    let key = addr_of(skb);
    let Some(slot) = SKBS.get_ptr_mut(skb_slot(key)) else {
        return;
    };
    let slot = unsafe { &mut *slot };
    if slot.skb == key && slot.state.class != CLASS_PENDING {
        track_at(point, skb, key, &mut slot.state, true);
    } else if is_journey_start(point) {
        note_slot_reuse(slot, key);
        let now = unsafe { bpf_ktime_get_ns() };
        slot.state = SkbState {
            first_ns: now,
            last_ns: now,
            last_point: point,
            class: CLASS_PENDING,
            sampled: 0,
            container: 0,
            weight: 1,
            rx_start_ns: now,
        };
        slot.skb = key;
    }
}

/// Counts what a slot held before it is taken: a packet GRO kept (merged),
/// or a live journey pushed out by a packet that hashed alike.
#[inline(always)]
fn note_slot_reuse(slot: &SkbSlot, key: u64) {
    if slot.skb == 0 {
        return;
    }
    if slot.state.class == CLASS_PENDING {
        count(counter::GRO_MERGED);
    } else if slot.skb != key && slot.state.class != CLASS_UNSAMPLED {
        count(counter::EVICTED);
    }
}

#[inline(always)]
fn track(point: u8, skb: *const u8, may_start: bool) {
    let key = addr_of(skb);
    match journey(key) {
        Some(state) => track_at(point, skb, key, state, may_start),
        None if may_start => start(point, skb, key),
        None => {}
    }
}

/// A packet on a journey (or waiting in GRO) reached `point`.
#[inline(always)]
fn track_at(point: u8, skb: *const u8, key: u64, state: &mut SkbState, may_start: bool) {
    if state.class == CLASS_UNSAMPLED && !may_start {
        // Sampled out: the cheapest way through, for most bulk packets.
        return;
    }
    let now = unsafe { bpf_ktime_get_ns() };
    let delta = now.wrapping_sub(state.last_ns);
    let stage = stage_between(state.last_point, point);
    if stage == STAGE_PASS {
        return;
    }
    if state.class == CLASS_UNSAMPLED {
        // At a journey start: the same packet at its second start (a
        // backlog before its receive), or a new packet at a freed one's
        // address, which must get its own class and draw.
        if stage == STAGE_UNMAPPED || delta > config().stale_ns {
            start(point, skb, key);
        }
        return;
    }
    if stage == STAGE_UNMAPPED || delta > config().stale_ns {
        // Not a step of this packet's journey: its address was reused, or
        // the path is one Prism does not know. Either way the journey ends.
        let why = if state.class == CLASS_PENDING {
            counter::GRO_MERGED
        } else if stage == STAGE_UNMAPPED {
            counter::UNMAPPED
        } else {
            counter::RESTARTED
        };
        count(why);
        if may_start {
            start(point, skb, key);
        } else {
            end(key);
        }
        return;
    }
    let mut next_ns = now;
    if state.class == CLASS_PENDING {
        // It left GRO on its own: the journey begins for real. The next
        // stage starts after the classification, not with Prism's work.
        // (A read names no skb, and a packet still in GRO is never read;
        // the check tells the verifier that class_of gets a real skb.)
        if skb.is_null() {
            return;
        }
        // Only receive journeys wait in GRO.
        if !begin(state, key, class_of(skb, true)) {
            return;
        }
        next_ns = unsafe { bpf_ktime_get_ns() };
    }
    count(counter::HITS);
    record(stage, state, delta);
    if state.sampled != 0 {
        emit(now, state, delta, key, stage, point, 0);
    }
    if receive_start(point) {
        // Off the wire into a receive path: its own end-to-end time starts.
        state.rx_start_ns = now;
    }
    if point == READ_POINT {
        // The journey is complete; the skb may be freed untraced.
        add(counter::COMPLETED, state.weight as u64);
        // Unlocked slots: another CPU may have just restarted this one
        // with a later time. A total past the stale limit is no journey.
        let total = now.wrapping_sub(state.rx_start_ns);
        if state.rx_start_ns != 0 && total <= config().stale_ns {
            record(RECEIVE_TOTAL, state, total);
        }
        end(key);
        return;
    }
    state.last_ns = next_ns;
    state.last_point = point;
}

#[inline(always)]
fn start(point: u8, skb: *const u8, key: u64) {
    let Some(slot) = SKBS.get_ptr_mut(skb_slot(key)) else {
        return;
    };
    let slot = unsafe { &mut *slot };
    note_slot_reuse(slot, key);
    // Classified before the clock is read: the journey's first stage does
    // not include Prism's own work.
    let class = class_of(skb, receive_start(point));
    let first_ns = unsafe { bpf_ktime_get_ns() };
    slot.state = SkbState {
        first_ns,
        last_ns: first_ns,
        last_point: point,
        class: CLASS_PENDING,
        sampled: 0,
        container: 0,
        weight: 1,
        rx_start_ns: if receive_start(point) { first_ns } else { 0 },
    };
    slot.skb = key;
    begin(&mut slot.state, key, class);
}

/// Gives a journey its packet's class and container (`class_of`'s
/// answer), draws whether a low-class one is timed (false: it is left out)
/// and whether it goes to the event stream, and emits its first event.
#[inline(always)]
fn begin(state: &mut SkbState, key: u64, found: u32) -> bool {
    let class = found as u8;
    state.container = (found >> 8) as u8;
    let mut weight = 1;
    if class == CLASS_LOW {
        count(counter::LOW_JOURNEYS);
        weight = low_sample_every(state.first_ns);
        if weight > 1 && unsafe { bpf_get_prandom_u32() } % weight != 0 {
            state.class = CLASS_UNSAMPLED;
            return false;
        }
        count(counter::LOW_TIMED);
    }
    state.weight = weight;
    add(counter::STARTED, weight as u64);
    count(counter::HITS);
    let sample = config().events_sample;
    let sampled = sample == 1 || (sample > 1 && unsafe { bpf_get_prandom_u32() } % sample == 0);
    state.class = class;
    state.sampled = sampled as u8;
    if sampled {
        emit(
            state.first_ns,
            state,
            0,
            key,
            STAGE_UNMAPPED,
            state.last_point,
            EVENT_FIRST,
        );
    }
    true
}

/// N of "low-class journeys timed 1 in N" on this CPU, for a journey
/// that begins at `now_ns`.
#[inline(always)]
fn low_sample_every(now_ns: u64) -> u32 {
    let target = config().low_per_cpu_per_sec;
    if target == 0 {
        return 1;
    }
    match LOW_RATE.get_ptr_mut(0) {
        Some(rate) => unsafe { (*rate).begin(now_ns, target) },
        None => 1,
    }
}

/// The journey of the skb at `key`, if it is on one (or waiting in GRO).
#[inline(always)]
fn journey(key: u64) -> Option<&'static mut SkbState> {
    let slot = SKBS.get_ptr_mut(skb_slot(key))?;
    let slot = unsafe { &mut *slot };
    (slot.skb == key).then_some(&mut slot.state)
}

/// Ends the journey of the skb at `key`; false if it was on none.
#[inline(always)]
fn end(key: u64) -> bool {
    match SKBS.get_ptr_mut(skb_slot(key)) {
        Some(slot) if unsafe { (*slot).skb } == key => {
            unsafe { (*slot).skb = 0 };
            true
        }
        _ => false,
    }
}

/// A packet was queued on socket `sk`: remember it as the one the next
/// read takes, unless an older one is still waiting.
#[inline(always)]
pub fn queued_on_socket(sk: u64, skb: *const u8) {
    let key = addr_of(skb);
    let Some(state) = journey(key) else {
        return;
    };
    if state.class == CLASS_UNSAMPLED {
        return;
    }
    let len: u32 = field(skb, offsets().skb_len);
    add(
        counter::DELIVERED_BYTES + (state.class & 1) as u32,
        len as u64 * state.weight as u64,
    );
    if unsafe { SOCK_PENDING.get(&sk) }.is_none() {
        let _ = SOCK_PENDING.insert(&sk, &key, 0);
    }
    // The journey found above crosses the boundary (no second lookup).
    track_at(
        point(event::DATA_READY, role::SOCKET),
        skb,
        key,
        state,
        false,
    );
}

/// The application read from socket `sk`: the oldest pending packet is read.
#[inline(always)]
pub fn read_from_socket(sk: u64) {
    if let Some(skb) = unsafe { SOCK_PENDING.get(&sk) }.copied() {
        let _ = SOCK_PENDING.remove(&sk);
        match journey(skb) {
            Some(state) => track_at(READ_POINT, core::ptr::null(), skb, state, false),
            None => {}
        }
    }
}

#[inline(always)]
fn stage_between(from: u8, to: u8) -> u8 {
    let index = from as u32 * POINTS as u32 + to as u32;
    STAGES.get(index).copied().unwrap_or(STAGE_UNMAPPED)
}

#[inline(always)]
fn record(stage: u8, state: &SkbState, delta: u64) {
    let slot = stage as u32 * CLASSES as u32 + (state.class & 1) as u32;
    if let Some(h) = HISTS.get_ptr_mut(slot) {
        unsafe { (*h).record_weighted(delta, state.weight as u64) }
    }
    if config().per_container != 0 && state.container != 0 {
        record_container(
            state.container as u32 * MAX_STAGES * CLASSES as u32 + slot,
            delta,
            state.weight as u64,
        );
    }
}

/// Adds a stage time to a container's histogram, which every CPU
/// updates: atomic adds, each at offset 0 or a fixed field of a pointer a
/// lookup just returned; the maximum is a racy compare, a value some CPU
/// saw.
#[inline(always)]
fn record_container(slot: u32, v: u64, weight: u64) {
    if let Some(sums) = CONTAINER_SUMS.get_ptr_mut(slot) {
        unsafe {
            atomic_add(&raw mut (*sums).count, weight);
            atomic_add(&raw mut (*sums).sum_ns, v * weight);
            if v > (*sums).max_ns {
                (*sums).max_ns = v;
            }
        }
    }
    let bucket = slot * BUCKETS as u32 + (bucket_of(v) & (BUCKETS - 1)) as u32;
    if let Some(n) = CONTAINER_BUCKETS.get_ptr_mut(bucket) {
        atomic_add(n, weight);
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
/// A packet consumed while it waits on its socket was consumed by its
/// reader: some kernels (6.12) free a UDP datagram inside `recvmsg`, before
/// `sock:sock_recv_length` fires, so that is its read.
#[inline(always)]
pub fn forget(skb: *const u8, dropped: bool) {
    let key = addr_of(skb);
    // One slot lookup: this runs for every skb the kernel frees.
    let Some(slot) = SKBS.get_ptr_mut(skb_slot(key)) else {
        return;
    };
    let slot = unsafe { &mut *slot };
    if slot.skb != key {
        return;
    }
    if slot.state.class == CLASS_UNSAMPLED {
        slot.skb = 0;
        return;
    }
    if !dropped && slot.state.last_point == point(event::DATA_READY, role::SOCKET) {
        let sk = addr_of(field::<*const u8>(skb, offsets().skb_sk));
        if unsafe { SOCK_PENDING.get(&sk) }.copied() == Some(key) {
            let _ = SOCK_PENDING.remove(&sk);
        }
        track_at(READ_POINT, skb, key, &mut slot.state, false);
        return;
    }
    slot.skb = 0;
    let ended = if dropped {
        counter::DROPPED
    } else {
        counter::CONSUMED
    };
    add(ended, slot.state.weight as u64);
}
