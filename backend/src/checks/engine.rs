//! The check scheduler: runs each built-in check this node's role calls for at its
//! interval (its retry interval while a problem is unconfirmed), folds results into
//! soft/hard states, keeps a short history, and tells the event stream and the agent
//! (a failover check in hard CRITICAL is a Cluster Status error for the decision core).

use std::collections::{BTreeMap, VecDeque};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use anyhow::Context;
use chrono::{DateTime, Utc};
use pequod_api::checks::{Check, CheckKind, CheckRun, RunsOn};
use pequod_api::cluster::Role;
use pequod_api::events::Event;
use secrecy::SecretString;
use serde::{Deserialize, Serialize};

use super::catalog::{BuiltinCheck, CheckDefinition, CheckSource, builtin_checks};
use super::plugin::{self, PluginCommand};
use super::{CheckResult, CheckStatus, ami, disk, raid, sip, time};
use crate::cluster::agent::Agent;
use crate::events::EventBus;

const HISTORY: usize = 20;

/// What the built-in checks look at, and their thresholds.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct ChecksSettings {
    pub disk_path: PathBuf,
    pub disk_warning_percent: f64,
    pub disk_critical_percent: f64,
    /// The md status file RAID reads; absent, the machine has no software RAID.
    #[serde(default = "ChecksSettings::default_raid_mdstat")]
    pub raid_mdstat: PathBuf,
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
    /// Nagios/Icinga plugins run as checks (`[[checks.custom]]` in the settings file).
    #[serde(default)]
    pub custom: Vec<CustomCheck>,
}

/// A custom check: a Nagios/Icinga plugin (exit 0/1/2/3, first line the output,
/// perfdata after `|`), run without a shell.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct CustomCheck {
    /// Stable id for the API (`/checks/{id}`): lowercase letters, digits and `-`.
    pub id: String,
    /// The name shown in Service Status.
    pub name: String,
    /// The plugin's absolute path, then its arguments.
    pub command: Vec<String>,
    /// `notify` (informs only) or `failover` (a confirmed CRITICAL on the master hands
    /// the services to the slave).
    #[serde(default = "CustomCheck::default_kind")]
    pub kind: CheckKind,
    /// `master`, `slave` or `both`; a failover check runs on the master.
    #[serde(default = "CustomCheck::default_runs_on")]
    pub runs_on: RunsOn,
    #[serde(default = "CustomCheck::default_interval")]
    pub interval_secs: u64,
    /// How often a problem is re-checked until it is confirmed.
    #[serde(default = "CustomCheck::default_retry_interval")]
    pub retry_interval_secs: u64,
    /// The plugin is killed (with its process group) after this; the result is
    /// CRITICAL for a failover check, UNKNOWN for a notify check.
    #[serde(default = "CustomCheck::default_timeout")]
    pub timeout_secs: u64,
    /// Problem results in a row before the state is hard (Icinga's max_check_attempts).
    #[serde(default = "CustomCheck::default_max_attempts")]
    pub max_attempts: u32,
}

impl CustomCheck {
    fn default_kind() -> CheckKind {
        CheckKind::Notify
    }
    fn default_runs_on() -> RunsOn {
        RunsOn::Master
    }
    fn default_interval() -> u64 {
        60
    }
    fn default_retry_interval() -> u64 {
        20
    }
    fn default_timeout() -> u64 {
        10
    }
    fn default_max_attempts() -> u32 {
        3
    }

    /// The check as the engine runs it, or what is wrong with the settings.
    pub fn definition(&self) -> Result<CheckDefinition, String> {
        let id = &self.id;
        if id.is_empty()
            || !id
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        {
            return Err(format!(
                "id \"{id}\" must be lowercase letters, digits and '-' (it is part of a URL)"
            ));
        }
        if BuiltinCheck::from_id(id).is_some() {
            return Err(format!("id \"{id}\" is the id of a built-in check"));
        }
        if self.name.trim().is_empty() {
            return Err(format!("check \"{id}\": name must not be empty"));
        }
        let Some((program, args)) = self.command.split_first() else {
            return Err(format!("check \"{id}\": command must name the plugin"));
        };
        if !std::path::Path::new(program).is_absolute() {
            return Err(format!(
                "check \"{id}\": command must start with the plugin's absolute path, not \"{program}\""
            ));
        }
        if self.kind == CheckKind::Failover && self.runs_on != RunsOn::Master {
            return Err(format!(
                "check \"{id}\": a failover check judges the master's own health, so runs_on must be \"master\""
            ));
        }
        if self.interval_secs == 0 || self.retry_interval_secs == 0 || self.timeout_secs == 0 {
            return Err(format!(
                "check \"{id}\": interval_secs, retry_interval_secs and timeout_secs must be at least 1"
            ));
        }
        if self.timeout_secs > self.interval_secs {
            return Err(format!(
                "check \"{id}\": timeout_secs ({}) must not exceed interval_secs ({})",
                self.timeout_secs, self.interval_secs
            ));
        }
        if self.max_attempts == 0 {
            return Err(format!("check \"{id}\": max_attempts must be at least 1"));
        }
        Ok(CheckDefinition {
            id: self.id.clone().into(),
            name: self.name.trim().to_owned().into(),
            kind: self.kind,
            runs_on: self.runs_on,
            needs_peer: false,
            interval: Duration::from_secs(self.interval_secs),
            retry_interval: Duration::from_secs(self.retry_interval_secs.min(self.interval_secs)),
            timeout: Duration::from_secs(self.timeout_secs),
            max_attempts: self.max_attempts,
            source: CheckSource::Plugin(PluginCommand::new(program, args.iter().cloned())),
        })
    }
}

/// The built-in checks followed by the custom ones; an error names the bad one.
pub fn definitions(custom: &[CustomCheck]) -> anyhow::Result<Vec<CheckDefinition>> {
    let mut all: Vec<CheckDefinition> = builtin_checks().collect();
    for check in custom {
        let definition = check
            .definition()
            .map_err(anyhow::Error::msg)
            .context("a custom check in the settings ([[checks.custom]]) is invalid")?;
        anyhow::ensure!(
            !all.iter().any(|c| c.id == definition.id),
            "two custom checks ([[checks.custom]]) have the id \"{}\"",
            definition.id
        );
        all.push(definition);
    }
    Ok(all)
}

impl ChecksSettings {
    fn default_raid_mdstat() -> PathBuf {
        PathBuf::from(raid::MDSTAT)
    }
}

impl Default for ChecksSettings {
    fn default() -> Self {
        Self {
            disk_path: PathBuf::from("/"),
            disk_warning_percent: 80.0,
            disk_critical_percent: 90.0,
            raid_mdstat: Self::default_raid_mdstat(),
            ntp_server: None,
            time_warning_ms: 1000,
            time_critical_ms: 5000,
            ami_address: None,
            ami_username: "pequod".into(),
            ami_secret: None,
            sip_port: 5060,
            custom: Vec::new(),
        }
    }
}

struct Entry {
    definition: Arc<CheckDefinition>,
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
    /// This node's SSH key, to ask the peer for its manifest (Filesystem Sync).
    ssh_key: std::path::PathBuf,
    entries: RwLock<BTreeMap<String, Entry>>,
}

impl CheckEngine {
    /// The engine for the built-in checks and the configured custom ones; fails on an
    /// invalid custom check.
    pub fn new(
        agent: Agent,
        events: EventBus,
        settings: ChecksSettings,
        ssh_key: std::path::PathBuf,
    ) -> anyhow::Result<Self> {
        let entries = definitions(&settings.custom)?
            .into_iter()
            .map(|definition| {
                (
                    definition.id.to_string(),
                    Entry {
                        definition: Arc::new(definition),
                        status: CheckStatus::default(),
                        last: None,
                        history: VecDeque::new(),
                        running: false,
                    },
                )
            })
            .collect();
        Ok(Self {
            inner: Arc::new(Inner {
                agent,
                events,
                settings,
                ssh_key,
                entries: RwLock::new(entries),
            }),
        })
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
                    tokio::spawn(async move { engine.run(&id).await });
                }
            }
        })
    }

    /// Ids of the checks that run here and are due; marks them running.
    fn due(&self, role: Role, now: DateTime<Utc>) -> Vec<String> {
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
                due.push(entry.definition.id.to_string());
            }
        }
        due
    }

    /// Runs one check now and returns its new state; `None` for an unknown id.
    pub async fn run(&self, id: &str) -> Option<Check> {
        let definition = {
            let entries = self.inner.entries.read().ok()?;
            entries.get(id)?.definition.clone()
        };
        let result = match &definition.source {
            // The plugin runner enforces the timeout itself, so it can kill the
            // plugin's whole process group and reap it.
            CheckSource::Plugin(command) => {
                plugin::run_plugin(command, definition.timeout, definition.timeout_state()).await
            }
            CheckSource::Builtin(check) => {
                within_timeout(&definition, self.evaluate(*check, &definition)).await
            }
        };
        let now = Utc::now();
        // A check that lacks its settings will not find them by retrying: confirmed
        // at once, so it is neither retried at the retry interval nor shown unconfirmed.
        let max_attempts = if result.configured {
            definition.max_attempts
        } else {
            1
        };
        let (check, hard_change) = {
            let mut entries = self.inner.entries.write().ok()?;
            let entry = entries.get_mut(id)?;
            entry.running = false;
            let transition = entry.status.apply(&result, now, max_attempts);
            entry.history.push_front(CheckRun {
                at: now,
                state: result.state,
                output: result.output.clone(),
            });
            entry.history.truncate(HISTORY);
            entry.last = Some(result);
            let check = super::to_wire(&definition, &entry.status, entry.last.as_ref());
            (check, transition.is_hard_change())
        };
        if hard_change {
            tracing::warn!(check = check.name, state = ?check.state, output = check.output, "check changed state");
        }
        self.inner.events.publish(Event::Check(check.clone()));
        // The agent (lamp, decision core) sees only the checks of the role the node
        // has now: a result left from another role (a former slave's "this node knows
        // no master") says nothing about this one.
        let role = self.inner.agent.node().await.role;
        self.inner.agent.set_checks(self.list(Some(role))).await;
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
            .map(|e| super::to_wire(&e.definition, &e.status, e.last.as_ref()))
            .collect()
    }

    pub fn history(&self, id: &str) -> Option<(Check, Vec<CheckRun>)> {
        let entries = self.inner.entries.read().ok()?;
        let entry = entries.get(id)?;
        Some((
            super::to_wire(&entry.definition, &entry.status, entry.last.as_ref()),
            entry.history.iter().cloned().collect(),
        ))
    }

    /// One run of a built-in check. Every check has its own arm: there is no
    /// catch-all that could pass a check without an implementation off as "not
    /// configured".
    async fn evaluate(&self, check: BuiltinCheck, definition: &CheckDefinition) -> CheckResult {
        let agent = &self.inner.agent;
        let settings = &self.inner.settings;
        let view = agent.view();
        match check {
            BuiltinCheck::MasterNodeAlive => match &view.peer {
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
            BuiltinCheck::ClusterStatus => match view.cluster_fault() {
                // The decision's typed cause, never its wording.
                Some(fault) => CheckResult::critical(fault.to_string()),
                None if !view.holds_vip => {
                    CheckResult::critical("the cluster IP is not on this master")
                }
                None => CheckResult::ok("this master holds the cluster IP"),
            },
            BuiltinCheck::Raid => raid::check_raid(&settings.raid_mdstat).await,
            BuiltinCheck::NetworkFailover => {
                super::failover::network_failover(view.peer.as_ref(), view.telephony)
            }
            BuiltinCheck::AsteriskAmi => match (&settings.ami_address, &settings.ami_secret) {
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
                (None, _) => CheckResult::not_configured(
                    "no Asterisk manager address is configured (checks.ami_address)",
                ),
                (Some(_), None) => CheckResult::not_configured(
                    "no Asterisk manager secret is configured (PEQUOD_CHECKS__AMI_SECRET)",
                ),
            },
            BuiltinCheck::AsteriskSip => {
                let host = agent
                    .cluster_ip()
                    .await
                    .map(|ip| ip.address)
                    .unwrap_or(std::net::Ipv4Addr::LOCALHOST);
                let timeout = definition.timeout.min(Duration::from_secs(5));
                sip::check_sip(SocketAddr::new(host.into(), settings.sip_port), timeout).await
            }
            BuiltinCheck::DefaultServices => {
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
            BuiltinCheck::DiskUsage => match disk::DiskThresholds::new(
                settings.disk_warning_percent,
                settings.disk_critical_percent,
            ) {
                Ok(thresholds) => disk::check_disk(settings.disk_path.clone(), thresholds).await,
                Err(err) => CheckResult::unknown(format!("the disk thresholds are invalid: {err}")),
            },
            BuiltinCheck::Time => match &settings.ntp_server {
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
                None => {
                    CheckResult::not_configured("no NTP server is configured (checks.ntp_server)")
                }
            },
            BuiltinCheck::DatabaseQuery => match agent.data_sync().postgres().await {
                Some(pg) => {
                    let timeout = definition
                        .timeout
                        .saturating_sub(Duration::from_millis(500));
                    super::sync::database_query(&pg, timeout.max(Duration::from_millis(500))).await
                }
                None => no_database(agent),
            },
            BuiltinCheck::DatabaseSync => match (
                agent.data_sync().postgres().await,
                agent.data_sync().database_settings(),
            ) {
                (Some(pg), Some(db)) => {
                    let thresholds = super::sync::LagThresholds {
                        warning_secs: db.lag_threshold_secs / 2.0,
                        critical_secs: db.lag_threshold_secs,
                        ..super::sync::LagThresholds::default()
                    };
                    super::sync::database_sync(&pg, thresholds).await
                }
                _ => no_database(agent),
            },
            BuiltinCheck::RsyncServer => match agent.data_sync().daemon_config().await {
                Some(config) => {
                    let pusher = crate::sync::files::Pusher::with_modules(
                        Vec::new(),
                        agent.data_sync().file_settings(),
                    );
                    let timeout = definition
                        .timeout
                        .saturating_sub(Duration::from_millis(500));
                    super::sync::rsync_server(
                        &config,
                        &pusher,
                        timeout.max(Duration::from_millis(500)),
                    )
                    .await
                }
                None if agent.data_sync().file_settings().paths.is_empty() => {
                    CheckResult::not_configured("no synced paths are configured ([files] paths)")
                }
                None => CheckResult::critical("the rsync daemon does not run on this slave"),
            },
            BuiltinCheck::FilesystemSync => self.filesystem_sync().await,
        }
    }

    /// Filesystem Sync: this node's manifest of the synced paths against the peer's.
    async fn filesystem_sync(&self) -> CheckResult {
        let agent = &self.inner.agent;
        let sync = agent.data_sync();
        let paths = sync.file_settings().paths.clone();
        if paths.is_empty() {
            return CheckResult::not_configured("no synced paths are configured ([files] paths)");
        }
        let Ok(Some(config)) = agent.store().load_cluster().await else {
            return CheckResult::not_configured("this node is not in a cluster");
        };
        let me = agent.node().await.id;
        let Some(peer) = config
            .peer_of(me)
            .filter(|p| p.state == pequod_api::slaves::SlaveState::Active)
        else {
            return CheckResult::not_configured("there is no active peer to compare with");
        };
        let local = match crate::sync::files::Manifest::build(&paths).await {
            Ok(manifest) => manifest,
            Err(err) => {
                return CheckResult::critical(format!("cannot read the synced paths: {err}"));
            }
        };
        let port = agent.settings().peer_ssh_port;
        let remote = crate::cluster::remote::Peer::member(&self.inner.ssh_key, peer, port)
            .manifest()
            .await
            .map_err(|e| e.to_string());
        if let Ok(remote) = &remote {
            sync.set_differing(super::sync::differing_paths(&local, remote));
        }
        super::sync::filesystem_sync(&local, remote, peer.hostname.as_str())
    }
}

/// The database checks on a node that runs none (or not yet).
fn no_database(agent: &Agent) -> CheckResult {
    if agent.data_sync().manages_database() {
        CheckResult::critical("the database has not been started on this node")
    } else {
        CheckResult::not_configured("no database is managed on this node ([database])")
    }
}

/// Runs a built-in check's work for at most its timeout; one that does not end in
/// time is given up with the state its kind calls for (`CheckDefinition::timed_out`).
async fn within_timeout(
    definition: &CheckDefinition,
    work: impl std::future::Future<Output = CheckResult>,
) -> CheckResult {
    tokio::time::timeout(definition.timeout, work)
        .await
        .unwrap_or_else(|_| definition.timed_out())
}

async fn resolve(address: &str) -> Result<SocketAddr, String> {
    tokio::net::lookup_host(address)
        .await
        .map_err(|e| format!("cannot resolve {address}: {e}"))?
        .next()
        .ok_or_else(|| format!("{address} resolves to no address"))
}

#[cfg(test)]
mod tests {
    use figment::providers::Format;

    use pequod_api::checks::CheckState;

    use super::*;

    fn custom(id: &str) -> CustomCheck {
        CustomCheck {
            id: id.into(),
            name: "SIP trunk".into(),
            command: vec![
                "/usr/lib/nagios/plugins/check_dummy".into(),
                "0".into(),
                "trunk up".into(),
            ],
            kind: CustomCheck::default_kind(),
            runs_on: CustomCheck::default_runs_on(),
            interval_secs: 60,
            retry_interval_secs: 20,
            timeout_secs: 10,
            max_attempts: 3,
        }
    }

    #[test]
    fn a_custom_check_becomes_a_plugin_definition() {
        let definition = custom("sip-trunk").definition().expect("valid");
        assert_eq!(definition.id, "sip-trunk");
        assert_eq!(definition.kind, CheckKind::Notify);
        assert_eq!(definition.runs_on, RunsOn::Master);
        assert!(definition.runs_here(Role::Master));
        assert!(definition.runs_here(Role::Standalone));
        assert!(!definition.runs_here(Role::Slave));
        let CheckSource::Plugin(plugin) = definition.source else {
            panic!("a plugin: {:?}", definition.source);
        };
        assert_eq!(plugin.args, ["0", "trunk up"]);
        let all = definitions(&[custom("sip-trunk")]).expect("valid");
        assert_eq!(all.len(), BuiltinCheck::ALL.len() + 1);
    }

    #[test]
    fn invalid_custom_checks_are_refused_with_the_reason() {
        let cases: Vec<(CustomCheck, &str)> = vec![
            (custom("Sip Trunk"), "lowercase letters"),
            (custom("disk-usage"), "built-in check"),
            (
                CustomCheck {
                    command: Vec::new(),
                    ..custom("a")
                },
                "must name the plugin",
            ),
            (
                CustomCheck {
                    command: vec!["check_dummy".into()],
                    ..custom("a")
                },
                "absolute path",
            ),
            (
                CustomCheck {
                    kind: CheckKind::Failover,
                    runs_on: RunsOn::Both,
                    ..custom("a")
                },
                "runs_on must be \"master\"",
            ),
            (
                CustomCheck {
                    timeout_secs: 90,
                    ..custom("a")
                },
                "must not exceed interval_secs",
            ),
            (
                CustomCheck {
                    max_attempts: 0,
                    ..custom("a")
                },
                "max_attempts",
            ),
            (
                CustomCheck {
                    name: " ".into(),
                    ..custom("a")
                },
                "name must not be empty",
            ),
        ];
        for (check, expected) in cases {
            let err = check.definition().expect_err(expected);
            assert!(err.contains(expected), "{err} should say {expected}");
        }
        let err = definitions(&[custom("twice"), custom("twice")]).expect_err("duplicate");
        assert!(format!("{err:#}").contains("\"twice\""), "{err:#}");
    }

    #[test]
    fn custom_checks_come_from_the_settings_file() {
        let checks: ChecksSettings = figment::Figment::from(
            figment::providers::Serialized::defaults(ChecksSettings::default()),
        )
        .merge(figment::providers::Toml::string(
            r#"
            [[custom]]
            id = "sip-trunk"
            name = "SIP trunk"
            command = ["/usr/lib/nagios/plugins/check_dummy", "1", "slow"]
            kind = "failover"
            max_attempts = 2
            "#,
        ))
        .extract()
        .expect("valid settings");
        assert_eq!(checks.custom.len(), 1);
        let check = &checks.custom[0];
        assert_eq!(check.kind, CheckKind::Failover);
        assert_eq!(check.runs_on, RunsOn::Master);
        assert_eq!(check.max_attempts, 2);
        assert_eq!(check.interval_secs, 60);
    }

    /// A built-in check whose work never ends, as a hung probe would.
    async fn hung(check: BuiltinCheck) -> CheckResult {
        let definition = CheckDefinition {
            timeout: Duration::from_millis(50),
            ..check.definition()
        };
        within_timeout(&definition, std::future::pending()).await
    }

    #[tokio::test]
    async fn a_built_in_check_that_times_out_is_critical_when_it_fails_over() {
        for failover in [BuiltinCheck::Raid, BuiltinCheck::ClusterStatus] {
            let result = hung(failover).await;
            assert_eq!(result.state, CheckState::Critical, "{failover:?}");
            assert_eq!(result.output, "the check did not end within 0.05 s");
        }
        for notify in [BuiltinCheck::DiskUsage, BuiltinCheck::Time] {
            assert_eq!(hung(notify).await.state, CheckState::Unknown, "{notify:?}");
        }
        let quick = within_timeout(
            &BuiltinCheck::Raid.definition(),
            std::future::ready(CheckResult::ok("fine")),
        )
        .await;
        assert_eq!(quick, CheckResult::ok("fine"));
    }

    #[tokio::test]
    async fn a_custom_plugin_that_times_out_takes_the_state_of_its_kind() {
        let hanging = |kind| CustomCheck {
            command: vec!["/bin/sleep".into(), "30".into()],
            kind,
            timeout_secs: 1,
            ..custom("hung")
        };
        for (kind, state) in [
            (CheckKind::Failover, CheckState::Critical),
            (CheckKind::Notify, CheckState::Unknown),
        ] {
            let definition = hanging(kind).definition().expect("valid");
            let CheckSource::Plugin(command) = &definition.source else {
                panic!("a plugin");
            };
            let result =
                plugin::run_plugin(command, definition.timeout, definition.timeout_state()).await;
            assert_eq!(result.state, state, "{kind:?}: {result:?}");
            assert_eq!(result.output, "plugin timed out after 1 s");
        }
    }
}
