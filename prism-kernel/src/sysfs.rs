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

/// Runs `f` with `/sys` showing the network namespace `ns`.
pub fn with_netns_sysfs<R: Send>(ns: &str, f: impl FnOnce(&Path) -> Result<R> + Send) -> Result<R> {
    let ns_file = netns::open(ns)?;
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

/// Steers receive processing of `dev`'s queue `rx` to `cpus` (RPS).
/// An empty list turns RPS off for that queue.
pub fn set_rps(ns: &str, dev: &str, rx: usize, cpus: &[usize]) -> Result<()> {
    with_netns_sysfs(ns, |sys| {
        let path = sys.join(format!("class/net/{dev}/queues/rx-{rx}/rps_cpus"));
        std::fs::write(&path, cpu_mask(cpus))
            .with_context(|| format!("write {} in netns {ns}", path.display()))
    })
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
