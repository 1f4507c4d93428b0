//! Drawing: one function per part of the screen, all from `App` + `Model`.
//! ratatui redraws only the cells that changed, so a refresh never flickers.

mod compare;
mod context;
mod header;
mod overlays;
mod stages;
mod trend;
mod tune;

use ratatui::{
    Frame,
    crossterm::event::KeyCode,
    layout::{Constraint, Layout, Rect},
    style::{Color, Modifier, Style},
    text::{Line, Span},
    widgets::Paragraph,
};

use super::{
    app::{App, View},
    model::Model,
};

/// High class, low class, and the datapath's markers.
pub const HIGH: Color = Color::Cyan;
pub const LOW: Color = Color::Yellow;
pub const MARK: Color = Color::Magenta;

/// Keys shown in the footer; a click on one presses it.
const FOOTER: [(&str, &str, KeyCode); 10] = [
    ("e", "on/off", KeyCode::Char('e')),
    ("m", "mode", KeyCode::Char('m')),
    ("r", "rules", KeyCode::Char('r')),
    ("t", "tune", KeyCode::Char('t')),
    ("b", "base", KeyCode::Char('b')),
    ("c", "compare", KeyCode::Char('c')),
    ("p", "pause", KeyCode::Char('p')),
    ("/", "filter", KeyCode::Char('/')),
    ("?", "help", KeyCode::Char('?')),
    ("q", "quit", KeyCode::Char('q')),
];

/// Screen regions the mouse can act on, from the last draw.
#[derive(Clone, Debug, Default)]
pub struct Hits {
    /// (row, first column, last column + 1, key).
    pub keys: Vec<(u16, u16, u16, KeyCode)>,
}

impl Hits {
    pub fn key_at(&self, column: u16, row: u16) -> Option<KeyCode> {
        self.keys
            .iter()
            .find(|(r, a, b, _)| *r == row && (*a..*b).contains(&column))
            .map(|k| k.3)
    }
}

/// Draws the whole screen; `tick` animates the attach spinner.
pub fn draw(frame: &mut Frame, app: &App, model: &Model, tick: u64) -> Hits {
    let [top, body, bottom] = Layout::vertical([
        Constraint::Length(2),
        Constraint::Min(6),
        Constraint::Length(1),
    ])
    .areas(frame.area());
    header::draw(frame, top, app, model);
    match app.view {
        View::Live => draw_live(frame, body, app, model, tick),
        View::Compare => compare::draw(frame, body, app, model),
    }
    let hits = footer(frame, bottom, app);
    overlays::draw(frame, app, model);
    hits
}

fn draw_live(frame: &mut Frame, area: Rect, app: &App, model: &Model, tick: u64) {
    // Side by side when there is room for both; at 80 columns the stage
    // table takes a little more than half.
    let stages_width = if area.width >= 120 {
        area.width * 11 / 20
    } else {
        (area.width * 4 / 7).max(44.min(area.width))
    };
    let [left, right] =
        Layout::horizontal([Constraint::Length(stages_width), Constraint::Min(20)]).areas(area);
    stages::draw(frame, left, app, model, tick);
    let [trend_area, context_area, counters_area] = Layout::vertical([
        Constraint::Min(7),
        Constraint::Length(6),
        Constraint::Length(6),
    ])
    .areas(right);
    trend::draw(frame, trend_area, model);
    context::draw_context(frame, context_area, model);
    context::draw_counters(frame, counters_area, model);
}

fn footer(frame: &mut Frame, area: Rect, app: &App) -> Hits {
    let mut hits = Hits::default();
    let mut spans = Vec::new();
    let mut x = area.x;
    let key_style = Style::default().add_modifier(Modifier::REVERSED);
    for (key, what, code) in FOOTER {
        let what = match (key, app.paused) {
            ("p", true) => "resume",
            _ => what,
        };
        // "k" reversed, then "what", then a gap: key + what + 1 cells.
        let width = (key.len() + what.len() + 1) as u16;
        if x + width > area.right() {
            break;
        }
        hits.keys.push((area.y, x, x + width, code));
        spans.push(Span::styled(key, key_style));
        spans.push(Span::raw(format!("{what} ")));
        x += width;
    }
    frame.render_widget(Paragraph::new(Line::from(spans)), area);
    hits
}

/// A `w` x `h` rectangle in the middle of `area` (clipped to it).
pub fn centered(area: Rect, w: u16, h: u16) -> Rect {
    let w = w.min(area.width);
    let h = h.min(area.height);
    Rect::new(
        area.x + (area.width - w) / 2,
        area.y + (area.height - h) / 2,
        w,
        h,
    )
}

#[cfg(test)]
mod tests {
    //! Every view drawn from fixed model data, compared with snapshots
    //! (`cargo insta review` after an intended change).

    use ratatui::{
        Terminal,
        backend::TestBackend,
        crossterm::event::{KeyEvent, KeyModifiers},
    };

    use super::*;
    use crate::top::{
        app::{Known, Overlay},
        editor::RuleEditor,
        model::{Attach, fixtures},
    };

    fn render(app: &App, model: &Model, w: u16, h: u16) -> String {
        let mut terminal = Terminal::new(TestBackend::new(w, h)).unwrap();
        terminal
            .draw(|f| {
                draw(f, app, model, 3);
            })
            .unwrap();
        let buffer = terminal.backend().buffer().clone();
        let mut out = String::new();
        for y in 0..h {
            let line: String = (0..w)
                .map(|x| buffer[(x, y)].symbol().to_string())
                .collect();
            out.push_str(line.trim_end());
            out.push('\n');
        }
        out
    }

    /// What the fixture model tells the keys: datapath on, changed.
    fn known(m: &Model) -> Known<'_> {
        Known {
            rules: &m.rules,
            enabled: true,
            modes: &m.datapath.modes,
            changed: true,
            has_baseline: true,
            containers: &[],
            knobs: &m.knobs,
            tuned: m.tuned,
        }
    }

    fn app() -> App {
        App::new(std::time::Duration::from_secs(1))
    }

    const SIZES: [(u16, u16); 2] = [(80, 24), (160, 48)];

    fn snapshot_all(name: &str, app: &App, model: &Model) {
        for (w, h) in SIZES {
            insta::assert_snapshot!(format!("{name}_{w}x{h}"), render(app, model, w, h));
        }
    }

    #[test]
    fn live_view() {
        snapshot_all("live", &app(), &fixtures::model());
    }

    #[test]
    fn attaching() {
        let mut m = crate::top::model::Model::new("node-1".into(), "6.18.0".into());
        m.attach = Attach::Working("loading and attaching the profiler programs".into());
        snapshot_all("attaching", &app(), &m);
    }

    #[test]
    fn attach_failed() {
        let mut m = crate::top::model::Model::new("node-1".into(), "6.18.0".into());
        m.attach = Attach::Failed(
            "attach to tracepoint netif_receive_skb (tp_btf): Operation not permitted".into(),
        );
        snapshot_all("attach_failed", &app(), &m);
    }

    #[test]
    fn compare_view() {
        let mut a = app();
        a.view = View::Compare;
        snapshot_all("compare", &a, &fixtures::model());
    }

    #[test]
    fn help_overlay() {
        let mut a = app();
        a.overlay = Overlay::Help;
        snapshot_all("help", &a, &fixtures::model());
    }

    #[test]
    fn rule_editor_with_an_error() {
        let m = fixtures::model();
        let mut a = app();
        a.overlay = Overlay::Rules(RuleEditor::default());
        let known = known(&m);
        for c in "tcp dport 99999".chars() {
            a.on_key(KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE), known);
        }
        snapshot_all("rules", &a, &m);
    }

    #[test]
    fn mode_picker() {
        let m = fixtures::model();
        let mut a = app();
        let known = known(&m);
        a.on_key(KeyEvent::new(KeyCode::Char('m'), KeyModifiers::NONE), known);
        snapshot_all("modes", &a, &m);
    }

    #[test]
    fn confirm_quit_and_filter() {
        let m = fixtures::model();
        let mut a = app();
        a.overlay = Overlay::ConfirmQuit;
        snapshot_all("confirm_quit", &a, &m);
        let mut a = app();
        a.overlay = Overlay::Filter("back".into());
        a.paused = true;
        snapshot_all("filter_paused", &a, &m);
    }

    #[test]
    fn tune_panel_browsing_editing_and_leaving() {
        let mut m = fixtures::model();
        m.knobs = crate::top::tuner::fixtures::knobs();
        m.tuned = true;
        let mut a = app();
        let press = |a: &mut App, m: &Model, code| {
            a.on_key(KeyEvent::new(code, KeyModifiers::NONE), known(m))
        };
        press(&mut a, &m, KeyCode::Char('t'));
        press(&mut a, &m, KeyCode::Down);
        press(&mut a, &m, KeyCode::Down);
        snapshot_all("tune", &a, &m);
        press(&mut a, &m, KeyCode::Enter);
        press(&mut a, &m, KeyCode::Backspace);
        press(&mut a, &m, KeyCode::Backspace);
        press(&mut a, &m, KeyCode::Char('0'));
        press(&mut a, &m, KeyCode::Char('x'));
        press(&mut a, &m, KeyCode::Enter);
        snapshot_all("tune_refused", &a, &m);
        let mut a = app();
        a.overlay = Overlay::ConfirmQuit;
        snapshot_all("confirm_quit_tuned", &a, &m);
    }

    #[test]
    fn footer_clicks_press_keys() {
        let mut terminal = Terminal::new(TestBackend::new(80, 24)).unwrap();
        let mut hits = Hits::default();
        terminal
            .draw(|f| hits = draw(f, &app(), &fixtures::model(), 0))
            .unwrap();
        assert_eq!(hits.key_at(0, 23), Some(KeyCode::Char('e')));
        let q = hits
            .keys
            .iter()
            .find(|k| k.3 == KeyCode::Char('q'))
            .expect("quit shown at 80 columns");
        assert_eq!(hits.key_at(q.1 + 1, 23), Some(KeyCode::Char('q')));
        assert_eq!(hits.key_at(0, 10), None);
    }

    #[test]
    fn tiny_terminals_do_not_panic() {
        for (w, h) in [(1, 1), (20, 5), (40, 10), (79, 23)] {
            render(&app(), &fixtures::model(), w, h);
            let mut a = app();
            a.view = View::Compare;
            a.overlay = Overlay::Help;
            render(&a, &fixtures::model(), w, h);
        }
    }
}
