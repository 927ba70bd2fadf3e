//! The container's seccomp filter: a **denylist**, not Docker's allowlist profile.
//!
//! Docker's default profile allows ~350 syscalls by name and fails the rest with `EPERM`; porting
//! it (with its per-capability and per-argument rules, for each architecture) is future work.
//! What this module installs instead is a small classic-BPF filter that fails, with `EPERM`, the
//! syscalls Docker's profile denies that matter most for a root process in a container, even
//! though most of them also need a capability the container does not have:
//!
//! - namespaces: `unshare`, `setns`, and `clone` with any `CLONE_NEW*` flag (`CLONE_NEWUSER`
//!   would otherwise hand the container a user namespace where it holds every capability);
//!   `clone3` fails with `ENOSYS`, as in Docker's profile, so that libcs fall back to `clone`,
//!   whose flags the filter can read;
//! - mounts: `mount`, `umount2`, `pivot_root`, `open_tree`, `move_mount`, `fsopen`, `fsconfig`,
//!   `fsmount`, `fspick`, `mount_setattr`;
//! - kernel attack surface: `bpf`, `perf_event_open`, `userfaultfd`, `keyctl`, `add_key`,
//!   `request_key`, `io_uring_setup`/`enter`/`register`, `kcmp`, `lookup_dcookie`;
//! - host-wide state: `init_module`, `finit_module`, `delete_module`, `kexec_load`,
//!   `kexec_file_load`, `reboot`, `swapon`, `swapoff`, `acct`, `settimeofday`, `clock_settime`,
//!   `clock_adjtime`, `syslog`, `vhangup`, `quotactl`, `quotactl_fd`, `nfsservctl`;
//! - file handles and fanotify: `name_to_handle_at`, `open_by_handle_at` (the "shocker"
//!   escape), `fanotify_init`;
//! - on x86_64 also `iopl`, `ioperm`, `modify_ldt`, `uselib`, `ustat`, `_sysctl`, `sysfs`, and
//!   every x32 syscall (`ENOSYS`).
//!
//! Any other architecture in `seccomp_data.arch` (a 32-bit syscall entry on a 64-bit kernel,
//! which would renumber everything) kills the process. Everything else is allowed.
//!
//! The filter is built for x86_64 and aarch64; elsewhere [`filter`] fails and the container must
//! be started with `seccomp: false`.

use crate::error::{ContainerError, Result};
use libc::sock_filter;

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

/// Every `CLONE_NEW*` flag `clone` accepts (`CLONE_NEWTIME` shares its bit with the exit signal
/// in `clone`'s flags and is only valid for `unshare` and `clone3`, both denied anyway).
const CLONE_NEW_MASK: u32 = (libc::CLONE_NEWNS
    | libc::CLONE_NEWUTS
    | libc::CLONE_NEWIPC
    | libc::CLONE_NEWUSER
    | libc::CLONE_NEWPID
    | libc::CLONE_NEWNET
    | libc::CLONE_NEWCGROUP) as u32;

/// The syscalls failed with `EPERM` on every supported architecture.
#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
const DENIED: [libc::c_long; 43] = [
    libc::SYS_unshare,
    libc::SYS_setns,
    libc::SYS_mount,
    libc::SYS_umount2,
    libc::SYS_pivot_root,
    libc::SYS_open_tree,
    libc::SYS_move_mount,
    libc::SYS_fsopen,
    libc::SYS_fsconfig,
    libc::SYS_fsmount,
    libc::SYS_fspick,
    libc::SYS_mount_setattr,
    libc::SYS_bpf,
    libc::SYS_perf_event_open,
    libc::SYS_userfaultfd,
    libc::SYS_keyctl,
    libc::SYS_add_key,
    libc::SYS_request_key,
    libc::SYS_io_uring_setup,
    libc::SYS_io_uring_enter,
    libc::SYS_io_uring_register,
    libc::SYS_kcmp,
    libc::SYS_lookup_dcookie,
    libc::SYS_init_module,
    libc::SYS_finit_module,
    libc::SYS_delete_module,
    libc::SYS_kexec_load,
    libc::SYS_kexec_file_load,
    libc::SYS_reboot,
    libc::SYS_swapon,
    libc::SYS_swapoff,
    libc::SYS_acct,
    libc::SYS_settimeofday,
    libc::SYS_clock_settime,
    libc::SYS_clock_adjtime,
    libc::SYS_syslog,
    libc::SYS_vhangup,
    libc::SYS_quotactl,
    libc::SYS_quotactl_fd,
    libc::SYS_nfsservctl,
    libc::SYS_name_to_handle_at,
    libc::SYS_open_by_handle_at,
    libc::SYS_fanotify_init,
];

/// The syscalls failed with `EPERM` on x86_64 only (absent from aarch64).
#[cfg(target_arch = "x86_64")]
const DENIED_ARCH: [libc::c_long; 7] = [
    libc::SYS_iopl,
    libc::SYS_ioperm,
    libc::SYS_modify_ldt,
    libc::SYS_uselib,
    libc::SYS_ustat,
    libc::SYS__sysctl,
    libc::SYS_sysfs,
];

/// The syscalls failed with `EPERM` on aarch64 only.
#[cfg(target_arch = "aarch64")]
const DENIED_ARCH: [libc::c_long; 0] = [];

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

/// `return SECCOMP_RET_ERRNO | errno`.
fn ret_errno(errno: i32) -> sock_filter {
    stmt(
        libc::BPF_RET | libc::BPF_K,
        libc::SECCOMP_RET_ERRNO | (errno as u32 & libc::SECCOMP_RET_DATA),
    )
}

/// The filter program for this architecture (see the module documentation).
#[cfg(all(
    any(target_arch = "x86_64", target_arch = "aarch64"),
    target_endian = "little"
))]
pub fn filter() -> Result<Vec<sock_filter>> {
    use libc::{BPF_ABS, BPF_JEQ, BPF_JGE, BPF_JMP, BPF_JSET, BPF_K, BPF_LD, BPF_RET, BPF_W};
    let nr = |n: libc::c_long| n as u32;
    let mut prog = vec![
        stmt(BPF_LD | BPF_W | BPF_ABS, ARCH_OFFSET),
        jump(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH, 1, 0),
        stmt(BPF_RET | BPF_K, libc::SECCOMP_RET_KILL_PROCESS),
        stmt(BPF_LD | BPF_W | BPF_ABS, NR_OFFSET),
    ];
    #[cfg(target_arch = "x86_64")]
    {
        // x32 syscalls carry __X32_SYSCALL_BIT and their own numbering.
        prog.push(jump(BPF_JMP | BPF_JGE | BPF_K, 0x4000_0000, 0, 1));
        prog.push(ret_errno(libc::ENOSYS));
    }
    for &n in DENIED.iter().chain(DENIED_ARCH.iter()) {
        prog.push(jump(BPF_JMP | BPF_JEQ | BPF_K, nr(n), 0, 1));
        prog.push(ret_errno(libc::EPERM));
    }
    prog.push(jump(BPF_JMP | BPF_JEQ | BPF_K, nr(libc::SYS_clone3), 0, 1));
    prog.push(ret_errno(libc::ENOSYS));
    // clone: fail if any CLONE_NEW* flag is set in its first argument.
    prog.push(jump(BPF_JMP | BPF_JEQ | BPF_K, nr(libc::SYS_clone), 0, 3));
    prog.push(stmt(BPF_LD | BPF_W | BPF_ABS, ARG0_LOW_OFFSET));
    prog.push(jump(BPF_JMP | BPF_JSET | BPF_K, CLONE_NEW_MASK, 0, 1));
    prog.push(ret_errno(libc::EPERM));
    prog.push(stmt(BPF_RET | BPF_K, libc::SECCOMP_RET_ALLOW));
    Ok(prog)
}

/// The filter program for this architecture: none is built for it.
#[cfg(not(all(
    any(target_arch = "x86_64", target_arch = "aarch64"),
    target_endian = "little"
)))]
pub fn filter() -> Result<Vec<sock_filter>> {
    Err(ContainerError::Unsupported(format!(
        "no seccomp filter for {}; start the container with seccomp: false",
        std::env::consts::ARCH
    )))
}

/// Installs the filter on the calling thread (inherited by `execve` and every child). Needs
/// `no_new_privs` or `CAP_SYS_ADMIN`; the helper calls it while it still has every capability.
pub(crate) fn install() -> Result<()> {
    let prog = filter()?;
    if prog.len() > libc::BPF_MAXINSNS as usize {
        return Err(ContainerError::Unsupported(
            "seccomp filter too long".to_owned(),
        ));
    }
    crate::sys::seccomp_set_filter(&prog).map_err(|source| ContainerError::Io {
        context: "install the seccomp filter".to_owned(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs the filter on one `seccomp_data` (a tiny classic-BPF interpreter for the
    /// instructions the filter uses).
    #[cfg(all(
        any(target_arch = "x86_64", target_arch = "aarch64"),
        target_endian = "little"
    ))]
    fn run(prog: &[sock_filter], arch: u32, nr: u32, arg0: u64) -> u32 {
        let mut data = [0u8; 64];
        data[0..4].copy_from_slice(&nr.to_le_bytes());
        data[4..8].copy_from_slice(&arch.to_le_bytes());
        data[16..24].copy_from_slice(&arg0.to_le_bytes());
        let mut acc = 0u32;
        let mut pc = 0usize;
        loop {
            let ins = prog[pc];
            let code = u32::from(ins.code);
            match code {
                c if c == libc::BPF_LD | libc::BPF_W | libc::BPF_ABS => {
                    let k = ins.k as usize;
                    acc = u32::from_le_bytes([data[k], data[k + 1], data[k + 2], data[k + 3]]);
                    pc += 1;
                }
                c if c == libc::BPF_RET | libc::BPF_K => return ins.k,
                c if c & 0x07 == libc::BPF_JMP => {
                    let taken = match c & 0xf0 {
                        op if op == libc::BPF_JEQ => acc == ins.k,
                        op if op == libc::BPF_JGE => acc >= ins.k,
                        op if op == libc::BPF_JSET => acc & ins.k != 0,
                        _ => panic!("unexpected jump {c:#x}"),
                    };
                    pc += 1 + usize::from(if taken { ins.jt } else { ins.jf });
                }
                _ => panic!("unexpected instruction {code:#x}"),
            }
        }
    }

    #[cfg(all(
        any(target_arch = "x86_64", target_arch = "aarch64"),
        target_endian = "little"
    ))]
    #[test]
    fn filter_decisions() {
        let prog = filter().expect("filter");
        let eperm = libc::SECCOMP_RET_ERRNO | libc::EPERM as u32;
        let enosys = libc::SECCOMP_RET_ERRNO | libc::ENOSYS as u32;
        let sys = |n: libc::c_long| n as u32;
        assert_eq!(
            run(&prog, AUDIT_ARCH, sys(libc::SYS_getpid), 0),
            libc::SECCOMP_RET_ALLOW
        );
        assert_eq!(
            run(&prog, AUDIT_ARCH, sys(libc::SYS_execve), 0),
            libc::SECCOMP_RET_ALLOW
        );
        assert_eq!(run(&prog, AUDIT_ARCH, sys(libc::SYS_unshare), 0), eperm);
        assert_eq!(run(&prog, AUDIT_ARCH, sys(libc::SYS_mount), 0), eperm);
        assert_eq!(run(&prog, AUDIT_ARCH, sys(libc::SYS_keyctl), 0), eperm);
        assert_eq!(run(&prog, AUDIT_ARCH, sys(libc::SYS_clone3), 0), enosys);
        // fork-like clone (SIGCHLD only): allowed; with CLONE_NEWUSER: denied.
        let sigchld = libc::SIGCHLD as u64;
        assert_eq!(
            run(&prog, AUDIT_ARCH, sys(libc::SYS_clone), sigchld),
            libc::SECCOMP_RET_ALLOW
        );
        assert_eq!(
            run(
                &prog,
                AUDIT_ARCH,
                sys(libc::SYS_clone),
                sigchld | libc::CLONE_NEWUSER as u64
            ),
            eperm
        );
        // Threads (CLONE_VM | CLONE_THREAD | ...) are fine.
        let thread = (libc::CLONE_VM
            | libc::CLONE_FS
            | libc::CLONE_FILES
            | libc::CLONE_SIGHAND
            | libc::CLONE_THREAD) as u64;
        assert_eq!(
            run(&prog, AUDIT_ARCH, sys(libc::SYS_clone), thread),
            libc::SECCOMP_RET_ALLOW
        );
        assert_eq!(
            run(&prog, 0x4000_0003, sys(libc::SYS_getpid), 0),
            libc::SECCOMP_RET_KILL_PROCESS
        );
        #[cfg(target_arch = "x86_64")]
        assert_eq!(run(&prog, AUDIT_ARCH, 0x4000_0027, 0), enosys);
    }
}
