//! `prism report --plot`: an SVG with one panel per stage, showing the
//! cumulative distribution of its latency for the high and the low class
//! on a logarithmic time axis. Plain SVG, no plotting library: a few
//! polylines and labels.

use std::fmt::Write;

use prism_probes_common::hist::{bucket_lower, bucket_upper};
use prism_probes_common::histogram::Histogram;

use crate::summary::Summary;

const PANEL_W: f64 = 300.0;
const PANEL_H: f64 = 190.0;
const MARGIN: f64 = 40.0;
const COLUMNS: usize = 3;
const COLORS: [(&str, &str); 2] = [("high", "#d62728"), ("low", "#1f77b4")];

/// Renders the summary's stage distributions; None when no stage has data.
pub fn svg(summary: &Summary) -> Option<String> {
    let mut panels: Vec<(String, [Option<&Histogram>; 2])> = Vec::new();
    for s in &summary.stages {
        if s.histogram.count == 0 {
            continue;
        }
        let title = format!("{} {}", s.direction, s.stage);
        let slot = usize::from(s.class != "high");
        match panels.iter_mut().find(|(t, _)| *t == title) {
            Some((_, hists)) => hists[slot] = Some(&s.histogram),
            None => {
                let mut hists = [None, None];
                hists[slot] = Some(&s.histogram);
                panels.push((title, hists));
            }
        }
    }
    if panels.is_empty() {
        return None;
    }
    let rows = panels.len().div_ceil(COLUMNS);
    let width = COLUMNS as f64 * (PANEL_W + MARGIN) + MARGIN;
    let height = rows as f64 * (PANEL_H + 2.0 * MARGIN) + MARGIN;
    let mut out = String::new();
    let _ = writeln!(
        out,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" font-family="sans-serif" font-size="11">"#
    );
    let _ = writeln!(
        out,
        r#"<rect width="100%" height="100%" fill="white"/><text x="{MARGIN}" y="20" font-size="14">Per-stage latency, cumulative share of packets ({}, {}); red high, blue low</text>"#,
        escape(&summary.header.host),
        escape(&summary.header.kernel)
    );
    for (i, (title, hists)) in panels.iter().enumerate() {
        let x0 = MARGIN + (i % COLUMNS) as f64 * (PANEL_W + MARGIN);
        let y0 = 2.0 * MARGIN + (i / COLUMNS) as f64 * (PANEL_H + 2.0 * MARGIN);
        panel(&mut out, x0, y0, title, hists);
    }
    out.push_str("</svg>\n");
    Some(out)
}

fn panel(out: &mut String, x0: f64, y0: f64, title: &str, hists: &[Option<&Histogram>; 2]) {
    // The x range: whole decades of µs around the data.
    let (lo, hi) = hists
        .iter()
        .flatten()
        .filter_map(|h| range_ns(h))
        .fold((f64::MAX, 0f64), |(a, b), (l, h)| (a.min(l), b.max(h)));
    let (dec_lo, dec_hi) = (
        (lo / 1000.0).max(0.01).log10().floor(),
        (hi / 1000.0)
            .max(0.1)
            .log10()
            .ceil()
            .max((lo / 1000.0).max(0.01).log10().floor() + 1.0),
    );
    let x_of = |ns: f64| {
        let d = (ns / 1000.0).max(10f64.powf(dec_lo)).log10();
        x0 + (d - dec_lo) / (dec_hi - dec_lo) * PANEL_W
    };
    let y_of = |share: f64| y0 + PANEL_H - share * PANEL_H;
    let _ = writeln!(
        out,
        r##"<text x="{x0}" y="{}" font-size="12">{}</text><rect x="{x0}" y="{y0}" width="{PANEL_W}" height="{PANEL_H}" fill="none" stroke="#999"/>"##,
        y0 - 6.0,
        escape(title)
    );
    let mut d = dec_lo;
    while d <= dec_hi + 1e-9 {
        let x = x0 + (d - dec_lo) / (dec_hi - dec_lo) * PANEL_W;
        let label = us_label(10f64.powf(d));
        let _ = writeln!(
            out,
            r##"<line x1="{x}" y1="{y0}" x2="{x}" y2="{}" stroke="#eee"/><text x="{x}" y="{}" text-anchor="middle">{label}</text>"##,
            y0 + PANEL_H,
            y0 + PANEL_H + 14.0
        );
        d += 1.0;
    }
    for share in [0.5, 0.9, 0.99] {
        let y = y_of(share);
        let _ = writeln!(
            out,
            r##"<line x1="{x0}" y1="{y}" x2="{}" y2="{y}" stroke="#eee"/><text x="{}" y="{}" text-anchor="end">{share}</text>"##,
            x0 + PANEL_W,
            x0 - 3.0,
            y + 4.0
        );
    }
    for (h, (class, color)) in hists.iter().zip(COLORS) {
        let Some(h) = h else { continue };
        let total: u64 = h.buckets.iter().sum();
        if total == 0 {
            continue;
        }
        let mut points = format!("{:.1},{:.1}", x_of(lo), y_of(0.0));
        let mut seen = 0;
        for (i, &n) in h.buckets.iter().enumerate() {
            if n == 0 {
                continue;
            }
            seen += n;
            let _ = write!(
                points,
                " {:.1},{:.1}",
                x_of(bucket_upper(i) as f64),
                y_of(seen as f64 / total as f64)
            );
        }
        let _ = writeln!(
            out,
            r#"<polyline points="{points}" fill="none" stroke="{color}" stroke-width="1.5"><title>{class}: {total} packets</title></polyline>"#
        );
    }
    let _ = writeln!(
        out,
        r#"<text x="{}" y="{}" text-anchor="middle">µs</text>"#,
        x0 + PANEL_W / 2.0,
        y0 + PANEL_H + 28.0
    );
}

/// The lowest and highest bucket bounds (ns) that hold values.
fn range_ns(h: &Histogram) -> Option<(f64, f64)> {
    let first = h.buckets.iter().position(|&n| n > 0)?;
    let last = h.buckets.iter().rposition(|&n| n > 0)?;
    Some((bucket_lower(first) as f64, bucket_upper(last) as f64))
}

fn us_label(us: f64) -> String {
    if us >= 1000.0 {
        format!("{}ms", us / 1000.0)
    } else {
        format!("{us}")
    }
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}
