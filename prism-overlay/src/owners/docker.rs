//! Container names from Docker's engine API (and Podman's compatible one).
//!
//! One `GET /containers/json` per daemon lists its running containers with
//! each network's MAC address: enough to find a container's namespace from
//! the links the model already read, without an inspect per container.
//! The API is a few lines of HTTP/1.0 over a Unix socket; a client crate
//! (bollard) would bring an async HTTP stack for one request.

use std::{
    collections::BTreeMap,
    io::{Read, Write},
    os::unix::net::UnixStream,
    path::{Path, PathBuf},
    time::Duration,
};

use anyhow::{Context, Result, bail};
use serde_json::Value;

use super::Owner;

/// Where daemons listen when nothing says otherwise.
const DEFAULT_SOCKETS: [(&str, &str); 2] = [
    ("/var/run/docker.sock", "docker"),
    ("/run/podman/podman.sock", "podman"),
];
/// A daemon that does not answer within this is skipped.
const TIMEOUT: Duration = Duration::from_secs(2);

/// Running containers' owners by MAC address (lowercase `aa:bb:..`), from
/// every daemon found.
pub fn containers_by_mac() -> BTreeMap<String, Owner> {
    let mut by_mac = BTreeMap::new();
    for (socket, runtime) in sockets() {
        match get(&socket, "/containers/json") {
            Ok(list) => {
                for (mac, owner) in parse_containers(&list, runtime) {
                    by_mac.entry(mac).or_insert(owner);
                }
            }
            Err(e) => log::debug!("{runtime} at {}: {e:#}", socket.display()),
        }
    }
    by_mac
}

/// The sockets of the daemons on this host: the default ones, `DOCKER_HOST`,
/// and every `-H unix://...` a running dockerd was started with (a daemon
/// per namespace, as in a swarm test, each has its own).
fn sockets() -> Vec<(PathBuf, &'static str)> {
    let mut found: Vec<(PathBuf, &'static str)> = Vec::new();
    let mut add = |path: PathBuf, runtime| {
        let canonical = path.canonicalize().unwrap_or(path);
        if canonical.exists() && !found.iter().any(|(p, _)| *p == canonical) {
            found.push((canonical, runtime));
        }
    };
    for (path, runtime) in DEFAULT_SOCKETS {
        add(PathBuf::from(path), runtime);
    }
    if let Some(path) = std::env::var("DOCKER_HOST")
        .ok()
        .and_then(|h| h.strip_prefix("unix://").map(PathBuf::from))
    {
        add(path, "docker");
    }
    for args in process_args("dockerd") {
        for path in host_sockets(&args) {
            add(path, "docker");
        }
    }
    found
}

/// The command lines of running processes named `name`.
pub(super) fn process_args(name: &str) -> Vec<Vec<String>> {
    let Ok(procs) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    procs
        .filter_map(Result::ok)
        .filter_map(|e| std::fs::read(e.path().join("cmdline")).ok())
        .map(|raw| {
            raw.split(|b| *b == 0)
                .filter(|a| !a.is_empty())
                .map(|a| String::from_utf8_lossy(a).into_owned())
                .collect::<Vec<_>>()
        })
        .filter(|args| {
            args.first()
                .and_then(|a| Path::new(a).file_name())
                .is_some_and(|n| n == name)
        })
        .collect()
}

/// The Unix sockets in `-H`/`--host` options (`-H X`, `-H=X`, `--host X`,
/// `--host=X`).
fn host_sockets(args: &[String]) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut it = args.iter().skip(1);
    while let Some(a) = it.next() {
        let value = match a.as_str() {
            "-H" | "--host" => it.next().map(String::as_str),
            _ => a.strip_prefix("-H=").or_else(|| a.strip_prefix("--host=")),
        };
        if let Some(path) = value.and_then(|v| v.strip_prefix("unix://")) {
            out.push(PathBuf::from(path));
        }
    }
    out
}

/// One GET on the daemon's socket, its JSON body.
fn get(socket: &Path, path: &str) -> Result<Value> {
    let mut stream = UnixStream::connect(socket).context("connect")?;
    stream.set_read_timeout(Some(TIMEOUT))?;
    stream.set_write_timeout(Some(TIMEOUT))?;
    // HTTP/1.0: the daemon closes the connection after the response and
    // sends the body as it is, not in chunks.
    write!(stream, "GET {path} HTTP/1.0\r\nHost: docker\r\n\r\n")?;
    let mut response = Vec::new();
    stream
        .read_to_end(&mut response)
        .context("read the response")?;
    let text = String::from_utf8_lossy(&response);
    let (head, body) = text
        .split_once("\r\n\r\n")
        .context("no end of the response's headers")?;
    let status = head.lines().next().unwrap_or_default();
    if status.split_whitespace().nth(1) != Some("200") {
        bail!("GET {path}: {status}");
    }
    serde_json::from_str(body).with_context(|| format!("GET {path}: not JSON"))
}

/// `/containers/json` as (MAC, owner) pairs: a container on several
/// networks has a MAC on each.
fn parse_containers(list: &Value, runtime: &'static str) -> Vec<(String, Owner)> {
    let mut out = Vec::new();
    for c in list.as_array().into_iter().flatten() {
        let Some(name) = c["Names"][0].as_str().map(|n| n.trim_start_matches('/')) else {
            continue;
        };
        let labels = &c["Labels"];
        let label = |k: &str| labels[k].as_str().map(str::to_string);
        // Kubernetes through cri-dockerd labels its containers with the pod.
        let owner = match (
            label("io.kubernetes.pod.name"),
            label("io.kubernetes.pod.namespace"),
        ) {
            (Some(pod), Some(ns)) => Owner {
                runtime,
                name: format!("{ns}/{pod}"),
                pod: Some(pod),
                pod_namespace: Some(ns),
                containers: label("io.kubernetes.container.name").into_iter().collect(),
            },
            _ => Owner::named(runtime, name),
        };
        let networks = c["NetworkSettings"]["Networks"].as_object();
        for net in networks.into_iter().flat_map(|n| n.values()) {
            if let Some(mac) = net["MacAddress"].as_str().filter(|m| !m.is_empty()) {
                out.push((mac.to_ascii_lowercase(), owner.clone()));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_options_name_unix_sockets() {
        let args: Vec<String> = [
            "dockerd",
            "-H",
            "unix:///tmp/a/docker.sock",
            "--host=unix:///tmp/b.sock",
            "-H=tcp://0.0.0.0:2375",
            "--data-root",
            "/tmp/a",
        ]
        .map(String::from)
        .to_vec();
        assert_eq!(
            host_sockets(&args),
            [
                PathBuf::from("/tmp/a/docker.sock"),
                PathBuf::from("/tmp/b.sock")
            ]
        );
    }

    #[test]
    fn containers_are_found_by_the_mac_of_each_network() {
        let list = serde_json::json!([
            {
                "Names": ["/web.1.abc"],
                "Labels": {"com.docker.swarm.service.name": "web"},
                "NetworkSettings": {"Networks": {
                    "overlay1": {"MacAddress": "02:42:0A:00:01:03"},
                    "docker_gwbridge": {"MacAddress": "02:42:ac:12:00:03"}
                }}
            },
            {
                "Names": ["/k8s_app_shop-0"],
                "Labels": {
                    "io.kubernetes.pod.name": "shop-0",
                    "io.kubernetes.pod.namespace": "prod",
                    "io.kubernetes.container.name": "app"
                },
                "NetworkSettings": {"Networks": {"bridge": {"MacAddress": "02:42:ac:11:00:02"}}}
            },
            {"Names": ["/host-mode"], "NetworkSettings": {"Networks": {"host": {"MacAddress": ""}}}}
        ]);
        let found: BTreeMap<String, Owner> =
            parse_containers(&list, "docker").into_iter().collect();
        assert_eq!(found.len(), 3);
        // Upper-case MACs from the daemon are matched as the kernel writes them.
        assert_eq!(found["02:42:0a:00:01:03"].name, "web.1.abc");
        assert_eq!(found["02:42:ac:12:00:03"].name, "web.1.abc");
        let pod = &found["02:42:ac:11:00:02"];
        assert_eq!(pod.name, "prod/shop-0");
        assert_eq!(pod.pod.as_deref(), Some("shop-0"));
        assert_eq!(pod.containers, ["app"]);
    }
}
