//! Finding the cgroup hierarchies from `/proc/self/mountinfo`, and deciding v1, v2 or hybrid.
//!
//! The rule, as runc and systemd see it:
//! - a `cgroup2` filesystem at `/sys/fs/cgroup` is a unified (v2) host;
//! - v1 controller hierarchies (`cgroup` filesystems) with a `cgroup2` filesystem somewhere else
//!   (usually `/sys/fs/cgroup/unified`, without controllers) is a hybrid host, where the v1
//!   controllers do the work;
//! - v1 hierarchies alone is a legacy (v1) host;
//! - a `cgroup2` filesystem elsewhere and no v1 controller hierarchy is a v2 host too.
//!
//! v1 hierarchies are found by the controllers in their super options (`rw,cpu,cpuacct`), never by
//! the name of the directory, so co-mounted controllers (`cpu,cpuacct`) work.

use crate::Hierarchy;
use crate::error::{CgroupError, Result};
use std::path::{Path, PathBuf};

/// Where the kernel describes this process's mounts.
pub(crate) const MOUNTINFO: &str = "/proc/self/mountinfo";

/// Where distributions mount the cgroup filesystems.
pub(crate) const DEFAULT_ROOT: &str = "/sys/fs/cgroup";

/// The v1 controllers a container's cgroup is created under, in this order.
pub(crate) const V1_CONTROLLERS: [&str; 5] = ["memory", "cpu", "cpuacct", "pids", "freezer"];

/// The v1 device controller: used when mounted (Docker's device allow-list), not required.
pub(crate) const V1_DEVICES: &str = "devices";

/// One cgroup mount.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Mount {
    /// The directory of the filesystem mounted (`/` unless a subtree is bind-mounted, as inside a
    /// cgroup namespace).
    root: String,
    /// Where it is mounted.
    mount_point: PathBuf,
    /// For v1: the controllers of the hierarchy (from the super options).
    controllers: Vec<String>,
}

/// The cgroup mounts of this process.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Mounts {
    /// `cgroup2` mounts.
    v2: Vec<Mount>,
    /// `cgroup` (v1) mounts.
    v1: Vec<Mount>,
}

/// Where a container's cgroup directories go: the mount points of the hierarchies used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Layout {
    /// Unified hierarchy.
    V2 {
        /// Mount point of the `cgroup2` filesystem.
        root: PathBuf,
    },
    /// v1 controllers (legacy or hybrid host).
    V1 {
        /// True on a hybrid host.
        hybrid: bool,
        /// Mount point of the memory hierarchy.
        memory: PathBuf,
        /// Mount point of the cpu hierarchy.
        cpu: PathBuf,
        /// Mount point of the cpuacct hierarchy (the same as cpu when co-mounted).
        cpuacct: PathBuf,
        /// Mount point of the pids hierarchy.
        pids: PathBuf,
        /// Mount point of the freezer hierarchy.
        freezer: PathBuf,
        /// Mount point of the devices hierarchy, when it is mounted.
        devices: Option<PathBuf>,
    },
}

impl Layout {
    /// Reads `/proc/self/mountinfo` and works out the layout of this host.
    pub(crate) fn discover() -> Result<Layout> {
        Mounts::read()?.layout()
    }

    /// The mount points used, without duplicates (co-mounted cpu and cpuacct count once).
    pub(crate) fn mount_points(&self) -> Vec<&Path> {
        match self {
            Layout::V2 { root } => vec![root.as_path()],
            Layout::V1 {
                memory,
                cpu,
                cpuacct,
                pids,
                freezer,
                devices,
                ..
            } => {
                let mut out: Vec<&Path> = Vec::with_capacity(6);
                for p in [memory, cpu, cpuacct, pids, freezer]
                    .into_iter()
                    .chain(devices.as_ref())
                {
                    if !out.contains(&p.as_path()) {
                        out.push(p.as_path());
                    }
                }
                out
            }
        }
    }
}

impl Mounts {
    /// Reads and parses `/proc/self/mountinfo`.
    pub(crate) fn read() -> Result<Mounts> {
        let text = std::fs::read_to_string(MOUNTINFO).map_err(|source| CgroupError::Mountinfo {
            path: PathBuf::from(MOUNTINFO),
            source,
        })?;
        Ok(Mounts::parse(&text))
    }

    /// Parses the text of a mountinfo file, keeping the cgroup mounts. Malformed lines are skipped.
    pub(crate) fn parse(text: &str) -> Mounts {
        let mut mounts = Mounts::default();
        for line in text.lines() {
            let fields: Vec<&str> = line.split(' ').collect();
            // id parent major:minor root mount_point options [optional...] - fstype source super
            let Some(sep) = fields.iter().skip(6).position(|f| *f == "-").map(|i| i + 6) else {
                continue;
            };
            let (Some(root), Some(mount_point), Some(fstype), Some(super_opts)) = (
                fields.get(3),
                fields.get(4),
                fields.get(sep + 1),
                fields.get(sep + 3),
            ) else {
                continue;
            };
            let mount = Mount {
                root: unescape(root),
                mount_point: PathBuf::from(unescape(mount_point)),
                controllers: Vec::new(),
            };
            match *fstype {
                "cgroup2" => mounts.v2.push(mount),
                "cgroup" => mounts.v1.push(Mount {
                    controllers: super_opts
                        .split(',')
                        .filter(|o| V1_CONTROLLERS.contains(o) || *o == V1_DEVICES)
                        .map(str::to_owned)
                        .collect(),
                    ..mount
                }),
                _ => {}
            }
        }
        mounts
    }

    /// The mount point of the v1 hierarchy of `controller`, preferring a mount of the hierarchy's
    /// root over a bind mount of a subtree.
    fn v1_mount(&self, controller: &str) -> Option<&Path> {
        let mut candidates = self
            .v1
            .iter()
            .filter(|m| m.controllers.iter().any(|c| c == controller));
        let first = candidates.clone().next();
        candidates
            .find(|m| m.root == "/")
            .or(first)
            .map(|m| m.mount_point.as_path())
    }

    /// The mount point of the unified hierarchy: `/sys/fs/cgroup` if mounted there, otherwise the
    /// first mount of its root, otherwise the first mount.
    fn v2_mount(&self) -> Option<&Path> {
        self.v2
            .iter()
            .find(|m| m.mount_point == Path::new(DEFAULT_ROOT))
            .or_else(|| self.v2.iter().find(|m| m.root == "/"))
            .or_else(|| self.v2.first())
            .map(|m| m.mount_point.as_path())
    }

    /// The kind of host, or `None` if no cgroup filesystem is mounted.
    pub(crate) fn hierarchy(&self) -> Option<Hierarchy> {
        let v2_at_default = self
            .v2
            .iter()
            .any(|m| m.mount_point == Path::new(DEFAULT_ROOT));
        let any_v1 = V1_CONTROLLERS.iter().any(|c| self.v1_mount(c).is_some());
        match (v2_at_default, any_v1, self.v2.is_empty()) {
            (true, _, _) => Some(Hierarchy::V2),
            (false, true, false) => Some(Hierarchy::Hybrid),
            (false, true, true) => Some(Hierarchy::V1),
            (false, false, false) => Some(Hierarchy::V2),
            (false, false, true) => None,
        }
    }

    /// The layout of this host: every v1 controller flotilla uses must be mounted on a v1 or hybrid
    /// host.
    pub(crate) fn layout(&self) -> Result<Layout> {
        let hierarchy = self.hierarchy().ok_or_else(|| CgroupError::NoCgroupFs {
            path: PathBuf::from(MOUNTINFO),
        })?;
        if hierarchy == Hierarchy::V2 {
            let root = self.v2_mount().ok_or_else(|| CgroupError::NoCgroupFs {
                path: PathBuf::from(MOUNTINFO),
            })?;
            return Ok(Layout::V2 {
                root: root.to_path_buf(),
            });
        }
        let mount = |controller: &'static str| -> Result<PathBuf> {
            self.v1_mount(controller)
                .map(Path::to_path_buf)
                .ok_or_else(|| CgroupError::ControllerNotMounted {
                    controller,
                    path: PathBuf::from(MOUNTINFO),
                })
        };
        Ok(Layout::V1 {
            hybrid: hierarchy == Hierarchy::Hybrid,
            memory: mount("memory")?,
            cpu: mount("cpu")?,
            cpuacct: mount("cpuacct")?,
            pids: mount("pids")?,
            freezer: mount("freezer")?,
            devices: self.v1_mount(V1_DEVICES).map(Path::to_path_buf),
        })
    }
}

/// Undoes mountinfo's octal escapes (`\040` for a space, `\011`, `\012`, `\134`).
fn unescape(field: &str) -> String {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\'
            && let Some(digits) = bytes.get(i + 1..i + 4)
            && digits.iter().all(|d| (b'0'..=b'7').contains(d))
        {
            let value = digits
                .iter()
                .fold(0_u32, |acc, d| acc * 8 + u32::from(d - b'0'));
            if let Ok(byte) = u8::try_from(value) {
                out.push(byte);
                i += 4;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    // This development host (hybrid).
    const HYBRID: &str = "\
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
33 31 0:30 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct
34 31 0:31 / /sys/fs/cgroup/cpuset rw,relatime - cgroup cgroup rw,cpuset
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
36 31 0:33 / /sys/fs/cgroup/devices rw,relatime - cgroup cgroup rw,devices
37 31 0:34 / /sys/fs/cgroup/freezer rw,relatime - cgroup cgroup rw,freezer
38 31 0:35 / /sys/fs/cgroup/blkio rw,relatime - cgroup cgroup rw,blkio
39 31 0:36 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
";

    // A systemd host on unified cgroups (Debian 12, Fedora, Ubuntu 22.04+).
    const UNIFIED: &str = "\
22 28 0:21 / /sys rw,nosuid,nodev,noexec,relatime shared:7 - sysfs sysfs rw
26 22 0:23 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:9 - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot
";

    // A legacy host with co-mounted cpu,cpuacct and no unified mount.
    const LEGACY: &str = "\
25 18 0:22 / /sys/fs/cgroup ro,nosuid,nodev,noexec shared:8 - tmpfs tmpfs ro,mode=755
29 25 0:26 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid,nodev,noexec,relatime shared:11 - cgroup cgroup rw,cpu,cpuacct
30 25 0:27 / /sys/fs/cgroup/memory rw,nosuid,nodev,noexec,relatime shared:12 - cgroup cgroup rw,memory
31 25 0:28 / /sys/fs/cgroup/pids rw,nosuid,nodev,noexec,relatime shared:13 - cgroup cgroup rw,pids
32 25 0:29 / /sys/fs/cgroup/freezer rw,nosuid,nodev,noexec,relatime shared:14 - cgroup cgroup rw,freezer
";

    #[test]
    fn hybrid_host() {
        let mounts = Mounts::parse(HYBRID);
        assert_eq!(mounts.hierarchy(), Some(Hierarchy::Hybrid));
        let layout = mounts.layout().expect("layout");
        assert_eq!(
            layout,
            Layout::V1 {
                hybrid: true,
                memory: PathBuf::from("/sys/fs/cgroup/memory"),
                cpu: PathBuf::from("/sys/fs/cgroup/cpu"),
                cpuacct: PathBuf::from("/sys/fs/cgroup/cpuacct"),
                pids: PathBuf::from("/sys/fs/cgroup/pids"),
                freezer: PathBuf::from("/sys/fs/cgroup/freezer"),
                devices: Some(PathBuf::from("/sys/fs/cgroup/devices")),
            }
        );
        assert_eq!(layout.mount_points().len(), 6);
    }

    #[test]
    fn unified_host() {
        let mounts = Mounts::parse(UNIFIED);
        assert_eq!(mounts.hierarchy(), Some(Hierarchy::V2));
        assert_eq!(
            mounts.layout().expect("layout"),
            Layout::V2 {
                root: PathBuf::from("/sys/fs/cgroup")
            }
        );
    }

    #[test]
    fn legacy_host_with_comounted_cpu() {
        let mounts = Mounts::parse(LEGACY);
        assert_eq!(mounts.hierarchy(), Some(Hierarchy::V1));
        let layout = mounts.layout().expect("layout");
        let Layout::V1 {
            hybrid,
            cpu,
            cpuacct,
            ..
        } = &layout
        else {
            panic!("expected v1, got {layout:?}");
        };
        assert!(!hybrid);
        assert_eq!(cpu, &PathBuf::from("/sys/fs/cgroup/cpu,cpuacct"));
        assert_eq!(cpu, cpuacct);
        // cpu and cpuacct count once; no devices hierarchy is mounted there.
        assert_eq!(layout.mount_points().len(), 4);
        assert!(matches!(layout, Layout::V1 { devices: None, .. }));
    }

    #[test]
    fn missing_controller_is_named() {
        let text: String = LEGACY
            .lines()
            .filter(|l| !l.contains("pids"))
            .map(|l| format!("{l}\n"))
            .collect();
        let err = Mounts::parse(&text).layout().expect_err("pids missing");
        assert!(err.to_string().contains("`pids`"), "{err}");
    }

    #[test]
    fn no_cgroup_fs() {
        let err = Mounts::parse("22 28 0:21 / /sys rw - sysfs sysfs rw\n")
            .layout()
            .expect_err("nothing mounted");
        assert!(matches!(err, CgroupError::NoCgroupFs { .. }), "{err}");
    }

    #[test]
    fn escaped_mount_points() {
        assert_eq!(unescape(r"/mnt/with\040space"), "/mnt/with space");
        assert_eq!(unescape(r"/a\134b"), r"/a\b");
        assert_eq!(unescape(r"/trailing\04"), r"/trailing\04");
        let mounts =
            Mounts::parse("26 22 0:23 / /run/my\\040cg rw shared:9 - cgroup2 cgroup2 rw\n");
        assert_eq!(
            mounts.layout().expect("layout"),
            Layout::V2 {
                root: PathBuf::from("/run/my cg")
            }
        );
    }
}
