//! `prism report` and `prism compare`: traces read back, anywhere, without
//! privileges.

use std::{
    io::{self, BufWriter, Write},
    path::Path,
    process::ExitCode,
};

use anyhow::{Context, Result};
use prism_probes::snapshot;
use prism_trace::{Summary, TraceReader, compare, export, plot, summary::StageSummary};

use super::print_json;
use crate::{
    cli::{ReportArgs, ReportFormat},
    table::{Table, latency_cells, us},
};

pub fn report(args: ReportArgs) -> Result<ExitCode> {
    let reader = TraceReader::open(&args.file)?;
    let file = args.file.display().to_string();
    match args.format {
        ReportFormat::Jsonl | ReportFormat::Csv => {
            let mut out = BufWriter::new(io::stdout().lock());
            let result = if args.format == ReportFormat::Jsonl {
                export::jsonl(reader, &mut out)
            } else {
                export::csv(reader, &mut out)
            };
            return finish_stream(result.and_then(|_| Ok(out.flush()?)));
        }
        ReportFormat::Table => {}
    }
    let summary = Summary::read(reader).with_context(|| format!("read {file}"))?;
    warn_if_cut(&file, &summary);
    if let Some(path) = &args.plot {
        write_plot(path, &summary)?;
    }
    if args.json {
        print_json(&summary)?;
    } else {
        print_summary(&summary);
    }
    Ok(ExitCode::SUCCESS)
}

/// A closed pipe (`prism report --format jsonl | head`) is not an error.
fn finish_stream(result: Result<()>) -> Result<ExitCode> {
    match result {
        Err(e)
            if e.downcast_ref::<io::Error>()
                .is_some_and(|e| e.kind() == io::ErrorKind::BrokenPipe) =>
        {
            Ok(ExitCode::SUCCESS)
        }
        other => other.map(|_| ExitCode::SUCCESS),
    }
}

fn warn_if_cut(file: &str, s: &Summary) {
    if let Some(t) = s.truncated {
        eprintln!("prism report: warning: {file} is {t}");
    } else if s.footer.is_none() {
        eprintln!(
            "prism report: warning: {file} has no footer: the recording was cut short; what it holds was read"
        );
    }
}

fn write_plot(path: &Path, s: &Summary) -> Result<()> {
    match plot::svg(s) {
        Some(svg) => {
            std::fs::write(path, svg).with_context(|| format!("write {}", path.display()))?;
            eprintln!("prism report: wrote {}", path.display());
        }
        None => eprintln!("prism report: no stage has packets: no plot written"),
    }
    Ok(())
}

fn print_summary(s: &Summary) {
    let h = &s.header;
    let started = std::time::UNIX_EPOCH + std::time::Duration::from_nanos(h.started_unix_ns);
    println!(
        "recorded {} on {} (kernel {}), {} probes, {} profile, {:.1} s, {} snapshots",
        humantime::format_rfc3339_seconds(started),
        h.host,
        h.kernel,
        h.mechanism,
        h.profile,
        s.seconds,
        s.snapshots
    );
    for f in &h.fallbacks {
        println!("fallback on that kernel: {f}");
    }
    println!(
        "rules: {}; events: {} ({} recorded, {} lost){}",
        if h.rules.is_empty() {
            "none".to_string()
        } else {
            h.rules.join(", ")
        },
        h.events,
        s.events,
        s.events_lost,
        if s.events_lost > 0 {
            " - the kernel's ring buffer overflowed; histograms still count every packet"
        } else {
            ""
        }
    );
    let containers = h.containers();
    if !containers.is_empty() {
        println!("containers: {}", containers.join(", "));
    }
    let datapath = &h.datapath;
    if datapath["enabled"] == true {
        println!(
            "datapath at the start: enabled, modes {}",
            datapath["modes"]
        );
    }
    print_stages(&s.stages, true);
    if s.end_to_end.iter().any(|e| e.latency.count > 0) {
        let mut t = Table::new(&[
            "END TO END (µs)",
            "CLASS",
            ">JOURNEYS",
            ">P50",
            ">P90",
            ">P99",
            ">P99.9",
            ">MAX",
            "FROM",
        ]);
        for e in &s.end_to_end {
            let mut cells = vec![e.direction.clone(), e.class.to_string()];
            cells.push(e.latency.count.to_string());
            cells.extend(latency_cells(&e.latency));
            cells.push(e.source.to_string());
            t.row(cells);
        }
        print!("\n{t}");
    }
    for container in &s.containers {
        println!("\n-- container {}", container.name);
        // The stages this host lacks are in the host's tables already.
        let present: Vec<StageSummary> = container
            .stages
            .iter()
            .filter(|r| r.present)
            .cloned()
            .collect();
        print_stages(&present, false);
        for total in container.receive.iter().filter(|t| t.latency.count > 0) {
            println!(
                "receive end to end, {}: {} journeys, p50 {} µs, p99 {} µs",
                total.class,
                total.latency.count,
                us(total.latency.p50),
                us(total.latency.p99)
            );
        }
    }
    let c = |name: &str| s.counters.get(name).copied().unwrap_or(0);
    println!(
        "\njourneys: {} started, {} read by the application, {} dropped, {} merged by GRO",
        c("journeys"),
        c("completed"),
        c("dropped"),
        c("gro_merged")
    );
    let one_in = snapshot::low_sampled_one_in(c("low_journeys"), c("low_timed"));
    if let Some(note) = snapshot::sampling_note(one_in) {
        println!("{note}");
    }
    for d in &s.drops {
        println!("drop: {} x{} at {}", d.reason, d.count, d.location);
    }
}

/// A table per direction of stage rows; `events` adds their event counts.
fn print_stages(rows: &[StageSummary], events: bool) {
    for direction in ["rx", "tx"] {
        let title = format!("{} (µs)", direction.to_uppercase());
        let mut head = vec![title.as_str(), "CLASS", ">PACKETS"];
        if events {
            head.push(">EVENTS");
        }
        head.extend([">P50", ">P90", ">P99", ">P99.9", ">MAX"]);
        let mut t = Table::new(&head);
        for row in rows.iter().filter(|r| r.direction == direction) {
            let mut cells = vec![row.stage.clone(), row.class.to_string()];
            if row.present {
                cells.push(row.latency.count.to_string());
                if events {
                    cells.push(row.events.to_string());
                }
                cells.extend(latency_cells(&row.latency));
            } else {
                cells.push("absent".into());
            }
            t.row(cells);
        }
        print!("\n{t}");
    }
}

pub fn compare(a: &Path, b: &Path, json: bool) -> Result<ExitCode> {
    let read = |p: &Path| -> Result<Summary> {
        let s = Summary::read(TraceReader::open(p)?)
            .with_context(|| format!("read {}", p.display()))?;
        warn_if_cut(&p.display().to_string(), &s);
        Ok(s)
    };
    let (sa, sb) = (read(a)?, read(b)?);
    let c = compare::compare(&sa, &sb);
    for w in &c.warnings {
        eprintln!("prism compare: warning: {w}");
    }
    if json {
        print_json(&c)?;
        return Ok(ExitCode::SUCCESS);
    }
    println!("A = {}, B = {}; deltas are B - A", a.display(), b.display());
    let mut t = Table::new(&[
        "DIR",
        "STAGE",
        "CLASS",
        ">A P50",
        ">B P50",
        ">Δ P50",
        ">A P99",
        ">B P99",
        ">Δ P99",
        ">A P99.9",
        ">B P99.9",
        ">Δ P99.9",
    ]);
    for r in &c.rows {
        if r.a.count == 0 && r.b.count == 0 {
            continue;
        }
        let cell = |v: f64, n: u64| if n == 0 { "-".to_string() } else { us(v) };
        let delta = |d: f64, rel: Option<f64>| match rel {
            Some(rel) => format!("{d:+.1} ({:+.0}%)", rel * 100.0),
            None => "-".into(),
        };
        t.row(vec![
            r.direction.clone(),
            r.stage.clone(),
            r.class.to_string(),
            cell(r.a.p50, r.a.count),
            cell(r.b.p50, r.b.count),
            delta(r.delta.p50, r.relative.p50),
            cell(r.a.p99, r.a.count),
            cell(r.b.p99, r.b.count),
            delta(r.delta.p99, r.relative.p99),
            cell(r.a.p999, r.a.count),
            cell(r.b.p999, r.b.count),
            delta(r.delta.p999, r.relative.p999),
        ]);
    }
    print!("{t}");
    Ok(ExitCode::SUCCESS)
}
