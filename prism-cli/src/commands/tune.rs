//! `prism tune`: the receive path's kernel knobs.

use std::process::ExitCode;

use anyhow::Result;
use prism_kernel::caps::{CapSet, require};
use prism_tune::Change;

use super::print_json;
use crate::{cli::TuneCommand, table::Table};

fn require_root(what: &str) -> Result<()> {
    require(
        CapSet::current().can_manage_network(),
        what,
        "CAP_NET_ADMIN and CAP_SYS_ADMIN (it writes sysctls and device attributes)",
    )
}

pub fn run(cmd: TuneCommand) -> Result<ExitCode> {
    match cmd {
        TuneCommand::List { netns, json } => {
            if netns.is_some() {
                require_root("prism tune list --netns")?;
            }
            let knobs = prism_tune::list(netns.as_deref())?;
            if json {
                return print_json(&knobs).map(|_| ExitCode::SUCCESS);
            }
            let mut t = Table::new(&["KNOB", ">VALUE", ">DEFAULT", "RANGE", "SAVED", "STAGE"]);
            for k in &knobs {
                t.row(vec![
                    k.name.clone(),
                    k.value.clone(),
                    k.default.unwrap_or("-").to_string(),
                    k.range.clone(),
                    k.saved.clone().unwrap_or_default(),
                    k.stage.to_string(),
                ]);
            }
            print!("{t}");
        }
        TuneCommand::Set {
            assignments,
            netns,
            json,
        } => {
            require_root("prism tune set")?;
            let changes = prism_tune::set(netns.as_deref(), &assignments)?;
            print_changes(&changes, json, "set")?;
            if !json {
                println!("prism tune restore puts back what was there before");
            }
        }
        TuneCommand::Restore { json } => {
            require_root("prism tune restore")?;
            let changes = prism_tune::restore()?;
            if changes.is_empty() && !json {
                println!("nothing to restore: every knob Prism changed has its old value");
            } else {
                print_changes(&changes, json, "restored")?;
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn print_changes(changes: &[Change], json: bool, verb: &str) -> Result<()> {
    if json {
        return print_json(&changes);
    }
    for c in changes {
        let ns = c
            .netns
            .as_deref()
            .map(|n| format!(" (in {n})"))
            .unwrap_or_default();
        println!("{verb} {}{ns}: {} -> {}", c.name, c.from, c.to);
    }
    Ok(())
}
