//! Prism on a real Docker swarm overlay (Debian's docker.io: two dockerd
//! in two network namespaces, an attachable overlay network, a container
//! on each node), the overlay the paper used: the profilers see every
//! stage of Docker's split namespaces in both directions and end to end,
//! and the datapath fast-paths a prober both ways from the sandboxes'
//! VXLAN devices. Everything is removed, also when the test fails.

mod support;

use std::time::Duration;

use prism_lab::workload::prober::ProbeResult;
use support::{Disable, run_ok, stat, swarm::Swarm, turn};

const RULE: &str = "udp port 7777";

/// A UDP prober from the first container to the second for `duration`.
fn probe(swarm: &Swarm, duration: Duration) -> ProbeResult {
    let (c1, c2) = (&swarm.containers[0], &swarm.containers[1]);
    support::probe_udp(&c1.alias, &c2.alias, c2.ip, duration, 300)
}

fn within(seen: u64, expected: u64, what: &str) {
    let off = (seen as f64 - expected as f64).abs() / expected.max(1) as f64;
    assert!(off <= 0.05, "{what}: {seen} packets, expected {expected}");
}

#[test]
fn profilers_and_datapath_on_a_real_docker_swarm() {
    let _turn = turn();
    let swarm = Swarm::up("sw");
    let namespaces = swarm.namespaces();

    // Containers go by the names dockerd gave them, found through each
    // daemon's API socket (not by the aliases the test bound).
    let names: Vec<&str> = swarm.containers.iter().map(|c| c.name.as_str()).collect();
    let status: serde_json::Value = serde_json::from_str(&run_ok(&["status", "--json"])).unwrap();
    let listed: Vec<&str> = status["overlays"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|o| o["containers"].as_array().unwrap())
        .filter_map(|c| c.as_str())
        .collect();
    for name in &names {
        assert!(listed.contains(name), "status lists {listed:?}, not {name}");
    }

    // The profilers, with no --vxlan-port: every stage Docker's overlay
    // has, both directions, and whole receive journeys.
    let (child, stdout, said) = stat::start_with(&namespaces, RULE, &[]);
    let containers_line = said
        .lines()
        .find(|l| l.starts_with("prism stat: containers: "));
    for name in &names {
        assert!(
            containers_line.is_some_and(|l| l.contains(name)),
            "stat names no container {name}: {said}"
        );
    }
    let run1 = probe(&swarm, Duration::from_secs(2));
    std::thread::sleep(Duration::from_millis(700));
    let lines = stat::stop(child, stdout, nix::sys::signal::Signal::SIGINT);
    assert!(run1.sent > 300, "sent {}, lost {}", run1.sent, run1.lost);
    let sums = stat::totals(&lines);
    let expected = 2 * run1.sent;
    let stages = [
        ("rx", "nic"),
        ("rx", "vxlan"),
        ("rx", "gro_cell"),
        ("rx", "bridge"),
        ("rx", "backlog"),
        ("rx", "stack"),
        ("rx", "socket"),
        ("tx", "veth"),
        ("tx", "backlog"),
        ("tx", "bridge"),
        ("tx", "encap"),
        ("tx", "wire"),
    ];
    for (direction, stage) in stages {
        let key = (direction.to_string(), stage.to_string(), "high".to_string());
        within(
            sums.get(&key).copied().unwrap_or(0),
            expected,
            &format!("{direction} {stage}"),
        );
    }
    within(stat::receive_total_high(&lines), expected, "receive total");

    // The datapath on every host of the swarm.
    let _disable = Disable;
    let mut args = vec!["enable", "--high", RULE];
    for ns in &namespaces {
        args.extend(["--netns", ns.as_str()]);
    }
    let out = run_ok(&args);
    assert!(
        out.contains("datapath enabled") && out.contains("Docker sandbox"),
        "{out}"
    );
    let run2 = probe(&swarm, Duration::from_secs(2));
    assert_eq!(run2.lost, 0, "sent {}", run2.sent);
    let status: serde_json::Value = serde_json::from_str(&run_ok(&["status", "--json"])).unwrap();
    let count = |direction: &str| -> u64 {
        status["counters"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| {
                r["direction"] == direction && r["reason"] == "fast" && r["class"] == "high"
            })
            .map(|r| r["packets"].as_u64().unwrap())
            .sum()
    };
    within(count("rx"), 2 * run2.sent, "fast-pathed on receive");
    within(count("tx"), 2 * run2.sent, "fast-pathed on transmit");
    let attached = status["hosts"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|h| h["attachments"].as_array().unwrap().clone())
        .all(|a| a["attached"] == true);
    assert!(attached, "{status}");

    let out = run_ok(&["disable"]);
    assert!(out.contains("datapath disabled"), "{out}");
    assert!(!std::path::Path::new("/sys/fs/bpf/prism/datapath").exists());
    let run3 = probe(&swarm, Duration::from_millis(500));
    assert_eq!(run3.lost, 0, "the normal path works again");
}
