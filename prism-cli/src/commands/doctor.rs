//! `prism doctor`: what this host can do, found by trying.

use std::{collections::BTreeMap, process::ExitCode};

use anyhow::Result;
use prism_datapath::capabilities::{HookCheck, check_hooks, helper_fallbacks, helpers};
use prism_kernel::{
    btf::{KernelBtf, VMLINUX_BTF},
    caps::{CapSet, Capability, require},
    mounts::{self, MountState, PseudoFs},
    version::KernelVersion,
};
use prism_probes::{
    capabilities::{AttachCheck, Mechanism, check_profilers, check_tracing},
    offsets::kernel_offsets,
};
use serde::Serialize;

use super::print_json;
use crate::table::Table;

#[derive(Serialize)]
struct Report {
    kernel: KernelVersion,
    btf: Item,
    bpffs: Item,
    tracefs: Item,
    privileges: Privileges,
    attach: Vec<AttachCheck>,
    hooks: Vec<HookCheck>,
    /// How the profilers will read the kernel; null if they cannot run.
    probe_mechanism: Option<Mechanism>,
    /// Boundaries the profilers take elsewhere than at their tracepoint.
    probe_fallbacks: Vec<&'static str>,
    /// The hook the datapath will use; null if it cannot run.
    datapath_hook: Option<String>,
    /// What the datapath does differently with this kernel's helpers.
    datapath_fallbacks: Vec<&'static str>,
    /// What was learned by loading and attaching Prism's real programs.
    functions: Vec<Function>,
}

/// A main function of Prism, tried with the programs it loads.
#[derive(Serialize)]
struct Function {
    /// The commands that need it.
    commands: &'static str,
    works: bool,
    /// The mechanism used, or why it cannot work.
    detail: String,
}

#[derive(Serialize)]
struct Item {
    ok: bool,
    detail: String,
}

#[derive(Serialize)]
struct Privileges {
    root: bool,
    /// CAP_BPF, CAP_NET_ADMIN, CAP_PERFMON, CAP_SYS_ADMIN: effective or not.
    capabilities: BTreeMap<&'static str, bool>,
}

pub fn run(json: bool) -> Result<ExitCode> {
    let caps = CapSet::current();
    require(
        caps.can_trace() && caps.can_manage_network(),
        "prism doctor",
        "CAP_BPF, CAP_PERFMON and CAP_NET_ADMIN (it loads test programs)",
    )?;
    let report = gather(caps);
    if json {
        print_json(&report)?;
    } else {
        print_text(&report);
    }
    Ok(if report.functions.iter().all(|f| f.works) {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn gather(caps: CapSet) -> Report {
    // Mount first: the classic tracepoint check needs tracefs.
    let bpffs = mount(PseudoFs::Bpf);
    let tracefs = mount(PseudoFs::Trace);
    let btf = match KernelBtf::from_sys()
        .map_err(anyhow::Error::from)
        .and_then(|b| kernel_offsets(&b))
    {
        Ok(o) => Item {
            ok: true,
            detail: format!(
                "{VMLINUX_BTF}: sk_buff.dev at {}, net_device.ifindex at {}",
                o.skb_dev, o.netdev_ifindex
            ),
        },
        Err(e) => Item {
            ok: false,
            detail: format!("{e:#}"),
        },
    };
    let attach = check_tracing();
    let hooks = check_hooks().unwrap_or_else(|e| {
        ["tc (tcx)", "tc (clsact)", "xdp (native)", "xdp (generic)"]
            .into_iter()
            .map(|hook| HookCheck {
                hook,
                usable: false,
                reason: format!("scratch namespace: {e:#}"),
            })
            .collect()
    });
    // The real programs, loaded and attached as the commands do it: a stand-in
    // that loads says nothing of what the verifier makes of Prism's own.
    let profilers = check_profilers();
    let datapath = hooks.iter().find(|h| h.hook == "datapath");
    let tc = prism_datapath::attach::Mechanism::detect().map(|m| m.name());
    let functions = vec![
        Function {
            commands: "stat, record and top",
            works: profilers.works,
            detail: profilers.detail.clone(),
        },
        Function {
            commands: "enable",
            works: datapath.is_some_and(|d| d.usable),
            detail: match datapath {
                Some(d) if d.usable => format!(
                    "every datapath program verified and attached with {}",
                    tc.as_ref().unwrap_or(&"?")
                ),
                Some(d) => d.reason.clone(),
                None => "the scratch namespace for the check could not be made".into(),
            },
        },
    ];
    let datapath_hook = match (datapath.is_some_and(|d| d.usable), tc) {
        (true, Ok(m)) => Some(format!("tc ({m})")),
        _ => None,
    };
    Report {
        kernel: KernelVersion::current(),
        btf,
        bpffs,
        tracefs,
        privileges: Privileges {
            root: nix::unistd::geteuid().is_root(),
            capabilities: Capability::ALL
                .iter()
                .map(|&c| (c.name(), caps.has(c)))
                .collect(),
        },
        probe_mechanism: profilers.mechanism,
        probe_fallbacks: profilers.fallbacks.clone(),
        attach,
        hooks: hooks.into_iter().filter(|h| h.hook != "datapath").collect(),
        datapath_hook,
        datapath_fallbacks: helpers().map(|h| helper_fallbacks(&h)).unwrap_or_default(),
        functions,
    }
}

fn mount(fs: PseudoFs) -> Item {
    match mounts::ensure(fs) {
        Ok(MountState::Present) => Item {
            ok: true,
            detail: format!("{}: mounted", fs.path()),
        },
        Ok(MountState::Mounted) => Item {
            ok: true,
            detail: format!("{}: was not mounted; Prism mounted it", fs.path()),
        },
        Err(e) => Item {
            ok: false,
            detail: format!("{e:#}"),
        },
    }
}

fn yes_no(ok: bool) -> String {
    (if ok { "yes" } else { "no" }).into()
}

fn print_text(r: &Report) {
    let mut host = Table::new(&["HOST", "OK", "DETAIL"]);
    host.row(vec![
        "kernel".into(),
        yes_no(true),
        r.kernel.release.clone(),
    ]);
    for (name, item) in [
        ("btf", &r.btf),
        ("bpffs", &r.bpffs),
        ("tracefs", &r.tracefs),
    ] {
        host.row(vec![name.into(), yes_no(item.ok), item.detail.clone()]);
    }
    let caps: Vec<String> = r
        .privileges
        .capabilities
        .iter()
        .map(|(c, has)| format!("{c} {}", yes_no(*has)))
        .collect();
    let who = if r.privileges.root {
        "root"
    } else {
        "not root"
    };
    host.row(vec![
        "privileges".into(),
        yes_no(true),
        format!("{who}; {}", caps.join(", ")),
    ]);
    println!("{host}");

    let mut attach = Table::new(&["ATTACH TYPE", "TARGET", "USABLE", "REASON"]);
    for c in &r.attach {
        attach.row(vec![
            c.attach_type.into(),
            c.target.clone(),
            yes_no(c.usable),
            c.reason.clone(),
        ]);
    }
    for h in &r.hooks {
        attach.row(vec![
            h.hook.into(),
            "scratch veth".into(),
            yes_no(h.usable),
            h.reason.clone(),
        ]);
    }
    println!("{attach}");

    match r.probe_mechanism {
        Some(m) => println!("Profilers will use: {m} ({})", describe(m)),
        None => println!("Profilers: Prism's programs do not load or attach here"),
    }
    for f in &r.probe_fallbacks {
        println!("  fallback: {f}");
    }
    match &r.datapath_hook {
        Some(h) => println!("Datapath will attach with: {h}"),
        None => println!("Datapath: Prism's programs do not load or attach here"),
    }
    for f in &r.datapath_fallbacks {
        println!("  fallback: {f}");
    }
    println!("Tried with Prism's own programs:");
    for f in &r.functions {
        let verdict = if f.works { "works" } else { "CANNOT WORK" };
        println!("  prism {}: {verdict} ({})", f.commands, f.detail);
    }
    let unusable: Vec<&str> = r
        .attach
        .iter()
        .filter(|c| !c.usable && matches!(c.attach_type, "fentry" | "kprobe"))
        .map(|c| c.attach_type)
        .collect();
    if !unusable.is_empty() {
        println!(
            "Unusable here, and Prism does without them: {}",
            unusable.join(", ")
        );
    }
}

fn describe(m: Mechanism) -> &'static str {
    match m {
        Mechanism::TpBtf => "BTF-typed tracepoints, kernel structs read at BTF offsets",
        Mechanism::RawTp => "raw tracepoints, kernel structs read at BTF offsets",
        Mechanism::Tracepoint => "classic tracepoints, records laid out as tracefs describes",
    }
}
