//! The seed's cluster operations as jobs: Configure master, Prepare slave, Add slave,
//! Remove, Add again and Manual failover. Each validates its input before a job
//! starts (bad input changes nothing), then runs as steps a person can follow.
//! Refusals are `ClusterError`s; the HTTP layer decides what status each one is.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use pequod_api::Hostname;
use pequod_api::cluster::{ConfigureMaster, Role};
use pequod_api::jobs::{JobKind, JobSummary};
use pequod_api::slaves::{AddSlave, ReaddSlave, SlaveState};
use pequod_api::{FieldError, rules};
use rand::RngCore;

use super::agent::Agent;
use super::config::{ClusterConfig, Member};
use super::remote::{PairRequest, Peer};
use super::services;
use super::ssh::{HostKeyPolicy, TrustedKeys};
use super::ssh_binding::SshBinding;
use super::vip;
use crate::jobs::{JobContext, JobRunner};
use crate::storage::{StorageError, Store};
use crate::sync::service::Endpoint;
use crate::sync::settings::DurabilityMode;

/// Why a cluster operation was refused before it started (or could not start).
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    /// Some fields of the request are invalid; nothing was changed.
    #[error("{} field(s) are invalid", .0.len())]
    Invalid(Vec<FieldError>),
    /// Every field is well-formed, but this node cannot do what they ask as things are
    /// (an interface it lacks, an address in use or the master's own); nothing was
    /// changed. The fields are named so a form can show each message under its field.
    #[error("{} field(s) cannot be used on this node", .0.len())]
    Refused(Vec<FieldError>),
    #[error("this node is not in a cluster: run Configure master first")]
    NotInCluster,
    /// Cluster changes are made on the master; `cluster_ip` is where to find it.
    #[error(
        "this node is {}; make cluster changes on the master at the cluster IP {cluster_ip}",
        .role.as_str()
    )]
    NotMaster { role: Role, cluster_ip: String },
    #[error(
        "this node is already {}; a cluster is configured once, on a standalone node",
        .role.as_str()
    )]
    AlreadyInCluster { role: Role },
    #[error("this node is master; Prepare slave runs on the node that is to become the slave")]
    PrepareOnMaster,
    #[error("{hostname} is already the active slave; remove it first")]
    SlaveActive { hostname: String },
    #[error("no slave {hostname} is cached on this master")]
    NotCached { hostname: String },
    #[error("{hostname} is not the active slave of this master")]
    NotActiveSlave { hostname: String },
    #[error("there is no healthy slave to take over: a failover now would leave no master")]
    NoHealthySlave,
    #[error(
        "this node is {}; a forced failover runs on the slave whose master is gone",
        .role.as_str()
    )]
    ForceNotSlave { role: Role },
    #[error(
        "master {master} is still heard: run the manual failover on the master instead of forcing it"
    )]
    MasterStillHeard { master: String },
    #[error(transparent)]
    Storage(#[from] StorageError),
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

impl ClusterError {
    fn field(field: &str, message: impl Into<String>) -> Self {
        ClusterError::Invalid(vec![FieldError {
            field: field.into(),
            message: message.into(),
        }])
    }

    fn refused(field: &str, message: impl Into<String>) -> Self {
        ClusterError::Refused(vec![FieldError {
            field: field.into(),
            message: message.into(),
        }])
    }
}

/// What the cluster operations act on: the agent, the store, the job runner and this
/// node's SSH identity.
#[derive(Clone)]
pub struct Operations {
    pub agent: Agent,
    pub store: Arc<dyn Store>,
    pub jobs: JobRunner,
    /// Keys this node's SSH server accepts; shared with the running server.
    pub trusted_keys: TrustedKeys,
    pub ssh_binding: SshBinding,
    /// This node's SSH private key, for the calls to the peer.
    pub key_path: PathBuf,
    /// This node's SSH public key (OpenSSH format).
    pub public_key: String,
}

impl Operations {
    /// Refuses calls that only the master may make, naming where to go instead.
    async fn require_master(&self) -> Result<ClusterConfig, ClusterError> {
        let node = self.agent.node().await;
        let config = self.store.load_cluster().await?;
        match (node.role, config) {
            (Role::Master, Some(config)) => Ok(config),
            (Role::Standalone, _) | (_, None) => Err(ClusterError::NotInCluster),
            (role, Some(config)) => Err(ClusterError::NotMaster {
                role,
                cluster_ip: config.cluster_address().to_string(),
            }),
        }
    }
}

/// What a slave must not share with its master.
fn master_addresses(master: &Member) -> rules::MasterAddresses {
    rules::MasterAddresses::known(master.hostname.clone(), master.telephony_ip, master.sync_ip)
}

struct SlaveTarget {
    hostname: Hostname,
    telephony_ip: IpAddr,
    sync_ip: IpAddr,
    policy: HostKeyPolicy,
}

impl Operations {
    /// "Configure master".
    pub async fn configure_master(
        &self,
        request: ConfigureMaster,
    ) -> Result<JobSummary, ClusterError> {
        let node = self.agent.node().await;
        if node.role != Role::Standalone {
            return Err(ClusterError::AlreadyInCluster { role: node.role });
        }
        let interfaces = crate::netif::list_interfaces().await?;
        // The body's texts were checked as it was read (a bad one is a 422 before this):
        // what the rules still refuse is about this node (its interfaces, its address).
        let valid =
            rules::configure_master(&request, &interfaces).map_err(ClusterError::Refused)?;
        let cluster_ip = valid.cluster_ip;
        let (telephony_ip, sync_ip) = (IpAddr::V4(valid.telephony_ip), IpAddr::V4(valid.sync_ip));
        if vip::in_use(
            &request.telephony_interface,
            cluster_ip.address,
            Duration::from_secs(1),
        )
        .await?
        {
            return Err(ClusterError::refused(
                "cluster_ip",
                format!(
                    "{} is already in use on the telephony network",
                    cluster_ip.address
                ),
            ));
        }

        let hostname = valid.hostname.unwrap_or(node.hostname.clone());
        let mut secret = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut secret);
        let config = ClusterConfig {
            cluster_ip,
            notification_email: valid.notification_email,
            gateways: valid.gateways,
            secret: secret
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect::<String>()
                .into(),
            master: Member {
                node_id: Some(node.id),
                hostname: hostname.clone(),
                telephony_ip,
                sync_ip,
                telephony_interface: Some(request.telephony_interface.clone()),
                cluster_interface: Some(request.cluster_interface.clone()),
                public_key: Some(self.public_key.clone()),
                state: SlaveState::Active,
            },
            slave: None,
        };
        let agent = self.agent.clone();
        let services = self.agent.settings().services.clone();
        let interface = request.telephony_interface.clone();
        Ok(self
            .jobs
            .submit(
                JobKind::ConfigureMaster,
                format!("Configure master {hostname}"),
                &[
                    "Store the cluster configuration",
                    "Claim the cluster IP",
                    "Start the telephony database",
                    "Start managed services",
                    "Start the cluster agent",
                ],
                move |ctx: JobContext| async move {
                    ctx.step(0).await;
                    if hostname != agent.node().await.hostname {
                        agent.set_hostname(hostname.clone()).await?;
                        ctx.log(format!("host name set to {hostname}")).await;
                    }
                    let epoch = agent.node().await.epoch.max(1);
                    ctx.step(1).await;
                    // Answered by the agent's ARP responder once it runs, moments from now.
                    vip::add(&interface, cluster_ip, vip::Answered::ByPequod).await?;
                    ctx.log(format!("added {cluster_ip} to {interface}")).await;
                    vip::announce(&interface, cluster_ip).await?;
                    ctx.log("sent gratuitous ARP").await;
                    ctx.step(2).await;
                    let sync = agent.data_sync();
                    if sync.manages_database() {
                        sync.init_primary(&Endpoint {
                            hostname: hostname.to_string(),
                            sync_ip,
                        })
                        .await?;
                        ctx.log("the telephony database runs as primary").await;
                    } else {
                        ctx.log("no telephony database is managed on this node ([database])")
                            .await;
                    }
                    ctx.step(3).await;
                    services::start_all(&services).await?;
                    ctx.log(format!("{} managed service(s) running", services.len()))
                        .await;
                    ctx.step(4).await;
                    agent
                        .set_membership(Role::Master, epoch, Some(&config))
                        .await?;
                    ctx.log(format!("this node is master of epoch {epoch}"))
                        .await;
                    Ok(())
                },
            )
            .await?)
    }

    /// "Prepare slave": trust the master's key.
    pub async fn prepare_slave(
        &self,
        master_public_key: String,
    ) -> Result<JobSummary, ClusterError> {
        let node = self.agent.node().await;
        if matches!(node.role, Role::Master) {
            return Err(ClusterError::PrepareOnMaster);
        }
        let key = master_public_key.trim().to_string();
        let parsed = ssh_key::PublicKey::from_openssh(&key).map_err(|e| {
        ClusterError::field(
            "master_public_key",
            format!(
                "not an OpenSSH public key ({e}); copy it from the master's Cluster Management page"
            ),
        )
    })?;
        if parsed.algorithm() != ssh_key::Algorithm::Ed25519 {
            return Err(ClusterError::field(
                "master_public_key",
                "must be the master's ssh-ed25519 key",
            ));
        }
        let own = self
            .public_key
            .split_whitespace()
            .take(2)
            .collect::<Vec<_>>()
            .join(" ");
        if key.split_whitespace().take(2).collect::<Vec<_>>().join(" ") == own {
            return Err(ClusterError::refused(
                "master_public_key",
                "this is this node's own key; paste the master's",
            ));
        }
        let store = self.store.clone();
        let trusted = self.trusted_keys.clone();
        let ssh_binding = self.ssh_binding.clone();
        Ok(self
            .jobs
            .submit(
                JobKind::PrepareSlave,
                format!("Prepare {} as slave", node.hostname),
                &["Trust the master's key", "Wait for the master"],
                move |ctx: JobContext| async move {
                    ctx.step(0).await;
                    store.trust_key(&key).await?;
                    trusted.add(&key)?;
                    ssh_binding.refresh().await;
                    ctx.log(format!(
                        "the SSH server now accepts {}",
                        key.split_whitespace().take(2).collect::<Vec<_>>().join(" ")
                    ))
                    .await;
                    ctx.step(1).await;
                    ctx.log("ready: add this node on the master with Add slave")
                        .await;
                    Ok(())
                },
            )
            .await?)
    }

    /// "Add slave".
    pub async fn add_slave(&self, request: AddSlave) -> Result<JobSummary, ClusterError> {
        let config = self.require_master().await?;
        let valid = rules::slave(
            Some(request.hostname.as_str()),
            &request.telephony_ip,
            &request.sync_ip,
            &master_addresses(&config.master),
        )
        // Well-formed (the body was checked as it was read), but the master's own.
        .map_err(ClusterError::Refused)?;
        let (telephony_ip, sync_ip) = (valid.telephony_ip, valid.sync_ip);
        if let Some(slave) = config
            .slave
            .as_ref()
            .filter(|s| s.state == SlaveState::Active)
        {
            return Err(ClusterError::SlaveActive {
                hostname: slave.hostname.to_string(),
            });
        }
        self.pair(
            JobKind::AddSlave,
            SlaveTarget {
                hostname: request.hostname,
                telephony_ip,
                sync_ip,
                policy: HostKeyPolicy::TrustOnFirstUse,
            },
        )
        .await
    }

    /// "Add again": the cached slave, or new data for a replaced node.
    pub async fn readd_slave(
        &self,
        hostname: &str,
        request: ReaddSlave,
    ) -> Result<JobSummary, ClusterError> {
        let config = self.require_master().await?;
        let cached = config
            .slave
            .clone()
            .filter(|s| s.hostname.as_str() == hostname)
            .ok_or_else(|| ClusterError::NotCached {
                hostname: hostname.to_string(),
            })?;
        if cached.state == SlaveState::Active {
            return Err(ClusterError::SlaveActive {
                hostname: hostname.to_string(),
            });
        }
        let replaced = request.telephony_ip.is_some() || request.sync_ip.is_some();
        let telephony = request
            .telephony_ip
            .unwrap_or(cached.telephony_ip.to_string());
        let sync = request.sync_ip.unwrap_or(cached.sync_ip.to_string());
        let valid = rules::slave(None, &telephony, &sync, &master_addresses(&config.master))
            .map_err(ClusterError::Refused)?;
        let (telephony_ip, sync_ip) = (valid.telephony_ip, valid.sync_ip);
        let policy = match (&cached.public_key, replaced) {
            (Some(key), false) => HostKeyPolicy::Pinned(key.clone()),
            _ => HostKeyPolicy::TrustOnFirstUse,
        };
        self.pair(
            JobKind::ReaddSlave,
            SlaveTarget {
                hostname: cached.hostname,
                telephony_ip,
                sync_ip,
                policy,
            },
        )
        .await
    }

    async fn pair(&self, kind: JobKind, target: SlaveTarget) -> Result<JobSummary, ClusterError> {
        let agent = self.agent.clone();
        let store = self.store.clone();
        let trusted = self.trusted_keys.clone();
        let key_path = self.key_path.clone();
        let public_key = self.public_key.clone();
        let port = agent.settings().peer_ssh_port;
        let title = match kind {
            JobKind::ReaddSlave => format!("Add {} again", target.hostname),
            _ => format!("Add slave {}", target.hostname),
        };
        Ok(self
            .jobs
            .submit(
                kind,
                title,
                &[
                    "Connect to the slave over SSH",
                    "Exchange keys and the cluster secret",
                    "Push the cluster configuration",
                    "Copy the database to the slave",
                    "Initial file sync",
                    "Wait for the slave's heartbeats",
                ],
                move |ctx: JobContext| async move {
                    let addr = SocketAddr::new(target.sync_ip, port);
                    ctx.step(0).await;
                    let (info, host_key) = Peer {
                        key_path: &key_path,
                        addr,
                        policy: target.policy.clone(),
                    }
                    .hello()
                    .await?;
                    ctx.log(format!(
                        "connected to {} ({}), host key {}",
                        info.hostname, addr, host_key
                    ))
                    .await;
                    anyhow::ensure!(
                        info.hostname == target.hostname,
                        "the node at {addr} is called {}, not {}: correct the host name",
                        info.hostname,
                        target.hostname
                    );
                    let pinned = HostKeyPolicy::Pinned(host_key.clone());

                    ctx.step(1).await;
                    let node = agent.node().await;
                    let mut config = store
                        .load_cluster()
                        .await?
                        .ok_or_else(|| anyhow::anyhow!("the cluster configuration is gone"))?;
                    config.slave = Some(Member {
                        node_id: Some(info.node_id),
                        hostname: target.hostname.clone(),
                        telephony_ip: target.telephony_ip,
                        sync_ip: target.sync_ip,
                        telephony_interface: None,
                        cluster_interface: None,
                        public_key: Some(host_key.clone()),
                        state: SlaveState::Active,
                    });
                    let request = PairRequest {
                        config: config.clone(),
                        epoch: node.epoch,
                        master_public_key: public_key.clone(),
                    };
                    let paired = Peer {
                        key_path: &key_path,
                        addr,
                        policy: pinned,
                    }
                    .pair(request)
                    .await?;
                    store.trust_key(&paired.public_key).await?;
                    trusted.add(&paired.public_key)?;
                    ctx.log(format!(
                        "{} trusts this master; this master trusts {}",
                        paired.hostname, paired.hostname
                    ))
                    .await;

                    ctx.step(2).await;
                    if let Some(slave) = config.slave.as_mut() {
                        slave.telephony_interface = Some(paired.telephony_interface.clone());
                        slave.cluster_interface = Some(paired.cluster_interface.clone());
                        slave.public_key = Some(paired.public_key.clone());
                    }
                    agent
                        .set_membership(Role::Master, node.epoch, Some(&config))
                        .await?;
                    ctx.log(format!(
                        "{} uses {} (telephony) and {} (cluster)",
                        paired.hostname, paired.telephony_interface, paired.cluster_interface
                    ))
                    .await;

                    ctx.step(3).await;
                    let sync = agent.data_sync();
                    let peer = Peer {
                        key_path: &key_path,
                        addr,
                        policy: HostKeyPolicy::Pinned(paired.public_key.clone()),
                    };
                    if sync.manages_database() {
                        let outcome = peer.clone_database().await?;
                        ctx.log(outcome.describe()).await;
                        let wants_sync = sync
                            .database_settings()
                            .is_some_and(|db| db.durability == DurabilityMode::Sync);
                        let mut state = sync.subscribe();
                        let streaming = tokio::time::timeout(
                            Duration::from_secs(60),
                            state.wait_for(|s| {
                                s.database.as_ref().is_some_and(|db| {
                                    db.standby_streaming == Some(true)
                                        && (!wants_sync
                                            || db.durability == Some(DurabilityMode::Sync))
                                })
                            }),
                        )
                        .await
                        .is_ok_and(|seen| seen.is_ok());
                        anyhow::ensure!(
                            streaming,
                            "{} does not stream the database within 60 s",
                            target.hostname
                        );
                        ctx.log(if wants_sync {
                            format!("{} streams; commits wait for it (sync)", target.hostname)
                        } else {
                            format!("{} streams (async)", target.hostname)
                        })
                        .await;
                    } else {
                        ctx.log("no telephony database is managed ([database])")
                            .await;
                    }

                    ctx.step(4).await;
                    let paths = sync.file_settings().paths.len();
                    if paths > 0 {
                        // A push that could not start (a synced path missing here) is
                        // said at once rather than waited for.
                        anyhow::ensure!(
                            sync.state().files.is_some(),
                            "file sync to {} did not start: each of [files] paths must be a directory on this master (see its log)",
                            target.hostname
                        );
                        let mut state = sync.subscribe();
                        let passed = tokio::time::timeout(
                            Duration::from_secs(600),
                            state.wait_for(|s| {
                                s.files.as_ref().is_some_and(|f| f.last_full_pass.is_some())
                            }),
                        )
                        .await
                        .is_ok_and(|seen| seen.is_ok());
                        let files = sync.state().files.unwrap_or_default();
                        match (passed, files.last_error) {
                            (true, None) => {
                                ctx.log(format!(
                                    "{paths} synced path(s) mirrored on {}",
                                    target.hostname
                                ))
                                .await
                            }
                            (_, Some(failed)) => anyhow::bail!(
                                "the first file sync to {} failed: {}",
                                target.hostname,
                                failed.error.map(|e| e.to_string()).unwrap_or_default()
                            ),
                            _ => anyhow::bail!(
                                "the first file sync to {} did not finish within 10 minutes",
                                target.hostname
                            ),
                        }
                    } else {
                        ctx.log("no synced paths are configured ([files])").await;
                    }

                    ctx.step(5).await;
                    let view = agent
                        .wait_for_view(Duration::from_secs(20), |view| {
                            view.peer.as_ref().is_some_and(|p| {
                                p.role == Some(Role::Slave) && p.telephony_alive && p.cluster_alive
                            })
                        })
                        .await
                        .ok_or_else(|| {
                            anyhow::anyhow!(
                                "no heartbeats from {} on both links within 20 s",
                                target.hostname
                            )
                        })?;
                    if let Some(peer) = view.peer {
                        ctx.log(format!("{} answers on both links as slave", peer.hostname))
                            .await;
                    }
                    Ok(())
                },
            )
            .await?)
    }

    /// "Remove": the slave leaves and its data stays cached for "Add again".
    pub async fn remove_slave(&self, hostname: &str) -> Result<JobSummary, ClusterError> {
        let config = self.require_master().await?;
        let slave = config
            .slave
            .clone()
            .filter(|s| s.hostname.as_str() == hostname && s.state == SlaveState::Active)
            .ok_or_else(|| ClusterError::NotActiveSlave {
                hostname: hostname.to_string(),
            })?;
        let agent = self.agent.clone();
        let key_path = self.key_path.clone();
        let port = agent.settings().peer_ssh_port;
        Ok(self
            .jobs
            .submit(
                JobKind::RemoveSlave,
                format!("Remove slave {hostname}"),
                &["Tell the slave to leave", "Keep its data for Add again"],
                move |ctx: JobContext| async move {
                    ctx.step(0).await;
                    let peer = Peer::member(&key_path, &slave, port);
                    match peer.leave().await {
                        Ok(_) => ctx.log(format!("{} is standby now", slave.hostname)).await,
                        Err(err) => {
                            ctx.log(format!(
                                "{} did not answer ({err}); removing it anyway",
                                slave.hostname
                            ))
                            .await
                        }
                    }
                    ctx.step(1).await;
                    agent
                        .data_sync()
                        .forget_slave(&Endpoint {
                            hostname: slave.hostname.to_string(),
                            sync_ip: slave.sync_ip,
                        })
                        .await?;
                    ctx.log(
                        "the database no longer replicates to it, its files are no longer pushed",
                    )
                    .await;
                    let mut config = config;
                    if let Some(s) = config.slave.as_mut() {
                        s.state = SlaveState::Removed;
                    }
                    let node = agent.node().await;
                    agent
                        .set_membership(Role::Master, node.epoch, Some(&config))
                        .await?;
                    ctx.log("the master keeps the cluster IP and its services")
                        .await;
                    Ok(())
                },
            )
            .await?)
    }

    /// A forced failover on the slave whose master is gone: it takes over although its
    /// database may lack commits the master acknowledged; the job records how much.
    /// Returns the job and the last decision's sentence (what may be lost).
    pub async fn forced_failover(&self) -> Result<(JobSummary, String), ClusterError> {
        let node = self.agent.node().await;
        if node.role != Role::Slave {
            return Err(ClusterError::ForceNotSlave { role: node.role });
        }
        let view = self.agent.view();
        if let Some(master) = view.peer.as_ref().filter(|p| p.alive()) {
            return Err(ClusterError::MasterStillHeard {
                master: master.hostname.clone(),
            });
        }
        let agent = self.agent.clone();
        let why = view
            .last_decision
            .as_ref()
            .map(|d| d.reason.clone())
            .unwrap_or_else(|| "no decision was made yet".into());
        let reason = why.clone();
        let job = self
            .jobs
            .submit(
                JobKind::ManualFailover,
                format!("Forced failover to {}", node.hostname),
                &[
                    "Record what may be lost",
                    "Take over",
                    "Wait for the cluster IP",
                ],
                move |ctx: JobContext| async move {
                    ctx.step(0).await;
                    ctx.log(format!("forced by a person; the last decision was: {why}"))
                        .await;
                    ctx.step(1).await;
                    agent.force_takeover().await?;
                    ctx.step(2).await;
                    agent
                        .wait_for_view(Duration::from_secs(10), |view| view.holds_vip)
                        .await
                        .ok_or_else(|| {
                            anyhow::anyhow!("this node did not take over within 10 s")
                        })?;
                    ctx.log("this node is master and holds the cluster IP")
                        .await;
                    Ok(())
                },
            )
            .await?;
        Ok((job, reason))
    }

    /// "Manual failover": this master steps down and the slave takes over.
    pub async fn manual_failover(&self) -> Result<JobSummary, ClusterError> {
        self.require_master().await?;
        let slave = self
            .agent
            .healthy_slave()
            .await
            .ok_or(ClusterError::NoHealthySlave)?;
        let agent = self.agent.clone();
        let key_path = self.key_path.clone();
        let port = agent.settings().peer_ssh_port;
        Ok(self
            .jobs
            .submit(
                JobKind::ManualFailover,
                format!("Manual failover to {}", slave.hostname),
                &[
                    "Ask the slave to stand ready",
                    "Stop services and release the cluster IP",
                    "Wait for the new master",
                ],
                move |ctx: JobContext| async move {
                    ctx.step(0).await;
                    // If the slave cannot be reached, nothing has changed yet: the job fails
                    // and this master keeps its duties.
                    Peer::member(&key_path, &slave, port).handover().await?;
                    ctx.log(format!("{} is ready to take over", slave.hostname))
                        .await;
                    ctx.step(1).await;
                    agent
                        .step_down_for_failover(&format!(
                            "A manual failover hands the master's duties to {}.",
                            slave.hostname
                        ))
                        .await?;
                    ctx.log("this node is standby now").await;
                    ctx.step(2).await;
                    agent
                        .wait_for_view(Duration::from_secs(10), |view| {
                            view.peer_holds_vip
                                && view
                                    .peer
                                    .as_ref()
                                    .is_some_and(|p| p.role == Some(Role::Master))
                        })
                        .await
                        .ok_or_else(|| {
                            anyhow::anyhow!("{} did not become master within 10 s", slave.hostname)
                        })?;
                    ctx.log(format!(
                        "{} is master and holds the cluster IP",
                        slave.hostname
                    ))
                    .await;
                    Ok(())
                },
            )
            .await?)
    }
}
