//! The tracepoints along the overlay path. Each hook exists twice, as a
//! BTF tracepoint and as a raw tracepoint, with one body: userspace loads
//! the kind `prism doctor` found usable.

use aya_ebpf::{
    macros::{btf_tracepoint, raw_tracepoint},
    programs::{BtfTracePointContext, RawTracePointContext},
};
use prism_probes_common::points::event;

use crate::{
    context,
    kernel::{offsets, read},
    tracker::{device_hit, forget, merged, queued_on_socket, read_from_socket, socket_hit},
};

/// Defines `$btf` (tp_btf) and `$raw` (raw_tp) for tracepoint `$tp`, both
/// running `$body` with the tracepoint's argument array as `$args`.
macro_rules! hook {
    ($tp:literal, $btf:ident, $raw:ident, |$args:ident| $body:expr) => {
        #[btf_tracepoint(function = $tp)]
        pub fn $btf(ctx: BtfTracePointContext) -> i32 {
            let $args = Args::Btf(ctx);
            $body;
            0
        }

        #[raw_tracepoint(tracepoint = $tp)]
        pub fn $raw(ctx: RawTracePointContext) -> i32 {
            let $args = Args::Raw(ctx);
            $body;
            0
        }
    };
}

/// The arguments of a tracepoint, whichever way it was attached.
pub enum Args {
    Btf(BtfTracePointContext),
    Raw(RawTracePointContext),
}

impl Args {
    #[inline(always)]
    pub fn ptr(&self, n: usize) -> *const u8 {
        self.u64(n) as *const u8
    }

    #[inline(always)]
    pub fn u64(&self, n: usize) -> u64 {
        match self {
            Self::Btf(ctx) => ctx.arg(n),
            Self::Raw(ctx) => ctx.arg(n),
        }
    }
}

hook!(
    "napi_gro_receive_entry",
    prism_b_gro_entry,
    prism_r_gro_entry,
    |a| {
        context::gro_entered(a.u64(0));
        device_hit(event::GRO_ENTRY, a.ptr(0))
    }
);
hook!(
    "napi_gro_receive_exit",
    prism_b_gro_exit,
    prism_r_gro_exit,
    |a| {
        if let Some(skb) = context::gro_merged(a.u64(0) as u32) {
            merged(skb)
        }
    }
);
hook!("netif_receive_skb", prism_b_rcv, prism_r_rcv, |a| {
    device_hit(event::RCV, a.ptr(0))
});
hook!("netif_rx", prism_b_netif_rx, prism_r_netif_rx, |a| {
    device_hit(event::NETIF_RX, a.ptr(0))
});
hook!("net_dev_queue", prism_b_dev_queue, prism_r_dev_queue, |a| {
    device_hit(event::DEV_QUEUE, a.ptr(0))
});
hook!("net_dev_start_xmit", prism_b_xmit, prism_r_xmit, |a| {
    device_hit(event::XMIT, a.ptr(0))
});
hook!(
    "sk_data_ready",
    prism_b_data_ready,
    prism_r_data_ready,
    |a| {
        if let Some(skb) = newest_queued(a.ptr(0)) {
            queued_on_socket(a.u64(0), skb)
        }
    }
);
hook!("skb_copy_datagram_iovec", prism_b_read, prism_r_read, |a| {
    socket_hit(event::READ, a.ptr(0))
});
hook!(
    "sock_recv_length",
    prism_b_recv_len,
    prism_r_recv_len,
    |a| {
        // (sk, ret, flags): only reads that returned data.
        if (a.u64(1) as i32) > 0 {
            read_from_socket(a.u64(0))
        }
    }
);
hook!("consume_skb", prism_b_consume, prism_r_consume, |a| forget(
    a.ptr(0),
    false
));
hook!("kfree_skb", prism_b_kfree, prism_r_kfree, |a| {
    context::dropped(a.u64(1), a.u64(2) as u32);
    forget(a.ptr(0), true)
});
hook!(
    "softirq_raise",
    prism_b_sirq_raise,
    prism_r_sirq_raise,
    |a| { context::softirq_raised(a.u64(0) as u32) }
);
hook!(
    "softirq_entry",
    prism_b_sirq_entry,
    prism_r_sirq_entry,
    |a| { context::softirq_entered(a.u64(0) as u32) }
);
hook!("napi_poll", prism_b_napi_poll, prism_r_napi_poll, |a| {
    context::napi_polled(a.ptr(0), a.u64(1) as u32, a.u64(2) as u32)
});

/// The skb just queued on a socket: the tail of `sk_receive_queue`
/// (`sk_data_ready` passes only the socket).
#[inline(always)]
fn newest_queued(sk: *const u8) -> Option<*const u8> {
    let queue = sk.wrapping_add(offsets().sock_receive_queue as usize);
    // struct sk_buff_head { next, prev, ... }: the list head is its own
    // prev when the queue is empty.
    let tail: *const u8 = read(queue, 8)?;
    (tail != queue && !tail.is_null()).then_some(tail)
}
