//! The client side of an interactive stream (`container exec`, `container run -i|-t`): this
//! terminal's stdin, size changes and end of input go to the daemon's `Exec` or `Attach`
//! call; stdout and stderr come back to this process's (with `-t` the terminal's output is all
//! stdout), and the exit code last.
//!
//! With `-t -i` and a terminal on stdin, the terminal is put in raw mode for the session and
//! restored however it ends ([`RawMode`] restores it on drop). With `-t` and stdin not a
//! terminal, the command still gets a terminal in the container; only the raw mode is skipped
//! (with a warning when stdin is forwarded). Stdin is read on a thread of its own, so that a
//! read still pending when the session ends keeps nothing waiting.

use crate::error::CliError;
use flotilla_proto::pb;
use flotilla_proto::pb::containers_client::ContainersClient;
use flotilla_proto::pb::exec_input::Input;
use flotilla_proto::pb::exec_output::Output;
use rustix::termios::{OptionalActions, Termios};
use std::io::{IsTerminal, Read, Write};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_stream::wrappers::ReceiverStream;
use tonic::transport::Channel;

/// How many input messages may wait to be sent.
const INPUT_QUEUE: usize = 16;
/// The size of one read of stdin.
const STDIN_CHUNK: usize = 32 * 1024;

/// Which call a session makes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Call {
    /// `Exec`: a new command in a running container.
    Exec,
    /// `Attach`: the container's own command (`run -i|-t`).
    Attach,
}

/// This terminal in raw mode, restored to its earlier settings on drop.
struct RawMode {
    saved: Termios,
}

impl RawMode {
    /// Switches stdin's terminal to raw mode.
    fn enable() -> std::io::Result<RawMode> {
        let stdin = std::io::stdin();
        let saved = rustix::termios::tcgetattr(&stdin)?;
        let mut raw = saved.clone();
        raw.make_raw();
        rustix::termios::tcsetattr(&stdin, OptionalActions::Now, &raw)?;
        Ok(RawMode { saved })
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        let _ = rustix::termios::tcsetattr(std::io::stdin(), OptionalActions::Now, &self.saved);
    }
}

/// Tasks aborted when the session ends, however it ends.
struct AbortOnDrop(Vec<JoinHandle<()>>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        for task in &self.0 {
            task.abort();
        }
    }
}

/// The size of this process's terminal (stdout's, else stdin's), if it has one.
fn terminal_size() -> Option<pb::TerminalSize> {
    let found = if std::io::stdout().is_terminal() {
        rustix::termios::tcgetwinsize(std::io::stdout()).ok()
    } else if std::io::stdin().is_terminal() {
        rustix::termios::tcgetwinsize(std::io::stdin()).ok()
    } else {
        None
    };
    let size = found?;
    (size.ws_row > 0 && size.ws_col > 0).then(|| pb::TerminalSize {
        rows: u32::from(size.ws_row),
        cols: u32::from(size.ws_col),
    })
}

/// An input message.
fn input(input: Input) -> pb::ExecInput {
    pb::ExecInput { input: Some(input) }
}

/// Reads stdin on a thread of its own into `tx`, then says it has ended.
fn spawn_stdin_reader(tx: mpsc::Sender<pb::ExecInput>) {
    let spawned = std::thread::Builder::new()
        .name("stdin".into())
        .spawn(move || {
            let mut stdin = std::io::stdin();
            let mut buf = vec![0u8; STDIN_CHUNK];
            loop {
                let n = match stdin.read(&mut buf) {
                    Ok(0) => break,
                    Ok(n) => n,
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                    Err(_) => break,
                };
                if tx
                    .blocking_send(input(Input::Stdin(buf[..n].to_vec())))
                    .is_err()
                {
                    return;
                }
            }
            let _ = tx.blocking_send(input(Input::StdinEof(true)));
        });
    if let Err(e) = spawned {
        eprintln!("flotilla: cannot read stdin: {e}");
    }
}

/// Sends this terminal's new size at every `SIGWINCH`.
async fn forward_resizes(tx: mpsc::Sender<pb::ExecInput>) {
    use tokio::signal::unix::{SignalKind, signal};
    let Ok(mut winch) = signal(SignalKind::window_change()) else {
        return;
    };
    while winch.recv().await.is_some() {
        if let Some(size) = terminal_size()
            && tx.send(input(Input::Resize(size))).await.is_err()
        {
            return;
        }
    }
}

/// Writes `data` to stdout or stderr and flushes.
fn write_output(data: &[u8], stderr: bool) -> Result<(), CliError> {
    if stderr {
        let mut err = std::io::stderr().lock();
        err.write_all(data)?;
        err.flush()?;
    } else {
        let mut out = std::io::stdout().lock();
        out.write_all(data)?;
        out.flush()?;
    }
    Ok(())
}

/// Runs one session: `start` first, then this process's input, until the daemon's stream ends.
/// Returns the exit code it sent, if any.
pub async fn run(
    client: &mut ContainersClient<Channel>,
    call: Call,
    mut start: pb::ExecStart,
) -> Result<Option<i32>, CliError> {
    let (tty, interactive) = (start.tty, start.interactive);
    let stdin_is_terminal = std::io::stdin().is_terminal();
    if tty {
        start.size = terminal_size();
    }
    let _raw = if tty && interactive && stdin_is_terminal {
        Some(RawMode::enable().map_err(|source| CliError::Input {
            path: "standard input (raw mode)".to_owned(),
            source,
        })?)
    } else {
        if tty && interactive {
            eprintln!("flotilla: the input device is not a TTY; it is not switched to raw mode");
        }
        None
    };
    let (tx, rx) = mpsc::channel(INPUT_QUEUE);
    // The queue is empty: this cannot wait.
    if tx.send(input(Input::Start(start))).await.is_err() {
        return Err(CliError::Usage(
            "the session's input closed at once".to_owned(),
        ));
    }
    let mut tasks = AbortOnDrop(Vec::new());
    if interactive {
        spawn_stdin_reader(tx.clone());
    }
    if tty {
        tasks.0.push(tokio::spawn(forward_resizes(tx.clone())));
    }
    // Without stdin or resizes to send, the input ends here (the daemon closes stdin).
    drop(tx);
    let requests = ReceiverStream::new(rx);
    let response = match call {
        Call::Exec => client.exec(requests).await?,
        Call::Attach => client.attach(requests).await?,
    };
    let mut outputs = response.into_inner();
    let mut code = None;
    while let Some(message) = outputs.message().await? {
        match message.output {
            Some(Output::Stdout(data)) => write_output(&data, false)?,
            Some(Output::Stderr(data)) => write_output(&data, true)?,
            Some(Output::ExitCode(c)) => code = Some(c),
            None => {}
        }
    }
    drop(tasks);
    Ok(code)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn input_messages_wrap_their_payload() {
        let m = input(Input::StdinEof(true));
        assert_eq!(m.input, Some(Input::StdinEof(true)));
        let m = input(Input::Stdin(b"hi".to_vec()));
        assert_eq!(m.input, Some(Input::Stdin(b"hi".to_vec())));
    }
}
