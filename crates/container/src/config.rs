//! What a container is made of: [`ContainerConfig`], the JSON document the daemon writes to
//! `<state dir>/config.json` and the helper reads back, with Docker's defaults.
//!
//! The defaults follow Docker (moby `oci/defaults.go` and `daemon/oci_linux.go`): its 14 default
//! capabilities, masked and read-only `/proc` and `/sys` paths, inherited rlimits, new pid,
//! mount, uts, ipc and net namespaces, a `PATH` when the image sets none, and the hostname taken
//! from the first 12 characters of the id. Two hardening defaults go further than Docker:
//! `no_new_privs` is on (CIS Docker Benchmark 5.25), and every filesystem of the container is
//! mounted `nodev` except the six default device nodes (see [`crate::init`]).

use crate::caps;
use crate::error::{ContainerError, Result};
use flotilla_cgroups::Limits;
use serde::{Deserialize, Serialize};
use std::path::{Component, Path, PathBuf};

/// Docker's `PATH` for containers whose environment has none.
pub const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Docker's default capability set (bounding = permitted = effective for root; nothing inheritable
/// or ambient): `CapEff` 0x00000000a80425fb in `/proc/<pid>/status`.
pub const DEFAULT_CAPABILITIES: [&str; 14] = [
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_FSETID",
    "CAP_FOWNER",
    "CAP_MKNOD",
    "CAP_NET_RAW",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETFCAP",
    "CAP_SETPCAP",
    "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT",
    "CAP_KILL",
    "CAP_AUDIT_WRITE",
];

/// Docker's masked paths: files get `/dev/null` bound over them, directories an empty read-only
/// tmpfs. A `*` matches within one path component. Missing paths are skipped.
pub const DEFAULT_MASKED_PATHS: [&str; 13] = [
    "/proc/acpi",
    "/proc/asound",
    "/proc/interrupts",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/sys/devices/virtual/powercap",
    "/sys/firmware",
    "/sys/devices/system/cpu/cpu*/thermal_throttle",
];

/// Docker's read-only paths (bind-mounted onto themselves, then remounted read-only).
pub const DEFAULT_READONLY_PATHS: [&str; 5] = [
    "/proc/bus",
    "/proc/fs",
    "/proc/irq",
    "/proc/sys",
    "/proc/sysrq-trigger",
];

/// The longest hostname the kernel accepts.
const MAX_HOSTNAME: usize = 64;

/// The default size at which a container's log file is rotated (20 MiB).
pub const DEFAULT_LOG_MAX_SIZE: u64 = 20 * 1024 * 1024;

/// The default number of log files kept, the current one included.
pub const DEFAULT_LOG_MAX_FILES: u32 = 5;

/// The smallest accepted [`LogConfig::max_size`].
pub const MIN_LOG_MAX_SIZE: u64 = 4096;

/// The largest accepted [`LogConfig::max_files`].
pub const MAX_LOG_FILES: u32 = 100;

/// Everything needed to create and start one container.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContainerConfig {
    /// The container id: 1 to 128 characters of `[A-Za-z0-9_.-]`, starting with a letter or
    /// digit. It names the state directory and the cgroup.
    pub id: String,
    /// The root filesystem.
    pub rootfs: Rootfs,
    /// Remount the root filesystem read-only once everything is mounted (`--read-only`).
    #[serde(default)]
    pub readonly_rootfs: bool,
    /// The command and its arguments. Without a `/`, the command is looked up in the container's
    /// `PATH` (from `env`, else [`DEFAULT_PATH`]), inside the container's root filesystem.
    pub args: Vec<String>,
    /// The environment, `KEY=VALUE`. `PATH` (Docker's default), `HOSTNAME` and `HOME` (`/root` for
    /// uid 0, else `/`) are added when missing.
    #[serde(default)]
    pub env: Vec<String>,
    /// The working directory, absolute inside the container; created if missing (as Docker does
    /// for `WORKDIR`).
    #[serde(default = "default_cwd")]
    pub cwd: String,
    /// The user and groups the command runs as.
    #[serde(default)]
    pub user: User,
    /// The hostname (needs the uts namespace); `None`: the first 12 characters of the id.
    #[serde(default)]
    pub hostname: Option<String>,
    /// Memory, CPU and pids limits of the container's cgroup.
    #[serde(default)]
    pub resources: Resources,
    /// The cgroup parent, relative to the root of each hierarchy (`flotilla-<node>/containers`);
    /// the container's cgroup is `<cgroup_parent>/<id>`. [`crate::Runtime`] sets it.
    #[serde(default)]
    pub cgroup_parent: String,
    /// Bind and tmpfs mounts, in order, after `/proc`, `/dev` and `/sys`.
    #[serde(default)]
    pub mounts: Vec<Mount>,
    /// Resource limits set with `setrlimit` before `execve`. Empty by default: like Docker's,
    /// containers inherit the daemon's limits unless told otherwise (`--ulimit`). Raising a hard
    /// limit needs CAP_SYS_RESOURCE in the host's user namespace, which a daemon may lack.
    #[serde(default)]
    pub rlimits: Vec<Rlimit>,
    /// Set `PR_SET_NO_NEW_PRIVS` (setuid binaries and file capabilities no longer raise privileges).
    #[serde(default = "default_true")]
    pub no_new_privs: bool,
    /// The capabilities kept (`CAP_CHOWN` or `chown`; `ALL` for every one). Root gets them in the
    /// bounding, permitted and effective sets; other users only in the bounding set (as Docker).
    #[serde(default = "default_capabilities")]
    pub capabilities: Vec<String>,
    /// The namespaces created besides the mount namespace (always new).
    #[serde(default)]
    pub namespaces: Namespaces,
    /// Paths hidden from the container (see [`DEFAULT_MASKED_PATHS`]).
    #[serde(default = "default_masked_paths")]
    pub masked_paths: Vec<String>,
    /// Paths made read-only (see [`DEFAULT_READONLY_PATHS`]).
    #[serde(default = "default_readonly_paths")]
    pub readonly_paths: Vec<String>,
    /// Install the seccomp filter of [`crate::seccomp`].
    #[serde(default = "default_true")]
    pub seccomp: bool,
    /// The file the shim appends the container's stdout and stderr to, in the CRI log format
    /// (see [`crate::logs`]); `None`: `container.log` in the state directory.
    #[serde(default)]
    pub log_path: Option<PathBuf>,
    /// When the log file is rotated and how many files are kept.
    #[serde(default)]
    pub log_config: LogConfig,
    /// Give the container a terminal (`-t`): its PID 1 gets a pseudo-terminal of the container's
    /// own `/dev/pts` as stdin, stdout, stderr and controlling terminal; its output is logged as
    /// `stdout`, and clients of `<state dir>/attach.sock` ([`crate::attach`]) see it.
    #[serde(default)]
    pub tty: bool,
    /// Keep stdin open (`-i`): what clients of `<state dir>/attach.sock` send goes to PID 1's
    /// stdin (a pipe, or the terminal with [`ContainerConfig::tty`]). Without it (and without
    /// `tty`), stdin is `/dev/null`.
    #[serde(default)]
    pub open_stdin: bool,
    /// The signal [`crate::Container::stop`] sends first (a number; 15 is `SIGTERM`).
    #[serde(default = "default_stop_signal")]
    pub stop_signal: i32,
}

/// The root filesystem of a container.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Rootfs {
    /// An existing directory, used in place (bind-mounted onto itself in the container's mount
    /// namespace); what the container writes lands in it.
    Directory {
        /// The directory.
        path: PathBuf,
    },
    /// An overlay mounted on `target` in the container's mount namespace only: the host never
    /// sees it, and it disappears with the container's last process.
    Overlay {
        /// The read-only layers, **upper-most first** (overlayfs `lowerdir=` order: an earlier
        /// directory hides the same path in later ones), i.e. the reverse of an image manifest's
        /// layer order. The whole `lowerdir=…,upperdir=…,workdir=…` option must fit in a page
        /// (4095 bytes): keep layer paths short.
        lowerdirs: Vec<PathBuf>,
        /// Where the container's changes go.
        upperdir: PathBuf,
        /// overlayfs's work directory, on the same filesystem as `upperdir`, empty.
        workdir: PathBuf,
        /// The mount point (created if missing).
        target: PathBuf,
    },
}

impl Rootfs {
    /// The directory that becomes the container's `/`.
    pub fn root(&self) -> &Path {
        match self {
            Rootfs::Directory { path } => path,
            Rootfs::Overlay { target, .. } => target,
        }
    }
}

/// The user the command runs as.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct User {
    /// The user id.
    #[serde(default)]
    pub uid: u32,
    /// The primary group id.
    #[serde(default)]
    pub gid: u32,
    /// Supplementary groups (replacing the helper's; empty by default).
    #[serde(default)]
    pub additional_gids: Vec<u32>,
}

/// Cgroup limits, as [`flotilla_cgroups::Limits`] (see there for each field); `None` or 0 means
/// no limit.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Resources {
    /// Memory limit in bytes.
    #[serde(default)]
    pub memory_bytes: Option<u64>,
    /// Memory plus swap in bytes; -1 for unlimited swap.
    #[serde(default)]
    pub memory_swap_bytes: Option<i64>,
    /// CFS quota in microseconds per period.
    #[serde(default)]
    pub cpu_quota_us: Option<i64>,
    /// CFS period in microseconds.
    #[serde(default)]
    pub cpu_period_us: Option<u64>,
    /// CPU shares (v1 style; converted to a weight on v2).
    #[serde(default)]
    pub cpu_shares: Option<u64>,
    /// Maximum number of tasks; negative for unlimited.
    #[serde(default)]
    pub pids_max: Option<i64>,
}

impl From<Resources> for Limits {
    fn from(r: Resources) -> Limits {
        Limits {
            memory_bytes: r.memory_bytes,
            memory_swap_bytes: r.memory_swap_bytes,
            cpu_quota_us: r.cpu_quota_us,
            cpu_period_us: r.cpu_period_us,
            cpu_shares: r.cpu_shares,
            pids_max: r.pids_max,
        }
    }
}

impl From<Limits> for Resources {
    fn from(l: Limits) -> Resources {
        Resources {
            memory_bytes: l.memory_bytes,
            memory_swap_bytes: l.memory_swap_bytes,
            cpu_quota_us: l.cpu_quota_us,
            cpu_period_us: l.cpu_period_us,
            cpu_shares: l.cpu_shares,
            pids_max: l.pids_max,
        }
    }
}

/// One mount added to the container.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Mount {
    /// A host file or directory bound into the container (always `nosuid,nodev`).
    Bind {
        /// The host path (resolved on the host, before `pivot_root`).
        source: PathBuf,
        /// The absolute path in the container (created if missing, resolved inside the container's
        /// root after `pivot_root`, so a symlink in the image cannot point it at the host).
        destination: String,
        /// Read-only.
        #[serde(default)]
        readonly: bool,
        /// Bind the mounts below `source` too (`rbind`, Docker's default).
        #[serde(default = "default_true")]
        recursive: bool,
    },
    /// A new tmpfs (always `nosuid,nodev`).
    Tmpfs {
        /// The absolute path in the container (created if missing).
        destination: String,
        /// Size limit in bytes; `None`: the kernel's default (half of RAM).
        #[serde(default)]
        size_bytes: Option<u64>,
        /// Mode of its root directory; `None`: 1777.
        #[serde(default)]
        mode: Option<u32>,
        /// Read-only.
        #[serde(default)]
        readonly: bool,
        /// Mounted `noexec`.
        #[serde(default)]
        noexec: bool,
    },
}

impl Mount {
    /// The path in the container.
    pub fn destination(&self) -> &str {
        match self {
            Mount::Bind { destination, .. } | Mount::Tmpfs { destination, .. } => destination,
        }
    }
}

/// One resource limit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rlimit {
    /// The resource, as in `RLIMIT_NOFILE` or `nofile`.
    pub resource: String,
    /// The soft limit; `u64::MAX` is unlimited.
    pub soft: u64,
    /// The hard limit; `u64::MAX` is unlimited.
    pub hard: u64,
}

/// Log rotation, as Docker's `json-file` driver's `max-size` and `max-file`: when the next record
/// would take the current file past `max_size` bytes, the file is renamed `<log>.1` (older ones
/// move up to `<log>.2` …, and the one beyond `max_files - 1` is removed) and a new file starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogConfig {
    /// The size in bytes a log file may reach (at least [`MIN_LOG_MAX_SIZE`]).
    #[serde(default = "default_log_max_size")]
    pub max_size: u64,
    /// How many files are kept, the current one included (1 to [`MAX_LOG_FILES`]; 1: the file is
    /// started afresh when full).
    #[serde(default = "default_log_max_files")]
    pub max_files: u32,
}

impl Default for LogConfig {
    fn default() -> LogConfig {
        LogConfig {
            max_size: DEFAULT_LOG_MAX_SIZE,
            max_files: DEFAULT_LOG_MAX_FILES,
        }
    }
}

impl LogConfig {
    /// Checks the limits.
    pub fn validate(&self) -> Result<()> {
        if self.max_size < MIN_LOG_MAX_SIZE {
            return Err(ContainerError::InvalidConfig(format!(
                "log max_size {} is below the minimum of {MIN_LOG_MAX_SIZE} bytes",
                self.max_size
            )));
        }
        if self.max_files == 0 || self.max_files > MAX_LOG_FILES {
            return Err(ContainerError::InvalidConfig(format!(
                "log max_files {} must be between 1 and {MAX_LOG_FILES}",
                self.max_files
            )));
        }
        Ok(())
    }
}

/// A command run in a running container by [`crate::Runtime::exec`]: it joins the container's
/// cgroup and namespaces and gets the same hardening as the container's PID 1 (rlimits,
/// seccomp, capabilities, `no_new_privs`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExecConfig {
    /// The command and its arguments, looked up as [`ContainerConfig::args`].
    pub args: Vec<String>,
    /// `KEY=VALUE` entries added to the container's environment (replacing the same keys).
    #[serde(default)]
    pub env: Vec<String>,
    /// The user; `None`: the container's.
    #[serde(default)]
    pub user: Option<User>,
    /// The working directory, absolute inside the container (it must exist); `None`: the
    /// container's.
    #[serde(default)]
    pub cwd: Option<String>,
    /// Run the command on a new pseudo-terminal of the container's `/dev/pts` (needs
    /// `attach_socket`).
    #[serde(default)]
    pub tty: bool,
    /// Serve the command's I/O with the attach protocol ([`crate::attach`]) on this host path,
    /// to one client: the command starts once the client has connected (within 10 s). `None`:
    /// the command's stdin, stdout and stderr are the helper's own (the pipes of the returned
    /// [`std::process::Child`]).
    #[serde(default)]
    pub attach_socket: Option<PathBuf>,
}

impl ExecConfig {
    /// An exec of `args` with the container's user, directory and environment, and the helper's
    /// stdin, stdout and stderr.
    pub fn new(args: Vec<String>) -> ExecConfig {
        ExecConfig {
            args,
            env: Vec::new(),
            user: None,
            cwd: None,
            tty: false,
            attach_socket: None,
        }
    }

    /// Checks everything that can be checked without touching the system.
    pub fn validate(&self) -> Result<()> {
        if self.args.is_empty() || self.args[0].is_empty() {
            return Err(ContainerError::InvalidConfig(
                "exec args must name a command".to_owned(),
            ));
        }
        for arg in &self.args {
            no_nul("an exec argument", arg)?;
        }
        validate_env(&self.env)?;
        if let Some(cwd) = &self.cwd {
            container_path("exec cwd", cwd)?;
        }
        if self.tty && self.attach_socket.is_none() {
            return Err(ContainerError::InvalidConfig(
                "an exec with a terminal needs an attach socket".to_owned(),
            ));
        }
        if let Some(path) = &self.attach_socket {
            host_path("exec attach socket", path)?;
            socket_path_fits(path)?;
        }
        Ok(())
    }
}

/// Refuses a Unix socket path longer than `sun_path` holds.
pub(crate) fn socket_path_fits(path: &Path) -> Result<()> {
    use std::os::unix::ffi::OsStrExt;
    let len = path.as_os_str().as_bytes().len();
    if len > crate::attach::MAX_SOCKET_PATH {
        return Err(ContainerError::InvalidConfig(format!(
            "the socket path {} has {len} bytes, more than the {} a Unix socket address holds: \
             use a shorter state directory (data directory)",
            path.display(),
            crate::attach::MAX_SOCKET_PATH
        )));
    }
    Ok(())
}

/// Which namespaces are created besides the mount namespace, which always is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Namespaces {
    /// New pid namespace: the command is PID 1.
    #[serde(default = "default_true")]
    pub pid: bool,
    /// New uts namespace (needed for `hostname`).
    #[serde(default = "default_true")]
    pub uts: bool,
    /// New ipc namespace.
    #[serde(default = "default_true")]
    pub ipc: bool,
    /// New network namespace with only `lo` (brought up). Off: the host's network.
    #[serde(default = "default_true")]
    pub net: bool,
    /// New cgroup namespace, when the kernel has them (≥ 4.6); otherwise ignored.
    #[serde(default = "default_true")]
    pub cgroup: bool,
}

impl Default for Namespaces {
    fn default() -> Namespaces {
        Namespaces {
            pid: true,
            uts: true,
            ipc: true,
            net: true,
            cgroup: true,
        }
    }
}

fn default_true() -> bool {
    true
}

fn default_cwd() -> String {
    "/".to_owned()
}

fn default_log_max_size() -> u64 {
    DEFAULT_LOG_MAX_SIZE
}

fn default_log_max_files() -> u32 {
    DEFAULT_LOG_MAX_FILES
}

fn default_stop_signal() -> i32 {
    libc::SIGTERM
}

fn default_capabilities() -> Vec<String> {
    DEFAULT_CAPABILITIES.iter().map(|&c| c.to_owned()).collect()
}

fn default_masked_paths() -> Vec<String> {
    DEFAULT_MASKED_PATHS.iter().map(|&p| p.to_owned()).collect()
}

fn default_readonly_paths() -> Vec<String> {
    DEFAULT_READONLY_PATHS
        .iter()
        .map(|&p| p.to_owned())
        .collect()
}

impl ContainerConfig {
    /// A configuration with Docker's defaults for everything but the id, root filesystem and
    /// command.
    pub fn new(id: impl Into<String>, rootfs: Rootfs, args: Vec<String>) -> ContainerConfig {
        ContainerConfig {
            id: id.into(),
            rootfs,
            readonly_rootfs: false,
            args,
            env: Vec::new(),
            cwd: default_cwd(),
            user: User::default(),
            hostname: None,
            resources: Resources::default(),
            cgroup_parent: String::new(),
            mounts: Vec::new(),
            rlimits: Vec::new(),
            no_new_privs: true,
            capabilities: default_capabilities(),
            namespaces: Namespaces::default(),
            masked_paths: default_masked_paths(),
            readonly_paths: default_readonly_paths(),
            seccomp: true,
            log_path: None,
            log_config: LogConfig::default(),
            tty: false,
            open_stdin: false,
            stop_signal: default_stop_signal(),
        }
    }

    /// Reads a configuration from a JSON file.
    pub fn read(path: &Path) -> Result<ContainerConfig> {
        let text = std::fs::read(path).map_err(|source| ContainerError::Io {
            context: format!("read {}", path.display()),
            source,
        })?;
        serde_json::from_slice(&text).map_err(|e| ContainerError::Parse {
            path: path.to_path_buf(),
            reason: e.to_string(),
        })
    }

    /// The hostname the container gets.
    pub fn effective_hostname(&self) -> String {
        match &self.hostname {
            Some(h) => h.clone(),
            None => self.id.chars().take(12).collect(),
        }
    }

    /// The capability mask (bit n = capability n) of [`ContainerConfig::capabilities`].
    pub fn capability_mask(&self) -> Result<u64> {
        caps::parse(&self.capabilities)
    }

    /// Checks everything that can be checked without touching the system.
    pub fn validate(&self) -> Result<()> {
        let invalid = |msg: String| Err(ContainerError::InvalidConfig(msg));
        validate_id(&self.id)?;
        if self.args.is_empty() || self.args[0].is_empty() {
            return invalid("args must name a command".to_owned());
        }
        for arg in &self.args {
            no_nul("an argument", arg)?;
        }
        validate_env(&self.env)?;
        container_path("cwd", &self.cwd)?;
        if let Some(h) = &self.hostname
            && (h.is_empty() || h.len() > MAX_HOSTNAME || h.contains('\0'))
        {
            return invalid(format!(
                "hostname {h:?} must have 1 to {MAX_HOSTNAME} bytes"
            ));
        }
        match &self.rootfs {
            Rootfs::Directory { path } => host_path("rootfs path", path)?,
            Rootfs::Overlay {
                lowerdirs,
                upperdir,
                workdir,
                target,
            } => {
                if lowerdirs.is_empty() {
                    return invalid("an overlay needs at least one lower directory".to_owned());
                }
                for dir in lowerdirs.iter().chain([upperdir, workdir]) {
                    host_path("overlay directory", dir)?;
                    let text = dir.to_string_lossy();
                    if text.contains([',', ':', '\\']) {
                        return invalid(format!(
                            "overlay directory {} contains ',', ':' or '\\', which overlayfs options cannot carry",
                            dir.display()
                        ));
                    }
                }
                host_path("overlay target", target)?;
            }
        }
        for mount in &self.mounts {
            container_path("mount destination", mount.destination())?;
            if mount.destination() == "/" {
                return invalid("a mount cannot replace /".to_owned());
            }
            if let Mount::Bind { source, .. } = mount {
                host_path("bind mount source", source)?;
            }
        }
        for rlimit in &self.rlimits {
            rlimit_resource(&rlimit.resource)?;
            if rlimit.soft > rlimit.hard {
                return invalid(format!(
                    "rlimit {}: soft limit {} above hard limit {}",
                    rlimit.resource, rlimit.soft, rlimit.hard
                ));
            }
        }
        self.capability_mask()?;
        for path in self.masked_paths.iter().chain(&self.readonly_paths) {
            container_path("masked or read-only path", path)?;
        }
        if let Some(log) = &self.log_path {
            host_path("log path", log)?;
        }
        self.log_config.validate()?;
        if self.stop_signal <= 0 || self.stop_signal > 64 {
            return invalid(format!("stop signal {} is not a signal", self.stop_signal));
        }
        Ok(())
    }
}

/// Checks a container id (also used as a cgroup name and a directory name).
pub(crate) fn validate_id(id: &str) -> Result<()> {
    let ok = !id.is_empty()
        && id.len() <= 128
        && id
            .bytes()
            .enumerate()
            .all(|(i, b)| b.is_ascii_alphanumeric() || (i > 0 && matches!(b, b'_' | b'.' | b'-')));
    if ok {
        Ok(())
    } else {
        Err(ContainerError::InvalidConfig(format!(
            "container id {id:?} must be 1 to 128 characters of [A-Za-z0-9_.-], starting with a letter or digit"
        )))
    }
}

/// Checks `KEY=VALUE` environment entries.
fn validate_env(env: &[String]) -> Result<()> {
    for var in env {
        no_nul("an environment variable", var)?;
        if !var.contains('=') || var.starts_with('=') {
            return Err(ContainerError::InvalidConfig(format!(
                "environment entry {var:?} is not KEY=VALUE"
            )));
        }
    }
    Ok(())
}

/// Refuses NUL bytes, which cannot cross `execve`.
fn no_nul(what: &str, value: &str) -> Result<()> {
    if value.contains('\0') {
        return Err(ContainerError::InvalidConfig(format!(
            "{what} contains a NUL byte: {value:?}"
        )));
    }
    Ok(())
}

/// Checks an absolute host path without `..` (and without NUL).
fn host_path(what: &str, path: &Path) -> Result<()> {
    let text = path.to_string_lossy();
    if !path.is_absolute() || text.contains('\0') {
        return Err(ContainerError::InvalidConfig(format!(
            "{what} {} must be an absolute path",
            path.display()
        )));
    }
    if path.components().any(|c| c == Component::ParentDir) {
        return Err(ContainerError::InvalidConfig(format!(
            "{what} {} must not contain `..`",
            path.display()
        )));
    }
    Ok(())
}

/// Checks an absolute path inside the container, without `..`.
fn container_path(what: &str, path: &str) -> Result<()> {
    host_path(what, Path::new(path))
}

/// The `setrlimit` resource named `name` (`RLIMIT_NOFILE`, `nofile`, any case).
pub(crate) fn rlimit_resource(name: &str) -> Result<nix::sys::resource::Resource> {
    use nix::sys::resource::Resource;
    let lower = name.to_ascii_lowercase();
    let short = lower.strip_prefix("rlimit_").unwrap_or(&lower);
    Ok(match short {
        "as" => Resource::RLIMIT_AS,
        "core" => Resource::RLIMIT_CORE,
        "cpu" => Resource::RLIMIT_CPU,
        "data" => Resource::RLIMIT_DATA,
        "fsize" => Resource::RLIMIT_FSIZE,
        "locks" => Resource::RLIMIT_LOCKS,
        "memlock" => Resource::RLIMIT_MEMLOCK,
        "msgqueue" => Resource::RLIMIT_MSGQUEUE,
        "nice" => Resource::RLIMIT_NICE,
        "nofile" => Resource::RLIMIT_NOFILE,
        "nproc" => Resource::RLIMIT_NPROC,
        "rss" => Resource::RLIMIT_RSS,
        "rtprio" => Resource::RLIMIT_RTPRIO,
        "rttime" => Resource::RLIMIT_RTTIME,
        "sigpending" => Resource::RLIMIT_SIGPENDING,
        "stack" => Resource::RLIMIT_STACK,
        _ => {
            return Err(ContainerError::InvalidConfig(format!(
                "unknown rlimit resource {name:?}"
            )));
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> ContainerConfig {
        ContainerConfig::new(
            "abc123",
            Rootfs::Directory {
                path: PathBuf::from("/var/lib/x/rootfs"),
            },
            vec!["echo".to_owned(), "hi".to_owned()],
        )
    }

    #[test]
    fn defaults_are_dockers() {
        let config = sample();
        config.validate().expect("valid");
        assert_eq!(config.capability_mask().expect("caps"), 0xa804_25fb);
        assert!(config.no_new_privs);
        assert_eq!(config.effective_hostname(), "abc123");
        assert!(config.rlimits.is_empty(), "limits are inherited unless set");
        let long = ContainerConfig::new("0123456789abcdef", config.rootfs.clone(), config.args);
        assert_eq!(long.effective_hostname(), "0123456789ab");
    }

    #[test]
    fn json_round_trip_and_minimal_json_gets_defaults() {
        let config = sample();
        let text = serde_json::to_string(&config).expect("serialize");
        let back: ContainerConfig = serde_json::from_str(&text).expect("parse");
        assert_eq!(back, config);

        let minimal = r#"{"id":"c1","rootfs":{"type":"overlay","lowerdirs":["/l/2","/l/1"],
            "upperdir":"/c/up","workdir":"/c/work","target":"/c/merged"},"args":["sh"]}"#;
        let parsed: ContainerConfig = serde_json::from_str(minimal).expect("parse minimal");
        parsed.validate().expect("valid");
        assert_eq!(parsed.capabilities.len(), 14);
        assert!(parsed.namespaces.net && parsed.seccomp && parsed.no_new_privs);
        assert_eq!(parsed.cwd, "/");
        assert_eq!(parsed.stop_signal, 15);
        assert_eq!(parsed.rootfs.root(), Path::new("/c/merged"));
        assert_eq!(parsed.log_config, LogConfig::default());
        assert!(!parsed.tty && !parsed.open_stdin);

        let partial: ContainerConfig = serde_json::from_str(
            r#"{"id":"c2","rootfs":{"type":"directory","path":"/r"},"args":["sh"],
            "log_config":{"max_files":2},"tty":true}"#,
        )
        .expect("parse");
        assert_eq!(partial.log_config.max_size, DEFAULT_LOG_MAX_SIZE);
        assert_eq!(partial.log_config.max_files, 2);
        assert!(partial.tty);
    }

    #[test]
    fn log_and_exec_configs_are_checked() {
        let mut small = sample();
        small.log_config.max_size = 100;
        assert!(small.validate().is_err());
        let mut none = sample();
        none.log_config.max_files = 0;
        assert!(none.validate().is_err());

        let mut exec = ExecConfig::new(vec!["ls".to_owned()]);
        exec.validate().expect("valid");
        exec.tty = true;
        assert!(exec.validate().is_err(), "a tty needs an attach socket");
        exec.attach_socket = Some(PathBuf::from("/run/x/exec.sock"));
        exec.validate().expect("valid");
        exec.attach_socket = Some(PathBuf::from(format!("/{}", "s".repeat(200))));
        assert!(exec.validate().is_err(), "socket path too long");
        let mut bad_env = ExecConfig::new(vec!["ls".to_owned()]);
        bad_env.env = vec!["=x".to_owned()];
        assert!(bad_env.validate().is_err());
        let text = serde_json::to_string(&exec).expect("serialize");
        let back: ExecConfig = serde_json::from_str(&text).expect("parse");
        assert_eq!(back, exec);
        assert!(ExecConfig::new(Vec::new()).validate().is_err());
    }

    #[test]
    fn invalid_configs_are_refused() {
        let mut bad_id = sample();
        bad_id.id = "../x".to_owned();
        assert!(bad_id.validate().is_err());
        let mut no_args = sample();
        no_args.args.clear();
        assert!(no_args.validate().is_err());
        let mut bad_env = sample();
        bad_env.env = vec!["NOEQUALS".to_owned()];
        assert!(bad_env.validate().is_err());
        let mut bad_cap = sample();
        bad_cap.capabilities.push("CAP_NOPE".to_owned());
        assert!(bad_cap.validate().is_err());
        let mut bad_mount = sample();
        bad_mount.mounts.push(Mount::Tmpfs {
            destination: "/a/../../etc".to_owned(),
            size_bytes: None,
            mode: None,
            readonly: false,
            noexec: false,
        });
        assert!(bad_mount.validate().is_err());
        let mut bad_overlay = sample();
        bad_overlay.rootfs = Rootfs::Overlay {
            lowerdirs: vec![PathBuf::from("/l/a:b")],
            upperdir: PathBuf::from("/u"),
            workdir: PathBuf::from("/w"),
            target: PathBuf::from("/t"),
        };
        assert!(bad_overlay.validate().is_err());
        let mut bad_rlimit = sample();
        bad_rlimit.rlimits = vec![Rlimit {
            resource: "nofile".to_owned(),
            soft: 10,
            hard: 5,
        }];
        assert!(bad_rlimit.validate().is_err());
        assert!(rlimit_resource("RLIMIT_NPROC").is_ok());
        assert!(rlimit_resource("bogus").is_err());
    }
}
