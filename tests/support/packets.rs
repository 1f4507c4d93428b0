//! A small packet builder for crafted test frames: Ethernet, IPv4 (with
//! options and fragment fields), IPv6, UDP, TCP and VXLAN.
#![allow(dead_code)]

pub const ETH_P_IP: u16 = 0x0800;
pub const ETH_P_IPV6: u16 = 0x86dd;
pub const ETH_P_ARP: u16 = 0x0806;
pub const ETH_P_8021Q: u16 = 0x8100;

pub fn eth(dst: [u8; 6], src: [u8; 6], ethertype: u16, payload: &[u8]) -> Vec<u8> {
    let mut f = Vec::with_capacity(14 + payload.len());
    f.extend_from_slice(&dst);
    f.extend_from_slice(&src);
    f.extend_from_slice(&ethertype.to_be_bytes());
    f.extend_from_slice(payload);
    f
}

/// IPv4 fields a test may vary.
#[derive(Clone, Copy, Default)]
pub struct V4 {
    pub tos: u8,
    /// Flags and fragment offset, as on the wire (0x2000 = more fragments).
    pub frag: u16,
    /// Words of options (0 to 10).
    pub option_words: u8,
}

pub fn ipv4(src: [u8; 4], dst: [u8; 4], proto: u8, payload: &[u8], v: V4) -> Vec<u8> {
    let ihl = 5 + v.option_words as usize;
    let total = ihl * 4 + payload.len();
    let mut h = vec![0u8; ihl * 4];
    h[0] = 0x40 | ihl as u8;
    h[1] = v.tos;
    h[2..4].copy_from_slice(&(total as u16).to_be_bytes());
    h[6..8].copy_from_slice(&v.frag.to_be_bytes());
    h[8] = 64;
    h[9] = proto;
    h[12..16].copy_from_slice(&src);
    h[16..20].copy_from_slice(&dst);
    for o in h.iter_mut().skip(20) {
        *o = 1; // NOP options
    }
    let csum = checksum(&h);
    h[10..12].copy_from_slice(&csum.to_be_bytes());
    h.extend_from_slice(payload);
    h
}

pub fn ipv6(src: [u8; 16], dst: [u8; 16], next: u8, payload: &[u8]) -> Vec<u8> {
    let mut h = vec![0u8; 40];
    h[0] = 0x60;
    h[4..6].copy_from_slice(&(payload.len() as u16).to_be_bytes());
    h[6] = next;
    h[7] = 64;
    h[8..24].copy_from_slice(&src);
    h[24..40].copy_from_slice(&dst);
    h.extend_from_slice(payload);
    h
}

pub fn udp(sport: u16, dport: u16, payload: &[u8]) -> Vec<u8> {
    let mut h = Vec::with_capacity(8 + payload.len());
    h.extend_from_slice(&sport.to_be_bytes());
    h.extend_from_slice(&dport.to_be_bytes());
    h.extend_from_slice(&((8 + payload.len()) as u16).to_be_bytes());
    h.extend_from_slice(&[0, 0]);
    h.extend_from_slice(payload);
    h
}

pub fn tcp(sport: u16, dport: u16, payload: &[u8]) -> Vec<u8> {
    let mut h = vec![0u8; 20];
    h[0..2].copy_from_slice(&sport.to_be_bytes());
    h[2..4].copy_from_slice(&dport.to_be_bytes());
    h[12] = 5 << 4;
    h[13] = 0x18; // PSH, ACK
    h[14..16].copy_from_slice(&65535u16.to_be_bytes());
    h.extend_from_slice(payload);
    h
}

pub fn vxlan(vni: u32, inner: &[u8]) -> Vec<u8> {
    let mut h = vec![0x08, 0, 0, 0];
    h.extend_from_slice(&vni.to_be_bytes()[1..4]);
    h.push(0);
    h.extend_from_slice(inner);
    h
}

/// The Internet checksum of `data`.
pub fn checksum(data: &[u8]) -> u16 {
    let mut sum: u32 = data
        .chunks(2)
        .map(|c| u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)]) as u32)
        .sum();
    while sum >> 16 != 0 {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}
