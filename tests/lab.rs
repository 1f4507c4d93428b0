//! The lab end to end: build, inspect, carry traffic, count it with eBPF,
//! run scenarios, and leave nothing behind, also after failures.

mod support;

use std::{
    net::{Ipv4Addr, SocketAddr, UdpSocket},
    process::Stdio,
    time::Duration,
};

use prism_lab::{Topology, state, workload::spawn_in};
use prism_probes::{capabilities::Mechanism, packet_counter::PacketCounter};
use serde_json::Value;
use support::{Lab, namespaces_named, prism, require_root, run, run_ok, unique_name};

fn link<'a>(status: &'a Value, ns: &str, dev: &str) -> &'a Value {
    status["namespaces"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["name"] == ns)
        .and_then(|n| {
            n["links"]
                .as_array()
                .unwrap()
                .iter()
                .find(|l| l["name"] == dev)
        })
        .unwrap_or_else(|| panic!("no {dev} in {ns}"))
}

#[test]
fn up_status_down_leaves_nothing_behind() {
    let lab = Lab::up("life");
    let status = lab.status();
    assert_eq!(status["complete"], true);
    let c1 = format!("{}-c1", lab.name);
    let h1 = format!("{}-h1", lab.name);
    assert_eq!(link(&status, &c1, "eth0")["mac"], "02:42:0a:2a:00:01");
    assert_eq!(link(&status, &c1, "eth0")["addresses"][0], "10.42.0.1/24");
    assert_eq!(link(&status, &h1, "vxlan0")["kind"], "vxlan");
    assert_eq!(link(&status, &h1, "vxlan0")["mtu"], 1450);
    assert_eq!(link(&status, &h1, "br0")["kind"], "bridge");
    assert_eq!(
        link(&status, &h1, "eth0")["addresses"][0],
        "192.168.100.1/24"
    );

    // Idempotent: a second `up` changes nothing and says so.
    let again = run_ok(&["lab", "up", "--name", &lab.name]);
    assert!(again.contains("already up"), "{again}");
    let out = run(&["lab", "up", "--name", &lab.name, "--vni", "7"]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "a different VNI must be refused"
    );

    let down = run_ok(&["lab", "down", "--name", &lab.name]);
    assert!(down.contains("is down"), "{down}");
    assert!(namespaces_named(&lab.name).is_empty());
    assert!(state::load(&lab.name).unwrap().is_none());
}

#[test]
fn a_half_failed_up_is_rolled_back() {
    require_root();
    let name = unique_name("half");
    for step in ["host-1", "host-2"] {
        let out = prism()
            .args(["lab", "up", "--name", &name])
            .env("PRISM_LAB_FAILPOINT", step)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(1), "{step}");
        assert!(String::from_utf8_lossy(&out.stderr).contains("on purpose"));
        assert!(
            namespaces_named(&name).is_empty(),
            "{step}: namespaces left behind"
        );
        assert!(
            state::load(&name).unwrap().is_none(),
            "{step}: state left behind"
        );
    }
}

#[test]
fn down_cleans_up_after_a_killed_up() {
    require_root();
    let name = unique_name("kill");
    let mut up = prism()
        .args(["lab", "up", "--name", &name])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(15));
    let _ = up.kill();
    let _ = up.wait();
    run_ok(&["lab", "down", "--name", &name]);
    assert!(namespaces_named(&name).is_empty());
    // And `up` works on the same name afterwards.
    let lab = Lab { name };
    run_ok(&["lab", "up", "--name", &lab.name]);
}

/// Sends `n` UDP datagrams from container 1 to container 2 and waits
/// until all have arrived.
fn send_datagrams(topo: &Topology, n: usize) {
    let [one, two] = &topo.sides;
    let port = 7300;
    // The source starts once the sink is bound: a datagram that arrives
    // before would be refused, and the count would be off by it.
    let (bound, is_bound) = std::sync::mpsc::channel();
    let sink = spawn_in(&two.container_ns, None, "sink", move || {
        let sock = UdpSocket::bind((Ipv4Addr::UNSPECIFIED, port))?;
        sock.set_read_timeout(Some(Duration::from_secs(2)))?;
        let _ = bound.send(());
        let mut buf = [0u8; 128];
        for _ in 0..n {
            sock.recv(&mut buf)?;
        }
        Ok(())
    })
    .unwrap();
    is_bound
        .recv_timeout(Duration::from_secs(10))
        .expect("the sink bound its socket");
    let to = SocketAddr::from((two.overlay_ip, port));
    spawn_in(&one.container_ns, None, "source", move || {
        let sock = UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 0))?;
        for _ in 0..n {
            sock.send_to(&[7u8; 64], to)?;
            // Paced, so no queue anywhere can overflow.
            std::thread::sleep(Duration::from_micros(200));
        }
        Ok(())
    })
    .unwrap()
    .join()
    .unwrap();
    sink.join().expect("every datagram arrived");
}

#[test]
fn tracepoint_programs_count_exactly_the_packets_sent() {
    let lab = Lab::up("count");
    let topo = Topology::new(state::load(&lab.name).unwrap().unwrap());
    let status = lab.status();
    let inode = |ns: &str| -> u32 {
        status["namespaces"]
            .as_array()
            .unwrap()
            .iter()
            .find(|n| n["name"] == ns)
            .unwrap()["inode"]
            .as_u64()
            .unwrap() as u32
    };
    let ifindex = |ns: &str, dev: &str| link(&status, ns, dev)["ifindex"].as_u64().unwrap() as u32;
    let (h2, c2) = (
        topo.sides[1].host_ns.clone(),
        topo.sides[1].container_ns.clone(),
    );
    for mechanism in [Mechanism::TpBtf, Mechanism::Tracepoint] {
        let counter = PacketCounter::attach(mechanism).unwrap();
        send_datagrams(&topo, 200);
        // The lab is quiet (static ARP/FDB, no IPv6): every packet is ours.
        for (ns, dev) in [(&c2, "eth0"), (&h2, "vxlan0"), (&h2, "eth0")] {
            let n = counter.count(inode(ns), ifindex(ns, dev)).unwrap();
            assert_eq!(n, 200, "{mechanism}: {ns}/{dev} received {n} of 200");
        }
    }
}

#[test]
fn scenarios_run_and_report_latency_and_throughput() {
    let lab = Lab::up("run");
    let out = run_ok(&[
        "lab",
        "run",
        "idle",
        "tcp",
        "udp",
        "--name",
        &lab.name,
        "--duration",
        "1s",
        "--warmup",
        "300ms",
        "--json",
    ]);
    let v: Value = serde_json::from_str(&out).unwrap();
    let runs = v["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 3);
    for r in runs {
        let sent = r["sent"].as_u64().unwrap();
        let samples = r["latency"]["count"].as_u64().unwrap();
        assert!(sent > 100, "{r}");
        assert_eq!(samples + r["lost"].as_u64().unwrap(), sent, "{r}");
        assert!(r["latency"]["p50"].as_f64().unwrap() > 0.0);
        assert!(r["latency"]["p99"].as_f64().unwrap() >= r["latency"]["p50"].as_f64().unwrap());
        match r["scenario"].as_str().unwrap() {
            "idle" => assert!(r["background"].is_null()),
            _ => assert!(
                r["background"]["bytes"].as_u64().unwrap() > 1_000_000,
                "{r}"
            ),
        }
    }
    assert_eq!(v["medians"].as_array().unwrap().len(), 3);
    // The TCP prober works too, and the table form prints.
    let table = run_ok(&[
        "lab",
        "run",
        "idle",
        "--name",
        &lab.name,
        "--duration",
        "500ms",
        "--proto",
        "tcp",
        "--placement",
        "one-cpu",
    ]);
    assert!(
        table.contains("SCENARIO") && table.contains("idle"),
        "{table}"
    );
}
