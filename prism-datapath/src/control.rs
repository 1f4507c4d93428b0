//! `prism enable`, `disable` and `status`: the datapath's lifecycle.
//!
//! Programs, links and maps are pinned (see [`crate::pins`]) so they outlive
//! the CLI. Enabling is transactional: a failure at any step removes every
//! pin it created, which detaches what it attached. Enabling again updates
//! rules, modes and tables in place and attaches to containers that
//! appeared; disabling removes whatever pins exist, so it also cleans up
//! after a crash.

use std::{
    fs,
    path::{Path, PathBuf},
};

use anyhow::{Context, Result, bail};
use aya::maps::{Array, HashMap, Map, MapData, PerCpuArray};
use prism_datapath_common::{Config, DSCP_KEEP, Local, Remote, mode};
use prism_kernel::{
    mounts::{self, PseudoFs},
    netns,
    sysfs::{self, Steering},
};
use prism_rules::RuleSet;
use serde::{Deserialize, Serialize};

use crate::{
    attach::{self, Mechanism, Role, Wanted},
    object::{Counters, DatapathObject, PROGRAMS},
    pins::{self, Transaction},
    priority,
    rules::PinnedRules,
    tables::{PinnedMaps, Tables},
    topology::{self, Host, Plan, Refusal, Scope},
};

/// Datapath modes, combinable.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Stream high-priority packets past the overlay's queues.
    Sync,
    /// Set `skb->priority` of high-priority packets.
    Mark,
    /// Give high-priority packets their own NIC queue and CPU before the
    /// receiver's shared queues (emulated on veth underlays).
    Nic,
    /// Give high-priority packets their own NIC queue, served first on a
    /// shared CPU: threaded NAPI, that ring's thread at a real-time
    /// priority (see [`crate::priority`]). No CPU is set aside.
    Prio,
}

impl std::str::FromStr for Mode {
    type Err = anyhow::Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "sync" => Ok(Self::Sync),
            "mark" => Ok(Self::Mark),
            "nic" => Ok(Self::Nic),
            "prio" => Ok(Self::Prio),
            _ => bail!("unknown mode {s:?} (expected sync, mark, nic or prio)"),
        }
    }
}

/// Modes as users write them: `sync+mark`.
pub fn mode_names(modes: &[Mode]) -> String {
    let names: Vec<String> = modes
        .iter()
        .map(|m| format!("{m:?}").to_lowercase())
        .collect();
    names.join("+")
}

/// The bits of `Config.modes` for `modes`.
pub fn mode_bits(modes: &[Mode]) -> u32 {
    modes.iter().fold(0, |bits, m| {
        bits | match m {
            Mode::Sync => mode::SYNC,
            Mode::Mark => mode::MARK,
            // Both steer the high class to its own queue.
            Mode::Nic | Mode::Prio => mode::NIC,
        }
    })
}

/// What `prism enable` is asked for.
#[derive(Clone, Debug)]
pub struct EnableOptions {
    pub modes: Vec<Mode>,
    /// None: keep the rules in place (an error if there are none).
    pub rules: Option<RuleSet>,
    /// Only hosts whose underlay is this device; None: every VXLAN host.
    pub underlay: Option<String>,
    /// Only hosts in these namespaces (labels); empty: all.
    pub namespaces: Vec<String>,
    /// `skb->priority` in mark mode.
    pub priority: u32,
    /// mark mode: the DSCP high-priority packets leave their container
    /// with; None: unchanged.
    pub dscp: Option<u8>,
    /// nic mode: the CPU that processes the high-priority ring; None: the
    /// last CPU.
    pub nic_cpu: Option<usize>,
    /// Routed overlays: accept that the fast path skips the node's IP
    /// forwarding and netfilter for high-priority flows.
    pub allow_netfilter_bypass: bool,
}

/// mark mode's `skb->priority` unless told otherwise (TC_PRIO_INTERACTIVE).
pub const DEFAULT_PRIORITY: u32 = 6;

impl Default for EnableOptions {
    /// sync mode on every host, the rules in place.
    fn default() -> Self {
        Self {
            modes: vec![Mode::Sync],
            rules: None,
            underlay: None,
            namespaces: Vec::new(),
            priority: DEFAULT_PRIORITY,
            dscp: None,
            nic_cpu: None,
            allow_netfilter_bypass: false,
        }
    }
}

/// nic mode on a veth underlay: high-priority packets go on transmit queue
/// 2 and the rest on queue 0. The peer reads the RPS map of ring k from
/// rx-(k-1) (it takes the queue the sender set as a recorded one), so ring
/// 2 is steered by rx-1's map and ring 0 by rx-0's.
const NIC_HIGH_QUEUE: u16 = 2;
const NIC_LOW_QUEUE: u16 = 0;
const NIC_HIGH_RPS: usize = 1;
const NIC_MIN_QUEUES: usize = 3;

/// What is enabled: written on enable, read by status.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct State {
    pub modes: Vec<Mode>,
    pub priority: u32,
    #[serde(default)]
    pub dscp: Option<u8>,
    /// Routed overlays were enabled with `--allow-netfilter-bypass`.
    #[serde(default)]
    pub allow_netfilter_bypass: bool,
    /// How the programs are attached (older state files: tcx).
    #[serde(default = "tcx")]
    pub attach: Mechanism,
    pub hosts: Vec<HostState>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostState {
    pub namespace: String,
    pub netns_inode: u32,
    /// How the programs serve it.
    #[serde(default = "bridged")]
    pub plan: Plan,
    pub underlay: String,
    /// Where the underlay and the VXLAN socket are (Docker: the node's).
    #[serde(default)]
    pub socket_namespace: String,
    /// That namespace's inode (0 in older state files: the host's own).
    #[serde(default)]
    pub socket_netns_inode: u32,
    pub vxlan: String,
    pub vni: u32,
    /// Host veths the transmit program is attached to.
    pub host_veths: Vec<String>,
    /// The underlay's RPS masks before nic mode changed them, to restore.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub saved_rps: Vec<String>,
    /// Its XPS masks, likewise (nic mode clears them: XPS would override
    /// the queue the steering program picks).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub saved_xps: Vec<String>,
    /// What prio mode changed on the underlay (threaded NAPI, the high
    /// ring thread's scheduling), likewise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub saved_prio: Option<priority::Saved>,
    pub local_containers: usize,
    pub remote_containers: usize,
}

impl State {
    pub fn load() -> Result<Option<Self>> {
        match fs::read_to_string(pins::state_file()) {
            Ok(text) => Ok(Some(
                serde_json::from_str(&text).context("corrupt datapath state file")?,
            )),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e).context("read the datapath state file"),
        }
    }

    fn save(&self) -> Result<()> {
        let path = pins::state_file();
        prism_kernel::files::write_atomically(&path, serde_json::to_string_pretty(self)?.as_bytes())
            .with_context(|| format!("write {}", path.display()))
    }
}

/// What `enable` did.
#[derive(Debug)]
pub struct EnableReport {
    /// False when it was enabled already and was only updated.
    pub fresh: bool,
    pub state: State,
    pub rules: RuleSet,
    /// Attachments made by this call.
    pub attached: usize,
    /// Other programs found on the hooks this call attached to (they stay,
    /// and run after Prism's).
    pub others: Vec<String>,
    /// VXLAN devices not served, and why.
    pub refused: Vec<Refusal>,
    /// (namespace, what the fast path skips there) for served hosts.
    pub warnings: Vec<(String, String)>,
}

fn tcx() -> Mechanism {
    Mechanism::Tcx
}

fn bridged() -> Plan {
    Plan::Bridged
}

/// Enables (or updates) the datapath on every host found.
pub fn enable(opts: &EnableOptions) -> Result<EnableReport> {
    let _lock = pins::lock()?;
    enable_locked(opts)
}

/// Updates the datapath if it is enabled; None if it is not (a watcher
/// must not turn it back on after `disable`).
pub fn update(opts: &EnableOptions) -> Result<Option<EnableReport>> {
    let _lock = pins::lock()?;
    if State::load()?.is_none() {
        return Ok(None);
    }
    enable_locked(opts).map(Some)
}

fn enable_locked(opts: &EnableOptions) -> Result<EnableReport> {
    mounts::ensure(PseudoFs::Bpf)?;
    let found = topology::discover(&scope(opts))?;
    let refused = found.refused;
    let hosts = found.served;
    let why = || {
        refused
            .iter()
            .map(|r| format!("\n  {} in {}: {}", r.device, r.namespace, r.reason))
            .collect::<String>()
    };
    if hosts.is_empty() {
        match (&opts.underlay, refused.is_empty()) {
            (_, false) => bail!("the datapath can serve no overlay on this host:{}", why()),
            (Some(dev), true) => bail!("no VXLAN device runs over an underlay named {dev}"),
            (None, true) => bail!(
                "no VXLAN device found in any network namespace; is the overlay up? (try `prism lab up`)"
            ),
        }
    }
    if hosts.iter().all(|h| h.locals.is_empty()) {
        let each: String = hosts
            .iter()
            .map(|h| {
                format!(
                    "\n  {} in {}: no local container on it",
                    h.vxlan.name, h.namespace
                )
            })
            .collect();
        bail!(
            "the datapath would fast-path nothing: no VXLAN device here has a container on it{each}{}",
            why()
        );
    }
    let previous = State::load()?;
    let fresh = previous.is_none();
    // An update keeps the mechanism the datapath was enabled with.
    let mechanism = match &previous {
        Some(p) => p.attach,
        None => Mechanism::detect()?,
    };
    if fresh {
        // Pins without a state file: an enable that died. Start clean.
        remove_all_pins()?;
    }
    let config = Config {
        modes: mode_bits(&opts.modes),
        priority: opts.priority,
        // The kernel reads queue + 1 as a recorded queue (see steer.rs).
        nic_high_queue: NIC_HIGH_QUEUE + 1,
        nic_low_queue: NIC_LOW_QUEUE + 1,
        dscp: opts.dscp.unwrap_or(DSCP_KEEP),
        _pad: [0; 3],
    };
    let steer = Steer::of(opts)?;
    let nic = steer != Steer::Shared;
    let mut tx = Transaction::default();
    let mut attached = 0;
    let mut others = Vec::new();
    let mut states = Vec::new();
    // Underlays whose RPS nic mode has set: Docker's networks share one.
    let mut steered: Vec<(PathBuf, u32)> = Vec::new();
    let mut failed = None;
    for host in &hosts {
        let mut state = host_state(host);
        if let Some(p) = previous
            .as_ref()
            .and_then(|p| p.hosts.iter().find(|h| h.netns_inode == host.netns_inode))
        {
            state.saved_rps = p.saved_rps.clone();
            state.saved_xps = p.saved_xps.clone();
            state.saved_prio = p.saved_prio.clone();
        }
        let done = enable_host(
            mechanism,
            host,
            &config,
            opts.rules.as_ref(),
            nic,
            &mut tx,
            &mut others,
        )
        .with_context(|| format!("enable the datapath in namespace {}", host.namespace))
        .and_then(|n| {
            attached += n;
            let underlay = (host.socket_ns_path.clone(), host.underlay.ifindex);
            if !steered.contains(&underlay) {
                steer_underlay(host, &mut state, steer).with_context(|| {
                    format!(
                        "set up the underlay's queues in namespace {}",
                        host.socket_namespace
                    )
                })?;
                steered.push(underlay);
            }
            Ok(())
        });
        if let Err(e) = done {
            failed = Some((e, state));
            break;
        }
        states.push(state);
    }
    if let Some((e, state)) = failed {
        if fresh {
            states.push(state);
            undo_steering(hosts.iter(), states);
        }
        return Err(e);
    }
    let rules = PinnedRules::open()
        .and_then(|p| p.context("the rule maps were not pinned"))
        .and_then(|p| p.read());
    let rules = match rules {
        Ok(r) if !r.is_empty() => r,
        failed => {
            if fresh {
                undo_steering(hosts.iter(), states);
            }
            failed?;
            bail!(
                "no high-priority rules: give at least one with --high (e.g. --high udp port 7777)"
            );
        }
    };
    let state = State {
        modes: opts.modes.clone(),
        priority: opts.priority,
        dscp: opts.dscp,
        allow_netfilter_bypass: opts.allow_netfilter_bypass,
        attach: mechanism,
        hosts: states,
    };
    state.save()?;
    tx.commit();
    let warnings = hosts
        .iter()
        .flat_map(|h| h.warnings.iter().map(|w| (h.namespace.clone(), w.clone())))
        .collect();
    Ok(EnableReport {
        fresh,
        state,
        rules,
        attached,
        others,
        refused,
        warnings,
    })
}

/// What an enable may serve.
pub fn scope(opts: &EnableOptions) -> Scope<'_> {
    Scope {
        underlay: opts.underlay.as_deref(),
        namespaces: &opts.namespaces,
        allow_netfilter_bypass: opts.allow_netfilter_bypass,
    }
}

fn host_state(host: &Host) -> HostState {
    HostState {
        namespace: host.namespace.clone(),
        netns_inode: host.netns_inode,
        plan: host.plan,
        underlay: host.underlay.name.clone(),
        socket_namespace: host.socket_namespace.clone(),
        socket_netns_inode: host.socket_netns_inode,
        vxlan: host.vxlan.name.clone(),
        vni: host.vni,
        host_veths: host
            .locals
            .iter()
            .map(|l| l.host_veth.name.clone())
            .collect(),
        local_containers: host.locals.len(),
        remote_containers: host.remotes.len(),
        saved_rps: Vec::new(),
        saved_xps: Vec::new(),
        saved_prio: None,
    }
}

/// Loads (first time) or updates one host's datapath and attaches what is
/// not attached yet. Returns how many attachments it made.
fn enable_host(
    mechanism: Mechanism,
    host: &Host,
    config: &Config,
    rules: Option<&RuleSet>,
    nic: bool,
    tx: &mut Transaction,
    others: &mut Vec<String>,
) -> Result<usize> {
    let dir = pins::host_dir(host.netns_inode);
    if !dir.exists() {
        prism_kernel::files::create_dirs(&dir)
            .with_context(|| format!("create {}", dir.display()))?;
        tx.created(dir.clone());
        let mut obj = DatapathObject::load(Some(&pins::rules_dir()))?;
        for name in TABLE_MAPS {
            let path = dir.join(name);
            obj.ebpf().map(name).context("map missing")?.pin(&path)?;
            tx.created(path);
        }
        for (name, pin) in PROGRAMS {
            let path = dir.join(pin);
            obj.program(name)?.pin(&path)?;
            tx.created(path);
        }
    }
    write_tables(&dir, host, config)?;
    if let Some(rules) = rules {
        PinnedRules::open()?
            .context("the rule maps were not pinned")?
            .write(rules)?;
    }
    attach_missing(mechanism, &dir, host, nic, tx, others)
}

/// How the underlay's receive rings are served.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Steer {
    /// As the kernel does: every ring alike.
    Shared,
    /// nic mode: the high ring on a CPU of its own.
    OwnCpu(Option<usize>),
    /// prio mode: the high ring first, on a shared CPU.
    First,
}

impl Steer {
    fn of(opts: &EnableOptions) -> Result<Self> {
        match (
            opts.modes.contains(&Mode::Nic),
            opts.modes.contains(&Mode::Prio),
        ) {
            (true, true) => bail!(
                "nic and prio are two ways to serve the high-priority ring (its own CPU, or first on a shared one): choose one"
            ),
            (true, false) => Ok(Self::OwnCpu(opts.nic_cpu)),
            (false, true) => Ok(Self::First),
            (false, false) => Ok(Self::Shared),
        }
    }
}

/// nic and prio modes: XPS is cleared so the steering program picks the
/// transmit queue. nic mode: the receiving side's RPS steers the
/// high-priority ring to `nic_cpu` and the other rings to the other CPUs.
/// prio mode: RPS is off (each ring's thread takes its packets to the
/// socket) and the high ring's thread is served first. Otherwise what was
/// saved before is put back.
fn steer_underlay(host: &Host, state: &mut HostState, steer: Steer) -> Result<()> {
    let (path, ns, dev) = (
        &host.socket_ns_path,
        &host.socket_namespace,
        &host.underlay.name,
    );
    let nic_cpu = match steer {
        Steer::Shared => {
            restore_masks(path, ns, dev, state);
            return Ok(());
        }
        Steer::OwnCpu(cpu) => cpu,
        Steer::First => None,
    };
    if !host.underlay_is_veth {
        bail!(
            "nic and prio modes on a physical NIC need flow steering (ethtool ntuple) and IRQ affinity, which Prism does not set up yet; they are emulated on veth underlays"
        );
    }
    let rps = sysfs::masks(path, ns, dev, Steering::Rps)?;
    if rps.len() < NIC_MIN_QUEUES {
        bail!(
            "nic and prio modes need an underlay with at least {NIC_MIN_QUEUES} queues; {dev} has {}",
            rps.len()
        );
    }
    let xps = sysfs::masks(path, ns, dev, Steering::Xps)?;
    if state.saved_rps.is_empty() {
        state.saved_rps = rps.clone();
        state.saved_xps = xps.clone();
    }
    let no_xps: Vec<(usize, String)> = (0..xps.len()).map(|q| (q, "0".to_string())).collect();
    if steer == Steer::First {
        // First the part that can fail on older kernels (it undoes itself),
        // then the masks, which the caller puts back on a failure.
        let saved = priority::serve_first(
            path,
            ns,
            dev,
            NIC_HIGH_QUEUE.into(),
            state.saved_prio.as_ref(),
        )?;
        state.saved_prio = Some(saved);
        let no_rps: Vec<(usize, String)> = (0..rps.len()).map(|q| (q, "0".to_string())).collect();
        sysfs::set_masks(path, ns, dev, Steering::Rps, &no_rps)?;
        return sysfs::set_masks(path, ns, dev, Steering::Xps, &no_xps);
    }
    put_back_prio(path, ns, dev, state);
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    let high = nic_cpu.unwrap_or(cpus - 1);
    if high >= cpus {
        bail!("--nic-cpu {high}: this machine has CPUs 0-{}", cpus - 1);
    }
    let others: Vec<usize> = (0..cpus).filter(|&c| c != high).collect();
    let others = if others.is_empty() {
        vec![high]
    } else {
        others
    };
    let rps_masks: Vec<(usize, String)> = (0..rps.len())
        .map(|q| {
            let cpus = if q == NIC_HIGH_RPS {
                vec![high]
            } else {
                others.clone()
            };
            (q, sysfs::cpu_mask(&cpus))
        })
        .collect();
    sysfs::set_masks(path, ns, dev, Steering::Rps, &rps_masks)?;
    sysfs::set_masks(path, ns, dev, Steering::Xps, &no_xps)
}

fn put_back_prio(path: &Path, ns: &str, dev: &str, state: &mut HostState) {
    if let Some(saved) = state.saved_prio.take() {
        priority::put_back(path, ns, dev, &saved);
    }
}

/// After a failed first enable: puts back what nic and prio modes changed
/// on these hosts' underlays, since no state file will tell `disable`.
fn undo_steering<'a>(hosts: impl Iterator<Item = &'a Host>, states: Vec<HostState>) {
    for (h, mut st) in hosts.zip(states) {
        restore_masks(
            &h.socket_ns_path,
            &h.socket_namespace,
            &h.underlay.name,
            &mut st,
        );
    }
}

/// Puts back the RPS and XPS masks and prio mode's settings saved in
/// `state` (best effort: the device may be gone).
fn restore_masks(path: &Path, ns: &str, dev: &str, state: &mut HostState) {
    put_back_prio(path, ns, dev, state);
    for (steering, saved) in [
        (Steering::Rps, &mut state.saved_rps),
        (Steering::Xps, &mut state.saved_xps),
    ] {
        if !saved.is_empty() {
            let masks: Vec<(usize, String)> = saved.drain(..).enumerate().collect();
            let _ = sysfs::set_masks(path, ns, dev, steering, &masks);
        }
    }
}

/// The maps each host pins: live settings, tables and counters.
const TABLE_MAPS: [&str; 7] = [
    "CONFIG",
    "TUNNEL",
    "LOCAL",
    "REMOTE",
    "LOCAL_IP",
    "REMOTE_NET",
    "COUNTERS",
];

/// Fills the host's pinned maps from what rtnetlink said.
fn write_tables(dir: &Path, host: &Host, config: &Config) -> Result<()> {
    let mut maps = PinnedMaps::new(dir.to_path_buf());
    Array::<_, Config>::try_from(crate::tables::Maps::map(&mut maps, "CONFIG")?)?
        .set(0, *config, 0)?;
    Tables::of(host).write(&mut maps)
}

/// Attaches the receive program to the underlay (Docker: to the sandbox's
/// VXLAN device) and the transmit program to every container's host veth,
/// where none is attached yet, and takes off the transmit programs of
/// containers that are gone. Prism goes first on each hook (see
/// [`crate::attach`]); other programs stay attached and untouched.
fn attach_missing(
    mechanism: Mechanism,
    dir: &Path,
    host: &Host,
    nic: bool,
    tx: &mut Transaction,
    others: &mut Vec<String>,
) -> Result<usize> {
    // Docker: after the kernel's decap on the sandbox's VXLAN device.
    let rx = match host.plan {
        Plan::Sandbox => ("prog_rx_sandbox", &host.vxlan),
        _ => ("prog_rx", &host.underlay),
    };
    let mut wanted = vec![Wanted {
        role: Role::Rx,
        program_pin: rx.0,
        dev: rx.1.name.clone(),
        ifindex: rx.1.ifindex,
        in_socket_ns: false,
    }];
    if nic {
        // On the underlay's egress, where the underlay is (Docker: the node).
        wanted.push(Wanted {
            role: Role::Steer,
            program_pin: "prog_steer",
            dev: host.underlay.name.clone(),
            ifindex: host.underlay.ifindex,
            in_socket_ns: true,
        });
    }
    for l in &host.locals {
        wanted.push(Wanted {
            role: Role::Tx,
            program_pin: "prog_tx",
            dev: l.host_veth.name.clone(),
            ifindex: l.host_veth.ifindex,
            in_socket_ns: false,
        });
    }
    let records = attach::records(dir);
    // Transmit attachments of veths that are gone (or were replaced).
    let stale: Vec<PathBuf> = records
        .iter()
        .filter(|(_, r)| {
            matches!(r.attachment(), Some((Role::Tx, Some(i))) if !wanted.iter().any(|w| w.role == Role::Tx && w.ifindex == i))
        })
        .map(|(p, _)| p.clone())
        .collect();
    attach::remove(&stale)?;
    let missing: Vec<Wanted> = wanted
        .into_iter()
        .filter(|w| !attach::is_attached(&records, w))
        .collect();
    let mut result = Ok(0);
    for (in_socket_ns, path, label, inode) in [
        (false, &host.ns_path, &host.namespace, host.netns_inode),
        (
            true,
            &host.socket_ns_path,
            &host.socket_namespace,
            host.socket_netns_inode,
        ),
    ] {
        let here: Vec<&Wanted> = missing
            .iter()
            .filter(|w| w.in_socket_ns == in_socket_ns)
            .collect();
        if here.is_empty() {
            continue;
        }
        let ns = fs::File::open(path).with_context(|| format!("open namespace {label}"))?;
        // Records made before a failure are in `tx`, to be undone.
        let done = netns::run_in_file(Some(&ns), label, || -> Result<usize> {
            let mut attached = 0;
            for w in &here {
                match attach::attach(mechanism, dir, w, inode, tx, others) {
                    Ok(()) => attached += 1,
                    // A container that left while enable looked: nothing
                    // to serve (a watcher drops it from the tables next).
                    Err(e) if w.role == Role::Tx && !attach::still_there(w) => {
                        log::info!("{} left during the update: {e:#}", w.dev);
                    }
                    Err(e) => return Err(e),
                }
            }
            Ok(attached)
        })
        .and_then(|r| r);
        result = result.and_then(|n| done.map(|d| n + d));
        if result.is_err() {
            break;
        }
    }
    result
}

/// Adds rules to the live rule map, under the control lock: two
/// concurrent changes (or a change and an `enable`) each see the other's
/// rules instead of writing over them. `None` when nothing is enabled.
pub fn add_rules(rules: &[prism_rules::Rule]) -> Result<Option<prism_rules::RuleSet>> {
    let _lock = pins::lock()?;
    PinnedRules::open()?.map(|mut p| p.add(rules)).transpose()
}

/// Deletes rules from the live rule map, as [`add_rules`] adds them.
pub fn delete_rules(rules: &[prism_rules::Rule]) -> Result<Option<prism_rules::RuleSet>> {
    let _lock = pins::lock()?;
    PinnedRules::open()?
        .map(|mut p| p.delete(rules))
        .transpose()
}

/// Removes every datapath pin and the state file. Returns how many
/// attachments were removed (detached), or None if nothing was enabled.
pub fn disable() -> Result<Option<usize>> {
    let _lock = pins::lock()?;
    let dirs = pins::host_dirs();
    let state = pins::state_file();
    if dirs.is_empty() && !state.exists() && !pins::rules_dir().exists() {
        return Ok(None);
    }
    if let Ok(Some(s)) = State::load() {
        restore_rps(&s);
    }
    let links = remove_all_pins()?;
    let _ = fs::remove_file(&state);
    Ok(Some(links))
}

/// Puts back what nic and prio modes changed (on hosts that still exist).
fn restore_rps(state: &State) {
    for h in state
        .hosts
        .iter()
        .filter(|h| !h.saved_rps.is_empty() || h.saved_prio.is_some())
    {
        // The underlay is in the socket's namespace (Docker: the node's).
        let inode = match h.socket_netns_inode {
            0 => h.netns_inode,
            inode => inode,
        };
        if let Some(ns) = netns::all().into_iter().find(|n| n.inode == inode) {
            restore_masks(&ns.path, &ns.label, &h.underlay, &mut h.clone());
        }
    }
}

fn remove_all_pins() -> Result<usize> {
    let mut links = 0;
    for dir in pins::host_dirs() {
        let entries: Vec<PathBuf> = fs::read_dir(&dir)?
            .filter_map(|e| Some(e.ok()?.path()))
            .collect();
        links += attach::remove(&entries)?;
        pins::remove_pin(&dir)?;
    }
    let rules = pins::rules_dir();
    if rules.exists() {
        for entry in fs::read_dir(&rules)?.filter_map(Result::ok) {
            pins::remove_pin(&entry.path())?;
        }
        pins::remove_pin(&rules)?;
    }
    pins::remove_pin(&pins::datapath_dir())?;
    // The root too, unless something else of Prism's lives there.
    let _ = fs::remove_dir(pins::ROOT);
    Ok(links)
}

/// What `prism status` shows.
#[derive(Clone, Debug, Serialize)]
pub struct Status {
    pub enabled: bool,
    pub modes: Vec<Mode>,
    /// mark mode's `skb->priority` and DSCP (None: unchanged).
    pub priority: u32,
    pub dscp: Option<u8>,
    pub rules: Vec<String>,
    /// How the programs are attached (None when not enabled).
    pub attach: Option<Mechanism>,
    pub hosts: Vec<HostStatus>,
    /// Counters summed over hosts.
    pub counters: Vec<CounterRow>,
    /// Every VXLAN device on this machine, and whether the datapath
    /// serves it or why not (empty in the brief status).
    pub overlays: Vec<OverlayStatus>,
}

/// A VXLAN device as the overlay model sees it, for `prism status`.
#[derive(Clone, Debug, Serialize)]
pub struct OverlayStatus {
    pub namespace: String,
    pub device: String,
    pub vni: u32,
    pub port: u16,
    pub reach: prism_overlay::Reach,
    /// Where its socket and underlay are.
    pub socket_namespace: String,
    pub underlay: Option<String>,
    pub underlay_found_by: Option<prism_overlay::UnderlayFrom>,
    pub local_containers: usize,
    /// The local containers by name (their owner's, else their namespace's).
    pub containers: Vec<String>,
    pub remotes: usize,
    /// How the datapath serves it, or why it does not.
    pub datapath: String,
}

/// The overlays found and what the datapath makes of them, with the
/// bypass the datapath was enabled with.
fn overlays(allow_netfilter_bypass: bool) -> Vec<OverlayStatus> {
    let Ok(model) = prism_overlay::discover() else {
        return Vec::new();
    };
    let scope = Scope {
        allow_netfilter_bypass,
        ..Default::default()
    };
    let hosts = topology::plan(&model, &scope, &[]);
    model
        .overlays
        .iter()
        .map(|o| {
            let is = |ns: &str, dev: &str| ns == o.vxlan.ns.label && dev == o.vxlan.name;
            let datapath = match hosts
                .served
                .iter()
                .find(|h| is(&h.namespace, &h.vxlan.name))
            {
                Some(h) => format!("{:?}: {}", h.plan, h.serves()).to_lowercase(),
                None => hosts
                    .refused
                    .iter()
                    .find(|r| is(&r.namespace, &r.device))
                    .map_or_else(
                        || "not served".into(),
                        |r| format!("not served: {}", r.reason),
                    ),
            };
            OverlayStatus {
                namespace: o.vxlan.ns.label.clone(),
                device: o.vxlan.name.clone(),
                vni: o.vni,
                port: o.port,
                reach: o.reach,
                socket_namespace: o.socket_ns.label.clone(),
                underlay: o.underlay.as_ref().map(|u| u.dev.name.clone()),
                underlay_found_by: o.underlay.as_ref().map(|u| u.found_by),
                local_containers: o.locals.len(),
                containers: o
                    .locals
                    .iter()
                    .map(|c| c.display_name().to_string())
                    .collect(),
                remotes: o.remotes.len(),
                datapath,
            }
        })
        .collect()
}

#[derive(Clone, Debug, Serialize)]
pub struct HostStatus {
    pub namespace: String,
    pub underlay: String,
    pub vxlan: String,
    pub vni: u32,
    pub attachments: Vec<Attachment>,
    /// Entries in the pinned tables: containers on this host, and
    /// containers behind other VTEPs.
    pub local_containers: usize,
    pub remote_containers: usize,
    pub counters: Vec<CounterRow>,
}

#[derive(Clone, Debug, Serialize)]
pub struct Attachment {
    /// `receive` (underlay ingress) or `transmit` (host veth ingress).
    pub program: &'static str,
    pub device: String,
    /// False when the device is gone (the link outlived it), or a clsact
    /// filter was deleted behind Prism's back.
    pub attached: bool,
    /// tcx link or clsact filter.
    pub via: Mechanism,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct CounterRow {
    pub direction: &'static str,
    pub reason: &'static str,
    pub class: &'static str,
    pub packets: u64,
}

fn rows(c: &Counters) -> Vec<CounterRow> {
    c.nonzero()
        .into_iter()
        .map(|(direction, reason, class, packets)| CounterRow {
            direction,
            reason,
            class,
            packets,
        })
        .collect()
}

/// What `prism status` shows, per host and in total.
pub fn status() -> Result<Status> {
    status_with(true)
}

/// The state, rules and total counters only: no per-host attachments or
/// table sizes, which take a netlink dump in each namespace. For callers
/// that poll (`prism top`).
pub fn brief_status() -> Result<Status> {
    status_with(false)
}

fn status_with(per_host: bool) -> Result<Status> {
    let state = State::load()?;
    let rules = PinnedRules::open()?
        .map(|r| r.read())
        .transpose()?
        .unwrap_or_default();
    let Some(state) = state else {
        return Ok(Status {
            enabled: false,
            modes: Vec::new(),
            priority: 0,
            dscp: None,
            rules: rules.rules().iter().map(ToString::to_string).collect(),
            attach: None,
            hosts: Vec::new(),
            counters: Vec::new(),
            overlays: if per_host {
                overlays(false)
            } else {
                Vec::new()
            },
        });
    };
    let mut total = Counters::default();
    let mut hosts = Vec::new();
    for h in &state.hosts {
        let dir = pins::host_dir(h.netns_inode);
        let counters = match MapData::from_pin(dir.join("COUNTERS")) {
            Ok(map) => Counters::read(&PerCpuArray::<_, u64>::try_from(Map::PerCpuArray(map))?)?,
            Err(_) => Counters::default(),
        };
        total.add(&counters);
        if !per_host {
            continue;
        }
        let devices = devices_in(h.netns_inode);
        let present = |ifindex: Option<u32>, name: &str| {
            devices
                .iter()
                .any(|(i, n)| ifindex.is_none_or(|x| x == *i) && (ifindex.is_some() || n == name))
        };
        let receive_on = match h.plan {
            Plan::Sandbox => &h.vxlan,
            Plan::Bridged | Plan::Routed => &h.underlay,
        };
        let records = attach::records(&dir);
        // A clsact filter is not a pin: ask the kernel whether it is there.
        let filters = attach::filters_present(&records);
        let in_place = |r: &attach::Record| r.mechanism() == Mechanism::Tcx || filters.contains(r);
        let rx = records.iter().find_map(|(_, r)| match r.attachment() {
            Some((Role::Rx, _)) => Some(r),
            _ => None,
        });
        let mut attachments = vec![Attachment {
            program: "receive",
            device: receive_on.clone(),
            attached: rx.is_some_and(&in_place) && present(None, receive_on),
            via: rx.map_or(state.attach, |r| r.mechanism()),
        }];
        for (_, record) in &records {
            if let Some((Role::Tx, Some(ifindex))) = record.attachment() {
                let device = devices
                    .iter()
                    .find(|(i, _)| *i == ifindex)
                    .map_or_else(|| format!("ifindex {ifindex} (gone)"), |(_, n)| n.clone());
                attachments.push(Attachment {
                    program: "transmit",
                    device,
                    attached: in_place(record) && present(Some(ifindex), ""),
                    via: record.mechanism(),
                });
            }
        }
        hosts.push(HostStatus {
            namespace: h.namespace.clone(),
            underlay: h.underlay.clone(),
            vxlan: h.vxlan.clone(),
            vni: h.vni,
            attachments,
            local_containers: pinned_entries::<Local>(&dir, "LOCAL"),
            remote_containers: pinned_entries::<Remote>(&dir, "REMOTE"),
            counters: rows(&counters),
        });
    }
    Ok(Status {
        enabled: true,
        modes: state.modes,
        priority: state.priority,
        dscp: state.dscp,
        rules: rules.rules().iter().map(ToString::to_string).collect(),
        attach: Some(state.attach),
        hosts,
        counters: rows(&total),
        overlays: if per_host {
            overlays(state.allow_netfilter_bypass)
        } else {
            Vec::new()
        },
    })
}

/// (ifindex, name) of the devices in the namespace with this inode, or
/// nothing when it is gone.
fn devices_in(inode: u32) -> Vec<(u32, String)> {
    let Some(ns) = netns::all().into_iter().find(|n| n.inode == inode) else {
        return Vec::new();
    };
    let Ok(file) = fs::File::open(&ns.path) else {
        return Vec::new();
    };
    netns::run_in_file(Some(&file), &ns.label, || {
        prism_kernel::rtnl::run(|nl| async move { nl.links().await })
    })
    .ok()
    .and_then(Result::ok)
    .map(|links| links.into_iter().map(|l| (l.ifindex, l.name)).collect())
    .unwrap_or_default()
}

/// How many keys a host's pinned hash map holds (0 when it is gone).
fn pinned_entries<V: aya::Pod>(dir: &Path, name: &str) -> usize {
    MapData::from_pin(dir.join(name))
        .ok()
        .and_then(|map| HashMap::<_, u64, V>::try_from(Map::HashMap(map)).ok())
        .map_or(0, |m| m.keys().filter(Result::is_ok).count())
}
