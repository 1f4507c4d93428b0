//! The terminal while `top` runs: raw mode, the alternate screen and mouse
//! reporting, all undone on every way out (quit, Ctrl-C, SIGTERM, an error
//! or a panic), so the shell gets back the terminal it lent us.

use std::{
    io::{self, Stdout},
    sync::Once,
};

use anyhow::{Context, Result};
use ratatui::{
    Terminal,
    backend::CrosstermBackend,
    crossterm::{
        cursor::{Hide, Show},
        event::{DisableMouseCapture, EnableMouseCapture},
        execute,
        terminal::{EnterAlternateScreen, LeaveAlternateScreen, disable_raw_mode, enable_raw_mode},
    },
};

pub type Screen = Terminal<CrosstermBackend<Stdout>>;

/// Owns the terminal's special modes; dropping it restores them.
pub struct Session {
    pub screen: Screen,
}

impl Session {
    pub fn start() -> Result<Self> {
        install_panic_hook();
        enable_raw_mode().context("switch the terminal to raw mode")?;
        let mut out = io::stdout();
        if let Err(e) = execute!(out, EnterAlternateScreen, EnableMouseCapture, Hide) {
            restore();
            return Err(e).context("set up the terminal");
        }
        let screen = match Terminal::new(CrosstermBackend::new(out)) {
            Ok(s) => s,
            Err(e) => {
                restore();
                return Err(e).context("set up the terminal");
            }
        };
        Ok(Self { screen })
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        restore();
    }
}

/// Leaves every mode `start` entered; harmless when called twice.
fn restore() {
    let _ = execute!(
        io::stdout(),
        DisableMouseCapture,
        LeaveAlternateScreen,
        Show
    );
    let _ = disable_raw_mode();
}

/// A panic message printed on the alternate screen in raw mode would be
/// lost or garbled: restore first, then let the usual hook print it.
fn install_panic_hook() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            restore();
            previous(info);
        }));
    });
}
