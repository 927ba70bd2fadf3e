//! The health check flags `service create` and `service update` share: `--health-cmd`,
//! `--health-interval`, `--health-timeout`, `--health-retries`, `--health-start-period` and
//! `--no-healthcheck`, written into `ContainerSpec.healthcheck` by [`HealthFlags::apply`] the way
//! Docker does: `--no-healthcheck` sets the test `["NONE"]` and may not be combined with a
//! `--health-*` flag; otherwise the given settings change the current check (a `NONE` test is
//! dropped, an empty `--health-cmd` falls back to the image's command) and a zero duration means
//! the default.

use crate::error::CliError;
use crate::units;
use flotilla_model::HealthCheck;
use std::time::Duration;

/// Health check flags; an absent flag leaves the check as it is.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct HealthFlags {
    /// Command to run to check health (run with the container's shell).
    #[arg(long, value_name = "COMMAND", allow_hyphen_values = true)]
    pub health_cmd: Option<String>,
    /// Time between running the check (ms|s|m|h); 0 uses the default.
    #[arg(long, value_name = "DURATION")]
    pub health_interval: Option<String>,
    /// Maximum time to allow one check to run (ms|s|m|h); 0 uses the default.
    #[arg(long, value_name = "DURATION")]
    pub health_timeout: Option<String>,
    /// Consecutive failures needed to report unhealthy.
    #[arg(long, value_name = "N")]
    pub health_retries: Option<u32>,
    /// Start period for the container to initialize before failures count (ms|s|m|h).
    #[arg(long, value_name = "DURATION")]
    pub health_start_period: Option<String>,
    /// Disable any container-specified HEALTHCHECK.
    #[arg(long)]
    pub no_healthcheck: bool,
}

/// Shortest non-zero interval or timeout a check accepts, as in Docker.
const MIN_PROBE: Duration = Duration::from_millis(1);

impl HealthFlags {
    /// The `--health-*` flags that were given, by name.
    fn given(&self) -> Vec<&'static str> {
        let mut given = Vec::new();
        if self.health_cmd.is_some() {
            given.push("--health-cmd");
        }
        if self.health_interval.is_some() {
            given.push("--health-interval");
        }
        if self.health_timeout.is_some() {
            given.push("--health-timeout");
        }
        if self.health_retries.is_some() {
            given.push("--health-retries");
        }
        if self.health_start_period.is_some() {
            given.push("--health-start-period");
        }
        given
    }

    /// Writes the given flags into `check` (the current one, `None` for the image's); errors
    /// name the flag.
    pub fn apply(&self, check: &mut Option<HealthCheck>) -> Result<(), CliError> {
        let given = self.given();
        if self.no_healthcheck {
            if let Some(other) = given.first() {
                return Err(CliError::Usage(format!(
                    "--no-healthcheck conflicts with {other}: a service either disables its \
                     health check or sets one"
                )));
            }
            *check = Some(HealthCheck {
                test: vec!["NONE".to_owned()],
                ..Default::default()
            });
            return Ok(());
        }
        if given.is_empty() {
            return Ok(());
        }
        let h = check.get_or_insert_with(HealthCheck::default);
        if h.test.first().is_some_and(|t| t == "NONE") {
            h.test.clear();
        }
        if let Some(cmd) = &self.health_cmd {
            h.test = if cmd.is_empty() {
                Vec::new()
            } else {
                vec!["CMD-SHELL".to_owned(), cmd.clone()]
            };
        }
        if let Some(v) = &self.health_interval {
            h.interval = probe_duration("--health-interval", v)?;
        }
        if let Some(v) = &self.health_timeout {
            h.timeout = probe_duration("--health-timeout", v)?;
        }
        if let Some(n) = self.health_retries {
            h.retries = n;
        }
        if let Some(v) = &self.health_start_period {
            let d = units::parse_duration("--health-start-period", v)?;
            h.start_period = (!d.is_zero()).then_some(d);
        }
        if *h == HealthCheck::default() {
            *check = None;
        }
        Ok(())
    }
}

/// An interval or timeout: zero means the default (`None`); otherwise at least 1 ms.
fn probe_duration(flag: &str, v: &str) -> Result<Option<Duration>, CliError> {
    let d = units::parse_duration(flag, v)?;
    if d.is_zero() {
        return Ok(None);
    }
    if d < MIN_PROBE {
        return Err(CliError::Usage(format!(
            "invalid {flag}: {v:?}: must be 0 (the default) or at least 1ms"
        )));
    }
    Ok(Some(d))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::command::{Command, ServiceCommand};
    use crate::test_cli::parse;

    /// The health flags of `service update ARGS… web`.
    fn flags(args: &[&str]) -> HealthFlags {
        let mut full = vec!["service", "update"];
        full.extend_from_slice(args);
        full.push("web");
        match parse(&full) {
            Ok(Command::Service(ServiceCommand::Update(a))) => a.spec.health.clone(),
            other => panic!("expected service update, got {other:?}"),
        }
    }

    fn usage(r: Result<(), CliError>) -> String {
        match r {
            Err(CliError::Usage(m)) => m,
            other => panic!("expected a usage error, got {other:?}"),
        }
    }

    #[test]
    fn settings_land_in_the_check() {
        let f = flags(&[
            "--health-cmd",
            "curl -f http://localhost/ || exit 1",
            "--health-interval",
            "10s",
            "--health-timeout",
            "2s",
            "--health-retries",
            "4",
            "--health-start-period",
            "1m",
        ]);
        let mut check = None;
        f.apply(&mut check).expect("applies");
        assert_eq!(
            check,
            Some(HealthCheck {
                test: vec![
                    "CMD-SHELL".into(),
                    "curl -f http://localhost/ || exit 1".into()
                ],
                interval: Some(Duration::from_secs(10)),
                timeout: Some(Duration::from_secs(2)),
                retries: 4,
                start_period: Some(Duration::from_secs(60)),
            })
        );
    }

    #[test]
    fn no_healthcheck_sets_none_and_refuses_other_health_flags() {
        let mut check = Some(HealthCheck {
            test: vec!["CMD".into(), "true".into()],
            retries: 3,
            ..Default::default()
        });
        flags(&["--no-healthcheck"])
            .apply(&mut check)
            .expect("applies");
        assert_eq!(
            check,
            Some(HealthCheck {
                test: vec!["NONE".into()],
                ..Default::default()
            })
        );

        let others: [&[&str]; 5] = [
            &["--health-cmd", "true"],
            &["--health-interval", "5s"],
            &["--health-timeout", "5s"],
            &["--health-retries", "2"],
            &["--health-start-period", "5s"],
        ];
        for other in others {
            let mut args = vec!["--no-healthcheck"];
            args.extend_from_slice(other);
            let m = usage(flags(&args).apply(&mut None));
            assert!(
                m.starts_with(&format!("--no-healthcheck conflicts with {}", other[0])),
                "{m}"
            );
        }
    }

    #[test]
    fn update_changes_only_what_is_given() {
        let mut check = Some(HealthCheck {
            test: vec!["CMD-SHELL".into(), "true".into()],
            interval: Some(Duration::from_secs(30)),
            retries: 3,
            ..Default::default()
        });
        flags(&["--health-retries", "5", "--health-interval", "0"])
            .apply(&mut check)
            .expect("applies");
        assert_eq!(
            check,
            Some(HealthCheck {
                test: vec!["CMD-SHELL".into(), "true".into()],
                interval: None,
                retries: 5,
                ..Default::default()
            })
        );

        // A disabled check gets a command again; an emptied one falls back to the image's.
        let mut check = Some(HealthCheck {
            test: vec!["NONE".into()],
            ..Default::default()
        });
        flags(&["--health-timeout", "3s"])
            .apply(&mut check)
            .expect("applies");
        assert_eq!(
            check,
            Some(HealthCheck {
                timeout: Some(Duration::from_secs(3)),
                ..Default::default()
            })
        );
        let mut check = Some(HealthCheck {
            test: vec!["CMD-SHELL".into(), "true".into()],
            ..Default::default()
        });
        flags(&["--health-cmd", ""])
            .apply(&mut check)
            .expect("applies");
        assert_eq!(check, None);

        let mut untouched = Some(HealthCheck {
            test: vec!["CMD".into(), "x".into()],
            ..Default::default()
        });
        let before = untouched.clone();
        flags(&[]).apply(&mut untouched).expect("applies");
        assert_eq!(untouched, before);
    }

    #[test]
    fn bad_values_name_the_flag() {
        let cases: &[(&[&str], &str)] = &[
            (&["--health-interval", "5x"], "invalid --health-interval: "),
            (&["--health-timeout=-1s"], "invalid --health-timeout: "),
            (
                &["--health-interval", "500us"],
                "invalid --health-interval: ",
            ),
            (
                &["--health-start-period", "soon"],
                "invalid --health-start-period: ",
            ),
        ];
        for (args, want) in cases {
            let m = usage(flags(args).apply(&mut None));
            assert!(m.starts_with(want), "{args:?}: {m}");
        }
        let m = usage(flags(&["--health-interval", "500us"]).apply(&mut None));
        assert!(m.contains("at least 1ms"), "{m}");

        for bad in ["--health-retries=-1", "--health-retries=many"] {
            let e = parse(&["service", "update", bad, "web"]).expect_err("refused by the parser");
            assert!(e.to_string().contains("--health-retries"), "{bad}: {e}");
        }
    }
}
