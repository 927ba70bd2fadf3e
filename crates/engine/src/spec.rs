//! What a user (or the cluster's executor) asks a container to be: [`RunSpec`], with the
//! parsing and checking of its Docker-style fields (`-v SRC:DST[:ro]`, `--tmpfs DST[:size=…]`).

use crate::error::{EngineError, Result};
use crate::health::HealthConfig;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::time::Duration;

/// How a container should be created (`container run` / `container create` flags).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct RunSpec {
    /// `--name`; empty: a generated name.
    pub name: String,
    /// The image reference or id.
    pub image: String,
    /// `CMD…` after the image; empty: the image's `Cmd`.
    pub cmd: Vec<String>,
    /// `--entrypoint`; `None`: the image's. `Some(vec![])` clears it.
    pub entrypoint: Option<Vec<String>>,
    /// `-e KEY=VALUE`, over the image's environment.
    pub env: Vec<String>,
    /// `-w`; empty: the image's `WorkingDir`, else `/`.
    pub workdir: String,
    /// `-u user[:group]`; empty: the image's `User`, else root.
    pub user: String,
    /// `--hostname`; empty: the first 12 characters of the id.
    pub hostname: String,
    /// `-m`, in bytes (0: none).
    pub memory_bytes: u64,
    /// `--cpus`, in billionths of a CPU (0: none).
    pub nano_cpus: u64,
    /// `--pids-limit` (0: none).
    pub pids_limit: i64,
    /// `-v SRC:DST[:ro|rw]`: an absolute `SRC` is a host path, otherwise a named volume.
    pub volumes: Vec<String>,
    /// `--tmpfs DST[:size=64m,ro,noexec,mode=1777]`.
    pub tmpfs: Vec<String>,
    /// `--rm`: remove the container when it exits.
    pub auto_remove: bool,
    /// `-i`: keep stdin open.
    pub interactive: bool,
    /// `-t`: allocate a terminal.
    pub tty: bool,
    /// `--read-only`.
    pub read_only: bool,
    /// `--label`.
    pub labels: BTreeMap<String, String>,
    /// `--stop-signal` (name or number); empty: the image's, else SIGTERM.
    pub stop_signal: String,
    /// `--stop-timeout`; `None`: 10 s.
    pub stop_timeout: Option<Duration>,
    /// `--health-*` and `--no-healthcheck`; `None`: the image's `Healthcheck`, if any.
    pub healthcheck: Option<HealthConfig>,
}

/// Docker's default grace period before SIGKILL.
pub const DEFAULT_STOP_TIMEOUT: Duration = Duration::from_secs(10);

/// A parsed `-v`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Volume {
    /// Host path (absolute) or volume name.
    pub source: VolumeSource,
    /// Absolute path inside the container.
    pub destination: String,
    /// Mounted read-only.
    pub readonly: bool,
}

/// Where a `-v` comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VolumeSource {
    /// A host path.
    Host(String),
    /// A named volume (created on first use).
    Named(String),
    /// An anonymous volume (`-v /data`).
    Anonymous,
}

/// A parsed `--tmpfs`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tmpfs {
    /// Absolute path inside the container.
    pub destination: String,
    /// Size limit in bytes.
    pub size_bytes: Option<u64>,
    /// Mode of the root directory.
    pub mode: Option<u32>,
    /// Read-only.
    pub readonly: bool,
    /// `noexec`.
    pub noexec: bool,
}

fn check_destination(field: &str, dst: &str) -> Result<()> {
    if !dst.starts_with('/') {
        return Err(EngineError::invalid(
            field,
            format!("the container path {dst:?} must be absolute"),
        ));
    }
    if dst.split('/').any(|c| c == "..") {
        return Err(EngineError::invalid(
            field,
            format!("the container path {dst:?} must not contain '..'"),
        ));
    }
    if dst == "/" {
        return Err(EngineError::invalid(
            field,
            "cannot mount over the container's root",
        ));
    }
    Ok(())
}

/// Checks a volume name: Docker's `[a-zA-Z0-9][a-zA-Z0-9_.-]*`.
fn check_volume_name(field: &str, name: &str) -> Result<()> {
    let mut chars = name.chars();
    let ok = chars.next().is_some_and(|c| c.is_ascii_alphanumeric())
        && chars.all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c));
    if ok {
        Ok(())
    } else {
        Err(EngineError::invalid(
            field,
            format!(
                "{name:?} includes invalid characters for a local volume name, only \
                 \"[a-zA-Z0-9][a-zA-Z0-9_.-]\" are allowed; if you intended to pass a host \
                 directory, use an absolute path"
            ),
        ))
    }
}

impl Volume {
    /// Parses `SRC:DST[:ro|rw]` or `DST`.
    pub fn parse(s: &str) -> Result<Volume> {
        let field = "--volume";
        let parts: Vec<&str> = s.split(':').collect();
        let (source, destination, mode) = match parts.as_slice() {
            [dst] => (VolumeSource::Anonymous, *dst, None),
            [src, dst] => (source_of(field, src)?, *dst, None),
            [src, dst, mode] => (source_of(field, src)?, *dst, Some(*mode)),
            _ => {
                return Err(EngineError::invalid(
                    field,
                    format!("{s:?}: expected SRC:DST[:ro]"),
                ));
            }
        };
        check_destination(field, destination)?;
        let readonly = match mode {
            None | Some("rw") => false,
            Some("ro") => true,
            Some(other) => {
                return Err(EngineError::invalid(
                    field,
                    format!("{s:?}: unknown mode {other:?} (use ro or rw)"),
                ));
            }
        };
        Ok(Volume {
            source,
            destination: destination.to_owned(),
            readonly,
        })
    }
}

fn source_of(field: &str, src: &str) -> Result<VolumeSource> {
    if src.is_empty() {
        return Err(EngineError::invalid(field, "the source must not be empty"));
    }
    if src.starts_with('/') {
        Ok(VolumeSource::Host(src.to_owned()))
    } else {
        check_volume_name(field, src)?;
        Ok(VolumeSource::Named(src.to_owned()))
    }
}

/// Parses a size with Docker's suffixes (`b`, `k`, `m`, `g`, binary multiples).
pub fn parse_size(field: &str, s: &str) -> Result<u64> {
    let t = s.trim().to_ascii_lowercase();
    let (digits, mult) = match t.char_indices().find(|(_, c)| !c.is_ascii_digit()) {
        None => (t.as_str(), 1u64),
        Some((i, _)) => {
            let mult = match t[i..].trim_end_matches('b') {
                "" => 1,
                "k" => 1 << 10,
                "m" => 1 << 20,
                "g" => 1 << 30,
                "t" => 1 << 40,
                _ => {
                    return Err(EngineError::invalid(
                        field,
                        format!("{s:?} is not a size (use a number with b, k, m or g)"),
                    ));
                }
            };
            (&t[..i], mult)
        }
    };
    let n: u64 = digits.parse().map_err(|_| {
        EngineError::invalid(
            field,
            format!("{s:?} is not a size (use a number with b, k, m or g)"),
        )
    })?;
    n.checked_mul(mult)
        .ok_or_else(|| EngineError::invalid(field, format!("{s:?} is too large")))
}

impl Tmpfs {
    /// Parses `DST[:opt,opt…]` with options `size=`, `mode=` (octal), `ro`, `rw`, `noexec`,
    /// `exec`.
    pub fn parse(s: &str) -> Result<Tmpfs> {
        let field = "--tmpfs";
        let (dst, opts) = s.split_once(':').unwrap_or((s, ""));
        check_destination(field, dst)?;
        let mut t = Tmpfs {
            destination: dst.to_owned(),
            size_bytes: None,
            mode: None,
            readonly: false,
            noexec: false,
        };
        for opt in opts.split(',').filter(|o| !o.is_empty()) {
            match opt.split_once('=') {
                Some(("size", v)) => t.size_bytes = Some(parse_size(field, v)?),
                Some(("mode", v)) => {
                    t.mode = Some(u32::from_str_radix(v, 8).map_err(|_| {
                        EngineError::invalid(field, format!("mode {v:?} is not octal"))
                    })?);
                }
                None if opt == "ro" => t.readonly = true,
                None if opt == "rw" => t.readonly = false,
                None if opt == "noexec" => t.noexec = true,
                None if opt == "exec" => t.noexec = false,
                _ => {
                    return Err(EngineError::invalid(
                        field,
                        format!("unknown option {opt:?} (size=, mode=, ro, rw, noexec, exec)"),
                    ));
                }
            }
        }
        Ok(t)
    }
}

/// Parses a signal name (`SIGTERM`, `TERM`) or number.
pub fn parse_signal(field: &str, s: &str) -> Result<i32> {
    if let Ok(n) = s.parse::<i32>() {
        if (1..=64).contains(&n) {
            return Ok(n);
        }
        return Err(EngineError::invalid(
            field,
            format!("signal {n} is out of range"),
        ));
    }
    let name = s.to_ascii_uppercase();
    let name = name.strip_prefix("SIG").unwrap_or(&name);
    let n = match name {
        "HUP" => libc::SIGHUP,
        "INT" => libc::SIGINT,
        "QUIT" => libc::SIGQUIT,
        "ABRT" => libc::SIGABRT,
        "KILL" => libc::SIGKILL,
        "USR1" => libc::SIGUSR1,
        "USR2" => libc::SIGUSR2,
        "PIPE" => libc::SIGPIPE,
        "ALRM" => libc::SIGALRM,
        "TERM" => libc::SIGTERM,
        "CONT" => libc::SIGCONT,
        "STOP" => libc::SIGSTOP,
        "TSTP" => libc::SIGTSTP,
        "WINCH" => libc::SIGWINCH,
        _ => {
            return Err(EngineError::invalid(field, format!("unknown signal {s:?}")));
        }
    };
    Ok(n)
}

impl RunSpec {
    /// Checks every field; the first problem is returned with its flag named.
    pub fn validate(&self) -> Result<()> {
        if self.image.trim().is_empty() {
            return Err(EngineError::invalid("image", "an image is required"));
        }
        if !self.name.is_empty() {
            let mut chars = self.name.chars();
            let ok = chars.next().is_some_and(|c| c.is_ascii_alphanumeric())
                && chars.all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c))
                && self.name.len() <= 128;
            if !ok {
                return Err(EngineError::invalid(
                    "--name",
                    format!(
                        "{:?}: only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed (at most 128)",
                        self.name
                    ),
                ));
            }
        }
        check_env_and_workdir(&self.env, &self.workdir)?;
        if self.memory_bytes != 0 && self.memory_bytes < 6 << 20 {
            return Err(EngineError::invalid(
                "--memory",
                "minimum memory limit allowed is 6MB",
            ));
        }
        if self.nano_cpus != 0 && self.nano_cpus < 10_000_000 {
            return Err(EngineError::invalid("--cpus", "must be at least 0.01"));
        }
        if self.pids_limit < 0 && self.pids_limit != -1 {
            return Err(EngineError::invalid(
                "--pids-limit",
                "must be positive, or -1 for unlimited",
            ));
        }
        for v in &self.volumes {
            Volume::parse(v)?;
        }
        for t in &self.tmpfs {
            Tmpfs::parse(t)?;
        }
        if !self.stop_signal.is_empty() {
            parse_signal("--stop-signal", &self.stop_signal)?;
        }
        if self.hostname.len() > 63 {
            return Err(EngineError::invalid("--hostname", "at most 63 characters"));
        }
        if let Some(h) = &self.healthcheck {
            h.validate()?;
        }
        Ok(())
    }
}

/// `-e KEY=VALUE` entries (non-empty key, no NUL) and `-w` (absolute or empty), shared by
/// container and exec requests.
pub(crate) fn check_env_and_workdir(env: &[String], workdir: &str) -> Result<()> {
    for e in env {
        match e.split_once('=') {
            Some((k, _)) if !k.is_empty() && !k.contains('\0') => {}
            _ => {
                return Err(EngineError::invalid(
                    "--env",
                    format!("{e:?} must be KEY=VALUE with a non-empty KEY"),
                ));
            }
        }
    }
    if !workdir.is_empty() && !workdir.starts_with('/') {
        return Err(EngineError::invalid(
            "--workdir",
            format!("{workdir:?} must be an absolute path"),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field(e: EngineError) -> String {
        match e {
            EngineError::Invalid { field, .. } => field,
            other => panic!("expected an invalid-field error, got {other}"),
        }
    }

    #[test]
    fn volumes_parse_like_docker() {
        let v = Volume::parse("/srv/data:/data:ro").unwrap();
        assert_eq!(v.source, VolumeSource::Host("/srv/data".into()));
        assert!(v.readonly);
        let v = Volume::parse("cache:/var/cache").unwrap();
        assert_eq!(v.source, VolumeSource::Named("cache".into()));
        assert!(!v.readonly);
        assert_eq!(
            Volume::parse("/data").unwrap().source,
            VolumeSource::Anonymous
        );
        assert!(Volume::parse("x:relative").is_err());
        assert!(Volume::parse("x:/a/../b").is_err());
        assert!(Volume::parse("x:/a:rx").is_err());
        assert!(Volume::parse("bad name:/a").is_err());
        assert!(Volume::parse("a:/b:ro:extra").is_err());
    }

    #[test]
    fn tmpfs_options() {
        let t = Tmpfs::parse("/run:size=64m,mode=755,noexec").unwrap();
        assert_eq!(t.size_bytes, Some(64 << 20));
        assert_eq!(t.mode, Some(0o755));
        assert!(t.noexec);
        assert!(Tmpfs::parse("/run:bogus").is_err());
        assert!(Tmpfs::parse("run").is_err());
    }

    #[test]
    fn sizes_and_signals() {
        assert_eq!(parse_size("x", "32m").unwrap(), 32 << 20);
        assert_eq!(parse_size("x", "1g").unwrap(), 1 << 30);
        assert_eq!(parse_size("x", "512").unwrap(), 512);
        assert_eq!(parse_size("x", "10kb").unwrap(), 10 << 10);
        assert!(parse_size("x", "12q").is_err());
        assert!(parse_size("x", "").is_err());
        assert_eq!(parse_signal("s", "SIGKILL").unwrap(), libc::SIGKILL);
        assert_eq!(parse_signal("s", "term").unwrap(), libc::SIGTERM);
        assert_eq!(parse_signal("s", "9").unwrap(), 9);
        assert!(parse_signal("s", "SIGFOO").is_err());
        assert!(parse_signal("s", "0").is_err());
    }

    #[test]
    fn bad_fields_are_named() {
        let ok = RunSpec {
            image: "busybox".into(),
            ..RunSpec::default()
        };
        ok.validate().unwrap();
        let cases: Vec<(RunSpec, &str)> = vec![
            (RunSpec::default(), "image"),
            (
                RunSpec {
                    name: "-x".into(),
                    ..ok.clone()
                },
                "--name",
            ),
            (
                RunSpec {
                    env: vec!["=v".into()],
                    ..ok.clone()
                },
                "--env",
            ),
            (
                RunSpec {
                    workdir: "rel".into(),
                    ..ok.clone()
                },
                "--workdir",
            ),
            (
                RunSpec {
                    memory_bytes: 1024,
                    ..ok.clone()
                },
                "--memory",
            ),
            (
                RunSpec {
                    nano_cpus: 1,
                    ..ok.clone()
                },
                "--cpus",
            ),
            (
                RunSpec {
                    pids_limit: -5,
                    ..ok.clone()
                },
                "--pids-limit",
            ),
            (
                RunSpec {
                    volumes: vec!["a:b".into()],
                    ..ok.clone()
                },
                "--volume",
            ),
            (
                RunSpec {
                    tmpfs: vec!["x".into()],
                    ..ok.clone()
                },
                "--tmpfs",
            ),
            (
                RunSpec {
                    stop_signal: "NOPE".into(),
                    ..ok.clone()
                },
                "--stop-signal",
            ),
            (
                RunSpec {
                    healthcheck: Some(HealthConfig {
                        interval: Some(Duration::ZERO),
                        ..HealthConfig::shell("true")
                    }),
                    ..ok.clone()
                },
                "--health-interval",
            ),
        ];
        for (spec, want) in cases {
            assert_eq!(field(spec.validate().unwrap_err()), want);
        }
    }
}
