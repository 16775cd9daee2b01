//! The node's store behind repository traits that speak domain types. SQLite (WAL) is
//! the implementation; a row that is not there becomes `NotFound`, never a 500.

mod sqlite;

use async_trait::async_trait;
use pequod_api::cluster::Role;
use pequod_api::jobs::{Job, JobKind, JobState, JobSummary};
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
    /// Fails with `Conflict` when the name is taken.
    async fn create_user(&self, user: &UserRecord) -> Result<(), StorageError>;
    async fn count_users(&self) -> Result<u64, StorageError>;
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

/// Everything the node keeps.
pub trait Store: UserRepository + JobRepository + NodeRepository {}

impl<T: UserRepository + JobRepository + NodeRepository> Store for T {}
