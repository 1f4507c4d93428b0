//! Payload integrity: sequence-numbered UDP datagrams and a TCP byte stream
//! whose every byte is known from its position, checked at the far end. A
//! datagram's length and bytes follow from its sequence number, and stream
//! byte `i` from `i`, so the receiver needs nothing from the sender to tell
//! a corrupted, lost, duplicated or reordered packet.

use std::{
    collections::BTreeSet,
    io::{ErrorKind, Read, Write},
    net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream, UdpSocket},
    time::{Duration, Instant},
};

use anyhow::{Context, Result};
use serde::Serialize;

use super::{
    POLL, Stop,
    prober::{Pacer, is_timeout},
};

/// Ports of the checked flows (high priority under `udp port 7780` and
/// `tcp port 7781`).
pub const UDP_PORT: u16 = 7780;
pub const TCP_PORT: u16 = 7781;
/// Bytes before a datagram's payload: its sequence number.
const SEQ_LEN: usize = 8;

/// splitmix64: the stream's bytes, eight at a time.
fn mix(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Byte `i` of the TCP stream (and of datagram payloads, keyed apart).
fn byte_at(key: u64, i: u64) -> u8 {
    (mix(key ^ (i / 8)) >> ((i % 8) * 8)) as u8
}

/// The length of datagram `seq`: 16 to 1400 bytes, so small and large
/// datagrams, GSO-sized or not, all occur.
pub fn datagram_len(seq: u64) -> usize {
    16 + (mix(seq) % 1385) as usize
}

/// Datagram `seq` as sent.
pub fn datagram(seq: u64) -> Vec<u8> {
    let mut d = seq.to_le_bytes().to_vec();
    let key = mix(!seq);
    d.extend((0..datagram_len(seq) - SEQ_LEN).map(|j| byte_at(key, j as u64)));
    d
}

/// What the UDP receiver saw.
#[derive(Clone, Debug, Default, Serialize, PartialEq, Eq)]
pub struct UdpCheck {
    pub received: u64,
    /// A length or a byte other than datagram `seq`'s.
    pub corrupted: u64,
    pub duplicates: u64,
    /// Arrived after a later sequence number.
    pub reordered: u64,
    /// Distinct sequence numbers that arrived intact.
    pub distinct: u64,
}

impl UdpCheck {
    /// Checks one received datagram.
    fn add(&mut self, d: &[u8], seen: &mut BTreeSet<u64>, highest: &mut Option<u64>) {
        self.received += 1;
        let Some(seq) = d
            .get(..SEQ_LEN)
            .map(|s| u64::from_le_bytes(s.try_into().unwrap()))
        else {
            self.corrupted += 1;
            return;
        };
        if d.len() != datagram_len(seq) || d != datagram(seq) {
            self.corrupted += 1;
            return;
        }
        if !seen.insert(seq) {
            self.duplicates += 1;
            return;
        }
        self.distinct += 1;
        if highest.is_some_and(|h| seq < h) {
            self.reordered += 1;
        }
        *highest = Some(highest.map_or(seq, |h| h.max(seq)));
    }
}

/// Receives datagrams on [`UDP_PORT`] until `stop`, then for a grace
/// period, so that none in flight is counted lost.
pub fn udp_receive(stop: Stop) -> Result<UdpCheck> {
    let sock = UdpSocket::bind((Ipv4Addr::UNSPECIFIED, UDP_PORT))
        .with_context(|| format!("bind udp {UDP_PORT}"))?;
    // Room for a burst while the receiver is off CPU under bulk load.
    let _ = nix::sys::socket::setsockopt(&sock, nix::sys::socket::sockopt::RcvBuf, &(4 << 20));
    sock.set_read_timeout(Some(POLL))?;
    let mut check = UdpCheck::default();
    let (mut seen, mut highest) = (BTreeSet::new(), None);
    let mut buf = vec![0u8; 2048];
    let mut stopped_at: Option<Instant> = None;
    loop {
        match sock.recv(&mut buf) {
            Ok(n) => check.add(&buf[..n], &mut seen, &mut highest),
            Err(e) if is_timeout(&e) => {}
            Err(e) => return Err(e).context("integrity udp recv"),
        }
        if stop.is_stopped() {
            let since = *stopped_at.get_or_insert_with(Instant::now);
            if since.elapsed() >= Duration::from_millis(500) {
                return Ok(check);
            }
        }
    }
}

/// Sends datagrams 0, 1, ... at `rate` per second to `to` until `stop`;
/// returns how many were sent.
pub fn udp_send(to: SocketAddr, rate: u32, stop: Stop) -> Result<u64> {
    let sock = UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 0))?;
    sock.connect(to)?;
    let mut pace = Pacer::new(rate);
    let mut seq = 0;
    while !stop.is_stopped() {
        pace.wait();
        match sock.send(&datagram(seq)) {
            Ok(_) => seq += 1,
            // A full socket buffer: the datagram is lost here, not on the
            // path; send it again.
            Err(e) if e.kind() == ErrorKind::WouldBlock => {}
            Err(e) => return Err(e).context("integrity udp send"),
        }
    }
    Ok(seq)
}

/// What the TCP receiver saw.
#[derive(Clone, Debug, Default, Serialize, PartialEq, Eq)]
pub struct TcpCheck {
    pub bytes: u64,
    /// Bytes other than the stream's at their offset.
    pub corrupted_bytes: u64,
}

/// The stream's key: one stream per run.
const STREAM_KEY: u64 = 0x7072_6973_6d00_0001;

/// Accepts one connection on [`TCP_PORT`] and checks every byte until the
/// sender closes it.
pub fn tcp_receive(stop: Stop) -> Result<TcpCheck> {
    let listener = TcpListener::bind((Ipv4Addr::UNSPECIFIED, TCP_PORT))
        .with_context(|| format!("bind tcp {TCP_PORT}"))?;
    listener.set_nonblocking(true)?;
    let mut conn = loop {
        match listener.accept() {
            Ok((conn, _)) => break conn,
            Err(e) if e.kind() == ErrorKind::WouldBlock && !stop.is_stopped() => {
                std::thread::sleep(POLL / 10)
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock => return Ok(TcpCheck::default()),
            Err(e) => return Err(e).context("integrity tcp accept"),
        }
    };
    conn.set_nonblocking(false)?;
    conn.set_read_timeout(Some(POLL))?;
    let mut check = TcpCheck::default();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        match conn.read(&mut buf) {
            Ok(0) => return Ok(check),
            Ok(n) => {
                for (j, b) in buf[..n].iter().enumerate() {
                    if *b != byte_at(STREAM_KEY, check.bytes + j as u64) {
                        check.corrupted_bytes += 1;
                    }
                }
                check.bytes += n as u64;
            }
            Err(e) if is_timeout(&e) => {}
            Err(e) => return Err(e).context("integrity tcp read"),
        }
    }
}

/// What the TCP sender did: bytes written, and segments it retransmitted
/// (the socket's own count, so the bulk streams beside it do not blur it).
#[derive(Clone, Copy, Debug, Default, Serialize, PartialEq, Eq)]
pub struct TcpSent {
    pub bytes: u64,
    pub retransmitted: u64,
    /// Of those, how many the receiver reported it had already (DSACK):
    /// retransmissions no loss called for, as a shorter RTT's earlier
    /// loss probes are. None on kernels without `tcpi_dsack_dups` (5.10+).
    pub spurious: Option<u64>,
}

/// Streams the known bytes to `to` at about `bytes_per_s` until `stop`,
/// then closes the connection.
pub fn tcp_send(to: SocketAddr, bytes_per_s: u64, stop: Stop) -> Result<TcpSent> {
    const CHUNK: u64 = 16 * 1024;
    let mut conn = TcpStream::connect_timeout(&to, Duration::from_secs(2))
        .with_context(|| format!("connect integrity stream to {to}"))?;
    let mut pace = Pacer::new((bytes_per_s / CHUNK).max(1) as u32);
    let mut sent = 0u64;
    let mut chunk = Vec::with_capacity(CHUNK as usize);
    while !stop.is_stopped() {
        pace.wait();
        chunk.clear();
        chunk.extend((0..CHUNK).map(|j| byte_at(STREAM_KEY, sent + j)));
        conn.write_all(&chunk).context("integrity tcp write")?;
        sent += CHUNK;
    }
    conn.shutdown(std::net::Shutdown::Write)?;
    // Until the receiver has read everything and closed its end.
    conn.set_read_timeout(Some(Duration::from_secs(10)))?;
    let _ = conn.read(&mut [0u8; 1]);
    let (retransmitted, spurious) = retransmissions(&conn)?;
    Ok(TcpSent {
        bytes: sent,
        retransmitted,
        spurious,
    })
}

/// Offsets in the kernel's `struct tcp_info`, which has grown past the
/// `libc` crate's copy: `tcpi_total_retrans`, and `tcpi_dsack_dups`.
const TOTAL_RETRANS_AT: usize = 100;
const DSACK_DUPS_AT: usize = 216;

/// `tcpi_total_retrans` and `tcpi_dsack_dups` (when the kernel has it)
/// from TCP_INFO.
fn retransmissions(conn: &TcpStream) -> Result<(u64, Option<u64>)> {
    use std::os::fd::AsRawFd;
    let mut info = [0u8; 256];
    let mut len = info.len() as libc::socklen_t;
    // SAFETY: a TCP socket, and a buffer of the size passed.
    let r = unsafe {
        libc::getsockopt(
            conn.as_raw_fd(),
            libc::IPPROTO_TCP,
            libc::TCP_INFO,
            info.as_mut_ptr().cast(),
            &mut len,
        )
    };
    if r != 0 {
        return Err(std::io::Error::last_os_error()).context("TCP_INFO");
    }
    Ok(tcp_info_retransmissions(&info[..len as usize]))
}

fn tcp_info_retransmissions(info: &[u8]) -> (u64, Option<u64>) {
    let u32_at = |at: usize| {
        info.get(at..at + 4)
            .map(|b| u32::from_ne_bytes(b.try_into().unwrap()) as u64)
    };
    (u32_at(TOTAL_RETRANS_AT).unwrap_or(0), u32_at(DSACK_DUPS_AT))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tcp_info_offsets_match_libcs_struct_and_older_kernels_lack_dsack() {
        assert_eq!(
            std::mem::offset_of!(libc::tcp_info, tcpi_total_retrans),
            TOTAL_RETRANS_AT
        );
        let mut info = vec![0u8; 232];
        info[TOTAL_RETRANS_AT..TOTAL_RETRANS_AT + 4].copy_from_slice(&7u32.to_ne_bytes());
        info[DSACK_DUPS_AT..DSACK_DUPS_AT + 4].copy_from_slice(&3u32.to_ne_bytes());
        assert_eq!(tcp_info_retransmissions(&info), (7, Some(3)));
        assert_eq!(tcp_info_retransmissions(&info[..104]), (7, None));
    }

    #[test]
    fn datagrams_check_themselves() {
        let (mut seen, mut highest) = (BTreeSet::new(), None);
        let mut c = UdpCheck::default();
        for seq in [0, 1, 3, 2, 3] {
            c.add(&datagram(seq), &mut seen, &mut highest);
        }
        let mut bad = datagram(7);
        let last = bad.len() - 1;
        bad[last] ^= 1;
        c.add(&bad, &mut seen, &mut highest);
        c.add(&datagram(8)[..12], &mut seen, &mut highest);
        c.add(&[1, 2], &mut seen, &mut highest);
        assert_eq!(
            c,
            UdpCheck {
                received: 8,
                corrupted: 3,
                duplicates: 1,
                reordered: 1,
                distinct: 4,
            }
        );
        let lens: BTreeSet<usize> = (0..2000).map(datagram_len).collect();
        assert!(*lens.first().unwrap() < 40, "{lens:?}");
        assert!((1350..=1400).contains(lens.last().unwrap()), "{lens:?}");
    }

    #[test]
    fn the_stream_is_a_function_of_position() {
        let a: Vec<u8> = (0..64).map(|i| byte_at(STREAM_KEY, i)).collect();
        let b: Vec<u8> = (0..64).map(|i| byte_at(STREAM_KEY, i)).collect();
        assert_eq!(a, b);
        assert_ne!(a[..8], a[8..16]);
    }
}
