//! `prism lab overhead`: what the profilers cost, measured on the lab
//! against nothing attached and against empty programs on the same hooks.

use std::time::Duration;

use anyhow::{Result, bail};
use prism_lab::{
    Topology,
    latency::median,
    scenario::{self, Background, RunOptions},
};
use prism_probes::{
    baseline::EmptyPrograms,
    collector::{Collector, CollectorConfig, ProgramStats},
};
use prism_rules::RuleSet;
use serde::Serialize;

use super::{lab::lab_status, print_json};
use crate::{cli::OverheadArgs, table::Table};

/// What is attached during a run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
enum Setup {
    /// Nothing.
    Off,
    /// An empty program on every hook the profilers use.
    Empty,
    /// Prism's profilers.
    Prism,
}

const MEASURED: [Setup; 2] = [Setup::Empty, Setup::Prism];

/// Keeps a setup's programs attached while it lives.
enum Attached {
    Off,
    Empty(EmptyPrograms),
    Prism(Box<Collector>),
}

impl Attached {
    fn program_stats(&self) -> Vec<ProgramStats> {
        match self {
            Self::Off => Vec::new(),
            Self::Empty(e) => e.program_stats(),
            Self::Prism(c) => c.program_stats(),
        }
    }
}

#[derive(Serialize)]
struct Round {
    round: u32,
    /// Bulk throughput, Gbit/s, per setup.
    off: f64,
    empty: f64,
    prism: f64,
}

/// One hook's cost, with empty programs and with Prism's.
#[derive(Serialize)]
struct HookCost {
    tracepoint: String,
    empty_runs_per_s: f64,
    empty_ns_per_run: f64,
    prism_runs_per_s: f64,
    prism_ns_per_run: f64,
    /// Prism's own work per run: Prism minus empty.
    prism_minus_empty_ns: f64,
}

#[derive(Serialize)]
struct Output {
    rounds: Vec<Round>,
    /// Medians of the per-round ratios to `off`.
    empty_ratio: f64,
    prism_ratio: f64,
    hooks: Vec<HookCost>,
    /// Run-weighted means over every hook, ns per run.
    empty_ns_per_run: f64,
    prism_ns_per_run: f64,
    /// Prism's weighted mean minus the empty programs' at Prism's run mix.
    prism_minus_empty_ns: f64,
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
    let attach = |setup: Setup| -> Result<Attached> {
        Ok(match setup {
            Setup::Off => Attached::Off,
            Setup::Empty => Attached::Empty(EmptyPrograms::attach()?),
            Setup::Prism => Attached::Prism(Box::new(Collector::attach(CollectorConfig {
                rules: RuleSet::parse(&["udp port 7777"])?,
                namespaces: namespaces.clone(),
                ..Default::default()
            })?)),
        })
    };
    let mut rounds = Vec::new();
    for round in 1..=args.rounds {
        let mut gbit = [0.0; 3];
        // Alternate the order too: a slow phase of the VM hits all setups.
        let order = if round % 2 == 1 {
            [Setup::Off, Setup::Empty, Setup::Prism]
        } else {
            [Setup::Prism, Setup::Empty, Setup::Off]
        };
        for setup in order {
            let attached = attach(setup)?;
            gbit[setup as usize] = throughput(&topo, &opts)?;
            drop(attached);
        }
        let [off, empty, prism] = gbit;
        eprintln!(
            "[{round}/{}] off {off:.2} Gbit/s, empty programs {empty:.2} ({:.3}), Prism {prism:.2} ({:.3})",
            args.rounds,
            empty / off,
            prism / off
        );
        rounds.push(Round {
            round,
            off,
            empty,
            prism,
        });
    }
    // Run-time statistics cost something themselves (two clock reads per
    // program run), so they are on only for runs of their own.
    let stats = prism_kernel::bpf::enable_run_time_stats()?;
    let mut measured = Vec::new();
    for setup in MEASURED {
        let attached = attach(setup)?;
        throughput(&topo, &opts)?;
        measured.push(by_tracepoint(attached.program_stats()));
    }
    drop(stats);
    let out = output(rounds, &measured[0], &measured[1], opts.duration);
    if args.json {
        return print_json(&out);
    }
    print_text(&out);
    Ok(())
}

fn output(
    rounds: Vec<Round>,
    empty: &[ProgramStats],
    prism: &[ProgramStats],
    duration: Duration,
) -> Output {
    let secs = duration.as_secs_f64();
    let per_run = |p: &ProgramStats| p.run_time_ns as f64 / p.runs.max(1) as f64;
    let hooks: Vec<HookCost> = prism
        .iter()
        .filter(|p| p.runs > 0)
        .map(|p| {
            let e = empty.iter().find(|e| e.tracepoint == p.tracepoint);
            let empty_ns = e.map_or(0.0, per_run);
            HookCost {
                tracepoint: p.tracepoint.clone(),
                empty_runs_per_s: e.map_or(0.0, |e| e.runs as f64 / secs),
                empty_ns_per_run: empty_ns,
                prism_runs_per_s: p.runs as f64 / secs,
                prism_ns_per_run: per_run(p),
                prism_minus_empty_ns: per_run(p) - empty_ns,
            }
        })
        .collect();
    let weighted = |costs: &dyn Fn(&HookCost) -> f64| {
        let runs: f64 = hooks.iter().map(|h| h.prism_runs_per_s).sum();
        hooks
            .iter()
            .map(|h| costs(h) * h.prism_runs_per_s)
            .sum::<f64>()
            / runs.max(1.0)
    };
    let mean = |list: &[ProgramStats]| {
        let (runs, time) = list
            .iter()
            .fold((0, 0), |(r, t), p| (r + p.runs, t + p.run_time_ns));
        time as f64 / runs.max(1) as f64
    };
    Output {
        empty_ratio: median(rounds.iter().map(|r| r.empty / r.off).collect()),
        prism_ratio: median(rounds.iter().map(|r| r.prism / r.off).collect()),
        empty_ns_per_run: mean(empty),
        prism_ns_per_run: mean(prism),
        prism_minus_empty_ns: weighted(&|h| h.prism_minus_empty_ns),
        hooks,
        rounds,
    }
}

fn print_text(out: &Output) {
    println!(
        "\nbulk TCP throughput against nothing attached, medians over {} rounds: empty programs {:.3}, Prism {:.3}",
        out.rounds.len(),
        out.empty_ratio,
        out.prism_ratio
    );
    let mut t = Table::new(&[
        "TRACEPOINT",
        ">EMPTY RUNS/S",
        ">EMPTY NS",
        ">PRISM RUNS/S",
        ">PRISM NS",
        ">PRISM-EMPTY",
    ]);
    let mut hooks: Vec<&HookCost> = out.hooks.iter().collect();
    hooks.sort_by(|a, b| b.prism_runs_per_s.total_cmp(&a.prism_runs_per_s));
    for h in hooks {
        t.row(vec![
            h.tracepoint.clone(),
            format!("{:.0}", h.empty_runs_per_s),
            format!("{:.0}", h.empty_ns_per_run),
            format!("{:.0}", h.prism_runs_per_s),
            format!("{:.0}", h.prism_ns_per_run),
            format!("{:.0}", h.prism_minus_empty_ns),
        ]);
    }
    print!("{t}");
    println!(
        "per run, all hooks (statistics on): empty {:.0} ns, Prism {:.0} ns; Prism minus empty {:.0} ns",
        out.empty_ns_per_run, out.prism_ns_per_run, out.prism_minus_empty_ns
    );
}

/// Background throughput of one tcp run, Gbit/s.
fn throughput(topo: &Topology, opts: &RunOptions) -> Result<f64> {
    let report = scenario::run(topo, Background::Tcp, opts)?;
    Ok(report.background.map_or(0.0, |b| b.gbit_per_s))
}

/// Programs' figures summed per tracepoint (a fallback program counts for
/// the tracepoint it stands in for).
fn by_tracepoint(programs: Vec<ProgramStats>) -> Vec<ProgramStats> {
    let mut total: Vec<ProgramStats> = Vec::new();
    for p in programs {
        match total.iter_mut().find(|t| t.tracepoint == p.tracepoint) {
            Some(t) => {
                t.runs += p.runs;
                t.run_time_ns += p.run_time_ns;
            }
            None => total.push(p),
        }
    }
    total
}
