//! Secrets and configs: small blobs handed to tasks as files.

use crate::meta::Meta;
use crate::validate::{ValidationError, check_labels, check_name};
use crate::{ConfigId, SecretId};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Largest secret accepted (Docker's limit: under 500 KiB).
pub const MAX_SECRET_SIZE: usize = 500 * 1024;
/// Largest config accepted (Docker's limit: under 1000 KiB).
pub const MAX_CONFIG_SIZE: usize = 1000 * 1024;

/// A stored secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Secret {
    /// Its id.
    pub id: SecretId,
    /// Version and timestamps.
    pub meta: Meta,
    /// Name, labels and data.
    pub spec: SecretSpec,
}

/// A secret's content.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct SecretSpec {
    /// Unique name.
    pub name: String,
    /// Labels.
    pub labels: BTreeMap<String, String>,
    /// The secret bytes.
    pub data: Vec<u8>,
}

/// A stored config.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Config {
    /// Its id.
    pub id: ConfigId,
    /// Version and timestamps.
    pub meta: Meta,
    /// Name, labels and data.
    pub spec: ConfigSpec,
}

/// A config's content.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct ConfigSpec {
    /// Unique name.
    pub name: String,
    /// Labels.
    pub labels: BTreeMap<String, String>,
    /// The config bytes.
    pub data: Vec<u8>,
}

fn check_blob(
    name: &str,
    labels: &BTreeMap<String, String>,
    len: usize,
    max: usize,
) -> Result<(), ValidationError> {
    check_name("spec.name", name)?;
    check_labels("spec.labels", labels)?;
    if len == 0 || len >= max {
        return Err(ValidationError::new(
            "spec.data",
            format!("must be 1 to {} bytes", max - 1),
        ));
    }
    Ok(())
}

impl SecretSpec {
    /// Checks the spec.
    pub fn validate(&self) -> Result<(), ValidationError> {
        check_blob(&self.name, &self.labels, self.data.len(), MAX_SECRET_SIZE)
    }
}

impl ConfigSpec {
    /// Checks the spec.
    pub fn validate(&self) -> Result<(), ValidationError> {
        check_blob(&self.name, &self.labels, self.data.len(), MAX_CONFIG_SIZE)
    }
}
