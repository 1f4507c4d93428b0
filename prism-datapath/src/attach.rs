//! How the datapath's programs go onto a device's TC hooks and come off
//! again: tcx links where the kernel has them (6.6 and newer), clsact
//! filters where it does not. Which one is found by asking the kernel
//! ([`Mechanism::detect`]), never from its version.
//!
//! Every attachment is recorded in the host's pin directory *before* it is
//! made, so an enable that dies leaves a record that `disable` (or the
//! transaction's undo) acts on:
//!
//! ```text
//! link_rx link_steer link_tx_<ifindex>          tcx links: the pin is the attachment
//! filter_<role>_<netns>_<ifindex>_<handle>/     a clsact filter (empty directory)
//! clsact_<netns>_<ifindex>/                     a clsact qdisc Prism added
//! ```
//!
//! bpffs holds only BPF objects and directories, and a netlink filter is
//! not a BPF object, so its record is a directory whose name says where
//! the filter is. A clsact qdisc that was there before stays; one Prism
//! added goes when its last filter does.
//!
//! Both mechanisms run Prism first on the hook: tcx by `LinkOrder::first`,
//! clsact by priority [`CLSACT_PRIORITY`], the lowest there is. The
//! programs hand packets on with `TC_ACT_UNSPEC`, which is tcx's "next" and
//! cls_bpf's "continue with the next filter" alike.

use std::{
    fs,
    path::{Path, PathBuf},
};

use anyhow::{Context, Result, anyhow, bail};
use aya::programs::{
    LinkOrder, SchedClassifier, TcAttachType,
    links::{FdLink, PinnedLink},
    tc::{NlOptions, SchedClassifierLink, TcAttachOptions, TcHandle, qdisc_add_clsact},
};
use prism_kernel::{netns, rtnl, tc};
use serde::{Deserialize, Serialize};

use crate::{
    object::{RX_PROGRAM, RX_SANDBOX_PROGRAM, STEER_PROGRAM, TX_PROGRAM},
    pins::{self, Transaction},
};

/// The clsact priority of Prism's filters: 1 runs before any other.
pub const CLSACT_PRIORITY: u16 = 1;
/// Prism's filter handles are this plus a small number ("PR").
pub const CLSACT_HANDLE_BASE: u32 = 0x5052_0000;
/// Forces a mechanism (`tcx` or `clsact`), e.g. to test the fallback on a
/// kernel that has tcx.
pub const MECHANISM_ENV: &str = "PRISM_TC_ATTACH";

/// How programs are attached to TC hooks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mechanism {
    /// BPF links on the device's tcx hooks (6.6+).
    Tcx,
    /// cls_bpf filters in direct-action mode under a clsact qdisc.
    Clsact,
}

impl Mechanism {
    /// tcx if the kernel answers a tcx query on loopback, clsact if it does
    /// not; `PRISM_TC_ATTACH` overrides.
    pub fn detect() -> Result<Self> {
        match std::env::var(MECHANISM_ENV).as_deref() {
            Ok("tcx") => return Ok(Self::Tcx),
            Ok("clsact") => return Ok(Self::Clsact),
            Ok(other) => bail!("{MECHANISM_ENV}={other}: expected tcx or clsact"),
            Err(_) => {}
        }
        Ok(
            match SchedClassifier::query_tcx("lo", TcAttachType::Ingress) {
                Ok(_) => Self::Tcx,
                Err(_) => Self::Clsact,
            },
        )
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::Tcx => "tcx",
            Self::Clsact => "clsact",
        }
    }
}

/// What an attachment does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// The receive program, on the underlay (Docker: the sandbox's VXLAN
    /// device) ingress.
    Rx,
    /// nic mode's steering program, on the underlay egress.
    Steer,
    /// The transmit program, on a container's host veth ingress.
    Tx,
}

impl Role {
    fn tag(self) -> &'static str {
        match self {
            Self::Rx => "rx",
            Self::Steer => "steer",
            Self::Tx => "tx",
        }
    }

    fn from_tag(tag: &str) -> Option<Self> {
        [Self::Rx, Self::Steer, Self::Tx]
            .into_iter()
            .find(|r| r.tag() == tag)
    }

    pub fn hook(self) -> TcAttachType {
        match self {
            Self::Steer => TcAttachType::Egress,
            Self::Rx | Self::Tx => TcAttachType::Ingress,
        }
    }

    fn tc_hook(self) -> tc::Hook {
        match self {
            Self::Steer => tc::Hook::Egress,
            Self::Rx | Self::Tx => tc::Hook::Ingress,
        }
    }
}

/// One attachment a host wants.
#[derive(Clone, Debug)]
pub struct Wanted {
    pub role: Role,
    /// The program's pin in the host directory.
    pub program_pin: &'static str,
    pub dev: String,
    pub ifindex: u32,
    /// In the socket's namespace (Docker: the node's) rather than the
    /// host's.
    pub in_socket_ns: bool,
}

/// An attachment, or a qdisc added for attachments, as recorded in a host
/// directory.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Record {
    Link {
        role: Role,
        /// Transmit links are per veth; the others are one per host.
        ifindex: Option<u32>,
    },
    Filter {
        role: Role,
        netns: u32,
        ifindex: u32,
        handle: u32,
    },
    Qdisc {
        netns: u32,
        ifindex: u32,
    },
}

impl Record {
    pub fn parse(name: &str) -> Option<Self> {
        let parts: Vec<&str> = name.split('_').collect();
        let num = |s: &str| s.parse::<u32>().ok();
        match parts.as_slice() {
            ["link", role] => Some(Self::Link {
                role: Role::from_tag(role)?,
                ifindex: None,
            }),
            ["link", role, ifindex] => Some(Self::Link {
                role: Role::from_tag(role)?,
                ifindex: Some(num(ifindex)?),
            }),
            ["filter", role, netns, ifindex, handle] => Some(Self::Filter {
                role: Role::from_tag(role)?,
                netns: num(netns)?,
                ifindex: num(ifindex)?,
                handle: u32::from_str_radix(handle, 16).ok()?,
            }),
            ["clsact", netns, ifindex] => Some(Self::Qdisc {
                netns: num(netns)?,
                ifindex: num(ifindex)?,
            }),
            _ => None,
        }
    }

    /// Its name in the host directory (bpffs names cannot hold dots).
    pub fn name(&self) -> String {
        match *self {
            Self::Link {
                role,
                ifindex: None,
            } => format!("link_{}", role.tag()),
            Self::Link {
                role,
                ifindex: Some(i),
            } => format!("link_{}_{i}", role.tag()),
            Self::Filter {
                role,
                netns,
                ifindex,
                handle,
            } => format!("filter_{}_{netns}_{ifindex}_{handle:x}", role.tag()),
            Self::Qdisc { netns, ifindex } => format!("clsact_{netns}_{ifindex}"),
        }
    }

    /// The attachment's role and device (None for a qdisc, and for the one
    /// receive or steering link, which does not name its device).
    pub fn attachment(&self) -> Option<(Role, Option<u32>)> {
        match *self {
            Self::Link { role, ifindex } => Some((role, ifindex)),
            Self::Filter { role, ifindex, .. } => Some((role, Some(ifindex))),
            Self::Qdisc { .. } => None,
        }
    }

    pub fn mechanism(&self) -> Mechanism {
        match self {
            Self::Link { .. } => Mechanism::Tcx,
            Self::Filter { .. } | Self::Qdisc { .. } => Mechanism::Clsact,
        }
    }

    /// Whether this records `want`.
    fn serves(&self, want: &Wanted) -> bool {
        match self.attachment() {
            Some((role, ifindex)) => role == want.role && ifindex.is_none_or(|i| i == want.ifindex),
            None => false,
        }
    }
}

/// The records in a host directory, with their paths.
pub fn records(dir: &Path) -> Vec<(PathBuf, Record)> {
    let Ok(entries) = fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut found: Vec<(PathBuf, Record)> = entries
        .filter_map(Result::ok)
        .filter_map(|e| {
            let record = Record::parse(&e.file_name().to_string_lossy())?;
            Some((e.path(), record))
        })
        .collect();
    found.sort_by_key(|(p, _)| p.clone());
    found
}

/// Whether some record in the directory serves `want`.
pub fn is_attached(records: &[(PathBuf, Record)], want: &Wanted) -> bool {
    records.iter().any(|(_, r)| r.serves(want))
}

/// Attaches `want`'s program (pinned in `dir`) first on its hook, run in
/// the namespace `netns_inode` where its device is. Every record it makes
/// goes to `tx`. Programs of others on the hook are added to `others`.
pub fn attach(
    mechanism: Mechanism,
    dir: &Path,
    want: &Wanted,
    netns_inode: u32,
    tx: &mut Transaction,
    others: &mut Vec<String>,
) -> Result<()> {
    let mut program = SchedClassifier::from_pin(dir.join(want.program_pin))
        .with_context(|| format!("open the pinned {}", want.program_pin))?;
    let (dev, hook) = (want.dev.as_str(), want.role.hook());
    let what = || {
        format!(
            "attach {} to {dev} ({} {hook:?})",
            want.program_pin,
            mechanism.name()
        )
    };
    match mechanism {
        Mechanism::Tcx => {
            others.extend(tcx_others(dev, hook)?);
            let link_id = program
                .attach_with_options(dev, hook, TcAttachOptions::TcxOrder(LinkOrder::first()))
                .with_context(what)?;
            let link = FdLink::try_from(program.take_link(link_id)?)?;
            let path = dir.join(
                Record::Link {
                    role: want.role,
                    ifindex: (want.role == Role::Tx).then_some(want.ifindex),
                }
                .name(),
            );
            link.pin(&path)
                .with_context(|| format!("pin {}", path.display()))?;
            tx.created(path);
        }
        Mechanism::Clsact => {
            let (filters, had_clsact) = rtnl::run(|nl| async move {
                let filters = nl.filters(want.ifindex, want.role.tc_hook()).await?;
                Ok((filters, nl.has_clsact(want.ifindex).await?))
            })?;
            others.extend(clsact_others(dev, hook, &filters));
            if !had_clsact {
                let record = Record::Qdisc {
                    netns: netns_inode,
                    ifindex: want.ifindex,
                };
                tx.created(make_record(dir, &record)?);
                qdisc_add_clsact(dev).with_context(|| format!("add a clsact qdisc to {dev}"))?;
            }
            // The first of Prism's handles free on this hook (Docker's
            // networks share one underlay, each with its steering filter).
            let handle = (CLSACT_HANDLE_BASE + 1..)
                .find(|h| {
                    !filters
                        .iter()
                        .any(|f| f.priority == CLSACT_PRIORITY && f.handle == *h)
                })
                .expect("a free handle");
            let record = Record::Filter {
                role: want.role,
                netns: netns_inode,
                ifindex: want.ifindex,
                handle,
            };
            tx.created(make_record(dir, &record)?);
            let options = NlOptions {
                priority: CLSACT_PRIORITY,
                handle: TcHandle::from(handle),
                ..Default::default()
            };
            let link_id = program
                .attach_with_options(dev, hook, TcAttachOptions::Netlink(options))
                .with_context(what)?;
            // The filter stays when this process ends: its record is what
            // takes it off again. Dropping the link would detach it.
            std::mem::forget(program.take_link(link_id)?);
        }
    }
    Ok(())
}

fn make_record(dir: &Path, record: &Record) -> Result<PathBuf> {
    let path = dir.join(record.name());
    prism_kernel::files::create_dir(&path).with_context(|| format!("record {}", path.display()))?;
    Ok(path)
}

/// Attaches a loaded program as [`attach`] would and takes it off again at
/// once (doctor's check, in a scratch namespace).
pub fn try_attach(
    mechanism: Mechanism,
    program: &mut SchedClassifier,
    dev: &str,
    hook: TcAttachType,
) -> Result<()> {
    let options = match mechanism {
        Mechanism::Tcx => {
            tcx_others(dev, hook)?;
            TcAttachOptions::TcxOrder(LinkOrder::first())
        }
        Mechanism::Clsact => {
            let ifindex =
                nix::net::if_::if_nametoindex(dev).with_context(|| format!("no device {dev}"))?;
            if !rtnl::run(|nl| async move { nl.has_clsact(ifindex).await })? {
                qdisc_add_clsact(dev).map_err(|e| anyhow!("add a clsact qdisc to {dev}: {e}"))?;
            }
            TcAttachOptions::Netlink(NlOptions {
                priority: CLSACT_PRIORITY,
                handle: TcHandle::from(CLSACT_HANDLE_BASE + 1),
                ..Default::default()
            })
        }
    };
    let link = program
        .attach_with_options(dev, hook, options)
        .with_context(|| format!("attach ({} {hook:?})", mechanism.name()))?;
    program.detach(link)?;
    Ok(())
}

/// Whether the device `want` names is still there with its ifindex, in the
/// namespace the calling thread is in.
pub fn still_there(want: &Wanted) -> bool {
    nix::net::if_::if_nametoindex(want.dev.as_str()).is_ok_and(|i| i == want.ifindex)
}

/// The names of Prism's programs, as tcx and cls_bpf report them.
const OURS: [&str; 4] = [RX_PROGRAM, RX_SANDBOX_PROGRAM, TX_PROGRAM, STEER_PROGRAM];

/// Programs of others on a tcx hook: they stay attached and run after
/// Prism's, so packets the fast path redirects skip them.
fn tcx_others(dev: &str, hook: TcAttachType) -> Result<Vec<String>> {
    let (_, programs) = SchedClassifier::query_tcx(dev, hook)
        .with_context(|| format!("query the tcx programs on {dev}"))?;
    Ok(programs
        .iter()
        .map(|p| (p.id(), p.name_as_str().unwrap_or("?").to_string()))
        .filter(|(_, name)| !OURS.contains(&name.as_str()))
        .map(|(id, name)| format!("{dev} {hook:?}: {name} (id {id})").to_lowercase())
        .collect())
}

/// Filters of others on a clsact hook, likewise.
fn clsact_others(dev: &str, hook: TcAttachType, filters: &[tc::Filter]) -> Vec<String> {
    filters
        .iter()
        .filter(|f| !is_ours(f))
        .map(|f| {
            let name = f.bpf_name.clone().unwrap_or_else(|| f.kind.clone());
            let id = f.bpf_id.map(|i| format!("id {i}, ")).unwrap_or_default();
            format!(
                "{dev} {hook:?}: {name} ({id}clsact priority {})",
                f.priority
            )
            .to_lowercase()
        })
        .collect()
}

fn is_ours(f: &tc::Filter) -> bool {
    f.priority == CLSACT_PRIORITY
        && f.handle & 0xffff_0000 == CLSACT_HANDLE_BASE
        && f.bpf_name.as_deref().is_some_and(|n| OURS.contains(&n))
}

/// Takes off what the pins in `paths` record and removes the pins:
/// attachments first, then the clsact qdiscs Prism added (each only if no
/// filter is left on it), then everything else in the order given.
/// Best effort: a device or namespace that is gone took its attachments
/// with it.
pub fn remove(paths: &[PathBuf]) -> Result<usize> {
    let rank = |p: &PathBuf| match record_of(p) {
        Some(Record::Qdisc { .. }) => 1,
        Some(_) => 0,
        None => 2,
    };
    let mut ordered: Vec<&PathBuf> = paths.iter().collect();
    ordered.sort_by_key(|p| rank(p));
    let mut namespaces = Namespaces::default();
    let mut detached = 0;
    for path in ordered {
        match record_of(path) {
            Some(Record::Link { .. }) => {
                // Unpinning and dropping the last reference detaches it.
                if let Ok(link) = PinnedLink::from_pin(path) {
                    drop(link.unpin());
                    detached += 1;
                    continue;
                }
            }
            Some(Record::Filter {
                role,
                netns,
                ifindex,
                handle,
            }) => {
                let gone = namespaces.run(netns, move || -> Result<()> {
                    let dev = device_name(ifindex)?;
                    let link = SchedClassifierLink::attached(
                        &dev,
                        role.hook(),
                        CLSACT_PRIORITY,
                        TcHandle::from(handle),
                        None,
                    )?;
                    // Dropping an owned netlink link deletes the filter.
                    drop(link);
                    Ok(())
                });
                detached += usize::from(matches!(gone, Ok(Some(Ok(())))));
            }
            Some(Record::Qdisc { netns, ifindex }) => {
                let _ = namespaces.run(netns, move || {
                    rtnl::run(|nl| async move {
                        let left = nl.filters(ifindex, tc::Hook::Ingress).await?.len()
                            + nl.filters(ifindex, tc::Hook::Egress).await?.len();
                        if left == 0 {
                            nl.delete_clsact(ifindex).await?;
                        }
                        Ok(())
                    })
                });
            }
            None => {}
        }
        pins::remove_pin(path)?;
    }
    Ok(detached)
}

/// The clsact filters among `records` that the kernel still has (a
/// `tc qdisc del` behind Prism's back takes them away).
pub fn filters_present(records: &[(PathBuf, Record)]) -> Vec<Record> {
    let mut namespaces = Namespaces::default();
    records
        .iter()
        .filter_map(|(_, r)| {
            let Record::Filter {
                role,
                netns,
                ifindex,
                handle,
            } = *r
            else {
                return None;
            };
            let there = namespaces.run(netns, move || {
                rtnl::run(|nl| async move { nl.filters(ifindex, role.tc_hook()).await })
            });
            let found = matches!(there, Ok(Some(Ok(list)))
                if list.iter().any(|f| f.priority == CLSACT_PRIORITY && f.handle == handle));
            found.then_some(*r)
        })
        .collect()
}

/// The machine's namespaces, listed once, for records that name theirs.
#[derive(Default)]
struct Namespaces(Option<Vec<netns::Namespace>>);

impl Namespaces {
    /// `f`'s result in the namespace with this inode; None if it is gone.
    fn run<R: Send>(&mut self, inode: u32, f: impl FnOnce() -> R + Send) -> Result<Option<R>> {
        let all = self.0.get_or_insert_with(netns::all);
        let Some(ns) = all.iter().find(|n| n.inode == inode) else {
            return Ok(None);
        };
        let file = fs::File::open(&ns.path)?;
        netns::run_in_file(Some(&file), &ns.label, f).map(Some)
    }
}

fn record_of(path: &Path) -> Option<Record> {
    Record::parse(&path.file_name()?.to_string_lossy())
}

fn device_name(ifindex: u32) -> Result<String> {
    let name = nix::net::if_::if_indextoname(ifindex)
        .with_context(|| format!("no device with ifindex {ifindex}"))?;
    Ok(name.to_string_lossy().into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip_through_their_names() {
        for r in [
            Record::Link {
                role: Role::Rx,
                ifindex: None,
            },
            Record::Link {
                role: Role::Tx,
                ifindex: Some(12),
            },
            Record::Filter {
                role: Role::Steer,
                netns: 4026532001,
                ifindex: 3,
                handle: CLSACT_HANDLE_BASE + 2,
            },
            Record::Qdisc {
                netns: 4026531840,
                ifindex: 7,
            },
        ] {
            let name = r.name();
            assert!(!name.contains('.'), "{name}: bpffs refuses dots");
            assert_eq!(Record::parse(&name), Some(r), "{name}");
        }
        for other in ["prog_rx", "CONFIG", "link_x", "filter_rx_1_2", "clsact_a_1"] {
            assert_eq!(Record::parse(other), None, "{other}");
        }
    }

    #[test]
    fn a_record_serves_the_attachment_it_names() {
        let want = Wanted {
            role: Role::Tx,
            program_pin: "prog_tx",
            dev: "veth1".into(),
            ifindex: 9,
            in_socket_ns: false,
        };
        let tx_link = |i| Record::Link {
            role: Role::Tx,
            ifindex: Some(i),
        };
        assert!(tx_link(9).serves(&want));
        assert!(!tx_link(10).serves(&want));
        let filter = Record::Filter {
            role: Role::Tx,
            netns: 1,
            ifindex: 9,
            handle: CLSACT_HANDLE_BASE + 1,
        };
        assert!(filter.serves(&want));
        let rx = Wanted {
            role: Role::Rx,
            ..want
        };
        assert!(!filter.serves(&rx));
        assert!(
            Record::Link {
                role: Role::Rx,
                ifindex: None
            }
            .serves(&rx)
        );
    }

    #[test]
    fn only_prisms_own_filters_count_as_ours() {
        let f = |priority, handle, name: &str| tc::Filter {
            priority,
            handle,
            kind: "bpf".into(),
            bpf_name: Some(name.into()),
            bpf_id: Some(5),
        };
        assert!(is_ours(&f(1, CLSACT_HANDLE_BASE + 1, "prism_rx")));
        assert!(!is_ours(&f(1, 1, "prism_rx")), "someone's handle");
        assert!(!is_ours(&f(2, CLSACT_HANDLE_BASE + 1, "prism_rx")));
        assert!(!is_ours(&f(1, CLSACT_HANDLE_BASE + 1, "cil_from_netdev")));
        let others = clsact_others(
            "eth0",
            TcAttachType::Ingress,
            &[
                f(49152, 1, "prism_cap_tc"),
                f(1, CLSACT_HANDLE_BASE + 1, "prism_rx"),
            ],
        );
        assert_eq!(
            others,
            ["eth0 ingress: prism_cap_tc (id 5, clsact priority 49152)"]
        );
    }
}
