//! The datapath end to end on the lab: `prism enable`, traffic through the
//! fast path in both directions, `status`, `rules`, `disable`, and what
//! happens when things go wrong (bad input, crashes, vanishing devices).

mod support;

use std::{process::Stdio, time::Duration};

use prism_lab::{
    Topology,
    scenario::{self, Background, RunOptions},
    state,
    workload::prober::{ProberConfig, Proto},
};
use support::{
    Disable, Lab, counter, extra::add_to_host2, prism, run, run_ok, run_unprivileged, turn,
};

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

fn status() -> serde_json::Value {
    serde_json::from_str(&run_ok(&["status", "--json"])).unwrap()
}

/// (UDP checksum errors, TCP checksum errors, TCP retransmissions) in a
/// namespace.
fn snmp(ns: &str) -> (u64, u64, u64) {
    let s = prism_kernel::snmp::Snmp::of(Some(ns)).unwrap();
    (
        s.udp_in_csum_errors,
        s.tcp_in_csum_errors,
        s.tcp_retrans_segs,
    )
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
    fast_path_both_ways_on("dpe2e", &[], &[]);
}

#[test]
fn every_overlay_flavor_takes_the_fast_path_both_ways() {
    // Docker: from the sandbox's VXLAN device; Flannel and Calico: routed by
    // inner IP (Calico's VTEPs behind a router); a non-default port.
    fast_path_both_ways_on("fdk", &["--overlay", "docker"], &[]);
    // Nothing relies on netfilter on the lab's Flannel nodes: served, with
    // a note of what is skipped. Calico's policy needs the opt-in.
    fast_path_both_ways_on("ffl", &["--overlay", "flannel"], &[]);
    let bypass = ["--allow-netfilter-bypass"];
    fast_path_both_ways_on("fca", &["--overlay", "calico", "--router"], &bypass);
    fast_path_both_ways_on("fpt", &["--port", "8472"], &[]);
}

#[test]
fn calico_needs_the_netfilter_opt_in_and_says_why() {
    let _turn = turn();
    let lab = Lab::up_with("fcaopt", &["--overlay", "calico"]);
    let _disable = Disable;
    let out = run(&args(&enable_args(&lab)));
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("Calico") && err.contains("--allow-netfilter-bypass"),
        "{err}"
    );
    assert_eq!(status()["enabled"], false, "nothing was enabled");
    assert!(!std::path::Path::new("/sys/fs/bpf/prism/datapath").exists());
}

/// On a lab built with `lab_options`: UDP and TCP probers are fast-pathed
/// in both directions with no checksum error and no extra retransmission,
/// bulk traffic keeps the normal path, and `disable` restores it.
fn fast_path_both_ways_on(tag: &str, lab_options: &[&str], enable_options: &[&str]) {
    let _turn = turn();
    let lab = Lab::up_with(tag, lab_options);
    let topo = lab.topology();
    let containers: Vec<String> = topo.sides.iter().map(|s| s.container_ns.clone()).collect();
    // The normal path first, for the retransmission baseline.
    let before_off: Vec<_> = containers.iter().map(|c| snmp(c)).collect();
    let off = probe(&topo, Proto::Tcp);
    let after_off: Vec<_> = containers.iter().map(|c| snmp(c)).collect();

    let _disable = Disable;
    let mut enable = enable_args(&lab);
    enable.extend(enable_options.iter().map(|o| o.to_string()));
    let out = run_ok(&args(&enable));
    assert!(out.contains("datapath enabled"), "{tag}: {out}");
    assert!(!out.contains("not served"), "{tag}: {out}");
    if topo.config.overlay.is_routed() && enable_options.is_empty() {
        assert!(
            out.contains("note:") && out.contains("netfilter"),
            "{tag}: {out}"
        );
    }
    // status names this lab's VXLAN devices and how they are served.
    let hosts: Vec<String> = topo
        .sides
        .iter()
        .map(|s| s.sandbox_ns.clone().unwrap_or_else(|| s.host_ns.clone()))
        .collect();
    let listed = status()["overlays"].as_array().unwrap().clone();
    for host in &hosts {
        let row = listed
            .iter()
            .find(|o| o["namespace"] == host.as_str())
            .unwrap_or_else(|| panic!("{tag}: {host} not in the status overlays: {listed:?}"));
        let served = row["datapath"].as_str().unwrap();
        assert!(!served.starts_with("not served"), "{tag}: {row}");
    }
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
        "{tag}: fast path rx {rx}, tx {tx} for {} exchanges",
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
            "{tag}: checksum errors with the datapath on"
        );
        assert_eq!((udp_off, tcp_off), (0, 0), "checksum errors with it off");
        assert!(
            retrans_on <= retrans_off + 2,
            "{tag}: retransmissions on {retrans_on}, off {retrans_off}"
        );
    }
    assert_eq!(off.lost, 0);

    let out = run_ok(&["disable"]);
    assert!(out.contains("4 attachment(s) removed"), "{tag}: {out}");
    assert!(!std::path::Path::new("/sys/fs/bpf/prism/datapath").exists());
    assert_eq!(status()["enabled"], false);
    let r = probe(&topo, Proto::Udp);
    assert_eq!(r.lost, 0, "{tag}: the normal path works again");
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
        kill_midway(prism().args(args(&enable)), delay_ms);
        run_ok(&["disable"]);
        assert!(
            !std::path::Path::new("/sys/fs/bpf/prism/datapath").exists(),
            "after a kill at {delay_ms} ms"
        );
    }
    // And enable works again after a crash it did not clean up.
    kill_midway(prism().args(args(&enable)), 20);
    assert!(run_ok(&args(&enable)).contains("enabled"));
    assert_eq!(status()["hosts"].as_array().unwrap().len(), 2);
}

/// Starts `command` and kills it with SIGKILL after `delay_ms`.
fn kill_midway(command: &mut std::process::Command, delay_ms: u64) {
    let mut child = command
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

/// 1.5 s of the prober under TCP bulk, with the masks the datapath set;
/// both must have got through.
fn prober_under_bulk(topo: &Topology) -> scenario::ScenarioReport {
    let opts = RunOptions {
        duration: Duration::from_millis(1500),
        warmup: Duration::from_millis(300),
        apply_rps: false,
        ..Default::default()
    };
    let r = scenario::run(topo, Background::Tcp, &opts).unwrap();
    assert!(
        r.sent > 300 && r.background.unwrap().bytes > 10_000_000,
        "{r:?}"
    );
    r
}

fn rps_masks(ns: &str) -> Vec<String> {
    masks(ns, prism_kernel::sysfs::Steering::Rps)
}

#[test]
fn nic_mode_gives_high_priority_its_own_ring_and_cpu_and_disable_restores() {
    nic_mode_on("dpnic", &[]);
    // Docker: the steering and the masks are on the node's underlay, apart
    // from the sandbox the VXLAN device is in.
    nic_mode_on("dknic", &["--overlay", "docker"]);
}

fn nic_mode_on(tag: &str, lab_options: &[&str]) {
    let _turn = turn();
    let lab = Lab::up_with(tag, lab_options);
    let topo = lab.topology();
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
    let r = prober_under_bulk(&topo);
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

/// Polls `prism status --json` until `ok` holds (or 15 s pass).
fn status_until(what: &str, ok: impl Fn(&serde_json::Value) -> bool) -> serde_json::Value {
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    loop {
        let s = status();
        if ok(&s) {
            return s;
        }
        assert!(std::time::Instant::now() < deadline, "{what}: {s}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// (local, remote) table entries per host, and the transmit devices
/// (sorted).
fn tables(s: &serde_json::Value) -> Vec<(u64, u64, Vec<String>)> {
    s["hosts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| {
            let mut tx: Vec<String> = h["attachments"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|a| a["program"] == "transmit" && a["attached"] == true)
                .map(|a| a["device"].as_str().unwrap().to_string())
                .collect();
            tx.sort();
            (
                h["local_containers"].as_u64().unwrap(),
                h["remote_containers"].as_u64().unwrap(),
                tx,
            )
        })
        .collect()
}

/// Kills a child process when dropped.
struct Reap(std::process::Child);

impl Drop for Reap {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Deletes a namespace when dropped.
#[test]
fn watch_follows_containers_as_they_come_and_go() {
    let _turn = turn();
    let lab = Lab::up("dpwatch");
    let topo = Topology::new(state::load(&lab.name).unwrap().unwrap());
    let [s1, s2] = &topo.sides;
    let _disable = Disable;
    let mut enable = enable_args(&lab);
    enable.push("--watch".into());
    let mut watcher = Reap(
        prism()
            .args(args(&enable))
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap(),
    );
    status_until("enabled on both hosts", |s| {
        tables(s)
            == vec![
                (1, 1, vec![s1.host_veth.clone()]),
                (1, 1, vec![s2.host_veth.clone()]),
            ]
    });

    // A third container appears on host 2, Docker-style: a veth into a new
    // namespace, its host side on the bridge, and host 1 learns its MAC.
    let c3 = add_to_host2(&lab.name, &topo, "c3", 3);
    let addr = c3.ip.to_string();
    let addr = addr.as_str();
    let c3_ns = c3.netns.clone();
    status_until("the watcher picked up the new container", |s| {
        tables(s)
            == vec![
                (1, 2, vec![s1.host_veth.clone()]),
                (2, 1, vec![s2.host_veth.clone(), "veth-c3".into()]),
            ]
    });

    // High-priority traffic to it takes the fast path on both hosts.
    let fast = |s: &serde_json::Value| {
        (
            counter(s, "tx", "fast", "high"),
            counter(s, "rx", "fast", "high"),
        )
    };
    let before = fast(&status());
    let server = prism_kernel::netns::run_in(Some(&c3_ns), || {
        std::net::UdpSocket::bind((addr, 7777)).unwrap()
    })
    .unwrap();
    server
        .set_read_timeout(Some(Duration::from_secs(2)))
        .unwrap();
    let client = prism_kernel::netns::run_in(Some(&s1.container_ns), || {
        std::net::UdpSocket::bind((s1.overlay_ip, 0)).unwrap()
    })
    .unwrap();
    for i in 0..20u8 {
        client.send_to(&[i; 32], (addr, 7777)).unwrap();
        let mut buf = [0u8; 64];
        assert_eq!(server.recv(&mut buf).unwrap(), 32, "datagram {i}");
    }
    let after = fast(&status());
    assert!(
        after.0 >= before.0 + 20 && after.1 >= before.1 + 20,
        "fast path before {before:?}, after {after:?}"
    );

    // It goes away again: its veth, and its FDB entry on host 1.
    let mac = prism_kernel::rtnl::format_mac(&c3.mac);
    drop(c3);
    let underlay2 = s2.underlay_ip.to_string();
    let out = std::process::Command::new("bridge")
        .args([
            "-n",
            &s1.host_ns,
            "fdb",
            "del",
            &mac,
            "dev",
            "vxlan0",
            "dst",
            &underlay2,
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    status_until("the watcher dropped the container", |s| {
        tables(s)
            == vec![
                (1, 1, vec![s1.host_veth.clone()]),
                (1, 1, vec![s2.host_veth.clone()]),
            ]
    });

    // `prism disable` ends the watcher, which does not turn it back on.
    run_ok(&["disable"]);
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let code = loop {
        if let Some(code) = watcher.0.try_wait().unwrap() {
            break code;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the watcher kept running"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(code.success());
    let mut out = String::new();
    std::io::Read::read_to_string(watcher.0.stdout.as_mut().unwrap(), &mut out).unwrap();
    assert!(out.contains("updated after"), "{out}");
    assert!(out.contains("the datapath was disabled"), "{out}");
    assert_eq!(status()["enabled"], false);
    assert!(!std::path::Path::new("/sys/fs/bpf/prism/datapath").exists());
}

#[test]
fn other_programs_on_the_hooks_stay_attached_and_are_named() {
    use aya::programs::{LinkOrder, SchedClassifier, TcAttachType, tc::TcAttachOptions};
    use prism_datapath::capabilities::hits;
    use prism_datapath_common::CapHook;

    let _turn = turn();
    let lab = Lab::up("dpother");
    let topo = Topology::new(state::load(&lab.name).unwrap().unwrap());
    let h2 = topo.sides[1].host_ns.clone();
    // Someone else's program on host 2's underlay ingress: it counts what
    // it sees and hands every packet on.
    let theirs = their_counter(&h2, TcAttachOptions::TcxOrder(LinkOrder::default()));
    let on_hook = |h2: &str| -> Vec<String> {
        prism_kernel::netns::run_in(Some(h2), || {
            SchedClassifier::query_tcx("eth0", TcAttachType::Ingress)
                .unwrap()
                .1
                .iter()
                .map(|p| p.name_as_str().unwrap().to_string())
                .collect()
        })
        .unwrap()
    };

    let _disable = Disable;
    let out = run_ok(&args(&enable_args(&lab)));
    assert!(out.contains("eth0 ingress: prism_cap_tc (id "), "{out}");
    assert_eq!(
        on_hook(&h2),
        ["prism_rx", "prism_cap_tc"],
        "Prism goes first"
    );
    // High priority is fast-pathed past it; bulk still reaches it.
    let before = hits(&theirs, CapHook::Tc).unwrap();
    assert_eq!(probe(&topo, Proto::Udp).lost, 0);
    assert!(short_bulk(&topo) > 1_000_000);
    let after = hits(&theirs, CapHook::Tc).unwrap();
    assert!(
        after > before + 100,
        "their program saw {before} then {after} packets"
    );

    run_ok(&["disable"]);
    assert_eq!(on_hook(&h2), ["prism_cap_tc"], "theirs stays attached");
}

/// (priority, program or classifier name) of the filters on a clsact hook.
fn filters(ns: &str, dev: &str, hook: prism_kernel::tc::Hook) -> Vec<(u16, String)> {
    prism_kernel::rtnl::run_in(Some(ns), |nl| async move {
        let ifindex = nl.index(dev).await?;
        Ok(nl
            .filters(ifindex, hook)
            .await?
            .into_iter()
            .map(|f| (f.priority, f.bpf_name.unwrap_or(f.kind)))
            .collect())
    })
    .unwrap()
}

fn has_clsact(ns: &str, dev: &str) -> bool {
    prism_kernel::rtnl::run_in(Some(ns), |nl| async move {
        let ifindex = nl.index(dev).await?;
        nl.has_clsact(ifindex).await
    })
    .unwrap()
}

/// Where tcx is missing (before 6.6) the datapath attaches clsact filters
/// (and with the oldest kernels' `bpf_skb_adjust_room` it still works):
/// the fast path works both ways, Prism's filter runs first, others' filters
/// and a clsact qdisc that was there stay, the qdiscs Prism added go, and a
/// crash mid-enable leaves nothing that `disable` does not remove.
#[test]
fn clsact_fallback_fast_paths_coexists_and_leaves_nothing() {
    use aya::programs::tc::{NlOptions, TcAttachOptions, qdisc_add_clsact};
    use prism_datapath::capabilities::hits;
    use prism_datapath_common::CapHook;
    use prism_kernel::tc::Hook;

    let _turn = turn();
    let lab = Lab::up("dpcls");
    let topo = lab.topology();
    let (h1, h2) = (topo.sides[0].host_ns.clone(), topo.sides[1].host_ns.clone());
    let veth1 = topo.sides[0].host_veth.clone();
    // Someone else's filter under their own clsact on host 2's underlay.
    prism_kernel::netns::run_in(Some(&h2), || qdisc_add_clsact("eth0").unwrap()).unwrap();
    let theirs = their_counter(&h2, TcAttachOptions::Netlink(NlOptions::default()));
    // And the helpers of the oldest kernel, as on 5.10.
    let clsact = |c: &mut std::process::Command| {
        c.env("PRISM_TC_ATTACH", "clsact")
            .env("PRISM_DATAPATH_HELPERS", "basic");
    };
    let enable = enable_args(&lab);
    let run_clsact = |a: &[&str]| {
        let mut c = prism();
        clsact(&mut c);
        let out = c.args(a).output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };

    let _disable = Disable;
    let out = run_clsact(&args(&enable));
    assert!(
        out.contains("eth0 ingress: prism_cap_tc (id ") && out.contains("clsact priority"),
        "{out}"
    );
    let s = status();
    assert_eq!(s["attach"], "clsact");
    let on_h2 = filters(&h2, "eth0", Hook::Ingress);
    assert_eq!(on_h2.len(), 2, "{on_h2:?}");
    assert_eq!(on_h2[0], (1, "prism_rx".to_string()), "Prism goes first");
    assert_eq!(on_h2[1].1, "prism_cap_tc");
    assert_eq!(
        filters(&h1, &veth1, Hook::Ingress),
        [(1, "prism_tx".to_string())]
    );
    // High priority is fast-pathed both ways, checksums intact; bulk
    // still reaches theirs.
    let before = hits(&theirs, CapHook::Tc).unwrap();
    let c2 = topo.sides[1].container_ns.clone();
    let csum = snmp(&c2);
    for proto in [Proto::Udp, Proto::Tcp] {
        assert_eq!(probe(&topo, proto).lost, 0, "{proto:?}");
    }
    let after = snmp(&c2);
    assert_eq!(
        (after.0 - csum.0, after.1 - csum.1),
        (0, 0),
        "checksum errors"
    );
    let on = probe(&topo, Proto::Udp);
    let s = status();
    for direction in ["rx", "tx"] {
        let fast = counter(&s, direction, "fast", "high");
        assert!(
            fast >= 2 * on.sent,
            "{direction} fast {fast} for {}",
            on.sent
        );
    }
    assert!(short_bulk(&topo) > 1_000_000);
    assert!(hits(&theirs, CapHook::Tc).unwrap() > before + 100);

    // A filter deleted behind Prism's back shows as not attached.
    let dev = veth1.clone();
    prism_kernel::rtnl::run_in(Some(&h1), |nl| async move {
        let ifindex = nl.index(&dev).await?;
        nl.delete_clsact(ifindex).await
    })
    .unwrap();
    let transmit: Vec<bool> = status()["hosts"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|h| h["attachments"].as_array().unwrap().clone())
        .filter(|a| a["program"] == "transmit")
        .map(|a| a["attached"].as_bool().unwrap())
        .collect();
    assert_eq!(transmit.iter().filter(|a| !**a).count(), 1, "{transmit:?}");

    let out = run_ok(&["disable"]);
    assert!(out.contains("attachment(s) removed"), "{out}");
    assert_eq!(
        filters(&h2, "eth0", Hook::Ingress),
        [(49152, "prism_cap_tc".to_string())],
        "theirs stays"
    );
    assert!(has_clsact(&h2, "eth0"), "their qdisc stays");
    assert!(!has_clsact(&h1, "eth0") && !has_clsact(&h1, &veth1));
    assert_eq!(probe(&topo, Proto::Udp).lost, 0);

    // Killed mid-way: disable removes whatever was attached.
    for delay_ms in [5, 15, 30, 60] {
        let mut c = prism();
        clsact(&mut c);
        kill_midway(c.args(args(&enable)), delay_ms);
        run_ok(&["disable"]);
        assert!(!std::path::Path::new("/sys/fs/bpf/prism/datapath").exists());
        assert!(
            !has_clsact(&h1, "eth0") && !has_clsact(&h1, &veth1),
            "after a kill at {delay_ms} ms"
        );
        assert_eq!(filters(&h2, "eth0", Hook::Ingress).len(), 1);
    }
}

/// Someone else's program on `ns`'s underlay ingress, attached with
/// `options`: it counts what it sees and hands every packet on. Detached
/// when the returned object drops.
fn their_counter(ns: &str, options: aya::programs::tc::TcAttachOptions) -> aya::Ebpf {
    use aya::programs::{SchedClassifier, TcAttachType};
    let mut theirs = prism_datapath::capabilities::load_object().unwrap();
    let tc: &mut SchedClassifier = theirs
        .program_mut("prism_cap_tc")
        .unwrap()
        .try_into()
        .unwrap();
    tc.load().unwrap();
    prism_kernel::netns::run_in(Some(ns), || {
        tc.attach_with_options("eth0", TcAttachType::Ingress, options)
            .unwrap();
    })
    .unwrap();
    theirs
}

/// Bytes a half-second TCP bulk run moves.
fn short_bulk(topo: &Topology) -> u64 {
    let bulk = scenario::run(
        topo,
        Background::Tcp,
        &RunOptions {
            duration: Duration::from_millis(500),
            warmup: Duration::from_millis(200),
            ..Default::default()
        },
    )
    .unwrap();
    bulk.background.unwrap().bytes
}

/// A device attribute of `eth0` in namespace `ns`.
fn eth0_attribute(ns: &str, key: &str) -> String {
    prism_kernel::sysfs::with_netns_sysfs(ns, |sys| {
        Ok(std::fs::read_to_string(
            sys.join("class/net/eth0").join(key),
        )?)
    })
    .unwrap()
    .trim()
    .to_string()
}

/// Each host's underlay as prio mode changes it: threaded, RPS and XPS.
fn underlays(hosts: &[String]) -> Vec<(String, Vec<String>, Vec<String>)> {
    hosts
        .iter()
        .map(|h| {
            (
                eth0_attribute(h, "threaded"),
                rps_masks(h),
                masks(h, prism_kernel::sysfs::Steering::Xps),
            )
        })
        .collect()
}

/// eth0's NAPI instances in `ns`, by id, with their thread's scheduling.
fn napi_threads(ns: &str) -> Vec<(Option<i32>, (i32, i32))> {
    prism_kernel::netns::run_in(Some(ns), || {
        let ifindex = nix::net::if_::if_nametoindex("eth0").unwrap();
        prism_kernel::napi::napis(ifindex).unwrap()
    })
    .unwrap()
    .into_iter()
    .map(|n| {
        let sched = n
            .pid
            .map_or((0, 0), |p| prism_kernel::sched::get(p).unwrap());
        (n.pid, sched)
    })
    .collect()
}

/// Times thread `pid` was scheduled in (schedstat's third field).
fn runs(pid: i32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/schedstat"))
        .unwrap()
        .split_whitespace()
        .nth(2)
        .unwrap()
        .parse()
        .unwrap()
}

#[test]
fn prio_mode_serves_the_high_ring_first_on_a_shared_cpu_and_disable_restores() {
    let _turn = turn();
    let lab = Lab::up("dpprio");
    let topo = lab.topology();
    let hosts: Vec<String> = topo.sides.iter().map(|s| s.host_ns.clone()).collect();
    let xps = |h: &String| masks(h, prism_kernel::sysfs::Steering::Xps);
    let before = underlays(&hosts);
    let _disable = Disable;
    let mut enable = enable_args(&lab);
    enable.extend(["--mode", "sync,nic,prio"].map(String::from));
    let refused = run(&args(&enable));
    let why = String::from_utf8_lossy(&refused.stderr);
    assert!(
        !refused.status.success() && why.contains("choose one"),
        "{why}"
    );
    enable.truncate(enable.len() - 2);
    enable.extend(["--mode", "sync,prio"].map(String::from));
    run_ok(&args(&enable));
    let mut high = Vec::new();
    for h in &hosts {
        assert_eq!(eth0_attribute(h, "threaded"), "1", "{h}: NAPI in threads");
        assert_eq!(rps_masks(h), ["0", "0", "0"], "{h}: no CPU is set aside");
        assert_eq!(xps(h), ["0", "0", "0"], "{h}: the steering picks the queue");
        let threads = napi_threads(h);
        assert_eq!(threads.len(), 3, "{h}: {threads:?}");
        // Ring 2 carries the high class: its thread alone is real-time.
        for (i, (pid, (policy, priority))) in threads.iter().enumerate() {
            assert!(pid.is_some(), "{h}: NAPI {i} has a thread");
            if i == 2 {
                assert_eq!(
                    (*policy, *priority),
                    (prism_kernel::sched::FIFO, 50),
                    "{h}: {threads:?}"
                );
            } else {
                assert_ne!(*policy, prism_kernel::sched::FIFO, "{h}: {threads:?}");
            }
        }
        high.push(threads[2].0.unwrap());
    }
    let runs_before: Vec<u64> = high.iter().map(|&p| runs(p)).collect();
    let r = prober_under_bulk(&topo);
    let s = status();
    assert_eq!(s["modes"], serde_json::json!(["sync", "prio"]));
    assert!(counter(&s, "egress", "steered", "high") >= 2 * r.sent);
    assert!(counter(&s, "rx", "fast", "high") >= 2 * (r.sent - r.lost));
    for (pid, was) in high.iter().zip(&runs_before) {
        // The real-time thread woke for the prober's packets.
        assert!(
            runs(*pid) > was + r.sent / 4,
            "thread {pid}: {was} -> {}",
            runs(*pid)
        );
    }
    run_ok(&["disable"]);
    let after = underlays(&hosts);
    assert_eq!(after, before, "disable puts threaded, RPS and XPS back");
}

#[test]
fn a_prio_enable_that_fails_on_one_host_leaves_every_underlay_as_it_was() {
    let _turn = turn();
    let lab = Lab::up("dpprf");
    let topo = lab.topology();
    let hosts: Vec<String> = topo.sides.iter().map(|s| s.host_ns.clone()).collect();
    // The second host's wire without GRO: veth then runs no NAPI, so prio
    // mode finds no thread to prioritize there, after the first host is set.
    let gro = |on: bool| {
        prism_kernel::netns::run_in(Some(&hosts[1]), move || {
            prism_kernel::ethtool::set_features("eth0", &[("rx-gro", on)])
        })
        .unwrap()
        .unwrap()
    };
    gro(false);
    let before = underlays(&hosts);
    let _disable = Disable;
    let mut enable = enable_args(&lab);
    enable.extend(["--mode", "sync,prio"].map(String::from));
    let out = run(&args(&enable));
    gro(true);
    let why = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{why}");
    assert!(why.contains("NAPI"), "says why: {why}");
    let after = underlays(&hosts);
    assert_eq!(after, before, "threaded, RPS and XPS as they were");
    for h in &hosts {
        let fifo = napi_threads(h)
            .iter()
            .any(|(_, (policy, _))| *policy == prism_kernel::sched::FIFO);
        assert!(!fifo, "{h}: no real-time NAPI thread stays");
    }
    assert!(status()["enabled"] == false, "nothing enabled");
}
