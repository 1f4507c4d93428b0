//! One module per subcommand.

mod bench;
mod datapath;
mod docs;
mod doctor;
mod lab;
mod overhead;
mod record;
mod report;
mod stat;
mod tune;

use std::process::ExitCode;

use anyhow::Result;

use crate::cli::Command;
pub use stat::{parse_rules, probe_config, require_tracing};

pub fn run(command: Command) -> Result<ExitCode> {
    match command {
        Command::Doctor { json } => doctor::run(json),
        Command::Lab(cmd) => lab::run(cmd),
        Command::Stat(args) => stat::run(args),
        Command::Metrics(args) => crate::metrics::run(args),
        Command::Top(args) => crate::top::run(args),
        Command::Record(args) => record::run(args),
        Command::Report(args) => report::report(args),
        Command::Compare { a, b, json } => report::compare(&a, &b, json),
        Command::Enable(args) => datapath::enable(args),
        Command::Disable => datapath::disable(),
        Command::Status { json } => datapath::status(json),
        Command::Rules(cmd) => datapath::rules(cmd),
        Command::Tune(cmd) => tune::run(cmd),
        Command::Man { dir } => docs::man_pages(&dir),
        Command::Completions { shell } => docs::completions(shell),
    }
}

/// Prints `value` as pretty JSON on stdout.
pub fn print_json(value: &impl serde::Serialize) -> Result<()> {
    println!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}
