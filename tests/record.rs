//! `prism record`, `report` and `compare` on the lab with real traffic:
//! recordings agree with `prism stat`, convert to JSON lines, survive
//! signals and kills, and show what the datapath changes.

mod support;

use std::{
    collections::BTreeMap,
    io::{BufRead, BufReader},
    path::{Path, PathBuf},
    process::{Child, Stdio},
    time::Duration,
};

use nix::sys::signal::{Signal, kill};
use prism_lab::{
    Topology,
    scenario::{self, Background, RunOptions},
    state,
    workload::prober::ProberConfig,
};
use serde_json::Value;
use support::{Lab, bpf_program_ids, prism, programs_outlive, run, run_ok, turn};

/// `--high udp port 7777` and the lab's namespaces.
fn scope(lab: &Lab) -> Vec<String> {
    let mut args: Vec<String> = ["--high", "udp", "port", "7777"].map(String::from).to_vec();
    for ns in lab.namespaces() {
        args.extend(["--netns".into(), ns]);
    }
    args
}

/// Starts `prism ARGS` and waits for its first line on stderr (the banner
/// both `record` and `stat` print once attached).
fn start(args: &[String]) -> (Child, String) {
    let mut child = prism()
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut banner = String::new();
    BufReader::new(child.stderr.as_mut().unwrap())
        .read_line(&mut banner)
        .unwrap();
    (child, banner)
}

fn stop(child: &mut Child, signal: Signal) {
    let pid = child.id();
    let programs = bpf_program_ids(pid);
    assert!(!programs.is_empty(), "it held no programs");
    kill(nix::unistd::Pid::from_raw(pid as i32), signal).unwrap();
    let status = child.wait().unwrap();
    if signal != Signal::SIGKILL {
        assert!(status.success(), "ended with {status} on {signal}");
    }
    assert!(!programs_outlive(&programs), "its programs outlived it");
}

fn record_args(path: &Path, lab: &Lab, extra: &[&str]) -> Vec<String> {
    let mut args = vec![
        "record".to_string(),
        "-o".into(),
        path.display().to_string(),
        "--interval".into(),
        "500ms".into(),
        // Every stage of both classes, whichever events are asked for.
        "--profile".into(),
        "full".into(),
    ];
    args.extend(extra.iter().map(|s| s.to_string()));
    args.extend(scope(lab));
    args
}

fn report(path: &Path) -> Value {
    serde_json::from_str(&run_ok(&["report", path.to_str().unwrap(), "--json"])).unwrap()
}

fn stage_count(report: &Value, direction: &str, stage: &str, class: &str) -> (u64, u64) {
    let row = report["stages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["direction"] == direction && r["stage"] == stage && r["class"] == class)
        .unwrap_or_else(|| panic!("no row {direction} {stage} {class}"));
    (
        row["latency"]["count"].as_u64().unwrap(),
        row["events"].as_u64().unwrap(),
    )
}

/// The end-to-end row of one direction and class.
fn end_to_end<'a>(report: &'a Value, direction: &str, class: &str) -> &'a Value {
    report["end_to_end"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["direction"] == direction && r["class"] == class)
        .unwrap_or_else(|| {
            panic!(
                "no {direction} {class} end to end: {}",
                report["end_to_end"]
            )
        })
}

fn prober_run(topo: &Topology, background: Background, ms: u64) -> scenario::ScenarioReport {
    let opts = RunOptions {
        duration: Duration::from_millis(ms),
        warmup: Duration::from_millis(300),
        prober: ProberConfig {
            rate: 500,
            ..Default::default()
        },
        ..Default::default()
    };
    scenario::run(topo, background, &opts).unwrap()
}

fn temp(name: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(name);
    (dir, path)
}

#[test]
fn a_recording_under_tcp_load_agrees_with_stat_and_converts_to_json_lines() {
    let _turn = turn();
    let lab = Lab::up("rec");
    let topo = Topology::new(state::load(&lab.name).unwrap().unwrap());
    let (_dir, path) = temp("load.prism");
    // Both watch the whole workload, so both must count the same packets.
    let (mut rec, banner) = start(&record_args(&path, &lab, &[]));
    assert!(banner.starts_with("prism record: "), "{banner}");
    // The profile `record --events all` runs.
    let mut stat_args: Vec<String> = ["stat", "--json", "--interval", "1s", "--profile", "full"]
        .map(String::from)
        .to_vec();
    stat_args.extend(scope(&lab));
    let (mut stat, banner) = start(&stat_args);
    assert!(banner.starts_with("prism stat: "), "{banner}");
    let run = prober_run(&topo, Background::Tcp, 2500);
    assert!(run.sent > 100, "{run:?}");
    std::thread::sleep(Duration::from_millis(1200));
    let stat_out = stat.stdout.take().unwrap();
    stop(&mut stat, Signal::SIGINT);
    stop(&mut rec, Signal::SIGINT);

    let mut from_stat: BTreeMap<(String, String, String), u64> = BTreeMap::new();
    for line in BufReader::new(stat_out).lines() {
        let line: Value = serde_json::from_str(&line.unwrap()).unwrap();
        for row in line["stages"].as_array().unwrap() {
            let key = (
                row["direction"].as_str().unwrap().to_string(),
                row["stage"].as_str().unwrap().to_string(),
                row["class"].as_str().unwrap().to_string(),
            );
            *from_stat.entry(key).or_default() += row["latency"]["count"].as_u64().unwrap();
        }
    }
    let summary = report(&path);
    assert_eq!(summary["footer"]["end"], "signal");
    let lost = summary["events_lost"].as_u64().unwrap();
    for stage in [
        "nic", "vxlan", "gro_cell", "bridge", "backlog", "stack", "socket",
    ] {
        let (packets, events) = stage_count(&summary, "rx", stage, "high");
        let stat_packets = from_stat[&("rx".into(), stage.into(), "high".into())];
        let off = (packets as f64 - stat_packets as f64).abs() / stat_packets.max(1) as f64;
        assert!(
            off <= 0.05 && packets > 0,
            "rx {stage} high: record {packets}, stat {stat_packets}"
        );
        // Every packet has an event, unless the ring buffer overflowed.
        assert!(
            events as f64 >= 0.95 * packets as f64 - lost as f64 && events <= packets + 5,
            "rx {stage} high: {events} events for {packets} packets ({lost} lost)"
        );
    }

    // End to end: the high journeys the application read are timed whole,
    // on receive by the kernel's histogram (only those it saw come off the
    // wire: under load a few are taken up mid-path after their slot was
    // reused), on transmit from the events.
    let (read, _) = stage_count(&summary, "rx", "socket", "high");
    let rx = end_to_end(&summary, "rx", "high");
    assert_eq!(rx["source"], "histograms", "{rx}");
    let timed = rx["latency"]["count"].as_u64().unwrap();
    assert!(
        timed > 0 && timed <= read && timed as f64 >= 0.98 * read as f64,
        "{timed} journeys timed end to end for {read} read"
    );
    let (sent, _) = stage_count(&summary, "tx", "wire", "high");
    let tx = end_to_end(&summary, "tx", "high");
    assert_eq!(tx["source"], "events", "{tx}");
    let timed = tx["latency"]["count"].as_u64().unwrap();
    assert!(
        timed > 0 && timed as f64 >= 0.95 * sent as f64 - lost as f64,
        "{timed} transmit journeys timed from events for {sent} sent ({lost} events lost)"
    );

    // JSON lines: the header, snapshots, one line per event, the footer.
    let out = prism()
        .args(["report", path.to_str().unwrap(), "--format", "jsonl"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let mut kinds: BTreeMap<String, u64> = BTreeMap::new();
    let mut events: BTreeMap<(String, String, String), u64> = BTreeMap::new();
    let mut header = Value::Null;
    for line in String::from_utf8(out.stdout).unwrap().lines() {
        let v: Value = serde_json::from_str(line).unwrap();
        let kind = v["type"].as_str().unwrap().to_string();
        if kind == "header" {
            header = v.clone();
        }
        if kind == "event" && v["first"] == false {
            let key = (
                v["direction"].as_str().unwrap().to_string(),
                v["stage"].as_str().unwrap().to_string(),
                v["class"].as_str().unwrap().to_string(),
            );
            *events.entry(key).or_default() += 1;
        }
        *kinds.entry(kind).or_default() += 1;
    }
    assert_eq!(header["mechanism"], "tp_btf");
    assert_eq!(header["rules"], serde_json::json!(["udp port 7777"]));
    assert!(
        header["devices"].as_array().unwrap().len() >= 10,
        "{header}"
    );
    assert!(kinds["snapshot"] >= 4, "{kinds:?}");
    assert_eq!(kinds["footer"], 1);
    assert_eq!(kinds["event"], summary["events"].as_u64().unwrap());
    for stage in ["nic", "socket"] {
        let (_, in_report) = stage_count(&summary, "rx", stage, "high");
        assert_eq!(
            events[&("rx".into(), stage.into(), "high".into())],
            in_report
        );
    }
}

#[test]
fn recordings_end_cleanly_on_sigterm_and_stay_readable_after_kill_9() {
    let _turn = turn();
    let lab = Lab::up("rkill");
    let topo = Topology::new(state::load(&lab.name).unwrap().unwrap());
    let (_dir, path) = temp("term.prism");
    let (mut rec, _) = start(&record_args(&path, &lab, &["--events", "sample:2"]));
    prober_run(&topo, Background::Idle, 1200);
    stop(&mut rec, Signal::SIGTERM);
    let s = report(&path);
    assert_eq!(s["footer"]["end"], "signal");
    assert_eq!(s["header"]["events"], "sample:2");
    assert!(s["truncated"].is_null());
    let (packets, events) = stage_count(&s, "rx", "nic", "high");
    assert!(packets > 500, "{packets}");
    // Whole journeys are sampled, 1 in 2.
    let share = events as f64 / packets as f64;
    assert!((0.35..0.65).contains(&share), "{events} of {packets}");

    let (_dir2, killed) = temp("killed.prism");
    let (mut rec, _) = start(&record_args(&killed, &lab, &[]));
    prober_run(&topo, Background::Idle, 1200);
    stop(&mut rec, Signal::SIGKILL);
    let out = run(&["report", killed.to_str().unwrap()]);
    assert!(out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("no footer") || stderr.contains("truncated at record"),
        "{stderr}"
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("nic"));
}

#[test]
fn compare_shows_the_fast_path_taking_the_high_class_past_the_overlay_stages() {
    let _turn = turn();
    let lab = Lab::up("rcmp");
    let topo = Topology::new(state::load(&lab.name).unwrap().unwrap());
    let (_dir, off) = temp("off.prism");
    let on = off.with_file_name("on.prism");
    for (path, datapath) in [(&off, false), (&on, true)] {
        if datapath {
            let mut args = vec!["enable".to_string()];
            args.extend(scope(&lab));
            run_ok(&args.iter().map(String::as_str).collect::<Vec<_>>());
        }
        let (mut rec, _) = start(&record_args(path, &lab, &["--events", "none"]));
        prober_run(&topo, Background::Idle, 1200);
        stop(&mut rec, Signal::SIGINT);
    }
    run_ok(&["disable"]);
    assert_eq!(report(&on)["header"]["datapath"]["enabled"], true);

    // Without events, the receive journeys are still timed whole, and each
    // container keeps its own figures, which add up to the host's.
    let s = report(&off);
    let (read, _) = stage_count(&s, "rx", "socket", "high");
    let rx = end_to_end(&s, "rx", "high");
    assert_eq!(rx["source"], "histograms", "{rx}");
    assert!(read > 500, "{read}");
    assert_eq!(rx["latency"]["count"].as_u64().unwrap(), read, "{rx}");
    let containers = s["containers"].as_array().unwrap();
    let mut names: Vec<&str> = containers
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    names.sort();
    let mut expected: Vec<String> = topo.sides.iter().map(|s| s.container_ns.clone()).collect();
    expected.sort();
    assert_eq!(names, expected, "{}", s["containers"]);
    let per_container: u64 = containers
        .iter()
        .map(|c| {
            let row = c["stages"]
                .as_array()
                .unwrap()
                .iter()
                .find(|r| r["direction"] == "rx" && r["stage"] == "socket" && r["class"] == "high")
                .unwrap();
            row["latency"]["count"].as_u64().unwrap()
        })
        .sum();
    assert_eq!(per_container, read, "{}", s["containers"]);
    let text = run_ok(&["report", off.to_str().unwrap()]);
    for name in &expected {
        assert!(text.contains(&format!("-- container {name}")), "{text}");
    }
    assert!(text.contains("histograms"), "{text}");
    let out = run_ok(&[
        "compare",
        off.to_str().unwrap(),
        on.to_str().unwrap(),
        "--json",
    ]);
    let c: Value = serde_json::from_str(&out).unwrap();
    let row = |stage: &str| -> Value {
        c["rows"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["direction"] == "rx" && r["stage"] == stage && r["class"] == "high")
            .cloned()
            .unwrap()
    };
    // The fast path decapsulates at the underlay and hands the packet to
    // the container: the VXLAN device's stages see no high packets.
    for stage in ["vxlan", "gro_cell", "bridge"] {
        let r = row(stage);
        assert!(r["a"]["count"].as_u64().unwrap() > 500, "{r}");
        assert_eq!(r["b"]["count"], 0, "{stage}: {r}");
    }
    assert!(row("nic")["b"]["count"].as_u64().unwrap() > 500);
    let text = run_ok(&["compare", off.to_str().unwrap(), on.to_str().unwrap()]);
    assert!(text.contains("Δ P99"), "{text}");
}

#[test]
fn bad_files_and_outputs_get_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, bytes: &[u8]| {
        let p = dir.path().join(name);
        std::fs::write(&p, bytes).unwrap();
        p
    };
    let mut newer = b"PRISMTRC".to_vec();
    newer.extend(99u16.to_le_bytes());
    for (path, says) in [
        (write("empty.prism", b""), "the file is empty"),
        (write("notes.txt", b"just some text\n"), "not a Prism trace"),
        (write("newer.prism", &newer), "format version 99"),
        (dir.path().join("missing.prism"), "No such file"),
    ] {
        let out = run(&["report", path.to_str().unwrap()]);
        assert_eq!(out.status.code(), Some(1), "{path:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(says), "{path:?}: {stderr}");
    }
    let out = run(&[
        "record",
        "-o",
        "/nonexistent-dir/x.prism",
        "--duration",
        "1s",
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no such directory"));
    let out = run(&["record", "-o", "x.prism", "--events", "some"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("sample:N"));
}
