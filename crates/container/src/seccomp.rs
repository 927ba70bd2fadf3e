//! The container's seccomp filter: Docker's default profile (`seccomp/default.json` of
//! moby's profiles), an **allowlist**, compiled to classic BPF for the container's capabilities.
//!
//! What the filter does with a system call, in order:
//!
//! 1. an architecture other than the native one in `seccomp_data.arch` (a 32-bit syscall entry
//!    on a 64-bit kernel, `int 0x80` on x86_64 or AArch32 on aarch64, which numbers everything
//!    differently) kills the process;
//! 2. on x86_64, a number from `0x40000000` up fails with `ENOSYS`: x32 syscalls, which carry
//!    `__X32_SYSCALL_BIT` and a numbering of their own;
//! 3. a syscall of the profile's unconditional rule is allowed: about 305 on x86_64 and 260 on
//!    aarch64, the names of that rule which exist on the architecture (`chown32`, `_llseek`,
//!    `socketcall`, the `*_time64` calls and their like are 32-bit only), plus `ptrace`,
//!    `process_vm_readv` and `process_vm_writev` (allowed by the profile from Linux 4.8, where
//!    `ptrace` can no longer get around seccomp; taken as given), and on x86_64 `arch_prctl` and
//!    `modify_ldt`;
//! 4. three syscalls are allowed depending on their first argument (its low 32 bits: the kernel
//!    reads all three as 32-bit values):
//!    - `personality` only to query (`0xffffffff`) or to set `PER_LINUX` (0), `PER_LINUX32` (8),
//!      `UNAME26` (`0x20000`) or `PER_LINUX32 | UNAME26`; anything else (`ADDR_NO_RANDOMIZE`,
//!      `READ_IMPLIES_EXEC`) fails with `EPERM`;
//!    - `socket` for the address families the profile allows: every family below `AF_DECnet`
//!      (12) and 13–18, 21, 22, 24, 26–33, 35, 36, 39, 41–45; `AF_ALG` (38), `AF_VSOCK` (40),
//!      DECnet, Econet, ATM SVC, IrDA, WAN pipe, ISDN, CAIF and anything from 46 up fail with
//!      `EPERM`;
//!    - `clone` only without any `CLONE_NEW*` flag (mask `0x7E020000`); `clone3`, whose flags sit
//!      in memory the filter cannot read, fails with `ENOSYS`, so that libcs fall back to `clone`;
//! 5. the profile's capability-gated rules, each allowed only when the container keeps the
//!    capability (the `capabilities` mask given to [`filter`]):
//!
//!    | capability | syscalls |
//!    | --- | --- |
//!    | `CAP_SYS_ADMIN` | `mount`, `umount2`, `open_tree`, `move_mount`, `fsopen`, `fsconfig`, `fsmount`, `fspick`, `mount_setattr`, `unshare`, `setns`, `clone` with any flags, `clone3`, `bpf`, `perf_event_open`, `fanotify_init`, `lookup_dcookie`, `quotactl`, `quotactl_fd`, `sethostname`, `setdomainname`, `syslog`, `lsm_get_self_attr`, `lsm_set_self_attr`, `lsm_list_modules` |
//!    | `CAP_SYS_PTRACE` | `kcmp`, `pidfd_getfd`, `process_madvise` |
//!    | `CAP_SYS_BOOT` | `reboot` |
//!    | `CAP_SYS_MODULE` | `init_module`, `finit_module`, `delete_module` |
//!    | `CAP_SYS_CHROOT` | `chroot` |
//!    | `CAP_SYS_PACCT` | `acct` |
//!    | `CAP_SYS_RAWIO` | `iopl`, `ioperm` (x86_64) |
//!    | `CAP_SYS_TIME` | `settimeofday`, `clock_settime` |
//!    | `CAP_SYS_TTY_CONFIG` | `vhangup` |
//!    | `CAP_SYS_NICE` | `mbind`, `get_mempolicy`, `set_mempolicy`, `set_mempolicy_home_node` |
//!    | `CAP_SYSLOG` | `syslog` |
//!    | `CAP_BPF` | `bpf` |
//!    | `CAP_PERFMON` | `perf_event_open` |
//!    | `CAP_DAC_READ_SEARCH` | `open_by_handle_at` |
//!
//! 6. everything else fails with `EPERM`: among others `keyctl`, `add_key`, `request_key`,
//!    `kexec_load`, `kexec_file_load`, `io_uring_*`, `userfaultfd`, `swapon`, `swapoff`,
//!    `pivot_root`, `move_pages`, `migrate_pages`, `uselib`, `ustat`, `sysfs`, `_sysctl`, and
//!    every syscall newer than the profile.
//!
//! Where this differs from Docker: Docker also allows the 32-bit x86 and x32 ABIs on x86_64 and
//! AArch32 on aarch64, each with its own numbering; this filter kills a process making 32-bit x86
//! or AArch32 syscalls and fails x32 ones with `ENOSYS`, so 32-bit and x32 binaries do not run
//! in a container that has it. Docker's argument rules
//! compare all 64 bits of an argument; these compare the low 32 bits, all the kernel reads of
//! those three arguments. The profile's rules for other architectures (arm, s390, ppc64le,
//! riscv64) have no counterpart on x86_64 and aarch64.
//!
//! The filter runs before the container drops its capabilities: the helper installs it, still
//! holding every capability, then calls only `prctl`, `setgroups`, `setresgid`, `setresuid`,
//! `capset`, `rt_sigaction`, `rt_sigprocmask` and file and memory calls until `execve`, all in
//! the unconditional rule.
//!
//! How it is compiled: the rules become a partition of the syscall numbers into intervals
//! (neighbours with the same action merged, the gaps failing with `EPERM`), searched by a
//! balanced binary tree of `JGE` jumps whose leaves are the actions. A classic BPF conditional
//! jump reaches at most 255 instructions ahead, so a branch over a longer subtree goes through
//! an unconditional `JA` (32-bit offset). An argument rule is a leaf that loads the argument and
//! runs the same search over argument values. The profile makes about 70 intervals, a program of
//! about 200 instructions (the kernel takes up to 4096) that decides a syscall in about ten
//! comparisons.
//!
//! The filter is built for x86_64 and aarch64; elsewhere [`filter`] fails and the container must
//! be started with `seccomp: false`.

// The generator is architecture-independent (and unit-tested everywhere); only the tables are
// per architecture, and without them nothing calls it.
#![cfg_attr(
    not(all(
        any(target_arch = "x86_64", target_arch = "aarch64"),
        target_endian = "little"
    )),
    allow(dead_code)
)]

use crate::error::{ContainerError, Result};
use libc::sock_filter;
use std::collections::BTreeMap;

/// `offsetof(struct seccomp_data, nr)`.
const NR_OFFSET: u32 = 0;
/// `offsetof(struct seccomp_data, arch)`.
const ARCH_OFFSET: u32 = 4;
/// `offsetof(struct seccomp_data, args[0])`, low 32 bits on a little-endian machine.
const ARG0_LOW_OFFSET: u32 = 16;

/// `AUDIT_ARCH_X86_64`: `EM_X86_64 | __AUDIT_ARCH_64BIT | __AUDIT_ARCH_LE`.
#[cfg(target_arch = "x86_64")]
const AUDIT_ARCH: u32 = 0xC000_003E;
/// `AUDIT_ARCH_AARCH64`: `EM_AARCH64 | __AUDIT_ARCH_64BIT | __AUDIT_ARCH_LE`.
#[cfg(target_arch = "aarch64")]
const AUDIT_ARCH: u32 = 0xC000_00B7;

/// `__X32_SYSCALL_BIT`: x32 syscalls are numbered from here on x86_64.
const X32_SYSCALL_BIT: u32 = 0x4000_0000;

/// The longest program the kernel accepts (`BPF_MAXINSNS`).
const MAX_INSNS: usize = libc::BPF_MAXINSNS as usize;

/// `EPERM`, the profile's default errno.
const EPERM: u16 = libc::EPERM as u16;
/// `ENOSYS`, for `clone3` and x32 syscalls.
const ENOSYS: u16 = libc::ENOSYS as u16;

/// Every `CLONE_NEW*` flag `clone` accepts, the profile's mask `0x7E020000` (`CLONE_NEWTIME`
/// shares its bit with the exit signal in `clone`'s flags and is only valid for `unshare` and
/// `clone3`).
const CLONE_NEW_MASK: u32 = 0x7E02_0000;

/// The values `personality` may be called with: query (`0xffffffff`), `PER_LINUX`,
/// `PER_LINUX32`, `UNAME26`, `PER_LINUX32 | UNAME26`; as sorted inclusive ranges.
const PERSONALITIES: &[(u32, u32)] = &[
    (0x0, 0x0),
    (0x8, 0x8),
    (0x2_0000, 0x2_0000),
    (0x2_0008, 0x2_0008),
    (0xFFFF_FFFF, 0xFFFF_FFFF),
];

/// The address families `socket` may create, as sorted inclusive ranges (see the module
/// documentation).
const SOCKET_FAMILIES: &[(u32, u32)] = &[
    (0, 11),
    (13, 18),
    (21, 22),
    (24, 24),
    (26, 33),
    (35, 36),
    (39, 39),
    (41, 45),
];

// Capability numbers (`linux/capability.h`, bit n of a capability mask) of the profile's
// capability-gated rules.
const CAP_DAC_READ_SEARCH: u32 = 2;
const CAP_SYS_MODULE: u32 = 16;
#[cfg(target_arch = "x86_64")]
const CAP_SYS_RAWIO: u32 = 17;
const CAP_SYS_CHROOT: u32 = 18;
const CAP_SYS_PTRACE: u32 = 19;
const CAP_SYS_PACCT: u32 = 20;
const CAP_SYS_ADMIN: u32 = 21;
const CAP_SYS_BOOT: u32 = 22;
const CAP_SYS_NICE: u32 = 23;
const CAP_SYS_TIME: u32 = 25;
const CAP_SYS_TTY_CONFIG: u32 = 26;
const CAP_SYSLOG: u32 = 34;
const CAP_PERFMON: u32 = 38;
const CAP_BPF: u32 = 39;

/// Syscalls of the profile for which `libc` 0.2 has no `SYS_*` constant on every target (glibc
/// and musl, x86_64 and aarch64), numbered as in the kernel's tables. Every syscall added since
/// Linux 5.1 (number 424) has the same number on both architectures.
#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
mod nr {
    use libc::c_long;

    /// `io_pgetevents` (Linux 4.18).
    #[cfg(target_arch = "x86_64")]
    pub(super) const IO_PGETEVENTS: c_long = 333;
    /// `io_pgetevents` (Linux 4.18).
    #[cfg(target_arch = "aarch64")]
    pub(super) const IO_PGETEVENTS: c_long = 292;
    /// `uretprobe` (Linux 6.11, x86_64 only): the return trampoline of user-space probes calls
    /// it, so a probed program dies if it is denied.
    #[cfg(target_arch = "x86_64")]
    pub(super) const URETPROBE: c_long = 335;
    /// `cachestat` (Linux 6.5).
    pub(super) const CACHESTAT: c_long = 451;
    /// `fchmodat2` (Linux 6.6).
    pub(super) const FCHMODAT2: c_long = 452;
    /// `map_shadow_stack` (Linux 6.6).
    pub(super) const MAP_SHADOW_STACK: c_long = 453;
    /// `futex_wake` (Linux 6.7).
    pub(super) const FUTEX_WAKE: c_long = 454;
    /// `futex_wait` (Linux 6.7).
    pub(super) const FUTEX_WAIT: c_long = 455;
    /// `futex_requeue` (Linux 6.7).
    pub(super) const FUTEX_REQUEUE: c_long = 456;
    /// `statmount` (Linux 6.8).
    pub(super) const STATMOUNT: c_long = 457;
    /// `listmount` (Linux 6.8).
    pub(super) const LISTMOUNT: c_long = 458;
    /// `lsm_get_self_attr` (Linux 6.8).
    pub(super) const LSM_GET_SELF_ATTR: c_long = 459;
    /// `lsm_set_self_attr` (Linux 6.8).
    pub(super) const LSM_SET_SELF_ATTR: c_long = 460;
    /// `lsm_list_modules` (Linux 6.8).
    pub(super) const LSM_LIST_MODULES: c_long = 461;
    /// `setxattrat` (Linux 6.13).
    pub(super) const SETXATTRAT: c_long = 463;
    /// `getxattrat` (Linux 6.13).
    pub(super) const GETXATTRAT: c_long = 464;
    /// `listxattrat` (Linux 6.13).
    pub(super) const LISTXATTRAT: c_long = 465;
    /// `removexattrat` (Linux 6.13).
    pub(super) const REMOVEXATTRAT: c_long = 466;
}

/// The profile's unconditional rule, the syscalls that exist on both architectures (plus
/// `ptrace`, `process_vm_readv` and `process_vm_writev`, see the module documentation).
#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
const ALWAYS: &[libc::c_long] = &[
    libc::SYS_accept,
    libc::SYS_accept4,
    libc::SYS_adjtimex,
    libc::SYS_bind,
    libc::SYS_brk,
    libc::SYS_capget,
    libc::SYS_capset,
    libc::SYS_chdir,
    libc::SYS_clock_adjtime,
    libc::SYS_clock_getres,
    libc::SYS_clock_gettime,
    libc::SYS_clock_nanosleep,
    libc::SYS_close,
    libc::SYS_close_range,
    libc::SYS_connect,
    libc::SYS_copy_file_range,
    libc::SYS_dup,
    libc::SYS_dup3,
    libc::SYS_epoll_create1,
    libc::SYS_epoll_ctl,
    libc::SYS_epoll_pwait,
    libc::SYS_epoll_pwait2,
    libc::SYS_eventfd2,
    libc::SYS_execve,
    libc::SYS_execveat,
    libc::SYS_exit,
    libc::SYS_exit_group,
    libc::SYS_faccessat,
    libc::SYS_faccessat2,
    libc::SYS_fadvise64,
    libc::SYS_fallocate,
    libc::SYS_fanotify_mark,
    libc::SYS_fchdir,
    libc::SYS_fchmod,
    libc::SYS_fchmodat,
    libc::SYS_fchown,
    libc::SYS_fchownat,
    libc::SYS_fcntl,
    libc::SYS_fdatasync,
    libc::SYS_fgetxattr,
    libc::SYS_flistxattr,
    libc::SYS_flock,
    libc::SYS_fremovexattr,
    libc::SYS_fsetxattr,
    libc::SYS_fstat,
    libc::SYS_fstatfs,
    libc::SYS_fsync,
    libc::SYS_ftruncate,
    libc::SYS_futex,
    libc::SYS_futex_waitv,
    libc::SYS_get_robust_list,
    libc::SYS_getcpu,
    libc::SYS_getcwd,
    libc::SYS_getdents64,
    libc::SYS_getegid,
    libc::SYS_geteuid,
    libc::SYS_getgid,
    libc::SYS_getgroups,
    libc::SYS_getitimer,
    libc::SYS_getpeername,
    libc::SYS_getpgid,
    libc::SYS_getpid,
    libc::SYS_getppid,
    libc::SYS_getpriority,
    libc::SYS_getrandom,
    libc::SYS_getresgid,
    libc::SYS_getresuid,
    libc::SYS_getrlimit,
    libc::SYS_getrusage,
    libc::SYS_getsid,
    libc::SYS_getsockname,
    libc::SYS_getsockopt,
    libc::SYS_gettid,
    libc::SYS_gettimeofday,
    libc::SYS_getuid,
    libc::SYS_getxattr,
    libc::SYS_inotify_add_watch,
    libc::SYS_inotify_init1,
    libc::SYS_inotify_rm_watch,
    libc::SYS_io_cancel,
    libc::SYS_io_destroy,
    libc::SYS_io_getevents,
    libc::SYS_io_setup,
    libc::SYS_io_submit,
    libc::SYS_ioctl,
    libc::SYS_ioprio_get,
    libc::SYS_ioprio_set,
    libc::SYS_kill,
    libc::SYS_landlock_add_rule,
    libc::SYS_landlock_create_ruleset,
    libc::SYS_landlock_restrict_self,
    libc::SYS_lgetxattr,
    libc::SYS_linkat,
    libc::SYS_listen,
    libc::SYS_listxattr,
    libc::SYS_llistxattr,
    libc::SYS_lremovexattr,
    libc::SYS_lseek,
    libc::SYS_lsetxattr,
    libc::SYS_madvise,
    libc::SYS_membarrier,
    libc::SYS_memfd_create,
    libc::SYS_memfd_secret,
    libc::SYS_mincore,
    libc::SYS_mkdirat,
    libc::SYS_mknodat,
    libc::SYS_mlock,
    libc::SYS_mlock2,
    libc::SYS_mlockall,
    libc::SYS_mmap,
    libc::SYS_mprotect,
    libc::SYS_mq_getsetattr,
    libc::SYS_mq_notify,
    libc::SYS_mq_open,
    libc::SYS_mq_timedreceive,
    libc::SYS_mq_timedsend,
    libc::SYS_mq_unlink,
    libc::SYS_mremap,
    libc::SYS_mseal,
    libc::SYS_msgctl,
    libc::SYS_msgget,
    libc::SYS_msgrcv,
    libc::SYS_msgsnd,
    libc::SYS_msync,
    libc::SYS_munlock,
    libc::SYS_munlockall,
    libc::SYS_munmap,
    libc::SYS_name_to_handle_at,
    libc::SYS_nanosleep,
    libc::SYS_newfstatat,
    libc::SYS_openat,
    libc::SYS_openat2,
    libc::SYS_pidfd_open,
    libc::SYS_pidfd_send_signal,
    libc::SYS_pipe2,
    libc::SYS_pkey_alloc,
    libc::SYS_pkey_free,
    libc::SYS_pkey_mprotect,
    libc::SYS_ppoll,
    libc::SYS_prctl,
    libc::SYS_pread64,
    libc::SYS_preadv,
    libc::SYS_preadv2,
    libc::SYS_prlimit64,
    libc::SYS_process_mrelease,
    libc::SYS_pselect6,
    libc::SYS_pwrite64,
    libc::SYS_pwritev,
    libc::SYS_pwritev2,
    libc::SYS_read,
    libc::SYS_readahead,
    libc::SYS_readlinkat,
    libc::SYS_readv,
    libc::SYS_recvfrom,
    libc::SYS_recvmmsg,
    libc::SYS_recvmsg,
    libc::SYS_remap_file_pages,
    libc::SYS_removexattr,
    libc::SYS_renameat,
    libc::SYS_renameat2,
    libc::SYS_restart_syscall,
    libc::SYS_rseq,
    libc::SYS_rt_sigaction,
    libc::SYS_rt_sigpending,
    libc::SYS_rt_sigprocmask,
    libc::SYS_rt_sigqueueinfo,
    libc::SYS_rt_sigreturn,
    libc::SYS_rt_sigsuspend,
    libc::SYS_rt_sigtimedwait,
    libc::SYS_rt_tgsigqueueinfo,
    libc::SYS_sched_get_priority_max,
    libc::SYS_sched_get_priority_min,
    libc::SYS_sched_getaffinity,
    libc::SYS_sched_getattr,
    libc::SYS_sched_getparam,
    libc::SYS_sched_getscheduler,
    libc::SYS_sched_rr_get_interval,
    libc::SYS_sched_setaffinity,
    libc::SYS_sched_setattr,
    libc::SYS_sched_setparam,
    libc::SYS_sched_setscheduler,
    libc::SYS_sched_yield,
    libc::SYS_seccomp,
    libc::SYS_semctl,
    libc::SYS_semget,
    libc::SYS_semop,
    libc::SYS_semtimedop,
    libc::SYS_sendfile,
    libc::SYS_sendmmsg,
    libc::SYS_sendmsg,
    libc::SYS_sendto,
    libc::SYS_set_robust_list,
    libc::SYS_set_tid_address,
    libc::SYS_setfsgid,
    libc::SYS_setfsuid,
    libc::SYS_setgid,
    libc::SYS_setgroups,
    libc::SYS_setitimer,
    libc::SYS_setpgid,
    libc::SYS_setpriority,
    libc::SYS_setregid,
    libc::SYS_setresgid,
    libc::SYS_setresuid,
    libc::SYS_setreuid,
    libc::SYS_setrlimit,
    libc::SYS_setsid,
    libc::SYS_setsockopt,
    libc::SYS_setuid,
    libc::SYS_setxattr,
    libc::SYS_shmat,
    libc::SYS_shmctl,
    libc::SYS_shmdt,
    libc::SYS_shmget,
    libc::SYS_shutdown,
    libc::SYS_sigaltstack,
    libc::SYS_signalfd4,
    libc::SYS_socketpair,
    libc::SYS_splice,
    libc::SYS_statfs,
    libc::SYS_statx,
    libc::SYS_symlinkat,
    libc::SYS_sync,
    libc::SYS_sync_file_range,
    libc::SYS_syncfs,
    libc::SYS_sysinfo,
    libc::SYS_tee,
    libc::SYS_tgkill,
    libc::SYS_timer_create,
    libc::SYS_timer_delete,
    libc::SYS_timer_getoverrun,
    libc::SYS_timer_gettime,
    libc::SYS_timer_settime,
    libc::SYS_timerfd_create,
    libc::SYS_timerfd_gettime,
    libc::SYS_timerfd_settime,
    libc::SYS_times,
    libc::SYS_tkill,
    libc::SYS_truncate,
    libc::SYS_umask,
    libc::SYS_uname,
    libc::SYS_unlinkat,
    libc::SYS_utimensat,
    libc::SYS_vmsplice,
    libc::SYS_wait4,
    libc::SYS_waitid,
    libc::SYS_write,
    libc::SYS_writev,
    libc::SYS_ptrace,
    libc::SYS_process_vm_readv,
    libc::SYS_process_vm_writev,
    nr::IO_PGETEVENTS,
    nr::CACHESTAT,
    nr::FCHMODAT2,
    nr::MAP_SHADOW_STACK,
    nr::FUTEX_WAKE,
    nr::FUTEX_WAIT,
    nr::FUTEX_REQUEUE,
    nr::STATMOUNT,
    nr::LISTMOUNT,
    nr::SETXATTRAT,
    nr::GETXATTRAT,
    nr::LISTXATTRAT,
    nr::REMOVEXATTRAT,
];

/// The profile's unconditional rule, the syscalls that exist on x86_64 only (the legacy ones
/// aarch64 replaced with `*at` and `p*` variants), plus `arch_prctl` and `modify_ldt`.
#[cfg(target_arch = "x86_64")]
const ALWAYS_ARCH: &[libc::c_long] = &[
    libc::SYS_access,
    libc::SYS_alarm,
    libc::SYS_chmod,
    libc::SYS_chown,
    libc::SYS_creat,
    libc::SYS_dup2,
    libc::SYS_epoll_create,
    libc::SYS_epoll_ctl_old,
    libc::SYS_epoll_wait,
    libc::SYS_epoll_wait_old,
    libc::SYS_eventfd,
    libc::SYS_fork,
    libc::SYS_futimesat,
    libc::SYS_get_thread_area,
    libc::SYS_getdents,
    libc::SYS_getpgrp,
    libc::SYS_inotify_init,
    libc::SYS_lchown,
    libc::SYS_link,
    libc::SYS_lstat,
    libc::SYS_mkdir,
    libc::SYS_mknod,
    libc::SYS_open,
    libc::SYS_pause,
    libc::SYS_pipe,
    libc::SYS_poll,
    libc::SYS_readlink,
    libc::SYS_rename,
    libc::SYS_rmdir,
    libc::SYS_select,
    libc::SYS_set_thread_area,
    libc::SYS_signalfd,
    libc::SYS_stat,
    libc::SYS_symlink,
    libc::SYS_time,
    libc::SYS_unlink,
    libc::SYS_utime,
    libc::SYS_utimes,
    libc::SYS_vfork,
    libc::SYS_arch_prctl,
    libc::SYS_modify_ldt,
    nr::URETPROBE,
];

/// The profile's unconditional rule, the syscalls that exist on aarch64 only: none (its
/// ARM-specific ones, `cacheflush`, `set_tls` and the like, are AArch32 calls).
#[cfg(target_arch = "aarch64")]
const ALWAYS_ARCH: &[libc::c_long] = &[];

/// The profile's capability-gated rules on both architectures: each group of syscalls is
/// allowed when the container keeps the capability.
#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
const CAPABILITY_GROUPS: &[(u32, &[libc::c_long])] = &[
    (CAP_DAC_READ_SEARCH, &[libc::SYS_open_by_handle_at]),
    (
        CAP_SYS_ADMIN,
        &[
            libc::SYS_bpf,
            libc::SYS_clone,
            libc::SYS_clone3,
            libc::SYS_fanotify_init,
            libc::SYS_fsconfig,
            libc::SYS_fsmount,
            libc::SYS_fsopen,
            libc::SYS_fspick,
            libc::SYS_lookup_dcookie,
            nr::LSM_GET_SELF_ATTR,
            nr::LSM_LIST_MODULES,
            nr::LSM_SET_SELF_ATTR,
            libc::SYS_mount,
            libc::SYS_mount_setattr,
            libc::SYS_move_mount,
            libc::SYS_open_tree,
            libc::SYS_perf_event_open,
            libc::SYS_quotactl,
            libc::SYS_quotactl_fd,
            libc::SYS_setdomainname,
            libc::SYS_sethostname,
            libc::SYS_setns,
            libc::SYS_syslog,
            libc::SYS_umount2,
            libc::SYS_unshare,
        ],
    ),
    (CAP_SYS_BOOT, &[libc::SYS_reboot]),
    (CAP_SYS_CHROOT, &[libc::SYS_chroot]),
    (
        CAP_SYS_MODULE,
        &[
            libc::SYS_delete_module,
            libc::SYS_init_module,
            libc::SYS_finit_module,
        ],
    ),
    (CAP_SYS_PACCT, &[libc::SYS_acct]),
    (
        CAP_SYS_PTRACE,
        &[
            libc::SYS_kcmp,
            libc::SYS_pidfd_getfd,
            libc::SYS_process_madvise,
            libc::SYS_process_vm_readv,
            libc::SYS_process_vm_writev,
            libc::SYS_ptrace,
        ],
    ),
    (
        CAP_SYS_TIME,
        &[libc::SYS_settimeofday, libc::SYS_clock_settime],
    ),
    (CAP_SYS_TTY_CONFIG, &[libc::SYS_vhangup]),
    (
        CAP_SYS_NICE,
        &[
            libc::SYS_get_mempolicy,
            libc::SYS_mbind,
            libc::SYS_set_mempolicy,
            libc::SYS_set_mempolicy_home_node,
        ],
    ),
    (CAP_SYSLOG, &[libc::SYS_syslog]),
    (CAP_BPF, &[libc::SYS_bpf]),
    (CAP_PERFMON, &[libc::SYS_perf_event_open]),
];

/// The profile's capability-gated rules on x86_64 only.
#[cfg(target_arch = "x86_64")]
const ARCH_CAPABILITY_GROUPS: &[(u32, &[libc::c_long])] =
    &[(CAP_SYS_RAWIO, &[libc::SYS_iopl, libc::SYS_ioperm])];

/// The profile's capability-gated rules on aarch64 only: none.
#[cfg(target_arch = "aarch64")]
const ARCH_CAPABILITY_GROUPS: &[(u32, &[libc::c_long])] = &[];

/// What the filter does with a syscall (or, inside an argument rule, with one argument value).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Action {
    /// `SECCOMP_RET_ALLOW`.
    Allow,
    /// `SECCOMP_RET_ERRNO`: fail with this errno.
    Errno(u16),
    /// Allow if the low 32 bits of the first argument have none of these bits set, else `EPERM`.
    AllowIfArg0Clear(u32),
    /// Allow if the low 32 bits of the first argument are in one of these inclusive ranges
    /// (sorted and disjoint), else `EPERM`.
    AllowIfArg0In(&'static [(u32, u32)]),
}

/// A BPF statement.
fn stmt(code: u32, k: u32) -> sock_filter {
    sock_filter {
        code: code as u16,
        jt: 0,
        jf: 0,
        k,
    }
}

/// A BPF conditional jump (offsets count instructions after this one).
fn jump(code: u32, k: u32, jt: u8, jf: u8) -> sock_filter {
    sock_filter {
        code: code as u16,
        jt,
        jf,
        k,
    }
}

/// `return k`.
fn ret(k: u32) -> sock_filter {
    stmt(libc::BPF_RET | libc::BPF_K, k)
}

/// `return SECCOMP_RET_ERRNO | errno`.
fn ret_errno(errno: u16) -> sock_filter {
    ret(libc::SECCOMP_RET_ERRNO | u32::from(errno))
}

/// An error for a table or program the generator cannot use (a bug, not a runtime condition).
fn malformed(what: &str) -> ContainerError {
    ContainerError::Unsupported(format!("seccomp filter: {what}"))
}

/// Appends `(start, action)` unless the last interval already has `action`.
fn push_interval(out: &mut Vec<(u32, Action)>, start: u32, action: Action) {
    if out.last().is_none_or(|&(_, last)| last != action) {
        out.push((start, action));
    }
}

/// Partitions every `u32` value: each inclusive range `(lo, hi, action)` of `ranges` (sorted and
/// disjoint) gets its action, values in no range get `default`. The result lists the start of
/// each interval, in order, the first at 0; an interval ends where the next starts (the last at
/// `u32::MAX`), and neighbours never have the same action.
fn intervals(
    ranges: impl IntoIterator<Item = (u32, u32, Action)>,
    default: Action,
) -> Result<Vec<(u32, Action)>> {
    let mut out = Vec::new();
    // The lowest value not covered yet; `None` once `u32::MAX` is.
    let mut next = Some(0u32);
    for (lo, hi, action) in ranges {
        let Some(from) = next.filter(|&from| (from..=hi).contains(&lo)) else {
            return Err(malformed("ranges not sorted and disjoint"));
        };
        if from < lo {
            push_interval(&mut out, from, default);
        }
        push_interval(&mut out, lo, action);
        next = hi.checked_add(1);
    }
    if let Some(from) = next {
        push_interval(&mut out, from, default);
    }
    Ok(out)
}

/// The code that decides which interval of `table` (as returned by [`intervals`]) holds the
/// accumulator and takes that interval's action: a balanced binary search of `JGE` jumps. The
/// code is self-contained (every path ends in a return), so subtrees are simply concatenated.
fn search(table: &[(u32, Action)]) -> Result<Vec<sock_filter>> {
    use libc::{BPF_JA, BPF_JGE, BPF_JMP, BPF_K};
    match table {
        [] => Err(malformed("empty interval list")),
        [(_, action)] => action_code(*action),
        _ => {
            let mid = table.len() / 2;
            let (split, _) = table[mid];
            let below = search(&table[..mid])?;
            let above = search(&table[mid..])?;
            let mut code = Vec::with_capacity(below.len() + above.len() + 2);
            // Layout: the test, the code for values below `split`, the code for the others.
            if let Ok(skip) = u8::try_from(below.len()) {
                code.push(jump(BPF_JMP | BPF_JGE | BPF_K, split, skip, 0));
            } else {
                // Too far for a conditional jump: go through `JA`, which takes a 32-bit offset.
                let skip = u32::try_from(below.len()).map_err(|_| malformed("program too long"))?;
                code.push(jump(BPF_JMP | BPF_JGE | BPF_K, split, 0, 1));
                code.push(stmt(BPF_JMP | BPF_JA, skip));
            }
            code.extend(below);
            code.extend(above);
            Ok(code)
        }
    }
}

/// The code of one action, entered with the syscall number in the accumulator.
fn action_code(action: Action) -> Result<Vec<sock_filter>> {
    use libc::{BPF_ABS, BPF_JMP, BPF_JSET, BPF_K, BPF_LD, BPF_W, SECCOMP_RET_ALLOW};
    let load_arg0 = stmt(BPF_LD | BPF_W | BPF_ABS, ARG0_LOW_OFFSET);
    Ok(match action {
        Action::Allow => vec![ret(SECCOMP_RET_ALLOW)],
        Action::Errno(errno) => vec![ret_errno(errno)],
        Action::AllowIfArg0Clear(mask) => vec![
            load_arg0,
            jump(BPF_JMP | BPF_JSET | BPF_K, mask, 0, 1),
            ret_errno(EPERM),
            ret(SECCOMP_RET_ALLOW),
        ],
        Action::AllowIfArg0In(ranges) => {
            let values = intervals(
                ranges.iter().map(|&(lo, hi)| (lo, hi, Action::Allow)),
                Action::Errno(EPERM),
            )?;
            let mut code = vec![load_arg0];
            code.extend(search(&values)?);
            code
        }
    })
}

/// The whole program: kill on an architecture other than `arch`, fail x32 syscalls with
/// `ENOSYS` if `reject_x32`, then take the action `syscalls` gives the syscall number, `EPERM`
/// for numbers it does not list.
fn program(
    arch: u32,
    reject_x32: bool,
    syscalls: &BTreeMap<u32, Action>,
) -> Result<Vec<sock_filter>> {
    use libc::{BPF_ABS, BPF_JEQ, BPF_JGE, BPF_JMP, BPF_K, BPF_LD, BPF_W};
    let mut prog = vec![
        stmt(BPF_LD | BPF_W | BPF_ABS, ARCH_OFFSET),
        jump(BPF_JMP | BPF_JEQ | BPF_K, arch, 1, 0),
        ret(libc::SECCOMP_RET_KILL_PROCESS),
        stmt(BPF_LD | BPF_W | BPF_ABS, NR_OFFSET),
    ];
    if reject_x32 {
        prog.push(jump(BPF_JMP | BPF_JGE | BPF_K, X32_SYSCALL_BIT, 0, 1));
        prog.push(ret_errno(ENOSYS));
    }
    let table = intervals(
        syscalls.iter().map(|(&nr, &action)| (nr, nr, action)),
        Action::Errno(EPERM),
    )?;
    prog.extend(search(&table)?);
    if prog.len() > MAX_INSNS {
        return Err(malformed(&format!(
            "{} instructions, the kernel takes at most {MAX_INSNS}",
            prog.len()
        )));
    }
    Ok(prog)
}

/// Whether capability number `cap` is in `mask`.
fn has_capability(mask: u64, cap: u32) -> bool {
    1u64.checked_shl(cap).is_some_and(|bit| mask & bit != 0)
}

/// The profile for this architecture and the capability set `capabilities`: the action of each
/// syscall number it does not fail with `EPERM`.
#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
fn rules(capabilities: u64) -> Result<BTreeMap<u32, Action>> {
    let number = |nr: libc::c_long| {
        u32::try_from(nr).map_err(|_| malformed(&format!("syscall number {nr}")))
    };
    let mut rules = BTreeMap::new();
    for &nr in ALWAYS.iter().chain(ALWAYS_ARCH) {
        rules.insert(number(nr)?, Action::Allow);
    }
    rules.insert(
        number(libc::SYS_personality)?,
        Action::AllowIfArg0In(PERSONALITIES),
    );
    rules.insert(
        number(libc::SYS_socket)?,
        Action::AllowIfArg0In(SOCKET_FAMILIES),
    );
    rules.insert(
        number(libc::SYS_clone)?,
        Action::AllowIfArg0Clear(CLONE_NEW_MASK),
    );
    rules.insert(number(libc::SYS_clone3)?, Action::Errno(ENOSYS));
    // Last: a granted capability only ever widens a rule (`clone`, `clone3`).
    for &(cap, syscalls) in CAPABILITY_GROUPS.iter().chain(ARCH_CAPABILITY_GROUPS) {
        if has_capability(capabilities, cap) {
            for &nr in syscalls {
                rules.insert(number(nr)?, Action::Allow);
            }
        }
    }
    Ok(rules)
}

/// The filter program for this architecture and a container that keeps the capabilities of
/// `capabilities` (bit n set for capability n, as [`crate::capability_mask`] returns): Docker's
/// default profile, see the module documentation.
#[cfg(all(
    any(target_arch = "x86_64", target_arch = "aarch64"),
    target_endian = "little"
))]
pub fn filter(capabilities: u64) -> Result<Vec<sock_filter>> {
    program(
        AUDIT_ARCH,
        cfg!(target_arch = "x86_64"),
        &rules(capabilities)?,
    )
}

/// The filter program for this architecture: none is built for it.
#[cfg(not(all(
    any(target_arch = "x86_64", target_arch = "aarch64"),
    target_endian = "little"
)))]
pub fn filter(_capabilities: u64) -> Result<Vec<sock_filter>> {
    Err(ContainerError::Unsupported(format!(
        "no seccomp filter for {}; start the container with seccomp: false",
        std::env::consts::ARCH
    )))
}

/// Installs the filter for a container keeping `capabilities` on the calling thread (inherited
/// by `execve` and every child). Needs `no_new_privs` or `CAP_SYS_ADMIN`; the helper calls it
/// while it still has every capability.
pub(crate) fn install(capabilities: u64) -> Result<()> {
    let prog = filter(capabilities)?;
    crate::sys::seccomp_set_filter(&prog).map_err(|source| ContainerError::Io {
        context: "install the seccomp filter".to_owned(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use libc::{
        BPF_ABS, BPF_JA, BPF_JEQ, BPF_JGE, BPF_JGT, BPF_JMP, BPF_JSET, BPF_K, BPF_LD, BPF_RET,
        BPF_W, SECCOMP_RET_ALLOW, SECCOMP_RET_ERRNO, SECCOMP_RET_KILL_PROCESS,
    };

    const ALLOW: u32 = SECCOMP_RET_ALLOW;
    const DENY: u32 = SECCOMP_RET_ERRNO | libc::EPERM as u32;
    const NOSYS: u32 = SECCOMP_RET_ERRNO | libc::ENOSYS as u32;
    const KILL: u32 = SECCOMP_RET_KILL_PROCESS;

    /// `sizeof(struct seccomp_data)`.
    const DATA_LEN: usize = 64;

    /// An architecture for the generator tests (any value does).
    const TEST_ARCH: u32 = 0xC000_1234;

    /// Checks what the kernel checks before taking a program (`bpf_check_classic` and
    /// `seccomp_check_filter`), for the instructions the generator emits: the length, aligned
    /// loads within `struct seccomp_data`, every jump landing inside the program, and a return
    /// as last instruction.
    fn validate(prog: &[sock_filter]) {
        assert!(!prog.is_empty(), "empty program");
        assert!(prog.len() <= MAX_INSNS, "{} instructions", prog.len());
        let len = prog.len() as u64;
        for (pc, ins) in prog.iter().enumerate() {
            let code = u32::from(ins.code);
            let lands = |offset: u64| pc as u64 + 1 + offset < len;
            match code {
                c if c == BPF_LD | BPF_W | BPF_ABS => assert!(
                    ins.k.is_multiple_of(4) && ins.k as usize + 4 <= DATA_LEN,
                    "load of offset {} at {pc}",
                    ins.k
                ),
                c if c == BPF_RET | BPF_K => {}
                c if c == BPF_JMP | BPF_JA => {
                    assert!(lands(u64::from(ins.k)), "ja {} at {pc} leaves", ins.k);
                }
                c if [BPF_JEQ, BPF_JGT, BPF_JGE, BPF_JSET]
                    .iter()
                    .any(|&op| c == BPF_JMP | op | BPF_K) =>
                {
                    assert!(
                        lands(u64::from(ins.jt)) && lands(u64::from(ins.jf)),
                        "jump {}/{} at {pc} leaves",
                        ins.jt,
                        ins.jf
                    );
                }
                _ => panic!("unexpected instruction {code:#x} at {pc}"),
            }
        }
        let last = prog.last().map(|ins| u32::from(ins.code));
        assert_eq!(last, Some(BPF_RET | BPF_K), "last instruction");
    }

    /// Runs the program on a `struct seccomp_data` with this architecture, number and first
    /// argument (a classic-BPF interpreter for the instructions [`validate`] accepts).
    fn run(prog: &[sock_filter], arch: u32, nr: u32, arg0: u64) -> u32 {
        let mut data = [0u8; DATA_LEN];
        data[0..4].copy_from_slice(&nr.to_le_bytes());
        data[4..8].copy_from_slice(&arch.to_le_bytes());
        data[16..24].copy_from_slice(&arg0.to_le_bytes());
        let mut acc = 0u32;
        let mut pc = 0usize;
        loop {
            let ins = prog[pc];
            let code = u32::from(ins.code);
            let next = pc + 1;
            pc = match code {
                c if c == BPF_LD | BPF_W | BPF_ABS => {
                    let k = ins.k as usize;
                    acc = u32::from_le_bytes([data[k], data[k + 1], data[k + 2], data[k + 3]]);
                    next
                }
                c if c == BPF_RET | BPF_K => return ins.k,
                c if c == BPF_JMP | BPF_JA => next + ins.k as usize,
                c if c & 0x07 == BPF_JMP => {
                    let taken = match c & 0xf0 {
                        op if op == BPF_JEQ => acc == ins.k,
                        op if op == BPF_JGT => acc > ins.k,
                        op if op == BPF_JGE => acc >= ins.k,
                        op if op == BPF_JSET => acc & ins.k != 0,
                        _ => panic!("unexpected jump {c:#x}"),
                    };
                    next + usize::from(if taken { ins.jt } else { ins.jf })
                }
                _ => panic!("unexpected instruction {code:#x}"),
            };
        }
    }

    /// What the filter must answer for a syscall whose rule is `action` (`None`: not listed),
    /// called with `arg0`.
    fn expected(action: Option<Action>, arg0: u64) -> u32 {
        let low = arg0 as u32;
        match action {
            None => DENY,
            Some(Action::Allow) => ALLOW,
            Some(Action::Errno(errno)) => SECCOMP_RET_ERRNO | u32::from(errno),
            Some(Action::AllowIfArg0Clear(mask)) => {
                if low & mask == 0 {
                    ALLOW
                } else {
                    DENY
                }
            }
            Some(Action::AllowIfArg0In(ranges)) => {
                if ranges.iter().any(|&(lo, hi)| (lo..=hi).contains(&low)) {
                    ALLOW
                } else {
                    DENY
                }
            }
        }
    }

    #[test]
    fn intervals_cover_everything_and_merge_neighbours() {
        let eperm = Action::Errno(EPERM);
        let nothing = Vec::<(u32, u32, Action)>::new();
        assert_eq!(intervals(nothing, eperm).expect("empty"), vec![(0, eperm)]);
        let table = intervals(
            [
                (5u32, 5u32, Action::Allow),
                (6, 9, Action::Allow),
                (12, 12, eperm),
                (20, u32::MAX, Action::Errno(ENOSYS)),
            ],
            eperm,
        )
        .expect("sorted");
        assert_eq!(
            table,
            vec![
                (0, eperm),
                (5, Action::Allow),
                (10, eperm),
                (20, Action::Errno(ENOSYS))
            ]
        );
        let table = intervals([(0u32, 0u32, Action::Allow)], eperm).expect("from 0");
        assert_eq!(table, vec![(0, Action::Allow), (1, eperm)]);
        for bad in [
            vec![(5u32, 5u32, Action::Allow), (5, 6, Action::Allow)],
            vec![(5, 5, Action::Allow), (3, 4, Action::Allow)],
            vec![(6, 5, Action::Allow)],
            vec![(0, u32::MAX, Action::Allow), (7, 7, Action::Allow)],
        ] {
            assert!(intervals(bad.iter().copied(), eperm).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn search_decides_every_value_with_long_jumps() {
        // About a thousand single-number intervals: the upper levels of the tree jump over far
        // more than 255 instructions.
        let mut syscalls = BTreeMap::new();
        for nr in 0..1000u32 {
            match nr % 3 {
                0 => syscalls.insert(nr, Action::Allow),
                1 => syscalls.insert(nr, Action::Errno(ENOSYS)),
                _ => None,
            };
        }
        let prog = program(TEST_ARCH, false, &syscalls).expect("program");
        validate(&prog);
        assert!(
            prog.iter()
                .any(|ins| u32::from(ins.code) == BPF_JMP | BPF_JA),
            "no long jump"
        );
        assert!(
            prog.iter()
                .any(|ins| u32::from(ins.code) == BPF_JMP | BPF_JGE | BPF_K && ins.jt > 0),
            "no short jump"
        );
        let far = [1000, 1001, 0x4000_0000, u32::MAX - 1, u32::MAX];
        for nr in (0..1010).chain(far) {
            let want = expected(syscalls.get(&nr).copied(), 0);
            assert_eq!(run(&prog, TEST_ARCH, nr, 0), want, "syscall {nr}");
        }
        assert_eq!(run(&prog, TEST_ARCH ^ 1, 0, 0), KILL);
    }

    #[test]
    fn too_long_a_program_is_refused() {
        let syscalls: BTreeMap<u32, Action> = (0..3000u32)
            .filter(|nr| nr % 2 == 0)
            .map(|nr| (nr, Action::Allow))
            .collect();
        assert!(program(TEST_ARCH, false, &syscalls).is_err());
    }

    #[test]
    fn argument_rules() {
        let syscalls = BTreeMap::from([
            (
                7,
                Action::AllowIfArg0In(&[(1, 2), (10, 10), (u32::MAX, u32::MAX)]),
            ),
            (8, Action::AllowIfArg0Clear(0xF0)),
            (9, Action::Allow),
        ]);
        let prog = program(TEST_ARCH, true, &syscalls).expect("program");
        validate(&prog);
        for arg0 in [
            0,
            1,
            2,
            3,
            9,
            10,
            11,
            0x0F,
            0x10,
            0xFF,
            0x1_0000_0002,
            u64::from(u32::MAX),
        ] {
            for nr in 6..=10 {
                let want = expected(syscalls.get(&nr).copied(), arg0);
                assert_eq!(run(&prog, TEST_ARCH, nr, arg0), want, "{nr}({arg0:#x})");
            }
        }
        // Only the low 32 bits count.
        assert_eq!(run(&prog, TEST_ARCH, 7, 0xFFFF_FFFF_0000_0002), ALLOW);
        assert_eq!(run(&prog, TEST_ARCH, 8, 0xFF00_0000_0000_0001), ALLOW);
        // reject_x32.
        assert_eq!(run(&prog, TEST_ARCH, 0x4000_0009, 0), NOSYS);
        assert_eq!(run(&prog, TEST_ARCH, u32::MAX, 0), NOSYS);
    }

    #[test]
    fn clone_mask_is_every_namespace_flag() {
        let flags = libc::CLONE_NEWNS
            | libc::CLONE_NEWUTS
            | libc::CLONE_NEWIPC
            | libc::CLONE_NEWUSER
            | libc::CLONE_NEWPID
            | libc::CLONE_NEWNET
            | libc::CLONE_NEWCGROUP;
        assert_eq!(CLONE_NEW_MASK, flags as u32);
    }

    #[test]
    fn capability_numbers() {
        let caps = [
            ("CAP_DAC_READ_SEARCH", CAP_DAC_READ_SEARCH),
            ("CAP_SYS_MODULE", CAP_SYS_MODULE),
            ("CAP_SYS_CHROOT", CAP_SYS_CHROOT),
            ("CAP_SYS_PTRACE", CAP_SYS_PTRACE),
            ("CAP_SYS_PACCT", CAP_SYS_PACCT),
            ("CAP_SYS_ADMIN", CAP_SYS_ADMIN),
            ("CAP_SYS_BOOT", CAP_SYS_BOOT),
            ("CAP_SYS_NICE", CAP_SYS_NICE),
            ("CAP_SYS_TIME", CAP_SYS_TIME),
            ("CAP_SYS_TTY_CONFIG", CAP_SYS_TTY_CONFIG),
            ("CAP_SYSLOG", CAP_SYSLOG),
            ("CAP_PERFMON", CAP_PERFMON),
            ("CAP_BPF", CAP_BPF),
        ];
        for (name, number) in caps {
            assert_eq!(crate::caps::number(name), Some(number), "{name}");
        }
        #[cfg(target_arch = "x86_64")]
        assert_eq!(crate::caps::number("CAP_SYS_RAWIO"), Some(CAP_SYS_RAWIO));
    }

    /// The tests of the profile itself, for the architectures it is built for.
    #[cfg(all(
        any(target_arch = "x86_64", target_arch = "aarch64"),
        target_endian = "little"
    ))]
    mod profile {
        use super::*;
        use std::collections::BTreeSet;

        /// `AUDIT_ARCH_I386`, `AUDIT_ARCH_ARM` and the other 64-bit one of the two.
        const FOREIGN_ARCHES: [u32; 4] = [0x4000_0003, 0x4000_0028, 0xC000_003E, 0xC000_00B7];

        fn num(n: libc::c_long) -> u32 {
            u32::try_from(n).expect("syscall number")
        }

        /// Docker's default capability set, as a mask.
        fn docker_default() -> u64 {
            let names: Vec<String> = crate::config::DEFAULT_CAPABILITIES
                .iter()
                .map(|&c| c.to_owned())
                .collect();
            crate::caps::parse(&names).expect("default capabilities")
        }

        fn bit(cap: u32) -> u64 {
            1u64 << cap
        }

        /// The masks the profile is checked with: nothing, Docker's default, one gated
        /// capability, everything.
        fn masks() -> [u64; 4] {
            [0, docker_default(), bit(CAP_SYS_ADMIN), u64::MAX]
        }

        #[test]
        fn program_is_valid_and_matches_the_rules() {
            let args = [
                0,
                libc::SIGCHLD as u64,
                (libc::SIGCHLD | libc::CLONE_NEWUSER) as u64,
                0x4_0000,
                0xFFFF_FFFF,
                libc::AF_INET as u64,
                libc::AF_ALG as u64,
                40,
                0x1_0000_0002,
            ];
            for mask in masks() {
                let prog = filter(mask).expect("filter");
                validate(&prog);
                let rules = rules(mask).expect("rules");
                for n in 0..1024u32 {
                    for arg0 in args {
                        let want = expected(rules.get(&n).copied(), arg0);
                        assert_eq!(
                            run(&prog, AUDIT_ARCH, n, arg0),
                            want,
                            "mask {mask:#x}, syscall {n}({arg0:#x})"
                        );
                    }
                }
                for arch in FOREIGN_ARCHES.into_iter().filter(|&a| a != AUDIT_ARCH) {
                    for n in [0, num(libc::SYS_getpid), num(libc::SYS_execve), 400] {
                        assert_eq!(run(&prog, arch, n, 0), KILL, "arch {arch:#x}");
                    }
                }
            }
        }

        #[test]
        fn no_duplicates_in_the_tables() {
            let all: Vec<libc::c_long> = ALWAYS.iter().chain(ALWAYS_ARCH).copied().collect();
            let unique: BTreeSet<libc::c_long> = all.iter().copied().collect();
            assert_eq!(all.len(), unique.len());
            assert!(all.len() > 240, "{} syscalls", all.len());
        }

        #[test]
        fn unconditional_syscalls_are_allowed_without_any_capability() {
            for mask in masks() {
                let prog = filter(mask).expect("filter");
                for &n in ALWAYS.iter().chain(ALWAYS_ARCH) {
                    assert_eq!(run(&prog, AUDIT_ARCH, num(n), 0), ALLOW, "syscall {n}");
                }
            }
        }

        /// What the helper calls between installing the filter and `execve` (see `init.rs`
        /// and `caps.rs`), whatever the container's capabilities.
        #[test]
        fn helper_syscalls_until_execve_are_allowed() {
            let helper = [
                libc::SYS_prctl,
                libc::SYS_capget,
                libc::SYS_capset,
                libc::SYS_setgroups,
                libc::SYS_setresgid,
                libc::SYS_setresuid,
                libc::SYS_rt_sigaction,
                libc::SYS_rt_sigprocmask,
                libc::SYS_openat,
                libc::SYS_statx,
                libc::SYS_newfstatat,
                libc::SYS_fstat,
                libc::SYS_read,
                libc::SYS_write,
                libc::SYS_close,
                libc::SYS_close_range,
                libc::SYS_fcntl,
                libc::SYS_mmap,
                libc::SYS_munmap,
                libc::SYS_mremap,
                libc::SYS_brk,
                libc::SYS_getrandom,
                libc::SYS_execve,
                libc::SYS_execveat,
                libc::SYS_exit,
                libc::SYS_exit_group,
            ];
            for mask in masks() {
                let prog = filter(mask).expect("filter");
                for n in helper {
                    assert_eq!(run(&prog, AUDIT_ARCH, num(n), 0), ALLOW, "syscall {n}");
                }
            }
        }

        #[test]
        fn dangerous_syscalls_fail_with_eperm_by_default() {
            let prog = filter(docker_default()).expect("filter");
            let denied = [
                libc::SYS_kexec_load,
                libc::SYS_init_module,
                libc::SYS_finit_module,
                libc::SYS_delete_module,
                libc::SYS_open_by_handle_at,
                libc::SYS_mount,
                libc::SYS_umount2,
                libc::SYS_pivot_root,
                libc::SYS_open_tree,
                libc::SYS_move_mount,
                libc::SYS_fsopen,
                libc::SYS_unshare,
                libc::SYS_setns,
                libc::SYS_keyctl,
                libc::SYS_add_key,
                libc::SYS_request_key,
                libc::SYS_bpf,
                libc::SYS_perf_event_open,
                libc::SYS_userfaultfd,
                libc::SYS_io_uring_setup,
                libc::SYS_io_uring_enter,
                libc::SYS_io_uring_register,
                libc::SYS_kcmp,
                libc::SYS_pidfd_getfd,
                libc::SYS_lookup_dcookie,
                libc::SYS_fanotify_init,
                libc::SYS_reboot,
                libc::SYS_swapon,
                libc::SYS_swapoff,
                libc::SYS_acct,
                libc::SYS_settimeofday,
                libc::SYS_clock_settime,
                libc::SYS_syslog,
                libc::SYS_vhangup,
                libc::SYS_quotactl,
                libc::SYS_sethostname,
                libc::SYS_setdomainname,
                libc::SYS_mbind,
                libc::SYS_set_mempolicy,
                libc::SYS_move_pages,
                libc::SYS_migrate_pages,
                libc::SYS_nfsservctl,
                nr::LSM_SET_SELF_ATTR,
            ];
            for n in denied {
                assert_eq!(run(&prog, AUDIT_ARCH, num(n), 0), DENY, "syscall {n}");
            }
            #[cfg(target_arch = "x86_64")]
            let arch_denied = [
                libc::SYS_iopl,
                libc::SYS_ioperm,
                libc::SYS_uselib,
                libc::SYS_ustat,
                libc::SYS__sysctl,
                libc::SYS_sysfs,
            ];
            #[cfg(target_arch = "aarch64")]
            let arch_denied: [libc::c_long; 0] = [];
            for n in arch_denied {
                assert_eq!(run(&prog, AUDIT_ARCH, num(n), 0), DENY, "syscall {n}");
            }
            // Newer than the profile, or no syscall at all.
            for n in [467, 468, 1000, 0x3FFF_FFFF] {
                assert_eq!(run(&prog, AUDIT_ARCH, n, 0), DENY, "syscall {n}");
            }
            // Allowed by the default set: CAP_SYS_CHROOT.
            assert_eq!(run(&prog, AUDIT_ARCH, num(libc::SYS_chroot), 0), ALLOW);
        }

        #[test]
        fn clone_personality_and_socket_depend_on_the_first_argument() {
            let prog = filter(docker_default()).expect("filter");
            let clone = |flags: u64| run(&prog, AUDIT_ARCH, num(libc::SYS_clone), flags);
            let sigchld = libc::SIGCHLD as u64;
            assert_eq!(clone(sigchld), ALLOW);
            let thread = (libc::CLONE_VM
                | libc::CLONE_FS
                | libc::CLONE_FILES
                | libc::CLONE_SIGHAND
                | libc::CLONE_THREAD
                | libc::CLONE_SYSVSEM
                | libc::CLONE_SETTLS
                | libc::CLONE_PARENT_SETTID
                | libc::CLONE_CHILD_CLEARTID) as u64;
            assert_eq!(clone(thread), ALLOW);
            for flag in [
                libc::CLONE_NEWNS,
                libc::CLONE_NEWUTS,
                libc::CLONE_NEWIPC,
                libc::CLONE_NEWUSER,
                libc::CLONE_NEWPID,
                libc::CLONE_NEWNET,
                libc::CLONE_NEWCGROUP,
            ] {
                assert_eq!(clone(sigchld | flag as u64), DENY, "flag {flag:#x}");
            }
            assert_eq!(run(&prog, AUDIT_ARCH, num(libc::SYS_clone3), 0), NOSYS);

            let personality = |p: u64| run(&prog, AUDIT_ARCH, num(libc::SYS_personality), p);
            for p in [0x0, 0x8, 0x2_0000, 0x2_0008, 0xFFFF_FFFF] {
                assert_eq!(personality(p), ALLOW, "personality({p:#x})");
            }
            for p in [0x4_0000, 0x4_0008, 0x40_0000, 0x1, 0xFFFF_FFFE] {
                assert_eq!(personality(p), DENY, "personality({p:#x})");
            }

            let socket = |family: libc::c_int| {
                let family = u64::try_from(family).expect("family");
                run(&prog, AUDIT_ARCH, num(libc::SYS_socket), family)
            };
            for family in [
                libc::AF_UNIX,
                libc::AF_INET,
                libc::AF_INET6,
                libc::AF_NETLINK,
                libc::AF_PACKET,
                libc::AF_CAN,
                libc::AF_BLUETOOTH,
                39, // AF_NFC
                44, // AF_XDP
            ] {
                assert_eq!(socket(family), ALLOW, "socket family {family}");
            }
            // AF_VSOCK is 40.
            for family in [libc::AF_DECnet, libc::AF_ALG, 40, 46, 0x7FFF_FFFF] {
                assert_eq!(socket(family), DENY, "socket family {family}");
            }
        }

        #[test]
        fn capabilities_open_their_groups() {
            for &(cap, syscalls) in CAPABILITY_GROUPS.iter().chain(ARCH_CAPABILITY_GROUPS) {
                let with = filter(bit(cap)).expect("filter");
                let without = filter(0).expect("filter");
                for &n in syscalls {
                    // clone is tried with CLONE_NEWUSER, which only CAP_SYS_ADMIN allows.
                    let arg0 = (libc::SIGCHLD | libc::CLONE_NEWUSER) as u64;
                    assert_eq!(
                        run(&with, AUDIT_ARCH, num(n), arg0),
                        ALLOW,
                        "capability {cap}, syscall {n}"
                    );
                    if !ALWAYS.contains(&n) {
                        let want = if n == libc::SYS_clone3 { NOSYS } else { DENY };
                        assert_eq!(
                            run(&without, AUDIT_ARCH, num(n), arg0),
                            want,
                            "no capability, syscall {n}"
                        );
                    }
                }
            }
            // ptrace and process_vm_* need no capability (kernels from 4.8), kcmp does.
            let none = filter(0).expect("filter");
            assert_eq!(run(&none, AUDIT_ARCH, num(libc::SYS_ptrace), 0), ALLOW);
            assert_eq!(
                run(&none, AUDIT_ARCH, num(libc::SYS_process_vm_readv), 0),
                ALLOW
            );
            assert_eq!(run(&none, AUDIT_ARCH, num(libc::SYS_kcmp), 0), DENY);
            // CAP_SYS_ADMIN: namespaces and mounts.
            let admin = filter(bit(CAP_SYS_ADMIN)).expect("filter");
            for n in [
                libc::SYS_unshare,
                libc::SYS_setns,
                libc::SYS_mount,
                libc::SYS_clone3,
            ] {
                assert_eq!(run(&admin, AUDIT_ARCH, num(n), 0), ALLOW, "syscall {n}");
            }
            // CAP_BPF alone opens bpf but not the rest of CAP_SYS_ADMIN's group.
            let bpf = filter(bit(CAP_BPF)).expect("filter");
            assert_eq!(run(&bpf, AUDIT_ARCH, num(libc::SYS_bpf), 0), ALLOW);
            assert_eq!(run(&bpf, AUDIT_ARCH, num(libc::SYS_mount), 0), DENY);
        }

        #[cfg(target_arch = "x86_64")]
        #[test]
        fn x32_syscalls_fail_with_enosys() {
            let prog = filter(docker_default()).expect("filter");
            for n in [0x4000_0000, 0x4000_0027, 0x4000_0200, u32::MAX] {
                assert_eq!(run(&prog, AUDIT_ARCH, n, 0), NOSYS, "syscall {n:#x}");
            }
        }

        #[cfg(target_arch = "aarch64")]
        #[test]
        fn out_of_range_numbers_fail_with_eperm() {
            let prog = filter(docker_default()).expect("filter");
            for n in [0x4000_0000, 0x4000_0027, u32::MAX] {
                assert_eq!(run(&prog, AUDIT_ARCH, n, 0), DENY, "syscall {n:#x}");
            }
        }
    }
}
