//! The status lamp of the job log (DESIGN.md): red when a check is critical, yellow
//! for a warning or a failed job nobody acknowledged, green otherwise.

use pequod_api::checks::{Check, CheckState};
use pequod_api::cluster::Lamp;
use pequod_api::jobs::JobSummary;

/// The lamp's colour and one sentence per reason it is not green.
pub fn lamp(unacknowledged_failures: &[JobSummary], checks: &[Check]) -> (Lamp, Vec<String>) {
    let mut reasons = Vec::new();
    let mut colour = Lamp::Green;
    // Only confirmed (hard) states count; UNKNOWN ("not configured", "no RAID") is no
    // warning of its own.
    for check in checks.iter().filter(|c| c.hard) {
        match check.state {
            CheckState::Critical => {
                colour = Lamp::Red;
                reasons.push(format!("{} is critical: {}", check.name, check.output));
            }
            CheckState::Warning => {
                if colour == Lamp::Green {
                    colour = Lamp::Yellow;
                }
                reasons.push(format!("{} is warning: {}", check.name, check.output));
            }
            CheckState::Unknown | CheckState::Ok => {}
        }
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
}
