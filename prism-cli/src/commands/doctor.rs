//! `prism doctor`: what this host can do, found by trying.

use std::{collections::BTreeMap, process::ExitCode};

use anyhow::Result;
use prism_datapath::capabilities::{HookCheck, check_hooks};
use prism_kernel::{
    btf::{KernelBtf, VMLINUX_BTF},
    caps::{CapSet, Capability, require},
    mounts::{self, MountState, PseudoFs},
    version::KernelVersion,
};
use prism_probes::{
    capabilities::{AttachCheck, Mechanism, check_tracing},
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
    /// How the profilers will read the kernel; null if no way works.
    probe_mechanism: Option<Mechanism>,
    /// The hook the datapath will use; null if none works.
    datapath_hook: Option<&'static str>,
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
    Ok(
        if report.probe_mechanism.is_some() && report.datapath_hook.is_some() {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        },
    )
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
    let datapath_hook = hooks
        .iter()
        .find(|h| h.usable && h.hook.starts_with("tc"))
        .map(|h| h.hook);
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
        // The profilers read kernel structs through BTF-typed pointers: tp_btf.
        probe_mechanism: attach
            .iter()
            .any(|c| c.usable && c.attach_type == Mechanism::TpBtf.attach_type())
            .then_some(Mechanism::TpBtf),
        attach,
        hooks,
        datapath_hook,
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
        None => println!(
            "Profilers: they need tp_btf, which does not load here; `prism stat` cannot run"
        ),
    }
    match r.datapath_hook {
        Some(h) => println!("Datapath will attach with: {h}"),
        None => println!("Datapath: no usable TC hook; `prism enable` cannot run here"),
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
