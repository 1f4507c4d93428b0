//! The kernel side of rule matching, for the eBPF programs of both the
//! profilers and the datapath: the rule maps (same names and layouts in
//! both objects, so userspace can pin one and share it) and the matching
//! loop.

/// Defines, in the calling eBPF crate, the maps `RULES` (the rules),
/// `RULE_COUNT` (how many are in use) and `RULE_FLOW` (per-CPU scratch for
/// the flow being classified), and `fn rule_flow_is_high() -> bool`, which
/// matches the flow in `RULE_FLOW` against the rules.
///
/// The match is a bounded loop over at most `MAX_RULES` rules, which
/// kernels since 5.3 verify (`bpf_loop`, 5.17+, was slower per packet:
/// see the `rule_matcher_cost` benchmark in `tests/datapath.rs`).
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
        #[inline(always)]
        pub fn rule_flow_is_high() -> bool {
            prism_rule_flow_is_high() != 0
        }

        /// The matching loop as a global BPF function (exported, so its
        /// BTF linkage is global): the verifier checks it once, on its own,
        /// instead of once per path that reaches a call, which made the
        /// programs that classify at several points take seconds to load.
        #[unsafe(no_mangle)]
        #[inline(never)]
        pub extern "C" fn prism_rule_flow_is_high() -> u32 {
            let n = RULE_COUNT
                .get(0)
                .copied()
                .unwrap_or(0)
                .min($crate::MAX_RULES);
            if n == 0 {
                return 0;
            }
            let Some(flow) = RULE_FLOW.get(0) else {
                return 0;
            };
            // A bounded loop (Linux 5.3+): the verifier walks each
            // iteration, which MAX_RULES keeps within its limits.
            let mut i = 0;
            while i < $crate::MAX_RULES {
                if i >= n {
                    break;
                }
                if let Some(rule) = RULES.get(i)
                    && $crate::matches(rule, flow)
                {
                    return 1;
                }
                i += 1;
            }
            0
        }
    };
}
