//! Reading and writing a knob where the kernel keeps it: `/proc/sys` for
//! the sysctls, the device's sysfs directory (as seen from its network
//! namespace) for device attributes.

use std::{
    fs,
    path::{Path, PathBuf},
};

use anyhow::{Context, Result, bail};
use prism_kernel::{ethtool, sysfs::with_netns_sysfs};

use crate::knob::{KnobName, Via};

/// Runs `f` with the root of a `/sys` that shows namespace `netns` (the
/// current one when `None`).
pub fn in_sysfs<R: Send>(
    netns: Option<&str>,
    f: impl FnOnce(&Path) -> Result<R> + Send,
) -> Result<R> {
    match netns {
        Some(ns) => with_netns_sysfs(ns, f),
        None => f(Path::new("/sys")),
    }
}

/// Where knob `name` lives, under the `/sys` root `sys`.
pub fn path_of(sys: &Path, name: &KnobName) -> PathBuf {
    match &name.device {
        None => Path::new("/proc/sys").join(name.key.replace('.', "/")),
        Some(dev) => sys.join("class/net").join(dev).join(&name.key),
    }
}

pub fn read(sys: &Path, name: &KnobName) -> Result<String> {
    let path = path_of(sys, name);
    if let Some(dev) = &name.device
        && !sys.join("class/net").join(dev).exists()
    {
        bail!("no device {dev} in this namespace");
    }
    // The ioctls act on the calling thread's namespace: `in_sysfs` runs
    // this in the device's.
    let dev = name.device.as_deref().unwrap_or_default();
    match name.via() {
        Via::Feature(f) => {
            let on = ethtool::features(dev)?
                .get(f)
                .copied()
                .with_context(|| format!("{dev} has no offload feature {f}"))?;
            Ok(if on { "1" } else { "0" }.into())
        }
        Via::Coalesce(c) => Ok(ethtool::coalesce(dev)
            .with_context(|| format!("{dev} has no interrupt coalescing"))?
            .get(c)
            .with_context(|| format!("no coalescing parameter {c}"))?
            .to_string()),
        Via::Sysfs => {
            let text = fs::read_to_string(&path).with_context(|| format!("read {name}"))?;
            Ok(text.trim().to_string())
        }
    }
}

pub fn write(sys: &Path, name: &KnobName, value: &str) -> Result<()> {
    let dev = name.device.as_deref().unwrap_or_default();
    match name.via() {
        Via::Feature(f) => {
            ethtool::set_features(dev, &[(f, value == "1")])
                .with_context(|| format!("set {name} to {value}"))?;
            // A fixed feature is refused without an error: check.
            if read(sys, name)? != value {
                bail!("{dev} cannot change {f} (fixed by its driver, or needs another feature)");
            }
            Ok(())
        }
        Via::Coalesce(c) => {
            let v: u32 = value
                .parse()
                .with_context(|| format!("{value:?} for {name}"))?;
            ethtool::set_coalesce(dev, &[(c, v)]).with_context(|| format!("set {name} to {value}"))
        }
        Via::Sysfs => fs::write(path_of(sys, name), format!("{value}\n"))
            .with_context(|| format!("set {name} to {value}")),
    }
}

/// The ethtool knobs `dev` has: the features it names, and coalescing when
/// the driver implements it.
fn ethtool_keys(dev: &str) -> Vec<String> {
    let features = ethtool::features(dev).unwrap_or_default();
    let mut keys: Vec<String> = crate::knob::FEATURES
        .iter()
        .filter(|s| features.contains_key(&s.key["features/".len()..]))
        .map(|s| s.key.to_string())
        .collect();
    if ethtool::coalesce(dev).is_ok() {
        keys.extend(crate::knob::COALESCE.iter().map(|s| s.key.to_string()));
    }
    keys
}

/// The devices of the namespace (`lo` aside) and each one's attribute
/// paths that exist: its own, then per queue.
pub fn device_keys(sys: &Path) -> Result<Vec<(String, Vec<String>)>> {
    let net = sys.join("class/net");
    let mut devices: Vec<String> = fs::read_dir(&net)
        .with_context(|| format!("list {}", net.display()))?
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|d| d != "lo")
        .collect();
    devices.sort();
    Ok(devices
        .into_iter()
        .map(|dev| {
            let dir = net.join(&dev);
            let mut keys: Vec<String> = crate::knob::DEVICE
                .iter()
                .map(|s| s.key.to_string())
                .filter(|k| dir.join(k).exists())
                .collect();
            keys.extend(ethtool_keys(&dev));
            let mut queues: Vec<String> = fs::read_dir(dir.join("queues"))
                .map(|d| {
                    d.filter_map(|e| e.ok()?.file_name().into_string().ok())
                        .collect()
                })
                .unwrap_or_default();
            queues.sort_by_key(|q| (q.starts_with("tx"), q[3..].parse::<u32>().unwrap_or(0)));
            for q in queues {
                let specs: &[crate::knob::Spec] = if q.starts_with("rx-") {
                    &crate::knob::RX_QUEUE
                } else {
                    &crate::knob::TX_QUEUE
                };
                for s in specs {
                    let key = format!("queues/{q}/{}", s.key);
                    if dir.join(&key).exists() {
                        keys.push(key);
                    }
                }
            }
            (dev, keys)
        })
        .collect())
}
