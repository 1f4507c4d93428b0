//! Building a lab's namespaces and devices through rtnetlink, one flavor
//! at a time, as the real overlay would lay out a node.
//!
//! Every flavor keeps the lab silent: neighbour and bridge FDB entries
//! that the real overlays learn from traffic (ARP, MAC learning) are
//! installed statically, so every packet in the lab is one a workload
//! sent and the tests can count packets exactly.

use std::net::{IpAddr, Ipv4Addr};

use anyhow::{Context, Result, bail};
use prism_kernel::{
    ethtool, netns,
    rtnl::{self, LinkChange, Rtnl},
};
use rtnetlink::{LinkBridge, LinkVxlan, packet_route::link::LinkMessage};

use crate::topology::{
    CONTAINER_DEV, Flavor, OVERLAY_MTU, Side, Topology, UNDERLAY_DEV, UNDERLAY_MTU,
    UNDERLAY_PREFIX, UNDERLAY_QUEUES,
};

/// Docker's `docker_gwbridge`, which gives overlay containers their
/// default route (and carries no VXLAN traffic).
const GWBRIDGE: &str = "docker_gwbridge";
const GWBRIDGE_IP: Ipv4Addr = Ipv4Addr::new(172, 18, 0, 1);
/// The router's ports (`--router`): towards host 1 and towards host 2.
const ROUTER_TO_H1: &str = "eth1";
const ROUTER_TO_H2: &str = "eth2";

pub fn build(topo: &Topology) -> Result<()> {
    for ns in topo.namespaces() {
        netns::create(&ns)?;
        netns::run_in(Some(&ns), disable_ipv6)??;
    }
    wire(topo)?;
    for side in &topo.sides {
        let peer = topo.peer(side);
        rtnl::run_in(Some(&side.host_ns), |nl| underlay(nl, topo, side))
            .with_context(|| format!("build the underlay of {}", side.host_ns))?;
        match topo.config.overlay {
            Flavor::Prism => {
                rtnl::run_in(Some(&side.host_ns), |nl| prism_host(nl, topo, side, peer))
            }
            Flavor::Docker => docker_host(topo, side, peer),
            Flavor::Flannel | Flavor::Calico => {
                netns::run_in(Some(&side.host_ns), || sysctl("net/ipv4/ip_forward", "1"))??;
                rtnl::run_in(Some(&side.host_ns), |nl| routed_host(nl, topo, side, peer))
            }
        }
        .with_context(|| format!("build host {}", side.host_ns))?;
        failpoint(&format!("host-{}", side.index))?;
        rtnl::run_in(Some(&side.container_ns), |nl| {
            container(nl, topo, side, peer)
        })
        .with_context(|| format!("build container {}", side.container_ns))?;
        netns::run_in(Some(&side.host_ns), || nic_like_offloads(UNDERLAY_DEV))??;
        one_shared_ring(&side.host_ns, UNDERLAY_DEV)?;
        if topo.config.queued_wire {
            queued(&side.host_ns, UNDERLAY_DEV)?;
        }
    }
    if let (Some(router), true) = (&topo.router_ns, topo.config.queued_wire) {
        for dev in [ROUTER_TO_H1, ROUTER_TO_H2] {
            // Forwarded packets would spread over the queues by hash; on
            // one queue they cannot meet the stall below.
            one_shared_ring(router, dev)?;
            queued(router, dev)?;
        }
    }
    Ok(())
}

/// Gives a wire veth a qdisc, so a full ring stops its queue (veth does
/// since 6.16) instead of dropping. Only queue 0 is used outside nic and
/// prio modes: on 6.18 a veth transmit queue other than the first, once
/// stopped, is not always woken again.
fn queued(ns: &str, dev: &str) -> Result<()> {
    rtnl::run_in(Some(ns), |nl| async move {
        let index = nl.index(dev).await?;
        nl.replace_root_qdisc(index, "mq").await
    })
    .with_context(|| format!("give {dev} in {ns} a qdisc"))
}

/// The underlay: one veth pair between the hosts, or two through the router.
fn wire(topo: &Topology) -> Result<()> {
    let [one, two] = &topo.sides;
    let Some(router) = &topo.router_ns else {
        return rtnl::run_in(Some(&one.host_ns), |nl| async move {
            nl.add_veth_into(UNDERLAY_DEV, UNDERLAY_DEV, &two.host_ns, UNDERLAY_QUEUES)
                .await
        });
    };
    rtnl::run_in(Some(&one.host_ns), |nl| async move {
        nl.add_veth_into(UNDERLAY_DEV, ROUTER_TO_H1, router, UNDERLAY_QUEUES)
            .await
    })?;
    rtnl::run_in(Some(router), |nl| async move {
        nl.add_veth_into(ROUTER_TO_H2, UNDERLAY_DEV, &two.host_ns, UNDERLAY_QUEUES)
            .await?;
        nl.configure("lo", LinkChange::up()).await?;
        for (dev, side) in [(ROUTER_TO_H1, one), (ROUTER_TO_H2, two)] {
            let ip = router_ip(side);
            nl.configure(dev, LinkChange::up().mtu(UNDERLAY_MTU).mac(mac_of(ip)))
                .await?;
            nl.add_address(dev, ip.into(), UNDERLAY_PREFIX).await?;
            nl.add_neighbour(dev, side.underlay_ip.into(), mac_of(side.underlay_ip))
                .await?;
        }
        Ok(())
    })?;
    netns::run_in(Some(router), || {
        sysctl("net/ipv4/ip_forward", "1")?;
        // Frames leave the router as they came, MTU-sized, so that the
        // hosts' underlays still receive like NICs (veth GRO takes
        // segments from a sender without TSO).
        for dev in [ROUTER_TO_H1, ROUTER_TO_H2] {
            no_segmentation_offloads(dev)?;
        }
        Ok(())
    })?
}

/// The router's address on a host's subnet: .254.
fn router_ip(side: &Side) -> Ipv4Addr {
    let [a, b, c, _] = side.underlay_ip.octets();
    Ipv4Addr::new(a, b, c, 254)
}

/// Fixed MACs keep the lab reproducible and ARP-free: 02:00 + the address.
fn mac_of(ip: Ipv4Addr) -> [u8; 6] {
    let [a, b, c, d] = ip.octets();
    [0x02, 0x00, a, b, c, d]
}

async fn underlay(nl: Rtnl, topo: &Topology, side: &Side) -> Result<()> {
    let peer = topo.peer(side);
    nl.configure("lo", LinkChange::up()).await?;
    let dev = LinkChange::up()
        .mtu(UNDERLAY_MTU)
        .mac(mac_of(side.underlay_ip));
    nl.configure(UNDERLAY_DEV, dev).await?;
    nl.add_address(UNDERLAY_DEV, side.underlay_ip.into(), UNDERLAY_PREFIX)
        .await?;
    match &topo.router_ns {
        None => {
            nl.add_neighbour(
                UNDERLAY_DEV,
                peer.underlay_ip.into(),
                mac_of(peer.underlay_ip),
            )
            .await
        }
        Some(_) => {
            let router = router_ip(side);
            nl.add_neighbour(UNDERLAY_DEV, router.into(), mac_of(router))
                .await?;
            let [a, b, c, _] = peer.underlay_ip.octets();
            let subnet = Ipv4Addr::new(a, b, c, 0);
            nl.add_route(subnet, UNDERLAY_PREFIX, Some(router), UNDERLAY_DEV, false)
                .await
        }
    }
}

/// A VXLAN device as the flavor creates it, not yet up.
fn vxlan_device(
    underlay: Option<u32>,
    topo: &Topology,
    side: &Side,
) -> rtnetlink::packet_route::link::LinkMessage {
    let config = &topo.config;
    let mut b = LinkVxlan::new(&side.vxlan_dev, config.vni);
    if let Some(port) = config.port {
        b = b.port(port);
    }
    b = match config.overlay {
        // Docker: no dev, no local; MAC learning and proxy ARP, misses
        // reported to the daemon.
        Flavor::Docker => b.learning(true).proxy(true).l2miss(true).l3miss(true),
        _ => {
            let b = b.local(side.underlay_ip).learning(false);
            match underlay {
                Some(i) => b.dev(i),
                None => b,
            }
        }
    };
    b.mtu(OVERLAY_MTU).address(side.vxlan_mac.to_vec()).build()
}

/// The VXLAN device, `dev` the underlay (all but Docker's), not yet up.
async fn add_vxlan_over_underlay(nl: &Rtnl, topo: &Topology, side: &Side) -> Result<()> {
    let underlay = nl.index(UNDERLAY_DEV).await?;
    nl.add(vxlan_device(Some(underlay), topo, side), "VXLAN device")
        .await
}

/// Prism's own lab: everything in the host namespace, bridged, static FDB.
async fn prism_host(nl: Rtnl, topo: &Topology, side: &Side, peer: &Side) -> Result<()> {
    let vxlan = &side.vxlan_dev;
    add_vxlan_over_underlay(&nl, topo, side).await?;
    bridged_overlay(&nl, side).await?;
    let remote = IpAddr::from(peer.underlay_ip);
    nl.add_vxlan_fdb(vxlan, peer.container_mac, remote).await?;
    // Broadcast and unknown unicast go to the peer too, as with Docker's
    // per-peer default entry.
    nl.add_vxlan_fdb(vxlan, [0; 6], remote).await?;
    nl.add_bridge_fdb(vxlan, peer.container_mac).await
}

/// A bridge that sends nothing of its own: with multicast snooping on
/// (the kernel's default) a bridge joins the snoopers' group 224.0.0.106
/// when it comes up and reports that in IGMP, over the overlay too, a
/// second after `lab up` returns, which a test counting packets sees.
fn quiet_bridge(name: &str) -> LinkMessage {
    LinkBridge::new(name).mcast_snooping(false).build()
}

/// The bridge, the VXLAN device as its port and the container's veth.
async fn bridged_overlay(nl: &Rtnl, side: &Side) -> Result<()> {
    let bridge = side.bridge.as_deref().expect("bridged");
    nl.add(quiet_bridge(bridge), "bridge").await?;
    nl.configure(
        bridge,
        LinkChange::up().mtu(OVERLAY_MTU).mac(side.bridge_mac),
    )
    .await?;
    let port = LinkChange::up().mtu(OVERLAY_MTU).master(bridge);
    nl.configure(&side.vxlan_dev, port).await?;
    nl.add_veth_into(&side.host_veth, CONTAINER_DEV, &side.container_ns, 1)
        .await?;
    nl.configure(&side.host_veth, port).await?;
    nl.add_bridge_fdb(&side.host_veth, side.container_mac).await
}

/// Docker's overlay driver: `vxlan0` is created in the node's namespace,
/// where its socket stays, and moved into the network's sandbox, which
/// holds `br0` (the subnet's gateway address) and the containers' veths.
/// Remote containers get a permanent neighbour entry (answered by the
/// device's proxy ARP) and an FDB entry each.
fn docker_host(topo: &Topology, side: &Side, peer: &Side) -> Result<()> {
    let sandbox = side.sandbox_ns.as_deref().expect("docker has a sandbox");
    rtnl::run_in(Some(&side.host_ns), |nl| async move {
        nl.add(vxlan_device(None, topo, side), "VXLAN device")
            .await?;
        nl.move_to(&side.vxlan_dev, sandbox).await?;
        nl.add(quiet_bridge(GWBRIDGE), "docker_gwbridge").await?;
        nl.configure(GWBRIDGE, LinkChange::up()).await?;
        nl.add_address(GWBRIDGE, GWBRIDGE_IP.into(), 16).await?;
        let veth = gwbridge_veth(side);
        nl.add_veth_into(&veth, "eth1", &side.container_ns, 1)
            .await?;
        nl.configure(&veth, LinkChange::up().master(GWBRIDGE)).await
    })?;
    rtnl::run_in(Some(sandbox), |nl| async move {
        nl.configure("lo", LinkChange::up()).await?;
        bridged_overlay(&nl, side).await?;
        let bridge = side.bridge.as_deref().expect("bridged");
        let gateway = side.gateway.expect("docker has a gateway");
        nl.add_address(bridge, gateway.into(), side.overlay_prefix)
            .await?;
        let vxlan = &side.vxlan_dev;
        nl.add_neighbour(vxlan, peer.overlay_ip.into(), peer.container_mac)
            .await?;
        nl.add_vxlan_fdb(vxlan, peer.container_mac, peer.underlay_ip.into())
            .await?;
        nl.add_bridge_fdb(vxlan, peer.container_mac).await
    })
}

/// The host side of a Docker container's veth to docker_gwbridge.
fn gwbridge_veth(side: &Side) -> String {
    format!("veth{}", &crate::topology::digest(&side.container_ns, 7))
}

/// Flannel and Calico: the VXLAN device has an address of its own (the pod
/// prefix's first); each remote pod prefix is routed `via` the remote
/// device's address `onlink`, whose permanent neighbour entry is the
/// remote device's MAC, whose FDB entry is the remote node.
async fn routed_host(nl: Rtnl, topo: &Topology, side: &Side, peer: &Side) -> Result<()> {
    let vxlan = &side.vxlan_dev;
    add_vxlan_over_underlay(&nl, topo, side).await?;
    nl.configure(vxlan, LinkChange::up()).await?;
    nl.add_address(vxlan, side.pod_prefix.0.into(), 32).await?;
    let (remote_net, remote_len) = peer.pod_prefix;
    nl.add_route(remote_net, remote_len, Some(remote_net), vxlan, true)
        .await?;
    nl.add_neighbour(vxlan, remote_net.into(), peer.vxlan_mac)
        .await?;
    nl.add_vxlan_fdb(vxlan, peer.vxlan_mac, peer.underlay_ip.into())
        .await?;
    nl.add_veth_into(&side.host_veth, CONTAINER_DEV, &side.container_ns, 1)
        .await?;
    match &side.bridge {
        // Flannel's bridge CNI: cni0 holds the gateway address.
        Some(cni0) => {
            nl.add(quiet_bridge(cni0), "bridge").await?;
            nl.configure(cni0, LinkChange::up().mtu(OVERLAY_MTU).mac(side.bridge_mac))
                .await?;
            let gateway = side.gateway.expect("flannel has a gateway");
            nl.add_address(cni0, gateway.into(), side.overlay_prefix)
                .await?;
            let port = LinkChange::up().mtu(OVERLAY_MTU).master(cni0);
            nl.configure(&side.host_veth, port).await?;
            nl.add_bridge_fdb(&side.host_veth, side.container_mac)
                .await?;
            nl.add_neighbour(cni0, side.overlay_ip.into(), side.container_mac)
                .await
        }
        // Calico: the cali veth answers ARP by proxy (ee:ee:ee:ee:ee:ee);
        // the pod is a /32 route on it with a permanent neighbour entry.
        None => {
            let veth = &side.host_veth;
            nl.configure(
                veth,
                LinkChange::up().mtu(OVERLAY_MTU).mac(side.gateway_mac),
            )
            .await?;
            netns::run_in(None, || {
                sysctl(&format!("net/ipv4/conf/{veth}/proxy_arp"), "1")
            })??;
            nl.add_route(side.overlay_ip, 32, None, veth, false).await?;
            nl.add_neighbour(veth, side.overlay_ip.into(), side.container_mac)
                .await
        }
    }
}

async fn container(nl: Rtnl, topo: &Topology, side: &Side, peer: &Side) -> Result<()> {
    nl.configure("lo", LinkChange::up()).await?;
    let eth0 = LinkChange::up().mtu(OVERLAY_MTU).mac(side.container_mac);
    nl.configure(CONTAINER_DEV, eth0).await?;
    nl.add_address(CONTAINER_DEV, side.overlay_ip.into(), side.overlay_prefix)
        .await?;
    let any = Ipv4Addr::UNSPECIFIED;
    match topo.config.overlay {
        Flavor::Prism | Flavor::Docker => {
            nl.add_neighbour(CONTAINER_DEV, peer.overlay_ip.into(), peer.container_mac)
                .await?;
            if topo.config.overlay == Flavor::Docker {
                nl.configure("eth1", LinkChange::up()).await?;
                nl.add_address("eth1", Ipv4Addr::new(172, 18, 0, 2).into(), 16)
                    .await?;
                nl.add_route(any, 0, Some(GWBRIDGE_IP), "eth1", false)
                    .await?;
            }
            Ok(())
        }
        Flavor::Flannel | Flavor::Calico => {
            let gateway = side.gateway.expect("routed flavors have a gateway");
            if topo.config.overlay == Flavor::Calico {
                nl.add_route(gateway, 32, None, CONTAINER_DEV, false)
                    .await?;
            } else {
                nl.add_route(
                    Ipv4Addr::new(10, 244, 0, 0),
                    16,
                    Some(gateway),
                    CONTAINER_DEV,
                    false,
                )
                .await?;
            }
            nl.add_route(any, 0, Some(gateway), CONTAINER_DEV, false)
                .await?;
            nl.add_neighbour(CONTAINER_DEV, gateway.into(), side.gateway_mac)
                .await
        }
    }
}

/// Writes a sysctl of the calling thread's namespace (`net/ipv4/...`).
fn sysctl(key: &str, value: &str) -> Result<()> {
    let path = format!("/proc/sys/{key}");
    std::fs::write(&path, value).with_context(|| format!("write {path}"))
}

/// Sends everything on the underlay's first queue (XPS), so that by default
/// all traffic shares one receive ring at the peer, as on a NIC that hashes
/// every flow to one queue; the datapath's nic mode lifts this to give
/// high-priority flows a ring of their own.
fn one_shared_ring(ns: &str, dev: &str) -> Result<()> {
    let all: Vec<usize> = (0..crate::placement::online_cpus()).collect();
    let queues: Vec<(usize, Vec<usize>)> = (0..UNDERLAY_QUEUES as usize)
        .map(|q| (q, if q == 0 { all.clone() } else { Vec::new() }))
        .collect();
    prism_kernel::sysfs::steer(ns, dev, prism_kernel::sysfs::Steering::Xps, &queues)
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

/// Turns the segmentation offloads of `dev` off: it sends MTU-sized frames.
fn no_segmentation_offloads(dev: &str) -> Result<()> {
    const OFF: [&str; 6] = [
        "tx-tcp-segmentation",
        "tx-tcp6-segmentation",
        "tx-tcp-ecn-segmentation",
        "tx-tcp-mangleid-segmentation",
        "tx-udp_tnl-segmentation",
        "tx-udp_tnl-csum-segmentation",
    ];
    let present = ethtool::features(dev)?;
    let wanted: Vec<(&str, bool)> = OFF
        .iter()
        .filter(|f| present.contains_key(**f))
        .map(|f| (*f, false))
        .collect();
    ethtool::set_features(dev, &wanted)
}

/// Makes a veth receive like a NIC: GRO on (which also gives veth a NAPI
/// poll loop), and no segmentation offloads, so the sender puts MTU-sized
/// frames on the wire for GRO to merge, as a real NIC's peer would.
fn nic_like_offloads(dev: &str) -> Result<()> {
    no_segmentation_offloads(dev)?;
    ethtool::set_features(dev, &[("rx-gro", true)])?;
    let now = ethtool::features(dev)?;
    if now.get("rx-gro") != Some(&true) || now.get("tx-tcp-segmentation") == Some(&true) {
        bail!("{dev} refused the NIC-like offload settings (GRO on, TSO off)");
    }
    Ok(())
}
