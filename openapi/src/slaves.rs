//! The slave node as the master knows it, including a removed slave's cached data.

use serde::{Deserialize, Serialize};

use crate::domain::{Hostname, exact};

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
    /// The slave's host name; must differ from the master's (409 when it does not).
    pub hostname: Hostname,
    /// The slave's own address on the telephony network.
    #[serde(deserialize_with = "exact::text::<_, exact::IpAddress>")]
    #[cfg_attr(feature = "schema", schema(schema_with = telephony_ip_schema))]
    pub telephony_ip: String,
    /// The slave's address on the internal cluster network; the master connects to it.
    #[serde(deserialize_with = "exact::text::<_, exact::IpAddress>")]
    #[cfg_attr(feature = "schema", schema(schema_with = sync_ip_schema))]
    pub sync_ip: String,
}

/// "Add again": with no fields, the cached data of the last slave is used; give new
/// data for a replaced node.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub struct ReaddSlave {
    #[serde(default, deserialize_with = "exact::optional::<_, exact::IpAddress>")]
    #[cfg_attr(feature = "schema", schema(schema_with = new_telephony_ip_schema))]
    pub telephony_ip: Option<String>,
    #[serde(default, deserialize_with = "exact::optional::<_, exact::IpAddress>")]
    #[cfg_attr(feature = "schema", schema(schema_with = new_sync_ip_schema))]
    pub sync_ip: Option<String>,
}

#[cfg(feature = "schema")]
const TELEPHONY_IP: &str = "The slave's own address on the telephony network (IPv4 or IPv6); \
    409 when it is the master's, or the same as `sync_ip`.";
#[cfg(feature = "schema")]
const SYNC_IP: &str = "The slave's address on the internal cluster network (IPv4 or IPv6); \
    the master connects to it. 409 when it is the master's.";

#[cfg(feature = "schema")]
fn telephony_ip_schema() -> utoipa::openapi::Object {
    crate::domain::text_schema(crate::domain::ip_address_pattern())
        .description(Some(TELEPHONY_IP))
        .examples(["10.77.0.12"])
        .build()
}

#[cfg(feature = "schema")]
fn sync_ip_schema() -> utoipa::openapi::Object {
    crate::domain::text_schema(crate::domain::ip_address_pattern())
        .description(Some(SYNC_IP))
        .examples(["10.78.0.2"])
        .build()
}

#[cfg(feature = "schema")]
fn new_telephony_ip_schema() -> utoipa::openapi::Object {
    crate::domain::nullable_text_schema(crate::domain::ip_address_pattern())
        .description(Some(format!(
            "{TELEPHONY_IP} Left out, the cached one is used."
        )))
        .build()
}

#[cfg(feature = "schema")]
fn new_sync_ip_schema() -> utoipa::openapi::Object {
    crate::domain::nullable_text_schema(crate::domain::ip_address_pattern())
        .description(Some(format!("{SYNC_IP} Left out, the cached one is used.")))
        .build()
}
