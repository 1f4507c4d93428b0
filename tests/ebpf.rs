//! Every eBPF program of the workspace loads, attaches and runs on this
//! kernel, and `prism doctor` reports what the kernel really allows.

mod support;

use std::path::Path;

use aya::programs::{SchedClassifier, TestRun, TestRunOptions, Xdp, loaded_programs};
use prism_datapath::capabilities::{hits, load_object};
use prism_datapath_common::CapHook;
use prism_kernel::bpf::program;
use prism_probes::{capabilities::Mechanism, packet_counter::PacketCounter};
use serde_json::Value;
use support::{namespaces_named, require_root, run_ok};

fn usable(report: &Value, list: &str, key: &str, name: &str) -> (bool, String) {
    let entry = report[list]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c[key] == name)
        .unwrap_or_else(|| panic!("doctor did not check {name}"));
    (
        entry["usable"].as_bool().unwrap(),
        entry["reason"].as_str().unwrap().to_string(),
    )
}

#[test]
fn doctor_reports_what_this_kernel_allows() {
    require_root();
    let report: Value = serde_json::from_str(&run_ok(&["doctor", "--json"])).unwrap();
    for t in ["tracepoint", "raw_tp", "tp_btf"] {
        let (ok, why) = usable(&report, "attach", "attach_type", t);
        assert!(ok, "{t} should be usable here: {why}");
    }
    for h in ["tc (tcx)", "tc (clsact)", "xdp (native)", "xdp (generic)"] {
        let (ok, why) = usable(&report, "hooks", "hook", h);
        assert!(ok, "{h} should be usable here: {why}");
    }
    // kprobes need the kprobe PMU; doctor must agree with the kernel.
    let kprobe_pmu = Path::new("/sys/bus/event_source/devices/kprobe/type").exists();
    let (kprobe, why) = usable(&report, "attach", "attach_type", "kprobe");
    assert_eq!(kprobe, kprobe_pmu, "kprobe: {why}");
    for t in ["kprobe", "fentry"] {
        let (ok, why) = usable(&report, "attach", "attach_type", t);
        assert!(ok || !why.is_empty(), "{t} is unusable without a reason");
    }
    assert_eq!(report["probe_mechanism"], "tp_btf");
    assert_eq!(report["datapath_hook"], "tc (tcx)");
    // It tried Prism's own programs, and they work on this kernel.
    let functions = report["functions"].as_array().unwrap();
    assert_eq!(functions.len(), 2);
    for f in functions {
        assert_eq!(f["works"], true, "{f}");
    }
    // Programs only doctor loads in this test binary, freed after an RCU
    // grace period.
    let left = || program_ids("prism_gro_entry").len() + program_ids("prism_rx_sandbox").len();
    for _ in 0..100 {
        if left() == 0 {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert_eq!(left(), 0, "doctor left Prism's programs loaded");
    assert!(report["btf"]["ok"].as_bool().unwrap());
    assert!(
        namespaces_named("prism-doctor-").is_empty(),
        "doctor left its scratch namespace"
    );
}

/// IDs of loaded programs whose name starts with `prefix`.
fn program_ids(prefix: &str) -> Vec<u32> {
    loaded_programs()
        .filter_map(Result::ok)
        .filter(|p| p.name_as_str().is_some_and(|n| n.starts_with(prefix)))
        .map(|p| p.id())
        .collect()
}

#[test]
fn packet_counters_attach_with_every_mechanism_and_detach_on_drop() {
    require_root();
    for mechanism in Mechanism::PREFERENCE {
        let counter =
            PacketCounter::attach(mechanism).unwrap_or_else(|e| panic!("{mechanism}: {e:#}"));
        let ids = program_ids("prism_rx_count");
        assert!(!ids.is_empty(), "{mechanism}: no program loaded");
        // Loopback traffic from this test proves the program runs.
        let sock = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let to = sock.local_addr().unwrap();
        for _ in 0..10 {
            sock.send_to(b"x", to).unwrap();
        }
        let lo = prism_kernel::netns::current_inode().unwrap();
        let seen = counter.count(lo, 1).unwrap();
        assert!(
            seen >= 10,
            "{mechanism}: counted {seen} of 10 loopback packets"
        );
        drop(counter);
        // The kernel frees links and programs after an RCU grace period.
        let gone = (0..100).any(|_| {
            std::thread::sleep(std::time::Duration::from_millis(20));
            program_ids("prism_rx_count")
                .iter()
                .all(|id| !ids.contains(id))
        });
        assert!(
            gone,
            "{mechanism}: programs {ids:?} outlived their counter by 2 s"
        );
    }
}

/// An Ethernet + IPv4 + UDP frame, enough for a pass-through program.
fn frame() -> Vec<u8> {
    let mut f = vec![0u8; 64];
    f[12..14].copy_from_slice(&0x0800u16.to_be_bytes());
    f[14] = 0x45;
    f[23] = 17;
    f
}

#[test]
fn datapath_programs_run_on_crafted_packets() {
    require_root();
    let mut ebpf = load_object().unwrap();
    let data = frame();
    let tc: &mut SchedClassifier = program(&mut ebpf, "prism_cap_tc").unwrap();
    tc.load().unwrap();
    let opts = TestRunOptions {
        data_in: Some(&data),
        repeat: 3,
        ..Default::default()
    };
    let r = tc.test_run(opts).unwrap();
    assert_eq!(
        r.return_value as i32, -1,
        "TC_ACT_UNSPEC: pass to the next program"
    );
    let xdp: &mut Xdp = program(&mut ebpf, "prism_cap_xdp").unwrap();
    xdp.load().unwrap();
    let opts = TestRunOptions {
        data_in: Some(&data),
        ..Default::default()
    };
    let r = xdp.test_run(opts).unwrap();
    assert_eq!(r.return_value, 2, "XDP_PASS");
    assert_eq!(hits(&ebpf, CapHook::Tc).unwrap(), 3);
    assert_eq!(hits(&ebpf, CapHook::Xdp).unwrap(), 1);
}

/// The verifier's walk of each program stays far inside its 1 million
/// instruction limit. Load time grows with that walk: when the rule loop
/// was a static subprogram, the verifier walked it again on every path
/// that classifies, three profiler programs took 300 000 instructions
/// each, and attaching on a host busy with bulk traffic took 10 s.
#[test]
fn every_program_verifies_well_inside_the_verifier_limit() {
    require_root();
    const BUDGET: u32 = 150_000;
    let datapath = prism_datapath::object::DatapathObject::load(None).unwrap();
    let profilers =
        prism_probes::collector::Collector::attach(prism_probes::collector::CollectorConfig {
            profile: prism_probes::profile::Profile::Full,
            per_container: true,
            events: prism_probes::collector::EventSampling::All,
            ..Default::default()
        })
        .unwrap();
    let mut stats = prism_probes::collector::program_stats(datapath.ebpf());
    stats.extend(profilers.program_stats());
    assert!(stats.len() >= 12, "{} programs", stats.len());
    for p in &stats {
        let walked = p
            .verified_insns
            .expect("this kernel reports verified_insns");
        assert!(
            walked < BUDGET,
            "{} took the verifier {walked} instructions (budget {BUDGET})",
            p.name
        );
    }
}
