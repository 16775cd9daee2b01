//! The data this node serves or mirrors, run as its role needs: on the master the
//! primary PostgreSQL, the durability monitor and the file pushes to the slave; on the
//! slave the streaming standby and the rsync daemon that takes the pushes; on a
//! standby or standalone node nothing runs (its database is stopped, so a node that
//! may have been replaced never commits). The agent calls it at each transition: the
//! takeover promotes before the services start, a step-down refuses writes before
//! the cluster IP goes.
//!
//! The replication password and the rsync secret are derived from the cluster secret
//! (HMAC-SHA256 with a purpose label), which the nodes already exchanged over the SSH
//! channel during Add slave: nothing else secret has to travel or be stored.

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use secrecy::{ExposeSecret, SecretString};
use sha2::Sha256;
use tokio::sync::{Mutex, watch};

use super::advert::{DatabaseAdvert, Readiness, readiness};
use super::files::{
    DaemonConfig, FileSync, FileSyncError, FileSyncHandle, FileSyncSettings, FileSyncState,
    RsyncDaemon, SyncTarget,
};
use super::postgres::{
    BackupProgress, Postgres, PostgresError, PrimaryAddress, ReplicationCredentials, RewindOutcome,
    StandbyName,
};
use super::settings::{DatabaseSettings, DurabilityMode};

/// The replication role's name on every Pequod cluster.
const REPLICATION_USER: &str = "pequod_replication";
/// How long a promotion may take within a takeover before it counts as failed.
const PROMOTE_TIMEOUT: Duration = Duration::from_secs(20);
/// How long refusing writes may take before the server is stopped immediately.
const REFUSE_TIMEOUT: Duration = Duration::from_secs(5);

/// Why data sync could not do what a transition asked.
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    #[error(transparent)]
    Postgres(#[from] PostgresError),
    #[error(transparent)]
    Files(#[from] FileSyncError),
    #[error("{0} took longer than {1:?}")]
    Timeout(&'static str, Duration),
    #[error("this node manages no database")]
    NoDatabase,
}

/// One end of the pair, as data sync needs to know it.
#[derive(Debug, Clone)]
pub struct Endpoint {
    pub hostname: String,
    pub sync_ip: IpAddr,
}

/// The state of the database side, for the API and the dashboard.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DatabaseState {
    pub role: DatabaseRole,
    pub durability_setting: Option<DurabilityMode>,
    /// What commits do now: wait for the slave (`Sync`) or not.
    pub durability: Option<DurabilityMode>,
    /// Why commits do not wait for the slave although sync is asked.
    pub degraded: Option<String>,
    pub standby: Option<String>,
    pub standby_streaming: Option<bool>,
    pub lag_bytes: Option<u64>,
    pub lag_seconds: Option<f64>,
    pub checked_at: Option<DateTime<Utc>>,
    pub error: Option<String>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum DatabaseRole {
    Primary,
    Standby,
    #[default]
    Stopped,
}

/// Which way this node's files flow.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum FilesDirection {
    Pushing,
    Receiving,
    #[default]
    Idle,
}

/// What data sync does on this node now.
#[derive(Debug, Clone, Default)]
pub struct SyncState {
    pub database: Option<DatabaseState>,
    pub files_direction: FilesDirection,
    pub files: Option<FileSyncState>,
    /// What the last Filesystem Sync found differing from the peer, and when.
    pub differing: Vec<String>,
    pub compared_at: Option<DateTime<Utc>>,
}

/// The state as the API shows it.
pub fn wire_status(
    state: &SyncState,
    database: Option<&DatabaseSettings>,
    files: &FileSyncSettings,
) -> pequod_api::sync::SyncStatus {
    use pequod_api::sync as wire;
    let durability = |mode: DurabilityMode| match mode {
        DurabilityMode::Sync => wire::Durability::Sync,
        DurabilityMode::Async => wire::Durability::Async,
    };
    let database = database.map(|settings| {
        let db = state.database.clone().unwrap_or_default();
        wire::DatabaseSync {
            role: match db.role {
                DatabaseRole::Primary => wire::DatabaseRole::Primary,
                DatabaseRole::Standby => wire::DatabaseRole::Standby,
                DatabaseRole::Stopped => wire::DatabaseRole::Stopped,
            },
            durability_setting: durability(settings.durability),
            durability: durability(db.durability.unwrap_or(DurabilityMode::Async)),
            degraded: db.degraded,
            standby: db.standby,
            standby_streaming: db.standby_streaming,
            lag_bytes: db.lag_bytes,
            lag_seconds: db.lag_seconds,
            checked_at: db.checked_at,
            error: db.error,
        }
    });
    let files = (!files.paths.is_empty()).then(|| {
        let seen = state.files.clone().unwrap_or_default();
        wire::FileSyncStatus {
            direction: match state.files_direction {
                FilesDirection::Pushing => wire::FileSyncDirection::Pushing,
                FilesDirection::Receiving => wire::FileSyncDirection::Receiving,
                FilesDirection::Idle => wire::FileSyncDirection::Idle,
            },
            paths: files
                .paths
                .iter()
                .map(|p| p.display().to_string())
                .collect(),
            last_pass: seen.last_pass.as_ref().map(|pass| wire::FilePass {
                kind: match pass.kind {
                    super::files::PassKind::Full => wire::FilePassKind::Full,
                    super::files::PassKind::Changes => wire::FilePassKind::Changes,
                },
                started: pass.started,
                duration_ms: u64::try_from(pass.duration.as_millis()).unwrap_or(u64::MAX),
                error: pass.error.as_ref().map(|e| e.to_string()),
            }),
            last_success: seen.last_success,
            last_full_pass: seen.last_full_pass,
            pending_retry: seen.pending_retry.as_ref().map(|r| r.at),
            failed_passes: seen.failed_passes,
            differing_paths: state.differing.clone(),
            compared_at: state.compared_at,
        }
    });
    pequod_api::sync::SyncStatus { database, files }
}

/// The data sync of this node; cheap to clone.
#[derive(Clone)]
pub struct DataSync {
    inner: Arc<Inner>,
}

struct Inner {
    database: Option<DatabaseSettings>,
    files: FileSyncSettings,
    run_dir: PathBuf,
    interval: Duration,
    running: Mutex<Running>,
    /// The master's advert, copied into its heartbeats.
    advert: watch::Sender<Option<DatabaseAdvert>>,
    /// The slave's received WAL position (or why it cannot be read).
    received: watch::Sender<Option<Result<u64, String>>>,
    /// Whether the agent hears the slave: a slave gone drops commits to async at once.
    peer_alive: watch::Sender<bool>,
    state: watch::Sender<SyncState>,
}

#[derive(Default)]
struct Running {
    postgres: Option<Arc<Postgres>>,
    pusher: Option<FileSyncHandle>,
    daemon: Option<RsyncDaemon>,
    daemon_config: Option<DaemonConfig>,
    /// The master's durability monitor or the slave's position poller.
    watcher: Option<AbortOnDrop>,
}

struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// The derived secret for one purpose (hex of HMAC-SHA256 of the label).
fn derive(secret: &SecretString, purpose: &str) -> SecretString {
    let mut mac = match <Hmac<Sha256> as Mac>::new_from_slice(secret.expose_secret().as_bytes()) {
        Ok(mac) => mac,
        // HMAC takes keys of any length.
        Err(_) => return SecretString::from(String::new()),
    };
    mac.update(purpose.as_bytes());
    let hex: String = mac
        .finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    SecretString::from(hex)
}

/// The replication role of a cluster with this secret.
pub fn replication_credentials(secret: &SecretString) -> ReplicationCredentials {
    ReplicationCredentials {
        user: REPLICATION_USER.into(),
        password: derive(secret, "pequod postgres replication"),
    }
}

/// The secret the master's pushes authenticate with at the slave's rsync daemon.
pub fn rsync_secret(secret: &SecretString) -> SecretString {
    derive(secret, "pequod rsync")
}

impl DataSync {
    /// Data sync with the node's settings; `data_dir` holds the rsync daemon's files.
    pub fn new(
        database: Option<DatabaseSettings>,
        files: FileSyncSettings,
        data_dir: &Path,
        interval: Duration,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                database,
                files,
                run_dir: data_dir.join("rsyncd"),
                interval,
                running: Mutex::new(Running::default()),
                advert: watch::channel(None).0,
                received: watch::channel(None).0,
                peer_alive: watch::channel(false).0,
                state: watch::channel(SyncState::default()).0,
            }),
        }
    }

    pub fn manages_database(&self) -> bool {
        self.inner.database.is_some()
    }

    pub fn file_settings(&self) -> &FileSyncSettings {
        &self.inner.files
    }

    pub fn database_settings(&self) -> Option<&DatabaseSettings> {
        self.inner.database.as_ref()
    }

    /// The master's advert for its heartbeats.
    pub fn advert(&self) -> Option<DatabaseAdvert> {
        *self.inner.advert.borrow()
    }

    /// The slave's readiness to be promoted against the master's last advert.
    pub fn readiness(&self, advert: Option<&DatabaseAdvert>) -> Readiness {
        if self.inner.database.is_none() {
            return Readiness::NotManaged;
        }
        readiness(advert, self.inner.received.borrow().as_ref())
    }

    /// The agent tells whether it hears the slave, every cycle.
    pub fn set_peer_alive(&self, alive: bool) {
        self.inner.peer_alive.send_if_modified(|old| {
            let changed = *old != alive;
            *old = alive;
            changed
        });
    }

    pub fn state(&self) -> SyncState {
        self.inner.state.borrow().clone()
    }

    pub fn subscribe(&self) -> watch::Receiver<SyncState> {
        self.inner.state.subscribe()
    }

    /// The state as the API shows it, kept up to date by a task of its own.
    pub fn wire(&self) -> watch::Receiver<pequod_api::sync::SyncStatus> {
        let inner = self.inner.clone();
        let mut state = inner.state.subscribe();
        let (tx, rx) = watch::channel(wire_status(
            &state.borrow(),
            inner.database.as_ref(),
            &inner.files,
        ));
        tokio::spawn(async move {
            while state.changed().await.is_ok() {
                let status = wire_status(
                    &state.borrow_and_update(),
                    inner.database.as_ref(),
                    &inner.files,
                );
                if tx.send(status).is_err() {
                    return;
                }
            }
        });
        rx
    }

    /// What Filesystem Sync found differing from the peer.
    pub fn set_differing(&self, paths: Vec<String>) {
        self.inner.state.send_modify(|state| {
            state.differing = paths;
            state.compared_at = Some(Utc::now());
        });
    }

    /// The slave's rsync daemon as it runs, for the Rsync Server check.
    pub async fn daemon_config(&self) -> Option<DaemonConfig> {
        let running = self.inner.running.lock().await;
        running.daemon.as_ref().and(running.daemon_config.clone())
    }

    /// The server of this node, for the checks (none before the node is in a cluster).
    pub async fn postgres(&self) -> Option<Arc<Postgres>> {
        self.inner.running.lock().await.postgres.clone()
    }

    /// The node's server, made for its sync IP (again when that changed).
    async fn server(
        &self,
        running: &mut Running,
        sync_ip: IpAddr,
    ) -> Result<Arc<Postgres>, SyncError> {
        let settings = self.inner.database.clone().ok_or(SyncError::NoDatabase)?;
        if let Some(pg) = running
            .postgres
            .as_ref()
            .filter(|pg| pg.address().ip == sync_ip)
        {
            return Ok(pg.clone());
        }
        let pg = Arc::new(Postgres::new(settings, sync_ip)?);
        running.postgres = Some(pg.clone());
        Ok(pg)
    }

    /// "Configure master": a new primary (the database cluster made unless it exists).
    pub async fn init_primary(&self, me: &Endpoint) -> Result<(), SyncError> {
        if self.inner.database.is_none() {
            return Ok(());
        }
        let mut running = self.inner.running.lock().await;
        let pg = self.server(&mut running, me.sync_ip).await?;
        pg.init_primary().await?;
        self.publish_role(DatabaseRole::Primary);
        Ok(())
    }

    /// Promotes the standby (a takeover, before the services start); a server that is
    /// a primary already stays one, a stopped one is started first.
    pub async fn promote(&self, me: &Endpoint) -> Result<Vec<String>, SyncError> {
        if self.inner.database.is_none() {
            return Ok(Vec::new());
        }
        let started = Instant::now();
        let mut running = self.inner.running.lock().await;
        running.watcher = None;
        let pg = self.server(&mut running, me.sync_ip).await?;
        let work = async {
            pg.start().await?;
            let was_standby = pg.is_standby().await?;
            pg.promote().await?;
            Ok::<_, PostgresError>(was_standby)
        };
        let was_standby = tokio::time::timeout(PROMOTE_TIMEOUT, work)
            .await
            .map_err(|_| SyncError::Timeout("the promotion", PROMOTE_TIMEOUT))??;
        self.inner.received.send_replace(None);
        self.publish_role(DatabaseRole::Primary);
        Ok(vec![if was_standby {
            format!(
                "promoted the database to primary in {} ms",
                started.elapsed().as_millis()
            )
        } else {
            "the database runs as primary".to_string()
        }])
    }

    /// The master's duties: its primary runs (promoted when it was a standby), the
    /// active slave replicates from it and receives its files; without an active
    /// slave, nothing is replicated. Returns what it did, for the job's log.
    pub async fn serve_as_master(
        &self,
        me: &Endpoint,
        slave: Option<&Endpoint>,
        secret: &SecretString,
    ) -> Result<Vec<String>, SyncError> {
        let mut log = Vec::new();
        if self.inner.database.is_some() {
            log.extend(self.promote(me).await?);
        }
        let mut running = self.inner.running.lock().await;
        if let Some(daemon) = running.daemon.take() {
            stop_daemon(daemon).await;
        }
        if let (Some(settings), Some(pg)) = (&self.inner.database, running.postgres.clone()) {
            match slave {
                Some(slave) => {
                    let credentials = replication_credentials(secret);
                    let standby = StandbyName::for_host(&slave.hostname);
                    pg.configure_replication(slave.sync_ip, &credentials)
                        .await?;
                    pg.create_slot(&standby).await?;
                    running.watcher = Some(AbortOnDrop(tokio::spawn(monitor(
                        self.inner.clone(),
                        pg.clone(),
                        standby.clone(),
                        settings.durability,
                        Duration::from_secs_f64(settings.lag_threshold_secs.max(0.5)),
                    ))));
                    log.push(format!(
                        "{} may replicate from {} (slot {standby})",
                        slave.hostname, slave.sync_ip
                    ));
                }
                None => {
                    running.watcher = None;
                    self.inner
                        .advert
                        .send_replace(Some(DatabaseAdvert::default()));
                    self.publish_database(|db| {
                        db.durability = Some(DurabilityMode::Async);
                        db.degraded = None;
                        db.standby = None;
                        db.standby_streaming = None;
                    });
                }
            }
        }
        running.pusher = None;
        if let Some(slave) = slave.filter(|_| !self.inner.files.paths.is_empty()) {
            let target = SyncTarget {
                host: slave.sync_ip,
                port: self.inner.files.port,
                secret: rsync_secret(secret),
                source: Some(me.sync_ip),
            };
            let handle = FileSync::spawn(self.inner.files.clone(), target)?;
            self.publish_files(FilesDirection::Pushing, Some(handle.state()));
            spawn_files_state(
                self.inner.clone(),
                handle.subscribe(),
                FilesDirection::Pushing,
            );
            running.pusher = Some(handle);
            log.push(format!(
                "pushing {} synced path(s) to {}",
                self.inner.files.paths.len(),
                slave.hostname
            ));
        } else {
            self.publish_files(FilesDirection::Idle, None);
        }
        Ok(log)
    }

    /// Forgets the removed slave: no replication from it, commits no longer wait for
    /// it, its slot dropped; no more file pushes.
    pub async fn forget_slave(&self, slave: &Endpoint) -> Result<(), SyncError> {
        let mut running = self.inner.running.lock().await;
        running.pusher = None;
        running.watcher = None;
        self.publish_files(FilesDirection::Idle, None);
        if let Some(pg) = running.postgres.clone() {
            pg.remove_standby(&StandbyName::for_host(&slave.hostname))
                .await?;
            self.inner
                .advert
                .send_replace(Some(DatabaseAdvert::default()));
            self.publish_database(|db| {
                db.durability = Some(DurabilityMode::Async);
                db.degraded = None;
                db.standby = None;
                db.standby_streaming = None;
            });
        }
        Ok(())
    }

    /// The slave's duties: the rsync daemon takes the master's pushes; the standby
    /// runs once it has been copied (Add slave copies it with [`DataSync::clone_from`]).
    pub async fn serve_as_slave(
        &self,
        me: &Endpoint,
        master: &Endpoint,
        secret: &SecretString,
    ) -> Result<Vec<String>, SyncError> {
        let mut log = Vec::new();
        let mut running = self.inner.running.lock().await;
        running.pusher = None;
        running.watcher = None;
        self.inner.advert.send_replace(None);
        if !self.inner.files.paths.is_empty() {
            if let Some(daemon) = running.daemon.take() {
                stop_daemon(daemon).await;
            }
            let config = DaemonConfig {
                bind: me.sync_ip,
                port: self.inner.files.port,
                master: master.sync_ip,
                secret: rsync_secret(secret),
                modules: self.inner.files.modules()?,
                run_dir: self.inner.run_dir.clone(),
                rsync: self.inner.files.rsync.clone(),
            };
            running.daemon = Some(RsyncDaemon::start(&config).await?);
            running.daemon_config = Some(config.clone());
            self.publish_files(FilesDirection::Receiving, None);
            log.push(format!(
                "the rsync daemon takes {}'s pushes on {}:{}",
                master.hostname, me.sync_ip, config.port
            ));
        }
        if self.inner.database.is_some() {
            let pg = self.server(&mut running, me.sync_ip).await?;
            if pg.is_standby_configured() {
                pg.start().await?;
                running.watcher = Some(AbortOnDrop(tokio::spawn(poll_received(
                    self.inner.clone(),
                    pg.clone(),
                ))));
                self.publish_role(DatabaseRole::Standby);
                log.push(format!("the database streams from {}", master.hostname));
            } else {
                // A node that is not yet a standby of this master never runs its old
                // primary: Add slave copies the master's database first.
                pg.stop(super::postgres::StopMode::Fast).await?;
                self.publish_role(DatabaseRole::Stopped);
            }
        }
        Ok(log)
    }

    /// Add slave / Add again, on the slave: the master's database copied by
    /// `pg_basebackup`, or this node's old one rewound to follow it; then started
    /// as a standby.
    pub async fn clone_from(
        &self,
        me: &Endpoint,
        master: &Endpoint,
        secret: &SecretString,
    ) -> Result<CloneOutcome, SyncError> {
        let mut reported = 0;
        let progress = move |p: BackupProgress| {
            let percent = (p.done_kb * 100).checked_div(p.total_kb).unwrap_or(0);
            if percent >= reported + 10 {
                reported = percent;
                tracing::info!(
                    done_kb = p.done_kb,
                    total_kb = p.total_kb,
                    "copying the master's database"
                );
            }
        };
        let Some(settings) = self.inner.database.clone() else {
            return Ok(CloneOutcome::NotManaged);
        };
        let mut running = self.inner.running.lock().await;
        running.watcher = None;
        // The position of the database being replaced says nothing about the new one.
        self.inner.received.send_replace(None);
        let pg = self.server(&mut running, me.sync_ip).await?;
        let credentials = replication_credentials(secret);
        let standby = StandbyName::for_host(&me.hostname);
        let from = PrimaryAddress {
            ip: master.sync_ip,
            port: settings.port,
        };
        let outcome = if pg.is_initialized_dir() {
            CloneOutcome::from(
                pg.rewind_from(from, &credentials, &standby, progress)
                    .await?,
            )
        } else {
            pg.basebackup_standby(from, &credentials, &standby, progress)
                .await?;
            CloneOutcome::Copied
        };
        pg.start().await?;
        running.watcher = Some(AbortOnDrop(tokio::spawn(poll_received(
            self.inner.clone(),
            pg.clone(),
        ))));
        self.publish_role(DatabaseRole::Standby);
        Ok(outcome)
    }

    /// A master stepping down: no more pushes, no more commits (the server stops,
    /// immediately if a clean stop takes too long). Called before the cluster IP goes.
    pub async fn refuse_writes(&self) -> Result<(), SyncError> {
        let mut running = self.inner.running.lock().await;
        running.pusher = None;
        running.watcher = None;
        // The advert stays as it was: the slave that takes over next judges its own
        // position against the last acknowledged commit.
        self.publish_files(FilesDirection::Idle, None);
        // A server this process did not start (one that outlived a crash of pequod)
        // is stopped all the same: only the data directory matters for that.
        if running.postgres.is_none()
            && let Some(settings) = self.inner.database.clone()
        {
            running.postgres = Some(Arc::new(Postgres::new(
                settings,
                IpAddr::from([0, 0, 0, 0]),
            )?));
        }
        if let Some(pg) = running.postgres.clone() {
            match tokio::time::timeout(REFUSE_TIMEOUT, pg.refuse_writes()).await {
                Ok(result) => result?,
                Err(_) => pg.stop(super::postgres::StopMode::Immediate).await?,
            }
            self.publish_role(DatabaseRole::Stopped);
        }
        Ok(())
    }

    /// A standby or standalone node, or a stop of Pequod: nothing runs.
    pub async fn stand_by(&self) -> Result<(), SyncError> {
        self.refuse_writes().await?;
        let mut running = self.inner.running.lock().await;
        if let Some(daemon) = running.daemon.take() {
            stop_daemon(daemon).await;
        }
        self.inner.received.send_replace(None);
        Ok(())
    }

    fn publish_role(&self, role: DatabaseRole) {
        self.publish_database(|db| {
            db.role = role;
            if role != DatabaseRole::Primary {
                db.durability = None;
                db.degraded = None;
                db.standby = None;
                db.standby_streaming = None;
            }
        });
    }

    fn publish_database(&self, change: impl FnOnce(&mut DatabaseState)) {
        publish_database(&self.inner, change);
    }

    fn publish_files(&self, direction: FilesDirection, files: Option<FileSyncState>) {
        self.inner.state.send_modify(|state| {
            state.files_direction = direction;
            state.files = files;
        });
    }
}

fn publish_database(inner: &Inner, change: impl FnOnce(&mut DatabaseState)) {
    let Some(settings) = &inner.database else {
        return;
    };
    inner.state.send_modify(|state| {
        let db = state.database.get_or_insert_with(|| DatabaseState {
            durability_setting: Some(settings.durability),
            ..DatabaseState::default()
        });
        change(db);
    });
}

async fn stop_daemon(daemon: RsyncDaemon) {
    if let Err(err) = daemon.stop().await {
        tracing::warn!(error = %err, "stopping the rsync daemon");
    }
}

/// Copies the file sync's state into the node's, until the pusher is gone.
fn spawn_files_state(
    inner: Arc<Inner>,
    mut files: watch::Receiver<FileSyncState>,
    direction: FilesDirection,
) {
    tokio::spawn(async move {
        loop {
            let state = files.borrow_and_update().clone();
            inner.state.send_modify(|s| {
                s.files_direction = direction;
                s.files = Some(state);
            });
            if files.changed().await.is_err() {
                return;
            }
        }
    });
}

/// What Add slave or Add again did with the slave's database.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case", tag = "outcome")]
pub enum CloneOutcome {
    NotManaged,
    /// A fresh copy of the master's.
    Copied,
    /// The old database was rewound; `diverged` names the commits it had that the
    /// master lacks, kept aside in `kept`.
    Rewound {
        diverged: Option<String>,
        kept: Option<String>,
    },
    /// The old database could not be rewound and was copied anew.
    Rebuilt {
        why: String,
        kept: Option<String>,
    },
}

impl From<RewindOutcome> for CloneOutcome {
    fn from(outcome: RewindOutcome) -> Self {
        match outcome {
            RewindOutcome::Rewound { diverged } => CloneOutcome::Rewound {
                kept: diverged.as_ref().and_then(|d| d.kept.as_ref()).map(|p| p.display().to_string()),
                diverged: diverged.map(|d| match d.commits {
                    0 => format!(
                        "no commit: the WAL between {} and {} on timeline {} held none the master lacks",
                        d.from, d.to, d.timeline
                    ),
                    n => format!(
                        "{n} commit(s) between {} and {} on timeline {} that the master does not have",
                        d.from, d.to, d.timeline
                    ),
                }),
            },
            RewindOutcome::Rebuilt { why, kept } => CloneOutcome::Rebuilt {
                why: why.to_string(),
                kept: kept.map(|p| p.display().to_string()),
            },
        }
    }
}

impl CloneOutcome {
    /// The job's log line.
    pub fn describe(&self) -> String {
        match self {
            CloneOutcome::NotManaged => "no database is managed on the slave".into(),
            CloneOutcome::Copied => "copied the master's database (pg_basebackup)".into(),
            CloneOutcome::Rewound { diverged: None, .. } => {
                "rewound the slave's old database to follow the master (pg_rewind); nothing was cut off".into()
            }
            CloneOutcome::Rewound {
                diverged: Some(what),
                kept,
            } => format!(
                "rewound the slave's old database (pg_rewind); what it had past the fork: {what}; its old WAL is kept in {}",
                kept.as_deref().unwrap_or("(could not be kept)")
            ),
            CloneOutcome::Rebuilt { why, kept } => format!(
                "copied the master's database anew (pg_basebackup) because {why}; the old data directory is kept in {}",
                kept.as_deref().unwrap_or("(nothing to keep)")
            ),
        }
    }
}

/// The slave's received WAL position, every heartbeat interval.
async fn poll_received(inner: Arc<Inner>, pg: Arc<Postgres>) {
    let mut ticker = tokio::time::interval(inner.interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut conn = None;
    loop {
        ticker.tick().await;
        if conn.is_none() {
            conn = pg.connect().await.ok();
        }
        let position = match conn.as_mut() {
            Some(c) => super::postgres::received_lsn(c)
                .await
                .map_err(|e| e.to_string()),
            None => Err("the standby does not answer".to_string()),
        };
        if position.is_err() {
            conn = None;
        }
        inner.received.send_replace(Some(position.map(|lsn| lsn.0)));
    }
}

/// The master's durability monitor: commits wait for the slave while it streams and
/// keeps up; when it is gone (not heard, not streaming) or a commit has waited for
/// it longer than half the threshold, commits stop waiting at once, and wait again
/// once it has caught up. The advert follows, changed before commits stop waiting
/// and after they wait again, so the slave never believes it has what it may lack.
async fn monitor(
    inner: Arc<Inner>,
    pg: Arc<Postgres>,
    standby: StandbyName,
    wanted: DurabilityMode,
    threshold: Duration,
) {
    let mut ticker = tokio::time::interval(inner.interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut peer_alive = inner.peer_alive.subscribe();
    // Whatever the server runs with, the first round sets the mode explicitly.
    let mut current: Option<DurabilityMode> = None;
    // Until the slave has once been in sync (a pairing still copying, a master just
    // restarted), async is the way there, not a fall from it: no warning yet.
    let mut was_sync = false;
    let mut conn = None;
    publish_database(&inner, |db| {
        db.standby = Some(standby.to_string());
        db.role = DatabaseRole::Primary;
    });
    loop {
        tokio::select! {
            _ = ticker.tick() => {}
            _ = peer_alive.changed() => {}
        }
        if conn.is_none() {
            conn = pg.connect().await.ok();
        }
        let Some(c) = conn.as_mut() else {
            publish_database(&inner, |db| {
                db.error = Some("the primary does not answer".into());
            });
            continue;
        };
        let seen = match super::postgres::replication_state(c, &standby).await {
            Ok(seen) => seen,
            Err(err) => {
                conn = None;
                publish_database(&inner, |db| db.error = Some(err.to_string()));
                continue;
            }
        };
        let alive = *peer_alive.borrow();
        let half = threshold / 2;
        let problem = if wanted == DurabilityMode::Async {
            None
        } else if !alive {
            Some(format!("{standby} is not heard"))
        } else if !seen.streaming {
            Some(format!("{standby} does not stream"))
        } else if seen.longest_sync_wait.is_some_and(|w| w > half) {
            Some(format!(
                "a commit has waited for {standby} longer than {:.1} s",
                half.as_secs_f64()
            ))
        } else if current != Some(DurabilityMode::Sync)
            && (seen.lag_bytes > CAUGHT_UP_BYTES || seen.reply_age.is_none_or(|age| age > half))
        {
            Some(format!("{standby} is catching up"))
        } else {
            None
        };
        let next = if problem.is_some() || wanted == DurabilityMode::Async {
            DurabilityMode::Async
        } else {
            DurabilityMode::Sync
        };
        if current != Some(next) {
            let result = match next {
                DurabilityMode::Async => {
                    inner.advert.send_replace(Some(DatabaseAdvert {
                        waits_for_slave: false,
                        acknowledged: seen.flushed.0,
                    }));
                    pg.set_durability(DurabilityMode::Async, &standby).await
                }
                DurabilityMode::Sync => pg.set_durability(DurabilityMode::Sync, &standby).await,
            };
            match result {
                Ok(()) => {
                    match (&problem, wanted) {
                        (Some(why), DurabilityMode::Sync) => tracing::warn!(
                            why,
                            "commits no longer wait for the slave (async) until it has caught up"
                        ),
                        (None, DurabilityMode::Sync) => {
                            tracing::info!("commits wait for the slave again (sync)")
                        }
                        _ => tracing::info!("commits do not wait for the slave (async mode)"),
                    }
                    current = Some(next);
                    was_sync |= next == DurabilityMode::Sync;
                }
                Err(err) => {
                    conn = None;
                    publish_database(&inner, |db| db.error = Some(err.to_string()));
                    continue;
                }
            }
        }
        let acknowledged = match current {
            Some(DurabilityMode::Sync) => seen.standby_flushed.unwrap_or_default(),
            _ => seen.flushed,
        }
        .0;
        inner.advert.send_replace(Some(DatabaseAdvert {
            waits_for_slave: current == Some(DurabilityMode::Sync),
            acknowledged,
        }));
        let degraded = problem.filter(|_| wanted == DurabilityMode::Sync && was_sync);
        publish_database(&inner, |db| {
            db.role = DatabaseRole::Primary;
            db.durability = current;
            db.degraded = degraded;
            db.standby_streaming = Some(seen.streaming);
            db.lag_bytes = Some(seen.lag_bytes);
            db.lag_seconds = seen.replay_lag.map(|d| d.as_secs_f64());
            db.checked_at = Some(Utc::now());
            db.error = None;
        });
    }
}

/// A slave within this much WAL of the master counts as caught up.
const CAUGHT_UP_BYTES: u64 = 16 * 1024 * 1024;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derived_secrets_differ_by_purpose_and_cluster() {
        let a = SecretString::from("cluster-a".to_string());
        let b = SecretString::from("cluster-b".to_string());
        let repl = replication_credentials(&a);
        assert_eq!(repl.user, REPLICATION_USER);
        assert_eq!(repl.password.expose_secret().len(), 64);
        assert_ne!(
            repl.password.expose_secret(),
            rsync_secret(&a).expose_secret()
        );
        assert_ne!(
            rsync_secret(&a).expose_secret(),
            rsync_secret(&b).expose_secret()
        );
        assert_eq!(
            rsync_secret(&a).expose_secret(),
            rsync_secret(&a).expose_secret()
        );
    }
}
