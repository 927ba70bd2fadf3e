//! The attach protocol, spoken on a container's `<state dir>/attach.sock` (containers started
//! with [`crate::ContainerConfig::tty`] or [`crate::ContainerConfig::open_stdin`]) and on the
//! socket of an `exec` with [`crate::ExecConfig::attach_socket`].
//!
//! Both ways, a stream of frames `[u8 kind][u32 big-endian length][payload]`, payloads of at
//! most [`MAX_FRAME_LEN`] bytes. The kind numbers depend on the direction:
//!
//! | from | kind | frame | payload |
//! |---|---|---|---|
//! | client | 0 | [`Frame::Stdin`] | bytes for the container's stdin (ignored without `open_stdin`) |
//! | client | 1 | [`Frame::Resize`] | `u16` rows, `u16` columns, big-endian (`TIOCSWINSZ`; terminals only) |
//! | client | 2 | [`Frame::CloseStdin`] | none: closes the stdin pipe (ignored for a terminal) |
//! | shim | 1 | [`Frame::Stdout`] | output (all of a terminal's output) |
//! | shim | 2 | [`Frame::Stderr`] | error output |
//! | shim | 3 | [`Frame::Exit`] | `i32` big-endian: exit code, or 128 + signal; then the shim closes |
//!
//! The shim serves a few clients at once and copies the output to each of them as well as to the
//! log. It never waits for a client: a client that does not read fast enough (its pending
//! output reaches 256 KiB) is disconnected. A client that shuts down its writing side keeps
//! receiving output. A container's socket listens before [`crate::Runtime::create_and_start`]
//! returns; the output from the start until the first client connects (the first 64 KiB) is
//! sent to that client first, so that `run -it` shows the first prompt. Later clients see the
//! output from the moment they connect; the log has all of it.
//!
//! The functions here are pure: a client (the CLI, with its own tokio loop) encodes with
//! [`encode`] and decodes what it reads with [`decode_from_shim`].

/// Client → shim: stdin data.
pub const KIND_STDIN: u8 = 0;
/// Client → shim: terminal size.
pub const KIND_RESIZE: u8 = 1;
/// Client → shim: close stdin.
pub const KIND_CLOSE_STDIN: u8 = 2;
/// Shim → client: stdout data.
pub const KIND_STDOUT: u8 = 1;
/// Shim → client: stderr data.
pub const KIND_STDERR: u8 = 2;
/// Shim → client: the exit code.
pub const KIND_EXIT: u8 = 3;

/// The size of a frame header.
pub const HEADER_LEN: usize = 5;

/// The largest payload of a frame; [`encode`] splits longer data into several frames.
pub const MAX_FRAME_LEN: usize = 64 * 1024;

/// The longest path of a Unix socket (`sun_path` less its terminating NUL).
pub const MAX_SOCKET_PATH: usize = 107;

/// One message of the attach protocol.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    /// Client → shim: bytes for stdin.
    Stdin(Vec<u8>),
    /// Client → shim: the terminal's size.
    Resize {
        /// Rows.
        rows: u16,
        /// Columns.
        cols: u16,
    },
    /// Client → shim: no more stdin.
    CloseStdin,
    /// Shim → client: output on stdout (or the terminal).
    Stdout(Vec<u8>),
    /// Shim → client: output on stderr.
    Stderr(Vec<u8>),
    /// Shim → client: the process ended with this code (128 + signal if killed); last frame.
    Exit(i32),
}

impl Frame {
    /// Whether a client sends this frame (else the shim does).
    pub fn from_client(&self) -> bool {
        matches!(
            self,
            Frame::Stdin(_) | Frame::Resize { .. } | Frame::CloseStdin
        )
    }
}

/// A byte stream that is not valid attach protocol.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    /// A kind number not defined for this direction.
    #[error("unknown attach frame kind {0}")]
    UnknownKind(u8),
    /// A length above [`MAX_FRAME_LEN`].
    #[error("attach frame of {0} bytes exceeds the maximum of {MAX_FRAME_LEN}")]
    TooLong(usize),
    /// A payload of the wrong size for its kind.
    #[error("attach frame of kind {kind} has a payload of {len} bytes")]
    BadPayload {
        /// The kind.
        kind: u8,
        /// The payload's length.
        len: usize,
    },
}

/// Appends one frame with `kind` and `payload` (at most [`MAX_FRAME_LEN`] bytes).
fn push_frame(out: &mut Vec<u8>, kind: u8, payload: &[u8]) {
    let len = u32::try_from(payload.len()).unwrap_or(u32::MAX);
    out.push(kind);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(payload);
}

/// Appends `data` as frames of `kind`, split at [`MAX_FRAME_LEN`] (nothing for empty data).
pub(crate) fn push_data(out: &mut Vec<u8>, kind: u8, data: &[u8]) {
    for chunk in data.chunks(MAX_FRAME_LEN) {
        push_frame(out, kind, chunk);
    }
}

/// The bytes of `frame` (several frames for data longer than [`MAX_FRAME_LEN`]; none for empty
/// data).
pub fn encode(frame: &Frame) -> Vec<u8> {
    let mut out = Vec::new();
    encode_into(frame, &mut out);
    out
}

/// Appends the bytes of `frame` to `out` (see [`encode`]).
pub fn encode_into(frame: &Frame, out: &mut Vec<u8>) {
    match frame {
        Frame::Stdin(data) => push_data(out, KIND_STDIN, data),
        Frame::Stdout(data) => push_data(out, KIND_STDOUT, data),
        Frame::Stderr(data) => push_data(out, KIND_STDERR, data),
        Frame::Resize { rows, cols } => {
            let mut payload = [0u8; 4];
            payload[..2].copy_from_slice(&rows.to_be_bytes());
            payload[2..].copy_from_slice(&cols.to_be_bytes());
            push_frame(out, KIND_RESIZE, &payload);
        }
        Frame::CloseStdin => push_frame(out, KIND_CLOSE_STDIN, &[]),
        Frame::Exit(code) => push_frame(out, KIND_EXIT, &code.to_be_bytes()),
    }
}

/// The kind and payload of the first complete frame of `buf`, with the bytes it takes.
/// A frame split off a buffer: its kind, its payload and how many bytes it took.
type RawFrame<'a> = (u8, &'a [u8], usize);

fn split(buf: &[u8], known: impl Fn(u8) -> bool) -> Result<Option<RawFrame<'_>>, FrameError> {
    let Some(header) = buf.get(..HEADER_LEN) else {
        return Ok(None);
    };
    let kind = header[0];
    if !known(kind) {
        return Err(FrameError::UnknownKind(kind));
    }
    let len = u32::from_be_bytes([header[1], header[2], header[3], header[4]]);
    let len = usize::try_from(len).unwrap_or(usize::MAX);
    if len > MAX_FRAME_LEN {
        return Err(FrameError::TooLong(len));
    }
    match buf.get(HEADER_LEN..HEADER_LEN + len) {
        Some(payload) => Ok(Some((kind, payload, HEADER_LEN + len))),
        None => Ok(None),
    }
}

/// Decodes the first frame a shim sent: `Ok(None)` until `buf` holds a whole frame; else the
/// frame and the number of bytes it took.
pub fn decode_from_shim(buf: &[u8]) -> Result<Option<(Frame, usize)>, FrameError> {
    let Some((kind, payload, used)) = split(buf, |k| (KIND_STDOUT..=KIND_EXIT).contains(&k))?
    else {
        return Ok(None);
    };
    let frame = match kind {
        KIND_STDOUT => Frame::Stdout(payload.to_vec()),
        KIND_STDERR => Frame::Stderr(payload.to_vec()),
        _ => {
            let bytes: [u8; 4] = payload.try_into().map_err(|_| FrameError::BadPayload {
                kind,
                len: payload.len(),
            })?;
            Frame::Exit(i32::from_be_bytes(bytes))
        }
    };
    Ok(Some((frame, used)))
}

/// Decodes the first frame a client sent (see [`decode_from_shim`]).
pub fn decode_from_client(buf: &[u8]) -> Result<Option<(Frame, usize)>, FrameError> {
    let Some((kind, payload, used)) = split(buf, |k| k <= KIND_CLOSE_STDIN)? else {
        return Ok(None);
    };
    let bad = || FrameError::BadPayload {
        kind,
        len: payload.len(),
    };
    let frame = match kind {
        KIND_STDIN => Frame::Stdin(payload.to_vec()),
        KIND_RESIZE => {
            let bytes: [u8; 4] = payload.try_into().map_err(|_| bad())?;
            Frame::Resize {
                rows: u16::from_be_bytes([bytes[0], bytes[1]]),
                cols: u16::from_be_bytes([bytes[2], bytes[3]]),
            }
        }
        _ => {
            if !payload.is_empty() {
                return Err(bad());
            }
            Frame::CloseStdin
        }
    };
    Ok(Some((frame, used)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_round_trip() {
        for frame in [
            Frame::Stdin(b"echo hi\n".to_vec()),
            Frame::Resize { rows: 24, cols: 80 },
            Frame::CloseStdin,
        ] {
            assert!(frame.from_client());
            let bytes = encode(&frame);
            assert_eq!(decode_from_client(&bytes), Ok(Some((frame, bytes.len()))));
        }
        for frame in [
            Frame::Stdout(b"hi\r\n".to_vec()),
            Frame::Stderr(b"oops".to_vec()),
            Frame::Exit(-1),
            Frame::Exit(137),
        ] {
            assert!(!frame.from_client());
            let bytes = encode(&frame);
            assert_eq!(decode_from_shim(&bytes), Ok(Some((frame, bytes.len()))));
        }
        assert_eq!(
            encode(&Frame::Resize { rows: 1, cols: 258 }),
            vec![1, 0, 0, 0, 4, 0, 1, 1, 2]
        );
        assert_eq!(encode(&Frame::Exit(3)), vec![3, 0, 0, 0, 4, 0, 0, 0, 3]);
        assert!(encode(&Frame::Stdout(Vec::new())).is_empty());
    }

    #[test]
    fn partial_input_waits_and_streams_decode_in_order() {
        let mut stream = encode(&Frame::Stdout(b"abc".to_vec()));
        stream.extend(encode(&Frame::Exit(0)));
        for cut in 0..HEADER_LEN + 3 {
            assert_eq!(decode_from_shim(&stream[..cut]), Ok(None), "cut at {cut}");
        }
        let (first, used) = decode_from_shim(&stream).expect("valid").expect("complete");
        assert_eq!(first, Frame::Stdout(b"abc".to_vec()));
        let (second, rest) = decode_from_shim(&stream[used..])
            .expect("valid")
            .expect("complete");
        assert_eq!(second, Frame::Exit(0));
        assert_eq!(used + rest, stream.len());
    }

    #[test]
    fn long_data_is_split() {
        let data = vec![7u8; MAX_FRAME_LEN + 10];
        let bytes = encode(&Frame::Stdin(data));
        assert_eq!(bytes.len(), 2 * HEADER_LEN + MAX_FRAME_LEN + 10);
        let (first, used) = decode_from_client(&bytes)
            .expect("valid")
            .expect("complete");
        assert_eq!(first, Frame::Stdin(vec![7u8; MAX_FRAME_LEN]));
        let (second, _) = decode_from_client(&bytes[used..])
            .expect("valid")
            .expect("complete");
        assert_eq!(second, Frame::Stdin(vec![7u8; 10]));
    }

    #[test]
    fn garbage_is_refused() {
        assert_eq!(
            decode_from_client(&[9, 0, 0, 0, 0]),
            Err(FrameError::UnknownKind(9))
        );
        // Stdout's kind number means resize from a client: wrong size.
        assert_eq!(
            decode_from_client(&[1, 0, 0, 0, 2, b'h', b'i']),
            Err(FrameError::BadPayload { kind: 1, len: 2 })
        );
        assert_eq!(
            decode_from_shim(&[0, 0, 0, 0, 0]),
            Err(FrameError::UnknownKind(0))
        );
        assert_eq!(
            decode_from_shim(&[1, 0, 0x10, 0, 0]),
            Err(FrameError::TooLong(0x10_0000))
        );
        assert_eq!(
            decode_from_client(&[2, 0, 0, 0, 1, 0]),
            Err(FrameError::BadPayload { kind: 2, len: 1 })
        );
        assert_eq!(
            decode_from_shim(&[3, 0, 0, 0, 1, 0]),
            Err(FrameError::BadPayload { kind: 3, len: 1 })
        );
    }
}
