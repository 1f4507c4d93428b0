//! The tune panel: the receive knobs with their value, default and stage;
//! the selected one's meaning; the value being typed and why it is refused.

use ratatui::{
    Frame,
    layout::Rect,
    style::{Color, Modifier, Style},
    text::{Line, Span},
    widgets::Paragraph,
};

use super::overlays::{dim, popup};
use crate::top::tuner::TunePanel;

pub fn draw(frame: &mut Frame, area: Rect, panel: &TunePanel, knobs: &[prism_tune::KnobState]) {
    let w = area.width.saturating_sub(4).min(110);
    let h = (knobs.len() as u16 + 8).min(area.height.saturating_sub(2));
    let inner = popup(frame, area, w, h, " receive knobs (prism tune) ");
    let rows = inner.height.saturating_sub(5) as usize;
    // The window of rows that keeps the cursor in sight.
    let first = panel.cursor.saturating_sub(rows.saturating_sub(1));
    let name_width = knobs
        .iter()
        .map(|k| label(k).chars().count())
        .max()
        .unwrap_or(0)
        .min(34);
    let bold = Style::default().add_modifier(Modifier::BOLD);
    let mut lines = vec![Line::styled(
        format!(
            "  {:<name_width$} {:>9} {:>9}  stage",
            "knob", "value", "default"
        ),
        bold,
    )];
    if knobs.is_empty() {
        lines.push(Line::styled("  reading the knobs…", dim()));
    }
    for (i, k) in knobs.iter().enumerate().skip(first).take(rows) {
        let changed = if k.saved.is_some() { "*" } else { " " };
        let value = match (&panel.input, i == panel.cursor) {
            (Some(_), true) => "→".to_string(),
            _ => k.value.clone(),
        };
        let text = format!(
            "{changed} {:<name_width$} {:>9} {:>9}  {}",
            truncate(&label(k), name_width),
            truncate(&value, 9),
            k.default.unwrap_or("-"),
            k.stage,
        );
        let text = truncate(&text, inner.width as usize);
        let style = if i == panel.cursor {
            Style::default().add_modifier(Modifier::REVERSED)
        } else if k.saved.is_some() {
            Style::default().fg(Color::Yellow)
        } else {
            Style::default()
        };
        lines.push(Line::styled(text, style));
    }
    while lines.len() < rows + 1 {
        lines.push(Line::raw(""));
    }
    let selected = knobs.get(panel.cursor);
    lines.push(Line::styled(
        selected.map_or(String::new(), |k| {
            let was = k
                .saved
                .as_ref()
                .map_or(String::new(), |s| format!(" (was {s})"));
            let text = format!("{}: {}; range {}{was}", k.name, k.about, k.range);
            truncate(&text, inner.width as usize)
        }),
        dim(),
    ));
    match &panel.input {
        Some(input) => lines.push(Line::from(vec![
            Span::styled("new value: ", bold),
            Span::raw(input.clone()),
            Span::styled("▏", Style::default().add_modifier(Modifier::SLOW_BLINK)),
        ])),
        None => lines.push(Line::raw("")),
    }
    lines.push(match &panel.error {
        Some(e) => Line::styled(e.clone(), Style::default().fg(Color::Red)),
        None => Line::raw(""),
    });
    lines.push(Line::styled(
        match panel.input {
            Some(_) => "Enter: baseline, set, compare · Esc cancels",
            None => "↑↓ select · Enter changes · u undoes all · Esc closes · * changed",
        },
        dim(),
    ));
    frame.render_widget(Paragraph::new(lines), inner);
}

/// A device knob with its namespace: `lab-b:eth0/threaded`.
fn label(k: &prism_tune::KnobState) -> String {
    match &k.netns {
        Some(ns) => format!("{ns}:{}", k.name),
        None => k.name.clone(),
    }
}

fn truncate(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        let mut t: String = s.chars().take(n.saturating_sub(1)).collect();
        t.push('…');
        t
    }
}
