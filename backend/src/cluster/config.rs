//! The cluster's configuration: what "Configure master" and "Add slave" decided. The
//! master keeps it in its store and pushes it to the slave on every change.

use std::net::{IpAddr, Ipv4Addr};

use pequod_api::slaves::SlaveState;
use pequod_api::{ClusterIp, EmailAddress, Hostname, NodeId};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ClusterConfig {
    /// `address/prefix`, e.g. `10.77.0.10/24`.
    pub cluster_ip: ClusterIp,
    pub notification_email: EmailAddress,
    /// Probed for telephony reachability.
    pub gateways: Vec<IpAddr>,
    /// Signs heartbeats (hex); shared by both nodes. Kept out of every `Debug` and
    /// log line; written out only where it must be: the store and the pairing.
    #[serde(serialize_with = "expose_secret")]
    pub secret: SecretString,
    pub master: Member,
    /// The slave, or the node cached for "Add again".
    pub slave: Option<Member>,
}

fn expose_secret<S: serde::Serializer>(secret: &SecretString, out: S) -> Result<S::Ok, S::Error> {
    out.serialize_str(secret.expose_secret())
}

/// Equal when every field is, the secret included (compared, never shown).
impl PartialEq for ClusterConfig {
    fn eq(&self, other: &Self) -> bool {
        self.cluster_ip == other.cluster_ip
            && self.notification_email == other.notification_email
            && self.gateways == other.gateways
            && self.secret.expose_secret() == other.secret.expose_secret()
            && self.master == other.master
            && self.slave == other.slave
    }
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
    pub fn cluster_address(&self) -> Ipv4Addr {
        self.cluster_ip.address
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
