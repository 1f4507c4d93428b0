//! Small conveniences over aya shared by every eBPF component.

use anyhow::{Result, anyhow};
use aya::{
    Ebpf, EbpfLoader,
    programs::{Program, ProgramError},
};

/// The loader every Prism object is loaded with. Kernels before 5.11 charge
/// BPF maps to RLIMIT_MEMLOCK (64 KiB by default on some), so the limit is
/// lifted first; later kernels account maps to the memory cgroup and
/// ignore it.
pub fn loader() -> EbpfLoader<'static> {
    raise_memlock_limit();
    EbpfLoader::new()
}

/// Lifts RLIMIT_MEMLOCK as far as this process may (best effort: without
/// CAP_SYS_RESOURCE only up to the hard limit).
fn raise_memlock_limit() {
    let mut limit = libc::rlimit {
        rlim_cur: libc::RLIM_INFINITY,
        rlim_max: libc::RLIM_INFINITY,
    };
    // SAFETY: setrlimit/getrlimit with a valid struct.
    unsafe {
        if libc::setrlimit(libc::RLIMIT_MEMLOCK, &limit) != 0
            && libc::getrlimit(libc::RLIMIT_MEMLOCK, &mut limit) == 0
        {
            limit.rlim_cur = limit.rlim_max;
            libc::setrlimit(libc::RLIMIT_MEMLOCK, &limit);
        }
    }
}

/// A program of a loaded object by name, as its concrete type.
pub fn program<'a, T>(ebpf: &'a mut Ebpf, name: &str) -> Result<&'a mut T>
where
    &'a mut T: TryFrom<&'a mut Program, Error = ProgramError>,
{
    let p = ebpf
        .program_mut(name)
        .ok_or_else(|| anyhow!("program {name} is missing from the eBPF object"))?;
    Ok(p.try_into()?)
}

/// Turns on the kernel's per-program run-time statistics (BPF_ENABLE_STATS)
/// for as long as the returned descriptor is open; they cost a little on
/// every program run, so keep it only while measuring.
pub fn enable_run_time_stats() -> Result<std::os::fd::OwnedFd> {
    Ok(aya::sys::enable_stats(aya::sys::Stats::RunTime)?)
}

/// Where Prism pins what outlives a command (see `prism_datapath::pins`).
pub const PIN_ROOT: &str = "/sys/fs/bpf/prism";

/// The pinned rule maps (`RULES`, `RULE_COUNT`) that the datapath creates
/// and the profilers share, so that both always agree on "high".
pub fn rules_pin_dir() -> std::path::PathBuf {
    std::path::Path::new(PIN_ROOT).join("rules")
}
