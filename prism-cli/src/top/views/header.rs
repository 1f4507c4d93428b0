//! The top two lines: where we are, what runs, and the last action's result.

use ratatui::{
    Frame,
    layout::Rect,
    style::{Color, Modifier, Style},
    text::{Line, Span},
    widgets::Paragraph,
};

use crate::top::{app::App, model::Model};

pub fn draw(frame: &mut Frame, area: Rect, app: &App, model: &Model) {
    let bold = Style::default().add_modifier(Modifier::BOLD);
    let datapath = if model.datapath.enabled {
        Span::styled(
            format!("datapath ON {}", model.datapath.label()),
            bold.fg(Color::Green),
        )
    } else {
        Span::styled("datapath off", bold)
    };
    let rules = match model.rules.len() {
        1 => "1 rule".to_string(),
        n => format!("{n} rules"),
    };
    let mut first = vec![
        Span::styled("prism top", bold),
        Span::raw(format!(
            " · {} · {} · {} · ",
            model.host, model.kernel, model.mechanism
        )),
    ];
    if let Some(n) = prism_probes::snapshot::low_sampled(
        model
            .latest
            .as_ref()
            .and_then(|l| l.interval.low_sampled_one_in),
    ) {
        // The low class's numbers are estimates: say so where they show.
        first.push(Span::styled(
            format!("low 1 in {n:.0} · "),
            Style::default().fg(Color::Yellow),
        ));
    }
    first.extend([
        datapath,
        Span::raw(format!(
            " · {rules} · {}",
            humantime::format_duration(app.interval)
        )),
    ]);
    if app.paused {
        first.push(Span::styled(" PAUSED", bold.fg(Color::Red)));
    }
    let second = match &app.notice {
        Some(n) if n.error => Line::styled(n.text.clone(), Style::default().fg(Color::Red)),
        Some(n) => Line::styled(n.text.clone(), Style::default().fg(Color::Green)),
        None if model.rules.is_empty() => Line::styled(
            "no high-priority rules: every packet is low (r adds one)",
            Style::default().fg(Color::DarkGray),
        ),
        None => {
            let mut text = format!("high priority: {}", model.rules);
            let containers = model.latest.as_ref().map(|l| &l.containers);
            if let Some(c) = containers.filter(|c| !c.is_empty()) {
                text.push_str(&format!(" · containers: {}", c.join(", ")));
            }
            Line::styled(text, Style::default().fg(Color::DarkGray))
        }
    };
    frame.render_widget(Paragraph::new(vec![Line::from(first), second]), area);
}
