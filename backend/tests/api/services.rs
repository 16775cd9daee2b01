//! `/services`: the managed services from the settings, each with its status now.

use std::sync::Arc;

use pequod::cluster::services::ManagedService as ServiceSettings;
use pequod_api::services::{ManagedService, ServiceState};

use crate::helpers::{spawn_app, spawn_with, test_settings};

#[tokio::test]
async fn the_managed_services_are_listed_with_their_status() {
    let dir = Arc::new(tempfile::tempdir().expect("data dir"));
    let marker = dir.path().join("sip-running");
    let mut settings = test_settings(dir.path());
    settings.cluster.services = vec![
        ServiceSettings {
            name: "sip".into(),
            unit: None,
            start: Some(format!("touch {}", marker.display())),
            stop: Some(format!("rm -f {}", marker.display())),
            status: Some(format!("test -e {}", marker.display())),
        },
        ServiceSettings {
            name: "fax".into(),
            unit: None,
            start: Some("true".into()),
            stop: None,
            status: None,
        },
    ];
    let app = spawn_with(settings, dir.clone()).await;
    let token = app.token().await;

    let services: Vec<ManagedService> = app.get_json("/api/v1/services", &token).await;
    let names: Vec<&str> = services.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["sip", "fax"], "in start order");
    assert_eq!(services[0].state, ServiceState::Stopped);
    assert!(services[0].expected_running, "a standalone node runs them");
    assert_eq!(
        services[1].state,
        ServiceState::Unknown,
        "no status command"
    );
    assert_eq!(services[1].runs, "true");

    std::fs::write(&marker, b"").expect("start the service by hand");
    let services: Vec<ManagedService> = app.get_json("/api/v1/services", &token).await;
    assert_eq!(services[0].state, ServiceState::Running);
}

#[tokio::test]
async fn no_managed_services_is_an_empty_list() {
    let app = spawn_app().await;
    let token = app.token().await;
    let services: Vec<ManagedService> = app.get_json("/api/v1/services", &token).await;
    assert!(services.is_empty());
}
