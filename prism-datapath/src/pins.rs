//! Where the datapath keeps what must outlive the CLI: programs, links and
//! maps pinned in bpffs, and a small state file for what bpffs cannot hold.
//!
//! ```text
//! /sys/fs/bpf/prism/rules/{RULES,RULE_COUNT}       shared with the profilers
//! /sys/fs/bpf/prism/datapath/<netns inode>/
//!     prog_rx prog_tx                               the programs
//!     link_rx link_tx_<ifindex>                     tcx links (attachments)
//!     filter_* clsact_*                             clsact attachments' records
//!     CONFIG TUNNEL LOCAL REMOTE COUNTERS           the host's maps
//! /run/prism/datapath.json                          modes, rules, hosts
//! /run/prism/datapath.lock                          one control operation at a time
//! ```

use std::{
    fs, io,
    path::{Path, PathBuf},
};

use anyhow::{Context, Result};
use nix::fcntl::{Flock, FlockArg};

pub use prism_kernel::bpf::{PIN_ROOT as ROOT, rules_pin_dir as rules_dir};

pub fn datapath_dir() -> PathBuf {
    Path::new(ROOT).join("datapath")
}

pub fn host_dir(netns_inode: u32) -> PathBuf {
    datapath_dir().join(netns_inode.to_string())
}

pub fn state_file() -> PathBuf {
    PathBuf::from("/run/prism/datapath.json")
}

/// Holds the control plane's lock: `enable`, `disable` and a watcher's
/// updates run one at a time, so an update never re-creates a datapath
/// that `disable` is taking down. Released when dropped.
pub fn lock() -> Result<Flock<fs::File>> {
    let path = state_file().with_extension("lock");
    let file = prism_kernel::files::open_for_writing(&path)
        .with_context(|| format!("open {}", path.display()))?;
    Flock::lock(file, FlockArg::LockExclusive)
        .map_err(|(_, e)| e)
        .with_context(|| format!("lock {}", path.display()))
}

/// Host directories that exist, whatever the state file says (after a
/// crash the pins are the truth).
pub fn host_dirs() -> Vec<PathBuf> {
    let Ok(entries) = fs::read_dir(datapath_dir()) else {
        return Vec::new();
    };
    let mut dirs: Vec<PathBuf> = entries
        .filter_map(|e| Some(e.ok()?.path()))
        .filter(|p| p.is_dir())
        .collect();
    dirs.sort();
    dirs
}

/// Pins created so far by one operation, removed again (newest first) if
/// the operation does not commit, taking off what they record (see
/// [`crate::attach`]).
#[derive(Default)]
pub struct Transaction {
    created: Vec<PathBuf>,
    committed: bool,
}

impl Transaction {
    pub fn created(&mut self, path: PathBuf) {
        self.created.push(path);
    }

    pub fn commit(mut self) {
        self.committed = true;
    }
}

impl Drop for Transaction {
    fn drop(&mut self) {
        if self.committed {
            return;
        }
        let newest_first: Vec<PathBuf> = self.created.iter().rev().cloned().collect();
        let _ = crate::attach::remove(&newest_first);
    }
}

/// Removes a pin (file) or an empty pin directory; absent is fine.
pub fn remove_pin(path: &Path) -> Result<()> {
    let removed = if path.is_dir() {
        fs::remove_dir(path)
    } else {
        fs::remove_file(path)
    };
    match removed {
        Err(e) if e.kind() != io::ErrorKind::NotFound => {
            Err(e).with_context(|| format!("remove {}", path.display()))
        }
        _ => Ok(()),
    }
}
