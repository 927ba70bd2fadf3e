//! One container's cgroup: created at `<parent>/<name>` in every hierarchy used (the unified one on
//! v2; memory, cpu, cpuacct, pids, freezer and, when mounted, devices on v1 and hybrid hosts), and
//! everything the runtime
//! does with it.

use crate::error::{CgroupError, Result};
use crate::format;
use crate::fsio;
use crate::limits::Limits;
use crate::mountinfo::Layout;
use crate::stats::Stats;
use crate::{Hierarchy, v1, v2};
use nix::errno::Errno;
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use std::collections::BTreeSet;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// How long [`Cgroup::freeze`] waits for the kernel to stop every task.
pub const FREEZE_TIMEOUT: Duration = Duration::from_secs(2);

/// How long [`Cgroup::kill_all`] keeps killing before it gives up.
pub const KILL_TIMEOUT: Duration = Duration::from_secs(5);

/// How long [`Cgroup::delete`] retries while the kernel finishes reaping.
pub const DELETE_TIMEOUT: Duration = Duration::from_secs(2);

/// One container's cgroup.
///
/// The handle owns nothing in the kernel: dropping it leaves the cgroup as it is (a restarted
/// daemon re-adopts it with [`Cgroup::open`]); [`Cgroup::delete`] removes it.
#[derive(Debug)]
pub struct Cgroup {
    /// `<parent>/<name>`, relative to the root of each hierarchy.
    relative: PathBuf,
    /// The directories.
    backend: Backend,
}

/// The directories of a cgroup.
#[derive(Debug)]
enum Backend {
    /// In the unified hierarchy.
    V2 {
        /// The cgroup directory.
        dir: PathBuf,
    },
    /// In the v1 controller hierarchies.
    V1 {
        /// Whether the host is hybrid (for [`Cgroup::hierarchy`]).
        hybrid: bool,
        /// One directory per controller.
        dirs: v1::Dirs,
    },
}

impl Cgroup {
    /// Creates the cgroup `<parent>/<name>` in every hierarchy used, and writes `limits` to it.
    ///
    /// `parent` is a relative path like `"flotilla-<node name>/containers"`, so that several daemons
    /// on one host keep separate trees; it is created as needed. On v2, `+memory +cpu +pids` are
    /// enabled in `cgroup.subtree_control` of the root and of every cgroup of `parent`, from the top
    /// down; a controller that is not available is an error naming it and the cgroup that lacks it.
    ///
    /// Fails if the cgroup already exists (remove a stale one with [`Cgroup::destroy`]). On failure
    /// nothing created for the cgroup itself is left behind (the parents stay).
    pub fn create(parent: &str, name: &str, limits: &Limits) -> Result<Cgroup> {
        Self::create_in(&Layout::discover()?, parent, name, limits)
    }

    /// Opens the existing cgroup `<parent>/<name>`, to re-adopt it after a daemon restart.
    ///
    /// Fails with [`CgroupError::NotFound`] if it is missing from any hierarchy used.
    pub fn open(parent: &str, name: &str) -> Result<Cgroup> {
        Self::open_in(&Layout::discover()?, parent, name)
    }

    /// Kills every process left in the cgroup `<parent>/<name>` and removes it from every
    /// hierarchy where it exists: for stale cgroups, even half-created ones. `Ok` if it does not
    /// exist at all.
    pub fn destroy(parent: &str, name: &str) -> Result<()> {
        let layout = Layout::discover()?;
        let cgroup = Self::at(&layout, relative(parent, name)?);
        cgroup.kill_all()?;
        cgroup.delete()
    }

    /// The names of the cgroups directly under `parent` (in the unified hierarchy, or the v1
    /// memory hierarchy): what a restarted daemon finds to re-adopt or destroy. Empty if `parent`
    /// does not exist.
    pub fn list(parent: &str) -> Result<Vec<String>> {
        let layout = Layout::discover()?;
        let parent = checked(parent, true)?;
        let base = match &layout {
            Layout::V2 { root } => root.join(&parent),
            Layout::V1 { memory, .. } => memory.join(&parent),
        };
        Ok(fsio::child_dirs(&base)?
            .iter()
            .filter_map(|p| p.file_name().and_then(|n| n.to_str()).map(str::to_owned))
            .collect())
    }

    /// [`Cgroup::create`] on a given layout.
    pub(crate) fn create_in(
        layout: &Layout,
        parent: &str,
        name: &str,
        limits: &Limits,
    ) -> Result<Cgroup> {
        let relative = relative(parent, name)?;
        let cgroup = Self::at(layout, relative);
        if let Layout::V2 { root } = layout {
            v2::prepare_parents(root, Path::new(parent))?;
        }
        let mut created: Vec<&Path> = Vec::new();
        for dir in cgroup.paths() {
            let made = match dir.parent() {
                Some(parent_dir) => {
                    fsio::create_dir_all(parent_dir).and_then(|()| fsio::create_dir(dir))
                }
                None => fsio::create_dir(dir),
            };
            match made {
                Ok(true) => created.push(dir),
                Ok(false) => {
                    rollback(&created);
                    return Err(CgroupError::AlreadyExists {
                        path: dir.to_path_buf(),
                    });
                }
                Err(e) => {
                    rollback(&created);
                    return Err(e);
                }
            }
        }
        let restricted = match &cgroup.backend {
            Backend::V1 {
                dirs:
                    v1::Dirs {
                        devices: Some(devices),
                        ..
                    },
                ..
            } => v1::restrict_devices(devices),
            _ => Ok(()),
        };
        if let Err(e) = restricted.and_then(|()| cgroup.set_limits(limits)) {
            rollback(&created);
            return Err(e);
        }
        tracing::debug!(cgroup = %cgroup.relative.display(), hierarchy = %cgroup.hierarchy(), "cgroup created");
        Ok(cgroup)
    }

    /// [`Cgroup::open`] on a given layout.
    pub(crate) fn open_in(layout: &Layout, parent: &str, name: &str) -> Result<Cgroup> {
        let mut cgroup = Self::at(layout, relative(parent, name)?);
        // A cgroup made before flotilla used the devices controller has no directory there.
        if let Backend::V1 { dirs, .. } = &mut cgroup.backend
            && dirs.devices.as_ref().is_some_and(|d| !fsio::is_dir(d))
        {
            dirs.devices = None;
        }
        if let Some(missing) = cgroup.paths().into_iter().find(|dir| !fsio::is_dir(dir)) {
            return Err(CgroupError::NotFound {
                path: missing.to_path_buf(),
            });
        }
        Ok(cgroup)
    }

    /// The handle of `relative` in `layout`, without looking at the filesystem.
    fn at(layout: &Layout, relative: PathBuf) -> Cgroup {
        let backend = match layout {
            Layout::V2 { root } => Backend::V2 {
                dir: root.join(&relative),
            },
            Layout::V1 {
                hybrid,
                memory,
                cpu,
                cpuacct,
                pids,
                freezer,
                devices,
            } => Backend::V1 {
                hybrid: *hybrid,
                dirs: v1::Dirs {
                    memory: memory.join(&relative),
                    cpu: cpu.join(&relative),
                    cpuacct: cpuacct.join(&relative),
                    pids: pids.join(&relative),
                    freezer: freezer.join(&relative),
                    devices: devices.as_ref().map(|d| d.join(&relative)),
                },
            },
        };
        Cgroup { relative, backend }
    }

    /// The kind of hierarchy this cgroup lives in.
    pub fn hierarchy(&self) -> Hierarchy {
        match &self.backend {
            Backend::V2 { .. } => Hierarchy::V2,
            Backend::V1 { hybrid: true, .. } => Hierarchy::Hybrid,
            Backend::V1 { hybrid: false, .. } => Hierarchy::V1,
        }
    }

    /// `<parent>/<name>`, relative to the root of each hierarchy.
    pub fn relative_path(&self) -> &Path {
        &self.relative
    }

    /// The cgroup's directory in the unified hierarchy, on v2 hosts only. The runtime opens it
    /// (see [`Cgroup::open_dir_v2`]) to start the container's first process in the cgroup with
    /// `clone3(CLONE_INTO_CGROUP)`.
    pub fn path_v2(&self) -> Option<&Path> {
        match &self.backend {
            Backend::V2 { dir } => Some(dir.as_path()),
            Backend::V1 { .. } => None,
        }
    }

    /// Every directory of the cgroup, once each: the unified one on v2; memory, cpu, cpuacct (if not
    /// co-mounted with cpu), pids, freezer and devices (when mounted) on v1. Writing a pid to
    /// `cgroup.procs` in each is what
    /// [`Cgroup::add_pid`] does.
    pub fn paths(&self) -> Vec<&Path> {
        match &self.backend {
            Backend::V2 { dir } => vec![dir.as_path()],
            Backend::V1 { dirs, .. } => dirs.distinct(),
        }
    }

    /// Opens the v2 cgroup directory (read-only, close-on-exec) for `CLONE_INTO_CGROUP`; `None`
    /// on v1 and hybrid hosts.
    pub fn open_dir_v2(&self) -> Result<Option<File>> {
        let Some(dir) = self.path_v2() else {
            return Ok(None);
        };
        File::open(dir)
            .map(Some)
            .map_err(|source| CgroupError::OpenDir {
                path: dir.to_path_buf(),
                source,
            })
    }

    /// Moves the process `pid` (all its threads) into the cgroup, by writing it to `cgroup.procs` in
    /// every hierarchy used.
    pub fn add_pid(&self, pid: i32) -> Result<()> {
        if pid <= 0 {
            return Err(CgroupError::InvalidPid {
                path: self.primary().to_path_buf(),
                pid,
                reason: "not a process id (0 would move the daemon itself)",
            });
        }
        let value = pid.to_string();
        for dir in self.paths() {
            fsio::write(&dir.join("cgroup.procs"), &value)?;
        }
        Ok(())
    }

    /// Moves the calling thread into the cgroup: the whole process when it has one thread, as a
    /// container's first process and an exec helper have (the caller must make sure of that).
    ///
    /// On v1 it writes `0` to `tasks` in every hierarchy: moving only the writer itself lets the
    /// kernel skip the cluster-wide `cgroup_threadgroup_rwsem`, whose write lock waits for an RCU
    /// grace period (milliseconds) — the price of a write to `cgroup.procs`. v2 has no such door
    /// (`cgroup.threads` stays inside a threaded domain), so it writes `0` to `cgroup.procs`;
    /// there, starting the process in the cgroup with `clone3(CLONE_INTO_CGROUP)`
    /// ([`Cgroup::open_dir_v2`]) avoids the lock altogether.
    pub fn join_self(&self) -> Result<()> {
        let file = match &self.backend {
            Backend::V2 { .. } => "cgroup.procs",
            Backend::V1 { .. } => "tasks",
        };
        for dir in self.paths() {
            fsio::write(&dir.join(file), "0")?;
        }
        Ok(())
    }

    /// The processes in the cgroup and in any cgroup below it (a container with its own cgroup
    /// namespace may create some), in every hierarchy used, sorted, without duplicates. Exited
    /// processes not yet reaped are not listed (the kernel leaves them out of `cgroup.procs`).
    pub fn pids(&self) -> Result<Vec<i32>> {
        self.collect_pids(false)
    }

    /// Writes `limits` (see [`Limits`] for which fields are left unchanged). An invalid combination
    /// is refused before anything is written.
    pub fn set_limits(&self, limits: &Limits) -> Result<()> {
        match &self.backend {
            Backend::V2 { dir } => v2::apply_limits(dir, limits),
            Backend::V1 { dirs, .. } => v1::apply_limits(dirs, limits),
        }
    }

    /// Memory usage and limit, CPU time and task count (see [`Stats`] for the files read).
    pub fn stats(&self) -> Result<Stats> {
        match &self.backend {
            Backend::V2 { dir } => v2::stats(dir),
            Backend::V1 { dirs, .. } => v1::stats(dirs),
        }
    }

    /// How many processes the OOM killer has killed in this cgroup.
    ///
    /// - v2: `oom_kill` of `memory.events` (this cgroup and its descendants).
    /// - v1 and hybrid: `oom_kill` of `memory.oom_control` (kernel ≥ 4.13; this cgroup only). On
    ///   older kernels, which lack that line, the larger of `memory.failcnt` and
    ///   `memory.memsw.failcnt`: the number of times the limit was hit. It is non-zero whenever the
    ///   OOM killer ran, but it also counts hits that reclaim resolved, so there it means "may have
    ///   been OOM-killed".
    pub fn oom_kills(&self) -> Result<u64> {
        match &self.backend {
            Backend::V2 { dir } => v2::oom_kills(dir),
            Backend::V1 { dirs, .. } => v1::oom_kills(&dirs.memory),
        }
    }

    /// Freezes every process of the cgroup and its descendants (v2 `cgroup.freeze`, v1
    /// `freezer.state`) and waits up to [`FREEZE_TIMEOUT`] until the kernel reports them all
    /// frozen; if it does not, thaws again and fails.
    pub fn freeze(&self) -> Result<()> {
        self.freeze_until(Instant::now() + FREEZE_TIMEOUT)
    }

    /// Thaws the cgroup.
    pub fn thaw(&self) -> Result<()> {
        match &self.backend {
            Backend::V2 { dir } => v2::thaw(dir),
            Backend::V1 { dirs, .. } => v1::thaw(&dirs.freezer),
        }
    }

    /// Kills every process of the cgroup and its descendants, and waits until none is left
    /// (up to [`KILL_TIMEOUT`], then fails naming the survivors).
    ///
    /// On v2 with `cgroup.kill` (kernel ≥ 5.14) the kernel does it, forks in flight included; the
    /// call waits for `populated 0` in `cgroup.events`. Otherwise it repeats, until `cgroup.procs`
    /// is empty everywhere: freeze (so that no pid is reused and nothing forks between reading and
    /// signalling), `SIGKILL` every pid listed, thaw (on v1 frozen tasks die only once thawed).
    /// A cgroup that is already gone has nothing to kill: `Ok`. Processes that have exited but are
    /// not reaped yet do not count; they do not prevent [`Cgroup::delete`] either.
    pub fn kill_all(&self) -> Result<()> {
        let started = Instant::now();
        let deadline = started + KILL_TIMEOUT;
        if let Backend::V2 { dir } = &self.backend {
            let kill_file = dir.join("cgroup.kill");
            if kill_file.exists() {
                return self.kill_with_cgroup_kill(dir, &kill_file, started, deadline);
            }
        }
        self.kill_with_signals(started, deadline)
    }

    /// Removes the cgroup (and any cgroup below it) from every hierarchy, retrying for up to
    /// [`DELETE_TIMEOUT`] while the kernel finishes reaping its processes. A hierarchy where it is
    /// already gone is fine. Kill the processes first ([`Cgroup::kill_all`]): a cgroup with live
    /// processes cannot be removed.
    ///
    /// Every hierarchy is attempted; the first error is returned.
    pub fn delete(self) -> Result<()> {
        let deadline = Instant::now() + DELETE_TIMEOUT;
        let mut first_error = None;
        for dir in self.paths() {
            if let Err(e) = fsio::remove_tree(dir, deadline) {
                tracing::warn!(dir = %dir.display(), error = %e, "cannot remove cgroup");
                first_error.get_or_insert(e);
            }
        }
        match first_error {
            Some(e) => Err(e),
            None => {
                tracing::debug!(cgroup = %self.relative.display(), "cgroup deleted");
                Ok(())
            }
        }
    }

    /// The directory named in errors about the cgroup as a whole.
    fn primary(&self) -> &Path {
        match &self.backend {
            Backend::V2 { dir } => dir.as_path(),
            Backend::V1 { dirs, .. } => dirs.memory.as_path(),
        }
    }

    /// Freezes, waiting until `deadline`.
    fn freeze_until(&self, deadline: Instant) -> Result<()> {
        match &self.backend {
            Backend::V2 { dir } => v2::freeze(dir, deadline),
            Backend::V1 { dirs, .. } => v1::freeze(&dirs.freezer, deadline),
        }
    }

    /// The pids of every hierarchy, recursively. A missing cgroup is an error unless `missing_ok`;
    /// a child cgroup vanishing while it is read is never one.
    fn collect_pids(&self, missing_ok: bool) -> Result<Vec<i32>> {
        let mut pids = BTreeSet::new();
        for dir in self.paths() {
            collect_tree(dir, missing_ok, &mut pids)?;
        }
        Ok(pids.into_iter().collect())
    }

    /// [`Cgroup::kill_all`] through `cgroup.kill`.
    fn kill_with_cgroup_kill(
        &self,
        dir: &Path,
        kill_file: &Path,
        started: Instant,
        deadline: Instant,
    ) -> Result<()> {
        let mut delay = Duration::from_millis(1);
        loop {
            // Written again on every round: harmless, and it catches anything that slipped in.
            match fsio::write(kill_file, "1") {
                Ok(()) => {}
                Err(e) if e.io_kind() == Some(std::io::ErrorKind::NotFound) => return Ok(()),
                Err(e) => return Err(e),
            }
            match v2::populated(dir) {
                Ok(false) => return Ok(()),
                Ok(true) => {}
                Err(e) if e.io_kind() == Some(std::io::ErrorKind::NotFound) => return Ok(()),
                Err(e) => return Err(e),
            }
            let now = Instant::now();
            if now >= deadline {
                let left = self.collect_pids(true).unwrap_or_default();
                return Err(CgroupError::Timeout {
                    path: dir.to_path_buf(),
                    operation: "kill_all",
                    waited: started.elapsed(),
                    detail: format!("cgroup.events still shows populated 1 (pids {left:?})"),
                });
            }
            std::thread::sleep(delay.min(deadline - now));
            delay = (delay * 2).min(Duration::from_millis(50));
        }
    }

    /// [`Cgroup::kill_all`] by freezing and signalling.
    fn kill_with_signals(&self, started: Instant, deadline: Instant) -> Result<()> {
        let own_pid = i32::try_from(std::process::id()).unwrap_or(i32::MAX);
        let mut delay = Duration::from_millis(1);
        loop {
            let pids = self.collect_pids(true)?;
            if pids.is_empty() {
                return Ok(());
            }
            if pids.contains(&own_pid) {
                return Err(CgroupError::InvalidPid {
                    path: self.primary().to_path_buf(),
                    pid: own_pid,
                    reason: "this process is in the cgroup: refusing to kill itself",
                });
            }
            let now = Instant::now();
            if now >= deadline {
                return Err(CgroupError::Timeout {
                    path: self.primary().to_path_buf(),
                    operation: "kill_all",
                    waited: started.elapsed(),
                    detail: format!("{} processes left: {pids:?}", pids.len()),
                });
            }
            let freeze_deadline = (now + Duration::from_millis(500)).min(deadline);
            if let Err(e) = self.freeze_until(freeze_deadline) {
                // Still worth signalling: only the pid-reuse protection is lost.
                tracing::warn!(cgroup = %self.relative.display(), error = %e, "cannot freeze before killing");
            }
            let mut signal_error = None;
            for &pid in &pids {
                match kill(Pid::from_raw(pid), Signal::SIGKILL) {
                    Ok(()) | Err(Errno::ESRCH) => {}
                    Err(errno) => {
                        signal_error.get_or_insert(CgroupError::Signal {
                            path: self.primary().to_path_buf(),
                            pid,
                            source: std::io::Error::from(errno),
                        });
                    }
                }
            }
            if let Err(e) = self.thaw() {
                tracing::warn!(cgroup = %self.relative.display(), error = %e, "cannot thaw after killing");
            }
            if let Some(e) = signal_error {
                return Err(e);
            }
            std::thread::sleep(delay.min(deadline.saturating_duration_since(Instant::now())));
            delay = (delay * 2).min(Duration::from_millis(50));
        }
    }
}

/// Adds the pids of `dir` and of every cgroup below it to `out`.
fn collect_tree(dir: &Path, missing_ok: bool, out: &mut BTreeSet<i32>) -> Result<()> {
    let procs = dir.join("cgroup.procs");
    let Some(text) = fsio::read_opt(&procs)? else {
        if missing_ok {
            return Ok(());
        }
        return Err(CgroupError::NotFound {
            path: dir.to_path_buf(),
        });
    };
    out.extend(format::procs(&text).map_err(|reason| fsio::parse_error(&procs, reason))?);
    for child in fsio::child_dirs(dir)? {
        collect_tree(&child, true, out)?;
    }
    Ok(())
}

/// Removes the directories just created, after a failure; best effort.
fn rollback(created: &[&Path]) {
    for dir in created {
        if let Err(e) = std::fs::remove_dir(dir) {
            tracing::warn!(dir = %dir.display(), error = %e, "cannot remove a cgroup left by a failed create");
        }
    }
}

/// Removes `<mount>/<path>` and every cgroup below it, in every hierarchy flotilla uses: a node's
/// whole tree (`"flotilla-<node name>"`) when it leaves, or a test's. The cgroups must hold no
/// processes any more (see [`Cgroup::kill_all`]); the kernel is given [`DELETE_TIMEOUT`] to finish
/// reaping. `Ok` if it does not exist.
pub fn remove_tree(path: &str) -> Result<()> {
    let relative = checked(path, true)?;
    let layout = Layout::discover()?;
    let deadline = Instant::now() + DELETE_TIMEOUT;
    let mut first_error = None;
    for mount in layout.mount_points() {
        if let Err(e) = fsio::remove_tree(&mount.join(&relative), deadline) {
            first_error.get_or_insert(e);
        }
    }
    first_error.map_or(Ok(()), Err)
}

/// `<parent>/<name>`, both checked.
fn relative(parent: &str, name: &str) -> Result<PathBuf> {
    let mut path = checked(parent, true)?;
    let name_path = checked(name, false)?;
    path.push(name_path);
    Ok(path)
}

/// Checks that `path` is a plain relative path: not empty, no leading `/`, no empty, `.` or `..`
/// component; a single component unless `nested`.
fn checked(path: &str, nested: bool) -> Result<PathBuf> {
    let invalid = |reason| CgroupError::InvalidPath {
        path: path.to_owned(),
        reason,
    };
    if path.is_empty() {
        return Err(invalid("empty"));
    }
    if path.starts_with('/') {
        return Err(invalid("must be relative to the hierarchy's root"));
    }
    if !nested && path.contains('/') {
        return Err(invalid("a name must be a single path component"));
    }
    for component in path.split('/') {
        if component.is_empty() {
            return Err(invalid("has an empty component"));
        }
        if component == "." || component == ".." {
            return Err(invalid("`.` and `..` are not allowed"));
        }
        if component.contains('\0') {
            return Err(invalid("contains a NUL byte"));
        }
    }
    Ok(PathBuf::from(path))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    fn seed(dir: &Path, files: &[(&str, &str)]) {
        fs::create_dir_all(dir).expect("mkdir");
        for (name, content) in files {
            fs::write(dir.join(name), content).expect("seed file");
        }
    }

    fn content(path: &Path) -> String {
        fs::read_to_string(path).expect("read")
    }

    /// A fake unified tree whose parent chain `flotilla-n1/containers` has every controller.
    fn fake_v2(root: &Path) -> Layout {
        for dir in [
            root.to_path_buf(),
            root.join("flotilla-n1"),
            root.join("flotilla-n1/containers"),
        ] {
            seed(
                &dir,
                &[
                    ("cgroup.controllers", "cpu memory pids\n"),
                    ("cgroup.subtree_control", "\n"),
                ],
            );
        }
        Layout::V2 {
            root: root.to_path_buf(),
        }
    }

    fn fake_v2_leaf(dir: &Path) {
        seed(
            dir,
            &[
                ("cgroup.procs", "12\n34\n"),
                ("cgroup.events", "populated 0\nfrozen 1\n"),
                ("cgroup.freeze", "0\n"),
                ("cgroup.kill", ""),
                ("memory.max", "max\n"),
                ("memory.current", "4096\n"),
                ("memory.stat", "inactive_file 0\n"),
                ("memory.events", "oom 1\noom_kill 1\n"),
                ("cpu.max", "max 100000\n"),
                ("cpu.stat", "usage_usec 7\n"),
                ("pids.max", "max\n"),
                ("pids.current", "2\n"),
            ],
        );
        seed(&dir.join("nested"), &[("cgroup.procs", "56\n12\n")]);
    }

    #[test]
    fn paths_are_checked() {
        assert!(relative("flotilla-n1/containers", "abc").is_ok());
        for (parent, name) in [
            ("", "abc"),
            ("/abs", "abc"),
            ("a//b", "abc"),
            ("a/../b", "abc"),
            ("a/", "abc"),
            ("a", "b/c"),
            ("a", ".."),
            ("a", ""),
        ] {
            let err = relative(parent, name).expect_err("invalid");
            assert!(
                matches!(err, CgroupError::InvalidPath { .. }),
                "{parent:?} {name:?}"
            );
        }
    }

    #[test]
    fn v2_create_enables_controllers_and_refuses_existing() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let layout = fake_v2(tmp.path());
        let cgroup = Cgroup::create_in(&layout, "flotilla-n1/containers", "c1", &Limits::default())
            .expect("create");
        assert_eq!(cgroup.hierarchy(), Hierarchy::V2);
        let leaf = tmp.path().join("flotilla-n1/containers/c1");
        assert_eq!(cgroup.path_v2(), Some(leaf.as_path()));
        assert_eq!(cgroup.paths(), vec![leaf.as_path()]);
        assert!(leaf.is_dir());
        for dir in [
            tmp.path().to_path_buf(),
            tmp.path().join("flotilla-n1"),
            tmp.path().join("flotilla-n1/containers"),
        ] {
            assert_eq!(
                content(&dir.join("cgroup.subtree_control")),
                "+memory +cpu +pids"
            );
        }
        assert!(cgroup.open_dir_v2().expect("open dir").is_some());

        let err = Cgroup::create_in(&layout, "flotilla-n1/containers", "c1", &Limits::default())
            .expect_err("exists");
        assert!(matches!(err, CgroupError::AlreadyExists { .. }), "{err}");
        assert!(leaf.is_dir(), "the existing cgroup must be left alone");
    }

    #[test]
    fn v2_create_rolls_back_when_limits_fail() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let layout = fake_v2(tmp.path());
        // A plain directory has no memory.max: the write fails, as without the memory controller.
        let limits = Limits {
            memory_bytes: Some(64 << 20),
            ..Limits::default()
        };
        let err = Cgroup::create_in(&layout, "flotilla-n1/containers", "c1", &limits)
            .expect_err("no memory.max");
        assert!(err.to_string().contains("memory.max"), "{err}");
        assert!(!tmp.path().join("flotilla-n1/containers/c1").exists());
    }

    #[test]
    fn v2_operations_on_an_opened_cgroup() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let layout = fake_v2(tmp.path());
        let leaf = tmp.path().join("flotilla-n1/containers/c1");
        assert!(matches!(
            Cgroup::open_in(&layout, "flotilla-n1/containers", "c1"),
            Err(CgroupError::NotFound { .. })
        ));
        fake_v2_leaf(&leaf);
        let cgroup = Cgroup::open_in(&layout, "flotilla-n1/containers", "c1").expect("open");

        assert_eq!(cgroup.pids().expect("pids"), vec![12, 34, 56]);
        cgroup.add_pid(42).expect("add");
        assert_eq!(content(&leaf.join("cgroup.procs")), "42");
        assert!(matches!(
            cgroup.add_pid(0),
            Err(CgroupError::InvalidPid { pid: 0, .. })
        ));

        cgroup
            .set_limits(&Limits {
                memory_bytes: Some(64 << 20),
                pids_max: Some(16),
                ..Limits::default()
            })
            .expect("limits");
        assert_eq!(content(&leaf.join("memory.max")), "67108864");
        assert_eq!(content(&leaf.join("pids.max")), "16");

        let stats = cgroup.stats().expect("stats");
        assert_eq!(stats.memory_limit_bytes, Some(64 << 20));
        assert_eq!(stats.cpu_usage_ns, 7000);
        assert_eq!(cgroup.oom_kills().expect("oom"), 1);

        cgroup.freeze().expect("freeze");
        assert_eq!(content(&leaf.join("cgroup.freeze")), "1");
        cgroup.thaw().expect("thaw");
        assert_eq!(content(&leaf.join("cgroup.freeze")), "0");

        // cgroup.kill is present and cgroup.events shows populated 0.
        cgroup.kill_all().expect("kill");
        assert_eq!(content(&leaf.join("cgroup.kill")), "1");
    }

    #[test]
    fn v1_create_in_every_hierarchy_and_roll_back() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let mount = |c: &str| tmp.path().join(c);
        let layout = Layout::V1 {
            hybrid: true,
            memory: mount("memory"),
            cpu: mount("cpu,cpuacct"),
            cpuacct: mount("cpu,cpuacct"),
            pids: mount("pids"),
            freezer: mount("freezer"),
            devices: None,
        };
        let cgroup = Cgroup::create_in(&layout, "flotilla-n1/containers", "c1", &Limits::default())
            .expect("create");
        assert_eq!(cgroup.hierarchy(), Hierarchy::Hybrid);
        assert_eq!(cgroup.path_v2(), None);
        assert!(cgroup.open_dir_v2().expect("none").is_none());
        assert_eq!(cgroup.paths().len(), 4);
        for dir in cgroup.paths() {
            assert!(dir.is_dir(), "{}", dir.display());
            assert!(dir.ends_with("flotilla-n1/containers/c1"));
        }
        // An empty cgroup (no cgroup.procs in a plain directory counts as gone): nothing to kill.
        cgroup.kill_all().expect("kill nothing");

        // c2 exists in the pids hierarchy only (a half-created leftover): create fails, and the
        // directories it made before noticing are removed again.
        fs::create_dir_all(mount("pids").join("flotilla-n1/containers/c2")).expect("mkdir");
        let err = Cgroup::create_in(&layout, "flotilla-n1/containers", "c2", &Limits::default())
            .expect_err("exists");
        assert!(matches!(err, CgroupError::AlreadyExists { .. }), "{err}");
        assert!(!mount("memory").join("flotilla-n1/containers/c2").exists());
        assert!(
            !mount("cpu,cpuacct")
                .join("flotilla-n1/containers/c2")
                .exists()
        );
        assert!(mount("pids").join("flotilla-n1/containers/c2").exists());
        assert!(matches!(
            Cgroup::open_in(&layout, "flotilla-n1/containers", "c2"),
            Err(CgroupError::NotFound { .. })
        ));

        // Plain directories can be removed like cgroups.
        cgroup.delete().expect("delete");
        assert!(!mount("memory").join("flotilla-n1/containers/c1").exists());
    }
}
