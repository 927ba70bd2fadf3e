//! Linux capabilities: names, and dropping the helper's full set to the container's before
//! `execve`, with rustix's safe `capset` and `prctl` wrappers.
//!
//! The sequence is runc's: drop every other capability from the bounding set (needs
//! `CAP_SETPCAP`, which the helper has), keep the permitted set across the uid change
//! (`PR_SET_KEEPCAPS`), switch groups, gid and uid, then set effective = permitted = the kept set
//! with nothing inheritable, and clear the ambient set. `execve` then gives root the bounding set
//! (Docker's `CapEff`) and a non-root user nothing but the bounding set, as Docker does.

use crate::config::User;
use crate::error::{ContainerError, Context, Result};
use nix::unistd::{Gid, Uid};
use rustix::thread::{CapabilitySet, CapabilitySets};

/// Capability names, indexed by number (`CAP_CHOWN` is 0), as in `linux/capability.h`.
const NAMES: [&str; 41] = [
    "CHOWN",
    "DAC_OVERRIDE",
    "DAC_READ_SEARCH",
    "FOWNER",
    "FSETID",
    "KILL",
    "SETGID",
    "SETUID",
    "SETPCAP",
    "LINUX_IMMUTABLE",
    "NET_BIND_SERVICE",
    "NET_BROADCAST",
    "NET_ADMIN",
    "NET_RAW",
    "IPC_LOCK",
    "IPC_OWNER",
    "SYS_MODULE",
    "SYS_RAWIO",
    "SYS_CHROOT",
    "SYS_PTRACE",
    "SYS_PACCT",
    "SYS_ADMIN",
    "SYS_BOOT",
    "SYS_NICE",
    "SYS_RESOURCE",
    "SYS_TIME",
    "SYS_TTY_CONFIG",
    "MKNOD",
    "LEASE",
    "AUDIT_WRITE",
    "AUDIT_CONTROL",
    "SETFCAP",
    "MAC_OVERRIDE",
    "MAC_ADMIN",
    "SYSLOG",
    "WAKE_ALARM",
    "BLOCK_SUSPEND",
    "AUDIT_READ",
    "PERFMON",
    "BPF",
    "CHECKPOINT_RESTORE",
];

/// The number of the capability called `name` (`CAP_NET_RAW`, `net_raw`).
pub fn number(name: &str) -> Option<u32> {
    let upper = name.to_ascii_uppercase();
    let short = upper.strip_prefix("CAP_").unwrap_or(&upper);
    NAMES
        .iter()
        .position(|&n| n == short)
        .and_then(|i| u32::try_from(i).ok())
}

/// The mask (bit n = capability n) of the named capabilities; `ALL` stands for every known one.
pub fn parse(names: &[String]) -> Result<u64> {
    let mut mask = 0u64;
    for name in names {
        if name.eq_ignore_ascii_case("ALL") || name.eq_ignore_ascii_case("CAP_ALL") {
            mask |= (1u64 << NAMES.len()) - 1;
            continue;
        }
        let n = number(name)
            .ok_or_else(|| ContainerError::InvalidConfig(format!("unknown capability {name:?}")))?;
        mask |= 1u64 << n;
    }
    Ok(mask)
}

/// The highest capability number of the running kernel (`/proc/sys/kernel/cap_last_cap`),
/// or the last one this crate knows.
fn last_cap() -> u32 {
    std::fs::read_to_string("/proc/sys/kernel/cap_last_cap")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .filter(|&n: &u32| n < 64)
        .unwrap_or((NAMES.len() - 1) as u32)
}

/// Drops to `mask` and switches to `user`. Runs in the container's first process, as root with
/// every capability, after the mounts and before `execve`.
pub(crate) fn drop_to(mask: u64, user: &User) -> Result<()> {
    let last = last_cap();
    let known = if last >= 63 {
        u64::MAX
    } else {
        (1u64 << (last + 1)) - 1
    };
    let mask = mask & known;
    for n in 0..=last {
        if mask & (1u64 << n) == 0 {
            match rustix::thread::remove_capability_from_bounding_set(
                CapabilitySet::from_bits_retain(1u64 << n),
            ) {
                Ok(()) | Err(rustix::io::Errno::INVAL) => {}
                Err(e) => {
                    return Err(e).ctx(|| format!("drop capability {n} from the bounding set"));
                }
            }
        }
    }

    let switching = user.uid != 0 || user.gid != 0;
    if switching {
        // Keep the permitted set across the uid change, so that the final `capset` can still
        // set it (the kernel clears it when every uid becomes non-zero).
        nix::sys::prctl::set_keepcaps(true).ctx(|| "prctl(PR_SET_KEEPCAPS)")?;
    }
    let groups: Vec<Gid> = user
        .additional_gids
        .iter()
        .map(|&g| Gid::from_raw(g))
        .collect();
    nix::unistd::setgroups(&groups).ctx(|| format!("setgroups {:?}", user.additional_gids))?;
    let gid = Gid::from_raw(user.gid);
    nix::unistd::setresgid(gid, gid, gid).ctx(|| format!("setresgid {}", user.gid))?;
    let uid = Uid::from_raw(user.uid);
    nix::unistd::setresuid(uid, uid, uid).ctx(|| format!("setresuid {}", user.uid))?;

    let set = CapabilitySet::from_bits_retain(mask);
    rustix::thread::set_capabilities(
        None,
        CapabilitySets {
            effective: set,
            permitted: set,
            inheritable: CapabilitySet::empty(),
        },
    )
    .ctx(|| format!("capset {mask:#x}"))?;
    match rustix::thread::clear_ambient_capability_set() {
        // EINVAL: a kernel without ambient capabilities (< 4.3) has none to clear.
        Ok(()) | Err(rustix::io::Errno::INVAL) => {}
        Err(e) => return Err(e).ctx(|| "clear the ambient capability set"),
    }
    if switching {
        nix::sys::prctl::set_keepcaps(false).ctx(|| "prctl(PR_SET_KEEPCAPS, 0)")?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_numbers() {
        assert_eq!(number("CAP_CHOWN"), Some(0));
        assert_eq!(number("net_raw"), Some(13));
        assert_eq!(number("CAP_SYS_ADMIN"), Some(21));
        assert_eq!(number("CAP_CHECKPOINT_RESTORE"), Some(40));
        assert_eq!(number("CAP_NOPE"), None);
        assert_eq!(parse(&["ALL".to_owned()]).expect("all"), (1u64 << 41) - 1);
        assert!(parse(&["bogus".to_owned()]).is_err());
    }
}
