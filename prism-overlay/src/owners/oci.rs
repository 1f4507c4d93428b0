//! Owners from the OCI bundles of running tasks: containerd (plain, or as
//! Kubernetes' CRI) and CRI-O keep each task's `config.json` on tmpfs. It
//! names the task's network namespace, and the CRI runtimes annotate it
//! with the pod's name and namespace and the container's name. Reading
//! these files needs no client of the runtimes' gRPC APIs.

use std::{
    collections::BTreeMap,
    os::unix::fs::MetadataExt,
    path::{Path, PathBuf},
};

use serde_json::Value;

use super::{Owner, docker};

/// Where containerd keeps its state when not told otherwise.
const CONTAINERD_STATE: &str = "/run/containerd";
/// Where CRI-O (and Podman) keep each container's runtime files.
const CRIO_CONTAINERS: &str = "/run/containers/storage/overlay-containers";
/// containerd's namespace for Docker's own containers: Docker's API names
/// those better.
const DOCKER_NAMESPACE: &str = "moby";

/// One running task, as its bundle describes it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Task {
    pub runtime: &'static str,
    pub id: String,
    pub kind: Kind,
    /// Its network namespace: a path to it, or `None` when the task made
    /// its own (then `/proc/PID/ns/net` of its init process).
    pub netns: Option<PathBuf>,
    /// False when the task runs in the host's network namespace.
    pub own_network: bool,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    /// A Kubernetes pod's sandbox: the namespace is the pod's.
    Sandbox { pod: String, namespace: String },
    /// A container in the sandbox with this id.
    InPod { sandbox: String, name: String },
    /// A task of its own (ctr, nerdctl).
    Plain { name: String },
}

/// Owners of the namespaces of every running task, by namespace inode.
pub fn tasks() -> Vec<(u32, Owner)> {
    let mut tasks = Vec::new();
    for state in containerd_states() {
        let root = state.join("io.containerd.runtime.v2.task");
        for ns_dir in dirs(&root) {
            if ns_dir.file_name().is_some_and(|n| n == DOCKER_NAMESPACE) {
                continue;
            }
            for bundle in dirs(&ns_dir) {
                tasks.extend(read_task(&bundle, &bundle, "containerd", "init.pid"));
            }
        }
    }
    for dir in dirs(Path::new(CRIO_CONTAINERS)) {
        let userdata = dir.join("userdata");
        tasks.extend(read_task(&dir, &userdata, "cri-o", "pidfile"));
    }
    owners(&tasks, inode_of)
}

/// containerd's state directories: the default and every `--state` a
/// running containerd was given.
fn containerd_states() -> Vec<PathBuf> {
    let mut states = vec![PathBuf::from(CONTAINERD_STATE)];
    for args in docker::process_args("containerd") {
        let mut it = args.iter();
        while let Some(a) = it.next() {
            let value = match a.as_str() {
                "--state" => it.next().cloned(),
                _ => a.strip_prefix("--state=").map(str::to_string),
            };
            if let Some(v) = value {
                states.push(PathBuf::from(v));
            }
        }
    }
    states.sort();
    states.dedup();
    states
}

fn dirs(path: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(path) else {
        return Vec::new();
    };
    entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.is_dir())
        .collect()
}

/// The task in bundle `dir` (its `config.json` in `files`), with the pid
/// file named `pid_file` there.
fn read_task(dir: &Path, files: &Path, runtime: &'static str, pid_file: &str) -> Option<Task> {
    let id = dir.file_name()?.to_string_lossy().into_owned();
    let config: Value =
        serde_json::from_slice(&std::fs::read(files.join("config.json")).ok()?).ok()?;
    let mut task = parse(runtime, &id, &config)?;
    if task.netns.is_none() && task.own_network {
        let pid = std::fs::read_to_string(files.join(pid_file)).ok()?;
        task.netns = Some(PathBuf::from(format!("/proc/{}/ns/net", pid.trim())));
    }
    Some(task)
}

/// A task from its `config.json`.
pub(crate) fn parse(runtime: &'static str, id: &str, config: &Value) -> Option<Task> {
    let a = &config["annotations"];
    let get = |k: &str| a[k].as_str().map(str::to_string);
    // containerd's CRI plugin and CRI-O annotate the same facts differently.
    let (kind_key, pod_key, ns_key, name_key, sandbox_key) = match runtime {
        "cri-o" => (
            "io.kubernetes.cri-o.ContainerType",
            "io.kubernetes.pod.name",
            "io.kubernetes.pod.namespace",
            "io.kubernetes.container.name",
            "io.kubernetes.cri-o.SandboxID",
        ),
        _ => (
            "io.kubernetes.cri.container-type",
            "io.kubernetes.cri.sandbox-name",
            "io.kubernetes.cri.sandbox-namespace",
            "io.kubernetes.cri.container-name",
            "io.kubernetes.cri.sandbox-id",
        ),
    };
    let kind = match get(kind_key).as_deref() {
        Some("sandbox") => Kind::Sandbox {
            pod: get(pod_key)?,
            namespace: get(ns_key)?,
        },
        Some("container") => Kind::InPod {
            sandbox: get(sandbox_key)?,
            name: get(name_key)?,
        },
        // Podman's containers are in the same directory as CRI-O's, with
        // no pod annotations: its API names them.
        _ if runtime == "cri-o" => return None,
        _ => Kind::Plain {
            name: get("nerdctl/name").unwrap_or_else(|| id.to_string()),
        },
    };
    let network = config["linux"]["namespaces"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|n| n["type"] == "network");
    Some(Task {
        runtime,
        id: id.to_string(),
        kind,
        netns: network
            .and_then(|n| n["path"].as_str())
            .filter(|p| !p.is_empty())
            .map(PathBuf::from),
        own_network: network.is_some(),
    })
}

fn inode_of(path: &Path) -> Option<u32> {
    Some(std::fs::metadata(path).ok()?.ino() as u32)
}

/// Sandboxes and plain tasks own their namespaces; a pod's containers are
/// listed with their sandbox.
pub(crate) fn owners(tasks: &[Task], inode_of: impl Fn(&Path) -> Option<u32>) -> Vec<(u32, Owner)> {
    let mut in_pods: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    for t in tasks {
        if let Kind::InPod { sandbox, name } = &t.kind {
            in_pods.entry(sandbox).or_default().push(name.clone());
        }
    }
    let mut out = Vec::new();
    for t in tasks.iter().filter(|t| t.own_network) {
        let owner = match &t.kind {
            Kind::Sandbox { pod, namespace } => Owner {
                runtime: t.runtime,
                name: format!("{namespace}/{pod}"),
                pod: Some(pod.clone()),
                pod_namespace: Some(namespace.clone()),
                containers: in_pods.get(t.id.as_str()).cloned().unwrap_or_default(),
            },
            Kind::Plain { name } => Owner::named(t.runtime, name.clone()),
            Kind::InPod { .. } => continue,
        };
        if let Some(inode) = t.netns.as_deref().and_then(&inode_of) {
            out.push((inode, owner));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn config(annotations: Value, netns: Option<&str>) -> Value {
        let mut ns = json!([{"type": "pid"}, {"type": "network"}]);
        if let Some(p) = netns {
            ns[1]["path"] = json!(p);
        }
        json!({"annotations": annotations, "linux": {"namespaces": ns}})
    }

    #[test]
    fn a_cri_pod_owns_its_sandbox_namespace_and_lists_its_containers() {
        let sandbox = parse(
            "containerd",
            "sb1",
            &config(
                json!({
                    "io.kubernetes.cri.container-type": "sandbox",
                    "io.kubernetes.cri.sandbox-name": "web-0",
                    "io.kubernetes.cri.sandbox-namespace": "shop"
                }),
                Some("/var/run/netns/cni-1"),
            ),
        )
        .unwrap();
        let app = parse(
            "containerd",
            "c1",
            &config(
                json!({
                    "io.kubernetes.cri.container-type": "container",
                    "io.kubernetes.cri.container-name": "app",
                    "io.kubernetes.cri.sandbox-id": "sb1"
                }),
                Some("/proc/99/ns/net"),
            ),
        )
        .unwrap();
        let found = owners(&[sandbox, app], |p| {
            (p == Path::new("/var/run/netns/cni-1")).then_some(7)
        });
        assert_eq!(found.len(), 1);
        let (inode, o) = &found[0];
        assert_eq!(*inode, 7);
        assert_eq!(o.name, "shop/web-0");
        assert_eq!(o.pod_namespace.as_deref(), Some("shop"));
        assert_eq!(o.containers, ["app"]);
    }

    #[test]
    fn cri_o_annotations_and_plain_tasks() {
        let crio = parse(
            "cri-o",
            "x",
            &config(
                json!({
                    "io.kubernetes.cri-o.ContainerType": "sandbox",
                    "io.kubernetes.pod.name": "db-1",
                    "io.kubernetes.pod.namespace": "prod"
                }),
                Some("/var/run/netns/abc"),
            ),
        )
        .unwrap();
        assert_eq!(
            crio.kind,
            Kind::Sandbox {
                pod: "db-1".into(),
                namespace: "prod".into()
            }
        );
        // A Podman container beside CRI-O's is left to Podman's API.
        assert_eq!(parse("cri-o", "p", &config(json!({}), None)), None);
        // ctr and nerdctl tasks: their own namespace, found by pid.
        let plain = parse(
            "containerd",
            "t1",
            &config(json!({"nerdctl/name": "cache"}), None),
        )
        .unwrap();
        assert_eq!(
            plain.kind,
            Kind::Plain {
                name: "cache".into()
            }
        );
        assert!(plain.own_network && plain.netns.is_none());
        // No network entry: the host's namespace, owned by nobody.
        let host = parse(
            "containerd",
            "h",
            &json!({"linux": {"namespaces": [{"type": "pid"}]}}),
        )
        .unwrap();
        assert!(!host.own_network);
    }
}
