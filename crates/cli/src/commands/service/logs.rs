//! `flotilla service logs SERVICE`: the output of every task of a service, gathered by the
//! leader from the nodes that ran them, each line prefixed like Docker's
//! (`web.1.7nul32bt1qyx@node3    | …`); stderr lines go to stderr.

use crate::connect;
use crate::error::CliError;
use flotilla_proto::pb;
use std::io::Write;

/// Arguments of `service logs`.
#[derive(Debug, clap::Args)]
pub struct LogsArgs {
    /// Follow log output.
    #[arg(short, long)]
    pub follow: bool,
    /// Number of lines to show from the end of each task's log ("all" for everything).
    #[arg(short = 'n', long, default_value = "all", value_name = "N")]
    pub tail: String,
    /// Show timestamps.
    #[arg(short, long)]
    pub timestamps: bool,
    /// Do not truncate task ids.
    #[arg(long)]
    pub no_trunc: bool,
    /// Do not include task ids in the prefix.
    #[arg(long)]
    pub no_task_ids: bool,
    /// The service, by name, ID or ID prefix.
    #[arg(value_name = "SERVICE")]
    pub service: String,
}

/// `--tail`: a count, or all (-1).
pub fn parse_tail(s: &str) -> Result<i64, CliError> {
    if s == "all" {
        return Ok(-1);
    }
    s.parse::<i64>().ok().filter(|n| *n >= 0).ok_or_else(|| {
        CliError::Usage(format!(
            "invalid --tail {s:?}: a number of lines or \"all\""
        ))
    })
}

/// The prefix of a line: `<task name>.<task id>@<node>`.
pub fn context(line: &pb::ServiceLogLine, a: &LogsArgs) -> String {
    let id = line.line.as_ref().map_or("", |l| l.task_id.as_str());
    let id = if a.no_trunc {
        id
    } else {
        id.get(..12).unwrap_or(id)
    };
    if a.no_task_ids {
        format!("{}@{}", line.task_name, line.node)
    } else {
        format!("{}.{id}@{}", line.task_name, line.node)
    }
}

/// Runs `service logs`.
pub async fn run(a: &LogsArgs, host: &str) -> Result<(), CliError> {
    let tail = parse_tail(&a.tail)?;
    let mut client = pb::logs_client::LogsClient::new(connect::channel(host).await?);
    let mut stream = client
        .service_logs(pb::ServiceLogsRequest {
            service_ref: a.service.clone(),
            follow: a.follow,
            tail,
        })
        .await?
        .into_inner();
    while let Some(msg) = stream.message().await? {
        for l in &msg.lines {
            let Some(line) = &l.line else { continue };
            let mut prefix = format!("{}    | ", context(l, a));
            if a.timestamps {
                prefix.push_str(&line.time);
                prefix.push(' ');
            }
            if line.stream == "stderr" {
                let mut err = std::io::stderr().lock();
                err.write_all(prefix.as_bytes())?;
                err.write_all(&line.data)?;
                err.flush()?;
            } else {
                let mut out = std::io::stdout().lock();
                out.write_all(prefix.as_bytes())?;
                out.write_all(&line.data)?;
                out.flush()?;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::command::{Command, ServiceCommand};
    use crate::test_cli::parse;

    fn args(argv: &[&str]) -> LogsArgs {
        let mut full = vec!["service", "logs"];
        full.extend_from_slice(argv);
        match parse(&full) {
            Ok(Command::Service(ServiceCommand::Logs(a))) => a,
            other => panic!("expected service logs, got {other:?}"),
        }
    }

    #[test]
    fn flags_and_prefix() {
        let a = args(&["-f", "-n", "5", "-t", "web"]);
        assert!(a.follow && a.timestamps);
        assert_eq!(parse_tail(&a.tail).expect("tail"), 5);
        assert_eq!(parse_tail("all").expect("all"), -1);
        assert!(parse_tail("-3").is_err());
        let e = parse_tail("x").expect_err("bad tail");
        assert!(e.to_string().contains("--tail"), "{e}");
        let line = pb::ServiceLogLine {
            line: Some(pb::LogLine {
                task_id: "7nul32bt1qyxabcdefghijklm".into(),
                stream: "stdout".into(),
                time: String::new(),
                data: b"hi\n".to_vec(),
            }),
            task_name: "web.2".into(),
            node: "node3".into(),
        };
        assert_eq!(context(&line, &a), "web.2.7nul32bt1qyx@node3");
        let b = args(&["--no-task-ids", "web"]);
        assert_eq!(context(&line, &b), "web.2@node3");
        let c = args(&["--no-trunc", "web"]);
        assert_eq!(context(&line, &c), "web.2.7nul32bt1qyxabcdefghijklm@node3");
    }
}
