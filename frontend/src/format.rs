//! How values of the wire types are shown: pure functions, tested natively.

use chrono::{DateTime, Utc};
use pequod_api::checks::{CheckKind, CheckState, RunsOn};
use pequod_api::cluster::{ClusterMode, Lamp};
use pequod_api::jobs::{JobState, StepState};
use pequod_api::nodes::InterfaceAddress;
use pequod_api::notifications::MailState;
use pequod_api::services::ServiceState;

/// The CSS class of the status lamp; browser tests look for these names.
pub fn lamp_class(lamp: Lamp) -> &'static str {
    match lamp {
        Lamp::Green => "lamp-green",
        Lamp::Yellow => "lamp-yellow",
        Lamp::Red => "lamp-red",
    }
}

pub fn lamp_label(lamp: Lamp) -> &'static str {
    match lamp {
        Lamp::Green => "green",
        Lamp::Yellow => "yellow",
        Lamp::Red => "red",
    }
}

pub fn mode_label(mode: ClusterMode) -> &'static str {
    match mode {
        ClusterMode::Standalone => "standalone",
        ClusterMode::Cluster => "cluster",
    }
}

pub fn cluster_ip_label(cluster_ip: Option<&str>) -> &str {
    cluster_ip.unwrap_or("not configured")
}

/// What the kernel flags of an interface mean to a person.
pub fn link_state(up: bool, running: bool) -> &'static str {
    match (up, running) {
        (true, true) => "up, running",
        (true, false) => "up, no carrier",
        (false, _) => "down",
    }
}

pub fn link_state_class(up: bool, running: bool) -> &'static str {
    match (up, running) {
        (true, true) => "state-ok",
        (true, false) => "state-warn",
        (false, _) => "state-off",
    }
}

pub fn address_label(address: &InterfaceAddress) -> String {
    format!("{}/{}", address.address, address.prefix_len)
}

pub fn job_state_class(state: JobState) -> &'static str {
    match state {
        JobState::Queued => "state-off",
        JobState::Running => "state-busy",
        JobState::Succeeded => "state-ok",
        JobState::Failed | JobState::Interrupted => "state-bad",
    }
}

pub fn step_state_label(state: StepState) -> &'static str {
    match state {
        StepState::Pending => "pending",
        StepState::Running => "running",
        StepState::Succeeded => "succeeded",
        StepState::Failed => "failed",
        StepState::Skipped => "skipped",
    }
}

pub fn timestamp(at: &DateTime<Utc>) -> String {
    at.format("%Y-%m-%d %H:%M:%S UTC").to_string()
}

/// Pages in the job log; an empty log still has its one (empty) page.
pub fn page_count(total: u64, per_page: u32) -> u64 {
    let per_page = u64::from(per_page.max(1));
    total.div_ceil(per_page).max(1)
}

pub fn check_state_label(state: CheckState) -> &'static str {
    match state {
        CheckState::Ok => "ok",
        CheckState::Warning => "warning",
        CheckState::Critical => "critical",
        CheckState::Unknown => "unknown",
    }
}

/// The colour of a check's state; browser tests look for these names.
pub fn check_state_class(state: CheckState) -> &'static str {
    match state {
        CheckState::Ok => "check-ok",
        CheckState::Warning => "check-warning",
        CheckState::Critical => "check-critical",
        CheckState::Unknown => "check-unknown",
    }
}

pub fn check_kind_label(kind: CheckKind) -> &'static str {
    match kind {
        CheckKind::Failover => "failover",
        CheckKind::Notify => "notify",
    }
}

pub fn runs_on_label(runs_on: RunsOn) -> &'static str {
    match runs_on {
        RunsOn::Master => "master",
        RunsOn::Slave => "slave",
        RunsOn::Both => "master and slave",
    }
}

pub fn service_state_label(state: ServiceState) -> &'static str {
    match state {
        ServiceState::Running => "running",
        ServiceState::Stopped => "stopped",
        ServiceState::Unknown => "unknown",
    }
}

/// A service is fine when it is in the state its node's role wants.
pub fn service_state_class(state: ServiceState, expected_running: bool) -> &'static str {
    match (state, expected_running) {
        (ServiceState::Running, true) | (ServiceState::Stopped, false) => "state-ok",
        (ServiceState::Unknown, _) => "state-warn",
        _ => "state-bad",
    }
}

pub fn mail_state_label(state: MailState) -> &'static str {
    match state {
        MailState::Queued => "queued",
        MailState::Sent => "sent",
        MailState::Failed => "failed",
    }
}

/// A heartbeat link as the dashboard shows it.
pub fn link_label(up: Option<bool>) -> &'static str {
    match up {
        Some(true) => "up",
        Some(false) => "down",
        None => "—",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_lamp_colour_has_its_class() {
        assert_eq!(lamp_class(Lamp::Green), "lamp-green");
        assert_eq!(lamp_class(Lamp::Yellow), "lamp-yellow");
        assert_eq!(lamp_class(Lamp::Red), "lamp-red");
        assert_eq!(lamp_label(Lamp::Red), "red");
    }

    #[test]
    fn a_missing_cluster_ip_reads_not_configured() {
        assert_eq!(cluster_ip_label(None), "not configured");
        assert_eq!(cluster_ip_label(Some("192.0.2.10/24")), "192.0.2.10/24");
        assert_eq!(mode_label(ClusterMode::Cluster), "cluster");
    }

    #[test]
    fn link_states_read_naturally() {
        assert_eq!(link_state(true, true), "up, running");
        assert_eq!(link_state(true, false), "up, no carrier");
        assert_eq!(link_state(false, true), "down");
        assert_eq!(link_state_class(false, false), "state-off");
    }

    #[test]
    fn addresses_carry_their_prefix() {
        let address = InterfaceAddress {
            address: "2001:db8::1".into(),
            prefix_len: 64,
        };
        assert_eq!(address_label(&address), "2001:db8::1/64");
    }

    #[test]
    fn step_states_match_their_wire_names() {
        for state in [
            StepState::Pending,
            StepState::Running,
            StepState::Succeeded,
            StepState::Failed,
            StepState::Skipped,
        ] {
            let wire = serde_json::to_value(state).ok();
            assert_eq!(
                wire.as_ref().and_then(|v| v.as_str()),
                Some(step_state_label(state))
            );
        }
    }

    #[test]
    fn check_labels_match_their_wire_names() {
        for state in [
            CheckState::Ok,
            CheckState::Warning,
            CheckState::Critical,
            CheckState::Unknown,
        ] {
            let wire = serde_json::to_value(state).ok();
            assert_eq!(
                wire.as_ref().and_then(|v| v.as_str()),
                Some(check_state_label(state))
            );
            assert!(check_state_class(state).ends_with(check_state_label(state)));
        }
        for kind in [CheckKind::Failover, CheckKind::Notify] {
            let wire = serde_json::to_value(kind).ok();
            assert_eq!(
                wire.as_ref().and_then(|v| v.as_str()),
                Some(check_kind_label(kind))
            );
        }
        assert_eq!(runs_on_label(RunsOn::Both), "master and slave");
    }

    #[test]
    fn services_are_fine_in_the_state_their_role_wants() {
        assert_eq!(service_state_class(ServiceState::Running, true), "state-ok");
        assert_eq!(
            service_state_class(ServiceState::Stopped, false),
            "state-ok"
        );
        assert_eq!(
            service_state_class(ServiceState::Stopped, true),
            "state-bad"
        );
        assert_eq!(
            service_state_class(ServiceState::Unknown, true),
            "state-warn"
        );
        assert_eq!(service_state_label(ServiceState::Running), "running");
        assert_eq!(mail_state_label(MailState::Failed), "failed");
        assert_eq!(link_label(Some(false)), "down");
        assert_eq!(link_label(None), "—");
    }

    #[test]
    fn page_count_rounds_up_and_never_drops_to_zero() {
        assert_eq!(page_count(0, 20), 1);
        assert_eq!(page_count(20, 20), 1);
        assert_eq!(page_count(21, 20), 2);
        assert_eq!(page_count(5, 0), 5);
    }

    #[test]
    fn timestamps_are_utc_and_second_precise() {
        let at =
            DateTime::parse_from_rfc3339("2025-03-04T05:06:07.891Z").map(|t| t.with_timezone(&Utc));
        assert_eq!(
            at.map(|t| timestamp(&t)).ok().as_deref(),
            Some("2025-03-04 05:06:07 UTC")
        );
    }
}
