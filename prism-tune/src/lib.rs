//! The kernel's receive-path knobs, for `prism tune` and `prism top`:
//! listed with their value, default, range and the stage they act on;
//! changed transactionally (the old values are saved under `/run/prism`
//! before anything changes, and a failed change undoes the others); and
//! restored to exactly what was there, also after a `set` that was killed.

mod access;
pub mod journal;
pub mod knob;
pub mod suggest;

use anyhow::{Context, Result, bail};
use serde::Serialize;

use crate::{
    journal::{Journal, Saved},
    knob::{COALESCE, DEVICE, FEATURES, KnobName, RX_QUEUE, SYSCTLS, Spec, TX_QUEUE},
};

/// One knob as `tune list` shows it.
#[derive(Clone, Debug, Serialize)]
pub struct KnobState {
    pub name: String,
    /// The namespace of a device knob; sysctls are global.
    pub netns: Option<String>,
    pub value: String,
    pub default: Option<&'static str>,
    pub range: String,
    pub stage: &'static str,
    pub about: &'static str,
    /// The value before Prism changed it, if it did.
    pub saved: Option<String>,
}

/// A change made (or undone).
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct Change {
    pub name: String,
    pub netns: Option<String>,
    pub from: String,
    pub to: String,
}

fn state(
    name: &KnobName,
    spec: &Spec,
    netns: Option<&str>,
    value: String,
    j: &Journal,
) -> KnobState {
    KnobState {
        name: name.to_string(),
        netns: netns.map(String::from),
        value,
        default: spec.default,
        range: spec.range.describe(),
        stage: spec.stage,
        about: spec.about,
        saved: j.find(name, netns).map(|s| s.value.clone()),
    }
}

/// Every knob: the sysctls, then each device of namespace `netns` (the
/// current one when `None`) with its own and its queues' attributes.
pub fn list(netns: Option<&str>) -> Result<Vec<KnobState>> {
    let journal = Journal::load()?;
    let mut out = Vec::new();
    // Sysctls from Prism's own namespace: a child one does not show them.
    for spec in &SYSCTLS {
        let name = KnobName {
            device: None,
            key: spec.key.into(),
        };
        if let Ok(v) = access::read(std::path::Path::new("/sys"), &name) {
            out.push(state(&name, spec, None, v, &journal));
        }
    }
    access::in_sysfs(netns, |sys| {
        for (device, keys) in access::device_keys(sys)? {
            for key in keys {
                let name = KnobName {
                    device: Some(device.clone()),
                    key,
                };
                let (_, spec) = KnobName::parse(&name.to_string())?;
                // Some attributes exist but cannot be read on some devices.
                if let Ok(v) = access::read(sys, &name) {
                    out.push(state(&name, &spec, netns, v, &journal));
                }
            }
        }
        Ok(())
    })?;
    Ok(out)
}

/// `KNOB=VALUE` as typed.
pub fn parse_assignment(text: &str) -> Result<(KnobName, Spec, String)> {
    let Some((name, value)) = text.split_once('=') else {
        bail!("{text:?} is not KNOB=VALUE (e.g. net.core.netdev_budget=600)");
    };
    let (name, spec) = KnobName::parse(name.trim())?;
    Ok((name, spec, value.trim().to_string()))
}

/// The namespace a knob is kept per: devices' is theirs, sysctls' global.
fn scope_of<'a>(name: &KnobName, netns: Option<&'a str>) -> Option<&'a str> {
    name.device.as_ref().and(netns)
}

/// Sets every `KNOB=VALUE` or none: all are checked first, the current
/// values saved (the first saved value of a knob is kept across sets), then
/// each is written; if one fails, those written are put back.
pub fn set(netns: Option<&str>, assignments: &[String]) -> Result<Vec<Change>> {
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mut wanted = Vec::new();
    for a in assignments {
        let (name, spec, value) = parse_assignment(a)?;
        spec.range
            .check(&value, cpus)
            .with_context(|| format!("{name}: refused"))?;
        if wanted.iter().any(|(n, _)| n == &name) {
            bail!("{name} is given twice");
        }
        wanted.push((name, value));
    }
    if wanted.is_empty() {
        bail!("nothing to set: give KNOB=VALUE (see prism tune list)");
    }
    let _lock = journal::lock()?;
    let mut journal = Journal::load()?;
    // Each knob where the kernel keeps it: a device's in its namespace,
    // a sysctl in Prism's own (a child namespace does not show them).
    let read =
        |name: &KnobName| access::in_sysfs(scope_of(name, netns), |sys| access::read(sys, name));
    let write = |name: &KnobName, value: &str| {
        access::in_sysfs(scope_of(name, netns), |sys| access::write(sys, name, value))
    };
    let mut before = Vec::new();
    for (name, _) in &wanted {
        before.push(read(name)?);
    }
    // Saved before anything changes: a kill from here on is undone by
    // `restore`.
    for ((name, _), value) in wanted.iter().zip(&before) {
        let ns = scope_of(name, netns);
        if journal.find(name, ns).is_none() {
            journal.saved.push(Saved {
                name: name.clone(),
                netns: ns.map(String::from),
                value: value.clone(),
            });
        }
    }
    journal.save()?;
    let pause = step_pause();
    let mut done: Vec<(&KnobName, Change)> = Vec::new();
    for ((name, value), from) in wanted.iter().zip(&before) {
        std::thread::sleep(pause);
        if let Err(e) = write(name, value) {
            for (n, c) in done.iter().rev() {
                let _ = write(n, &c.from);
            }
            return Err(e.context("nothing was changed"));
        }
        done.push((
            name,
            Change {
                name: name.to_string(),
                netns: scope_of(name, netns).map(String::from),
                from: from.clone(),
                to: read(name).unwrap_or_else(|_| value.clone()),
            },
        ));
    }
    Ok(done.into_iter().map(|(_, c)| c).collect())
}

/// `PRISM_TUNE_STEP_PAUSE_MS`: a pause before each write, so that a test
/// can kill a `set` halfway.
fn step_pause() -> std::time::Duration {
    std::env::var("PRISM_TUNE_STEP_PAUSE_MS")
        .ok()
        .and_then(|v| v.parse().ok())
        .map_or(std::time::Duration::ZERO, std::time::Duration::from_millis)
}

/// Puts back every saved value and forgets them; a knob that cannot be put
/// back (its device is gone) stays saved and is named in the error.
pub fn restore() -> Result<Vec<Change>> {
    let _lock = journal::lock()?;
    let journal = Journal::load()?;
    let mut changes = Vec::new();
    let mut left = Journal::default();
    let mut failures = Vec::new();
    for saved in &journal.saved {
        let r = access::in_sysfs(saved.netns.as_deref(), |sys| {
            let now = access::read(sys, &saved.name)?;
            if now != saved.value {
                access::write(sys, &saved.name, &saved.value)?;
            }
            Ok(now)
        });
        match r {
            Ok(now) => {
                if now != saved.value {
                    changes.push(Change {
                        name: saved.name.to_string(),
                        netns: saved.netns.clone(),
                        from: now,
                        to: saved.value.clone(),
                    });
                }
            }
            Err(e) => {
                failures.push(format!("{}: {e:#}", saved.name));
                left.saved.push(saved.clone());
            }
        }
    }
    left.save()?;
    if !failures.is_empty() {
        bail!(
            "{} knob(s) could not be put back (still saved in {}): {}",
            failures.len(),
            journal::path().display(),
            failures.join("; ")
        );
    }
    Ok(changes)
}

/// The specs, for help and completions.
pub fn specs() -> impl Iterator<Item = &'static Spec> {
    SYSCTLS
        .iter()
        .chain(&DEVICE)
        .chain(&FEATURES)
        .chain(&COALESCE)
        .chain(&RX_QUEUE)
        .chain(&TX_QUEUE)
}
