//! rtnetlink, the typed way: links, addresses, neighbours and FDB entries.
//!
//! A thin synchronous face over the `rtnetlink` crate. Each [`run`] builds a
//! single-threaded runtime on the calling thread, so combined with
//! [`crate::netns::run_in`] the netlink socket lives in the namespace that
//! thread is in.

use std::{future::Future, net::IpAddr, os::fd::AsRawFd};

use anyhow::{Context, Result, anyhow};
use futures::TryStreamExt;
use rtnetlink::{
    Handle, LinkMessageBuilder, LinkUnspec, LinkVeth, RouteMessageBuilder,
    packet_route::{
        AddressFamily,
        address::AddressAttribute,
        link::{InfoData, InfoVeth, InfoVxlan, LinkAttribute, LinkFlags, LinkInfo, LinkMessage},
        neighbour::{
            NeighbourAddress, NeighbourAttribute, NeighbourFlags, NeighbourMessage, NeighbourState,
        },
        route::RouteMessage,
    },
};
use serde::Serialize;

/// Runs `f` against a fresh rtnetlink connection opened on this thread.
pub fn run<R, F, Fut>(f: F) -> Result<R>
where
    F: FnOnce(Rtnl) -> Fut,
    Fut: Future<Output = Result<R>>,
{
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .enable_time()
        .build()
        .context("tokio runtime for rtnetlink")?;
    runtime.block_on(async {
        let (connection, handle, _) = rtnetlink::new_connection().context("open rtnetlink")?;
        let conn = tokio::spawn(connection);
        let result = f(Rtnl { handle }).await;
        conn.abort();
        result
    })
}

/// Runs `f` with an rtnetlink connection inside the named namespace.
pub fn run_in<R, F, Fut>(ns: Option<&str>, f: F) -> Result<R>
where
    R: Send,
    F: FnOnce(Rtnl) -> Fut + Send,
    Fut: Future<Output = Result<R>>,
{
    crate::netns::run_in(ns, || run(f))?
}

/// A device as `status` reports it.
#[derive(Clone, Debug, Default, Serialize, PartialEq, Eq)]
pub struct Link {
    pub name: String,
    pub ifindex: u32,
    /// `veth`, `vxlan`, `bridge`, ... (`None` for physical devices and lo).
    pub kind: Option<String>,
    pub mac: Option<String>,
    pub mtu: Option<u32>,
    /// ifindex of the bridge this device is a port of.
    pub master: Option<u32>,
    /// ifindex of the peer (veth) or lower device, maybe in another netns.
    pub link: Option<u32>,
    /// The namespace `link` is in, as this namespace numbers it (nsid).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub link_netnsid: Option<i32>,
    pub up: bool,
    pub addresses: Vec<String>,
    /// For VXLAN devices: VNI, port, local address and lower device.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vxlan: Option<Vxlan>,
}

/// What a VXLAN device is configured with.
#[derive(Clone, Debug, Default, Serialize, PartialEq, Eq)]
pub struct Vxlan {
    pub vni: u32,
    pub port: u16,
    pub local: Option<std::net::Ipv4Addr>,
    /// ifindex of the device the VXLAN packets leave by (the underlay), in
    /// the namespace that holds the device's socket.
    pub lower: Option<u32>,
    /// Learns remote MACs from received packets (`learning`).
    pub learning: bool,
    /// Answers ARP from its neighbour table (`proxy`).
    pub proxy: bool,
    /// Reports FDB and neighbour misses to userspace (Docker's overlay).
    pub l2miss: bool,
    pub l3miss: bool,
    /// Flow-based (`external`): the VNI and remote come per packet.
    pub external: bool,
    /// An IPv6 local or group address: an IPv6 underlay.
    pub ipv6: bool,
}

fn vxlan_from(infos: &[InfoVxlan]) -> Vxlan {
    let mut v = Vxlan::default();
    for info in infos {
        match info {
            InfoVxlan::Id(id) => v.vni = *id,
            InfoVxlan::Port(p) => v.port = *p,
            InfoVxlan::Local(ip) => v.local = Some(*ip),
            InfoVxlan::Link(l) if *l != 0 => v.lower = Some(*l),
            InfoVxlan::Learning(b) => v.learning = *b,
            InfoVxlan::Proxy(b) => v.proxy = *b,
            InfoVxlan::L2Miss(b) => v.l2miss = *b,
            InfoVxlan::L3Miss(b) => v.l3miss = *b,
            InfoVxlan::CollectMetadata(b) => v.external = *b,
            InfoVxlan::Local6(_) | InfoVxlan::Group6(_) => v.ipv6 = true,
            _ => {}
        }
    }
    v
}

pub fn format_mac(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

pub fn parse_mac(text: &str) -> Result<[u8; 6]> {
    let bytes: Vec<u8> = text
        .split(':')
        .map(|p| u8::from_str_radix(p, 16))
        .collect::<Result<_, _>>()
        .map_err(|_| anyhow!("bad MAC address {text:?}"))?;
    bytes
        .try_into()
        .map_err(|_| anyhow!("bad MAC address {text:?}"))
}

fn link_from(msg: &LinkMessage) -> Link {
    let mut link = Link {
        ifindex: msg.header.index,
        up: msg.header.flags.contains(LinkFlags::Up),
        ..Default::default()
    };
    for attr in &msg.attributes {
        match attr {
            LinkAttribute::IfName(n) => link.name = n.clone(),
            LinkAttribute::Address(a) => link.mac = Some(format_mac(a)),
            LinkAttribute::Mtu(m) => link.mtu = Some(*m),
            LinkAttribute::Controller(m) => link.master = Some(*m),
            LinkAttribute::Link(l) => link.link = Some(*l),
            LinkAttribute::LinkNetNsId(id) => link.link_netnsid = Some(*id),
            LinkAttribute::LinkInfo(infos) => {
                for info in infos {
                    match info {
                        LinkInfo::Kind(kind) => link.kind = Some(kind.to_string()),
                        LinkInfo::Data(InfoData::Vxlan(v)) => link.vxlan = Some(vxlan_from(v)),
                        _ => {}
                    }
                }
            }
            _ => {}
        }
    }
    link
}

/// Is this the kernel saying "no such device"?
pub fn is_not_found(err: &rtnetlink::Error) -> bool {
    matches!(err, rtnetlink::Error::NetlinkError(m)
        if m.code.is_some_and(|c| -c.get() == libc::ENODEV))
}

/// An rtnetlink connection bound to one namespace.
pub struct Rtnl {
    handle: Handle,
}

impl Rtnl {
    pub fn handle(&self) -> &Handle {
        &self.handle
    }

    /// All devices of this namespace, with their addresses.
    pub async fn links(&self) -> Result<Vec<Link>> {
        let mut links: Vec<Link> = self
            .handle
            .link()
            .get()
            .execute()
            .map_ok(|m| link_from(&m))
            .try_collect()
            .await
            .context("dump links")?;
        let addrs: Vec<_> = self
            .handle
            .address()
            .get()
            .execute()
            .try_collect()
            .await
            .context("dump addresses")?;
        for a in addrs {
            let prefix = a.header.prefix_len;
            for attr in &a.attributes {
                if let AddressAttribute::Address(ip) = attr
                    && let Some(l) = links.iter_mut().find(|l| l.ifindex == a.header.index)
                {
                    l.addresses.push(format!("{ip}/{prefix}"));
                }
            }
        }
        Ok(links)
    }

    /// The device called `name`, if there is one.
    pub async fn link(&self, name: &str) -> Result<Option<Link>> {
        let mut stream = self.handle.link().get().match_name(name).execute();
        match stream.try_next().await {
            Ok(m) => Ok(m.as_ref().map(link_from)),
            Err(e) if is_not_found(&e) => Ok(None),
            Err(e) => Err(e).with_context(|| format!("look up {name}")),
        }
    }

    pub async fn index(&self, name: &str) -> Result<u32> {
        self.link(name)
            .await?
            .map(|l| l.ifindex)
            .ok_or_else(|| anyhow!("no device {name}"))
    }

    pub async fn add(&self, msg: LinkMessage, what: &str) -> Result<()> {
        self.handle
            .link()
            .add(msg)
            .execute()
            .await
            .with_context(|| format!("create {what}"))
    }

    pub async fn set(&self, msg: LinkMessage, what: &str) -> Result<()> {
        self.handle
            .link()
            .set(msg)
            .execute()
            .await
            .with_context(|| format!("configure {what}"))
    }

    /// Creates a veth pair whose peer is born inside the namespace `peer_ns`,
    /// both ends with `queues` transmit and receive queues.
    pub async fn add_veth_into(
        &self,
        name: &str,
        peer: &str,
        peer_ns: &str,
        queues: u32,
    ) -> Result<()> {
        let ns = crate::netns::open(peer_ns)?;
        let queue_attrs = [
            LinkAttribute::NumTxQueues(queues),
            LinkAttribute::NumRxQueues(queues),
        ];
        let mut peer_msg = LinkMessageBuilder::<LinkUnspec>::new()
            .name(peer.to_string())
            .setns_by_fd(ns.as_raw_fd());
        let mut builder = LinkVeth::new(name, peer);
        for attr in queue_attrs {
            peer_msg = peer_msg.append_extra_attribute(attr.clone());
            builder = builder.append_extra_attribute(attr);
        }
        let msg = builder
            .set_info_data(InfoData::Veth(InfoVeth::Peer(peer_msg.build())))
            .build();
        self.add(msg, &format!("veth {name} (peer {peer} in {peer_ns})"))
            .await
    }

    /// Sets MTU, MAC, master and up state of an existing device in one go.
    pub async fn configure(&self, name: &str, change: LinkChange<'_>) -> Result<()> {
        let index = self.index(name).await?;
        let mut b = LinkUnspec::new_with_index(index);
        if let Some(mtu) = change.mtu {
            b = b.mtu(mtu);
        }
        if let Some(mac) = change.mac {
            b = b.address(mac.to_vec());
        }
        if let Some(master) = change.master {
            b = b.controller(self.index(master).await?);
        }
        if change.up {
            b = b.up();
        }
        self.set(b.build(), name).await
    }

    pub async fn add_address(&self, dev: &str, ip: IpAddr, prefix: u8) -> Result<()> {
        let index = self.index(dev).await?;
        self.handle
            .address()
            .add(index, ip, prefix)
            .replace()
            .execute()
            .await
            .with_context(|| format!("add {ip}/{prefix} to {dev}"))
    }

    /// An IPv4 route `dst/prefix [via gateway] dev DEV [onlink]`; without a
    /// gateway it is a link-scope route.
    pub async fn add_route(
        &self,
        dst: std::net::Ipv4Addr,
        prefix: u8,
        gateway: Option<std::net::Ipv4Addr>,
        dev: &str,
        onlink: bool,
    ) -> Result<()> {
        use rtnetlink::packet_route::route::RouteScope;
        let index = self.index(dev).await?;
        let mut b = RouteMessageBuilder::<std::net::Ipv4Addr>::new()
            .destination_prefix(dst, prefix)
            .output_interface(index);
        b = match gateway {
            Some(gw) => b.gateway(gw),
            None => b.scope(RouteScope::Link),
        };
        if onlink {
            b = b.onlink();
        }
        let via = gateway.map(|g| format!(" via {g}")).unwrap_or_default();
        self.handle
            .route()
            .add(b.build())
            .replace()
            .execute()
            .await
            .with_context(|| format!("add route {dst}/{prefix}{via} dev {dev}"))
    }

    /// Moves device `name` into the namespace `ns` (`ip link set NAME netns NS`).
    pub async fn move_to(&self, name: &str, ns: &str) -> Result<()> {
        let file = crate::netns::open(ns)?;
        let index = self.index(name).await?;
        let msg = LinkUnspec::new_with_index(index)
            .setns_by_fd(file.as_raw_fd())
            .build();
        self.set(msg, &format!("{name} (move into {ns})")).await
    }

    /// A permanent neighbour (ARP/ND) entry, like Docker's overlay installs.
    pub async fn add_neighbour(&self, dev: &str, ip: IpAddr, mac: [u8; 6]) -> Result<()> {
        let index = self.index(dev).await?;
        self.handle
            .neighbours()
            .add(index, ip)
            .link_layer_address(&mac)
            .state(NeighbourState::Permanent)
            .replace()
            .execute()
            .await
            .with_context(|| format!("add neighbour {ip} on {dev}"))
    }

    /// An FDB entry on a VXLAN device: `mac` lives behind the VTEP `remote`
    /// (`bridge fdb add MAC dev VXLAN dst REMOTE self permanent`).
    pub async fn add_vxlan_fdb(&self, vxlan: &str, mac: [u8; 6], remote: IpAddr) -> Result<()> {
        let index = self.index(vxlan).await?;
        self.handle
            .neighbours()
            .add_bridge(index, &mac)
            .destination(remote)
            .flags(NeighbourFlags::Own)
            .state(NeighbourState::Permanent)
            // No NLM_F_REPLACE: VXLAN refuses it for the all-zero default entry.
            .execute()
            .await
            .with_context(|| format!("add fdb {} via {remote} on {vxlan}", format_mac(&mac)))
    }

    /// A static bridge FDB entry: frames for `mac` leave by `port`
    /// (`bridge fdb add MAC dev PORT master static`).
    pub async fn add_bridge_fdb(&self, port: &str, mac: [u8; 6]) -> Result<()> {
        let index = self.index(port).await?;
        self.handle
            .neighbours()
            .add_bridge(index, &mac)
            .flags(NeighbourFlags::Controller)
            .state(NeighbourState::Noarp)
            .replace()
            .execute()
            .await
            .with_context(|| format!("add bridge fdb {} on {port}", format_mac(&mac)))
    }

    /// Neighbour entries of `family` on device `index`: (address, MAC) for
    /// `Inet` (ARP), (VTEP, MAC) for `Bridge` entries of a VXLAN device.
    pub async fn neighbours(&self, index: u32, family: AddressFamily) -> Result<Vec<Neighbour>> {
        let mut all = self.all_neighbours(family).await?;
        all.retain(|n| n.ifindex == index);
        Ok(all)
    }

    /// Every neighbour entry of `family` in this namespace.
    pub async fn all_neighbours(&self, family: AddressFamily) -> Result<Vec<Neighbour>> {
        let messages: Vec<_> = self
            .handle
            .neighbours()
            .get()
            .set_address_family(family)
            .execute()
            .try_collect()
            .await
            .context("dump neighbours")?;
        Ok(messages.iter().filter_map(neighbour_from).collect())
    }

    /// The IPv4 unicast routes of the main table.
    pub async fn routes(&self) -> Result<Vec<Route>> {
        let dump = RouteMessageBuilder::<std::net::Ipv4Addr>::new().build();
        let messages: Vec<_> = self
            .handle
            .route()
            .get(dump)
            .execute()
            .try_collect()
            .await
            .context("dump routes")?;
        Ok(messages.iter().filter_map(route_from).collect())
    }

    /// The nsid this namespace gives the namespace at `path` (as in
    /// `link_netnsid`), if it has given it one.
    pub async fn nsid_of(&self, path: &std::path::Path) -> Result<Option<i32>> {
        use futures::StreamExt;
        use rtnetlink::packet_core::{NLM_F_ACK, NLM_F_REQUEST, NetlinkMessage, NetlinkPayload};
        use rtnetlink::packet_route::{
            RouteNetlinkMessage,
            nsid::{NsidAttribute, NsidMessage},
        };
        let file = std::fs::File::open(path).with_context(|| format!("open {}", path.display()))?;
        let mut msg = NsidMessage::default();
        msg.attributes = vec![NsidAttribute::Fd(file.as_raw_fd() as u32)];
        let mut req = NetlinkMessage::from(RouteNetlinkMessage::GetNsId(msg));
        req.header.flags = NLM_F_REQUEST | NLM_F_ACK;
        let mut handle = self.handle.clone();
        let mut responses = handle.request(req).context("ask for an nsid")?;
        while let Some(resp) = responses.next().await {
            match resp.payload {
                NetlinkPayload::Error(e) => {
                    return Err(rtnetlink::Error::NetlinkError(e)).context("ask for an nsid");
                }
                NetlinkPayload::InnerMessage(RouteNetlinkMessage::NewNsId(m)) => {
                    for attr in m.attributes {
                        if let NsidAttribute::Id(id) = attr
                            && id >= 0
                        {
                            return Ok(Some(id));
                        }
                    }
                }
                _ => {}
            }
        }
        Ok(None)
    }

    pub async fn delete(&self, name: &str) -> Result<bool> {
        let Some(link) = self.link(name).await? else {
            return Ok(false);
        };
        self.handle
            .link()
            .del(link.ifindex)
            .execute()
            .await
            .with_context(|| format!("delete {name}"))?;
        Ok(true)
    }
}

/// A neighbour or FDB entry.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Neighbour {
    /// The device it is on (for FDB entries: the VXLAN device or bridge port).
    pub ifindex: u32,
    pub mac: [u8; 6],
    /// The IP it stands for (ARP/ND), or the VTEP behind it (VXLAN FDB).
    pub ip: Option<IpAddr>,
    /// Static: never ages out or needs resolving.
    pub permanent: bool,
    /// An FDB entry of a bridge (`master`), rather than of the device
    /// itself (`self`).
    pub master: bool,
}

fn neighbour_from(m: &NeighbourMessage) -> Option<Neighbour> {
    let mut n = Neighbour {
        ifindex: m.header.ifindex,
        permanent: m.header.state == NeighbourState::Permanent
            || m.header.state == NeighbourState::Noarp,
        master: m.header.flags.contains(NeighbourFlags::Controller),
        ..Default::default()
    };
    let mut mac = None;
    for attr in &m.attributes {
        match attr {
            NeighbourAttribute::LinkLayerAddress(a) => mac = a.as_slice().try_into().ok(),
            NeighbourAttribute::Destination(NeighbourAddress::Inet(v4)) => {
                n.ip = Some(IpAddr::V4(*v4))
            }
            NeighbourAttribute::Destination(NeighbourAddress::Inet6(v6)) => {
                n.ip = Some(IpAddr::V6(*v6))
            }
            // Bridge-family (FDB) entries carry the VTEP unparsed.
            NeighbourAttribute::Destination(NeighbourAddress::Other(b)) => {
                n.ip = match b.len() {
                    4 => Some(IpAddr::from(<[u8; 4]>::try_from(b.as_slice()).ok()?)),
                    16 => Some(IpAddr::from(<[u8; 16]>::try_from(b.as_slice()).ok()?)),
                    _ => None,
                }
            }
            _ => {}
        }
    }
    n.mac = mac?;
    Some(n)
}

/// An IPv4 route of the main table.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Route {
    pub dst: std::net::Ipv4Addr,
    pub prefix: u8,
    pub gateway: Option<std::net::Ipv4Addr>,
    /// The device it leaves by.
    pub oif: Option<u32>,
}

fn route_from(m: &RouteMessage) -> Option<Route> {
    use rtnetlink::packet_route::route::{RouteAddress, RouteAttribute, RouteHeader, RouteType};
    if m.header.kind != RouteType::Unicast {
        return None;
    }
    let mut table = m.header.table as u32;
    let mut route = Route {
        dst: std::net::Ipv4Addr::UNSPECIFIED,
        prefix: m.header.destination_prefix_length,
        gateway: None,
        oif: None,
    };
    for attr in &m.attributes {
        match attr {
            RouteAttribute::Destination(RouteAddress::Inet(ip)) => route.dst = *ip,
            RouteAttribute::Gateway(RouteAddress::Inet(ip)) => route.gateway = Some(*ip),
            RouteAttribute::Oif(i) => route.oif = Some(*i),
            RouteAttribute::Table(t) => table = *t,
            _ => {}
        }
    }
    (table == RouteHeader::RT_TABLE_MAIN as u32).then_some(route)
}

/// What [`Rtnl::configure`] changes; `None` leaves a setting alone.
#[derive(Clone, Copy, Debug, Default)]
pub struct LinkChange<'a> {
    pub mtu: Option<u32>,
    pub mac: Option<[u8; 6]>,
    pub master: Option<&'a str>,
    pub up: bool,
}

impl<'a> LinkChange<'a> {
    /// Sets the device up, and changes nothing else unless asked to.
    pub fn up() -> Self {
        Self {
            up: true,
            ..Default::default()
        }
    }

    pub fn mtu(self, mtu: u32) -> Self {
        Self {
            mtu: Some(mtu),
            ..self
        }
    }

    pub fn mac(self, mac: [u8; 6]) -> Self {
        Self {
            mac: Some(mac),
            ..self
        }
    }

    /// Makes the device a port of the bridge `master`.
    pub fn master(self, master: &'a str) -> Self {
        Self {
            master: Some(master),
            ..self
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn macs_round_trip() {
        let mac = parse_mac("02:42:0a:2a:00:01").unwrap();
        assert_eq!(format_mac(&mac), "02:42:0a:2a:00:01");
        assert!(parse_mac("02:42").is_err());
        assert!(parse_mac("zz:42:0a:2a:00:01").is_err());
    }
}
