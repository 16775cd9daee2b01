use pequod_api::cluster::{Cluster, ClusterMode, Lamp, Role};
use pequod_api::nodes::{Interface, Node};
use reqwest::{Method, StatusCode};

use crate::helpers::{read_problem, spawn_app};

#[tokio::test]
async fn a_fresh_node_is_standalone_with_a_green_lamp() {
    let app = spawn_app().await;
    let token = app.token().await;
    let cluster: Cluster = app.get_json("/api/v1/cluster", &token).await;
    assert_eq!(cluster.mode, ClusterMode::Standalone);
    assert_eq!(cluster.role, Role::Standalone);
    assert_eq!(cluster.epoch, 0);
    assert_eq!(cluster.cluster_ip, None);
    assert_eq!(cluster.lamp, Lamp::Green);

    let nodes: Vec<Node> = app.get_json("/api/v1/nodes", &token).await;
    assert_eq!(nodes.len(), 1);
    assert!(nodes[0].is_self);
    let slaves: Vec<serde_json::Value> = app.get_json("/api/v1/slaves", &token).await;
    assert!(slaves.is_empty());
}

#[tokio::test]
async fn the_node_shows_its_ed25519_public_key() {
    let app = spawn_app().await;
    let token = app.token().await;
    let node: Node = app.get_json("/api/v1/nodes/self", &token).await;
    assert!(
        node.public_key.starts_with("ssh-ed25519 AAAA"),
        "{}",
        node.public_key
    );
    assert_eq!(node.version, env!("CARGO_PKG_VERSION"));
    assert_eq!(node.role, Role::Standalone);
    let private = std::fs::read_to_string(app.data_path().join(pequod::identity::SSH_KEY_FILE))
        .expect("key file");
    assert!(private.contains("BEGIN OPENSSH PRIVATE KEY"));
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(app.data_path().join(pequod::identity::SSH_KEY_FILE))
        .expect("metadata")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
}

#[tokio::test]
async fn a_valid_hostname_is_stored() {
    let app = spawn_app().await;
    let token = app.token().await;
    let response = app
        .send_json(
            Method::PATCH,
            "/api/v1/nodes/self",
            &token,
            &serde_json::json!({ "hostname": "Node1" }),
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let node: Node = response.json().await.expect("node");
    assert_eq!(node.hostname.as_str(), "node1");
    let node: Node = app.get_json("/api/v1/nodes/self", &token).await;
    assert_eq!(node.hostname.as_str(), "node1");
}

#[tokio::test]
async fn a_bad_hostname_gets_a_problem_naming_the_field_and_changes_nothing() {
    let app = spawn_app().await;
    let token = app.token().await;
    let before: Node = app.get_json("/api/v1/nodes/self", &token).await;
    for (bad, expected) in [
        ("node_1", "may contain only"),
        ("-node", "must not start or end"),
        ("", "must not be empty"),
        (&"n".repeat(64) as &str, "at most 63"),
    ] {
        let response = app
            .send_json(
                Method::PATCH,
                "/api/v1/nodes/self",
                &token,
                &serde_json::json!({ "hostname": bad }),
            )
            .await;
        let problem = read_problem(response, StatusCode::UNPROCESSABLE_ENTITY).await;
        let message = problem.field_error("hostname").unwrap_or_default();
        assert!(message.contains(expected), "{bad:?}: {problem:?}");
    }
    let response = app
        .send_json(
            Method::PATCH,
            "/api/v1/nodes/self",
            &token,
            &serde_json::json!({ "hostname": 42 }),
        )
        .await;
    let problem = read_problem(response, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert!(problem.field_error("hostname").is_some(), "{problem:?}");

    let response = app
        .send_json(
            Method::PATCH,
            "/api/v1/nodes/self",
            &token,
            &serde_json::json!({ "host": "node1" }),
        )
        .await;
    let problem = read_problem(response, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert!(problem.field_error("host").is_some(), "{problem:?}");

    let response = app
        .client
        .patch(app.url("/api/v1/nodes/self"))
        .bearer_auth(&token)
        .header("content-type", "application/json")
        .body("{\"hostname\": ")
        .send()
        .await
        .expect("request");
    read_problem(response, StatusCode::BAD_REQUEST).await;

    let after: Node = app.get_json("/api/v1/nodes/self", &token).await;
    assert_eq!(before.hostname, after.hostname);
}

#[tokio::test]
async fn interfaces_are_read_from_the_kernel() {
    let app = spawn_app().await;
    let token = app.token().await;
    let interfaces: Vec<Interface> = app.get_json("/api/v1/nodes/self/interfaces", &token).await;
    let lo = interfaces
        .iter()
        .find(|i| i.name == "lo")
        .expect("loopback is listed");
    assert!(lo.loopback && lo.up);
    assert!(
        lo.addresses
            .iter()
            .any(|a| a.address == "127.0.0.1" && a.prefix_len == 8),
        "{lo:?}"
    );
    // Cross-check with sysfs: same index for the same name (interfaces that other
    // tests create and delete meanwhile may come and go, so only those present count).
    let mut compared = 0;
    for interface in &interfaces {
        let path = format!("/sys/class/net/{}/ifindex", interface.name);
        if let Ok(text) = std::fs::read_to_string(path) {
            assert_eq!(
                text.trim(),
                interface.index.to_string(),
                "{}",
                interface.name
            );
            compared += 1;
        }
    }
    assert!(compared >= 1);
}

#[tokio::test]
async fn the_node_keeps_its_identity_key_and_hostname_across_restarts() {
    let app = spawn_app().await;
    let token = app.token().await;
    app.send_json(
        Method::PATCH,
        "/api/v1/nodes/self",
        &token,
        &serde_json::json!({ "hostname": "pbx-a" }),
    )
    .await;
    let before: Node = app.get_json("/api/v1/nodes/self", &token).await;
    let app = app.restart().await;
    // The token secret is kept too, so the old token still works.
    let after: Node = app.get_json("/api/v1/nodes/self", &token).await;
    assert_eq!(before.id, after.id);
    assert_eq!(before.public_key, after.public_key);
    assert_eq!(after.hostname.as_str(), "pbx-a");
}
