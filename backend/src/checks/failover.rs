//! Failover checks the agent does not judge itself (RAID, custom failover checks): one
//! of them in hard CRITICAL on the master is a Cluster Status fault for the decision.
//! Pure, so the agent can ask it without depending on the check scheduler.

use pequod_api::checks::{Check, CheckKind, CheckState};

use super::catalog::BuiltinCheck;

/// A failover check other than those the agent judges itself (RAID, custom failover
/// checks) in hard CRITICAL.
pub fn failover_problem(checks: &[Check]) -> Option<String> {
    checks
        .iter()
        .find(|c| {
            c.kind == CheckKind::Failover
                && c.hard
                && c.state == CheckState::Critical
                && !BuiltinCheck::from_id(&c.id).is_some_and(BuiltinCheck::judged_by_the_agent)
        })
        .map(|c| format!("{}: {}", c.name, c.output))
}

#[cfg(test)]
mod tests {
    use pequod_api::checks::RunsOn;

    use super::*;

    fn check(id: &str, kind: CheckKind, state: CheckState, hard: bool) -> Check {
        Check {
            id: id.into(),
            name: id.to_uppercase(),
            kind,
            runs_on: RunsOn::Master,
            state,
            hard,
            output: "broken".into(),
            configured: true,
            last_check: None,
            last_change: None,
        }
    }

    #[test]
    fn only_confirmed_failover_checks_the_agent_does_not_judge_are_problems() {
        use CheckKind::{Failover, Notify};
        use CheckState::{Critical, Warning};
        assert_eq!(failover_problem(&[]), None);
        for quiet in [
            check("raid", Failover, Critical, false),
            check("raid", Failover, Warning, true),
            check("disk-usage", Notify, Critical, true),
            check("cluster-status", Failover, Critical, true),
        ] {
            assert_eq!(
                failover_problem(std::slice::from_ref(&quiet)),
                None,
                "{quiet:?}"
            );
        }
        assert_eq!(
            failover_problem(&[check("raid", Failover, Critical, true)]).as_deref(),
            Some("RAID: broken")
        );
        assert_eq!(
            failover_problem(&[check("sip-trunk", Failover, Critical, true)]).as_deref(),
            Some("SIP-TRUNK: broken")
        );
    }
}
