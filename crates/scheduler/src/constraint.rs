//! Placement constraints: `KEY==VALUE` and `KEY!=VALUE` expressions, parsed once and matched
//! against nodes.
//!
//! Which constraints are accepted is decided by the model's
//! [`check_constraint`](flotilla_model::service::check_constraint), the same check that
//! validated the service spec, so the scheduler never accepts or refuses a constraint the
//! Control API did not. Keys: `node.id`, `node.hostname`, `node.role`, `node.platform.os`,
//! `node.platform.arch` and `node.labels.<key>`.
//!
//! Matching follows Docker: values are compared case-insensitively, label keys
//! case-sensitively, and a node without the label (or without a hostname) compares as the empty
//! string, so `node.labels.zone!=a` holds on a node with no `zone` label and `==` never does.

use flotilla_model::Node;
use flotilla_model::service::check_constraint;
use std::fmt;

/// The node attribute a constraint tests.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ConstraintKey {
    /// `node.id`.
    NodeId,
    /// `node.hostname`.
    Hostname,
    /// `node.role` (`manager` or `worker`), the role in the node's spec.
    Role,
    /// `node.platform.os`.
    PlatformOs,
    /// `node.platform.arch`.
    PlatformArch,
    /// `node.labels.<key>`, holding the label key (case-sensitive).
    NodeLabel(String),
}

impl fmt::Display for ConstraintKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConstraintKey::NodeId => f.write_str("node.id"),
            ConstraintKey::Hostname => f.write_str("node.hostname"),
            ConstraintKey::Role => f.write_str("node.role"),
            ConstraintKey::PlatformOs => f.write_str("node.platform.os"),
            ConstraintKey::PlatformArch => f.write_str("node.platform.arch"),
            ConstraintKey::NodeLabel(label) => write!(f, "node.labels.{label}"),
        }
    }
}

/// How the node's value is compared with the constraint's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Operator {
    /// `==`: the values are equal, ignoring case.
    Eq,
    /// `!=`: the values differ, ignoring case.
    NotEq,
}

impl Operator {
    /// The operator as written: `==` or `!=`.
    pub fn as_str(self) -> &'static str {
        match self {
            Operator::Eq => "==",
            Operator::NotEq => "!=",
        }
    }
}

/// One parsed placement constraint.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Constraint {
    /// What is tested.
    pub key: ConstraintKey,
    /// Equal or not equal.
    pub operator: Operator,
    /// The value compared with, trimmed of surrounding whitespace.
    pub value: String,
}

/// A constraint that could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("placement constraint {constraint:?} is invalid: {reason}")]
pub struct ConstraintError {
    /// The constraint as written.
    pub constraint: String,
    /// Why it was refused.
    pub reason: String,
}

impl Constraint {
    /// Parses `KEY==VALUE` or `KEY!=VALUE`, accepting exactly what the model's validation
    /// accepts.
    pub fn parse(text: &str) -> Result<Self, ConstraintError> {
        let invalid = |reason: String| ConstraintError {
            constraint: text.to_owned(),
            reason,
        };
        check_constraint("constraint", text).map_err(|e| {
            // The model's reasons sometimes start by quoting the constraint; we quote it already.
            let quoted = format!("{text:?}: ");
            let reason = e
                .reason
                .strip_prefix(quoted.as_str())
                .map_or_else(|| e.reason.clone(), str::to_owned);
            invalid(reason)
        })?;
        let (key, operator, value) = if let Some((k, v)) = text.split_once("==") {
            (k.trim(), Operator::Eq, v.trim())
        } else if let Some((k, v)) = text.split_once("!=") {
            (k.trim(), Operator::NotEq, v.trim())
        } else {
            return Err(invalid("expected KEY==VALUE or KEY!=VALUE".to_owned()));
        };
        let key = match key {
            "node.id" => ConstraintKey::NodeId,
            "node.hostname" => ConstraintKey::Hostname,
            "node.role" => ConstraintKey::Role,
            "node.platform.os" => ConstraintKey::PlatformOs,
            "node.platform.arch" => ConstraintKey::PlatformArch,
            other => match other.strip_prefix("node.labels.") {
                Some(label) if !label.is_empty() => ConstraintKey::NodeLabel(label.to_owned()),
                _ => return Err(invalid(format!("unknown constraint key {other:?}"))),
            },
        };
        Ok(Self {
            key,
            operator,
            value: value.to_owned(),
        })
    }

    /// Parses every constraint of a placement; the first invalid one is the error.
    pub fn parse_all<S: AsRef<str>>(texts: &[S]) -> Result<Vec<Self>, ConstraintError> {
        texts.iter().map(|t| Self::parse(t.as_ref())).collect()
    }

    /// The node's value for this constraint's key; missing values are the empty string.
    fn node_value<'a>(&self, node: &'a Node) -> &'a str {
        match &self.key {
            ConstraintKey::NodeId => node.id.as_str(),
            ConstraintKey::Hostname => node.description.hostname.as_str(),
            ConstraintKey::Role => node.spec.role.name(),
            ConstraintKey::PlatformOs => node.description.platform.os.as_str(),
            ConstraintKey::PlatformArch => node.description.platform.architecture.as_str(),
            ConstraintKey::NodeLabel(label) => {
                node.spec.labels.get(label).map_or("", String::as_str)
            }
        }
    }

    /// Whether `node` satisfies this constraint.
    pub fn matches(&self, node: &Node) -> bool {
        let equal = equal_ignoring_case(self.node_value(node), &self.value);
        match self.operator {
            Operator::Eq => equal,
            Operator::NotEq => !equal,
        }
    }
}

impl fmt::Display for Constraint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{}{}", self.key, self.operator.as_str(), self.value)
    }
}

/// Whether `node` satisfies every constraint (constraints are AND-ed; none means any node).
pub fn all_match(constraints: &[Constraint], node: &Node) -> bool {
    constraints.iter().all(|c| c.matches(node))
}

/// Parses `constraint` and tells whether `node` satisfies it.
pub fn constraint_matches(constraint: &str, node: &Node) -> Result<bool, ConstraintError> {
    Ok(Constraint::parse(constraint)?.matches(node))
}

/// Case-insensitive equality, Unicode-aware like Go's `strings.EqualFold` for the cases that
/// matter here.
fn equal_ignoring_case(a: &str, b: &str) -> bool {
    if a.is_ascii() && b.is_ascii() {
        a.eq_ignore_ascii_case(b)
    } else {
        a.to_lowercase() == b.to_lowercase()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::node;
    use flotilla_model::NodeRole;

    fn holds(c: &str, n: &Node) -> bool {
        constraint_matches(c, n).expect("constraint parses")
    }

    #[test]
    fn parses_keys_operators_and_trims() {
        let c = Constraint::parse(" node.labels.zone == east ").expect("valid");
        assert_eq!(c.key, ConstraintKey::NodeLabel("zone".into()));
        assert_eq!(c.operator, Operator::Eq);
        assert_eq!(c.value, "east");
        assert_eq!(c.to_string(), "node.labels.zone==east");

        let c = Constraint::parse("node.role!=manager").expect("valid");
        assert_eq!(c.key, ConstraintKey::Role);
        assert_eq!(c.operator, Operator::NotEq);

        for (text, key) in [
            ("node.id==x", ConstraintKey::NodeId),
            ("node.hostname==x", ConstraintKey::Hostname),
            ("node.platform.os==linux", ConstraintKey::PlatformOs),
            ("node.platform.arch==x86_64", ConstraintKey::PlatformArch),
        ] {
            assert_eq!(Constraint::parse(text).expect("valid").key, key, "{text}");
        }
    }

    #[test]
    fn refuses_what_the_model_refuses() {
        for bad in [
            "node.colour==red",
            "node.labels.==x",
            "node.labels.zone",
            "node.labels.zone==",
            "node.role==boss",
            "engine.labels.x==y",
            "",
        ] {
            let err = Constraint::parse(bad).expect_err(bad);
            assert_eq!(err.constraint, bad);
            assert!(!err.reason.is_empty());
            assert!(
                flotilla_model::service::check_constraint("f", bad).is_err(),
                "model accepts {bad:?}"
            );
        }
        let err = Constraint::parse("node.colour==red").expect_err("unknown key");
        assert!(err.to_string().contains("node.colour"), "{err}");
        assert!(Constraint::parse_all(&["node.role==worker", "nope"]).is_err());
        assert_eq!(
            Constraint::parse_all(&["node.role==worker", "node.id!=a"])
                .expect("valid")
                .len(),
            2
        );
    }

    #[test]
    fn id_hostname_role_platform() {
        let mut n = node("n1", "host-a");
        assert!(holds("node.id==n1", &n));
        assert!(!holds("node.id!=n1", &n));
        assert!(holds("node.id!=n2", &n));
        assert!(holds("node.hostname==host-a", &n));
        assert!(!holds("node.hostname==host-b", &n));
        assert!(holds("node.hostname!=host-b", &n));
        assert!(holds("node.role==worker", &n));
        assert!(!holds("node.role==manager", &n));
        assert!(holds("node.role!=manager", &n));
        n.spec.role = NodeRole::Manager;
        assert!(holds("node.role==manager", &n));
        assert!(holds("node.platform.os==linux", &n));
        assert!(holds("node.platform.arch==x86_64", &n));
        assert!(!holds("node.platform.arch==aarch64", &n));
    }

    #[test]
    fn labels_and_missing_labels() {
        let mut n = node("n1", "h");
        n.spec.labels.insert("zone".into(), "east".into());
        assert!(holds("node.labels.zone==east", &n));
        assert!(!holds("node.labels.zone!=east", &n));
        assert!(holds("node.labels.zone!=west", &n));
        // A missing label compares as the empty string.
        assert!(!holds("node.labels.disk==ssd", &n));
        assert!(holds("node.labels.disk!=ssd", &n));
        // Label keys are case-sensitive.
        assert!(!holds("node.labels.Zone==east", &n));
    }

    #[test]
    fn values_ignore_case() {
        let mut n = node("n1", "Host-A");
        n.spec.labels.insert("zone".into(), "East".into());
        assert!(holds("node.hostname==host-a", &n));
        assert!(holds("node.hostname==HOST-A", &n));
        assert!(holds("node.labels.zone==EAST", &n));
        assert!(!holds("node.labels.zone!=east", &n));
        assert!(holds("node.id==N1", &n));
        assert!(holds("node.platform.os==Linux", &n));
    }

    #[test]
    fn constraints_are_anded() {
        let mut n = node("n1", "h");
        n.spec.labels.insert("zone".into(), "east".into());
        let cs =
            Constraint::parse_all(&["node.labels.zone==east", "node.role==worker"]).expect("valid");
        assert!(all_match(&cs, &n));
        let cs = Constraint::parse_all(&["node.labels.zone==east", "node.role==manager"])
            .expect("valid");
        assert!(!all_match(&cs, &n));
        assert!(all_match(&[], &n));
    }
}
