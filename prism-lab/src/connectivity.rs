//! Is the overlay working? A UDP echo across it, in both directions.

use std::{
    net::{Ipv4Addr, SocketAddr, UdpSocket},
    time::{Duration, Instant},
};

use anyhow::{Context, Result, bail};

use crate::{Topology, topology::Side, workload::spawn_in};

/// Port of the one-shot echo used by the check.
const CHECK_PORT: u16 = 7999;
const TRIES: u32 = 5;

/// Checks container-to-container reachability over VXLAN both ways and
/// returns the round-trip times.
pub fn check(topo: &Topology) -> Result<[Duration; 2]> {
    let [one, two] = &topo.sides;
    Ok([round_trip(one, two)?, round_trip(two, one)?])
}

fn round_trip(from: &Side, to: &Side) -> Result<Duration> {
    let echo = spawn_in(&to.container_ns, None, "lab-check-echo", || {
        let sock = UdpSocket::bind((Ipv4Addr::UNSPECIFIED, CHECK_PORT))?;
        sock.set_read_timeout(Some(Duration::from_secs(2)))?;
        let mut buf = [0u8; 64];
        let (n, peer) = sock.recv_from(&mut buf).context("no probe arrived")?;
        sock.send_to(&buf[..n], peer)?;
        Ok(())
    })?;
    let server = SocketAddr::from((to.overlay_ip, CHECK_PORT));
    let client = spawn_in(&from.container_ns, None, "lab-check-probe", move || {
        let sock = UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 0))?;
        sock.set_read_timeout(Some(Duration::from_millis(300)))?;
        let mut buf = [0u8; 64];
        for _ in 0..TRIES {
            let start = Instant::now();
            sock.send_to(b"prism-lab-check", server)?;
            if sock.recv(&mut buf).is_ok() {
                return Ok(start.elapsed());
            }
        }
        bail!("no reply after {TRIES} tries")
    })?;
    let rtt = client.join();
    let served = echo.join();
    let what = || {
        format!(
            "{} ({}) -> {} ({})",
            from.container_ns, from.overlay_ip, to.container_ns, to.overlay_ip
        )
    };
    let rtt = rtt.with_context(what)?;
    served.with_context(what)?;
    Ok(rtt)
}
