//! prio mode: the high-priority ring is served first on a CPU it shares,
//! instead of getting a CPU of its own (nic mode). The underlay runs NAPI
//! in kernel threads (`threaded`), and the thread of the ring the steering
//! program sends high-priority packets to runs at a real-time priority, so
//! it preempts the bulk rings' threads and every normal task the moment a
//! high-priority packet arrives. RT throttling
//! (`kernel.sched_rt_runtime_us`) still bounds what it can take.

use std::path::Path;

use anyhow::{Context, Result, bail};
use prism_kernel::{napi, netns, sched, sysfs::with_netns_sysfs_at};
use serde::{Deserialize, Serialize};

/// SCHED_FIFO priority of the high ring's thread: that of threaded IRQ
/// handlers, so it runs ahead of every normal task but not of the IRQs.
pub const RT_PRIORITY: i32 = 50;

/// What prio mode changed on an underlay, to put back.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Saved {
    /// The device's `threaded` attribute before.
    pub threaded: String,
    /// The high ring's NAPI thread and its scheduling before.
    pub thread: Thread,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Thread {
    pub pid: i32,
    pub napi_id: u32,
    pub policy: i32,
    pub priority: i32,
}

/// Runs NAPI of `dev` (in the namespace at `path`) threaded and puts the
/// thread of receive queue `queue` at [`RT_PRIORITY`]. `before` is what an
/// earlier enable saved (kept, so a second enable does not save its own
/// settings as the originals).
pub fn serve_first(
    path: &Path,
    ns: &str,
    dev: &str,
    queue: u32,
    before: Option<&Saved>,
) -> Result<Saved> {
    let threaded = with_netns_sysfs_at(path, ns, |sys| {
        let file = sys.join(format!("class/net/{dev}/threaded"));
        Ok(std::fs::read_to_string(&file)
            .with_context(|| format!("read {}", file.display()))?
            .trim()
            .to_string())
    })?;
    if threaded != "1" {
        write_threaded(path, ns, dev, "1").with_context(|| {
            format!(
                "{dev} cannot run NAPI in threads (a veth runs NAPI only with GRO on: ethtool -K {dev} gro on), so prio mode has no thread to serve first"
            )
        })?;
    }
    let result = prioritize(path, ns, dev, queue, before);
    if result.is_err() && threaded != "1" {
        // Nothing half-done stays: the device's NAPI as it was.
        let _ = write_threaded(path, ns, dev, &threaded);
    }
    let thread = result?;
    let threaded = before.map_or(threaded, |b| b.threaded.clone());
    Ok(Saved { threaded, thread })
}

/// Finds the high ring's thread and gives it [`RT_PRIORITY`]; returns its
/// scheduling before (as saved by an earlier enable, if the same thread).
fn prioritize(
    path: &Path,
    ns: &str,
    dev: &str,
    queue: u32,
    before: Option<&Saved>,
) -> Result<Thread> {
    let ns_file = std::fs::File::open(path).with_context(|| format!("open namespace {ns}"))?;
    let dev_name = dev.to_string();
    let napi = netns::run_in_file(Some(&ns_file), ns, move || -> Result<napi::Napi> {
        let ifindex = nix::net::if_::if_nametoindex(dev_name.as_str())
            .with_context(|| format!("no device {dev_name}"))?;
        high_ring_napi(ifindex, queue)
    })??;
    let pid = napi.pid.with_context(|| {
        format!(
            "NAPI {} of {dev} has no thread although threaded is on",
            napi.id
        )
    })?;
    let (policy, priority) = sched::get(pid)?;
    let thread = match before {
        // The same thread as before keeps its saved scheduling.
        Some(b) if b.thread.pid == pid => b.thread,
        _ => Thread {
            pid,
            napi_id: napi.id,
            policy,
            priority,
        },
    };
    sched::set(pid, sched::FIFO, RT_PRIORITY)
        .with_context(|| format!("give NAPI thread {pid} of {dev} SCHED_FIFO {RT_PRIORITY}"))?;
    Ok(thread)
}

fn write_threaded(path: &Path, ns: &str, dev: &str, value: &str) -> Result<()> {
    with_netns_sysfs_at(path, ns, |sys| {
        let file = sys.join(format!("class/net/{dev}/threaded"));
        std::fs::write(&file, value).with_context(|| format!("write {value} to {}", file.display()))
    })
}

/// The NAPI of receive queue `queue`: as the kernel links them (Linux 6.8+),
/// else, on devices that do not link queues to NAPIs (veth), the queue-th
/// NAPI by id: drivers add one per queue, in queue order.
fn high_ring_napi(ifindex: u32, queue: u32) -> Result<napi::Napi> {
    if let Ok(n) = napi::rx_queue_napi(ifindex, queue) {
        return Ok(n);
    }
    let all = napi::napis(ifindex).context(
        "list the underlay's NAPI instances (netdev netlink, Linux 6.9 or later for their threads)",
    )?;
    match all.get(queue as usize) {
        Some(n) => Ok(*n),
        None => bail!(
            "the underlay has {} NAPI instance(s), none for receive queue {queue} (is GRO on? veth runs NAPI only then)",
            all.len()
        ),
    }
}

/// Puts back what [`serve_first`] changed (best effort: the device or the
/// thread may be gone).
pub fn put_back(path: &Path, ns: &str, dev: &str, saved: &Saved) {
    // A thread that stays (threaded was on before) gets its scheduling
    // back; one that goes with `threaded` goes with its priority.
    if saved.threaded == "1" && thread_is_napi(saved.thread) {
        let _ = sched::set(saved.thread.pid, saved.thread.policy, saved.thread.priority);
    }
    let _ = write_threaded(path, ns, dev, &saved.threaded);
}

/// The pid still names that NAPI's thread (pids are reused).
fn thread_is_napi(t: Thread) -> bool {
    std::fs::read_to_string(format!("/proc/{}/comm", t.pid)).is_ok_and(|c| {
        c.trim().starts_with("napi/") && c.trim().ends_with(&format!("-{}", t.napi_id))
    })
}
