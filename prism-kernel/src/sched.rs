//! A thread's scheduling policy and real-time priority
//! (`sched_getscheduler`, `sched_setscheduler`).

use anyhow::{Context, Result};

pub const FIFO: i32 = libc::SCHED_FIFO;

/// The policy and priority of thread `pid`.
pub fn get(pid: i32) -> Result<(i32, i32)> {
    // SAFETY: plain syscalls on a pid; `param` is a live out-parameter.
    unsafe {
        let policy = libc::sched_getscheduler(pid);
        let mut param = libc::sched_param { sched_priority: 0 };
        if policy < 0 || libc::sched_getparam(pid, &mut param) < 0 {
            return Err(std::io::Error::last_os_error())
                .with_context(|| format!("read the scheduling of thread {pid}"));
        }
        Ok((policy, param.sched_priority))
    }
}

/// Gives thread `pid` a policy and priority.
pub fn set(pid: i32, policy: i32, priority: i32) -> Result<()> {
    let param = libc::sched_param {
        sched_priority: priority,
    };
    // SAFETY: plain syscall; `param` lives across it.
    if unsafe { libc::sched_setscheduler(pid, policy, &param) } < 0 {
        return Err(std::io::Error::last_os_error())
            .with_context(|| format!("set the scheduling of thread {pid}"));
    }
    Ok(())
}
