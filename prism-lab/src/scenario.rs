//! Named scenarios: the latency prober alone, or under TCP or UDP bulk
//! background, in a chosen CPU placement; and alternating rounds of them.

use std::{
    net::SocketAddr,
    sync::Arc,
    time::{Duration, Instant},
};

use anyhow::{Context, Result, bail};
use serde::Serialize;

use crate::{
    Topology,
    latency::{Percentiles, median, median_of, summarize},
    placement::{Cpus, Placement, online_cpus},
    workload::{
        BULK_TCP_PORT, BULK_UDP_PORT, PROBE_PORT, Stop, Worker,
        bulk::{self, Counter, Throughput},
        prober::{self, ProberConfig},
        spawn_in,
    },
};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Background {
    /// The prober alone.
    Idle,
    /// TCP bulk streams from container 1 to container 2.
    Tcp,
    /// A UDP flood from container 1 to container 2.
    Udp,
}

impl Background {
    pub const ALL: [Background; 3] = [Self::Idle, Self::Tcp, Self::Udp];

    pub fn name(self) -> &'static str {
        match self {
            Self::Idle => "idle",
            Self::Tcp => "tcp",
            Self::Udp => "udp",
        }
    }
}

impl std::fmt::Display for Background {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for Background {
    type Err = anyhow::Error;
    fn from_str(s: &str) -> Result<Self> {
        Self::ALL
            .into_iter()
            .find(|b| b.name() == s)
            .ok_or_else(|| anyhow::anyhow!("unknown scenario {s:?} (expected idle, tcp or udp)"))
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct RunOptions {
    /// How long the prober measures.
    pub duration: Duration,
    /// Background runs this long before the prober starts.
    pub warmup: Duration,
    pub placement: Placement,
    pub prober: ProberConfig,
    pub tcp_streams: usize,
    /// Datagrams per second of the UDP flood; 0 is unlimited.
    pub udp_rate: u32,
    pub udp_size: usize,
    /// Set the underlays' RPS masks for the placement (off when something
    /// else owns them, e.g. the datapath's nic mode).
    pub apply_rps: bool,
}

impl Default for RunOptions {
    fn default() -> Self {
        Self {
            duration: Duration::from_secs(10),
            warmup: Duration::from_secs(1),
            placement: Placement::default(),
            prober: ProberConfig::default(),
            tcp_streams: 2,
            udp_rate: 0,
            udp_size: 1400,
            apply_rps: true,
        }
    }
}

/// One scenario's measurements.
#[derive(Clone, Debug, Serialize)]
pub struct ScenarioReport {
    pub scenario: Background,
    pub round: usize,
    pub placement: Placement,
    pub cpus: Cpus,
    /// Prober round-trip times, µs.
    pub latency: Percentiles,
    pub sent: u64,
    pub lost: u64,
    /// Background throughput at the sink while the prober ran.
    pub background: Option<Throughput>,
}

/// Runs one scenario on a lab that is up.
pub fn run(topo: &Topology, scenario: Background, opts: &RunOptions) -> Result<ScenarioReport> {
    opts.prober.validate()?;
    let cpus = opts.placement.cpus(online_cpus())?;
    if opts.apply_rps {
        opts.placement.apply(topo, &cpus)?;
    }
    let [client, server] = &topo.sides;
    let stop = Stop::new();
    let mut workers: Vec<Worker<()>> = Vec::new();
    let result = (|| {
        let s = stop.clone();
        let proto = opts.prober.proto;
        workers.push(spawn_in(
            &server.container_ns,
            Some(cpus.prober),
            "probe-echo",
            move || prober::serve(proto, PROBE_PORT, s),
        )?);
        let sink = start_background(topo, scenario, opts, &cpus, &stop, &mut workers)?;
        std::thread::sleep(opts.warmup.max(Duration::from_millis(200)));
        if let Some(dead) = workers.iter().position(Worker::is_finished) {
            // A worker that ended this early failed; join it for its error.
            workers.swap_remove(dead).join()?;
            bail!("a workload ended during warm-up");
        }
        let before = sink.as_ref().map(|c| c.snapshot());
        let (config, duration) = (opts.prober, opts.duration);
        let target = SocketAddr::from((server.overlay_ip, PROBE_PORT));
        let s = stop.clone();
        let probe = spawn_in(
            &client.container_ns,
            Some(cpus.prober),
            "probe",
            move || prober::probe(&config, target, duration, s),
        )?
        .join()?;
        let background = sink
            .as_ref()
            .zip(before)
            .map(|(c, before)| Throughput::between(before, c.snapshot()));
        Ok(ScenarioReport {
            scenario,
            round: 0,
            placement: opts.placement,
            cpus,
            latency: summarize(&probe.rtt_ns),
            sent: probe.sent,
            lost: probe.lost,
            background,
        })
    })();
    stop.stop();
    let joined: Result<Vec<()>> = workers.into_iter().map(Worker::join).collect();
    let report = result?;
    joined.context("stopping the workloads")?;
    Ok(report)
}

/// Starts the bulk sink and senders of `scenario`; returns the sink's counter.
pub(crate) fn start_background(
    topo: &Topology,
    scenario: Background,
    opts: &RunOptions,
    cpus: &Cpus,
    stop: &Stop,
    workers: &mut Vec<Worker<()>>,
) -> Result<Option<Arc<Counter>>> {
    let [client, server] = &topo.sides;
    let counter = Arc::new(Counter::default());
    let (c, s) = (counter.clone(), stop.clone());
    match scenario {
        Background::Idle => return Ok(None),
        Background::Tcp => {
            workers.push(spawn_in(
                &server.container_ns,
                Some(cpus.bulk),
                "bulk-sink",
                move || bulk::tcp_sink(BULK_TCP_PORT, c, s),
            )?);
            std::thread::sleep(Duration::from_millis(50));
            let sink = SocketAddr::from((server.overlay_ip, BULK_TCP_PORT));
            for i in 0..opts.tcp_streams.max(1) {
                let s = stop.clone();
                workers.push(spawn_in(
                    &client.container_ns,
                    Some(cpus.bulk),
                    &format!("bulk-tcp-{i}"),
                    move || bulk::tcp_stream(sink, 0, s),
                )?);
            }
        }
        Background::Udp => {
            workers.push(spawn_in(
                &server.container_ns,
                Some(cpus.bulk),
                "udp-sink",
                move || bulk::udp_sink(BULK_UDP_PORT, c, s),
            )?);
            let sink = SocketAddr::from((server.overlay_ip, BULK_UDP_PORT));
            let (size, rate, s) = (opts.udp_size, opts.udp_rate, stop.clone());
            workers.push(spawn_in(
                &client.container_ns,
                Some(cpus.bulk),
                "udp-flood",
                move || bulk::udp_flood(sink, size, rate, s),
            )?);
        }
    }
    Ok(Some(counter))
}

/// Medians over the rounds of one scenario.
#[derive(Clone, Debug, Serialize)]
pub struct ScenarioMedian {
    pub scenario: Background,
    pub rounds: usize,
    pub latency: Percentiles,
    pub lost: u64,
    pub background_gbit_per_s: Option<f64>,
}

/// Runs `scenarios` in turn, `rounds` times (A B C A B C ...), so that slow
/// phases of a noisy machine hit every scenario alike. `progress` hears of
/// each run as it ends.
pub fn run_rounds(
    topo: &Topology,
    scenarios: &[Background],
    rounds: usize,
    opts: &RunOptions,
    mut progress: impl FnMut(&ScenarioReport),
) -> Result<(Vec<ScenarioReport>, Vec<ScenarioMedian>)> {
    let mut reports = Vec::new();
    for round in 1..=rounds.max(1) {
        for &scenario in scenarios {
            let started = Instant::now();
            let mut report = run(topo, scenario, opts)
                .with_context(|| format!("scenario {} (round {round})", scenario.name()))?;
            report.round = round;
            log::debug!(
                "{} round {round} took {:?}",
                scenario.name(),
                started.elapsed()
            );
            progress(&report);
            reports.push(report);
        }
    }
    let medians = scenarios
        .iter()
        .map(|&scenario| {
            let runs: Vec<&ScenarioReport> =
                reports.iter().filter(|r| r.scenario == scenario).collect();
            let latencies: Vec<Percentiles> = runs.iter().map(|r| r.latency).collect();
            let gbits: Vec<f64> = runs
                .iter()
                .filter_map(|r| r.background.map(|b| b.gbit_per_s))
                .collect();
            ScenarioMedian {
                scenario,
                rounds: runs.len(),
                latency: median_of(&latencies),
                lost: runs.iter().map(|r| r.lost).sum(),
                background_gbit_per_s: (!gbits.is_empty()).then(|| median(gbits)),
            }
        })
        .collect();
    Ok((reports, medians))
}
