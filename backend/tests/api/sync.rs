//! `/sync`: the data sync's state. A standalone node manages neither half; the halves
//! themselves run in the namespace lab (e2e/).

use pequod_api::paths::SYNC;
use pequod_api::sync::SyncStatus;
use reqwest::StatusCode;

use crate::helpers::{read_problem, spawn_app};

#[tokio::test]
async fn the_sync_state_needs_a_token() {
    let app = spawn_app().await;
    let problem = read_problem(app.get_anonymous(SYNC).await, StatusCode::UNAUTHORIZED).await;
    assert!(problem.message().contains("bearer token"), "{problem:?}");
}

#[tokio::test]
async fn a_standalone_node_syncs_nothing() {
    let app = spawn_app().await;
    let token = app.token().await;
    let response = app.get(SYNC, &token).await;
    assert_eq!(response.status(), StatusCode::OK);
    let body: serde_json::Value = response.json().await.expect("JSON");
    assert_eq!(
        body,
        serde_json::json!({"database": null, "files": null}),
        "both halves are named and null"
    );
    let status: SyncStatus = serde_json::from_value(body).expect("a SyncStatus");
    assert_eq!(status, SyncStatus::default());
}
