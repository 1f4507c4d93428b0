//! The kernel side of rule matching, for the eBPF programs of both the
//! profilers and the datapath: the rule maps (same names and layouts in
//! both objects, so userspace can pin one and share it) and the matching
//! loop.

/// Defines, in the calling eBPF crate, the maps `RULES` (the rules),
/// `RULE_COUNT` (how many are in use) and `RULE_FLOW` (per-CPU scratch for
/// the flow being classified), and `fn rule_flow_is_high() -> bool`, which
/// matches the flow in `RULE_FLOW` against the rules.
///
/// The match runs in a `bpf_loop` callback, so the verifier checks one
/// rule match, not `MAX_RULES` unrolled ones.
#[macro_export]
macro_rules! rule_maps {
    () => {
        #[aya_ebpf::macros::map]
        pub static RULES: aya_ebpf::maps::Array<$crate::Rule> =
            aya_ebpf::maps::Array::with_max_entries($crate::MAX_RULES, 0);

        #[aya_ebpf::macros::map]
        pub static RULE_COUNT: aya_ebpf::maps::Array<u32> =
            aya_ebpf::maps::Array::with_max_entries(1, 0);

        #[aya_ebpf::macros::map]
        pub static RULE_FLOW: aya_ebpf::maps::PerCpuArray<$crate::FlowKey> =
            aya_ebpf::maps::PerCpuArray::with_max_entries(1, 0);

        /// Whether any rule matches the flow in `RULE_FLOW`.
        #[inline(never)]
        pub fn rule_flow_is_high() -> bool {
            let n = RULE_COUNT
                .get(0)
                .copied()
                .unwrap_or(0)
                .min($crate::MAX_RULES);
            if n == 0 {
                return false;
            }
            #[repr(C)]
            struct Found {
                high: u64,
            }
            extern "C" fn match_rule(i: u32, found: *mut core::ffi::c_void) -> i64 {
                let (Some(rule), Some(flow)) = (RULES.get(i), RULE_FLOW.get(0)) else {
                    return 1;
                };
                if $crate::matches(rule, flow) {
                    unsafe { (*found.cast::<Found>()).high = 1 };
                    return 1;
                }
                0
            }
            let mut found = Found { high: 0 };
            unsafe {
                aya_ebpf::helpers::generated::bpf_loop(
                    n,
                    match_rule as *mut core::ffi::c_void,
                    (&mut found as *mut Found).cast(),
                    0,
                );
            }
            found.high != 0
        }
    };
}
