//! Integrity end to end, on every lab flavor: `prism lab integrity` sends
//! numbered UDP datagrams and a known TCP byte stream between the
//! containers, with the datapath off and then on (both flows high
//! priority, so they take the fast path both ways), alone and under TCP
//! bulk. Nothing may arrive damaged; alone, nothing may be lost either way.
//! Under bulk the figures are printed for the README (see its reliability
//! section).

mod support;

use serde_json::Value;
use support::{Disable, Lab, counter, run, run_ok, turn};

const RULES: [&str; 4] = ["--high", "udp port 7780", "--high", "tcp port 7781"];

fn integrity(lab: &Lab, background: &str) -> Value {
    let out = run(&[
        "lab",
        "integrity",
        "--name",
        &lab.name,
        "--duration",
        "3s",
        "--background",
        background,
        "--json",
    ]);
    let report: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)));
    assert!(
        out.status.success(),
        "damaged: {report:#}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    report
}

fn figures(r: &Value) -> String {
    format!(
        "udp {} sent {} lost, tcp {} bytes {} retransmitted ({} spurious)",
        r["udp_sent"],
        r["udp_lost"],
        r["tcp_sent"]["bytes"],
        r["tcp_sent"]["retransmitted"],
        r["tcp_sent"]["spurious"]
    )
}

fn check_flavor(tag: &str, lab_options: &[&str], enable_options: &[&str]) {
    let _turn = turn();
    let lab = Lab::up_with(tag, lab_options);
    let namespaces = lab.namespaces();
    if lab_options.contains(&"--queued-wire") {
        let topo = lab.topology();
        for ns in topo.sides.iter().map(|s| &s.host_ns) {
            let qdisc = std::process::Command::new("ip")
                .args(["netns", "exec", ns, "tc", "qdisc", "show", "dev", "eth0"])
                .output()
                .unwrap();
            let text = String::from_utf8_lossy(&qdisc.stdout);
            assert!(text.contains("qdisc mq 1: root"), "{tag} {ns}: {text}");
        }
    }
    for datapath in [false, true] {
        let _disable = Disable;
        if datapath {
            let mut args = vec!["enable"];
            args.extend(RULES);
            for ns in &namespaces {
                args.extend(["--netns", ns]);
            }
            args.extend(enable_options);
            run_ok(&args);
        }
        for background in ["idle", "tcp"] {
            let r = integrity(&lab, background);
            assert_eq!(r["udp"]["corrupted"], 0, "{tag}: {r:#}");
            assert_eq!(r["tcp"]["corrupted_bytes"], 0, "{tag}: {r:#}");
            assert_eq!(r["tcp"]["bytes"], r["tcp_sent"]["bytes"], "{tag}: {r:#}");
            if background == "idle" {
                assert_eq!(r["udp_lost"], 0, "{tag}: nothing lost when alone: {r:#}");
            }
            eprintln!(
                "{tag} datapath {} {background}: {}",
                if datapath { "on" } else { "off" },
                figures(&r)
            );
        }
        if datapath {
            // The checked flows took the fast path both ways.
            let status: Value = serde_json::from_str(&run_ok(&["status", "--json"])).unwrap();
            for direction in ["rx", "tx"] {
                let n = counter(&status, direction, "fast", "high");
                assert!(n > 1000, "{tag}: {direction} fast {n}: {status:#}");
                // None of them left to the kernel for being a GSO packet: a
                // flow split between the paths arrives reordered under load.
                let gso = counter(&status, direction, "gso", "high");
                assert_eq!(gso, 0, "{tag}: {direction} gso: {status:#}");
            }
        }
    }
}

#[test]
fn payloads_arrive_intact_on_every_flavor_with_the_datapath_off_and_on() {
    check_flavor("ibr", &[], &[]);
    check_flavor("idk", &["--overlay", "docker"], &[]);
    check_flavor("ifl", &["--overlay", "flannel"], &[]);
    check_flavor(
        "ica",
        &["--overlay", "calico", "--router"],
        &["--allow-netfilter-bypass"],
    );
}

#[test]
fn payloads_arrive_intact_over_a_queued_wire_too() {
    // A wire with a qdisc, as a NIC has: backpressure instead of drops.
    check_flavor("iqw", &["--queued-wire"], &[]);
    check_flavor(
        "iqr",
        &["--overlay", "calico", "--router", "--queued-wire"],
        &["--allow-netfilter-bypass"],
    );
}
