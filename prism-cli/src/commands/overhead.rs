//! `prism lab overhead`: what the profilers cost, measured on the lab.

use anyhow::{Result, bail};
use prism_lab::{
    Topology,
    latency::median,
    scenario::{self, Background, RunOptions},
};
use prism_probes::collector::{Collector, CollectorConfig, ProgramStats};
use prism_rules::RuleSet;
use serde::Serialize;

use super::{lab::lab_status, print_json};
use crate::{cli::OverheadArgs, table::Table};

#[derive(Serialize)]
struct Round {
    round: u32,
    /// Bulk throughput, Gbit/s, profilers off and on.
    off: f64,
    on: f64,
    ratio: f64,
}

#[derive(Serialize)]
struct Output {
    rounds: Vec<Round>,
    median_ratio: f64,
    /// Every program's runs and time, summed over the "on" runs.
    programs: Vec<ProgramStats>,
    /// Total run time over total runs, ns.
    ns_per_hit: f64,
}

pub fn run(args: OverheadArgs) -> Result<()> {
    let status = lab_status(&args.lab.name)?;
    if !status.complete {
        bail!(
            "lab {} is incomplete; run `prism lab up --name {0}` to rebuild it",
            status.name
        );
    }
    let topo = Topology::new(status.config);
    let opts = RunOptions {
        duration: args.duration,
        ..Default::default()
    };
    let namespaces = topo.namespaces();
    let mut rounds = Vec::new();
    let mut programs: Vec<ProgramStats> = Vec::new();
    let attach = || {
        Collector::attach(CollectorConfig {
            rules: RuleSet::parse(&["udp port 7777"])?,
            namespaces: namespaces.clone(),
            ..Default::default()
        })
    };
    for round in 1..=args.rounds {
        let off = throughput(&topo, &opts)?;
        let collector = attach()?;
        let on = throughput(&topo, &opts)?;
        drop(collector);
        let ratio = on / off;
        eprintln!(
            "[{round}/{}] off {off:.2} Gbit/s, on {on:.2} Gbit/s, ratio {ratio:.3}",
            args.rounds
        );
        rounds.push(Round {
            round,
            off,
            on,
            ratio,
        });
    }
    // Run-time statistics cost something themselves (two clock reads per
    // program run), so they are on only for a run of their own.
    let stats = prism_kernel::bpf::enable_run_time_stats()?;
    let collector = attach()?;
    throughput(&topo, &opts)?;
    accumulate(&mut programs, collector.program_stats());
    drop(collector);
    drop(stats);
    let (runs, time): (u64, u64) = programs
        .iter()
        .fold((0, 0), |(r, t), p| (r + p.runs, t + p.run_time_ns));
    let out = Output {
        median_ratio: median(rounds.iter().map(|r| r.ratio).collect()),
        ns_per_hit: time as f64 / runs.max(1) as f64,
        rounds,
        programs,
    };
    if args.json {
        return print_json(&out);
    }
    println!(
        "\nbulk TCP throughput with the profilers on / off: median {:.3} over {} rounds",
        out.median_ratio,
        out.rounds.len()
    );
    let mut t = Table::new(&["PROGRAM", ">RUNS", ">NS/RUN"]);
    let mut progs: Vec<&ProgramStats> = out.programs.iter().filter(|p| p.runs > 0).collect();
    progs.sort_by_key(|p| std::cmp::Reverse(p.runs));
    for p in progs {
        t.row(vec![
            p.name.clone(),
            p.runs.to_string(),
            format!("{:.0}", p.run_time_ns as f64 / p.runs as f64),
        ]);
    }
    print!("{t}");
    println!("all programs: {:.0} ns per run on average", out.ns_per_hit);
    Ok(())
}

/// Background throughput of one tcp run, Gbit/s.
fn throughput(topo: &Topology, opts: &RunOptions) -> Result<f64> {
    let report = scenario::run(topo, Background::Tcp, opts)?;
    Ok(report.background.map_or(0.0, |b| b.gbit_per_s))
}

fn accumulate(total: &mut Vec<ProgramStats>, more: Vec<ProgramStats>) {
    for p in more {
        match total.iter_mut().find(|t| t.name == p.name) {
            Some(t) => {
                t.runs += p.runs;
                t.run_time_ns += p.run_time_ns;
            }
            None => total.push(p),
        }
    }
}
