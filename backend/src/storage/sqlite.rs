//! The SQLite implementation of the repositories: one file in the data directory,
//! WAL mode, migrations embedded in the binary and applied at open.

use std::path::Path;
use std::str::FromStr;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use pequod_api::cluster::Role;
use pequod_api::jobs::{Job, JobKind, JobState, JobStep, JobSummary, StepState};
use pequod_api::{Hostname, NodeId};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{FromRow, SqlitePool};

use crate::cluster::config::ClusterConfig;

use super::{JobRepository, NodeRecord, NodeRepository, StorageError};

#[derive(Clone, Debug)]
pub struct SqliteStore {
    pool: SqlitePool,
}

impl SqliteStore {
    /// Opens (creating when absent) the database file and applies pending migrations.
    #[tracing::instrument]
    pub async fn open(path: &Path) -> Result<Self, StorageError> {
        let options = SqliteConnectOptions::from_str("sqlite:")?
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            .busy_timeout(std::time::Duration::from_secs(5));
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(options)
            .await?;
        sqlx::migrate!("./migrations")
            .run(&pool)
            .await
            .map_err(|e| StorageError::Database(e.into()))?;
        Ok(Self { pool })
    }

    pub fn pool(&self) -> &SqlitePool {
        &self.pool
    }
}

#[derive(FromRow)]
struct JobRow {
    id: i64,
    kind: String,
    title: String,
    state: String,
    progress: i64,
    created_at: DateTime<Utc>,
    started_at: Option<DateTime<Utc>>,
    finished_at: Option<DateTime<Utc>>,
    error: Option<String>,
    acknowledged: bool,
    steps: String,
}

const JOB_COLUMNS: &str = "id, kind, title, state, progress, created_at, started_at, finished_at, error, acknowledged, steps";

impl JobRow {
    fn summary(&self) -> Result<JobSummary, StorageError> {
        Ok(JobSummary {
            id: self.id,
            kind: JobKind::parse(&self.kind)
                .ok_or_else(|| StorageError::Corrupt(format!("job kind {:?}", self.kind)))?,
            title: self.title.clone(),
            state: JobState::parse(&self.state)
                .ok_or_else(|| StorageError::Corrupt(format!("job state {:?}", self.state)))?,
            progress: u8::try_from(self.progress.clamp(0, 100)).unwrap_or(0),
            created_at: self.created_at,
            started_at: self.started_at,
            finished_at: self.finished_at,
            error: self.error.clone(),
            acknowledged: self.acknowledged,
        })
    }

    fn job(&self) -> Result<Job, StorageError> {
        let steps: Vec<JobStep> = serde_json::from_str(&self.steps)
            .map_err(|e| StorageError::Corrupt(format!("steps of job {}: {e}", self.id)))?;
        Ok(Job {
            summary: self.summary()?,
            steps,
        })
    }
}

fn steps_json(steps: &[JobStep]) -> Result<String, StorageError> {
    serde_json::to_string(steps).map_err(|e| StorageError::Corrupt(e.to_string()))
}

#[async_trait]
impl JobRepository for SqliteStore {
    async fn create_job(
        &self,
        kind: JobKind,
        title: &str,
        steps: &[String],
    ) -> Result<Job, StorageError> {
        let steps: Vec<JobStep> = steps
            .iter()
            .map(|name| JobStep {
                name: name.clone(),
                state: StepState::Pending,
                log: Vec::new(),
            })
            .collect();
        let row: JobRow = sqlx::query_as(&format!(
            "INSERT INTO jobs (kind, title, state, progress, created_at, steps) \
             VALUES (?, ?, ?, 0, ?, ?) RETURNING {JOB_COLUMNS}"
        ))
        .bind(kind.as_str())
        .bind(title)
        .bind(JobState::Queued.as_str())
        .bind(Utc::now())
        .bind(steps_json(&steps)?)
        .fetch_one(&self.pool)
        .await?;
        row.job()
    }

    async fn get_job(&self, id: i64) -> Result<Job, StorageError> {
        let row: Option<JobRow> =
            sqlx::query_as(&format!("SELECT {JOB_COLUMNS} FROM jobs WHERE id = ?"))
                .bind(id)
                .fetch_optional(&self.pool)
                .await?;
        row.ok_or_else(|| StorageError::NotFound(format!("job {id}")))?
            .job()
    }

    async fn list_jobs(
        &self,
        page: u32,
        per_page: u32,
    ) -> Result<(Vec<JobSummary>, u64), StorageError> {
        let offset = i64::from(page.saturating_sub(1)) * i64::from(per_page);
        let rows: Vec<JobRow> = sqlx::query_as(&format!(
            "SELECT {JOB_COLUMNS} FROM jobs ORDER BY id DESC LIMIT ? OFFSET ?"
        ))
        .bind(i64::from(per_page))
        .bind(offset)
        .fetch_all(&self.pool)
        .await?;
        let (total,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM jobs")
            .fetch_one(&self.pool)
            .await?;
        let items = rows.iter().map(JobRow::summary).collect::<Result<_, _>>()?;
        Ok((items, u64::try_from(total).unwrap_or(0)))
    }

    async fn save_job(&self, job: &Job) -> Result<(), StorageError> {
        let s = &job.summary;
        let result = sqlx::query(
            "UPDATE jobs SET state = ?, progress = ?, started_at = ?, finished_at = ?, \
             error = ?, acknowledged = ?, steps = ? WHERE id = ?",
        )
        .bind(s.state.as_str())
        .bind(i64::from(s.progress))
        .bind(s.started_at)
        .bind(s.finished_at)
        .bind(&s.error)
        .bind(s.acknowledged)
        .bind(steps_json(&job.steps)?)
        .bind(s.id)
        .execute(&self.pool)
        .await?;
        if result.rows_affected() == 0 {
            return Err(StorageError::NotFound(format!("job {}", s.id)));
        }
        Ok(())
    }

    async fn unfinished_jobs(&self) -> Result<Vec<Job>, StorageError> {
        let rows: Vec<JobRow> = sqlx::query_as(&format!(
            "SELECT {JOB_COLUMNS} FROM jobs WHERE state IN ('queued', 'running') ORDER BY id"
        ))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(JobRow::job).collect()
    }

    async fn acknowledge_job(&self, id: i64) -> Result<Job, StorageError> {
        let row: Option<JobRow> = sqlx::query_as(&format!(
            "UPDATE jobs SET acknowledged = 1 WHERE id = ? RETURNING {JOB_COLUMNS}"
        ))
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        row.ok_or_else(|| StorageError::NotFound(format!("job {id}")))?
            .job()
    }

    async fn unacknowledged_failures(&self) -> Result<Vec<JobSummary>, StorageError> {
        let rows: Vec<JobRow> = sqlx::query_as(&format!(
            "SELECT {JOB_COLUMNS} FROM jobs \
             WHERE state IN ('failed', 'interrupted') AND acknowledged = 0 ORDER BY id DESC"
        ))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(JobRow::summary).collect()
    }

    async fn count_jobs(&self) -> Result<Vec<(JobKind, JobState, u64)>, StorageError> {
        let rows: Vec<(String, String, i64)> =
            sqlx::query_as("SELECT kind, state, COUNT(*) FROM jobs GROUP BY kind, state")
                .fetch_all(&self.pool)
                .await?;
        rows.into_iter()
            .map(|(kind, state, count)| {
                let kind = JobKind::parse(&kind)
                    .ok_or_else(|| StorageError::Corrupt(format!("job kind {kind:?}")))?;
                let state = JobState::parse(&state)
                    .ok_or_else(|| StorageError::Corrupt(format!("job state {state:?}")))?;
                Ok((kind, state, u64::try_from(count).unwrap_or(0)))
            })
            .collect()
    }
}

#[derive(FromRow)]
struct NodeRow {
    node_id: String,
    hostname: String,
    role: String,
    epoch: i64,
}

#[async_trait]
impl NodeRepository for SqliteStore {
    async fn load_node(&self) -> Result<Option<NodeRecord>, StorageError> {
        let row: Option<NodeRow> =
            sqlx::query_as("SELECT node_id, hostname, role, epoch FROM node WHERE singleton = 1")
                .fetch_optional(&self.pool)
                .await?;
        let Some(row) = row else { return Ok(None) };
        Ok(Some(NodeRecord {
            id: NodeId(
                uuid::Uuid::parse_str(&row.node_id)
                    .map_err(|e| StorageError::Corrupt(format!("node id: {e}")))?,
            ),
            hostname: Hostname::parse(&row.hostname)
                .map_err(|e| StorageError::Corrupt(format!("hostname: {e}")))?,
            role: Role::parse(&row.role)
                .ok_or_else(|| StorageError::Corrupt(format!("role {:?}", row.role)))?,
            epoch: u64::try_from(row.epoch).unwrap_or(0),
        }))
    }

    async fn save_node(&self, node: &NodeRecord) -> Result<(), StorageError> {
        save_node_in(&self.pool, node).await
    }

    async fn load_cluster(&self) -> Result<Option<ClusterConfig>, StorageError> {
        let row: Option<(String,)> =
            sqlx::query_as("SELECT config FROM cluster WHERE singleton = 1")
                .fetch_optional(&self.pool)
                .await?;
        row.map(|(json,)| {
            serde_json::from_str(&json)
                .map_err(|e| StorageError::Corrupt(format!("cluster configuration: {e}")))
        })
        .transpose()
    }

    async fn save_cluster(
        &self,
        node: &NodeRecord,
        config: Option<&ClusterConfig>,
    ) -> Result<(), StorageError> {
        let mut tx = self.pool.begin().await?;
        save_node_in(&mut *tx, node).await?;
        match config {
            Some(config) => {
                let json = serde_json::to_string(config)
                    .map_err(|e| StorageError::Corrupt(e.to_string()))?;
                sqlx::query(
                    "INSERT INTO cluster (singleton, config) VALUES (1, ?) \
                     ON CONFLICT (singleton) DO UPDATE SET config = excluded.config",
                )
                .bind(json)
                .execute(&mut *tx)
                .await?;
            }
            None => {
                sqlx::query("DELETE FROM cluster").execute(&mut *tx).await?;
            }
        }
        tx.commit().await?;
        Ok(())
    }

    async fn trusted_keys(&self) -> Result<Vec<String>, StorageError> {
        let rows: Vec<(String,)> =
            sqlx::query_as("SELECT key_line FROM trusted_keys ORDER BY added_at")
                .fetch_all(&self.pool)
                .await?;
        Ok(rows.into_iter().map(|(line,)| line).collect())
    }

    async fn trust_key(&self, key_line: &str) -> Result<(), StorageError> {
        // Keyed by type and data: the same key with another comment is the same key.
        let data: String = key_line
            .split_whitespace()
            .take(2)
            .collect::<Vec<_>>()
            .join(" ");
        sqlx::query(
            "INSERT INTO trusted_keys (key_data, key_line, added_at) VALUES (?, ?, ?) \
             ON CONFLICT (key_data) DO NOTHING",
        )
        .bind(data)
        .bind(key_line.trim())
        .bind(Utc::now())
        .execute(&self.pool)
        .await?;
        Ok(())
    }
}

async fn save_node_in<'e, E: sqlx::Executor<'e, Database = sqlx::Sqlite>>(
    executor: E,
    node: &NodeRecord,
) -> Result<(), StorageError> {
    {
        sqlx::query(
            "INSERT INTO node (singleton, node_id, hostname, role, epoch) VALUES (1, ?, ?, ?, ?) \
             ON CONFLICT (singleton) DO UPDATE SET node_id = excluded.node_id, \
             hostname = excluded.hostname, role = excluded.role, epoch = excluded.epoch",
        )
        .bind(node.id.to_string())
        .bind(node.hostname.as_str())
        .bind(node.role.as_str())
        .bind(i64::try_from(node.epoch).unwrap_or(i64::MAX))
        .execute(executor)
        .await?;
        Ok(())
    }
}
