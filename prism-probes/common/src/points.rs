//! Points on the overlay path: a tracepoint (event) on a device of a role.
//! A stage is the gap between two consecutive points of one packet.

/// Tracepoint events that mark stage boundaries.
pub mod event {
    /// `net:napi_gro_receive_entry`: a NAPI device hands the packet to GRO.
    pub const GRO_ENTRY: u8 = 0;
    /// `net:netif_receive_skb`: `__netif_receive_skb_core` on a device.
    pub const RCV: u8 = 1;
    /// `net:netif_rx`: enqueue to the per-CPU backlog.
    pub const NETIF_RX: u8 = 2;
    /// `net:net_dev_queue`: transmit on a device (before its qdisc).
    pub const DEV_QUEUE: u8 = 3;
    /// `net:net_dev_start_xmit`: the driver takes the packet.
    pub const XMIT: u8 = 4;
    /// `sock:sk_data_ready`: queued on the socket, reader woken.
    pub const DATA_READY: u8 = 5;
    /// The application reads it: `skb:skb_copy_datagram_iovec` (TCP), or
    /// `sock:sock_recv_length` for the socket's oldest queued packet (UDP
    /// copies small datagrams without a tracepoint).
    pub const READ: u8 = 6;
    pub const COUNT: u8 = 8;
}

/// What a device is on the overlay path.
pub mod role {
    pub const UNTRACKED: u8 = 0;
    /// The host's NIC under the VXLAN device.
    pub const UNDERLAY: u8 = 1;
    /// A VXLAN device that is a bridge port.
    pub const VXLAN: u8 = 2;
    pub const BRIDGE: u8 = 3;
    /// Host side of a container's veth pair (a bridge port).
    pub const HOST_VETH: u8 = 4;
    /// The container's own end of the veth pair.
    pub const CONTAINER: u8 = 5;
    /// Any other device in a watched namespace.
    pub const HOST: u8 = 6;
    /// Not a device: the socket, for DATA_READY and READ.
    pub const SOCKET: u8 = 7;
    /// A VXLAN device the host routes through (Flannel, Calico).
    pub const ROUTED_VXLAN: u8 = 8;
    /// Host side of a container's veth pair that the host routes to
    /// without a bridge (Calico's `cali*`).
    pub const ROUTED_VETH: u8 = 9;
    pub const COUNT: u8 = 10;
}

/// Number of distinct points, and the size of one side of the stage table.
pub const POINTS: usize = (event::COUNT as usize) * (role::COUNT as usize);

/// The point of `event` on a device of `role`.
#[inline(always)]
pub const fn point(event: u8, role: u8) -> u8 {
    event * role::COUNT + role
}

#[inline(always)]
pub const fn event_of(point: u8) -> u8 {
    point / role::COUNT
}

#[inline(always)]
pub const fn role_of(point: u8) -> u8 {
    point % role::COUNT
}

/// `STAGES[from * POINTS + to]`: the stage between two points.
pub const STAGE_TABLE_SIZE: u32 = (POINTS * POINTS) as u32;
/// No stage is defined between these points (counted, time kept as "other").
pub const STAGE_UNMAPPED: u8 = 0;
/// The later point is inside a stage: ignore the hit, keep the earlier one.
pub const STAGE_PASS: u8 = 0xff;
/// Most stages (the histogram array has `MAX_STAGES * CLASSES` slots).
pub const MAX_STAGES: u32 = 32;
/// The histogram slot (in stage units) of whole receive journeys: underlay
/// GRO entry -> the application's read. Past every real stage.
pub const RECEIVE_TOTAL: u8 = (MAX_STAGES - 1) as u8;
/// Points where a packet comes off the wire into a receive path: the
/// underlay's GRO (a NAPI device: a NIC, a veth with GRO), or its backlog
/// enqueue (a device without NAPI, such as a plain veth underlay of a kind
/// or container-in-container node). A receive journey's total starts here.
pub const RECEIVE_STARTS: [u8; 2] = [
    point(event::GRO_ENTRY, role::UNDERLAY),
    point(event::NETIF_RX, role::UNDERLAY),
];
/// Where a receive journey begins when GRO entry is not hooked.
pub const RECEIVE_START_AT_RCV: u8 = point(event::RCV, role::UNDERLAY);
/// Where a packet leaves its container: a transmit journey begins.
pub const TRANSMIT_START: u8 = point(event::DEV_QUEUE, role::CONTAINER);

/// Whether a packet at `point` (not on a journey yet) begins one.
#[inline(always)]
pub const fn is_journey_start(point: u8) -> bool {
    is_receive_start(point) || point == TRANSMIT_START
}

#[inline(always)]
pub const fn is_receive_start(point: u8) -> bool {
    point == RECEIVE_STARTS[0] || point == RECEIVE_STARTS[1]
}
