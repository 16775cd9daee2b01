//! Long operations (configure master, add slave, failover, …) run as jobs: a person can
//! follow their steps and log lines while they run and read them afterwards.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// What a job does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub enum JobKind {
    ConfigureMaster,
    PrepareSlave,
    AddSlave,
    RemoveSlave,
    ReaddSlave,
    ManualFailover,
    AutomaticFailover,
    Maintenance,
}

impl JobKind {
    pub const ALL: [JobKind; 8] = [
        JobKind::ConfigureMaster,
        JobKind::PrepareSlave,
        JobKind::AddSlave,
        JobKind::RemoveSlave,
        JobKind::ReaddSlave,
        JobKind::ManualFailover,
        JobKind::AutomaticFailover,
        JobKind::Maintenance,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            JobKind::ConfigureMaster => "configure_master",
            JobKind::PrepareSlave => "prepare_slave",
            JobKind::AddSlave => "add_slave",
            JobKind::RemoveSlave => "remove_slave",
            JobKind::ReaddSlave => "readd_slave",
            JobKind::ManualFailover => "manual_failover",
            JobKind::AutomaticFailover => "automatic_failover",
            JobKind::Maintenance => "maintenance",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == value)
    }

    /// The name a person reads in the job log.
    pub fn title(self) -> &'static str {
        match self {
            JobKind::ConfigureMaster => "Configure master",
            JobKind::PrepareSlave => "Prepare slave",
            JobKind::AddSlave => "Add slave",
            JobKind::RemoveSlave => "Remove slave",
            JobKind::ReaddSlave => "Add slave again",
            JobKind::ManualFailover => "Manual failover",
            JobKind::AutomaticFailover => "Automatic failover",
            JobKind::Maintenance => "Maintenance",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub enum JobState {
    /// Waiting for the job before it to end: jobs run one at a time.
    Queued,
    Running,
    Succeeded,
    Failed,
    /// The process ended while the job was queued or running.
    Interrupted,
}

impl JobState {
    pub const ALL: [JobState; 5] = [
        JobState::Queued,
        JobState::Running,
        JobState::Succeeded,
        JobState::Failed,
        JobState::Interrupted,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            JobState::Queued => "queued",
            JobState::Running => "running",
            JobState::Succeeded => "succeeded",
            JobState::Failed => "failed",
            JobState::Interrupted => "interrupted",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == value)
    }

    pub fn is_finished(self) -> bool {
        matches!(
            self,
            JobState::Succeeded | JobState::Failed | JobState::Interrupted
        )
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub enum StepState {
    Pending,
    Running,
    Succeeded,
    Failed,
    /// Not run because an earlier step failed or the job was interrupted.
    Skipped,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub struct LogLine {
    pub at: DateTime<Utc>,
    pub message: String,
}

/// One step of a job, in the order the job runs them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub struct JobStep {
    pub name: String,
    pub state: StepState,
    pub log: Vec<LogLine>,
}

/// A job as listed in the job log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub struct JobSummary {
    pub id: i64,
    pub kind: JobKind,
    /// What the job is about, e.g. the slave's host name.
    pub title: String,
    pub state: JobState,
    /// 0–100.
    pub progress: u8,
    pub created_at: DateTime<Utc>,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
    pub error: Option<String>,
    /// A failed job keeps the status lamp yellow until someone acknowledges it.
    pub acknowledged: bool,
}

/// A job with its steps and their log lines.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub struct Job {
    #[serde(flatten)]
    pub summary: JobSummary,
    pub steps: Vec<JobStep>,
}

/// One page of the job log, newest first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub struct JobPage {
    pub items: Vec<JobSummary>,
    /// All jobs in the log.
    pub total: u64,
    /// 1-based.
    pub page: u32,
    pub per_page: u32,
}

/// Answer of every call that starts a job (`202 Accepted`, `Location: /api/v1/jobs/{id}`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub struct JobAccepted {
    pub job: JobSummary,
}
