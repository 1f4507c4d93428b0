//! sysfs as seen from a network namespace.
//!
//! `/sys/class/net` shows the devices of the namespace that mounted sysfs,
//! so settings such as RPS masks of a device inside a lab namespace need a
//! sysfs mounted from inside it. As `ip netns exec` does, this mounts one
//! in a private mount namespace of a short-lived thread; nothing is left
//! mounted anywhere else.

use std::path::Path;

use anyhow::{Context, Result, anyhow};
use nix::{
    mount::{MntFlags, MsFlags, mount, umount2},
    sched::{CloneFlags, unshare},
};

use crate::netns;

/// Runs `f` with `/sys` showing the network namespace `ns` (a name under
/// /run/netns).
pub fn with_netns_sysfs<R: Send>(ns: &str, f: impl FnOnce(&Path) -> Result<R> + Send) -> Result<R> {
    with_netns_sysfs_at(&netns::path_of(ns), ns, f)
}

/// Like [`with_netns_sysfs`], for a namespace file at any path.
pub fn with_netns_sysfs_at<R: Send>(
    path: &Path,
    ns: &str,
    f: impl FnOnce(&Path) -> Result<R> + Send,
) -> Result<R> {
    let ns_file = std::fs::File::open(path).with_context(|| format!("open namespace {ns}"))?;
    std::thread::scope(|s| {
        s.spawn(move || -> Result<R> {
            unshare(CloneFlags::CLONE_NEWNS).context("unshare(CLONE_NEWNS)")?;
            // Keep our mounts from propagating back to the host.
            mount(
                None::<&str>,
                "/",
                None::<&str>,
                MsFlags::MS_SLAVE | MsFlags::MS_REC,
                None::<&str>,
            )
            .context("make / a slave mount")?;
            netns::enter(&ns_file)?;
            let _ = umount2("/sys", MntFlags::MNT_DETACH);
            mount(
                Some("sysfs"),
                "/sys",
                Some("sysfs"),
                MsFlags::empty(),
                None::<&str>,
            )
            .context("mount sysfs for the namespace")?;
            f(Path::new("/sys"))
        })
        .join()
        .map_err(|_| anyhow!("sysfs thread for netns {ns} panicked"))?
    })
}

/// The CPU bitmask as sysfs writes it (`rps_cpus`, `xps_cpus`).
pub fn cpu_mask(cpus: &[usize]) -> String {
    let mask = cpus.iter().fold(0u64, |m, &c| m | 1 << c);
    format!("{mask:x}")
}

/// Per-queue CPU steering a device's sysfs exposes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Steering {
    /// Receive Packet Steering: which CPUs process a receive queue's packets.
    Rps,
    /// Transmit Packet Steering: which transmit queue a sending CPU uses.
    Xps,
}

impl Steering {
    fn file(self, queue: usize) -> String {
        match self {
            Self::Rps => format!("rx-{queue}/rps_cpus"),
            Self::Xps => format!("tx-{queue}/xps_cpus"),
        }
    }
}

/// The `steering` masks of every queue of `dev`, by queue, as sysfs shows
/// them, in the namespace at `path`.
pub fn masks(path: &Path, ns: &str, dev: &str, steering: Steering) -> Result<Vec<String>> {
    with_netns_sysfs_at(path, ns, |sys| {
        let mut masks = Vec::new();
        for q in 0.. {
            let file = sys.join(format!("class/net/{dev}/queues/{}", steering.file(q)));
            if !file.exists() {
                break;
            }
            let text = std::fs::read_to_string(&file)
                .with_context(|| format!("read {}", file.display()))?;
            masks.push(text.trim().to_string());
        }
        Ok(masks)
    })
}

/// Writes `steering` masks (`(queue, mask)`, sysfs hex) of `dev` in the
/// namespace at `path`.
pub fn set_masks(
    path: &Path,
    ns: &str,
    dev: &str,
    steering: Steering,
    masks: &[(usize, String)],
) -> Result<()> {
    with_netns_sysfs_at(path, ns, |sys| {
        for (q, mask) in masks {
            let file = sys.join(format!("class/net/{dev}/queues/{}", steering.file(*q)));
            std::fs::write(&file, mask).with_context(|| format!("write {}", file.display()))?;
        }
        Ok(())
    })
}

/// Steers `dev`'s queues (in the named namespace) to CPUs: `(queue, cpus)`;
/// an empty list turns the steering off for that queue.
pub fn steer(
    ns: &str,
    dev: &str,
    steering: Steering,
    queues: &[(usize, Vec<usize>)],
) -> Result<()> {
    let masks: Vec<(usize, String)> = queues
        .iter()
        .map(|(q, cpus)| (*q, cpu_mask(cpus)))
        .collect();
    set_masks(&netns::path_of(ns), ns, dev, steering, &masks)
}

#[cfg(test)]
mod tests {
    #[test]
    fn masks_cpus() {
        assert_eq!(super::cpu_mask(&[]), "0");
        assert_eq!(super::cpu_mask(&[0]), "1");
        assert_eq!(super::cpu_mask(&[1, 3]), "a");
    }
}
