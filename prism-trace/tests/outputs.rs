//! What report and compare make of recordings: JSON lines, CSV, the
//! comparison's deltas and warnings, and the SVG plot.

mod fixtures;

use fixtures::{events, header, snapshot};
use prism_probes_common::histogram::Histogram;
use prism_trace::{
    Footer, Header, SnapshotRecord, Summary, TraceReader, TraceWriter, compare, export, plot,
    schema::{SparseHist, StageHist},
};

/// A trace of `header` whose nic stage (high class) took `us` µs per
/// packet, 1000 packets over one second.
fn trace_with(header: &Header, us: u64) -> Vec<u8> {
    let mut w = TraceWriter::new(Vec::new(), header).unwrap();
    w.snapshot(&SnapshotRecord {
        t_ns: 0,
        ..Default::default()
    })
    .unwrap();
    let mut h = Histogram::default();
    for i in 0..1000 {
        h.record(us * 1000 + i % 10);
    }
    w.snapshot(&SnapshotRecord {
        t_ns: 1_000_000_000,
        stages: vec![StageHist {
            stage: 1,
            class: 1,
            hist: SparseHist::from(&h),
        }],
        ..Default::default()
    })
    .unwrap();
    w.finish(Footer::default()).unwrap()
}

fn summary(bytes: &[u8]) -> Summary {
    Summary::read(TraceReader::new(bytes).unwrap()).unwrap()
}

fn sample_trace() -> Vec<u8> {
    let mut w = TraceWriter::new(Vec::new(), &header()).unwrap();
    for i in 0..3 {
        w.snapshot(&snapshot(i)).unwrap();
        w.events(&events(i)).unwrap();
    }
    w.finish(Footer::default()).unwrap()
}

#[test]
fn jsonl_has_a_line_per_record_and_per_event_and_says_when_cut() {
    let bytes = sample_trace();
    let mut out = Vec::new();
    export::jsonl(TraceReader::new(&bytes[..]).unwrap(), &mut out).unwrap();
    let lines: Vec<serde_json::Value> = String::from_utf8(out)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let kinds = |t: &str| lines.iter().filter(|l| l["type"] == t).count();
    assert_eq!(lines[0]["type"], "header");
    assert_eq!(lines[0]["kernel"], "6.18.0");
    assert_eq!(
        (kinds("snapshot"), kinds("event"), kinds("footer")),
        (3, 150, 1)
    );
    let snap = lines.iter().find(|l| l["type"] == "snapshot").unwrap();
    assert_eq!(snap["stages"][0]["stage"], "nic");
    assert_eq!(snap["stages"][0]["class"], "high");
    let ev = lines.iter().find(|l| l["type"] == "event").unwrap();
    assert!(ev["skb"].as_str().unwrap().starts_with("0x"));

    let mut out = Vec::new();
    let cut = &bytes[..bytes.len() - 5];
    export::jsonl(TraceReader::new(cut).unwrap(), &mut out).unwrap();
    let last = String::from_utf8(out)
        .unwrap()
        .lines()
        .last()
        .unwrap()
        .to_string();
    assert!(last.contains("\"type\":\"truncated\""), "{last}");
}

#[test]
fn csv_has_a_row_per_event() {
    let bytes = sample_trace();
    let mut out = Vec::new();
    export::csv(TraceReader::new(&bytes[..]).unwrap(), &mut out).unwrap();
    let text = String::from_utf8(out).unwrap();
    let mut lines = text.lines();
    assert_eq!(lines.next().unwrap(), export::CSV_COLUMNS);
    let rows: Vec<&str> = lines.collect();
    assert_eq!(rows.len(), 150);
    assert_eq!(rows[1].split(',').count(), 10);
    assert!(rows[1].contains(",rx,nic,"), "{}", rows[1]);
}

#[test]
fn compare_shows_deltas_and_warns_about_different_systems() {
    let a = summary(&trace_with(&header(), 100));
    let b = summary(&trace_with(&header(), 50));
    let c = compare::compare(&a, &b);
    assert!(c.warnings.is_empty(), "{:?}", c.warnings);
    let nic = c
        .rows
        .iter()
        .find(|r| r.stage == "nic" && r.class == "high")
        .unwrap();
    assert!((nic.a.p50 - 100.0).abs() < 15.0, "{nic:?}");
    assert!((nic.delta.p50 + 50.0).abs() < 15.0, "{nic:?}");
    let rel = nic.relative.p50.unwrap();
    assert!((rel + 0.5).abs() < 0.15, "{rel}");

    let mut other = header();
    other.kernel = "6.1.0".into();
    other.devices.clear();
    let c = compare::compare(&a, &summary(&trace_with(&other, 50)));
    assert!(c.warnings.iter().any(|w| w.contains("different kernels")));
    assert!(
        c.warnings
            .iter()
            .any(|w| w.contains("different stage maps"))
    );
}

#[test]
fn plot_draws_a_panel_per_stage_with_data() {
    let svg = plot::svg(&summary(&trace_with(&header(), 100))).unwrap();
    assert!(svg.starts_with("<svg"));
    assert_eq!(svg.matches("<polyline").count(), 1);
    assert!(svg.contains("rx nic"));
    let empty = summary(
        &TraceWriter::new(Vec::new(), &header())
            .unwrap()
            .finish(Footer::default())
            .unwrap(),
    );
    assert!(plot::svg(&empty).is_none());
}
