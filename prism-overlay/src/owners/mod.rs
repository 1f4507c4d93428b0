//! Who owns each network namespace: the container or pod a runtime says
//! it made it for, so that figures carry names people know instead of
//! inodes. Each source answers for the namespaces it knows; the first to
//! claim one wins, in this order:
//!
//! 1. Docker's engine API (and Podman's, which speaks the same), on every
//!    socket a running daemon listens on: one request lists the running
//!    containers with each network's MAC address, and a namespace holding
//!    a link with that MAC is the container's;
//! 2. OCI bundles of running tasks (containerd, also as Kubernetes' CRI,
//!    and CRI-O): their `config.json` names the network namespace and
//!    carries the pod's name, namespace and containers as annotations;
//! 3. a namespace's own name under `/run/netns` (the lab, `ip netns`).
//!
//! Sources that are absent or do not answer are skipped: names are a
//! courtesy, never a reason to fail.

mod docker;
mod oci;

use std::collections::BTreeMap;

use serde::Serialize;

use crate::Facts;

/// The container (or pod) a network namespace belongs to.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Owner {
    /// Who said so: `docker`, `podman`, `containerd`, `cri-o` or `netns`.
    pub runtime: &'static str,
    /// How people call it: a container's name, or `namespace/pod`.
    pub name: String,
    /// Kubernetes: the pod and its namespace.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pod: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pod_namespace: Option<String>,
    /// Kubernetes: the pod's containers (they share its namespace).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub containers: Vec<String>,
}

impl Owner {
    fn named(runtime: &'static str, name: impl Into<String>) -> Self {
        Self {
            runtime,
            name: name.into(),
            ..Default::default()
        }
    }
}

/// The owners of the namespaces in `facts`, by namespace inode.
pub fn find(facts: &Facts) -> BTreeMap<u32, Owner> {
    let mut owners = BTreeMap::new();
    let by_mac = docker::containers_by_mac();
    for ns in &facts.namespaces {
        // A container's end of its veth carries the MAC the runtime gave it.
        let owner = ns
            .links
            .iter()
            .filter(|l| l.kind.as_deref() == Some("veth"))
            .find_map(|l| by_mac.get(&l.mac.as_deref()?.to_ascii_lowercase()).cloned());
        if let Some(o) = owner {
            owners.insert(ns.inode, o);
        }
    }
    for (inode, owner) in oci::tasks() {
        owners.entry(inode).or_insert(owner);
    }
    for ns in &facts.namespaces {
        if let Some(name) = plain_name(&ns.label) {
            owners
                .entry(ns.inode)
                .or_insert_with(|| Owner::named("netns", name));
        }
    }
    owners
}

/// `names` without repeats, in their first order (a container has several
/// devices on the path).
pub fn once(names: impl IntoIterator<Item = String>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for n in names {
        if !out.contains(&n) {
            out.push(n);
        }
    }
    out
}

/// A namespace's name as iproute2 keeps it: a label without a directory,
/// prefix or pid (those are not names anyone gave).
fn plain_name(label: &str) -> Option<&str> {
    let plain = !label.contains('/') && !label.starts_with("pid ") && label != "root";
    plain.then_some(label)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_iproute2_names_name_a_namespace() {
        assert_eq!(plain_name("prism-c1"), Some("prism-c1"));
        assert_eq!(plain_name("cni-1234"), Some("cni-1234"));
        for label in ["root", "pid 42", "docker/1-abc", "/tmp/x/netns/abc"] {
            assert_eq!(plain_name(label), None, "{label}");
        }
    }
}
