//! Identifier newtypes.
//!
//! Ids look like Docker's: 25 characters of lowercase base-36, derived from 128 random bits the
//! caller supplies (this crate reads no randomness itself). Each object kind has its own type so a
//! task id can never be passed where a node id is wanted.

use serde::{Deserialize, Serialize};
use std::fmt;

/// Length of a generated id in characters.
pub const ID_LEN: usize = 25;

const ALPHABET: &[u8; 36] = b"0123456789abcdefghijklmnopqrstuvwxyz";

/// Encodes 128 random bits as a 25-character base-36 string.
pub fn encode_id(mut bits: u128) -> String {
    let mut out = [b'0'; ID_LEN];
    for slot in out.iter_mut().rev() {
        // `bits % 36` is below 36, so the index is in range.
        *slot = ALPHABET[(bits % 36) as usize];
        bits /= 36;
    }
    out.iter().map(|&b| b as char).collect()
}

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, Default)]
        #[serde(transparent)]
        pub struct $name(pub String);

        impl $name {
            /// Makes a fresh id from 128 caller-supplied random bits.
            pub fn from_random(bits: u128) -> Self {
                Self(encode_id(bits))
            }
            /// The id as a string slice.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl From<&str> for $name {
            fn from(s: &str) -> Self {
                Self(s.to_owned())
            }
        }

        impl From<String> for $name {
            fn from(s: String) -> Self {
                Self(s)
            }
        }
    };
}

id_type!(
    /// Identifies the cluster.
    ClusterId
);
id_type!(
    /// Identifies a node (manager or worker).
    NodeId
);
id_type!(
    /// Identifies a service.
    ServiceId
);
id_type!(
    /// Identifies a task.
    TaskId
);
id_type!(
    /// Identifies a network.
    NetworkId
);
id_type!(
    /// Identifies a secret.
    SecretId
);
id_type!(
    /// Identifies a config.
    ConfigId
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_25_lowercase_base36_chars() {
        for bits in [
            0u128,
            1,
            u128::MAX,
            0x1234_5678_9abc_def0_1122_3344_5566_7788,
        ] {
            let id = encode_id(bits);
            assert_eq!(id.len(), ID_LEN);
            assert!(
                id.bytes()
                    .all(|b| b.is_ascii_digit() || b.is_ascii_lowercase())
            );
        }
        assert_ne!(encode_id(1), encode_id(2));
        assert_eq!(encode_id(0), "0".repeat(ID_LEN));
    }
}
