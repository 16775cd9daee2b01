//! Health checks: the building blocks the check scheduler runs. Results in Nagios
//! terms, the soft/hard state machine, custom plugins, the built-in checks and the
//! catalog of which check runs on which node (DESIGN.md, "Failover checks", "Notify checks").

pub mod ami;
pub mod catalog;
pub mod disk;
pub mod engine;
pub mod failover;
pub mod plugin;
pub mod raid;
pub mod result;
pub mod sip;
pub mod state;
pub mod sync;
pub mod time;

use pequod_api::checks::Check;

pub use catalog::{BuiltinCheck, CheckDefinition, CheckSource};
pub use result::{CheckResult, Perfdata, Unit};
pub use state::{CheckStatus, Transition};

/// The wire view of a check: its definition, where it stands, and its latest output.
pub fn to_wire(
    definition: &CheckDefinition,
    status: &CheckStatus,
    last: Option<&CheckResult>,
) -> Check {
    Check {
        id: definition.id.to_string(),
        name: definition.name.to_string(),
        kind: definition.kind,
        runs_on: definition.runs_on,
        state: status.state,
        hard: status.hard,
        output: last.map(|r| r.output.clone()).unwrap_or_default(),
        // A check that has not run yet has not said it lacks anything.
        configured: last.is_none_or(|r| r.configured),
        last_check: status.last_check,
        last_change: status.last_change,
    }
}

#[cfg(test)]
mod tests {
    use chrono::Utc;
    use pequod_api::checks::CheckState;

    use super::*;

    #[test]
    fn not_configured_is_an_unknown_marked_as_such_on_the_wire() {
        let definition = catalog::find("time").unwrap();
        let result = CheckResult::not_configured("no NTP server is configured");
        assert_eq!(result.state, CheckState::Unknown);
        let mut status = CheckStatus::default();
        status.apply(&result, Utc::now(), 1);
        let check = to_wire(&definition, &status, Some(&result));
        assert!(!check.configured);
        assert_eq!(check.state, CheckState::Unknown);
        assert_eq!(check.output, "no NTP server is configured");

        let cannot_tell = CheckResult::unknown("cannot resolve ntp.invalid");
        assert!(to_wire(&definition, &status, Some(&cannot_tell)).configured);
        assert!(to_wire(&definition, &CheckStatus::default(), None).configured);
    }

    #[test]
    fn wire_view_carries_state_and_output() {
        let definition = catalog::find("disk-usage").unwrap();
        let mut status = CheckStatus::default();
        let result = CheckResult::critical("DISK CRITICAL - / 95% used");
        let now = Utc::now();
        status.apply(&result, now, 1);
        let check = to_wire(&definition, &status, Some(&result));
        assert_eq!(check.id, "disk-usage");
        assert_eq!(check.name, "Disk Usage");
        assert_eq!(check.state, CheckState::Critical);
        assert!(check.hard);
        assert_eq!(check.output, "DISK CRITICAL - / 95% used");
        assert_eq!(check.last_check, Some(now));
        assert_eq!(check.last_change, Some(now));
    }
}
