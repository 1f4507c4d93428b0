//! The datapath's maps. Userspace fills them and reads them by these names.

use aya_ebpf::{
    macros::map,
    maps::{Array, HashMap, LpmTrie, PerCpuArray},
};
use prism_datapath_common::{
    COUNTER_SLOTS, Config, Helpers, Local, LocalIp, Remote, RemoteNet, Tunnel, counter_slot,
};

// High-priority rules (`RULES`, `RULE_COUNT`), shared with the profilers.
prism_rules::rule_maps!();

#[map]
pub static CONFIG: Array<Config> = Array::with_max_entries(1, 0);

#[map]
pub static TUNNEL: Array<Tunnel> = Array::with_max_entries(1, 0);

/// Containers on this host, by MAC.
#[map]
pub static LOCAL: HashMap<u64, Local> = HashMap::with_max_entries(4096, 0);

/// Containers behind other VTEPs, by MAC.
#[map]
pub static REMOTE: HashMap<u64, Remote> = HashMap::with_max_entries(16384, 0);

/// Routed hosts: containers on this host, by IPv4 address.
#[map]
pub static LOCAL_IP: HashMap<u32, LocalIp> = HashMap::with_max_entries(4096, 0);

/// Routed hosts: pod prefixes behind other VTEPs.
#[map]
pub static REMOTE_NET: LpmTrie<[u8; 4], RemoteNet> = LpmTrie::with_max_entries(16384, 0);

/// What this kernel's helpers accept; the loader sets it.
#[unsafe(no_mangle)]
static HELPERS: Helpers = Helpers {
    decap_l3: 0,
    encap_l2_eth: 0,
    _pad: [0; 6],
};

/// The volatile read keeps the compiler from folding in the build-time
/// value; the verifier, which sees the loader's, folds it instead.
#[inline(always)]
pub fn helpers() -> Helpers {
    unsafe { core::ptr::read_volatile(&HELPERS) }
}

#[map]
pub static COUNTERS: PerCpuArray<u64> = PerCpuArray::with_max_entries(COUNTER_SLOTS, 0);

#[inline(always)]
pub fn count(direction: u32, reason: u32, high: bool) {
    if let Some(n) = COUNTERS.get_ptr_mut(counter_slot(direction, reason, high as u32)) {
        unsafe { *n += 1 }
    }
}

#[inline(always)]
pub fn tunnel() -> Option<&'static Tunnel> {
    TUNNEL.get(0)
}

#[inline(always)]
pub fn config() -> Config {
    CONFIG.get(0).copied().unwrap_or_default()
}
