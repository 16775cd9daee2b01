//! The audit log: who changed what on the node, from where, and how it went.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// How a recorded action ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub enum AuditOutcome {
    Success,
    Failure,
}

impl AuditOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            AuditOutcome::Success => "success",
            AuditOutcome::Failure => "failure",
        }
    }
}

/// One recorded action. Secrets (passwords, tokens, keys) never appear in it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub struct AuditEntry {
    pub id: i64,
    pub at: DateTime<Utc>,
    /// The user who asked; none when the node acted by itself (an automatic takeover:
    /// no client either) or the request carried no valid token (a client, no user).
    pub user: Option<String>,
    /// The client's address; none for the node's own actions.
    pub client: Option<String>,
    /// `login`, `failover.manual`, `failover.forced`, `failover.takeover`, or the
    /// request's method and path template, e.g. `DELETE /api/v1/slaves/{hostname}`.
    pub action: String,
    /// What the action was about: the request's path, a node's host name, a user.
    pub target: String,
    pub outcome: AuditOutcome,
    /// The HTTP status answered, for requests.
    pub status: Option<u16>,
    /// What happened, in a sentence (e.g. how much a forced failover may have lost).
    pub detail: Option<String>,
}

/// One page of the audit log, newest first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub struct AuditPage {
    pub items: Vec<AuditEntry>,
    /// Entries matching the filter.
    pub total: u64,
    /// 1-based.
    pub page: u32,
    pub per_page: u32,
}
