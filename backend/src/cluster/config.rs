//! The cluster's configuration: what "Configure master" and "Add slave" decided. The
//! master keeps it in its store and pushes it to the slave on every change.

use std::net::IpAddr;

use pequod_api::slaves::SlaveState;
use pequod_api::{Hostname, NodeId};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClusterConfig {
    /// `address/prefix`, e.g. `10.77.0.10/24`.
    pub cluster_ip: String,
    pub notification_email: String,
    /// Probed for telephony reachability.
    pub gateways: Vec<IpAddr>,
    /// Signs heartbeats (hex); shared by both nodes.
    pub secret: String,
    pub master: Member,
    /// The slave, or the node cached for "Add again".
    pub slave: Option<Member>,
}

/// One node of the cluster as the configuration knows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Member {
    pub node_id: Option<NodeId>,
    pub hostname: Hostname,
    pub telephony_ip: IpAddr,
    pub sync_ip: IpAddr,
    /// Interfaces as named on that node.
    pub telephony_interface: Option<String>,
    pub cluster_interface: Option<String>,
    /// The node's SSH key (OpenSSH public key line), once known.
    pub public_key: Option<String>,
    pub state: SlaveState,
}

impl ClusterConfig {
    /// The cluster IP without its prefix: where people and phones reach the master.
    pub fn cluster_address(&self) -> &str {
        self.cluster_ip
            .split_once('/')
            .map_or(self.cluster_ip.as_str(), |(address, _)| address)
    }

    /// The member that is not `me`.
    pub fn peer_of(&self, me: NodeId) -> Option<&Member> {
        if self.master.node_id == Some(me) {
            self.slave.as_ref()
        } else {
            Some(&self.master)
        }
    }

    pub fn member(&self, me: NodeId) -> Option<&Member> {
        if self.master.node_id == Some(me) {
            Some(&self.master)
        } else {
            self.slave.as_ref().filter(|s| s.node_id == Some(me))
        }
    }
}
