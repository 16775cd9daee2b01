//! Data sync from the master to the slave, as this node sees it: the telephony
//! database's streaming replication and the rsync mirror of the configured paths.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// The state of both halves of the data sync on this node.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub struct SyncStatus {
    /// The telephony database; `null` when this node does not manage one.
    pub database: Option<DatabaseSync>,
    /// The file mirror; `null` when no paths are configured on this node.
    pub files: Option<FileSyncStatus>,
}

/// Whether a commit on the master waits for the slave to have it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub enum Durability {
    /// A commit returns once the slave has it: a takeover loses no committed data.
    Sync,
    /// A commit returns at once; the slave follows as fast as it can.
    Async,
}

/// What the database server on this node is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub enum DatabaseRole {
    /// Accepts writes; the master's role.
    Primary,
    /// Replays the primary's changes, read-only; the slave's role.
    Standby,
    /// Not running.
    Stopped,
    /// Could not be read (see `error`).
    Unknown,
}

/// The telephony database's replication as this node sees it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub struct DatabaseSync {
    pub role: DatabaseRole,
    /// What the settings ask for.
    pub durability_setting: Durability,
    /// What commits do now.
    pub durability: Durability,
    /// Why commits do not wait for the slave although the settings ask for `sync`
    /// (the slave is gone, lags too far behind ...); `null` when they do as asked.
    pub degraded: Option<String>,
    /// On the master: the slave's standby name.
    pub standby: Option<String>,
    /// On the master: whether the slave streams the changes now.
    pub standby_streaming: Option<bool>,
    /// How many bytes of changes the standby has not replayed yet.
    pub lag_bytes: Option<u64>,
    /// How far behind the standby's replay is, in seconds.
    pub lag_seconds: Option<f64>,
    /// When this state was read.
    pub checked_at: Option<DateTime<Utc>>,
    /// The last error reading the state; `null` when the last read succeeded.
    pub error: Option<String>,
}

/// Which way the files go on this node.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub enum FileSyncDirection {
    /// The master sends its changes to the slave.
    Pushing,
    /// The slave receives the master's files.
    Receiving,
    /// Neither: no peer to sync with now.
    Idle,
}

/// What a pass of the file mirror covered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub enum FilePassKind {
    /// Every configured path, compared whole.
    Full,
    /// Only the paths that changed since the last pass.
    Changes,
}

/// One run of rsync towards the slave.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub struct FilePass {
    pub kind: FilePassKind,
    pub started: DateTime<Utc>,
    /// How long the pass took, in milliseconds.
    pub duration_ms: u64,
    /// Why the pass failed; `null` when it succeeded.
    pub error: Option<String>,
}

/// The file mirror as this node sees it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub struct FileSyncStatus {
    pub direction: FileSyncDirection,
    /// The configured paths.
    pub paths: Vec<String>,
    pub last_pass: Option<FilePass>,
    /// When a pass last succeeded.
    pub last_success: Option<DateTime<Utc>>,
    /// When the last full pass ran.
    pub last_full_pass: Option<DateTime<Utc>>,
    /// When a failed pass is tried again.
    pub pending_retry: Option<DateTime<Utc>>,
    /// How many passes have failed.
    pub failed_passes: u64,
    /// The configured paths whose content differs between master and slave at the
    /// last comparison.
    pub differing_paths: Vec<String>,
    /// When master and slave were last compared.
    pub compared_at: Option<DateTime<Utc>>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_parts_not_managed_are_null() {
        let json = serde_json::to_value(SyncStatus::default()).expect("serialises");
        assert_eq!(json, serde_json::json!({"database": null, "files": null}));
    }

    #[test]
    fn enums_are_snake_case_words() {
        let words = serde_json::to_value((
            Durability::Async,
            DatabaseRole::Standby,
            FileSyncDirection::Receiving,
            FilePassKind::Changes,
        ))
        .expect("serialises");
        assert_eq!(
            words,
            serde_json::json!(["async", "standby", "receiving", "changes"])
        );
    }
}
