//! The commands one node runs on the other over the SSH control channel, as one typed
//! enum shared by the caller (`Peer`) and the callee (`RemoteHandler`): `hello`, `pair`
//! (become the slave of this master), `leave` (become standby), `handover` (the slave
//! stands ready for a manual failover) and `notification_email` (the master's new
//! notification address). Inputs and outputs travel as JSON.

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
use super::config::{ClusterConfig, Member};
use super::ssh::{self, CallOutput, CommandHandler, HostKeyPolicy, SshError, TrustedKeys};
use super::ssh_binding::SshBinding;
use crate::sync::files::Manifest;
use crate::sync::service::{CloneOutcome, Endpoint};

pub const TIMEOUT: Duration = Duration::from_secs(15);
/// How long copying the master's database may take.
const CLONE_TIMEOUT: Duration = Duration::from_secs(3600);

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

/// A command one node asks of the other, with its input.
#[derive(Debug, Clone)]
pub enum PeerCommand {
    /// Who are you? Answers `Hello`.
    Hello,
    /// Become the slave of this master. Answers `PairResponse`.
    Pair(Box<PairRequest>),
    /// Leave the cluster and become standby.
    Leave,
    /// Stand ready to take over for a manual failover.
    Handover,
    /// The master's new notification address.
    NotificationEmail(String),
    /// Copy (or rewind) the master's database and run it as its standby. Answers
    /// `CloneOutcome`.
    CloneDatabase,
    /// The manifest of the synced paths on this node. Answers `Manifest`.
    Manifest,
}

impl PeerCommand {
    /// The name the command travels under on the SSH channel.
    pub fn name(&self) -> &'static str {
        match self {
            PeerCommand::Hello => "hello",
            PeerCommand::Pair(_) => "pair",
            PeerCommand::Leave => "leave",
            PeerCommand::Handover => "handover",
            PeerCommand::NotificationEmail(_) => "notification_email",
            PeerCommand::CloneDatabase => "clone_database",
            PeerCommand::Manifest => "manifest",
        }
    }

    fn input(&self) -> serde_json::Result<Vec<u8>> {
        match self {
            PeerCommand::Hello
            | PeerCommand::Leave
            | PeerCommand::Handover
            | PeerCommand::CloneDatabase
            | PeerCommand::Manifest => serde_json::to_vec(&()),
            PeerCommand::Pair(request) => serde_json::to_vec(request),
            PeerCommand::NotificationEmail(email) => serde_json::to_vec(email),
        }
    }

    /// The command as it arrives: its name and its JSON input.
    pub fn parse(name: &str, input: &[u8]) -> Result<Self, String> {
        Ok(match name {
            "hello" => PeerCommand::Hello,
            "pair" => PeerCommand::Pair(Box::new(parse(input)?)),
            "leave" => PeerCommand::Leave,
            "handover" => PeerCommand::Handover,
            "notification_email" => PeerCommand::NotificationEmail(parse(input)?),
            "clone_database" => PeerCommand::CloneDatabase,
            "manifest" => PeerCommand::Manifest,
            other => return Err(format!("unknown command {other:?}")),
        })
    }
}

/// Serves the commands on this node.
pub struct RemoteHandler {
    pub agent: Agent,
    pub trusted: TrustedKeys,
    pub public_key: String,
    pub ssh_binding: SshBinding,
}

#[async_trait]
impl CommandHandler for RemoteHandler {
    async fn handle(&self, _peer: &str, command: &str, input: Vec<u8>) -> Result<Vec<u8>, String> {
        tracing::info!(command, "control command from the peer");
        let result = match PeerCommand::parse(command, &input)? {
            PeerCommand::Hello => self.hello().await.and_then(|a| json(&a)),
            PeerCommand::Pair(request) => self.pair(*request).await.and_then(|a| json(&a)),
            PeerCommand::Leave => self.leave().await.map(|()| Vec::new()),
            PeerCommand::Handover => self.handover().await.map(|()| Vec::new()),
            PeerCommand::NotificationEmail(email) => {
                self.notification_email(email).await.map(|()| Vec::new())
            }
            PeerCommand::CloneDatabase => self.clone_database().await.and_then(|a| json(&a)),
            PeerCommand::Manifest => self.manifest().await.and_then(|a| json(&a)),
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
    async fn hello(&self) -> anyhow::Result<Hello> {
        let node = self.agent.node().await;
        Ok(Hello {
            node_id: node.id,
            hostname: node.hostname,
            role: node.role,
            epoch: node.epoch,
        })
    }

    async fn pair(&self, request: PairRequest) -> anyhow::Result<PairResponse> {
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
        // On the sync IP before the answer, so the master's next call finds it there.
        self.ssh_binding.refresh().await;
        Ok(PairResponse {
            node_id: node.id,
            hostname: node.hostname,
            public_key: self.public_key.clone(),
            telephony_interface,
            cluster_interface,
        })
    }

    async fn leave(&self) -> anyhow::Result<()> {
        let node = self.agent.node().await;
        let config = self.agent.store().load_cluster().await?;
        self.agent
            .set_membership(Role::Standby, node.epoch, config.as_ref())
            .await?;
        tracing::info!("this node left the cluster and is standby");
        Ok(())
    }

    /// The master changed the notification address: store it and run on with the
    /// changed configuration, so a takeover mails the new address.
    async fn notification_email(&self, email: String) -> anyhow::Result<()> {
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
        Ok(())
    }

    async fn handover(&self) -> anyhow::Result<()> {
        self.agent.expect_handover().await
    }

    /// On the slave, during Add slave or Add again: its database follows the master's.
    async fn clone_database(&self) -> anyhow::Result<CloneOutcome> {
        let node = self.agent.node().await;
        anyhow::ensure!(
            node.role == Role::Slave,
            "{} is {}, not the slave",
            node.hostname,
            node.role.as_str()
        );
        let config = self
            .agent
            .store()
            .load_cluster()
            .await?
            .ok_or_else(|| anyhow::anyhow!("this node has no cluster configuration"))?;
        let me = config
            .member(node.id)
            .ok_or_else(|| anyhow::anyhow!("this node is not in the cluster configuration"))?;
        let master = config
            .peer_of(node.id)
            .ok_or_else(|| anyhow::anyhow!("this node knows no master"))?;
        let endpoint = |m: &Member| Endpoint {
            hostname: m.hostname.to_string(),
            sync_ip: m.sync_ip,
        };
        let outcome = self
            .agent
            .data_sync()
            .clone_from(&endpoint(me), &endpoint(master), &config.secret)
            .await?;
        tracing::info!(
            outcome = outcome.describe(),
            "the database follows the master"
        );
        Ok(outcome)
    }

    async fn manifest(&self) -> anyhow::Result<Manifest> {
        Ok(Manifest::build(&self.agent.data_sync().file_settings().paths).await?)
    }
}

/// The other node as seen from this one: where it listens and which host key it must
/// present. Each method is one `PeerCommand` with its typed answer.
pub struct Peer<'a> {
    pub key_path: &'a Path,
    pub addr: SocketAddr,
    pub policy: HostKeyPolicy,
}

impl<'a> Peer<'a> {
    /// A member of the cluster at its sync IP, pinned to its known host key (trusted on
    /// first use while none is known).
    pub fn member(key_path: &'a Path, member: &Member, port: u16) -> Self {
        Self {
            key_path,
            addr: SocketAddr::new(member.sync_ip, port),
            policy: member
                .public_key
                .clone()
                .map_or(HostKeyPolicy::TrustOnFirstUse, HostKeyPolicy::Pinned),
        }
    }

    /// Who answers at the address, and the host key it presented.
    pub async fn hello(&self) -> Result<(Hello, String), SshError> {
        let output = self.send(&PeerCommand::Hello).await?;
        Ok((decode(&output, self.addr)?, output.host_key))
    }

    pub async fn pair(&self, request: PairRequest) -> Result<PairResponse, SshError> {
        let output = self.send(&PeerCommand::Pair(Box::new(request))).await?;
        decode(&output, self.addr)
    }

    pub async fn leave(&self) -> Result<(), SshError> {
        self.send(&PeerCommand::Leave).await.map(drop)
    }

    pub async fn handover(&self) -> Result<(), SshError> {
        self.send(&PeerCommand::Handover).await.map(drop)
    }

    /// Asks the slave to copy or rewind the master's database; long, so its own timeout.
    pub async fn clone_database(&self) -> Result<CloneOutcome, SshError> {
        let output = self
            .send_within(&PeerCommand::CloneDatabase, CLONE_TIMEOUT)
            .await?;
        decode(&output, self.addr)
    }

    pub async fn manifest(&self) -> Result<Manifest, SshError> {
        let output = self.send(&PeerCommand::Manifest).await?;
        decode(&output, self.addr)
    }

    pub async fn notification_email(&self, email: &str) -> Result<(), SshError> {
        self.send(&PeerCommand::NotificationEmail(email.to_string()))
            .await
            .map(drop)
    }

    /// Runs a command on the other node with this node's key.
    async fn send(&self, command: &PeerCommand) -> Result<CallOutput, SshError> {
        self.send_within(command, TIMEOUT).await
    }

    async fn send_within(
        &self,
        command: &PeerCommand,
        timeout: Duration,
    ) -> Result<CallOutput, SshError> {
        let addr = self.addr;
        let key = ssh::load_node_key(self.key_path).map_err(|e| SshError::Protocol {
            addr,
            message: format!("{e:#}"),
        })?;
        let input = command.input().map_err(|e| SshError::Protocol {
            addr,
            message: e.to_string(),
        })?;
        ssh::call(
            addr,
            &key,
            self.policy.clone(),
            command.name(),
            &input,
            timeout,
        )
        .await
    }
}

fn decode<T: DeserializeOwned>(output: &CallOutput, addr: SocketAddr) -> Result<T, SshError> {
    serde_json::from_slice(&output.stdout).map_err(|e| SshError::Protocol {
        addr,
        message: format!("unexpected answer: {e}"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_command_is_understood_by_its_own_name_and_input() {
        let commands = [
            PeerCommand::Hello,
            PeerCommand::Leave,
            PeerCommand::Handover,
            PeerCommand::NotificationEmail("ops@example.com".into()),
        ];
        for command in commands {
            let input = command.input().expect("serialisable");
            let parsed = PeerCommand::parse(command.name(), &input).expect("understood");
            assert_eq!(parsed.name(), command.name());
            if let PeerCommand::NotificationEmail(email) = parsed {
                assert_eq!(email, "ops@example.com");
            }
        }
        let err = PeerCommand::parse("reboot", b"null").expect_err("unknown");
        assert!(err.contains("unknown command"), "{err}");
        let err = PeerCommand::parse("pair", b"{}").expect_err("no config");
        assert!(err.contains("not valid"), "{err}");
    }
}
