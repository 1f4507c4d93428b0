//! `prism lab bench`: the paper's experiment on the lab. The prober alone,
//! then under bulk traffic with the datapath off and in each mode, and with
//! the receive knobs of `--tune` set, in alternating rounds; medians and
//! paired ratios to "off".

use anyhow::{Context, Result, bail};
use prism_datapath::control::{self, EnableOptions, Mode};
use prism_lab::{
    Flavor,
    latency::{Percentiles, median, median_of},
    scenario::{self, Background, RunOptions, ScenarioReport},
    workload::{PROBE_PORT, prober::ProberConfig},
};
use prism_probes::{
    collector::CollectorConfig, report::StageRow, sampler::Sampler, snapshot::Class,
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
    Prio,
    SyncPrio,
    /// Under bulk traffic, datapath off, the n-th `--tune` knobs set.
    Tuned(u8),
}

impl Config {
    const FIXED: [Config; 9] = [
        Self::Idle,
        Self::IdleSync,
        Self::Off,
        Self::Sync,
        Self::Mark,
        Self::Nic,
        Self::SyncNic,
        Self::Prio,
        Self::SyncPrio,
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
            Self::Prio => "prio",
            Self::SyncPrio => "sync+prio",
            Self::Tuned(_) => "tuned",
        }
    }

    /// Its name for people: a tuned one's knobs.
    fn label(self, tunes: &[String]) -> String {
        match self {
            Self::Tuned(i) => format!("tune {}", tunes[i as usize]),
            _ => self.name().to_string(),
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
            Self::Idle | Self::Off | Self::Tuned(_) => Vec::new(),
            Self::Sync | Self::IdleSync => vec![Mode::Sync],
            Self::Mark => vec![Mode::Mark],
            Self::Nic => vec![Mode::Nic],
            Self::SyncNic => vec![Mode::Sync, Mode::Nic],
            Self::Prio => vec![Mode::Prio],
            Self::SyncPrio => vec![Mode::Sync, Mode::Prio],
        }
    }
}

#[derive(Serialize)]
struct Run {
    round: u32,
    config: Config,
    /// The knobs a tuned run set, where, from what to what.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    tuned: Vec<prism_tune::Change>,
    /// With `--stages`: the high class's stages the profilers saw.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    stages: Vec<StageRow>,
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
    /// The `--tune` configurations' knobs (`tuned` n is the n-th).
    tunes: Vec<String>,
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
    let tunings = plan_tunings(&hosts, &args.tune)?;
    let configs = chosen(&args.configs, tunings.len())?;
    let tunes = &args.tune;
    let total = args.rounds as usize * configs.len();
    let names: Vec<String> = configs.iter().map(|c| c.label(tunes)).collect();
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
                let profilers = match args.stages {
                    true => Some(Sampler::attach(CollectorConfig {
                        rules: rules.clone(),
                        ..Default::default()
                    })?),
                    false => None,
                };
                let (tuned, report) = match config {
                    Config::Tuned(i) => {
                        let run = tunings[i as usize].apply().and_then(|tuned| {
                            Ok((tuned, scenario::run(&topo, background, &opts)?))
                        });
                        let restored = prism_tune::restore();
                        let run = run?;
                        restored.context("put the tuned knobs back")?;
                        run
                    }
                    _ => (Vec::new(), scenario::run(&topo, background, &opts)?),
                };
                let stages = match profilers {
                    Some(mut p) => high_stages(&mut p)?,
                    None => Vec::new(),
                };
                eprintln!(
                    "[{}/{total}] round {round} {:<9}  p50 {:>8.1} µs  p99 {:>9.1} µs  lost {}{}",
                    runs.len() + 1,
                    config.label(tunes),
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
                    tuned,
                    stages,
                    report,
                });
            }
        }
        Ok(())
    })();
    // Whatever happened, leave the datapath off and the knobs as we found
    // them.
    let _ = control::disable();
    if !tunes.is_empty() {
        let _ = prism_tune::restore();
    }
    result?;
    let summary = configs.iter().map(|&c| summarize(c, &runs)).collect();
    let out = Output {
        overlay: topo.config.overlay,
        background: args.background,
        rounds: args.rounds,
        tunes: tunes.clone(),
        runs,
        summary,
    };
    if args.json {
        return print_json(&out);
    }
    print_table(&out);
    Ok(())
}

/// The high class's stages since the profilers attached.
fn high_stages(profilers: &mut Sampler) -> Result<Vec<StageRow>> {
    let now = profilers.sample()?;
    let report = profilers.report(profilers.start(), &now);
    Ok(report
        .stages
        .into_iter()
        .filter(|r| r.class == Class::High && r.present && r.latency.count > 0)
        .collect())
}

/// The configurations to run: `--configs` (default: every fixed one),
/// then one per `--tune`.
fn chosen(names: &[String], tunes: usize) -> Result<Vec<Config>> {
    let mut configs = Vec::new();
    for name in names {
        let Some(c) = Config::FIXED.iter().find(|c| c.name() == name.trim()) else {
            let known: Vec<&str> = Config::FIXED.iter().map(|c| c.name()).collect();
            bail!(
                "no configuration {name:?}: choose from {}",
                known.join(", ")
            );
        };
        if !configs.contains(c) {
            configs.push(*c);
        }
    }
    if configs.is_empty() {
        configs = Config::FIXED.to_vec();
    }
    if tunes > 0 && !configs.contains(&Config::Off) {
        bail!("the --tune configurations are compared with 'off': add it to --configs");
    }
    let tunes = u8::try_from(tunes).map_err(|_| anyhow::anyhow!("at most 255 --tune"))?;
    configs.extend((0..tunes).map(Config::Tuned));
    Ok(configs)
}

/// One `--tune` configuration, checked: its sysctls, and each device
/// attribute with the lab hosts that have the device.
struct Tuning {
    sysctls: Vec<String>,
    devices: Vec<(String, String)>,
}

impl Tuning {
    /// Checks `knobs` as `prism tune set` would (names, values, devices)
    /// before any run, so that a bench does not stop halfway on a typo.
    fn plan(hosts: &[String], knobs: &str) -> Result<Self> {
        let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
        let mut tuning = Self {
            sysctls: Vec::new(),
            devices: Vec::new(),
        };
        let assignments: Vec<&str> = knobs.split_whitespace().collect();
        if assignments.is_empty() {
            bail!("--tune needs KNOB=VALUE (see prism tune list)");
        }
        for a in assignments {
            let (name, spec, value) =
                prism_tune::parse_assignment(a).with_context(|| format!("--tune {knobs:?}"))?;
            spec.range
                .check(&value, cpus)
                .with_context(|| format!("--tune {a}: refused"))?;
            let Some(dev) = name.device else {
                tuning.sysctls.push(a.to_string());
                continue;
            };
            let mut found = false;
            for host in hosts {
                let name = dev.clone();
                let present =
                    prism_kernel::rtnl::run_in(
                        Some(host),
                        |nl| async move { nl.link(&name).await },
                    )?;
                if present.is_some() {
                    tuning.devices.push((host.clone(), a.to_string()));
                    found = true;
                }
            }
            if !found {
                bail!("--tune {a}: no lab host has a device {dev}");
            }
        }
        Ok(tuning)
    }

    /// Sets the knobs: sysctls once, each device attribute on its hosts.
    fn apply(&self) -> Result<Vec<prism_tune::Change>> {
        let mut changes = Vec::new();
        if !self.sysctls.is_empty() {
            changes.extend(prism_tune::set(None, &self.sysctls)?);
        }
        for (host, assignment) in &self.devices {
            changes.extend(prism_tune::set(
                Some(host),
                std::slice::from_ref(assignment),
            )?);
        }
        Ok(changes)
    }
}

/// Every `--tune` configuration, checked; none may be pending from `tune
/// set`, since each tuned run ends with a restore of everything saved.
fn plan_tunings(hosts: &[String], tunes: &[String]) -> Result<Vec<Tuning>> {
    let planned = tunes
        .iter()
        .map(|t| Tuning::plan(hosts, t))
        .collect::<Result<Vec<_>>>()?;
    if !tunes.is_empty() && !prism_tune::journal::Journal::load()?.saved.is_empty() {
        bail!(
            "knobs set by `prism tune set` are still saved; run `prism tune restore` before a bench with --tune"
        );
    }
    Ok(planned)
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
            s.config.label(&out.tunes),
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
    print_stages(out);
}

/// With `--stages`: per configuration, the median over rounds of the high
/// class's p99 in each stage.
fn print_stages(out: &Output) {
    let mut columns: Vec<(String, &str)> = Vec::new();
    for run in &out.runs {
        for r in &run.stages {
            let key = (r.direction.key().to_string(), r.stage);
            if !columns.contains(&key) {
                columns.push(key);
            }
        }
    }
    if columns.is_empty() {
        return;
    }
    println!(
        "\nhigh class p99 per stage in µs (profilers attached), medians of {} rounds",
        out.rounds
    );
    let headers: Vec<String> = std::iter::once("CONFIG".to_string())
        .chain(columns.iter().map(|(d, s)| format!(">{d} {s}")))
        .collect();
    let headers: Vec<&str> = headers.iter().map(String::as_str).collect();
    let mut t = Table::new(&headers);
    for s in &out.summary {
        let mut cells = vec![s.config.label(&out.tunes)];
        for (d, stage) in &columns {
            let p99: Vec<f64> = out
                .runs
                .iter()
                .filter(|r| r.config == s.config)
                .flat_map(|r| &r.stages)
                .filter(|r| r.direction.key() == d && r.stage == *stage)
                .map(|r| r.latency.p99)
                .collect();
            cells.push(if p99.is_empty() {
                "-".into()
            } else {
                format!("{:.1}", median(p99))
            });
        }
        t.row(cells);
    }
    print!("{t}");
}
