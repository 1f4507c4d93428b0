//! A real Docker swarm on this machine: two dockerd, each started in its
//! own network namespace (a node) with its own data root, exec root and
//! socket, joined over a veth; an attachable overlay network; one
//! container per node from a busybox image imported from a rootfs (nothing
//! can be pulled). Everything is removed on drop, also when a test fails.

use std::{
    net::Ipv4Addr,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use prism_kernel::{
    netns,
    rtnl::{self, LinkChange},
};

/// Debian's docker.io client, which speaks the 20.10 daemon's API.
const DOCKER: &str = "/usr/bin/docker";
const DOCKERD: &str = "/usr/sbin/dockerd";
const SUBNET: &str = "10.77.0.0/24";
const IMAGE: &str = "prism-busybox";

pub struct Node {
    /// The node's namespace (under /run/netns).
    pub ns: String,
    pub ip: Ipv4Addr,
    dir: PathBuf,
    daemon: Option<Child>,
}

impl Node {
    fn socket(&self) -> String {
        format!("unix://{}/docker.sock", self.dir.display())
    }

    /// Where the daemon keeps its network sandboxes' namespaces.
    pub fn netns_dir(&self) -> PathBuf {
        self.dir.join("exec/netns")
    }

    /// Runs the docker client against this node; returns stdout.
    pub fn docker(&self, args: &[&str]) -> String {
        let out = Command::new(DOCKER)
            .arg("-H")
            .arg(self.socket())
            .args(args)
            .output()
            .expect("run docker");
        assert!(
            out.status.success(),
            "docker {args:?} on {}: {}",
            self.ns,
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    /// Starts this node's dockerd in its namespace and waits until it answers.
    fn start(&mut self) {
        let n = self;
        for sub in ["data", "exec"] {
            std::fs::create_dir_all(n.dir.join(sub)).unwrap();
        }
        let log = std::fs::File::create(n.dir.join("dockerd.log")).unwrap();
        let child = Command::new("nsenter")
            .arg(format!("--net={}", netns::path_of(&n.ns).display()))
            .arg(DOCKERD)
            .arg("--data-root")
            .arg(n.dir.join("data"))
            .arg("--exec-root")
            .arg(n.dir.join("exec"))
            .arg("--pidfile")
            .arg(n.dir.join("dockerd.pid"))
            .args(["-H", &n.socket()])
            .args([
                "--iptables=false",
                "--ip6tables=false",
                "--bridge=none",
                "--storage-driver=vfs",
            ])
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("start dockerd");
        n.daemon = Some(child);
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let ok = Command::new(DOCKER)
                .arg("-H")
                .arg(n.socket())
                .arg("info")
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success());
            if ok {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "dockerd in {} did not come up: {}",
                n.ns,
                std::fs::read_to_string(n.dir.join("dockerd.log")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// Stops the daemon and removes what it left: its sandboxes' mounts
    /// (after a crash) and the node's namespace.
    fn teardown(&mut self) {
        if let Some(mut daemon) = self.daemon.take() {
            stop(&mut daemon);
        }
        for path in nsfs_mounts_under(&self.dir) {
            let _ = nix::mount::umount2(&path, nix::mount::MntFlags::MNT_DETACH);
        }
        let _ = netns::delete(&self.ns);
    }

    fn docker_quiet(&self, args: &[&str]) {
        let _ = Command::new(DOCKER)
            .arg("-H")
            .arg(self.socket())
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

/// A container of the swarm, its namespace named for the workloads.
pub struct Container {
    pub name: String,
    /// `/run/netns/<alias>`, bound to the container's namespace.
    pub alias: String,
    pub ip: Ipv4Addr,
}

pub struct Swarm {
    pub nodes: Vec<Node>,
    pub containers: Vec<Container>,
    root: PathBuf,
}

/// A test run's name and work directory for its dockerd, after checking
/// that dockerd can run here.
fn daemon_home(tag: &str) -> (String, PathBuf) {
    super::require_root();
    assert!(
        Path::new(DOCKERD).exists(),
        "dockerd is not installed: scripts/setup installs Debian's docker.io"
    );
    let name = super::unique_name(tag);
    let root = std::env::temp_dir().join(format!("prism-{name}"));
    (name, root)
}

impl Swarm {
    /// Builds the swarm; panics (after removing what it made) on failure.
    pub fn up(tag: &str) -> Self {
        let (name, root) = daemon_home(tag);
        let mut swarm = Swarm {
            nodes: Vec::new(),
            containers: Vec::new(),
            root: root.clone(),
        };
        for i in 1..=2u8 {
            swarm.nodes.push(Node {
                ns: format!("{name}n{i}"),
                ip: Ipv4Addr::new(192, 168, 150, i),
                dir: root.join(format!("node{i}")),
                daemon: None,
            });
        }
        swarm.build(&name);
        swarm
    }

    fn build(&mut self, name: &str) {
        for n in &self.nodes {
            netns::create(&n.ns).unwrap();
        }
        let (a, b) = (self.nodes[0].ns.clone(), self.nodes[1].ns.clone());
        rtnl::run_in(Some(&a), |nl| async move {
            nl.add_veth_into("eth0", "eth0", &b, 1).await
        })
        .unwrap();
        for n in &self.nodes {
            let ip = n.ip;
            rtnl::run_in(Some(&n.ns), |nl| async move {
                nl.configure("lo", LinkChange::up()).await?;
                nl.configure("eth0", LinkChange::up()).await?;
                nl.add_address("eth0", ip.into(), 24).await
            })
            .unwrap();
        }
        for n in &mut self.nodes {
            n.start();
        }
        let manager = &self.nodes[0];
        manager.docker(&["swarm", "init", "--advertise-addr", &manager.ip.to_string()]);
        let token = manager.docker(&["swarm", "join-token", "-q", "worker"]);
        let join = format!("{}:2377", manager.ip);
        self.nodes[1].docker(&["swarm", "join", "--token", &token, &join]);
        let rootfs = busybox_rootfs(&self.root);
        for n in &self.nodes {
            let mut tar = Command::new("tar")
                .arg("-C")
                .arg(&rootfs)
                .args(["-c", "."])
                .stdout(Stdio::piped())
                .spawn()
                .unwrap();
            let status = Command::new(DOCKER)
                .arg("-H")
                .arg(n.socket())
                .args(["import", "-", IMAGE])
                .stdin(tar.stdout.take().unwrap())
                .stdout(Stdio::null())
                .status()
                .unwrap();
            assert!(tar.wait().unwrap().success(), "tar of the busybox rootfs");
            assert!(status.success(), "docker import on {}", n.ns);
        }
        let network = format!("{name}net");
        self.nodes[0].docker(&[
            "network",
            "create",
            "-d",
            "overlay",
            "--attachable",
            "--subnet",
            SUBNET,
            &network,
        ]);
        for (i, n) in self.nodes.iter().enumerate() {
            let cname = format!("{name}c{}", i + 1);
            n.docker(&[
                "run",
                "-d",
                "--network",
                &network,
                "--name",
                &cname,
                IMAGE,
                "sleep",
                "3600",
            ]);
            let pid: u32 = n
                .docker(&["inspect", "-f", "{{.State.Pid}}", &cname])
                .parse()
                .unwrap();
            let ip = n
                .docker(&[
                    "inspect",
                    "-f",
                    "{{range .NetworkSettings.Networks}}{{.IPAddress}} {{end}}",
                    &cname,
                ])
                .split_whitespace()
                .find_map(|a| {
                    a.parse::<Ipv4Addr>()
                        .ok()
                        .filter(|ip| ip.octets()[..3] == [10, 77, 0])
                })
                .expect("an address on the overlay");
            let alias = format!("{cname}ns");
            netns::attach(&alias, pid).unwrap();
            self.containers.push(Container {
                name: cname,
                alias,
                ip,
            });
        }
    }

    /// The swarm's namespaces as paths: the nodes, and every namespace
    /// under each daemon's exec root (network sandboxes, containers).
    pub fn namespaces(&self) -> Vec<String> {
        let mut out: Vec<String> = self.nodes.iter().map(|n| n.ns.clone()).collect();
        for n in &self.nodes {
            if let Ok(entries) = std::fs::read_dir(n.netns_dir()) {
                out.extend(entries.filter_map(|e| Some(e.ok()?.path().display().to_string())));
            }
        }
        out
    }
}

impl Drop for Swarm {
    fn drop(&mut self) {
        for c in &self.containers {
            let _ = netns::delete(&c.alias);
        }
        for n in &self.nodes {
            for c in &self.containers {
                n.docker_quiet(&["rm", "-f", &c.name]);
            }
            n.docker_quiet(&["swarm", "leave", "--force"]);
        }
        for n in &mut self.nodes {
            n.teardown();
        }
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

/// One dockerd alone in a namespace of its own (no swarm): for running an
/// image with that namespace as its host network.
pub struct Standalone {
    pub node: Node,
    root: PathBuf,
}

impl Standalone {
    pub fn up(tag: &str) -> Self {
        let (name, root) = daemon_home(tag);
        let mut d = Standalone {
            node: Node {
                ns: format!("{name}n1"),
                ip: Ipv4Addr::LOCALHOST,
                dir: root.join("node1"),
                daemon: None,
            },
            root,
        };
        netns::create(&d.node.ns).unwrap();
        rtnl::run_in(Some(&d.node.ns), |nl| async move {
            nl.configure("lo", LinkChange::up()).await
        })
        .unwrap();
        d.node.start();
        d
    }

    /// The `docker` command for this daemon.
    pub fn client(&self) -> String {
        format!("{DOCKER} -H {}", self.node.socket())
    }
}

impl Drop for Standalone {
    fn drop(&mut self) {
        self.node.teardown();
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

/// SIGTERM, then SIGKILL after 15 s.
fn stop(child: &mut Child) {
    let pid = nix::unistd::Pid::from_raw(child.id() as i32);
    let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
    let deadline = Instant::now() + Duration::from_secs(15);
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let _ = child.kill();
    let _ = child.wait();
}

fn nsfs_mounts_under(dir: &Path) -> Vec<PathBuf> {
    let text = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    netns::nsfs_mounts(&text)
        .into_iter()
        .filter(|p| p.starts_with(dir))
        .collect()
}

/// A root file system with busybox (static) as `sh` and `sleep`.
fn busybox_rootfs(root: &Path) -> PathBuf {
    let busybox = ["/bin/busybox", "/usr/bin/busybox"]
        .into_iter()
        .find(|p| Path::new(p).exists())
        .expect("busybox-static is not installed: scripts/setup installs it");
    let dir = root.join("rootfs");
    std::fs::create_dir_all(dir.join("bin")).unwrap();
    std::fs::copy(busybox, dir.join("bin/busybox")).unwrap();
    for applet in ["sh", "sleep"] {
        let _ = std::os::unix::fs::symlink("busybox", dir.join("bin").join(applet));
    }
    dir
}
