//! The worker thread: owns the profilers and talks to the datapath, so the
//! screen never waits on the kernel. It attaches in the background (saying
//! which step it is at), samples every interval, and carries out the
//! screen's commands, answering each with a [`Update::Done`].

use std::{
    collections::VecDeque,
    sync::mpsc::{Receiver, RecvTimeoutError},
    thread::JoinHandle,
    time::{Duration, Instant},
};

use anyhow::{Context, Result, bail};
use prism_datapath::{
    control::{self, EnableOptions, Mode, mode_names},
    rules::PinnedRules,
};
use prism_probes::{collector::CollectorConfig, sampler::Sampler, snapshot::Snapshot};
use prism_rules::RuleSet;

use super::{
    app::Command,
    model::{DatapathView, Sample},
    tuner::KnobChange,
};

/// The compare window reaches back this far (or to the latest change).
const WINDOW: Duration = Duration::from_secs(10);
/// The datapath's state and counters are read this often at most (and
/// after each command): reading them walks its pins.
const DATAPATH_REFRESH: Duration = Duration::from_secs(1);
pub struct Config {
    pub rules: RuleSet,
    pub namespaces: Vec<String>,
    pub vxlan_ports: Vec<u16>,
    pub profile: prism_probes::profile::Profile,
    pub interval: Duration,
}

#[derive(Debug)]
pub enum Update {
    Progress(String),
    /// The datapath as found at start.
    Started(DatapathView),
    Attached {
        mechanism: String,
        rules: RuleSet,
    },
    AttachFailed(String),
    /// The receive knobs, and whether this `top` changed some.
    Knobs {
        knobs: Vec<prism_tune::KnobState>,
        tuned: bool,
    },
    Sample(Box<Sample>),
    /// A command's outcome; `marker` labels the trend when the datapath
    /// or the rules changed.
    Done {
        result: Result<String, String>,
        marker: Option<String>,
        rules: RuleSet,
        datapath: DatapathView,
    },
    /// The worker is done; lines to print once the terminal is back.
    Finished(Vec<String>),
}

/// Where updates go: the screen's inbox, which also takes its input.
pub type Outbox = Box<dyn Fn(Update) + Send>;

pub fn spawn(config: Config, commands: Receiver<Command>, updates: Outbox) -> JoinHandle<()> {
    std::thread::Builder::new()
        .name("prism-top-worker".into())
        .spawn(move || {
            let mut worker = Worker::start(config, updates);
            worker.serve(commands);
        })
        .expect("spawn the worker thread")
}

struct Worker {
    config: Config,
    updates: Outbox,
    started: Instant,
    initial: DatapathView,
    sampler: Option<Sampler>,
    /// Snapshots since the window's start, oldest first.
    history: VecDeque<(Instant, Snapshot)>,
    /// The datapath as last read, and when (seconds since start).
    datapath: DatapathView,
    datapath_t: f64,
    /// Rules while the profilers are not attached.
    rules: RuleSet,
    /// Knobs were set from here and not restored yet.
    tuned: bool,
}

impl Worker {
    fn start(config: Config, updates: Outbox) -> Self {
        let say = |s: &str| updates(Update::Progress(s.into()));
        say("reading the datapath's state");
        let initial = datapath_view();
        updates(Update::Started(initial.clone()));
        say("loading and attaching the profiler programs");
        let attached = Sampler::attach(CollectorConfig {
            rules: config.rules.clone(),
            namespaces: config.namespaces.clone(),
            vxlan_ports: config.vxlan_ports.clone(),
            profile: config.profile,
            per_container: true,
            ..Default::default()
        });
        let sampler = match attached {
            Ok(s) => {
                let c = s.collector();
                updates(Update::Attached {
                    mechanism: format!("{}, {} profile", c.mechanism_label(), c.profile()),
                    rules: c.rules().clone(),
                });
                Some(s)
            }
            Err(e) => {
                updates(Update::AttachFailed(format!("{e:#}")));
                None
            }
        };
        let rules = config.rules.clone();
        Self {
            config,
            updates,
            started: Instant::now(),
            initial,
            sampler,
            history: VecDeque::new(),
            datapath: DatapathView::default(),
            datapath_t: f64::NEG_INFINITY,
            rules,
            tuned: false,
        }
    }

    fn serve(&mut self, commands: Receiver<Command>) {
        self.sample();
        let mut next = Instant::now() + self.config.interval;
        loop {
            let wait = next.saturating_duration_since(Instant::now());
            match commands.recv_timeout(wait) {
                Ok(Command::Finish { restore }) => {
                    let lines = self.finish(restore);
                    // Detach the profilers before the screen says goodbye.
                    self.sampler = None;
                    (self.updates)(Update::Finished(lines));
                    return;
                }
                Ok(Command::SetInterval(d)) => {
                    self.config.interval = d;
                    next = Instant::now() + d;
                }
                Ok(Command::ListKnobs) => self.send_knobs(),
                Ok(command) => self.carry_out(command),
                Err(RecvTimeoutError::Timeout) => {
                    self.sample();
                    next += self.config.interval;
                    if next < Instant::now() {
                        // Fell behind (a slow kernel): skip, do not burst.
                        next = Instant::now() + self.config.interval;
                    }
                }
                Err(RecvTimeoutError::Disconnected) => {
                    self.finish(false);
                    return;
                }
            }
        }
    }

    fn rules(&self) -> RuleSet {
        self.sampler
            .as_ref()
            .map_or_else(|| self.rules.clone(), |s| s.collector().rules().clone())
    }

    fn sample(&mut self) {
        let Some(sampler) = self.sampler.as_mut() else {
            return;
        };
        let snapshot = match sampler.sample() {
            Ok(s) => s,
            Err(e) => {
                log::warn!("snapshot: {e:#}");
                return;
            }
        };
        let now = Instant::now();
        self.history.push_back((now, snapshot));
        while self.history.len() > 2 && now - self.history[1].0 >= WINDOW {
            self.history.pop_front();
        }
        let n = self.history.len();
        if n < 2 {
            return;
        }
        let latest = &self.history[n - 1].1;
        let interval = sampler.report(&self.history[n - 2].1, latest);
        let window = sampler.report(&self.history[0].1, latest);
        let containers = sampler.collector().containers();
        let t = self.started.elapsed().as_secs_f64();
        if t - self.datapath_t >= DATAPATH_REFRESH.as_secs_f64() {
            self.refresh_datapath();
        }
        let sample = Sample {
            t,
            interval,
            window,
            datapath: self.datapath.clone(),
            datapath_t: self.datapath_t,
            containers,
        };
        (self.updates)(Update::Sample(Box::new(sample)));
    }

    fn refresh_datapath(&mut self) {
        self.datapath = datapath_view();
        self.datapath_t = self.started.elapsed().as_secs_f64();
    }

    /// Starts the compare window afresh: what follows a change is "now".
    fn restart_window(&mut self) {
        if let Some(last) = self.history.pop_back() {
            self.history.clear();
            self.history.push_back(last);
        }
    }

    fn carry_out(&mut self, command: Command) {
        let outcome = match &command {
            Command::Enable(modes) => self.enable(modes),
            Command::Disable => disable(),
            Command::SetModes(modes) => self.set_modes(modes),
            Command::AddRule(rule) => self
                .edit_rules(|set| set.add(*rule).map_err(Into::into))
                .map(|set| {
                    (
                        format!("rule '{rule}' added; {} rule(s)", set.len()),
                        format!("+{rule}"),
                    )
                }),
            Command::DeleteRule(rule) => self
                .edit_rules(|set| {
                    if !set.remove(rule) {
                        bail!("there is no rule '{rule}'");
                    }
                    Ok(())
                })
                .map(|set| {
                    (
                        format!("rule '{rule}' deleted; {} rule(s)", set.len()),
                        format!("-{rule}"),
                    )
                }),
            Command::Tune(change) => self.tune(change),
            Command::RestoreKnobs => self.restore_knobs(),
            Command::SetInterval(_) | Command::ListKnobs | Command::Finish { .. } => return,
        };
        let (result, marker) = match outcome {
            Ok((text, marker)) => {
                self.restart_window();
                (Ok(text), Some(marker))
            }
            Err(e) => (Err(format!("{e:#}")), None),
        };
        self.refresh_datapath();
        (self.updates)(Update::Done {
            result,
            marker,
            rules: self.rules(),
            datapath: self.datapath.clone(),
        });
        if matches!(command, Command::Tune(_) | Command::RestoreKnobs) {
            self.send_knobs();
        }
    }

    fn send_knobs(&self) {
        match panel_knobs(&self.config.namespaces) {
            Ok(knobs) => (self.updates)(Update::Knobs {
                knobs,
                tuned: self.tuned,
            }),
            Err(e) => (self.updates)(Update::Done {
                result: Err(format!("read the knobs: {e:#}")),
                marker: None,
                rules: self.rules(),
                datapath: self.datapath.clone(),
            }),
        }
    }

    fn tune(&mut self, change: &KnobChange) -> Result<(String, String)> {
        let done = prism_tune::set(change.netns.as_deref(), &[change.assignment()])?;
        self.tuned = true;
        let said: Vec<String> = done
            .iter()
            .map(|c| format!("{} {} -> {}", c.name, c.from, c.to))
            .collect();
        Ok((
            format!("{}; u in the tune panel puts it back", said.join(", ")),
            change.label(),
        ))
    }

    fn restore_knobs(&mut self) -> Result<(String, String)> {
        let back = prism_tune::restore()?;
        self.tuned = false;
        Ok((restored_text(&back), "knobs restored".into()))
    }

    /// Routed overlays stay as `prism enable --allow-netfilter-bypass`
    /// left them: top never grants the bypass by itself.
    fn allow_netfilter_bypass(&self) -> bool {
        control::State::load()
            .ok()
            .flatten()
            .is_some_and(|s| s.allow_netfilter_bypass)
    }

    fn enable(&mut self, modes: &[Mode]) -> Result<(String, String)> {
        let rules = self.rules();
        if rules.is_empty() {
            bail!("no high-priority rules yet: r adds one (e.g. udp port 7777), then e enables");
        }
        let report = control::enable(&EnableOptions {
            modes: modes.to_vec(),
            rules: Some(rules),
            namespaces: self.config.namespaces.clone(),
            allow_netfilter_bypass: self.allow_netfilter_bypass(),
            ..Default::default()
        })?;
        let names = mode_names(modes);
        Ok((
            format!(
                "datapath enabled: mode {names} on {} host(s), {} attachment(s)",
                report.state.hosts.len(),
                report.attached
            ),
            format!("enabled {names}"),
        ))
    }

    fn set_modes(&mut self, modes: &[Mode]) -> Result<(String, String)> {
        let status = control::status()?;
        if !status.enabled {
            bail!("the datapath is off (disabled elsewhere?); e enables it");
        }
        control::enable(&EnableOptions {
            modes: modes.to_vec(),
            namespaces: self.config.namespaces.clone(),
            priority: status.priority,
            dscp: status.dscp,
            allow_netfilter_bypass: self.allow_netfilter_bypass(),
            ..Default::default()
        })?;
        let names = mode_names(modes);
        Ok((
            format!("datapath switched to mode {names}"),
            format!("mode {names}"),
        ))
    }

    /// Applies a rule edit to the profilers' rules and, when the datapath
    /// runs, to its own pinned copy.
    fn edit_rules(&mut self, edit: impl Fn(&mut RuleSet) -> Result<()>) -> Result<RuleSet> {
        let mut set = self.rules();
        edit(&mut set)?;
        if let Some(mut pinned) = PinnedRules::open()? {
            let mut pinned_set = pinned.read()?;
            if pinned_set.rules() != set.rules() {
                edit(&mut pinned_set).context("update the datapath's rules")?;
                if pinned_set.is_empty() {
                    bail!(
                        "the datapath needs at least one rule: add another first, or e disables it"
                    );
                }
                pinned.write(&pinned_set)?;
            }
        }
        match self.sampler.as_mut() {
            Some(s) => s.collector_mut().set_rules(&set)?,
            None => self.rules = set.clone(),
        }
        Ok(set)
    }

    /// On leaving: puts the datapath back as it was, if asked; returns what
    /// to tell the user.
    fn finish(&mut self, restore: bool) -> Vec<String> {
        let mut lines = self.finish_knobs(restore);
        lines.extend(self.finish_datapath(restore));
        lines
    }

    /// Knobs changed from here: put back, or said to be left changed.
    fn finish_knobs(&mut self, restore: bool) -> Vec<String> {
        if !self.tuned {
            return Vec::new();
        }
        if !restore {
            return vec![
                "prism top: the knobs stay as set; `prism tune restore` puts them back".into(),
            ];
        }
        match prism_tune::restore() {
            Ok(back) => vec![format!("prism top: {}", restored_text(&back))],
            Err(e) => vec![format!("prism top: could not restore the knobs: {e:#}")],
        }
    }

    fn finish_datapath(&mut self, restore: bool) -> Vec<String> {
        let now = datapath_view();
        if now.same_as(&self.initial) {
            return Vec::new();
        }
        if !restore {
            return vec![if now.enabled {
                format!(
                    "prism top: the datapath stays enabled (mode {}); `prism disable` turns it off",
                    now.label()
                )
            } else {
                "prism top: the datapath stays disabled; `prism enable` turns it on".into()
            }];
        }
        let restored = if self.initial.enabled {
            RuleSet::parse(&self.initial.rules)
                .map_err(anyhow::Error::from)
                .and_then(|rules| {
                    control::enable(&EnableOptions {
                        modes: self.initial.modes.clone(),
                        rules: Some(rules),
                        namespaces: self.config.namespaces.clone(),
                        priority: self.initial.priority,
                        dscp: self.initial.dscp,
                        allow_netfilter_bypass: self.allow_netfilter_bypass(),
                        ..Default::default()
                    })
                    .map(drop)
                })
        } else {
            control::disable().map(drop)
        };
        match restored {
            Ok(()) => vec![format!(
                "prism top: the datapath is back as it was ({})",
                self.initial.label()
            )],
            Err(e) => vec![format!(
                "prism top: could not restore the datapath ({}): {e:#}",
                self.initial.label()
            )],
        }
    }
}

fn restored_text(back: &[prism_tune::Change]) -> String {
    match back {
        [] => "the knobs were as saved already".into(),
        _ => format!(
            "knobs put back: {}",
            back.iter()
                .map(|c| format!("{}={}", c.name, c.to))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

/// What the tune panel lists: the sysctls, then each device's own knobs
/// (per-queue masks are for `prism tune`) in the namespaces `top` watches,
/// or in its own.
fn panel_knobs(namespaces: &[String]) -> Result<Vec<prism_tune::KnobState>> {
    let own = |k: &prism_tune::KnobState| !k.name.contains("/queues/");
    if namespaces.is_empty() {
        return Ok(prism_tune::list(None)?.into_iter().filter(own).collect());
    }
    let mut out = Vec::new();
    for (i, ns) in namespaces.iter().enumerate() {
        out.extend(
            prism_tune::list(Some(ns))?
                .into_iter()
                .filter(|k| own(k) && (i == 0 || k.netns.is_some())),
        );
    }
    Ok(out)
}

fn disable() -> Result<(String, String)> {
    match control::disable()? {
        Some(n) => Ok((
            format!("datapath disabled: {n} attachment(s) removed"),
            "disabled".into(),
        )),
        None => bail!("the datapath was not enabled"),
    }
}

/// The datapath now; off (with a log line) if its state cannot be read.
fn datapath_view() -> DatapathView {
    match control::brief_status() {
        Ok(s) => s.into(),
        Err(e) => {
            log::warn!("datapath status: {e:#}");
            DatapathView::default()
        }
    }
}
