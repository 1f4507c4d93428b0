//! Per direction, each stage's p50 and p99 for the high and the low class
//! side by side: bars on a log scale (solid to p50, shaded to p99) and the
//! numbers.

use prism_probes::{
    histogram::Percentiles,
    report::{IntervalReport, StageRow},
    snapshot::Class,
    stages::Direction,
};
use ratatui::{
    Frame,
    layout::Rect,
    style::{Color, Modifier, Style},
    text::{Line, Span},
    widgets::{Block, Paragraph},
};

use super::{HIGH, LOW};
use crate::{
    top::{
        app::App,
        model::{Attach, Model},
    },
    units,
};

const NAME_WIDTH: usize = 9;
/// `24ms/120ms`: the widest p50/p99 pair.
const NUMBERS_WIDTH: usize = 11;
const SPINNER: [&str; 8] = ["⣾", "⣽", "⣻", "⢿", "⡿", "⣟", "⣯", "⣷"];

pub fn draw(frame: &mut Frame, area: Rect, app: &App, model: &Model, tick: u64) {
    let container = app.container.as_ref().and_then(|name| {
        let s = model.latest.as_ref()?;
        s.interval.containers.iter().find(|c| &c.name == name)
    });
    let title = match container {
        Some(c) => format!(" stages of container {}: p50/p99 per class ", c.name),
        None => " stages: p50/p99 per class ".to_string(),
    };
    let block = Block::bordered().title(title);
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let report = match (&model.attach, &model.latest) {
        (Attach::Failed(why), _) => {
            let lines = vec![
                Line::styled(
                    "the profilers could not attach:",
                    Style::default().fg(Color::Red),
                ),
                Line::raw(why.clone()),
                Line::raw(""),
                Line::raw("`prism doctor` shows what this kernel allows; q quits"),
            ];
            frame.render_widget(Paragraph::new(lines).wrap(Default::default()), inner);
            return;
        }
        (Attach::Working(step), _) => {
            let spin = SPINNER[tick as usize % SPINNER.len()];
            frame.render_widget(
                Paragraph::new(format!("{spin} {step}…")).wrap(Default::default()),
                inner,
            );
            return;
        }
        (Attach::Ready, None) => {
            let spin = SPINNER[tick as usize % SPINNER.len()];
            frame.render_widget(
                Paragraph::new(format!("{spin} waiting for the first interval…")),
                inner,
            );
            return;
        }
        (Attach::Ready, Some(s)) => &s.interval,
    };
    // One container's figures in the host's layout.
    let of_container;
    let report = match container {
        Some(c) => {
            of_container = IntervalReport {
                stages: c.stages.clone(),
                receive_total: c.receive_total.clone(),
                ..report.clone()
            };
            &of_container
        }
        None => report,
    };
    let lines = lines(report, app, inner.width as usize);
    let scroll = app
        .scroll
        .min(lines.len().saturating_sub(inner.height as usize) as u16);
    frame.render_widget(Paragraph::new(lines).scroll((scroll, 0)), inner);
}

fn lines(report: &IntervalReport, app: &App, width: usize) -> Vec<Line<'static>> {
    let per_class = width.saturating_sub(NAME_WIDTH) / 2;
    let bar_width = per_class.saturating_sub(NUMBERS_WIDTH + 2);
    let scale = report
        .stages
        .iter()
        .map(|r| r.latency.p99)
        .chain(report.receive_total.iter().map(|r| r.latency.p99))
        .fold(100.0, f64::max);
    let mut out = vec![Line::from(vec![
        Span::raw(format!("{:NAME_WIDTH$}", "")),
        Span::styled(format!("{:<per_class$}", "high"), Style::default().fg(HIGH)),
        Span::styled("low", Style::default().fg(LOW)),
    ])];
    for direction in [Direction::Rx, Direction::Tx] {
        let rows: Vec<&StageRow> = report
            .stages
            .iter()
            .filter(|r| r.direction == direction && app.shows(r.stage))
            .collect();
        if rows.is_empty() {
            continue;
        }
        out.push(Line::styled(
            direction.name(),
            Style::default().add_modifier(Modifier::BOLD),
        ));
        let mut names: Vec<&str> = rows.iter().map(|r| r.stage).collect();
        names.dedup();
        for name in names {
            let of = |class| rows.iter().find(|r| r.stage == name && r.class == class);
            let (Some(high), Some(low)) = (of(Class::High), of(Class::Low)) else {
                continue;
            };
            // A stage this host's overlays do not have (a bridge on
            // Calico, a routed hop on Docker) takes no row.
            if !high.present {
                continue;
            }
            let mut spans = vec![Span::raw(format!("{name:NAME_WIDTH$}"))];
            spans.extend(class_cells(
                &high.latency,
                scale,
                bar_width,
                per_class,
                HIGH,
            ));
            spans.extend(class_cells(&low.latency, scale, bar_width, per_class, LOW));
            out.push(Line::from(spans));
        }
        if direction == Direction::Rx && app.shows("total") {
            let total = |class| report.receive_total(class);
            let bold = Style::default().add_modifier(Modifier::BOLD);
            let mut spans = vec![Span::styled(format!("{:NAME_WIDTH$}", "total"), bold)];
            spans.extend(class_cells(
                &total(Class::High),
                scale,
                bar_width,
                per_class,
                HIGH,
            ));
            spans.extend(class_cells(
                &total(Class::Low),
                scale,
                bar_width,
                per_class,
                LOW,
            ));
            out.push(Line::from(spans));
        }
    }
    out
}

fn class_cells(
    p: &Percentiles,
    scale: f64,
    bar_width: usize,
    width: usize,
    color: Color,
) -> Vec<Span<'static>> {
    if p.count == 0 {
        return vec![Span::styled(
            format!("{:<width$}", "-"),
            Style::default().fg(Color::DarkGray),
        )];
    }
    let numbers = format!("{}/{}", units::time(p.p50), units::time(p.p99));
    let numbers_width = width.saturating_sub(bar_width + 1);
    let mut spans = Vec::new();
    if bar_width > 0 {
        let bar = units::bar(
            units::log_fraction(p.p50, scale),
            units::log_fraction(p.p99, scale),
            bar_width,
        );
        spans.push(Span::styled(bar, Style::default().fg(color)));
        spans.push(Span::raw(" "));
    }
    spans.push(Span::raw(format!("{numbers:<numbers_width$}")));
    spans
}
