//! Names from a container runtime other than Docker: a private containerd
//! (Debian's) runs a Kubernetes-style pod, as its CRI plugin would lay it
//! out (a sandbox task annotated with the pod's name and namespace, an app
//! container annotated with its name and sandbox), in a lab container's
//! namespace; `status` and `stat` then name that namespace `shop/web-0`.
//! crictl is not packaged here, so `ctr` sets the CRI's annotations.

mod support;

use std::{
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use support::{Lab, run_ok, unique_name};

const CONTAINERD: &str = "/usr/bin/containerd";
const CTR: &str = "/usr/bin/ctr";

/// A containerd with its own root, state and socket; stopped, with its
/// tasks, when dropped.
struct Containerd {
    dir: PathBuf,
    daemon: Child,
    tasks: Vec<String>,
}

impl Containerd {
    fn start() -> Self {
        assert!(
            Path::new(CONTAINERD).exists() && Path::new(CTR).exists(),
            "containerd is not installed: scripts/setup installs docker.io, which brings it"
        );
        let dir = std::env::temp_dir().join(format!("prism-{}", unique_name("ctr")));
        std::fs::create_dir_all(dir.join("rootfs/bin")).unwrap();
        let busybox = ["/bin/busybox", "/usr/bin/busybox"]
            .into_iter()
            .find(|p| Path::new(p).exists())
            .expect("busybox-static is not installed: scripts/setup installs it");
        std::fs::copy(busybox, dir.join("rootfs/bin/busybox")).unwrap();
        let log = std::fs::File::create(dir.join("containerd.log")).unwrap();
        let daemon = Command::new(CONTAINERD)
            .arg("--root")
            .arg(dir.join("root"))
            .arg("--state")
            .arg(dir.join("state"))
            .arg("--address")
            .arg(dir.join("containerd.sock"))
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap();
        let c = Containerd {
            dir,
            daemon,
            tasks: Vec::new(),
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        while !c.ctr(&["version"]).status.success() {
            assert!(Instant::now() < deadline, "containerd did not come up");
            std::thread::sleep(Duration::from_millis(200));
        }
        c
    }

    fn ctr(&self, args: &[&str]) -> std::process::Output {
        Command::new(CTR)
            .arg("--address")
            .arg(self.dir.join("containerd.sock"))
            .args(["--namespace", "k8s.io"])
            .args(args)
            .stdin(Stdio::null())
            .output()
            .unwrap()
    }

    /// Runs a task sleeping in network namespace `netns`, annotated.
    fn run(&mut self, id: &str, netns: &str, annotations: &[(&str, &str)]) {
        let network = format!("network:/run/netns/{netns}");
        let rootfs = self.dir.join("rootfs").display().to_string();
        let mut args = vec!["run", "-d", "--with-ns", &network];
        let pairs: Vec<String> = annotations
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        for p in &pairs {
            args.extend(["--annotation", p.as_str()]);
        }
        args.extend(["--rootfs", &rootfs, id, "/bin/busybox", "sleep", "600"]);
        let out = self.ctr(&args);
        assert!(
            out.status.success(),
            "ctr run {id}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        self.tasks.push(id.to_string());
    }
}

impl Drop for Containerd {
    fn drop(&mut self) {
        for id in &self.tasks {
            let _ = self.ctr(&["task", "kill", "-s", "KILL", id]);
        }
        std::thread::sleep(Duration::from_millis(500));
        for id in &self.tasks {
            let _ = self.ctr(&["task", "rm", "-f", id]);
            let _ = self.ctr(&["container", "rm", id]);
        }
        let _ = self.daemon.kill();
        let _ = self.daemon.wait();
        // The shims outlive their daemon.
        let _ = Command::new("pkill")
            .args([
                "-KILL",
                "-f",
                &format!("containerd-shim.*{}", self.dir.display()),
            ])
            .status();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[test]
fn a_cri_pod_under_containerd_names_its_namespace() {
    let lab = Lab::up("cri");
    let topo = lab.topology();
    let netns = topo.sides[1].container_ns.clone();
    let mut containerd = Containerd::start();
    containerd.run(
        "sb1",
        &netns,
        &[
            ("io.kubernetes.cri.container-type", "sandbox"),
            ("io.kubernetes.cri.sandbox-name", "web-0"),
            ("io.kubernetes.cri.sandbox-namespace", "shop"),
        ],
    );
    containerd.run(
        "app1",
        &netns,
        &[
            ("io.kubernetes.cri.container-type", "container"),
            ("io.kubernetes.cri.container-name", "app"),
            ("io.kubernetes.cri.sandbox-id", "sb1"),
        ],
    );
    let status: serde_json::Value = serde_json::from_str(&run_ok(&["status", "--json"])).unwrap();
    let names: Vec<String> = status["overlays"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|o| o["containers"].as_array().unwrap().clone())
        .filter_map(|c| c.as_str().map(String::from))
        .collect();
    assert!(names.contains(&"shop/web-0".to_string()), "{names:?}");
    // The other container keeps its namespace's name.
    assert!(names.contains(&topo.sides[0].container_ns), "{names:?}");

    // stat takes the pod's name for its figures and its --netns.
    let out = support::prism()
        .args([
            "stat",
            "--by",
            "container",
            "--json",
            "--count",
            "1",
            "--interval",
            "500ms",
        ])
        .args(["--netns", "shop/web-0", "--container", "shop/web-0"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("containers: shop/web-0"), "{stderr}");
    let line: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(line["containers"][0]["name"], "shop/web-0", "{line}");
}
