//! Kernel addresses to function names, through blazesym and /proc/kallsyms.

use std::{cell::RefCell, collections::HashMap};

use blazesym::symbolize::{
    Input, Symbolized, Symbolizer,
    source::{Kernel, Source},
};

/// Resolves kernel text addresses (drop locations) to `function+0xoff`.
pub struct KernelSymbols {
    symbolizer: Symbolizer,
    source: Source<'static>,
    /// Names found so far: the same few drop sites come back every
    /// interval, and a lookup reads kallsyms.
    known: RefCell<HashMap<u64, String>>,
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
            known: RefCell::default(),
        }
    }
}

impl KernelSymbols {
    /// Names for `addrs`, in order; the hex address where none is known.
    pub fn names(&self, addrs: &[u64]) -> Vec<String> {
        let mut known = self.known.borrow_mut();
        let missing: Vec<u64> = addrs
            .iter()
            .filter(|a| !known.contains_key(a))
            .copied()
            .collect();
        if !missing.is_empty() {
            for (a, name) in missing.iter().zip(self.lookup(&missing)) {
                known.insert(*a, name);
            }
        }
        addrs.iter().map(|a| known[a].clone()).collect()
    }

    fn lookup(&self, addrs: &[u64]) -> Vec<String> {
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
