//! Routed overlays (Flannel, Calico): what the kernel's IP forwarding does
//! to a packet on its way between the VXLAN device and a pod, done in
//! place: a new Ethernet header and the TTL less one.

use aya_ebpf::programs::TcContext;
use prism_datapath_common::reason;

use crate::flow::{ETH_LEN, ETH_P_IP};

/// The IPv4 destination of the header at `ip`, as network-order bytes.
#[inline(always)]
pub fn destination(ctx: &TcContext, ip: usize) -> Result<[u8; 4], u32> {
    ctx.load(ip + 16).map_err(|_| reason::TRUNCATED)
}

/// Fails with `TTL` when forwarding would expire the packet: the kernel
/// must see it, to answer with ICMP.
#[inline(always)]
pub fn check_ttl(ctx: &TcContext, ip: usize) -> Result<(), u32> {
    let ttl: u8 = ctx.load(ip + 8).map_err(|_| reason::TRUNCATED)?;
    if ttl <= 1 {
        return Err(reason::TTL);
    }
    Ok(())
}

/// Decrements the TTL of the IPv4 header at `ip` and fixes its checksum.
#[inline(always)]
pub fn decrement_ttl(ctx: &TcContext, ip: usize) -> Result<(), u32> {
    // TTL and protocol: one checksummed 16-bit word.
    let old: u16 = ctx.load(ip + 8).map_err(|_| reason::TRUNCATED)?;
    let [ttl, proto] = old.to_ne_bytes();
    let new = u16::from_ne_bytes([ttl.wrapping_sub(1), proto]);
    ctx.store(ip + 8, &new, 0)
        .map_err(|_| reason::ADJUST_FAILED)?;
    ctx.l3_csum_replace(ip + 10, old as u64, new as u64, 2)
        .map_err(|_| reason::ADJUST_FAILED)
}

/// An IPv4 Ethernet header from `dst` to `src`.
#[inline(always)]
pub fn ethernet(dst: &[u8; 6], src: &[u8; 6]) -> [u8; ETH_LEN] {
    let t = ETH_P_IP.to_be_bytes();
    [
        dst[0], dst[1], dst[2], dst[3], dst[4], dst[5], src[0], src[1], src[2], src[3], src[4],
        src[5], t[0], t[1],
    ]
}
