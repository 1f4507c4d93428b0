//! Older formats still read. `fixtures/format-1.prism` was written by
//! `prism record` at format 1 (commit 55e6b06): 14 s with the lab coming up
//! after the start, so a later snapshot carries a device list; the prober
//! ran 3 s with `--high udp port 7777 --events sample:100`. The expected
//! figures are what that build's `prism report --json` said of the file.

use std::path::Path;

use prism_trace::{Record, Summary, TraceReader};

fn fixture() -> TraceReader<std::io::BufReader<std::fs::File>> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/format-1.prism");
    TraceReader::open(&path).unwrap()
}

#[test]
fn a_format_1_recording_reads_record_by_record() {
    let mut r = fixture();
    assert_eq!(r.version(), 1);
    assert_eq!(r.header().format_version, 1);
    // Format 1 devices have no owner.
    assert!(r.header().devices.iter().all(|d| d.owner.is_none()));
    let (mut snapshots, mut events, mut listed) = (0, 0, None);
    while let Some(record) = r.next_record().unwrap() {
        match record {
            Record::Snapshot(s) => {
                snapshots += 1;
                assert!(s.receive.is_empty() && s.containers.is_empty());
                if let Some(d) = s.devices {
                    listed.get_or_insert(d);
                }
            }
            Record::Events(batch) => events += batch.len(),
            Record::Footer(f) => assert_eq!(f.end, "duration"),
        }
    }
    assert_eq!((snapshots, events), (15, 396));
    let devices = listed.expect("the lab's devices, listed when it came up");
    let underlay = devices.iter().find(|d| d.role == "underlay").unwrap();
    assert_eq!(underlay.namespace, "v1-h1");
    assert!(underlay.owner.is_none());
    assert_eq!(devices.len(), 10);
}

#[test]
fn a_format_1_summary_matches_what_its_own_build_reported() {
    let s = Summary::read(fixture()).unwrap();
    assert_eq!((s.snapshots, s.events), (15, 396));
    let count =
        |direction: &str, stage: &str| s.stage(direction, stage, "high").unwrap().latency.count;
    assert_eq!(count("rx", "vxlan"), 3576);
    assert_eq!(count("rx", "socket"), 3576);
    assert_eq!(count("tx", "wire"), 3575);
    assert!((s.stage("rx", "socket", "high").unwrap().latency.p99 - 15.3595).abs() < 1e-9);
    // The stages came with the lab, after the header was written: they
    // have packets, so they are present.
    assert!(s.stage("rx", "vxlan", "high").unwrap().present);
    // No receive histogram in format 1: end to end comes from the events.
    let rx = s
        .end_to_end
        .iter()
        .find(|e| e.direction == "rx" && e.class == "high")
        .unwrap();
    assert_eq!((rx.source, rx.latency.count), ("events", 36));
    assert!(s.containers.is_empty());
    assert_eq!(s.counters["completed"], 3576);
}
