//! The live A/B: the baseline's window against the current one, stage by
//! stage and class by class, with the change in percent (green: faster).

use prism_probes::{histogram::Percentiles, snapshot::Class, stages::Direction};
use ratatui::{
    Frame,
    layout::{Constraint, Rect},
    style::{Color, Modifier, Style},
    text::Line,
    widgets::{Block, Cell, Paragraph, Row, Table},
};

use super::{HIGH, LOW};
use crate::{
    top::{app::App, model::Model},
    units,
};

pub fn draw(frame: &mut Frame, area: Rect, app: &App, model: &Model) {
    let (Some(base), Some(now)) = (&model.baseline, &model.latest) else {
        let block = Block::bordered().title(" compare ");
        frame.render_widget(
            Paragraph::new("no baseline: b takes one, then c compares it with now").block(block),
            area,
        );
        return;
    };
    let title = format!(
        " compare · baseline at {:.0}s (datapath {}, {:.0}s window) → now (datapath {}, {:.0}s window) ",
        base.t,
        base.datapath,
        base.report.seconds,
        now.datapath.label(),
        now.window.seconds
    );
    let header = Row::new([
        "stage", "class", "p50 base", "now", "Δ", "p99 base", "now", "Δ",
    ])
    .style(Style::default().add_modifier(Modifier::BOLD));
    let mut rows = Vec::new();
    for class in Class::ALL {
        let b = base.report.receive_total(class);
        let n = now.window.receive_total(class);
        rows.push(row("receive total".into(), class, &b, &n, true));
    }
    for direction in [Direction::Rx, Direction::Tx] {
        for r in now
            .window
            .stages
            .iter()
            .filter(|r| r.direction == direction && r.present && app.shows(r.stage))
        {
            let Some(b) = base.report.row(direction, r.stage, r.class) else {
                continue;
            };
            if b.latency.count == 0 && r.latency.count == 0 {
                continue; // a path this class took neither time
            }
            let name = format!(
                "{} {}",
                if direction == Direction::Rx {
                    "rx"
                } else {
                    "tx"
                },
                r.stage
            );
            rows.push(row(name, r.class, &b.latency, &r.latency, false));
        }
    }
    let widths = [
        Constraint::Length(14),
        Constraint::Length(5),
        Constraint::Length(9),
        Constraint::Length(8),
        Constraint::Length(6),
        Constraint::Length(9),
        Constraint::Length(8),
        Constraint::Length(6),
    ];
    let block = Block::bordered().title(Line::raw(title));
    let inner_rows = block.inner(area).height.saturating_sub(1) as usize;
    let skip = (app.scroll as usize).min(rows.len().saturating_sub(inner_rows));
    let table = Table::new(rows.into_iter().skip(skip), widths)
        .header(header)
        .column_spacing(1)
        .block(block);
    frame.render_widget(table, area);
}

fn row(
    name: String,
    class: Class,
    base: &Percentiles,
    now: &Percentiles,
    bold: bool,
) -> Row<'static> {
    let t = |p: &Percentiles, v: f64| {
        if p.count == 0 {
            "-".to_string()
        } else {
            units::time(v)
        }
    };
    let change = |b: f64, n: f64| -> Cell<'static> {
        if base.count == 0 || now.count == 0 {
            return Cell::from("");
        }
        let Some(text) = units::delta(b, n) else {
            return Cell::from("");
        };
        let ratio = n / b;
        let color = if ratio < 0.9 {
            Color::Green
        } else if ratio > 1.1 {
            Color::Red
        } else {
            Color::Reset
        };
        Cell::from(text).style(Style::default().fg(color))
    };
    let color = if class == Class::High { HIGH } else { LOW };
    let style = if bold {
        Style::default().add_modifier(Modifier::BOLD)
    } else {
        Style::default()
    };
    Row::new(vec![
        Cell::from(name),
        Cell::from(class.name()).style(Style::default().fg(color)),
        Cell::from(t(base, base.p50)),
        Cell::from(t(now, now.p50)),
        change(base.p50, now.p50),
        Cell::from(t(base, base.p99)),
        Cell::from(t(now, now.p99)),
        change(base.p99, now.p99),
    ])
    .style(style)
}
