//! The commands one node runs on the other over the SSH control channel: `hello`,
//! `pair` (become the slave of this master), `leave` (become standby) and `handover`
//! (the slave stands ready for a manual failover), `notification_email` (the master's
//! new notification address). Inputs and outputs are JSON.

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use async_trait::async_trait;
use pequod_api::cluster::Role;
use pequod_api::slaves::SlaveState;
use pequod_api::{Hostname, NodeId};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::agent::{Agent, interface_of};
use super::config::ClusterConfig;
use super::ssh::{self, CallOutput, CommandHandler, HostKeyPolicy, SshError, TrustedKeys};

pub const TIMEOUT: Duration = Duration::from_secs(15);

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Hello {
    pub node_id: NodeId,
    pub hostname: Hostname,
    pub role: Role,
    pub epoch: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PairRequest {
    /// The configuration with the slave's entry as the master knows it.
    pub config: ClusterConfig,
    pub epoch: u64,
    /// The master's key, so the slave trusts it even after a reinstall of the master.
    pub master_public_key: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PairResponse {
    pub node_id: NodeId,
    pub hostname: Hostname,
    pub public_key: String,
    pub telephony_interface: String,
    pub cluster_interface: String,
}

/// Serves the commands on this node.
pub struct RemoteHandler {
    pub agent: Agent,
    pub trusted: TrustedKeys,
    pub public_key: String,
}

#[async_trait]
impl CommandHandler for RemoteHandler {
    async fn handle(&self, _peer: &str, command: &str, input: Vec<u8>) -> Result<Vec<u8>, String> {
        tracing::info!(command, "control command from the peer");
        let result = match command {
            "hello" => self.hello().await,
            "pair" => self.pair(parse(&input)?).await,
            "leave" => self.leave().await,
            "handover" => self.handover().await,
            "notification_email" => self.notification_email(parse(&input)?).await,
            other => Err(anyhow::anyhow!("unknown command {other:?}")),
        };
        result.map_err(|e| format!("{e:#}"))
    }
}

fn parse<T: DeserializeOwned>(input: &[u8]) -> Result<T, String> {
    serde_json::from_slice(input).map_err(|e| format!("the request is not valid: {e}"))
}

fn json(value: &impl Serialize) -> anyhow::Result<Vec<u8>> {
    Ok(serde_json::to_vec(value)?)
}

impl RemoteHandler {
    async fn hello(&self) -> anyhow::Result<Vec<u8>> {
        let node = self.agent.node().await;
        json(&Hello {
            node_id: node.id,
            hostname: node.hostname,
            role: node.role,
            epoch: node.epoch,
        })
    }

    async fn pair(&self, request: PairRequest) -> anyhow::Result<Vec<u8>> {
        let node = self.agent.node().await;
        anyhow::ensure!(
            matches!(node.role, Role::Standalone | Role::Standby | Role::Slave),
            "{} is {} and cannot become a slave",
            node.hostname,
            node.role.as_str()
        );
        let mut config = request.config;
        let slave = config
            .slave
            .as_mut()
            .ok_or_else(|| anyhow::anyhow!("the request names no slave"))?;
        anyhow::ensure!(
            slave.hostname == node.hostname,
            "this node's host name is {}, not {}: correct the host name in Add slave",
            node.hostname,
            slave.hostname
        );
        let telephony_interface = interface_of(slave.telephony_ip).await?;
        let cluster_interface = interface_of(slave.sync_ip).await?;
        slave.node_id = Some(node.id);
        slave.telephony_interface = Some(telephony_interface.clone());
        slave.cluster_interface = Some(cluster_interface.clone());
        slave.public_key = Some(self.public_key.clone());
        slave.state = SlaveState::Active;
        self.agent
            .store()
            .trust_key(&request.master_public_key)
            .await?;
        self.trusted.add(&request.master_public_key)?;
        self.agent
            .set_membership(Role::Slave, request.epoch, Some(&config))
            .await?;
        tracing::info!(master = %config.master.hostname, epoch = request.epoch, "this node is now slave");
        json(&PairResponse {
            node_id: node.id,
            hostname: node.hostname,
            public_key: self.public_key.clone(),
            telephony_interface,
            cluster_interface,
        })
    }

    async fn leave(&self) -> anyhow::Result<Vec<u8>> {
        let node = self.agent.node().await;
        let config = self.agent.store().load_cluster().await?;
        self.agent
            .set_membership(Role::Standby, node.epoch, config.as_ref())
            .await?;
        tracing::info!("this node left the cluster and is standby");
        Ok(Vec::new())
    }

    /// The master changed the notification address: store it and run on with the
    /// changed configuration, so a takeover mails the new address.
    async fn notification_email(&self, email: String) -> anyhow::Result<Vec<u8>> {
        let node = self.agent.node().await;
        anyhow::ensure!(
            node.role == Role::Slave,
            "{} is {}, not the slave",
            node.hostname,
            node.role.as_str()
        );
        let store = self.agent.store();
        store.save_notification_email(&email).await?;
        let config = store.load_cluster().await?;
        self.agent
            .set_membership(node.role, node.epoch, config.as_ref())
            .await?;
        tracing::info!(email, "the master changed the notification address");
        Ok(Vec::new())
    }

    async fn handover(&self) -> anyhow::Result<Vec<u8>> {
        self.agent.expect_handover().await?;
        Ok(Vec::new())
    }
}

/// Runs a command on the other node with this node's key.
pub async fn call(
    key_path: &Path,
    addr: SocketAddr,
    policy: HostKeyPolicy,
    command: &str,
    input: &impl Serialize,
) -> Result<CallOutput, SshError> {
    let key = ssh::load_node_key(key_path).map_err(|e| SshError::Protocol {
        addr,
        message: format!("{e:#}"),
    })?;
    let input = serde_json::to_vec(input).map_err(|e| SshError::Protocol {
        addr,
        message: e.to_string(),
    })?;
    ssh::call(addr, &key, policy, command, &input, TIMEOUT).await
}

pub fn decode<T: DeserializeOwned>(output: &CallOutput, addr: SocketAddr) -> Result<T, SshError> {
    serde_json::from_slice(&output.stdout).map_err(|e| SshError::Protocol {
        addr,
        message: format!("unexpected answer: {e}"),
    })
}
