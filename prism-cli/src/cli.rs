//! The command line, as clap definitions. Man pages and shell completions
//! are generated from these, so help text written here is what users read.

use std::{path::PathBuf, time::Duration};

use clap::{ArgAction, Args, Parser, Subcommand};
pub use clap_complete::Shell;
use prism_lab::{
    placement::Placement,
    scenario::Background,
    topology::{DEFAULT_NAME, Flavor},
    workload::prober::Proto,
};

#[derive(Debug, Parser)]
#[command(
    name = "prism",
    version,
    about = "Fast container overlay networking for the flows that matter",
    long_about = "Prism measures where packets wait along a container overlay path \
(VXLAN: underlay NIC, gro_cells, bridge, veth, backlog, socket) and streams \
latency-sensitive flows past those queues with eBPF, without a kernel patch.",
    after_help = "Examples:
  sudo prism doctor              what this host's kernel allows
  sudo prism lab up              build the VXLAN overlay testbed
  sudo prism lab run tcp idle    measure a latency prober with and without bulk traffic
  sudo prism lab down            remove the testbed"
)]
pub struct Cli {
    /// More log output (-v info, -vv debug, -vvv trace).
    #[arg(short, long, action = ArgAction::Count, global = true)]
    pub verbose: u8,

    #[command(subcommand)]
    pub command: Command,
}

impl Cli {
    pub fn log_level(&self) -> &'static str {
        match self.verbose {
            0 => "warn",
            1 => "info",
            2 => "debug",
            _ => "trace",
        }
    }
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check what this host can do: kernel, BTF, mounts, privileges, attach types
    #[command(after_help = "Examples:
  sudo prism doctor
  sudo prism doctor --json | jq '.attach[] | select(.usable | not)'

Each attach type is tried by loading and attaching a tiny program: tracing
types on the receive path, TC and XDP on a veth in a scratch network
namespace that is deleted afterwards. bpffs and tracefs are mounted if absent.")]
    Doctor {
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
    },

    /// Live screen: see, enable, tune and compare the datapath
    #[command(after_help = "Examples:
  sudo prism top                              all namespaces, refreshed every second
  sudo prism top --high udp port 7777         the lab's prober as high priority
  sudo prism top --interval 200ms --netns host-a

The screen shows, per direction, each stage's p50/p99 for the high and the
low class side by side (bars on a log scale: solid to p50, shaded to p99);
a trend of the high class's end-to-end p99 and the bulk throughput over the
last five minutes, with a line where the datapath or the rules changed;
context (NET_RX softirq delay, NAPI batches, drops with their kernel
location); and the datapath's counters.

Keys: e enable/disable the datapath, m mode, r rules (add, delete), t tune a
receive knob (the panel takes a baseline, sets the knob through prism tune and
opens the compare view; u undoes every change), b take a baseline, c compare
the baseline with now, p pause, - and + interval, /
filter stages, C one container's stages (the next each time, then the
host's again), ? help, q quit. The mouse clicks the keys in the footer and
scrolls with the wheel.

Leaving puts nothing back by itself: the datapath and knobs stay as you left
them, and if you changed them, top asks whether to keep them or restore what
it found. On
SIGTERM or SIGHUP (the terminal closed) it stays as it is and top says so.")]
    Top(TopArgs),

    /// Show where packets wait: per-stage latency along the overlay path, per class
    #[command(after_help = "Examples:
  sudo prism stat                                   all namespaces, every second
  sudo prism stat --high udp port 7777 --count 5    the lab's prober as high priority
  sudo prism stat --high tcp dport 11211 --high dscp ef --interval 5s
  sudo prism stat --json --count 10 | jq '.stages[] | select(.class == \"high\")'

Stages, receive: nic (underlay GRO and RPS backlog), vxlan (decap and the
gro_cells queue), gro_cell (its GRO), bridge (bridge and veth transmit),
backlog (per-CPU backlog), stack (IP and TCP/UDP), socket (until the
application reads). Transmit: veth, backlog, bridge, encap, qdisc, wire.

Rules (--high): tcp|udp, src|dst PREFIX or a bare PREFIX (either side), sport|dport|port
N or N-M, dscp NAME|N. A packet is high priority when any rule matches its
inner flow. Times are µs; a stage the host lacks the devices for is absent.")]
    Stat(StatArgs),

    /// Serve the profilers' figures to Prometheus (OpenMetrics on /metrics)
    #[command(after_help = "Examples:
  sudo prism metrics                                   on 127.0.0.1:9477
  sudo prism metrics --listen 0.0.0.0:9477 --high udp port 7777
  curl -s localhost:9477/metrics | grep 'stage=\"socket\"'

Exports, cumulative since start and labelled with the node:
prism_stage_latency_seconds (histogram per direction, stage and class, at
Prism's log-linear bucket bounds from 64 ns), prism_receive_latency_seconds
(end to end, per class), prism_net_rx_softirq_delay_seconds (per CPU),
prism_drops_total (reason, location), prism_datapath_packets_total
(direction, reason, class) and prism_datapath_enabled, the tracker's
counters (prism_tracker_*_total, prism_delivered_bytes_total) and
prism_profiler_info (profile, mechanism, rules). Each scrape reads the
kernel's maps once. Query e.g. histogram_quantile(0.99,
rate(prism_stage_latency_seconds_bucket{class=\"high\"}[1m])).")]
    Metrics(MetricsArgs),

    /// Record per-stage latency to a trace file, for report and compare elsewhere
    #[command(after_help = "Examples:
  sudo prism record -o base.prism --duration 30s --high udp port 7777
  sudo prism record -o sampled.prism --events sample:100     every 100th packet's journey
  sudo prism record -o hist.prism --events none --interval 5s   histograms only

The trace holds a header describing the host, kernel, probe mechanism,
stage map, rules and datapath state; histogram snapshots every --interval
(each stage, whole receive journeys, and the same for each container, up
to 63, with its container or pod name); per-packet stage events (all, 1 journey in N, or none); and a footer. It
is written as it goes, so memory stays flat and a recording that is killed
still reads up to its last complete record. Events the kernel could not
hand over in time are counted in the file. Stops at --duration, Ctrl-C or
SIGTERM.")]
    Record(RecordArgs),

    /// Summarize a trace: per-stage and end-to-end percentiles, losses, drops
    #[command(after_help = "Examples:
  prism report base.prism
  prism report base.prism --plot base.svg
  prism report base.prism --json | jq '.stages[] | select(.class == \"high\")'
  prism report base.prism --format jsonl | jq 'select(.type == \"event\")'
  prism report base.prism --format csv > events.csv

The summary has the host's stages, end to end (receive from the
histograms, transmit from the events), then each container's stages.
Formats: table (the summary), jsonl (every record, one JSON object per
line, events one per line), csv (the events). Needs no privileges and not
the machine the trace was taken on.")]
    Report(ReportArgs),

    /// Compare two traces stage by stage: p50/p99/p99.9 deltas per class
    #[command(after_help = "Examples:
  prism compare off.prism on.prism
  prism compare before.prism after.prism --json

Deltas are B - A, in µs and relative to A. A warning says when the two
were taken on different kernels, probe mechanisms, stage maps or rules.")]
    Compare {
        /// The baseline trace.
        a: PathBuf,
        /// The trace to compare with it.
        b: PathBuf,
        /// Print the comparison as JSON.
        #[arg(long)]
        json: bool,
    },

    /// Turn on the prioritized datapath (or update it: rules, modes, containers)
    #[command(after_help = "Examples:
  sudo prism enable --high udp port 7777                 sync mode on every VXLAN host found
  sudo prism enable --mode sync,mark --high tcp dport 11211 --high dscp ef
  sudo prism enable --iface eth0 --high udp 10.0.0.0/8 port 53
  sudo prism enable --mode sync,prio --high udp port 7777  high ring first, no CPU set aside

Modes: sync streams high-priority packets past the overlay's queues (VXLAN
decap + bpf_redirect_peer into the container on receive; encap +
bpf_redirect out of the underlay on transmit); mark sets skb->priority so
egress qdiscs can serve them first; nic puts high-priority packets on a
transmit queue of their own at the sender's underlay, and steers that ring's
receive processing to --nic-cpu and the other rings to the other CPUs, so
bulk traffic never shares a CPU with them before the stack (emulated on veth
underlays with 3+ queues; a NIC would need ntuple flow steering); prio puts
them on their own queue too but sets no CPU aside: the underlay runs NAPI in
kernel threads, RPS is off, and that ring's thread runs at SCHED_FIFO 50, so
it preempts bulk processing on whatever CPU it wakes (threaded NAPI's thread
is found through the kernel's netdev netlink family, Linux 6.9 or later). The topology (underlay, VXLAN device,
containers' veths and MACs, remote VTEPs) is learned from rtnetlink in every
namespace; run enable again to pick up containers that came or went.
Programs stay attached after prism exits (pinned under /sys/fs/bpf/prism);
a failure at any step detaches everything this call attached.")]
    Enable(EnableArgs),

    /// Detach the datapath and remove its pins (also after a crash)
    #[command(after_help = "Examples:
  sudo prism disable")]
    Disable,

    /// Show what the datapath is attached to, its modes, rules and counters
    #[command(after_help = "Examples:
  sudo prism status
  sudo prism status --json | jq '.counters[] | select(.class == \"high\")'")]
    Status {
        /// Print the status as JSON.
        #[arg(long)]
        json: bool,
    },

    /// List, add or delete high-priority rules while the datapath runs
    #[command(
        subcommand,
        after_help = "Examples:
  sudo prism rules list
  sudo prism rules add tcp dport 11211
  sudo prism rules del udp port 7777

Changes take effect at once, in the datapath and in any profiler that
shares its rules (prism stat, top or record started without --high)."
    )]
    Rules(RulesCommand),

    /// See and change the kernel's receive-path knobs; put back what Prism changed
    #[command(
        subcommand,
        after_help = "Examples:
  prism tune list
  sudo prism tune list --netns prism-h2 --json
  sudo prism tune set net.core.netdev_budget=600 net.core.dev_weight=128
  sudo prism tune set --netns prism-h2 eth0/gro_flush_timeout=20000 eth0/napi_defer_hard_irqs=2
  sudo prism tune set --netns prism-h2 eth0/features/rx-udp-gro-forwarding=1
  sudo prism tune restore

Knobs are named as the kernel names them: net.core sysctls (global) and
device attributes DEV/ATTR (gro_flush_timeout, napi_defer_hard_irqs,
threaded, queues/rx-N/rps_cpus, queues/rx-N/rps_flow_cnt,
queues/tx-N/xps_cpus), offload features DEV/features/NAME (rx-gro,
rx-gro-hw, rx-lro, rx-gro-list, rx-udp-gro-forwarding: 1 on, 0 off, as
ethtool -K) and interrupt coalescing DEV/coalesce/NAME (rx-usecs,
rx-frames, adaptive-rx, as ethtool -C; only on devices that have it), of
a device in another namespace with --netns.
Before set changes anything, the values it replaces are saved in
/run/prism/tune.json; if one write fails the others are undone. restore
puts back exactly what was there before Prism's first change, also after
a set that was killed halfway."
    )]
    Tune(TuneCommand),

    /// Build, inspect, load and remove the VXLAN overlay testbed
    #[command(
        subcommand,
        after_help = "Examples:
  sudo prism lab up && sudo prism lab status
  sudo prism lab run tcp idle --rounds 3
  sudo prism lab bench
  sudo prism lab down

The lab is two hosts and two containers in network namespaces, joined by
VXLAN over a veth underlay; it talks to nothing outside itself."
    )]
    Lab(LabCommand),

    /// Write man pages, one per command, into a directory
    #[command(after_help = "Examples:
  prism man man/
  prism man /usr/local/share/man/man1 && man prism-lab-run")]
    Man {
        /// Directory to write prism.1, prism-doctor.1, prism-lab-up.1, ... into.
        dir: PathBuf,
    },

    /// Print a shell completion script
    #[command(after_help = "Examples:
  prism completions bash > /etc/bash_completion.d/prism
  prism completions zsh > ~/.zfunc/_prism
  prism completions fish > ~/.config/fish/completions/prism.fish")]
    Completions {
        /// bash, zsh, fish or elvish.
        shell: Shell,
    },
}

#[derive(Debug, Args)]
pub struct EnableArgs {
    /// Modes, comma-separated: sync (stream high-priority packets past the
    /// overlay's queues), mark (skb->priority, DSCP), nic (their own NIC
    /// queue and CPU), prio (their own NIC queue, served first on a shared
    /// CPU: threaded NAPI with that ring's thread at SCHED_FIFO 50). nic
    /// and prio exclude each other.
    #[arg(long = "mode", value_delimiter = ',', default_value = "sync")]
    pub modes: Vec<prism_datapath::control::Mode>,

    #[command(flatten)]
    pub rules: RuleArgs,

    /// Only hosts whose VXLAN underlay is this device.
    #[arg(long, value_name = "DEV", conflicts_with = "auto")]
    pub iface: Option<String>,

    /// Find every VXLAN underlay and container veth (the default).
    #[arg(long)]
    pub auto: bool,

    /// Only hosts in this network namespace (repeatable); default: all.
    #[arg(long = "netns", value_name = "NAME")]
    pub namespaces: Vec<String>,

    /// skb->priority given to high-priority packets in mark mode.
    #[arg(long, default_value_t = 6)]
    pub priority: u32,

    /// mark mode: rewrite the DSCP of high-priority packets leaving their
    /// container (a name such as ef, af41, cs6, or 0-63); the outer header
    /// of packets the sync path encapsulates carries it too.
    #[arg(long, value_name = "CODEPOINT", value_parser = parse_dscp)]
    pub dscp: Option<u8>,

    /// nic mode: the CPU that processes the high-priority ring (default:
    /// the last CPU); the other rings go to the other CPUs.
    #[arg(long, value_name = "CPU")]
    pub nic_cpu: Option<usize>,

    /// Stay in the foreground and keep the datapath current as containers
    /// and devices come and go (rtnetlink notifications, and a re-scan
    /// every 5 s). Ctrl-C stops watching; the datapath stays enabled.
    #[arg(long)]
    pub watch: bool,

    /// Serve routed overlays (Flannel, Calico) also where netfilter is
    /// relied on (Calico's policy, conntrack tracking flows), accepting
    /// that their high-priority packets skip the node's IP forwarding and
    /// netfilter: FORWARD rules, conntrack and any network policy there.
    #[arg(long)]
    pub allow_netfilter_bypass: bool,
}

#[derive(Debug, Subcommand)]
pub enum TuneCommand {
    /// Show every knob: value, kernel default, range, the stage it acts on, and what Prism saved
    #[command(after_help = "Examples:
  prism tune list
  sudo prism tune list --netns prism-h2
  prism tune list --json | jq '.[] | select(.saved != null)'

SAVED is the value before Prism's first change, when it changed the knob.")]
    List {
        /// The namespace whose devices to show (sysctls are global).
        #[arg(long, value_name = "NAME")]
        netns: Option<String>,
        /// Print the knobs as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Change knobs, all or none, saving what they were
    #[command(after_help = "Examples:
  sudo prism tune set net.core.netdev_budget=600
  sudo prism tune set --netns prism-h2 eth0/threaded=1 eth0/queues/rx-0/rps_cpus=2

Every value is checked first; the values replaced are saved in
/run/prism/tune.json before anything is written; if a write fails the
others are put back.")]
    Set {
        /// KNOB=VALUE, e.g. net.core.netdev_budget=600 or eth0/threaded=1.
        #[arg(value_name = "KNOB=VALUE", required = true)]
        assignments: Vec<String>,
        /// The namespace of the devices named (sysctls are global).
        #[arg(long, value_name = "NAME")]
        netns: Option<String>,
        /// Print the changes as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Measure for a while, then propose knobs to try, each with its reason
    #[command(after_help = "Examples:
  sudo prism tune suggest --high udp port 7777
  sudo prism tune suggest --duration 10s --high tcp dport 11211 --json

Attaches the profilers (as prism stat does) for --duration, then reads
which stage the high class waits in longest and what the NAPI batches,
NET_RX softirq delays and drops say, and proposes KNOB=VALUE settings to
try with prism tune set (and to measure with prism top's compare).")]
    Suggest {
        /// How long to measure.
        #[arg(long, default_value = "5s", value_parser = parse_duration)]
        duration: Duration,
        #[command(flatten)]
        rules: RuleArgs,
        #[command(flatten)]
        scope: ProbeScope,
        /// Print the suggestions as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Put back every knob Prism changed, as it was before the first change
    #[command(after_help = "Examples:
  sudo prism tune restore
  sudo prism tune restore --json

Also after a set that was killed halfway: the values were saved first.")]
    Restore {
        /// Print the changes as JSON.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum RulesCommand {
    /// Show the rules
    #[command(after_help = "Examples:
  sudo prism rules list
  sudo prism rules list --json")]
    List {
        /// Print the rules as a JSON array of strings.
        #[arg(long)]
        json: bool,
    },
    /// Add a rule (takes effect for new packets at once)
    #[command(after_help = "Examples:
  sudo prism rules add tcp dport 11211
  sudo prism rules add udp 10.0.0.0/8 port 53")]
    Add {
        /// The rule's words, e.g. tcp dport 11211.
        #[arg(required = true, num_args = 1.., value_name = "RULE")]
        rule: Vec<String>,
    },
    /// Delete a rule
    #[command(after_help = "Examples:
  sudo prism rules del tcp dport 11211")]
    Del {
        /// The rule's words, as listed.
        #[arg(required = true, num_args = 1.., value_name = "RULE")]
        rule: Vec<String>,
    },
}

#[derive(Debug, Args)]
pub struct RecordArgs {
    /// The trace file to write (replaced if it exists).
    #[arg(short, long, value_name = "FILE")]
    pub output: PathBuf,

    /// How long to record (default: until Ctrl-C).
    #[arg(long, value_parser = parse_duration)]
    pub duration: Option<Duration>,

    /// Per-packet events: all, sample:N (1 journey in N) or none.
    #[arg(long, default_value = "all", value_parser = parse_events, value_name = "WHICH")]
    pub events: prism_probes::collector::EventSampling,

    /// Time between histogram snapshots.
    #[arg(long, default_value = "1s", value_parser = parse_duration)]
    pub interval: Duration,

    #[command(flatten)]
    pub rules: RuleArgs,

    #[command(flatten)]
    pub scope: ProbeScope,
}

#[derive(Debug, Args)]
pub struct ReportArgs {
    /// The trace to read.
    pub file: PathBuf,

    /// Output: table (summary), jsonl (every record and event) or csv (events).
    #[arg(long, default_value = "table")]
    pub format: ReportFormat,

    /// Print the summary as JSON (same as the table's content).
    #[arg(long, conflicts_with = "format")]
    pub json: bool,

    /// Also write an SVG of each stage's latency distribution per class.
    #[arg(long, value_name = "PATH.svg")]
    pub plot: Option<PathBuf>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum ReportFormat {
    Table,
    Jsonl,
    Csv,
}

/// Where the profilers look.
#[derive(Debug, Args)]
pub struct ProbeScope {
    /// Watch only this network namespace (repeatable); default: all.
    #[arg(long = "netns", value_name = "NAME")]
    pub namespaces: Vec<String>,

    /// UDP port that marks VXLAN traffic (repeatable); default: the port
    /// of every VXLAN device found (4789 for Docker and Calico, 8472 for
    /// Flannel). An override for overlays Prism cannot see.
    #[arg(long = "vxlan-port", value_name = "PORT")]
    pub vxlan_ports: Vec<u16>,

    /// How much the profilers hook: always-on (the default: every
    /// high-priority packet timed, low-priority journeys sampled to about
    /// 4000/s with counts scaled, nic not timed, gro_cell counted in vxlan;
    /// cheap enough to leave on, see `lab
    /// overhead`) or full (every hook, every packet). `record --events all`
    /// needs full and is full by default.
    #[arg(
        long,
        value_name = "PROFILE",
        value_parser = clap::builder::TypedValueParser::map(
            clap::builder::PossibleValuesParser::new(["always-on", "full"]),
            |s| s.parse::<prism_probes::profile::Profile>().expect("a listed profile"),
        ),
    )]
    pub profile: Option<prism_probes::profile::Profile>,
}

#[derive(Debug, Args)]
pub struct TopArgs {
    /// Time between refreshes (100ms to 10s; - and + change it live).
    #[arg(long, default_value = "1s", value_parser = parse_top_interval)]
    pub interval: Duration,

    #[command(flatten)]
    pub rules: RuleArgs,

    #[command(flatten)]
    pub scope: ProbeScope,
}

fn parse_top_interval(text: &str) -> Result<Duration, String> {
    let d = parse_duration(text)?;
    if !(Duration::from_millis(100)..=Duration::from_secs(10)).contains(&d) {
        return Err(format!("{text} is out of range: use 100ms to 10s"));
    }
    Ok(d)
}

#[derive(Debug, Args)]
pub struct StatArgs {
    /// Time between reports (e.g. 1s, 500ms).
    #[arg(long, default_value = "1s", value_parser = parse_duration)]
    pub interval: Duration,

    /// Stop after this many reports (default: until Ctrl-C).
    #[arg(long)]
    pub count: Option<u64>,

    /// Print one JSON object per interval instead of tables.
    #[arg(long)]
    pub json: bool,

    /// Break the figures down: `container` adds each local container's
    /// stages (its journeys told apart by address from their first hit,
    /// so the stages before its veth count too), up to 63 containers.
    #[arg(long, value_name = "WHAT")]
    pub by: Option<Breakdown>,

    /// With --by container: only this container (repeatable), by the name
    /// stat lists (Docker's, `namespace/pod`, or the namespace's).
    #[arg(long = "container", value_name = "NAME", requires = "by")]
    pub containers: Vec<String>,

    #[command(flatten)]
    pub rules: RuleArgs,

    #[command(flatten)]
    pub scope: ProbeScope,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Breakdown {
    Container,
}

#[derive(Debug, Args)]
pub struct MetricsArgs {
    /// Address and port to serve /metrics on (0.0.0.0:9477 for every
    /// interface, as a DaemonSet needs).
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:9477")]
    pub listen: std::net::SocketAddr,

    /// The node label on every series (default: this host's name).
    #[arg(long, value_name = "NAME")]
    pub node: Option<String>,

    #[command(flatten)]
    pub rules: RuleArgs,

    #[command(flatten)]
    pub scope: ProbeScope,
}

#[derive(Debug, Args)]
pub struct RuleArgs {
    /// A high-priority rule, e.g. `--high tcp dport 11211` (repeatable).
    #[arg(long = "high", value_name = "RULE", num_args = 1.., action = ArgAction::Append)]
    high: Vec<String>,

    /// The words of each `--high`, one rule per occurrence (see [`parse`]).
    #[arg(skip)]
    rules: Vec<String>,
}

impl RuleArgs {
    /// The rules, each the words after one `--high`.
    pub fn texts(&self) -> &[String] {
        &self.rules
    }
}

/// Parses the command line. Like `Cli::try_parse`, but keeps each
/// `--high`'s words together (clap's derive flattens repeated multi-word
/// options), so `--high tcp dport 80 --high dscp ef` is two rules.
pub fn parse() -> Result<Cli, clap::Error> {
    use clap::{CommandFactory, FromArgMatches};
    let matches = Cli::command().try_get_matches()?;
    let mut cli = Cli::from_arg_matches(&matches)?;
    let mut leaf = &matches;
    while let Some((_, sub)) = leaf.subcommand() {
        leaf = sub;
    }
    let groups: Vec<String> = match leaf.try_get_occurrences::<String>("high") {
        Ok(Some(occurrences)) => occurrences
            .map(|words| words.cloned().collect::<Vec<_>>().join(" "))
            .collect(),
        _ => Vec::new(),
    };
    if let Some(rules) = cli.command.rule_args_mut() {
        rules.rules = groups;
    }
    Ok(cli)
}

impl Command {
    fn rule_args_mut(&mut self) -> Option<&mut RuleArgs> {
        match self {
            Command::Stat(args) => Some(&mut args.rules),
            Command::Top(args) => Some(&mut args.rules),
            Command::Enable(args) => Some(&mut args.rules),
            Command::Record(args) => Some(&mut args.rules),
            Command::Metrics(args) => Some(&mut args.rules),
            _ => None,
        }
    }
}

#[derive(Debug, Args)]
pub struct LabName {
    /// Name of the lab; its host namespaces are NAME-h1 and NAME-h2.
    #[arg(long, default_value = DEFAULT_NAME, value_name = "NAME")]
    pub name: String,
}

#[derive(Debug, Subcommand)]
pub enum LabCommand {
    /// Build the testbed (idempotent) and check container-to-container connectivity
    #[command(after_help = "Examples:
  sudo prism lab up
  sudo prism lab up --name test --vni 100 --port 8472
  sudo prism lab up --overlay flannel --name fl
  sudo prism lab up --overlay docker --router

Two hosts (namespaces NAME-h1, NAME-h2) joined by a veth underlay, each with a
VXLAN overlay and a container, laid out as the chosen overlay lays out a node:

  prism    VXLAN device, bridge and underlay in the host namespace (VNI 42, 4789);
           containers NAME-c1, NAME-c2
  docker   Docker swarm's overlay: vxlan0 (learning proxy l2miss l3miss, no dev)
           with br0 and veth0 in a per-network sandbox NAME-hN-1-<id>, its socket
           and the underlay in the host namespace; VNI 4096; containers with eth1
           on docker_gwbridge
  flannel  flannel.1 (VNI 1, the kernel's default port 8472) routed to cni0;
           pods in cni-<uuid> namespaces
  calico   vxlan.calico (VNI 4096) routed to cali* veths by /32 routes, no bridge

Neighbour and FDB entries that the real overlays learn are installed statically,
so the lab carries only the traffic its workloads send. With --router the hosts
are on two subnets joined by a router namespace NAME-r. Nothing in the current
namespace is touched. Running it again on a healthy lab changes nothing.")]
    Up {
        #[command(flatten)]
        lab: LabName,
        /// Which overlay to copy: prism, docker, flannel or calico.
        #[arg(long, default_value_t = Flavor::Prism, value_name = "OVERLAY")]
        overlay: Flavor,
        /// VXLAN network identifier [default: the overlay's: 42, Docker and Calico 4096, Flannel 1].
        #[arg(long)]
        vni: Option<u32>,
        /// VXLAN UDP port [default: 4789; Flannel: none set, the kernel's 8472].
        #[arg(long)]
        port: Option<u16>,
        /// Put a router namespace between the two hosts (VTEPs on two subnets).
        #[arg(long)]
        router: bool,
        /// Give the wire's veths a qdisc (mq), as a NIC has: a full ring
        /// stops the queue instead of dropping. Not with nic or prio modes
        /// on 6.16-6.18 kernels, whose veths can leave a stopped queue
        /// other than the first stopped.
        #[arg(long)]
        queued_wire: bool,
    },

    /// Remove the testbed, also after a half-failed `up`
    #[command(after_help = "Examples:
  sudo prism lab down
  sudo prism lab down --name test")]
    Down {
        #[command(flatten)]
        lab: LabName,
    },

    /// Show the testbed's namespaces, devices, ifindexes, addresses and MACs
    #[command(after_help = "Examples:
  sudo prism lab status
  sudo prism lab status --json | jq '.namespaces[].links[] | {name, ifindex, mac}'")]
    Status {
        #[command(flatten)]
        lab: LabName,
        /// Print the status as JSON.
        #[arg(long)]
        json: bool,
    },

    /// Run latency scenarios: a prober alone, or under TCP or UDP bulk traffic
    #[command(after_help = "Examples:
  sudo prism lab run                          idle, tcp and udp, one round each
  sudo prism lab run tcp idle --rounds 5      alternate tcp/idle five times; medians
  sudo prism lab run tcp --placement one-cpu --proto tcp --json

Placements: shared-rx (default) steers both underlays' receive processing
(RPS) to CPU 1, where the prober and its echo server run, and puts the bulk
sender and sink on CPU 0: bulk packets then queue ahead of the prober's in the
NIC ring, gro_cells and backlog of CPU 1. one-cpu runs everything on CPU 0 with
RPS off; there a veth delivers inside the sender's softirq, so the tail is
mostly CPU scheduling.")]
    Run(RunArgs),

    /// Measure what the profilers cost: bulk throughput with and without them, and time per hit
    #[command(after_help = "Examples:
  sudo prism lab overhead
  sudo prism lab overhead --rounds 5 --duration 5s --json

Runs the tcp scenario (with the prober) in alternating rounds with nothing
attached, with an empty program on every tracepoint the profilers hook,
and with the profilers in each profile (always-on and full, prober marked
high), and reports the median throughput ratios to nothing attached. Then, with
the kernel's BPF run-time statistics on (BPF_ENABLE_STATS), one run of the
empty programs and one of each profile give each hook's runs per second
and ns per run side by side: Prism's own cost is Prism minus empty.")]
    Overhead(OverheadArgs),

    /// Reproduce the paper's experiment: the prober under bulk traffic, datapath off and on
    #[command(after_help = "Examples:
  sudo prism lab bench                          5 rounds of idle, off, sync, mark under TCP bulk
  sudo prism lab bench --background udp --rounds 7 --duration 10s --json
  sudo prism lab bench --configs off --tune net.core.dev_weight=16 --tune 'net.core.netdev_budget=100 eth0/gro_flush_timeout=20000'

Each round runs, in turn: the prober alone (idle), the prober under bulk
traffic with the datapath off, then with each mode on (sync, mark, nic,
sync+nic, prio, sync+prio), then each --tune configuration: bulk, datapath off, its
knobs set (and restored after the run: an A/B against 'off' in the same
rounds). The prober's port is the high-priority rule. The table shows
medians over rounds and, per configuration, the median of the ratios to
'off' paired within each round (these VMs are noisy; pairing cancels slow
phases). The datapath must be off when the bench starts, and no knob
set by `prism tune`; both are as found after.")]
    Bench(BenchArgs),

    /// Check payloads end to end: numbered UDP datagrams and a known TCP byte stream, under bulk traffic
    #[command(after_help = "Examples:
  sudo prism lab integrity                           10 s under TCP bulk
  sudo prism enable --high udp port 7780 --high tcp port 7781 && sudo prism lab integrity --json

From the first container to the second: datagrams whose length and bytes
follow from their sequence number (UDP port 7780) and a stream whose every
byte follows from its offset (TCP port 7781), checked at the receiver
byte for byte. Reports corrupted, lost, duplicated and reordered datagrams,
corrupted stream bytes, the stream's retransmissions and the receiver's
checksum errors. Exits 1 if anything arrived damaged. Run it with the
datapath off and on to compare the fast path with the kernel's.")]
    Integrity(IntegrityArgs),
}

#[derive(Debug, Args)]
pub struct IntegrityArgs {
    #[command(flatten)]
    pub lab: LabName,

    /// How long the checked flows run.
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    pub duration: Duration,

    /// Bulk background: idle (none), tcp or udp.
    #[arg(long, default_value = "tcp")]
    pub background: Background,

    /// Checked datagrams per second.
    #[arg(long, default_value_t = 5000, value_parser = clap::value_parser!(u32).range(1..=200_000))]
    pub udp_rate: u32,

    /// Checked stream rate, in MB/s.
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u64).range(1..=10_000))]
    pub tcp_rate: u64,

    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct BenchArgs {
    #[command(flatten)]
    pub lab: LabName,

    /// Rounds of all configurations.
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..=100))]
    pub rounds: u32,

    /// How long the prober measures in each run.
    #[arg(long, default_value = "5s", value_parser = parse_duration)]
    pub duration: Duration,

    /// Bulk background: tcp or udp.
    #[arg(long, default_value = "tcp")]
    pub background: Background,

    /// CPU placement: shared-rx or one-cpu.
    #[arg(long, default_value = "shared-rx")]
    pub placement: Placement,

    /// Prober protocol: udp or tcp.
    #[arg(long, default_value = "udp")]
    pub proto: Proto,

    /// Only these configurations, comma-separated (idle, idle+sync, off,
    /// sync, mark, nic, sync+nic, prio, sync+prio); default: all.
    #[arg(long, value_delimiter = ',')]
    pub configs: Vec<String>,

    /// One more configuration under bulk with the datapath off and these
    /// knobs set, space-separated KNOB=VALUE as `prism tune set` takes them
    /// (repeatable: one configuration each). Device knobs apply on every
    /// lab host that has the device; everything is restored after each run.
    #[arg(long, value_name = "KNOB=VALUE...")]
    pub tune: Vec<String>,

    /// Also attach the profilers (always-on profile) during each run and
    /// report the high class's p99 per stage: where a change acts. They
    /// cost every configuration alike.
    #[arg(long)]
    pub stages: bool,

    /// Print every run and the summary as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct OverheadArgs {
    #[command(flatten)]
    pub lab: LabName,

    /// Rounds of off, empty and Prism runs (order reversed every other round).
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..=100))]
    pub rounds: u32,

    /// How long each run measures.
    #[arg(long, default_value = "5s", value_parser = parse_duration)]
    pub duration: Duration,

    /// Print the rounds and the figures as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// Scenarios to run, in this order each round: idle, tcp, udp.
    #[arg(value_name = "SCENARIO", default_values_t = Background::ALL)]
    pub scenarios: Vec<Background>,

    #[command(flatten)]
    pub lab: LabName,

    /// How long the prober measures in each run (e.g. 10s, 500ms, 1m).
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    pub duration: Duration,

    /// How long the background runs before the prober starts.
    #[arg(long, default_value = "1s", value_parser = parse_duration)]
    pub warmup: Duration,

    /// Rounds of all scenarios, alternating; the table shows medians.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=100))]
    pub rounds: u32,

    /// CPU placement: shared-rx or one-cpu.
    #[arg(long, default_value = "shared-rx")]
    pub placement: Placement,

    /// Prober protocol: udp or tcp.
    #[arg(long, default_value = "udp")]
    pub proto: Proto,

    /// Prober message size in bytes.
    #[arg(long, default_value_t = 64)]
    pub size: usize,

    /// Prober requests per second (0: next request as soon as the reply is in).
    #[arg(long, default_value_t = 1000)]
    pub rate: u32,

    /// Parallel TCP streams in the tcp scenario.
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u32).range(1..=64))]
    pub streams: u32,

    /// Datagrams per second of the udp scenario's flood (0: unlimited).
    #[arg(long, default_value_t = 0)]
    pub udp_rate: u32,

    /// Print every run and the medians as JSON.
    #[arg(long)]
    pub json: bool,
}

fn parse_duration(s: &str) -> Result<Duration, String> {
    humantime::parse_duration(s).map_err(|e| format!("{e} (try e.g. 10s, 500ms, 2m)"))
}

fn parse_events(s: &str) -> Result<prism_probes::collector::EventSampling, String> {
    use prism_probes::collector::EventSampling;
    match s {
        "all" => Ok(EventSampling::All),
        "none" => Ok(EventSampling::Off),
        _ => match s.strip_prefix("sample:").map(str::parse::<u32>) {
            Some(Ok(n)) if n >= 1 => Ok(EventSampling::OneIn(n)),
            _ => Err(format!(
                "{s}: expected all, none or sample:N with N >= 1 (e.g. sample:100)"
            )),
        },
    }
}

fn parse_dscp(s: &str) -> Result<u8, String> {
    prism_rules::parse_dscp(s).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::*;

    #[test]
    fn definitions_are_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn lab_run_defaults_to_all_scenarios() {
        let cli = Cli::try_parse_from(["prism", "lab", "run"]).unwrap();
        let Command::Lab(LabCommand::Run(args)) = cli.command else {
            panic!("not lab run")
        };
        assert_eq!(args.scenarios, Background::ALL);
        assert_eq!(args.duration, Duration::from_secs(10));
        assert_eq!(args.placement, Placement::SharedRx);
    }

    #[test]
    fn each_high_is_one_rule() {
        let matches = Cli::command()
            .try_get_matches_from([
                "prism", "stat", "--high", "tcp", "dport", "80", "--high", "dscp ef",
            ])
            .unwrap();
        let sub = matches.subcommand_matches("stat").unwrap();
        let groups: Vec<Vec<&String>> = sub
            .get_occurrences::<String>("high")
            .unwrap()
            .map(Iterator::collect)
            .collect();
        assert_eq!(groups.len(), 2);
        assert_eq!(groups[0].len(), 3);
    }

    #[test]
    fn bad_input_is_refused() {
        for argv in [
            vec!["prism", "frobnicate"],
            vec!["prism", "lab", "run", "--duration", "soon"],
            vec!["prism", "lab", "run", "--placement", "everywhere"],
            vec!["prism", "lab", "run", "--rounds", "0"],
            vec!["prism", "lab", "run", "bulk"],
        ] {
            assert!(Cli::try_parse_from(&argv).is_err(), "{argv:?}");
        }
    }
}
