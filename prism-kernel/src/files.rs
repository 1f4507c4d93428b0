//! Prism's own files (state under `/run/prism`, pins under
//! `/sys/fs/bpf/prism`): root's alone to change, whatever the umask Prism
//! was started with, and a state file is never seen half written. A pin
//! directory others could write to would let them swap the rule map the
//! datapath reads; a state file they could write, the pins `disable`
//! removes.

use std::{
    fs::{self, DirBuilder, OpenOptions},
    io::{self, Write},
    os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt},
    path::Path,
};

/// Directories: everyone may look in, only the owner may change them.
pub const DIR_MODE: u32 = 0o755;
/// Files: everyone may read, only the owner may write.
pub const FILE_MODE: u32 = 0o644;

/// Creates `path` and its missing parents with [`DIR_MODE`]; an existing
/// directory others could write to is tightened to it.
pub fn create_dirs(path: &Path) -> io::Result<()> {
    DirBuilder::new()
        .recursive(true)
        .mode(DIR_MODE)
        .create(path)?;
    let mode = fs::metadata(path)?.permissions().mode();
    if mode & 0o022 != 0 {
        fs::set_permissions(path, fs::Permissions::from_mode(mode & !0o022))?;
    }
    Ok(())
}

/// Creates the one directory `path` with [`DIR_MODE`]; fails if it exists.
pub fn create_dir(path: &Path) -> io::Result<()> {
    DirBuilder::new().mode(DIR_MODE).create(path)
}

/// Writes `contents` to `path` through a new file renamed over it, with
/// [`FILE_MODE`]: readers see the old file or the new one, never a part.
pub fn write_atomically(path: &Path, contents: &[u8]) -> io::Result<()> {
    if let Some(dir) = path.parent() {
        create_dirs(dir)?;
    }
    // One name per file, so a writer killed before its rename leaves at
    // most one stale copy, which the next write replaces. (Writers of one
    // file run under its command's lock.)
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = Path::new(&tmp);
    let _ = fs::remove_file(tmp);
    let result = (|| {
        let mut f = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(FILE_MODE)
            .open(tmp)?;
        f.write_all(contents)?;
        f.sync_data()?;
        fs::rename(tmp, path)
    })();
    if result.is_err() {
        let _ = fs::remove_file(tmp);
    }
    result
}

/// Opens (creating with [`FILE_MODE`]) a file to lock or append to.
pub fn open_for_writing(path: &Path) -> io::Result<fs::File> {
    if let Some(dir) = path.parent() {
        create_dirs(dir)?;
    }
    OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .mode(FILE_MODE)
        .open(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nothing_is_writable_by_others_whatever_the_umask() {
        let dir = tempfile::tempdir().unwrap();
        let old = nix::sys::stat::umask(nix::sys::stat::Mode::empty());
        let nested = dir.path().join("a/b");
        create_dirs(&nested).unwrap();
        let file = nested.join("state.json");
        write_atomically(&file, b"{}").unwrap();
        write_atomically(&file, b"{\"v\":2}").unwrap();
        let lock = open_for_writing(&nested.join("x.lock")).unwrap();
        nix::sys::stat::umask(old);
        drop(lock);
        for p in [
            dir.path().join("a"),
            nested.clone(),
            file.clone(),
            nested.join("x.lock"),
        ] {
            let mode = fs::metadata(&p).unwrap().permissions().mode();
            assert_eq!(mode & 0o022, 0, "{}: {mode:o}", p.display());
        }
        assert_eq!(fs::read_to_string(&file).unwrap(), "{\"v\":2}");
        assert_eq!(
            fs::read_dir(&nested).unwrap().count(),
            2,
            "no temporary file left"
        );
    }
}
