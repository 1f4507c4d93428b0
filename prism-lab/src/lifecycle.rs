//! `lab up` and `lab down`: build the topology through rtnetlink, and tear
//! it down by deleting the lab's namespaces (their devices go with them).

use std::net::IpAddr;

use anyhow::{Context, Result, bail};
use prism_kernel::{
    ethtool, netns,
    rtnl::{self, LinkChange, Rtnl},
};
use rtnetlink::{LinkBridge, LinkVxlan};

use crate::{
    LabConfig, Topology, connectivity, state,
    topology::{
        BRIDGE_DEV, CONTAINER_DEV, OVERLAY_MTU, OVERLAY_PREFIX, Side, UNDERLAY_DEV, UNDERLAY_MTU,
        UNDERLAY_PREFIX, UNDERLAY_QUEUES, VXLAN_DEV,
    },
};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UpOutcome {
    Created,
    /// It was up and healthy already; nothing changed.
    AlreadyUp,
    /// A half-built lab (an interrupted `up`) was removed and built again.
    Rebuilt,
}

/// Builds the lab, or confirms it is up. Idempotent; on failure nothing of
/// the lab is left behind.
pub fn up(config: &LabConfig) -> Result<UpOutcome> {
    config.validate()?;
    let topo = Topology::new(config.clone());
    let present: Vec<String> = topo
        .namespaces()
        .into_iter()
        .filter(|n| netns::exists(n))
        .collect();
    let outcome = match state::load(&config.name)? {
        Some(existing) if existing != *config => bail!(
            "lab {} is already up with VNI {} and port {}; run `prism lab down --name {}` first to change them",
            config.name,
            existing.vni,
            existing.port,
            config.name
        ),
        Some(_) if present.len() == 4 && connectivity::check(&topo).is_ok() => {
            return Ok(UpOutcome::AlreadyUp);
        }
        Some(_) => {
            remove_namespaces(&topo)?;
            UpOutcome::Rebuilt
        }
        None if !present.is_empty() => bail!(
            "network namespace {} exists but is not part of a Prism lab; pick another --name",
            present[0]
        ),
        None => UpOutcome::Created,
    };
    state::save(config)?;
    let built = build(&topo).and_then(|()| {
        connectivity::check(&topo)
            .context("the lab was built, but its containers cannot reach each other")
    });
    if let Err(e) = built {
        let _ = down(&config.name);
        return Err(e);
    }
    Ok(outcome)
}

/// Removes the lab. Returns false when there was no such lab.
pub fn down(name: &str) -> Result<bool> {
    let Some(config) = state::load(name)? else {
        return Ok(false);
    };
    remove_namespaces(&Topology::new(config))?;
    state::remove(name)?;
    Ok(true)
}

fn remove_namespaces(topo: &Topology) -> Result<()> {
    for ns in topo.namespaces() {
        netns::delete(&ns)?;
    }
    Ok(())
}

fn build(topo: &Topology) -> Result<()> {
    for ns in topo.namespaces() {
        netns::create(&ns)?;
        netns::run_in(Some(&ns), disable_ipv6)??;
    }
    let [one, two] = &topo.sides;
    // The underlay wire: a veth pair between the two hosts.
    rtnl::run_in(Some(&one.host_ns), |nl| async move {
        nl.add_veth_into(UNDERLAY_DEV, UNDERLAY_DEV, &two.host_ns, UNDERLAY_QUEUES)
            .await
    })?;
    for side in &topo.sides {
        let peer = topo.peer(side);
        rtnl::run_in(Some(&side.host_ns), |nl| build_host(nl, topo, side, peer))
            .with_context(|| format!("build host {}", side.host_ns))?;
        failpoint(&format!("host-{}", side.index))?;
        rtnl::run_in(Some(&side.container_ns), |nl| {
            build_container(nl, side, peer)
        })
        .with_context(|| format!("build container {}", side.container_ns))?;
        netns::run_in(Some(&side.host_ns), || nic_like_offloads(UNDERLAY_DEV))??;
        one_shared_ring(&side.host_ns)?;
    }
    Ok(())
}

/// Sends everything on the underlay's first queue (XPS), so that by default
/// all traffic shares one receive ring at the peer, as on a NIC that hashes
/// every flow to one queue; the datapath's nic mode lifts this to give
/// high-priority flows a ring of their own.
fn one_shared_ring(ns: &str) -> Result<()> {
    let all: Vec<usize> = (0..crate::placement::online_cpus()).collect();
    let queues: Vec<(usize, Vec<usize>)> = (0..UNDERLAY_QUEUES as usize)
        .map(|q| (q, if q == 0 { all.clone() } else { Vec::new() }))
        .collect();
    prism_kernel::sysfs::steer(
        ns,
        UNDERLAY_DEV,
        prism_kernel::sysfs::Steering::Xps,
        &queues,
    )
}

/// Test hook: with `PRISM_LAB_FAILPOINT=host-1` (or `host-2`) `up` fails
/// right after building that host, so tests can prove that a half-built
/// lab is removed.
fn failpoint(step: &str) -> Result<()> {
    match std::env::var("PRISM_LAB_FAILPOINT") {
        Ok(at) if at == step => bail!("failing on purpose at {step} (PRISM_LAB_FAILPOINT)"),
        _ => Ok(()),
    }
}

/// Underlay, VXLAN device, bridge and the container's veth, as Docker's
/// overlay driver lays them out, with static FDB and neighbour entries.
async fn build_host(nl: Rtnl, topo: &Topology, side: &Side, peer: &Side) -> Result<()> {
    nl.configure("lo", LinkChange::up()).await?;
    let underlay = LinkChange::up().mtu(UNDERLAY_MTU).mac(underlay_mac(side));
    nl.configure(UNDERLAY_DEV, underlay).await?;
    nl.add_address(UNDERLAY_DEV, side.underlay_ip.into(), UNDERLAY_PREFIX)
        .await?;
    nl.add_neighbour(UNDERLAY_DEV, peer.underlay_ip.into(), underlay_mac(peer))
        .await?;

    let vxlan = LinkVxlan::new(VXLAN_DEV, topo.config.vni)
        .dev(nl.index(UNDERLAY_DEV).await?)
        .port(topo.config.port)
        .local(side.underlay_ip)
        .learning(false)
        .mtu(OVERLAY_MTU)
        .build();
    nl.add(vxlan, "VXLAN device").await?;
    nl.add(LinkBridge::new(BRIDGE_DEV).build(), "bridge")
        .await?;
    let bridge_port = LinkChange::up().mtu(OVERLAY_MTU).master(BRIDGE_DEV);
    nl.configure(VXLAN_DEV, bridge_port).await?;
    nl.add_veth_into(&side.host_veth, CONTAINER_DEV, &side.container_ns, 1)
        .await?;
    nl.configure(&side.host_veth, bridge_port).await?;

    let remote = IpAddr::from(peer.underlay_ip);
    nl.add_vxlan_fdb(VXLAN_DEV, peer.container_mac, remote)
        .await?;
    // Broadcast and unknown unicast go to the peer too, as with Docker's
    // per-peer default entry.
    nl.add_vxlan_fdb(VXLAN_DEV, [0; 6], remote).await?;
    nl.add_bridge_fdb(VXLAN_DEV, peer.container_mac).await
}

async fn build_container(nl: Rtnl, side: &Side, peer: &Side) -> Result<()> {
    nl.configure("lo", LinkChange::up()).await?;
    let eth0 = LinkChange::up().mtu(OVERLAY_MTU).mac(side.container_mac);
    nl.configure(CONTAINER_DEV, eth0).await?;
    nl.add_address(CONTAINER_DEV, side.overlay_ip.into(), OVERLAY_PREFIX)
        .await?;
    nl.add_neighbour(CONTAINER_DEV, peer.overlay_ip.into(), peer.container_mac)
        .await
}

/// Fixed underlay MACs keep the lab reproducible and ARP-free.
fn underlay_mac(side: &Side) -> [u8; 6] {
    let [a, b, c, d] = side.underlay_ip.octets();
    [0x02, 0x00, a, b, c, d]
}

/// The lab is IPv4 only, like Docker's default overlay: no router
/// solicitations or MLD reports to blur packet counts.
fn disable_ipv6() -> Result<()> {
    for scope in ["all", "default"] {
        let path = format!("/proc/sys/net/ipv6/conf/{scope}/disable_ipv6");
        if std::path::Path::new(&path).exists() {
            std::fs::write(&path, "1").with_context(|| format!("write {path}"))?;
        }
    }
    Ok(())
}

/// Makes a veth receive like a NIC: GRO on (which also gives veth a NAPI
/// poll loop), and no segmentation offloads, so the sender puts MTU-sized
/// frames on the wire for GRO to merge, as a real NIC's peer would.
fn nic_like_offloads(dev: &str) -> Result<()> {
    const OFF: [&str; 6] = [
        "tx-tcp-segmentation",
        "tx-tcp6-segmentation",
        "tx-tcp-ecn-segmentation",
        "tx-tcp-mangleid-segmentation",
        "tx-udp_tnl-segmentation",
        "tx-udp_tnl-csum-segmentation",
    ];
    let present = ethtool::features(dev)?;
    let mut wanted: Vec<(&str, bool)> = OFF
        .iter()
        .filter(|f| present.contains_key(**f))
        .map(|f| (*f, false))
        .collect();
    wanted.push(("rx-gro", true));
    ethtool::set_features(dev, &wanted)?;
    let now = ethtool::features(dev)?;
    if now.get("rx-gro") != Some(&true) || now.get("tx-tcp-segmentation") == Some(&true) {
        bail!("{dev} refused the NIC-like offload settings (GRO on, TSO off)");
    }
    Ok(())
}
