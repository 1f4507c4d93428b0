//! The floor under the profilers' cost: an empty program on every
//! tracepoint they hook. What those cost is what running any program there
//! costs on this machine; Prism's own cost is the difference.

use anyhow::{Context, Result};
use aya::{Btf, Ebpf, programs::BtfTracePoint};
use prism_kernel::bpf::program;

use crate::collector::{HOOKS, ProgramStats, program_stats};

/// Empty programs, attached while this lives.
pub struct EmptyPrograms {
    ebpf: Ebpf,
}

impl EmptyPrograms {
    /// Attaches an empty program wherever the profilers' own would go; a
    /// tracepoint this kernel lacks is skipped, as the profilers skip it.
    pub fn attach() -> Result<Self> {
        let mut ebpf = prism_kernel::bpf::loader()
            .load(crate::object())
            .context("load the profiler object")?;
        let btf = Btf::from_sys_fs().context("the kernel's BTF")?;
        for (tracepoint, _, empty) in HOOKS {
            let p: &mut BtfTracePoint = program(&mut ebpf, empty)?;
            if p.load(tracepoint, &btf).is_ok() {
                p.attach()
                    .with_context(|| format!("attach {empty} to {tracepoint}"))?;
            }
        }
        Ok(Self { ebpf })
    }

    pub fn program_stats(&self) -> Vec<ProgramStats> {
        program_stats(&self.ebpf)
    }
}
