//! Join tokens: `FLT-1-<root CA digest: 64 lowercase hex>-<secret: 25 lowercase base36>`.
//!
//! Like SwarmKit's `SWMTKN-1-…`: the digest lets a joining node authenticate the root CA it
//! downloads over an unauthenticated TLS channel (trust on first use, pinned by the token);
//! the secret proves to the CA that the joiner was invited, and which role it may get
//! (managers and workers have distinct tokens sharing the digest).

use std::fmt;
use std::str::FromStr;

use crate::error::{CaError, Result};
use crate::root::RootCa;

/// Prefix of every flotilla join token.
pub const TOKEN_PREFIX: &str = "FLT";
/// Current token format version.
pub const TOKEN_VERSION: &str = "1";
/// Length of the digest part (hex SHA-256).
pub const DIGEST_LEN: usize = 64;
/// Length of the secret part (a `u128` in base36 needs at most 25 digits).
pub const SECRET_LEN: usize = 25;

const BASE36: &[u8; 36] = b"0123456789abcdefghijklmnopqrstuvwxyz";

/// A parsed join token. `Display` gives the string form; `Debug` hides the secret.
#[derive(Clone, PartialEq, Eq)]
pub struct JoinToken {
    /// Lowercase hex SHA-256 of the root CA certificate (see [`RootCa::digest`]).
    pub ca_digest: String,
    /// The secret: 25 lowercase base36 characters.
    pub secret: String,
}

impl JoinToken {
    /// Builds a token for the root CA with digest `ca_digest` (pass [`RootCa::digest`]) from
    /// 128 random bits supplied by the caller.
    pub fn generate(ca_digest: &str, secret_bits: u128) -> JoinToken {
        let mut secret = [b'0'; SECRET_LEN];
        let mut rest = secret_bits;
        for slot in secret.iter_mut().rev() {
            // `rest % 36` < 36, so the index is in bounds.
            *slot = BASE36[(rest % 36) as usize];
            rest /= 36;
        }
        JoinToken {
            ca_digest: ca_digest.to_owned(),
            secret: secret.iter().map(|b| char::from(*b)).collect(),
        }
    }

    /// Compares `other` with this token's secret in constant time (for equal lengths; the
    /// length itself is public). Use it on the CA side to check a presented secret against
    /// the worker and the manager token.
    pub fn matches_secret(&self, other: &str) -> bool {
        let ours = self.secret.as_bytes();
        let theirs = other.as_bytes();
        if ours.len() != theirs.len() {
            return false;
        }
        let diff = ours
            .iter()
            .zip(theirs)
            .fold(0u8, |acc, (a, b)| acc | (a ^ b));
        std::hint::black_box(diff) == 0
    }

    /// Checks that `root` (typically just downloaded over the bootstrap channel) is the root
    /// CA this token pins. Call it before sending the secret anywhere.
    pub fn check_root(&self, root: &RootCa) -> Result<()> {
        if root.digest() == self.ca_digest {
            Ok(())
        } else {
            Err(CaError::RootDigestMismatch {
                expected: self.ca_digest.clone(),
                actual: root.digest(),
            })
        }
    }
}

impl fmt::Display for JoinToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{TOKEN_PREFIX}-{TOKEN_VERSION}-{}-{}",
            self.ca_digest, self.secret
        )
    }
}

impl fmt::Debug for JoinToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JoinToken")
            .field("ca_digest", &self.ca_digest)
            .field("secret", &"[redacted]")
            .finish()
    }
}

impl FromStr for JoinToken {
    type Err = CaError;

    /// Parses `FLT-1-<digest>-<secret>` (surrounding whitespace is ignored).
    fn from_str(s: &str) -> Result<JoinToken> {
        let bad = |msg: String| CaError::BadToken(msg);
        let s = s.trim();
        let mut parts = s.split('-');

        let prefix = parts.next().unwrap_or_default();
        if prefix != TOKEN_PREFIX {
            return Err(bad(format!(
                "prefix must be {TOKEN_PREFIX:?}, found {:?}",
                truncate(prefix)
            )));
        }

        let version = parts
            .next()
            .ok_or_else(|| bad("missing version after the prefix".to_owned()))?;
        if version != TOKEN_VERSION {
            return Err(bad(format!(
                "unsupported version {:?} (expected {TOKEN_VERSION:?})",
                truncate(version)
            )));
        }

        let digest = parts
            .next()
            .ok_or_else(|| bad("missing root CA digest".to_owned()))?;
        if digest.len() != DIGEST_LEN {
            return Err(bad(format!(
                "root CA digest must be {DIGEST_LEN} characters, found {}",
                digest.len()
            )));
        }
        if !digest
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        {
            return Err(bad(
                "root CA digest must be lowercase hexadecimal (0-9, a-f)".to_owned(),
            ));
        }

        let secret = parts
            .next()
            .ok_or_else(|| bad("missing secret".to_owned()))?;
        if secret.len() != SECRET_LEN {
            return Err(bad(format!(
                "secret must be {SECRET_LEN} characters, found {}",
                secret.len()
            )));
        }
        if !secret
            .bytes()
            .all(|b| b.is_ascii_digit() || b.is_ascii_lowercase())
        {
            return Err(bad("secret must be lowercase base36 (0-9, a-z)".to_owned()));
        }

        if parts.next().is_some() {
            return Err(bad("unexpected data after the secret".to_owned()));
        }

        Ok(JoinToken {
            ca_digest: digest.to_owned(),
            secret: secret.to_owned(),
        })
    }
}

/// Keeps error messages short when echoing user input.
fn truncate(s: &str) -> String {
    s.chars().take(16).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const DIGEST: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    fn err_of(s: &str) -> String {
        match s.parse::<JoinToken>() {
            Err(CaError::BadToken(msg)) => msg,
            other => panic!("expected BadToken for {s:?}, got {other:?}"),
        }
    }

    #[test]
    fn generate_format_parse_round_trip() {
        for bits in [0u128, 1, 35, 36, 0xdead_beef, u128::MAX] {
            let t = JoinToken::generate(DIGEST, bits);
            assert_eq!(t.secret.len(), SECRET_LEN);
            let s = t.to_string();
            assert!(s.starts_with("FLT-1-"));
            assert_eq!(s.len(), 4 + 2 + 64 + 1 + 25);
            let back: JoinToken = s.parse().unwrap();
            assert_eq!(back, t);
        }
        assert_eq!(JoinToken::generate(DIGEST, 0).secret, "0".repeat(25));
        assert_eq!(
            JoinToken::generate(DIGEST, 35).secret,
            format!("{}z", "0".repeat(24))
        );
        assert_eq!(
            JoinToken::generate(DIGEST, 36).secret,
            format!("{}10", "0".repeat(23))
        );
        // u128::MAX in base36 is 25 digits starting with 'f'.
        assert!(
            JoinToken::generate(DIGEST, u128::MAX)
                .secret
                .starts_with('f')
        );
        assert_ne!(
            JoinToken::generate(DIGEST, 1).secret,
            JoinToken::generate(DIGEST, 2).secret
        );
    }

    #[test]
    fn whitespace_is_trimmed() {
        let t = JoinToken::generate(DIGEST, 42);
        let parsed: JoinToken = format!("  {t}\n").parse().unwrap();
        assert_eq!(parsed, t);
    }

    #[test]
    fn malformed_tokens_name_the_bad_part() {
        let secret = "a".repeat(25);
        assert!(err_of(&format!("SWMTKN-1-{DIGEST}-{secret}")).contains("prefix"));
        assert!(err_of("").contains("prefix"));
        assert!(err_of("flt-1-x-y").contains("prefix"));
        assert!(err_of("FLT").contains("missing version"));
        assert!(err_of(&format!("FLT-2-{DIGEST}-{secret}")).contains("version"));
        assert!(err_of("FLT-1").contains("missing root CA digest"));
        assert!(err_of(&format!("FLT-1-{}-{secret}", &DIGEST[1..])).contains("64 characters"));
        assert!(err_of(&format!("FLT-1-{DIGEST}0-{secret}")).contains("64 characters"));
        assert!(
            err_of(&format!("FLT-1-{}-{secret}", DIGEST.to_uppercase())).contains("hexadecimal")
        );
        assert!(err_of(&format!("FLT-1-{}g-{secret}", &DIGEST[1..])).contains("hexadecimal"));
        assert!(err_of(&format!("FLT-1-{DIGEST}")).contains("missing secret"));
        assert!(err_of(&format!("FLT-1-{DIGEST}-{}", &secret[1..])).contains("25 characters"));
        assert!(err_of(&format!("FLT-1-{DIGEST}-{secret}a")).contains("25 characters"));
        assert!(err_of(&format!("FLT-1-{DIGEST}-{}", secret.to_uppercase())).contains("base36"));
        assert!(err_of(&format!("FLT-1-{DIGEST}-{}_", &secret[1..])).contains("base36"));
        assert!(err_of(&format!("FLT-1-{DIGEST}-{secret}-x")).contains("after the secret"));
    }

    #[test]
    fn secret_comparison() {
        let t = JoinToken::generate(DIGEST, 12345);
        assert!(t.matches_secret(&t.secret));
        let other = JoinToken::generate(DIGEST, 12346);
        assert!(!t.matches_secret(&other.secret));
        assert!(!t.matches_secret(""));
        assert!(!t.matches_secret(&t.secret[1..]));
        assert!(!t.matches_secret(&format!("{}0", t.secret)));
    }

    #[test]
    fn debug_hides_secret() {
        let t = JoinToken::generate(DIGEST, 987_654_321);
        let dbg = format!("{t:?}");
        assert!(!dbg.contains(&t.secret));
        assert!(dbg.contains("redacted"));
    }

    #[test]
    fn check_root_pins_the_digest() {
        let now = std::time::SystemTime::now();
        let root = RootCa::generate("c1", now).unwrap();
        let other = RootCa::generate("c1", now).unwrap();
        let t = JoinToken::generate(&root.digest(), 7);
        assert!(t.check_root(&root).is_ok());
        assert!(matches!(
            t.check_root(&other).unwrap_err(),
            CaError::RootDigestMismatch { .. }
        ));
    }
}
