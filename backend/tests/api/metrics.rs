//! `/metrics`: the Prometheus text format, read back with an independent parser.

use std::sync::Arc;

use openmetrics_parser::prometheus::parse_prometheus;
use openmetrics_parser::{MetricsExposition, PrometheusType, PrometheusValue};
use pequod_api::checks::{CheckKind, RunsOn};
use reqwest::StatusCode;

use crate::helpers::{spawn_with, test_settings};

type Exposition = MetricsExposition<PrometheusType, PrometheusValue>;

async fn scrape(app: &crate::helpers::TestApp) -> Exposition {
    let response = app.get_anonymous("/metrics").await;
    assert_eq!(response.status(), StatusCode::OK);
    let content_type = response.headers()["content-type"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        content_type.starts_with("text/plain; version=0.0.4"),
        "{content_type}"
    );
    let text = response.text().await.unwrap();
    parse_prometheus(&text)
        .unwrap_or_else(|e| panic!("not the Prometheus text format: {e}\n{text}"))
}

/// The value of the one sample of `family` whose labels include `labels`.
fn find(exposition: &Exposition, family: &str, labels: &[(&str, &str)]) -> Option<PrometheusValue> {
    let family = exposition.families.get(family)?;
    family
        .iter_samples()
        .find(|sample| {
            let set = sample.get_labelset().expect("labels");
            labels
                .iter()
                .all(|(k, v)| set.get_label_value(k) == Some(*v))
        })
        .map(|sample| sample.value.clone())
}

fn get(exposition: &Exposition, family: &str, labels: &[(&str, &str)]) -> f64 {
    match find(exposition, family, labels) {
        Some(PrometheusValue::Gauge(n)) => n.as_f64(),
        Some(PrometheusValue::Counter(c)) => c.value.as_f64(),
        other => panic!("{family} {labels:?}: {other:?}"),
    }
}

#[tokio::test]
async fn metrics_parse_and_tell_role_checks_jobs_and_request_durations() {
    let dir = Arc::new(tempfile::tempdir().expect("data dir"));
    let mut settings = test_settings(dir.path());
    settings.checks.custom = vec![pequod::checks::engine::CustomCheck {
        id: "trunk".into(),
        name: "SIP \"trunk\"".into(),
        command: vec![
            "/usr/lib/nagios/plugins/check_dummy".into(),
            "2".into(),
            "down".into(),
        ],
        kind: CheckKind::Notify,
        runs_on: RunsOn::Master,
        interval_secs: 60,
        retry_interval_secs: 20,
        timeout_secs: 5,
        max_attempts: 1,
    }];
    let app = spawn_with(settings, dir.clone()).await;
    let token = app.token().await;
    app.run_check(&token, "trunk").await;
    assert_eq!(
        app.get("/api/v1/jobs", &token).await.status(),
        StatusCode::OK
    );
    assert_eq!(
        app.get("/api/v1/jobs/999", &token).await.status(),
        StatusCode::NOT_FOUND
    );

    let scrape = scrape(&app).await;
    let family_type = |name: &str| scrape.families[name].family_type.clone();
    assert_eq!(family_type("pequod_role"), PrometheusType::Gauge);
    assert_eq!(
        family_type("pequod_failovers_total"),
        PrometheusType::Counter
    );
    assert_eq!(
        family_type("pequod_http_request_duration_seconds"),
        PrometheusType::Histogram
    );

    assert_eq!(get(&scrape, "pequod_role", &[("role", "standalone")]), 1.0);
    assert_eq!(get(&scrape, "pequod_role", &[("role", "master")]), 0.0);
    assert_eq!(get(&scrape, "pequod_epoch", &[]), 0.0);
    assert_eq!(get(&scrape, "pequod_cluster_ip_held", &[]), 0.0);
    assert_eq!(get(&scrape, "pequod_lamp", &[("colour", "red")]), 1.0);
    assert_eq!(
        get(
            &scrape,
            "pequod_check_state",
            &[("check", "trunk"), ("kind", "notify")]
        ),
        2.0,
        "CRITICAL"
    );
    assert!(
        find(
            &scrape,
            "pequod_check_state",
            &[("check", "trunk"), ("name", "SIP \"trunk\"")]
        )
        .is_some(),
        "the name label is escaped and reads back"
    );
    assert_eq!(
        get(&scrape, "pequod_check_hard", &[("check", "trunk")]),
        1.0
    );
    assert_eq!(
        get(&scrape, "pequod_failovers_total", &[("kind", "automatic")]),
        0.0
    );
    assert_eq!(get(&scrape, "pequod_jobs", &[("state", "failed")]), 0.0);
    assert_eq!(get(&scrape, "pequod_mails", &[("state", "queued")]), 0.0);
    assert!(
        find(&scrape, "pequod_peer_heartbeat_age_seconds", &[]).is_none(),
        "no peer, no heartbeat age"
    );

    let histogram = |route: &str, status: &str| match find(
        &scrape,
        "pequod_http_request_duration_seconds",
        &[("route", route), ("method", "GET"), ("status", status)],
    ) {
        Some(PrometheusValue::Histogram(h)) => h,
        other => panic!("no durations for GET {route} {status}: {other:?}"),
    };
    let jobs = histogram("/api/v1/jobs", "200");
    assert_eq!(jobs.count, Some(1), "{jobs:?}");
    let counts: Vec<f64> = jobs.buckets.iter().map(|b| b.count.as_f64()).collect();
    assert!(
        counts.windows(2).all(|w| w[0] <= w[1]),
        "buckets are cumulative: {counts:?}"
    );
    assert_eq!(counts.last(), Some(&1.0), "+Inf holds every request");
    histogram("/api/v1/jobs/{id}", "404");
}
