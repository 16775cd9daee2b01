//! The check engine through the API on a standalone node: which checks run, running
//! one now, filters, and a failing check turning the lamp red once it is confirmed.

use std::sync::Arc;
use std::sync::atomic::{AtomicU16, Ordering};

use pequod_api::checks::{Check, CheckDetail, CheckKind, CheckState};
use pequod_api::cluster::{Cluster, Lamp};
use reqwest::StatusCode;

use crate::helpers::{read_problem, sip_responder, spawn_app, spawn_with, test_settings};

#[tokio::test]
async fn a_standalone_node_runs_the_notify_checks_that_need_no_peer() {
    let app = spawn_app().await;
    let token = app.token().await;
    let checks: Vec<Check> = app.get_json("/api/v1/checks", &token).await;
    let ids: Vec<&str> = checks.iter().map(|c| c.id.as_str()).collect();
    for id in ["asterisk-sip", "default-services", "disk-usage", "time"] {
        assert!(ids.contains(&id), "{id} runs on a standalone node: {ids:?}");
    }
    for id in [
        "master-node-alive",
        "network-failover",
        "filesystem-sync",
        "rsync-server",
    ] {
        assert!(!ids.contains(&id), "{id} needs a cluster: {ids:?}");
    }
    let failover: Vec<Check> = app.get_json("/api/v1/checks?kind=failover", &token).await;
    assert!(failover.is_empty());
    assert!(checks.iter().all(|c| c.kind == CheckKind::Notify));
    read_problem(
        app.get("/api/v1/checks?kind=sometimes", &token).await,
        StatusCode::BAD_REQUEST,
    )
    .await;
    read_problem(
        app.get("/api/v1/checks/nonsense", &token).await,
        StatusCode::NOT_FOUND,
    )
    .await;
}

#[tokio::test]
async fn running_a_check_now_records_its_result_and_history() {
    let app = spawn_app().await;
    let token = app.token().await;
    let disk = app.run_check(&token, "disk-usage").await;
    assert!(disk.last_check.is_some());
    assert_ne!(disk.state, CheckState::Unknown, "{disk:?}");
    assert!(disk.output.contains('%'), "{disk:?}");

    // Without an NTP server the Time check says so, and that is no warning.
    let time = app.run_check(&token, "time").await;
    assert_eq!(time.state, CheckState::Unknown);
    assert_eq!(time.output, "not configured");
    let unknown: Vec<Check> = app.get_json("/api/v1/checks?state=unknown", &token).await;
    assert!(unknown.iter().any(|c| c.id == "time"));
    let cluster: Cluster = app.get_json("/api/v1/cluster", &token).await;
    assert_eq!(cluster.lamp, Lamp::Green, "{:?}", cluster.lamp_reasons);

    // The scheduler runs it too (once at start): at least our two runs are recorded.
    let again = app.run_check(&token, "time").await;
    let detail: CheckDetail = app.get_json("/api/v1/checks/time", &token).await;
    assert!(detail.history.len() >= 2, "{:?}", detail.history);
    assert_eq!(Some(detail.history[0].at), again.last_check);
    assert!(
        detail.history.windows(2).all(|w| w[0].at >= w[1].at),
        "newest first"
    );
}

#[tokio::test]
async fn a_confirmed_critical_check_turns_the_lamp_red_until_it_recovers() {
    let status = Arc::new(AtomicU16::new(503));
    let port = sip_responder(status.clone()).await;
    let dir = Arc::new(tempfile::tempdir().expect("tempdir"));
    let mut settings = test_settings(dir.path());
    settings.checks.sip_port = port;
    let app = spawn_with(settings, dir).await;
    let token = app.token().await;

    let first = app.run_check(&token, "asterisk-sip").await;
    assert_eq!(first.state, CheckState::Critical, "{first:?}");
    assert!(!first.hard, "one failure is not yet confirmed");
    let cluster: Cluster = app.get_json("/api/v1/cluster", &token).await;
    assert_eq!(
        cluster.lamp,
        Lamp::Green,
        "a soft problem does not light the lamp"
    );

    app.run_check(&token, "asterisk-sip").await;
    let third = app.run_check(&token, "asterisk-sip").await;
    assert!(
        third.hard && third.state == CheckState::Critical,
        "{third:?}"
    );
    let cluster: Cluster = app.get_json("/api/v1/cluster", &token).await;
    assert_eq!(cluster.lamp, Lamp::Red);
    assert!(
        cluster
            .lamp_reasons
            .iter()
            .any(|r| r.contains("Asterisk SIP")),
        "{:?}",
        cluster.lamp_reasons
    );

    status.store(200, Ordering::Relaxed);
    let recovered = app.run_check(&token, "asterisk-sip").await;
    assert_eq!(recovered.state, CheckState::Ok, "{recovered:?}");
    let cluster: Cluster = app.get_json("/api/v1/cluster", &token).await;
    assert_eq!(cluster.lamp, Lamp::Green);
}

fn plugin_check(
    id: &str,
    command: &[&str],
    kind: CheckKind,
) -> pequod::checks::engine::CustomCheck {
    pequod::checks::engine::CustomCheck {
        id: id.into(),
        name: format!("Custom {id}"),
        command: command.iter().map(|s| s.to_string()).collect(),
        kind,
        runs_on: pequod_api::checks::RunsOn::Master,
        interval_secs: 60,
        retry_interval_secs: 20,
        timeout_secs: 1,
        max_attempts: 1,
    }
}

const CHECK_DUMMY: &str = "/usr/lib/nagios/plugins/check_dummy";

#[tokio::test]
async fn custom_plugin_checks_run_with_the_built_in_ones() {
    assert!(
        std::path::Path::new(CHECK_DUMMY).is_file(),
        "{CHECK_DUMMY} is missing: scripts/setup installs monitoring-plugins-basic"
    );
    let dir = Arc::new(tempfile::tempdir().expect("data dir"));
    let mut settings = test_settings(dir.path());
    settings.checks.custom = vec![
        plugin_check(
            "trunk",
            &[CHECK_DUMMY, "2", "trunk down"],
            CheckKind::Notify,
        ),
        plugin_check("hung", &["/bin/sleep", "30"], CheckKind::Notify),
        plugin_check("garbled", &["/bin/sh", "-c", "exit 7"], CheckKind::Notify),
        // A failover check runs on the master only, not on this standalone node.
        plugin_check("master-only", &[CHECK_DUMMY, "0"], CheckKind::Failover),
    ];
    let app = spawn_with(settings, dir.clone()).await;
    let token = app.token().await;

    let checks: Vec<Check> = app.get_json("/api/v1/checks", &token).await;
    let ids: Vec<&str> = checks.iter().map(|c| c.id.as_str()).collect();
    for id in ["trunk", "hung", "garbled", "disk-usage"] {
        assert!(ids.contains(&id), "{id} runs here: {ids:?}");
    }
    assert!(!ids.contains(&"master-only"), "{ids:?}");

    let trunk = app.run_check(&token, "trunk").await;
    assert_eq!(trunk.state, CheckState::Critical);
    assert!(trunk.hard, "max_attempts 1 confirms at once");
    assert_eq!(trunk.output, "CRITICAL: trunk down");
    assert_eq!(trunk.name, "Custom trunk");

    let started = std::time::Instant::now();
    let hung = app.run_check(&token, "hung").await;
    assert_eq!(hung.state, CheckState::Unknown);
    assert!(
        hung.output.contains("timed out") || hung.output.contains("did not end"),
        "{}",
        hung.output
    );
    assert!(
        started.elapsed() < std::time::Duration::from_secs(10),
        "killed at its timeout"
    );

    let garbled = app.run_check(&token, "garbled").await;
    assert_eq!(garbled.state, CheckState::Unknown, "{}", garbled.output);

    let cluster: Cluster = app.get_json("/api/v1/cluster", &token).await;
    assert_eq!(cluster.lamp, Lamp::Red);
    assert!(
        cluster
            .lamp_reasons
            .iter()
            .any(|r| r.contains("Custom trunk")),
        "{:?}",
        cluster.lamp_reasons
    );
}
