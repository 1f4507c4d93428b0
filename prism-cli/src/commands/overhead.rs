//! `prism lab overhead`: what the profilers cost, measured on the lab
//! against nothing attached and against empty programs on the same hooks.

use std::{collections::BTreeMap, time::Duration};

use anyhow::Result;
use prism_lab::{
    Topology,
    latency::median,
    scenario::{self, Background, RunOptions},
};
use prism_probes::{
    baseline::EmptyPrograms,
    collector::{Collector, CollectorConfig, ProgramStats},
    profile::Profile,
};
use prism_rules::RuleSet;
use serde::Serialize;

use super::{lab::complete_lab, print_json};
use crate::{cli::OverheadArgs, table::Table};

/// What is attached during a run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Setup {
    /// Nothing.
    Off,
    /// An empty program on every hook the profilers use.
    Empty,
    /// Prism's profilers with this profile.
    Prism(Profile),
}

const SETUPS: [Setup; 4] = [
    Setup::Off,
    Setup::Empty,
    Setup::Prism(Profile::Full),
    Setup::Prism(Profile::AlwaysOn),
];

impl Setup {
    fn name(self) -> String {
        match self {
            Self::Off => "off".into(),
            Self::Empty => "empty".into(),
            Self::Prism(p) => p.to_string(),
        }
    }
}

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
    /// Bulk throughput, Gbit/s, per setup: off, empty, full, always-on.
    gbit_per_s: BTreeMap<String, f64>,
}

/// One hook's runs and cost with one setup.
#[derive(Clone, Serialize)]
struct HookCost {
    runs_per_s: f64,
    ns_per_run: f64,
}

#[derive(Serialize)]
struct HookRow {
    tracepoint: String,
    empty: HookCost,
    /// Per profile; absent where the profile does not hook it.
    prism: BTreeMap<String, HookCost>,
}

#[derive(Serialize)]
struct ProfileCost {
    /// Median of the per-round throughput ratios to `off`.
    ratio: f64,
    /// Run-weighted mean over its hooks, ns per run (statistics on).
    ns_per_run: f64,
    /// The same, minus the empty program's cost at each hook.
    minus_empty_ns: f64,
    runs_per_s: f64,
}

#[derive(Serialize)]
struct Output {
    rounds: Vec<Round>,
    empty_ratio: f64,
    profiles: BTreeMap<String, ProfileCost>,
    hooks: Vec<HookRow>,
}

pub fn run(args: OverheadArgs) -> Result<()> {
    let topo = complete_lab(&args.lab.name)?;
    let opts = RunOptions {
        duration: args.duration,
        ..Default::default()
    };
    let namespaces = topo.namespaces();
    let attach = |setup: Setup| -> Result<Attached> {
        Ok(match setup {
            Setup::Off => Attached::Off,
            Setup::Empty => Attached::Empty(EmptyPrograms::attach()?),
            Setup::Prism(profile) => {
                Attached::Prism(Box::new(Collector::attach(CollectorConfig {
                    rules: RuleSet::parse(&["udp port 7777"])?,
                    namespaces: namespaces.clone(),
                    profile,
                    ..Default::default()
                })?))
            }
        })
    };
    let mut rounds = Vec::new();
    for round in 1..=args.rounds {
        // Alternate the order too: a slow phase of the VM hits all setups.
        let mut order = SETUPS.to_vec();
        if round % 2 == 0 {
            order.reverse();
        }
        let mut gbit = BTreeMap::new();
        for setup in order {
            let attached = attach(setup)?;
            gbit.insert(setup.name(), throughput(&topo, &opts)?);
            drop(attached);
        }
        let off = gbit["off"];
        let said: Vec<String> = SETUPS[1..]
            .iter()
            .map(|s| format!("{} {:.3}", s.name(), gbit[&s.name()] / off))
            .collect();
        eprintln!(
            "[{round}/{}] off {off:.2} Gbit/s; against off: {}",
            args.rounds,
            said.join(", ")
        );
        rounds.push(Round {
            round,
            gbit_per_s: gbit,
        });
    }
    // Run-time statistics cost something themselves (two clock reads per
    // program run), so they are on only for runs of their own.
    let stats = prism_kernel::bpf::enable_run_time_stats()?;
    let mut measured = BTreeMap::new();
    for setup in &SETUPS[1..] {
        let attached = attach(*setup)?;
        throughput(&topo, &opts)?;
        measured.insert(setup.name(), by_tracepoint(attached.program_stats()));
    }
    drop(stats);
    let out = output(rounds, &measured, opts.duration);
    if args.json {
        return print_json(&out);
    }
    print_text(&out);
    Ok(())
}

fn output(
    rounds: Vec<Round>,
    measured: &BTreeMap<String, Vec<ProgramStats>>,
    duration: Duration,
) -> Output {
    let secs = duration.as_secs_f64();
    let cost = |p: &ProgramStats| HookCost {
        runs_per_s: p.runs as f64 / secs,
        ns_per_run: p.run_time_ns as f64 / p.runs.max(1) as f64,
    };
    let empty = &measured["empty"];
    let ratio = |name: &str| {
        median(
            rounds
                .iter()
                .map(|r| r.gbit_per_s[name] / r.gbit_per_s["off"])
                .collect(),
        )
    };
    let hooks: Vec<HookRow> = empty
        .iter()
        .map(|e| HookRow {
            tracepoint: e.tracepoint.clone(),
            empty: cost(e),
            prism: Profile::ALL
                .iter()
                .filter_map(|p| {
                    let stats = measured[p.name()]
                        .iter()
                        .find(|s| s.tracepoint == e.tracepoint && s.runs > 0)?;
                    Some((p.to_string(), cost(stats)))
                })
                .collect(),
        })
        .filter(|h| !h.prism.is_empty())
        .collect();
    let profiles = Profile::ALL
        .iter()
        .map(|p| {
            let name = p.to_string();
            let mine: Vec<(&HookCost, &HookCost)> = hooks
                .iter()
                .filter_map(|h| Some((h.prism.get(&name)?, &h.empty)))
                .collect();
            let runs: f64 = mine.iter().map(|(c, _)| c.runs_per_s).sum();
            let weighted = |f: &dyn Fn(&HookCost, &HookCost) -> f64| {
                mine.iter()
                    .map(|(c, e)| f(c, e) * c.runs_per_s)
                    .sum::<f64>()
                    / runs.max(1.0)
            };
            let cost = ProfileCost {
                ratio: ratio(&name),
                ns_per_run: weighted(&|c, _| c.ns_per_run),
                minus_empty_ns: weighted(&|c, e| c.ns_per_run - e.ns_per_run),
                runs_per_s: runs,
            };
            (name, cost)
        })
        .collect();
    Output {
        empty_ratio: ratio("empty"),
        profiles,
        hooks,
        rounds,
    }
}

fn print_text(out: &Output) {
    println!(
        "\nbulk TCP throughput against nothing attached, medians over {} rounds: empty programs {:.3}, {}",
        out.rounds.len(),
        out.empty_ratio,
        out.profiles
            .iter()
            .map(|(name, c)| format!("{name} {:.3}", c.ratio))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let mut t = Table::new(&[
        "TRACEPOINT",
        ">EMPTY NS",
        ">FULL RUNS/S",
        ">FULL NS",
        ">FULL-EMPTY",
        ">ALWAYS-ON RUNS/S",
        ">ALWAYS-ON NS",
        ">ALWAYS-ON-EMPTY",
    ]);
    let mut hooks: Vec<&HookRow> = out.hooks.iter().collect();
    let runs = |h: &HookRow| h.prism.get("full").map_or(0.0, |c| c.runs_per_s);
    hooks.sort_by(|a, b| runs(b).total_cmp(&runs(a)));
    for h in hooks {
        let mut row = vec![h.tracepoint.clone(), format!("{:.0}", h.empty.ns_per_run)];
        for p in Profile::ALL {
            match h.prism.get(p.name()) {
                Some(c) => row.extend([
                    format!("{:.0}", c.runs_per_s),
                    format!("{:.0}", c.ns_per_run),
                    format!("{:.0}", c.ns_per_run - h.empty.ns_per_run),
                ]),
                None => row.extend(["-".into(), "-".into(), "-".into()]),
            }
        }
        t.row(row);
    }
    print!("{t}");
    for (name, c) in &out.profiles {
        println!(
            "{name}: {:.0} runs/s, {:.0} ns per run (statistics on), {:.0} ns over the empty program",
            c.runs_per_s, c.ns_per_run, c.minus_empty_ns
        );
    }
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
