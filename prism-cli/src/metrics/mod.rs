//! `prism metrics`: the profilers' figures as an OpenMetrics endpoint that
//! Prometheus scrapes. Each scrape reads the kernel's maps once; between
//! scrapes nothing runs but the profilers themselves.

mod exposition;

use std::{process::ExitCode, time::Duration, time::Instant};

use anyhow::{Context, Result};
use prism_probes::{
    collector::{Collector, CollectorConfig},
    histogram::Histogram,
    sampler::Sampler,
    snapshot::{Class, Snapshot},
    stages::{Direction, Stage},
};
use tiny_http::{Header, Method, Request, Response, Server};

use crate::{
    cli::MetricsArgs,
    commands::{parse_rules, probe_config, require_tracing},
    signals,
};
use exposition::{DatapathCount, Exposition, Series};

/// The content type of the OpenMetrics text format.
const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";
/// How often the server loop looks at the stop flag.
const POLL: Duration = Duration::from_millis(200);

pub fn run(args: MetricsArgs) -> Result<ExitCode> {
    let rules = parse_rules(args.rules.texts())?;
    require_tracing("prism metrics")?;
    // Bind before attaching: a taken port fails fast, with nothing loaded.
    let server = Server::http(args.listen)
        .map_err(|e| anyhow::anyhow!("{e}"))
        .with_context(|| format!("listen on {}", args.listen))?;
    signals::catch_stop()?;
    let mut sampler = Sampler::attach(CollectorConfig {
        per_container: true,
        ..probe_config(&args.scope, rules)
    })?;
    let node = match args.node {
        Some(n) => n,
        None => nix::unistd::gethostname()
            .context("read the host name (or give --node)")?
            .to_string_lossy()
            .into_owned(),
    };
    let c = sampler.collector();
    eprintln!(
        "prism metrics: serving http://{}/metrics (node {node}, {}, {} profile, rules: {}); Ctrl-C to stop",
        server.server_addr(),
        c.mechanism_label(),
        c.profile(),
        if c.rules().is_empty() {
            "none".to_string()
        } else {
            c.rules().to_string()
        }
    );
    while !signals::stop_requested() {
        let request = match server.recv_timeout(POLL) {
            Ok(Some(r)) => r,
            Ok(None) => continue,
            // EINTR from our own stop signal, or a broken listener.
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e).context("accept a scrape"),
        };
        answer(request, &mut sampler, &node);
    }
    // Dropping the sampler detaches every program.
    drop(sampler);
    Ok(ExitCode::SUCCESS)
}

/// Answers one request; a client that went away is not our failure.
fn answer(request: Request, sampler: &mut Sampler, node: &str) {
    let path = request.url().split('?').next().unwrap_or("");
    let response = match (request.method(), path) {
        (Method::Get, "/metrics") => {
            let began = Instant::now();
            match gather(sampler, node) {
                Ok(x) => {
                    let text = x.render();
                    let gzip = accepts_gzip(&request);
                    log::debug!(
                        "scrape: {} bytes in {:?} (gzip: {gzip})",
                        text.len(),
                        began.elapsed()
                    );
                    let response = if gzip {
                        Response::from_data(gzipped(text.as_bytes()))
                            .with_header(header("Content-Encoding", "gzip"))
                    } else {
                        Response::from_string(text)
                    };
                    response.with_header(header("Content-Type", OPENMETRICS))
                }
                Err(e) => {
                    log::warn!("scrape: {e:#}");
                    Response::from_string(format!("reading the profilers failed: {e:#}\n"))
                        .with_status_code(500)
                }
            }
        }
        (Method::Get, "/") => Response::from_string(
            "prism metrics: the profilers' per-stage latency is at /metrics\n",
        ),
        (Method::Get, _) => {
            Response::from_string("not found; try /metrics\n").with_status_code(404)
        }
        _ => Response::from_string("only GET is served\n").with_status_code(405),
    };
    if let Err(e) = request.respond(response) {
        log::debug!("respond: {e}");
    }
}

/// Whether the client takes a gzip body (Prometheus does, and says so).
fn accepts_gzip(request: &Request) -> bool {
    request.headers().iter().any(|h| {
        h.field.equiv("Accept-Encoding")
            && h.value
                .as_str()
                .split(',')
                .any(|e| e.split(';').next().is_some_and(|e| e.trim() == "gzip"))
    })
}

/// The fastest level: most of the size goes at any level, and a scrape
/// must stay cheap.
fn gzipped(body: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(body).expect("writing to memory");
    gz.finish().expect("writing to memory")
}

fn header(name: &str, value: &str) -> Header {
    Header::from_bytes(name.as_bytes(), value.as_bytes()).expect("a valid header")
}

/// Reads the profilers (and the datapath's counters) into one scrape.
fn gather(sampler: &mut Sampler, node: &str) -> Result<Exposition> {
    let now = sampler.sample()?;
    let c = sampler.collector();
    let stages = stages_of(c, |stage, class| now.stage(stage, class));
    let receive_total = Class::ALL
        .map(|class| Exposition::class_series(class, now.receive_total(class).clone()))
        .to_vec();
    let mut container_stages = Vec::new();
    let mut container_receive_total = Vec::new();
    for f in now.containers.values() {
        let labels = Exposition::container_labels(&f.name, f.pod.as_ref());
        // Only the stages a container has seen: a node multiplies these.
        let seen = stages_of(c, |stage, class| f.stage(stage, class));
        for s in seen.into_iter().filter(|s| s.histogram.count > 0) {
            container_stages.push(Series {
                labels: [labels.clone(), s.labels].concat(),
                histogram: s.histogram,
            });
        }
        for class in Class::ALL
            .into_iter()
            .filter(|c| f.receive_total[c.id() as usize].count > 0)
        {
            container_receive_total.push(Series {
                labels: [labels.clone(), vec![("class", class.name().to_string())]].concat(),
                histogram: f.receive_total[class.id() as usize].clone(),
            });
        }
    }
    let softirq = now
        .softirq
        .iter()
        .enumerate()
        .map(|(cpu, h)| Series {
            labels: vec![("cpu", cpu.to_string())],
            histogram: h.clone(),
        })
        .collect();
    Ok(Exposition {
        node: node.to_string(),
        profile: c.profile().to_string(),
        mechanism: c.mechanism_label(),
        rules: c.rules().to_string(),
        stages,
        receive_total,
        softirq,
        container_stages,
        container_receive_total,
        containers_overflow: c.containers_overflow(),
        counters: now.counters,
        drops: drops(sampler, &now),
        datapath: datapath(),
    })
}

/// A series per stage this host has, both directions and classes.
fn stages_of(c: &Collector, hist: impl Fn(Stage, Class) -> Histogram) -> Vec<Series> {
    let mut out = Vec::new();
    for direction in [Direction::Rx, Direction::Tx] {
        for stage in Stage::of(direction).filter(|s| c.present(*s)) {
            for class in Class::ALL {
                out.push(Exposition::stage_series(
                    direction,
                    stage.name(),
                    class,
                    hist(stage, class),
                ));
            }
        }
    }
    out
}

/// Drops by reason and location since attach.
fn drops(sampler: &Sampler, now: &Snapshot) -> Vec<(String, String, u64)> {
    let addrs: Vec<u64> = now.drops.keys().map(|k| k.location).collect();
    let names = sampler.symbols().names(&addrs);
    now.drops
        .iter()
        .zip(names)
        .map(|((k, n), location)| (sampler.collector().drop_reason(k.reason), location, *n))
        .collect()
}

/// The datapath's counters when it is enabled (a state that cannot be read
/// counts as off, with a log line: the profilers' figures still go out).
fn datapath() -> Option<Vec<DatapathCount>> {
    let status = match prism_datapath::control::brief_status() {
        Ok(s) => s,
        Err(e) => {
            log::warn!("datapath status: {e:#}");
            return None;
        }
    };
    status.enabled.then(|| {
        status
            .counters
            .into_iter()
            .map(|r| DatapathCount {
                direction: r.direction,
                reason: r.reason,
                class: r.class,
                packets: r.packets,
            })
            .collect()
    })
}
