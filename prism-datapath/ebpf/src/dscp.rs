//! mark mode's DSCP rewrite: high-priority packets leave the container
//! with a chosen codepoint, so that the underlay's routers and the remote
//! host's qdiscs can tell them apart too. The two ECN bits are kept.

use aya_ebpf::programs::TcContext;
use prism_datapath_common::DSCP_KEEP;

/// Sets the DSCP of the IP header at `ip`. IPv4 fixes its header checksum;
/// IPv6 has none, and the traffic class is not in the TCP/UDP
/// pseudo-header, so no transport checksum changes either.
#[inline(always)]
pub fn set(ctx: &TcContext, ipv6: bool, ip: usize, dscp: u8) -> Result<(), ()> {
    if dscp == DSCP_KEEP {
        return Ok(());
    }
    if ipv6 {
        // Version (4 bits), traffic class (8), flow label (20).
        let word = u32::from_be(ctx.load::<u32>(ip).map_err(|_| ())?);
        let tclass = ((word >> 20) & 0xff) as u8;
        let new = (word & !(0xff << 20)) | ((tclass_with(tclass, dscp) as u32) << 20);
        if new != word {
            ctx.store(ip, &new.to_be(), 0).map_err(|_| ())?;
        }
    } else {
        // Version and header length, then TOS.
        let old = ctx.load::<u16>(ip).map_err(|_| ())?;
        let [ver_ihl, tos] = old.to_ne_bytes();
        let new = u16::from_ne_bytes([ver_ihl, tclass_with(tos, dscp)]);
        if new != old {
            ctx.store(ip, &new, 0).map_err(|_| ())?;
            ctx.l3_csum_replace(ip + 10, old as u64, new as u64, 2)
                .map_err(|_| ())?;
        }
    }
    Ok(())
}

/// A TOS / traffic class byte with its DSCP replaced.
#[inline(always)]
pub fn tclass_with(tclass: u8, dscp: u8) -> u8 {
    (dscp << 2) | (tclass & 0x03)
}
