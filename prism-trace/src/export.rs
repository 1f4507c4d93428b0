//! A trace as lines for other tools: JSON lines (one object per record, and
//! one per event) for jq and pandas, or CSV of the events.

use std::io::{Read, Write};

use anyhow::Result;
use serde_json::{Value, json};

use crate::{
    reader::{Record, TraceReader},
    schema::{EventRecord, Header, SnapshotRecord, SparseHist},
    summary::class_name,
};

/// Names a stage id by the trace's own stage table.
struct Stages<'a>(&'a Header);

impl Stages<'_> {
    fn name(&self, id: u8) -> (&str, &str) {
        self.0
            .stages
            .iter()
            .find(|s| s.id == id)
            .map_or(("?", ""), |s| (s.name.as_str(), s.direction.as_str()))
    }
}

/// Writes every record as JSON lines: `{"type": "header" | "snapshot" |
/// "event" | "footer" | "truncated", ...}`.
pub fn jsonl<R: Read>(mut reader: TraceReader<R>, out: &mut impl Write) -> Result<()> {
    let header = reader.header().clone();
    let mut line = |v: Value| -> Result<()> {
        serde_json::to_writer(&mut *out, &v)?;
        out.write_all(b"\n")?;
        Ok(())
    };
    let mut h = serde_json::to_value(&header)?;
    h["type"] = json!("header");
    line(h)?;
    let stages = Stages(&header);
    while let Some(record) = reader.next_record()? {
        match record {
            Record::Snapshot(s) => line(snapshot_json(&header, &stages, &s))?,
            Record::Events(batch) => {
                for e in &batch {
                    line(event_json(&stages, e))?;
                }
            }
            Record::Footer(f) => {
                let mut v = serde_json::to_value(&f)?;
                v["type"] = json!("footer");
                line(v)?;
            }
        }
    }
    if let Some(t) = reader.truncated() {
        line(json!({"type": "truncated", "at_record": t.at_record, "offset": t.offset}))?;
    }
    Ok(())
}

fn hist_json(h: &SparseHist) -> Value {
    json!({"count": h.count, "sum_ns": h.sum_ns, "max_ns": h.max_ns, "buckets": h.buckets})
}

fn snapshot_json(header: &Header, stages: &Stages, s: &SnapshotRecord) -> Value {
    let stage_rows: Vec<Value> = s
        .stages
        .iter()
        .map(|h| {
            let (name, direction) = stages.name(h.stage);
            let mut v = hist_json(&h.hist);
            v["stage"] = json!(name);
            v["direction"] = json!(direction);
            v["class"] = json!(class_name(h.class));
            v
        })
        .collect();
    let counters: serde_json::Map<String, Value> = header
        .counters
        .iter()
        .zip(&s.counters)
        .map(|(k, v)| (k.clone(), json!(v)))
        .collect();
    json!({
        "type": "snapshot",
        "t_ns": s.t_ns,
        "stages": stage_rows,
        "counters": counters,
        "softirq": s.softirq.iter().map(hist_json).collect::<Vec<_>>(),
        "napi": s.napi,
        "drops": s.drops,
        "devices": s.devices,
    })
}

fn event_json(stages: &Stages, e: &EventRecord) -> Value {
    let (stage, direction) = stages.name(e.stage);
    json!({
        "type": "event",
        "t_ns": e.t_ns,
        "age_ns": e.age_ns,
        "delta_ns": e.delta_ns,
        "skb": format!("{:#x}", e.skb),
        "cpu": e.cpu,
        "direction": direction,
        "stage": stage,
        "class": class_name(e.class),
        "point": e.point,
        "first": e.flags & 1 != 0,
    })
}

/// The CSV columns, in order.
pub const CSV_COLUMNS: &str = "t_ns,age_ns,delta_ns,skb,cpu,direction,stage,class,point,first";

/// Writes the events as CSV, one row per event.
pub fn csv<R: Read>(mut reader: TraceReader<R>, out: &mut impl Write) -> Result<()> {
    let header = reader.header().clone();
    let stages = Stages(&header);
    writeln!(out, "{CSV_COLUMNS}")?;
    while let Some(record) = reader.next_record()? {
        if let Record::Events(batch) = record {
            for e in &batch {
                let (stage, direction) = stages.name(e.stage);
                writeln!(
                    out,
                    "{},{},{},{:#x},{},{direction},{stage},{},{},{}",
                    e.t_ns,
                    e.age_ns,
                    e.delta_ns,
                    e.skb,
                    e.cpu,
                    class_name(e.class),
                    e.point,
                    e.flags & 1
                )?;
            }
        }
    }
    Ok(())
}
