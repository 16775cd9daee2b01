//! `/metrics` in the Prometheus text format (version 0.0.4): the node's role and
//! epoch, the peer's heartbeats per link, the checks, failovers, jobs and the HTTP
//! request durations. Written by hand: a few dozen lines, no registry to keep in step.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;
use std::time::Duration;

use chrono::Utc;
use pequod_api::checks::{Check, CheckState};
use pequod_api::cluster::{Cluster, Role};
use pequod_api::jobs::{JobKind, JobState};

use crate::checks::engine::CheckEngine;
use crate::cluster::agent::{Agent, AgentView};
use crate::storage::{MailCounts, NodeRecord, StorageError, Store};

/// Upper bounds (seconds) of the request-duration buckets; `+Inf` is implied.
const BUCKETS: [f64; 11] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// Request durations per method, route pattern and status.
#[derive(Debug, Default)]
pub struct HttpMetrics {
    series: Mutex<BTreeMap<(String, String, u16), Histogram>>,
}

#[derive(Debug, Default, Clone)]
struct Histogram {
    /// Observations per bucket (not cumulative), one more for `+Inf`.
    buckets: [u64; BUCKETS.len() + 1],
    sum: f64,
    count: u64,
}

impl HttpMetrics {
    /// Records one request. `route` is the matched pattern (`/api/v1/jobs/{id}`), so
    /// the number of series stays bounded whatever paths clients ask for.
    pub fn observe(&self, method: &str, route: &str, status: u16, took: Duration) {
        let seconds = took.as_secs_f64();
        let slot = BUCKETS
            .iter()
            .position(|bound| seconds <= *bound)
            .unwrap_or(BUCKETS.len());
        if let Ok(mut series) = self.series.lock() {
            let histogram = series
                .entry((method.to_owned(), route.to_owned(), status))
                .or_default();
            histogram.buckets[slot] += 1;
            histogram.sum += seconds;
            histogram.count += 1;
        }
    }

    fn snapshot(&self) -> Vec<((String, String, u16), Histogram)> {
        self.series
            .lock()
            .map(|s| s.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
            .unwrap_or_default()
    }
}

/// The route label for a request: its pattern, or `other` for paths no route matched
/// (the UI's files, unknown paths).
pub fn route_label(pattern: Option<String>) -> String {
    match pattern {
        Some(pattern) if !pattern.is_empty() => pattern,
        _ => "other".to_owned(),
    }
}

/// Text in the exposition format, one metric family after the other.
#[derive(Default)]
struct Exposition {
    text: String,
}

impl Exposition {
    fn family(&mut self, name: &str, kind: &str, help: &str) {
        let _ = writeln!(self.text, "# HELP {name} {help}");
        let _ = writeln!(self.text, "# TYPE {name} {kind}");
    }

    fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: f64) {
        self.text.push_str(name);
        if !labels.is_empty() {
            self.text.push('{');
            for (i, (key, value)) in labels.iter().enumerate() {
                if i > 0 {
                    self.text.push(',');
                }
                let _ = write!(self.text, "{key}=\"{}\"", escape(value));
            }
            self.text.push('}');
        }
        let _ = writeln!(self.text, " {value}");
    }
}

/// Label values escape backslash, double quote and line feed.
fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

fn flag(on: bool) -> f64 {
    if on { 1.0 } else { 0.0 }
}

/// Nagios's numbering: OK 0, WARNING 1, CRITICAL 2, UNKNOWN 3.
fn state_value(state: CheckState) -> f64 {
    match state {
        CheckState::Ok => 0.0,
        CheckState::Warning => 1.0,
        CheckState::Critical => 2.0,
        CheckState::Unknown => 3.0,
    }
}

/// What the exposition is read from.
pub struct Sources<'a> {
    pub agent: &'a Agent,
    pub store: &'a dyn Store,
    pub checks: &'a CheckEngine,
    pub http: &'a HttpMetrics,
}

/// The whole exposition for this node, one metric family after the other.
pub async fn render(state: Sources<'_>) -> Result<String, StorageError> {
    let node = state.agent.node().await;
    let view = state.agent.view();
    let cluster = state.agent.cluster_view().await?;
    let job_counts = state.store.count_jobs().await?;
    let mails = state.store.mail_counts().await?;
    let mut out = Exposition::default();
    node_families(&mut out, &node, &view, &cluster);
    peer_families(&mut out, &view);
    check_families(&mut out, &state.checks.list(Some(node.role)));
    job_families(&mut out, &job_counts);
    mail_families(&mut out, &mails);
    http_families(&mut out, state.http);
    Ok(out.text)
}

/// This node: who it is, its role and epoch, the cluster IP, the lamp.
fn node_families(out: &mut Exposition, node: &NodeRecord, view: &AgentView, cluster: &Cluster) {
    out.family(
        "pequod_info",
        "gauge",
        "This node: its host name and version.",
    );
    out.sample(
        "pequod_info",
        &[
            ("hostname", node.hostname.as_str()),
            ("version", env!("CARGO_PKG_VERSION")),
        ],
        1.0,
    );

    out.family(
        "pequod_role",
        "gauge",
        "This node's role: 1 for the current one, 0 for the others.",
    );
    for role in Role::ALL {
        out.sample(
            "pequod_role",
            &[("role", role.as_str())],
            flag(role == node.role),
        );
    }

    out.family(
        "pequod_epoch",
        "gauge",
        "The term of the current master as this node knows it; every takeover increments it.",
    );
    out.sample("pequod_epoch", &[], node.epoch as f64);

    out.family(
        "pequod_cluster_ip_held",
        "gauge",
        "1 while this node holds the cluster IP.",
    );
    out.sample("pequod_cluster_ip_held", &[], flag(view.holds_vip));

    out.family(
        "pequod_lamp",
        "gauge",
        "The job log's status lamp: 1 for its current colour.",
    );
    for (colour, lamp) in [
        ("green", pequod_api::cluster::Lamp::Green),
        ("yellow", pequod_api::cluster::Lamp::Yellow),
        ("red", pequod_api::cluster::Lamp::Red),
    ] {
        out.sample(
            "pequod_lamp",
            &[("colour", colour)],
            flag(cluster.lamp == lamp),
        );
    }
}

/// The other node's heartbeats, per link.
fn peer_families(out: &mut Exposition, view: &AgentView) {
    out.family(
        "pequod_peer_link_up",
        "gauge",
        "1 while the other node's heartbeats arrive on the link (only in a cluster).",
    );
    if let Some(peer) = &view.peer {
        out.sample(
            "pequod_peer_link_up",
            &[("link", "telephony")],
            flag(peer.telephony_alive),
        );
        out.sample(
            "pequod_peer_link_up",
            &[("link", "cluster")],
            flag(peer.cluster_alive),
        );
    }

    out.family(
        "pequod_peer_heartbeat_age_seconds",
        "gauge",
        "Seconds since the other node's last heartbeat on the link (links heard at least once).",
    );
    let now = Utc::now();
    for (link, at) in &view.peer_link_heartbeats {
        let age = (now - *at).to_std().unwrap_or_default().as_secs_f64();
        out.sample(
            "pequod_peer_heartbeat_age_seconds",
            &[("link", link.as_str())],
            age,
        );
    }

    out.family(
        "pequod_heartbeats_received_total",
        "counter",
        "Heartbeat packets accepted since the heartbeats last started.",
    );
    out.family(
        "pequod_heartbeats_dropped_total",
        "counter",
        "Heartbeat packets dropped since the heartbeats last started, by reason.",
    );
    if let Some(stats) = &view.heartbeat_stats {
        use std::sync::atomic::Ordering::Relaxed;
        out.sample(
            "pequod_heartbeats_received_total",
            &[],
            stats.received.load(Relaxed) as f64,
        );
        for (reason, counter) in [
            ("forged", &stats.forged),
            ("replayed", &stats.replayed),
            ("malformed", &stats.malformed),
        ] {
            out.sample(
                "pequod_heartbeats_dropped_total",
                &[("reason", reason)],
                counter.load(Relaxed) as f64,
            );
        }
    }
}

fn check_families(out: &mut Exposition, checks: &[Check]) {
    out.family(
        "pequod_check_state",
        "gauge",
        "Each check's state: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN.",
    );
    for check in checks {
        out.sample(
            "pequod_check_state",
            &[
                ("check", &check.id),
                ("name", &check.name),
                ("kind", kind_label(check.kind)),
            ],
            state_value(check.state),
        );
    }
    out.family(
        "pequod_check_hard",
        "gauge",
        "1 when the check's state is confirmed (hard), 0 while it is being retried.",
    );
    for check in checks {
        out.sample(
            "pequod_check_hard",
            &[("check", &check.id)],
            flag(check.hard),
        );
    }
}

fn job_families(out: &mut Exposition, job_counts: &[(JobKind, JobState, u64)]) {
    out.family(
        "pequod_failovers_total",
        "counter",
        "Failovers this node recorded (it became master), automatic or manual.",
    );
    for (label, kind) in [
        ("automatic", JobKind::AutomaticFailover),
        ("manual", JobKind::ManualFailover),
    ] {
        let total: u64 = job_counts
            .iter()
            .filter(|(k, s, _)| *k == kind && *s == JobState::Succeeded)
            .map(|(_, _, n)| n)
            .sum();
        out.sample("pequod_failovers_total", &[("kind", label)], total as f64);
    }

    out.family("pequod_jobs", "gauge", "Jobs in the job log by state.");
    for job_state in JobState::ALL {
        let total: u64 = job_counts
            .iter()
            .filter(|(_, s, _)| *s == job_state)
            .map(|(_, _, n)| n)
            .sum();
        out.sample(
            "pequod_jobs",
            &[("state", job_state.as_str())],
            total as f64,
        );
    }
}

fn mail_families(out: &mut Exposition, mails: &MailCounts) {
    out.family(
        "pequod_mails",
        "gauge",
        "Notification mails by state: queued (waiting or being retried), sent, failed (given up).",
    );
    for (mail_state, count) in [
        ("queued", mails.queued),
        ("sent", mails.sent),
        ("failed", mails.failed),
    ] {
        out.sample("pequod_mails", &[("state", mail_state)], count as f64);
    }
}

fn http_families(out: &mut Exposition, http: &HttpMetrics) {
    let name = "pequod_http_request_duration_seconds";
    out.family(
        name,
        "histogram",
        "Time to answer an HTTP request, by route.",
    );
    for ((method, route, status), histogram) in http.snapshot() {
        let status = status.to_string();
        let labels = [
            ("method", method.as_str()),
            ("route", route.as_str()),
            ("status", status.as_str()),
        ];
        let mut cumulative = 0;
        for (i, count) in histogram.buckets.iter().enumerate() {
            cumulative += count;
            let le = BUCKETS
                .get(i)
                .map_or_else(|| "+Inf".to_owned(), ToString::to_string);
            let mut with_le = labels.to_vec();
            with_le.push(("le", &le));
            out.sample(&format!("{name}_bucket"), &with_le, cumulative as f64);
        }
        out.sample(&format!("{name}_sum"), &labels, histogram.sum);
        out.sample(&format!("{name}_count"), &labels, histogram.count as f64);
    }
}

fn kind_label(kind: pequod_api::checks::CheckKind) -> &'static str {
    match kind {
        pequod_api::checks::CheckKind::Failover => "failover",
        pequod_api::checks::CheckKind::Notify => "notify",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_values_are_escaped() {
        let mut out = Exposition::default();
        out.sample("m", &[("a", "say \"hi\"\\\nbye")], 1.5);
        assert_eq!(out.text, "m{a=\"say \\\"hi\\\"\\\\\\nbye\"} 1.5\n");
    }

    #[test]
    fn durations_fall_into_their_bucket_and_the_count_grows() {
        let http = HttpMetrics::default();
        http.observe("GET", "/api/v1/jobs", 200, Duration::from_millis(3));
        http.observe("GET", "/api/v1/jobs", 200, Duration::from_millis(30));
        http.observe("GET", "/api/v1/jobs", 200, Duration::from_secs(60));
        let snapshot = http.snapshot();
        let (_, histogram) = &snapshot[0];
        assert_eq!(histogram.count, 3);
        assert_eq!(histogram.buckets[0], 1, "3 ms <= 5 ms");
        assert_eq!(histogram.buckets[3], 1, "30 ms <= 50 ms");
        assert_eq!(histogram.buckets[BUCKETS.len()], 1, "60 s only in +Inf");
        assert!((histogram.sum - 60.033).abs() < 1e-9);
    }

    #[test]
    fn unmatched_paths_share_one_route_label() {
        assert_eq!(route_label(None), "other");
        assert_eq!(route_label(Some(String::new())), "other");
        assert_eq!(
            route_label(Some("/api/v1/jobs/{id}".into())),
            "/api/v1/jobs/{id}"
        );
    }
}
