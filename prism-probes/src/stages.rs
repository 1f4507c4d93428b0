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
}

impl Stage {
    /// Every stage; a stage's id is its place here, so new ones go last.
    pub const ALL: [Stage; 15] = [
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
    ];

    /// Receive stages in path order (the fast path beside what it skips).
    const RX_PATH: [Stage; 8] = [
        Self::Nic,
        Self::FastRx,
        Self::Vxlan,
        Self::GroCell,
        Self::Bridge,
        Self::Backlog,
        Self::Stack,
        Self::Socket,
    ];
    const TX_PATH: [Stage; 6] = [
        Self::Veth,
        Self::TxBacklog,
        Self::FastTx,
        Self::TxBridge,
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
            | Self::FastRx => Some(Direction::Rx),
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

/// Boundaries: (from point, to point, stage).
const BOUNDARIES: [(u8, u8, Stage); 14] = [
    (
        point(ev::GRO_ENTRY, r::UNDERLAY),
        point(ev::RCV, r::UNDERLAY),
        Stage::Nic,
    ),
    (
        point(ev::RCV, r::UNDERLAY),
        point(ev::GRO_ENTRY, r::VXLAN),
        Stage::Vxlan,
    ),
    (
        point(ev::GRO_ENTRY, r::VXLAN),
        point(ev::RCV, r::VXLAN),
        Stage::GroCell,
    ),
    (
        point(ev::RCV, r::VXLAN),
        point(ev::NETIF_RX, r::CONTAINER),
        Stage::Bridge,
    ),
    (
        point(ev::NETIF_RX, r::CONTAINER),
        point(ev::RCV, r::CONTAINER),
        Stage::Backlog,
    ),
    (
        point(ev::RCV, r::CONTAINER),
        point(ev::DATA_READY, r::SOCKET),
        Stage::Stack,
    ),
    (
        point(ev::DATA_READY, r::SOCKET),
        point(ev::READ, r::SOCKET),
        Stage::Socket,
    ),
    (
        point(ev::DEV_QUEUE, r::CONTAINER),
        point(ev::NETIF_RX, r::HOST_VETH),
        Stage::Veth,
    ),
    (
        point(ev::NETIF_RX, r::HOST_VETH),
        point(ev::RCV, r::HOST_VETH),
        Stage::TxBacklog,
    ),
    (
        point(ev::RCV, r::HOST_VETH),
        point(ev::DEV_QUEUE, r::VXLAN),
        Stage::TxBridge,
    ),
    (
        point(ev::DEV_QUEUE, r::VXLAN),
        point(ev::DEV_QUEUE, r::UNDERLAY),
        Stage::Encap,
    ),
    (
        point(ev::DEV_QUEUE, r::UNDERLAY),
        point(ev::GRO_ENTRY, r::UNDERLAY),
        Stage::Wire,
    ),
    (
        point(ev::RCV, r::UNDERLAY),
        point(ev::DATA_READY, r::SOCKET),
        Stage::FastRx,
    ),
    (
        point(ev::RCV, r::HOST_VETH),
        point(ev::DEV_QUEUE, r::UNDERLAY),
        Stage::FastTx,
    ),
];

/// Points inside a stage: (stage's start, point to pass over).
const PASSES: [(u8, u8); 1] = [
    // The bridge hands the packet to the host veth's queue on its way.
    (point(ev::RCV, r::VXLAN), point(ev::DEV_QUEUE, r::HOST_VETH)),
];

impl Stage {
    /// Whether the stage can occur on a host with devices of these roles:
    /// both of its boundaries must be on a device that exists (the socket
    /// always does). The others are reported as absent, not as zero.
    pub fn present_with(self, roles: &[u8]) -> bool {
        let has = |r: u8| r == role_of_socket() || roles.contains(&r);
        BOUNDARIES
            .iter()
            .filter(|(_, _, s)| *s == self)
            .any(|(from, to, _)| has(role_of(*from)) && has(role_of(*to)))
    }
}

const fn role_of_socket() -> u8 {
    r::SOCKET
}

/// The `STAGES` map's content: stage id per (from, to) point pair.
pub fn stage_table() -> Vec<u8> {
    let mut table = vec![0u8; STAGE_TABLE_SIZE as usize];
    for (from, to, stage) in BOUNDARIES {
        table[from as usize * POINTS + to as usize] = stage.id();
    }
    for (from, to) in PASSES {
        table[from as usize * POINTS + to as usize] = STAGE_PASS;
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
                "nic", "fast", "vxlan", "gro_cell", "bridge", "backlog", "stack", "socket"
            ]
        );
        let tx: Vec<&str> = Stage::of(Direction::Tx).map(Stage::name).collect();
        assert_eq!(tx, ["veth", "backlog", "fast", "bridge", "encap", "wire"]);
        let listed = Stage::of(Direction::Rx).count() + Stage::of(Direction::Tx).count();
        assert_eq!(listed, Stage::ALL.len() - 1, "every stage but other, once");
    }

    #[test]
    fn stages_without_their_devices_are_absent() {
        let container_only = [r::CONTAINER];
        assert!(Stage::Stack.present_with(&container_only));
        assert!(Stage::Socket.present_with(&container_only));
        assert!(!Stage::Vxlan.present_with(&container_only));
        let overlay = [r::UNDERLAY, r::VXLAN, r::BRIDGE, r::HOST_VETH, r::CONTAINER];
        assert!(
            Stage::ALL
                .iter()
                .filter(|s| **s != Stage::Other)
                .all(|s| s.present_with(&overlay))
        );
        assert!(!Stage::Other.present_with(&overlay));
    }

    #[test]
    fn every_boundary_chains_into_the_next() {
        // Each stage but the journey's last starts where another ends.
        let table = stage_table();
        for (from, _, stage) in BOUNDARIES {
            let entered = BOUNDARIES.iter().any(|(_, to, _)| *to == from);
            let first = matches!(stage, Stage::Nic | Stage::Veth);
            assert!(entered || first, "{stage:?} starts where nothing ends");
        }
        assert_eq!(
            table.iter().filter(|&&v| v == STAGE_PASS).count(),
            PASSES.len()
        );
    }
}
