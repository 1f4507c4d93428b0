//! `prism man` and `prism completions`: documentation generated from the
//! clap definitions, so it cannot drift from what the binary accepts.

use std::{fs, path::Path, process::ExitCode};

use anyhow::{Context, Result};
use clap::CommandFactory;
use clap_complete::Shell;

use crate::cli::Cli;

/// Writes `prism.1` and one page per subcommand (`prism-lab-up.1`, ...).
pub fn man_pages(dir: &Path) -> Result<ExitCode> {
    fs::create_dir_all(dir).with_context(|| format!("create {}", dir.display()))?;
    let mut cmd = Cli::command();
    cmd.build();
    let written = write_page(dir, &cmd, "prism")?;
    println!("wrote {written} man pages to {}", dir.display());
    Ok(ExitCode::SUCCESS)
}

fn write_page(dir: &Path, cmd: &clap::Command, name: &str) -> Result<usize> {
    let page = cmd.clone().name(name.to_string());
    let mut out = Vec::new();
    clap_mangen::Man::new(page).render(&mut out)?;
    let path = dir.join(format!("{name}.1"));
    fs::write(&path, out).with_context(|| format!("write {}", path.display()))?;
    let mut written = 1;
    for sub in cmd.get_subcommands().filter(|s| s.get_name() != "help") {
        written += write_page(dir, sub, &format!("{name}-{}", sub.get_name()))?;
    }
    Ok(written)
}

/// Prints the completion script for `shell` on stdout.
pub fn completions(shell: Shell) -> Result<ExitCode> {
    clap_complete::generate(shell, &mut Cli::command(), "prism", &mut std::io::stdout());
    Ok(ExitCode::SUCCESS)
}
