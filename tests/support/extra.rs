//! A container added to a lab's second host, Docker-style: a veth into a
//! new namespace, its host side on the bridge, and the first host told
//! where its MAC is. Removed when dropped.

use std::net::Ipv4Addr;

use prism_lab::Topology;

/// The added container; its namespace goes when this is dropped.
pub struct ExtraContainer {
    /// Its namespace, `LAB-SUFFIX`.
    pub netns: String,
    pub ip: Ipv4Addr,
    pub mac: [u8; 6],
    /// Its host side, on host 2's bridge.
    pub host_veth: String,
}

impl Drop for ExtraContainer {
    fn drop(&mut self) {
        let _ = prism_kernel::netns::delete(&self.netns);
    }
}

pub fn ip(args: &[&str]) {
    let out = std::process::Command::new("ip")
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "ip {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Adds container `suffix` (e.g. `c3`) with the last address byte `n` to
/// host 2 of the lab `topo` describes, reachable from container 1.
pub fn add_to_host2(lab_name: &str, topo: &Topology, suffix: &str, n: u8) -> ExtraContainer {
    let [s1, s2] = &topo.sides;
    let netns = format!("{lab_name}-{suffix}");
    prism_kernel::netns::create(&netns).unwrap();
    let mut o = s1.overlay_ip.octets();
    o[3] = n;
    let extra = ExtraContainer {
        netns,
        ip: Ipv4Addr::from(o),
        mac: [2, 0x42, o[0], o[1], o[2], n],
        host_veth: format!("veth-{suffix}"),
    };
    let (c, h1, h2) = (
        extra.netns.as_str(),
        s1.host_ns.as_str(),
        s2.host_ns.as_str(),
    );
    let mac = prism_kernel::rtnl::format_mac(&extra.mac);
    let addr = extra.ip.to_string();
    let veth = extra.host_veth.as_str();
    ip(&[
        "-n", h2, "link", "add", veth, "mtu", "1450", "type", "veth", "peer", "name", "eth0",
        "netns", c,
    ]);
    ip(&["-n", h2, "link", "set", veth, "master", "br0", "up"]);
    ip(&[
        "-n", c, "link", "set", "eth0", "address", &mac, "mtu", "1450", "up",
    ]);
    ip(&["-n", c, "addr", "add", &format!("{addr}/24"), "dev", "eth0"]);
    let underlay2 = s2.underlay_ip.to_string();
    let out = std::process::Command::new("bridge")
        .args([
            "-n", h1, "fdb", "append", &mac, "dev", "vxlan0", "dst", &underlay2,
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    ip(&[
        "-n",
        &s1.container_ns,
        "neigh",
        "replace",
        &addr,
        "lladdr",
        &mac,
        "dev",
        "eth0",
    ]);
    let c1_mac = prism_kernel::rtnl::format_mac(&s1.container_mac);
    let c1_ip = s1.overlay_ip.to_string();
    ip(&[
        "-n", c, "neigh", "replace", &c1_ip, "lladdr", &c1_mac, "dev", "eth0",
    ]);
    extra
}
