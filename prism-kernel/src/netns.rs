//! Named network namespaces, compatible with iproute2's `ip netns`.
//!
//! A namespace is kept alive by a bind mount at `/run/netns/NAME`, exactly as
//! `ip netns add` does, so `ip netns exec` works on Prism's namespaces and
//! vice versa. Work inside a namespace runs on a short-lived thread that
//! `setns`es into it: the calling thread and the rest of the process never
//! change namespace, and no fork of a multithreaded process is needed.

use std::{
    fs::{self, File, OpenOptions},
    io,
    os::{fd::AsFd, unix::fs::MetadataExt},
    path::{Path, PathBuf},
};

use anyhow::{Context, Result, anyhow, bail};
use nix::{
    errno::Errno,
    mount::{MntFlags, MsFlags, mount, umount2},
    sched::{CloneFlags, setns, unshare},
};

/// Where iproute2 keeps named namespaces.
pub const NETNS_DIR: &str = "/run/netns";

pub fn path_of(name: &str) -> PathBuf {
    Path::new(NETNS_DIR).join(name)
}

/// True when `/run/netns/NAME` holds a live namespace (a leftover file
/// without its bind mount does not count).
pub fn exists(name: &str) -> bool {
    is_nsfs(&path_of(name))
}

fn is_nsfs(path: &Path) -> bool {
    const NSFS_MAGIC: i64 = 0x6e73_6673;
    crate::mounts::fs_magic(path) == Some(NSFS_MAGIC)
}

/// Names of all namespaces under `/run/netns`.
pub fn list() -> Vec<String> {
    let Ok(entries) = fs::read_dir(NETNS_DIR) else {
        return Vec::new();
    };
    let mut names: Vec<String> = entries
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| is_nsfs(&path_of(n)))
        .collect();
    names.sort();
    names
}

/// The namespace's inode number: what eBPF programs see as `net->ns.inum`.
pub fn inode(name: &str) -> Result<u32> {
    let meta = fs::metadata(path_of(name)).with_context(|| format!("netns {name}"))?;
    Ok(meta.ino() as u32)
}

/// Inode of the namespace this thread is in.
pub fn current_inode() -> Result<u32> {
    Ok(fs::metadata("/proc/thread-self/ns/net")?.ino() as u32)
}

/// The file at `/run/netns/NAME` a namespace is bind-mounted on, new.
fn mount_point(name: &str) -> Result<PathBuf> {
    prepare_dir()?;
    let path = path_of(name);
    OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&path)
        .map_err(|e| match e.kind() {
            io::ErrorKind::AlreadyExists => anyhow!("network namespace {name} already exists"),
            _ => anyhow!("cannot create {}: {e}", path.display()),
        })?;
    Ok(path)
}

/// Creates the named namespace. Fails if it exists.
pub fn create(name: &str) -> Result<()> {
    let path = mount_point(name)?;
    let bound = std::thread::scope(|s| {
        s.spawn(|| -> Result<()> {
            unshare(CloneFlags::CLONE_NEWNET).context("unshare(CLONE_NEWNET)")?;
            mount(
                Some("/proc/thread-self/ns/net"),
                &path,
                None::<&str>,
                MsFlags::MS_BIND,
                None::<&str>,
            )
            .with_context(|| format!("bind-mount the new namespace on {}", path.display()))
        })
        .join()
        .map_err(|_| anyhow!("namespace thread panicked"))?
    });
    if bound.is_err() {
        let _ = fs::remove_file(&path);
    }
    bound
}

/// Names the network namespace of process `pid` (`ip netns attach NAME PID`):
/// a bind mount at `/run/netns/NAME`, removed again by [`delete`].
pub fn attach(name: &str, pid: u32) -> Result<()> {
    let path = mount_point(name)?;
    let source = format!("/proc/{pid}/ns/net");
    let bound = mount(
        Some(source.as_str()),
        &path,
        None::<&str>,
        MsFlags::MS_BIND,
        None::<&str>,
    )
    .with_context(|| format!("bind-mount {source} on {}", path.display()));
    if bound.is_err() {
        let _ = fs::remove_file(&path);
    }
    bound
}

/// Deletes the named namespace. Returns false when there was none.
/// Devices inside it are destroyed by the kernel with it.
pub fn delete(name: &str) -> Result<bool> {
    let path = path_of(name);
    if !path.exists() {
        return Ok(false);
    }
    match umount2(&path, MntFlags::MNT_DETACH) {
        Ok(()) | Err(Errno::EINVAL) => {}
        Err(e) => bail!("cannot unmount {}: {e}", path.display()),
    }
    fs::remove_file(&path).with_context(|| format!("remove {}", path.display()))?;
    Ok(true)
}

/// Opens the namespace for `setns` or for moving devices into it.
pub fn open(name: &str) -> Result<File> {
    File::open(path_of(name)).with_context(|| format!("network namespace {name} does not exist"))
}

/// Runs `f` on a thread inside the named namespace (or the current one for
/// `None`) and returns its result. Sockets `f` opens belong to that namespace.
pub fn run_in<R: Send>(name: Option<&str>, f: impl FnOnce() -> R + Send) -> Result<R> {
    let ns = name.map(open).transpose()?;
    run_in_file(ns.as_ref(), name.unwrap_or("(current)"), f)
}

/// Like [`run_in`], for a namespace file opened by the caller (any path:
/// `/run/netns/X`, `/proc/PID/ns/net`, Docker's namespace files).
pub fn run_in_file<R: Send>(
    ns: Option<&File>,
    label: &str,
    f: impl FnOnce() -> R + Send,
) -> Result<R> {
    std::thread::scope(|s| {
        s.spawn(move || -> Result<R> {
            if let Some(ns) = ns {
                enter(ns).with_context(|| format!("enter netns {label}"))?;
            }
            Ok(f())
        })
        .join()
        .map_err(|_| anyhow!("thread in netns {label} panicked"))?
    })
}

/// A network namespace found on this host.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Namespace {
    /// How users know it: its name under /run/netns, `docker/NAME` for
    /// Docker's overlay namespaces, `pid N` for one only a process holds,
    /// `root` for the initial one.
    pub label: String,
    /// A file that refers to it, for `setns`.
    pub path: PathBuf,
    /// Its inode number (`net->ns.inum` in the kernel).
    pub inode: u32,
}

/// Directories where tools keep named namespaces.
const NAMED_DIRS: [(&str, &str); 2] = [(NETNS_DIR, ""), ("/run/docker/netns", "docker/")];

/// Every network namespace on the host: the root one, the named ones
/// (iproute2's and Docker's), any other bind-mounted one (a Docker daemon
/// with its own `--exec-root`, a CNI runtime's directory: labelled by
/// path), and those only processes hold, each once.
pub fn all() -> Vec<Namespace> {
    let mut found: Vec<Namespace> = Vec::new();
    let mut add = |label: String, path: PathBuf| {
        if let Ok(meta) = fs::metadata(&path) {
            let inode = meta.ino() as u32;
            if !found.iter().any(|n| n.inode == inode) {
                found.push(Namespace { label, path, inode });
            }
        }
    };
    add("root".into(), PathBuf::from("/proc/1/ns/net"));
    for (dir, prefix) in NAMED_DIRS {
        let Ok(entries) = fs::read_dir(dir) else {
            continue;
        };
        let mut names: Vec<String> = entries
            .filter_map(|e| e.ok()?.file_name().into_string().ok())
            .collect();
        names.sort();
        for name in names {
            let path = Path::new(dir).join(&name);
            if is_nsfs(&path) {
                add(format!("{prefix}{name}"), path);
            }
        }
    }
    // Docker's network sandboxes hold no process: a bind mount is all
    // that keeps them, wherever the daemon's exec-root is.
    if let Ok(mountinfo) = fs::read_to_string("/proc/self/mountinfo") {
        for path in nsfs_mounts(&mountinfo) {
            if is_net_namespace(&path) {
                add(path.display().to_string(), path);
            }
        }
    }
    if let Ok(procs) = fs::read_dir("/proc") {
        for entry in procs.filter_map(Result::ok) {
            let pid = entry.file_name().to_string_lossy().into_owned();
            if pid.bytes().all(|b| b.is_ascii_digit()) {
                add(format!("pid {pid}"), entry.path().join("ns/net"));
            }
        }
    }
    found
}

/// Mount points of nsfs file systems in a `/proc/PID/mountinfo` text
/// (namespaces of every type; see [`is_net_namespace`]).
pub fn nsfs_mounts(mountinfo: &str) -> Vec<PathBuf> {
    mountinfo
        .lines()
        .filter_map(|line| {
            // ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTIONS [TAGS...] - FSTYPE SOURCE ...
            let (fields, fs) = line.split_once(" - ")?;
            if fs.split_whitespace().next()? != "nsfs" {
                return None;
            }
            let point = fields.split_whitespace().nth(4)?;
            Some(PathBuf::from(unescape_octal(point)))
        })
        .collect()
}

/// mountinfo writes space, tab, newline and backslash as `\NNN`.
fn unescape_octal(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let octal = bytes
            .get(i + 1..i + 4)
            .filter(|d| d.iter().all(|b| (b'0'..=b'7').contains(b)));
        match (bytes[i], octal) {
            (b'\\', Some(d)) => {
                out.push((d[0] - b'0') * 64 + (d[1] - b'0') * 8 + (d[2] - b'0'));
                i += 4;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Whether `path` refers to a network namespace (`NS_GET_NSTYPE`).
fn is_net_namespace(path: &Path) -> bool {
    use std::os::fd::AsRawFd;
    const NS_GET_NSTYPE: libc::c_ulong = 0xb7 << 8 | 0x3;
    let Ok(file) = File::open(path) else {
        return false;
    };
    // SAFETY: an ioctl without arguments on a file we hold open.
    let kind = unsafe { libc::ioctl(file.as_raw_fd(), NS_GET_NSTYPE as _) };
    kind == libc::CLONE_NEWNET
}

/// Moves the calling thread into the namespace. Use on threads of your own.
pub fn enter(ns: &File) -> Result<()> {
    setns(ns.as_fd(), CloneFlags::CLONE_NEWNET).context("setns(CLONE_NEWNET)")
}

/// Makes `/run/netns` a shared mount point, as iproute2 does, so that
/// namespaces mounted later show up in every mount namespace.
fn prepare_dir() -> Result<()> {
    fs::create_dir_all(NETNS_DIR).with_context(|| format!("create {NETNS_DIR}"))?;
    let shared = || {
        mount(
            Some("none"),
            NETNS_DIR,
            None::<&str>,
            MsFlags::MS_SHARED | MsFlags::MS_REC,
            None::<&str>,
        )
    };
    match shared() {
        Ok(()) => Ok(()),
        Err(Errno::EINVAL) => {
            mount(
                Some(NETNS_DIR),
                NETNS_DIR,
                None::<&str>,
                MsFlags::MS_BIND | MsFlags::MS_REC,
                None::<&str>,
            )
            .with_context(|| format!("bind-mount {NETNS_DIR} on itself"))?;
            shared().with_context(|| format!("make {NETNS_DIR} shared"))
        }
        Err(e) => Err(e).with_context(|| format!("make {NETNS_DIR} shared")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_nsfs_mounts_in_mountinfo() {
        let text = "\
24 1 0:22 / /proc rw,nosuid - proc proc rw
610 25 0:4 net:[4026532290] /run/netns/prism-h1 rw shared:5 - nsfs nsfs rw
611 25 0:4 net:[4026532391] /tmp/dock\\0401/exec/netns/1-abcdef0123 rw - nsfs nsfs rw
612 25 0:4 mnt:[4026532392] /run/mntns/x rw - nsfs nsfs rw
";
        let found = nsfs_mounts(text);
        assert_eq!(
            found,
            [
                PathBuf::from("/run/netns/prism-h1"),
                PathBuf::from("/tmp/dock 1/exec/netns/1-abcdef0123"),
                PathBuf::from("/run/mntns/x"),
            ]
        );
    }
}
