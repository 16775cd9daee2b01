//! What `GET /api/v1/events` streams: one server-sent event per change, named by its
//! kind (`event: job`), with the changed resource as JSON data.

use serde::{Deserialize, Serialize};

use crate::checks::Check;
use crate::cluster::Cluster;
use crate::jobs::JobSummary;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", content = "data", rename_all = "snake_case")]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub enum Event {
    /// A job was created or changed state, step or progress.
    Job(JobSummary),
    /// A check's result changed.
    Check(Check),
    /// The cluster changed: role, epoch, cluster IP or lamp.
    Cluster(Cluster),
}

impl Event {
    /// The SSE event name.
    pub fn name(&self) -> &'static str {
        match self {
            Event::Job(_) => "job",
            Event::Check(_) => "check",
            Event::Cluster(_) => "cluster",
        }
    }
}
