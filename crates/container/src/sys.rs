//! The few system calls this crate needs that have no safe wrapper in nix or rustix: `fork`,
//! resetting signal dispositions, `close_range(CLOSE_RANGE_CLOEXEC)`, installing a seccomp
//! filter, and sending a signal given by number (real-time signals included). Every `unsafe`
//! block of the crate is here.

#![allow(unsafe_code)]

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd};

/// The two sides of a `fork`.
pub(crate) enum Forked {
    /// In the parent: the child's pid.
    Parent(i32),
    /// In the child.
    Child,
}

/// Whether the calling process has a single thread (`Threads:` of `/proc/self/status`, read from
/// its start whatever was read of `status` before).
fn single_threaded(status: &std::fs::File) -> io::Result<bool> {
    use std::os::unix::fs::FileExt;
    let mut buf = vec![0u8; 4096];
    let mut len = 0;
    loop {
        if len == buf.len() {
            buf.resize(len * 2, 0);
        }
        let n = status.read_at(&mut buf[len..], len as u64)?;
        if n == 0 {
            break;
        }
        len += n;
    }
    let text = String::from_utf8_lossy(&buf[..len]);
    Ok(text
        .lines()
        .find_map(|l| l.strip_prefix("Threads:"))
        .is_some_and(|n| n.trim() == "1"))
}

/// Refuses to go on in a process with more than one thread: a fork copies only the calling
/// thread, and a lock another thread held would stay locked in the child.
pub(crate) fn ensure_single_threaded(probe: &std::fs::File) -> io::Result<()> {
    if single_threaded(probe)? {
        return Ok(());
    }
    Err(io::Error::other(
        "refusing to fork a multi-threaded process (the container helper must run in a fresh process)",
    ))
}

/// Opens this process's `/proc/self/status`, for [`fork_single_threaded_with`]: a file opened
/// before joining a container's mount namespace still describes this process afterwards, when
/// `/proc` is the container's and no longer shows it.
pub(crate) fn thread_probe() -> io::Result<std::fs::File> {
    std::fs::File::open("/proc/self/status")
}

/// `fork()`, refused unless the process is single-threaded (the helper is: a fresh process that
/// started no thread), so the child may run any Rust code, allocation included, until `execve`.
pub(crate) fn fork_single_threaded() -> io::Result<Forked> {
    fork_single_threaded_with(&thread_probe()?)
}

/// [`fork_single_threaded`], reading the thread count through `probe` (from [`thread_probe`]).
pub(crate) fn fork_single_threaded_with(probe: &std::fs::File) -> io::Result<Forked> {
    ensure_single_threaded(probe)?;
    // SAFETY: the process has one thread (checked just above; nothing in the helper starts
    // threads), so the child is a complete copy with no lock held by a vanished thread, and may
    // run arbitrary code.
    match unsafe { nix::unistd::fork() } {
        Ok(nix::unistd::ForkResult::Parent { child }) => Ok(Forked::Parent(child.as_raw())),
        Ok(nix::unistd::ForkResult::Child) => Ok(Forked::Child),
        Err(errno) => Err(errno.into()),
    }
}

/// `struct clone_args` of `clone3(2)`, up to `cgroup` (`CLONE_ARGS_SIZE_VER2`).
#[repr(C)]
#[derive(Default)]
struct CloneArgs {
    flags: u64,
    pidfd: u64,
    child_tid: u64,
    parent_tid: u64,
    exit_signal: u64,
    stack: u64,
    stack_size: u64,
    tls: u64,
    set_tid: u64,
    set_tid_size: u64,
    cgroup: u64,
}

/// `CLONE_INTO_CGROUP` (Linux 5.7).
const CLONE_INTO_CGROUP: u64 = 0x2_0000_0000;

/// Like [`fork_single_threaded_with`], but the child starts as a member of the cgroup v2 whose
/// directory `cgroup` is open: `clone3(CLONE_INTO_CGROUP)`, which takes only the read side of the
/// kernel's threadgroup lock (writing to `cgroup.procs` takes its write side and waits for an RCU
/// grace period). `Ok(None)` if the kernel has no `clone3` or refuses the flag (`ENOSYS`, `E2BIG`,
/// `EINVAL`): the caller then forks and joins by writing to `cgroup.procs`.
pub(crate) fn fork_into_cgroup(
    probe: &std::fs::File,
    cgroup: BorrowedFd<'_>,
) -> io::Result<Option<Forked>> {
    ensure_single_threaded(probe)?;
    let fd = u64::try_from(cgroup.as_raw_fd())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "negative cgroup descriptor"))?;
    let args = CloneArgs {
        flags: CLONE_INTO_CGROUP,
        exit_signal: libc::SIGCHLD as u64,
        cgroup: fd,
        ..CloneArgs::default()
    };
    // SAFETY: without CLONE_VM (and with no stack given) clone3 duplicates the address space like
    // fork, and the child returns 0 on its own copy of this stack. The process has one thread
    // (checked above), so no lock can be held by a vanished thread and the child may run any
    // code. `args` is a valid `clone_args` of the size passed, read by the kernel during the call.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_clone3,
            &args as *const CloneArgs,
            std::mem::size_of::<CloneArgs>(),
        )
    };
    match rc {
        0 => Ok(Some(Forked::Child)),
        pid if pid > 0 => {
            Ok(Some(Forked::Parent(i32::try_from(pid).map_err(|_| {
                io::Error::other("clone3 returned an impossible pid")
            })?)))
        }
        _ => {
            let err = io::Error::last_os_error();
            match err.raw_os_error() {
                Some(libc::ENOSYS | libc::E2BIG | libc::EINVAL) => Ok(None),
                _ => Err(err),
            }
        }
    }
}

/// Resets every signal to its default disposition (Rust's runtime ignores `SIGPIPE`, and an
/// ignored signal stays ignored across `execve`), and unblocks every signal.
pub(crate) fn reset_signals() -> io::Result<()> {
    use nix::sys::signal::{SigHandler, SigSet, SigmaskHow, Signal, sigprocmask};
    for signal in Signal::iterator() {
        if matches!(signal, Signal::SIGKILL | Signal::SIGSTOP) {
            continue;
        }
        // SAFETY: SIG_DFL installs no handler, so no code of ours can run in signal context.
        unsafe { nix::sys::signal::signal(signal, SigHandler::SigDfl) }?;
    }
    sigprocmask(SigmaskHow::SIG_SETMASK, Some(&SigSet::empty()), None)?;
    Ok(())
}

/// Marks every file descriptor from 3 up close-on-exec, so that nothing the helper inherited or
/// opened leaks into the container (CVE-2024-21626).
pub(crate) fn cloexec_from_3() -> io::Result<()> {
    // SAFETY: close_range with CLOSE_RANGE_CLOEXEC only sets a flag on descriptors; it takes no
    // pointer and closes nothing.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_close_range,
            3 as libc::c_uint,
            libc::c_uint::MAX,
            libc::CLOSE_RANGE_CLOEXEC,
        )
    };
    if rc == 0 {
        return Ok(());
    }
    let err = io::Error::last_os_error();
    if !matches!(err.raw_os_error(), Some(libc::ENOSYS) | Some(libc::EINVAL)) {
        return Err(err);
    }
    // Kernels before 5.11: one fcntl per open descriptor.
    let mut fds = Vec::new();
    for entry in std::fs::read_dir("/proc/self/fd")? {
        if let Some(fd) = entry?
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<i32>().ok())
            && fd >= 3
        {
            fds.push(fd);
        }
    }
    for fd in fds {
        // SAFETY: F_SETFD on a descriptor number only sets a flag; a number that is no longer
        // open (the directory's own descriptor, closed by now) fails with EBADF, ignored.
        unsafe { libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC) };
    }
    Ok(())
}

/// `seccomp(SECCOMP_SET_MODE_FILTER, 0, {filter})`.
pub(crate) fn seccomp_set_filter(filter: &[libc::sock_filter]) -> io::Result<()> {
    let len = u16::try_from(filter.len())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "seccomp filter too long"))?;
    let prog = libc::sock_fprog {
        len,
        // The kernel only reads the program; the field is `*mut` for historical reasons.
        filter: filter.as_ptr().cast_mut(),
    };
    // SAFETY: `prog` points to `len` valid instructions that outlive the call; the kernel copies
    // them and does not keep the pointer.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_seccomp,
            libc::SECCOMP_SET_MODE_FILTER,
            0 as libc::c_uint,
            &prog as *const libc::sock_fprog,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// `pidfd_send_signal(pidfd, signal, NULL, 0)`, for any signal number (rustix takes only named
/// signals safely, and stop signals may be real-time ones such as `SIGRTMIN+3`).
pub(crate) fn pidfd_send_signal(pidfd: BorrowedFd<'_>, signal: i32) -> io::Result<()> {
    // SAFETY: plain integer arguments and a null siginfo pointer, which the kernel accepts.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_pidfd_send_signal,
            pidfd.as_raw_fd(),
            signal,
            std::ptr::null::<libc::siginfo_t>(),
            0 as libc::c_uint,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// `kill(pid, signal)` for any signal number (fallback for kernels without pidfds, < 5.3).
pub(crate) fn kill(pid: i32, signal: i32) -> io::Result<()> {
    if pid <= 0 {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "refusing to signal a process group",
        ));
    }
    // SAFETY: plain integer arguments; pid > 0 names one process.
    let rc = unsafe { libc::kill(pid, signal) };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}
