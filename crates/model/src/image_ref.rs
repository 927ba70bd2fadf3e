//! Docker image references, parsed and normalised with Docker's defaults.
//!
//! `busybox` becomes `docker.io/library/busybox:latest`; `localhost:5000/app@sha256:…` keeps its
//! registry host and port and its digest. The grammar is the one of the distribution reference
//! library Docker uses: lowercase path components joined by `.`, `_`, `__` or runs of `-`; a
//! domain is recognised by a `.` or `:` or by being `localhost`; tags are at most 128 characters.

use serde::{Deserialize, Serialize};
use std::fmt;

/// The registry used when a reference names none.
pub const DEFAULT_REGISTRY: &str = "docker.io";
/// The tag used when a reference names neither tag nor digest.
pub const DEFAULT_TAG: &str = "latest";
const MAX_NAME_LEN: usize = 255;

/// A normalised image reference.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ImageRef {
    /// Registry host, with port if any (`docker.io`, `localhost:5000`).
    pub registry: String,
    /// Repository path inside the registry (`library/busybox`).
    pub repository: String,
    /// Tag, if the reference had one or got the default.
    pub tag: Option<String>,
    /// Content digest (`sha256:…`), if pinned.
    pub digest: Option<String>,
}

/// Why a string is not an image reference.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ImageRefError {
    /// The reference was empty.
    #[error("image reference is empty")]
    Empty,
    /// The repository name breaks the grammar.
    #[error(
        "{0:?}: repository name must be lowercase path components of [a-z0-9] joined by '.', '_', '__' or '-'"
    )]
    BadName(String),
    /// The name is longer than 255 characters.
    #[error("repository name is longer than {MAX_NAME_LEN} characters")]
    NameTooLong,
    /// The tag breaks the grammar.
    #[error("{0:?}: tag must match [A-Za-z0-9_][A-Za-z0-9_.-]{{0,127}}")]
    BadTag(String),
    /// The digest breaks the grammar.
    #[error("{0:?}: digest must be ALGORITHM:HEX (sha256 with 64 hex digits)")]
    BadDigest(String),
    /// The registry host breaks the grammar.
    #[error("{0:?}: invalid registry host")]
    BadRegistry(String),
}

impl ImageRef {
    /// Parses and normalises `s`.
    pub fn parse(s: &str) -> Result<Self, ImageRefError> {
        if s.is_empty() {
            return Err(ImageRefError::Empty);
        }
        let (rest, digest) = match s.split_once('@') {
            Some((r, d)) => {
                check_digest(d)?;
                (r, Some(d.to_owned()))
            }
            None => (s, None),
        };
        // A tag follows the last ':' only if no '/' comes after it (else it is a port).
        let (name, tag) = match rest.rfind(':') {
            Some(i) if !rest[i + 1..].contains('/') => {
                let t = &rest[i + 1..];
                check_tag(t)?;
                (&rest[..i], Some(t.to_owned()))
            }
            _ => (rest, None),
        };
        if name.is_empty() {
            return Err(ImageRefError::Empty);
        }
        if name.len() > MAX_NAME_LEN {
            return Err(ImageRefError::NameTooLong);
        }
        let (registry, path) = match name.split_once('/') {
            Some((first, rest))
                if first.contains('.') || first.contains(':') || first == "localhost" =>
            {
                check_registry(first)?;
                (first.to_owned(), rest.to_owned())
            }
            _ => (DEFAULT_REGISTRY.to_owned(), name.to_owned()),
        };
        for component in path.split('/') {
            if !is_path_component(component) {
                return Err(ImageRefError::BadName(name.to_owned()));
            }
        }
        let repository = if registry == DEFAULT_REGISTRY && !path.contains('/') {
            format!("library/{path}")
        } else {
            path
        };
        let tag = match (tag, &digest) {
            (None, None) => Some(DEFAULT_TAG.to_owned()),
            (t, _) => t,
        };
        Ok(Self {
            registry,
            repository,
            tag,
            digest,
        })
    }

    /// `registry/repository`, without tag or digest.
    pub fn name(&self) -> String {
        format!("{}/{}", self.registry, self.repository)
    }
}

impl fmt::Display for ImageRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.registry, self.repository)?;
        if let Some(t) = &self.tag {
            write!(f, ":{t}")?;
        }
        if let Some(d) = &self.digest {
            write!(f, "@{d}")?;
        }
        Ok(())
    }
}

fn is_path_component(c: &str) -> bool {
    let b = c.as_bytes();
    let alnum = |x: u8| x.is_ascii_lowercase() || x.is_ascii_digit();
    if b.is_empty() || !alnum(b[0]) || !alnum(b[b.len() - 1]) {
        return false;
    }
    let mut i = 0;
    while i < b.len() {
        if alnum(b[i]) {
            i += 1;
            continue;
        }
        // A separator: '.', '_', '__', or one or more '-'.
        let start = i;
        match b[i] {
            b'.' => i += 1,
            b'_' => {
                i += 1;
                if i < b.len() && b[i] == b'_' {
                    i += 1;
                }
            }
            b'-' => {
                while i < b.len() && b[i] == b'-' {
                    i += 1;
                }
            }
            _ => return false,
        }
        if i == start || i >= b.len() || !alnum(b[i]) {
            return false;
        }
    }
    true
}

fn check_tag(t: &str) -> Result<(), ImageRefError> {
    let b = t.as_bytes();
    let word = |x: u8| x.is_ascii_alphanumeric() || x == b'_';
    let ok = !b.is_empty()
        && b.len() <= 128
        && word(b[0])
        && b[1..].iter().all(|&x| word(x) || x == b'.' || x == b'-');
    if ok {
        Ok(())
    } else {
        Err(ImageRefError::BadTag(t.to_owned()))
    }
}

fn check_digest(d: &str) -> Result<(), ImageRefError> {
    let bad = || ImageRefError::BadDigest(d.to_owned());
    let (alg, hex) = d.split_once(':').ok_or_else(bad)?;
    let alg_ok = alg.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
        && alg
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '.' | '_' | '-'));
    let hex_ok = hex.len() >= 32
        && hex
            .chars()
            .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase());
    if !alg_ok || !hex_ok || (alg == "sha256" && hex.len() != 64) {
        return Err(bad());
    }
    Ok(())
}

fn check_registry(r: &str) -> Result<(), ImageRefError> {
    let (host, port) = match r.rsplit_once(':') {
        Some((h, p)) => (h, Some(p)),
        None => (r, None),
    };
    let host_ok = !host.is_empty()
        && host.split('.').all(|l| {
            !l.is_empty()
                && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
                && !l.starts_with('-')
                && !l.ends_with('-')
        });
    let port_ok = port.is_none_or(|p| p.parse::<u16>().is_ok_and(|n| n > 0));
    if host_ok && port_ok {
        Ok(())
    } else {
        Err(ImageRefError::BadRegistry(r.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn norm(s: &str) -> String {
        ImageRef::parse(s)
            .map(|r| r.to_string())
            .unwrap_or_else(|e| format!("ERR {e}"))
    }

    #[test]
    fn docker_defaults() {
        assert_eq!(norm("busybox"), "docker.io/library/busybox:latest");
        assert_eq!(norm("busybox:1.36"), "docker.io/library/busybox:1.36");
        assert_eq!(norm("user/app"), "docker.io/user/app:latest");
        assert_eq!(norm("localhost:5000/app"), "localhost:5000/app:latest");
        assert_eq!(norm("localhost/app:v1"), "localhost/app:v1");
        assert_eq!(norm("reg.example.com/a/b/c:v2"), "reg.example.com/a/b/c:v2");
        let d = format!("sha256:{}", "a".repeat(64));
        assert_eq!(
            norm(&format!("busybox@{d}")),
            format!("docker.io/library/busybox@{d}")
        );
        assert_eq!(
            norm(&format!("busybox:1@{d}")),
            format!("docker.io/library/busybox:1@{d}")
        );
        assert_eq!(
            norm("a__b.c-d---e"),
            "docker.io/library/a__b.c-d---e:latest"
        );
    }

    #[test]
    fn refused() {
        for bad in [
            "",
            "Busybox",
            "busybox:",
            ":tag",
            "busy box",
            "a//b",
            "a/",
            "/a",
            "a___b",
            "-a",
            "a-",
            "busybox@sha256:abc",
            "busybox:-bad",
            "host:99999/app",
            "a..b",
        ] {
            assert!(ImageRef::parse(bad).is_err(), "{bad:?} should be refused");
        }
        assert!(ImageRef::parse(&format!("a:{}", "t".repeat(129))).is_err());
        assert!(ImageRef::parse(&"a".repeat(256)).is_err());
    }
}
