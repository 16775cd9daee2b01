//! The status lamp of the job log (DESIGN.md): red when a check is critical, yellow
//! for a warning, a check that cannot tell (UNKNOWN) or a failed job nobody
//! acknowledged, green otherwise. A check that is not configured here lights nothing.

use pequod_api::checks::{Check, CheckState};
use pequod_api::cluster::Lamp;
use pequod_api::jobs::JobSummary;

/// The lamp's colour and one sentence per reason it is not green.
pub fn lamp(unacknowledged_failures: &[JobSummary], checks: &[Check]) -> (Lamp, Vec<String>) {
    let mut reasons = Vec::new();
    let mut colour = Lamp::Green;
    // Only confirmed (hard) states count. A check with nothing to judge here (no NTP
    // server, no data sync) is no problem; any other UNKNOWN means Pequod cannot tell,
    // which is not "all well".
    for check in checks.iter().filter(|c| c.hard && c.configured) {
        let what = match check.state {
            CheckState::Critical => {
                colour = Lamp::Red;
                "critical"
            }
            CheckState::Warning | CheckState::Unknown => {
                if colour == Lamp::Green {
                    colour = Lamp::Yellow;
                }
                if check.state == CheckState::Warning {
                    "warning"
                } else {
                    "unknown"
                }
            }
            CheckState::Ok => continue,
        };
        reasons.push(format!("{} is {what}: {}", check.name, check.output));
    }
    for job in unacknowledged_failures {
        if colour == Lamp::Green {
            colour = Lamp::Yellow;
        }
        reasons.push(format!(
            "job {} \"{}\" {}: {}",
            job.id,
            job.title,
            job.state.as_str(),
            job.error.as_deref().unwrap_or("no reason recorded")
        ));
    }
    (colour, reasons)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Utc;
    use pequod_api::checks::{CheckKind, RunsOn};
    use pequod_api::jobs::{JobKind, JobState};

    fn check(state: CheckState) -> Check {
        Check {
            id: "disk".into(),
            name: "Disk Usage".into(),
            kind: CheckKind::Notify,
            runs_on: RunsOn::Both,
            state,
            hard: true,
            output: "out".into(),
            configured: true,
            last_check: None,
            last_change: None,
        }
    }

    fn failed_job() -> JobSummary {
        JobSummary {
            id: 7,
            kind: JobKind::AddSlave,
            title: "Add slave node2".into(),
            state: JobState::Failed,
            progress: 40,
            created_at: Utc::now(),
            started_at: None,
            finished_at: None,
            error: Some("node2 did not answer".into()),
            acknowledged: false,
        }
    }

    #[test]
    fn green_when_nothing_is_wrong() {
        assert_eq!(lamp(&[], &[check(CheckState::Ok)]), (Lamp::Green, vec![]));
    }

    #[test]
    fn a_failed_job_makes_it_yellow_with_the_reason() {
        let (colour, reasons) = lamp(&[failed_job()], &[]);
        assert_eq!(colour, Lamp::Yellow);
        assert!(reasons[0].contains("node2 did not answer"), "{reasons:?}");
    }

    #[test]
    fn a_warning_is_yellow_and_critical_wins() {
        assert_eq!(lamp(&[], &[check(CheckState::Warning)]).0, Lamp::Yellow);
        let checks = [check(CheckState::Warning), check(CheckState::Critical)];
        assert_eq!(lamp(&[failed_job()], &checks).0, Lamp::Red);
    }

    #[test]
    fn a_hard_unknown_is_yellow_unless_the_check_is_not_configured() {
        let cannot_tell = Check {
            output: "cannot resolve ntp.invalid".into(),
            ..check(CheckState::Unknown)
        };
        assert_eq!(
            lamp(&[], std::slice::from_ref(&cannot_tell)),
            (
                Lamp::Yellow,
                vec!["Disk Usage is unknown: cannot resolve ntp.invalid".to_owned()]
            )
        );
        let soft = Check {
            hard: false,
            ..cannot_tell.clone()
        };
        assert_eq!(lamp(&[], &[soft]).0, Lamp::Green, "not yet confirmed");
        let not_configured = Check {
            configured: false,
            ..cannot_tell
        };
        assert_eq!(lamp(&[], &[not_configured]), (Lamp::Green, vec![]));
        let critical = [check(CheckState::Unknown), check(CheckState::Critical)];
        assert_eq!(lamp(&[], &critical).0, Lamp::Red, "critical wins");
    }
}
