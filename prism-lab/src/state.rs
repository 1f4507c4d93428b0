//! Which labs Prism built: one small JSON file per lab under `/run/prism`.
//!
//! The file is written *before* anything is built, so it marks the lab's
//! namespaces as Prism's own even when `up` dies halfway; `down` trusts
//! it, and refuses to delete namespaces no file claims.

use std::{fs, io, path::PathBuf};

use anyhow::{Context, Result};

use crate::LabConfig;

pub const STATE_DIR: &str = "/run/prism/labs";

fn path(name: &str) -> PathBuf {
    PathBuf::from(STATE_DIR).join(format!("{name}.json"))
}

pub fn load(name: &str) -> Result<Option<LabConfig>> {
    match fs::read_to_string(path(name)) {
        Ok(text) => {
            Ok(Some(serde_json::from_str(&text).with_context(|| {
                format!("corrupt {}", path(name).display())
            })?))
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e).with_context(|| format!("read {}", path(name).display())),
    }
}

pub fn save(config: &LabConfig) -> Result<()> {
    let text = serde_json::to_string_pretty(config)?;
    prism_kernel::files::write_atomically(&path(&config.name), text.as_bytes())
        .with_context(|| format!("write {}", path(&config.name).display()))
}

pub fn remove(name: &str) -> Result<()> {
    match fs::remove_file(path(name)) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => {
            Err(e).with_context(|| format!("remove {}", path(name).display()))
        }
        _ => Ok(()),
    }
}

/// Names of all labs with a state file.
pub fn names() -> Vec<String> {
    let Ok(entries) = fs::read_dir(STATE_DIR) else {
        return Vec::new();
    };
    let mut names: Vec<String> = entries
        .filter_map(|e| {
            let name = e.ok()?.file_name().into_string().ok()?;
            name.strip_suffix(".json").map(str::to_string)
        })
        .collect();
    names.sort();
    names
}
