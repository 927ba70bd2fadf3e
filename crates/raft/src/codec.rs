//! Protobuf encodings of what the log and snapshots hold: changesets and whole-store snapshots.

use flotilla_model::{Object, Timestamp, Version};
use flotilla_proto::convert::ConvertError;
use flotilla_proto::convert::object::{kind_from_wire, kind_to_wire};
use flotilla_proto::pb;
use flotilla_state::{Change, Changeset, Tables};
use prost::Message;

/// Encodes a changeset as a `flotilla.v1.Changeset` message.
pub fn encode_changeset(cs: &Changeset) -> Vec<u8> {
    let changes = cs
        .changes
        .iter()
        .map(|c| pb::Change {
            change: Some(match c {
                Change::Create(o) => pb::change::Change::Create(o.clone().into()),
                Change::Update(o) => pb::change::Change::Update(o.clone().into()),
                Change::Delete { kind, id, expected } => {
                    pb::change::Change::Delete(pb::ObjectKey {
                        kind: kind_to_wire(*kind),
                        id: id.clone(),
                        expected_version: expected.0,
                    })
                }
            }),
        })
        .collect();
    pb::Changeset {
        changes,
        timestamp_ns: cs.timestamp.0,
    }
    .encode_to_vec()
}

/// Decodes a `flotilla.v1.Changeset` message.
pub fn decode_changeset(bytes: &[u8]) -> Result<Changeset, ConvertError> {
    let msg =
        pb::Changeset::decode(bytes).map_err(|e| ConvertError::new("changeset", e.to_string()))?;
    let mut changes = Vec::with_capacity(msg.changes.len());
    for (i, c) in msg.changes.into_iter().enumerate() {
        let field = format!("changes[{i}]");
        let change = match c.change {
            Some(pb::change::Change::Create(o)) => {
                Change::Create(Object::try_from(o).map_err(|e| e.at(&field))?)
            }
            Some(pb::change::Change::Update(o)) => {
                Change::Update(Object::try_from(o).map_err(|e| e.at(&field))?)
            }
            Some(pb::change::Change::Delete(k)) => Change::Delete {
                kind: kind_from_wire(&k.kind, &format!("{field}.delete.kind"))?,
                id: k.id,
                expected: Version(k.expected_version),
            },
            None => return Err(ConvertError::missing(field)),
        };
        changes.push(change);
    }
    Ok(Changeset {
        changes,
        timestamp: Timestamp(msg.timestamp_ns),
    })
}

/// Encodes every object of `tables` as a `flotilla.v1.StoreSnapshot` message.
pub fn encode_tables(tables: &Tables) -> Vec<u8> {
    let objects = flotilla_model::Kind::ALL
        .iter()
        .flat_map(|k| tables.list(*k))
        .map(|o| pb::Object::from(o.clone()))
        .collect();
    pb::StoreSnapshot {
        version: tables.version().0,
        objects,
    }
    .encode_to_vec()
}

/// Decodes a `flotilla.v1.StoreSnapshot` message into tables.
pub fn decode_tables(bytes: &[u8]) -> Result<Tables, ConvertError> {
    let msg = pb::StoreSnapshot::decode(bytes)
        .map_err(|e| ConvertError::new("snapshot", e.to_string()))?;
    let mut objects = Vec::with_capacity(msg.objects.len());
    for (i, o) in msg.objects.into_iter().enumerate() {
        objects.push(Object::try_from(o).map_err(|e| e.at(format!("objects[{i}]")))?);
    }
    Ok(Tables::from_objects(Version(msg.version), objects))
}

#[cfg(test)]
mod tests {
    use super::*;
    use flotilla_model::Kind;
    use flotilla_state::conformance::{service, task};

    #[test]
    fn changeset_round_trips() {
        let cs = Changeset {
            changes: vec![
                Change::Create(service("s1", "web").into()),
                Change::Update(task("t1", "s1", Some("n1")).into()),
                Change::Delete {
                    kind: Kind::Task,
                    id: "t2".into(),
                    expected: Version(7),
                },
            ],
            timestamp: Timestamp(123),
        };
        let back = decode_changeset(&encode_changeset(&cs)).expect("decodes");
        assert_eq!(back, cs);
    }

    #[test]
    fn garbage_is_refused() {
        assert!(decode_changeset(&[0xff, 0xff, 0xff]).is_err());
    }
}
