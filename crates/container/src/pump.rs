//! The I/O loop of a shim and of an `exec` helper: one `poll` over the process's output (pipes
//! or a terminal's master side), its stdin, a pidfd of the process, the attach socket and its
//! clients; no threads, one fixed read buffer.
//!
//! Output goes to the log (the shim's: through one [`LineBuffer`] per stream, see
//! [`crate::logs`]) and, as frames ([`crate::attach`]), to every client, never blocking: a
//! client whose pending output passes [`CLIENT_BUFFER_LIMIT`] is disconnected. What clients send
//! for stdin is buffered until the process takes it; meanwhile no more is read from them.
//!
//! The loop ends once the process has exited (its pidfd is readable; without pidfds, before
//! Linux 5.3, `waitpid(WNOHANG)` every 100 ms) and its output has reached end-of-file, or
//! [`DRAIN_AFTER_EXIT`] after its exit, whichever comes first: a process it left behind that
//! still holds the output open does not delay the exit record.

use crate::attach::{self, Frame};
use crate::error::{Context, Result};
use crate::logs::{LineBuffer, LogWriter, Stream, format_timestamp};
use nix::poll::{PollFd, PollFlags, PollTimeout};
use std::fs;
use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::Path;
use std::time::{Duration, Instant, SystemTime};

/// The read buffer's size.
const READ_BUFFER: usize = 32 * 1024;
/// How many clients are served at once; more are disconnected on arrival.
pub(crate) const MAX_CLIENTS: usize = 4;
/// The output a client may have pending before it is disconnected.
const CLIENT_BUFFER_LIMIT: usize = 256 * 1024;
/// The output kept for the first client.
const EARLY_OUTPUT_LIMIT: usize = 64 * 1024;
/// How long output is still read after the process has exited.
pub(crate) const DRAIN_AFTER_EXIT: Duration = Duration::from_millis(100);
/// How long clients get to read their last output and the exit frame.
const EXIT_FLUSH: Duration = Duration::from_secs(1);
/// The polling period without a pidfd.
const NO_PIDFD_TICK: Duration = Duration::from_millis(100);
/// The most stdin bytes buffered for the process.
const STDIN_BUFFER_LIMIT: usize = 256 * 1024;

/// How the process ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Exited {
    /// Its exit code, if it exited.
    pub(crate) code: Option<i32>,
    /// The signal that killed it, if one did.
    pub(crate) signal: Option<i32>,
}

impl Exited {
    /// The exit code, or 128 + the signal.
    pub(crate) fn code_or_signal(self) -> i32 {
        match (self.code, self.signal) {
            (Some(code), _) => code,
            (None, Some(signal)) => 128 + signal,
            (None, None) => -1,
        }
    }
}

/// One output of the process.
struct Output {
    /// The read end (non-blocking).
    fd: OwnedFd,
    /// Which stream it is.
    stream: Stream,
    /// Its line buffer, when logging.
    lines: Option<LineBuffer>,
    /// End-of-file reached.
    closed: bool,
}

/// The process's stdin, as the loop writes it.
struct Input {
    /// The write end (non-blocking): a pipe, or the terminal's master side.
    fd: OwnedFd,
    /// What clients sent that the process has not taken yet.
    pending: Vec<u8>,
    /// A terminal (close-stdin frames are ignored).
    tty: bool,
    /// Close once `pending` is written.
    close_when_written: bool,
}

/// One attached client.
struct Client {
    /// The connection (non-blocking).
    sock: UnixStream,
    /// Received bytes not yet decoded.
    inbuf: Vec<u8>,
    /// Frames not yet sent.
    outbuf: Vec<u8>,
    /// The client shut down its writing side.
    read_closed: bool,
    /// To be dropped.
    closed: bool,
}

impl Client {
    /// A client on a new connection.
    fn new(sock: UnixStream) -> Client {
        Client {
            sock,
            inbuf: Vec::new(),
            outbuf: Vec::new(),
            read_closed: false,
            closed: false,
        }
    }

    /// Queues a data frame, disconnecting a client that is too far behind.
    fn queue(&mut self, kind: u8, data: &[u8]) {
        if self.closed {
            return;
        }
        if self.outbuf.len() + attach::HEADER_LEN + data.len() > CLIENT_BUFFER_LIMIT {
            eprintln!("flotilla container shim: disconnecting a client that does not read");
            self.closed = true;
            return;
        }
        attach::push_data(&mut self.outbuf, kind, data);
        self.flush();
    }

    /// Sends what the socket takes without blocking.
    fn flush(&mut self) {
        while !self.outbuf.is_empty() && !self.closed {
            let flags = rustix::net::SendFlags::DONTWAIT | rustix::net::SendFlags::NOSIGNAL;
            match rustix::net::send(&self.sock, &self.outbuf, flags) {
                Ok(n) => {
                    self.outbuf.drain(..n);
                }
                Err(rustix::io::Errno::INTR) => {}
                Err(rustix::io::Errno::AGAIN) => break,
                Err(_) => self.closed = true,
            }
        }
    }
}

/// Which descriptor a poll slot is.
#[derive(Debug, Clone, Copy)]
enum Slot {
    /// The process's pidfd.
    Pid,
    /// `outputs[i]`.
    Output(usize),
    /// The stdin sink.
    Input,
    /// The attach socket.
    Listener,
    /// `clients[i]`.
    Client(usize),
}

/// The loop's state; see the module documentation.
pub(crate) struct Pump {
    /// The outputs still open.
    outputs: Vec<Output>,
    /// The stdin sink, while open.
    input: Option<Input>,
    /// Whether clients' stdin frames are taken (`open_stdin`).
    accept_input: bool,
    /// The terminal's master side, for resize frames.
    terminal: Option<OwnedFd>,
    /// The attach socket, if any (non-blocking).
    listener: Option<UnixListener>,
    /// Attached clients.
    clients: Vec<Client>,
    /// The log, if any.
    log: Option<LogWriter>,
    /// A log write failed (reported once).
    log_failing: bool,
    /// Output kept for the first client, until one connects.
    early: Option<Vec<u8>>,
    /// The read buffer.
    buf: Vec<u8>,
}

/// Sets `O_NONBLOCK` on a descriptor.
fn nonblocking(fd: &OwnedFd) -> Result<()> {
    rustix::io::ioctl_fionbio(fd, true).ctx(|| "set a descriptor non-blocking")
}

/// Creates a Unix socket listening at `path` (a stale file there is removed), mode 0600,
/// non-blocking. A path too long for a socket address is refused with an error naming it.
pub(crate) fn listen(path: &Path) -> Result<UnixListener> {
    crate::config::socket_path_fits(path)?;
    match fs::remove_file(path) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(e).ctx(|| format!("remove {}", path.display())),
    }
    // Single-threaded callers: the umask change cannot affect anything else.
    let old = nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(0o177));
    let bound = UnixListener::bind(path);
    nix::sys::stat::umask(old);
    let listener = bound.ctx(|| format!("listen on {}", path.display()))?;
    fs::set_permissions(path, fs::Permissions::from_mode(0o600))
        .ctx(|| format!("chmod 600 {}", path.display()))?;
    listener
        .set_nonblocking(true)
        .ctx(|| format!("make {} non-blocking", path.display()))?;
    Ok(listener)
}

impl Pump {
    /// A loop with nothing attached yet.
    pub(crate) fn new() -> Pump {
        Pump {
            outputs: Vec::new(),
            input: None,
            accept_input: false,
            terminal: None,
            listener: None,
            clients: Vec::new(),
            log: None,
            log_failing: false,
            early: None,
            buf: vec![0u8; READ_BUFFER],
        }
    }

    /// Logs the output to `log`; call before [`Pump::output`].
    pub(crate) fn log_to(&mut self, log: LogWriter) {
        self.log = Some(log);
    }

    /// Adds an output of the process.
    pub(crate) fn output(&mut self, fd: OwnedFd, stream: Stream) -> Result<()> {
        nonblocking(&fd)?;
        let lines = self
            .log
            .as_ref()
            .map(|log| LineBuffer::new(log.line_capacity()));
        self.outputs.push(Output {
            fd,
            stream,
            lines,
            closed: false,
        });
        Ok(())
    }

    /// Sets the process's stdin; `accept` says whether clients' stdin frames go there (a
    /// terminal's master side is set even without, for resizes).
    pub(crate) fn input(&mut self, fd: OwnedFd, tty: bool, accept: bool) -> Result<()> {
        nonblocking(&fd)?;
        self.accept_input = accept;
        self.input = Some(Input {
            fd,
            pending: Vec::new(),
            tty,
            close_when_written: false,
        });
        Ok(())
    }

    /// Sets the terminal whose size resize frames change.
    pub(crate) fn terminal(&mut self, master: OwnedFd) {
        self.terminal = Some(master);
    }

    /// Serves the attach socket; the output until the first client connects is kept for it.
    pub(crate) fn listener(&mut self, listener: UnixListener) {
        self.listener = Some(listener);
        self.early = Some(Vec::new());
    }

    /// Adds a client already connected.
    pub(crate) fn client(&mut self, sock: UnixStream) -> Result<()> {
        sock.set_nonblocking(true)
            .ctx(|| "make the attached client non-blocking")?;
        self.clients.push(Client::new(sock));
        Ok(())
    }

    /// Runs until `pid` (a child of the caller) has exited and its output is drained; reaps it.
    pub(crate) fn run(&mut self, pid: i32) -> Result<Exited> {
        let target = rustix::process::Pid::from_raw(pid)
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "invalid pid"))
            .ctx(|| format!("wait for pid {pid}"))?;
        let pidfd = rustix::process::pidfd_open(target, rustix::process::PidfdFlags::empty()).ok();
        let mut exited: Option<Exited> = None;
        let mut drain_until: Option<Instant> = None;
        loop {
            if let (Some(exit), Some(deadline)) = (exited, drain_until) {
                let open = self.outputs.iter().any(|o| !o.closed);
                if !open || Instant::now() >= deadline {
                    self.finish_lines();
                    return Ok(exit);
                }
            }
            let timeout = match drain_until {
                Some(deadline) => Some(deadline.saturating_duration_since(Instant::now())),
                None if pidfd.is_none() => Some(NO_PIDFD_TICK),
                None => None,
            };
            let watch_pid = pidfd.as_ref().filter(|_| exited.is_none());
            let mut pid_ready = pidfd.is_none();
            let events = match self.poll(watch_pid, timeout) {
                Ok(events) => events,
                Err(e) => {
                    // Not expected; keep going, slowly, rather than lose the exit status.
                    eprintln!("flotilla container shim: {e}");
                    std::thread::sleep(NO_PIDFD_TICK);
                    pid_ready = true;
                    Vec::new()
                }
            };
            let mut accept = false;
            for (slot, revents) in events {
                match slot {
                    Slot::Pid => pid_ready = true,
                    Slot::Output(i) => self.read_output(i),
                    Slot::Input => self.write_input(),
                    Slot::Listener => accept = true,
                    Slot::Client(i) => self.client_event(i, revents),
                }
            }
            if accept {
                self.accept();
            }
            self.outputs.retain(|o| !o.closed);
            self.clients.retain(|c| !c.closed);
            if exited.is_none() && pid_ready {
                match rustix::process::waitpid(Some(target), rustix::process::WaitOptions::NOHANG) {
                    Ok(Some((_, status))) => {
                        if let Some(code) = status.exit_status() {
                            exited = Some(Exited {
                                code: Some(code),
                                signal: None,
                            });
                        } else if let Some(signal) = status.terminating_signal() {
                            exited = Some(Exited {
                                code: None,
                                signal: Some(signal),
                            });
                        }
                        if exited.is_some() {
                            drain_until = Some(Instant::now() + DRAIN_AFTER_EXIT);
                        }
                    }
                    Ok(None) | Err(rustix::io::Errno::INTR) => {}
                    Err(e) => return Err(e).ctx(|| format!("wait for pid {pid}")),
                }
            }
        }
    }

    /// One `poll`; the slots with events.
    fn poll(
        &self,
        pidfd: Option<&OwnedFd>,
        timeout: Option<Duration>,
    ) -> Result<Vec<(Slot, PollFlags)>> {
        let mut fds = Vec::new();
        let mut slots = Vec::new();
        if let Some(fd) = pidfd {
            fds.push(PollFd::new(fd.as_fd(), PollFlags::POLLIN));
            slots.push(Slot::Pid);
        }
        for (i, output) in self.outputs.iter().enumerate() {
            fds.push(PollFd::new(output.fd.as_fd(), PollFlags::POLLIN));
            slots.push(Slot::Output(i));
        }
        let input_busy = self.input.as_ref().is_some_and(|i| !i.pending.is_empty());
        if let Some(input) = &self.input
            && input_busy
        {
            fds.push(PollFd::new(input.fd.as_fd(), PollFlags::POLLOUT));
            slots.push(Slot::Input);
        }
        if let Some(listener) = &self.listener {
            fds.push(PollFd::new(listener.as_fd(), PollFlags::POLLIN));
            slots.push(Slot::Listener);
        }
        for (i, client) in self.clients.iter().enumerate() {
            let mut flags = PollFlags::empty();
            if !input_busy && !client.read_closed {
                flags |= PollFlags::POLLIN;
            }
            if !client.outbuf.is_empty() {
                flags |= PollFlags::POLLOUT;
            }
            fds.push(PollFd::new(client.sock.as_fd(), flags));
            slots.push(Slot::Client(i));
        }
        let timeout = match timeout {
            None => PollTimeout::NONE,
            Some(t) => PollTimeout::try_from(t).unwrap_or(PollTimeout::MAX),
        };
        match nix::poll::poll(&mut fds, timeout) {
            Ok(_) => {}
            Err(nix::errno::Errno::EINTR) => return Ok(Vec::new()),
            Err(e) => return Err(e).ctx(|| "poll the container's I/O"),
        }
        Ok(slots
            .into_iter()
            .zip(fds.iter())
            .filter_map(|(slot, fd)| {
                fd.revents()
                    .filter(|r| !r.is_empty())
                    .map(|revents| (slot, revents))
            })
            .collect())
    }

    /// Reads once from `outputs[i]` and hands the bytes on.
    fn read_output(&mut self, i: usize) {
        let mut buf = std::mem::take(&mut self.buf);
        let result = rustix::io::read(&self.outputs[i].fd, &mut buf[..]);
        match result {
            Ok(0) | Err(rustix::io::Errno::IO) => self.close_output(i),
            Ok(n) => self.distribute(i, &buf[..n]),
            Err(rustix::io::Errno::AGAIN) | Err(rustix::io::Errno::INTR) => {}
            Err(e) => {
                eprintln!("flotilla container shim: read the container's output: {e}");
                self.close_output(i);
            }
        }
        self.buf = buf;
    }

    /// Sends output to the clients and the log.
    fn distribute(&mut self, i: usize, data: &[u8]) {
        let stream = self.outputs[i].stream;
        let kind = match stream {
            Stream::Stdout => attach::KIND_STDOUT,
            Stream::Stderr => attach::KIND_STDERR,
        };
        if let Some(early) = &mut self.early
            && early.len() + attach::HEADER_LEN + data.len() <= EARLY_OUTPUT_LIMIT
        {
            attach::push_data(early, kind, data);
        }
        for client in &mut self.clients {
            client.queue(kind, data);
        }
        if let (Some(log), Some(lines)) = (self.log.as_mut(), self.outputs[i].lines.as_mut()) {
            let time = format_timestamp(SystemTime::now());
            let failing = &mut self.log_failing;
            lines.feed(data, &mut |partial: bool, text: &[u8]| {
                write_record(log, failing, &time, stream, partial, text);
            });
        }
    }

    /// End-of-file on `outputs[i]`: its unterminated last line is logged.
    fn close_output(&mut self, i: usize) {
        let output = &mut self.outputs[i];
        output.closed = true;
        let stream = output.stream;
        if let (Some(log), Some(lines)) = (self.log.as_mut(), output.lines.as_mut()) {
            let time = format_timestamp(SystemTime::now());
            let failing = &mut self.log_failing;
            lines.finish(&mut |partial: bool, text: &[u8]| {
                write_record(log, failing, &time, stream, partial, text);
            });
        }
    }

    /// Logs the unterminated last lines of every output.
    fn finish_lines(&mut self) {
        for i in 0..self.outputs.len() {
            if !self.outputs[i].closed {
                self.close_output(i);
            }
        }
    }

    /// Writes pending stdin without blocking.
    fn write_input(&mut self) {
        let Some(input) = self.input.as_mut() else {
            return;
        };
        while !input.pending.is_empty() {
            match rustix::io::write(&input.fd, &input.pending) {
                Ok(n) => {
                    input.pending.drain(..n);
                }
                Err(rustix::io::Errno::INTR) => {}
                Err(rustix::io::Errno::AGAIN) => return,
                Err(_) => {
                    // The process closed its stdin (or the terminal hung up).
                    self.input = None;
                    return;
                }
            }
        }
        if input.close_when_written {
            self.input = None;
        }
    }

    /// Reads from or writes to `clients[i]`.
    fn client_event(&mut self, i: usize, revents: PollFlags) {
        if revents.contains(PollFlags::POLLOUT) {
            self.clients[i].flush();
        }
        if revents.contains(PollFlags::POLLIN) {
            self.read_client(i);
        } else if revents.intersects(PollFlags::POLLHUP | PollFlags::POLLERR | PollFlags::POLLNVAL)
        {
            self.clients[i].closed = true;
        }
    }

    /// Reads and handles the frames a client sent.
    fn read_client(&mut self, i: usize) {
        let mut buf = std::mem::take(&mut self.buf);
        let mut frames = Vec::new();
        {
            let client = &mut self.clients[i];
            match rustix::io::read(&client.sock, &mut buf[..]) {
                Ok(0) => client.read_closed = true,
                Ok(n) => {
                    client.inbuf.extend_from_slice(&buf[..n]);
                    loop {
                        match attach::decode_from_client(&client.inbuf) {
                            Ok(Some((frame, used))) => {
                                client.inbuf.drain(..used);
                                frames.push(frame);
                            }
                            Ok(None) => break,
                            Err(e) => {
                                eprintln!("flotilla container shim: attached client: {e}");
                                client.closed = true;
                                break;
                            }
                        }
                    }
                }
                Err(rustix::io::Errno::AGAIN) | Err(rustix::io::Errno::INTR) => {}
                Err(_) => client.closed = true,
            }
        }
        self.buf = buf;
        for frame in frames {
            self.handle(frame);
        }
    }

    /// Acts on one frame from a client.
    fn handle(&mut self, frame: Frame) {
        match frame {
            Frame::Stdin(data) => {
                if !self.accept_input {
                    return;
                }
                if let Some(input) = self.input.as_mut()
                    && !input.close_when_written
                {
                    if input.pending.len() + data.len() > STDIN_BUFFER_LIMIT {
                        eprintln!("flotilla container shim: stdin not read, dropping input");
                        return;
                    }
                    input.pending.extend_from_slice(&data);
                    self.write_input();
                }
            }
            Frame::Resize { rows, cols } => {
                if let Some(master) = &self.terminal {
                    let size = rustix::termios::Winsize {
                        ws_row: rows,
                        ws_col: cols,
                        ws_xpixel: 0,
                        ws_ypixel: 0,
                    };
                    if let Err(e) = rustix::termios::tcsetwinsize(master, size) {
                        eprintln!("flotilla container shim: resize the terminal: {e}");
                    }
                }
            }
            Frame::CloseStdin => {
                if !self.accept_input {
                    return;
                }
                if let Some(input) = self.input.as_mut()
                    && !input.tty
                {
                    if input.pending.is_empty() {
                        self.input = None;
                    } else {
                        input.close_when_written = true;
                    }
                }
            }
            // decode_from_client yields none of these.
            Frame::Stdout(_) | Frame::Stderr(_) | Frame::Exit(_) => {}
        }
    }

    /// Accepts a connection on the attach socket.
    fn accept(&mut self) {
        let Some(listener) = &self.listener else {
            return;
        };
        let sock = match listener.accept() {
            Ok((sock, _)) => sock,
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted
                ) =>
            {
                return;
            }
            Err(e) => {
                eprintln!("flotilla container shim: accept on the attach socket: {e}");
                return;
            }
        };
        if self.clients.iter().filter(|c| !c.closed).count() >= MAX_CLIENTS {
            eprintln!("flotilla container shim: too many attached clients, refusing one");
            return;
        }
        if let Err(e) = sock.set_nonblocking(true) {
            eprintln!("flotilla container shim: attached client: {e}");
            return;
        }
        let mut client = Client::new(sock);
        if let Some(early) = self.early.take() {
            client.outbuf = early;
            client.flush();
        }
        self.clients.push(client);
    }

    /// After the exit: stops listening, sends every client the exit frame and what it has not
    /// read yet (for up to a second), and disconnects them.
    pub(crate) fn finish(&mut self, code: i32) {
        self.listener = None;
        self.early = None;
        self.input = None;
        for client in &mut self.clients {
            attach::encode_into(&Frame::Exit(code), &mut client.outbuf);
            client.flush();
        }
        let deadline = Instant::now() + EXIT_FLUSH;
        loop {
            self.clients.retain(|c| !c.closed && !c.outbuf.is_empty());
            let remaining = deadline.saturating_duration_since(Instant::now());
            if self.clients.is_empty() || remaining.is_zero() {
                break;
            }
            let mut fds: Vec<PollFd<'_>> = self
                .clients
                .iter()
                .map(|c| PollFd::new(c.sock.as_fd(), PollFlags::POLLOUT))
                .collect();
            let timeout = PollTimeout::try_from(remaining).unwrap_or(PollTimeout::MAX);
            if let Err(e) = nix::poll::poll(&mut fds, timeout)
                && e != nix::errno::Errno::EINTR
            {
                break;
            }
            drop(fds);
            for client in &mut self.clients {
                client.flush();
            }
        }
        self.clients.clear();
    }
}

/// Writes one log record; reports the first failure of a run of failures.
fn write_record(
    log: &mut LogWriter,
    failing: &mut bool,
    time: &str,
    stream: Stream,
    partial: bool,
    text: &[u8],
) {
    match log.write(time, stream, partial, text) {
        Ok(()) => *failing = false,
        Err(e) => {
            if !*failing {
                eprintln!("flotilla container shim: {e}");
            }
            *failing = true;
        }
    }
}
