//! Shared helpers of the integration tests: running the `prism` binary,
//! labs that always come down again, and the root check.
#![allow(dead_code)] // each test binary uses its own subset

pub mod datapath;
pub mod extra;
pub mod packets;
pub mod process;
pub mod profilers;
pub mod stat;
pub mod swarm;

use std::{
    os::unix::process::CommandExt,
    process::{Command, Output},
};

/// The `prism` binary built for these tests.
pub fn prism() -> Command {
    Command::new(env!("CARGO_BIN_EXE_prism"))
}

/// Runs `prism ARGS` and returns its output, whatever the exit status.
pub fn run(args: &[&str]) -> Output {
    prism().args(args).output().expect("run prism")
}

/// Runs `prism ARGS`, insisting on success; returns stdout.
pub fn run_ok(args: &[&str]) -> String {
    let out = run(args);
    assert!(
        out.status.success(),
        "prism {args:?} failed ({}):\nstdout: {}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8 output")
}

/// Runs `prism ARGS` as user `nobody`, with no capabilities.
pub fn run_unprivileged(args: &[&str]) -> Output {
    let mut cmd = prism();
    cmd.args(args).uid(65534).gid(65534);
    cmd.output().expect("run prism as nobody")
}

/// These tests load eBPF programs and build network namespaces.
pub fn require_root() {
    assert!(
        nix::unistd::geteuid().is_root(),
        "the integration tests load eBPF programs and build network namespaces: \
         run them as root (scripts/test does)"
    );
}

/// The datapath (pins under /sys/fs/bpf/prism) and loaded recordings are
/// machine-wide: the tests of one binary that touch them take turns.
pub fn turn() -> std::sync::MutexGuard<'static, ()> {
    static MACHINE: std::sync::Mutex<()> = std::sync::Mutex::new(());
    MACHINE.lock().unwrap_or_else(|e| e.into_inner())
}

/// A lab name no other test (or test run) uses.
pub fn unique_name(tag: &str) -> String {
    format!("pt{}{tag}", std::process::id() % 100_000)
}

/// A lab that is brought down when dropped, also when the test panics.
pub struct Lab {
    pub name: String,
}

impl Lab {
    pub fn up(tag: &str) -> Self {
        Self::up_with(tag, &[])
    }

    /// A lab built with more `lab up` options, e.g. `--overlay flannel`.
    pub fn up_with(tag: &str, options: &[&str]) -> Self {
        require_root();
        let lab = Lab {
            name: unique_name(tag),
        };
        let mut args = vec!["lab", "up", "--name", &lab.name];
        args.extend_from_slice(options);
        run_ok(&args);
        lab
    }

    /// The lab's topology, as its state file describes it.
    pub fn topology(&self) -> prism_lab::Topology {
        let config = prism_lab::state::load(&self.name)
            .expect("read the lab state")
            .expect("the lab is up");
        prism_lab::Topology::new(config)
    }

    pub fn status(&self) -> serde_json::Value {
        let text = run_ok(&["lab", "status", "--name", &self.name, "--json"]);
        serde_json::from_str(&text).expect("status --json is JSON")
    }

    /// The lab's namespaces.
    pub fn namespaces(&self) -> Vec<String> {
        self.topology().namespaces()
    }
}

/// A counter of `prism status --json`: packets by direction, reason and
/// class.
pub fn counter(status: &serde_json::Value, direction: &str, reason: &str, class: &str) -> u64 {
    status["counters"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["direction"] == direction && r["reason"] == reason && r["class"] == class)
        .map(|r| r["packets"].as_u64().unwrap())
        .sum()
}

/// Disables the datapath when dropped, also when a test fails.
pub struct Disable;

impl Drop for Disable {
    fn drop(&mut self) {
        let _ = run(&["disable"]);
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        let _ = run(&["lab", "down", "--name", &self.name]);
    }
}

/// A UDP prober from namespace `from` to an echo server in namespace
/// `server_ns` at `to`, for `duration` at `rate` exchanges per second.
pub fn probe_udp(
    from: &str,
    server_ns: &str,
    to: std::net::Ipv4Addr,
    duration: std::time::Duration,
    rate: u32,
) -> prism_lab::workload::prober::ProbeResult {
    use prism_lab::workload::{
        PROBE_PORT, Stop,
        prober::{self, ProberConfig, Proto},
        spawn_in,
    };
    let stop = Stop::new();
    let s = stop.clone();
    let echo = spawn_in(server_ns, None, "echo", move || {
        prober::serve(Proto::Udp, PROBE_PORT, s)
    })
    .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(200));
    let config = ProberConfig {
        rate,
        ..Default::default()
    };
    let target = std::net::SocketAddr::from((to, PROBE_PORT));
    let s = stop.clone();
    let result = spawn_in(from, None, "probe", move || {
        prober::probe(&config, target, duration, s)
    })
    .unwrap()
    .join()
    .unwrap();
    stop.stop();
    echo.join().unwrap();
    result
}

/// Namespaces under /run/netns whose name starts with `prefix`.
pub fn namespaces_named(prefix: &str) -> Vec<String> {
    prism_kernel::netns::list()
        .into_iter()
        .filter(|n| n.starts_with(prefix))
        .collect()
}

/// IDs of the BPF programs a process holds open, from /proc/PID/fdinfo.
pub fn bpf_program_ids(pid: u32) -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir(format!("/proc/{pid}/fdinfo")) else {
        return Vec::new();
    };
    let mut ids: Vec<u32> = entries
        .filter_map(Result::ok)
        .filter_map(|e| std::fs::read_to_string(e.path()).ok())
        .filter_map(|info| {
            info.lines()
                .find_map(|l| l.strip_prefix("prog_id:"))
                .and_then(|v| v.trim().parse().ok())
        })
        .collect();
    ids.sort_unstable();
    ids.dedup();
    ids
}

/// Whether any of `ids` is still a loaded BPF program, waiting up to 2 s
/// for the kernel to free them (it does so after an RCU grace period).
pub fn programs_outlive(ids: &[u32]) -> bool {
    for _ in 0..100 {
        let loaded: Vec<u32> = aya::programs::loaded_programs()
            .filter_map(Result::ok)
            .map(|p| p.id())
            .collect();
        if !ids.iter().any(|id| loaded.contains(id)) {
            return false;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    true
}
