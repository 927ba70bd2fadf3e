//! The bridge between a client's `Exec` or `Attach` gRPC stream and a container's attach
//! socket (the runtime's framed protocol, `flotilla_container::attach`).
//!
//! Input (stdin bytes, terminal sizes, end of stdin) goes from the client's stream to the
//! socket as client frames; the shim's stdout, stderr and exit frames come back as
//! [`pb::ExecOutput`] messages, the exit code last. An exec's helper process is handed in too:
//! it is reaped at the end, and killed (which kills the command) if the client goes away.

use flotilla_container::attach::{self, Frame};
use flotilla_proto::pb;
use flotilla_proto::pb::exec_input::Input;
use flotilla_proto::pb::exec_output::Output;
use std::pin::Pin;
use std::process::Child;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::UnixStream;
use tokio::net::unix::{OwnedReadHalf, OwnedWriteHalf};
use tokio::sync::{mpsc, oneshot};
use tokio_stream::Stream;
use tonic::{Status, Streaming};

/// The response stream of an `Exec` or `Attach` call.
pub type OutputStream = Pin<Box<dyn Stream<Item = Result<pb::ExecOutput, Status>> + Send>>;

/// How a session handles its input.
#[derive(Debug, Clone, Copy, Default)]
pub struct Options {
    /// Forward the client's stdin, and close the command's at the client's end of input.
    pub interactive: bool,
    /// Close the command's stdin right away (an exec without `-i`).
    pub close_stdin_now: bool,
    /// The client's terminal size, sent first (rows, columns).
    pub size: Option<(u16, u16)>,
}

/// How the output side of a session ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum End {
    /// The exit frame came, with this code.
    Exited(i32),
    /// The client went away.
    ClientGone,
    /// The socket closed without an exit frame.
    Closed,
    /// The socket carried something that is not the attach protocol.
    Failed,
}

/// A terminal size from the wire, clamped to what the terminal driver takes.
pub fn terminal_size(size: Option<&pb::TerminalSize>) -> Option<(u16, u16)> {
    let size = size?;
    let clamp = |v: u32| u16::try_from(v).unwrap_or(u16::MAX);
    (size.rows > 0 && size.cols > 0).then(|| (clamp(size.rows), clamp(size.cols)))
}

/// Bridges `inbound` (after its start message) and `sock` until the session ends; returns the
/// response stream at once. `helper` is an exec's helper process; `label` names the session in
/// logs.
pub fn bridge(
    sock: UnixStream,
    inbound: Streaming<pb::ExecInput>,
    options: Options,
    helper: Option<Child>,
    label: String,
) -> OutputStream {
    let (tx, rx) = mpsc::channel(64);
    tokio::spawn(async move {
        let end = run(sock, inbound, options, &tx).await;
        tracing::debug!(session = %label, ?end, "attach session ended");
        let Some(mut child) = helper else {
            return;
        };
        let kill = matches!(end, End::ClientGone | End::Failed);
        let reaped = tokio::task::spawn_blocking(move || {
            if kill {
                let _ = child.kill();
            }
            child.wait()
        })
        .await;
        let code = match reaped {
            Ok(Ok(status)) => status.code(),
            Ok(Err(e)) => {
                tracing::warn!(session = %label, error = %e, "cannot reap the exec helper");
                None
            }
            Err(e) => {
                tracing::warn!(session = %label, error = %e, "the exec reaper failed");
                None
            }
        };
        if end == End::Closed {
            // The helper ended without an exit frame: its own exit code is the command's.
            let last = match code {
                Some(code) => Ok(exit_message(code)),
                None => Err(Status::internal("the exec ended without an exit code")),
            };
            let _ = tx.send(last).await;
        }
    });
    Box::pin(tokio_stream::wrappers::ReceiverStream::new(rx))
}

/// The message carrying an exit code.
pub fn exit_message(code: i32) -> pb::ExecOutput {
    pb::ExecOutput {
        output: Some(Output::ExitCode(code)),
    }
}

/// Runs the session: input forwarded by a task of its own, output here.
async fn run(
    sock: UnixStream,
    inbound: Streaming<pb::ExecInput>,
    options: Options,
    tx: &mpsc::Sender<Result<pb::ExecOutput, Status>>,
) -> End {
    let (mut reader, mut writer) = sock.into_split();
    let mut first = Vec::new();
    if let Some((rows, cols)) = options.size {
        attach::encode_into(&Frame::Resize { rows, cols }, &mut first);
    }
    if options.close_stdin_now {
        attach::encode_into(&Frame::CloseStdin, &mut first);
    }
    if !first.is_empty()
        && let Err(e) = writer.write_all(&first).await
    {
        // The output may still come (a command that already ended).
        tracing::debug!(error = %e, "cannot write to the attach socket");
    }
    let (gone_tx, gone_rx) = oneshot::channel();
    let input = tokio::spawn(forward_input(inbound, writer, options, gone_tx));
    let end = forward_output(&mut reader, tx, gone_rx).await;
    input.abort();
    end
}

/// Copies the client's input to the socket until the client ends it (`gone` is told if the
/// client's stream broke).
async fn forward_input(
    mut inbound: Streaming<pb::ExecInput>,
    mut writer: OwnedWriteHalf,
    options: Options,
    gone: oneshot::Sender<()>,
) {
    let mut stdin_open = options.interactive && !options.close_stdin_now;
    loop {
        let message = match inbound.message().await {
            Ok(Some(m)) => m,
            Ok(None) => {
                // The client sends nothing more: its input has ended.
                if stdin_open {
                    let _ = writer.write_all(&attach::encode(&Frame::CloseStdin)).await;
                }
                return;
            }
            Err(status) => {
                tracing::debug!(%status, "the client's input stream broke");
                let _ = gone.send(());
                return;
            }
        };
        let frame = match message.input {
            Some(Input::Stdin(data)) if stdin_open => Frame::Stdin(data),
            Some(Input::StdinEof(_)) if stdin_open => {
                stdin_open = false;
                Frame::CloseStdin
            }
            Some(Input::Resize(size)) => match terminal_size(Some(&size)) {
                Some((rows, cols)) => Frame::Resize { rows, cols },
                None => continue,
            },
            // A second start, or stdin that is not forwarded.
            _ => continue,
        };
        if let Err(e) = writer.write_all(&attach::encode(&frame)).await {
            tracing::debug!(error = %e, "the attach socket no longer takes input");
            return;
        }
    }
}

/// Copies the shim's frames to the client until the exit frame, the socket's end, or the
/// client's.
async fn forward_output(
    reader: &mut OwnedReadHalf,
    tx: &mpsc::Sender<Result<pb::ExecOutput, Status>>,
    mut gone: oneshot::Receiver<()>,
) -> End {
    let mut buf: Vec<u8> = Vec::new();
    let mut chunk = vec![0u8; 64 * 1024];
    let mut input_over = false;
    loop {
        loop {
            let (frame, used) = match attach::decode_from_shim(&buf) {
                Ok(Some(decoded)) => decoded,
                Ok(None) => break,
                Err(e) => {
                    let _ = tx
                        .send(Err(Status::internal(format!("bad attach stream: {e}"))))
                        .await;
                    return End::Failed;
                }
            };
            buf.drain(..used);
            let output = match frame {
                Frame::Stdout(data) => Output::Stdout(data),
                Frame::Stderr(data) => Output::Stderr(data),
                Frame::Exit(code) => {
                    let _ = tx.send(Ok(exit_message(code))).await;
                    return End::Exited(code);
                }
                // Client frames never come from the shim.
                Frame::Stdin(_) | Frame::Resize { .. } | Frame::CloseStdin => continue,
            };
            let message = pb::ExecOutput {
                output: Some(output),
            };
            if tx.send(Ok(message)).await.is_err() {
                return End::ClientGone;
            }
        }
        tokio::select! {
            read = reader.read(&mut chunk) => match read {
                Ok(0) => return End::Closed,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
                Err(e) => {
                    tracing::debug!(error = %e, "cannot read the attach socket");
                    return End::Closed;
                }
            },
            () = tx.closed() => return End::ClientGone,
            said = &mut gone, if !input_over => match said {
                Ok(()) => return End::ClientGone,
                // The input side ended normally.
                Err(_) => input_over = true,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn terminal_sizes_are_clamped() {
        let size = |rows, cols| pb::TerminalSize { rows, cols };
        assert_eq!(terminal_size(Some(&size(24, 80))), Some((24, 80)));
        assert_eq!(terminal_size(Some(&size(0, 80))), None);
        assert_eq!(terminal_size(Some(&size(100_000, 1))), Some((u16::MAX, 1)));
        assert_eq!(terminal_size(None), None);
    }

    #[tokio::test]
    async fn output_frames_become_messages_and_stdin_goes_in() {
        let (ours, theirs) = UnixStream::pair().expect("socket pair");
        let (mut shim_read, mut shim_write) = theirs.into_split();
        let (tx, mut rx) = mpsc::channel(16);
        let (_gone_tx, gone_rx) = oneshot::channel();
        let (mut reader, mut writer) = ours.into_split();
        let mut frames = attach::encode(&Frame::Stdout(b"hi\n".to_vec()));
        attach::encode_into(&Frame::Stderr(b"oops\n".to_vec()), &mut frames);
        attach::encode_into(&Frame::Exit(3), &mut frames);
        shim_write.write_all(&frames).await.expect("write frames");
        let end = forward_output(&mut reader, &tx, gone_rx).await;
        assert_eq!(end, End::Exited(3));
        let mut got = Vec::new();
        while let Ok(Ok(m)) = rx.try_recv() {
            got.push(m.output);
        }
        assert_eq!(
            got,
            vec![
                Some(Output::Stdout(b"hi\n".to_vec())),
                Some(Output::Stderr(b"oops\n".to_vec())),
                Some(Output::ExitCode(3)),
            ]
        );
        // What a client writes reaches the shim as frames.
        writer
            .write_all(&attach::encode(&Frame::CloseStdin))
            .await
            .expect("write");
        let mut header = [0u8; attach::HEADER_LEN];
        shim_read.read_exact(&mut header).await.expect("read");
        assert_eq!(header[0], attach::KIND_CLOSE_STDIN);
    }
}
