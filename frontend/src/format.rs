//! How values of the wire types are shown: pure functions, tested natively.

use chrono::{DateTime, Utc};
use pequod_api::checks::{CheckKind, CheckState, RunsOn};
use pequod_api::cluster::{ClusterMode, Lamp};
use pequod_api::jobs::{JobState, StepState};
use pequod_api::nodes::InterfaceAddress;
use pequod_api::notifications::MailState;
use pequod_api::services::ServiceState;
use pequod_api::sync::{
    DatabaseRole, DatabaseSync, Durability, FilePass, FilePassKind, FileSyncDirection,
};

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

/// Shown in place of a half of the data sync this node does not run.
pub const NOT_MANAGED: &str = "not managed on this node";

pub fn database_role_label(role: DatabaseRole) -> &'static str {
    match role {
        DatabaseRole::Primary => "primary",
        DatabaseRole::Standby => "standby",
        DatabaseRole::Stopped => "stopped",
        DatabaseRole::Unknown => "unknown",
    }
}

/// What a commit waits for, and its colour: the warning colour, with the reason, when
/// the settings ask for sync but commits do not wait for the slave now.
pub fn commit_label(database: &DatabaseSync) -> (String, &'static str) {
    let asked = database.durability_setting == Durability::Sync;
    match (&database.degraded, database.durability) {
        (Some(reason), _) => (
            format!("async although sync is asked: {reason}"),
            "state state-warn",
        ),
        (None, Durability::Async) if asked => (
            "async although sync is asked".to_owned(),
            "state state-warn",
        ),
        (None, Durability::Sync) => (
            "commits wait for the slave (sync)".to_owned(),
            "state state-ok",
        ),
        (None, Durability::Async) => ("async".to_owned(), "state"),
    }
}

pub fn yes_no(value: bool) -> &'static str {
    if value { "yes" } else { "no" }
}

/// The standby's lag as "N bytes, S s"; `None` when neither is known.
pub fn lag_label(bytes: Option<u64>, seconds: Option<f64>) -> Option<String> {
    let bytes = bytes.map(|n| match n {
        1 => "1 byte".to_owned(),
        n => format!("{n} bytes"),
    });
    let seconds = seconds.map(|s| format!("{s:.1} s"));
    match (bytes, seconds) {
        (Some(bytes), Some(seconds)) => Some(format!("{bytes}, {seconds}")),
        (one, other) => one.or(other),
    }
}

pub fn file_direction_label(direction: FileSyncDirection) -> &'static str {
    match direction {
        FileSyncDirection::Pushing => "pushing to the slave",
        FileSyncDirection::Receiving => "receiving from the master",
        FileSyncDirection::Idle => "idle",
    }
}

pub fn file_pass_kind_label(kind: FilePassKind) -> &'static str {
    match kind {
        FilePassKind::Full => "full pass",
        FilePassKind::Changes => "changes",
    }
}

/// A run time a person reads at a glance: milliseconds below a second, then seconds,
/// then minutes.
pub fn duration_label(ms: u64) -> String {
    match ms {
        0..1_000 => format!("{ms} ms"),
        1_000..60_000 => format!("{:.1} s", ms as f64 / 1_000.0),
        _ => format!("{} min {} s", ms / 60_000, ms % 60_000 / 1_000),
    }
}

/// The last pass without its error: what it covered, when it started, how long it took.
pub fn file_pass_label(pass: &FilePass) -> String {
    format!(
        "{} at {}, took {}",
        file_pass_kind_label(pass.kind),
        timestamp(&pass.started),
        duration_label(pass.duration_ms)
    )
}

/// When a failed pass is tried again, with the failures so far.
pub fn retry_label(pending: Option<&DateTime<Utc>>, failed_passes: u64) -> String {
    let failed = match failed_passes {
        1 => "1 failed pass".to_owned(),
        n => format!("{n} failed passes"),
    };
    match pending {
        Some(at) => format!("at {} ({failed})", timestamp(at)),
        None if failed_passes == 0 => "none".to_owned(),
        None => format!("none ({failed})"),
    }
}

/// What the last comparison of master and slave found, when there was one; the
/// differing paths themselves are listed beside it.
pub fn comparison_label(differing: usize, compared_at: Option<&DateTime<Utc>>) -> String {
    match (differing, compared_at) {
        (0, None) => "not compared yet".to_owned(),
        (0, Some(at)) => format!("all paths equal (compared {})", timestamp(at)),
        (1, at) => format!("1 path differs{}", compared_suffix(at)),
        (n, at) => format!("{n} paths differ{}", compared_suffix(at)),
    }
}

fn compared_suffix(at: Option<&DateTime<Utc>>) -> String {
    at.map(|at| format!(" (compared {})", timestamp(at)))
        .unwrap_or_default()
}

pub fn optional_timestamp(at: Option<&DateTime<Utc>>) -> String {
    at.map(timestamp).unwrap_or_else(|| "never".to_owned())
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

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text)
            .map(|t| t.with_timezone(&Utc))
            .unwrap_or_default()
    }

    fn database(durability_setting: Durability, durability: Durability) -> DatabaseSync {
        DatabaseSync {
            role: DatabaseRole::Primary,
            durability_setting,
            durability,
            degraded: None,
            standby: Some("node2".into()),
            standby_streaming: Some(true),
            lag_bytes: Some(0),
            lag_seconds: Some(0.0),
            checked_at: None,
            error: None,
        }
    }

    #[test]
    fn commits_say_whether_they_wait_for_the_slave() {
        let sync = database(Durability::Sync, Durability::Sync);
        assert_eq!(
            commit_label(&sync),
            (
                "commits wait for the slave (sync)".to_owned(),
                "state state-ok"
            )
        );
        let asked_async = database(Durability::Async, Durability::Async);
        assert_eq!(commit_label(&asked_async).0, "async");
        assert!(!commit_label(&asked_async).1.contains("warn"));
    }

    #[test]
    fn degraded_commits_warn_with_their_reason() {
        let mut degraded = database(Durability::Sync, Durability::Async);
        degraded.degraded = Some("the slave does not stream".into());
        let (label, class) = commit_label(&degraded);
        assert_eq!(
            label,
            "async although sync is asked: the slave does not stream"
        );
        assert_eq!(class, "state state-warn");
        degraded.degraded = None;
        assert_eq!(
            commit_label(&degraded).1,
            "state state-warn",
            "even without a reason"
        );
    }

    #[test]
    fn lag_reads_in_bytes_and_seconds() {
        assert_eq!(
            lag_label(Some(4096), Some(1.34)).as_deref(),
            Some("4096 bytes, 1.3 s")
        );
        assert_eq!(lag_label(Some(1), None).as_deref(), Some("1 byte"));
        assert_eq!(lag_label(None, Some(3.0)).as_deref(), Some("3.0 s"));
        assert_eq!(lag_label(None, None), None);
    }

    #[test]
    fn database_roles_and_directions_read_naturally() {
        for role in [
            DatabaseRole::Primary,
            DatabaseRole::Standby,
            DatabaseRole::Stopped,
            DatabaseRole::Unknown,
        ] {
            let wire = serde_json::to_value(role).ok();
            assert_eq!(
                wire.as_ref().and_then(|v| v.as_str()),
                Some(database_role_label(role))
            );
        }
        assert_eq!(
            file_direction_label(FileSyncDirection::Pushing),
            "pushing to the slave"
        );
        assert_eq!(
            file_direction_label(FileSyncDirection::Receiving),
            "receiving from the master"
        );
        assert_eq!(yes_no(false), "no");
    }

    #[test]
    fn durations_read_at_a_glance() {
        assert_eq!(duration_label(0), "0 ms");
        assert_eq!(duration_label(999), "999 ms");
        assert_eq!(duration_label(1_500), "1.5 s");
        assert_eq!(duration_label(125_000), "2 min 5 s");
    }

    #[test]
    fn a_pass_says_what_when_and_how_long() {
        let pass = FilePass {
            kind: FilePassKind::Full,
            started: at("2025-03-04T05:06:07Z"),
            duration_ms: 2_300,
            error: Some("rsync: connection refused".into()),
        };
        assert_eq!(
            file_pass_label(&pass),
            "full pass at 2025-03-04 05:06:07 UTC, took 2.3 s"
        );
        let changes = FilePass {
            kind: FilePassKind::Changes,
            duration_ms: 40,
            ..pass
        };
        assert_eq!(
            file_pass_label(&changes),
            "changes at 2025-03-04 05:06:07 UTC, took 40 ms"
        );
    }

    #[test]
    fn a_pending_retry_names_its_time_and_the_failures() {
        let when = at("2025-03-04T05:07:00Z");
        assert_eq!(
            retry_label(Some(&when), 3),
            "at 2025-03-04 05:07:00 UTC (3 failed passes)"
        );
        assert_eq!(
            retry_label(Some(&when), 1),
            "at 2025-03-04 05:07:00 UTC (1 failed pass)"
        );
        assert_eq!(retry_label(None, 0), "none");
        assert_eq!(retry_label(None, 2), "none (2 failed passes)");
    }

    #[test]
    fn a_comparison_tells_equal_from_not_compared() {
        let when = at("2025-03-04T05:06:07Z");
        assert_eq!(comparison_label(0, None), "not compared yet");
        assert_eq!(
            comparison_label(0, Some(&when)),
            "all paths equal (compared 2025-03-04 05:06:07 UTC)"
        );
        assert_eq!(
            comparison_label(1, Some(&when)),
            "1 path differs (compared 2025-03-04 05:06:07 UTC)"
        );
        assert_eq!(comparison_label(2, None), "2 paths differ");
        assert_eq!(optional_timestamp(None), "never");
        assert_eq!(optional_timestamp(Some(&when)), "2025-03-04 05:06:07 UTC");
    }
}
