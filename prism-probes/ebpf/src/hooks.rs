//! The tracepoints along the overlay path, as BTF tracepoints: their
//! arguments are typed kernel pointers, which the programs read with plain
//! loads (see [`crate::kernel::field`]) instead of helper calls.
//!
//! Every tracepoint that fires once per wire-sized segment of bulk traffic
//! costs throughput, so Prism hooks as few as the stages need:
//! `net_dev_start_xmit` and `napi_gro_receive_exit` are left out (the
//! underlay's qdisc is timed together with the wire; GRO merges are
//! inferred, see `gro_entered`).

use aya_ebpf::{
    macros::{btf_tracepoint, fentry, kprobe},
    programs::{BtfTracePointContext, FEntryContext, ProbeContext},
};
use prism_probes_common::points::event;

use crate::{
    context,
    kernel::{addr_of, field, offsets},
    tracker::{device_hit, forget, gro_entered, queued_on_socket, read_from_socket, socket_hit},
};

/// Defines the program `$name` on tracepoint `$tp`, running `$body` with
/// the tracepoint's arguments as `$a`.
macro_rules! hook {
    ($tp:literal, $name:ident, |$a:ident| $body:expr) => {
        #[btf_tracepoint(function = $tp)]
        pub fn $name(ctx: BtfTracePointContext) -> i32 {
            let $a = Args(ctx);
            $body;
            0
        }
    };
}

/// A tracepoint's arguments.
pub struct Args(BtfTracePointContext);

impl Args {
    /// A pointer argument, BTF-typed: its members can be loaded directly.
    #[inline(always)]
    pub fn ptr(&self, n: usize) -> *const u8 {
        self.0.arg(n)
    }

    /// A scalar argument (or a `void *`, which BTF types as a number): a
    /// plain load from the context, no helper call.
    #[inline(always)]
    pub fn u64(&self, n: usize) -> u64 {
        self.0.arg::<u64>(n)
    }

    /// A pointer argument's address as a number (a map key), without a
    /// helper call: see [`addr_of`].
    #[inline(always)]
    pub fn addr(&self, n: usize) -> u64 {
        addr_of(self.ptr(n))
    }
}

hook!("napi_gro_receive_entry", prism_gro_entry, |a| gro_entered(
    a.ptr(0)
));
hook!("netif_receive_skb", prism_rcv, |a| device_hit(
    event::RCV,
    a.ptr(0)
));
hook!("netif_rx", prism_netif_rx, |a| device_hit(
    event::NETIF_RX,
    a.ptr(0)
));
hook!("net_dev_queue", prism_dev_queue, |a| device_hit(
    event::DEV_QUEUE,
    a.ptr(0)
));
hook!("sk_data_ready", prism_data_ready, |a| data_ready(a.ptr(0)));

/// Where `sock:sk_data_ready` is not a tracepoint (before 6.10): the same
/// boundary at the entry of `sock_def_readable`, which the tracepoint
/// marks and every socket uses unless a protocol replaces it.
#[fentry(function = "sock_def_readable")]
pub fn prism_data_ready_fentry(ctx: FEntryContext) -> u32 {
    data_ready(ctx.arg(0));
    0
}

/// Where fentry does not load either: a kprobe on the same function.
#[kprobe]
pub fn prism_data_ready_kprobe(ctx: ProbeContext) -> u32 {
    if let Some(sk) = ctx.arg::<*const u8>(0) {
        data_ready(sk);
    }
    0
}

#[inline(always)]
fn data_ready(sk: *const u8) {
    if let Some(skb) = newest_queued(sk) {
        queued_on_socket(addr_of(sk), skb)
    }
}
hook!("skb_copy_datagram_iovec", prism_read, |a| socket_hit(
    event::READ,
    a.ptr(0)
));
hook!("sock_recv_length", prism_recv_len, |a| {
    // (sk, ret, flags): only reads that returned data.
    if (a.u64(1) as i32) > 0 {
        read_from_socket(a.addr(0))
    }
});
hook!("consume_skb", prism_consume, |a| forget(a.ptr(0), false));
hook!("kfree_skb", prism_kfree, |a| {
    context::dropped(a.u64(1), a.u64(2) as u32);
    forget(a.ptr(0), true)
});
// Before 5.17 the tracepoint has no drop reason: (skb, location).
hook!("kfree_skb", prism_kfree_noreason, |a| {
    context::dropped(a.u64(1), 0);
    forget(a.ptr(0), true)
});
hook!("softirq_raise", prism_sirq_raise, |a| {
    context::softirq_raised(a.u64(0) as u32)
});
hook!("softirq_entry", prism_sirq_entry, |a| {
    context::softirq_entered(a.u64(0) as u32)
});
hook!("napi_poll", prism_napi_poll, |a| {
    context::napi_polled(a.ptr(0), a.u64(1) as u32, a.u64(2) as u32)
});

/// The skb just queued on a socket: the tail of `sk_receive_queue`
/// (`sk_data_ready` passes only the socket).
#[inline(always)]
fn newest_queued(sk: *const u8) -> Option<*const u8> {
    let queue = sk.wrapping_add(offsets().sock_receive_queue as usize);
    // struct sk_buff_head { next, prev, ... }: the list head is its own
    // prev when the queue is empty.
    let tail: *const u8 = field(queue, 8);
    (tail != queue && !tail.is_null()).then_some(tail)
}
