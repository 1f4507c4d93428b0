//! The stages of the overlay path: named gaps between points, per
//! direction. The table here is what the eBPF programs look up.

use prism_probes_common::points::{
    MAX_STAGES, POINTS, STAGE_PASS, STAGE_TABLE_SIZE, event as ev, point, role as r, role_of,
};
use serde::Serialize;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    /// From the underlay NIC to the container's socket.
    Rx,
    /// From the container's eth0 to the wire.
    Tx,
}

impl Direction {
    pub fn name(self) -> &'static str {
        match self {
            Self::Rx => "receive",
            Self::Tx => "transmit",
        }
    }

    /// The short name JSON and metric labels carry.
    pub fn key(self) -> &'static str {
        match self {
            Self::Rx => "rx",
            Self::Tx => "tx",
        }
    }
}

/// A stage: the time between two boundaries on a packet's journey.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    /// Transitions no stage covers (a topology Prism does not know).
    Other,
    // Receive, in path order.
    /// Underlay GRO entry -> underlay receive: GRO, then the RPS backlog.
    Nic,
    /// Underlay receive -> VXLAN GRO entry: IP/UDP, decap, gro_cells queue.
    Vxlan,
    /// VXLAN GRO entry -> VXLAN receive: GRO in the gro_cell's poll.
    GroCell,
    /// VXLAN receive -> backlog enqueue for the container: bridge, veth xmit.
    Bridge,
    /// Backlog enqueue -> container eth0 receive: the per-CPU backlog.
    Backlog,
    /// Container receive -> socket data ready: IP, TCP/UDP.
    Stack,
    /// Data ready -> the application reads it.
    Socket,
    // Transmit, in path order.
    /// Container eth0 queue -> backlog enqueue on the host veth.
    Veth,
    /// Host veth backlog enqueue -> host veth receive.
    TxBacklog,
    /// Host veth receive -> VXLAN transmit: bridge forwarding.
    TxBridge,
    /// VXLAN transmit -> underlay queue: encapsulation, IP output.
    Encap,
    /// Underlay queue -> the peer's GRO entry: qdisc, driver and the NIC
    /// ring (a veth wire in the lab). One stage, because the tracepoint
    /// between qdisc and driver fires for every bulk segment (see hooks.rs).
    Wire,
    /// Prism's sync datapath, receive: underlay receive -> socket data
    /// ready. Decapsulated and redirected into the container, whose
    /// receive runs in the same pass (`bpf_redirect_peer` goes round again
    /// without a new `netif_receive_skb`), then IP and TCP/UDP. Replaces
    /// vxlan through stack.
    FastRx,
    /// Prism's sync datapath, transmit: host veth receive -> underlay
    /// queue, encapsulated and redirected (replaces bridge and encap).
    FastTx,
    /// Routed overlays, receive: VXLAN receive -> the next device on the
    /// way to the container (IP forwarding, netfilter, the neighbour
    /// lookup; then the bridge on Flannel, the `cali*` veth on Calico).
    Route,
    /// Routed overlays, transmit: the host's receive of the container's
    /// packet (on `cni0` or the `cali*` veth) -> VXLAN device queue.
    TxRoute,
}

impl Stage {
    /// Every stage; a stage's id is its place here, so new ones go last.
    pub const ALL: [Stage; 17] = [
        Self::Other,
        Self::Nic,
        Self::Vxlan,
        Self::GroCell,
        Self::Bridge,
        Self::Backlog,
        Self::Stack,
        Self::Socket,
        Self::Veth,
        Self::TxBacklog,
        Self::TxBridge,
        Self::Encap,
        Self::Wire,
        Self::FastRx,
        Self::FastTx,
        Self::Route,
        Self::TxRoute,
    ];

    /// Receive stages in path order (the fast path beside what it skips).
    const RX_PATH: [Stage; 9] = [
        Self::Nic,
        Self::FastRx,
        Self::Vxlan,
        Self::GroCell,
        Self::Route,
        Self::Bridge,
        Self::Backlog,
        Self::Stack,
        Self::Socket,
    ];
    const TX_PATH: [Stage; 7] = [
        Self::Veth,
        Self::TxBacklog,
        Self::FastTx,
        Self::TxBridge,
        Self::TxRoute,
        Self::Encap,
        Self::Wire,
    ];

    /// The stage's number in the eBPF programs (0 is "other").
    pub fn id(self) -> u8 {
        Self::ALL.iter().position(|s| *s == self).expect("listed") as u8
    }

    pub fn from_id(id: u8) -> Option<Self> {
        Self::ALL.get(id as usize).copied()
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::Other => "other",
            Self::Nic => "nic",
            Self::Vxlan => "vxlan",
            Self::GroCell => "gro_cell",
            Self::Bridge => "bridge",
            Self::Backlog => "backlog",
            Self::Stack => "stack",
            Self::Socket => "socket",
            Self::Veth => "veth",
            Self::TxBacklog => "backlog",
            Self::TxBridge => "bridge",
            Self::Encap => "encap",
            Self::Wire => "wire",
            Self::FastRx | Self::FastTx => "fast",
            Self::Route | Self::TxRoute => "route",
        }
    }

    /// `None` for [`Stage::Other`].
    pub fn direction(self) -> Option<Direction> {
        match self {
            Self::Other => None,
            Self::Nic
            | Self::Vxlan
            | Self::GroCell
            | Self::Bridge
            | Self::Backlog
            | Self::Stack
            | Self::Socket
            | Self::FastRx
            | Self::Route => Some(Direction::Rx),
            _ => Some(Direction::Tx),
        }
    }

    /// Stages of one direction, in path order.
    pub fn of(direction: Direction) -> impl Iterator<Item = Stage> {
        let path: &'static [Stage] = match direction {
            Direction::Rx => &Self::RX_PATH,
            Direction::Tx => &Self::TX_PATH,
        };
        path.iter().copied()
    }

    /// A stage only Prism's sync datapath takes.
    pub fn is_fast_path(self) -> bool {
        matches!(self, Self::FastRx | Self::FastTx)
    }
}

const _: () = assert!(Stage::ALL.len() <= MAX_STAGES as usize);

/// Boundaries: (from point, to point, stage). A stage may have several:
/// the same step is taken between other devices on other overlays.
#[rustfmt::skip]
const BOUNDARIES: [(u8, u8, Stage); 29] = [
    b(ev::GRO_ENTRY, r::UNDERLAY,     ev::RCV,        r::UNDERLAY,     Stage::Nic),
    // An underlay without NAPI (a plain veth): the backlog is its queue.
    b(ev::NETIF_RX,  r::UNDERLAY,     ev::RCV,        r::UNDERLAY,     Stage::Nic),
    // Decapsulation into the VXLAN device's gro_cell.
    b(ev::RCV,       r::UNDERLAY,     ev::GRO_ENTRY,  r::VXLAN,        Stage::Vxlan),
    b(ev::RCV,       r::UNDERLAY,     ev::GRO_ENTRY,  r::ROUTED_VXLAN, Stage::Vxlan),
    b(ev::GRO_ENTRY, r::VXLAN,        ev::RCV,        r::VXLAN,        Stage::GroCell),
    b(ev::GRO_ENTRY, r::ROUTED_VXLAN, ev::RCV,        r::ROUTED_VXLAN, Stage::GroCell),
    // Bridged: the bridge hands the frame to the container's veth.
    b(ev::RCV,       r::VXLAN,        ev::NETIF_RX,   r::CONTAINER,    Stage::Bridge),
    // Flannel: routed to cni0 (which transmits), then bridged to the veth.
    b(ev::RCV,       r::ROUTED_VXLAN, ev::DEV_QUEUE,  r::BRIDGE,       Stage::Route),
    b(ev::DEV_QUEUE, r::BRIDGE,       ev::NETIF_RX,   r::CONTAINER,    Stage::Bridge),
    // Calico: routed straight to the cali veth.
    b(ev::RCV,       r::ROUTED_VXLAN, ev::NETIF_RX,   r::CONTAINER,    Stage::Route),
    b(ev::NETIF_RX,  r::CONTAINER,    ev::RCV,        r::CONTAINER,    Stage::Backlog),
    b(ev::RCV,       r::CONTAINER,    ev::DATA_READY, r::SOCKET,       Stage::Stack),
    b(ev::DATA_READY, r::SOCKET,      ev::READ,       r::SOCKET,       Stage::Socket),
    // Transmit.
    b(ev::DEV_QUEUE, r::CONTAINER,    ev::NETIF_RX,   r::HOST_VETH,    Stage::Veth),
    b(ev::DEV_QUEUE, r::CONTAINER,    ev::NETIF_RX,   r::ROUTED_VETH,  Stage::Veth),
    b(ev::NETIF_RX,  r::HOST_VETH,    ev::RCV,        r::HOST_VETH,    Stage::TxBacklog),
    b(ev::NETIF_RX,  r::ROUTED_VETH,  ev::RCV,        r::ROUTED_VETH,  Stage::TxBacklog),
    // Bridged: forwarded to the VXLAN port; Flannel: up into cni0.
    b(ev::RCV,       r::HOST_VETH,    ev::DEV_QUEUE,  r::VXLAN,        Stage::TxBridge),
    b(ev::RCV,       r::HOST_VETH,    ev::RCV,        r::BRIDGE,       Stage::TxBridge),
    b(ev::RCV,       r::BRIDGE,       ev::DEV_QUEUE,  r::ROUTED_VXLAN, Stage::TxRoute),
    b(ev::RCV,       r::ROUTED_VETH,  ev::DEV_QUEUE,  r::ROUTED_VXLAN, Stage::TxRoute),
    b(ev::DEV_QUEUE, r::VXLAN,        ev::DEV_QUEUE,  r::UNDERLAY,     Stage::Encap),
    b(ev::DEV_QUEUE, r::ROUTED_VXLAN, ev::DEV_QUEUE,  r::UNDERLAY,     Stage::Encap),
    b(ev::DEV_QUEUE, r::UNDERLAY,     ev::GRO_ENTRY,  r::UNDERLAY,     Stage::Wire),
    b(ev::DEV_QUEUE, r::UNDERLAY,     ev::NETIF_RX,   r::UNDERLAY,     Stage::Wire),
    // The sync datapath.
    b(ev::RCV,       r::UNDERLAY,     ev::DATA_READY, r::SOCKET,       Stage::FastRx),
    // Docker: redirected from the sandbox's VXLAN device, after the decap.
    b(ev::RCV,       r::VXLAN,        ev::DATA_READY, r::SOCKET,       Stage::FastRx),
    b(ev::RCV,       r::HOST_VETH,    ev::DEV_QUEUE,  r::UNDERLAY,     Stage::FastTx),
    b(ev::RCV,       r::ROUTED_VETH,  ev::DEV_QUEUE,  r::UNDERLAY,     Stage::FastTx),
];

const fn b(
    from_event: u8,
    from_role: u8,
    to_event: u8,
    to_role: u8,
    stage: Stage,
) -> (u8, u8, Stage) {
    (
        point(from_event, from_role),
        point(to_event, to_role),
        stage,
    )
}

/// Points inside a stage: (stage's start, point to pass over).
const PASSES: [(u8, u8); 3] = [
    // The bridge hands the packet to the host veth's queue on its way.
    (point(ev::RCV, r::VXLAN), point(ev::DEV_QUEUE, r::HOST_VETH)),
    (
        point(ev::DEV_QUEUE, r::BRIDGE),
        point(ev::DEV_QUEUE, r::HOST_VETH),
    ),
    // Calico: forwarded out of the cali veth on the way to the container.
    (
        point(ev::RCV, r::ROUTED_VXLAN),
        point(ev::DEV_QUEUE, r::ROUTED_VETH),
    ),
];

impl Stage {
    /// Whether the stage can occur on a host with devices of these roles:
    /// both of its boundaries must be on a device that exists (the socket
    /// always does). The others are reported as absent, not as zero.
    pub fn present_with(self, roles: &[u8], unseen: &[Unseen]) -> bool {
        let has = |r: u8| r == role_of_socket() || roles.contains(&r);
        !unseen.iter().any(|u| u.removes(self))
            && BOUNDARIES
                .iter()
                .filter(|(_, _, s)| *s == self)
                .any(|(from, to, _)| has(role_of(*from)) && has(role_of(*to)))
    }
}

const fn role_of_socket() -> u8 {
    r::SOCKET
}

/// A point no program observes (a kernel without it, or a profile that
/// does not hook it): the stages that end there run on to where the stages
/// that start there end, and those are absent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unseen {
    /// No `sock:sk_data_ready`, fentry or kprobe: `socket` is counted in
    /// `stack` (and the fast path's end moves to the read).
    DataReady,
    /// GRO entry not hooked (it fires once per wire-sized segment): `nic`
    /// is not timed and `wire` runs on to the stack hand-off; `gro_cell`
    /// is counted in `vxlan`.
    GroEntry,
}

impl Unseen {
    fn points(self) -> &'static [u8] {
        const DATA_READY: [u8; 1] = [point(ev::DATA_READY, r::SOCKET)];
        const GRO_ENTRY: [u8; 3] = [
            point(ev::GRO_ENTRY, r::UNDERLAY),
            point(ev::GRO_ENTRY, r::VXLAN),
            point(ev::GRO_ENTRY, r::ROUTED_VXLAN),
        ];
        match self {
            Self::DataReady => &DATA_READY,
            Self::GroEntry => &GRO_ENTRY,
        }
    }

    /// What it changes, for humans.
    pub fn describe(self) -> &'static str {
        match self {
            Self::DataReady => "socket merged into stack",
            Self::GroEntry => "nic not timed (wire runs on to it), gro_cell merged into vxlan",
        }
    }

    /// Whether `stage` ends at one of these points (and so runs on to the
    /// end of the stage after it: it measures more than it does elsewhere).
    pub fn widens(self, stage: Stage) -> bool {
        BOUNDARIES
            .iter()
            .any(|(_, to, s)| *s == stage && self.points().contains(to))
    }

    /// Whether `stage` starts at one of these points (and so is absent).
    pub fn removes(self, stage: Stage) -> bool {
        BOUNDARIES
            .iter()
            .any(|(from, _, s)| *s == stage && self.points().contains(from))
    }
}

/// The `STAGES` map's content: stage id per (from, to) point pair; where a
/// point is unseen, the stage before it runs on to the point after it.
pub fn stage_table(unseen: &[Unseen]) -> Vec<u8> {
    let mut table = vec![0u8; STAGE_TABLE_SIZE as usize];
    let mut set = |from: u8, to: u8, stage: u8| table[from as usize * POINTS + to as usize] = stage;
    for (from, to, stage) in BOUNDARIES {
        set(from, to, stage.id());
    }
    for &p in unseen.iter().flat_map(|u| u.points()) {
        for (from, _, before) in BOUNDARIES.iter().filter(|(_, to, _)| *to == p) {
            for (_, to, _) in BOUNDARIES.iter().filter(|(from, _, _)| *from == p) {
                set(*from, *to, before.id());
            }
        }
    }
    for (from, to) in PASSES {
        set(from, to, STAGE_PASS);
    }
    table
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip_and_directions_are_in_path_order() {
        for s in Stage::ALL {
            assert_eq!(Stage::from_id(s.id()), Some(s));
        }
        let rx: Vec<&str> = Stage::of(Direction::Rx).map(Stage::name).collect();
        assert_eq!(
            rx,
            [
                "nic", "fast", "vxlan", "gro_cell", "route", "bridge", "backlog", "stack", "socket"
            ]
        );
        let tx: Vec<&str> = Stage::of(Direction::Tx).map(Stage::name).collect();
        assert_eq!(
            tx,
            [
                "veth", "backlog", "fast", "bridge", "route", "encap", "wire"
            ]
        );
        let listed = Stage::of(Direction::Rx).count() + Stage::of(Direction::Tx).count();
        assert_eq!(listed, Stage::ALL.len() - 1, "every stage but other, once");
    }

    #[test]
    fn stages_without_their_devices_are_absent() {
        let container_only = [r::CONTAINER];
        assert!(Stage::Stack.present_with(&container_only, &[]));
        assert!(Stage::Socket.present_with(&container_only, &[]));
        assert!(!Stage::Vxlan.present_with(&container_only, &[]));
        let bridged = [r::UNDERLAY, r::VXLAN, r::BRIDGE, r::HOST_VETH, r::CONTAINER];
        let routed = |s: &Stage| matches!(s, Stage::Route | Stage::TxRoute);
        assert!(
            Stage::ALL
                .iter()
                .filter(|s| **s != Stage::Other && !routed(s))
                .all(|s| s.present_with(&bridged, &[]))
        );
        assert!(!Stage::Other.present_with(&bridged, &[]));
        assert!(!Stage::Route.present_with(&bridged, &[]));
        // Calico: no bridge at all, the routed hop instead.
        let calico = [r::UNDERLAY, r::ROUTED_VXLAN, r::ROUTED_VETH, r::CONTAINER];
        assert!(
            Stage::Route.present_with(&calico, &[]) && Stage::TxRoute.present_with(&calico, &[])
        );
        assert!(
            !Stage::Bridge.present_with(&calico, &[])
                && !Stage::TxBridge.present_with(&calico, &[])
        );
        // Flannel: routed, then bridged by cni0.
        let flannel = [
            r::UNDERLAY,
            r::ROUTED_VXLAN,
            r::BRIDGE,
            r::HOST_VETH,
            r::CONTAINER,
        ];
        assert!(
            Stage::Route.present_with(&flannel, &[]) && Stage::Bridge.present_with(&flannel, &[])
        );
        assert!(
            Stage::TxRoute.present_with(&flannel, &[])
                && Stage::TxBridge.present_with(&flannel, &[])
        );
    }

    #[test]
    fn every_boundary_chains_into_the_next() {
        // Each stage but the journey's last starts where another ends.
        let table = stage_table(&[]);
        for (from, _, stage) in BOUNDARIES {
            let entered = BOUNDARIES.iter().any(|(_, to, _)| *to == from);
            let first = matches!(stage, Stage::Nic | Stage::Veth);
            assert!(
                !first || prism_probes_common::points::is_journey_start(from),
                "{stage:?} starts a journey where none begins"
            );
            assert!(entered || first, "{stage:?} starts where nothing ends");
        }
        assert_eq!(
            table.iter().filter(|&&v| v == STAGE_PASS).count(),
            PASSES.len()
        );
    }

    #[test]
    fn an_unseen_data_ready_merges_socket_into_stack() {
        let table = stage_table(&[Unseen::DataReady]);
        let at = |from: u8, to: u8| table[from as usize * POINTS + to as usize];
        let read = point(ev::READ, r::SOCKET);
        assert_eq!(at(point(ev::RCV, r::CONTAINER), read), Stage::Stack.id());
        assert_eq!(at(point(ev::RCV, r::UNDERLAY), read), Stage::FastRx.id());
        assert_eq!(
            stage_table(&[])[point(ev::RCV, r::CONTAINER) as usize * POINTS + read as usize],
            0
        );
        let roles = [r::CONTAINER];
        assert!(!Stage::Socket.present_with(&roles, &[Unseen::DataReady]));
        assert!(Stage::Stack.present_with(&roles, &[Unseen::DataReady]));
    }

    #[test]
    fn without_gro_entry_wire_runs_on_and_gro_cell_is_counted_in_vxlan() {
        let table = stage_table(&[Unseen::GroEntry]);
        let at = |from: u8, to: u8| table[from as usize * POINTS + to as usize];
        assert_eq!(
            at(
                point(ev::DEV_QUEUE, r::UNDERLAY),
                point(ev::RCV, r::UNDERLAY)
            ),
            Stage::Wire.id()
        );
        assert_eq!(
            at(point(ev::RCV, r::UNDERLAY), point(ev::RCV, r::VXLAN)),
            Stage::Vxlan.id()
        );
        let bridged = [r::UNDERLAY, r::VXLAN, r::BRIDGE, r::HOST_VETH, r::CONTAINER];
        let gro = [Unseen::GroEntry];
        assert!(!Stage::Nic.present_with(&bridged, &gro));
        assert!(!Stage::GroCell.present_with(&bridged, &gro));
        assert!(
            Stage::Vxlan.present_with(&bridged, &gro) && Stage::Wire.present_with(&bridged, &gro)
        );
    }
}
