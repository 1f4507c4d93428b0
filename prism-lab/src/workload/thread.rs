//! Threads that run inside a network namespace, pinned to a CPU.

use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    thread::JoinHandle,
    time::Duration,
};

use anyhow::{Context, Result, anyhow};
use nix::{
    sched::{CpuSet, sched_setaffinity},
    unistd::Pid,
};
use prism_kernel::netns;

/// A shared "please stop" flag; workers poll it between blocking calls.
#[derive(Clone, Debug, Default)]
pub struct Stop(Arc<AtomicBool>);

impl Stop {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn stop(&self) {
        self.0.store(true, Ordering::Relaxed);
    }

    pub fn is_stopped(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }
}

/// How often blocking socket calls wake up to look at the stop flag.
pub const POLL: Duration = Duration::from_millis(100);

/// A running worker; `join` returns what its body returned.
pub struct Worker<T> {
    name: String,
    handle: JoinHandle<Result<T>>,
}

impl<T> Worker<T> {
    pub fn is_finished(&self) -> bool {
        self.handle.is_finished()
    }

    pub fn join(self) -> Result<T> {
        self.handle
            .join()
            .map_err(|_| anyhow!("worker {} panicked", self.name))?
            .with_context(|| format!("worker {}", self.name))
    }
}

/// Starts `body` on a new thread inside namespace `ns`, pinned to `cpu`.
pub fn spawn_in<T: Send + 'static>(
    ns: &str,
    cpu: Option<usize>,
    name: &str,
    body: impl FnOnce() -> Result<T> + Send + 'static,
) -> Result<Worker<T>> {
    let ns_file = netns::open(ns)?;
    let ns_name = ns.to_string();
    let handle = std::thread::Builder::new()
        .name(name.into())
        .spawn(move || {
            netns::enter(&ns_file).with_context(|| format!("enter {ns_name}"))?;
            if let Some(cpu) = cpu {
                pin_to(cpu)?;
            }
            body()
        })
        .with_context(|| format!("spawn worker {name}"))?;
    Ok(Worker {
        name: name.into(),
        handle,
    })
}

fn pin_to(cpu: usize) -> Result<()> {
    let mut set = CpuSet::new();
    set.set(cpu).with_context(|| format!("CPU {cpu}"))?;
    // Pid 0 is the calling thread.
    sched_setaffinity(Pid::from_raw(0), &set).with_context(|| format!("pin to CPU {cpu}"))
}
