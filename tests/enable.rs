//! The datapath end to end on the lab: `prism enable`, traffic through the
//! fast path in both directions, `status`, `rules`, `disable`, and what
//! happens when things go wrong (bad input, crashes, vanishing devices).

mod support;

// The datapath is machine-wide state (pins under /sys/fs/bpf/prism), so
// these tests take turns.
static MACHINE: std::sync::Mutex<()> = std::sync::Mutex::new(());

use std::{process::Stdio, time::Duration};

use prism_lab::{
    Topology,
    scenario::{self, Background, RunOptions},
    state,
    workload::prober::{ProberConfig, Proto},
};
use support::{Lab, prism, run, run_ok, run_unprivileged};

fn turn() -> std::sync::MutexGuard<'static, ()> {
    MACHINE.lock().unwrap_or_else(|e| e.into_inner())
}

/// `prism enable` on this lab's hosts only, with the prober's port high.
fn enable_args(lab: &Lab) -> Vec<String> {
    let mut args: Vec<String> = [
        "enable", "--high", "udp", "port", "7777", "--high", "tcp", "port", "7777",
    ]
    .map(String::from)
    .to_vec();
    for host in ["h1", "h2"] {
        args.extend(["--netns".into(), format!("{}-{host}", lab.name)]);
    }
    args
}

fn args(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

/// Disables the datapath when dropped, also when a test fails.
struct Disable;

impl Drop for Disable {
    fn drop(&mut self) {
        let _ = run(&["disable"]);
    }
}

fn status() -> serde_json::Value {
    serde_json::from_str(&run_ok(&["status", "--json"])).unwrap()
}

fn counter(status: &serde_json::Value, direction: &str, reason: &str, class: &str) -> u64 {
    status["counters"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["direction"] == direction && r["reason"] == reason && r["class"] == class)
        .map(|r| r["packets"].as_u64().unwrap())
        .sum()
}

/// (UDP checksum errors, TCP checksum errors, TCP retransmissions) in a
/// namespace, from its /proc/net/snmp.
fn snmp(ns: &str) -> (u64, u64, u64) {
    prism_kernel::netns::run_in(Some(ns), || {
        let text = std::fs::read_to_string("/proc/thread-self/net/snmp").unwrap();
        let value = |proto: &str, field: &str| -> u64 {
            let mut lines = text
                .lines()
                .filter(|l| l.starts_with(&format!("{proto}: ")));
            let (names, values) = (lines.next().unwrap(), lines.next().unwrap());
            let i = names.split_whitespace().position(|n| n == field).unwrap();
            values.split_whitespace().nth(i).unwrap().parse().unwrap()
        };
        (
            value("Udp", "InCsumErrors"),
            value("Tcp", "InCsumErrors"),
            value("Tcp", "RetransSegs"),
        )
    })
    .unwrap()
}

fn probe(topo: &Topology, proto: Proto) -> prism_lab::scenario::ScenarioReport {
    let opts = RunOptions {
        duration: Duration::from_millis(1500),
        warmup: Duration::from_millis(200),
        prober: ProberConfig {
            proto,
            rate: 500,
            ..Default::default()
        },
        ..Default::default()
    };
    scenario::run(topo, Background::Idle, &opts).unwrap()
}

#[test]
fn lab_traffic_takes_the_fast_path_both_ways_and_disable_restores() {
    let _turn = turn();
    let lab = Lab::up("dpe2e");
    let topo = Topology::new(state::load(&lab.name).unwrap().unwrap());
    let containers: Vec<String> = topo.sides.iter().map(|s| s.container_ns.clone()).collect();
    // The normal path first, for the retransmission baseline.
    let before_off: Vec<_> = containers.iter().map(|c| snmp(c)).collect();
    let off = probe(&topo, Proto::Tcp);
    let after_off: Vec<_> = containers.iter().map(|c| snmp(c)).collect();

    let _disable = Disable;
    let out = run_ok(&args(&enable_args(&lab)));
    assert!(out.contains("datapath enabled"), "{out}");
    // The profilers share the datapath's rules when given none of their own.
    let line = run_ok(&[
        "stat",
        "--json",
        "--count",
        "1",
        "--interval",
        "200ms",
        "--netns",
        &containers[0],
    ]);
    let line: serde_json::Value = serde_json::from_str(line.lines().next().unwrap()).unwrap();
    assert_eq!(
        line["rules"],
        serde_json::json!(["udp port 7777", "tcp port 7777"])
    );
    for proto in [Proto::Udp, Proto::Tcp] {
        let r = probe(&topo, proto);
        assert!(r.sent > 300, "{proto:?}: {r:?}");
        assert_eq!(r.lost, 0, "{proto:?}");
    }
    let before_on: Vec<_> = containers.iter().map(|c| snmp(c)).collect();
    let on = probe(&topo, Proto::Tcp);
    let after_on: Vec<_> = containers.iter().map(|c| snmp(c)).collect();
    let s = status();
    let (rx, tx) = (
        counter(&s, "rx", "fast", "high"),
        counter(&s, "tx", "fast", "high"),
    );
    assert!(
        rx >= 2 * on.sent && tx >= 2 * on.sent,
        "fast path rx {rx}, tx {tx} for {} exchanges",
        on.sent
    );
    // Bulk traffic still works, through the normal path.
    let bulk = scenario::run(
        &topo,
        Background::Tcp,
        &RunOptions {
            duration: Duration::from_secs(1),
            warmup: Duration::from_millis(300),
            ..Default::default()
        },
    )
    .unwrap();
    assert!(bulk.background.unwrap().bytes > 10_000_000, "{bulk:?}");
    assert!(counter(&status(), "rx", "low", "low") > 0);
    for i in 0..2 {
        let (udp_off, tcp_off, retrans_off) = diff(before_off[i], after_off[i]);
        let (udp_on, tcp_on, retrans_on) = diff(before_on[i], after_on[i]);
        assert_eq!(
            (udp_on, tcp_on),
            (0, 0),
            "checksum errors with the datapath on"
        );
        assert_eq!((udp_off, tcp_off), (0, 0), "checksum errors with it off");
        assert!(
            retrans_on <= retrans_off + 2,
            "retransmissions on {retrans_on}, off {retrans_off}"
        );
    }
    assert_eq!(off.lost, 0);

    let out = run_ok(&["disable"]);
    assert!(out.contains("4 attachment(s) removed"), "{out}");
    assert!(!std::path::Path::new("/sys/fs/bpf/prism/datapath").exists());
    assert_eq!(status()["enabled"], false);
    let r = probe(&topo, Proto::Udp);
    assert_eq!(r.lost, 0, "the normal path works again");
}

fn diff(a: (u64, u64, u64), b: (u64, u64, u64)) -> (u64, u64, u64) {
    (b.0 - a.0, b.1 - a.1, b.2 - a.2)
}

#[test]
fn enable_and_disable_are_idempotent_and_survive_a_crash() {
    let _turn = turn();
    let lab = Lab::up("dpidem");
    let _disable = Disable;
    let enable = enable_args(&lab);
    assert!(run_ok(&args(&enable)).contains("datapath enabled"));
    let again = run_ok(&args(&enable));
    assert!(
        again.contains("already enabled") && again.contains("0 new attachments"),
        "{again}"
    );
    assert!(run_ok(&["disable"]).contains("removed"));
    assert!(run_ok(&["disable"]).contains("not enabled"));
    // Killed mid-way: whatever it pinned, disable removes it.
    for delay_ms in [2, 10, 40] {
        let mut child = prism()
            .args(args(&enable))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(delay_ms));
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(child.id() as i32),
            nix::sys::signal::Signal::SIGKILL,
        );
        let _ = child.wait();
        run_ok(&["disable"]);
        assert!(
            !std::path::Path::new("/sys/fs/bpf/prism/datapath").exists(),
            "after a kill at {delay_ms} ms"
        );
    }
    // And enable works again after a crash it did not clean up.
    let mut child = prism()
        .args(args(&enable))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(20));
    let _ = nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGKILL,
    );
    let _ = child.wait();
    assert!(run_ok(&args(&enable)).contains("enabled"));
    assert_eq!(status()["hosts"].as_array().unwrap().len(), 2);
}

#[test]
fn faults_end_in_clear_messages_and_clean_state() {
    let _turn = turn();
    let lab = Lab::up("dpfault");
    let _disable = Disable;
    let mut enable = enable_args(&lab);

    // A bad rule: refused before anything is attached.
    let mut bad = enable.clone();
    bad.extend(["--high", "tcp", "dport", "99999"].map(String::from));
    let out = run(&args(&bad));
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("99999 is not a port"));
    assert!(!std::path::Path::new("/sys/fs/bpf/prism/datapath").exists());

    // No privileges.
    let out = run_unprivileged(&args(&enable));
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("run it as root"));

    // A full rule map.
    enable.truncate(5); // enable --high udp port 7777
    for host in ["h1", "h2"] {
        enable.extend(["--netns".into(), format!("{}-{host}", lab.name)]);
    }
    run_ok(&args(&enable));
    for port in 1..=63 {
        run_ok(&["rules", "add", "tcp", "dport", &port.to_string()]);
    }
    let out = run(&["rules", "add", "tcp", "dport", "64"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("full"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = run(&["rules", "del", "tcp", "dport", "9999"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("there is no rule"));
    run_ok(&["rules", "del", "tcp", "dport", "1"]);
    let listed = run_ok(&["rules", "list"]);
    assert_eq!(listed.lines().count(), 63);

    // A container and an underlay disappear while enabled.
    prism_kernel::netns::delete(&format!("{}-c2", lab.name)).unwrap();
    prism_kernel::rtnl::run_in(Some(&format!("{}-h1", lab.name)), |nl| async move {
        nl.delete("eth0").await
    })
    .unwrap();
    std::thread::sleep(Duration::from_millis(200));
    let s = status();
    let gone: Vec<String> = s["hosts"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|h| h["attachments"].as_array().unwrap().iter())
        .filter(|a| a["attached"] == false)
        .map(|a| a["device"].to_string())
        .collect();
    assert!(
        gone.len() >= 2,
        "status should show the vanished devices: {s}"
    );
    assert!(run_ok(&["disable"]).contains("removed"));
    assert!(!std::path::Path::new("/sys/fs/bpf/prism/datapath").exists());
}

fn masks(ns: &str, steering: prism_kernel::sysfs::Steering) -> Vec<String> {
    let path = prism_kernel::netns::path_of(ns);
    prism_kernel::sysfs::masks(&path, ns, "eth0", steering).unwrap()
}

fn rps_masks(ns: &str) -> Vec<String> {
    masks(ns, prism_kernel::sysfs::Steering::Rps)
}

#[test]
fn nic_mode_gives_high_priority_its_own_ring_and_cpu_and_disable_restores() {
    let _turn = turn();
    let lab = Lab::up("dpnic");
    let topo = Topology::new(state::load(&lab.name).unwrap().unwrap());
    let hosts: Vec<String> = topo.sides.iter().map(|s| s.host_ns.clone()).collect();
    let xps = |h: &String| masks(h, prism_kernel::sysfs::Steering::Xps);
    let before: Vec<Vec<String>> = hosts.iter().map(|h| rps_masks(h)).collect();
    let xps_before: Vec<Vec<String>> = hosts.iter().map(xps).collect();
    assert_eq!(
        xps_before[0],
        ["3", "0", "0"],
        "the lab shares one ring by default"
    );
    let _disable = Disable;
    let mut enable = enable_args(&lab);
    enable.extend(["--mode", "sync,nic", "--nic-cpu", "1"].map(String::from));
    run_ok(&args(&enable));
    for h in &hosts {
        // Ring 2 (high) is steered by rx-1's map: CPU 1; the others: CPU 0.
        assert_eq!(rps_masks(h), ["1", "2", "1"], "{h}");
        assert_eq!(
            xps(h),
            ["0", "0", "0"],
            "{h}: XPS would override the steering"
        );
    }
    let opts = RunOptions {
        duration: Duration::from_millis(1500),
        warmup: Duration::from_millis(300),
        apply_rps: false,
        ..Default::default()
    };
    let r = scenario::run(&topo, Background::Tcp, &opts).unwrap();
    assert!(
        r.sent > 300 && r.background.unwrap().bytes > 10_000_000,
        "{r:?}"
    );
    let s = status();
    assert!(counter(&s, "egress", "steered", "high") >= 2 * r.sent);
    assert!(counter(&s, "egress", "steered", "low") > 1000);
    assert!(counter(&s, "rx", "fast", "high") >= 2 * (r.sent - r.lost));
    run_ok(&["disable"]);
    let after: Vec<Vec<String>> = hosts.iter().map(|h| rps_masks(h)).collect();
    assert_eq!(after, before, "disable puts the RPS masks back");
    assert_eq!(
        hosts.iter().map(xps).collect::<Vec<_>>(),
        xps_before,
        "and the XPS masks"
    );
}
