//! `flotilla info`: what this node knows about itself and its cluster, as a short Docker-like
//! block or (`--format json`) one JSON object.

use crate::connect;
use crate::error::CliError;
use crate::output::{self, OutputFormat};
use flotilla_proto::pb;
use std::fmt::Write as _;

/// Arguments of `info`.
#[derive(Debug, clap::Args)]
pub struct InfoArgs {
    /// Format output: table (the default) or json.
    #[arg(short, long, value_enum)]
    pub format: Option<OutputFormat>,
}

/// Runs `info`.
pub async fn run(args: InfoArgs, host: &str) -> Result<(), CliError> {
    let mut client = connect::swarm(host).await?;
    let info = client.info(pb::InfoRequest {}).await?.into_inner();
    match args.format {
        Some(OutputFormat::Json) => output::print(&output::to_json(&info_json(&info))?),
        _ => output::print(&info_text(&info)),
    }
}

/// The response as a JSON object with the message's field names.
pub fn info_json(info: &pb::InfoResponse) -> serde_json::Value {
    let raft = info.raft.as_ref().map(|r| {
        serde_json::json!({
            "raft_id": r.raft_id,
            "term": r.term,
            "leader_id": r.leader_id,
            "last_log_index": r.last_log_index,
            "last_applied": r.last_applied,
            "snapshot_index": r.snapshot_index,
            "voters": r.voters,
            "learners": r.learners,
        })
    });
    serde_json::json!({
        "node_id": info.node_id,
        "node_name": info.node_name,
        "swarm_state": info.swarm_state,
        "is_manager": info.is_manager,
        "cluster_id": info.cluster_id,
        "node_addr": info.node_addr,
        "managers": info.managers,
        "nodes": info.nodes,
        "leader_addr": info.leader_addr,
        "raft": raft,
        "version": info.version,
    })
}

/// The Docker-like text block.
pub fn info_text(info: &pb::InfoResponse) -> String {
    let mut out = String::new();
    let state = if info.swarm_state.is_empty() {
        "inactive"
    } else {
        info.swarm_state.as_str()
    };
    // Writing to a String cannot fail.
    let _ = writeln!(out, "Swarm: {state}");
    if state == "active" {
        let _ = writeln!(out, " NodeID: {}", info.node_id);
        let _ = writeln!(out, " Is Manager: {}", info.is_manager);
        if info.is_manager {
            let _ = writeln!(out, " ClusterID: {}", info.cluster_id);
            let _ = writeln!(out, " Managers: {}", info.managers);
            let _ = writeln!(out, " Nodes: {}", info.nodes);
            if let Some(r) = &info.raft {
                let leader = r
                    .leader_id
                    .map_or_else(|| "none".to_owned(), |l| l.to_string());
                let _ = writeln!(out, " Raft:");
                let _ = writeln!(out, "  Raft ID: {}", r.raft_id);
                let _ = writeln!(out, "  Term: {}", r.term);
                let _ = writeln!(out, "  Leader: {leader}");
                let _ = writeln!(out, "  Last Log Index: {}", r.last_log_index);
                let _ = writeln!(out, "  Applied: {}", r.last_applied);
                let _ = writeln!(out, "  Snapshot Index: {}", r.snapshot_index);
                let _ = writeln!(out, "  Voters: {}", join_ids(&r.voters));
                if !r.learners.is_empty() {
                    let _ = writeln!(out, "  Learners: {}", join_ids(&r.learners));
                }
            }
        }
        if !info.node_addr.is_empty() {
            let _ = writeln!(out, " Node Address: {}", info.node_addr);
        }
        if !info.leader_addr.is_empty() {
            let _ = writeln!(out, " Leader Address: {}", info.leader_addr);
        }
    }
    if !info.node_name.is_empty() {
        let _ = writeln!(out, "Name: {}", info.node_name);
    }
    let _ = writeln!(out, "Server Version: {}", info.version);
    out
}

fn join_ids(ids: &[u64]) -> String {
    ids.iter()
        .map(u64::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> pb::InfoResponse {
        pb::InfoResponse {
            node_id: "node1".into(),
            node_name: "m1".into(),
            swarm_state: "active".into(),
            is_manager: true,
            cluster_id: "cl1".into(),
            node_addr: "10.0.0.1".into(),
            managers: 1,
            nodes: 1,
            leader_addr: "10.0.0.1:2377".into(),
            raft: Some(pb::RaftInfo {
                raft_id: 1,
                term: 2,
                leader_id: Some(1),
                last_log_index: 10,
                last_applied: 9,
                snapshot_index: 0,
                voters: vec![1],
                learners: vec![],
            }),
            version: "0.1.0".into(),
        }
    }

    #[test]
    fn text_block() {
        let text = info_text(&sample());
        assert!(text.starts_with("Swarm: active\n NodeID: node1\n Is Manager: true\n"));
        assert!(text.contains(" Managers: 1\n Nodes: 1\n Raft:\n"));
        assert!(text.contains("  Leader: 1\n"));
        assert!(text.ends_with("Server Version: 0.1.0\n"));

        let inactive = pb::InfoResponse {
            swarm_state: "inactive".into(),
            version: "0.1.0".into(),
            ..Default::default()
        };
        assert_eq!(
            info_text(&inactive),
            "Swarm: inactive\nServer Version: 0.1.0\n"
        );
    }

    #[test]
    fn json_object() {
        let v = info_json(&sample());
        assert_eq!(v["node_id"], "node1");
        assert_eq!(v["is_manager"], true);
        assert_eq!(v["raft"]["term"], 2);
        assert_eq!(v["raft"]["voters"][0], 1);
    }
}
