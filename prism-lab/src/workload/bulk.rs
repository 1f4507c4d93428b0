//! Bulk background traffic: TCP streams into a sink, or a UDP flood.
//! Sinks count what arrived, so throughput is measured at the receiver.

use std::{
    io::{ErrorKind, Read, Write},
    net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream, UdpSocket},
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use anyhow::{Context, Result};
use serde::Serialize;

use super::{
    POLL, Stop,
    prober::{Pacer, is_timeout},
};

/// Bytes and packets (reads or datagrams) a sink has taken in.
#[derive(Debug, Default)]
pub struct Counter {
    bytes: AtomicU64,
    packets: AtomicU64,
}

impl Counter {
    fn add(&self, bytes: usize) {
        self.bytes.fetch_add(bytes as u64, Ordering::Relaxed);
        self.packets.fetch_add(1, Ordering::Relaxed);
    }

    pub fn snapshot(&self) -> Snapshot {
        Snapshot {
            bytes: self.bytes.load(Ordering::Relaxed),
            packets: self.packets.load(Ordering::Relaxed),
            at: Instant::now(),
        }
    }
}

#[derive(Clone, Copy, Debug)]
pub struct Snapshot {
    pub bytes: u64,
    pub packets: u64,
    pub at: Instant,
}

/// Throughput between two snapshots.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct Throughput {
    pub gbit_per_s: f64,
    pub bytes: u64,
    /// Reads (TCP) or datagrams (UDP) at the sink.
    pub packets: u64,
    pub seconds: f64,
}

impl Throughput {
    pub fn between(a: Snapshot, b: Snapshot) -> Self {
        let seconds = (b.at - a.at).as_secs_f64();
        let bytes = b.bytes - a.bytes;
        Self {
            gbit_per_s: if seconds > 0.0 {
                bytes as f64 * 8.0 / seconds / 1e9
            } else {
                0.0
            },
            bytes,
            packets: b.packets - a.packets,
            seconds,
        }
    }
}

/// TCP sink: accepts connections on `port` and drains each on its own
/// thread (pinned like this one) until `stop`.
pub fn tcp_sink(port: u16, counter: Arc<Counter>, stop: Stop) -> Result<()> {
    let listener = TcpListener::bind((Ipv4Addr::UNSPECIFIED, port))
        .with_context(|| format!("bind tcp {port}"))?;
    listener.set_nonblocking(true)?;
    let cpus = nix::sched::sched_getaffinity(nix::unistd::Pid::from_raw(0)).ok();
    let mut drains = Vec::new();
    while !stop.is_stopped() {
        match listener.accept() {
            Ok((conn, _)) => {
                let (counter, stop) = (counter.clone(), stop.clone());
                drains.push(std::thread::spawn(move || {
                    if let Some(cpus) = cpus {
                        let _ = nix::sched::sched_setaffinity(nix::unistd::Pid::from_raw(0), &cpus);
                    }
                    drain(conn, &counter, &stop)
                }));
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock => std::thread::sleep(POLL / 10),
            Err(e) => return Err(e).context("bulk sink accept"),
        }
    }
    for d in drains {
        let _ = d.join();
    }
    Ok(())
}

fn drain(mut conn: TcpStream, counter: &Counter, stop: &Stop) -> Result<()> {
    conn.set_nonblocking(false)?;
    conn.set_read_timeout(Some(POLL))?;
    let mut buf = vec![0u8; 256 * 1024];
    while !stop.is_stopped() {
        match conn.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => counter.add(n),
            Err(e) if is_timeout(&e) => {}
            Err(e) if e.kind() == ErrorKind::ConnectionReset => break,
            Err(e) => return Err(e).context("bulk sink read"),
        }
    }
    Ok(())
}

/// One TCP stream to `sink`, writing as fast as it can (or at
/// `bytes_per_s` when not 0), until `stop`.
pub fn tcp_stream(sink: SocketAddr, bytes_per_s: u64, stop: Stop) -> Result<()> {
    const CHUNK: usize = 128 * 1024;
    let mut conn = TcpStream::connect_timeout(&sink, Duration::from_secs(2))
        .with_context(|| format!("connect bulk stream to {sink}"))?;
    conn.set_write_timeout(Some(POLL))?;
    let buf = vec![0x5au8; CHUNK];
    let mut pace = Pacer::new((bytes_per_s / CHUNK as u64) as u32);
    while !stop.is_stopped() {
        pace.wait();
        match conn.write(&buf) {
            Ok(_) => {}
            Err(e) if is_timeout(&e) => {}
            // Stopping: the sink may close its end before this loop sees
            // the stop.
            Err(e)
                if matches!(e.kind(), ErrorKind::BrokenPipe | ErrorKind::ConnectionReset)
                    && stop.is_stopped() =>
            {
                break;
            }
            Err(e) => return Err(e).context("bulk stream write"),
        }
    }
    Ok(())
}

/// UDP sink: counts datagrams on `port` until `stop`.
pub fn udp_sink(port: u16, counter: Arc<Counter>, stop: Stop) -> Result<()> {
    let sock = UdpSocket::bind((Ipv4Addr::UNSPECIFIED, port))
        .with_context(|| format!("bind udp {port}"))?;
    sock.set_read_timeout(Some(POLL))?;
    let mut buf = [0u8; 2048];
    while !stop.is_stopped() {
        match sock.recv(&mut buf) {
            Ok(n) => counter.add(n),
            Err(e) if is_timeout(&e) => {}
            Err(e) => return Err(e).context("udp sink recv"),
        }
    }
    Ok(())
}

/// UDP flood of `size`-byte datagrams at `rate` per second (0: unlimited)
/// until `stop`. A full socket buffer drops the datagram, as a flood would.
pub fn udp_flood(sink: SocketAddr, size: usize, rate: u32, stop: Stop) -> Result<()> {
    let sock = UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 0))?;
    sock.connect(sink)?;
    let buf = vec![0xa5u8; size];
    let mut pace = Pacer::new(rate);
    while !stop.is_stopped() {
        pace.wait();
        match sock.send(&buf) {
            Ok(_) => {}
            Err(e) if e.raw_os_error() == Some(nix::libc::ENOBUFS) => {}
            Err(e) if e.kind() == ErrorKind::ConnectionRefused => {}
            Err(e) => return Err(e).context("udp flood send"),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tcp_bulk_is_counted_on_loopback() {
        let stop = Stop::new();
        let counter = Arc::new(Counter::default());
        let (c, s) = (counter.clone(), stop.clone());
        let sink = std::thread::spawn(move || tcp_sink(47_781, c, s));
        std::thread::sleep(Duration::from_millis(50));
        let s = stop.clone();
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, 47_781));
        let sender = std::thread::spawn(move || tcp_stream(addr, 0, s));
        let a = counter.snapshot();
        std::thread::sleep(Duration::from_millis(200));
        let b = counter.snapshot();
        stop.stop();
        sender.join().unwrap().unwrap();
        sink.join().unwrap().unwrap();
        let t = Throughput::between(a, b);
        assert!(t.bytes > 1_000_000, "{t:?}");
        assert!(t.gbit_per_s > 0.0);
    }

    #[test]
    fn udp_flood_is_rate_limited_and_counted() {
        let stop = Stop::new();
        let counter = Arc::new(Counter::default());
        let (c, s) = (counter.clone(), stop.clone());
        let sink = std::thread::spawn(move || udp_sink(47_782, c, s));
        std::thread::sleep(Duration::from_millis(50));
        let s = stop.clone();
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, 47_782));
        let flood = std::thread::spawn(move || udp_flood(addr, 100, 1000, s));
        std::thread::sleep(Duration::from_millis(300));
        stop.stop();
        flood.join().unwrap().unwrap();
        sink.join().unwrap().unwrap();
        let got = counter.snapshot().packets;
        // 1000/s for 0.3 s, give or take start-up and scheduling.
        assert!((150..=400).contains(&got), "{got} datagrams");
    }
}
