//! `prism`: one binary for Prism's profilers, datapath and lab.

mod cli;
mod commands;
mod metrics;
mod signals;
mod table;
mod top;
mod units;

use std::process::ExitCode;

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
    let cli = match cli::parse() {
        Ok(cli) => cli,
        Err(e) => return usage_error(e),
    };
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

/// Help and version go out as clap renders them; usage mistakes become one
/// line, with clap's suggestion when it has one.
fn usage_error(e: clap::Error) -> ExitCode {
    use clap::error::ErrorKind::*;
    if matches!(
        e.kind(),
        DisplayHelp | DisplayVersion | DisplayHelpOnMissingArgumentOrSubcommand
    ) {
        e.exit();
    }
    let text = e.render().to_string();
    let mut lines = text.lines().map(str::trim).filter(|l| !l.is_empty());
    let what = lines
        .next()
        .unwrap_or("bad usage")
        .trim_start_matches("error: ");
    let tips: Vec<&str> = lines.filter_map(|l| l.strip_prefix("tip: ")).collect();
    let tip = if tips.is_empty() {
        String::new()
    } else {
        format!("; {}", tips.join("; "))
    };
    eprintln!("prism: error: {what}{tip} (see 'prism --help')");
    ExitCode::from(2)
}
