//! The telephony database on this node: PostgreSQL run by Pequod as the master's primary
//! or as the slave's streaming-replication standby over the cluster link, promoted in a
//! takeover, rewound (or rebuilt) to follow the new primary on "Add again".
//!
//! The server's programs run as the unprivileged OS user that owns the data directory
//! (`Command::uid`/`gid`, which also drop supplementary groups). Pequod talks SQL with
//! sqlx rather than psql: bind parameters and typed rows instead of quoting through a
//! shell and parsing text tables, and a statement is a future that a timeout can bound
//! (a commit waiting for a synchronous standby, for one). The superuser connects over
//! the unix socket, mapped by `pg_ident.conf` from Pequod's OS user; the peer node only
//! ever reaches the server over TCP from its sync IP, with the replication role.
//!
//! Everything Pequod configures lives in files it rewrites whole, under
//! `pequod.conf.d/` (included from `postgresql.conf`) and in `pg_hba.conf`, so a copy
//! from the peer (by `pg_basebackup` or `pg_rewind`) is corrected by writing them again.

use std::collections::VecDeque;
use std::fmt;
use std::net::IpAddr;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};
use std::str::FromStr;
use std::sync::Mutex;
use std::time::Duration;

use chrono::{DateTime, Utc};
use rand::Rng;
use rand::distributions::Alphanumeric;
use secrecy::{ExposeSecret, SecretString};
use sqlx::postgres::{PgConnectOptions, PgConnection};
use sqlx::{ConnectOptions, Connection};
use tokio::io::AsyncReadExt;
use tokio::process::Command;

use super::settings::{DatabaseSettings, DurabilityMode};

/// How long a server start, stop or promotion may take before Pequod gives up on it.
const SERVER_TIMEOUT: Duration = Duration::from_secs(60);
/// How long a configuration reload may take to reach new sessions.
const RELOAD_TIMEOUT: Duration = Duration::from_secs(10);
/// Sync-test rows remembered for the lag in seconds (one a second is a minute's worth).
const SYNC_MARKS: usize = 64;
/// The files under `pequod.conf.d/`, read in this order.
const CONF_DIR: &str = "pequod.conf.d";
const BASE_CONF: &str = "00-pequod.conf";
const STANDBY_CONF: &str = "10-standby.conf";
const DURABILITY_CONF: &str = "20-durability.conf";
/// The sync-test row: one row whose timestamp the master rewrites.
const SYNC_TEST_TABLE: &str = "pequod.sync_test";

/// What went wrong managing PostgreSQL.
#[derive(Debug, thiserror::Error)]
pub enum PostgresError {
    #[error("the OS user {0} does not exist")]
    NoOsUser(String),
    #[error("looking up the OS user {user}")]
    OsUserLookup {
        user: String,
        #[source]
        source: nix::Error,
    },
    #[error("{what}: {path}")]
    Io {
        what: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{program} failed ({status}): {stderr}")]
    Tool {
        program: String,
        status: std::process::ExitStatus,
        stderr: String,
    },
    #[error("{what}")]
    Sql {
        what: &'static str,
        #[source]
        source: sqlx::Error,
    },
    #[error("{0} did not finish in time")]
    Timeout(&'static str),
    #[error("the server is a standby; this needs the primary")]
    NotPrimary,
    #[error("the server is not a standby")]
    NotStandby,
    #[error("the data directory {0} is not empty")]
    DataDirNotEmpty(PathBuf),
    #[error("unexpected output from {program}: {detail}")]
    UnexpectedOutput { program: String, detail: String },
}

type Result<T> = std::result::Result<T, PostgresError>;

fn sql(what: &'static str) -> impl FnOnce(sqlx::Error) -> PostgresError {
    move |source| PostgresError::Sql { what, source }
}

fn io(what: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> PostgresError {
    let path = path.to_path_buf();
    move |source| PostgresError::Io { what, path, source }
}

/// A position in the write-ahead log, as PostgreSQL writes it (`16/B374D848`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Lsn(pub u64);

impl FromStr for Lsn {
    type Err = String;
    fn from_str(text: &str) -> std::result::Result<Self, String> {
        let (high, low) = text
            .trim()
            .split_once('/')
            .ok_or_else(|| format!("not a WAL location: {text}"))?;
        let high = u64::from_str_radix(high, 16).map_err(|e| format!("{text}: {e}"))?;
        let low = u64::from_str_radix(low, 16).map_err(|e| format!("{text}: {e}"))?;
        Ok(Self((high << 32) | low))
    }
}

impl fmt::Display for Lsn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:X}/{:X}", self.0 >> 32, self.0 & 0xFFFF_FFFF)
    }
}

fn parse_lsn(program: &str, text: &str) -> Result<Lsn> {
    text.parse()
        .map_err(|detail| PostgresError::UnexpectedOutput {
            program: program.to_string(),
            detail,
        })
}

/// The standby's name on the primary: its `application_name` (what
/// `synchronous_standby_names` lists) and its replication slot. Lower-case letters,
/// digits and `_`, as slot names must be.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct StandbyName(String);

impl StandbyName {
    /// The name for a node: its hostname with everything a slot name cannot hold as `_`.
    pub fn for_host(hostname: &str) -> Self {
        let name: String = hostname
            .chars()
            .map(|c| {
                let c = c.to_ascii_lowercase();
                if c.is_ascii_lowercase() || c.is_ascii_digit() {
                    c
                } else {
                    '_'
                }
            })
            .take(63)
            .collect();
        if name.is_empty() {
            Self("pequod_standby".into())
        } else {
            Self(name)
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for StandbyName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The role the peer node replicates (and rewinds) with.
#[derive(Debug, Clone)]
pub struct ReplicationCredentials {
    pub user: String,
    pub password: SecretString,
}

impl ReplicationCredentials {
    /// A fresh role name and password (alphanumeric, so they need no quoting anywhere).
    pub fn generate() -> Self {
        let password: String = rand::thread_rng()
            .sample_iter(&Alphanumeric)
            .take(40)
            .map(char::from)
            .collect();
        Self {
            user: "pequod_replication".into(),
            password: SecretString::from(password),
        }
    }
}

/// Where the primary's server listens on the cluster link.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PrimaryAddress {
    pub ip: IpAddr,
    pub port: u16,
}

/// How `pg_basebackup` is getting on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BackupProgress {
    pub done_kb: u64,
    pub total_kb: u64,
}

/// How a server stops: `Fast` ends sessions and shuts down cleanly, `Immediate` is a crash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopMode {
    Fast,
    Immediate,
}

/// WAL the old primary wrote after the new one's history left it: lost by the rewind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DivergedWal {
    pub timeline: u32,
    /// Where the new primary's timeline branched off.
    pub from: Lsn,
    /// The old primary's last checkpoint (its end of WAL after a clean shutdown).
    pub to: Lsn,
    /// Transactions committed in that range, which the new primary does not have.
    pub commits: usize,
    /// Where the old primary's WAL was kept before the rewind, so what was cut off
    /// can still be read (`pg_waldump`); `None` when it could not be copied.
    pub kept: Option<PathBuf>,
}

/// Why an old primary was rebuilt from a fresh copy instead of rewound.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RebuildReason {
    /// There was no database cluster in the data directory.
    NotInitialized,
    /// `pg_rewind` refused or failed; its message.
    RewindFailed(String),
}

impl fmt::Display for RebuildReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NotInitialized => f.write_str("the data directory held no database"),
            Self::RewindFailed(message) => write!(f, "pg_rewind failed: {message}"),
        }
    }
}

/// How an old primary came to follow the new one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RewindOutcome {
    /// Rewound with `pg_rewind`; `diverged` is `None` when its history was already the
    /// new primary's (a clean switchover), else the range it had to give up.
    Rewound { diverged: Option<DivergedWal> },
    /// Copied anew with `pg_basebackup`; the old data directory, if there was one,
    /// was moved to `kept` rather than deleted.
    Rebuilt {
        why: RebuildReason,
        kept: Option<PathBuf>,
    },
}

/// What the primary sees of its standby's connection, each durability round.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReplicationSeen {
    /// The standby's walsender is in the `streaming` state.
    pub streaming: bool,
    /// The primary's flushed WAL (what commits without a standby have reached).
    pub flushed: Lsn,
    /// What the standby confirmed to have flushed.
    pub standby_flushed: Option<Lsn>,
    /// WAL the standby has not yet flushed.
    pub lag_bytes: u64,
    /// How long ago the standby last answered.
    pub reply_age: Option<Duration>,
    pub replay_lag: Option<Duration>,
    /// The longest a session has waited for the standby to confirm its commit.
    pub longest_sync_wait: Option<Duration>,
}

/// flushed LSN, walsender state, standby's flush LSN, reply age, replay lag, longest
/// wait for the standby (seconds).
type ReplicationRow = (
    String,
    Option<String>,
    Option<String>,
    Option<f64>,
    Option<f64>,
    Option<f64>,
);

/// The primary's view of `standby`, in one round trip.
pub async fn replication_state(
    conn: &mut PgConnection,
    standby: &StandbyName,
) -> Result<ReplicationSeen> {
    let row: ReplicationRow = sqlx::query_as(
        "SELECT pg_current_wal_flush_lsn()::text,
                    r.state::text,
                    r.flush_lsn::text,
                    extract(epoch FROM clock_timestamp() - r.reply_time)::float8,
                    extract(epoch FROM r.replay_lag)::float8,
                    (SELECT extract(epoch FROM max(clock_timestamp() - state_change))::float8
                       FROM pg_stat_activity WHERE wait_event = 'SyncRep')
             FROM (SELECT 1) AS one
             LEFT JOIN pg_stat_replication r ON r.application_name = $1",
    )
    .bind(standby.as_str().to_owned())
    .fetch_one(&mut *conn)
    .await
    .map_err(sql("reading the replication state"))?;
    let (flushed, state, standby_flushed, reply_age, replay_lag, waited) = row;
    let flushed = parse_lsn("postgres", &flushed)?;
    let standby_flushed = standby_flushed
        .map(|lsn| parse_lsn("postgres", &lsn))
        .transpose()?;
    let seconds = |s: Option<f64>| s.map(|s| Duration::from_secs_f64(s.max(0.0)));
    Ok(ReplicationSeen {
        streaming: state.as_deref() == Some("streaming"),
        flushed,
        standby_flushed,
        lag_bytes: flushed.0.saturating_sub(standby_flushed.map_or(0, |l| l.0)),
        reply_age: seconds(reply_age),
        replay_lag: seconds(replay_lag),
        longest_sync_wait: seconds(waited),
    })
}

/// What this standby has received from its primary (what it replayed, before the
/// first byte arrives after a start).
pub async fn received_lsn(conn: &mut PgConnection) -> Result<Lsn> {
    let lsn: Option<String> = sqlx::query_scalar(
        "SELECT COALESCE(pg_last_wal_receive_lsn(), pg_last_wal_replay_lsn())::text",
    )
    .fetch_one(&mut *conn)
    .await
    .map_err(sql("reading the received WAL position"))?;
    match lsn {
        Some(lsn) => parse_lsn("postgres", &lsn),
        None => Err(PostgresError::NotStandby),
    }
}

/// How far a standby is behind. `None` where it cannot be told (no standby connected,
/// no sync-test row written yet).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Lag {
    pub bytes: Option<u64>,
    pub seconds: Option<f64>,
}

/// A sync-test row as the primary wrote it: when, and the WAL position it is before.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SyncMark {
    pub written_at: DateTime<Utc>,
    pub lsn: Lsn,
}

#[derive(Debug, Clone)]
struct OsUser {
    name: String,
    uid: u32,
    gid: u32,
}

/// This node's PostgreSQL server.
#[derive(Debug)]
pub struct Postgres {
    settings: DatabaseSettings,
    sync_ip: IpAddr,
    owner: OsUser,
    /// The OS user Pequod runs as, mapped to the superuser role for the unix socket.
    client_user: String,
    /// Recent sync-test rows, for the lag in seconds on the primary.
    marks: Mutex<VecDeque<SyncMark>>,
}

impl Postgres {
    /// The server of this node, which listens on `sync_ip` (the cluster link) besides
    /// the configured addresses.
    pub fn new(settings: DatabaseSettings, sync_ip: IpAddr) -> Result<Self> {
        let owner = lookup_user(&settings.os_user)?;
        let me = nix::unistd::geteuid();
        let client_user = nix::unistd::User::from_uid(me)
            .map_err(|source| PostgresError::OsUserLookup {
                user: me.to_string(),
                source,
            })?
            .map(|user| user.name)
            .ok_or_else(|| PostgresError::NoOsUser(me.to_string()))?;
        Ok(Self {
            settings,
            sync_ip,
            owner,
            client_user,
            marks: Mutex::new(VecDeque::new()),
        })
    }

    pub fn settings(&self) -> &DatabaseSettings {
        &self.settings
    }

    /// Where this server is reached on the cluster link.
    pub fn address(&self) -> PrimaryAddress {
        PrimaryAddress {
            ip: self.sync_ip,
            port: self.settings.port,
        }
    }

    fn data_dir(&self) -> &Path {
        &self.settings.data_dir
    }

    fn log_path(&self) -> PathBuf {
        let mut name = self.data_dir().as_os_str().to_os_string();
        name.push(".log");
        PathBuf::from(name)
    }

    fn is_initialized(&self) -> bool {
        self.data_dir().join("PG_VERSION").exists()
    }

    /// Whether the data directory holds a database cluster.
    pub fn is_initialized_dir(&self) -> bool {
        self.is_initialized()
    }

    /// Whether the data directory is set up as a standby (it was copied or rewound
    /// from a primary and not promoted since).
    pub fn is_standby_configured(&self) -> bool {
        self.is_initialized() && self.data_dir().join("standby.signal").exists()
    }

    /// Where an old data directory (or its WAL) is kept aside instead of deleted.
    fn cut_off_dir(&self) -> PathBuf {
        let mut name = self.data_dir().as_os_str().to_os_string();
        name.push(format!(
            ".cut-off-{}",
            Utc::now().format("%Y%m%dT%H%M%S%.3fZ")
        ));
        PathBuf::from(name)
    }

    /// Removes what was kept aside longer ago than the settings keep it.
    async fn prune_cut_off(&self) {
        let Some(parent) = self.data_dir().parent() else {
            return;
        };
        let Some(prefix) = self
            .data_dir()
            .file_name()
            .map(|n| format!("{}.cut-off-", n.to_string_lossy()))
        else {
            return;
        };
        let keep = Duration::from_secs(self.settings.keep_cut_off_days.saturating_mul(86_400));
        let Ok(entries) = std::fs::read_dir(parent) else {
            return;
        };
        for entry in entries.flatten() {
            let old = entry
                .metadata()
                .and_then(|m| m.modified())
                .ok()
                .and_then(|m| m.elapsed().ok())
                .is_some_and(|age| age > keep);
            if old && entry.file_name().to_string_lossy().starts_with(&prefix) {
                tracing::info!(path = %entry.path().display(), "removing data kept aside past its period");
                let _ = tokio::fs::remove_dir_all(entry.path()).await;
            }
        }
    }

    /// Makes this node's primary: a new database cluster with data checksums (so
    /// `pg_rewind` can work on it later) unless one is there, Pequod's configuration,
    /// started. Replication is admitted only after `configure_replication`.
    #[tracing::instrument(skip(self), fields(data_dir = %self.data_dir().display()))]
    pub async fn init_primary(&self) -> Result<()> {
        if !self.is_initialized() {
            self.prepare_dirs().await?;
            let data_dir = self.data_dir().display().to_string();
            self.run_tool(
                "initdb",
                &[
                    "-D",
                    &data_dir,
                    "-U",
                    &self.owner.name,
                    "--auth-local=peer",
                    "--auth-host=scram-sha-256",
                    "--data-checksums",
                    "--encoding=UTF8",
                    "--locale=C.UTF-8",
                ],
                &[],
            )
            .await?;
            tracing::info!("created the database cluster");
        }
        self.write_base_config().await?;
        self.write_hba(None).await?;
        self.remove_conf(STANDBY_CONF).await?;
        self.remove_file(&self.data_dir().join("standby.signal"))
            .await?;
        self.start().await
    }

    /// Admits the peer's replication (and `pg_rewind`) connections from its sync IP
    /// only, and on the primary creates or updates the replication role.
    #[tracing::instrument(skip(self, credentials), fields(user = %credentials.user))]
    pub async fn configure_replication(
        &self,
        peer_sync_ip: IpAddr,
        credentials: &ReplicationCredentials,
    ) -> Result<()> {
        self.write_hba(Some((peer_sync_ip, &credentials.user)))
            .await?;
        let mut conn = self.connect().await?;
        reload(&mut conn).await?;
        if in_recovery(&mut conn).await? {
            // The role reaches a standby with the WAL; its pg_hba.conf is its own.
            return Ok(());
        }
        let user = quote_ident(&credentials.user);
        let password = quote_literal(credentials.password.expose_secret());
        let exists: bool =
            sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = $1)")
                .bind(credentials.user.clone())
                .fetch_one(&mut conn)
                .await
                .map_err(sql("looking up the replication role"))?;
        let verb = if exists { "ALTER" } else { "CREATE" };
        batch(
            &mut conn,
            format!("{verb} ROLE {user} WITH LOGIN REPLICATION PASSWORD {password}"),
        )
        .await
        .map_err(sql("creating the replication role"))?;
        // What pg_rewind reads from its source, and the checkpoint it needs first.
        batch(&mut conn, format!(
            "GRANT EXECUTE ON FUNCTION pg_catalog.pg_ls_dir(text, boolean, boolean) TO {user};
             GRANT EXECUTE ON FUNCTION pg_catalog.pg_stat_file(text, boolean) TO {user};
             GRANT EXECUTE ON FUNCTION pg_catalog.pg_read_binary_file(text) TO {user};
             GRANT EXECUTE ON FUNCTION pg_catalog.pg_read_binary_file(text, bigint, bigint, boolean) TO {user};
             GRANT pg_checkpoint TO {user};"
        ))
        .await
        .map_err(sql("granting the replication role what pg_rewind needs"))?;
        Ok(())
    }

    /// Creates the standby's physical replication slot (reserving WAL at once), unless
    /// it exists; `max_slot_wal_keep_size` caps what it may hold back.
    pub async fn create_slot(&self, standby: &StandbyName) -> Result<()> {
        let mut conn = self.connect().await?;
        sqlx::query(
            "SELECT pg_create_physical_replication_slot($1, true)
             WHERE NOT EXISTS (SELECT 1 FROM pg_replication_slots WHERE slot_name = $1)",
        )
        .bind(standby.as_str().to_owned())
        .execute(&mut conn)
        .await
        .map_err(sql("creating the replication slot"))?;
        Ok(())
    }

    /// The replication slots on this server, by name.
    pub async fn slots(&self) -> Result<Vec<String>> {
        let mut conn = self.connect().await?;
        sqlx::query_scalar("SELECT slot_name::text FROM pg_replication_slots ORDER BY 1")
            .fetch_all(&mut conn)
            .await
            .map_err(sql("listing the replication slots"))
    }

    /// Forgets a removed standby: no more replication from the peer, commits no longer
    /// wait for it, its connection ended and its slot dropped (so WAL is not kept for it).
    #[tracing::instrument(skip(self))]
    pub async fn remove_standby(&self, standby: &StandbyName) -> Result<()> {
        self.write_hba(None).await?;
        self.write_conf(
            DURABILITY_CONF,
            &durability_conf(DurabilityMode::Async, standby),
        )
        .await?;
        let mut conn = self.connect().await?;
        reload(&mut conn).await?;
        wait_for_setting(self, "synchronous_standby_names", "").await?;
        sqlx::query(
            "SELECT pg_terminate_backend(active_pid) FROM pg_replication_slots
             WHERE slot_name = $1 AND active_pid IS NOT NULL",
        )
        .bind(standby.as_str().to_owned())
        .execute(&mut conn)
        .await
        .map_err(sql("ending the standby's connection"))?;
        // A terminated walsender releases its slot a moment later.
        let deadline = tokio::time::Instant::now() + SERVER_TIMEOUT;
        loop {
            let dropped = sqlx::query(
                "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots
                 WHERE slot_name = $1 AND NOT active",
            )
            .bind(standby.as_str().to_owned())
            .execute(&mut conn)
            .await;
            let remaining: i64 = sqlx::query_scalar(
                "SELECT count(*) FROM pg_replication_slots WHERE slot_name = $1",
            )
            .bind(standby.as_str().to_owned())
            .fetch_one(&mut conn)
            .await
            .map_err(sql("looking up the replication slot"))?;
            if remaining == 0 {
                return Ok(());
            }
            if tokio::time::Instant::now() >= deadline {
                return match dropped {
                    Err(source) => Err(PostgresError::Sql {
                        what: "dropping the replication slot",
                        source,
                    }),
                    Ok(_) => Err(PostgresError::Timeout("dropping the replication slot")),
                };
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Makes this node a standby of `from`: a copy by `pg_basebackup` over the cluster
    /// link into the (empty) data directory, streaming from the slot named `standby`
    /// (create it on the primary first). Leaves the server stopped.
    #[tracing::instrument(skip(self, credentials, progress), fields(from = %from.ip))]
    pub async fn basebackup_standby(
        &self,
        from: PrimaryAddress,
        credentials: &ReplicationCredentials,
        standby: &StandbyName,
        mut progress: impl FnMut(BackupProgress),
    ) -> Result<()> {
        let data_dir = self.data_dir();
        if let Ok(mut entries) = std::fs::read_dir(data_dir)
            && entries.next().is_some()
        {
            return Err(PostgresError::DataDirNotEmpty(data_dir.to_path_buf()));
        }
        self.prepare_dirs().await?;
        let program = self.settings.bin_dir.join("pg_basebackup");
        let mut child = self
            .command(&program)
            .args(["-h", &from.ip.to_string(), "-p", &from.port.to_string()])
            .args(["-U", &credentials.user, "-w", "-D"])
            .arg(data_dir)
            .args([
                "-X",
                "stream",
                "-c",
                "fast",
                "-S",
                standby.as_str(),
                "--progress",
            ])
            .env("PGPASSWORD", credentials.password.expose_secret())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(io("starting pg_basebackup", &program))?;
        let mut stderr_text = String::new();
        if let Some(mut stderr) = child.stderr.take() {
            let mut buffer = [0u8; 4096];
            let mut pending = String::new();
            loop {
                let read = stderr
                    .read(&mut buffer)
                    .await
                    .map_err(io("reading pg_basebackup's output", &program))?;
                if read == 0 {
                    break;
                }
                pending.push_str(&String::from_utf8_lossy(&buffer[..read]));
                // Progress lines end in a carriage return, messages in a newline.
                while let Some(end) = pending.find(['\r', '\n']) {
                    let line: String = pending.drain(..=end).collect();
                    match parse_progress(&line) {
                        Some(report) => progress(report),
                        None if !line.trim().is_empty() => stderr_text.push_str(&line),
                        None => {}
                    }
                }
            }
            stderr_text.push_str(&pending);
        }
        let status = child
            .wait()
            .await
            .map_err(io("waiting for pg_basebackup", &program))?;
        if !status.success() {
            return Err(PostgresError::Tool {
                program: "pg_basebackup".into(),
                status,
                stderr: stderr_text.trim().to_string(),
            });
        }
        self.follow(from, credentials, standby).await
    }

    /// The configuration of a standby of `from`, written over what was copied from it.
    async fn follow(
        &self,
        from: PrimaryAddress,
        credentials: &ReplicationCredentials,
        standby: &StandbyName,
    ) -> Result<()> {
        self.write_base_config().await?;
        self.write_hba(Some((from.ip, &credentials.user))).await?;
        self.remove_conf(DURABILITY_CONF).await?;
        let conninfo = format!(
            "host={} port={} user={} password={} application_name={}",
            conninfo_value(&from.ip.to_string()),
            from.port,
            conninfo_value(&credentials.user),
            conninfo_value(credentials.password.expose_secret()),
            conninfo_value(standby.as_str()),
        );
        self.write_conf(
            STANDBY_CONF,
            &format!(
                "primary_conninfo = {}\nprimary_slot_name = {}\n",
                quote_literal(&conninfo),
                quote_literal(standby.as_str())
            ),
        )
        .await?;
        self.write_owned(&self.data_dir().join("standby.signal"), "")
            .await
    }

    /// Starts the server (no error when it runs) and waits until it accepts connections.
    pub async fn start(&self) -> Result<()> {
        if self.is_running().await? {
            return Ok(());
        }
        let log = self.log_path();
        if !log.exists() {
            self.write_owned(&log, "").await?;
        }
        let data_dir = self.data_dir().display().to_string();
        let log = log.display().to_string();
        let timeout = SERVER_TIMEOUT.as_secs().to_string();
        self.run_tool(
            "pg_ctl",
            &[
                "start", "-D", &data_dir, "-l", &log, "-w", "-t", &timeout, "-s",
            ],
            &[],
        )
        .await?;
        Ok(())
    }

    /// Stops the server (no error when it is stopped).
    pub async fn stop(&self, mode: StopMode) -> Result<()> {
        if !self.is_running().await? {
            return Ok(());
        }
        let data_dir = self.data_dir().display().to_string();
        let timeout = SERVER_TIMEOUT.as_secs().to_string();
        let mode = match mode {
            StopMode::Fast => "fast",
            StopMode::Immediate => "immediate",
        };
        self.run_tool(
            "pg_ctl",
            &[
                "stop", "-D", &data_dir, "-m", mode, "-w", "-t", &timeout, "-s",
            ],
            &[],
        )
        .await?;
        Ok(())
    }

    /// Whether the server runs (`pg_ctl status`).
    pub async fn is_running(&self) -> Result<bool> {
        if !self.is_initialized() {
            return Ok(false);
        }
        let data_dir = self.data_dir().display().to_string();
        let output = self
            .output("pg_ctl", &["status", "-D", &data_dir], &[])
            .await?;
        // 0: running; 3: not running; anything else is a real failure.
        match output.status.code() {
            Some(0) => Ok(true),
            Some(3) => Ok(false),
            _ => Err(tool_error("pg_ctl", &output)),
        }
    }

    /// A master stepping down refuses writes before it lets the cluster IP go: its
    /// server stops (sessions ended, a clean shutdown, so a later `pg_rewind` can start
    /// from it; its last WAL reaches a connected standby first). A fast stop that hangs
    /// becomes an immediate one, as refusing writes matters more than a clean stop.
    #[tracing::instrument(skip(self))]
    pub async fn refuse_writes(&self) -> Result<()> {
        match tokio::time::timeout(SERVER_TIMEOUT, self.stop(StopMode::Fast)).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(err)) => {
                tracing::warn!(error = %err, "a fast stop failed; stopping immediately");
                self.stop(StopMode::Immediate).await
            }
            Err(_) => self.stop(StopMode::Immediate).await,
        }
    }

    /// Promotes the standby to primary (the takeover, before the services start). The
    /// new primary does not wait for any standby until one is added and made sync.
    #[tracing::instrument(skip(self))]
    pub async fn promote(&self) -> Result<()> {
        let mut conn = self.connect().await?;
        if in_recovery(&mut conn).await? {
            let promoted: bool = sqlx::query_scalar("SELECT pg_promote(true, $1)")
                .bind(i32::try_from(SERVER_TIMEOUT.as_secs()).unwrap_or(60))
                .fetch_one(&mut conn)
                .await
                .map_err(sql("promoting the standby"))?;
            if !promoted {
                return Err(PostgresError::Timeout("the promotion"));
            }
            self.remove_conf(STANDBY_CONF).await?;
            self.remove_conf(DURABILITY_CONF).await?;
            return reload(&mut conn).await;
        }
        // A primary already: its durability mode stays as the monitor keeps it.
        Ok(())
    }

    /// Whether the server is a standby (in recovery).
    pub async fn is_standby(&self) -> Result<bool> {
        let mut conn = self.connect().await?;
        in_recovery(&mut conn).await
    }

    /// Makes this old primary (stopped, or crashed) a standby of `primary` on "Add
    /// again": rewound with `pg_rewind` after a checkpoint on the new primary (so its
    /// control file names its new timeline), or, when that cannot be done, copied anew
    /// with `pg_basebackup`. The outcome says which, why, and what WAL was given up.
    /// The new primary must hold the slot `standby` and admit this node. Leaves the
    /// server stopped.
    #[tracing::instrument(skip(self, credentials, progress), fields(primary = %primary.ip))]
    pub async fn rewind_from(
        &self,
        primary: PrimaryAddress,
        credentials: &ReplicationCredentials,
        standby: &StandbyName,
        progress: impl FnMut(BackupProgress),
    ) -> Result<RewindOutcome> {
        self.stop(StopMode::Fast).await?;
        self.prune_cut_off().await;
        checkpoint_remote(primary, credentials).await?;
        let why = if self.is_initialized() {
            match self.rewind(primary, credentials).await {
                Ok(diverged) => {
                    self.follow(primary, credentials, standby).await?;
                    tracing::info!(?diverged, "rewound to follow the new primary");
                    return Ok(RewindOutcome::Rewound { diverged });
                }
                Err(err) => {
                    tracing::warn!(error = %err, "pg_rewind failed; copying the primary anew");
                    RebuildReason::RewindFailed(err.to_string())
                }
            }
        } else {
            RebuildReason::NotInitialized
        };
        let kept = if self.is_initialized() {
            let kept = self.cut_off_dir();
            tokio::fs::rename(self.data_dir(), &kept)
                .await
                .map_err(io("keeping the old data directory aside", &kept))?;
            Some(kept)
        } else {
            self.clear_data_dir().await?;
            None
        };
        self.basebackup_standby(primary, credentials, standby, progress)
            .await?;
        Ok(RewindOutcome::Rebuilt { why, kept })
    }

    /// `pg_rewind` proper: a clean shutdown first, a dry run for where the histories
    /// part, the commits past that point counted, then the rewind.
    async fn rewind(
        &self,
        primary: PrimaryAddress,
        credentials: &ReplicationCredentials,
    ) -> Result<Option<DivergedWal>> {
        self.ensure_clean_shutdown().await?;
        let data_dir = self.data_dir().display().to_string();
        let source = format!(
            "--source-server=host={} port={} user={} dbname=postgres",
            conninfo_value(&primary.ip.to_string()),
            primary.port,
            conninfo_value(&credentials.user),
        );
        let password = credentials.password.expose_secret();
        let env = [("PGPASSWORD", password)];
        let dry = self
            .run_tool("pg_rewind", &["-D", &data_dir, &source, "--dry-run"], &env)
            .await?;
        let report = format!(
            "{}{}",
            String::from_utf8_lossy(&dry.stdout),
            String::from_utf8_lossy(&dry.stderr)
        );
        if report.contains("no rewind required") {
            return Ok(None);
        }
        let (from, timeline) =
            parse_divergence(&report).ok_or_else(|| PostgresError::UnexpectedOutput {
                program: "pg_rewind".into(),
                detail: report.trim().to_string(),
            })?;
        let control = self.control_data().await?;
        let to = parse_lsn(
            "pg_controldata",
            control_field(&control, "Latest checkpoint location").unwrap_or_default(),
        )?;
        let commits = self.count_commits(timeline, from, to).await?;
        // pg_rewind replaces the WAL past the fork with the new primary's: keep a copy.
        let kept = self.cut_off_dir();
        let wal = self.data_dir().join("pg_wal");
        let kept = match tokio::fs::create_dir_all(&kept).await {
            // `status()` starts the copy at once: only once the directory exists.
            Ok(()) => match tokio::process::Command::new("cp")
                .arg("-a")
                .arg(&wal)
                .arg(kept.join("pg_wal"))
                .status()
                .await
            {
                Ok(status) if status.success() => Some(kept),
                other => {
                    tracing::warn!(?other, "could not keep the cut-off WAL");
                    None
                }
            },
            Err(err) => {
                tracing::warn!(error = %err, "could not keep the cut-off WAL");
                None
            }
        };
        self.run_tool("pg_rewind", &["-D", &data_dir, &source], &env)
            .await?;
        Ok(Some(DivergedWal {
            timeline,
            from,
            to,
            commits,
            kept,
        }))
    }

    /// A target that was not shut down cleanly (a crash, `kill -9`) is recovered by a
    /// single-user run, which ends in a shutdown checkpoint; `pg_rewind` needs one.
    async fn ensure_clean_shutdown(&self) -> Result<()> {
        let control = self.control_data().await?;
        let state = control_field(&control, "Database cluster state").unwrap_or_default();
        if state == "shut down" || state == "shut down in recovery" {
            return Ok(());
        }
        tracing::info!(state, "recovering the stopped server before the rewind");
        let data_dir = self.data_dir().display().to_string();
        self.run_tool(
            "postgres",
            &["--single", "-F", "-D", &data_dir, "postgres"],
            &[],
        )
        .await?;
        Ok(())
    }

    async fn control_data(&self) -> Result<String> {
        let data_dir = self.data_dir().display().to_string();
        let output = self
            .run_tool("pg_controldata", &["-D", &data_dir], &[])
            .await?;
        Ok(String::from_utf8_lossy(&output.stdout).into_owned())
    }

    /// Commit records in the local WAL between `from` and `to`.
    async fn count_commits(&self, timeline: u32, from: Lsn, to: Lsn) -> Result<usize> {
        let wal = self.data_dir().join("pg_wal").display().to_string();
        let output = self
            .output(
                "pg_waldump",
                &[
                    "-p",
                    &wal,
                    "-t",
                    &timeline.to_string(),
                    "-s",
                    &from.to_string(),
                    "-e",
                    &to.to_string(),
                    "-r",
                    "Transaction",
                ],
                &[],
            )
            .await?;
        // pg_waldump may complain at the end of the range yet have listed every record.
        let listing = String::from_utf8_lossy(&output.stdout);
        if !output.status.success() && listing.trim().is_empty() && from < to {
            return Err(tool_error("pg_waldump", &output));
        }
        Ok(listing
            .lines()
            .filter(|line| line.contains("desc: COMMIT"))
            .count())
    }

    /// The durability mode, applied with a reload: `Sync` makes commits wait for
    /// `standby`, `Async` releases commits that are waiting and waits for none.
    #[tracing::instrument(skip(self))]
    pub async fn set_durability(&self, mode: DurabilityMode, standby: &StandbyName) -> Result<()> {
        self.write_conf(DURABILITY_CONF, &durability_conf(mode, standby))
            .await?;
        let mut conn = self.connect().await?;
        reload(&mut conn).await?;
        let expected = match mode {
            DurabilityMode::Sync => standby.as_str(),
            DurabilityMode::Async => "",
        };
        wait_for_setting(self, "synchronous_standby_names", expected).await
    }

    /// Writes the sync-test row on the primary: its timestamp replicates to the slave,
    /// and its WAL position tells the primary how far behind the slave is in time. The
    /// write commits locally, so it never waits for a standby itself.
    pub async fn write_sync_test_row(&self) -> Result<SyncMark> {
        let mut conn = self.connect().await?;
        if in_recovery(&mut conn).await? {
            return Err(PostgresError::NotPrimary);
        }
        let mut tx = conn
            .begin()
            .await
            .map_err(sql("starting the sync-test write"))?;
        batch(
            &mut tx,
            format!(
                "SET LOCAL synchronous_commit = local;
             CREATE SCHEMA IF NOT EXISTS pequod;
             CREATE TABLE IF NOT EXISTS {SYNC_TEST_TABLE}
                 (id smallint PRIMARY KEY, written_at timestamptz NOT NULL);"
            ),
        )
        .await
        .map_err(sql("creating the sync-test table"))?;
        let written_at: DateTime<Utc> = sqlx::query_scalar(&format!(
            "INSERT INTO {SYNC_TEST_TABLE} (id, written_at) VALUES (1, clock_timestamp())
             ON CONFLICT (id) DO UPDATE SET written_at = excluded.written_at
             RETURNING written_at"
        ))
        .fetch_one(&mut *tx)
        .await
        .map_err(sql("writing the sync-test row"))?;
        tx.commit()
            .await
            .map_err(sql("committing the sync-test row"))?;
        let lsn: String = sqlx::query_scalar("SELECT pg_current_wal_insert_lsn()::text")
            .fetch_one(&mut conn)
            .await
            .map_err(sql("reading the WAL position"))?;
        let mark = SyncMark {
            written_at,
            lsn: parse_lsn("postgres", &lsn)?,
        };
        let mut marks = self.marks.lock().unwrap_or_else(|e| e.into_inner());
        marks.push_back(mark);
        while marks.len() > SYNC_MARKS {
            marks.pop_front();
        }
        Ok(mark)
    }

    /// How far `standby` is behind, seen from the primary: bytes of WAL it has not
    /// replayed (from its connection, else from its slot), and the age of the oldest
    /// sync-test row it lacks (0 s when it has them all, so an idle master shows 0 s).
    pub async fn lag(&self, standby: &StandbyName) -> Result<Lag> {
        let mut conn = self.connect().await?;
        let (now, current, replayed): (DateTime<Utc>, String, Option<String>) = sqlx::query_as(
            "SELECT now(), pg_current_wal_lsn()::text,
                        COALESCE(
                            (SELECT replay_lsn FROM pg_stat_replication
                             WHERE application_name = $1 AND replay_lsn IS NOT NULL
                             ORDER BY replay_lsn DESC LIMIT 1),
                            (SELECT restart_lsn FROM pg_replication_slots WHERE slot_name = $1)
                        )::text",
        )
        .bind(standby.as_str().to_owned())
        .fetch_one(&mut conn)
        .await
        .map_err(sql("reading the replication state"))?;
        let current = parse_lsn("postgres", &current)?;
        let Some(replayed) = replayed else {
            return Ok(Lag {
                bytes: None,
                seconds: None,
            });
        };
        let replayed = parse_lsn("postgres", &replayed)?;
        let marks = self.marks.lock().unwrap_or_else(|e| e.into_inner());
        let seconds = if marks.is_empty() {
            None
        } else {
            Some(
                marks
                    .iter()
                    .find(|mark| mark.lsn > replayed)
                    .map_or(0.0, |oldest_missing| {
                        (now - oldest_missing.written_at)
                            .to_std()
                            .unwrap_or_default()
                            .as_secs_f64()
                    }),
            )
        };
        Ok(Lag {
            bytes: Some(current.0.saturating_sub(replayed.0)),
            seconds,
        })
    }

    /// How far this standby is behind, seen from itself: WAL received but not yet
    /// replayed, and the age of the newest sync-test row it has replayed (the two
    /// nodes' clocks are compared here).
    pub async fn standby_lag(&self) -> Result<Lag> {
        let mut conn = self.connect().await?;
        let bytes: Option<i64> = sqlx::query_scalar(
            "SELECT pg_wal_lsn_diff(pg_last_wal_receive_lsn(), pg_last_wal_replay_lsn())::bigint",
        )
        .fetch_one(&mut conn)
        .await
        .map_err(sql("reading the replay position"))?;
        let has_table: bool = sqlx::query_scalar("SELECT to_regclass($1) IS NOT NULL")
            .bind(SYNC_TEST_TABLE)
            .fetch_one(&mut conn)
            .await
            .map_err(sql("looking up the sync-test table"))?;
        let seconds = if has_table {
            sqlx::query_scalar::<_, Option<f64>>(&format!(
                "SELECT greatest(0, extract(epoch FROM now() - max(written_at)))::float8
                 FROM {SYNC_TEST_TABLE}"
            ))
            .fetch_one(&mut conn)
            .await
            .map_err(sql("reading the sync-test row"))?
        } else {
            None
        };
        Ok(Lag {
            bytes: bytes.map(|b| u64::try_from(b).unwrap_or(0)),
            seconds,
        })
    }

    /// A superuser session over the unix socket.
    pub async fn connect(&self) -> Result<PgConnection> {
        PgConnectOptions::new_without_pgpass()
            .socket(&self.settings.socket_dir)
            .port(self.settings.port)
            .username(&self.owner.name)
            .database("postgres")
            .application_name("pequod")
            // Statements may carry the replication password.
            .disable_statement_logging()
            .connect()
            .await
            .map_err(sql("connecting to the local server"))
    }

    async fn prepare_dirs(&self) -> Result<()> {
        for dir in [self.data_dir(), self.settings.socket_dir.as_path()] {
            tokio::fs::create_dir_all(dir)
                .await
                .map_err(io("creating a directory", dir))?;
            self.own(dir, 0o700)?;
        }
        Ok(())
    }

    async fn clear_data_dir(&self) -> Result<()> {
        let dir = self.data_dir();
        match tokio::fs::remove_dir_all(dir).await {
            Ok(()) => Ok(()),
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(err) => Err(io("removing the data directory", dir)(err)),
        }
    }

    fn own(&self, path: &Path, mode: u32) -> Result<()> {
        std::os::unix::fs::chown(path, Some(self.owner.uid), Some(self.owner.gid))
            .map_err(io("giving a file to the database user", path))?;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
            .map_err(io("setting a file's permissions", path))
    }

    async fn write_owned(&self, path: &Path, contents: &str) -> Result<()> {
        tokio::fs::write(path, contents)
            .await
            .map_err(io("writing", path))?;
        self.own(path, 0o600)
    }

    async fn remove_file(&self, path: &Path) -> Result<()> {
        match tokio::fs::remove_file(path).await {
            Ok(()) => Ok(()),
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(err) => Err(io("removing", path)(err)),
        }
    }

    async fn write_conf(&self, name: &str, contents: &str) -> Result<()> {
        let dir = self.data_dir().join(CONF_DIR);
        if !dir.exists() {
            tokio::fs::create_dir(&dir)
                .await
                .map_err(io("creating a directory", &dir))?;
            self.own(&dir, 0o700)?;
        }
        self.write_owned(&dir.join(name), contents).await
    }

    async fn remove_conf(&self, name: &str) -> Result<()> {
        self.remove_file(&self.data_dir().join(CONF_DIR).join(name))
            .await
    }

    /// What every node's server runs with, the standby's too (it may be promoted).
    async fn write_base_config(&self) -> Result<()> {
        let main = self.data_dir().join("postgresql.conf");
        let text = tokio::fs::read_to_string(&main)
            .await
            .map_err(io("reading", &main))?;
        let include = format!("include_dir '{CONF_DIR}'");
        if !text.lines().any(|line| line.trim() == include) {
            self.write_owned(&main, &format!("{text}\n# Pequod's settings.\n{include}\n"))
                .await?;
        }
        let mut listen: Vec<String> = self
            .settings
            .listen_addresses
            .iter()
            .map(IpAddr::to_string)
            .collect();
        if !self.settings.listen_addresses.contains(&self.sync_ip) {
            listen.push(self.sync_ip.to_string());
        }
        let s = &self.settings;
        let conf = format!(
            "# Written by Pequod; changes here are overwritten.\n\
             listen_addresses = {listen}\n\
             port = {port}\n\
             unix_socket_directories = {socket}\n\
             wal_level = replica\n\
             max_wal_senders = 10\n\
             max_replication_slots = 10\n\
             max_slot_wal_keep_size = {keep}\n\
             hot_standby = on\n\
             wal_log_hints = on\n\
             wal_sender_timeout = '{sender_timeout}ms'\n\
             wal_receiver_status_interval = 1s\n\
             wal_receiver_timeout = '{sender_timeout}ms'\n",
            listen = quote_literal(&listen.join(",")),
            port = s.port,
            socket = quote_literal(&s.socket_dir.display().to_string()),
            keep = quote_literal(&s.max_slot_wal_keep_size),
            // A standby that went silent stops holding commits within the threshold.
            sender_timeout = ((s.lag_threshold_secs * 500.0) as u64).max(1000),
        );
        self.write_conf(BASE_CONF, &conf).await
    }

    /// Who may connect: Pequod and the database user over the socket as the superuser,
    /// other local users as themselves, loopback clients by password, and the peer only
    /// from its sync IP with the replication role (streaming, and `pg_rewind`).
    async fn write_hba(&self, peer: Option<(IpAddr, &str)>) -> Result<()> {
        let owner = quote_ident(&self.owner.name);
        let mut hba = format!(
            "# Written by Pequod; changes here are overwritten.\n\
             local all {owner} peer map=pequod\n\
             local all all peer\n\
             host all all 127.0.0.1/32 scram-sha-256\n\
             host all all ::1/128 scram-sha-256\n"
        );
        for network in &self.settings.clients {
            hba.push_str(&format!("host all all {network} scram-sha-256\n"));
        }
        if let Some((ip, user)) = peer {
            let user = quote_ident(user);
            let prefix = if ip.is_ipv4() { 32 } else { 128 };
            hba.push_str(&format!(
                "host replication {user} {ip}/{prefix} scram-sha-256\n\
                 host postgres {user} {ip}/{prefix} scram-sha-256\n"
            ));
        }
        self.write_owned(&self.data_dir().join("pg_hba.conf"), &hba)
            .await?;
        let ident = format!(
            "# Written by Pequod.\npequod {client} {owner}\npequod {owner} {owner}\n",
            client = self.client_user,
            owner = self.owner.name,
        );
        self.write_owned(&self.data_dir().join("pg_ident.conf"), &ident)
            .await
    }

    fn command(&self, program: &Path) -> Command {
        let mut command = Command::new(program);
        command
            .uid(self.owner.uid)
            .gid(self.owner.gid)
            // The database user may not be able to enter Pequod's working directory.
            .current_dir("/")
            // Messages in English, so the few Pequod reads are found.
            .env("LC_MESSAGES", "C")
            .env("HOME", "/")
            .stdin(Stdio::null())
            .kill_on_drop(true);
        command
    }

    async fn output(&self, program: &str, args: &[&str], env: &[(&str, &str)]) -> Result<Output> {
        let path = self.settings.bin_dir.join(program);
        let mut command = self.command(&path);
        command.args(args);
        for (key, value) in env {
            command.env(key, value);
        }
        command
            .output()
            .await
            .map_err(io("running a PostgreSQL program", &path))
    }

    async fn run_tool(&self, program: &str, args: &[&str], env: &[(&str, &str)]) -> Result<Output> {
        let output = self.output(program, args, env).await?;
        if output.status.success() {
            Ok(output)
        } else {
            Err(tool_error(program, &output))
        }
    }
}

fn tool_error(program: &str, output: &Output) -> PostgresError {
    let mut stderr = String::from_utf8_lossy(&output.stderr).trim().to_string();
    if stderr.is_empty() {
        stderr = String::from_utf8_lossy(&output.stdout).trim().to_string();
    }
    PostgresError::Tool {
        program: program.to_string(),
        status: output.status,
        stderr,
    }
}

fn lookup_user(name: &str) -> Result<OsUser> {
    let user = nix::unistd::User::from_name(name)
        .map_err(|source| PostgresError::OsUserLookup {
            user: name.to_string(),
            source,
        })?
        .ok_or_else(|| PostgresError::NoOsUser(name.to_string()))?;
    Ok(OsUser {
        name: user.name,
        uid: user.uid.as_raw(),
        gid: user.gid.as_raw(),
    })
}

fn durability_conf(mode: DurabilityMode, standby: &StandbyName) -> String {
    let names = match mode {
        DurabilityMode::Sync => standby.as_str(),
        DurabilityMode::Async => "",
    };
    format!(
        "# Written by Pequod: the durability mode.\nsynchronous_standby_names = {}\n",
        quote_literal(names)
    )
}

async fn in_recovery(conn: &mut PgConnection) -> Result<bool> {
    sqlx::query_scalar("SELECT pg_is_in_recovery()")
        .fetch_one(&mut *conn)
        .await
        .map_err(sql("asking whether the server is a standby"))
}

/// Runs statements with the simple query protocol (several allowed, no parameters).
/// Boxed, so that callers' futures stay `Send` whatever the driver's borrow.
fn batch(
    conn: &mut PgConnection,
    statements: String,
) -> futures_util::future::BoxFuture<'_, std::result::Result<(), sqlx::Error>> {
    Box::pin(async move {
        // A plain string without arguments goes as a simple query, as raw_sql would.
        sqlx::Executor::execute(&mut *conn, statements.as_str()).await?;
        Ok(())
    })
}

async fn reload(conn: &mut PgConnection) -> Result<()> {
    sqlx::query("SELECT pg_reload_conf()")
        .execute(&mut *conn)
        .await
        .map_err(sql("reloading the configuration"))?;
    Ok(())
}

/// Waits until new sessions see the reloaded value (the reload is signalled, not awaited).
async fn wait_for_setting(pg: &Postgres, name: &str, expected: &str) -> Result<()> {
    let deadline = tokio::time::Instant::now() + RELOAD_TIMEOUT;
    loop {
        let mut conn = pg.connect().await?;
        let value: String = sqlx::query_scalar("SELECT current_setting($1)")
            .bind(name)
            .fetch_one(&mut conn)
            .await
            .map_err(sql("reading a setting"))?;
        if value == expected {
            return Ok(());
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(PostgresError::Timeout("the configuration reload"));
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A checkpoint on the new primary, so its control file (which `pg_rewind` reads)
/// names the timeline it was promoted to.
async fn checkpoint_remote(
    primary: PrimaryAddress,
    credentials: &ReplicationCredentials,
) -> Result<()> {
    let mut conn = PgConnectOptions::new_without_pgpass()
        .host(&primary.ip.to_string())
        .port(primary.port)
        .username(&credentials.user)
        .password(credentials.password.expose_secret())
        .database("postgres")
        .application_name("pequod")
        .disable_statement_logging()
        .connect()
        .await
        .map_err(sql("connecting to the new primary"))?;
    batch(&mut conn, "CHECKPOINT".to_string())
        .await
        .map_err(sql("a checkpoint on the new primary"))?;
    conn.close().await.ok();
    Ok(())
}

/// A value in a postgresql.conf file: single-quoted, quotes doubled.
fn quote_literal(value: &str) -> String {
    format!("'{}'", value.replace('\'', "''"))
}

/// An SQL (and pg_hba) identifier: double-quoted, quotes doubled.
fn quote_ident(value: &str) -> String {
    format!("\"{}\"", value.replace('"', "\"\""))
}

/// A libpq connection-string value: single-quoted, `\` and `'` escaped.
fn conninfo_value(value: &str) -> String {
    format!("'{}'", value.replace('\\', "\\\\").replace('\'', "\\'"))
}

/// A `pg_basebackup --progress` line: `1234/56789 kB (2%), 0/1 tablespace`.
fn parse_progress(line: &str) -> Option<BackupProgress> {
    let (counts, _) = line.trim().split_once(" kB")?;
    let (done, total) = counts.split_once('/')?;
    Some(BackupProgress {
        done_kb: done.trim().parse().ok()?,
        total_kb: total.trim().parse().ok()?,
    })
}

/// `servers diverged at WAL location 0/3000148 on timeline 1` from `pg_rewind`.
fn parse_divergence(report: &str) -> Option<(Lsn, u32)> {
    let rest = report.split("servers diverged at WAL location ").nth(1)?;
    let mut words = rest.split_whitespace();
    let lsn = words.next()?.parse().ok()?;
    let timeline = words
        .skip_while(|word| *word != "timeline")
        .nth(1)?
        .trim_end_matches(|c: char| !c.is_ascii_digit())
        .parse()
        .ok()?;
    Some((lsn, timeline))
}

/// A field of `pg_controldata`'s listing.
fn control_field<'a>(listing: &'a str, name: &str) -> Option<&'a str> {
    listing.lines().find_map(|line| {
        let (key, value) = line.split_once(':')?;
        (key.trim() == name).then(|| value.trim())
    })
}

#[cfg(test)]
pub(crate) mod tests;
