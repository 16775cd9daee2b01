//! `/metrics`: the Prometheus text format, read back with an independent parser.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::AtomicU16;

use openmetrics_parser::prometheus::parse_prometheus;
use openmetrics_parser::{MetricsExposition, PrometheusType, PrometheusValue};
use pequod_api::checks::{CheckKind, RunsOn};
use pequod_api::jobs::{JobKind, JobState};
use reqwest::{Method, StatusCode};

use crate::helpers::{DEADLINE, eventually, sip_responder, spawn_with, test_settings};

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

/// Every sample of `family` as (the value of `label`, value).
fn by_label(exposition: &Exposition, family: &str, label: &str) -> BTreeMap<String, f64> {
    exposition.families[family]
        .iter_samples()
        .map(|sample| {
            let set = sample.get_labelset().expect("labels");
            let key = set.get_label_value(label).expect("the label").to_owned();
            let value = match &sample.value {
                PrometheusValue::Gauge(n) => n.as_f64(),
                PrometheusValue::Counter(c) => c.value.as_f64(),
                other => panic!("{family}: {other:?}"),
            };
            (key, value)
        })
        .collect()
}

fn map(pairs: &[(&str, f64)]) -> BTreeMap<String, f64> {
    pairs.iter().map(|(k, v)| (k.to_string(), *v)).collect()
}

fn get(exposition: &Exposition, family: &str, labels: &[(&str, &str)]) -> f64 {
    match find(exposition, family, labels) {
        Some(PrometheusValue::Gauge(n)) => n.as_f64(),
        Some(PrometheusValue::Counter(c)) => c.value.as_f64(),
        other => panic!("{family} {labels:?}: {other:?}"),
    }
}

#[tokio::test]
async fn metrics_count_what_the_node_did_checks_jobs_failovers_mails_and_requests() {
    let dir = Arc::new(tempfile::tempdir().expect("data dir"));
    let mut settings = test_settings(dir.path());
    // Each check's state is set by the test, so each value below is known exactly.
    settings.checks.sip_port = sip_responder(Arc::new(AtomicU16::new(200))).await;
    settings.checks.disk_warning_percent = 100.0;
    settings.checks.disk_critical_percent = 100.0;
    // UNKNOWN: a first hard UNKNOWN is no news, so no mail of its own is queued.
    settings.checks.custom = vec![pequod::checks::engine::CustomCheck {
        id: "trunk".into(),
        name: "SIP \"trunk\"".into(),
        command: vec![
            "/usr/lib/nagios/plugins/check_dummy".into(),
            "3".into(),
            "no idea".into(),
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
    let ran = [
        "asterisk-ami",
        "asterisk-sip",
        "database-query",
        "default-services",
        "disk-usage",
        "time",
        "trunk",
    ];
    for id in ran {
        app.run_check(&token, id).await;
    }

    // A handover that succeeded counts as a manual failover; a failed job is a job
    // nobody acknowledged. Neither is mailed (no takeover, no slave change).
    let jobs = &app.state.jobs;
    let handover = jobs
        .submit(JobKind::ManualFailover, "Hand over", &["go"], |_| async {
            Ok(())
        })
        .await
        .expect("submitted");
    let broken = jobs
        .submit(JobKind::Maintenance, "Tidy up", &["go"], |_| async {
            anyhow::bail!("nothing to tidy")
        })
        .await
        .expect("submitted");
    for (id, state) in [
        (handover.id, JobState::Succeeded),
        (broken.id, JobState::Failed),
    ] {
        eventually(DEADLINE, || async {
            let job = app.state.store.get_job(id).await.expect("the job");
            (job.summary.state == state).then_some(())
        })
        .await;
    }

    let response = app
        .send_json(
            Method::PATCH,
            "/api/v1/notifications",
            &token,
            &serde_json::json!({ "email": "ops@example.net" }),
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    // No mail server: the test mail waits in the queue.
    let response = app
        .client
        .post(app.url("/api/v1/notifications/test"))
        .bearer_auth(&token)
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), StatusCode::OK);
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

    assert_eq!(
        by_label(&scrape, "pequod_role", "role"),
        map(&[
            ("master", 0.0),
            ("slave", 0.0),
            ("standalone", 1.0),
            ("standby", 0.0)
        ])
    );
    assert_eq!(get(&scrape, "pequod_epoch", &[]), 0.0);
    assert_eq!(get(&scrape, "pequod_cluster_ip_held", &[]), 0.0);
    assert_eq!(
        by_label(&scrape, "pequod_lamp", "colour"),
        map(&[("green", 0.0), ("red", 0.0), ("yellow", 1.0)]),
        "a check that cannot tell and a failed job"
    );
    assert_eq!(
        by_label(&scrape, "pequod_check_state", "check"),
        map(&[
            ("asterisk-ami", 3.0),
            ("asterisk-sip", 0.0),
            ("database-query", 3.0),
            ("default-services", 0.0),
            ("disk-usage", 0.0),
            ("time", 3.0),
            ("trunk", 3.0),
        ]),
        "the checks of a standalone node, each in its state"
    );
    assert_eq!(
        get(
            &scrape,
            "pequod_check_state",
            &[("check", "trunk"), ("kind", "notify")]
        ),
        3.0
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
        by_label(&scrape, "pequod_check_hard", "check"),
        ran.iter().map(|id| (id.to_string(), 1.0)).collect(),
        "each confirmed: OK, not configured or max_attempts 1"
    );
    assert_eq!(
        by_label(&scrape, "pequod_failovers_total", "kind"),
        map(&[("automatic", 0.0), ("manual", 1.0)])
    );
    assert_eq!(
        by_label(&scrape, "pequod_jobs", "state"),
        map(&[
            ("failed", 1.0),
            ("interrupted", 0.0),
            ("queued", 0.0),
            ("running", 0.0),
            ("succeeded", 1.0)
        ])
    );
    assert_eq!(
        by_label(&scrape, "pequod_mails", "state"),
        map(&[("failed", 0.0), ("queued", 1.0), ("sent", 0.0)])
    );
    assert!(
        find(&scrape, "pequod_peer_heartbeat_age_seconds", &[]).is_none(),
        "no peer, no heartbeat age"
    );

    // Every request the test made, each once but "run now" once per check; the
    // scrape itself is counted after it is answered.
    let mut requests: BTreeMap<(String, String, String), f64> = BTreeMap::new();
    for sample in scrape.families["pequod_http_request_duration_seconds"].iter_samples() {
        let PrometheusValue::Histogram(histogram) = &sample.value else {
            panic!("{sample:?}");
        };
        let set = sample.get_labelset().expect("labels");
        let label = |name: &str| set.get_label_value(name).expect(name).to_owned();
        requests.insert(
            (label("method"), label("route"), label("status")),
            histogram.count.expect("a count") as f64,
        );
        let counts: Vec<f64> = histogram.buckets.iter().map(|b| b.count.as_f64()).collect();
        assert!(
            counts.windows(2).all(|w| w[0] <= w[1]),
            "buckets are cumulative: {counts:?}"
        );
        assert_eq!(
            counts.last().copied(),
            histogram.count.map(|c| c as f64),
            "+Inf holds every request"
        );
    }
    let expected: BTreeMap<(String, String, String), f64> = [
        ("POST", "/api/v1/auth/login", "200", 1.0),
        ("POST", "/api/v1/checks/{id}/run", "200", ran.len() as f64),
        ("PATCH", "/api/v1/notifications", "200", 1.0),
        ("POST", "/api/v1/notifications/test", "200", 1.0),
        ("GET", "/api/v1/jobs", "200", 1.0),
        ("GET", "/api/v1/jobs/{id}", "404", 1.0),
    ]
    .into_iter()
    .map(|(m, r, s, n)| ((m.to_owned(), r.to_owned(), s.to_owned()), n))
    .collect();
    assert_eq!(requests, expected);
}
