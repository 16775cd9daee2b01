//! The node's store behind repository traits that speak domain types. SQLite (WAL) is
//! the implementation; a row that is not there becomes `NotFound`, never a 500.

mod audit;
mod mail;
mod sqlite;
mod users;

use async_trait::async_trait;
use pequod_api::audit::{AuditEntry, AuditOutcome};
use pequod_api::cluster::Role;
use pequod_api::jobs::{Job, JobKind, JobState, JobSummary};
use pequod_api::notifications::Mail;
use pequod_api::{Hostname, NodeId};

pub use sqlite::SqliteStore;

use crate::cluster::config::ClusterConfig;

#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error("{0} does not exist")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    #[error("a stored value is corrupt: {0}")]
    Corrupt(String),
    #[error("database error")]
    Database(#[from] sqlx::Error),
}

#[derive(Debug, Clone)]
pub struct UserRecord {
    pub username: String,
    /// PHC string (argon2id).
    pub password_hash: String,
    pub role: pequod_api::users::Role,
    pub created_at: chrono::DateTime<chrono::Utc>,
    /// Raised by every password change; tokens issued under an older one are refused.
    pub token_generation: u64,
}

/// An API token as stored: its secret only as a hash.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiTokenRecord {
    pub name: String,
    pub role: pequod_api::users::Role,
    /// SHA-256 of the secret, lower-case hex.
    pub secret_hash: String,
    pub created_by: String,
    pub created_at: chrono::DateTime<chrono::Utc>,
    pub expires_at: chrono::DateTime<chrono::Utc>,
    pub last_used_at: Option<chrono::DateTime<chrono::Utc>>,
}

/// What a node remembers about itself across restarts.
#[derive(Debug, Clone, PartialEq)]
pub struct NodeRecord {
    pub id: NodeId,
    pub hostname: Hostname,
    pub role: Role,
    pub epoch: u64,
}

#[async_trait]
pub trait UserRepository: Send + Sync {
    async fn find_user(&self, username: &str) -> Result<Option<UserRecord>, StorageError>;
    /// Every user, by name.
    async fn list_users(&self) -> Result<Vec<UserRecord>, StorageError>;
    /// Fails with `Conflict` when the name is taken.
    async fn create_user(
        &self,
        username: &str,
        password_hash: &str,
        role: pequod_api::users::Role,
    ) -> Result<UserRecord, StorageError>;
    async fn count_users(&self) -> Result<u64, StorageError>;
    /// Replaces the user's password hash, if it is still `old_hash`, and raises its
    /// token generation, so the tokens issued before end; returns the new generation.
    /// `Conflict` when the hash changed meanwhile, `NotFound` for no user.
    async fn set_password(
        &self,
        username: &str,
        old_hash: &str,
        new_hash: &str,
    ) -> Result<u64, StorageError>;
    /// Sets a new role and/or password hash in one step (a new hash raises the token
    /// generation). `Conflict`, changing nothing, when it would leave no admin;
    /// `NotFound` for no user.
    async fn update_user(
        &self,
        username: &str,
        role: Option<pequod_api::users::Role>,
        new_hash: Option<&str>,
    ) -> Result<UserRecord, StorageError>;
    /// `Conflict`, deleting nothing, for the last admin; `NotFound` for no user.
    async fn delete_user(&self, username: &str) -> Result<(), StorageError>;
}

#[async_trait]
pub trait ApiTokenRepository: Send + Sync {
    /// Fails with `Conflict` when the name is taken.
    async fn create_api_token(&self, token: &ApiTokenRecord) -> Result<(), StorageError>;
    /// Every token, by name.
    async fn list_api_tokens(&self) -> Result<Vec<ApiTokenRecord>, StorageError>;
    /// `NotFound` for no such token.
    async fn delete_api_token(&self, name: &str) -> Result<(), StorageError>;
    async fn touch_api_token(
        &self,
        name: &str,
        at: chrono::DateTime<chrono::Utc>,
    ) -> Result<(), StorageError>;
}

#[async_trait]
pub trait JobRepository: Send + Sync {
    /// Stores a new queued job with its steps all pending.
    async fn create_job(
        &self,
        kind: JobKind,
        title: &str,
        steps: &[String],
    ) -> Result<Job, StorageError>;
    async fn get_job(&self, id: i64) -> Result<Job, StorageError>;
    /// Newest first; `page` is 1-based. Returns the page and the number of all jobs.
    async fn list_jobs(
        &self,
        page: u32,
        per_page: u32,
    ) -> Result<(Vec<JobSummary>, u64), StorageError>;
    /// Writes back a job's state, progress, times, error and steps.
    async fn save_job(&self, job: &Job) -> Result<(), StorageError>;
    /// Jobs still queued or running, oldest first.
    async fn unfinished_jobs(&self) -> Result<Vec<Job>, StorageError>;
    async fn acknowledge_job(&self, id: i64) -> Result<Job, StorageError>;
    /// Failed or interrupted jobs nobody acknowledged yet.
    async fn unacknowledged_failures(&self) -> Result<Vec<JobSummary>, StorageError>;
    /// How many jobs there are of each kind in each state (pairs with none left out).
    async fn count_jobs(&self) -> Result<Vec<(JobKind, JobState, u64)>, StorageError>;
}

#[async_trait]
pub trait NodeRepository: Send + Sync {
    async fn load_node(&self) -> Result<Option<NodeRecord>, StorageError>;
    async fn save_node(&self, node: &NodeRecord) -> Result<(), StorageError>;
    async fn load_cluster(&self) -> Result<Option<ClusterConfig>, StorageError>;
    /// Writes the node record and the cluster configuration in one transaction.
    async fn save_cluster(
        &self,
        node: &NodeRecord,
        config: Option<&ClusterConfig>,
    ) -> Result<(), StorageError>;
    /// OpenSSH public key lines this node's SSH server accepts.
    async fn trusted_keys(&self) -> Result<Vec<String>, StorageError>;
    async fn trust_key(&self, key_line: &str) -> Result<(), StorageError>;
}

/// A notification about to be queued.
#[derive(Debug, Clone, PartialEq)]
pub struct NewMail {
    /// Names the event the mail is about; a second mail with the same key is not queued.
    pub dedupe_key: Option<String>,
    pub recipient: String,
    pub subject: String,
    pub body: String,
    pub message_id: String,
    pub created_at: chrono::DateTime<chrono::Utc>,
    /// When the sender may first try it.
    pub first_attempt_at: chrono::DateTime<chrono::Utc>,
}

/// A queued mail with what sending it needs.
#[derive(Debug, Clone, PartialEq)]
pub struct MailRecord {
    pub mail: Mail,
    pub body: String,
    pub message_id: String,
    pub next_attempt_at: chrono::DateTime<chrono::Utc>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MailCounts {
    pub queued: u64,
    pub failed: u64,
    pub sent: u64,
}

#[async_trait]
pub trait MailRepository: Send + Sync {
    /// Stores a queued mail; `None` when a mail with the same dedupe key exists.
    async fn enqueue_mail(&self, mail: &NewMail) -> Result<Option<MailRecord>, StorageError>;
    async fn get_mail(&self, id: i64) -> Result<MailRecord, StorageError>;
    /// Mails still to be sent, oldest first.
    async fn queued_mails(&self) -> Result<Vec<MailRecord>, StorageError>;
    async fn mark_mail_sent(
        &self,
        id: i64,
        at: chrono::DateTime<chrono::Utc>,
    ) -> Result<(), StorageError>;
    /// Counts a failed attempt; with no next attempt the mail is given up (failed).
    async fn mark_mail_attempt_failed(
        &self,
        id: i64,
        error: &str,
        next_attempt_at: Option<chrono::DateTime<chrono::Utc>>,
    ) -> Result<(), StorageError>;
    async fn mail_counts(&self) -> Result<MailCounts, StorageError>;
    /// The newest mails, newest first.
    async fn recent_mails(&self, limit: u32) -> Result<Vec<Mail>, StorageError>;
    /// The address stored by `save_notification_email` (used outside a cluster).
    async fn notification_email(&self) -> Result<Option<String>, StorageError>;
    /// Stores the address, and in the cluster's configuration too when there is one,
    /// in one transaction.
    async fn save_notification_email(&self, email: &str) -> Result<(), StorageError>;
}

/// An action about to be recorded in the audit log.
#[derive(Debug, Clone, PartialEq)]
pub struct NewAuditEntry {
    pub at: chrono::DateTime<chrono::Utc>,
    pub user: Option<String>,
    pub client: Option<String>,
    pub action: String,
    pub target: String,
    pub outcome: AuditOutcome,
    pub status: Option<u16>,
    pub detail: Option<String>,
}

/// Which audit entries to list; every field left out matches all.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AuditFilter {
    /// The user's name, exactly.
    pub user: Option<String>,
    /// The start of the action, e.g. `failover` or `POST`.
    pub action: Option<String>,
    pub outcome: Option<AuditOutcome>,
}

#[async_trait]
pub trait AuditRepository: Send + Sync {
    async fn record_audit(&self, entry: &NewAuditEntry) -> Result<i64, StorageError>;
    /// Newest first; `page` is 1-based. Returns the page and the number of matches.
    async fn list_audit(
        &self,
        filter: &AuditFilter,
        page: u32,
        per_page: u32,
    ) -> Result<(Vec<AuditEntry>, u64), StorageError>;
    /// Deletes all but the newest `keep` entries; returns how many went.
    async fn trim_audit(&self, keep: u64) -> Result<u64, StorageError>;
    /// Deletes the entries older than `before`; returns how many.
    async fn purge_audit(&self, before: chrono::DateTime<chrono::Utc>)
    -> Result<u64, StorageError>;
}

/// Everything the node keeps.
pub trait Store:
    UserRepository
    + ApiTokenRepository
    + JobRepository
    + NodeRepository
    + MailRepository
    + AuditRepository
{
}

impl<
    T: UserRepository
        + ApiTokenRepository
        + JobRepository
        + NodeRepository
        + MailRepository
        + AuditRepository,
> Store for T
{
}
