//! The cluster operations' validation on a single node: bad input is refused with the
//! field named and changes nothing. Pairing and failover run in the namespace lab (e2e/).

use std::time::Duration;

use pequod::cluster::ssh::{self, HostKeyPolicy};
use pequod_api::cluster::{Cluster, ClusterMode, Timing, TimingProfile};
use pequod_api::jobs::{Job, JobState};
use reqwest::{Method, StatusCode};

use crate::helpers::{DEADLINE, eventually, read_problem, spawn_app, spawn_with, test_settings};

fn configure(cluster_ip: &str, telephony: &str, cluster: &str, email: &str) -> serde_json::Value {
    serde_json::json!({
        "cluster_ip": cluster_ip,
        "telephony_interface": telephony,
        "cluster_interface": cluster,
        "notification_email": email,
        "gateways": ["10.77.0.1", "2001:db8::1"],
    })
}

#[tokio::test]
async fn configure_master_refuses_a_bad_text_by_field_and_changes_nothing() {
    let app = spawn_app().await;
    let token = app.token().await;
    let good = configure("10.0.0.10/24", "eth0", "eth1", "ops@example.org");
    for (field, value, expected) in [
        (
            "cluster_ip",
            serde_json::json!("10.0.0.300/24"),
            "not an IPv4 address",
        ),
        ("cluster_ip", serde_json::json!("10.0.0.10"), "prefix"),
        (
            "cluster_ip",
            serde_json::json!("127.0.0.1/8"),
            "cannot be a cluster IP",
        ),
        (
            "cluster_ip",
            serde_json::json!(" 10.0.0.10/24"),
            "not an IPv4 address",
        ),
        (
            "telephony_interface",
            serde_json::json!("eth/0"),
            "cannot contain '/'",
        ),
        (
            "cluster_interface",
            serde_json::json!(""),
            "choose an interface",
        ),
        (
            "notification_email",
            serde_json::json!("admin"),
            "not an e-mail address",
        ),
        (
            "notification_email",
            serde_json::json!(" ops@example.org"),
            "spaces",
        ),
        (
            "gateways[1]",
            serde_json::json!(["10.0.0.1", "not-an-ip"]),
            "not an IP address",
        ),
    ] {
        let mut body = good.clone();
        body[field.trim_end_matches("[1]")] = value;
        let response = app
            .send_json(Method::POST, "/api/v1/cluster", &token, &body)
            .await;
        let problem = read_problem(response, StatusCode::UNPROCESSABLE_ENTITY).await;
        assert!(
            problem
                .field_error(field)
                .is_some_and(|m| m.contains(expected)),
            "{field}: {problem:?}"
        );
    }
    let cluster: Cluster = app.get_json("/api/v1/cluster", &token).await;
    assert_eq!(cluster.mode, ClusterMode::Standalone);
    let jobs: pequod_api::jobs::JobPage = app.get_json("/api/v1/jobs", &token).await;
    assert_eq!(jobs.total, 0, "no job was started");
}

/// The timing `GET /api/v1/cluster` shows on a node started with `settings`.
async fn timing_of(settings: impl FnOnce(&mut pequod::settings::Settings)) -> Timing {
    let dir = std::sync::Arc::new(tempfile::tempdir().unwrap());
    let mut node = test_settings(dir.path());
    settings(&mut node);
    let app = spawn_with(node, dir).await;
    let token = app.token().await;
    let cluster: Cluster = app.get_json("/api/v1/cluster", &token).await;
    cluster.timing
}

#[tokio::test]
async fn the_cluster_shows_the_timing_profile_and_the_figures_in_effect() {
    let timing = timing_of(|_| {}).await;
    assert_eq!(timing.profile, TimingProfile::Conservative);
    assert_eq!(
        (timing.heartbeat_interval_ms, timing.dead_after_ms),
        (100, 600)
    );
    assert!(!timing.overridden());

    // The fast profile, its silence set by hand: the profile's interval, the explicit
    // dead-after.
    let timing = timing_of(|s| {
        s.cluster.profile = TimingProfile::Fast;
        s.cluster.dead_after_ms = Some(300);
    })
    .await;
    assert_eq!(timing.profile, TimingProfile::Fast);
    assert_eq!(
        (timing.heartbeat_interval_ms, timing.dead_after_ms),
        (50, 300)
    );
    assert!(timing.overridden());
}

#[tokio::test]
async fn configure_master_names_what_this_node_lacks_as_a_conflict() {
    let app = spawn_app().await;
    let token = app.token().await;
    // Well-formed, but this node has no such interfaces: a 409 that names the fields.
    let response = app
        .send_json(
            Method::POST,
            "/api/v1/cluster",
            &token,
            &configure("10.0.0.10/24", "nosuch0", "nosuch0", "admin@example.org"),
        )
        .await;
    let problem = read_problem(response, StatusCode::CONFLICT).await;
    assert!(
        problem
            .field_error("telephony_interface")
            .is_some_and(|m| m.contains("no interface \"nosuch0\"")),
        "{problem:?}"
    );
    assert!(
        problem.field_error("cluster_interface").is_some(),
        "{problem:?}"
    );

    let cluster: Cluster = app.get_json("/api/v1/cluster", &token).await;
    assert_eq!(cluster.mode, ClusterMode::Standalone);
    let jobs: pequod_api::jobs::JobPage = app.get_json("/api/v1/jobs", &token).await;
    assert_eq!(jobs.total, 0, "no job was started");
}

#[tokio::test]
async fn cluster_changes_on_a_standalone_node_are_conflicts() {
    let app = spawn_app().await;
    let token = app.token().await;
    let add = serde_json::json!({ "hostname": "node2", "telephony_ip": "10.77.0.12", "sync_ip": "10.78.0.2" });
    let problem = read_problem(
        app.send_json(Method::POST, "/api/v1/slaves", &token, &add)
            .await,
        StatusCode::CONFLICT,
    )
    .await;
    assert!(
        problem.message().contains("Configure master"),
        "{problem:?}"
    );
    let response = app
        .client
        .post(app.url("/api/v1/cluster/failover"))
        .bearer_auth(&token)
        .send()
        .await
        .expect("request");
    problem_is_conflict(response).await;
    // Forcing is for the slave whose master is gone; a standalone node says so.
    let forced = app
        .send_json(
            Method::POST,
            "/api/v1/cluster/failover",
            &token,
            &serde_json::json!({ "force": true }),
        )
        .await;
    let problem = read_problem(forced, StatusCode::CONFLICT).await;
    assert!(problem.message().contains("forced failover"), "{problem:?}");
    // A body that is not JSON is refused with a clear error, and nothing happens.
    let response = app
        .client
        .post(app.url("/api/v1/cluster/failover"))
        .bearer_auth(&token)
        .header("content-type", "application/json")
        .body("{force: yes}")
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let response = app
        .client
        .delete(app.url("/api/v1/slaves/node2"))
        .bearer_auth(&token)
        .send()
        .await
        .expect("request");
    problem_is_conflict(response).await;
}

async fn problem_is_conflict(response: reqwest::Response) {
    read_problem(response, StatusCode::CONFLICT).await;
}

#[tokio::test]
async fn add_slave_rejects_bad_addresses_by_field() {
    let app = spawn_app().await;
    let token = app.token().await;
    let add = serde_json::json!({ "hostname": "bad_name", "telephony_ip": "10.77.0.12", "sync_ip": "10.78.0.2" });
    let problem = read_problem(
        app.send_json(Method::POST, "/api/v1/slaves", &token, &add)
            .await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert!(problem.field_error("hostname").is_some(), "{problem:?}");
}

#[tokio::test]
async fn prepare_slave_needs_a_real_ed25519_key_and_then_trusts_it() {
    let app = spawn_app().await;
    let token = app.token().await;
    for (key, expected) in [
        ("hello", "not an OpenSSH public key"),
        ("ssh-ed25519 AAAA", "not an OpenSSH public key"),
    ] {
        let body = serde_json::json!({ "master_public_key": key });
        let response = app
            .send_json(
                Method::POST,
                "/api/v1/nodes/self/prepare-slave",
                &token,
                &body,
            )
            .await;
        let problem = read_problem(response, StatusCode::UNPROCESSABLE_ENTITY).await;
        assert!(
            problem
                .field_error("master_public_key")
                .is_some_and(|m| m.contains(expected)),
            "{key}: {problem:?}"
        );
    }
    let own: pequod_api::nodes::Node = app.get_json("/api/v1/nodes/self", &token).await;
    let body = serde_json::json!({ "master_public_key": own.public_key });
    let response = app
        .send_json(
            Method::POST,
            "/api/v1/nodes/self/prepare-slave",
            &token,
            &body,
        )
        .await;
    // Well-formed, but this node's own: a conflict, still named by field.
    let problem = read_problem(response, StatusCode::CONFLICT).await;
    assert!(
        problem
            .field_error("master_public_key")
            .is_some_and(|m| m.contains("own key"))
    );
    assert!(
        app.state
            .store
            .trusted_keys()
            .await
            .expect("keys")
            .is_empty()
    );

    // A real key of another node: refused by the SSH server until the node is prepared.
    let other = tempfile::tempdir().expect("tempdir");
    let master_key =
        pequod::identity::load_or_create_ssh_key(other.path(), "pequod@node1").expect("key");
    let master_private = ssh::load_node_key(&other.path().join(pequod::identity::SSH_KEY_FILE))
        .expect("private key");
    let hello = || {
        ssh::call(
            app.ssh_addr,
            &master_private,
            HostKeyPolicy::TrustOnFirstUse,
            "hello",
            b"null",
            Duration::from_secs(10),
        )
    };
    assert!(matches!(
        hello().await,
        Err(ssh::SshError::AuthRejected { .. })
    ));
    let body = serde_json::json!({ "master_public_key": master_key });
    let response = app
        .send_json(
            Method::POST,
            "/api/v1/nodes/self/prepare-slave",
            &token,
            &body,
        )
        .await;
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    let location = response
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .expect("Location header")
        .to_string();
    let job: Job = eventually(DEADLINE, || async {
        let job: Job = app.get_json(&location, &token).await;
        (job.summary.state == JobState::Succeeded).then_some(job)
    })
    .await;
    assert_eq!(job.summary.kind, pequod_api::jobs::JobKind::PrepareSlave);
    let trusted = app.state.store.trusted_keys().await.expect("keys");
    assert_eq!(trusted, vec![master_key.trim().to_string()]);
    let answer = hello().await.expect("the prepared node accepts the master");
    let hello: serde_json::Value = serde_json::from_slice(&answer.stdout).expect("JSON");
    assert_eq!(hello["hostname"], own.hostname.as_str());
    assert_eq!(hello["role"], "standalone");
}
