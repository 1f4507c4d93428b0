//! Keeping an enabled datapath current as containers come and go.
//!
//! The tables (local containers, remote containers and their VTEPs, the
//! VTEPs' MACs) and the transmit attachments mirror rtnetlink state. The
//! watcher subscribes to link, neighbour and route changes in every host
//! namespace and, when some arrive, runs the same idempotent update that a
//! second `prism enable` would. It also re-scans every few seconds, which
//! catches what notifications cannot: a namespace that gains a VXLAN device.

use std::time::{Duration, Instant};

use anyhow::{Error, Result};
use prism_kernel::rtnl_events::{self, Changes, EventSocket};

use crate::{
    control::{self, EnableOptions, EnableReport, HostState, State},
    topology::Host,
};

/// How long to let a burst of notifications (a container's veth, its
/// bridge port, its FDB entries) finish before updating.
const SETTLE: Duration = Duration::from_millis(100);
/// How often to re-scan for hosts without being notified.
const RESCAN: Duration = Duration::from_secs(5);
/// How long one wait for notifications lasts, i.e. how soon a stop request
/// is seen.
const TICK: Duration = Duration::from_millis(200);

/// What one update did, for the caller to report.
pub enum Update<'a> {
    /// The hosts' state changed (containers, attachments, hosts).
    Changed {
        changes: Changes,
        report: &'a EnableReport,
    },
    /// The update failed; the datapath keeps its previous tables and the
    /// watcher tries again on the next change.
    Failed { changes: Changes, error: &'a Error },
}

/// Why watching ended.
#[derive(Debug, PartialEq, Eq)]
pub enum End {
    /// `stop` said so.
    Stopped,
    /// The datapath was disabled by someone else.
    Disabled,
}

/// Watches until `stop` returns true or the datapath is disabled,
/// updating it with `opts` (whose rules are ignored: the pinned rule map
/// is live and `prism rules` may have changed it).
pub fn watch(
    opts: &EnableOptions,
    stop: impl Fn() -> bool,
    mut on_update: impl FnMut(Update),
) -> Result<End> {
    let opts = EnableOptions {
        rules: None,
        ..opts.clone()
    };
    let mut hosts = State::load()?.map(|s| s.hosts).unwrap_or_default();
    let mut sockets = subscribe(&crate::topology::discover(&control::scope(&opts))?.served)?;
    let mut last_scan = Instant::now();
    while !stop() {
        let mut changes = rtnl_events::wait(&sockets, TICK)?;
        if changes.any() {
            std::thread::sleep(SETTLE);
            changes.add(rtnl_events::drain_all(&sockets)?);
        } else if last_scan.elapsed() < RESCAN {
            continue;
        }
        last_scan = Instant::now();
        match control::update(&opts) {
            Ok(None) => return Ok(End::Disabled),
            Ok(Some(report)) => {
                if report.state.hosts != hosts || report.attached > 0 {
                    if !same_namespaces(&report.state.hosts, &hosts) {
                        sockets =
                            subscribe(&crate::topology::discover(&control::scope(&opts))?.served)?;
                    }
                    hosts = report.state.hosts.clone();
                    on_update(Update::Changed {
                        changes,
                        report: &report,
                    });
                }
            }
            Err(error) => on_update(Update::Failed {
                changes,
                error: &error,
            }),
        }
    }
    Ok(End::Stopped)
}

/// One notification socket per namespace a host's tables come from: the
/// VXLAN device's, and its socket's (Docker: the node, whose routes lead
/// to the remote VTEPs).
fn subscribe(hosts: &[Host]) -> Result<Vec<EventSocket>> {
    let mut namespaces: Vec<(&std::path::Path, &str)> = Vec::new();
    for h in hosts {
        for ns in [
            (h.ns_path.as_path(), h.namespace.as_str()),
            (h.socket_ns_path.as_path(), h.socket_namespace.as_str()),
        ] {
            if !namespaces.iter().any(|(p, _)| *p == ns.0) {
                namespaces.push(ns);
            }
        }
    }
    namespaces
        .into_iter()
        .map(|(path, label)| {
            let ns = std::fs::File::open(path)?;
            EventSocket::open(Some(&ns), label)
        })
        .collect()
}

fn same_namespaces(a: &[HostState], b: &[HostState]) -> bool {
    let inodes = |hs: &[HostState]| {
        let mut v: Vec<u32> = hs.iter().map(|h| h.netns_inode).collect();
        v.sort_unstable();
        v
    };
    inodes(a) == inodes(b)
}
