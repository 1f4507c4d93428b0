//! `prism record`: the profilers' output into a trace file.

use std::{
    path::Path,
    process::ExitCode,
    time::{Duration, Instant},
};

use anyhow::{Context, Result, bail};
use indicatif::{HumanBytes, ProgressBar, ProgressStyle};
use prism_probes::{
    collector::{CollectorConfig, EventSampling},
    profile::Profile,
    recorder::{Recorder, RecordingInfo},
    sampler::Sampler,
};

use super::{parse_rules, probe_config, require_tracing};
use crate::{cli::RecordArgs, signals};

/// How often events are moved from the kernel's ring buffer to the file:
/// often enough that the 4 MiB ring rarely fills.
const DRAIN_EVERY: Duration = Duration::from_millis(10);

/// The profile a recording runs: every packet's events need every packet
/// timed, so `--events all` means full unless another profile was asked
/// for, which is an error; otherwise the default.
fn profile_for(asked: Option<Profile>, events: EventSampling) -> Result<Profile> {
    match (asked, events) {
        (None, EventSampling::All) => Ok(Profile::Full),
        (Some(p), EventSampling::All) if p != Profile::Full => bail!(
            "--events all records every packet, and the {p} profile times only a sample of the low class; \
             use --profile full, or --events sample:N or none"
        ),
        (asked, _) => Ok(asked.unwrap_or_default()),
    }
}

pub fn run(args: RecordArgs) -> Result<ExitCode> {
    let rules = parse_rules(args.rules.texts())?;
    let profile = profile_for(args.scope.profile, args.events)?;
    check_output(&args.output)?;
    require_tracing("prism record")?;
    signals::catch_stop()?;
    // Recordings keep every container's figures beside the host's.
    let mut sampler = Sampler::attach(CollectorConfig {
        events: args.events,
        profile,
        per_container: true,
        ..probe_config(&args.scope, rules)
    })?;
    let collector = sampler.collector();
    let info = RecordingInfo {
        command: std::env::args().collect(),
        snapshot_interval_ns: args.interval.as_nanos() as u64,
        events: args.events,
        datapath: datapath_status(),
    };
    let mut recorder = Recorder::create(&args.output, &sampler, info)?;
    eprintln!(
        "prism record: {} to {} ({}, {} profile, rules: {}); Ctrl-C to stop",
        match args.duration {
            Some(d) => humantime::format_duration(d).to_string(),
            None => "until Ctrl-C".into(),
        },
        args.output.display(),
        collector.mechanism_label(),
        collector.profile(),
        if collector.rules().is_empty() {
            "none".to_string()
        } else {
            collector.rules().to_string()
        }
    );
    let progress = ProgressBar::new_spinner();
    progress.set_style(
        ProgressStyle::with_template("{spinner} {elapsed_precise} {msg}").expect("valid template"),
    );
    let start = Instant::now();
    let mut next_snapshot = start + args.interval;
    let end = loop {
        if signals::stop_requested() {
            break "signal";
        }
        if args.duration.is_some_and(|d| start.elapsed() >= d) {
            break "duration";
        }
        recorder.drain_events(&mut sampler)?;
        if Instant::now() >= next_snapshot {
            recorder.take_snapshot(&mut sampler)?;
            next_snapshot += args.interval;
        }
        progress.set_message(format!(
            "{} events, {} written, {} lost",
            recorder.events_written(),
            HumanBytes(recorder.bytes()),
            recorder.events_lost()
        ));
        progress.tick();
        std::thread::sleep(DRAIN_EVERY);
    };
    let footer = recorder.finish(&mut sampler, end)?;
    progress.finish_and_clear();
    // Dropping the sampler detaches every program.
    drop(sampler);
    eprintln!(
        "prism record: {:.1} s, {} snapshots, {} events ({} lost), {} written to {}",
        footer.duration_ns as f64 / 1e9,
        footer.snapshots,
        footer.events,
        footer.events_lost,
        HumanBytes(footer.bytes),
        args.output.display()
    );
    Ok(ExitCode::SUCCESS)
}

/// Refuses an output the recording could not be written to, before
/// anything is attached.
fn check_output(path: &Path) -> Result<()> {
    if path.is_dir() {
        anyhow::bail!("{} is a directory; give a file name", path.display());
    }
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    if !dir.is_dir() {
        anyhow::bail!("{}: no such directory", dir.display());
    }
    Ok(())
}

/// `prism status --json` of the datapath, for the trace's header.
fn datapath_status() -> serde_json::Value {
    prism_datapath::control::status()
        .context("read the datapath's status")
        .and_then(|s| Ok(serde_json::to_value(s)?))
        .unwrap_or_else(|e| serde_json::json!({ "error": format!("{e:#}") }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_event_needs_the_full_profile() {
        let all = EventSampling::All;
        assert_eq!(profile_for(None, all).unwrap(), Profile::Full);
        assert_eq!(
            profile_for(Some(Profile::Full), all).unwrap(),
            Profile::Full
        );
        let e = profile_for(Some(Profile::AlwaysOn), all).unwrap_err();
        assert!(e.to_string().contains("--profile full"), "{e}");
        for events in [EventSampling::Off, EventSampling::OneIn(10)] {
            assert_eq!(profile_for(None, events).unwrap(), Profile::AlwaysOn);
            assert_eq!(
                profile_for(Some(Profile::Full), events).unwrap(),
                Profile::Full
            );
        }
    }
}
