//! The values knobs had before Prism changed them, saved under
//! `/run/prism` before anything changes: `restore` puts back exactly these,
//! also after a `set` was killed halfway.

use std::path::PathBuf;

use anyhow::{Context, Result};
use nix::fcntl::{Flock, FlockArg};
use serde::{Deserialize, Serialize};

use crate::knob::KnobName;

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Journal {
    pub saved: Vec<Saved>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Saved {
    pub name: KnobName,
    /// The namespace of a device knob (`None`: Prism's own).
    pub netns: Option<String>,
    /// Its value before Prism first changed it.
    pub value: String,
}

/// `PRISM_RUN_DIR` moves the files (tests); `/run/prism` by default.
fn dir() -> PathBuf {
    std::env::var_os("PRISM_RUN_DIR").map_or_else(|| PathBuf::from("/run/prism"), PathBuf::from)
}

pub fn path() -> PathBuf {
    dir().join("tune.json")
}

/// One tune command at a time.
pub fn lock() -> Result<Flock<std::fs::File>> {
    let path = dir().join("tune.lock");
    let file = prism_kernel::files::open_for_writing(&path)
        .with_context(|| format!("open {}", path.display()))?;
    Flock::lock(file, FlockArg::LockExclusive)
        .map_err(|(_, e)| e)
        .with_context(|| format!("lock {}", path.display()))
}

impl Journal {
    pub fn load() -> Result<Self> {
        match std::fs::read_to_string(path()) {
            Ok(text) => serde_json::from_str(&text)
                .with_context(|| format!("{} is damaged; fix or remove it", path().display())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Self::default()),
            Err(e) => Err(e).with_context(|| format!("read {}", path().display())),
        }
    }

    pub fn save(&self) -> Result<()> {
        if self.saved.is_empty() {
            return match std::fs::remove_file(path()) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                    Err(e).with_context(|| format!("remove {}", path().display()))
                }
                _ => Ok(()),
            };
        }
        prism_kernel::files::write_atomically(
            &path(),
            serde_json::to_string_pretty(self)?.as_bytes(),
        )
        .with_context(|| format!("write {}", path().display()))
    }

    pub fn find(&self, name: &KnobName, netns: Option<&str>) -> Option<&Saved> {
        self.saved
            .iter()
            .find(|s| &s.name == name && s.netns.as_deref() == netns)
    }
}
