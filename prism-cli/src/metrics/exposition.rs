//! What one scrape exports, and its OpenMetrics text. Figures are
//! cumulative since the profilers attached, as Prometheus expects of
//! counters and histograms; latencies are in seconds with cumulative
//! buckets at Prism's own log-linear bounds (the conventions of
//! ebpf_exporter and netstacklat).

use std::borrow::Cow;

use prism_probes::{
    histogram::Histogram,
    snapshot::{COUNTER_NAMES, Class, Counters},
    stages::Direction,
};
use prism_probes_common::{
    counter,
    hist::{BUCKETS, bucket_of, bucket_upper},
};
use prometheus_client::{
    collector::Collector,
    encoding::{DescriptorEncoder, EncodeMetric, NoLabelSet},
    metrics::{MetricType, counter::ConstCounter, gauge::ConstGauge},
    registry::{Registry, Unit},
};

/// The smallest bound exported: below it every stage is "fast", and the
/// finer buckets would only lengthen each series.
const SMALLEST_BOUND_NS: u64 = 64;

/// Label pairs of one series.
type Labels = Vec<(&'static str, String)>;

/// One histogram series: its labels and its figures.
#[derive(Clone, Debug)]
pub struct Series {
    pub labels: Labels,
    pub histogram: Histogram,
}

/// One datapath counter: what the datapath did with how many packets.
#[derive(Clone, Debug)]
pub struct DatapathCount {
    pub direction: &'static str,
    pub reason: &'static str,
    pub class: &'static str,
    pub packets: u64,
}

/// Everything one scrape exports.
#[derive(Clone, Debug, Default)]
pub struct Exposition {
    /// `node`, and later labels every series carries.
    pub node: String,
    pub profile: String,
    pub mechanism: String,
    pub rules: String,
    /// Per (direction, stage, class), for the stages this host has.
    pub stages: Vec<Series>,
    /// Whole receive journeys, per class.
    pub receive_total: Vec<Series>,
    /// NET_RX softirq raise -> run, per CPU.
    pub softirq: Vec<Series>,
    /// Per (container, direction, stage, class), for the local containers.
    pub container_stages: Vec<Series>,
    /// Whole receive journeys per (container, class).
    pub container_receive_total: Vec<Series>,
    /// Local containers beyond the kernel's slots (host figures only).
    pub containers_overflow: usize,
    pub counters: Counters,
    /// Drops by reason and kernel location.
    pub drops: Vec<(String, String, u64)>,
    /// None when the datapath is not enabled.
    pub datapath: Option<Vec<DatapathCount>>,
}

impl Exposition {
    /// The series of one stage and class.
    pub fn stage_series(direction: Direction, stage: &str, class: Class, h: Histogram) -> Series {
        Series {
            labels: vec![
                ("direction", direction.key().to_string()),
                ("stage", stage.to_string()),
                ("class", class.name().to_string()),
            ],
            histogram: h,
        }
    }

    /// The labels of a container: its name, and its pod and the pod's
    /// namespace (empty outside Kubernetes).
    pub fn container_labels(name: &str, pod: Option<&(String, String)>) -> Labels {
        let (pod, namespace) = pod.cloned().unwrap_or_default();
        vec![
            ("container", name.to_string()),
            ("pod", pod),
            ("namespace", namespace),
        ]
    }

    pub fn class_series(class: Class, h: Histogram) -> Series {
        Series {
            labels: vec![("class", class.name().to_string())],
            histogram: h,
        }
    }

    /// The OpenMetrics text of this scrape.
    pub fn render(self) -> String {
        let node = self.node.clone();
        let mut registry =
            Registry::with_labels([(Cow::Borrowed("node"), Cow::Owned(node))].into_iter());
        registry.register_collector(Box::new(self));
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &registry)
            .expect("writing to a String cannot fail");
        out
    }
}

/// How finely a family's buckets are exported.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Resolution {
    /// Every Prism bucket: four per power of two (the host's families).
    Fine,
    /// One per power of two: per-container families, which a node with
    /// dozens of containers multiplies.
    Coarse,
}

/// `(le in seconds, count)` per bucket at Prism's bounds from
/// [`SMALLEST_BOUND_NS`] up, ending with `+Inf` (the top bucket); the
/// encoder writes them cumulative. A bound is its bucket's largest value
/// (values are whole ns), so `le` is exact. Coarse buckets end where a
/// power of two does (Prism's fourth sub-bucket of each).
pub fn bucket_counts(h: &Histogram, resolution: Resolution) -> Vec<(f64, u64)> {
    let first = bucket_of(SMALLEST_BOUND_NS);
    let mut pending: u64 = h.buckets[..first].iter().sum();
    let mut out = Vec::new();
    for i in first..BUCKETS {
        pending += h.buckets[i];
        let top = i == BUCKETS - 1;
        let bound = resolution == Resolution::Fine || i % 4 == 3;
        if top {
            out.push((f64::INFINITY, pending));
        } else if bound {
            out.push((bucket_upper(i) as f64 / 1e9, pending));
            pending = 0;
        }
    }
    out
}

fn encode_histograms(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    series: &[Series],
    resolution: Resolution,
) -> Result<(), std::fmt::Error> {
    if series.is_empty() {
        return Ok(());
    }
    let mut family =
        encoder.encode_descriptor(name, help, Some(&Unit::Seconds), MetricType::Histogram)?;
    for s in series {
        let h = &s.histogram;
        let buckets = bucket_counts(h, resolution);
        // The count is the buckets' total, so `+Inf` equals `_count` even
        // when a lockless per-CPU update was read half done.
        let count = buckets.iter().map(|(_, n)| n).sum();
        family
            .encode_family(&s.labels)?
            .encode_histogram::<NoLabelSet>(h.sum_ns as f64 / 1e9, count, &buckets, None)?;
    }
    Ok(())
}

fn encode_counter(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    rows: impl IntoIterator<Item = (Labels, u64)>,
) -> Result<(), std::fmt::Error> {
    let rows: Vec<_> = rows.into_iter().collect();
    if rows.is_empty() {
        return Ok(());
    }
    let mut family = encoder.encode_descriptor(name, help, None, MetricType::Counter)?;
    for (labels, v) in rows {
        ConstCounter::new(v).encode(family.encode_family(&labels)?)?;
    }
    Ok(())
}

fn encode_gauge(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    labels: Labels,
    v: i64,
) -> Result<(), std::fmt::Error> {
    let mut family = encoder.encode_descriptor(name, help, None, MetricType::Gauge)?;
    ConstGauge::new(v).encode(family.encode_family(&labels)?)
}

/// What each tracker counter counts, for its HELP line.
fn counter_help(index: u32) -> &'static str {
    match index {
        counter::HITS => "Stage boundaries crossed on tracked devices and sockets",
        counter::STARTED => "Packet journeys begun (the low class scaled by its sampling)",
        counter::RESTARTED => "Journeys begun again at an address freed untraced and reused",
        counter::GRO_MERGED => "Packets merged into another by GRO (their journey ends there)",
        counter::UNMAPPED => "Journeys that turned up where no stage leads (they end there)",
        counter::CONSUMED => "Journeys whose packet was consumed normally",
        counter::DROPPED => "Journeys that ended in a drop",
        counter::EVENTS_LOST => "Per-packet events the ring buffer had no room for",
        counter::UNPARSED => "Packets whose headers could not be parsed (classified low)",
        counter::EVENTS => "Per-packet events written to the ring buffer",
        counter::COMPLETED => "Journeys that ended with the application reading the packet",
        counter::EVICTED => "Journeys lost because another packet took their slot",
        counter::LOW_JOURNEYS => "Low-class journeys begun, timed or sampled out",
        counter::LOW_TIMED => "Low-class journeys timed: journeys / timed is the sampling's N",
        _ => "A counter of the profilers' packet tracker",
    }
}

impl Collector for Exposition {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let e = &mut encoder;
        {
            let mut family = e.encode_descriptor(
                "prism_profiler",
                "The profilers in use: profile, attach mechanism and high-priority rules",
                None,
                MetricType::Info,
            )?;
            let labels: Labels = vec![
                ("profile", self.profile.clone()),
                ("mechanism", self.mechanism.clone()),
                ("rules", self.rules.clone()),
            ];
            family.encode_info(&labels)?;
        }
        encode_histograms(
            e,
            "prism_stage_latency",
            "Time a packet spends in one stage of the overlay path, per direction, stage and class \
             (the low class is estimated from a sample under the always-on profile)",
            &self.stages,
            Resolution::Fine,
        )?;
        encode_histograms(
            e,
            "prism_receive_latency",
            "Whole receive journeys, from the underlay to the application's read, per class",
            &self.receive_total,
            Resolution::Fine,
        )?;
        encode_histograms(
            e,
            "prism_net_rx_softirq_delay",
            "Delay from raising the NET_RX softirq to running it, per CPU",
            &self.softirq,
            Resolution::Fine,
        )?;
        encode_histograms(
            e,
            "prism_container_stage_latency",
            "The same per local container, its journeys told apart by address from their \
             first hit (labels container, pod, namespace; pod and namespace empty outside Kubernetes; \
             one bucket per power of two)",
            &self.container_stages,
            Resolution::Coarse,
        )?;
        encode_histograms(
            e,
            "prism_container_receive_latency",
            "Whole receive journeys per local container and class",
            &self.container_receive_total,
            Resolution::Coarse,
        )?;
        encode_gauge(
            e,
            "prism_containers_overflow",
            "Local containers beyond the 63 the kernel times one by one (in the host's figures only)",
            Vec::new(),
            self.containers_overflow as i64,
        )?;
        for (i, name) in COUNTER_NAMES.iter().enumerate() {
            let i = i as u32;
            if i == counter::DELIVERED_BYTES || i == counter::DELIVERED_BYTES + 1 {
                continue;
            }
            encode_counter(
                e,
                &format!("prism_tracker_{name}"),
                counter_help(i),
                [(Vec::new(), self.counters.get(i))],
            )?;
        }
        encode_counter(
            e,
            "prism_delivered_bytes",
            "Bytes queued on their socket for the application, per class",
            Class::ALL.map(|class| {
                (
                    vec![("class", class.name().to_string())],
                    self.counters
                        .get(counter::DELIVERED_BYTES + class.id() as u32),
                )
            }),
        )?;
        encode_counter(
            e,
            "prism_drops",
            "Packets the kernel dropped, by reason and kernel location",
            self.drops.iter().map(|(reason, location, n)| {
                (
                    vec![("reason", reason.clone()), ("location", location.clone())],
                    *n,
                )
            }),
        )?;
        encode_gauge(
            e,
            "prism_datapath_enabled",
            "1 when Prism's prioritized datapath is enabled",
            Vec::new(),
            self.datapath.is_some() as i64,
        )?;
        if let Some(rows) = &self.datapath {
            encode_counter(
                e,
                "prism_datapath_packets",
                "Packets the datapath handled, by direction, what it did (reason) and class",
                rows.iter().map(|r| {
                    (
                        vec![
                            ("direction", r.direction.to_string()),
                            ("reason", r.reason.to_string()),
                            ("class", r.class.to_string()),
                        ],
                        r.packets,
                    )
                }),
            )?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn histogram(values_ns: &[u64]) -> Histogram {
        let mut h = Histogram::default();
        for v in values_ns {
            h.record(*v);
        }
        h
    }

    #[test]
    fn buckets_count_every_value_once_at_prisms_bounds() {
        let h = histogram(&[10, 100, 1_000, 1_000, 50_000, 60_000_000_000]);
        let b = bucket_counts(&h, Resolution::Fine);
        assert_eq!(b.iter().map(|(_, n)| n).sum::<u64>(), 6);
        // Everything below the smallest bound is in the first bucket.
        assert_eq!(b[0].1, 1);
        assert!(b.windows(2).all(|w| w[0].0 < w[1].0));
        assert_eq!(b.last().unwrap(), &(f64::INFINITY, 1));
        // Each bound is the largest value of its bucket.
        let le = |ns: u64| {
            b.iter()
                .find(|(le, _)| *le * 1e9 >= ns as f64 - 0.5)
                .unwrap()
        };
        assert_eq!(le(1_000).1, 2);
        assert!(
            (le(1_000).0 * 1e9 - 1_023.0).abs() < 1e-3,
            "{:?}",
            le(1_000)
        );
        assert_eq!(le(100).1, 1);
        assert_eq!(le(50_000).1, 1);
        // Coarse: powers of two, the same total.
        let c = bucket_counts(&h, Resolution::Coarse);
        assert_eq!(c.iter().map(|(_, n)| n).sum::<u64>(), 6);
        assert!(
            c.len() * 4 <= b.len() + 4,
            "{} against {}",
            c.len(),
            b.len()
        );
        let le = |ns: u64| {
            c.iter()
                .find(|(le, _)| *le * 1e9 >= ns as f64 - 0.5)
                .unwrap()
        };
        assert!(
            (le(1_000).0 * 1e9 - 1_023.0).abs() < 1e-3,
            "{:?}",
            le(1_000)
        );
        assert_eq!(le(1_000).1, 2);
    }

    #[test]
    fn renders_openmetrics_with_labels_units_and_eof() {
        let x = Exposition {
            node: "node-1".into(),
            profile: "always-on".into(),
            mechanism: "tp_btf".into(),
            rules: "udp port 7777".into(),
            stages: vec![Exposition::stage_series(
                Direction::Rx,
                "vxlan",
                Class::High,
                histogram(&[2_000, 3_000]),
            )],
            receive_total: vec![Exposition::class_series(Class::High, histogram(&[9_000]))],
            container_stages: vec![Series {
                labels: [
                    Exposition::container_labels(
                        "web-0",
                        Some(&("web-0".to_string(), "shop".to_string())),
                    ),
                    Exposition::stage_series(
                        Direction::Tx,
                        "veth",
                        Class::High,
                        Histogram::default(),
                    )
                    .labels,
                ]
                .concat(),
                histogram: histogram(&[700]),
            }],
            drops: vec![("NO_SOCKET".into(), "udp_rcv+0x10".into(), 3)],
            datapath: Some(vec![DatapathCount {
                direction: "rx",
                reason: "redirected",
                class: "high",
                packets: 7,
            }]),
            ..Default::default()
        };
        let text = x.render();
        for line in [
            "# TYPE prism_stage_latency_seconds histogram",
            "# UNIT prism_stage_latency_seconds seconds",
            "prism_stage_latency_seconds_count{node=\"node-1\",direction=\"rx\",stage=\"vxlan\",class=\"high\"} 2",
            "prism_stage_latency_seconds_sum{node=\"node-1\",direction=\"rx\",stage=\"vxlan\",class=\"high\"} 0.000005",
            "prism_stage_latency_seconds_bucket{node=\"node-1\",le=\"+Inf\",direction=\"rx\",stage=\"vxlan\",class=\"high\"} 2",
            "prism_stage_latency_seconds_bucket{node=\"node-1\",le=\"0.000002047\",direction=\"rx\",stage=\"vxlan\",class=\"high\"} 1",
            "prism_stage_latency_seconds_bucket{node=\"node-1\",le=\"0.000003071\",direction=\"rx\",stage=\"vxlan\",class=\"high\"} 2",
            "prism_receive_latency_seconds_count{node=\"node-1\",class=\"high\"} 1",
            "prism_profiler_info{node=\"node-1\",profile=\"always-on\",mechanism=\"tp_btf\",rules=\"udp port 7777\"} 1",
            "prism_drops_total{node=\"node-1\",reason=\"NO_SOCKET\",location=\"udp_rcv+0x10\"} 3",
            "prism_datapath_enabled{node=\"node-1\"} 1",
            "prism_datapath_packets_total{node=\"node-1\",direction=\"rx\",reason=\"redirected\",class=\"high\"} 7",
            "prism_tracker_journeys_total{node=\"node-1\"} 0",
            "prism_container_stage_latency_seconds_count{node=\"node-1\",container=\"web-0\",pod=\"web-0\",namespace=\"shop\",direction=\"tx\",stage=\"veth\",class=\"high\"} 1",
            "prism_containers_overflow{node=\"node-1\"} 0",
            "prism_delivered_bytes_total{node=\"node-1\",class=\"low\"} 0",
        ] {
            assert!(
                text.lines().any(|l| l == line),
                "no line {line:?} in\n{text}"
            );
        }
        assert_eq!(text.lines().last(), Some("# EOF"));
        // No softirq series were given: no empty family either.
        assert!(!text.contains("prism_net_rx_softirq_delay"));
    }
}
