//! `prism`: one binary for Prism's profilers, datapath and lab.

mod cli;
mod commands;
mod table;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    // Like other Unix tools, end quietly when the reader of our output goes
    // away (`prism completions bash | head`) instead of panicking on EPIPE.
    // SAFETY: called first thing, before any thread is spawned.
    unsafe {
        let _ = nix::sys::signal::signal(
            nix::sys::signal::Signal::SIGPIPE,
            nix::sys::signal::SigHandler::SigDfl,
        );
    }
    let cli = cli::Cli::parse();
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or(cli.log_level()))
        .format_timestamp(None)
        .init();
    match commands::run(cli.command) {
        Ok(code) => code,
        Err(e) => {
            // One line, with the chain of causes: "what failed: why".
            eprintln!("prism: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
