//! The cluster as a whole: its mode, the roles, the cluster IP and the status lamp.

use serde::{Deserialize, Serialize};

use crate::domain::exact;

/// A node's part in the cluster (see DESIGN.md, "Roles").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub enum Role {
    /// Not part of a cluster: runs the services, holds no cluster IP.
    Standalone,
    /// Holds the cluster IP and runs every telephony service.
    Master,
    /// Receives the master's data and takes over when it fails.
    Slave,
    /// Lost its role (failover, removal); waits for "Add again".
    Standby,
}

impl Role {
    pub const ALL: [Role; 4] = [Role::Standalone, Role::Master, Role::Slave, Role::Standby];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Standalone => "standalone",
            Role::Master => "master",
            Role::Slave => "slave",
            Role::Standby => "standby",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.as_str() == value)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub enum ClusterMode {
    /// No cluster configured on this node.
    Standalone,
    /// This node belongs to a configured cluster.
    Cluster,
}

/// The status lamp of the job log: green when all is well, yellow for a warning or a
/// failed job nobody acknowledged yet, red for a critical check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub enum Lamp {
    Green,
    Yellow,
    Red,
}

/// What this node's probe of the telephony gateway(s) says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub enum GatewayState {
    /// A configured gateway answers.
    Reachable,
    /// No configured gateway answered in the rounds allowed to fail.
    Unreachable,
    /// Not probed yet: no answer so far, and not enough failed rounds to tell. Blocks a
    /// takeover and a former master's return until the probe tells.
    Unknown,
    /// No gateway is configured: the telephony network is not checked, and no failover
    /// is ever made because of it.
    NotConfigured,
}

/// A named heartbeat timing (`cluster.profile`); explicit `heartbeat_interval_ms` and
/// `dead_after_ms` settings override its figures.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub enum TimingProfile {
    /// A heartbeat every 100 ms on each link; the peer is dead after 600 ms of silence.
    #[default]
    Conservative,
    /// A heartbeat every 50 ms; dead after 200 ms. For a direct cable between the nodes.
    Fast,
}

impl TimingProfile {
    pub const fn as_str(self) -> &'static str {
        match self {
            TimingProfile::Conservative => "conservative",
            TimingProfile::Fast => "fast",
        }
    }

    pub const fn heartbeat_interval_ms(self) -> u64 {
        match self {
            TimingProfile::Conservative => 100,
            TimingProfile::Fast => 50,
        }
    }

    pub const fn dead_after_ms(self) -> u64 {
        match self {
            TimingProfile::Conservative => 600,
            TimingProfile::Fast => 200,
        }
    }
}

/// The heartbeat timing this node runs with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub struct Timing {
    pub profile: TimingProfile,
    /// The interval in effect: the profile's, or the explicit setting.
    pub heartbeat_interval_ms: u64,
    /// Silence after which the peer counts as dead on a link: the profile's, or the
    /// explicit setting.
    pub dead_after_ms: u64,
}

impl Timing {
    /// Whether explicit settings replace any of the profile's figures.
    pub const fn overridden(&self) -> bool {
        self.heartbeat_interval_ms != self.profile.heartbeat_interval_ms()
            || self.dead_after_ms != self.profile.dead_after_ms()
    }
}

/// The cluster as this node sees it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub struct Cluster {
    pub mode: ClusterMode,
    /// This node's role.
    pub role: Role,
    /// The term of the current master; every takeover increments it.
    pub epoch: u64,
    /// The shared cluster IP with its prefix, e.g. `192.0.2.10/24`, once configured.
    pub cluster_ip: Option<String>,
    /// Host name of the node holding the cluster IP, when known.
    pub vip_holder: Option<String>,
    pub lamp: Lamp,
    /// Why the lamp has its colour, one sentence per reason.
    pub lamp_reasons: Vec<String>,
    /// What this node's probe of the telephony gateway(s) says (`unknown` outside a
    /// cluster, where nothing is probed).
    pub telephony_gateway: GatewayState,
    /// The heartbeat timing this node runs with.
    pub timing: Timing,
}

/// "Configure master": makes this standalone node the master of a new cluster.
///
/// Each text is read exactly as sent (no white space around it); a text its pattern
/// rejects is a 422, a valid one the node cannot use (an interface it does not have)
/// a 409.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub struct ConfigureMaster {
    /// This node's host name; left out, the current one stays.
    #[serde(default)]
    pub hostname: Option<crate::Hostname>,
    /// The shared cluster IP with its prefix, e.g. `192.0.2.10/24`. Phones and gateways
    /// register only with it; it always lives on the current master.
    #[serde(deserialize_with = "exact::text::<_, exact::ClusterIp>")]
    #[cfg_attr(feature = "schema", schema(schema_with = cluster_ip_schema))]
    pub cluster_ip: String,
    /// The interface on the telephony network, e.g. `eth0`.
    #[serde(deserialize_with = "exact::text::<_, exact::InterfaceName>")]
    #[cfg_attr(feature = "schema", schema(schema_with = telephony_interface_schema))]
    pub telephony_interface: String,
    /// The interface of the internal cluster network (direct cable), e.g. `eth1`.
    #[serde(deserialize_with = "exact::text::<_, exact::InterfaceName>")]
    #[cfg_attr(feature = "schema", schema(schema_with = cluster_interface_schema))]
    pub cluster_interface: String,
    /// Failover and service e-mails go here.
    #[serde(deserialize_with = "exact::text::<_, exact::Email>")]
    #[cfg_attr(feature = "schema", schema(schema_with = notification_email_schema))]
    pub notification_email: String,
    /// Telephony gateway(s) probed to tell whether this node reaches the telephony network.
    #[serde(default, deserialize_with = "exact::list::<_, exact::IpAddress>")]
    #[cfg_attr(feature = "schema", schema(schema_with = gateways_schema))]
    pub gateways: Vec<String>,
}

#[cfg(feature = "schema")]
fn cluster_ip_schema() -> utoipa::openapi::Object {
    crate::domain::text_schema(crate::ClusterIp::pattern())
        .description(Some(
            "The shared cluster IP with its prefix (8–32), e.g. `192.0.2.10/24`: not a \
             loopback, multicast, broadcast or unspecified address. Phones and gateways \
             register only with it; it always lives on the current master.",
        ))
        .examples(["192.0.2.10/24"])
        .build()
}

#[cfg(feature = "schema")]
fn interface_schema(description: &str, example: &str) -> utoipa::openapi::Object {
    crate::domain::text_schema(crate::nodes::INTERFACE_NAME_PATTERN)
        .description(Some(description))
        .examples([example])
        .build()
}

#[cfg(feature = "schema")]
fn telephony_interface_schema() -> utoipa::openapi::Object {
    interface_schema(
        "The interface on the telephony network, e.g. `eth0`; 409 when this node has none of that name.",
        "eth0",
    )
}

#[cfg(feature = "schema")]
fn cluster_interface_schema() -> utoipa::openapi::Object {
    interface_schema(
        "The interface of the internal cluster network (direct cable), e.g. `eth1`; 409 \
         when this node has none of that name or it is the telephony interface.",
        "eth1",
    )
}

#[cfg(feature = "schema")]
fn notification_email_schema() -> utoipa::openapi::Object {
    crate::email::email_schema("Failover and service e-mails go here.", "ops@example.net")
}

#[cfg(feature = "schema")]
fn gateways_schema() -> utoipa::openapi::schema::Array {
    utoipa::openapi::schema::ArrayBuilder::new()
        .items(crate::domain::text_schema(
            crate::domain::ip_address_pattern(),
        ))
        .description(Some(
            "Telephony gateway(s), IPv4 or IPv6 addresses, probed to tell whether this node \
             reaches the telephony network.",
        ))
        .build()
}

/// A request to hand the master's duties to the slave by hand.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub struct ManualFailover {
    /// On the slave, when the master is gone: take over even though the slave's
    /// database may lack commits the master acknowledged (they are lost; the job says
    /// how much). Refused while the master is heard.
    #[serde(default)]
    pub force: bool,
}
