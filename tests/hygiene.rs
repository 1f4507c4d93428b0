//! Privilege and file hygiene: what Prism leaves on a host is root's alone
//! to change, even when it was started with umask 0; a user without
//! privileges can read traces but cannot touch the datapath; and Prism
//! runs no other program, so no user string ever reaches a shell.

mod support;

use std::{
    os::unix::{fs::MetadataExt, process::CommandExt},
    path::{Path, PathBuf},
    process::Command,
};

use serde_json::Value;
use support::{Disable, Lab, prism, run_ok, run_unprivileged, turn};

const NOBODY: u32 = 65534;

/// Every file and directory under `root`, `root` included.
fn walk(root: &Path) -> Vec<PathBuf> {
    let mut out = vec![root.to_path_buf()];
    let mut i = 0;
    while i < out.len() {
        if out[i].is_dir() {
            let entries: Vec<PathBuf> = std::fs::read_dir(&out[i])
                .unwrap()
                .map(|e| e.unwrap().path())
                .collect();
            out.extend(entries);
        }
        i += 1;
    }
    out
}

/// Whether user nobody may write `path` (asked of the kernel, by `test`).
fn writable_by_nobody(path: &Path) -> bool {
    Command::new("test")
        .arg("-w")
        .arg(path)
        .uid(NOBODY)
        .gid(NOBODY)
        .status()
        .unwrap()
        .success()
}

fn status() -> Value {
    serde_json::from_str(&run_ok(&["status", "--json"])).unwrap()
}

#[test]
fn what_prism_leaves_is_roots_and_nobody_can_change_the_datapath() {
    let _turn = turn();
    let lab = Lab::up("hyg");
    let _disable = Disable;
    let mut enable = prism();
    enable.args(["enable", "--high", "udp port 7777"]);
    for ns in lab.namespaces() {
        enable.args(["--netns", &ns]);
    }
    // SAFETY: umask is async-signal-safe; nothing else runs in the child.
    unsafe {
        enable.pre_exec(|| {
            nix::sys::stat::umask(nix::sys::stat::Mode::empty());
            Ok(())
        });
    }
    let out = enable.output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let mut checked = 0;
    for root in ["/sys/fs/bpf/prism", "/run/prism"] {
        for path in walk(Path::new(root)) {
            let meta = std::fs::metadata(&path).unwrap();
            assert_eq!(meta.uid(), 0, "{} is not root's", path.display());
            assert_eq!(
                meta.mode() & 0o022,
                0,
                "{} is writable by others ({:o}) under umask 0",
                path.display(),
                meta.mode()
            );
            assert!(
                !writable_by_nobody(&path),
                "nobody may write {}",
                path.display()
            );
            checked += 1;
        }
    }
    assert!(checked > 10, "only {checked} paths");

    // Without privileges: refused with the reason, and nothing changes.
    let before = status();
    for args in [
        vec!["disable"],
        vec!["rules", "add", "udp", "port", "53"],
        vec!["rules", "del", "udp", "port", "7777"],
        vec!["enable", "--high", "tcp", "port", "1"],
    ] {
        let out = run_unprivileged(&args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {err}");
        assert!(err.contains("run it as root"), "{args:?}: {err}");
    }
    let after = status();
    assert_eq!(after["enabled"], true);
    assert_eq!(after["rules"], before["rules"]);
    assert_eq!(after["attach"], before["attach"]);
}

#[test]
fn traces_are_read_without_privileges() {
    let fixture =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../prism-trace/tests/fixtures/format-1.prism");
    // Where nobody can reach it (a temporary directory is its owner's).
    let path = std::env::temp_dir().join(format!("prism-hygiene-{}.prism", std::process::id()));
    std::fs::copy(&fixture, &path).unwrap();
    let file = path.to_str().unwrap();
    for args in [
        vec!["report", file],
        vec!["report", file, "--json"],
        vec!["report", file, "--format", "jsonl"],
        vec!["compare", file, file],
    ] {
        let out = run_unprivileged(&args);
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(!out.stdout.is_empty(), "{args:?}");
    }
    std::fs::remove_file(&path).unwrap();
}

/// Prism reaches the kernel through syscalls and netlink only: no source
/// outside the tests starts a process, so no user string reaches a shell.
#[test]
fn prism_runs_no_other_program() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut sources = 0;
    for dir in std::fs::read_dir(&root).unwrap() {
        let dir = dir.unwrap().path();
        let name = dir.file_name().unwrap().to_string_lossy().into_owned();
        if !name.starts_with("prism-") {
            continue;
        }
        for path in walk(&dir) {
            let in_tests = path.components().any(|c| c.as_os_str() == "tests");
            if in_tests || path.extension().is_none_or(|e| e != "rs") {
                continue;
            }
            let text = std::fs::read_to_string(&path).unwrap();
            // Unit tests at the end of a file may run programs.
            let code = text.split("#[cfg(test)]").next().unwrap();
            for needle in [
                "process::Command",
                "Command::new",
                "libc::exec",
                "libc::system",
            ] {
                assert!(!code.contains(needle), "{} uses {needle}", path.display());
            }
            sources += 1;
        }
    }
    assert!(sources > 50, "only {sources} source files");
}
