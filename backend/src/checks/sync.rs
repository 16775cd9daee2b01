//! The data-sync checks: Database Query (the master's database takes a write and gives
//! it back), Database Sync (the slave's standby streams and keeps up), Filesystem Sync
//! (the synced paths are the same on both nodes) and Rsync Server (the slave's sync
//! endpoint takes a file). Each answers with a result, never an error: what failed is
//! named in the output, so the operator can act on the first line alone.

use std::error::Error;
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::time::Duration;

use chrono::{DateTime, Utc};
use pequod_api::checks::CheckState;
use tokio::time::Instant;

use super::result::{CheckResult, Perfdata, Unit, state_label};
use crate::sync::files::{
    CANARY_MODULE, DaemonConfig, Difference, DifferenceKind, EntryKind, FileSyncError, Manifest,
    ManifestEntry, Pusher, RsyncFailure, SyncTarget,
};
use crate::sync::postgres::{Lag, Postgres, PostgresError};

/// Differing paths named on the first line; the long output names them all.
const PATHS_IN_OUTPUT: usize = 10;

/// The replication lag allowed on the slave. The seconds are the age of the newest
/// sync-test row replayed there, which the master rewrites every few seconds: a level
/// below that interval would warn on a healthy pair.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LagThresholds {
    pub warning_secs: f64,
    pub critical_secs: f64,
    /// WAL received but not yet replayed.
    pub warning_bytes: u64,
    pub critical_bytes: u64,
}

impl Default for LagThresholds {
    fn default() -> Self {
        Self {
            warning_secs: 5.0,
            critical_secs: 30.0,
            warning_bytes: 16 * 1024 * 1024,
            critical_bytes: 256 * 1024 * 1024,
        }
    }
}

/// Database Query, on the master: writes the sync-test row, reads it back in a new
/// session, and times the round trip. `timeout` bounds the whole; the step it ran out
/// in is named.
#[tracing::instrument(skip(pg))]
pub async fn database_query(pg: &Postgres, timeout: Duration) -> CheckResult {
    let started = Instant::now();
    match query_round_trip(pg, started + timeout).await {
        Ok(()) => {
            let took = started.elapsed();
            CheckResult::ok(format!(
                "DATABASE QUERY OK - wrote the sync-test row and read it back in a new session in {} ms",
                took.as_millis()
            ))
            .with_perfdata(Perfdata::new(
                "roundtrip",
                millis(took),
                Unit::Milliseconds,
            ))
        }
        Err(QueryFailure::Standby) => CheckResult::critical(
            "DATABASE QUERY CRITICAL - the database is a standby on the master",
        ),
        Err(QueryFailure::TimedOut(step)) => CheckResult::critical(format!(
            "DATABASE QUERY CRITICAL - no answer within {} ms ({step})",
            timeout.as_millis()
        )),
        Err(QueryFailure::Failed(message)) => {
            CheckResult::critical(format!("DATABASE QUERY CRITICAL - {message}"))
        }
    }
}

enum QueryFailure {
    /// The server is in recovery: it takes no writes.
    Standby,
    /// The step the deadline ran out in.
    TimedOut(&'static str),
    Failed(String),
}

async fn step<T>(
    deadline: Instant,
    name: &'static str,
    work: impl Future<Output = Result<T, QueryFailure>>,
) -> Result<T, QueryFailure> {
    tokio::time::timeout_at(deadline, work)
        .await
        .unwrap_or(Err(QueryFailure::TimedOut(name)))
}

async fn query_round_trip(pg: &Postgres, deadline: Instant) -> Result<(), QueryFailure> {
    let in_recovery = step(deadline, "connecting", async {
        let mut conn = pg.connect().await.map_err(|e| {
            QueryFailure::Failed(format!("cannot connect to the database: {}", causes(&e)))
        })?;
        sqlx::query_scalar::<_, bool>("SELECT pg_is_in_recovery()")
            .fetch_one(&mut conn)
            .await
            .map_err(|e| {
                QueryFailure::Failed(format!("the database does not answer: {}", causes(&e)))
            })
    })
    .await?;
    if in_recovery {
        return Err(QueryFailure::Standby);
    }
    let mark = step(deadline, "writing the sync-test row", async {
        pg.write_sync_test_row().await.map_err(|e| match e {
            PostgresError::NotPrimary => QueryFailure::Standby,
            e => QueryFailure::Failed(format!("cannot write the sync-test row: {}", causes(&e))),
        })
    })
    .await?;
    // A new session: the row must have been committed, not only be visible to its writer.
    let read = step(deadline, "reading the sync-test row back", async {
        let mut conn = pg.connect().await.map_err(|e| {
            QueryFailure::Failed(format!(
                "cannot connect again to read the sync-test row back: {}",
                causes(&e)
            ))
        })?;
        sqlx::query_scalar::<_, DateTime<Utc>>(
            "SELECT written_at FROM pequod.sync_test WHERE id = 1",
        )
        .fetch_optional(&mut conn)
        .await
        .map_err(|e| {
            QueryFailure::Failed(format!(
                "cannot read the sync-test row back: {}",
                causes(&e)
            ))
        })
    })
    .await?;
    match read {
        None => Err(QueryFailure::Failed(format!(
            "read back mismatch: the sync-test row written at {} is gone",
            mark.written_at.to_rfc3339()
        ))),
        // The master's own timer may have rewritten the row since: later is fine,
        // older means the write did not stick.
        Some(read) if read < mark.written_at => Err(QueryFailure::Failed(format!(
            "read back mismatch: the sync-test row reads {}, not the {} just written",
            read.to_rfc3339(),
            mark.written_at.to_rfc3339()
        ))),
        Some(_) => Ok(()),
    }
}

/// This standby's WAL receiver, from `pg_stat_wal_receiver`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WalReceiver {
    /// `streaming`, `starting`, `waiting`, ...
    pub status: String,
    pub sender: Option<String>,
}

/// Database Sync, on the slave: its server is a standby, a WAL receiver streams from
/// the master, and the replay lag in bytes and in seconds is within `thresholds`.
#[tracing::instrument(skip(pg))]
pub async fn database_sync(pg: &Postgres, thresholds: LagThresholds) -> CheckResult {
    let mut conn = match pg.connect().await {
        Ok(conn) => conn,
        Err(e) => {
            return CheckResult::critical(format!(
                "DATABASE SYNC CRITICAL - the database does not answer: {}",
                causes(&e)
            ));
        }
    };
    match sqlx::query_scalar::<_, bool>("SELECT pg_is_in_recovery()")
        .fetch_one(&mut conn)
        .await
    {
        Ok(true) => {}
        Ok(false) => {
            return CheckResult::critical(
                "DATABASE SYNC CRITICAL - the database is not a standby on the slave: it takes writes of its own",
            );
        }
        Err(e) => {
            return CheckResult::critical(format!(
                "DATABASE SYNC CRITICAL - the database does not answer: {}",
                causes(&e)
            ));
        }
    }
    let receiver = match sqlx::query_as::<_, (String, Option<String>, Option<i32>)>(
        "SELECT status, sender_host, sender_port FROM pg_stat_wal_receiver",
    )
    .fetch_optional(&mut conn)
    .await
    {
        Ok(row) => row.map(|(status, host, port)| WalReceiver {
            status,
            sender: host.map(|host| match port {
                Some(port) => format!("{host}:{port}"),
                None => host,
            }),
        }),
        Err(e) => {
            return CheckResult::critical(format!(
                "DATABASE SYNC CRITICAL - cannot read the WAL receiver's state: {}",
                causes(&e)
            ));
        }
    };
    match pg.standby_lag().await {
        Ok(lag) => evaluate_lag(receiver.as_ref(), lag, thresholds),
        Err(e) => CheckResult::critical(format!(
            "DATABASE SYNC CRITICAL - cannot read the replay lag: {}",
            causes(&e)
        )),
    }
}

/// The verdict on a standby's receiver and lag: CRITICAL without a streaming receiver,
/// else the worse of the two figures against their levels; a figure that cannot be
/// told makes an otherwise good result UNKNOWN.
pub fn evaluate_lag(
    receiver: Option<&WalReceiver>,
    lag: Lag,
    thresholds: LagThresholds,
) -> CheckResult {
    let bytes_state = lag.bytes.map(|b| {
        level(
            b as f64,
            thresholds.warning_bytes as f64,
            thresholds.critical_bytes as f64,
        )
    });
    let seconds_state = lag
        .seconds
        .map(|s| level(s, thresholds.warning_secs, thresholds.critical_secs));
    let bytes_text = match (lag.bytes, bytes_state) {
        (Some(bytes), Some(state)) => format!(
            "replay {} behind what was received{}",
            human_bytes(bytes),
            past(
                state,
                human_bytes(thresholds.warning_bytes),
                human_bytes(thresholds.critical_bytes)
            )
        ),
        _ => "no WAL received yet".to_string(),
    };
    let seconds_text = match (lag.seconds, seconds_state) {
        (Some(seconds), Some(state)) => format!(
            "newest replayed sync-test row written {seconds:.1} s ago{} (the master rewrites it every few seconds)",
            past(
                state,
                format!("{} s", thresholds.warning_secs),
                format!("{} s", thresholds.critical_secs)
            )
        ),
        _ => "no sync-test row replayed yet, so no lag in seconds".to_string(),
    };
    let (state, source) = match receiver {
        Some(r) if r.status == "streaming" => {
            let figures = [bytes_state, seconds_state];
            let state = figures
                .iter()
                .map(|s| s.unwrap_or(CheckState::Unknown))
                .max_by_key(|s| severity(*s))
                .unwrap_or(CheckState::Unknown);
            let from = r
                .sender
                .as_deref()
                .map(|s| format!("streaming from {s}"))
                .unwrap_or_else(|| "streaming".into());
            (state, from)
        }
        Some(r) => (
            CheckState::Critical,
            format!(
                "no WAL receiver streams from the master (it is {})",
                r.status
            ),
        ),
        None => (
            CheckState::Critical,
            "no WAL receiver streams from the master (none runs)".into(),
        ),
    };
    let mut bytes_perf = Perfdata::new("lag_bytes", 0.0, Unit::Bytes)
        .thresholds(thresholds.warning_bytes, thresholds.critical_bytes);
    bytes_perf.value = lag.bytes.map(|b| b as f64);
    let mut seconds_perf = Perfdata::new("lag_seconds", 0.0, Unit::Seconds)
        .thresholds(thresholds.warning_secs, thresholds.critical_secs);
    seconds_perf.value = lag.seconds.map(|s| (s * 1000.0).round() / 1000.0);
    CheckResult::new(
        state,
        format!(
            "DATABASE SYNC {} - {source}, {bytes_text}, {seconds_text}",
            state_label(state)
        ),
    )
    .with_long_output(
        "lag_bytes: WAL this standby has received from the master but not yet replayed.\n\
         lag_seconds: the age of the newest sync-test row replayed here. The master \
         rewrites that row every few seconds, so up to that interval is normal even when \
         nothing lags; the difference between the two nodes' clocks is in it too.",
    )
    .with_perfdata(bytes_perf)
    .with_perfdata(seconds_perf)
}

/// Past a level is above it, as a Nagios range `0:level`.
fn level(value: f64, warning: f64, critical: f64) -> CheckState {
    if value > critical {
        CheckState::Critical
    } else if value > warning {
        CheckState::Warning
    } else {
        CheckState::Ok
    }
}

fn past(state: CheckState, warning: String, critical: String) -> String {
    match state {
        CheckState::Critical => format!(" (critical above {critical})"),
        CheckState::Warning => format!(" (warning above {warning})"),
        CheckState::Ok | CheckState::Unknown => String::new(),
    }
}

fn severity(state: CheckState) -> u8 {
    match state {
        CheckState::Ok => 0,
        CheckState::Unknown => 1,
        CheckState::Warning => 2,
        CheckState::Critical => 3,
    }
}

/// Filesystem Sync, on both nodes: this node's manifest of the synced paths against
/// the peer's. `peer` is the peer's manifest, or why it could not be had.
pub fn filesystem_sync(
    local: &Manifest,
    peer: Result<Manifest, String>,
    peer_name: &str,
) -> CheckResult {
    let peer = match peer {
        Ok(peer) => peer,
        Err(why) => {
            return CheckResult::unknown(format!(
                "FILESYSTEM SYNC UNKNOWN - cannot get the manifest of {peer_name}: {why}"
            ));
        }
    };
    let differences = local.diff(&peer);
    let entries = Perfdata::new("entries", local.entries.len() as f64, Unit::None);
    let mut differing = Perfdata::new("differing", differences.len() as f64, Unit::None);
    differing.crit = Some("1".into());
    if differences.is_empty() {
        return CheckResult::ok(format!(
            "FILESYSTEM SYNC OK - {} entries equal on both nodes",
            local.entries.len()
        ))
        .with_perfdata(entries)
        .with_perfdata(differing);
    }
    let described: Vec<String> = differences
        .iter()
        .map(|d| describe(d, local, &peer, peer_name))
        .collect();
    let mut output = format!(
        "FILESYSTEM SYNC CRITICAL - {} of the synced paths differ from {peer_name}: {}",
        differences.len(),
        described
            .iter()
            .take(PATHS_IN_OUTPUT)
            .cloned()
            .collect::<Vec<_>>()
            .join(", ")
    );
    if described.len() > PATHS_IN_OUTPUT {
        let _ = write!(output, " and {} more", described.len() - PATHS_IN_OUTPUT);
    }
    CheckResult::critical(output)
        .with_long_output(described.join("\n"))
        .with_perfdata(entries)
        .with_perfdata(differing)
}

/// The paths that differ between the two manifests, in path order.
pub fn differing_paths(local: &Manifest, peer: &Manifest) -> Vec<String> {
    local.diff(peer).into_iter().map(|d| d.path).collect()
}

fn describe(difference: &Difference, local: &Manifest, peer: &Manifest, peer_name: &str) -> String {
    let path = &difference.path;
    match difference.kind {
        DifferenceKind::OnlyHere => format!("{path} (only on this node)"),
        DifferenceKind::OnlyThere => format!("{path} (only on {peer_name})"),
        DifferenceKind::Differs => match (entry(local, path), entry(peer, path)) {
            (Some(here), Some(there)) => format!("{path} ({})", how_differs(here, there)),
            _ => format!("{path} (differs)"),
        },
    }
}

fn entry<'a>(manifest: &'a Manifest, path: &str) -> Option<&'a ManifestEntry> {
    manifest
        .entries
        .binary_search_by(|e| e.path.as_str().cmp(path))
        .ok()
        .and_then(|i| manifest.entries.get(i))
}

fn how_differs(here: &ManifestEntry, there: &ManifestEntry) -> String {
    if here.kind != there.kind {
        return format!(
            "{} here, {} there",
            kind_name(here.kind),
            kind_name(there.kind)
        );
    }
    let mut what = Vec::new();
    if here.size != there.size {
        what.push("size");
    }
    if here.sha256 != there.sha256 {
        what.push("content");
    }
    if here.mtime_ns != there.mtime_ns {
        what.push("mtime");
    }
    if what.is_empty() {
        "differs".into()
    } else {
        format!("{} differ", what.join(", "))
    }
}

fn kind_name(kind: EntryKind) -> &'static str {
    match kind {
        EntryKind::File => "file",
        EntryKind::Dir => "directory",
        EntryKind::Symlink => "symlink",
        EntryKind::Other => "special file",
    }
}

/// Where this slave writes its own canary: its daemon, from its own sync IP (which
/// the canary module admits besides the master's).
pub fn own_canary_target(config: &DaemonConfig) -> SyncTarget {
    SyncTarget {
        host: config.bind,
        port: config.port,
        secret: config.secret.clone(),
        source: Some(config.bind),
    }
}

/// Rsync Server, on the slave: its own rsync daemon answers on the sync IP,
/// authenticates with the cluster secret and takes a canary file, which must then be
/// in the canary module's directory.
#[tracing::instrument(skip(config, pusher), fields(bind = %config.bind, port = config.port))]
pub async fn rsync_server(
    config: &DaemonConfig,
    pusher: &Pusher,
    timeout: Duration,
) -> CheckResult {
    let target = own_canary_target(config);
    let addr = SocketAddr::new(target.host, target.port);
    let landed = config.canary_dir().join("canary");
    // The previous run's canary goes first, so only this run's can be found.
    match std::fs::remove_file(&landed) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => {
            return CheckResult::unknown(format!(
                "RSYNC SERVER UNKNOWN - cannot remove the previous canary {}: {e}",
                landed.display()
            ));
        }
    }
    let took = match tokio::time::timeout(timeout, pusher.canary(&target)).await {
        Ok(Ok(took)) => took,
        Ok(Err(FileSyncError::Rsync {
            failure, stderr, ..
        })) => return rsync_failure(addr, failure, &stderr),
        // Pequod could not run rsync here: nothing is known about the daemon.
        Ok(Err(e)) => {
            return CheckResult::unknown(format!(
                "RSYNC SERVER UNKNOWN - cannot send the canary: {}",
                causes(&e)
            ));
        }
        Err(_) => {
            return CheckResult::critical(format!(
                "RSYNC SERVER CRITICAL - the rsync daemon at {addr} did not take the canary within {} ms",
                timeout.as_millis()
            ));
        }
    };
    if !std::fs::metadata(&landed).is_ok_and(|m| m.is_file()) {
        return CheckResult::critical(format!(
            "RSYNC SERVER CRITICAL - the rsync daemon at {addr} took the canary, but it did not land in {}",
            config.canary_dir().display()
        ));
    }
    CheckResult::ok(format!(
        "RSYNC SERVER OK - the rsync daemon at {addr} took the canary into {CANARY_MODULE} in {} ms",
        took.as_millis()
    ))
    .with_perfdata(Perfdata::new("roundtrip", millis(took), Unit::Milliseconds))
}

fn rsync_failure(addr: SocketAddr, failure: RsyncFailure, stderr: &str) -> CheckResult {
    let what = match failure {
        RsyncFailure::Unreachable => "does not answer".to_string(),
        RsyncFailure::Refused => {
            "refused the canary (wrong cluster secret, or this address is not allowed)".to_string()
        }
        RsyncFailure::Timeout => "stopped answering".to_string(),
        other => format!("failed to take the canary: {other}"),
    };
    let first = stderr
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .map(|l| format!(": {l}"))
        .unwrap_or_default();
    CheckResult::critical(format!(
        "RSYNC SERVER CRITICAL - the rsync daemon at {addr} {what}{first}"
    ))
    .with_long_output(stderr)
}

/// An error with its causes, each once (sqlx repeats its source in its own message).
fn causes(error: &dyn Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            let _ = write!(text, ": {cause_text}");
        }
        source = cause.source();
    }
    text
}

fn millis(duration: Duration) -> f64 {
    (duration.as_secs_f64() * 1_000_000.0).round() / 1000.0
}

fn human_bytes(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["B", "KiB", "MiB", "GiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

#[cfg(test)]
mod tests;
