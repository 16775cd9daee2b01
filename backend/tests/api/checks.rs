//! The check engine through the API on a standalone node: which checks run, running
//! one now, filters, timeouts, RAID on real files, "not configured" against "cannot
//! tell", and a failing check turning the lamp red once it is confirmed.

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
    assert!(!time.configured, "{time:?}");
    assert!(time.hard, "retrying will not configure it");
    assert_eq!(
        time.output,
        "no NTP server is configured (checks.ntp_server)"
    );

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

#[tokio::test]
async fn not_configured_checks_light_nothing_but_a_check_that_cannot_tell_is_yellow() {
    let status = Arc::new(AtomicU16::new(200));
    let sip_port = sip_responder(status).await;
    let dir = Arc::new(tempfile::tempdir().expect("data dir"));
    let mut settings = test_settings(dir.path());
    settings.checks.sip_port = sip_port;
    // The lamp must not depend on how full the test machine's disk is.
    settings.checks.disk_warning_percent = 100.0;
    settings.checks.disk_critical_percent = 100.0;
    settings.checks.custom = vec![plugin_check(
        "oracle",
        &[CHECK_DUMMY, "3", "no idea"],
        CheckKind::Notify,
    )];
    let app = spawn_with(settings, dir).await;
    let token = app.token().await;

    for (id, why) in [
        ("time", "no NTP server is configured (checks.ntp_server)"),
        (
            "asterisk-ami",
            "no Asterisk manager address is configured (checks.ami_address)",
        ),
        (
            "database-query",
            "no database is managed on this node ([database])",
        ),
    ] {
        let check = app.run_check(&token, id).await;
        assert_eq!(
            (
                check.state,
                check.configured,
                check.hard,
                check.output.as_str()
            ),
            (CheckState::Unknown, false, true, why),
            "{id}"
        );
    }
    // Not run on a standalone node, but each has its own answer all the same.
    for id in ["filesystem-sync", "rsync-server", "database-sync"] {
        let check = app.run_check(&token, id).await;
        assert!(!check.configured, "{check:?}");
        let expected = match id {
            "database-sync" => "no database is managed on this node ([database])",
            _ => "no synced paths are configured ([files] paths)",
        };
        assert_eq!(check.output, expected);
    }
    for id in ["asterisk-sip", "disk-usage", "default-services"] {
        let check = app.run_check(&token, id).await;
        assert_eq!(check.state, CheckState::Ok, "{check:?}");
    }
    // The scheduler may already have run the oracle (below); the not-configured
    // checks themselves never give the lamp a reason.
    let cluster: Cluster = app.get_json("/api/v1/cluster", &token).await;
    assert!(
        cluster
            .lamp_reasons
            .iter()
            .all(|reason| reason.contains("oracle")),
        "not configured is no problem: {:?}",
        cluster.lamp_reasons
    );
    assert_ne!(cluster.lamp, Lamp::Red);

    let oracle = app.run_check(&token, "oracle").await;
    assert_eq!(oracle.state, CheckState::Unknown);
    assert!(oracle.configured && oracle.hard, "{oracle:?}");
    let cluster: Cluster = app.get_json("/api/v1/cluster", &token).await;
    assert_eq!(
        (cluster.lamp, cluster.lamp_reasons),
        (
            Lamp::Yellow,
            vec!["Custom oracle is unknown: UNKNOWN: no idea".to_owned()]
        ),
        "cannot tell is not all well"
    );
}

#[tokio::test]
async fn the_state_filter_lists_the_checks_in_that_state_and_no_others() {
    let dir = Arc::new(tempfile::tempdir().expect("data dir"));
    let mut settings = test_settings(dir.path());
    settings.checks.custom = vec![
        plugin_check("trunk-down", &[CHECK_DUMMY, "2", "down"], CheckKind::Notify),
        plugin_check("trunk-up", &[CHECK_DUMMY, "0", "up"], CheckKind::Notify),
    ];
    let app = spawn_with(settings, dir).await;
    let token = app.token().await;
    assert_eq!(
        app.run_check(&token, "trunk-down").await.state,
        CheckState::Critical
    );
    assert_eq!(
        app.run_check(&token, "trunk-up").await.state,
        CheckState::Ok
    );

    let ids = |checks: Vec<Check>| -> Vec<String> { checks.into_iter().map(|c| c.id).collect() };
    let critical = ids(app.get_json("/api/v1/checks?state=critical", &token).await);
    assert!(critical.contains(&"trunk-down".to_owned()), "{critical:?}");
    assert!(!critical.contains(&"trunk-up".to_owned()), "{critical:?}");
    let ok = ids(app.get_json("/api/v1/checks?state=ok", &token).await);
    assert!(ok.contains(&"trunk-up".to_owned()), "{ok:?}");
    assert!(!ok.contains(&"trunk-down".to_owned()), "{ok:?}");
    let both = ids(app
        .get_json("/api/v1/checks?state=critical&kind=notify", &token)
        .await);
    assert_eq!(both, critical, "every check here is a notify check");
    let none: Vec<Check> = app
        .get_json("/api/v1/checks?state=critical&kind=failover", &token)
        .await;
    assert!(none.is_empty(), "{none:?}");
}

#[tokio::test]
async fn raid_reads_the_configured_mdstat_healthy_degraded_and_absent() {
    let dir = Arc::new(tempfile::tempdir().expect("data dir"));
    let mdstat = dir.path().join("mdstat");
    let mut settings = test_settings(dir.path());
    settings.checks.raid_mdstat = mdstat.clone();
    let app = spawn_with(settings, dir).await;
    let token = app.token().await;

    std::fs::write(
        &mdstat,
        "Personalities : [raid1]\nmd0 : active raid1 sdb1[1] sda1[0]\n      \
         1046528 blocks super 1.2 [2/2] [UU]\n\nunused devices: <none>\n",
    )
    .unwrap();
    let healthy = app.run_check(&token, "raid").await;
    assert_eq!(healthy.state, CheckState::Ok, "{healthy:?}");
    assert_eq!(healthy.output, "RAID OK - all 1 arrays healthy (md0)");
    assert!(healthy.configured);

    std::fs::write(
        &mdstat,
        "Personalities : [raid1]\nmd0 : active raid1 sdb1[1](F) sda1[0]\n      \
         1046528 blocks super 1.2 [2/1] [U_]\n\nunused devices: <none>\n",
    )
    .unwrap();
    let first = app.run_check(&token, "raid").await;
    assert_eq!(first.state, CheckState::Critical, "{first:?}");
    assert!(!first.hard, "RAID confirms over two readings");
    let degraded = app.run_check(&token, "raid").await;
    assert_eq!(
        (degraded.state, degraded.hard, degraded.kind),
        (CheckState::Critical, true, CheckKind::Failover)
    );
    assert_eq!(
        degraded.output,
        "RAID CRITICAL - md0 degraded: failed sdb1, 1 of 2 disks missing [U_]"
    );

    std::fs::remove_file(&mdstat).unwrap();
    let absent = app.run_check(&token, "raid").await;
    assert_eq!(absent.state, CheckState::Unknown);
    assert!(
        !absent.configured,
        "no mdstat, no software RAID: {absent:?}"
    );
    assert_eq!(absent.output, "no software RAID found");
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
        plugin_check("hung-failover", &["/bin/sleep", "30"], CheckKind::Failover),
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

    // A hung notify check cannot tell; a hung failover check is taken as failed.
    let started = std::time::Instant::now();
    let hung = app.run_check(&token, "hung").await;
    assert_eq!(hung.state, CheckState::Unknown);
    assert!(hung.configured);
    assert_eq!(hung.output, "plugin timed out after 1 s");
    assert!(
        started.elapsed() < std::time::Duration::from_secs(10),
        "killed at its timeout"
    );
    // It runs on the master only, but "run now" works anywhere.
    let hung = app.run_check(&token, "hung-failover").await;
    assert_eq!(hung.state, CheckState::Critical, "{hung:?}");
    assert!(hung.hard, "max_attempts 1 confirms at once");
    assert_eq!(hung.output, "plugin timed out after 1 s");

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
