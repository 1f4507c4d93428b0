//! `prism stat`: per-stage latency along the overlay path, per interval.

use std::process::ExitCode;

use anyhow::{Context, Result};
use prism_kernel::caps::{CapSet, require};
use prism_probes::profile::Profile;
use prism_probes::{
    collector::{Collector, CollectorConfig},
    report::{IntervalReport, StageRow},
    sampler::Sampler,
    stages::Direction,
};
use prism_rules::RuleSet;
use serde::Serialize;

use crate::{
    cli::{Breakdown, ProbeScope, StatArgs},
    signals,
    table::{Table, latency_cells, us},
    units,
};

pub fn run(args: StatArgs) -> Result<ExitCode> {
    let rules = parse_rules(args.rules.texts())?;
    require_tracing("prism stat")?;
    signals::catch_stop()?;
    let mut sampler = Sampler::attach(CollectorConfig {
        per_container: args.by == Some(Breakdown::Container),
        ..probe_config(&args.scope, rules)
    })?;
    describe(sampler.collector());
    check_containers(sampler.collector(), &args.containers)?;
    let mut earlier = sampler.start().clone();
    let mut n = 0;
    while args.count.is_none_or(|c| n < c) && signals::sleep(args.interval) {
        n += 1;
        let later = sampler.sample()?;
        let mut report = sampler.report(&earlier, &later);
        if !args.containers.is_empty() {
            report
                .containers
                .retain(|c| args.containers.contains(&c.name));
        }
        if args.json {
            print_json_line(n, sampler.collector(), &report)?;
        } else {
            print_tables(n, sampler.collector(), &report);
        }
        earlier = later;
    }
    // Dropping the sampler detaches every program.
    drop(sampler);
    Ok(ExitCode::SUCCESS)
}

/// Refuses to go on without the capabilities tracing programs need.
pub fn require_tracing(command: &str) -> Result<()> {
    require(
        CapSet::current().can_trace(),
        command,
        "CAP_BPF and CAP_PERFMON (it loads tracing programs)",
    )
}

/// The profilers as `--netns`, `--vxlan-port` and `--profile` ask, with
/// these rules.
pub fn probe_config(scope: &ProbeScope, rules: RuleSet) -> CollectorConfig {
    CollectorConfig {
        rules,
        namespaces: scope.namespaces.clone(),
        vxlan_ports: scope.vxlan_ports.clone(),
        profile: scope.profile.unwrap_or_default(),
        ..Default::default()
    }
}

/// Parses `--high` rules with the rule's text in the error.
pub fn parse_rules(texts: &[String]) -> Result<RuleSet> {
    let mut set = RuleSet::default();
    for text in texts {
        let rule = text.parse().with_context(|| format!("bad rule '{text}'"))?;
        set.add(rule)
            .with_context(|| format!("bad rule '{text}'"))?;
    }
    Ok(set)
}

/// `--container` names must be containers stat sees (now: they may leave).
fn check_containers(c: &Collector, asked: &[String]) -> Result<()> {
    let known = c.containers();
    let unknown: Vec<&String> = asked.iter().filter(|n| !known.contains(n)).collect();
    if !unknown.is_empty() {
        anyhow::bail!(
            "no container named {}; containers here: {}",
            unknown
                .iter()
                .map(|n| n.as_str())
                .collect::<Vec<_>>()
                .join(", "),
            if known.is_empty() {
                "none".to_string()
            } else {
                known.join(", ")
            }
        );
    }
    Ok(())
}

fn describe(c: &Collector) {
    let namespaces: std::collections::BTreeSet<&str> =
        c.devices().iter().map(|d| d.namespace.as_str()).collect();
    let rules = if c.rules().is_empty() {
        "none: every packet is low".to_string()
    } else {
        c.rules().to_string()
    };
    eprintln!(
        "prism stat: {}, {} profile ({} devices in {} namespaces), high-priority rules: {rules}; Ctrl-C to stop",
        c.mechanism(),
        c.profile(),
        c.devices().len(),
        namespaces.len()
    );
    let containers = c.containers();
    if !containers.is_empty() {
        eprintln!("prism stat: containers: {}", containers.join(", "));
    }
    for f in c.fallbacks() {
        eprintln!("prism stat: this kernel lacks a tracepoint: {f}");
    }
    if c.profile() != Profile::Full {
        eprintln!(
            "prism stat: {} profile: {}",
            c.profile(),
            c.profile().describe()
        );
    }
    if c.devices().is_empty() {
        eprintln!(
            "prism stat: no overlay devices found (VXLAN, bridge, veth); only sockets can be timed"
        );
    }
}

/// The per-stage tables of one direction after the other.
fn print_stages(rows: &[StageRow]) {
    for direction in [Direction::Rx, Direction::Tx] {
        let title = format!("{} (µs)", direction.name().to_uppercase());
        let mut t = Table::new(&[
            &title, "CLASS", ">PACKETS", ">P50", ">P90", ">P99", ">P99.9", ">MAX",
        ]);
        for row in rows.iter().filter(|row| row.direction == direction) {
            let mut cells = vec![row.stage.to_string(), row.class.name().to_string()];
            if row.present {
                cells.push(row.latency.count.to_string());
                cells.extend(latency_cells(&row.latency));
            } else {
                cells.push("absent".into());
            }
            t.row(cells);
        }
        print!("{t}");
    }
}

#[derive(Serialize)]
struct JsonLine<'a> {
    interval: u64,
    mechanism: String,
    rules: &'a RuleSet,
    #[serde(flatten)]
    report: &'a IntervalReport,
}

fn print_json_line(n: u64, c: &Collector, report: &IntervalReport) -> Result<()> {
    let line = JsonLine {
        interval: n,
        mechanism: c.mechanism().to_string(),
        rules: c.rules(),
        report,
    };
    println!("{}", serde_json::to_string(&line)?);
    Ok(())
}

fn print_tables(n: u64, c: &Collector, r: &IntervalReport) {
    println!("\n== interval {n} ({:.2} s, {})", r.seconds, c.mechanism());
    if let Some(note) = r.sampling_note() {
        println!("{note}");
    }
    print_stages(&r.stages);
    let mut t = Table::new(&[
        "END TO END (µs)",
        "CLASS",
        ">PACKETS",
        ">P50",
        ">P90",
        ">P99",
        ">P99.9",
        ">MAX",
        ">DELIVERED",
    ]);
    for (total, rate) in r.receive_total.iter().zip(&r.delivered) {
        let mut cells = vec!["receive".into(), total.class.name().to_string()];
        cells.push(total.latency.count.to_string());
        cells.extend(latency_cells(&total.latency));
        cells.push(units::rate(rate.bytes_per_second));
        t.row(cells);
    }
    print!("{t}");
    if let Some(other) = &r.other {
        println!(
            "unattributed transitions: {} (p50 {} µs)",
            other.count,
            us(other.p50)
        );
    }
    let softirq: Vec<String> = r
        .softirq
        .iter()
        .filter(|s| s.delay.count > 0)
        .map(|s| {
            format!(
                "cpu{} p50 {} p99 {} max {}",
                s.cpu,
                us(s.delay.p50),
                us(s.delay.p99),
                us(s.delay.max)
            )
        })
        .collect();
    if !softirq.is_empty() {
        println!("NET_RX softirq raise->run (µs): {}", softirq.join(" | "));
    }
    let mut napi: Vec<_> = r.napi.iter().collect();
    napi.sort_by_key(|x| std::cmp::Reverse(x.packets));
    let napi: Vec<String> = napi
        .iter()
        .take(6)
        .map(|x| {
            format!(
                "{} {:.1}/poll, {:.0}% full",
                x.device,
                x.batch,
                x.exhausted * 100.0
            )
        })
        .collect();
    if !napi.is_empty() {
        println!("NAPI batches: {}", napi.join(" | "));
    }
    for d in &r.drops {
        println!("drop: {} x{} at {}", d.reason, d.count, d.location);
    }
    for container in &r.containers {
        println!("\n-- container {}", container.name);
        // The stages this host lacks are in the host's tables already.
        let present: Vec<StageRow> = container
            .stages
            .iter()
            .filter(|r| r.present)
            .cloned()
            .collect();
        print_stages(&present);
        for total in container
            .receive_total
            .iter()
            .filter(|t| t.latency.count > 0)
        {
            println!(
                "receive end to end, {}: {} packets, p50 {} µs, p99 {} µs",
                total.class.name(),
                total.latency.count,
                us(total.latency.p50),
                us(total.latency.p99)
            );
        }
    }
    if c.containers_overflow() > 0 {
        println!(
            "{} more containers are in the host's figures only (the kernel times 63 one by one)",
            c.containers_overflow()
        );
    }
    let k = &r.counters;
    use prism_probes_common::counter as i;
    println!(
        "tracked: {} journeys, {} read by the application, {} merged by GRO, {} dropped, {} stale, {} ended untraced (merged later, coalesced, or an unknown path)",
        k.get(i::STARTED),
        k.get(i::COMPLETED),
        k.get(i::GRO_MERGED),
        k.get(i::DROPPED),
        k.get(i::RESTARTED),
        k.get(i::UNMAPPED)
    );
}
