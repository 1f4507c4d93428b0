//! `prism lab`: the VXLAN overlay testbed and its scenarios.

use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use indicatif::HumanBytes;
use prism_kernel::caps::{CapSet, require};
use prism_lab::{
    LabConfig, Topology,
    integrity::IntegrityOptions,
    lifecycle::{self, UpOutcome},
    scenario::{self, RunOptions, ScenarioMedian, ScenarioReport},
    state,
    status::{self, LabStatus},
    workload::prober::ProberConfig,
};
use serde::Serialize;

use super::print_json;
use crate::{
    cli::{IntegrityArgs, LabCommand, RunArgs},
    table::Table,
};

pub fn run(cmd: LabCommand) -> Result<ExitCode> {
    require(
        CapSet::current().can_manage_network(),
        "prism lab",
        "CAP_NET_ADMIN and CAP_SYS_ADMIN (it creates network namespaces)",
    )?;
    match cmd {
        LabCommand::Up {
            lab,
            overlay,
            vni,
            port,
            router,
            queued_wire,
        } => {
            let mut config = LabConfig::new(&lab.name, overlay);
            config.vni = vni.unwrap_or(config.vni);
            config.port = port.or(config.port);
            config.router = router;
            config.queued_wire = queued_wire;
            up(config)
        }
        LabCommand::Down { lab } => down(&lab.name),
        LabCommand::Status { lab, json } => show_status(&lab.name, json),
        LabCommand::Run(args) => run_scenarios(args),
        LabCommand::Overhead(args) => super::overhead::run(args),
        LabCommand::Bench(args) => super::bench::run(args),
        LabCommand::Integrity(args) => return integrity(args),
    }?;
    Ok(ExitCode::SUCCESS)
}

fn integrity(args: IntegrityArgs) -> Result<ExitCode> {
    let topo = complete_lab(&args.lab.name)?;
    let opts = IntegrityOptions {
        duration: args.duration,
        background: args.background,
        udp_rate: args.udp_rate,
        tcp_rate: args.tcp_rate << 20,
    };
    eprintln!(
        "checking payloads for {} under {} background ...",
        humantime::format_duration(opts.duration),
        opts.background.name()
    );
    let r = prism_lab::integrity::run(&topo, &opts)?;
    if args.json {
        print_json(&r)?;
    } else {
        let u = &r.udp;
        println!(
            "udp: {} sent, {} received, {} corrupted, {} lost, {} duplicated, {} reordered",
            r.udp_sent, u.received, u.corrupted, r.udp_lost, u.duplicates, u.reordered
        );
        let spurious = r.tcp_sent.spurious.map_or(String::new(), |d| {
            format!(" ({d} spurious: the receiver had them)")
        });
        println!(
            "tcp: {} sent, {} received, {} corrupted, {} segments retransmitted{spurious}",
            HumanBytes(r.tcp_sent.bytes),
            HumanBytes(r.tcp.bytes),
            r.tcp.corrupted_bytes,
            r.tcp_sent.retransmitted
        );
        println!(
            "receiver: {} UDP and {} TCP checksum errors, {} datagrams dropped for a full buffer",
            r.receiver.udp_in_csum_errors,
            r.receiver.tcp_in_csum_errors,
            r.receiver.udp_rcvbuf_errors
        );
        println!("{}", if r.intact() { "intact" } else { "DAMAGED" });
    }
    Ok(if r.intact() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn up(config: LabConfig) -> Result<()> {
    let name = config.name.clone();
    eprintln!("building lab {name} ...");
    let outcome = lifecycle::up(&config).with_context(|| format!("lab {name}"))?;
    let [one, two] = Topology::new(config).sides;
    let what = format!(
        "containers {} ({}) and {} ({}) reach each other over VXLAN",
        one.container_ns, one.overlay_ip, two.container_ns, two.overlay_ip
    );
    match outcome {
        UpOutcome::Created => println!("lab {name} is up: {what}"),
        UpOutcome::Rebuilt => println!("lab {name} was half built; rebuilt it: {what}"),
        UpOutcome::AlreadyUp => println!("lab {name} is already up; nothing changed: {what}"),
    }
    Ok(())
}

fn down(name: &str) -> Result<()> {
    if lifecycle::down(name).with_context(|| format!("lab {name}"))? {
        println!("lab {name} is down: its namespaces and devices are gone");
    } else {
        println!("no lab named {name} is up; nothing to do");
    }
    Ok(())
}

pub(super) fn lab_status(name: &str) -> Result<LabStatus> {
    match status::status(name)? {
        Some(s) => Ok(s),
        None => {
            let others = state::names();
            if others.is_empty() {
                bail!("no lab named {name} is up (start one with `prism lab up`)")
            }
            bail!(
                "no lab named {name} is up (labs that are: {})",
                others.join(", ")
            )
        }
    }
}

fn show_status(name: &str, json: bool) -> Result<()> {
    let s = lab_status(name)?;
    if json {
        return print_json(&s);
    }
    let c = &s.config;
    let health = if s.complete {
        "complete"
    } else {
        "INCOMPLETE (run `prism lab up` to rebuild)"
    };
    let router = if c.router { ", behind a router" } else { "" };
    let wire = if c.queued_wire { ", queued wire" } else { "" };
    println!(
        "lab {}: {} overlay, VNI {}, port {}{router}{wire}, {health}\n",
        s.name,
        c.overlay,
        c.vni,
        c.udp_port()
    );
    let mut t = Table::new(&[
        "NAMESPACE",
        "ROLE",
        "DEVICE",
        ">IFINDEX",
        "KIND",
        "MAC",
        ">MTU",
        "ADDRESSES",
    ]);
    for ns in &s.namespaces {
        if !ns.present {
            t.row(vec![ns.name.clone(), ns.role.into(), "(missing)".into()]);
        }
        for l in ns.links.iter().filter(|l| l.name != "lo") {
            t.row(vec![
                ns.name.clone(),
                ns.role.into(),
                l.name.clone(),
                l.ifindex.to_string(),
                l.kind.clone().unwrap_or_default(),
                l.mac.clone().unwrap_or_default(),
                l.mtu.map(|m| m.to_string()).unwrap_or_default(),
                l.addresses.join(" "),
            ]);
        }
    }
    print!("{t}");
    Ok(())
}

#[derive(Serialize)]
struct RunOutput<'a> {
    options: &'a RunOptions,
    runs: Vec<ScenarioReport>,
    medians: Vec<ScenarioMedian>,
}

/// The topology of lab `name`, which must be up and whole.
pub(super) fn complete_lab(name: &str) -> Result<Topology> {
    let s = lab_status(name)?;
    if !s.complete {
        bail!(
            "lab {} is incomplete; run `prism lab up --name {0}` to rebuild it",
            s.name
        );
    }
    Ok(Topology::new(s.config))
}

fn run_scenarios(args: RunArgs) -> Result<()> {
    let topo = complete_lab(&args.lab.name)?;
    let opts = RunOptions {
        duration: args.duration,
        warmup: args.warmup,
        placement: args.placement,
        prober: ProberConfig {
            proto: args.proto,
            size: args.size,
            rate: args.rate,
            ..Default::default()
        },
        tcp_streams: args.streams as usize,
        udp_rate: args.udp_rate,
        apply_rps: !nic_mode_on(),
        ..Default::default()
    };
    if !opts.apply_rps {
        eprintln!(
            "the datapath's nic mode owns the underlays' RPS masks; the placement leaves them alone"
        );
    }
    opts.prober.validate()?;
    let total = args.rounds as usize * args.scenarios.len();
    let per_run = opts.duration + opts.warmup;
    eprintln!(
        "running {total} scenario runs of about {} each (placement {}, prober {:?} {} B at {}/s)",
        humantime::format_duration(per_run),
        opts.placement,
        opts.prober.proto,
        opts.prober.size,
        opts.prober.rate
    );
    let mut done = 0;
    let (runs, medians) =
        scenario::run_rounds(&topo, &args.scenarios, args.rounds as usize, &opts, |r| {
            done += 1;
            eprintln!(
                "[{done}/{total}] round {} {:<4}  p50 {:>8.1} µs  p99 {:>8.1} µs  lost {}{}",
                r.round,
                r.scenario.name(),
                r.latency.p50,
                r.latency.p99,
                r.lost,
                r.background
                    .map(|b| format!("  background {:.2} Gbit/s", b.gbit_per_s))
                    .unwrap_or_default()
            );
        })?;
    if args.json {
        return print_json(&RunOutput {
            options: &opts,
            runs,
            medians,
        });
    }
    let rounds = if args.rounds > 1 {
        format!(", medians of {} rounds", args.rounds)
    } else {
        String::new()
    };
    println!(
        "\nprober round-trip times in µs (placement {}{rounds})",
        opts.placement
    );
    let mut t = Table::new(&[
        "SCENARIO",
        ">SAMPLES",
        ">LOST",
        ">P50",
        ">P90",
        ">P99",
        ">P99.9",
        ">MAX",
        ">BACKGROUND",
    ]);
    for m in &medians {
        let l = m.latency;
        t.row(vec![
            m.scenario.name().into(),
            l.count.to_string(),
            m.lost.to_string(),
            format!("{:.1}", l.p50),
            format!("{:.1}", l.p90),
            format!("{:.1}", l.p99),
            format!("{:.1}", l.p999),
            format!("{:.1}", l.max),
            m.background_gbit_per_s
                .map(|g| format!("{g:.2} Gbit/s"))
                .unwrap_or_else(|| "-".into()),
        ]);
    }
    print!("{t}");
    Ok(())
}

/// Whether the datapath runs in nic or prio mode (which set RPS masks
/// themselves).
fn nic_mode_on() -> bool {
    use prism_datapath::control::Mode;
    prism_datapath::control::State::load()
        .ok()
        .flatten()
        .is_some_and(|s| s.modes.iter().any(|m| matches!(m, Mode::Nic | Mode::Prio)))
}
