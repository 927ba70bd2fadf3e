//! `--mount` values in Docker's CSV syntax (`type=bind,source=/srv,target=/data,readonly`), as
//! `service create --mount` and `service update --mount-add` take them, and the
//! `--mount-add` / `--mount-rm TARGET` edits of `service update`.
//!
//! Keys: `type` (`volume`, the default, `bind` or `tmpfs`), `source`/`src`, `target`/`dst`/
//! `destination` and `readonly`/`ro` (bare, or `=true|false|1|0`…, Go's booleans). Docker's
//! other keys (`volume-driver`, `bind-propagation`, `tmpfs-size`, …) are refused as not
//! supported rather than dropped. A field may be double-quoted to hold a comma, as in CSV.

use crate::error::CliError;
use flotilla_model::{Mount, MountType};

/// Docker mount keys that flotilla does not support yet.
const UNSUPPORTED_KEYS: [&str; 11] = [
    "consistency",
    "bind-propagation",
    "bind-nonrecursive",
    "bind-recursive",
    "volume-nocopy",
    "volume-label",
    "volume-driver",
    "volume-opt",
    "volume-subpath",
    "tmpfs-size",
    "tmpfs-mode",
];

/// Parses one `--mount` value; errors name `flag` and say what is wrong.
pub fn parse_mount(flag: &str, s: &str) -> Result<Mount, CliError> {
    let bad = |reason: String| CliError::Usage(format!("invalid {flag}: {s:?}: {reason}"));
    let fields = csv_fields(s).map_err(bad)?;
    let mut kind = MountType::Volume;
    let mut source = String::new();
    let mut target = String::new();
    let mut readonly = false;
    for field in &fields {
        let (key, value) = match field.split_once('=') {
            Some((k, v)) => (k.to_ascii_lowercase(), Some(v)),
            None => (field.to_ascii_lowercase(), None),
        };
        match (key.as_str(), value) {
            ("readonly" | "ro", None) => readonly = true,
            ("readonly" | "ro", Some(v)) => {
                readonly = parse_go_bool(v).ok_or_else(|| {
                    bad(format!(
                        "invalid value for {key}: {v:?}: expected true or false"
                    ))
                })?;
            }
            (k, _) if UNSUPPORTED_KEYS.contains(&k) => {
                return Err(bad(format!("{k} is not supported")));
            }
            (_, None) => {
                return Err(bad(format!(
                    "invalid field {field:?}: must be a key=value pair"
                )));
            }
            ("type", Some(v)) => {
                kind = match v.to_ascii_lowercase().as_str() {
                    "volume" => MountType::Volume,
                    "bind" => MountType::Bind,
                    "tmpfs" => MountType::Tmpfs,
                    other => {
                        return Err(bad(format!(
                            "unsupported mount type {other:?}: expected bind, volume or tmpfs"
                        )));
                    }
                };
            }
            ("source" | "src", Some(v)) => v.clone_into(&mut source),
            ("target" | "dst" | "destination", Some(v)) => v.clone_into(&mut target),
            (k, Some(_)) => return Err(bad(format!("unexpected key {k:?}"))),
        }
    }
    if target.is_empty() {
        return Err(bad("target is required".into()));
    }
    if !target.starts_with('/') {
        return Err(bad(format!("target {target:?} must be an absolute path")));
    }
    match kind {
        MountType::Bind if source.is_empty() => {
            return Err(bad("source is required for a bind mount".into()));
        }
        MountType::Bind if !source.starts_with('/') => {
            return Err(bad(format!(
                "bind source {source:?} must be an absolute host path"
            )));
        }
        MountType::Tmpfs if !source.is_empty() => {
            return Err(bad("a tmpfs mount takes no source".into()));
        }
        _ => {}
    }
    Ok(Mount {
        kind,
        source,
        target,
        readonly,
    })
}

/// Parses every value of `flag`, refusing two mounts on one target.
pub fn parse_mounts(flag: &str, values: &[String]) -> Result<Vec<Mount>, CliError> {
    let mut mounts: Vec<Mount> = Vec::with_capacity(values.len());
    for v in values {
        let m = parse_mount(flag, v)?;
        if mounts.iter().any(|x| x.target == m.target) {
            return Err(CliError::Usage(format!(
                "invalid {flag}: {v:?}: duplicate mount target {:?}",
                m.target
            )));
        }
        mounts.push(m);
    }
    Ok(mounts)
}

/// `service update`'s mount edits: mounts on a `--mount-rm` target go first, then each
/// `--mount-add` replaces the mount on its target in place or is appended, so the order of the
/// others (part of the spec) is kept.
pub fn edit_mounts(mounts: &mut Vec<Mount>, add: &[Mount], remove: &[String]) {
    mounts.retain(|m| !remove.contains(&m.target));
    for m in add {
        match mounts.iter_mut().find(|x| x.target == m.target) {
            Some(existing) => existing.clone_from(m),
            None => mounts.push(m.clone()),
        }
    }
}

/// Go's `strconv.ParseBool`.
fn parse_go_bool(s: &str) -> Option<bool> {
    match s {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Some(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Some(false),
        _ => None,
    }
}

/// Splits one CSV record: fields are separated by commas; a field that starts with a double
/// quote runs to the closing quote, with `""` standing for a quote inside it.
fn csv_fields(s: &str) -> Result<Vec<String>, String> {
    let mut fields = Vec::new();
    let mut chars = s.chars().peekable();
    loop {
        let mut field = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            loop {
                match chars.next() {
                    None => return Err("a quoted field is not closed".into()),
                    Some('"') if chars.peek() == Some(&'"') => {
                        chars.next();
                        field.push('"');
                    }
                    Some('"') => break,
                    Some(c) => field.push(c),
                }
            }
            match chars.next() {
                None => {
                    fields.push(field);
                    return Ok(fields);
                }
                Some(',') => fields.push(field),
                Some(_) => return Err("unexpected text after a quoted field".into()),
            }
        } else {
            loop {
                match chars.next() {
                    None => {
                        fields.push(field);
                        return Ok(fields);
                    }
                    Some(',') => {
                        fields.push(field);
                        break;
                    }
                    Some('"') => {
                        return Err("a quote inside a field: quote the whole field".into());
                    }
                    Some(c) => field.push(c),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mount(kind: MountType, source: &str, target: &str, readonly: bool) -> Mount {
        Mount {
            kind,
            source: source.into(),
            target: target.into(),
            readonly,
        }
    }

    fn refused(s: &str) -> String {
        match parse_mount("--mount", s) {
            Err(CliError::Usage(m)) => m,
            other => panic!("{s:?} must be refused, got {other:?}"),
        }
    }

    #[test]
    fn docker_spellings() {
        let cases: &[(&str, Mount)] = &[
            (
                "type=bind,source=/srv,target=/data",
                mount(MountType::Bind, "/srv", "/data", false),
            ),
            (
                "type=bind,src=/srv,dst=/data,readonly",
                mount(MountType::Bind, "/srv", "/data", true),
            ),
            (
                "type=volume,source=db,destination=/var/lib/db,ro=true",
                mount(MountType::Volume, "db", "/var/lib/db", true),
            ),
            (
                "src=db,target=/db,readonly=false",
                mount(MountType::Volume, "db", "/db", false),
            ),
            (
                "type=tmpfs,dst=/tmp,ro=1",
                mount(MountType::Tmpfs, "", "/tmp", true),
            ),
            (
                "TYPE=Bind,Source=/a,Target=/b",
                mount(MountType::Bind, "/a", "/b", false),
            ),
            ("target=/anon", mount(MountType::Volume, "", "/anon", false)),
            (
                "type=bind,\"source=/a,b\",target=/c",
                mount(MountType::Bind, "/a,b", "/c", false),
            ),
        ];
        for (s, want) in cases {
            assert_eq!(parse_mount("--mount", s).ok().as_ref(), Some(want), "{s}");
        }
    }

    #[test]
    fn bad_values_name_the_flag_and_the_reason() {
        let cases: &[(&str, &str)] = &[
            ("type=bind,source=/a", "target is required"),
            ("type=bind,target=/a", "source is required for a bind mount"),
            (
                "type=bind,source=rel,target=/a",
                "must be an absolute host path",
            ),
            (
                "type=volume,source=v,target=rel",
                "must be an absolute path",
            ),
            ("type=tmpfs,source=x,target=/t", "takes no source"),
            ("type=npipe,target=/t", "unsupported mount type \"npipe\""),
            ("type=volume,target=/t,ro=maybe", "invalid value for ro"),
            (
                "type=volume,target=/t,colour=red",
                "unexpected key \"colour\"",
            ),
            ("type=volume,target=/t,bogus", "must be a key=value pair"),
            ("type=volume,target=/t,", "must be a key=value pair"),
            (
                "type=volume,target=/t,volume-driver=x",
                "volume-driver is not supported",
            ),
            (
                "type=volume,target=/t,volume-nocopy",
                "volume-nocopy is not supported",
            ),
            ("type=bind,\"source=/a,target=/b", "not closed"),
            ("type=bind,so\"urce=/a,target=/b", "quote inside a field"),
        ];
        for (s, reason) in cases {
            let m = refused(s);
            assert!(m.starts_with("invalid --mount: "), "{m}");
            assert!(m.contains(reason), "{s}: {m:?} should say {reason:?}");
        }
    }

    #[test]
    fn duplicate_targets_are_refused() {
        let values = vec![
            "type=volume,src=a,dst=/d".to_owned(),
            "type=volume,src=b,dst=/d".to_owned(),
        ];
        match parse_mounts("--mount-add", &values) {
            Err(CliError::Usage(m)) => {
                assert!(m.starts_with("invalid --mount-add: "), "{m}");
                assert!(m.contains("duplicate mount target \"/d\""), "{m}");
            }
            other => panic!("expected a usage error, got {other:?}"),
        }
        assert_eq!(
            parse_mounts("--mount", &values[..1]).ok().map(|v| v.len()),
            Some(1)
        );
    }

    #[test]
    fn update_edits_keep_the_order() {
        let mut mounts = vec![
            mount(MountType::Volume, "a", "/a", false),
            mount(MountType::Volume, "b", "/b", false),
            mount(MountType::Volume, "c", "/c", false),
        ];
        edit_mounts(
            &mut mounts,
            &[
                mount(MountType::Bind, "/host", "/b", true),
                mount(MountType::Tmpfs, "", "/d", false),
                mount(MountType::Volume, "a2", "/a", false),
            ],
            &["/a".to_owned(), "/c".to_owned(), "/missing".to_owned()],
        );
        assert_eq!(
            mounts,
            vec![
                mount(MountType::Bind, "/host", "/b", true),
                mount(MountType::Tmpfs, "", "/d", false),
                mount(MountType::Volume, "a2", "/a", false),
            ]
        );
    }
}
