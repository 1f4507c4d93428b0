//! The devices the profilers follow come from the overlay model; here is
//! the number each role has in the eBPF programs' point table.

pub use prism_overlay::{Device, Role};
use prism_probes_common::points::role;

/// The role's number in the eBPF programs' point table.
pub fn role_id(r: Role) -> u8 {
    match r {
        Role::Underlay => role::UNDERLAY,
        Role::Vxlan => role::VXLAN,
        Role::RoutedVxlan => role::ROUTED_VXLAN,
        Role::Bridge => role::BRIDGE,
        Role::HostVeth => role::HOST_VETH,
        Role::RoutedVeth => role::ROUTED_VETH,
        Role::Container => role::CONTAINER,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_role_has_its_own_number() {
        let all = [
            Role::Underlay,
            Role::Vxlan,
            Role::RoutedVxlan,
            Role::Bridge,
            Role::HostVeth,
            Role::RoutedVeth,
            Role::Container,
        ];
        let mut ids: Vec<u8> = all.iter().map(|r| role_id(*r)).collect();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), all.len());
        assert!(ids.iter().all(|&i| i != role::UNTRACKED && i < role::COUNT));
    }
}
