//! A host's tables as its programs read them: the tunnel, the local
//! containers and the remote ones. One writer serves a freshly loaded
//! object (the `BPF_PROG_TEST_RUN` tests) and the pinned maps of an
//! enabled host, and it writes in an order that is safe while packets
//! flow: new entries first, stale ones removed last.

use std::{net::Ipv4Addr, path::PathBuf};

use anyhow::{Context, Result};
use aya::maps::{
    Array, HashMap, Map, MapData,
    lpm_trie::{Key, LpmTrie},
};
use prism_datapath_common::{Local, LocalIp, Remote, RemoteNet, Tunnel, mac_key};

use crate::topology::{Host, Plan};

/// Where a writer finds a host's maps by name.
pub trait Maps {
    fn map(&mut self, name: &str) -> Result<&mut Map>;
}

/// The maps pinned in a host's directory, opened as they are needed.
pub struct PinnedMaps {
    dir: PathBuf,
    open: Vec<(String, Map)>,
}

impl PinnedMaps {
    pub fn new(dir: PathBuf) -> Self {
        Self {
            dir,
            open: Vec::new(),
        }
    }
}

impl Maps for PinnedMaps {
    fn map(&mut self, name: &str) -> Result<&mut Map> {
        if let Some(i) = self.open.iter().position(|(n, _)| n == name) {
            return Ok(&mut self.open[i].1);
        }
        let path = self.dir.join(name);
        let data = MapData::from_pin(&path).with_context(|| format!("open pinned {name}"))?;
        self.open
            .push((name.to_string(), Map::from_map_data(data)?));
        Ok(&mut self.open.last_mut().expect("just pushed").1)
    }
}

/// Everything a host's programs look up.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Tables {
    pub tunnel: Tunnel,
    /// Bridged hosts: containers by MAC.
    pub locals: Vec<([u8; 6], Local)>,
    /// Routed hosts: containers by IPv4 address.
    pub local_ips: Vec<(Ipv4Addr, LocalIp)>,
    /// Bridged hosts: remote containers by MAC (with a known next hop).
    pub remotes: Vec<([u8; 6], Remote)>,
    /// Routed hosts: remote pod prefixes.
    pub remote_nets: Vec<((Ipv4Addr, u8), RemoteNet)>,
}

impl Tables {
    /// The tables for what rtnetlink says of `host`.
    pub fn of(host: &Host) -> Self {
        let routed = host.plan == Plan::Routed;
        let tunnel = Tunnel {
            underlay_ifindex: host.underlay.ifindex,
            local_ip: host.local_ip.octets(),
            vni: host.vni,
            underlay_mtu: host.underlay_mtu,
            src_mac: host.underlay_mac,
            port: host.port,
            vxlan_ifindex: host.vxlan.ifindex,
            vxlan_mac: host.vxlan_mac,
            kind: host.plan.kind(),
            _pad: 0,
        };
        let mut tables = Self {
            tunnel,
            ..Default::default()
        };
        for l in &host.locals {
            let host_veth_ifindex = l.host_veth.ifindex;
            if routed {
                tables.local_ips.extend(l.ips.iter().map(|ip| {
                    let entry = LocalIp {
                        host_veth_ifindex,
                        mac: l.mac_bytes,
                        gateway_mac: l.gateway_mac,
                    };
                    (*ip, entry)
                }));
            } else {
                tables
                    .locals
                    .push((l.mac_bytes, Local { host_veth_ifindex }));
            }
        }
        for r in &host.remotes {
            // Sandbox hosts hand frames to the VXLAN device, which finds
            // the next hop itself.
            let next_hop = match (r.next_hop, host.plan) {
                (Some(mac), _) => mac,
                (None, Plan::Sandbox) => [0; 6],
                (None, _) => continue,
            };
            match (routed, r.prefix) {
                (true, Some(prefix)) => tables.remote_nets.push((
                    prefix,
                    RemoteNet {
                        vtep_ip: r.vtep.octets(),
                        next_hop_mac: next_hop,
                        vtep_mac: r.mac_bytes,
                    },
                )),
                (false, _) => tables.remotes.push((
                    r.mac_bytes,
                    Remote {
                        vtep_ip: r.vtep.octets(),
                        next_hop_mac: next_hop,
                        _pad: [0; 6],
                    },
                )),
                (true, None) => {}
            }
        }
        tables
    }

    /// Writes every table; entries no longer wanted go last.
    pub fn write(&self, maps: &mut dyn Maps) -> Result<()> {
        Array::<_, Tunnel>::try_from(maps.map("TUNNEL")?)?.set(0, self.tunnel, 0)?;
        replace::<u64, Local>(maps.map("LOCAL")?, &by_mac(&self.locals))?;
        replace::<u64, Remote>(maps.map("REMOTE")?, &by_mac(&self.remotes))?;
        let by_ip: Vec<(u32, LocalIp)> = self
            .local_ips
            .iter()
            .map(|(ip, v)| (u32::from_ne_bytes(ip.octets()), *v))
            .collect();
        replace::<u32, LocalIp>(maps.map("LOCAL_IP")?, &by_ip)?;
        let mut nets: LpmTrie<_, [u8; 4], RemoteNet> = LpmTrie::try_from(maps.map("REMOTE_NET")?)?;
        let wanted: Vec<(u32, [u8; 4])> = self
            .remote_nets
            .iter()
            .map(|((ip, len), _)| (*len as u32, ip.octets()))
            .collect();
        for ((len, ip), (_, v)) in wanted.iter().zip(&self.remote_nets) {
            nets.insert(&Key::new(*len, *ip), v, 0)?;
        }
        let stale: Vec<Key<[u8; 4]>> = nets
            .keys()
            .filter_map(Result::ok)
            .filter(|k| !wanted.contains(&(k.prefix_len(), k.data())))
            .collect();
        for k in stale {
            let _ = nets.remove(&k);
        }
        Ok(())
    }
}

/// Entries keyed by MAC, as the programs look them up.
fn by_mac<V: Copy>(entries: &[([u8; 6], V)]) -> Vec<(u64, V)> {
    entries.iter().map(|(m, v)| (mac_key(*m), *v)).collect()
}

/// Makes a hash map hold exactly `entries`: new and changed ones first,
/// stale ones removed last, so lookups never miss a wanted entry.
fn replace<K: aya::Pod + PartialEq, V: aya::Pod>(map: &mut Map, entries: &[(K, V)]) -> Result<()> {
    let mut map: HashMap<_, K, V> = HashMap::try_from(map)?;
    for (k, v) in entries {
        map.insert(k, v, 0)?;
    }
    let stale: Vec<K> = map
        .keys()
        .filter_map(Result::ok)
        .filter(|k| !entries.iter().any(|(e, _)| e == k))
        .collect();
    for k in stale {
        let _ = map.remove(&k);
    }
    Ok(())
}
