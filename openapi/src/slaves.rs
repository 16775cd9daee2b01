//! The slave node as the master knows it, including a removed slave's cached data.

use serde::{Deserialize, Serialize};

use crate::domain::Hostname;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub enum SlaveState {
    /// In the cluster, receiving sync.
    Active,
    /// Removed or failed over; its data is cached for "Add again".
    Removed,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub struct Slave {
    pub hostname: Hostname,
    /// The slave's own address on the telephony network.
    pub telephony_ip: String,
    /// The slave's address on the internal cluster network.
    pub sync_ip: String,
    pub state: SlaveState,
}
