//! The check scheduler: runs each built-in check this node's role calls for at its
//! interval (its retry interval while a problem is unconfirmed), folds results into
//! soft/hard states, keeps a short history, and tells the event stream and the agent
//! (a failover check in hard CRITICAL is a Cluster Status error for the decision core).

use std::collections::{BTreeMap, VecDeque};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use chrono::{DateTime, Utc};
use pequod_api::checks::{Check, CheckRun, CheckState};
use pequod_api::cluster::Role;
use pequod_api::events::Event;
use secrecy::SecretString;
use serde::{Deserialize, Serialize};

use super::catalog::{self, BUILTIN_CHECKS, CheckDefinition};
use super::{CheckResult, CheckStatus, ami, disk, raid, sip, time};
use crate::cluster::Agent;
use crate::events::EventBus;

const HISTORY: usize = 20;

/// What the built-in checks look at, and their thresholds.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct ChecksSettings {
    pub disk_path: PathBuf,
    pub disk_warning_percent: f64,
    pub disk_critical_percent: f64,
    /// `host:port` of the NTP server the Time check asks; unset, it reports "not configured".
    pub ntp_server: Option<String>,
    pub time_warning_ms: u64,
    pub time_critical_ms: u64,
    /// Asterisk's manager interface; unset, Asterisk AMI reports "not configured".
    pub ami_address: Option<String>,
    pub ami_username: String,
    #[serde(default, skip_serializing)]
    pub ami_secret: Option<SecretString>,
    /// Where Asterisk SIP sends OPTIONS: the cluster IP (or 127.0.0.1 standalone) at this port.
    pub sip_port: u16,
}

impl Default for ChecksSettings {
    fn default() -> Self {
        Self {
            disk_path: PathBuf::from("/"),
            disk_warning_percent: 80.0,
            disk_critical_percent: 90.0,
            ntp_server: None,
            time_warning_ms: 1000,
            time_critical_ms: 5000,
            ami_address: None,
            ami_username: "pequod".into(),
            ami_secret: None,
            sip_port: 5060,
        }
    }
}

struct Entry {
    definition: &'static CheckDefinition,
    status: CheckStatus,
    last: Option<CheckResult>,
    history: VecDeque<CheckRun>,
    running: bool,
}

#[derive(Clone)]
pub struct CheckEngine {
    inner: Arc<Inner>,
}

struct Inner {
    agent: Agent,
    events: EventBus,
    settings: ChecksSettings,
    entries: RwLock<BTreeMap<&'static str, Entry>>,
}

impl CheckEngine {
    pub fn new(agent: Agent, events: EventBus, settings: ChecksSettings) -> Self {
        let entries = BUILTIN_CHECKS
            .iter()
            .map(|definition| {
                (
                    definition.id,
                    Entry {
                        definition,
                        status: CheckStatus::default(),
                        last: None,
                        history: VecDeque::new(),
                        running: false,
                    },
                )
            })
            .collect();
        Self {
            inner: Arc::new(Inner {
                agent,
                events,
                settings,
                entries: RwLock::new(entries),
            }),
        }
    }

    /// Starts the scheduler; it looks for due checks every second.
    pub fn start(&self) -> tokio::task::JoinHandle<()> {
        let engine = self.clone();
        tokio::spawn(async move {
            let mut ticker = tokio::time::interval(Duration::from_secs(1));
            ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
            loop {
                ticker.tick().await;
                let role = engine.inner.agent.node().await.role;
                for id in engine.due(role, Utc::now()) {
                    let engine = engine.clone();
                    tokio::spawn(async move { engine.run(id).await });
                }
            }
        })
    }

    /// Ids of the checks that run here and are due; marks them running.
    fn due(&self, role: Role, now: DateTime<Utc>) -> Vec<&'static str> {
        let Ok(mut entries) = self.inner.entries.write() else {
            return Vec::new();
        };
        let mut due = Vec::new();
        for entry in entries.values_mut() {
            if entry.running || !entry.definition.runs_here(role) {
                continue;
            }
            let every = if entry.status.is_retrying() {
                entry.definition.retry_interval
            } else {
                entry.definition.interval
            };
            let waited = entry
                .status
                .last_check
                .map(|at| (now - at).to_std().unwrap_or_default());
            if waited.is_none_or(|w| w >= every) {
                entry.running = true;
                due.push(entry.definition.id);
            }
        }
        due
    }

    /// Runs one check now and returns its new state; `None` for an unknown id.
    pub async fn run(&self, id: &str) -> Option<Check> {
        let definition = catalog::find(id)?;
        let result = match tokio::time::timeout(definition.timeout, self.evaluate(definition)).await
        {
            Ok(result) => result,
            Err(_) => CheckResult::unknown(format!(
                "the check did not end within {} s",
                definition.timeout.as_secs()
            )),
        };
        let now = Utc::now();
        let (check, hard_change) = {
            let mut entries = self.inner.entries.write().ok()?;
            let entry = entries.get_mut(definition.id)?;
            entry.running = false;
            let transition = entry.status.apply(&result, now, definition.max_attempts);
            entry.history.push_front(CheckRun {
                at: now,
                state: result.state,
                output: result.output.clone(),
            });
            entry.history.truncate(HISTORY);
            entry.last = Some(result);
            let check = super::to_wire(definition, &entry.status, entry.last.as_ref());
            (check, transition.is_hard_change())
        };
        if hard_change {
            tracing::warn!(check = check.name, state = ?check.state, output = check.output, "check changed state");
        }
        self.inner.events.publish(Event::Check(check.clone()));
        self.inner.agent.set_checks(self.list(None)).await;
        Some(check)
    }

    /// The checks that run on this node's role now (or all, with `None`).
    pub fn list(&self, role: Option<Role>) -> Vec<Check> {
        let Ok(entries) = self.inner.entries.read() else {
            return Vec::new();
        };
        entries
            .values()
            .filter(|e| role.is_none_or(|r| e.definition.runs_here(r)))
            .map(|e| super::to_wire(e.definition, &e.status, e.last.as_ref()))
            .collect()
    }

    pub fn history(&self, id: &str) -> Option<(Check, Vec<CheckRun>)> {
        let entries = self.inner.entries.read().ok()?;
        let entry = entries.get(id)?;
        Some((
            super::to_wire(entry.definition, &entry.status, entry.last.as_ref()),
            entry.history.iter().cloned().collect(),
        ))
    }

    async fn evaluate(&self, definition: &CheckDefinition) -> CheckResult {
        let agent = &self.inner.agent;
        let settings = &self.inner.settings;
        let view = agent.view();
        match definition.id {
            "master-node-alive" => match &view.peer {
                Some(peer) if peer.telephony_alive && peer.cluster_alive => {
                    CheckResult::ok(format!("{} answers on both links", peer.hostname))
                }
                Some(peer) if peer.alive() => CheckResult::warning(format!(
                    "{} answers on the {} link only",
                    peer.hostname,
                    if peer.telephony_alive {
                        "telephony"
                    } else {
                        "cluster"
                    }
                )),
                Some(peer) => CheckResult::critical(format!(
                    "no heartbeat from {} on either link",
                    peer.hostname
                )),
                None => CheckResult::unknown("this node knows no master"),
            },
            "cluster-status" => {
                if !view.holds_vip {
                    CheckResult::critical("the cluster IP is not on this master")
                } else {
                    match &view.last_decision {
                        Some(decision) if decision.reason.contains("Cluster Status failed") => {
                            CheckResult::critical(decision.reason.clone())
                        }
                        _ => CheckResult::ok("this master holds the cluster IP"),
                    }
                }
            }
            "raid" => raid::check_raid(std::path::Path::new(raid::MDSTAT)).await,
            "network-failover" => match &view.peer {
                Some(peer) if !peer.reaches_telephony && view.reaches_telephony => {
                    CheckResult::critical(format!(
                        "{} cannot reach the telephony network, this node can",
                        peer.hostname
                    ))
                }
                Some(_) if !view.reaches_telephony => {
                    CheckResult::warning("this node cannot reach the telephony gateway")
                }
                Some(peer) => CheckResult::ok(format!(
                    "{} and this node reach the telephony network",
                    peer.hostname
                )),
                None => CheckResult::unknown("this node knows no master"),
            },
            "asterisk-ami" => match (&settings.ami_address, &settings.ami_secret) {
                (Some(address), Some(secret)) => match resolve(address).await {
                    Ok(addr) => {
                        let login = ami::AmiLogin {
                            username: settings.ami_username.clone(),
                            secret: secret.clone(),
                        };
                        ami::check_ami(addr, &login, definition.timeout).await
                    }
                    Err(message) => CheckResult::unknown(message),
                },
                _ => super::not_configured(),
            },
            "asterisk-sip" => {
                let host = agent
                    .cluster_ip()
                    .await
                    .map(|ip| ip.address)
                    .unwrap_or(std::net::Ipv4Addr::LOCALHOST);
                let timeout = definition.timeout.min(Duration::from_secs(5));
                sip::check_sip(SocketAddr::new(host.into(), settings.sip_port), timeout).await
            }
            "default-services" => {
                let configured = &agent.settings().services;
                if configured.is_empty() {
                    return CheckResult::ok("no managed services are configured");
                }
                let mut stopped = Vec::new();
                for service in configured {
                    if !service.is_running().await.unwrap_or(false) {
                        stopped.push(service.name.clone());
                    }
                }
                if stopped.is_empty() {
                    CheckResult::ok(format!("{} service(s) running", configured.len()))
                } else {
                    CheckResult::critical(format!("not running: {}", stopped.join(", ")))
                }
            }
            "disk-usage" => match disk::DiskThresholds::new(
                settings.disk_warning_percent,
                settings.disk_critical_percent,
            ) {
                Ok(thresholds) => disk::check_disk(settings.disk_path.clone(), thresholds).await,
                Err(err) => CheckResult::unknown(format!("the disk thresholds are invalid: {err}")),
            },
            "time" => match &settings.ntp_server {
                Some(server) => match resolve(server).await {
                    Ok(addr) => {
                        let thresholds = time::TimeThresholds {
                            warning_ms: settings.time_warning_ms,
                            critical_ms: settings.time_critical_ms,
                        };
                        time::check_time(addr, thresholds, definition.timeout).await
                    }
                    Err(message) => CheckResult::unknown(message),
                },
                None => super::not_configured(),
            },
            // Their subjects (file sync, rsync, replication, the telephony database)
            // arrive with data sync; until then they say so instead of a fake OK.
            _ => super::not_configured(),
        }
    }
}

async fn resolve(address: &str) -> Result<SocketAddr, String> {
    tokio::net::lookup_host(address)
        .await
        .map_err(|e| format!("cannot resolve {address}: {e}"))?
        .next()
        .ok_or_else(|| format!("{address} resolves to no address"))
}

/// A failover check other than those the agent judges itself, in hard CRITICAL.
pub fn failover_problem(checks: &[Check]) -> Option<String> {
    checks
        .iter()
        .find(|c| {
            c.kind == pequod_api::checks::CheckKind::Failover
                && c.hard
                && c.state == CheckState::Critical
                && c.id == "raid"
        })
        .map(|c| format!("{}: {}", c.name, c.output))
}
