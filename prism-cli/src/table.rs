//! Plain aligned text tables for terminal output.

use std::fmt;

pub struct Table {
    headers: Vec<String>,
    rows: Vec<Vec<String>>,
    /// Columns aligned to the right (numbers).
    numeric: Vec<bool>,
}

impl Table {
    /// Columns whose header starts with '>' are right-aligned.
    pub fn new(headers: &[&str]) -> Self {
        Self {
            numeric: headers.iter().map(|h| h.starts_with('>')).collect(),
            headers: headers
                .iter()
                .map(|h| h.trim_start_matches('>').to_string())
                .collect(),
            rows: Vec::new(),
        }
    }

    pub fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }
}

impl fmt::Display for Table {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut widths: Vec<usize> = self.headers.iter().map(|h| h.chars().count()).collect();
        for row in &self.rows {
            for (w, cell) in widths.iter_mut().zip(row) {
                *w = (*w).max(cell.chars().count());
            }
        }
        let last = widths.len().saturating_sub(1);
        let line = |f: &mut fmt::Formatter<'_>, cells: &[String]| -> fmt::Result {
            for (i, (cell, w)) in cells.iter().zip(&widths).enumerate() {
                let sep = if i == 0 { "" } else { "  " };
                match (self.numeric[i], i == last) {
                    (true, _) => write!(f, "{sep}{cell:>w$}")?,
                    (false, true) => write!(f, "{sep}{cell}")?,
                    (false, false) => write!(f, "{sep}{cell:<w$}")?,
                }
            }
            writeln!(f)
        };
        line(f, &self.headers)?;
        for row in &self.rows {
            line(f, row)?;
        }
        Ok(())
    }
}

/// A time in µs as tables show it.
pub fn us(v: f64) -> String {
    format!("{v:.1}")
}

/// p50, p90, p99, p99.9 and max cells; dashes when there were no packets.
pub fn latency_cells(p: &prism_probes::histogram::Percentiles) -> Vec<String> {
    if p.count == 0 {
        return vec!["-".into(); 5];
    }
    vec![us(p.p50), us(p.p90), us(p.p99), us(p.p999), us(p.max)]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aligns_text_left_and_numbers_right() {
        let mut t = Table::new(&["NAME", ">P99"]);
        t.row(vec!["tcp".into(), "12.5".into()]);
        t.row(vec!["idle".into(), "3.0".into()]);
        assert_eq!(t.to_string(), "NAME   P99\ntcp   12.5\nidle   3.0\n");
    }
}
