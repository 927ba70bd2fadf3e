//! Ranking the nodes that passed the filters.
//!
//! Without placement preferences the node with the fewest active tasks of the service wins,
//! then the one with the fewest active tasks overall, then the lowest node id (SwarmKit's
//! `nodeLess`, minus its failure penalty, which needs a clock).
//!
//! Each placement preference `node.labels.<key>` (SwarmKit's `spread=node.labels.<key>`; both
//! spellings are understood) splits the candidates by the label's value — nodes without the
//! label form a group of their own — and the group holding the fewest tasks of the service is
//! chosen (ties: the lowest value, the group without the label first). Further preferences split
//! the chosen group again, and the last group is ranked as above. So 6 tasks over zone `a` (two
//! nodes) and zone `b` (one node) end up 3 in each zone, not 2 per node.
//!
//! As in SwarmKit, only nodes that passed the filters take part: tasks on a node that cannot
//! take this task do not weigh on its group.

use crate::nodeinfo::NodeInfo;
use flotilla_model::ServiceId;
use std::cmp::Ordering;
use std::collections::BTreeMap;

/// The label key a placement preference spreads over: `zone` for `node.labels.zone` or
/// `spread=node.labels.zone`; `None` for anything else.
pub fn spread_label(preference: &str) -> Option<&str> {
    let path = preference.trim();
    let path = path.strip_prefix("spread=").unwrap_or(path).trim();
    path.strip_prefix("node.labels.").filter(|k| !k.is_empty())
}

/// SwarmKit's node order for one service: fewest tasks of the service, then fewest tasks, then
/// lowest id. `Less` means `a` is the better choice.
pub fn node_order(a: &NodeInfo, b: &NodeInfo, service: &ServiceId) -> Ordering {
    a.active_tasks_of(service)
        .cmp(&b.active_tasks_of(service))
        .then_with(|| a.active_tasks().cmp(&b.active_tasks()))
        .then_with(|| a.id().cmp(b.id()))
}

/// Picks the node for the next task of `service` among `candidates` (indexes into `nodes` of
/// the nodes that passed the filters), honouring `preferences` in order. `None` only when there
/// are no candidates.
pub fn pick(
    nodes: &[NodeInfo],
    candidates: &[usize],
    service: &ServiceId,
    preferences: &[String],
) -> Option<usize> {
    let Some((preference, rest)) = preferences.split_first() else {
        return candidates
            .iter()
            .copied()
            .min_by(|&a, &b| node_order(&nodes[a], &nodes[b], service));
    };
    let label = spread_label(preference);
    // Group key: the label's value, `None` when the node lacks it (or the preference names no
    // label, putting every node in one group). `None` sorts first.
    let mut groups: BTreeMap<Option<&str>, (u64, Vec<usize>)> = BTreeMap::new();
    for &i in candidates {
        let info = &nodes[i];
        let value = label.and_then(|l| info.node().spec.labels.get(l).map(String::as_str));
        let group = groups.entry(value).or_default();
        group.0 += info.active_tasks_of(service);
        group.1.push(i);
    }
    // `min_by_key` keeps the first of equal minimums, i.e. the lowest key.
    let (_, (_, members)) = groups.iter().min_by_key(|(_, (tasks, _))| *tasks)?;
    pick(nodes, members, service, rest)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::node;

    fn infos(specs: &[(&str, Option<&str>, u64)]) -> Vec<NodeInfo> {
        let service = ServiceId::from("s");
        specs
            .iter()
            .map(|&(id, zone, tasks)| {
                let mut n = node(id, id);
                if let Some(z) = zone {
                    n.spec.labels.insert("zone".into(), z.into());
                }
                let mut info = NodeInfo::new(&n);
                for _ in 0..tasks {
                    info.add_task(&service, &Default::default(), &[], true);
                }
                info
            })
            .collect()
    }

    #[test]
    fn preference_spellings() {
        assert_eq!(spread_label("node.labels.zone"), Some("zone"));
        assert_eq!(spread_label("spread=node.labels.zone"), Some("zone"));
        assert_eq!(spread_label("node.labels."), None);
        assert_eq!(spread_label("node.hostname"), None);
    }

    #[test]
    fn fewest_service_tasks_then_total_then_id() {
        let s = ServiceId::from("s");
        let mut nodes = infos(&[("b", None, 1), ("a", None, 1), ("c", None, 0)]);
        let all = [0, 1, 2];
        assert_eq!(pick(&nodes, &all, &s, &[]), Some(2));
        nodes[2].add_task(&ServiceId::from("other"), &Default::default(), &[], true);
        nodes[2].add_task(&s, &Default::default(), &[], true);
        // All have one task of `s`; `c` has more in total; `a` beats `b` by id.
        assert_eq!(pick(&nodes, &all, &s, &[]), Some(1));
        assert_eq!(pick(&nodes, &[], &s, &[]), None);
    }

    #[test]
    fn groups_by_label_value() {
        let s = ServiceId::from("s");
        // Zone a holds 2 tasks over two nodes, zone b 1 on one node, one node has no zone.
        let nodes = infos(&[
            ("n1", Some("a"), 1),
            ("n2", Some("a"), 1),
            ("n3", Some("b"), 1),
            ("n4", None, 1),
        ]);
        let prefs = ["node.labels.zone".to_owned()];
        // The label-less group and zone b tie at 1; the label-less group sorts first.
        assert_eq!(pick(&nodes, &[0, 1, 2, 3], &s, &prefs), Some(3));
        // Without n4, zone b (1 task) beats zone a (2 tasks).
        assert_eq!(pick(&nodes, &[0, 1, 2], &s, &prefs), Some(2));
    }

    #[test]
    fn nested_preferences() {
        let s = ServiceId::from("s");
        let mut nodes = infos(&[
            ("n1", Some("a"), 0),
            ("n2", Some("a"), 0),
            ("n3", Some("b"), 1),
        ]);
        let mut rack = |i: usize, r: &str| {
            let mut n = nodes[i].node().clone();
            n.spec.labels.insert("rack".into(), r.into());
            let tasks = nodes[i].active_tasks_of(&s);
            nodes[i] = NodeInfo::new(&n);
            for _ in 0..tasks {
                nodes[i].add_task(&s, &Default::default(), &[], true);
            }
        };
        rack(0, "r2");
        rack(1, "r1");
        let prefs = ["node.labels.zone".to_owned(), "node.labels.rack".to_owned()];
        // Zone a wins (0 tasks), then rack r1 wins the tie within it.
        assert_eq!(pick(&nodes, &[0, 1, 2], &s, &prefs), Some(1));
    }
}
