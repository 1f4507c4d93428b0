//! Pop-ups over the view: help, the rule editor, the mode picker, the
//! question on leaving, and the filter line.

use ratatui::{
    Frame,
    layout::Rect,
    style::{Color, Modifier, Style},
    text::{Line, Span},
    widgets::{Block, Clear, Paragraph, Wrap},
};

use super::centered;
use crate::top::{
    app::{App, MODES, Overlay},
    model::Model,
};

/// Every key, as the help overlay lists it.
pub const KEYS: [(&str, &str); 17] = [
    ("e", "enable or disable the datapath"),
    ("m", "choose the datapath mode (sync, mark, nic, prio)"),
    ("r", "edit the high-priority rules"),
    ("t", "tune a receive knob: baseline, change, compare"),
    ("b", "take a baseline (the current window)"),
    ("c, Tab", "compare the baseline with now"),
    ("p, Space", "pause or resume the screen"),
    ("- / +", "refresh faster / slower"),
    ("/", "filter stages by name (Esc clears)"),
    ("↑ ↓ j k", "scroll"),
    ("mouse", "click a key below; the wheel scrolls"),
    ("?, F1", "this help (any key closes it)"),
    ("Esc", "back: close, leave compare, clear filter"),
    (
        "q, Ctrl-C",
        "quit (asks if you changed the datapath or knobs)",
    ),
    ("C", "stages of one container, the next each time"),
    ("bars", "solid to p50, shaded to p99, log scale"),
    ("total", "underlay NIC -> application read"),
];

pub fn draw(frame: &mut Frame, app: &App, model: &Model) {
    let area = frame.area();
    match &app.overlay {
        Overlay::None => {}
        Overlay::Help => help(frame, area),
        Overlay::Tune(panel) => super::tune::draw(frame, area, panel, &model.knobs),
        Overlay::Rules(editor) => {
            let h = 9 + model.rules.len() as u16;
            let popup = popup(frame, area, 64, h, " high-priority rules ");
            let mut lines = Vec::new();
            if model.rules.is_empty() {
                lines.push(Line::styled("no rules yet", dim()));
            }
            for (i, rule) in model.rules.rules().iter().enumerate() {
                let style = if editor.selected == Some(i) {
                    Style::default().add_modifier(Modifier::REVERSED)
                } else {
                    Style::default()
                };
                lines.push(Line::styled(format!("  {rule}"), style));
            }
            lines.push(Line::raw(""));
            let valid = if editor.is_valid() {
                Span::styled(" ✓", Style::default().fg(Color::Green))
            } else {
                Span::raw("")
            };
            lines.push(Line::from(vec![
                Span::styled("add: ", Style::default().add_modifier(Modifier::BOLD)),
                Span::raw(editor.input.clone()),
                Span::styled("▏", Style::default().add_modifier(Modifier::SLOW_BLINK)),
                valid,
            ]));
            match &editor.error {
                Some(e) => lines.push(Line::styled(e.clone(), Style::default().fg(Color::Red))),
                None => lines.push(Line::styled(
                    "e.g. udp port 7777 · tcp dport 11211 · dst 10.0.0.0/8 · dscp ef",
                    dim(),
                )),
            }
            lines.push(Line::raw(""));
            lines.push(Line::styled(
                "Enter adds · ↑↓ select · Del deletes · Esc closes",
                dim(),
            ));
            frame.render_widget(Paragraph::new(lines).wrap(Wrap { trim: false }), popup);
        }
        Overlay::Modes(picker) => {
            let popup = popup(frame, area, 72, 9, " datapath mode ");
            let mut lines = Vec::new();
            for (i, ((mode, what), on)) in MODES.iter().zip(picker.chosen).enumerate() {
                let style = if picker.cursor == i {
                    Style::default().add_modifier(Modifier::REVERSED)
                } else {
                    Style::default()
                };
                let name = format!("{mode:?}").to_lowercase();
                let check = if on { "[x]" } else { "[ ]" };
                lines.push(Line::styled(
                    format!("{} {check} {name:<5} {what}", i + 1),
                    style,
                ));
            }
            lines.push(Line::raw(""));
            lines.push(Line::styled(
                "Space or 1-4 toggle · Enter applies · Esc cancels",
                dim(),
            ));
            frame.render_widget(Paragraph::new(lines), popup);
        }
        Overlay::ConfirmQuit => {
            let popup = popup(frame, area, 60, 8, " leave prism top ");
            let was = model
                .initial
                .as_ref()
                .map_or("unknown".into(), |d| d.label());
            let changed: Vec<String> = model
                .knobs
                .iter()
                .filter(|k| k.saved.is_some())
                .map(|k| format!("{}={}", k.name, k.value))
                .collect();
            let knobs = if model.tuned {
                format!("Knobs changed: {}.", changed.join(", "))
            } else {
                String::new()
            };
            let lines = vec![
                Line::raw(format!(
                    "The datapath was {was} when top started; it is {} now.",
                    model.datapath.label()
                )),
                Line::raw(knobs),
                Line::raw(""),
                Line::from(vec![
                    Span::styled("k", Style::default().add_modifier(Modifier::REVERSED)),
                    Span::raw(" keep it as it is   "),
                    Span::styled("r", Style::default().add_modifier(Modifier::REVERSED)),
                    Span::raw(if model.tuned {
                        format!(" restore ({was}, knobs)   ")
                    } else {
                        format!(" restore it ({was})   ")
                    }),
                    Span::styled("Esc", Style::default().add_modifier(Modifier::REVERSED)),
                    Span::raw(" stay"),
                ]),
            ];
            frame.render_widget(Paragraph::new(lines).wrap(Wrap { trim: false }), popup);
        }
        Overlay::Filter(text) => {
            let line = Rect::new(
                area.x,
                area.bottom().saturating_sub(1),
                area.width,
                1.min(area.height),
            );
            frame.render_widget(Clear, line);
            frame.render_widget(
                Paragraph::new(Line::from(vec![
                    Span::styled(
                        "filter stages: ",
                        Style::default().add_modifier(Modifier::BOLD),
                    ),
                    Span::raw(text.clone()),
                    Span::raw("▏  Enter keeps · Esc clears"),
                ])),
                line,
            );
        }
    }
}

fn help(frame: &mut Frame, area: Rect) {
    let popup = popup(frame, area, 60, KEYS.len() as u16 + 2, " keys ");
    let lines: Vec<Line> = KEYS
        .iter()
        .map(|(k, what)| {
            Line::from(vec![
                Span::styled(
                    format!("{k:>10}  "),
                    Style::default().add_modifier(Modifier::BOLD),
                ),
                Span::raw(*what),
            ])
        })
        .collect();
    frame.render_widget(Paragraph::new(lines), popup);
}

/// Clears a centered box with a border and title; returns its inside.
pub(super) fn popup(frame: &mut Frame, area: Rect, w: u16, h: u16, title: &str) -> Rect {
    let outer = centered(area, w, h);
    frame.render_widget(Clear, outer);
    let block = Block::bordered().title(title.to_string());
    let inner = block.inner(outer);
    frame.render_widget(block, outer);
    inner
}

pub(super) fn dim() -> Style {
    Style::default().fg(Color::DarkGray)
}
