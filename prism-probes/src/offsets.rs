//! Resolves the kernel offsets the programs need, from BTF and tracefs.

use anyhow::{Context, Result};
use prism_kernel::{
    btf::{KernelBtf, MemberPath},
    tracefs::Format,
};
use prism_probes_common::{KernelOffsets, TracepointOffsets};

type Field = fn(&mut KernelOffsets) -> &mut u32;

/// Each field of [`KernelOffsets`] and the member it stands for.
const KERNEL_MEMBERS: [(Field, MemberPath); 10] = [
    (|o| &mut o.skb_dev, MemberPath::new("sk_buff", "dev")),
    (|o| &mut o.skb_head, MemberPath::new("sk_buff", "head")),
    (
        |o| &mut o.skb_mac_header,
        MemberPath::new("sk_buff", "mac_header"),
    ),
    (
        |o| &mut o.netdev_ifindex,
        MemberPath::new("net_device", "ifindex"),
    ),
    (
        |o| &mut o.netdev_net,
        MemberPath::new("net_device", "nd_net.net"),
    ),
    (|o| &mut o.net_inum, MemberPath::new("net", "ns.inum")),
    (
        |o| &mut o.sock_receive_queue,
        MemberPath::new("sock", "sk_receive_queue"),
    ),
    (|o| &mut o.napi_dev, MemberPath::new("napi_struct", "dev")),
    (|o| &mut o.skb_len, MemberPath::new("sk_buff", "len")),
    (|o| &mut o.skb_sk, MemberPath::new("sk_buff", "sk")),
];

/// Reads every offset of [`KernelOffsets`] from the kernel's BTF. The error
/// names the first member this kernel lacks.
pub fn kernel_offsets(btf: &KernelBtf) -> Result<KernelOffsets> {
    let mut offsets = KernelOffsets::default();
    for (field, member) in KERNEL_MEMBERS {
        *field(&mut offsets) = member.resolve(btf)?;
    }
    Ok(offsets)
}

/// Reads the record offsets of the classic tracepoints from tracefs.
pub fn tracepoint_offsets() -> Result<TracepointOffsets> {
    let rx = Format::load("net", "netif_receive_skb").context("classic tracepoint layout")?;
    Ok(TracepointOffsets {
        netif_receive_skb_skbaddr: rx.offset_of("skbaddr")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolves_every_offset_on_this_kernel() {
        let btf = KernelBtf::from_sys().expect("kernel BTF");
        let o = kernel_offsets(&btf).unwrap();
        assert_eq!(o.skb_dev, 16);
        assert!(
            o.netdev_ifindex > 0 && o.netdev_net > 0 && o.net_inum > 0,
            "{o:?}"
        );
    }
}
