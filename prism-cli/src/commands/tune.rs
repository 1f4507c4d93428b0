//! `prism tune`: the receive path's kernel knobs.

use std::{process::ExitCode, time::Duration};

use anyhow::Result;
use prism_kernel::caps::{CapSet, require};
use prism_probes::{report::IntervalReport, sampler::Sampler, snapshot::Class};
use prism_tune::{Change, suggest::Evidence};

use super::{parse_rules, print_json, probe_config, require_tracing};
use crate::{
    cli::{ProbeScope, RuleArgs, TuneCommand},
    table::Table,
};

fn require_root(what: &str) -> Result<()> {
    require(
        CapSet::current().can_manage_network(),
        what,
        "CAP_NET_ADMIN and CAP_SYS_ADMIN (it writes sysctls and device attributes)",
    )
}

pub fn run(cmd: TuneCommand) -> Result<ExitCode> {
    match cmd {
        TuneCommand::List { netns, json } => {
            if netns.is_some() {
                require_root("prism tune list --netns")?;
            }
            let knobs = prism_tune::list(netns.as_deref())?;
            if json {
                return print_json(&knobs).map(|_| ExitCode::SUCCESS);
            }
            let mut t = Table::new(&["KNOB", ">VALUE", ">DEFAULT", "RANGE", "SAVED", "STAGE"]);
            for k in &knobs {
                t.row(vec![
                    k.name.clone(),
                    k.value.clone(),
                    k.default.unwrap_or("-").to_string(),
                    k.range.clone(),
                    k.saved.clone().unwrap_or_default(),
                    k.stage.to_string(),
                ]);
            }
            print!("{t}");
        }
        TuneCommand::Set {
            assignments,
            netns,
            json,
        } => {
            require_root("prism tune set")?;
            let changes = prism_tune::set(netns.as_deref(), &assignments)?;
            print_changes(&changes, json, "set")?;
            if !json {
                println!("prism tune restore puts back what was there before");
            }
        }
        TuneCommand::Suggest {
            duration,
            rules,
            scope,
            json,
        } => return suggest(duration, &rules, &scope, json),
        TuneCommand::Restore { json } => {
            require_root("prism tune restore")?;
            let changes = prism_tune::restore()?;
            if changes.is_empty() && !json {
                println!("nothing to restore: every knob Prism changed has its old value");
            } else {
                print_changes(&changes, json, "restored")?;
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn print_changes(changes: &[Change], json: bool, verb: &str) -> Result<()> {
    if json {
        return print_json(&changes);
    }
    for c in changes {
        let ns = c
            .netns
            .as_deref()
            .map(|n| format!(" (in {n})"))
            .unwrap_or_default();
        println!("{verb} {}{ns}: {} -> {}", c.name, c.from, c.to);
    }
    Ok(())
}

/// Measures for `duration`, then prints what to try.
fn suggest(
    duration: Duration,
    rules: &RuleArgs,
    scope: &ProbeScope,
    json: bool,
) -> Result<ExitCode> {
    let rules = parse_rules(rules.texts())?;
    require_tracing("prism tune suggest")?;
    let mut sampler = Sampler::attach(probe_config(scope, rules))?;
    eprintln!(
        "prism tune suggest: measuring for {} ({}) ...",
        humantime::format_duration(duration),
        sampler.collector().mechanism_label()
    );
    std::thread::sleep(duration);
    let now = sampler.sample()?;
    let report = sampler.report(sampler.start(), &now);
    drop(sampler);
    let evidence = evidence(&report)?;
    let suggestions = prism_tune::suggest::suggest(&evidence);
    if json {
        print_json(&suggestions)?;
        return Ok(ExitCode::SUCCESS);
    }
    if let Some((direction, stage, p99)) = prism_tune::suggest::dominant(&evidence) {
        println!("the high class waits longest in {direction} {stage}: p99 {p99:.1} µs");
    }
    for s in &suggestions {
        match &s.set {
            Some(set) => {
                let ns = s
                    .netns
                    .as_deref()
                    .map(|n| format!("--netns {n} "))
                    .unwrap_or_default();
                println!("try: prism tune set {ns}{set}\n     {}", s.reason);
            }
            None => println!("note: {}", s.reason),
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// What the suggestions read: the high class's stages, NAPI, softirq and
/// drop figures, and the knobs' current values.
fn evidence(r: &IntervalReport) -> Result<Evidence> {
    Ok(Evidence {
        stages: r
            .stages
            .iter()
            .filter(|s| s.class == Class::High && s.present)
            .map(|s| {
                (
                    s.direction.key().to_string(),
                    s.stage.to_string(),
                    s.latency.count,
                    s.latency.p99,
                )
            })
            .collect(),
        napi: r
            .napi
            .iter()
            .map(|n| (n.device.clone(), n.batch, n.exhausted))
            .collect(),
        softirq_p99: r.softirq.iter().map(|s| s.delay.p99).collect(),
        drops: r
            .drops
            .iter()
            .map(|d| (d.reason.clone(), d.location.clone(), d.count))
            .collect(),
        knobs: prism_tune::list(None)?
            .into_iter()
            .map(|k| (k.name, k.value))
            .collect(),
        cpus: std::thread::available_parallelism().map_or(1, |n| n.get()),
    })
}
