//! `container exec`: another command in a running container, its I/O served on a Unix socket
//! with the runtime's attach protocol (`flotilla_container::attach`) for one client.

use crate::engine::Engine;
use crate::error::{EngineError, Result};
use crate::user;
use flotilla_container::ExecConfig;
use flotilla_image::Digest;
use std::path::PathBuf;
use std::process::Child;
use std::sync::atomic::{AtomicU64, Ordering};

/// What `container exec` asks for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExecSpec {
    /// The command and its arguments.
    pub args: Vec<String>,
    /// `-e KEY=VALUE`, over the container's environment.
    pub env: Vec<String>,
    /// `-u user[:group]`; empty: the container's user.
    pub user: String,
    /// `-w`; empty: the container's working directory.
    pub workdir: String,
    /// `-t`: run the command on a terminal.
    pub tty: bool,
}

impl ExecSpec {
    /// Checks the request, naming the flag of the first bad field.
    pub fn validate(&self) -> Result<()> {
        if self.args.first().is_none_or(String::is_empty) {
            return Err(EngineError::invalid(
                "command",
                "exec needs a command to run",
            ));
        }
        crate::spec::check_env_and_workdir(&self.env, &self.workdir)?;
        Ok(())
    }
}

/// A started exec: the helper (a child of the caller: reap it, kill it to kill the command)
/// and the socket it listens on until one client connects (within 10 s).
#[derive(Debug)]
pub struct ExecSession {
    /// The container's full id.
    pub container_id: String,
    /// The exec helper; its exit status is the command's.
    pub child: Child,
    /// Where to connect (the attach protocol; the file is removed once connected).
    pub socket: PathBuf,
}

impl Engine {
    /// Starts `spec` in the running container `key` and returns once its socket listens; the
    /// command starts when a client connects.
    pub fn exec(&self, key: &str, spec: &ExecSpec) -> Result<ExecSession> {
        static SEQUENCE: AtomicU64 = AtomicU64::new(0);
        let rec = self.lookup(key)?;
        spec.validate()?;
        let Some(container) = self.running(&rec)? else {
            return Err(EngineError::State {
                id: rec.short_id().to_owned(),
                state: "not running".into(),
                reason: "cannot exec in it".into(),
            });
        };
        if rec.paused {
            return Err(EngineError::State {
                id: rec.short_id().to_owned(),
                state: "paused".into(),
                reason: "unpause it to exec in it".into(),
            });
        }
        let user = if spec.user.is_empty() {
            None
        } else {
            let image_id: Digest = rec.image_id.parse().map_err(|_| {
                EngineError::invalid("image", format!("bad image id {}", rec.image_id))
            })?;
            let layers = self.images().rootfs_layers(&image_id)?;
            Some(user::resolve(&spec.user, &layers)?)
        };
        // In the runtime's state directory of the container: short enough for a socket.
        let socket = container.state_dir().join(format!(
            "exec-{}-{}.sock",
            std::process::id(),
            SEQUENCE.fetch_add(1, Ordering::Relaxed)
        ));
        let mut config = ExecConfig::new(spec.args.clone());
        config.env = spec.env.clone();
        config.user = user;
        config.cwd = (!spec.workdir.is_empty()).then(|| spec.workdir.clone());
        config.tty = spec.tty;
        config.attach_socket = Some(socket.clone());
        let child = self.runtime.exec(rec.runtime_key(), config)?;
        tracing::debug!(id = %rec.id, socket = %socket.display(), "exec started");
        Ok(ExecSession {
            container_id: rec.id,
            child,
            socket,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exec_requests_are_checked() {
        let ok = ExecSpec {
            args: vec!["sh".into()],
            ..ExecSpec::default()
        };
        ok.validate().unwrap();
        let field = |s: ExecSpec| match s.validate() {
            Err(EngineError::Invalid { field, .. }) => field,
            other => panic!("expected an invalid field, got {other:?}"),
        };
        assert_eq!(field(ExecSpec::default()), "command");
        assert_eq!(
            field(ExecSpec {
                env: vec!["NOVALUE".into()],
                ..ok.clone()
            }),
            "--env"
        );
        assert_eq!(
            field(ExecSpec {
                workdir: "rel".into(),
                ..ok.clone()
            }),
            "--workdir"
        );
    }
}
