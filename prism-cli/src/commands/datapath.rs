//! `prism enable`, `disable`, `status` and `rules`.

use std::process::ExitCode;

use anyhow::{Context, Result};
use prism_datapath::{
    control::{self, EnableOptions, mode_names},
    rules::PinnedRules,
    topology::{Plan, Refusal},
    watch::{End, Update},
};
use prism_kernel::caps::{CapSet, require};

use super::{print_json, stat::parse_rules};
use crate::{
    cli::{EnableArgs, RulesCommand},
    signals,
    table::Table,
};

fn require_privileges(what: &str) -> Result<()> {
    require(
        CapSet::current().can_manage_network(),
        what,
        "CAP_BPF and CAP_NET_ADMIN (it attaches TC programs)",
    )
}

pub fn enable(args: EnableArgs) -> Result<ExitCode> {
    let rules = parse_rules(args.rules.texts())?;
    require_privileges("prism enable")?;
    let opts = EnableOptions {
        modes: args.modes,
        rules: (!rules.is_empty()).then_some(rules),
        underlay: args.iface,
        namespaces: args.namespaces,
        priority: args.priority,
        dscp: args.dscp,
        nic_cpu: args.nic_cpu,
        allow_netfilter_bypass: args.allow_netfilter_bypass,
    };
    let report = control::enable(&opts)?;
    let verb = if report.fresh {
        "enabled"
    } else {
        "already enabled; updated"
    };
    println!(
        "datapath {verb}: mode {}, rules: {}, {} new attachments",
        mode_names(&report.state.modes),
        report.rules,
        report.attached
    );
    print_hosts(&report.state.hosts);
    for (ns, warning) in &report.warnings {
        println!("  note: {ns}: {warning}");
    }
    print_refused(&report.refused);
    print_others(&report.others);
    if args.watch {
        watch(&opts)?;
    }
    Ok(ExitCode::SUCCESS)
}

fn print_hosts(hosts: &[control::HostState]) {
    for h in hosts {
        let (how, receive, remotes) = match h.plan {
            Plan::Bridged => ("bridged", h.underlay.clone(), "remote container(s)"),
            Plan::Routed => ("routed", h.underlay.clone(), "remote pod prefix(es)"),
            Plan::Sandbox => (
                "Docker sandbox",
                format!(
                    "{} after its decap (underlay {} in {})",
                    h.vxlan, h.underlay, h.socket_namespace
                ),
                "remote container(s)",
            ),
        };
        println!(
            "  {} ({how}, {} VNI {}): receive on {receive}, transmit on {} container veth(s) [{}], {} {remotes}",
            h.namespace,
            h.vxlan,
            h.vni,
            h.local_containers,
            h.host_veths.join(", "),
            h.remote_containers
        );
    }
}

fn print_refused(refused: &[Refusal]) {
    for r in refused {
        println!(
            "  not served: {} in {}: {}",
            r.device, r.namespace, r.reason
        );
    }
}

fn print_others(others: &[String]) {
    if !others.is_empty() {
        println!(
            "note: other programs share these hooks; they stay attached and run after Prism's, so packets the fast path redirects skip them:"
        );
        for o in others {
            println!("  {o}");
        }
    }
}

/// `enable --watch`: updates on every topology change until Ctrl-C.
fn watch(opts: &EnableOptions) -> Result<()> {
    signals::catch_stop()?;
    println!(
        "watching for container and device changes; Ctrl-C stops watching (the datapath stays enabled)"
    );
    let end = prism_datapath::watch::watch(opts, signals::stop_requested, |update| {
        let stamp = humantime::format_rfc3339_seconds(std::time::SystemTime::now());
        match update {
            Update::Changed { changes, report } => {
                println!(
                    "{stamp} updated after {} link, {} neighbour and {} route change(s){}: {} new attachment(s)",
                    changes.links,
                    changes.neighbours,
                    changes.routes,
                    if changes.overflows > 0 {
                        " (some notifications lost)"
                    } else {
                        ""
                    },
                    report.attached
                );
                print_hosts(&report.state.hosts);
                print_others(&report.others);
            }
            Update::Failed { changes, error } => eprintln!(
                "{stamp} update after {} link, {} neighbour and {} route change(s) failed, will retry on the next change: {error:#}",
                changes.links, changes.neighbours, changes.routes
            ),
        }
        let _ = std::io::Write::flush(&mut std::io::stdout());
    })?;
    match end {
        End::Stopped => {
            println!("stopped watching; the datapath stays enabled (`prism disable` turns it off)")
        }
        End::Disabled => println!("the datapath was disabled; stopped watching"),
    }
    Ok(())
}

pub fn disable() -> Result<ExitCode> {
    require_privileges("prism disable")?;
    match control::disable()? {
        Some(n) => println!("datapath disabled: {n} attachment(s) removed, pins deleted"),
        None => println!("the datapath is not enabled; nothing to do"),
    }
    Ok(ExitCode::SUCCESS)
}

pub fn status(json: bool) -> Result<ExitCode> {
    require_privileges("prism status")?;
    let s = control::status()?;
    if json {
        print_json(&s)?;
        return Ok(ExitCode::SUCCESS);
    }
    if !s.enabled {
        println!("datapath: not enabled (turn it on with `prism enable --high RULE`)");
        print_overlays(&s.overlays);
        return Ok(ExitCode::SUCCESS);
    }
    let mark = if s.modes.contains(&control::Mode::Mark) {
        let dscp = s.dscp.map_or("unchanged".to_string(), |d| {
            prism_rules::dscp_name(d).map_or(d.to_string(), String::from)
        });
        format!(" (skb priority {}, DSCP {dscp})", s.priority)
    } else {
        String::new()
    };
    println!("datapath: enabled, mode {}{mark}", mode_names(&s.modes));
    println!("rules: {}", s.rules.join(", "));
    for h in &s.hosts {
        println!(
            "{}: VNI {} on {}; tables hold {} local and {} remote container(s)",
            h.namespace, h.vni, h.vxlan, h.local_containers, h.remote_containers
        );
    }
    let mut t = Table::new(&["NAMESPACE", "PROGRAM", "DEVICE", "VIA", "ATTACHED"]);
    for h in &s.hosts {
        for a in &h.attachments {
            let attached = if a.attached {
                "yes"
            } else {
                "no (device gone)"
            };
            t.row(vec![
                h.namespace.clone(),
                a.program.into(),
                a.device.clone(),
                a.via.name().into(),
                attached.into(),
            ]);
        }
    }
    print!("\n{t}");
    let mut c = Table::new(&["DIRECTION", "WHAT", "CLASS", ">PACKETS"]);
    for row in &s.counters {
        c.row(vec![
            row.direction.into(),
            row.reason.into(),
            row.class.into(),
            row.packets.to_string(),
        ]);
    }
    print!("\n{c}");
    print_overlays(&s.overlays);
    Ok(ExitCode::SUCCESS)
}

/// The overlays found here, and what the datapath makes of each.
fn print_overlays(overlays: &[control::OverlayStatus]) {
    if overlays.is_empty() {
        println!("\nno VXLAN device found in any network namespace");
        return;
    }
    let mut t = Table::new(&[
        "NAMESPACE",
        "VXLAN",
        ">VNI",
        ">PORT",
        "REACH",
        "UNDERLAY",
        "CONTAINERS",
        ">REMOTE",
        "DATAPATH",
    ]);
    for o in overlays {
        let underlay = match &o.underlay {
            Some(dev) if o.socket_namespace != o.namespace => {
                format!("{dev} in {}", o.socket_namespace)
            }
            Some(dev) => dev.clone(),
            None => "unknown".into(),
        };
        t.row(vec![
            o.namespace.clone(),
            o.device.clone(),
            o.vni.to_string(),
            o.port.to_string(),
            format!("{:?}", o.reach).to_lowercase(),
            underlay,
            if o.containers.is_empty() {
                "none".into()
            } else {
                o.containers.join(",")
            },
            o.remotes.to_string(),
            o.datapath.clone(),
        ]);
    }
    print!("\noverlays found:\n{t}");
}

pub fn rules(cmd: RulesCommand) -> Result<ExitCode> {
    const NOT_ENABLED: &str = "the datapath is not enabled, so there is no rule map; enable it with `prism enable --high RULE`";
    require_privileges("prism rules")?;
    let open = || -> Result<PinnedRules> { PinnedRules::open()?.context(NOT_ENABLED) };
    match cmd {
        RulesCommand::List { json } => {
            let set = open()?.read()?;
            if json {
                print_json(&set)?;
            } else if set.is_empty() {
                println!("no rules");
            } else {
                for rule in set.rules() {
                    println!("{rule}");
                }
            }
        }
        RulesCommand::Add { rule } => {
            let new = parse_rules(&[rule.join(" ")])?;
            let set = control::add_rules(new.rules())?.context(NOT_ENABLED)?;
            println!("added; {} rule(s): {set}", set.len());
        }
        RulesCommand::Del { rule } => {
            let gone = parse_rules(&[rule.join(" ")])?;
            let set = control::delete_rules(gone.rules())?.context(NOT_ENABLED)?;
            println!(
                "deleted; {} rule(s) left{}",
                set.len(),
                if set.is_empty() { "" } else { ":" }
            );
            if !set.is_empty() {
                println!("  {set}");
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
