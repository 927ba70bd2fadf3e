//! `KEY=VALUE` flag values, shared by every command family: `service create --label/--env`,
//! and the `--label-add` / `--label-rm` pair that `service update` and `node update` both take,
//! checked by [`LabelEdits::parse`] and applied by [`LabelEdits::apply`].

use crate::error::CliError;
use std::collections::BTreeMap;

/// Splits `KEY=VALUE` (a bare `KEY` means an empty value); an empty key is refused.
pub fn parse_kv(flag: &str, s: &str) -> Result<(String, String), CliError> {
    let (k, v) = s.split_once('=').unwrap_or((s, ""));
    if k.is_empty() {
        return Err(CliError::Usage(format!(
            "invalid {flag}: {s:?}: key must not be empty"
        )));
    }
    Ok((k.to_owned(), v.to_owned()))
}

/// Splits `KEY=VALUE` where the `=` is required (`KEY=` sets an empty value); a missing `=` or
/// an empty key is refused, naming `flag`.
pub fn parse_kv_strict(flag: &str, s: &str) -> Result<(String, String), CliError> {
    if !s.contains('=') {
        return Err(CliError::Usage(format!(
            "invalid {flag}: {s:?}: expected KEY=VALUE"
        )));
    }
    parse_kv(flag, s)
}

/// The key of `KEY=VALUE` (or of a bare `KEY`).
pub fn key_of(s: &str) -> &str {
    s.split_once('=').map_or(s, |(k, _)| k)
}

/// Checked `--label-rm` and `--label-add` values, ready to apply to an object's labels.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LabelEdits {
    /// Keys to remove.
    pub remove: Vec<String>,
    /// Labels to add or replace, in the order given.
    pub add: Vec<(String, String)>,
}

impl LabelEdits {
    /// Checks `--label-add KEY=VALUE` (the `=` is required, the key must not be empty) and
    /// `--label-rm KEY` (a `KEY=VALUE` removes `KEY`) values; errors name the flag.
    pub fn parse(add: &[String], remove: &[String]) -> Result<Self, CliError> {
        Ok(Self {
            remove: remove.iter().map(|r| key_of(r).to_owned()).collect(),
            add: add
                .iter()
                .map(|a| parse_kv_strict("--label-add", a))
                .collect::<Result<_, _>>()?,
        })
    }

    /// Applies the edits to `labels`: removals first, then additions, as `service update` has
    /// always done; removing a key that is not there is not an error.
    pub fn apply(&self, labels: &mut BTreeMap<String, String>) {
        for k in &self.remove {
            labels.remove(k);
        }
        for (k, v) in &self.add {
            labels.insert(k.clone(), v.clone());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn key_values() {
        assert_eq!(
            parse_kv("--label", "a=b=c").ok(),
            Some(("a".to_owned(), "b=c".to_owned()))
        );
        assert_eq!(
            parse_kv("--label", "a").ok(),
            Some(("a".to_owned(), String::new()))
        );
        assert!(parse_kv("--label", "=x").is_err());
        assert_eq!(
            parse_kv_strict("--label-add", "a=").ok(),
            Some(("a".to_owned(), String::new()))
        );
        assert_eq!(key_of("A=1"), "A");
        assert_eq!(key_of("A"), "A");
    }

    #[test]
    fn label_edits_apply_removals_then_additions() {
        let edits = LabelEdits::parse(&strings(&["zone=a", "old=2"]), &strings(&["old", "gone=x"]))
            .expect("parses");
        let mut labels = BTreeMap::from([
            ("old".to_owned(), "1".to_owned()),
            ("gone".to_owned(), "1".to_owned()),
            ("kept".to_owned(), "1".to_owned()),
        ]);
        edits.apply(&mut labels);
        assert_eq!(
            labels,
            BTreeMap::from([
                ("kept".to_owned(), "1".to_owned()),
                ("old".to_owned(), "2".to_owned()),
                ("zone".to_owned(), "a".to_owned()),
            ])
        );
    }

    #[test]
    fn bad_label_add_names_the_flag() {
        for bad in ["novalue", "=x", "="] {
            match LabelEdits::parse(&strings(&[bad]), &[]) {
                Err(CliError::Usage(m)) => {
                    assert!(m.starts_with("invalid --label-add: "), "{bad}: {m}");
                }
                other => panic!("{bad}: expected a usage error, got {other:?}"),
            }
        }
    }
}
