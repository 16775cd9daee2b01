//! The nodes of the cluster and this node's own settings and network interfaces.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::cluster::Role;
use crate::domain::{Hostname, NodeId};

/// A node as this node knows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub struct Node {
    pub id: NodeId,
    pub hostname: Hostname,
    /// The `pequod` version the node runs.
    pub version: String,
    pub role: Role,
    /// True for the node answering this request.
    pub is_self: bool,
    /// The node's SSH public key in OpenSSH format (`ssh-ed25519 AAAA… pequod@node1`).
    /// "Prepare slave" on the other node needs the master's.
    pub public_key: String,
    /// Last heartbeat received from this node; none for the node itself.
    pub last_heartbeat: Option<DateTime<Utc>>,
    /// The epoch the node reports (its own for this node).
    pub epoch: u64,
    /// Its addresses on the telephony and the cluster network, once in a cluster.
    pub telephony_ip: Option<String>,
    pub sync_ip: Option<String>,
    /// For the peer: whether its heartbeats arrive on each link.
    pub links: Option<LinkStates>,
    /// Whether the node holds the cluster IP.
    pub holds_vip: bool,
}

/// Whether heartbeats arrive on each of the two links.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub struct LinkStates {
    pub telephony: bool,
    pub cluster: bool,
}

/// "Prepare slave": this node will accept the master with this SSH key.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub struct PrepareSlave {
    /// The master's public key as `GET /api/v1/nodes/self` on the master shows it.
    #[cfg_attr(
        feature = "schema",
        schema(example = "ssh-ed25519 AAAAC3Nza… pequod@node1")
    )]
    pub master_public_key: String,
}

/// Changes to this node. Fields left out stay as they are.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub struct NodePatch {
    /// The new host name; the two nodes of a cluster must have different ones.
    #[serde(default)]
    pub hostname: Option<Hostname>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub struct InterfaceAddress {
    /// IPv4 or IPv6 address.
    pub address: String,
    pub prefix_len: u8,
}

/// A network interface of this node as the kernel reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub struct Interface {
    pub index: u32,
    pub name: String,
    /// Link-layer address, e.g. `02:00:00:00:00:01`.
    pub mac: Option<String>,
    /// Administratively up.
    pub up: bool,
    /// Carrier present (cable plugged, peer up).
    pub running: bool,
    pub mtu: Option<u32>,
    pub loopback: bool,
    pub addresses: Vec<InterfaceAddress>,
}
