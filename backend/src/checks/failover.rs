//! Failover checks the agent does not judge itself (RAID, custom failover checks): one
//! of them in hard CRITICAL on the master is a Cluster Status fault for the decision.
//! And the judgement of Network Failover from what the agent saw. Pure, so the agent
//! can ask it without depending on the check scheduler, and each case has a test.

use pequod_api::checks::{Check, CheckKind, CheckState};

use super::CheckResult;
use super::catalog::BuiltinCheck;
use crate::cluster::decide::{PeerView, Reachability};

/// Network Failover on the slave: CRITICAL when the master says it cannot reach the
/// telephony network while this node can. Read from the gateway probe's own states, so
/// "not probed yet" and "no gateway configured" are said as such, never taken for a
/// reachable network.
pub fn network_failover(master: Option<&PeerView>, telephony: Reachability) -> CheckResult {
    let Some(master) = master else {
        return CheckResult::unknown("this node knows no master");
    };
    match telephony {
        Reachability::NotConfigured => CheckResult::unknown(
            "no telephony gateway is configured, so the telephony network is not judged",
        ),
        Reachability::Unknown => {
            CheckResult::unknown("the telephony gateway has not been probed yet")
        }
        Reachability::Unreachable => {
            CheckResult::warning("this node cannot reach the telephony gateway")
        }
        Reachability::Reachable if master.role.is_none() => {
            CheckResult::unknown(format!("{} has not been heard yet", master.hostname))
        }
        Reachability::Reachable if !master.reaches_telephony => CheckResult::critical(format!(
            "{} cannot reach the telephony network, this node can",
            master.hostname
        )),
        Reachability::Reachable => CheckResult::ok(format!(
            "{} and this node reach the telephony network",
            master.hostname
        )),
    }
}

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
    use pequod_api::NodeId;
    use pequod_api::checks::RunsOn;
    use pequod_api::cluster::Role;

    use super::*;

    fn master(reaches_telephony: bool, heard: bool) -> PeerView {
        PeerView {
            node_id: NodeId(uuid::Uuid::from_u128(1)),
            hostname: "node1".into(),
            telephony_alive: true,
            cluster_alive: true,
            role: heard.then_some(Role::Master),
            epoch: 1,
            reaches_telephony,
        }
    }

    #[test]
    fn network_failover_says_what_it_knows_and_never_takes_unknown_for_reachable() {
        use Reachability::*;
        let cases = [
            (None, Reachable, CheckState::Unknown, "knows no master"),
            (
                Some(master(false, true)),
                Reachable,
                CheckState::Critical,
                "cannot reach",
            ),
            (
                Some(master(true, true)),
                Reachable,
                CheckState::Ok,
                "reach the telephony",
            ),
            (
                Some(master(false, true)),
                Unknown,
                CheckState::Unknown,
                "not been probed",
            ),
            (
                Some(master(false, true)),
                NotConfigured,
                CheckState::Unknown,
                "no telephony gateway",
            ),
            (
                Some(master(true, true)),
                Unreachable,
                CheckState::Warning,
                "cannot reach",
            ),
            (
                Some(master(false, false)),
                Reachable,
                CheckState::Unknown,
                "not been heard",
            ),
        ];
        for (peer, telephony, status, words) in cases {
            let result = network_failover(peer.as_ref(), telephony);
            assert_eq!(
                result.state, status,
                "{peer:?} {telephony:?}: {}",
                result.output
            );
            assert!(result.output.contains(words), "{}", result.output);
        }
    }

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
