//! `prism lab bench`: the paper's experiment on the lab. The prober alone,
//! then under bulk traffic with the datapath off and in each mode, in
//! alternating rounds; medians and paired ratios to "off".

use anyhow::{Result, bail};
use prism_datapath::control::{self, EnableOptions, Mode};
use prism_lab::{
    Flavor,
    latency::{Percentiles, median, median_of},
    scenario::{self, Background, RunOptions, ScenarioReport},
    workload::{PROBE_PORT, prober::ProberConfig},
};
use prism_rules::RuleSet;
use serde::Serialize;

use super::{lab::complete_lab, print_json};
use crate::{cli::BenchArgs, table::Table};

/// One configuration of a round.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
enum Config {
    /// The prober alone, datapath off.
    Idle,
    /// The prober alone, sync datapath on: what the fast path gives
    /// without load (ratios to `idle`).
    IdleSync,
    /// Under bulk traffic, datapath off.
    Off,
    Sync,
    Mark,
    Nic,
    /// sync and nic together.
    SyncNic,
}

impl Config {
    const ALL: [Config; 7] = [
        Self::Idle,
        Self::IdleSync,
        Self::Off,
        Self::Sync,
        Self::Mark,
        Self::Nic,
        Self::SyncNic,
    ];

    fn name(self) -> &'static str {
        match self {
            Self::Idle => "idle",
            Self::IdleSync => "idle+sync",
            Self::Off => "off",
            Self::Sync => "sync",
            Self::Mark => "mark",
            Self::Nic => "nic",
            Self::SyncNic => "sync+nic",
        }
    }

    /// The prober runs alone.
    fn idle(self) -> bool {
        matches!(self, Self::Idle | Self::IdleSync)
    }

    /// What its ratios are paired with: the same load, datapath off.
    fn baseline(self) -> Option<Config> {
        match self {
            Self::Idle | Self::Off => None,
            Self::IdleSync => Some(Self::Idle),
            _ => Some(Self::Off),
        }
    }

    fn modes(self) -> Vec<Mode> {
        match self {
            Self::Idle | Self::Off => Vec::new(),
            Self::Sync | Self::IdleSync => vec![Mode::Sync],
            Self::Mark => vec![Mode::Mark],
            Self::Nic => vec![Mode::Nic],
            Self::SyncNic => vec![Mode::Sync, Mode::Nic],
        }
    }
}

#[derive(Serialize)]
struct Run {
    round: u32,
    config: Config,
    report: ScenarioReport,
}

#[derive(Serialize)]
struct Summary {
    config: Config,
    latency: Percentiles,
    background_gbit_per_s: Option<f64>,
    /// Medians of per-round ratios to the baseline (`off`; `idle` for
    /// `idle+sync`; None for the baselines themselves).
    p50_ratio: Option<f64>,
    p99_ratio: Option<f64>,
    p999_ratio: Option<f64>,
    background_ratio: Option<f64>,
}

#[derive(Serialize)]
struct Output {
    overlay: Flavor,
    background: Background,
    rounds: u32,
    runs: Vec<Run>,
    summary: Vec<Summary>,
}

pub fn run(args: BenchArgs) -> Result<()> {
    let topo = complete_lab(&args.lab.name)?;
    if control::State::load()?.is_some() {
        bail!(
            "the datapath is enabled; the bench switches it on and off itself: run `prism disable` first"
        );
    }
    let proto = match args.proto {
        prism_lab::workload::prober::Proto::Udp => "udp",
        prism_lab::workload::prober::Proto::Tcp => "tcp",
    };
    let rules = RuleSet::parse(&[format!("{proto} port {PROBE_PORT}")])?;
    let hosts: Vec<String> = topo.sides.iter().map(|s| s.host_ns.clone()).collect();
    let opts = RunOptions {
        duration: args.duration,
        placement: args.placement,
        apply_rps: false,
        prober: ProberConfig {
            proto: args.proto,
            ..Default::default()
        },
        ..Default::default()
    };
    let cpus = opts.placement.cpus(prism_lab::placement::online_cpus())?;
    let configs = Config::ALL;
    let total = args.rounds as usize * configs.len();
    let names: Vec<&str> = configs.iter().map(|c| c.name()).collect();
    eprintln!(
        "bench: {} overlay, {} rounds of {}, {} background, {} placement, about {} per run",
        topo.config.overlay,
        args.rounds,
        names.join("/"),
        args.background,
        args.placement,
        humantime::format_duration(opts.duration + opts.warmup)
    );
    let mut runs = Vec::new();
    let result = (|| -> Result<()> {
        for round in 1..=args.rounds {
            for &config in &configs {
                // The placement's RPS first: nic mode then changes its own
                // ring's mask (and puts the placement's back when disabled).
                opts.placement.apply(&topo, &cpus)?;
                set_datapath(config, &rules, &hosts, cpus.prober)?;
                let background = if config.idle() {
                    Background::Idle
                } else {
                    args.background
                };
                let report = scenario::run(&topo, background, &opts)?;
                eprintln!(
                    "[{}/{total}] round {round} {:<9}  p50 {:>8.1} µs  p99 {:>9.1} µs  lost {}{}",
                    runs.len() + 1,
                    config.name(),
                    report.latency.p50,
                    report.latency.p99,
                    report.lost,
                    report
                        .background
                        .map(|b| format!("  background {:.2} Gbit/s", b.gbit_per_s))
                        .unwrap_or_default()
                );
                runs.push(Run {
                    round,
                    config,
                    report,
                });
            }
        }
        Ok(())
    })();
    // Whatever happened, leave the datapath off as we found it.
    let _ = control::disable();
    result?;
    let summary = configs.iter().map(|&c| summarize(c, &runs)).collect();
    let out = Output {
        overlay: topo.config.overlay,
        background: args.background,
        rounds: args.rounds,
        runs,
        summary,
    };
    if args.json {
        return print_json(&out);
    }
    print_table(&out);
    Ok(())
}

fn set_datapath(
    config: Config,
    rules: &RuleSet,
    hosts: &[String],
    prober_cpu: usize,
) -> Result<()> {
    control::disable()?;
    let modes = config.modes();
    if !modes.is_empty() {
        control::enable(&EnableOptions {
            modes,
            rules: Some(rules.clone()),
            namespaces: hosts.to_vec(),
            nic_cpu: Some(prober_cpu),
            // The lab's own routed flavors have no policy to bypass.
            allow_netfilter_bypass: true,
            ..Default::default()
        })?;
    }
    Ok(())
}

fn summarize(config: Config, runs: &[Run]) -> Summary {
    let mine: Vec<&Run> = runs.iter().filter(|r| r.config == config).collect();
    let latency = median_of(&mine.iter().map(|r| r.report.latency).collect::<Vec<_>>());
    let gbit = |r: &Run| r.report.background.map(|b| b.gbit_per_s);
    let bg: Vec<f64> = mine.iter().filter_map(|r| gbit(r)).collect();
    // Ratios to the baseline in the same round.
    let paired = |f: &dyn Fn(&Run) -> Option<f64>| -> Option<f64> {
        let baseline = config.baseline()?;
        let ratios: Vec<f64> = mine
            .iter()
            .filter_map(|r| {
                let off = runs
                    .iter()
                    .find(|o| o.round == r.round && o.config == baseline)?;
                let (a, b) = (f(r)?, f(off)?);
                (b > 0.0).then(|| a / b)
            })
            .collect();
        (!ratios.is_empty()).then(|| median(ratios))
    };
    Summary {
        config,
        latency,
        background_gbit_per_s: (!bg.is_empty()).then(|| median(bg)),
        p50_ratio: paired(&|r| Some(r.report.latency.p50)),
        p99_ratio: paired(&|r| Some(r.report.latency.p99)),
        p999_ratio: paired(&|r| Some(r.report.latency.p999)),
        background_ratio: if config.idle() { None } else { paired(&gbit) },
    }
}

fn print_table(out: &Output) {
    println!(
        "\nprober round-trip times in µs on the {} overlay, medians of {} rounds, {} background; ratios to 'off' (idle+sync: to 'idle') paired per round",
        out.overlay, out.rounds, out.background
    );
    let mut t = Table::new(&[
        "CONFIG",
        ">P50",
        ">P99",
        ">P99.9",
        ">BACKGROUND",
        ">P50/OFF",
        ">P99/OFF",
        ">P99.9/OFF",
        ">BG/OFF",
    ]);
    let ratio = |r: Option<f64>| r.map_or_else(|| "-".to_string(), |r| format!("{r:.2}"));
    for s in &out.summary {
        t.row(vec![
            s.config.name().into(),
            format!("{:.1}", s.latency.p50),
            format!("{:.1}", s.latency.p99),
            format!("{:.1}", s.latency.p999),
            s.background_gbit_per_s
                .map_or_else(|| "-".into(), |g| format!("{g:.2} Gbit/s")),
            ratio(s.p50_ratio),
            ratio(s.p99_ratio),
            ratio(s.p999_ratio),
            ratio(s.background_ratio),
        ]);
    }
    print!("{t}");
}
