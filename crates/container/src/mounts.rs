//! The container's filesystem, built by its first process in its new mount namespace: root
//! filesystem, `pivot_root`, `/proc`, `/dev`, `/sys`, the configured mounts, masked and
//! read-only paths.
//!
//! The order follows runc and youki, with one difference: everything but the root filesystem is
//! mounted **after** `pivot_root`, so that every target path (all of them come from the image or
//! the configuration) is resolved inside the container's root, where a symlink such as
//! `/proc -> /host/etc` cannot reach the host. Host sources of bind mounts are cloned before
//! `pivot_root` with `open_tree(OPEN_TREE_CLONE)` and attached afterwards with `move_mount`
//! (kernel ≥ 5.2).
//!
//! Device nodes: instead of a device cgroup (which the `cgroups` crate does not manage, and
//! which on cgroup v2 needs an eBPF program), every filesystem of the container is `nodev`, except
//! six bind mounts of the default nodes `null zero full random urandom tty` (each node is its own
//! mount without `nodev`) and `devpts`. A container root process keeps `CAP_MKNOD` (Docker's
//! default set) and may create device nodes, but opening one fails with `EACCES`, which is what
//! Docker's device cgroup (`c *:* m`, `b *:* m`: create, never read or write) amounts to.

use crate::config::{ContainerConfig, Mount, Rootfs};
use crate::error::{ContainerError, Context, Result};
use nix::mount::{MntFlags, MsFlags};
use nix::sys::stat::{Mode, SFlag, makedev};
use nix::sys::statvfs::FsFlags;
use rustix::mount::{MoveMountFlags, OpenTreeFlags};
use std::fs::{self, File, OpenOptions, Permissions};
use std::io;
use std::os::fd::OwnedFd;
use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::{Path, PathBuf};

/// Options of `/dev`, `/dev/shm`: Docker's sizes.
const DEV_TMPFS: &str = "mode=755,size=65536k";
/// Options of `/dev/shm`.
const SHM_TMPFS: &str = "mode=1777,size=65536k";
/// Options of `/dev/pts`: a private instance, `ptmx` usable by everyone, ttys owned by gid 5.
const DEVPTS: &str = "newinstance,ptmxmode=0666,mode=0620,gid=5";

/// The default device nodes: name, major, minor (all mode 0666).
const DEVICES: [(&str, u64, u64); 6] = [
    ("null", 1, 3),
    ("zero", 1, 5),
    ("full", 1, 7),
    ("random", 1, 8),
    ("urandom", 1, 9),
    ("tty", 5, 0),
];

/// The `/dev` symlinks: link, target.
const DEV_LINKS: [(&str, &str); 5] = [
    ("/dev/ptmx", "pts/ptmx"),
    ("/dev/fd", "/proc/self/fd"),
    ("/dev/stdin", "/proc/self/fd/0"),
    ("/dev/stdout", "/proc/self/fd/1"),
    ("/dev/stderr", "/proc/self/fd/2"),
];

/// The longest mount option string the kernel takes (one page, with its NUL).
const MAX_MOUNT_DATA: usize = 4095;

/// `mount(2)` with an error naming what was mounted where.
fn mnt(
    source: Option<&Path>,
    target: &Path,
    fstype: Option<&str>,
    flags: MsFlags,
    data: Option<&str>,
) -> Result<()> {
    nix::mount::mount(source, target, fstype, flags, data).ctx(|| {
        format!(
            "mount {} on {} (type {}, flags {flags:?}, options {:?})",
            source.map_or_else(|| "-".into(), |s| s.display().to_string()),
            target.display(),
            fstype.unwrap_or("-"),
            data.unwrap_or("")
        )
    })
}

/// Creates a directory and its parents (inside the container's root after `pivot_root`).
fn mkdir_p(path: &Path) -> Result<()> {
    fs::create_dir_all(path).ctx(|| format!("create directory {}", path.display()))
}

/// The per-mount flags of the mount at `path`, as `mount(2)` flags.
fn mount_flags(path: &Path) -> Result<MsFlags> {
    let st = nix::sys::statvfs::statvfs(path).ctx(|| format!("statvfs {}", path.display()))?;
    let have = st.flags();
    let mut flags = MsFlags::empty();
    for (st_flag, ms_flag) in [
        (FsFlags::ST_RDONLY, MsFlags::MS_RDONLY),
        (FsFlags::ST_NOSUID, MsFlags::MS_NOSUID),
        (FsFlags::ST_NODEV, MsFlags::MS_NODEV),
        (FsFlags::ST_NOEXEC, MsFlags::MS_NOEXEC),
        (FsFlags::ST_NOATIME, MsFlags::MS_NOATIME),
        (FsFlags::ST_NODIRATIME, MsFlags::MS_NODIRATIME),
        (FsFlags::ST_RELATIME, MsFlags::MS_RELATIME),
    ] {
        if have.contains(st_flag) {
            flags |= ms_flag;
        }
    }
    Ok(flags)
}

/// Remounts the mount at `path` with its current per-mount flags plus `extra` (a bind remount:
/// the filesystem itself is untouched).
fn remount_bind(path: &Path, extra: MsFlags) -> Result<()> {
    let flags = mount_flags(path)? | extra | MsFlags::MS_REMOUNT | MsFlags::MS_BIND;
    mnt(None, path, None, flags, None)
}

/// A bind mount source cloned before `pivot_root`.
struct BindSource {
    /// The detached mount tree (`open_tree(OPEN_TREE_CLONE)`).
    tree: OwnedFd,
    /// Whether the source is a directory (else the destination is created as a file).
    is_dir: bool,
}

/// Builds the whole filesystem of the container; called in its first process, in its new mount
/// namespace, as root. On return the process's root is the container's.
pub(crate) fn setup(config: &ContainerConfig) -> Result<()> {
    // Nothing mounted from here on may propagate back to the host.
    mnt(
        None,
        Path::new("/"),
        None,
        MsFlags::MS_REC | MsFlags::MS_SLAVE,
        None,
    )?;
    let root = mount_rootfs(&config.rootfs)?;
    let binds = clone_bind_sources(&config.mounts)?;
    pivot_root(&root)?;

    mount_proc()?;
    mount_dev()?;
    mount_sys()?;
    mount_user(&config.mounts, binds)?;
    for pattern in &config.masked_paths {
        for path in expand(Path::new(pattern))? {
            mask(&path)?;
        }
    }
    for pattern in &config.readonly_paths {
        for path in expand(Path::new(pattern))? {
            make_readonly(&path)?;
        }
    }
    mkdir_p(Path::new(&config.cwd))?;
    if config.readonly_rootfs {
        remount_bind(Path::new("/"), MsFlags::MS_RDONLY)?;
    }
    Ok(())
}

/// Mounts the root filesystem (still in the host's tree) and returns the directory that becomes
/// `/`. It is always a mount point (`pivot_root` needs one) and `nodev`.
fn mount_rootfs(rootfs: &Rootfs) -> Result<PathBuf> {
    match rootfs {
        Rootfs::Directory { path } => {
            let path = path.as_path();
            mnt(
                Some(path),
                path,
                None,
                MsFlags::MS_BIND | MsFlags::MS_REC,
                None,
            )?;
            remount_bind(path, MsFlags::MS_NODEV)?;
            Ok(path.to_path_buf())
        }
        Rootfs::Overlay {
            lowerdirs,
            upperdir,
            workdir,
            target,
        } => {
            let lower: Vec<String> = lowerdirs
                .iter()
                .map(|d| d.to_string_lossy().into_owned())
                .collect();
            let data = format!(
                "lowerdir={},upperdir={},workdir={}",
                lower.join(":"),
                upperdir.display(),
                workdir.display()
            );
            if data.len() > MAX_MOUNT_DATA {
                return Err(ContainerError::InvalidConfig(format!(
                    "overlay options are {} bytes, more than the kernel's {MAX_MOUNT_DATA}: use shorter layer paths",
                    data.len()
                )));
            }
            mkdir_p(target)?;
            mnt(
                Some(Path::new("overlay")),
                target,
                Some("overlay"),
                MsFlags::MS_NODEV,
                Some(data.as_str()),
            )?;
            Ok(target.clone())
        }
    }
}

/// Clones the host sources of the bind mounts (one entry per configured mount, `None` for
/// tmpfs ones).
fn clone_bind_sources(mounts: &[Mount]) -> Result<Vec<Option<BindSource>>> {
    let mut out = Vec::with_capacity(mounts.len());
    for mount in mounts {
        let Mount::Bind {
            source, recursive, ..
        } = mount
        else {
            out.push(None);
            continue;
        };
        let is_dir = fs::metadata(source)
            .ctx(|| format!("bind mount source {}", source.display()))?
            .is_dir();
        let mut flags = OpenTreeFlags::OPEN_TREE_CLONE | OpenTreeFlags::OPEN_TREE_CLOEXEC;
        if *recursive {
            flags |= OpenTreeFlags::AT_RECURSIVE;
        }
        let tree = rustix::mount::open_tree(rustix::fs::CWD, source.as_path(), flags)
            .ctx(|| format!("open_tree {}", source.display()))?;
        out.push(Some(BindSource { tree, is_dir }));
    }
    Ok(out)
}

/// `pivot_root(".", ".")` into `root` and detach the old root, as runc does: the old root is
/// stacked on the new one, made a slave (so that detaching it cannot propagate to the host) and
/// lazily unmounted.
fn pivot_root(root: &Path) -> Result<()> {
    let new_root = File::open(root).ctx(|| format!("open new root {}", root.display()))?;
    let old_root = File::open("/").ctx(|| "open the old root /")?;
    nix::unistd::fchdir(&new_root).ctx(|| format!("chdir {}", root.display()))?;
    nix::unistd::pivot_root(".", ".").ctx(|| format!("pivot_root to {}", root.display()))?;
    nix::unistd::fchdir(&old_root).ctx(|| "chdir to the old root")?;
    mnt(
        None,
        Path::new("."),
        None,
        MsFlags::MS_SLAVE | MsFlags::MS_REC,
        None,
    )?;
    nix::mount::umount2(".", MntFlags::MNT_DETACH).ctx(|| "detach the old root")?;
    nix::unistd::chdir("/").ctx(|| "chdir /")?;
    Ok(())
}

/// A fresh procfs for the container's pid namespace.
fn mount_proc() -> Result<()> {
    let proc = Path::new("/proc");
    mkdir_p(proc)?;
    mnt(
        Some(Path::new("proc")),
        proc,
        Some("proc"),
        MsFlags::MS_NOSUID | MsFlags::MS_NOEXEC | MsFlags::MS_NODEV,
        None,
    )
}

/// `/dev`: a `nodev` tmpfs with the default nodes bind-mounted onto themselves, `devpts`,
/// `/dev/shm`, `/dev/mqueue` and the usual symlinks.
fn mount_dev() -> Result<()> {
    let dev = Path::new("/dev");
    mkdir_p(dev)?;
    mnt(
        Some(Path::new("tmpfs")),
        dev,
        Some("tmpfs"),
        MsFlags::MS_NOSUID | MsFlags::MS_STRICTATIME,
        Some(DEV_TMPFS),
    )?;
    for (name, major, minor) in DEVICES {
        let node = dev.join(name);
        nix::sys::stat::mknod(
            &node,
            SFlag::S_IFCHR,
            Mode::from_bits_truncate(0o666),
            makedev(major, minor),
        )
        .ctx(|| format!("mknod {}", node.display()))?;
        fs::set_permissions(&node, Permissions::from_mode(0o666))
            .ctx(|| format!("chmod {}", node.display()))?;
        mnt(Some(node.as_path()), &node, None, MsFlags::MS_BIND, None)?;
    }
    // From now on a node created in /dev cannot be opened; the bind mounts above keep theirs.
    mnt(
        None,
        dev,
        None,
        MsFlags::MS_REMOUNT | MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_STRICTATIME,
        Some(DEV_TMPFS),
    )?;

    let pts = dev.join("pts");
    mkdir_p(&pts)?;
    mnt(
        Some(Path::new("devpts")),
        &pts,
        Some("devpts"),
        MsFlags::MS_NOSUID | MsFlags::MS_NOEXEC,
        Some(DEVPTS),
    )?;
    let shm = dev.join("shm");
    mkdir_p(&shm)?;
    mnt(
        Some(Path::new("shm")),
        &shm,
        Some("tmpfs"),
        MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC,
        Some(SHM_TMPFS),
    )?;
    let mqueue = dev.join("mqueue");
    mkdir_p(&mqueue)?;
    mnt(
        Some(Path::new("mqueue")),
        &mqueue,
        Some("mqueue"),
        MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC,
        None,
    )?;
    for (link, target) in DEV_LINKS {
        symlink(target, link).ctx(|| format!("symlink {link} -> {target}"))?;
    }
    Ok(())
}

/// A fresh, read-only sysfs (in a new network namespace it shows only the container's devices).
fn mount_sys() -> Result<()> {
    let sys = Path::new("/sys");
    mkdir_p(sys)?;
    mnt(
        Some(Path::new("sysfs")),
        sys,
        Some("sysfs"),
        MsFlags::MS_RDONLY | MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC,
        None,
    )
}

/// The configured bind and tmpfs mounts, in order.
fn mount_user(mounts: &[Mount], binds: Vec<Option<BindSource>>) -> Result<()> {
    for (mount, bind) in mounts.iter().zip(binds) {
        let destination = Path::new(mount.destination());
        match (mount, bind) {
            (Mount::Bind { readonly, .. }, Some(BindSource { tree, is_dir })) => {
                if is_dir {
                    mkdir_p(destination)?;
                } else {
                    if let Some(parent) = destination.parent() {
                        mkdir_p(parent)?;
                    }
                    OpenOptions::new()
                        .write(true)
                        .create(true)
                        .truncate(false)
                        .open(destination)
                        .ctx(|| format!("create bind mount target {}", destination.display()))?;
                }
                rustix::mount::move_mount(
                    &tree,
                    "",
                    rustix::fs::CWD,
                    destination,
                    MoveMountFlags::MOVE_MOUNT_F_EMPTY_PATH,
                )
                .ctx(|| format!("move_mount onto {}", destination.display()))?;
                let mut extra = MsFlags::MS_NOSUID | MsFlags::MS_NODEV;
                if *readonly {
                    extra |= MsFlags::MS_RDONLY;
                }
                remount_bind(destination, extra)?;
            }
            (
                Mount::Tmpfs {
                    size_bytes,
                    mode,
                    readonly,
                    noexec,
                    ..
                },
                _,
            ) => {
                mkdir_p(destination)?;
                let mut data = format!("mode={:o}", mode.unwrap_or(0o1777));
                if let Some(size) = size_bytes {
                    data.push_str(&format!(",size={size}"));
                }
                let mut flags = MsFlags::MS_NOSUID | MsFlags::MS_NODEV;
                if *readonly {
                    flags |= MsFlags::MS_RDONLY;
                }
                if *noexec {
                    flags |= MsFlags::MS_NOEXEC;
                }
                mnt(
                    Some(Path::new("tmpfs")),
                    destination,
                    Some("tmpfs"),
                    flags,
                    Some(data.as_str()),
                )?;
            }
            (Mount::Bind { .. }, None) => {
                return Err(ContainerError::InvalidConfig(format!(
                    "bind mount onto {} has no cloned source",
                    destination.display()
                )));
            }
        }
    }
    Ok(())
}

/// Whether an error means "there is nothing at this path".
fn is_absent(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::NotFound || e.raw_os_error() == Some(libc::ENOTDIR)
}

/// Hides `path`: an empty read-only tmpfs over a directory, `/dev/null` over anything else.
/// A missing path is skipped.
fn mask(path: &Path) -> Result<()> {
    let meta = match fs::metadata(path) {
        Ok(meta) => meta,
        Err(e) if is_absent(&e) => return Ok(()),
        Err(e) => return Err(e).ctx(|| format!("stat masked path {}", path.display())),
    };
    if meta.is_dir() {
        mnt(
            Some(Path::new("tmpfs")),
            path,
            Some("tmpfs"),
            MsFlags::MS_RDONLY | MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC,
            Some("size=0,mode=0555"),
        )
    } else {
        mnt(
            Some(Path::new("/dev/null")),
            path,
            None,
            MsFlags::MS_BIND,
            None,
        )
    }
}

/// Makes `path` read-only: bound onto itself, then remounted read-only. A missing path is
/// skipped.
fn make_readonly(path: &Path) -> Result<()> {
    match fs::symlink_metadata(path) {
        Ok(_) => {}
        Err(e) if is_absent(&e) => return Ok(()),
        Err(e) => return Err(e).ctx(|| format!("stat read-only path {}", path.display())),
    }
    mnt(
        Some(path),
        path,
        None,
        MsFlags::MS_BIND | MsFlags::MS_REC,
        None,
    )?;
    remount_bind(path, MsFlags::MS_RDONLY)
}

/// Expands a `*` within path components (`/sys/devices/system/cpu/cpu*/thermal_throttle`);
/// a path without `*` is returned as is. Unreadable directories expand to nothing.
pub(crate) fn expand(pattern: &Path) -> Result<Vec<PathBuf>> {
    let mut paths = vec![PathBuf::from("/")];
    for component in pattern.components().skip(1) {
        let part = component.as_os_str().to_string_lossy();
        let mut next = Vec::new();
        match part.split_once('*') {
            None => {
                for p in paths {
                    next.push(p.join(&*part));
                }
            }
            Some((prefix, suffix)) => {
                for p in paths {
                    let Ok(entries) = fs::read_dir(&p) else {
                        continue;
                    };
                    let mut names: Vec<String> = entries
                        .filter_map(|e| e.ok())
                        .filter_map(|e| e.file_name().to_str().map(str::to_owned))
                        .filter(|n| {
                            n.len() >= prefix.len() + suffix.len()
                                && n.starts_with(prefix)
                                && n.ends_with(suffix)
                        })
                        .collect();
                    names.sort();
                    next.extend(names.into_iter().map(|n| p.join(n)));
                }
            }
        }
        paths = next;
    }
    Ok(paths)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expand_plain_and_glob() {
        assert_eq!(
            expand(Path::new("/proc/kcore")).expect("plain"),
            vec![PathBuf::from("/proc/kcore")]
        );
        let tmp = tempfile::tempdir().expect("tempdir");
        for d in [
            "cpu0/thermal_throttle",
            "cpu1/thermal_throttle",
            "cpu2",
            "cpufreq",
        ] {
            fs::create_dir_all(tmp.path().join(d)).expect("mkdir");
        }
        let pattern = tmp.path().join("cpu*/thermal_throttle");
        let found = expand(&pattern).expect("glob");
        assert_eq!(
            found,
            vec![
                tmp.path().join("cpu0/thermal_throttle"),
                tmp.path().join("cpu1/thermal_throttle"),
                tmp.path().join("cpu2/thermal_throttle"),
                tmp.path().join("cpufreq/thermal_throttle"),
            ]
        );
        // Expansion lists candidates; missing ones are skipped by mask().
        assert!(
            expand(&tmp.path().join("nope*/x"))
                .expect("none")
                .is_empty()
        );
    }
}
