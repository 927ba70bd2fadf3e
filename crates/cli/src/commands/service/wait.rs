//! Waiting for a service to converge, as `service create|update|rollback|scale` do without
//! `-d`: poll the service and its tasks every [`POLL_INTERVAL`], read them with
//! [`Progress`](super::progress::Progress), and draw its lines.
//!
//! On a terminal the lines are redrawn in place (cursor up, clear line) after every poll that
//! changed them; otherwise nothing is drawn until the end, when the last lines are printed once,
//! so scripts and tests can read the final state. `-q` draws nothing. Like Docker there is no
//! time limit: a service that cannot converge is waited for until Ctrl-C. Once converged it must
//! stay so for the stability period (the monitor, at most [`DEFAULT_MAX_VERIFY`]); a failure
//! (paused update, unasked-for rollback) ends the wait with [`CliError::Converge`].

use super::progress::{DEFAULT_MAX_VERIFY, Progress, Verify};
use super::{get_service, list_tasks};
use crate::error::CliError;
use crate::output;
use flotilla_model::UpdateStatus;
use flotilla_proto::pb;
use flotilla_proto::pb::control_client::ControlClient;
use std::fmt::Write as _;
use std::io::IsTerminal;
use std::time::Duration;
use tokio::time::Instant;
use tonic::transport::Channel;

/// Time between two polls.
pub const POLL_INTERVAL: Duration = Duration::from_millis(300);
/// Longest line drawn on a terminal, so that no line wraps and the redraw stays aligned.
const TTY_WIDTH: usize = 80;

/// How one wait behaves.
#[derive(Debug, Clone)]
pub struct WaitOptions {
    /// Draw nothing (`-q`).
    pub quiet: bool,
    /// The service's update status before the command changed it (`None` for a new service).
    pub before: Option<UpdateStatus>,
    /// The command asked for a rollback.
    pub expect_rollback: bool,
    /// Cap on the stability period.
    pub max_verify: Duration,
    /// Time between polls.
    pub poll: Duration,
}

impl WaitOptions {
    /// The usual wait: Docker's 5 s cap on the stability period, polls every 300 ms.
    pub fn new(quiet: bool, before: Option<UpdateStatus>, expect_rollback: bool) -> Self {
        Self {
            quiet,
            before,
            expect_rollback,
            max_verify: DEFAULT_MAX_VERIFY,
            poll: POLL_INTERVAL,
        }
    }
}

/// Waits until the service (by id, name or id prefix) converged, drawing its progress.
pub async fn converge(
    control: &mut ControlClient<Channel>,
    service_ref: &str,
    options: &WaitOptions,
) -> Result<(), CliError> {
    let mut progress = Progress::new(
        options.before.clone(),
        options.expect_rollback,
        options.max_verify,
    );
    let mut screen = Screen::new(options.quiet);
    let mut converged_at: Option<Instant> = None;
    let mut lost = false;
    loop {
        let service = get_service(control, service_ref).await?;
        let tasks = list_tasks(
            control,
            pb::ListTasksRequest {
                service_ref: Some(service.id.0.clone()),
                node_ref: None,
                desired_states: Vec::new(),
            },
        )
        .await?;
        let obs = progress.observe(&service, &tasks);
        if let Some(reason) = &obs.failure {
            screen.show(obs.frame(Verify::Pending))?;
            screen.finish()?;
            return Err(CliError::Converge(reason.clone()));
        }
        let verify = if obs.converged {
            let since = *converged_at.get_or_insert_with(Instant::now);
            match obs.verify.checked_sub(since.elapsed()) {
                Some(left) if !left.is_zero() => Verify::Waiting(left),
                _ => Verify::Converged,
            }
        } else {
            lost |= converged_at.take().is_some();
            if lost {
                Verify::TaskFailed
            } else {
                Verify::Pending
            }
        };
        screen.show(obs.frame(verify))?;
        if verify == Verify::Converged {
            return screen.finish();
        }
        tokio::time::sleep(options.poll).await;
    }
}

/// Where the progress lines go.
#[derive(Debug)]
struct Screen {
    /// Draw nothing.
    quiet: bool,
    /// Standard output is a terminal: redraw in place.
    live: bool,
    /// Lines the cursor is below (the most ever drawn).
    drawn: usize,
    /// The last lines shown.
    last: Vec<String>,
}

impl Screen {
    fn new(quiet: bool) -> Self {
        Self {
            quiet,
            live: !quiet && std::io::stdout().is_terminal(),
            drawn: 0,
            last: Vec::new(),
        }
    }

    /// Shows `lines`: redrawn at once on a terminal, kept for the end otherwise.
    fn show(&mut self, lines: Vec<String>) -> Result<(), CliError> {
        if self.live && lines != self.last {
            output::print(&redraw(self.drawn, &lines))?;
            self.drawn = self.drawn.max(lines.len());
        }
        self.last = lines;
        Ok(())
    }

    /// Ends the drawing: off a terminal, prints the last lines once.
    fn finish(&self) -> Result<(), CliError> {
        if self.quiet || self.live || self.last.is_empty() {
            return Ok(());
        }
        output::print(&final_text(&self.last))
    }
}

/// The terminal text that replaces the `drawn` lines above the cursor with `lines`, clearing
/// any left over, and leaves the cursor below them.
pub fn redraw(drawn: usize, lines: &[String]) -> String {
    let mut out = String::new();
    if drawn > 0 {
        let _ = write!(out, "\x1b[{drawn}A");
    }
    for line in lines {
        out.push_str("\r\x1b[2K");
        out.extend(line.chars().take(TTY_WIDTH));
        out.push('\n');
    }
    for _ in lines.len()..drawn {
        out.push_str("\r\x1b[2K\n");
    }
    out
}

/// The lines as printed once at the end when standard output is not a terminal.
pub fn final_text(lines: &[String]) -> String {
    let mut out = lines.join("\n");
    out.push('\n');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn first_frame_is_plain_lines() {
        assert_eq!(
            redraw(0, &lines(&["overall progress: 0 out of 1 tasks", "1/1:"])),
            "\r\x1b[2Koverall progress: 0 out of 1 tasks\n\r\x1b[2K1/1:\n"
        );
    }

    #[test]
    fn later_frames_move_up_and_clear_what_is_left() {
        assert_eq!(
            redraw(3, &lines(&["a", "b"])),
            "\x1b[3A\r\x1b[2Ka\n\r\x1b[2Kb\n\r\x1b[2K\n"
        );
        let long = "x".repeat(200);
        let text = redraw(0, &[long]);
        assert_eq!(text.matches('x').count(), TTY_WIDTH);
    }

    #[test]
    fn final_text_ends_with_a_newline() {
        assert_eq!(
            final_text(&lines(&[
                "overall progress: 1 out of 1 tasks",
                "verify: Service converged"
            ])),
            "overall progress: 1 out of 1 tasks\nverify: Service converged\n"
        );
    }

    #[test]
    fn quiet_screen_draws_nothing() {
        let mut s = Screen::new(true);
        assert!(!s.live);
        s.show(lines(&["x"])).expect("shows");
        assert_eq!(s.last, lines(&["x"]));
        s.finish().expect("finishes");
    }

    #[test]
    fn options_default_to_dockers_numbers() {
        let o = WaitOptions::new(false, None, true);
        assert_eq!(o.max_verify, Duration::from_secs(5));
        assert!(o.poll >= Duration::from_millis(200) && o.poll <= Duration::from_millis(500));
        assert!(o.expect_rollback && !o.quiet && o.before.is_none());
    }
}
