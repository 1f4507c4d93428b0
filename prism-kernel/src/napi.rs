//! Which NAPI instance serves which receive queue, and which kernel thread
//! runs it (threaded NAPI), from the kernel's `netdev` generic netlink
//! family (`queue-get` since Linux 6.8, the thread's `pid` since 6.9).
//! Call from a thread inside the device's namespace (see
//! [`crate::netns::run_in`]).
//!
//! Written against the raw socket: the netlink crates in use speak
//! rtnetlink only, and two dump requests do not justify another stack.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

use anyhow::{Context, Result, bail};

const NETLINK_GENERIC: i32 = 16;
const GENL_ID_CTRL: u16 = 0x10;
const CTRL_CMD_GETFAMILY: u8 = 3;
const CTRL_ATTR_FAMILY_ID: u16 = 1;
const CTRL_ATTR_FAMILY_NAME: u16 = 2;
const NLMSG_ERROR: u16 = 2;
const NLMSG_DONE: u16 = 3;
const NLM_F_REQUEST: u16 = 1;
const NLM_F_ACK: u16 = 4;
const NLM_F_DUMP: u16 = 0x300;

const NETDEV_CMD_QUEUE_GET: u8 = 10;
const NETDEV_CMD_NAPI_GET: u8 = 11;
const NETDEV_A_QUEUE_ID: u16 = 1;
const NETDEV_A_QUEUE_IFINDEX: u16 = 2;
const NETDEV_A_QUEUE_TYPE: u16 = 3;
const NETDEV_A_QUEUE_NAPI_ID: u16 = 4;
const NETDEV_QUEUE_TYPE_RX: u32 = 0;
const NETDEV_A_NAPI_IFINDEX: u16 = 1;
const NETDEV_A_NAPI_ID: u16 = 2;
const NETDEV_A_NAPI_PID: u16 = 4;

/// One NAPI instance of a device.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Napi {
    pub id: u32,
    /// Its kernel thread, when the device runs NAPI threaded.
    pub pid: Option<i32>,
}

/// Every NAPI instance of device `ifindex`, by id.
pub fn napis(ifindex: u32) -> Result<Vec<Napi>> {
    let socket = Socket::open()?;
    let family = socket.family("netdev")?;
    let mut filter = Vec::new();
    put_u32(&mut filter, NETDEV_A_NAPI_IFINDEX, ifindex);
    let mut out: Vec<Napi> = socket
        .dump(family, NETDEV_CMD_NAPI_GET, &filter)?
        .iter()
        .map(|attrs| parse_attrs(attrs))
        .filter(|a| u32_of(a, NETDEV_A_NAPI_IFINDEX) == Some(ifindex))
        .filter_map(|a| {
            Some(Napi {
                id: u32_of(&a, NETDEV_A_NAPI_ID)?,
                pid: u32_of(&a, NETDEV_A_NAPI_PID).map(|p| p as i32),
            })
        })
        .collect();
    out.sort_by_key(|n| n.id);
    Ok(out)
}

/// The NAPI instance serving receive queue `queue` of device `ifindex`.
pub fn rx_queue_napi(ifindex: u32, queue: u32) -> Result<Napi> {
    let socket = Socket::open()?;
    let family = socket.family("netdev").context(
        "the kernel has no netdev netlink family (Linux 6.8 or later finds a queue's NAPI)",
    )?;
    let mut filter = Vec::new();
    put_u32(&mut filter, NETDEV_A_QUEUE_IFINDEX, ifindex);
    let queues = socket.dump(family, NETDEV_CMD_QUEUE_GET, &filter)?;
    let napi_id = queues
        .iter()
        .map(|attrs| parse_attrs(attrs))
        .find(|a| {
            u32_of(a, NETDEV_A_QUEUE_IFINDEX) == Some(ifindex)
                && u32_of(a, NETDEV_A_QUEUE_TYPE) == Some(NETDEV_QUEUE_TYPE_RX)
                && u32_of(a, NETDEV_A_QUEUE_ID) == Some(queue)
        })
        .with_context(|| format!("ifindex {ifindex} has no receive queue {queue}"))
        .and_then(|a| {
            u32_of(&a, NETDEV_A_QUEUE_NAPI_ID).with_context(|| {
                format!("receive queue {queue} of ifindex {ifindex} is served by no NAPI (is NAPI enabled on it?)")
            })
        })?;
    napis(ifindex)?
        .into_iter()
        .find(|n| n.id == napi_id)
        .with_context(|| format!("NAPI {napi_id} of ifindex {ifindex} is gone"))
}

struct Socket {
    fd: OwnedFd,
}

impl Socket {
    fn open() -> Result<Self> {
        // SAFETY: plain socket(2); the fd is owned from here on.
        let fd = unsafe {
            libc::socket(
                libc::AF_NETLINK,
                libc::SOCK_RAW | libc::SOCK_CLOEXEC,
                NETLINK_GENERIC,
            )
        };
        if fd < 0 {
            return Err(std::io::Error::last_os_error()).context("open a generic netlink socket");
        }
        // SAFETY: `fd` was just returned by socket(2) and is not owned elsewhere.
        Ok(Self {
            fd: unsafe { OwnedFd::from_raw_fd(fd) },
        })
    }

    /// The id of generic netlink family `name`.
    fn family(&self, name: &str) -> Result<u16> {
        let mut attrs = Vec::new();
        let mut text = name.as_bytes().to_vec();
        text.push(0);
        put(&mut attrs, CTRL_ATTR_FAMILY_NAME, &text);
        let replies = self.request(GENL_ID_CTRL, CTRL_CMD_GETFAMILY, NLM_F_ACK, &attrs)?;
        replies
            .iter()
            .find_map(|r| {
                let a = parse_attrs(r);
                a.iter()
                    .find(|(t, _)| *t == CTRL_ATTR_FAMILY_ID)
                    .and_then(|(_, v)| Some(u16::from_ne_bytes(v.get(..2)?.try_into().ok()?)))
            })
            .with_context(|| format!("no generic netlink family {name}"))
    }

    fn dump(&self, family: u16, cmd: u8, attrs: &[u8]) -> Result<Vec<Vec<u8>>> {
        self.request(family, cmd, NLM_F_DUMP, attrs)
            .with_context(|| format!("netdev netlink dump (command {cmd})"))
    }

    /// Sends one request and collects the attribute payloads of every
    /// reply until the kernel says done (or acks).
    fn request(&self, family: u16, cmd: u8, flags: u16, attrs: &[u8]) -> Result<Vec<Vec<u8>>> {
        let len = 16 + 4 + attrs.len();
        let mut msg = Vec::with_capacity(len);
        msg.extend_from_slice(&(len as u32).to_ne_bytes());
        msg.extend_from_slice(&family.to_ne_bytes());
        msg.extend_from_slice(&(NLM_F_REQUEST | flags).to_ne_bytes());
        msg.extend_from_slice(&1u32.to_ne_bytes()); // seq
        msg.extend_from_slice(&0u32.to_ne_bytes()); // pid: the kernel's
        msg.extend_from_slice(&[cmd, 1, 0, 0]); // genlmsghdr: cmd, version
        msg.extend_from_slice(attrs);
        // SAFETY: `msg` is a live buffer of `msg.len()` bytes.
        let sent = unsafe { libc::send(self.fd.as_raw_fd(), msg.as_ptr().cast(), msg.len(), 0) };
        if sent < 0 {
            return Err(std::io::Error::last_os_error()).context("send a netlink request");
        }
        let mut out = Vec::new();
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            // SAFETY: `buf` is a live buffer of `buf.len()` bytes.
            let n =
                unsafe { libc::recv(self.fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), 0) };
            if n < 0 {
                return Err(std::io::Error::last_os_error()).context("read a netlink reply");
            }
            let mut at = 0usize;
            let n = n as usize;
            while at + 16 <= n {
                let len = u32::from_ne_bytes(buf[at..at + 4].try_into().unwrap()) as usize;
                let kind = u16::from_ne_bytes(buf[at + 4..at + 6].try_into().unwrap());
                if len < 16 || at + len > n {
                    bail!("malformed netlink reply");
                }
                let body = &buf[at + 16..at + len];
                match kind {
                    NLMSG_DONE => return Ok(out),
                    NLMSG_ERROR => {
                        let errno =
                            i32::from_ne_bytes(body.get(..4).context("short error")?.try_into()?);
                        if errno == 0 {
                            return Ok(out); // the ack
                        }
                        return Err(std::io::Error::from_raw_os_error(-errno).into());
                    }
                    _ if body.len() >= 4 => out.push(body[4..].to_vec()),
                    _ => {}
                }
                at += len.div_ceil(4) * 4;
            }
        }
    }
}

fn put(buf: &mut Vec<u8>, kind: u16, value: &[u8]) {
    buf.extend_from_slice(&((4 + value.len()) as u16).to_ne_bytes());
    buf.extend_from_slice(&kind.to_ne_bytes());
    buf.extend_from_slice(value);
    buf.resize(buf.len().div_ceil(4) * 4, 0);
}

fn put_u32(buf: &mut Vec<u8>, kind: u16, value: u32) {
    put(buf, kind, &value.to_ne_bytes());
}

/// Top-level attributes as (type, value); a truncated one ends the list.
fn parse_attrs(mut buf: &[u8]) -> Vec<(u16, Vec<u8>)> {
    let mut out = Vec::new();
    while buf.len() >= 4 {
        let len = u16::from_ne_bytes([buf[0], buf[1]]) as usize;
        let kind = u16::from_ne_bytes([buf[2], buf[3]]) & 0x3fff;
        if len < 4 || len > buf.len() {
            break;
        }
        out.push((kind, buf[4..len].to_vec()));
        buf = &buf[(len.div_ceil(4) * 4).min(buf.len())..];
    }
    out
}

fn u32_of(attrs: &[(u16, Vec<u8>)], kind: u16) -> Option<u32> {
    attrs
        .iter()
        .find(|(t, _)| *t == kind)
        .and_then(|(_, v)| Some(u32::from_ne_bytes(v.get(..4)?.try_into().ok()?)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attributes_round_trip_and_truncation_stops_parsing() {
        let mut buf = Vec::new();
        put_u32(&mut buf, NETDEV_A_QUEUE_ID, 2);
        put(&mut buf, 9, b"abc");
        put_u32(&mut buf, NETDEV_A_QUEUE_NAPI_ID, 8195);
        let attrs = parse_attrs(&buf);
        assert_eq!(u32_of(&attrs, NETDEV_A_QUEUE_ID), Some(2));
        assert_eq!(u32_of(&attrs, NETDEV_A_QUEUE_NAPI_ID), Some(8195));
        assert_eq!(attrs[1], (9, b"abc".to_vec()));
        let cut = parse_attrs(&buf[..buf.len() - 2]);
        assert_eq!(cut.len(), 2, "the cut attribute is dropped");
    }
}
