//! Resolves Docker's `user[:group]` (names or numbers) against the image's `/etc/passwd` and
//! `/etc/group`, read from its layers without mounting them.

use crate::error::{EngineError, Result};
use flotilla_container::User;
use std::path::PathBuf;

/// Reads `rel` (like `etc/passwd`) from the topmost layer that has it; `None` if no layer has it
/// or the topmost mention is a whiteout.
fn read_from_layers(layers: &[PathBuf], rel: &str) -> Option<String> {
    for layer in layers {
        let p = layer.join(rel);
        match std::fs::symlink_metadata(&p) {
            Ok(m) if m.is_file() => return std::fs::read_to_string(&p).ok(),
            // A whiteout (a character device) or anything else hides lower layers.
            Ok(_) => return None,
            Err(_) => continue,
        }
    }
    None
}

/// One `/etc/passwd` entry: name, uid, gid.
fn passwd_entries(text: &str) -> impl Iterator<Item = (&str, u32, u32)> {
    text.lines().filter_map(|l| {
        let f: Vec<&str> = l.split(':').collect();
        match f.as_slice() {
            [name, _, uid, gid, ..] => Some((*name, uid.parse().ok()?, gid.parse().ok()?)),
            _ => None,
        }
    })
}

/// One `/etc/group` entry: name, gid, members.
fn group_entries(text: &str) -> impl Iterator<Item = (&str, u32, Vec<&str>)> {
    text.lines().filter_map(|l| {
        let f: Vec<&str> = l.split(':').collect();
        match f.as_slice() {
            [name, _, gid, members, ..] => Some((
                *name,
                gid.parse().ok()?,
                members.split(',').filter(|m| !m.is_empty()).collect(),
            )),
            [name, _, gid] => Some((*name, gid.parse().ok()?, Vec::new())),
            _ => None,
        }
    })
}

/// Resolves `spec` (empty: root) for an image whose layers are `layers` (topmost first), the
/// way Docker does: a numeric uid need not exist; a name must; the primary group is the user's
/// unless `:group` is given; supplementary groups are those listing the user by name.
pub fn resolve(spec: &str, layers: &[PathBuf]) -> Result<User> {
    let field = "--user";
    if spec.is_empty() {
        return Ok(User::default());
    }
    let (user, group) = match spec.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (spec, None),
    };
    let passwd = read_from_layers(layers, "etc/passwd").unwrap_or_default();
    let groups = read_from_layers(layers, "etc/group").unwrap_or_default();
    let (uid, mut gid, name) = if let Ok(uid) = user.parse::<u32>() {
        match passwd_entries(&passwd).find(|(_, u, _)| *u == uid) {
            Some((name, uid, gid)) => (uid, gid, Some(name.to_owned())),
            None => (uid, 0, None),
        }
    } else {
        match passwd_entries(&passwd).find(|(n, _, _)| *n == user) {
            Some((name, uid, gid)) => (uid, gid, Some(name.to_owned())),
            None => {
                return Err(EngineError::invalid(
                    field,
                    format!("unable to find user {user}: no matching entries in passwd file"),
                ));
            }
        }
    };
    if let Some(g) = group {
        gid = if let Ok(n) = g.parse::<u32>() {
            n
        } else {
            match group_entries(&groups).find(|(n, _, _)| *n == g) {
                Some((_, gid, _)) => gid,
                None => {
                    return Err(EngineError::invalid(
                        field,
                        format!("unable to find group {g}: no matching entries in group file"),
                    ));
                }
            }
        };
    }
    let mut additional_gids: Vec<u32> = match &name {
        Some(name) => group_entries(&groups)
            .filter(|(_, _, members)| members.contains(&name.as_str()))
            .map(|(_, gid, _)| gid)
            .collect(),
        None => Vec::new(),
    };
    additional_gids.retain(|g| *g != gid);
    additional_gids.sort_unstable();
    additional_gids.dedup();
    Ok(User {
        uid,
        gid,
        additional_gids,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layers() -> (tempfile::TempDir, Vec<PathBuf>) {
        let dir = tempfile::tempdir().unwrap();
        let top = dir.path().join("top");
        let bottom = dir.path().join("bottom");
        std::fs::create_dir_all(top.join("etc")).unwrap();
        std::fs::create_dir_all(bottom.join("etc")).unwrap();
        std::fs::write(
            bottom.join("etc/passwd"),
            "root:x:0:0:root:/root:/bin/sh\nold:x:5:5::/:/bin/sh\n",
        )
        .unwrap();
        std::fs::write(
            top.join("etc/passwd"),
            "root:x:0:0:root:/root:/bin/sh\nwww:x:33:33::/var/www:/bin/sh\n",
        )
        .unwrap();
        std::fs::write(
            bottom.join("etc/group"),
            "root:x:0:\nwww:x:33:\nstaff:x:50:www,other\nadm:x:4:www\n",
        )
        .unwrap();
        (dir, vec![top, bottom])
    }

    #[test]
    fn names_numbers_and_groups() {
        let (_d, l) = layers();
        assert_eq!(resolve("", &l).unwrap(), User::default());
        let u = resolve("www", &l).unwrap();
        assert_eq!((u.uid, u.gid), (33, 33));
        assert_eq!(u.additional_gids, vec![4, 50]);
        let u = resolve("www:staff", &l).unwrap();
        assert_eq!((u.uid, u.gid), (33, 50));
        assert_eq!(u.additional_gids, vec![4]);
        let u = resolve("1234:99", &l).unwrap();
        assert_eq!((u.uid, u.gid), (1234, 99));
        // The top layer's passwd hides the bottom one's.
        assert!(resolve("old", &l).is_err());
        assert!(resolve("www:nogroup", &l).is_err());
    }
}
