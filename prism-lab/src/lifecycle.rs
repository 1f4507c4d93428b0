//! `lab up` and `lab down`: build the topology through rtnetlink, and tear
//! it down by deleting the lab's namespaces (their devices go with them).

use anyhow::{Context, Result, bail};
use prism_kernel::netns;

use crate::{LabConfig, Topology, build::build, connectivity, state};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UpOutcome {
    Created,
    /// It was up and healthy already; nothing changed.
    AlreadyUp,
    /// A half-built lab (an interrupted `up`) was removed and built again.
    Rebuilt,
}

/// Builds the lab, or confirms it is up. Idempotent; on failure nothing of
/// the lab is left behind.
pub fn up(config: &LabConfig) -> Result<UpOutcome> {
    config.validate()?;
    let topo = Topology::new(config.clone());
    let present: Vec<String> = topo
        .namespaces()
        .into_iter()
        .filter(|n| netns::exists(n))
        .collect();
    let outcome = match state::load(&config.name)? {
        Some(existing) if existing != *config => bail!(
            "lab {} is already up as a {} overlay with VNI {} and port {}{}{}; run `prism lab down --name {}` first to change it",
            config.name,
            existing.overlay,
            existing.vni,
            existing.udp_port(),
            if existing.router {
                " behind a router"
            } else {
                ""
            },
            if existing.queued_wire {
                ", a queued wire"
            } else {
                ", a plain wire"
            },
            config.name
        ),
        Some(_)
            if present.len() == topo.namespaces().len() && connectivity::check(&topo).is_ok() =>
        {
            return Ok(UpOutcome::AlreadyUp);
        }
        Some(_) => {
            remove_namespaces(&topo)?;
            UpOutcome::Rebuilt
        }
        None if !present.is_empty() => bail!(
            "network namespace {} exists but is not part of a Prism lab; pick another --name",
            present[0]
        ),
        None => UpOutcome::Created,
    };
    state::save(config)?;
    let built = build(&topo).and_then(|()| {
        connectivity::check(&topo)
            .context("the lab was built, but its containers cannot reach each other")
    });
    if let Err(e) = built {
        let _ = down(&config.name);
        return Err(e);
    }
    Ok(outcome)
}

/// Removes the lab. Returns false when there was no such lab.
pub fn down(name: &str) -> Result<bool> {
    let Some(config) = state::load(name)? else {
        return Ok(false);
    };
    remove_namespaces(&Topology::new(config))?;
    state::remove(name)?;
    Ok(true)
}

fn remove_namespaces(topo: &Topology) -> Result<()> {
    for ns in topo.namespaces() {
        netns::delete(&ns)?;
    }
    Ok(())
}
