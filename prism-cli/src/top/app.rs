//! What `prism top` is doing on screen, and what each key does to it. Pure
//! state: no terminal, no kernel; the keys turn into [`Action`]s that the
//! loop carries out (datapath commands go to the worker thread).

use std::time::Duration;

use prism_datapath::control::{Mode, mode_names};
use prism_rules::{Rule, RuleSet};
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers};

use super::{
    editor::{Edit, RuleEditor},
    tuner::{KnobChange, TunePanel},
};

/// Refresh intervals `-` and `+` step through.
pub const INTERVALS: [Duration; 7] = [
    Duration::from_millis(100),
    Duration::from_millis(200),
    Duration::from_millis(500),
    Duration::from_secs(1),
    Duration::from_secs(2),
    Duration::from_secs(5),
    Duration::from_secs(10),
];

/// The modes the picker offers, in its order.
pub const MODES: [(Mode, &str); 4] = [
    (
        Mode::Sync,
        "stream high-priority packets past the overlay's queues",
    ),
    (
        Mode::Mark,
        "set skb->priority (and DSCP) of high-priority packets",
    ),
    (Mode::Nic, "own NIC queue and CPU for high-priority packets"),
    (
        Mode::Prio,
        "own NIC queue, served first on a shared CPU (RT NAPI thread)",
    ),
];

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum View {
    /// Stages, trend, context and counters, refreshed every interval.
    Live,
    /// Baseline vs now, stage by stage.
    Compare,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Overlay {
    None,
    Help,
    Rules(RuleEditor),
    Modes(ModePicker),
    /// The kernel's receive knobs: pick one, change it, undo.
    Tune(TunePanel),
    /// Typing a stage filter.
    Filter(String),
    /// Leaving after the datapath was changed: keep it or put it back?
    ConfirmQuit,
}

#[derive(Clone, Debug, PartialEq)]
pub struct ModePicker {
    pub chosen: [bool; 4],
    pub cursor: usize,
}

impl ModePicker {
    fn new(current: &[Mode]) -> Self {
        Self {
            chosen: MODES.map(|(m, _)| current.contains(&m)),
            cursor: 0,
        }
    }

    fn modes(&self) -> Vec<Mode> {
        MODES
            .iter()
            .zip(self.chosen)
            .filter(|(_, on)| *on)
            .map(|((m, _), _)| *m)
            .collect()
    }
}

/// Requests to the worker thread, which owns the profilers and talks to
/// the datapath.
#[derive(Clone, Debug, PartialEq)]
pub enum Command {
    Enable(Vec<Mode>),
    Disable,
    SetModes(Vec<Mode>),
    AddRule(Rule),
    DeleteRule(Rule),
    SetInterval(Duration),
    /// Read the knobs again (the tune panel opened).
    ListKnobs,
    Tune(KnobChange),
    /// Put back every knob `prism tune` saved.
    RestoreKnobs,
    /// Leave: put the datapath (and knobs changed here) back as they were
    /// at start, or keep them.
    Finish {
        restore: bool,
    },
}

#[derive(Clone, Debug, PartialEq)]
pub enum Action {
    Send(Command),
    TakeBaseline,
    /// Take the baseline, then change the knob, then compare.
    Tune(KnobChange),
}

/// What the app needs to know of the world to decide what a key does.
#[derive(Clone, Copy, Debug)]
pub struct Known<'a> {
    pub rules: &'a RuleSet,
    pub enabled: bool,
    pub modes: &'a [Mode],
    /// The datapath differs from how it was when `top` started.
    pub changed: bool,
    pub has_baseline: bool,
    /// The containers timed one by one, by name.
    pub containers: &'a [String],
    /// The knobs as last read.
    pub knobs: &'a [prism_tune::KnobState],
    /// Knobs were changed from this `top` and are not put back yet.
    pub tuned: bool,
}

/// A line at the bottom confirming (or refusing) the last action.
#[derive(Clone, Debug, PartialEq)]
pub struct Notice {
    pub text: String,
    pub error: bool,
}

#[derive(Clone, Debug, PartialEq)]
pub struct App {
    pub view: View,
    pub overlay: Overlay,
    pub paused: bool,
    /// Stages whose name contains this are shown (empty: all).
    pub filter: String,
    pub interval: Duration,
    pub notice: Option<Notice>,
    /// First stage row shown (the mouse wheel and PageUp/PageDown move it).
    pub scroll: u16,
    /// Set once the user has asked to leave and the worker was told.
    pub leaving: bool,
    /// The modes `e` enables with while the datapath is off.
    pub next_modes: Vec<Mode>,
    /// The container whose stages are shown (None: the host's).
    pub container: Option<String>,
}

impl App {
    pub fn new(interval: Duration) -> Self {
        Self {
            view: View::Live,
            overlay: Overlay::None,
            paused: false,
            filter: String::new(),
            interval,
            notice: None,
            scroll: 0,
            leaving: false,
            next_modes: vec![Mode::Sync],
            container: None,
        }
    }

    pub fn notify(&mut self, text: impl Into<String>, error: bool) {
        self.notice = Some(Notice {
            text: text.into(),
            error,
        });
    }

    /// Handles one key; returns what the loop must do.
    pub fn on_key(&mut self, key: KeyEvent, known: Known) -> Option<Action> {
        if key.kind == KeyEventKind::Release {
            return None;
        }
        let ctrl_c =
            key.code == KeyCode::Char('c') && key.modifiers.contains(KeyModifiers::CONTROL);
        if ctrl_c && !matches!(self.overlay, Overlay::ConfirmQuit) {
            return self.quit(known);
        }
        match std::mem::replace(&mut self.overlay, Overlay::None) {
            Overlay::None => self.on_main_key(key, known),
            Overlay::Help => None, // any key closes it
            Overlay::Rules(editor) => self.on_rules_key(editor, key, known),
            Overlay::Modes(picker) => self.on_modes_key(picker, key, known),
            Overlay::Tune(panel) => self.on_tune_key(panel, key, known),
            Overlay::Filter(text) => {
                self.on_filter_key(text, key);
                None
            }
            Overlay::ConfirmQuit => self.on_confirm_key(key),
        }
    }

    fn on_main_key(&mut self, key: KeyEvent, known: Known) -> Option<Action> {
        match key.code {
            KeyCode::Char('q') => return self.quit(known),
            KeyCode::Esc if self.view == View::Compare => self.view = View::Live,
            KeyCode::Esc if !self.filter.is_empty() => self.filter.clear(),
            KeyCode::Esc => return self.quit(known),
            KeyCode::Char('?') | KeyCode::F(1) => self.overlay = Overlay::Help,
            KeyCode::Char('e') => return Some(self.toggle_datapath(known)),
            KeyCode::Char('m') => {
                let current = if known.enabled {
                    known.modes
                } else {
                    &self.next_modes
                };
                self.overlay = Overlay::Modes(ModePicker::new(current));
            }
            KeyCode::Char('r') => self.overlay = Overlay::Rules(RuleEditor::default()),
            KeyCode::Char('t') => {
                self.overlay = Overlay::Tune(TunePanel::default());
                return Some(Action::Send(Command::ListKnobs));
            }
            KeyCode::Char('b') => {
                self.notify("baseline taken; press c to compare it with now", false);
                return Some(Action::TakeBaseline);
            }
            KeyCode::Char('c') | KeyCode::Tab => self.toggle_compare(known),
            KeyCode::Char('p') | KeyCode::Char(' ') => {
                self.paused = !self.paused;
                let text = if self.paused {
                    "paused: the screen holds still (p resumes)"
                } else {
                    "resumed"
                };
                self.notify(text, false);
            }
            KeyCode::Char('+') | KeyCode::Char('=') => return self.step_interval(1),
            KeyCode::Char('-') => return self.step_interval(-1),
            KeyCode::Char('/') => self.overlay = Overlay::Filter(self.filter.clone()),
            KeyCode::Char('C') => self.next_container(known.containers),
            KeyCode::Down | KeyCode::PageDown | KeyCode::Char('j') => {
                self.scroll = self.scroll.saturating_add(1)
            }
            KeyCode::Up | KeyCode::PageUp | KeyCode::Char('k') => {
                self.scroll = self.scroll.saturating_sub(1)
            }
            _ => {}
        }
        None
    }

    /// Shows the next container's stages, then the host's again.
    fn next_container(&mut self, containers: &[String]) {
        let next = match &self.container {
            None => containers.first(),
            Some(c) => containers.iter().skip_while(|n| *n != c).nth(1),
        };
        self.container = next.cloned();
        match &self.container {
            Some(c) => self.notify(format!("stages of container {c} (C: the next)"), false),
            None if containers.is_empty() => self.notify("no container is timed here", true),
            None => self.notify("stages of the whole host", false),
        }
    }

    fn quit(&mut self, known: Known) -> Option<Action> {
        if known.changed || known.tuned {
            self.overlay = Overlay::ConfirmQuit;
            return None;
        }
        self.leaving = true;
        Some(Action::Send(Command::Finish { restore: false }))
    }

    fn on_confirm_key(&mut self, key: KeyEvent) -> Option<Action> {
        let restore = match key.code {
            KeyCode::Char('k') | KeyCode::Char('y') | KeyCode::Enter => false,
            KeyCode::Char('r') => true,
            KeyCode::Esc | KeyCode::Char('n') | KeyCode::Char('c') => return None,
            _ => {
                self.overlay = Overlay::ConfirmQuit;
                return None;
            }
        };
        self.leaving = true;
        Some(Action::Send(Command::Finish { restore }))
    }

    fn toggle_datapath(&mut self, known: Known) -> Action {
        if known.enabled {
            self.notify("disabling the datapath…", false);
            Action::Send(Command::Disable)
        } else {
            self.notify("enabling the datapath…", false);
            Action::Send(Command::Enable(self.next_modes.clone()))
        }
    }

    fn toggle_compare(&mut self, known: Known) {
        if self.view == View::Compare {
            self.view = View::Live;
        } else if known.has_baseline {
            self.view = View::Compare;
        } else {
            self.notify("no baseline yet: press b to take one first", true);
        }
    }

    fn step_interval(&mut self, by: isize) -> Option<Action> {
        let at = INTERVALS
            .iter()
            .position(|i| *i >= self.interval)
            .unwrap_or(INTERVALS.len() - 1) as isize;
        let next = INTERVALS[(at + by).clamp(0, INTERVALS.len() as isize - 1) as usize];
        if next == self.interval {
            return None;
        }
        self.interval = next;
        self.notify(
            format!("refreshing every {}", humantime::format_duration(next)),
            false,
        );
        Some(Action::Send(Command::SetInterval(next)))
    }

    fn on_rules_key(
        &mut self,
        mut editor: RuleEditor,
        key: KeyEvent,
        known: Known,
    ) -> Option<Action> {
        let edit = match key.code {
            KeyCode::Esc => return None,
            KeyCode::Enter => editor.submit(known.rules),
            KeyCode::Delete => editor.delete_selected(known.rules),
            KeyCode::Char('d') if key.modifiers.contains(KeyModifiers::CONTROL) => {
                editor.delete_selected(known.rules)
            }
            KeyCode::Backspace if editor.input.is_empty() => editor.delete_selected(known.rules),
            KeyCode::Backspace => {
                editor.backspace();
                None
            }
            KeyCode::Up => {
                editor.select(known.rules, true);
                None
            }
            KeyCode::Down => {
                editor.select(known.rules, false);
                None
            }
            KeyCode::Char(c) => {
                editor.type_char(c);
                None
            }
            _ => None,
        };
        self.overlay = Overlay::Rules(editor);
        let command = match edit? {
            Edit::Add(rule) => {
                self.notify(format!("adding rule '{rule}'…"), false);
                Command::AddRule(rule)
            }
            Edit::Delete(rule) => {
                self.notify(format!("deleting rule '{rule}'…"), false);
                Command::DeleteRule(rule)
            }
        };
        Some(Action::Send(command))
    }

    fn on_modes_key(
        &mut self,
        mut picker: ModePicker,
        key: KeyEvent,
        known: Known,
    ) -> Option<Action> {
        match key.code {
            KeyCode::Esc => return None,
            KeyCode::Up | KeyCode::Char('k') => picker.cursor = picker.cursor.saturating_sub(1),
            KeyCode::Down | KeyCode::Char('j') => {
                picker.cursor = (picker.cursor + 1).min(MODES.len() - 1)
            }
            KeyCode::Char(' ') => picker.chosen[picker.cursor] ^= true,
            KeyCode::Char(c @ '1'..='4') => picker.chosen[c as usize - '1' as usize] ^= true,
            KeyCode::Enter => {
                let modes = picker.modes();
                if modes.is_empty() {
                    self.notify("choose at least one mode (space toggles)", true);
                    self.overlay = Overlay::Modes(picker);
                    return None;
                }
                let names = mode_names(&modes);
                if known.enabled {
                    self.notify(format!("switching the datapath to {names}…"), false);
                    return Some(Action::Send(Command::SetModes(modes)));
                }
                self.notify(
                    format!("mode {names}: e enables the datapath with it"),
                    false,
                );
                self.next_modes = modes;
                return None;
            }
            _ => {}
        }
        self.overlay = Overlay::Modes(picker);
        None
    }

    fn on_tune_key(&mut self, mut panel: TunePanel, key: KeyEvent, known: Known) -> Option<Action> {
        let knobs = known.knobs;
        if panel.input.is_some() {
            match key.code {
                KeyCode::Esc => panel.input = None,
                KeyCode::Enter => {
                    if let Some(change) = panel.submit(knobs) {
                        self.notify(
                            format!("baseline taken; setting {}…", change.assignment()),
                            false,
                        );
                        self.view = View::Compare;
                        return Some(Action::Tune(change));
                    }
                }
                KeyCode::Backspace => panel.backspace(),
                KeyCode::Char(c) => panel.type_char(c),
                _ => {}
            }
            self.overlay = Overlay::Tune(panel);
            return None;
        }
        match key.code {
            KeyCode::Esc | KeyCode::Char('t') | KeyCode::Char('q') => return None,
            KeyCode::Up | KeyCode::Char('k') => panel.up(),
            KeyCode::Down | KeyCode::Char('j') => panel.down(knobs),
            KeyCode::Enter => panel.edit(knobs),
            KeyCode::Char('u') => {
                self.overlay = Overlay::Tune(panel);
                self.notify("putting back the knobs prism tune saved…", false);
                return Some(Action::Send(Command::RestoreKnobs));
            }
            _ => {}
        }
        self.overlay = Overlay::Tune(panel);
        None
    }

    fn on_filter_key(&mut self, mut text: String, key: KeyEvent) {
        match key.code {
            KeyCode::Enter => {
                self.filter = text;
                self.scroll = 0;
                return;
            }
            KeyCode::Esc => {
                self.filter.clear();
                return;
            }
            KeyCode::Backspace => {
                text.pop();
            }
            KeyCode::Char(c) => text.push(c),
            _ => {}
        }
        self.overlay = Overlay::Filter(text);
    }

    /// Whether a stage is shown under the current filter.
    pub fn shows(&self, stage: &str) -> bool {
        let filter = match &self.overlay {
            Overlay::Filter(typing) => typing,
            _ => &self.filter,
        };
        filter.is_empty() || stage.contains(filter.trim())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(code: KeyCode) -> KeyEvent {
        KeyEvent::new(code, KeyModifiers::NONE)
    }

    fn known<'a>(rules: &'a RuleSet, enabled: bool) -> Known<'a> {
        Known {
            rules,
            enabled,
            modes: &[Mode::Sync],
            changed: false,
            has_baseline: false,
            containers: &[],
            knobs: &[],
            tuned: false,
        }
    }

    #[test]
    fn shift_c_walks_the_containers_then_back_to_the_host() {
        let rules = RuleSet::default();
        let names = ["a".to_string(), "b".to_string()];
        let k = Known {
            containers: &names,
            ..known(&rules, false)
        };
        let mut app = App::new(Duration::from_secs(1));
        let mut seen = Vec::new();
        for _ in 0..3 {
            app.on_key(key(KeyCode::Char('C')), k);
            seen.push(app.container.clone());
        }
        assert_eq!(seen, [Some("a".into()), Some("b".into()), None]);
        let none = known(&rules, false);
        app.on_key(key(KeyCode::Char('C')), none);
        assert_eq!(app.container, None);
        assert!(app.notice.as_ref().is_some_and(|n| n.error));
    }

    fn type_text(app: &mut App, text: &str, k: Known) -> Option<Action> {
        let mut last = None;
        for c in text.chars() {
            last = app.on_key(key(KeyCode::Char(c)), k);
        }
        last
    }

    #[test]
    fn e_enables_when_off_and_disables_when_on() {
        let rules = RuleSet::default();
        let mut app = App::new(Duration::from_secs(1));
        assert_eq!(
            app.on_key(key(KeyCode::Char('e')), known(&rules, false)),
            Some(Action::Send(Command::Enable(vec![Mode::Sync])))
        );
        assert_eq!(
            app.on_key(key(KeyCode::Char('e')), known(&rules, true)),
            Some(Action::Send(Command::Disable))
        );
    }

    #[test]
    fn the_rule_editor_adds_valid_rules_and_shows_errors_inline() {
        let rules = RuleSet::default();
        let k = known(&rules, false);
        let mut app = App::new(Duration::from_secs(1));
        app.on_key(key(KeyCode::Char('r')), k);
        assert!(matches!(app.overlay, Overlay::Rules(_)));
        type_text(&mut app, "udp port 70000", k);
        assert_eq!(app.on_key(key(KeyCode::Enter), k), None);
        let Overlay::Rules(editor) = &app.overlay else {
            panic!("the editor stays open on an error")
        };
        assert!(editor.error.is_some());
        for _ in 0.."70000".len() {
            app.on_key(key(KeyCode::Backspace), k);
        }
        type_text(&mut app, "7777", k);
        assert_eq!(
            app.on_key(key(KeyCode::Enter), k),
            Some(Action::Send(Command::AddRule(
                "udp port 7777".parse().unwrap()
            )))
        );
        assert!(
            matches!(app.overlay, Overlay::Rules(_)),
            "stays open for more"
        );
        app.on_key(key(KeyCode::Esc), k);
        assert_eq!(app.overlay, Overlay::None);
    }

    #[test]
    fn typing_q_in_the_editor_types_it() {
        let rules = RuleSet::default();
        let k = known(&rules, false);
        let mut app = App::new(Duration::from_secs(1));
        app.on_key(key(KeyCode::Char('r')), k);
        assert_eq!(app.on_key(key(KeyCode::Char('q')), k), None);
        assert!(!app.leaving);
    }

    #[test]
    fn the_editor_deletes_the_selected_rule() {
        let rules = RuleSet::parse(&["udp port 7777"]).unwrap();
        let k = known(&rules, true);
        let mut app = App::new(Duration::from_secs(1));
        app.on_key(key(KeyCode::Char('r')), k);
        app.on_key(key(KeyCode::Down), k);
        assert_eq!(
            app.on_key(key(KeyCode::Delete), k),
            Some(Action::Send(Command::DeleteRule(
                "udp port 7777".parse().unwrap()
            )))
        );
    }

    #[test]
    fn the_mode_picker_toggles_and_applies() {
        let rules = RuleSet::default();
        let mut app = App::new(Duration::from_secs(1));
        let on = known(&rules, true);
        app.on_key(key(KeyCode::Char('m')), on);
        app.on_key(key(KeyCode::Char('2')), on); // + mark
        assert_eq!(
            app.on_key(key(KeyCode::Enter), on),
            Some(Action::Send(Command::SetModes(vec![
                Mode::Sync,
                Mode::Mark
            ])))
        );
        // Off: the choice waits for `e`.
        let off = known(&rules, false);
        app.on_key(key(KeyCode::Char('m')), off);
        app.on_key(key(KeyCode::Char(' ')), off); // - sync
        app.on_key(key(KeyCode::Enter), off);
        assert!(
            matches!(app.notice, Some(Notice { error: true, .. })),
            "no mode chosen"
        );
        app.on_key(key(KeyCode::Down), off);
        app.on_key(key(KeyCode::Down), off);
        app.on_key(key(KeyCode::Char(' ')), off); // + nic
        assert_eq!(app.on_key(key(KeyCode::Enter), off), None);
        assert_eq!(
            app.on_key(key(KeyCode::Char('e')), off),
            Some(Action::Send(Command::Enable(vec![Mode::Nic])))
        );
    }

    #[test]
    fn quitting_asks_only_after_a_change() {
        let rules = RuleSet::default();
        let mut app = App::new(Duration::from_secs(1));
        let mut k = known(&rules, true);
        k.changed = true;
        assert_eq!(app.on_key(key(KeyCode::Char('q')), k), None);
        assert_eq!(app.overlay, Overlay::ConfirmQuit);
        assert_eq!(app.on_key(key(KeyCode::Esc), k), None, "cancel");
        assert_eq!(app.overlay, Overlay::None);
        app.on_key(key(KeyCode::Char('q')), k);
        assert_eq!(
            app.on_key(key(KeyCode::Char('r')), k),
            Some(Action::Send(Command::Finish { restore: true }))
        );
        assert!(app.leaving);

        let mut app = App::new(Duration::from_secs(1));
        let ctrl_c = KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL);
        assert_eq!(
            app.on_key(ctrl_c, known(&rules, false)),
            Some(Action::Send(Command::Finish { restore: false }))
        );
    }

    #[test]
    fn the_tune_panel_baselines_sets_and_compares_and_quitting_asks_after() {
        let rules = RuleSet::default();
        let knobs = crate::top::tuner::fixtures::knobs();
        let mut k = known(&rules, false);
        k.knobs = &knobs;
        let mut app = App::new(Duration::from_secs(1));
        assert_eq!(
            app.on_key(key(KeyCode::Char('t')), k),
            Some(Action::Send(Command::ListKnobs))
        );
        app.on_key(key(KeyCode::Down), k);
        app.on_key(key(KeyCode::Down), k);
        app.on_key(key(KeyCode::Enter), k);
        app.on_key(key(KeyCode::Backspace), k);
        app.on_key(key(KeyCode::Backspace), k);
        // 'q' while typing is typed, not quitting.
        assert_eq!(app.on_key(key(KeyCode::Char('q')), k), None);
        assert!(!app.leaving);
        app.on_key(key(KeyCode::Backspace), k);
        app.on_key(key(KeyCode::Char('8')), k);
        let Some(Action::Tune(change)) = app.on_key(key(KeyCode::Enter), k) else {
            panic!("a valid value is a change")
        };
        assert_eq!(change.assignment(), "net.core.dev_weight=8");
        assert_eq!(app.view, View::Compare, "the compare view shows the effect");
        assert_eq!(app.overlay, Overlay::None);
        app.on_key(key(KeyCode::Char('t')), k);
        assert_eq!(
            app.on_key(key(KeyCode::Char('u')), k),
            Some(Action::Send(Command::RestoreKnobs))
        );
        app.on_key(key(KeyCode::Esc), k);
        k.tuned = true;
        assert_eq!(app.on_key(key(KeyCode::Char('q')), k), None);
        assert_eq!(app.overlay, Overlay::ConfirmQuit);
    }

    #[test]
    fn compare_needs_a_baseline() {
        let rules = RuleSet::default();
        let mut app = App::new(Duration::from_secs(1));
        let mut k = known(&rules, false);
        app.on_key(key(KeyCode::Char('c')), k);
        assert_eq!(app.view, View::Live);
        assert!(app.notice.as_ref().unwrap().error);
        assert_eq!(
            app.on_key(key(KeyCode::Char('b')), k),
            Some(Action::TakeBaseline)
        );
        k.has_baseline = true;
        app.on_key(key(KeyCode::Char('c')), k);
        assert_eq!(app.view, View::Compare);
        app.on_key(key(KeyCode::Esc), k);
        assert_eq!(app.view, View::Live);
    }

    #[test]
    fn interval_steps_stop_at_the_ends() {
        let rules = RuleSet::default();
        let k = known(&rules, false);
        let mut app = App::new(Duration::from_secs(1));
        assert_eq!(
            app.on_key(key(KeyCode::Char('-')), k),
            Some(Action::Send(Command::SetInterval(Duration::from_millis(
                500
            ))))
        );
        for _ in 0..5 {
            app.on_key(key(KeyCode::Char('-')), k);
        }
        assert_eq!(app.interval, Duration::from_millis(100));
        assert_eq!(app.on_key(key(KeyCode::Char('-')), k), None);
    }

    #[test]
    fn the_filter_applies_as_typed_and_esc_clears_it() {
        let rules = RuleSet::default();
        let k = known(&rules, false);
        let mut app = App::new(Duration::from_secs(1));
        app.on_key(key(KeyCode::Char('/')), k);
        type_text(&mut app, "back", k);
        assert!(
            app.shows("backlog") && !app.shows("socket"),
            "live while typing"
        );
        app.on_key(key(KeyCode::Enter), k);
        assert_eq!(app.filter, "back");
        app.on_key(key(KeyCode::Esc), k);
        assert!(app.filter.is_empty());
        assert!(!app.leaving, "the first Esc clears the filter, not quits");
    }

    #[test]
    fn pause_and_help() {
        let rules = RuleSet::default();
        let k = known(&rules, false);
        let mut app = App::new(Duration::from_secs(1));
        app.on_key(key(KeyCode::Char('p')), k);
        assert!(app.paused);
        app.on_key(key(KeyCode::Char('?')), k);
        assert_eq!(app.overlay, Overlay::Help);
        app.on_key(key(KeyCode::Char('x')), k);
        assert_eq!(app.overlay, Overlay::None);
    }
}
