//! Which packet hooks this kernel offers, found by attaching the smallest
//! TC and XDP programs to a veth in a scratch network namespace. Nothing
//! outside that namespace is touched, and it is deleted afterwards.

use anyhow::{Context, Result, anyhow};
use aya::{
    Ebpf,
    maps::PerCpuArray,
    programs::{
        LinkOrder, SchedClassifier, TcAttachType, Xdp, XdpMode,
        tc::{NlOptions, TcAttachOptions, qdisc_add_clsact},
    },
};
use prism_datapath_common::CapHook;
use prism_kernel::{bpf::program, netns, rtnl};
use rtnetlink::LinkVeth;
use serde::Serialize;

/// The veth pair the checks attach to, inside the scratch namespace.
const DEV: &str = "prism-chk0";
const PEER: &str = "prism-chk1";

/// Outcome of trying one hook.
#[derive(Clone, Debug, Serialize)]
pub struct HookCheck {
    /// `tc (tcx)`, `tc (clsact)`, `xdp (native)`, `xdp (generic)`.
    pub hook: &'static str,
    pub usable: bool,
    /// Empty when usable; otherwise the kernel's reason.
    pub reason: String,
}

impl HookCheck {
    fn from_result(hook: &'static str, r: Result<()>) -> Self {
        Self {
            hook,
            usable: r.is_ok(),
            reason: r.err().map(|e| format!("{e:#}")).unwrap_or_default(),
        }
    }
}

/// Tries TC (tcx and clsact) and XDP (native and generic) in a scratch
/// namespace, which is gone again when this returns; then loads the
/// datapath's own programs and attaches them there as `prism enable` does
/// (the last check, `datapath`).
pub fn check_hooks() -> Result<Vec<HookCheck>> {
    let ns = format!("prism-doctor-{}", std::process::id());
    netns::create(&ns)?;
    let checks = netns::run_in(Some(&ns), || -> Result<Vec<HookCheck>> {
        let mut checks = check_hooks_here()?;
        checks.push(HookCheck::from_result("datapath", check_datapath_here()));
        Ok(checks)
    });
    netns::delete(&ns).with_context(|| format!("delete scratch namespace {ns}"))?;
    checks?
}

/// The datapath's programs through the verifier, and each attached the way
/// `enable` attaches it (tcx, first in line, after asking for the programs
/// already there).
fn check_datapath_here() -> Result<()> {
    let mut obj = crate::object::DatapathObject::load(None)?;
    for (name, _) in crate::object::PROGRAMS {
        let hook = if name == crate::object::STEER_PROGRAM {
            TcAttachType::Egress
        } else {
            TcAttachType::Ingress
        };
        SchedClassifier::query_tcx(DEV, hook).with_context(|| {
            format!("query the tcx programs on {DEV}; the datapath needs tcx (Linux 6.6 or newer)")
        })?;
        let p = obj.program(name)?;
        let link = p
            .attach_with_options(DEV, hook, TcAttachOptions::TcxOrder(LinkOrder::first()))
            .with_context(|| format!("attach {name} (tcx)"))?;
        p.detach(link)?;
    }
    Ok(())
}

fn check_hooks_here() -> Result<Vec<HookCheck>> {
    rtnl::run(|nl| async move {
        nl.add(LinkVeth::new(DEV, PEER).build(), "scratch veth")
            .await?;
        for dev in [DEV, PEER] {
            nl.configure(dev, rtnl::LinkChange::up()).await?;
        }
        Ok(())
    })?;
    let mut ebpf = load_object()?;
    let tc: &mut SchedClassifier = program(&mut ebpf, "prism_cap_tc")?;
    tc.load()?;
    let tcx = HookCheck::from_result(
        "tc (tcx)",
        attach_tc(tc, TcAttachOptions::TcxOrder(LinkOrder::default())),
    );
    let clsact = HookCheck::from_result(
        "tc (clsact)",
        qdisc_add_clsact(DEV)
            .map_err(|e| anyhow!("add clsact qdisc: {e}"))
            .and_then(|()| attach_tc(tc, TcAttachOptions::Netlink(NlOptions::default()))),
    );
    let xdp: &mut Xdp = program(&mut ebpf, "prism_cap_xdp")?;
    xdp.load()?;
    let native = HookCheck::from_result("xdp (native)", attach_xdp(xdp, XdpMode::Driver));
    let generic = HookCheck::from_result("xdp (generic)", attach_xdp(xdp, XdpMode::Skb));
    Ok(vec![tcx, clsact, native, generic])
}

fn attach_tc(tc: &mut SchedClassifier, options: TcAttachOptions) -> Result<()> {
    let link = tc.attach_with_options(DEV, TcAttachType::Ingress, options)?;
    tc.detach(link)?;
    Ok(())
}

/// Native and generic XDP cannot share a device, so each check detaches.
fn attach_xdp(xdp: &mut Xdp, mode: XdpMode) -> Result<()> {
    let link = xdp.attach(DEV, mode)?;
    xdp.detach(link)?;
    Ok(())
}

/// Hits counted by the capability programs, summed over CPUs.
pub fn hits(ebpf: &Ebpf, hook: CapHook) -> Result<u64> {
    let map = ebpf.map("CAP_HITS").context("CAP_HITS map missing")?;
    let map: PerCpuArray<_, u64> = PerCpuArray::try_from(map)?;
    Ok(map.get(&(hook as u32), 0)?.iter().sum())
}

/// Loads the datapath object without attaching anything (for test runs).
pub fn load_object() -> Result<Ebpf> {
    prism_kernel::bpf::loader()
        .load(crate::object())
        .context("load the datapath object")
}
