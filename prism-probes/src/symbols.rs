//! Kernel addresses to function names, through blazesym and /proc/kallsyms.

use blazesym::symbolize::{
    Input, Symbolized, Symbolizer,
    source::{Kernel, Source},
};

/// Resolves kernel text addresses (drop locations) to `function+0xoff`.
pub struct KernelSymbols {
    symbolizer: Symbolizer,
    source: Source<'static>,
}

impl Default for KernelSymbols {
    fn default() -> Self {
        let kernel = Kernel {
            // kallsyms only: vmlinux images are rarely installed, and the
            // search for one costs more than it brings here.
            vmlinux: blazesym::MaybeDefault::None,
            ..Default::default()
        };
        Self {
            symbolizer: Symbolizer::new(),
            source: Source::Kernel(kernel),
        }
    }
}

impl KernelSymbols {
    /// Names for `addrs`, in order; the hex address where none is known.
    pub fn names(&self, addrs: &[u64]) -> Vec<String> {
        let hex = |a: &u64| format!("{a:#x}");
        let Ok(found) = self
            .symbolizer
            .symbolize(&self.source, Input::AbsAddr(addrs))
        else {
            return addrs.iter().map(hex).collect();
        };
        found
            .iter()
            .zip(addrs)
            .map(|(s, a)| match s {
                Symbolized::Sym(sym) => format!("{}+{:#x}", sym.name, sym.offset),
                Symbolized::Unknown(_) => hex(a),
            })
            .collect()
    }
}
