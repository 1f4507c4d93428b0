//! Which tracing attach types this kernel allows, found by loading and
//! attaching the smallest program of each type, and the probe mechanism
//! Prism picks from them.

use std::fmt;

use aya::{
    Btf,
    programs::{BtfTracePoint, FEntry, KProbe, RawTracePoint, TracePoint},
};
use prism_kernel::bpf::program;
use serde::Serialize;

/// The tracepoint every check attaches to: on the receive path, always built.
pub const CHECK_TRACEPOINT: (&str, &str) = ("net", "netif_receive_skb");
/// The kernel function fentry and kprobe checks attach to: exported, never inlined.
pub const CHECK_FUNCTION: &str = "consume_skb";

/// Outcome of trying one attach type.
#[derive(Clone, Debug, Serialize)]
pub struct AttachCheck {
    /// `tracepoint`, `raw_tp`, `tp_btf`, `fentry`, `kprobe`, ...
    pub attach_type: &'static str,
    /// Where the test program went, e.g. `net:netif_receive_skb`.
    pub target: String,
    pub usable: bool,
    /// Empty when usable; otherwise the kernel's reason, as reported.
    pub reason: String,
}

impl AttachCheck {
    pub fn from_result(attach_type: &'static str, target: String, r: anyhow::Result<()>) -> Self {
        let reason = match &r {
            Ok(()) => String::new(),
            Err(e) => explain(attach_type, &format!("{e:#}")),
        };
        Self {
            attach_type,
            target,
            usable: r.is_ok(),
            reason,
        }
    }
}

/// The kernel's words, plus what they usually mean.
fn explain(attach_type: &str, reason: &str) -> String {
    let hint = match attach_type {
        "kprobe" if reason.contains("kprobe/type") || reason.contains("kprobe_events") => {
            "no kprobe PMU or kprobe_events: the kernel is built without kprobes"
        }
        "fentry" | "fexit" if reason.contains("Operation not permitted") => {
            "EPERM at load: this kernel does not allow BPF trampolines here"
        }
        _ if reason.contains("tracefs not found") => "tracefs is not mounted",
        _ => return reason.to_string(),
    };
    format!("{hint} ({reason})")
}

/// How the profilers read the kernel, best first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Mechanism {
    /// BTF-typed tracepoints: arguments as typed pointers, no record copy.
    TpBtf,
    /// Raw tracepoints: the same arguments, untyped; needs no BTF for attach.
    RawTp,
    /// Classic tracepoints: a record copied per hit, layout from tracefs.
    Tracepoint,
}

impl Mechanism {
    pub const PREFERENCE: [Mechanism; 3] = [Self::TpBtf, Self::RawTp, Self::Tracepoint];

    pub fn attach_type(self) -> &'static str {
        match self {
            Self::TpBtf => "tp_btf",
            Self::RawTp => "raw_tp",
            Self::Tracepoint => "tracepoint",
        }
    }

    /// The best mechanism among the usable attach types.
    pub fn choose(checks: &[AttachCheck]) -> Option<Self> {
        Self::PREFERENCE.into_iter().find(|m| {
            checks
                .iter()
                .any(|c| c.usable && c.attach_type == m.attach_type())
        })
    }
}

impl fmt::Display for Mechanism {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.attach_type())
    }
}

/// Tries tracepoint, raw_tp, tp_btf, fentry and kprobe in turn. Every
/// program is detached and unloaded again before this returns.
pub fn check_tracing() -> Vec<AttachCheck> {
    let (sys, event) = CHECK_TRACEPOINT;
    let btf = Btf::from_sys_fs();
    let mut ebpf = match prism_kernel::bpf::loader().load(crate::object()) {
        Ok(ebpf) => ebpf,
        Err(e) => {
            let reason = format!("cannot load Prism's probe object: {e}");
            return ["tracepoint", "raw_tp", "tp_btf", "fentry", "kprobe"]
                .into_iter()
                .map(|t| {
                    AttachCheck::from_result(t, String::new(), Err(anyhow::anyhow!("{reason}")))
                })
                .collect();
        }
    };
    let need_btf = || -> anyhow::Result<&Btf> {
        btf.as_ref()
            .map_err(|e| anyhow::anyhow!("no kernel BTF: {e}"))
    };
    let mut checks = Vec::new();
    let mut check = |attach_type, target: String, f: &mut dyn FnMut() -> anyhow::Result<()>| {
        checks.push(AttachCheck::from_result(attach_type, target, f()));
    };

    check("tracepoint", format!("{sys}:{event}"), &mut || {
        let p: &mut TracePoint = program(&mut ebpf, "prism_cap_tracepoint")?;
        p.load()?;
        p.attach(sys, event)?;
        Ok(())
    });
    check("raw_tp", event.into(), &mut || {
        let p: &mut RawTracePoint = program(&mut ebpf, "prism_cap_raw_tp")?;
        p.load()?;
        p.attach(event)?;
        Ok(())
    });
    check("tp_btf", event.into(), &mut || {
        let btf = need_btf()?;
        let p: &mut BtfTracePoint = program(&mut ebpf, "prism_cap_tp_btf")?;
        p.load(event, btf)?;
        p.attach()?;
        Ok(())
    });
    check("fentry", CHECK_FUNCTION.into(), &mut || {
        let btf = need_btf()?;
        let p: &mut FEntry = program(&mut ebpf, "prism_cap_fentry")?;
        p.load(CHECK_FUNCTION, btf)?;
        p.attach()?;
        Ok(())
    });
    check("kprobe", CHECK_FUNCTION.into(), &mut || {
        let p: &mut KProbe = program(&mut ebpf, "prism_cap_kprobe")?;
        p.load()?;
        p.attach(CHECK_FUNCTION, 0)?;
        Ok(())
    });
    checks
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(t: &'static str, usable: bool) -> AttachCheck {
        AttachCheck {
            attach_type: t,
            target: String::new(),
            usable,
            reason: String::new(),
        }
    }

    #[test]
    fn prefers_tp_btf_then_raw_tp_then_tracepoint() {
        let all = [
            check("tracepoint", true),
            check("raw_tp", true),
            check("tp_btf", true),
        ];
        assert_eq!(Mechanism::choose(&all), Some(Mechanism::TpBtf));
        let no_btf = [
            check("tracepoint", true),
            check("raw_tp", true),
            check("tp_btf", false),
        ];
        assert_eq!(Mechanism::choose(&no_btf), Some(Mechanism::RawTp));
        let classic = [check("tracepoint", true), check("fentry", true)];
        assert_eq!(Mechanism::choose(&classic), Some(Mechanism::Tracepoint));
        assert_eq!(Mechanism::choose(&[check("kprobe", true)]), None);
    }
}

/// Whether `prism stat`, `record` and `top` work here: every profiler
/// program loaded and attached as they do it, then detached again.
#[derive(Clone, Debug, Serialize)]
pub struct ProfilersCheck {
    pub works: bool,
    /// The mechanism and how many programs attached, or the reason.
    pub detail: String,
    /// How the programs read the kernel, when they attached.
    pub mechanism: Option<Mechanism>,
    /// Boundaries taken elsewhere than at their tracepoint.
    pub fallbacks: Vec<&'static str>,
}

pub fn check_profilers() -> ProfilersCheck {
    match crate::collector::Collector::attach(crate::collector::CollectorConfig::default()) {
        Ok(c) => ProfilersCheck {
            works: true,
            detail: {
                let mut d = format!(
                    "{} programs attached with {}",
                    c.program_stats().len(),
                    c.mechanism()
                );
                for f in c.fallbacks() {
                    d.push_str(&format!("; {f}"));
                }
                d
            },
            mechanism: Some(c.mechanism()),
            fallbacks: c.fallbacks().to_vec(),
        },
        Err(e) => ProfilersCheck {
            works: false,
            detail: format!("{e:#}"),
            mechanism: None,
            fallbacks: Vec::new(),
        },
    }
}
