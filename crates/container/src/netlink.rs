//! Bringing up `lo` in the container's new network namespace, with one rtnetlink request
//! (`RTM_NEWLINK` setting `IFF_UP` on interface 1) over a plain socket: no `ioctl`, no unsafe.
//!
//! Networks beyond loopback are not this crate's job (yet).

use crate::error::{ContainerError, Context, Result};
use rustix::net::{AddressFamily, SocketFlags, SocketType};
use std::fs::File;
use std::io::{Read, Write};

/// `RTM_NEWLINK`.
const RTM_NEWLINK: u16 = 16;
/// `NLMSG_ERROR`: the kernel's answer, an error code (0 for an acknowledgement).
const NLMSG_ERROR: u16 = 2;
/// `NLM_F_REQUEST | NLM_F_ACK`.
const FLAGS: u16 = 0x1 | 0x4;
/// `IFF_UP`.
const IFF_UP: u32 = 0x1;
/// The index of `lo`, registered first in every network namespace (`LOOPBACK_IFINDEX`).
const LOOPBACK_INDEX: i32 = 1;

/// The request: `nlmsghdr` (16 bytes) and `ifinfomsg` (16 bytes), native byte order.
fn request() -> Vec<u8> {
    let mut msg = Vec::with_capacity(32);
    msg.extend_from_slice(&32u32.to_ne_bytes()); // nlmsg_len
    msg.extend_from_slice(&RTM_NEWLINK.to_ne_bytes()); // nlmsg_type
    msg.extend_from_slice(&FLAGS.to_ne_bytes()); // nlmsg_flags
    msg.extend_from_slice(&1u32.to_ne_bytes()); // nlmsg_seq
    msg.extend_from_slice(&0u32.to_ne_bytes()); // nlmsg_pid: the kernel
    msg.push(0); // ifi_family: AF_UNSPEC
    msg.push(0); // padding
    msg.extend_from_slice(&0u16.to_ne_bytes()); // ifi_type
    msg.extend_from_slice(&LOOPBACK_INDEX.to_ne_bytes()); // ifi_index
    msg.extend_from_slice(&IFF_UP.to_ne_bytes()); // ifi_flags
    msg.extend_from_slice(&IFF_UP.to_ne_bytes()); // ifi_change
    msg
}

/// The error code of the kernel's answer (`0`: done), or a description of what is wrong with it.
fn answer_code(answer: &[u8]) -> std::result::Result<i32, String> {
    if answer.len() < 20 {
        return Err(format!("short rtnetlink answer ({} bytes)", answer.len()));
    }
    let kind = u16::from_ne_bytes([answer[4], answer[5]]);
    if kind != NLMSG_ERROR {
        return Err(format!("unexpected rtnetlink answer type {kind}"));
    }
    Ok(i32::from_ne_bytes([
        answer[16], answer[17], answer[18], answer[19],
    ]))
}

/// Sets `lo` up in the calling process's network namespace.
pub(crate) fn loopback_up() -> Result<()> {
    let fd = rustix::net::socket_with(
        AddressFamily::NETLINK,
        SocketType::RAW,
        SocketFlags::CLOEXEC,
        None,
    )
    .ctx(|| "open an rtnetlink socket")?;
    let mut socket = File::from(fd);
    socket
        .write_all(&request())
        .ctx(|| "send RTM_NEWLINK for lo")?;
    let mut answer = [0u8; 512];
    let n = socket
        .read(&mut answer)
        .ctx(|| "read the answer to RTM_NEWLINK")?;
    match answer_code(&answer[..n]) {
        Ok(0) => Ok(()),
        Ok(code) => Err(std::io::Error::from_raw_os_error(-code)).ctx(|| "set lo up"),
        Err(reason) => Err(ContainerError::Unsupported(reason)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_layout() {
        let msg = request();
        assert_eq!(msg.len(), 32);
        assert_eq!(u32::from_ne_bytes([msg[0], msg[1], msg[2], msg[3]]), 32);
        assert_eq!(u16::from_ne_bytes([msg[4], msg[5]]), RTM_NEWLINK);
        assert_eq!(i32::from_ne_bytes([msg[20], msg[21], msg[22], msg[23]]), 1);
    }

    #[test]
    fn answers() {
        let mut ack = vec![0u8; 36];
        ack[4..6].copy_from_slice(&NLMSG_ERROR.to_ne_bytes());
        assert_eq!(answer_code(&ack), Ok(0));
        ack[16..20].copy_from_slice(&(-1i32).to_ne_bytes());
        assert_eq!(answer_code(&ack), Ok(-1));
        assert!(answer_code(&ack[..10]).is_err());
    }
}
