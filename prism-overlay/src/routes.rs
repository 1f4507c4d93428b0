//! Longest-prefix match over a namespace's main routing table: which
//! device, and which next hop, the kernel would send an address to.

use std::net::Ipv4Addr;

use prism_kernel::rtnl::Route;

/// Does `ip` fall inside `dst/prefix`?
pub fn contains(dst: Ipv4Addr, prefix: u8, ip: Ipv4Addr) -> bool {
    let mask = match prefix {
        0 => 0,
        p if p >= 32 => u32::MAX,
        p => u32::MAX << (32 - p),
    };
    u32::from(dst) & mask == u32::from(ip) & mask
}

/// The most specific route to `ip`, as `ip route get` would pick it from
/// the main table (policy rules and metrics aside: ties go to the first).
pub fn lookup(routes: &[Route], ip: Ipv4Addr) -> Option<&Route> {
    let mut best: Option<&Route> = None;
    for r in routes.iter().filter(|r| contains(r.dst, r.prefix, ip)) {
        if best.is_none_or(|b| r.prefix > b.prefix) {
            best = Some(r);
        }
    }
    best
}

/// Where a packet to `ip` goes next: the route's gateway, or `ip` itself
/// on a directly connected network.
pub fn next_hop(route: &Route, ip: Ipv4Addr) -> Ipv4Addr {
    route.gateway.unwrap_or(ip)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn route(dst: [u8; 4], prefix: u8, gw: Option<[u8; 4]>, oif: u32) -> Route {
        Route {
            dst: dst.into(),
            prefix,
            gateway: gw.map(Into::into),
            oif: Some(oif),
        }
    }

    #[test]
    fn picks_the_most_specific_route() {
        let table = [
            route([0, 0, 0, 0], 0, Some([192, 168, 1, 1]), 2),
            route([10, 244, 0, 0], 16, None, 3),
            route([10, 244, 1, 0], 24, Some([10, 244, 1, 0]), 4),
            route([10, 244, 1, 7], 32, None, 5),
        ];
        let at = |ip: [u8; 4]| lookup(&table, ip.into()).and_then(|r| r.oif);
        assert_eq!(at([8, 8, 8, 8]), Some(2));
        assert_eq!(at([10, 244, 9, 1]), Some(3));
        assert_eq!(at([10, 244, 1, 6]), Some(4));
        assert_eq!(at([10, 244, 1, 7]), Some(5));
        assert!(lookup(&table[1..], [8, 8, 8, 8].into()).is_none());
        let r = lookup(&table, [10, 244, 1, 6].into()).unwrap();
        assert_eq!(
            next_hop(r, [10, 244, 1, 6].into()),
            Ipv4Addr::new(10, 244, 1, 0)
        );
        let r = lookup(&table, [10, 244, 1, 7].into()).unwrap();
        assert_eq!(
            next_hop(r, [10, 244, 1, 7].into()),
            Ipv4Addr::new(10, 244, 1, 7)
        );
    }

    #[test]
    fn prefix_edges() {
        assert!(contains([0, 0, 0, 0].into(), 0, [1, 2, 3, 4].into()));
        assert!(contains([1, 2, 3, 4].into(), 32, [1, 2, 3, 4].into()));
        assert!(!contains([1, 2, 3, 4].into(), 32, [1, 2, 3, 5].into()));
        assert!(contains([10, 65, 1, 0].into(), 26, [10, 65, 1, 63].into()));
        assert!(!contains([10, 65, 1, 0].into(), 26, [10, 65, 1, 64].into()));
    }
}
