//! Traffic control over rtnetlink: the clsact qdisc and the filters on its
//! two hooks, as `tc qdisc show` and `tc filter show` list them.
//!
//! Attaching and detaching BPF filters is aya's job; this module only
//! answers what is there, and removes a clsact qdisc that is left empty.

use anyhow::{Context, Result};
use futures::TryStreamExt;
use rtnetlink::packet_route::tc::{TcAttribute, TcFilterBpfOption, TcHandle, TcMessage, TcOption};

use crate::rtnl::{Rtnl, is_not_found};

/// A clsact hook.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Hook {
    Ingress,
    Egress,
}

/// One filter on a clsact hook.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Filter {
    /// Lower runs first.
    pub priority: u16,
    pub handle: u32,
    /// `bpf`, `u32`, `flower`, ...
    pub kind: String,
    /// For BPF filters: the program's name and id.
    pub bpf_name: Option<String>,
    pub bpf_id: Option<u32>,
}

/// The clsact qdisc's handle, `ffff:`.
const CLSACT_HANDLE: TcHandle = TcHandle {
    major: 0xffff,
    minor: 0,
};

impl Rtnl {
    /// Makes `kind` (a qdisc without options, such as `mq`) the device's
    /// root qdisc, replacing what is there (`tc qdisc replace dev DEV root
    /// handle 1: KIND`).
    pub async fn replace_root_qdisc(&self, ifindex: u32, kind: &str) -> Result<()> {
        use futures::StreamExt;
        use rtnetlink::packet_core::{
            NLM_F_ACK, NLM_F_CREATE, NLM_F_REPLACE, NLM_F_REQUEST, NetlinkMessage,
        };
        use rtnetlink::packet_route::RouteNetlinkMessage;
        let mut message = TcMessage::with_index(ifindex as i32);
        message.header.parent = TcHandle::ROOT;
        message.header.handle = TcHandle { major: 1, minor: 0 };
        message.attributes.push(TcAttribute::Kind(kind.to_string()));
        let mut request = NetlinkMessage::from(RouteNetlinkMessage::NewQueueDiscipline(message));
        request.header.flags = NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_REPLACE;
        let mut replies = self
            .handle()
            .clone()
            .request(request)
            .with_context(|| format!("ask for a {kind} root qdisc"))?;
        while let Some(reply) = replies.next().await {
            if let rtnetlink::packet_core::NetlinkPayload::Error(e) = reply.payload
                && e.code.is_some()
            {
                return Err(anyhow::anyhow!("{}", e.to_io()))
                    .with_context(|| format!("make {kind} the root qdisc of ifindex {ifindex}"));
            }
        }
        Ok(())
    }

    /// Whether the device has a clsact qdisc.
    pub async fn has_clsact(&self, ifindex: u32) -> Result<bool> {
        let qdiscs: Vec<TcMessage> = self
            .handle()
            .qdisc()
            .get()
            .index(ifindex as i32)
            .execute()
            .try_collect()
            .await
            .context("list qdiscs")?;
        Ok(qdiscs.iter().any(|q| {
            q.header.index == ifindex as i32
                && q.header.parent == TcHandle::CLSACT
                && q.attributes
                    .iter()
                    .any(|a| matches!(a, TcAttribute::Kind(k) if k == "clsact"))
        }))
    }

    /// The filters on one clsact hook of the device (none without clsact).
    pub async fn filters(&self, ifindex: u32, hook: Hook) -> Result<Vec<Filter>> {
        let request = self.handle().traffic_filter(ifindex as i32).get();
        let request = match hook {
            Hook::Ingress => request.ingress(),
            Hook::Egress => request.egress(),
        };
        let messages: Vec<TcMessage> = match request.execute().try_collect().await {
            Ok(m) => m,
            // No clsact qdisc: no hook, no filters.
            Err(e) if is_not_found(&e) || is_invalid(&e) => return Ok(Vec::new()),
            Err(e) => return Err(e).context("list tc filters"),
        };
        Ok(messages
            .iter()
            .map(filter_of)
            // The dump's first message per priority is the classifier itself
            // (handle 0); filters carry a handle.
            .filter(|f| f.handle != 0)
            .collect())
    }

    /// Deletes the device's clsact qdisc, with whatever filters it holds.
    pub async fn delete_clsact(&self, ifindex: u32) -> Result<()> {
        let mut request = self.handle().qdisc().del(ifindex as i32);
        request.message_mut().header.parent = TcHandle::CLSACT;
        request.message_mut().header.handle = CLSACT_HANDLE;
        match request.execute().await {
            Err(e) if !is_not_found(&e) && !is_invalid(&e) => {
                Err(e).context("delete the clsact qdisc")
            }
            _ => Ok(()),
        }
    }
}

fn filter_of(m: &TcMessage) -> Filter {
    let mut filter = Filter {
        priority: (m.header.info >> 16) as u16,
        handle: u32::from(m.header.handle.major) << 16 | u32::from(m.header.handle.minor),
        kind: String::new(),
        bpf_name: None,
        bpf_id: None,
    };
    for attr in &m.attributes {
        match attr {
            TcAttribute::Kind(k) => filter.kind = k.clone(),
            TcAttribute::Options(options) => {
                for o in options {
                    match o {
                        TcOption::Bpf(TcFilterBpfOption::ProgName(n)) => {
                            filter.bpf_name = Some(n.clone());
                        }
                        TcOption::Bpf(TcFilterBpfOption::ProgId(id)) => filter.bpf_id = Some(*id),
                        _ => {}
                    }
                }
            }
            _ => {}
        }
    }
    filter
}

/// EINVAL: what the kernel answers for a hook whose qdisc is missing.
fn is_invalid(err: &rtnetlink::Error) -> bool {
    matches!(err, rtnetlink::Error::NetlinkError(m)
        if m.code.is_some_and(|c| c.get() == -libc::EINVAL))
}
