//! Two recordings side by side: stage by stage and class by class, with
//! absolute and relative deltas, and warnings when they were not taken on
//! comparable systems.

use prism_probes_common::histogram::Percentiles;
use serde::Serialize;

use crate::summary::Summary;

#[derive(Clone, Debug, Serialize)]
pub struct Comparison {
    /// Why the two may not be comparable (kernel, stage map, mechanism).
    pub warnings: Vec<String>,
    pub rows: Vec<CompareRow>,
}

#[derive(Clone, Debug, Serialize)]
pub struct CompareRow {
    pub direction: String,
    /// A stage name, or `end-to-end`.
    pub stage: String,
    pub class: &'static str,
    pub a: Percentiles,
    pub b: Percentiles,
    /// b - a, µs, for p50, p99, p99.9.
    pub delta: Quantiles,
    /// b / a - 1 (None when a is 0).
    pub relative: OptQuantiles,
}

#[derive(Clone, Copy, Debug, Serialize)]
pub struct Quantiles {
    pub p50: f64,
    pub p99: f64,
    pub p999: f64,
}

#[derive(Clone, Copy, Debug, Serialize)]
pub struct OptQuantiles {
    pub p50: Option<f64>,
    pub p99: Option<f64>,
    pub p999: Option<f64>,
}

pub fn compare(a: &Summary, b: &Summary) -> Comparison {
    let mut warnings = Vec::new();
    let (ha, hb) = (&a.header, &b.header);
    if ha.kernel != hb.kernel {
        warnings.push(format!("different kernels: {} vs {}", ha.kernel, hb.kernel));
    }
    if ha.mechanism != hb.mechanism {
        warnings.push(format!(
            "different probe mechanisms: {} vs {}",
            ha.mechanism, hb.mechanism
        ));
    }
    let roles = |h: &crate::Header| {
        let mut r: Vec<String> = h
            .devices
            .iter()
            .map(|d| format!("{} {}", d.role, d.name))
            .collect();
        r.sort();
        r
    };
    let stages = |h: &crate::Header| -> Vec<(String, String, bool)> {
        h.stages
            .iter()
            .map(|s| (s.direction.clone(), s.name.clone(), s.present))
            .collect()
    };
    if roles(ha) != roles(hb) || stages(ha) != stages(hb) {
        warnings.push(
            "different stage maps (devices, roles or stages differ): stage rows may not mean the same"
                .into(),
        );
    }
    if ha.rules != hb.rules {
        warnings.push(format!(
            "different rules: [{}] vs [{}]",
            ha.rules.join(", "),
            hb.rules.join(", ")
        ));
    }
    for (name, s) in [("A", a), ("B", b)] {
        if let Some(t) = s.truncated {
            warnings.push(format!("{name} is {t}"));
        }
    }
    let mut rows = Vec::new();
    for sa in &a.stages {
        if let Some(sb) = b.stage(&sa.direction, &sa.stage, sa.class) {
            rows.push(row(
                &sa.direction,
                &sa.stage,
                sa.class,
                sa.latency,
                sb.latency,
            ));
        }
    }
    for ea in &a.end_to_end {
        if let Some(eb) = b
            .end_to_end
            .iter()
            .find(|e| e.direction == ea.direction && e.class == ea.class)
        {
            rows.push(row(
                &ea.direction,
                "end-to-end",
                ea.class,
                ea.latency,
                eb.latency,
            ));
        }
    }
    Comparison { warnings, rows }
}

fn row(
    direction: &str,
    stage: &str,
    class: &'static str,
    a: Percentiles,
    b: Percentiles,
) -> CompareRow {
    let rel = |x: f64, y: f64| (x > 0.0 && a.count > 0 && b.count > 0).then(|| y / x - 1.0);
    CompareRow {
        direction: direction.into(),
        stage: stage.into(),
        class,
        delta: Quantiles {
            p50: b.p50 - a.p50,
            p99: b.p99 - a.p99,
            p999: b.p999 - a.p999,
        },
        relative: OptQuantiles {
            p50: rel(a.p50, b.p50),
            p99: rel(a.p99, b.p99),
            p999: rel(a.p999, b.p999),
        },
        a,
        b,
    }
}
