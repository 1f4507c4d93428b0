//! Device offload features (`ethtool -k/-K`), through the SIOCETHTOOL ioctl.
//!
//! The ethtool netlink crates can read features but not set them; the ioctl
//! has done both, by feature name, since Linux 2.6.39. Call these from a
//! thread inside the device's namespace (see [`crate::netns::run_in`]).

use std::{collections::BTreeMap, os::fd::AsRawFd};

use anyhow::{Context, Result, bail};
use nix::sys::socket::{AddressFamily, SockFlag, SockType, socket};

const SIOCETHTOOL: libc::c_ulong = 0x8946;
const ETHTOOL_GCOALESCE: u32 = 0x0e;
const ETHTOOL_SCOALESCE: u32 = 0x0f;
const ETHTOOL_GSTRINGS: u32 = 0x1b;
const ETHTOOL_GSSET_INFO: u32 = 0x37;
const ETHTOOL_GFEATURES: u32 = 0x3a;
const ETHTOOL_SFEATURES: u32 = 0x3b;
const ETH_SS_FEATURES: u32 = 4;
const ETH_GSTRING_LEN: usize = 32;

#[repr(C)]
struct IfReq {
    name: [u8; libc::IFNAMSIZ],
    data: *mut libc::c_void,
    _pad: [u8; 16],
}

fn ioctl(dev: &str, cmd: &mut [u32]) -> Result<()> {
    if dev.len() >= libc::IFNAMSIZ {
        bail!("device name {dev:?} is too long");
    }
    let sock = socket(
        AddressFamily::Inet,
        SockType::Datagram,
        SockFlag::SOCK_CLOEXEC,
        None,
    )
    .context("socket for ethtool")?;
    let mut req = IfReq {
        name: [0; libc::IFNAMSIZ],
        data: cmd.as_mut_ptr().cast(),
        _pad: [0; 16],
    };
    req.name[..dev.len()].copy_from_slice(dev.as_bytes());
    // SAFETY: `req` points at a live buffer sized for the command in `cmd[0]`.
    let rc = unsafe { libc::ioctl(sock.as_raw_fd(), SIOCETHTOOL as _, &mut req) };
    if rc < 0 {
        return Err(std::io::Error::last_os_error())
            .with_context(|| format!("ethtool ioctl {:#x} on {dev}", cmd[0]));
    }
    Ok(())
}

/// Names of the feature bits, in bit order.
fn feature_names(dev: &str) -> Result<Vec<String>> {
    // struct ethtool_sset_info { cmd, reserved, u64 sset_mask, u32 data[] }
    let mut info = [ETHTOOL_GSSET_INFO, 0, 1 << ETH_SS_FEATURES, 0, 0];
    ioctl(dev, &mut info)?;
    let count = info[4] as usize;
    // struct ethtool_gstrings { cmd, string_set, len, u8 data[] }
    let mut buf = vec![0u32; 3 + count * ETH_GSTRING_LEN / 4];
    buf[..3].copy_from_slice(&[ETHTOOL_GSTRINGS, ETH_SS_FEATURES, count as u32]);
    ioctl(dev, &mut buf)?;
    let bytes: Vec<u8> = buf[3..].iter().flat_map(|w| w.to_ne_bytes()).collect();
    Ok(bytes
        .chunks(ETH_GSTRING_LEN)
        .map(|c| {
            let end = c.iter().position(|&b| b == 0).unwrap_or(c.len());
            String::from_utf8_lossy(&c[..end]).into_owned()
        })
        .collect())
}

fn blocks(count: usize) -> usize {
    count.div_ceil(32)
}

/// The active state of every feature of `dev`, by name.
pub fn features(dev: &str) -> Result<BTreeMap<String, bool>> {
    let names = feature_names(dev)?;
    let n = blocks(names.len());
    // struct ethtool_gfeatures { cmd, size, { available, requested, active, never_changed }[] }
    let mut buf = vec![0u32; 2 + 4 * n];
    buf[..2].copy_from_slice(&[ETHTOOL_GFEATURES, n as u32]);
    ioctl(dev, &mut buf)?;
    Ok(names
        .into_iter()
        .enumerate()
        .filter(|(_, name)| !name.is_empty())
        .map(|(bit, name)| {
            let active = buf[2 + 4 * (bit / 32) + 2];
            (name, active & (1 << (bit % 32)) != 0)
        })
        .collect())
}

/// Turns features on or off by name, like `ethtool -K dev name on|off`.
/// Unknown names are an error; features the device cannot change are not.
pub fn set_features(dev: &str, wanted: &[(&str, bool)]) -> Result<()> {
    let names = feature_names(dev)?;
    let n = blocks(names.len());
    // struct ethtool_sfeatures { cmd, size, { valid, requested }[] }
    let mut buf = vec![0u32; 2 + 2 * n];
    buf[..2].copy_from_slice(&[ETHTOOL_SFEATURES, n as u32]);
    for (name, on) in wanted {
        let Some(bit) = names.iter().position(|n| n == name) else {
            bail!("{dev} has no offload feature named {name}");
        };
        let (block, mask) = (bit / 32, 1u32 << (bit % 32));
        buf[2 + 2 * block] |= mask;
        if *on {
            buf[2 + 2 * block + 1] |= mask;
        }
    }
    ioctl(dev, &mut buf)
}

/// Interrupt coalescing parameters (`ethtool -c/-C`) Prism tunes, by
/// ethtool's name, with their index in `struct ethtool_coalesce` (u32s
/// after `cmd`).
pub const COALESCE: [(&str, usize); 3] = [("rx-usecs", 1), ("rx-frames", 2), ("adaptive-rx", 10)];

/// `struct ethtool_coalesce`: `cmd` and 22 u32 parameters.
const COALESCE_WORDS: usize = 23;

/// The coalescing parameters of `dev`, by name; an error when the device
/// has none (veth, loopback).
pub fn coalesce(dev: &str) -> Result<BTreeMap<&'static str, u32>> {
    let mut buf = [0u32; COALESCE_WORDS];
    buf[0] = ETHTOOL_GCOALESCE;
    ioctl(dev, &mut buf)?;
    Ok(COALESCE.iter().map(|(name, i)| (*name, buf[*i])).collect())
}

/// Sets coalescing parameters by name, like `ethtool -C dev name value`;
/// the others keep their values.
pub fn set_coalesce(dev: &str, wanted: &[(&str, u32)]) -> Result<()> {
    let mut buf = [0u32; COALESCE_WORDS];
    buf[0] = ETHTOOL_GCOALESCE;
    ioctl(dev, &mut buf)?;
    for (name, value) in wanted {
        let Some((_, i)) = COALESCE.iter().find(|(n, _)| n == name) else {
            bail!("no coalescing parameter named {name}");
        };
        buf[*i] = *value;
    }
    buf[0] = ETHTOOL_SCOALESCE;
    ioctl(dev, &mut buf)
}
