//! `prism tune` on this host and on a lab device in its namespace: `list`
//! shows what /proc/sys and sysfs hold; `set` + `restore` leave every knob
//! as it was, also when `restore` follows a `kill -9` of `set` halfway;
//! bad input is refused with the reason and changes nothing.

mod support;

use std::{
    collections::BTreeMap,
    process::{Command, Stdio},
    time::Duration,
};

use nix::sys::signal::{Signal, kill};
use serde_json::Value;
use support::{Lab, prism, run, run_ok, run_unprivileged, turn};

/// Every knob's value, host and `netns`, by (namespace, name).
fn snapshot(netns: &str) -> BTreeMap<(String, String), String> {
    let mut all = BTreeMap::new();
    for args in [
        vec!["tune", "list", "--json"],
        vec!["tune", "list", "--json", "--netns", netns],
    ] {
        let knobs: Vec<Value> = serde_json::from_str(&run_ok(&args)).unwrap();
        for k in knobs {
            let ns = k["netns"].as_str().unwrap_or("").to_string();
            all.insert(
                (ns, k["name"].as_str().unwrap().to_string()),
                k["value"].as_str().unwrap().to_string(),
            );
        }
    }
    all
}

/// An offload feature as `ethtool -k` shows it in `netns`: "1" for on.
fn ethtool_in(netns: &str, feature: &str) -> String {
    let out = Command::new("ip")
        .args(["netns", "exec", netns, "ethtool", "-k", "eth0"])
        .output()
        .expect("ethtool (scripts/setup installs it)");
    let text = String::from_utf8(out.stdout).unwrap();
    let line = text
        .lines()
        .find(|l| l.trim_start().starts_with(&format!("{feature}:")))
        .unwrap_or_else(|| panic!("no {feature} in:\n{text}"));
    if line.contains(": on") { "1" } else { "0" }.into()
}

/// A device attribute as `ip netns exec` shows it: a reader Prism did not write.
fn sysfs_in(netns: &str, path: &str) -> String {
    let out = Command::new("ip")
        .args([
            "netns",
            "exec",
            netns,
            "cat",
            &format!("/sys/class/net/{path}"),
        ])
        .output()
        .unwrap();
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

const SYSCTLS: [&str; 8] = [
    "netdev_budget",
    "netdev_budget_usecs",
    "dev_weight",
    "netdev_max_backlog",
    "gro_normal_batch",
    "busy_poll",
    "busy_read",
    "rps_sock_flow_entries",
];

fn changes() -> Vec<String> {
    let mut v: Vec<String> = [
        "net.core.netdev_budget=600",
        "net.core.dev_weight=128",
        "net.core.netdev_max_backlog=2000",
        "net.core.busy_read=50",
        "net.core.rps_sock_flow_entries=1024",
    ]
    .map(String::from)
    .to_vec();
    v.extend(
        [
            "eth0/gro_flush_timeout=20000",
            "eth0/napi_defer_hard_irqs=2",
            "eth0/features/rx-gro-list=1",
            "eth0/features/rx-udp-gro-forwarding=1",
            "eth0/queues/rx-0/rps_cpus=3",
            "eth0/queues/rx-0/rps_flow_cnt=256",
        ]
        .map(String::from),
    );
    v
}

fn set_args(netns: &str) -> Vec<String> {
    let mut args = vec![
        "tune".to_string(),
        "set".into(),
        "--netns".into(),
        netns.into(),
    ];
    args.extend(changes());
    args
}

#[test]
fn list_set_restore_and_a_kill_in_the_middle_leave_every_knob_as_it_was() {
    let _turn = turn();
    let lab = Lab::up("tune");
    let ns = lab.topology().sides[1].host_ns.clone();
    let before = snapshot(&ns);

    // list: the kernel's own values.
    for key in SYSCTLS {
        let proc = std::fs::read_to_string(format!("/proc/sys/net/core/{key}")).unwrap();
        assert_eq!(
            before[&(String::new(), format!("net.core.{key}"))],
            proc.trim(),
            "{key}"
        );
    }
    for attr in [
        "gro_flush_timeout",
        "napi_defer_hard_irqs",
        "queues/rx-0/rps_cpus",
    ] {
        assert_eq!(
            before[&(ns.clone(), format!("eth0/{attr}"))],
            sysfs_in(&ns, &format!("eth0/{attr}")),
            "{attr}"
        );
    }

    // Offload features under the names `ethtool -k` prints.
    for (knob, ethtool) in [
        ("rx-gro", "generic-receive-offload"),
        ("rx-gro-list", "rx-gro-list"),
        ("rx-udp-gro-forwarding", "rx-udp-gro-forwarding"),
        ("rx-lro", "large-receive-offload"),
    ] {
        assert_eq!(
            before[&(ns.clone(), format!("eth0/features/{knob}"))],
            ethtool_in(&ns, ethtool),
            "{knob}"
        );
    }
    assert!(
        !before.contains_key(&(ns.clone(), "eth0/coalesce/rx-usecs".into())),
        "veth has no interrupt coalescing to list"
    );

    // set, then restore.
    let args = set_args(&ns);
    let out = run_ok(&args.iter().map(String::as_str).collect::<Vec<_>>());
    assert!(
        out.contains("net.core.netdev_budget: ") && out.contains("-> 600"),
        "{out}"
    );
    assert_eq!(
        std::fs::read_to_string("/proc/sys/net/core/dev_weight")
            .unwrap()
            .trim(),
        "128"
    );
    assert_eq!(sysfs_in(&ns, "eth0/gro_flush_timeout"), "20000");
    assert_eq!(sysfs_in(&ns, "eth0/queues/rx-0/rps_cpus"), "3");
    assert_eq!(ethtool_in(&ns, "rx-gro-list"), "1");
    assert_eq!(ethtool_in(&ns, "rx-udp-gro-forwarding"), "1");
    let listed: Vec<Value> =
        serde_json::from_str(&run_ok(&["tune", "list", "--json", "--netns", &ns])).unwrap();
    let budget = listed
        .iter()
        .find(|k| k["name"] == "net.core.netdev_budget")
        .unwrap();
    assert_eq!(
        budget["saved"],
        before[&(String::new(), "net.core.netdev_budget".into())]
    );
    // A second set keeps the first saved value.
    run_ok(&["tune", "set", "net.core.netdev_budget=700"]);
    run_ok(&["tune", "restore"]);
    assert_eq!(snapshot(&ns), before, "set + restore changed something");
    assert!(run_ok(&["tune", "restore"]).contains("nothing to restore"));

    // kill -9 halfway through a set, then restore.
    let mut set = prism()
        .args(&args)
        .env("PRISM_TUNE_STEP_PAUSE_MS", "250")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(1100));
    kill(nix::unistd::Pid::from_raw(set.id() as i32), Signal::SIGKILL).unwrap();
    let _ = set.wait();
    let halfway = snapshot(&ns);
    assert_ne!(halfway, before, "the kill came before any change");
    assert!(
        halfway[&(String::new(), "net.core.rps_sock_flow_entries".into())]
            == before[&(String::new(), "net.core.rps_sock_flow_entries".into())]
            || halfway[&(ns.clone(), "eth0/queues/rx-0/rps_flow_cnt".into())]
                == before[&(ns.clone(), "eth0/queues/rx-0/rps_flow_cnt".into())],
        "the kill came after every change"
    );
    run_ok(&["tune", "restore"]);
    assert_eq!(snapshot(&ns), before, "restore after kill -9 left a change");
}

#[test]
fn bad_input_is_refused_with_the_reason_and_changes_nothing() {
    let _turn = turn();
    let before = std::fs::read_to_string("/proc/sys/net/core/netdev_budget").unwrap();
    for (args, says) in [
        (
            vec!["tune", "set", "net.core.somaxconn=10"],
            "unknown sysctl",
        ),
        (vec!["tune", "set", "net.core.netdev_budget=0"], "from 1 to"),
        (
            vec!["tune", "set", "net.core.netdev_budget=lots"],
            "not a whole number",
        ),
        (vec!["tune", "set", "eth0/threaded=2"], "not 0 or 1"),
        (
            vec!["tune", "set", "eth0/mtu=1000"],
            "unknown device attribute",
        ),
        (
            vec!["tune", "set", "nosuchdev0/gro_flush_timeout=1"],
            "no device nosuchdev0",
        ),
        (vec!["tune", "set", "net.core.netdev_budget"], "KNOB=VALUE"),
        (
            vec![
                "tune",
                "set",
                "net.core.dev_weight=10",
                "net.core.dev_weight=20",
            ],
            "given twice",
        ),
    ] {
        let out = run(&args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {err}");
        assert!(err.contains(says), "{args:?}: {err}");
    }
    assert_eq!(
        std::fs::read_to_string("/proc/sys/net/core/netdev_budget").unwrap(),
        before
    );
    assert!(!std::path::Path::new("/run/prism/tune.json").exists());
    let out = run_unprivileged(&["tune", "set", "net.core.netdev_budget=600"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("run it as root"));
    // Reading needs no privileges.
    let out = run_unprivileged(&["tune", "list"]);
    assert!(out.status.success() && String::from_utf8_lossy(&out.stdout).contains("netdev_budget"));
}

#[test]
fn bench_runs_a_tuned_configuration_beside_off_and_puts_the_knobs_back() {
    let _turn = turn();
    let lab = Lab::up("tbench");
    let hosts: Vec<String> = lab
        .topology()
        .sides
        .iter()
        .map(|s| s.host_ns.clone())
        .collect();
    let bench = |extra: &[&str]| {
        let mut args = vec![
            "lab",
            "bench",
            "--name",
            &lab.name,
            "--rounds",
            "1",
            "--duration",
            "1s",
            "--configs",
            "off",
            "--json",
        ];
        args.extend(extra);
        run_ok(&args)
    };
    // Refused before any run: no such device on the lab, a value out of range.
    for (tune, says) in [
        ("eth9/gro_flush_timeout=10", "no lab host has a device eth9"),
        ("net.core.netdev_budget=0", "refused"),
    ] {
        let out = run(&[
            "lab",
            "bench",
            "--name",
            &lab.name,
            "--configs",
            "off",
            "--tune",
            tune,
        ]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success() && err.contains(says), "{tune}: {err}");
        assert!(!err.contains("round 1"), "{tune}: a run started: {err}");
    }
    // A plain bench first: its CPU placement sets RPS masks of its own,
    // which stay as the lab's (they are no tuning).
    bench(&[]);
    let before = snapshot(&hosts[1]);
    let tune = "net.core.dev_weight=16 eth0/gro_flush_timeout=10000";
    let out = bench(&["--tune", tune]);
    let bench: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(bench["tunes"][0], tune);
    let runs = bench["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 2, "{bench:#}");
    assert_eq!(runs[0]["config"], "off");
    assert_eq!(runs[1]["config"]["tuned"], 0);
    // The sysctl once, the device attribute on both hosts' underlay.
    let set: Vec<(String, String, String)> = runs[1]["tuned"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["name"].as_str().unwrap().to_string(),
                c["netns"].as_str().unwrap_or("").to_string(),
                c["to"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let mut wanted = vec![(
        "net.core.dev_weight".to_string(),
        String::new(),
        "16".to_string(),
    )];
    for host in &hosts {
        wanted.push((
            "eth0/gro_flush_timeout".into(),
            host.clone(),
            "10000".into(),
        ));
    }
    assert_eq!(set, wanted);
    for run in runs {
        assert!(
            run["report"]["latency"]["p50"].as_f64().unwrap() > 0.0,
            "{run:#}"
        );
    }
    let tuned = &bench["summary"][1];
    assert!(tuned["p99_ratio"].as_f64().is_some(), "{tuned:#}");
    assert_eq!(snapshot(&hosts[1]), before, "a knob was not put back");
    assert!(!std::path::Path::new("/run/prism/tune.json").exists());
}

#[test]
fn coalescing_is_listed_where_the_driver_has_it_with_ethtools_values() {
    let listed: Vec<Value> = serde_json::from_str(&run_ok(&["tune", "list", "--json"])).unwrap();
    let value = |name: &str| {
        listed
            .iter()
            .find(|k| k["name"] == name)
            .map(|k| k["value"].as_str().unwrap().to_string())
    };
    let devices: Vec<String> = std::fs::read_dir("/sys/class/net")
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|d| d != "lo")
        .collect();
    for dev in devices {
        let out = Command::new("ethtool").args(["-c", &dev]).output().unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        let field = |f: &str| {
            text.lines()
                .find_map(|l| l.strip_prefix(&format!("{f}:")))
                .map(|v| v.trim().to_string())
        };
        match field("rx-usecs") {
            Some(usecs) if out.status.success() => {
                assert_eq!(
                    value(&format!("{dev}/coalesce/rx-usecs")),
                    Some(usecs),
                    "{dev}"
                );
                assert_eq!(
                    value(&format!("{dev}/coalesce/rx-frames")),
                    field("rx-frames"),
                    "{dev}"
                );
            }
            _ => assert_eq!(
                value(&format!("{dev}/coalesce/rx-usecs")),
                None,
                "{dev} has no coalescing: {text}"
            ),
        }
    }
}
