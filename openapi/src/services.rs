//! Managed telephony services: what runs on the master, and whether it runs.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub enum ServiceState {
    Running,
    Stopped,
    /// The status could not be determined (no status command, or it did not answer).
    Unknown,
}

/// A telephony service this node manages (started on the master, stopped elsewhere).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub struct ManagedService {
    pub name: String,
    /// The systemd unit, or the start command, that runs it.
    pub runs: String,
    pub state: ServiceState,
    /// Whether this node should be running it now (true on the master and a
    /// standalone node).
    pub expected_running: bool,
}
