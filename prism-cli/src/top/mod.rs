//! `prism top`: the operator's live screen. [`app`] decides what keys do,
//! [`model`] holds what is shown, [`views`] draws it, and [`worker`] owns
//! the profilers and the datapath calls on its own thread, so the screen
//! never blocks on the kernel. This module runs the loop between them; a
//! third thread only reads the terminal.

mod app;
mod editor;
mod model;
mod terminal;
mod tuner;
mod views;
mod worker;

use std::{
    io::IsTerminal,
    process::ExitCode,
    sync::mpsc::{self, Receiver, Sender},
    thread::JoinHandle,
    time::{Duration, Instant},
};

use anyhow::{Result, bail};
use prism_kernel::caps::{CapSet, require};
use ratatui::crossterm::event::{
    self, Event, KeyCode, KeyEvent, KeyModifiers, MouseButton, MouseEventKind,
};

use crate::{cli::TopArgs, commands::parse_rules, signals};
use app::{Action, App, Command, Known};
use model::{Attach, Model};
use worker::Update;

/// How often the loop looks at the stop flag (and animates) when nothing
/// arrives.
const IDLE_WAKE: Duration = Duration::from_millis(200);
const SPINNER_WAKE: Duration = Duration::from_millis(80);
/// How long leaving waits for the worker to restore and detach.
const FINISH_TIMEOUT: Duration = Duration::from_secs(20);

/// What the loop waits for: terminal input or a worker update, in one
/// queue, so it sleeps until either comes.
enum Incoming {
    Terminal(Event),
    Worker(Update),
}

pub fn run(args: TopArgs) -> Result<ExitCode> {
    let rules = parse_rules(args.rules.texts())?;
    require(
        CapSet::current().can_trace(),
        "prism top",
        "CAP_BPF and CAP_PERFMON (it loads tracing programs; CAP_NET_ADMIN too to switch the datapath)",
    )?;
    if !std::io::stdout().is_terminal() || !std::io::stdin().is_terminal() {
        bail!(
            "prism top needs a terminal; for numbers in a pipe or a file use `prism stat` (--json)"
        );
    }
    signals::catch_stop()?;
    let uname = nix::sys::utsname::uname()?;
    let mut model = Model::new(
        uname.nodename().to_string_lossy().into(),
        uname.release().to_string_lossy().into(),
    );
    let (commands, command_rx) = mpsc::channel();
    let (inbox, incoming) = mpsc::channel();
    let to_inbox = inbox.clone();
    let worker = worker::spawn(
        worker::Config {
            rules,
            namespaces: args.scope.namespaces,
            vxlan_ports: args.scope.vxlan_ports,
            profile: args.scope.profile.unwrap_or_default(),
            interval: args.interval,
        },
        command_rx,
        Box::new(move |update| {
            let _ = to_inbox.send(Incoming::Worker(update));
        }),
    );
    let mut app = App::new(args.interval);
    let farewell = {
        let mut session = terminal::Session::start()?;
        spawn_input(inbox);
        event_loop(
            &mut session.screen,
            &mut app,
            &mut model,
            (&commands, &incoming, &worker),
        )?
        // The session ends here: the terminal is restored before we print.
    };
    let _ = worker.join();
    for line in farewell {
        eprintln!("{line}");
    }
    Ok(ExitCode::SUCCESS)
}

/// Reads the terminal on its own thread: a read never holds up drawing,
/// and a terminal that hangs up cannot stall the loop (it still hears
/// SIGHUP and leaves).
fn spawn_input(inbox: Sender<Incoming>) {
    let _ = std::thread::Builder::new()
        .name("prism-top-input".into())
        .spawn(move || {
            while let Ok(e) = event::read() {
                if inbox.send(Incoming::Terminal(e)).is_err() {
                    return;
                }
            }
        });
}

/// Runs until the worker has finished; returns its parting words.
fn event_loop(
    screen: &mut terminal::Screen,
    app: &mut App,
    model: &mut Model,
    (commands, incoming, worker): (&Sender<Command>, &Receiver<Incoming>, &JoinHandle<()>),
) -> Result<Vec<String>> {
    let mut hits = views::Hits::default();
    let mut dirty = true;
    let mut tick = 0u64;
    let mut leaving_since: Option<Instant> = None;
    loop {
        if worker.is_finished() {
            // It says goodbye before it ends; without that, it panicked
            // (the panic hook has put the terminal back and said why).
            while let Ok(item) = incoming.try_recv() {
                if let Incoming::Worker(Update::Finished(lines)) = item {
                    return Ok(lines);
                }
            }
            return Ok(vec![
                "prism top: the worker thread stopped unexpectedly; its programs are detached"
                    .into(),
            ]);
        }
        if signals::stop_requested() && !app.leaving {
            // SIGTERM, SIGHUP or a SIGINT from elsewhere: no one to ask, so
            // the datapath stays as it is and the worker says so.
            app.leaving = true;
            let _ = commands.send(Command::Finish { restore: false });
        }
        if app.leaving {
            let since = *leaving_since.get_or_insert_with(Instant::now);
            if since.elapsed() > FINISH_TIMEOUT {
                return Ok(vec![
                    "prism top: gave up waiting for the worker to finish".into(),
                ]);
            }
        }
        let animating = matches!(model.attach, Attach::Working(_))
            || (model.latest.is_none() && model.attach == Attach::Ready);
        if dirty || animating {
            tick += 1;
            screen.draw(|frame| hits = views::draw(frame, app, model, tick))?;
            dirty = false;
        }
        let wake = if animating { SPINNER_WAKE } else { IDLE_WAKE };
        let mut next = match incoming.recv_timeout(wake) {
            Ok(first) => Some(first),
            Err(mpsc::RecvTimeoutError::Timeout) => None,
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                return Ok(vec![
                    "prism top: the worker thread ended unexpectedly".into(),
                ]);
            }
        };
        // Everything that queued up is handled before the next draw.
        while let Some(item) = next.take() {
            match item {
                Incoming::Worker(Update::Finished(lines)) => return Ok(lines),
                Incoming::Worker(update) => {
                    apply(update, app, model);
                    dirty = true;
                }
                Incoming::Terminal(e) => dirty |= on_terminal_event(e, &hits, app, model, commands),
            }
            next = incoming.try_recv().ok();
        }
    }
}

/// Handles a key, a click or a resize; returns whether to redraw.
fn on_terminal_event(
    e: Event,
    hits: &views::Hits,
    app: &mut App,
    model: &mut Model,
    commands: &Sender<Command>,
) -> bool {
    let key = match e {
        Event::Key(key) => key,
        Event::Mouse(m) => match m.kind {
            MouseEventKind::Down(MouseButton::Left) => match hits.key_at(m.column, m.row) {
                Some(code) => KeyEvent::new(code, KeyModifiers::NONE),
                None => return false,
            },
            MouseEventKind::ScrollDown => KeyEvent::new(KeyCode::Down, KeyModifiers::NONE),
            MouseEventKind::ScrollUp => KeyEvent::new(KeyCode::Up, KeyModifiers::NONE),
            _ => return false,
        },
        Event::Resize(..) => return true,
        _ => return false,
    };
    if app.leaving {
        return false;
    }
    // Debug builds only: a way for the tests to check what a panic leaves.
    #[cfg(debug_assertions)]
    if key.code == KeyCode::F(12) && std::env::var_os("PRISM_TOP_TEST_PANIC").is_some() {
        panic!("PRISM_TOP_TEST_PANIC: F12 pressed");
    }
    let known = Known {
        rules: &model.rules,
        enabled: model.datapath.enabled,
        modes: &model.datapath.modes,
        changed: model.changed(),
        has_baseline: model.baseline.is_some(),
        containers: model
            .latest
            .as_ref()
            .map_or(&[], |l| l.containers.as_slice()),
        knobs: &model.knobs,
        tuned: model.tuned,
    };
    match app.on_key(key, known) {
        Some(Action::Send(command)) => {
            let _ = commands.send(command);
        }
        Some(Action::TakeBaseline) if !model.take_baseline() => {
            app.notify(
                "no interval yet to take as a baseline; try again in a moment",
                true,
            );
        }
        Some(Action::TakeBaseline) => {}
        // The baseline is what the change is compared against: none yet,
        // no change.
        Some(Action::Tune(_)) if !model.take_baseline() => {
            app.view = app::View::Live;
            app.notify(
                "no interval yet to take as the baseline; try again in a moment",
                true,
            );
        }
        Some(Action::Tune(change)) => {
            let _ = commands.send(Command::Tune(change));
        }
        None => {}
    }
    true
}

/// Folds one worker update into the model (and the notice line).
fn apply(update: Update, app: &mut App, model: &mut Model) {
    match update {
        Update::Progress(step) => model.attach = Attach::Working(step),
        Update::Started(datapath) => {
            if datapath.enabled {
                app.next_modes = datapath.modes.clone();
            }
            model.datapath = datapath.clone();
            model.initial = Some(datapath);
        }
        Update::Attached { mechanism, rules } => {
            model.mechanism = mechanism;
            model.rules = rules;
            model.attach = Attach::Ready;
        }
        Update::AttachFailed(why) => model.attach = Attach::Failed(why),
        Update::Knobs { knobs, tuned } => {
            model.knobs = knobs;
            model.tuned = tuned;
        }
        Update::Sample(sample) => {
            if !app.paused {
                model.add_sample(*sample);
            }
        }
        Update::Done {
            result,
            marker,
            rules,
            datapath,
        } => {
            match result {
                Ok(text) => app.notify(text, false),
                Err(text) => app.notify(text, true),
            }
            if let Some(label) = marker {
                let t = model.latest.as_ref().map_or(0.0, |s| s.t);
                model.mark(t, label);
            }
            model.rules = rules;
            model.datapath = datapath;
        }
        Update::Finished(_) => {}
    }
}
