//! Request/response latency prober: one message out, the same bytes back,
//! round-trip time into an HDR histogram. UDP losses are counted after a
//! timeout, so a lost datagram costs one sample, never a stalled run.

use std::{
    io::{ErrorKind, Read, Write},
    net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream, UdpSocket},
    time::{Duration, Instant},
};

use anyhow::{Context, Result, bail};
use hdrhistogram::Histogram;
use serde::Serialize;

use super::{POLL, Stop};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Proto {
    Tcp,
    Udp,
}

impl std::str::FromStr for Proto {
    type Err = anyhow::Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "tcp" => Ok(Self::Tcp),
            "udp" => Ok(Self::Udp),
            _ => bail!("unknown protocol {s:?} (expected tcp or udp)"),
        }
    }
}

#[derive(Clone, Copy, Debug, Serialize)]
pub struct ProberConfig {
    pub proto: Proto,
    /// Message size in bytes (at least 8: the sequence number).
    pub size: usize,
    /// Requests per second; 0 sends the next as soon as the reply is in.
    pub rate: u32,
    /// A UDP request without a reply after this long counts as lost.
    pub timeout: Duration,
}

impl Default for ProberConfig {
    fn default() -> Self {
        Self {
            proto: Proto::Udp,
            size: 64,
            rate: 1000,
            timeout: Duration::from_millis(200),
        }
    }
}

impl ProberConfig {
    pub fn validate(&self) -> Result<()> {
        anyhow::ensure!(
            (8..=1400).contains(&self.size),
            "prober message size {} must be 8..=1400 bytes",
            self.size
        );
        Ok(())
    }
}

/// What one prober run measured.
pub struct ProbeResult {
    /// Round-trip times in nanoseconds.
    pub rtt_ns: Histogram<u64>,
    pub sent: u64,
    pub lost: u64,
}

fn new_histogram() -> Histogram<u64> {
    // 1 ns .. 60 s at 3 significant digits.
    Histogram::new_with_bounds(1, 60_000_000_000, 3).expect("valid histogram bounds")
}

/// Echo server: runs until `stop`. Serves one protocol on `port`.
pub fn serve(proto: Proto, port: u16, stop: Stop) -> Result<()> {
    let any = SocketAddr::from((Ipv4Addr::UNSPECIFIED, port));
    match proto {
        Proto::Udp => {
            let sock = UdpSocket::bind(any).with_context(|| format!("bind udp {port}"))?;
            sock.set_read_timeout(Some(POLL))?;
            let mut buf = [0u8; 2048];
            while !stop.is_stopped() {
                match sock.recv_from(&mut buf) {
                    Ok((n, from)) => {
                        let _ = sock.send_to(&buf[..n], from);
                    }
                    Err(e) if is_timeout(&e) => {}
                    Err(e) => return Err(e).context("udp echo recv"),
                }
            }
        }
        Proto::Tcp => {
            let listener = TcpListener::bind(any).with_context(|| format!("bind tcp {port}"))?;
            listener.set_nonblocking(true)?;
            while !stop.is_stopped() {
                match listener.accept() {
                    Ok((conn, _)) => echo_tcp(conn, &stop)?,
                    Err(e) if e.kind() == ErrorKind::WouldBlock => std::thread::sleep(POLL / 10),
                    Err(e) => return Err(e).context("tcp echo accept"),
                }
            }
        }
    }
    Ok(())
}

fn echo_tcp(mut conn: TcpStream, stop: &Stop) -> Result<()> {
    conn.set_nonblocking(false)?;
    conn.set_nodelay(true)?;
    conn.set_read_timeout(Some(POLL))?;
    let mut buf = [0u8; 2048];
    while !stop.is_stopped() {
        match conn.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => conn.write_all(&buf[..n])?,
            Err(e) if is_timeout(&e) => {}
            Err(e) if e.kind() == ErrorKind::ConnectionReset => break,
            Err(e) => return Err(e).context("tcp echo read"),
        }
    }
    Ok(())
}

pub(crate) fn is_timeout(e: &std::io::Error) -> bool {
    matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut)
}

/// Client: probes `server` until `stop` or `duration`, whichever is first.
pub fn probe(
    config: &ProberConfig,
    server: SocketAddr,
    duration: Duration,
    stop: Stop,
) -> Result<ProbeResult> {
    config.validate()?;
    let mut result = ProbeResult {
        rtt_ns: new_histogram(),
        sent: 0,
        lost: 0,
    };
    let mut pace = Pacer::new(config.rate);
    let deadline = Instant::now() + duration;
    let mut msg = vec![0u8; config.size];
    let mut reply = vec![0u8; config.size.max(2048)];
    match config.proto {
        Proto::Udp => {
            let sock = UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 0))?;
            sock.connect(server)?;
            while Instant::now() < deadline && !stop.is_stopped() {
                pace.wait();
                let seq = result.sent;
                msg[..8].copy_from_slice(&seq.to_le_bytes());
                let start = Instant::now();
                sock.send(&msg).context("prober send")?;
                result.sent += 1;
                match udp_reply(&sock, seq, &mut reply, start + config.timeout)? {
                    true => record(&mut result.rtt_ns, start.elapsed()),
                    false => result.lost += 1,
                }
            }
        }
        Proto::Tcp => {
            let mut conn = TcpStream::connect_timeout(&server, Duration::from_secs(2))
                .with_context(|| format!("connect to {server}"))?;
            conn.set_nodelay(true)?;
            conn.set_read_timeout(Some(Duration::from_secs(5)))?;
            while Instant::now() < deadline && !stop.is_stopped() {
                pace.wait();
                msg[..8].copy_from_slice(&result.sent.to_le_bytes());
                let start = Instant::now();
                conn.write_all(&msg).context("prober write")?;
                result.sent += 1;
                conn.read_exact(&mut reply[..config.size])
                    .context("prober read")?;
                record(&mut result.rtt_ns, start.elapsed());
            }
        }
    }
    Ok(result)
}

/// Waits for the reply to `seq`, skipping late replies to earlier requests.
fn udp_reply(sock: &UdpSocket, seq: u64, buf: &mut [u8], deadline: Instant) -> Result<bool> {
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Ok(false);
        }
        sock.set_read_timeout(Some(left))?;
        match sock.recv(buf) {
            Ok(n) if n >= 8 && buf[..8] == seq.to_le_bytes() => return Ok(true),
            Ok(_) => {}
            Err(e) if is_timeout(&e) => return Ok(false),
            Err(e) if e.kind() == ErrorKind::ConnectionRefused => return Ok(false),
            Err(e) => return Err(e).context("prober recv"),
        }
    }
}

fn record(h: &mut Histogram<u64>, rtt: Duration) {
    h.saturating_record(rtt.as_nanos().max(1) as u64);
}

/// Sends at a fixed rate without drifting: the schedule is absolute, and a
/// late request is sent at once rather than making up a burst.
pub(crate) struct Pacer {
    interval: Option<Duration>,
    next: Instant,
}

impl Pacer {
    pub(crate) fn new(rate: u32) -> Self {
        Self {
            interval: (rate > 0).then(|| Duration::from_secs_f64(1.0 / rate as f64)),
            next: Instant::now(),
        }
    }

    pub(crate) fn wait(&mut self) {
        let Some(interval) = self.interval else {
            return;
        };
        let now = Instant::now();
        if self.next > now {
            std::thread::sleep(self.next - now);
        }
        self.next = self.next.max(now) + interval;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn udp_and_tcp_round_trips_on_loopback() {
        for (proto, port) in [(Proto::Udp, 47_771), (Proto::Tcp, 47_772)] {
            let stop = Stop::new();
            let s = stop.clone();
            let server = std::thread::spawn(move || serve(proto, port, s));
            std::thread::sleep(Duration::from_millis(50));
            let config = ProberConfig {
                proto,
                rate: 2000,
                ..Default::default()
            };
            let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
            let r = probe(&config, addr, Duration::from_millis(200), Stop::new()).unwrap();
            stop.stop();
            server.join().unwrap().unwrap();
            assert!(r.sent > 100, "{proto:?}: sent {}", r.sent);
            assert_eq!(r.lost, 0, "{proto:?}");
            assert_eq!(r.rtt_ns.len(), r.sent);
        }
    }

    #[test]
    fn udp_without_server_counts_losses() {
        let config = ProberConfig {
            rate: 100,
            timeout: Duration::from_millis(10),
            ..Default::default()
        };
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, 47_773));
        let r = probe(&config, addr, Duration::from_millis(100), Stop::new()).unwrap();
        assert!(r.sent >= 5);
        assert_eq!(r.lost, r.sent);
        assert_eq!(r.rtt_ns.len(), 0);
    }

    #[test]
    fn pacer_keeps_the_rate() {
        let mut p = Pacer::new(1000);
        let start = Instant::now();
        for _ in 0..50 {
            p.wait();
        }
        let took = start.elapsed();
        assert!(took >= Duration::from_millis(48), "{took:?}");
    }
}
