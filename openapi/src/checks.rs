//! Health checks: failover checks move the services, notify checks only inform.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub enum CheckKind {
    /// Failing hard moves all services to the slave.
    Failover,
    /// Failing informs the administrator, never moves services.
    Notify,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub enum RunsOn {
    Master,
    Slave,
    Both,
}

/// Nagios/Icinga states, in their exit-code order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub enum CheckState {
    Ok,
    Warning,
    Critical,
    Unknown,
}

/// One health check and its latest result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub struct Check {
    pub id: String,
    pub name: String,
    pub kind: CheckKind,
    pub runs_on: RunsOn,
    pub state: CheckState,
    /// False while the check has failed fewer times in a row than its retries allow.
    pub hard: bool,
    /// First line of the check's output.
    pub output: String,
    /// False when the check has nothing to judge on this node (Time without an NTP
    /// server, Asterisk AMI without a login, the sync checks before data sync, RAID
    /// on a machine without software RAID). Its state is then UNKNOWN, shown as "not
    /// configured", and it does not light the status lamp; any other hard UNKNOWN
    /// ("cannot tell") makes the lamp yellow.
    pub configured: bool,
    pub last_check: Option<DateTime<Utc>>,
    pub last_change: Option<DateTime<Utc>>,
}

/// One past result of a check.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub struct CheckRun {
    pub at: DateTime<Utc>,
    pub state: CheckState,
    pub output: String,
}

/// A check with its recent results, newest first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub struct CheckDetail {
    #[serde(flatten)]
    pub check: Check,
    pub history: Vec<CheckRun>,
}
