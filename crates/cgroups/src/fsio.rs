//! Reading and writing cgroup files and directories, with errors that name the path.
//!
//! cgroup files are written the way runc writes them: opened write-only with `O_TRUNC` (harmless on
//! cgroupfs, and it keeps the fake trees of the unit tests exact), never created, one `write(2)`
//! per value so that the kernel sees the whole value at once.

use crate::error::{CgroupError, Result};
use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Reads a whole cgroup file.
pub(crate) fn read(path: &Path) -> Result<String> {
    fs::read_to_string(path).map_err(|source| CgroupError::Read {
        path: path.to_path_buf(),
        source,
    })
}

/// Reads a whole cgroup file, or `None` if it does not exist.
pub(crate) fn read_opt(path: &Path) -> Result<Option<String>> {
    match fs::read_to_string(path) {
        Ok(text) => Ok(Some(text)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(CgroupError::Read {
            path: path.to_path_buf(),
            source,
        }),
    }
}

/// Writes `value` to an existing cgroup file in one `write(2)`.
pub(crate) fn write(path: &Path, value: &str) -> Result<()> {
    let result = fs::OpenOptions::new()
        .write(true)
        .truncate(true)
        .create(false)
        .open(path)
        .and_then(|mut file| file.write_all(value.as_bytes()));
    result.map_err(|source| CgroupError::Write {
        path: path.to_path_buf(),
        value: value.to_owned(),
        source,
    })
}

/// Reads a cgroup file and parses it with `parse`, naming the file in any error.
pub(crate) fn read_parsed<T>(
    path: &Path,
    parse: impl FnOnce(&str) -> Result<T, String>,
) -> Result<T> {
    let text = read(path)?;
    parse(&text).map_err(|reason| parse_error(path, reason))
}

/// The OS error number behind an error, if any.
pub(crate) fn raw_os_error(err: &CgroupError) -> Option<i32> {
    match err {
        CgroupError::Read { source, .. }
        | CgroupError::Write { source, .. }
        | CgroupError::CreateDir { source, .. }
        | CgroupError::RemoveDir { source, .. } => source.raw_os_error(),
        _ => None,
    }
}

/// Turns a parse failure of `path` into an error.
pub(crate) fn parse_error(path: &Path, reason: impl Into<String>) -> CgroupError {
    CgroupError::Parse {
        path: path.to_path_buf(),
        reason: reason.into(),
    }
}

/// Whether `path` is an existing directory.
pub(crate) fn is_dir(path: &Path) -> bool {
    fs::metadata(path).is_ok_and(|m| m.is_dir())
}

/// The subdirectories (child cgroups) of a cgroup directory; empty if it does not exist.
pub(crate) fn child_dirs(dir: &Path) -> Result<Vec<PathBuf>> {
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(source) => {
            return Err(CgroupError::ReadDir {
                path: dir.to_path_buf(),
                source,
            });
        }
    };
    let mut dirs = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|source| CgroupError::ReadDir {
            path: dir.to_path_buf(),
            source,
        })?;
        // A cgroup disappearing between readdir and stat is fine: it is simply not listed.
        if entry.file_type().is_ok_and(|t| t.is_dir()) {
            dirs.push(entry.path());
        }
    }
    dirs.sort();
    Ok(dirs)
}

/// Creates a directory and its missing parents; an existing directory is fine.
pub(crate) fn create_dir_all(dir: &Path) -> Result<()> {
    fs::create_dir_all(dir).map_err(|source| CgroupError::CreateDir {
        path: dir.to_path_buf(),
        source,
    })
}

/// Creates one directory whose parent exists; `Ok(false)` if it already existed.
pub(crate) fn create_dir(dir: &Path) -> Result<bool> {
    match fs::create_dir(dir) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(false),
        Err(source) => Err(CgroupError::CreateDir {
            path: dir.to_path_buf(),
            source,
        }),
    }
}

/// Removes a cgroup directory and every cgroup below it (deepest first), retrying while the kernel
/// reports `EBUSY` (processes still being reaped) until `deadline`. A directory that does not exist
/// is fine.
///
/// Only directories are removed: the files of a cgroup are not removable and vanish with it.
pub(crate) fn remove_tree(dir: &Path, deadline: Instant) -> Result<()> {
    for child in child_dirs(dir)? {
        remove_tree(&child, deadline)?;
    }
    let mut delay = Duration::from_millis(5);
    loop {
        match fs::remove_dir(dir) {
            Ok(()) => return Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(e) if is_busy(&e) && Instant::now() < deadline => {
                std::thread::sleep(delay.min(deadline.saturating_duration_since(Instant::now())));
                delay = (delay * 2).min(Duration::from_millis(100));
            }
            Err(source) => {
                return Err(CgroupError::RemoveDir {
                    path: dir.to_path_buf(),
                    source,
                });
            }
        }
    }
}

/// Whether an error is `EBUSY` (a cgroup that still has processes or children).
fn is_busy(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::ResourceBusy
        || e.raw_os_error() == Some(nix::errno::Errno::EBUSY as i32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn write_truncates_and_never_creates() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let file = tmp.path().join("memory.max");
        fs::write(&file, "max\n").expect("seed");
        write(&file, "1").expect("write");
        assert_eq!(fs::read_to_string(&file).expect("read"), "1");

        let missing = tmp.path().join("pids.max");
        let err = write(&missing, "16").expect_err("must not create");
        assert!(err.to_string().contains("pids.max"), "{err}");
        assert!(err.to_string().contains("\"16\""), "{err}");
        assert!(!missing.exists());
    }

    #[test]
    fn remove_tree_removes_children_first_and_accepts_missing() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let top = tmp.path().join("a");
        fs::create_dir_all(top.join("b/c")).expect("mkdir");
        fs::create_dir_all(top.join("d")).expect("mkdir");
        remove_tree(&top, Instant::now()).expect("remove");
        assert!(!top.exists());
        remove_tree(&top, Instant::now()).expect("already gone is fine");
    }

    #[test]
    fn child_dirs_lists_only_directories() {
        let tmp = tempfile::tempdir().expect("tempdir");
        fs::create_dir(tmp.path().join("x")).expect("mkdir");
        fs::write(tmp.path().join("cgroup.procs"), "").expect("file");
        let dirs = child_dirs(tmp.path()).expect("list");
        assert_eq!(dirs, vec![tmp.path().join("x")]);
        assert!(
            child_dirs(&tmp.path().join("nope"))
                .expect("missing")
                .is_empty()
        );
    }
}
