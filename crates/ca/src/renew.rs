//! Node certificate lifetimes and renewal timing.
//!
//! As in SwarmKit, a node renews its certificate at a random point between 50 % and 80 % of
//! its lifetime, so a cluster whose certificates were issued together does not stampede the
//! CA. The caller supplies the random fraction.

use std::time::{Duration, SystemTime};

use crate::error::{CaError, Result};

/// Default validity of a node certificate: 90 days (SwarmKit's `DefaultNodeCertExpiration`).
pub const DEFAULT_NODE_CERT_VALIDITY: Duration = Duration::from_secs(90 * 24 * 3600);

/// Smallest node certificate validity accepted from user configuration: 1 hour
/// (SwarmKit's `MinNodeCertExpiration`). [`crate::RootCa::sign_node_csr`] does not enforce it,
/// so tests can issue short-lived certificates.
pub const MIN_NODE_CERT_VALIDITY: Duration = Duration::from_secs(3600);

/// Lower bound of the renewal point, as a fraction of the lifetime.
pub const RENEWAL_FRACTION_MIN: f64 = 0.5;
/// Upper bound of the renewal point, as a fraction of the lifetime.
pub const RENEWAL_FRACTION_MAX: f64 = 0.8;

/// When to renew a certificate valid from `not_before` to `not_after`: at `fraction` of its
/// lifetime, with `fraction` (normally uniform random in [0, 1) from the caller) clamped into
/// [0.5, 0.8]. A NaN fraction counts as 0.5. If `not_after` is not after `not_before`, returns
/// `not_before`.
pub fn renewal_at(not_before: SystemTime, not_after: SystemTime, fraction: f64) -> SystemTime {
    let fraction = if fraction.is_nan() {
        RENEWAL_FRACTION_MIN
    } else {
        fraction.clamp(RENEWAL_FRACTION_MIN, RENEWAL_FRACTION_MAX)
    };
    let lifetime = not_after
        .duration_since(not_before)
        .unwrap_or(Duration::ZERO);
    // `fraction` is finite and within [0.5, 0.8], so this cannot overflow or go negative.
    let offset = lifetime.mul_f64(fraction);
    not_before.checked_add(offset).unwrap_or(not_after)
}

/// Checks a user-configured node certificate validity against [`MIN_NODE_CERT_VALIDITY`].
pub fn validate_validity(validity: Duration) -> Result<()> {
    if validity < MIN_NODE_CERT_VALIDITY {
        Err(CaError::ValidityTooShort {
            requested: validity,
            minimum: MIN_NODE_CERT_VALIDITY,
        })
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: Duration = Duration::from_secs(1_700_000_000);

    fn at(secs: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + T0 + Duration::from_secs(secs)
    }

    #[test]
    fn renewal_is_clamped_into_50_to_80_percent() {
        let (nb, na) = (at(0), at(1000));
        assert_eq!(renewal_at(nb, na, 0.0), at(500));
        assert_eq!(renewal_at(nb, na, -3.0), at(500));
        assert_eq!(renewal_at(nb, na, 0.5), at(500));
        assert_eq!(renewal_at(nb, na, 0.6), at(600));
        assert_eq!(renewal_at(nb, na, 0.8), at(800));
        assert_eq!(renewal_at(nb, na, 0.99), at(800));
        assert_eq!(renewal_at(nb, na, f64::INFINITY), at(800));
        assert_eq!(renewal_at(nb, na, f64::NEG_INFINITY), at(500));
        assert_eq!(renewal_at(nb, na, f64::NAN), at(500));
    }

    #[test]
    fn degenerate_lifetime() {
        assert_eq!(renewal_at(at(10), at(10), 0.7), at(10));
        assert_eq!(renewal_at(at(10), at(5), 0.7), at(10));
    }

    #[test]
    fn default_validity_renews_between_45_and_72_days() {
        let nb = at(0);
        let na = nb + DEFAULT_NODE_CERT_VALIDITY;
        let day = 86_400;
        assert_eq!(renewal_at(nb, na, 0.0), at(45 * day));
        assert_eq!(renewal_at(nb, na, 1.0), at(72 * day));
    }

    #[test]
    fn validity_minimum() {
        assert!(validate_validity(DEFAULT_NODE_CERT_VALIDITY).is_ok());
        assert!(validate_validity(MIN_NODE_CERT_VALIDITY).is_ok());
        assert!(matches!(
            validate_validity(Duration::from_secs(3599)),
            Err(CaError::ValidityTooShort { .. })
        ));
    }
}
