//! The integrity run: the checked UDP and TCP flows from one container to
//! the other, under a bulk background, with the counters that say whether
//! anything on the way damaged or lost them.

use std::{net::SocketAddr, time::Duration};

use anyhow::{Context, Result, bail};
use prism_kernel::snmp::Snmp;
use serde::Serialize;

use crate::{
    Topology,
    placement::online_cpus,
    scenario::{Background, RunOptions, start_background},
    workload::{
        Stop, Worker,
        bulk::Throughput,
        integrity::{self, TcpCheck, TcpSent, UdpCheck},
        spawn_in,
    },
};

#[derive(Clone, Debug, Serialize)]
pub struct IntegrityOptions {
    pub duration: Duration,
    pub background: Background,
    /// Checked datagrams per second.
    pub udp_rate: u32,
    /// Checked stream bytes per second.
    pub tcp_rate: u64,
}

impl Default for IntegrityOptions {
    fn default() -> Self {
        Self {
            duration: Duration::from_secs(10),
            background: Background::Tcp,
            udp_rate: 5000,
            tcp_rate: 20 << 20,
        }
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct IntegrityReport {
    pub background: Background,
    pub udp_sent: u64,
    pub udp: UdpCheck,
    /// Sent, and never arrived intact.
    pub udp_lost: u64,
    pub tcp_sent: TcpSent,
    pub tcp: TcpCheck,
    /// Receiving container: checksum errors and full receive buffers.
    pub receiver: Snmp,
    pub bulk: Option<Throughput>,
}

impl IntegrityReport {
    /// Nothing damaged: no byte or datagram other than sent, the whole
    /// stream arrived, no checksum error at the receiver.
    pub fn intact(&self) -> bool {
        self.udp.corrupted == 0
            && self.tcp.corrupted_bytes == 0
            && self.tcp.bytes == self.tcp_sent.bytes
            && self.receiver.udp_in_csum_errors == 0
            && self.receiver.tcp_in_csum_errors == 0
    }
}

/// Runs the checked flows from side 1's container to side 2's.
pub fn run(topo: &Topology, opts: &IntegrityOptions) -> Result<IntegrityReport> {
    let [client, server] = &topo.sides;
    let cpus = crate::placement::Placement::default().cpus(online_cpus())?;
    let before = Snmp::of(Some(&server.container_ns))?;
    let stop = Stop::new();
    let mut workers: Vec<Worker<()>> = Vec::new();
    let result = (|| {
        let background = RunOptions::default();
        let sink = start_background(
            topo,
            opts.background,
            &background,
            &cpus,
            &stop,
            &mut workers,
        )?;
        let (s, t) = (stop.clone(), stop.clone());
        let udp_rx = spawn_in(&server.container_ns, None, "integrity-udp-rx", move || {
            integrity::udp_receive(s)
        })?;
        let tcp_rx = spawn_in(&server.container_ns, None, "integrity-tcp-rx", move || {
            integrity::tcp_receive(t)
        })?;
        std::thread::sleep(Duration::from_millis(300));
        let from = sink.as_ref().map(|c| c.snapshot());
        let senders = Stop::new();
        let (to_udp, to_tcp) = (
            SocketAddr::from((server.overlay_ip, integrity::UDP_PORT)),
            SocketAddr::from((server.overlay_ip, integrity::TCP_PORT)),
        );
        let (s, rate) = (senders.clone(), opts.udp_rate);
        let udp_tx = spawn_in(&client.container_ns, None, "integrity-udp-tx", move || {
            integrity::udp_send(to_udp, rate, s)
        })?;
        let (s, rate) = (senders.clone(), opts.tcp_rate);
        let tcp_tx = spawn_in(&client.container_ns, None, "integrity-tcp-tx", move || {
            integrity::tcp_send(to_tcp, rate, s)
        })?;
        std::thread::sleep(opts.duration);
        senders.stop();
        let udp_sent = udp_tx.join()?;
        let tcp_sent = tcp_tx.join()?;
        let bulk = sink
            .as_ref()
            .zip(from)
            .map(|(c, from)| Throughput::between(from, c.snapshot()));
        // The receivers drain what is in flight, then end.
        stop.stop();
        let udp = udp_rx.join()?;
        let tcp = tcp_rx.join()?;
        if udp.received == 0 && udp_sent > 0 {
            bail!("no checked datagram arrived: is the lab's overlay up?");
        }
        Ok(IntegrityReport {
            background: opts.background,
            udp_lost: udp_sent.saturating_sub(udp.distinct),
            udp_sent,
            udp,
            tcp_sent,
            tcp,
            receiver: Snmp::of(Some(&server.container_ns))?.since(&before),
            bulk,
        })
    })();
    stop.stop();
    let joined: Result<Vec<()>> = workers.into_iter().map(Worker::join).collect();
    let report = result?;
    joined.context("stopping the background")?;
    Ok(report)
}
