//! What this node reports about itself: platform, CPUs, memory.

use flotilla_model::{NodeDescription, Platform};

/// This host's description, named `name`.
pub fn describe(name: &str) -> NodeDescription {
    let cpus = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get) as u64;
    NodeDescription {
        hostname: name.to_owned(),
        platform: Platform {
            os: std::env::consts::OS.into(),
            architecture: std::env::consts::ARCH.into(),
        },
        nano_cpus: cpus * 1_000_000_000,
        memory_bytes: mem_total().unwrap_or(0),
        engine_version: env!("CARGO_PKG_VERSION").into(),
    }
}

/// MemTotal from /proc/meminfo, in bytes.
fn mem_total() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = text.lines().find(|l| l.starts_with("MemTotal:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// The address this host would use to reach the rest of the network, found without sending
/// anything (a UDP socket's route lookup); loopback if there is no route.
pub fn default_ip() -> std::net::IpAddr {
    let probe = || -> std::io::Result<std::net::IpAddr> {
        let s = std::net::UdpSocket::bind("0.0.0.0:0")?;
        s.connect("10.255.255.255:9")?;
        Ok(s.local_addr()?.ip())
    };
    probe().unwrap_or(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST))
}
