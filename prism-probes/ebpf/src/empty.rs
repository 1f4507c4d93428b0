//! An empty program at every tracepoint the profilers hook. `prism lab
//! overhead` attaches these to measure the floor: what running any program
//! there costs on this machine, so that Prism's own cost is the difference.

use aya_ebpf::{macros::btf_tracepoint, programs::BtfTracePointContext};

macro_rules! empty {
    ($tp:literal, $name:ident) => {
        #[btf_tracepoint(function = $tp)]
        pub fn $name(_ctx: BtfTracePointContext) -> i32 {
            0
        }
    };
}

empty!("napi_gro_receive_entry", prism_empty_gro_entry);
empty!("netif_receive_skb", prism_empty_rcv);
empty!("netif_rx", prism_empty_netif_rx);
empty!("net_dev_queue", prism_empty_dev_queue);
empty!("sk_data_ready", prism_empty_data_ready);
empty!("skb_copy_datagram_iovec", prism_empty_read);
empty!("sock_recv_length", prism_empty_recv_len);
empty!("consume_skb", prism_empty_consume);
empty!("kfree_skb", prism_empty_kfree);
empty!("softirq_raise", prism_empty_sirq_raise);
empty!("softirq_entry", prism_empty_sirq_entry);
empty!("napi_poll", prism_empty_napi_poll);
