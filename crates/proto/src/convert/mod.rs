//! Conversions between the domain model ([`flotilla_model`]) and the wire messages ([`crate::pb`]).
//!
//! Model to wire is `From` and cannot fail. Wire to model is `TryFrom` with [`ConvertError`]:
//! prost makes every message field optional and every enum an `i32`, so a missing required
//! sub-message or an unknown enum value is refused, naming the field by its dotted path from the
//! converted message (`spec.task_template.container_spec.mounts[0].kind`).
//!
//! Durations travel as whole nanoseconds (`u64`, saturating beyond about 584 years) and
//! timestamps as nanoseconds since the epoch.
//!
//! One file per message family: [`service`], [`task`], [`node`], [`cluster`], [`network`],
//! [`secret`] (secrets and configs) and [`object`]; [`Meta`] lives here, as every object has one.

use crate::pb;
use flotilla_model::{Meta, Timestamp, Version};
use std::fmt;
use std::time::Duration;

/// Implements `From` both ways between a model enum and its generated wire enum, variant by
/// variant. Only for wire enums without an `UNSPECIFIED` value, so both directions are total.
macro_rules! enum_map {
    ($model:ident <=> $wire:ident { $($m:ident <=> $w:ident),+ $(,)? }) => {
        impl From<flotilla_model::$model> for $crate::pb::$wire {
            fn from(v: flotilla_model::$model) -> Self {
                match v {
                    $(flotilla_model::$model::$m => $crate::pb::$wire::$w,)+
                }
            }
        }

        impl From<$crate::pb::$wire> for flotilla_model::$model {
            fn from(v: $crate::pb::$wire) -> Self {
                match v {
                    $($crate::pb::$wire::$w => flotilla_model::$model::$m,)+
                }
            }
        }
    };
}

pub mod cluster;
pub mod network;
pub mod node;
pub mod object;
pub mod secret;
pub mod service;
pub mod task;

/// A wire message that does not make a valid model value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {reason}")]
pub struct ConvertError {
    /// Dotted path of the offending field from the converted message, e.g. `spec.mode`.
    pub field: String,
    /// What is wrong with it.
    pub reason: String,
}

impl ConvertError {
    /// An error about `field`.
    pub fn new(field: impl Into<String>, reason: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            reason: reason.into(),
        }
    }

    /// A required field (a sub-message or a oneof) that is absent.
    pub fn missing(field: impl Into<String>) -> Self {
        Self::new(field, "is required")
    }

    /// An enum field holding a value the enum does not define.
    pub fn unknown_enum(field: impl Into<String>, value: i32) -> Self {
        Self::new(field, format!("unknown enum value {value}"))
    }

    /// Places the error under `prefix`: `mode` at `spec` becomes `spec.mode`; an error about the
    /// message itself (empty field) becomes `spec`.
    #[must_use]
    pub fn at(mut self, prefix: impl fmt::Display) -> Self {
        self.field = if self.field.is_empty() {
            prefix.to_string()
        } else {
            format!("{prefix}.{}", self.field)
        };
        self
    }
}

impl From<ConvertError> for tonic::Status {
    fn from(e: ConvertError) -> Self {
        tonic::Status::invalid_argument(e.to_string())
    }
}

/// A duration as whole nanoseconds, saturating at `u64::MAX` (about 584 years).
pub fn duration_to_ns(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

/// Nanoseconds as a duration.
pub fn ns_to_duration(ns: u64) -> Duration {
    Duration::from_nanos(ns)
}

/// Converts a required sub-message; absent or invalid ones are errors under `field`.
pub fn required<P, M>(value: Option<P>, field: &str) -> Result<M, ConvertError>
where
    M: TryFrom<P, Error = ConvertError>,
{
    match value {
        Some(p) => M::try_from(p).map_err(|e| e.at(field)),
        None => Err(ConvertError::missing(field)),
    }
}

/// Converts an optional sub-message; an invalid one is an error under `field`.
pub fn optional<P, M>(value: Option<P>, field: &str) -> Result<Option<M>, ConvertError>
where
    M: TryFrom<P, Error = ConvertError>,
{
    value
        .map(|p| M::try_from(p).map_err(|e| e.at(field)))
        .transpose()
}

/// Converts a repeated sub-message; an invalid element is an error under `field[i]`.
pub fn repeated<P, M>(values: Vec<P>, field: &str) -> Result<Vec<M>, ConvertError>
where
    M: TryFrom<P, Error = ConvertError>,
{
    values
        .into_iter()
        .enumerate()
        .map(|(i, p)| M::try_from(p).map_err(|e| e.at(format!("{field}[{i}]"))))
        .collect()
}

/// Decodes a wire enum from its `i32` field; values the enum does not define are errors.
pub fn enum_value<E: TryFrom<i32>>(value: i32, field: &str) -> Result<E, ConvertError> {
    E::try_from(value).map_err(|_| ConvertError::unknown_enum(field, value))
}

impl From<Meta> for pb::Meta {
    fn from(m: Meta) -> Self {
        Self {
            version: m.version.0,
            created_at_ns: m.created_at.as_nanos(),
            updated_at_ns: m.updated_at.as_nanos(),
        }
    }
}

impl TryFrom<pb::Meta> for Meta {
    type Error = ConvertError;

    fn try_from(p: pb::Meta) -> Result<Self, ConvertError> {
        Ok(Self {
            version: Version(p.version),
            created_at: Timestamp(p.created_at_ns),
            updated_at: Timestamp(p.updated_at_ns),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_paths_nest() {
        let e = ConvertError::missing("mode").at("spec");
        assert_eq!(e.field, "spec.mode");
        let e = ConvertError::missing("").at("mode").at("spec");
        assert_eq!(e.field, "spec.mode");
        assert_eq!(e.to_string(), "spec.mode: is required");
    }

    #[test]
    fn durations_saturate() {
        assert_eq!(duration_to_ns(Duration::from_millis(1500)), 1_500_000_000);
        assert_eq!(duration_to_ns(Duration::MAX), u64::MAX);
        assert_eq!(ns_to_duration(1_500_000_000), Duration::from_millis(1500));
    }

    #[test]
    fn unknown_enum_values_are_named() {
        let e = enum_value::<pb::NodeRole>(42, "spec.role").expect_err("42 is not a role");
        assert_eq!(e.field, "spec.role");
    }
}
