//! The collector: attaches the stage tracker and its context probes, keeps
//! the device and rule maps current, and reads snapshots and per-packet
//! events. `prism stat`, `prism top` and `prism record` all use it.
//! Dropping it detaches everything.

use std::collections::BTreeMap;

use anyhow::{Context, Result, bail};
use aya::{
    Btf, Ebpf,
    maps::{Array, HashMap, MapData, PerCpuArray, PerCpuHashMap, RingBuf},
    programs::{BtfTracePoint, FEntry, KProbe},
};
use prism_kernel::{bpf::program, btf::KernelBtf};
use prism_overlay::Model;
use prism_probes_common::{
    CLASSES, CONTAINER_SLOTS, ContainerKey, DEVICE_SLOTS, DEVICE_WAYS, DeviceEntry, DeviceKey,
    DeviceSlot, DropKey, Event, Hist, KERNEL_OFFSETS_GLOBAL, NapiStats, PROBE_CONFIG_GLOBAL,
    ProbeConfig, VXLAN_PORTS, device_slot,
    hist::BUCKETS,
    points::{MAX_STAGES, RECEIVE_TOTAL, STAGE_TABLE_SIZE},
};
use prism_rules::{Rule, RuleSet};

use crate::{
    capabilities::Mechanism,
    containers::{SharedHists, Slots, Watched, key_of},
    devices::{Device, Role, role_id},
    histogram::Histogram,
    offsets,
    profile::Profile,
    snapshot::{Class, ContainerFigures, Counters, Snapshot, monotonic_ns},
    stages::{Stage, Unseen, stage_table},
};

/// Which packets go to the per-packet event stream.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum EventSampling {
    /// None: histograms only (cheapest).
    #[default]
    Off,
    /// Every packet.
    All,
    /// One packet in N, chosen at random at its first hit.
    OneIn(u32),
}

impl EventSampling {
    fn config_value(self) -> u32 {
        match self {
            Self::Off => 0,
            Self::All => 1,
            Self::OneIn(n) => n.max(1),
        }
    }
}

#[derive(Clone, Debug)]
pub struct CollectorConfig {
    /// High-priority rules; everything else is low. Empty: share the
    /// datapath's pinned rules if it is enabled (and see its live changes).
    pub rules: RuleSet,
    /// Namespace labels to watch (see `prism_kernel::netns::all`); empty: all.
    pub namespaces: Vec<String>,
    pub events: EventSampling,
    /// UDP ports that mark VXLAN packets; empty: the ports of every VXLAN
    /// device the overlay model finds.
    pub vxlan_ports: Vec<u16>,
    /// Which hooks run (see [`Profile`]).
    pub profile: Profile,
    /// Also time each local container's journeys on their own (see
    /// [`crate::containers`]): a map lookup per journey, and 4 MiB of
    /// kernel memory for up to 63 containers.
    pub per_container: bool,
}

impl Default for CollectorConfig {
    fn default() -> Self {
        Self {
            rules: RuleSet::default(),
            namespaces: Vec::new(),
            events: EventSampling::Off,
            vxlan_ports: Vec::new(),
            profile: Profile::default(),
            per_container: false,
        }
    }
}

/// The classifier's port list: the ones asked for, else the overlays',
/// else the IANA port; at most [`VXLAN_PORTS`], the rest left out (said).
fn port_list(asked: &[u16], model: &Model) -> [u16; VXLAN_PORTS] {
    let mut ports: Vec<u16> = if asked.is_empty() {
        model.ports()
    } else {
        asked.to_vec()
    };
    if ports.is_empty() {
        ports.push(IANA_VXLAN_PORT);
    }
    if ports.len() > VXLAN_PORTS {
        log::warn!(
            "{} VXLAN ports in use ({ports:?}); the profilers classify packets on the first {VXLAN_PORTS}",
            ports.len()
        );
    }
    let mut list = [0; VXLAN_PORTS];
    for (slot, port) in list.iter_mut().zip(ports) {
        *slot = port;
    }
    list
}

/// A target for the whole host as each CPU's share (0: no sampling).
fn per_cpu(total: Option<u32>) -> u32 {
    let cpus = aya::util::nr_cpus().map_or(1, |n| n.max(1)) as u32;
    total.map_or(0, |t| t.div_ceil(cpus).max(1))
}

/// VXLAN's IANA port, for hosts with no overlay yet.
const IANA_VXLAN_PORT: u16 = 4789;

/// The event ring buffer's size when events are on.
pub const EVENT_RING_BYTES: u32 = 16 << 20;

/// Tracepoints, the programs that serve them, and the empty programs that
/// measure the floor there (`prism lab overhead`).
pub const HOOKS: [(&str, &str, &str); 12] = [
    (
        "napi_gro_receive_entry",
        "prism_gro_entry",
        "prism_empty_gro_entry",
    ),
    ("netif_receive_skb", "prism_rcv", "prism_empty_rcv"),
    ("netif_rx", "prism_netif_rx", "prism_empty_netif_rx"),
    ("net_dev_queue", "prism_dev_queue", "prism_empty_dev_queue"),
    (
        "sk_data_ready",
        "prism_data_ready",
        "prism_empty_data_ready",
    ),
    ("skb_copy_datagram_iovec", "prism_read", "prism_empty_read"),
    ("sock_recv_length", "prism_recv_len", "prism_empty_recv_len"),
    ("consume_skb", "prism_consume", "prism_empty_consume"),
    ("kfree_skb", "prism_kfree", "prism_empty_kfree"),
    (
        "softirq_raise",
        "prism_sirq_raise",
        "prism_empty_sirq_raise",
    ),
    (
        "softirq_entry",
        "prism_sirq_entry",
        "prism_empty_sirq_entry",
    ),
    ("napi_poll", "prism_napi_poll", "prism_empty_napi_poll"),
];

/// The tracepoint a program of this object serves (fallbacks included).
pub fn tracepoint_of(program: &str) -> Option<&'static str> {
    HOOKS
        .iter()
        .find(|(_, p, e)| *p == program || *e == program)
        .map(|(t, _, _)| *t)
        .or_else(|| {
            HOOKS.iter().map(|(t, _, _)| *t).find(|t| {
                [true, false]
                    .into_iter()
                    .flat_map(|exists| fallbacks_for(t, exists))
                    .any(|f| f.program() == Some(program))
            })
        })
}

/// What the profilers do on a kernel without a tracepoint, or whose
/// tracepoint has other arguments (older kernels).
struct Fallback {
    how: Instead,
    describe: &'static str,
}

enum Instead {
    /// This fentry program on this function.
    Fentry(&'static str, &'static str),
    /// This kprobe program on this function.
    Kprobe(&'static str, &'static str),
    /// This program on the same tracepoint.
    Program(&'static str, &'static str),
    /// Nothing: the boundary is seen elsewhere.
    Nothing,
    /// Nothing sees the boundary: the stages on either side are merged.
    Merge(Unseen),
}

impl Fallback {
    /// The program it runs instead, if any.
    fn program(&self) -> Option<&'static str> {
        match self.how {
            Instead::Fentry(name, _) | Instead::Kprobe(name, _) | Instead::Program(name, _) => {
                Some(name)
            }
            Instead::Nothing | Instead::Merge(_) => None,
        }
    }

    fn attach(&self, ebpf: &mut Ebpf, btf: &Btf) -> Result<()> {
        match self.how {
            Instead::Fentry(name, function) => {
                let p: &mut FEntry = program(ebpf, name)?;
                p.load(function, btf)
                    .with_context(|| format!("load fentry on {function}"))?;
                p.attach()
                    .with_context(|| format!("attach fentry on {function}"))?;
            }
            Instead::Kprobe(name, function) => {
                let p: &mut KProbe = program(ebpf, name)?;
                p.load().context("load a kprobe program")?;
                p.attach(function, 0)
                    .with_context(|| format!("attach kprobe on {function}"))?;
            }
            Instead::Program(name, tracepoint) => {
                let p: &mut BtfTracePoint = program(ebpf, name)?;
                p.load(tracepoint, btf)?;
                p.attach()?;
            }
            Instead::Nothing | Instead::Merge(_) => {}
        }
        Ok(())
    }
}

/// The fallbacks for `tracepoint` when attaching to it failed, by whether
/// the kernel has it at all: tried in order, the best boundary first.
fn fallbacks_for(tracepoint: &str, exists: bool) -> &'static [Fallback] {
    match (tracepoint, exists) {
        // 6.10 added the tracepoint in sock_def_readable.
        ("sk_data_ready", false) => &[
            Fallback {
                how: Instead::Fentry("prism_data_ready_fentry", "sock_def_readable"),
                describe: "data ready at fentry sock_def_readable (no sock:sk_data_ready tracepoint)",
            },
            Fallback {
                how: Instead::Kprobe("prism_data_ready_kprobe", "sock_def_readable"),
                describe: "data ready at kprobe sock_def_readable (no sock:sk_data_ready tracepoint, no fentry)",
            },
            Fallback {
                how: Instead::Merge(Unseen::DataReady),
                describe: "socket merged into stack (no sock:sk_data_ready tracepoint, fentry or kprobe)",
            },
        ],
        // 6.3 added it; without it a UDP read is seen when the datagram is
        // consumed (TCP reads have skb_copy_datagram_iovec).
        ("sock_recv_length", false) => &[Fallback {
            how: Instead::Nothing,
            describe: "UDP reads at the datagram's consume (no sock:sock_recv_length tracepoint)",
        }],
        // 5.17 added the drop reason argument.
        ("kfree_skb", true) => &[Fallback {
            how: Instead::Program("prism_kfree_noreason", "kfree_skb"),
            describe: "drops without their reason (skb:kfree_skb has no reason argument)",
        }],
        _ => &[],
    }
}

/// Tracepoints to treat as missing (`PRISM_PROBE_MISSING=a,b`), to test the
/// fallbacks on a kernel that has them.
pub const MISSING_ENV: &str = "PRISM_PROBE_MISSING";

fn pretend_missing(tracepoint: &str) -> bool {
    std::env::var(MISSING_ENV).is_ok_and(|v| v.split(',').any(|t| t == tracepoint))
}

/// Runs and run time of every loaded program of `ebpf` (the run time only
/// while the kernel's BPF statistics are on).
pub fn program_stats(ebpf: &Ebpf) -> Vec<ProgramStats> {
    ebpf.programs()
        .filter_map(|(name, p)| {
            let info = p.info().ok()?;
            Some(ProgramStats {
                name: name.to_string(),
                tracepoint: tracepoint_of(name).unwrap_or("?").to_string(),
                runs: info.run_count(),
                run_time_ns: info.run_time().as_nanos() as u64,
                verified_insns: info.verified_instruction_count(),
            })
        })
        .collect()
}

/// What one program has cost so far.
#[derive(Clone, Debug, serde::Serialize)]
pub struct ProgramStats {
    pub name: String,
    /// The tracepoint it serves.
    pub tracepoint: String,
    pub runs: u64,
    pub run_time_ns: u64,
    /// Instructions the verifier walked to accept it (5.16+): its load
    /// time grows with them, and the kernel refuses past 1 million.
    pub verified_insns: Option<u32>,
}

/// Attached profilers.
pub struct Collector {
    ebpf: Ebpf,
    events: Option<RingBuf<MapData>>,
    mechanism: Mechanism,
    config: CollectorConfig,
    devices: Vec<Device>,
    /// What the classifier was loaded with.
    ports: [u16; VXLAN_PORTS],
    /// Boundaries taken elsewhere than at their tracepoint, for people.
    fallbacks: Vec<&'static str>,
    /// Points no program sees here: their stages are merged.
    unseen: Vec<Unseen>,
    drop_reasons: BTreeMap<u32, String>,
    /// Per-container figures, when asked for.
    per_container: Option<(SharedHists, Slots)>,
}

impl Collector {
    /// Loads and attaches every profiler program. On failure nothing stays
    /// attached.
    pub fn attach(config: CollectorConfig) -> Result<Self> {
        let btf = KernelBtf::from_sys()?;
        let kernel = offsets::kernel_offsets(&btf)?;
        let model = prism_overlay::discover()?;
        model.resolve_namespaces(&config.namespaces)?;
        let ports = port_list(&config.vxlan_ports, &model);
        let probe = ProbeConfig {
            vxlan_ports: ports,
            events_sample: config.events.config_value(),
            rx_starts_at_rcv: config.profile.skips("napi_gro_receive_entry") as u32,
            low_per_cpu_per_sec: per_cpu(config.profile.low_timed_per_sec()),
            per_container: config.per_container as u32,
            ..Default::default()
        };
        let drop_reasons = btf
            .enum_members("skb_drop_reason")
            .map(|m| {
                m.into_iter()
                    .map(|(name, v)| (v, name.trim_start_matches("SKB_DROP_REASON_").to_string()))
                    .collect()
            })
            .unwrap_or_default();
        let mechanism = Mechanism::TpBtf;
        let shared = prism_kernel::bpf::rules_pin_dir();
        let share = config.rules.is_empty() && shared.join("RULES").exists();
        let mut loader = prism_kernel::bpf::loader();
        loader
            .override_global(KERNEL_OFFSETS_GLOBAL, &kernel, true)
            .override_global(PROBE_CONFIG_GLOBAL, &probe, true);
        // Events need room for bursts between two reads (16 MiB holds about
        // 300 000); without them a page will do.
        let ring_bytes = match config.events {
            EventSampling::Off => 4096,
            _ => EVENT_RING_BYTES,
        };
        loader.map_max_entries("EVENTS", ring_bytes);
        let container_hists = if config.per_container {
            CONTAINER_SLOTS * MAX_STAGES * CLASSES as u32
        } else {
            1
        };
        loader.map_max_entries("CONTAINER_SUMS", container_hists);
        loader.map_max_entries("CONTAINER_BUCKETS", container_hists * BUCKETS as u32);
        if share {
            loader.map_pin_path("RULES", shared.join("RULES"));
            loader.map_pin_path("RULE_COUNT", shared.join("RULE_COUNT"));
        }
        let mut ebpf = loader
            .load(crate::object())
            .context("load the profiler programs")?;
        let aya_btf = Btf::from_sys_fs().context("the profilers need the kernel's BTF (tp_btf)")?;
        let mut fallbacks = Vec::new();
        let mut unseen = config.profile.unseen().to_vec();
        for (tracepoint, name, _) in HOOKS {
            if config.profile.skips(tracepoint) {
                continue;
            }
            let missing = pretend_missing(tracepoint);
            let mut attach = || -> Result<()> {
                if missing {
                    bail!("{MISSING_ENV} says it is missing");
                }
                let p: &mut BtfTracePoint = program(&mut ebpf, name)?;
                p.load(tracepoint, &aya_btf)?;
                p.attach()?;
                Ok(())
            };
            let Err(e) =
                attach().with_context(|| format!("attach to tracepoint {tracepoint} (tp_btf)"))
            else {
                continue;
            };
            let exists = !missing && btf.has_type(&format!("btf_trace_{tracepoint}"));
            let mut why = format!("{e:#}");
            let chosen = fallbacks_for(tracepoint, exists).iter().find(|f| {
                match f.attach(&mut ebpf, &aya_btf) {
                    Ok(()) => true,
                    Err(e) => {
                        why.push_str(&format!("; {e:#}"));
                        false
                    }
                }
            });
            let Some(fallback) = chosen else {
                bail!("{why}");
            };
            if let Instead::Merge(u) = fallback.how {
                unseen.push(u);
            }
            fallbacks.push(fallback.describe);
        }
        let events = match config.events {
            EventSampling::Off => None,
            _ => Some(RingBuf::try_from(
                ebpf.take_map("EVENTS").context("EVENTS map missing")?,
            )?),
        };
        let per_container = match config.per_container {
            false => None,
            true => {
                let array = |name: &str| match ebpf.map(name) {
                    Some(aya::maps::Map::Array(data)) => Ok(data.fd()),
                    _ => Err(anyhow::anyhow!("{name}: no such array map")),
                };
                let hists = SharedHists::map(
                    array("CONTAINER_SUMS")?,
                    array("CONTAINER_BUCKETS")?,
                    container_hists as usize,
                )?;
                Some((hists, Slots::default()))
            }
        };
        let mut collector = Self {
            ebpf,
            events,
            mechanism,
            config,
            devices: Vec::new(),
            ports,
            drop_reasons,
            fallbacks,
            unseen,
            per_container,
        };
        let table = stage_table(&collector.unseen);
        let mut stages: Array<_, u8> = Array::try_from(collector.map_mut("STAGES")?)?;
        for (i, stage) in table.iter().enumerate().take(STAGE_TABLE_SIZE as usize) {
            if *stage != 0 {
                stages.set(i as u32, *stage, 0)?;
            }
        }
        if share {
            collector.config.rules = collector.read_rules()?;
        } else {
            let rules = collector.config.rules.clone();
            collector.set_rules(&rules)?;
        }
        collector.apply_model(&model)?;
        Ok(collector)
    }

    /// Stage boundaries this kernel has no tracepoint for, and where they
    /// are taken instead.
    pub fn fallbacks(&self) -> &[&'static str] {
        &self.fallbacks
    }

    /// The VXLAN ports the classifier looks for.
    pub fn vxlan_ports(&self) -> Vec<u16> {
        self.ports.iter().copied().filter(|p| *p != 0).collect()
    }

    /// The role numbers of the devices followed (which stages can occur).
    pub fn roles(&self) -> Vec<u8> {
        self.devices.iter().map(|d| role_id(d.role)).collect()
    }

    /// Whether `stage` can be seen here: its devices are followed and no
    /// stage merge removed it.
    pub fn present(&self, stage: Stage) -> bool {
        stage.present_with(&self.roles(), &self.unseen)
    }

    pub fn mechanism(&self) -> Mechanism {
        self.mechanism
    }

    /// The mechanism, with what differs on this kernel, in a few words:
    /// `tp_btf`, `tp_btf, 2 fallbacks`, `tp_btf, socket merged into stack`.
    pub fn mechanism_label(&self) -> String {
        let merged: Vec<&str> = self
            .unseen
            .iter()
            .filter(|u| !self.config.profile.unseen().contains(u))
            .map(|u| u.describe())
            .collect();
        match (merged.is_empty(), self.fallbacks.len()) {
            (false, _) => format!("{}, {}", self.mechanism, merged.join(", ")),
            (true, 0) => self.mechanism.to_string(),
            (true, 1) => format!("{}, 1 fallback", self.mechanism),
            (true, n) => format!("{}, {n} fallbacks", self.mechanism),
        }
    }

    /// Which profile runs.
    pub fn profile(&self) -> Profile {
        self.config.profile
    }

    pub fn rules(&self) -> &RuleSet {
        &self.config.rules
    }

    /// The devices being watched, with their roles.
    pub fn devices(&self) -> &[Device] {
        &self.devices
    }

    /// The watched containers by name: their owner's (Docker's container,
    /// a pod), else their namespace's label; each once, in path order.
    pub fn containers(&self) -> Vec<String> {
        prism_overlay::owners::once(
            self.devices
                .iter()
                .filter(|d| d.role == Role::Container)
                .map(|d| d.owner.clone().unwrap_or_else(|| d.namespace.clone())),
        )
    }

    fn map_mut(&mut self, name: &str) -> Result<&mut aya::maps::Map> {
        self.ebpf
            .map_mut(name)
            .with_context(|| format!("{name} map missing"))
    }

    fn map(&self, name: &str) -> Result<&aya::maps::Map> {
        self.ebpf
            .map(name)
            .with_context(|| format!("{name} map missing"))
    }

    /// Replaces the high-priority rules; packets already on their way keep
    /// the class they were given.
    pub fn set_rules(&mut self, rules: &RuleSet) -> Result<()> {
        let mut map: Array<_, Rule> = Array::try_from(self.map_mut("RULES")?)?;
        for (i, rule) in rules.rules().iter().enumerate() {
            map.set(i as u32, *rule, 0)?;
        }
        let mut count: Array<_, u32> = Array::try_from(self.map_mut("RULE_COUNT")?)?;
        count.set(0, rules.len() as u32, 0)?;
        self.config.rules = rules.clone();
        Ok(())
    }

    /// The rules in the rule map (the datapath's, when shared).
    pub fn read_rules(&self) -> Result<RuleSet> {
        let count: Array<_, u32> = Array::try_from(self.map("RULE_COUNT")?)?;
        let rules: Array<_, Rule> = Array::try_from(self.map("RULES")?)?;
        let mut set = RuleSet::default();
        for i in 0..count.get(&0, 0)?.min(prism_rules::MAX_RULES) {
            set.add(rules.get(&i, 0)?)?;
        }
        Ok(set)
    }

    /// Discovers the overlay's devices again (containers come and go) and
    /// updates the device map. Returns whether anything changed.
    pub fn refresh_devices(&mut self) -> Result<bool> {
        let model = prism_overlay::discover()?;
        self.apply_model(&model)
    }

    fn apply_model(&mut self, model: &Model) -> Result<bool> {
        if self.config.vxlan_ports.is_empty() {
            for port in model.ports() {
                if !self.ports.contains(&port) {
                    log::warn!(
                        "a VXLAN device on port {port} appeared after the profilers loaded; restart them to classify its packets"
                    );
                }
            }
        }
        // A watched namespace may be gone (its container exited).
        let only = model.resolve_namespaces_present(&self.config.namespaces);
        let found = match (self.config.namespaces.is_empty(), only.is_empty()) {
            (true, _) => model.devices(),
            (false, true) => Vec::new(),
            (false, false) => model.devices_in(&only),
        };
        if self.per_container.is_some() {
            let watched: Vec<Watched> = model
                .overlays
                .iter()
                .flat_map(|o| {
                    let underlay = o
                        .underlay
                        .as_ref()
                        .map_or(o.socket_ns.inode, |u| u.dev.ns.inode);
                    o.locals.iter().map(move |c| (underlay, c))
                })
                .filter(|(_, c)| {
                    self.config.namespaces.is_empty()
                        || only.contains(&c.dev.ns.inode)
                        || only.contains(&c.host_veth.ns.inode)
                })
                .map(|(underlay, c)| Watched {
                    inode: c.dev.ns.inode,
                    name: c.display_name().to_string(),
                    pod: c
                        .owner
                        .as_ref()
                        .and_then(|o| Some((o.pod.clone()?, o.pod_namespace.clone()?))),
                    ips: c
                        .ips
                        .iter()
                        .flat_map(|ip| [(c.dev.ns.inode, *ip), (underlay, *ip)])
                        .collect(),
                })
                .collect();
            self.set_containers(&watched)?;
        }
        self.set_devices(found)
    }

    /// Gives the containers slots and tells the classifier their addresses.
    fn set_containers(&mut self, watched: &[Watched]) -> Result<()> {
        let Some((hists, slots)) = self.per_container.as_mut() else {
            return Ok(());
        };
        let changes = slots.assign(watched);
        for slot in &changes.reused {
            hists.zero(*slot)?;
        }
        let mut ips: HashMap<_, ContainerKey, u8> = HashMap::try_from(
            self.ebpf
                .map_mut("CONTAINER_IPS")
                .context("CONTAINER_IPS map missing")?,
        )?;
        for ip in &changes.removed {
            let _ = ips.remove(&key_of(*ip));
        }
        for (ip, slot) in &changes.added {
            ips.insert(key_of(*ip), *slot, 0)?;
        }
        Ok(())
    }

    /// Local containers left out of the per-container figures: more than
    /// the kernel has slots for (they count in the host's figures).
    pub fn containers_overflow(&self) -> usize {
        self.per_container.as_ref().map_or(0, |(_, s)| s.overflow)
    }

    fn set_devices(&mut self, found: Vec<Device>) -> Result<bool> {
        let key = |d: &Device| (d.netns_inum, d.ifindex, d.role);
        let same = found.len() == self.devices.len()
            && found
                .iter()
                .zip(&self.devices)
                .all(|(a, b)| key(a) == key(b));
        if same {
            return Ok(false);
        }
        let mut slots = vec![DeviceSlot::default(); DEVICE_SLOTS as usize];
        for d in &found {
            let slot = &mut slots[device_slot(d.netns_inum, d.ifindex) as usize];
            let Some(free) = slot.entries.iter_mut().find(|e| e.role == 0) else {
                log::warn!(
                    "more than {DEVICE_WAYS} watched devices share device table slot {}; not following {}/{}",
                    device_slot(d.netns_inum, d.ifindex),
                    d.namespace,
                    d.name
                );
                continue;
            };
            *free = DeviceEntry {
                netns_inum: d.netns_inum,
                ifindex: d.ifindex,
                role: role_id(d.role),
                _pad: [0; 7],
            };
        }
        let mut table: Array<_, DeviceSlot> = Array::try_from(self.map_mut("DEVICE_TABLE")?)?;
        for (i, slot) in slots.into_iter().enumerate() {
            table.set(i as u32, slot, 0)?;
        }
        self.devices = found;
        Ok(true)
    }

    /// Reads every profiler map.
    pub fn snapshot(&self) -> Result<Snapshot> {
        let at_ns = monotonic_ns();
        let hists: PerCpuArray<_, Hist> = PerCpuArray::try_from(self.map("HISTS")?)?;
        let mut stages = BTreeMap::new();
        for stage in Stage::ALL {
            for class in Class::ALL {
                let slot = stage.id() as u32 * CLASSES as u32 + class.id() as u32;
                let h = Histogram::from_per_cpu(hists.get(&slot, 0)?.iter());
                if h.count > 0 {
                    stages.insert((stage, class), h);
                }
            }
        }
        let mut receive_total: [Histogram; 2] = Default::default();
        for (class_id, h) in receive_total.iter_mut().enumerate() {
            let slot = RECEIVE_TOTAL as u32 * CLASSES as u32 + class_id as u32;
            *h = Histogram::from_per_cpu(hists.get(&slot, 0)?.iter());
        }
        let counts: PerCpuArray<_, prism_probes_common::Counters> =
            PerCpuArray::try_from(self.map("COUNTERS")?)?;
        let mut counters = Counters::default();
        for per_cpu in counts.get(&0, 0)?.iter() {
            for (sum, n) in counters.0.iter_mut().zip(per_cpu) {
                *sum += n;
            }
        }
        let softirq: PerCpuArray<_, Hist> = PerCpuArray::try_from(self.map("SOFTIRQ_DELAY")?)?;
        let softirq = softirq
            .get(&0, 0)?
            .iter()
            .map(|h| Histogram::from_per_cpu([h]))
            .collect();
        let napi_map: PerCpuHashMap<_, DeviceKey, NapiStats> =
            PerCpuHashMap::try_from(self.map("NAPI")?)?;
        let mut napi = BTreeMap::new();
        for entry in napi_map.iter() {
            let (key, per_cpu) = entry?;
            let mut total = NapiStats::default();
            for s in per_cpu.iter() {
                total.polls += s.polls;
                total.work += s.work;
                total.exhausted += s.exhausted;
                for (a, b) in total.work_log2.iter_mut().zip(s.work_log2) {
                    *a += b;
                }
            }
            napi.insert(key, total);
        }
        let drop_map: PerCpuHashMap<_, DropKey, u64> = PerCpuHashMap::try_from(self.map("DROPS")?)?;
        let mut drops = BTreeMap::new();
        for entry in drop_map.iter() {
            let (key, per_cpu) = entry?;
            drops.insert(key, per_cpu.iter().sum());
        }
        let mut containers = BTreeMap::new();
        if let Some((hists, slots)) = &self.per_container {
            for (inode, slot, w) in slots.held() {
                let (stages, receive_total) = hists.read(slot);
                containers.insert(
                    inode,
                    ContainerFigures {
                        name: w.name.clone(),
                        pod: w.pod.clone(),
                        stages,
                        receive_total,
                    },
                );
            }
        }
        Ok(Snapshot {
            at_ns,
            stages,
            receive_total,
            counters,
            softirq,
            napi,
            drops,
            containers,
        })
    }

    /// Moves the per-packet events waiting in the ring buffer into `out`;
    /// returns how many. Events the buffer had no room for are counted in
    /// the `events_lost` counter.
    pub fn read_events(&mut self, out: &mut Vec<Event>) -> usize {
        let Some(ring) = self.events.as_mut() else {
            return 0;
        };
        let before = out.len();
        while let Some(item) = ring.next() {
            if item.len() >= std::mem::size_of::<Event>() {
                // SAFETY: the kernel wrote an `Event` (repr(C), plain data).
                out.push(unsafe { std::ptr::read_unaligned(item.as_ptr().cast::<Event>()) });
            }
        }
        out.len() - before
    }

    /// Run counts and total run time of each attached program, as the kernel
    /// keeps them while BPF_ENABLE_STATS is on (see `aya::sys::enable_stats`).
    pub fn program_stats(&self) -> Vec<ProgramStats> {
        program_stats(&self.ebpf)
    }

    /// The name of a drop reason (`enum skb_drop_reason`), from BTF.
    pub fn drop_reason(&self, reason: u32) -> String {
        self.drop_reasons
            .get(&reason)
            .cloned()
            .unwrap_or_else(|| reason.to_string())
    }

    /// Describes a namespace inode + ifindex as `namespace/device`.
    pub fn device_name(&self, key: &DeviceKey) -> String {
        if *key == DeviceKey::default() {
            return "backlog".into();
        }
        self.devices
            .iter()
            .find(|d| d.netns_inum == key.netns_inum && d.ifindex == key.ifindex)
            .map(|d| format!("{}/{}", d.namespace, d.name))
            .unwrap_or_else(|| format!("netns {}/ifindex {}", key.netns_inum, key.ifindex))
    }
}
