//! Which packet hooks this kernel offers, found by attaching the smallest
//! TC and XDP programs to a veth in a scratch network namespace. Nothing
//! outside that namespace is touched, and it is deleted afterwards.

use anyhow::{Context, Result, anyhow, bail};
use aya::{
    Ebpf, TestRun,
    maps::{Array, PerCpuArray},
    programs::{
        LinkOrder, SchedClassifier, TcAttachType, TestRunOptions, Xdp, XdpMode,
        tc::{NlOptions, TcAttachOptions, qdisc_add_clsact},
    },
};
use prism_datapath_common::{CAP_ADJUST_DELTA, CAP_ADJUST_FLAGS, CapHook, Helpers};

use crate::attach::{Mechanism, Role, try_attach};
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
/// `enable` attaches it, with the mechanism it would choose.
fn check_datapath_here() -> Result<()> {
    let mechanism = Mechanism::detect()?;
    let mut obj = crate::object::DatapathObject::load(None)?;
    for (name, _) in crate::object::PROGRAMS {
        let hook = if name == crate::object::STEER_PROGRAM {
            Role::Steer.hook()
        } else {
            Role::Rx.hook()
        };
        try_attach(mechanism, obj.program(name)?, DEV, hook)
            .with_context(|| format!("{name} on {DEV}"))?;
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

/// `bpf_skb_adjust_room` flags (uapi `BPF_F_ADJ_ROOM_*`).
mod adj {
    pub const ENCAP_L3_IPV4: u64 = 1 << 1;
    pub const ENCAP_L4_UDP: u64 = 1 << 4;
    pub const ENCAP_L2_ETH: u64 = 1 << 6;
    pub const DECAP_L3_IPV4: u64 = 1 << 7;
    pub const fn encap_l2(len: u64) -> u64 {
        (len & 0xff) << 56
    }
}

/// Outer Ethernet + IPv4 + UDP + VXLAN + inner Ethernet: what the
/// receive program removes, and the transmit program adds.
const VXLAN_OVERHEAD: usize = 50;

/// What this kernel's `bpf_skb_adjust_room` accepts, found once per
/// process by running `prism_cap_adjust` on crafted frames.
pub fn helpers() -> Result<Helpers> {
    static FOUND: std::sync::OnceLock<Helpers> = std::sync::OnceLock::new();
    if let Some(h) = FOUND.get() {
        return Ok(*h);
    }
    let found = probe_helpers().context("probe bpf_skb_adjust_room's flags")?;
    Ok(*FOUND.get_or_init(|| found))
}

/// `PRISM_DATAPATH_HELPERS=basic` makes the datapath use only what every
/// supported kernel has (to test the fallbacks on a newer one).
pub const HELPERS_ENV: &str = "PRISM_DATAPATH_HELPERS";

fn probe_helpers() -> Result<Helpers> {
    let basic = match std::env::var(HELPERS_ENV).as_deref() {
        Ok("basic") => true,
        Ok(other) => bail!("{HELPERS_ENV}={other}: expected basic"),
        Err(_) => false,
    };
    let mut ebpf = load_object()?;
    let mut settings: Array<_, u64> = Array::try_from(
        ebpf.take_map("CAP_ADJUST")
            .context("CAP_ADJUST map missing")?,
    )?;
    let p: &mut SchedClassifier = program(&mut ebpf, "prism_cap_adjust")?;
    p.load().context("load prism_cap_adjust")?;
    let mut accepts = |frame: &[u8], delta: i32, flags: u64| -> Result<bool> {
        settings.set(CAP_ADJUST_FLAGS, flags, 0)?;
        settings.set(CAP_ADJUST_DELTA, delta as i64 as u64, 0)?;
        let mut out = vec![0u8; frame.len() + 2 * VXLAN_OVERHEAD];
        let run = p.test_run(TestRunOptions {
            data_in: Some(frame),
            data_out: Some(&mut out),
            ..Default::default()
        })?;
        Ok(run.return_value == 0)
    };
    let inner = udp_frame(&[0x42; 16]);
    let mut vxlan = udp_frame(&[0; 8 + 14]);
    vxlan.truncate(14 + 20 + 8 + 8);
    vxlan.extend_from_slice(&inner);
    let encap = adj::ENCAP_L3_IPV4 | adj::ENCAP_L4_UDP | adj::encap_l2(14);
    let shrink = -(VXLAN_OVERHEAD as i32);
    if !accepts(&vxlan, shrink, 0)? || !accepts(&inner, VXLAN_OVERHEAD as i32, encap)? {
        bail!("bpf_skb_adjust_room cannot decapsulate or encapsulate VXLAN here");
    }
    if basic {
        return Ok(Helpers::default());
    }
    Ok(Helpers {
        decap_l3: accepts(&vxlan, shrink, adj::DECAP_L3_IPV4)? as u8,
        encap_l2_eth: accepts(&inner, VXLAN_OVERHEAD as i32, encap | adj::ENCAP_L2_ETH)? as u8,
        _pad: [0; 6],
    })
}

/// An Ethernet + IPv4 + UDP frame around `payload` (lengths right,
/// checksums not: the helper does not look at them).
fn udp_frame(payload: &[u8]) -> Vec<u8> {
    let mut f = vec![0u8; 12];
    f.extend_from_slice(&[0x08, 0x00]);
    let total = (20 + 8 + payload.len()) as u16;
    f.extend_from_slice(&[
        0x45,
        0,
        (total >> 8) as u8,
        total as u8,
        0,
        0,
        0x40,
        0,
        64,
        17,
        0,
        0,
    ]);
    f.extend_from_slice(&[10, 0, 0, 1, 10, 0, 0, 2]);
    let udp_len = (8 + payload.len()) as u16;
    f.extend_from_slice(&[0x9c, 0x40, 0x12, 0xb5]);
    f.extend_from_slice(&[(udp_len >> 8) as u8, udp_len as u8, 0, 0]);
    f.extend_from_slice(payload);
    f
}

/// What the datapath does differently with these helpers, in words.
pub fn helper_fallbacks(h: &Helpers) -> Vec<&'static str> {
    let mut out = Vec::new();
    if h.decap_l3 == 0 {
        out.push(
            "receive decap without BPF_F_ADJ_ROOM_DECAP_L3 (6.3): inner IPv6 and GSO packets keep the normal path",
        );
    }
    if h.encap_l2_eth == 0 {
        out.push(
            "transmit encap without BPF_F_ADJ_ROOM_ENCAP_L2_ETH (5.12): inner checksums in software",
        );
    }
    out
}
