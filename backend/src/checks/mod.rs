//! Health checks: the building blocks the check scheduler runs. Results in Nagios
//! terms, the soft/hard state machine, custom plugins, the built-in checks and the
//! catalog of which check runs on which node (DESIGN.md, "Failover checks", "Notify checks").

pub mod ami;
pub mod disk;
pub mod plugin;
pub mod raid;
pub mod result;
pub mod sip;
pub mod state;
pub mod time;

pub use result::{CheckResult, Perfdata, Unit};
pub use state::{CheckStatus, Transition};

/// For the sync checks whose subjects arrive later (Filesystem Sync, Rsync Server,
/// Database Sync, Database Query): UNKNOWN says "not judged", which keeps the lamp
/// honest without pretending to be OK or crying wolf.
pub fn not_configured() -> CheckResult {
    CheckResult::unknown("not configured")
}

#[cfg(test)]
mod tests {
    use pequod_api::checks::CheckState;

    use super::*;

    #[test]
    fn not_configured_is_unknown() {
        let result = not_configured();
        assert_eq!(result.state, CheckState::Unknown);
        assert_eq!(result.output, "not configured");
    }
}
