//! The last minutes: the high class's end-to-end p99 and the bulk (low
//! class) throughput, each scaled to its own peak, with a vertical line
//! where the datapath was switched or the rules changed.

use ratatui::{
    Frame,
    layout::{Constraint, Layout, Rect},
    style::{Color, Style},
    symbols::Marker,
    text::{Line, Span},
    widgets::{Axis, Block, Chart, Dataset, GraphType, Paragraph},
};

use super::{HIGH, LOW, MARK};
use crate::{top::model::Model, units};

pub fn draw(frame: &mut Frame, area: Rect, model: &Model) {
    let title = match model.markers.back() {
        Some(m) => format!(" trend · {} at {:.0}s ", m.label, m.t),
        None => " trend ".to_string(),
    };
    let block = Block::bordered().title(title);
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let [legend, chart_area] =
        Layout::vertical([Constraint::Length(1), Constraint::Min(1)]).areas(inner);
    let Some(last) = model.trend.back() else {
        frame.render_widget(Paragraph::new("no data yet"), legend);
        return;
    };
    let high_peak = model
        .trend
        .iter()
        .filter_map(|p| p.high_p99)
        .fold(1.0, f64::max);
    let bulk_peak = model.trend.iter().map(|p| p.bulk).fold(1.0, f64::max);
    let now_high = last.high_p99.map_or("-".into(), units::time);
    frame.render_widget(
        Paragraph::new(Line::from(vec![
            Span::styled("━ high e2e p99 ", Style::default().fg(HIGH)),
            Span::raw(format!("{now_high} (peak {}) ", units::time(high_peak))),
            Span::styled("━ bulk ", Style::default().fg(LOW)),
            Span::raw(units::rate(last.bulk)),
        ])),
        legend,
    );
    let first_t = model.trend.front().map_or(0.0, |p| p.t);
    let span = (last.t - first_t).max(10.0);
    let x0 = last.t - span;
    // At 10 Hz five minutes are 3000 points; a braille cell is 2 dots
    // wide, so more than two points a column only costs drawing time.
    let per_dot = model
        .trend
        .len()
        .div_ceil(2 * chart_area.width.max(1) as usize)
        .max(1);
    let points: Vec<_> = model.trend.iter().collect();
    let high: Vec<(f64, f64)> = points
        .chunks(per_dot)
        .filter_map(|c| {
            let peak = c.iter().filter_map(|p| p.high_p99).reduce(f64::max)?;
            Some((c[c.len() - 1].t, peak / high_peak))
        })
        .collect();
    let bulk: Vec<(f64, f64)> = points
        .chunks(per_dot)
        .map(|c| {
            let mean = c.iter().map(|p| p.bulk).sum::<f64>() / c.len() as f64;
            (c[c.len() - 1].t, mean / bulk_peak)
        })
        .collect();
    let markers: Vec<[(f64, f64); 2]> = model
        .markers
        .iter()
        .filter(|m| m.t >= x0)
        .map(|m| [(m.t, 0.0), (m.t, 1.05)])
        .collect();
    let line = |data, color| {
        Dataset::default()
            .data(data)
            .graph_type(GraphType::Line)
            .marker(Marker::Braille)
            .style(Style::default().fg(color))
    };
    let mut datasets: Vec<Dataset> = markers.iter().map(|m| line(m, MARK)).collect();
    datasets.push(line(&bulk, LOW));
    datasets.push(line(&high, HIGH));
    let span_label = format!(
        "-{}",
        humantime::format_duration(std::time::Duration::from_secs(span as u64))
    );
    let chart = Chart::new(datasets)
        .x_axis(
            Axis::default()
                .bounds([x0, last.t])
                .labels([Span::raw(span_label), Span::raw("now")])
                .style(Style::default().fg(Color::DarkGray)),
        )
        .y_axis(Axis::default().bounds([0.0, 1.05]));
    frame.render_widget(chart, chart_area);
}
