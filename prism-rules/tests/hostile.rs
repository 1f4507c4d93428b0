//! The rule parser on anything an operator (or a script) might type: it
//! answers with a rule or an error, never panics, and whatever it accepts
//! prints back as text that parses to the same rule and matches the same
//! flows.

use prism_rules::{FlowKey, Rule, RuleSet};
use proptest::prelude::*;

/// Words of the language, values good and bad, and noise.
fn word() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(vec![
            "tcp",
            "udp",
            "src",
            "dst",
            "port",
            "sport",
            "dport",
            "dscp",
            "ef",
            "af41",
            "cs7",
            "be",
            "cs8",
            "af44",
            "64",
            "0",
            "63",
            "-1",
            "1-65535",
            "0-1",
            "8000-8080",
            "9-3",
            "65536",
            "10.0.0.0/8",
            "10.1.2.3",
            "10.0.0.0/33",
            "0.0.0.0/0",
            "fd00::/64",
            "::1",
            "::/0",
            "fd00::/129",
            "1.2.3",
            "/8",
            "10.0.0.0/",
            "TCP",
            "",
            "#",
            "\u{0}",
        ])
        .prop_map(String::from),
        "[a-z0-9./:-]{1,12}",
        any::<u16>().prop_map(|p| p.to_string()),
    ]
}

fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::collection::vec(word(), 0..8).prop_map(|w| w.join(" ")),
        ".{0,64}",
    ]
}

fn flow() -> impl Strategy<Value = FlowKey> {
    (
        prop::sample::select(vec![4u8, 6]),
        prop::sample::select(vec![6u8, 17, 1]),
        0u8..64,
        any::<u16>(),
        any::<u16>(),
        any::<[u64; 2]>(),
        any::<[u64; 2]>(),
    )
        .prop_map(|(family, proto, dscp, sport, dport, src, dst)| {
            let v4 = |a: [u64; 2]| {
                if family == 4 {
                    [a[0] & 0xffff_ffff, 0]
                } else {
                    a
                }
            };
            FlowKey {
                family,
                proto,
                dscp,
                sport,
                dport,
                src: v4(src),
                dst: v4(dst),
                ..Default::default()
            }
        })
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 20_000,
        failure_persistence: Some(Box::new(
            proptest::test_runner::FileFailurePersistence::WithSource("regressions"),
        )),
        ..ProptestConfig::default()
    })]

    #[test]
    fn accepted_rules_print_back_to_themselves(t in text(), flows in prop::collection::vec(flow(), 8)) {
        let Ok(rule) = t.parse::<Rule>() else { return Ok(()) };
        let printed = rule.to_string();
        let again: Rule = printed
            .parse()
            .map_err(|e| TestCaseError::fail(format!("{t:?} printed as {printed:?}: {e}")))?;
        prop_assert_eq!(again, rule, "{:?} printed as {:?}", t, printed);
        let (a, b) = (
            RuleSet::parse(&[t.as_str()]).unwrap(),
            RuleSet::parse(&[printed.as_str()]).unwrap(),
        );
        for f in &flows {
            prop_assert_eq!(a.is_high(f), b.is_high(f));
        }
    }

}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 1000,
        failure_persistence: Some(Box::new(
            proptest::test_runner::FileFailurePersistence::WithSource("regressions"),
        )),
        ..ProptestConfig::default()
    })]

    #[test]
    fn rule_sets_answer_or_refuse(texts in prop::collection::vec(text(), 0..70)) {
        // Too many, duplicates, bad ones: an error names it, nothing panics.
        if let Ok(set) = RuleSet::parse(&texts) {
            prop_assert!(set.len() <= texts.len());
            let printed = set.to_string();
            prop_assert!(!printed.contains('\n'));
        }
    }
}
