//! The cluster agent: every heartbeat interval it gathers a snapshot (own role and
//! epoch, the cluster IP, the peer's heartbeats, the gateway probe), asks `decide()`
//! what to do and performs that one transition. Side effects — cluster IP, services,
//! role changes, failover records — happen only here.

use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use pequod_api::cluster::{Cluster, ClusterMode, Lamp, Role};
use pequod_api::events::Event;
use pequod_api::jobs::JobKind;
use pequod_api::slaves::SlaveState;
use tokio::sync::{Mutex, watch};

use super::config::{ClusterConfig, Member};
use super::decide::{self, Action, Decision, Health, PeerView, Snapshot, Startup};
use super::heartbeat::{Heartbeats, Link, LinkEndpoints, OwnState};
use super::settings::ClusterSettings;
use super::vip::{self, ClusterIp};
use super::{lamp, probe, services};
use crate::events::EventBus;
use crate::jobs::JobRunner;
use crate::storage::{NodeRecord, StorageError, Store};

/// What the API shows about the agent's latest cycle.
#[derive(Debug, Clone, Default)]
pub struct AgentView {
    pub peer: Option<PeerView>,
    pub peer_last_heartbeat: Option<DateTime<Utc>>,
    /// When the peer was last heard on each link (links never heard are left out).
    pub peer_link_heartbeats: Vec<(Link, DateTime<Utc>)>,
    /// Received and dropped heartbeat packets since the heartbeats (re)started.
    pub heartbeat_stats: Option<Arc<super::heartbeat::HeartbeatStats>>,
    pub peer_holds_vip: bool,
    pub holds_vip: bool,
    pub reaches_telephony: bool,
    pub last_decision: Option<Decision>,
}

#[derive(Clone)]
pub struct Agent {
    inner: Arc<Inner>,
}

struct Inner {
    store: Arc<dyn Store>,
    events: EventBus,
    jobs: JobRunner,
    settings: ClusterSettings,
    /// The node's role and epoch; every change goes through the agent and the store.
    node: Mutex<NodeRecord>,
    runtime: Mutex<Option<Runtime>>,
    own: watch::Sender<OwnState>,
    view: std::sync::RwLock<AgentView>,
    task: Mutex<Option<tokio::task::JoinHandle<()>>>,
    /// Set by the master's "handover" before a manual failover.
    handover_until: std::sync::Mutex<Option<Instant>>,
    /// The latest results of the health checks, for the lamp and Cluster Status.
    checks: std::sync::RwLock<Vec<pequod_api::checks::Check>>,
}

/// The titles of the jobs that record a takeover by this node; notifications look for them.
pub const TAKEOVER_TITLE: &str = "Failover: this node took over";
pub const MANUAL_TAKEOVER_TITLE: &str = "Manual failover: this node took over";

/// How long a announced handover stays due.
const HANDOVER_WINDOW: Duration = Duration::from_secs(10);

/// The parts that run while the node is in a cluster.
struct Runtime {
    config: ClusterConfig,
    cluster_ip: ClusterIp,
    telephony_interface: String,
    heartbeats: Option<Heartbeats>,
    reachable: Arc<std::sync::atomic::AtomicBool>,
    probe: tokio::task::JoinHandle<()>,
    startup: Startup,
    grace_until: Option<Instant>,
    last_announce: Option<Instant>,
}

impl Drop for Runtime {
    fn drop(&mut self) {
        self.probe.abort();
    }
}

impl Agent {
    pub fn new(
        store: Arc<dyn Store>,
        events: EventBus,
        jobs: JobRunner,
        settings: ClusterSettings,
        node: NodeRecord,
    ) -> Self {
        let (own, _) = watch::channel(OwnState {
            hostname: node.hostname.to_string(),
            role: node.role,
            epoch: node.epoch,
            reaches_telephony: true,
            holds_vip: false,
        });
        Self {
            inner: Arc::new(Inner {
                store,
                events,
                jobs,
                settings,
                node: Mutex::new(node),
                runtime: Mutex::new(None),
                own,
                view: std::sync::RwLock::new(AgentView::default()),
                task: Mutex::new(None),
                handover_until: std::sync::Mutex::new(None),
                checks: std::sync::RwLock::new(Vec::new()),
            }),
        }
    }

    /// On a stop: the master stops its services and releases the cluster IP so the
    /// slave can take over without two holders; the loop and heartbeats end.
    pub async fn shutdown(&self) {
        if let Some(task) = self.inner.task.lock().await.take() {
            task.abort();
        }
        let mut runtime = self.inner.runtime.lock().await.take();
        if let Some(old) = runtime.as_mut().and_then(|rt| rt.heartbeats.take()) {
            old.stop().await;
        }
        let node = self.node().await;
        if let (Some(rt), Role::Master) = (runtime, node.role) {
            if let Err(err) = services::stop_all(&self.inner.settings.services).await {
                tracing::error!(error = format!("{err:#}"), "stopping services at shutdown");
            }
            if let Err(err) = vip::remove(&rt.telephony_interface, rt.cluster_ip).await {
                tracing::error!(
                    error = format!("{err:#}"),
                    "releasing the cluster IP at shutdown"
                );
            }
            tracing::info!("released the cluster IP for the shutdown");
        }
    }

    pub fn settings(&self) -> &ClusterSettings {
        &self.inner.settings
    }

    pub fn store(&self) -> &Arc<dyn Store> {
        &self.inner.store
    }

    pub async fn node(&self) -> NodeRecord {
        self.inner.node.lock().await.clone()
    }

    pub fn view(&self) -> AgentView {
        self.inner
            .view
            .read()
            .map(|v| v.clone())
            .unwrap_or_default()
    }

    /// Waits until the agent's latest cycle shows `condition`, or `timeout` passes.
    pub async fn wait_for_view(
        &self,
        timeout: Duration,
        condition: impl Fn(&AgentView) -> bool,
    ) -> Option<AgentView> {
        let deadline = Instant::now() + timeout;
        loop {
            let view = self.view();
            if condition(&view) {
                return Some(view);
            }
            if Instant::now() >= deadline {
                return None;
            }
            tokio::time::sleep(self.interval() / 2).await;
        }
    }

    /// Takes the check engine's latest results.
    pub async fn set_checks(&self, checks: Vec<pequod_api::checks::Check>) {
        if let Ok(mut slot) = self.inner.checks.write() {
            *slot = checks;
        }
    }

    pub fn checks(&self) -> Vec<pequod_api::checks::Check> {
        self.inner
            .checks
            .read()
            .map(|c| c.clone())
            .unwrap_or_default()
    }

    /// The configured cluster IP, once in a cluster.
    pub async fn cluster_ip(&self) -> Option<ClusterIp> {
        self.inner
            .runtime
            .lock()
            .await
            .as_ref()
            .map(|rt| rt.cluster_ip)
    }

    fn interval(&self) -> Duration {
        Duration::from_millis(self.inner.settings.heartbeat_interval_ms.max(10))
    }

    fn dead_after(&self) -> Duration {
        Duration::from_millis(self.inner.settings.dead_after_ms.max(20))
    }

    /// Loads the configuration and starts (or restarts) what the role needs. A node
    /// whose stored role is master first listens for a peer for the grace period.
    pub async fn start(&self) -> anyhow::Result<()> {
        let node = self.node().await;
        let grace = node.role == Role::Master;
        self.reload(grace).await?;
        let agent = self.clone();
        *self.inner.task.lock().await = Some(tokio::spawn(async move { agent.run().await }));
        Ok(())
    }

    /// Rebuilds the runtime from the store (after a configuration change).
    pub async fn reload(&self, startup_grace: bool) -> anyhow::Result<()> {
        let node = self.node().await;
        let config = self.inner.store.load_cluster().await?;
        let mut runtime = self.inner.runtime.lock().await;
        // Close the old heartbeat sockets before binding the new ones.
        if let Some(old) = runtime.as_mut().and_then(|rt| rt.heartbeats.take()) {
            old.stop().await;
        }
        *runtime = None;
        let Some(config) = config.filter(|_| node.role != Role::Standalone) else {
            return Ok(());
        };
        let me = config
            .member(node.id)
            .ok_or_else(|| {
                anyhow::anyhow!("this node is not part of the stored cluster configuration")
            })?
            .clone();
        let cluster_ip = ClusterIp::parse(&config.cluster_ip).map_err(anyhow::Error::msg)?;
        let telephony_interface = me
            .telephony_interface
            .clone()
            .ok_or_else(|| anyhow::anyhow!("the telephony interface of this node is not known"))?;
        let heartbeats = match config.peer_of(node.id) {
            Some(peer) => Some(
                Heartbeats::start(
                    node.id,
                    config.secret.as_bytes().to_vec(),
                    &[
                        LinkEndpoints {
                            link: Link::Telephony,
                            local: me.telephony_ip,
                            peer: peer.telephony_ip,
                        },
                        LinkEndpoints {
                            link: Link::Cluster,
                            local: me.sync_ip,
                            peer: peer.sync_ip,
                        },
                    ],
                    self.inner.settings.heartbeat_port,
                    self.interval(),
                    self.inner.own.subscribe(),
                )
                .await?,
            ),
            None => None,
        };
        let (reachable, probe) = probe::spawn(
            telephony_interface.clone(),
            config.gateways.clone(),
            Duration::from_millis(self.inner.settings.probe_interval_ms.max(50)),
            self.inner.settings.probe_misses.max(1),
        );
        let (startup, grace_until) = if startup_grace && node.role == Role::Master {
            let grace = Duration::from_millis(self.inner.settings.startup_grace_ms);
            tracing::info!(
                ?grace,
                "this node was master: listening for a peer master before claiming the cluster IP"
            );
            (Startup::Grace, Some(Instant::now() + grace))
        } else {
            (Startup::Settled, None)
        };
        *runtime = Some(Runtime {
            config,
            cluster_ip,
            telephony_interface,
            heartbeats,
            reachable,
            probe,
            startup,
            grace_until,
            last_announce: None,
        });
        Ok(())
    }

    async fn run(&self) {
        let interval = self.interval();
        let dead_after = self.dead_after();
        let mut ticker = tokio::time::interval(interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        let mut last_tick = Instant::now();
        let mut stalled_until: Option<Instant> = None;
        loop {
            ticker.tick().await;
            let now = Instant::now();
            // Stall guard: when our own loop ran late, the silence we saw was ours.
            if now.saturating_duration_since(last_tick) > interval + dead_after / 2 {
                tracing::warn!(late_by = ?now.saturating_duration_since(last_tick), "the agent's loop ran late");
                stalled_until = Some(now + dead_after);
            }
            last_tick = now;
            let stalled = stalled_until.is_some_and(|until| now < until);
            if let Err(err) = self.cycle(stalled).await {
                tracing::error!(error = format!("{err:#}"), "agent cycle failed");
            }
        }
    }

    async fn cycle(&self, stalled: bool) -> anyhow::Result<()> {
        let mut guard = self.inner.runtime.lock().await;
        let Some(rt) = guard.as_mut() else {
            return Ok(());
        };
        let node = self.node().await;
        let now = Instant::now();
        let dead_after = self.dead_after();
        let mut holds_vip = vip::is_present(&rt.telephony_interface, rt.cluster_ip)
            .await
            .unwrap_or(false);
        let reaches_telephony = rt.reachable.load(Ordering::Relaxed);

        let wall_clock = |seen: Instant| {
            Utc::now()
                - chrono::Duration::from_std(now.saturating_duration_since(seen))
                    .unwrap_or_default()
        };
        let mut peer_link_heartbeats = Vec::new();
        let (peer, peer_last, peer_holds_vip) = match (&rt.heartbeats, rt.config.peer_of(node.id)) {
            (Some(hb), Some(member)) => {
                let links = hb.peer.lock().await;
                let latest = links.latest.clone();
                let last_seen = links.last_seen.values().max().copied();
                for link in [Link::Telephony, Link::Cluster] {
                    if let Some(seen) = links.last_seen.get(&link) {
                        peer_link_heartbeats.push((link, wall_clock(*seen)));
                    }
                }
                let view = PeerView {
                    node_id: member.node_id.unwrap_or(node.id),
                    hostname: member.hostname.to_string(),
                    telephony_alive: links.alive(Link::Telephony, dead_after, now, hb.started),
                    cluster_alive: links.alive(Link::Cluster, dead_after, now, hb.started),
                    // Until its first heartbeat, the peer is what the configuration
                    // says, in good health: "not heard yet" is no evidence of trouble.
                    role: latest.as_ref().map(|h| h.role).unwrap_or(
                        if rt.config.master.node_id == member.node_id {
                            Role::Master
                        } else {
                            Role::Slave
                        },
                    ),
                    epoch: latest.as_ref().map(|h| h.epoch).unwrap_or(node.epoch),
                    reaches_telephony: latest.as_ref().is_none_or(|h| h.reaches_telephony),
                };
                let last = last_seen.map(wall_clock);
                let vip = view.alive() && latest.is_some_and(|h| h.holds_vip);
                (Some(view), last, vip)
            }
            _ => (None, None, false),
        };

        if let (Startup::Grace, Some(until)) = (rt.startup, rt.grace_until)
            && now >= until
        {
            let taken = vip::in_use(
                &rt.telephony_interface,
                rt.cluster_ip.address,
                Duration::from_secs(1),
            )
            .await
            .unwrap_or(false);
            rt.startup = Startup::GraceOver { vip_taken: taken };
        }

        // A failover check the agent does not judge itself (RAID) in hard CRITICAL.
        let mut cluster_error = crate::checks::engine::failover_problem(&self.checks())
            .filter(|_| node.role == Role::Master)
            .map(|problem| format!("a failover check is critical ({problem})"));
        if node.role == Role::Master && rt.startup == Startup::Settled && !holds_vip {
            // The address vanished (someone removed it, the interface flapped): put it back.
            tracing::warn!(ip = %rt.cluster_ip, "the cluster IP is missing on the master; adding it again");
            match vip::add(&rt.telephony_interface, rt.cluster_ip).await {
                Ok(()) => {
                    holds_vip = true;
                    spawn_announce(rt.telephony_interface.clone(), rt.cluster_ip);
                }
                Err(err) => cluster_error = Some(format!("cannot hold the cluster IP: {err:#}")),
            }
        }

        let snapshot = Snapshot {
            node_id: node.id,
            role: node.role,
            epoch: node.epoch,
            holds_vip,
            peer: peer.clone(),
            startup: rt.startup,
        };
        let health = Health {
            reaches_telephony,
            loop_stalled: stalled,
            cluster_error,
        };
        let decision = decide::decide(&snapshot, &health);
        let changed = {
            let view = self.view();
            view.last_decision.as_ref().map(|d| &d.reason) != Some(&decision.reason)
        };
        if changed {
            match decision.action {
                Action::Stay => tracing::info!("{}", decision.reason),
                _ => tracing::warn!("{}", decision.reason),
            }
        }
        if let Ok(mut view) = self.inner.view.write() {
            *view = AgentView {
                peer,
                peer_last_heartbeat: peer_last,
                peer_link_heartbeats,
                heartbeat_stats: rt.heartbeats.as_ref().map(|hb| hb.stats.clone()),
                peer_holds_vip,
                holds_vip,
                reaches_telephony,
                last_decision: Some(decision.clone()),
            };
        }
        self.inner.own.send_modify(|own| {
            own.role = node.role;
            own.epoch = node.epoch;
            own.reaches_telephony = reaches_telephony;
            own.holds_vip = holds_vip;
            own.hostname = node.hostname.to_string();
        });

        match decision.action {
            Action::Stay | Action::Warn => {}
            Action::TakeOver => {
                let kind = if self.take_handover() {
                    JobKind::ManualFailover
                } else {
                    JobKind::AutomaticFailover
                };
                self.take_over(rt, &decision.reason, kind).await;
            }
            Action::StepDown => {
                self.step_down(rt, &decision.reason).await;
            }
            Action::ReleaseVip => {
                if let Err(err) = vip::remove(&rt.telephony_interface, rt.cluster_ip).await {
                    tracing::error!(
                        error = format!("{err:#}"),
                        "could not release the cluster IP"
                    );
                }
            }
            Action::Reannounce => {
                if rt
                    .last_announce
                    .is_none_or(|at| at.elapsed() > Duration::from_secs(1))
                {
                    rt.last_announce = Some(Instant::now());
                    spawn_announce(rt.telephony_interface.clone(), rt.cluster_ip);
                }
            }
            Action::ResumeMaster => {
                rt.startup = Startup::Settled;
                let mut log = vec![decision.reason.clone()];
                log.extend(self.claim(rt).await);
                self.record(JobKind::AutomaticFailover, "Resume as master", log, None)
                    .await;
            }
        }
        if changed {
            self.publish_cluster().await;
        }
        Ok(())
    }

    /// Adds the cluster IP, announces it and starts the services; returns log lines.
    async fn claim(&self, rt: &mut Runtime) -> Vec<String> {
        let mut log = Vec::new();
        match vip::add(&rt.telephony_interface, rt.cluster_ip).await {
            Ok(()) => log.push(format!(
                "added {} to {}",
                rt.cluster_ip, rt.telephony_interface
            )),
            Err(err) => log.push(format!("could not add the cluster IP: {err:#}")),
        }
        spawn_announce(rt.telephony_interface.clone(), rt.cluster_ip);
        rt.last_announce = Some(Instant::now());
        log.push("sent gratuitous ARP".into());
        match services::start_all(&self.inner.settings.services).await {
            Ok(()) => log.push(format!(
                "started {} managed service(s)",
                self.inner.settings.services.len()
            )),
            Err(err) => log.push(format!("a service did not start: {err:#}")),
        }
        log
    }

    /// Slave → master: a new epoch, the cluster IP, the services; the old master is
    /// kept as the node to "Add again".
    async fn take_over(&self, rt: &mut Runtime, reason: &str, kind: JobKind) {
        let started = Instant::now();
        let mut node = self.inner.node.lock().await;
        node.epoch += 1;
        node.role = Role::Master;
        let mut config = rt.config.clone();
        if config.master.node_id != Some(node.id)
            && let Some(mut me) = config.slave.take()
        {
            let mut old_master = config.master.clone();
            old_master.state = SlaveState::Removed;
            me.state = SlaveState::Active;
            config.master = me;
            config.slave = Some(old_master);
        }
        if let Err(err) = self.inner.store.save_cluster(&node, Some(&config)).await {
            tracing::error!(error = %err, "could not store the new role; continuing the takeover");
        }
        let epoch = node.epoch;
        let snapshot = node.clone();
        drop(node);
        rt.config = config;
        rt.startup = Startup::Settled;
        let mut log = vec![reason.to_string(), format!("claimed epoch {epoch}")];
        log.extend(self.claim(rt).await);
        log.push(format!("took over in {} ms", started.elapsed().as_millis()));
        self.inner.own.send_modify(|own| {
            own.role = snapshot.role;
            own.epoch = snapshot.epoch;
            own.holds_vip = true;
        });
        tracing::warn!(
            epoch,
            elapsed_ms = started.elapsed().as_millis() as u64,
            "this node is now master"
        );
        let title = match kind {
            JobKind::ManualFailover => MANUAL_TAKEOVER_TITLE,
            _ => TAKEOVER_TITLE,
        };
        self.record(kind, title, log, None).await;
        self.publish_cluster().await;
    }

    /// Master → standby: services stop, the cluster IP goes.
    async fn step_down(&self, rt: &mut Runtime, reason: &str) {
        let mut log = vec![reason.to_string()];
        if let Err(err) = services::stop_all(&self.inner.settings.services).await {
            log.push(format!("stopping services: {err:#}"));
        } else {
            log.push("stopped the managed services".into());
        }
        match vip::remove(&rt.telephony_interface, rt.cluster_ip).await {
            Ok(()) => log.push(format!("released {}", rt.cluster_ip)),
            Err(err) => log.push(format!("could not release the cluster IP: {err:#}")),
        }
        {
            let mut node = self.inner.node.lock().await;
            node.role = Role::Standby;
            if let Err(err) = self.inner.store.save_node(&node).await {
                tracing::error!(error = %err, "could not store the standby role");
            }
            self.inner.own.send_modify(|own| {
                own.role = Role::Standby;
                own.holds_vip = false;
            });
        }
        rt.startup = Startup::Settled;
        self.record(
            JobKind::AutomaticFailover,
            "Stepped down to standby",
            log,
            None,
        )
        .await;
        self.publish_cluster().await;
    }

    /// Hands the master's duties to the slave: step down here first, so the two never
    /// both hold the cluster IP; the slave takes over as soon as it sees it.
    pub async fn step_down_for_failover(&self, reason: &str) -> anyhow::Result<()> {
        let mut guard = self.inner.runtime.lock().await;
        let rt = guard
            .as_mut()
            .ok_or_else(|| anyhow::anyhow!("this node is not in a cluster"))?;
        self.step_down(rt, reason).await;
        Ok(())
    }

    /// The slave's side of a manual failover, asked for by the master over SSH before
    /// it steps down: the takeover that follows its step-down is then recorded as the
    /// manual failover it is. The master steps down first, so the two never both hold
    /// the cluster IP.
    pub async fn expect_handover(&self) -> anyhow::Result<()> {
        let role = self.node().await.role;
        anyhow::ensure!(
            role == Role::Slave,
            "this node is {} and cannot take over",
            role.as_str()
        );
        let until = Instant::now() + HANDOVER_WINDOW;
        *self
            .inner
            .handover_until
            .lock()
            .map_err(|_| anyhow::anyhow!("poisoned"))? = Some(until);
        Ok(())
    }

    /// Whether a handover was announced and is still due; consumes the announcement.
    fn take_handover(&self) -> bool {
        self.inner
            .handover_until
            .lock()
            .ok()
            .and_then(|mut until| until.take())
            .is_some_and(|until| Instant::now() < until)
    }

    /// Sets the role, epoch and configuration at once (configure, pair, leave).
    pub async fn set_membership(
        &self,
        role: Role,
        epoch: u64,
        config: Option<&ClusterConfig>,
    ) -> anyhow::Result<()> {
        {
            let mut node = self.inner.node.lock().await;
            node.role = role;
            node.epoch = epoch;
            self.inner.store.save_cluster(&node, config).await?;
        }
        self.reload(false).await?;
        self.publish_cluster().await;
        Ok(())
    }

    pub async fn set_hostname(&self, hostname: pequod_api::Hostname) -> anyhow::Result<NodeRecord> {
        let mut node = self.inner.node.lock().await;
        node.hostname = hostname;
        self.inner.store.save_node(&node).await?;
        Ok(node.clone())
    }

    /// Whether the cluster IP is on this node right now, and the peer alive and slave.
    pub async fn healthy_slave(&self) -> Option<Member> {
        let node = self.node().await;
        let config = self.inner.store.load_cluster().await.ok().flatten()?;
        let view = self.view();
        let peer = view.peer?;
        (peer.alive() && peer.role == Role::Slave)
            .then(|| config.peer_of(node.id).cloned())
            .flatten()
    }

    async fn record(&self, kind: JobKind, title: &str, log: Vec<String>, error: Option<String>) {
        if let Err(err) = self.inner.jobs.record(kind, title, log, error).await {
            tracing::error!(error = %err, "could not record the cluster event");
        }
    }

    pub async fn publish_cluster(&self) {
        match self.cluster_view().await {
            Ok(cluster) => self.inner.events.publish(Event::Cluster(cluster)),
            Err(err) => tracing::error!(error = %err, "could not build the cluster view"),
        }
    }
}

impl Agent {
    /// `GET /api/v1/cluster`: this node's role, epoch, the cluster IP and its holder,
    /// and the lamp.
    pub async fn cluster_view(&self) -> Result<Cluster, StorageError> {
        let node = self.node().await;
        let config = self.inner.store.load_cluster().await?;
        let failures = self.inner.store.unacknowledged_failures().await?;
        let seen = self.view();
        let (mut lamp, mut lamp_reasons) = lamp::lamp(&failures, &self.checks());
        // A cluster warning (a link down, the slave gone) is worth a yellow lamp.
        if let Some(warning) = seen
            .last_decision
            .as_ref()
            .filter(|d| d.action == decide::Action::Warn && node.role != Role::Standalone)
        {
            if lamp == Lamp::Green {
                lamp = Lamp::Yellow;
            }
            lamp_reasons.insert(0, warning.reason.clone());
        }
        let vip_holder = if seen.holds_vip {
            Some(node.hostname.to_string())
        } else if seen.peer_holds_vip {
            seen.peer.as_ref().map(|p| p.hostname.clone())
        } else {
            None
        };
        let configured = config.is_some() && node.role != Role::Standalone;
        Ok(Cluster {
            mode: if configured {
                ClusterMode::Cluster
            } else {
                ClusterMode::Standalone
            },
            role: node.role,
            epoch: node.epoch,
            cluster_ip: config.filter(|_| configured).map(|c| c.cluster_ip),
            vip_holder,
            lamp,
            lamp_reasons,
        })
    }
}

fn spawn_announce(interface: String, ip: ClusterIp) {
    tokio::spawn(async move {
        if let Err(err) = vip::announce(&interface, ip).await {
            tracing::error!(error = format!("{err:#}"), "gratuitous ARP failed");
        }
    });
}

/// The IPv4 address configured on an interface, for a node learning its own addresses.
pub async fn interface_of(ip: IpAddr) -> anyhow::Result<String> {
    let interfaces = crate::netif::list_interfaces().await?;
    interfaces
        .into_iter()
        .find(|i| i.addresses.iter().any(|a| a.address == ip.to_string()))
        .map(|i| i.name)
        .ok_or_else(|| anyhow::anyhow!("no interface of this node has the address {ip}"))
}
