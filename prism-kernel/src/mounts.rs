//! The pseudo file systems Prism needs: bpffs for pinning, tracefs for
//! tracepoint formats. Mounted on demand, and the caller is told so.

use std::{ffi::CString, path::Path};

use anyhow::{Context, Result};
use nix::mount::{MsFlags, mount};
use serde::Serialize;

pub const BPFFS: &str = "/sys/fs/bpf";
pub const TRACEFS: &str = "/sys/kernel/tracing";

const BPF_FS_MAGIC: i64 = 0xcafe_4a11;
const TRACEFS_MAGIC: i64 = 0x7472_6163;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PseudoFs {
    Bpf,
    Trace,
}

impl PseudoFs {
    pub fn path(self) -> &'static str {
        match self {
            Self::Bpf => BPFFS,
            Self::Trace => TRACEFS,
        }
    }

    fn fstype(self) -> &'static str {
        match self {
            Self::Bpf => "bpf",
            Self::Trace => "tracefs",
        }
    }

    fn magic(self) -> i64 {
        match self {
            Self::Bpf => BPF_FS_MAGIC,
            Self::Trace => TRACEFS_MAGIC,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum MountState {
    /// It was mounted already.
    Present,
    /// Prism mounted it just now.
    Mounted,
}

pub fn is_mounted(fs: PseudoFs) -> bool {
    fs_magic(Path::new(fs.path())) == Some(fs.magic())
}

/// The file system type (`statfs.f_type`) of the mount holding `path`.
pub(crate) fn fs_magic(path: &Path) -> Option<i64> {
    use std::os::unix::ffi::OsStrExt;
    let c = CString::new(path.as_os_str().as_bytes()).ok()?;
    let mut buf: libc::statfs = unsafe { std::mem::zeroed() };
    // SAFETY: valid C string and a zeroed out-buffer of the right type.
    let rc = unsafe { libc::statfs(c.as_ptr(), &mut buf) };
    (rc == 0).then_some(buf.f_type as i64)
}

/// Mounts `fs` at its usual place unless it is there already.
pub fn ensure(fs: PseudoFs) -> Result<MountState> {
    if is_mounted(fs) {
        return Ok(MountState::Present);
    }
    let path = Path::new(fs.path());
    std::fs::create_dir_all(path).with_context(|| format!("create {}", path.display()))?;
    mount(
        Some(fs.fstype()),
        path,
        Some(fs.fstype()),
        MsFlags::empty(),
        None::<&str>,
    )
    .with_context(|| format!("mount {} on {}", fs.fstype(), path.display()))?;
    Ok(MountState::Mounted)
}
