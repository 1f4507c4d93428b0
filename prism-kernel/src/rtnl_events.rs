//! Link and neighbour change notifications from rtnetlink, in any network
//! namespace.
//!
//! Callers that mirror the topology into maps re-read it when something
//! changed rather than apply each message, so this only counts what kind
//! of change arrived. A lost notification (`ENOBUFS`, the socket's buffer
//! overflowed) counts as a change too: the only safe answer is a re-read.

use std::{
    fs::File,
    os::fd::{AsFd, AsRawFd, OwnedFd},
    time::Duration,
};

use anyhow::{Context, Result};
use nix::{
    errno::Errno,
    poll::{PollFd, PollFlags, PollTimeout, poll},
    sys::socket::{
        AddressFamily, MsgFlags, NetlinkAddr, SockFlag, SockProtocol, SockType, bind, recv, socket,
    },
};

use crate::netns;

/// Multicast groups (the legacy bit masks): links; neighbours, which
/// carry both ARP entries and bridge/VXLAN FDB entries; IPv4 routes (the
/// pod prefixes of routed overlays, the way to remote VTEPs).
const RTMGRP_LINK: u32 = 0x1;
const RTMGRP_NEIGH: u32 = 0x4;
const RTMGRP_IPV4_ROUTE: u32 = 0x40;

const RTM_NEWLINK: u16 = 16;
const RTM_DELLINK: u16 = 17;
const RTM_NEWROUTE: u16 = 24;
const RTM_DELROUTE: u16 = 25;
const RTM_NEWNEIGH: u16 = 28;
const RTM_DELNEIGH: u16 = 29;

/// What changed since the last wait.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Changes {
    /// Links added, removed or changed.
    pub links: usize,
    /// Neighbour (ARP/NDP) and FDB entries added, removed or changed.
    pub neighbours: usize,
    /// IPv4 routes added or removed.
    pub routes: usize,
    /// Notifications the kernel dropped because we read too slowly.
    pub overflows: usize,
}

impl Changes {
    pub fn any(&self) -> bool {
        self.links + self.neighbours + self.routes + self.overflows > 0
    }

    pub fn add(&mut self, other: Changes) {
        self.links += other.links;
        self.neighbours += other.neighbours;
        self.routes += other.routes;
        self.overflows += other.overflows;
    }
}

/// A socket subscribed to link, neighbour and route changes in one namespace.
pub struct EventSocket {
    fd: OwnedFd,
}

impl EventSocket {
    /// Subscribes in the namespace `ns` refers to (the current one for
    /// `None`); `label` names it in errors.
    pub fn open(ns: Option<&File>, label: &str) -> Result<Self> {
        let fd = netns::run_in_file(ns, label, || -> Result<OwnedFd> {
            let fd = socket(
                AddressFamily::Netlink,
                SockType::Raw,
                SockFlag::SOCK_NONBLOCK | SockFlag::SOCK_CLOEXEC,
                SockProtocol::NetlinkRoute,
            )
            .context("open an rtnetlink socket")?;
            bind(
                fd.as_raw_fd(),
                &NetlinkAddr::new(0, RTMGRP_LINK | RTMGRP_NEIGH | RTMGRP_IPV4_ROUTE),
            )
            .context("subscribe to link, neighbour and route changes")?;
            Ok(fd)
        })??;
        Ok(Self { fd })
    }

    /// Reads every pending notification and counts it into `changes`.
    fn drain(&self, changes: &mut Changes) -> Result<()> {
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            match recv(self.fd.as_raw_fd(), &mut buf, MsgFlags::empty()) {
                Ok(0) => return Ok(()),
                Ok(n) => count_messages(&buf[..n], changes),
                Err(Errno::EAGAIN) => return Ok(()),
                Err(Errno::ENOBUFS) => changes.overflows += 1,
                Err(Errno::EINTR) => continue,
                Err(e) => return Err(e).context("read rtnetlink notifications"),
            }
        }
    }
}

/// Waits up to `timeout` for changes on any of `sockets` and returns what
/// arrived (nothing on timeout or when a signal interrupts the wait).
pub fn wait(sockets: &[EventSocket], timeout: Duration) -> Result<Changes> {
    let mut fds: Vec<PollFd> = sockets
        .iter()
        .map(|s| PollFd::new(s.fd.as_fd(), PollFlags::POLLIN))
        .collect();
    let ms = timeout.as_millis().min(i32::MAX as u128) as i32;
    match poll(
        &mut fds,
        PollTimeout::try_from(ms).unwrap_or(PollTimeout::MAX),
    ) {
        Ok(_) | Err(Errno::EINTR) => {}
        Err(e) => return Err(e).context("wait for rtnetlink notifications"),
    }
    drain_all(sockets)
}

/// Reads what is pending on every socket without waiting.
pub fn drain_all(sockets: &[EventSocket]) -> Result<Changes> {
    let mut changes = Changes::default();
    for s in sockets {
        s.drain(&mut changes)?;
    }
    Ok(changes)
}

/// Counts the netlink messages in one datagram by type.
fn count_messages(mut buf: &[u8], changes: &mut Changes) {
    const HEADER: usize = 16;
    while buf.len() >= HEADER {
        let len = u32::from_ne_bytes([buf[0], buf[1], buf[2], buf[3]]) as usize;
        let kind = u16::from_ne_bytes([buf[4], buf[5]]);
        match kind {
            RTM_NEWLINK | RTM_DELLINK => changes.links += 1,
            RTM_NEWNEIGH | RTM_DELNEIGH => changes.neighbours += 1,
            RTM_NEWROUTE | RTM_DELROUTE => changes.routes += 1,
            _ => {}
        }
        // Messages are 4-byte aligned; a bad length ends the datagram.
        let step = (len + 3) & !3;
        if len < HEADER || step > buf.len() {
            return;
        }
        buf = &buf[step..];
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(kind: u16, payload: usize) -> Vec<u8> {
        let len = (16 + payload) as u32;
        let mut m = Vec::new();
        m.extend(len.to_ne_bytes());
        m.extend(kind.to_ne_bytes());
        m.extend([0u8; 10]);
        m.extend(vec![0u8; payload]);
        m.resize((m.len() + 3) & !3, 0);
        m
    }

    #[test]
    fn counts_messages_by_kind_and_stops_at_bad_lengths() {
        let mut buf = message(RTM_NEWLINK, 5);
        buf.extend(message(RTM_DELNEIGH, 8));
        buf.extend(message(RTM_NEWNEIGH, 0));
        buf.extend(message(3, 4)); // NLMSG_DONE: not a change
        let mut c = Changes::default();
        count_messages(&buf, &mut c);
        assert_eq!((c.links, c.neighbours), (1, 2));

        let mut bad = message(RTM_DELLINK, 0);
        bad[0] = 200; // longer than the datagram
        bad.extend(message(RTM_NEWLINK, 0));
        let mut c = Changes::default();
        count_messages(&bad, &mut c);
        assert_eq!(c.links, 1);
    }

    #[test]
    fn sees_a_link_change_in_a_scratch_namespace() {
        if !nix::unistd::geteuid().is_root() {
            return;
        }
        let name = format!("prism-test-events-{}", std::process::id());
        netns::create(&name).unwrap();
        let result = (|| -> Result<Changes> {
            let ns = netns::open(&name)?;
            let socket = EventSocket::open(Some(&ns), &name)?;
            assert!(!wait(std::slice::from_ref(&socket), Duration::ZERO)?.any());
            crate::rtnl::run_in(Some(&name), |nl| async move {
                nl.configure("lo", crate::rtnl::LinkChange::up()).await
            })?;
            wait(std::slice::from_ref(&socket), Duration::from_secs(2))
        })();
        netns::delete(&name).unwrap();
        assert!(result.unwrap().links >= 1);
    }
}
