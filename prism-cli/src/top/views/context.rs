//! Why packets wait (softirq delay, NAPI batches, drops) and what the
//! datapath did with them (fast-pathed, passed on, fallbacks).

use ratatui::{
    Frame,
    layout::Rect,
    style::{Color, Style},
    text::{Line, Span},
    widgets::{Block, Paragraph},
};

use crate::{top::model::Model, units};

pub fn draw_context(frame: &mut Frame, area: Rect, model: &Model) {
    let block = Block::bordered().title(" context ");
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let Some(sample) = &model.latest else {
        return;
    };
    let r = &sample.interval;
    let dim = Style::default().fg(Color::DarkGray);
    let mut lines = Vec::new();
    let softirq: Vec<String> = r
        .softirq
        .iter()
        .filter(|s| s.delay.count > 0)
        .map(|s| format!("cpu{} {}", s.cpu, units::time(s.delay.p99)))
        .collect();
    lines.push(Line::from(vec![
        Span::styled("softirq p99 ", dim),
        Span::raw(if softirq.is_empty() {
            "-".into()
        } else {
            softirq.join(" ")
        }),
    ]));
    let mut napi: Vec<_> = r.napi.iter().collect();
    napi.sort_by_key(|n| std::cmp::Reverse(n.packets));
    for n in napi.iter().take(2) {
        lines.push(Line::from(vec![
            Span::styled("napi ", dim),
            Span::raw(format!(
                "{} {:.0}/poll {:.0}% full",
                n.device.rsplit('/').next().unwrap_or(&n.device),
                n.batch,
                n.exhausted * 100.0
            )),
        ]));
    }
    for d in r
        .drops
        .iter()
        .take(inner.height.saturating_sub(lines.len() as u16) as usize)
    {
        lines.push(Line::from(vec![
            Span::styled("drop ", Style::default().fg(Color::Red)),
            Span::raw(format!("{} ×{} {}", d.reason, d.count, d.location)),
        ]));
    }
    if r.drops.is_empty() {
        lines.push(Line::styled("no drops", dim));
    }
    frame.render_widget(Paragraph::new(lines), inner);
}

/// Counter reasons that are not fallbacks.
const NOT_FALLBACK: [&str; 5] = ["fast", "low", "passed", "marked", "steered"];

pub fn draw_counters(frame: &mut Frame, area: Rect, model: &Model) {
    let block = Block::bordered().title(" datapath counters ");
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let dim = Style::default().fg(Color::DarkGray);
    let d = &model.datapath;
    if !d.enabled {
        frame.render_widget(
            Paragraph::new(vec![
                Line::styled("datapath off", dim),
                Line::styled("e enables it (m picks the mode)", dim),
            ]),
            inner,
        );
        return;
    }
    let row = |label: &str, reason: &str| {
        let rate = model
            .counter_rate(reason)
            .map_or(String::new(), |r| format!("  {}/s", units::count(r)));
        Line::from(vec![
            Span::styled(format!("{label:<12}"), dim),
            Span::raw(format!("{}{rate}", units::count(d.packets(reason) as f64))),
        ])
    };
    let mut lines = vec![
        row("fast-pathed", "fast"),
        row("low, passed", "low"),
        row("marked", "marked"),
    ];
    let mut fallbacks: Vec<(&str, u64)> = Vec::new();
    for c in d
        .counters
        .iter()
        .filter(|c| !NOT_FALLBACK.contains(&c.reason))
    {
        match fallbacks.iter_mut().find(|f| f.0 == c.reason) {
            Some(f) => f.1 += c.packets,
            None => fallbacks.push((c.reason, c.packets)),
        }
    }
    let fallbacks: Vec<String> = fallbacks
        .iter()
        .map(|(r, n)| format!("{r} {}", units::count(*n as f64)))
        .collect();
    lines.push(Line::from(vec![
        Span::styled(format!("{:<12}", "fallbacks"), dim),
        Span::raw(if fallbacks.is_empty() {
            "none".into()
        } else {
            fallbacks.join(", ")
        }),
    ]));
    frame.render_widget(Paragraph::new(lines), inner);
}
