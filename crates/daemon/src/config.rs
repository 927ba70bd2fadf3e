//! `flotilla daemon` settings: flags, an optional JSON file, and their validation.
//!
//! Everything is checked here, before anything binds or writes: addresses parse, the host is a
//! Unix socket URI, the data directory can be created and locked, the log filter parses. A file
//! given with `--config` may hold the same settings as the flags (flags win); an unknown key in
//! it is refused by name, like dockerd refuses unknown keys in daemon.json.

use clap::{Args, ValueEnum};
use serde::Deserialize;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};

/// Default data directory.
pub const DEFAULT_DATA_DIR: &str = "/var/lib/flotilla";
/// Default node-to-node listen address.
pub const DEFAULT_LISTEN_ADDR: &str = "0.0.0.0:4242";
/// Default log filter: our info, openraft's warnings.
pub const DEFAULT_LOG_LEVEL: &str = "info,openraft=warn";
/// Default CLI socket.
pub const DEFAULT_HOST: &str = "unix:///run/flotilla/flotilla.sock";

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// Flags of `flotilla daemon`.
#[derive(Debug, Clone, Args)]
pub struct DaemonArgs {
    /// Where the node keeps its state.
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// Address other nodes reach this one at, for Raft and the dispatcher.
    #[arg(long, value_name = "IP:PORT")]
    pub listen_addr: Option<String>,
    /// Address advertised to other nodes (default: the listen address, or this host's main address).
    #[arg(long, value_name = "IP")]
    pub advertise_addr: Option<String>,
    /// Node name (default: the host name).
    #[arg(long, value_name = "NAME")]
    pub node_name: Option<String>,
    /// JSON file with any of these settings (flags win).
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// A registry to pull from over plain HTTP (repeatable; added to the file's list).
    #[arg(long = "insecure-registry", value_name = "HOST[:PORT]")]
    pub insecure_registries: Vec<String>,
    /// Cgroup under which containers are placed (default `flotilla-<node name>`).
    #[arg(long, value_name = "NAME")]
    pub cgroup_parent: Option<String>,
}

/// The settings file. Unknown keys are refused.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct FileConfig {
    /// See `--data-dir`.
    pub data_dir: Option<PathBuf>,
    /// See `--listen-addr`.
    pub listen_addr: Option<String>,
    /// See `--advertise-addr`.
    pub advertise_addr: Option<String>,
    /// See `--node-name`.
    pub node_name: Option<String>,
    /// See `-H`.
    pub host: Option<String>,
    /// See `--log-level`.
    pub log_level: Option<String>,
    /// See `--log-format`.
    pub log_format: Option<LogFormat>,
    /// See `--insecure-registry` (Docker's daemon.json key).
    #[serde(default)]
    pub insecure_registries: Vec<String>,
    /// See `--cgroup-parent`.
    pub cgroup_parent: Option<String>,
}

/// Validated settings.
#[derive(Debug, Clone)]
pub struct DaemonConfig {
    /// Data directory (created, locked by the daemon).
    pub data_dir: PathBuf,
    /// Node-to-node listen address.
    pub listen_addr: SocketAddr,
    /// Advertised IP, if fixed by the user.
    pub advertise_addr: Option<IpAddr>,
    /// Node name.
    pub node_name: String,
    /// Path of the CLI socket.
    pub socket: PathBuf,
    /// Log filter.
    pub log_level: String,
    /// Log format.
    pub log_format: LogFormat,
    /// Registries (`host[:port]`) pulled from over plain HTTP.
    pub insecure_registries: Vec<String>,
    /// Cgroup (relative to each hierarchy's root) holding this node's containers.
    pub cgroup_parent: String,
}

/// A setting was refused.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A value does not parse or is out of range.
    #[error("invalid {field}: {reason}")]
    Invalid {
        /// The flag or key.
        field: &'static str,
        /// Why.
        reason: String,
    },
    /// The settings file cannot be read or parsed.
    #[error("cannot use config file {path}: {reason}")]
    File {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
}

fn invalid(field: &'static str, reason: impl std::fmt::Display) -> ConfigError {
    ConfigError::Invalid {
        field,
        reason: reason.to_string(),
    }
}

/// Turns `unix:///path` into the path; anything else is refused.
pub fn socket_path(host: &str) -> Result<PathBuf, ConfigError> {
    let path = host.strip_prefix("unix://").ok_or_else(|| {
        invalid(
            "-H",
            format!("{host:?}: only unix:///path/to.sock is supported"),
        )
    })?;
    if !path.starts_with('/') {
        return Err(invalid(
            "-H",
            format!("{host:?}: the socket path must be absolute"),
        ));
    }
    Ok(PathBuf::from(path))
}

impl DaemonConfig {
    /// Merges flags over the file (if any) over defaults, and validates the result.
    pub fn resolve(
        args: &DaemonArgs,
        host: Option<&str>,
        log_level: Option<&str>,
        log_format: Option<LogFormat>,
    ) -> Result<Self, ConfigError> {
        let file = match &args.config {
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|e| ConfigError::File {
                    path: path.clone(),
                    reason: e.to_string(),
                })?;
                serde_json::from_str::<FileConfig>(&text).map_err(|e| ConfigError::File {
                    path: path.clone(),
                    reason: e.to_string(),
                })?
            }
            None => FileConfig::default(),
        };
        let data_dir = args
            .data_dir
            .clone()
            .or(file.data_dir)
            .unwrap_or_else(|| DEFAULT_DATA_DIR.into());
        if !data_dir.is_absolute() {
            return Err(invalid(
                "--data-dir",
                format!("{} must be an absolute path", data_dir.display()),
            ));
        }
        let listen = args
            .listen_addr
            .clone()
            .or(file.listen_addr)
            .unwrap_or_else(|| DEFAULT_LISTEN_ADDR.into());
        let listen_addr: SocketAddr = listen.parse().map_err(|e| {
            invalid(
                "--listen-addr",
                format!("{listen:?}: {e} (expected IP:PORT)"),
            )
        })?;
        if listen_addr.port() == 0 {
            return Err(invalid(
                "--listen-addr",
                "port 0 is not allowed: other nodes must know the port",
            ));
        }
        let advertise_addr = match args.advertise_addr.clone().or(file.advertise_addr) {
            Some(a) => {
                let ip: IpAddr = a.parse().map_err(|e| {
                    invalid("--advertise-addr", format!("{a:?}: {e} (expected an IP)"))
                })?;
                if ip.is_unspecified() {
                    return Err(invalid(
                        "--advertise-addr",
                        format!("{ip} cannot be reached by other nodes"),
                    ));
                }
                Some(ip)
            }
            None => None,
        };
        let node_name = match args.node_name.clone().or(file.node_name) {
            Some(n) => n,
            None => hostname().map_err(|e| {
                invalid(
                    "--node-name",
                    format!("the host name cannot be read ({e}); give --node-name"),
                )
            })?,
        };
        flotilla_model::validate::check_name("--node-name", &node_name)
            .map_err(|e| invalid("--node-name", e.reason))?;
        let host = host
            .map(str::to_owned)
            .or(file.host)
            .unwrap_or_else(|| DEFAULT_HOST.into());
        let socket = socket_path(&host)?;
        let log_level = log_level
            .map(str::to_owned)
            .or(file.log_level)
            .unwrap_or_else(|| DEFAULT_LOG_LEVEL.into());
        tracing_subscriber::EnvFilter::try_new(&log_level)
            .map_err(|e| invalid("--log-level", e))?;
        let log_format = log_format.or(file.log_format).unwrap_or(LogFormat::Text);
        let mut insecure_registries: Vec<String> = Vec::new();
        for r in args
            .insecure_registries
            .iter()
            .chain(&file.insecure_registries)
        {
            check_registry(r)?;
            if !insecure_registries.contains(r) {
                insecure_registries.push(r.clone());
            }
        }
        let cgroup_parent = match args.cgroup_parent.clone().or(file.cgroup_parent) {
            Some(p) => {
                check_cgroup_parent(&p)?;
                p
            }
            None => format!("flotilla-{}", cgroup_safe(&node_name)),
        };
        Ok(Self {
            data_dir,
            listen_addr,
            advertise_addr,
            node_name,
            socket,
            log_level,
            log_format,
            insecure_registries,
            cgroup_parent,
        })
    }

    /// The cgroup of the node's containers (each container gets a child of it).
    pub fn containers_cgroup(&self) -> String {
        format!("{}/containers", self.cgroup_parent)
    }

    /// The Raft directory.
    pub fn raft_dir(&self) -> PathBuf {
        self.data_dir.join("raft")
    }

    /// The identity file.
    pub fn identity_path(&self) -> PathBuf {
        self.data_dir.join("node.json")
    }
}

/// Refuses an insecure registry that is not a bare `host[:port]` (as dockerd refuses a scheme).
fn check_registry(r: &str) -> Result<(), ConfigError> {
    let field = "--insecure-registry";
    if r.is_empty() || r.contains("://") || r.contains('/') || r.chars().any(char::is_whitespace) {
        return Err(invalid(
            field,
            format!("{r:?}: expected HOST[:PORT], without a scheme or a path"),
        ));
    }
    if let Some((_, port)) = r.rsplit_once(':')
        && !r.starts_with('[')
        && port.parse::<u16>().is_err()
    {
        return Err(invalid(field, format!("{r:?}: invalid port {port:?}")));
    }
    Ok(())
}

/// The host name, from the kernel.
pub fn hostname() -> std::io::Result<String> {
    let name = std::fs::read_to_string("/proc/sys/kernel/hostname")?;
    Ok(name.trim().to_owned())
}

/// Creates the data directory (mode 0700) and takes its lock, so two daemons never share it.
pub fn lock_data_dir(dir: &Path) -> Result<std::fs::File, ConfigError> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|e| {
            invalid(
                "--data-dir",
                format!("cannot create {}: {e}", dir.display()),
            )
        })?;
    let path = dir.join("flotilla.lock");
    let f = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|e| invalid("--data-dir", format!("cannot open {}: {e}", path.display())))?;
    f.try_lock().map_err(|_| {
        invalid(
            "--data-dir",
            format!("{} is in use by another flotilla daemon", dir.display()),
        )
    })?;
    Ok(f)
}

/// A node name as a cgroup directory name: anything but `[A-Za-z0-9_.-]` becomes `_`.
fn cgroup_safe(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "_.-".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// `--cgroup-parent`: a relative path of plain components.
fn check_cgroup_parent(p: &str) -> Result<(), ConfigError> {
    let bad = p.is_empty()
        || p.starts_with('/')
        || p.split('/').any(|c| {
            c.is_empty()
                || c == "."
                || c == ".."
                || !c
                    .chars()
                    .all(|ch| ch.is_ascii_alphanumeric() || "_.-".contains(ch))
        });
    if bad {
        return Err(invalid(
            "--cgroup-parent",
            format!("{p:?} is not a relative cgroup path of [A-Za-z0-9_.-] components"),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args() -> DaemonArgs {
        DaemonArgs {
            data_dir: Some("/tmp/x".into()),
            listen_addr: None,
            advertise_addr: None,
            node_name: Some("n1".into()),
            config: None,
            insecure_registries: Vec::new(),
            cgroup_parent: None,
        }
    }

    #[test]
    fn defaults_and_errors_name_the_flag() {
        let c = DaemonConfig::resolve(&args(), None, None, None).expect("valid");
        assert_eq!(c.listen_addr.to_string(), "0.0.0.0:4242");
        assert_eq!(c.socket, PathBuf::from("/run/flotilla/flotilla.sock"));
        let mut a = args();
        a.listen_addr = Some("nope".into());
        let e = DaemonConfig::resolve(&a, None, None, None).expect_err("bad listen");
        assert!(e.to_string().contains("--listen-addr"), "{e}");
        let mut a = args();
        a.advertise_addr = Some("0.0.0.0".into());
        assert!(
            DaemonConfig::resolve(&a, None, None, None)
                .expect_err("unspecified")
                .to_string()
                .contains("--advertise-addr")
        );
        let e = DaemonConfig::resolve(&args(), Some("tcp://1.2.3.4:1"), None, None)
            .expect_err("tcp host");
        assert!(e.to_string().contains("-H"), "{e}");
        let e =
            DaemonConfig::resolve(&args(), None, Some("info,[bad"), None).expect_err("bad filter");
        assert!(e.to_string().contains("--log-level"), "{e}");
        let mut a = args();
        a.data_dir = Some("relative".into());
        assert!(
            DaemonConfig::resolve(&a, None, None, None)
                .expect_err("relative")
                .to_string()
                .contains("--data-dir")
        );
    }

    #[test]
    fn unknown_file_keys_are_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("daemon.json");
        std::fs::write(
            &path,
            r#"{"data-dir": "/tmp/y", "listen-adr": "1.2.3.4:5"}"#,
        )
        .expect("write");
        let mut a = args();
        a.config = Some(path);
        let e = DaemonConfig::resolve(&a, None, None, None).expect_err("unknown key");
        assert!(e.to_string().contains("listen-adr"), "{e}");
    }

    #[test]
    fn insecure_registries_merge_and_are_checked() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("daemon.json");
        std::fs::write(
            &path,
            r#"{"insecure-registries": ["registry.local:5000", "10.0.0.1:80"]}"#,
        )
        .expect("write");
        let mut a = args();
        a.config = Some(path);
        a.insecure_registries = vec!["127.0.0.1:5000".into(), "10.0.0.1:80".into()];
        let c = DaemonConfig::resolve(&a, None, None, None).expect("valid");
        assert_eq!(
            c.insecure_registries,
            vec!["127.0.0.1:5000", "10.0.0.1:80", "registry.local:5000"]
        );
        for bad in ["http://x:5000", "x:5000/v2", "", "x:port"] {
            let mut a = args();
            a.insecure_registries = vec![bad.into()];
            let e = DaemonConfig::resolve(&a, None, None, None).expect_err(bad);
            assert!(e.to_string().contains("--insecure-registry"), "{e}");
        }
        assert!(
            DaemonConfig::resolve(&args(), None, None, None)
                .expect("valid")
                .insecure_registries
                .is_empty()
        );
    }
}
