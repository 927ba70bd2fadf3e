//! Validation errors and the naming rules shared by every object kind.
//!
//! A [`ValidationError`] always names the offending field with the path a user would write
//! (`spec.mode.replicated.replicas`, `spec.task_template.container_spec.env[2]`), so the CLI can
//! print it as is.

use std::collections::BTreeMap;
use std::fmt;

/// A spec was refused; `field` says where and `reason` says why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, serde::Serialize, serde::Deserialize)]
#[error("invalid {field}: {reason}")]
pub struct ValidationError {
    /// Dotted path of the offending field.
    pub field: String,
    /// Human-readable reason.
    pub reason: String,
}

impl ValidationError {
    /// Builds an error for `field` with `reason`.
    pub fn new(field: impl fmt::Display, reason: impl fmt::Display) -> Self {
        Self {
            field: field.to_string(),
            reason: reason.to_string(),
        }
    }
}

/// Longest object name accepted (a DNS label).
pub const MAX_NAME_LEN: usize = 63;

/// Checks an object name the way Docker does: non-empty, at most 63 characters, starting with an
/// ASCII letter or digit, then letters, digits, `-`, `_` or `.`.
pub fn check_name(field: &str, name: &str) -> Result<(), ValidationError> {
    if name.is_empty() {
        return Err(ValidationError::new(field, "must not be empty"));
    }
    if name.len() > MAX_NAME_LEN {
        return Err(ValidationError::new(
            field,
            format!("{name:?} is longer than {MAX_NAME_LEN} characters"),
        ));
    }
    let mut chars = name.chars();
    let first_ok = chars.next().is_some_and(|c| c.is_ascii_alphanumeric());
    if !first_ok || !chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')) {
        return Err(ValidationError::new(
            field,
            format!("{name:?}: only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed"),
        ));
    }
    Ok(())
}

/// Checks label keys: non-empty, no whitespace, no `=`, at most 255 bytes.
pub fn check_labels(field: &str, labels: &BTreeMap<String, String>) -> Result<(), ValidationError> {
    for key in labels.keys() {
        if key.is_empty() {
            return Err(ValidationError::new(field, "label key must not be empty"));
        }
        if key.len() > 255
            || key
                .chars()
                .any(|c| c.is_whitespace() || c == '=' || c.is_control())
        {
            return Err(ValidationError::new(
                format!("{field}[{key:?}]"),
                "label key must be at most 255 bytes without whitespace, control characters or '='",
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert!(check_name("name", "web").is_ok());
        assert!(check_name("name", "web-1.a_b").is_ok());
        let e = check_name("spec.name", "").expect_err("empty name is refused");
        assert_eq!(e.field, "spec.name");
        assert!(check_name("name", "-web").is_err());
        assert!(check_name("name", "we b").is_err());
        assert!(check_name("name", &"a".repeat(64)).is_err());
        assert!(check_name("name", &"a".repeat(63)).is_ok());
    }
}
