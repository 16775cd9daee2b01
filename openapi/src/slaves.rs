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
    /// The slave's SSH key, once the master has paired with it.
    pub public_key: Option<String>,
}

/// "Add slave": the master connects to the prepared node and makes it its slave.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub struct AddSlave {
    /// The slave's host name; must differ from the master's.
    pub hostname: Hostname,
    /// The slave's own address on the telephony network.
    pub telephony_ip: String,
    /// The slave's address on the internal cluster network; the master connects to it.
    pub sync_ip: String,
}

/// "Add again": with no fields, the cached data of the last slave is used; give new
/// data for a replaced node.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub struct ReaddSlave {
    #[serde(default)]
    pub telephony_ip: Option<String>,
    #[serde(default)]
    pub sync_ip: Option<String>,
}
