//! The cluster agent: one task that owns the node's cluster state. Every heartbeat
//! interval it gathers a snapshot (own role and epoch, the cluster IP, the peer's
//! heartbeats, the gateway probe), asks `decide()` what to do and performs that one
//! transition. Side effects — cluster IP, services, role changes, failover records —
//! happen only in that task: readers get a `watch` of the node and of the latest
//! cycle ([`AgentView`]), operations send it a [`Command`] and await its answer, so no
//! lock is ever held across a cycle and no change can interleave with one.

use std::future::Future;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use pequod_api::NodeId;
use pequod_api::cluster::{Cluster, ClusterMode, Lamp, Role};
use pequod_api::events::Event;
use pequod_api::jobs::JobKind;
use pequod_api::jobs::JobSummary;
use pequod_api::slaves::SlaveState;
use secrecy::ExposeSecret;
use tokio::sync::{mpsc, oneshot, watch};

use super::arp::ArpResponder;
use super::config::{ClusterConfig, Member};
use super::decide::{
    self, Action, ArpProbe, ClusterFault, Decision, Health, PeerView, Presence, Reachability,
    Snapshot, Startup,
};
use super::heartbeat::{Heartbeats, Link, LinkEndpoints, OwnState};
use super::settings::ClusterSettings;
use super::vip::{self, Answered, ClusterIp};
use super::{lamp, probe, services};
use crate::events::{DomainEvent, EventBus, Takeover};
use crate::jobs::JobRunner;
use crate::storage::{NodeRecord, StorageError, Store};
use crate::sync::DataSync;
use crate::sync::advert::Readiness;
use crate::sync::service::Endpoint;

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
    /// The cluster IP is on this node's interface (false when that cannot be read).
    pub holds_vip: bool,
    /// What the heartbeats say: false only while the gateway probe reports an outage.
    pub reaches_telephony: bool,
    /// What the gateway probe says, including "not probed yet" and "no gateway".
    pub telephony: Reachability,
    pub last_decision: Option<Decision>,
    /// The configured cluster IP, once in a cluster.
    pub cluster_ip: Option<ClusterIp>,
}

impl AgentView {
    /// Why Cluster Status fails, from the decision's typed cause (never its sentence).
    pub fn cluster_fault(&self) -> Option<&ClusterFault> {
        self.last_decision
            .as_ref()
            .and_then(Decision::cluster_fault)
    }
}
/// The handle to the agent's task; cheap to clone.
#[derive(Clone)]
pub struct Agent {
    shared: Arc<Shared>,
    commands: mpsc::Sender<Command>,
}

/// What the task publishes and the handle reads without asking it.
struct Shared {
    store: Arc<dyn Store>,
    events: EventBus,
    jobs: JobRunner,
    settings: ClusterSettings,
    /// The node's role and epoch as the task last stored them.
    node: watch::Sender<NodeRecord>,
    /// The latest cycle.
    view: watch::Sender<AgentView>,
    /// What the heartbeats carry.
    own: watch::Sender<OwnState>,
    /// The latest results of the health checks, for the lamp and Cluster Status.
    checks: std::sync::RwLock<Vec<pequod_api::checks::Check>>,
    /// The database and files this node serves or mirrors.
    sync: DataSync,
}

/// What the operations ask of the agent's task; each is answered once it is done.
enum Command {
    /// Load the stored configuration and run what the role needs.
    Start(oneshot::Sender<anyhow::Result<()>>),
    /// Role, epoch and configuration at once (configure, pair, leave).
    SetMembership {
        role: Role,
        epoch: u64,
        config: Option<Box<ClusterConfig>>,
        reply: oneshot::Sender<anyhow::Result<()>>,
    },
    SetHostname {
        hostname: pequod_api::Hostname,
        reply: oneshot::Sender<anyhow::Result<NodeRecord>>,
    },
    /// The master's half of a manual failover.
    StepDownForFailover {
        reason: String,
        reply: oneshot::Sender<anyhow::Result<()>>,
    },
    /// The slave's half: the takeover that follows is the manual failover.
    ExpectHandover(oneshot::Sender<anyhow::Result<()>>),
    /// A person forces this slave to take over although its database may lack
    /// acknowledged commits (the master is gone).
    ForceTakeover(oneshot::Sender<anyhow::Result<()>>),
    /// Let go of the master's duties and end the task.
    Shutdown(oneshot::Sender<()>),
}

/// The agent's task and everything it alone changes.
struct Executor {
    shared: Arc<Shared>,
    node: NodeRecord,
    runtime: Option<Runtime>,
    /// Set by the master's "handover" before a manual failover.
    handover_until: Option<Instant>,
    /// Set by a forced failover on the slave.
    forced_until: Option<Instant>,
}

/// The titles of the jobs that record a takeover by this node (the notifier learns of a
/// takeover from [`DomainEvent::TookOver`], never from these words).
const TAKEOVER_TITLE: &str = "Failover: this node took over";
const MANUAL_TAKEOVER_TITLE: &str = "Manual failover: this node took over";

/// How long a announced handover stays due.
const HANDOVER_WINDOW: Duration = Duration::from_secs(10);

/// How long the ARP probe for the cluster IP listens for another holder.
const ARP_PROBE_WAIT: Duration = Duration::from_secs(1);

/// How often a master whose services did not start tries again.
const SERVICES_RETRY: Duration = Duration::from_secs(5);

/// A slow probe or retry run beside the agent's cycle, so the cycle (and the runtime
/// lock it holds) never waits for it; aborted when dropped.
struct Background<T> {
    task: Option<tokio::task::JoinHandle<T>>,
}

impl<T: Send + 'static> Background<T> {
    fn spawn(work: impl Future<Output = T> + Send + 'static) -> Self {
        Self {
            task: Some(tokio::spawn(work)),
        }
    }

    /// The result once the task has ended; `None` while it runs. A task that panicked
    /// or was cancelled gives its error.
    async fn result(&mut self) -> Option<Result<T, String>> {
        if !self.task.as_ref().is_some_and(|t| t.is_finished()) {
            return None;
        }
        let task = self.task.take()?;
        Some(task.await.map_err(|err| err.to_string()))
    }
}

impl<T> Drop for Background<T> {
    fn drop(&mut self) {
        if let Some(task) = &self.task {
            task.abort();
        }
    }
}

/// Managed services that did not start on this master: Cluster Status stays failed
/// until a retry starts them.
struct ServicesFault {
    error: String,
    next_try: Instant,
    retry: Option<Background<anyhow::Result<()>>>,
}

impl ServicesFault {
    fn new(error: String) -> Self {
        Self {
            error,
            next_try: Instant::now() + SERVICES_RETRY,
            retry: None,
        }
    }
}

/// The stall guard: a loop that ran late (process paused, CPU starved) saw a silence
/// of its own making. For `dead_after` after the late tick the peer's missed
/// heartbeats do not count: by then heartbeats sent after the resume have arrived.
#[derive(Debug)]
struct StallGuard {
    interval: Duration,
    dead_after: Duration,
    last_tick: Instant,
    stalled_until: Option<Instant>,
    /// Time the task spent on its own work since the last tick (a takeover's
    /// promotion, a service start): late for that reason is no pause of the process,
    /// since the heartbeats run on their own tasks meanwhile.
    busy: Duration,
}

impl StallGuard {
    fn new(interval: Duration, dead_after: Duration, now: Instant) -> Self {
        Self {
            interval,
            dead_after,
            last_tick: now,
            stalled_until: None,
            busy: Duration::ZERO,
        }
    }

    /// Counts time the task spent working rather than waiting for its tick.
    fn credit(&mut self, busy: Duration) {
        self.busy += busy;
    }

    /// Called once per tick; whether the missed interval is ours.
    fn tick(&mut self, now: Instant) -> bool {
        let late_by = now
            .saturating_duration_since(self.last_tick)
            .saturating_sub(std::mem::take(&mut self.busy));
        if late_by > self.interval + self.dead_after / 2 {
            tracing::warn!(?late_by, "the agent's loop ran late");
            let until = now + self.dead_after;
            self.stalled_until = Some(self.stalled_until.map_or(until, |u| u.max(until)));
        }
        self.last_tick = now;
        self.stalled_until.is_some_and(|until| now < until)
    }
}

/// The parts that run while the node is in a cluster.
struct Runtime {
    config: ClusterConfig,
    cluster_ip: ClusterIp,
    telephony_interface: String,
    heartbeats: Option<Heartbeats>,
    telephony: watch::Receiver<Reachability>,
    probe: tokio::task::JoinHandle<()>,
    startup: Startup,
    grace_until: Option<Instant>,
    /// The ARP probe for the cluster IP at the end of the start-up grace, while it runs.
    arp_probe: Option<Background<anyhow::Result<bool>>>,
    last_announce: Option<Instant>,
    services_fault: Option<ServicesFault>,
    /// The last error releasing the cluster IP, logged once rather than every cycle.
    release_error: Option<String>,
    /// Pequod's own ARP answers for the cluster IP, or why they cannot run.
    arp: Result<ArpResponder, String>,
    /// The grace under way follows an isolation, not a start.
    rejoining: bool,
}

impl Runtime {
    /// How the cluster IP is added: answered by Pequod when its responder runs.
    fn answered(&self) -> Answered {
        match self.arp {
            Ok(_) => Answered::ByPequod,
            Err(_) => Answered::ByKernel,
        }
    }
}

impl Drop for Runtime {
    fn drop(&mut self) {
        self.probe.abort();
    }
}
impl Agent {
    /// Starts the agent's task; it runs its cycle once [`Agent::start`] has loaded
    /// the configuration.
    pub fn new(
        store: Arc<dyn Store>,
        events: EventBus,
        jobs: JobRunner,
        settings: ClusterSettings,
        node: NodeRecord,
        sync: DataSync,
    ) -> Self {
        let (own, _) = watch::channel(OwnState {
            hostname: node.hostname.to_string(),
            role: node.role,
            epoch: node.epoch,
            reaches_telephony: true,
            holds_vip: false,
            database: None,
        });
        let shared = Arc::new(Shared {
            store,
            events,
            jobs,
            settings,
            node: watch::channel(node.clone()).0,
            view: watch::channel(AgentView::default()).0,
            own,
            checks: std::sync::RwLock::new(Vec::new()),
            sync,
        });
        let (commands, receiver) = mpsc::channel(16);
        let executor = Executor {
            shared: shared.clone(),
            node,
            runtime: None,
            handover_until: None,
            forced_until: None,
        };
        tokio::spawn(executor.run(receiver));
        Self { shared, commands }
    }

    /// Sends a command to the task and waits for its answer.
    async fn ask<T>(
        &self,
        command: impl FnOnce(oneshot::Sender<anyhow::Result<T>>) -> Command,
    ) -> anyhow::Result<T> {
        let (reply, answer) = oneshot::channel();
        self.commands
            .send(command(reply))
            .await
            .map_err(|_| anyhow::anyhow!("the cluster agent has stopped"))?;
        answer
            .await
            .map_err(|_| anyhow::anyhow!("the cluster agent stopped before it answered"))?
    }

    /// Loads the configuration and starts what the role needs. A node whose stored
    /// role is master first listens for a peer for the grace period.
    pub async fn start(&self) -> anyhow::Result<()> {
        self.ask(Command::Start).await
    }

    /// On a stop: the master stops its services and releases the cluster IP so the
    /// slave can take over without two holders; the task and heartbeats end.
    pub async fn shutdown(&self) {
        let (reply, done) = oneshot::channel();
        if self.commands.send(Command::Shutdown(reply)).await.is_ok() {
            let _ = done.await;
        }
    }

    pub fn settings(&self) -> &ClusterSettings {
        &self.shared.settings
    }

    pub fn store(&self) -> &Arc<dyn Store> {
        &self.shared.store
    }

    /// The database and files this node serves or mirrors.
    pub fn data_sync(&self) -> &DataSync {
        &self.shared.sync
    }

    /// A person forces this slave to take over (the master is gone, its database may
    /// lack acknowledged commits): the next cycle that would take over does.
    pub async fn force_takeover(&self) -> anyhow::Result<()> {
        self.ask(Command::ForceTakeover).await
    }

    pub async fn node(&self) -> NodeRecord {
        self.shared.node.borrow().clone()
    }

    /// Changes of the node's role, epoch and configuration, each seen after it is stored.
    pub fn watch_node(&self) -> watch::Receiver<NodeRecord> {
        self.shared.node.subscribe()
    }

    pub fn view(&self) -> AgentView {
        self.shared.view.borrow().clone()
    }

    /// Waits until the agent's latest cycle shows `condition`, or `timeout` passes.
    pub async fn wait_for_view(
        &self,
        timeout: Duration,
        condition: impl Fn(&AgentView) -> bool,
    ) -> Option<AgentView> {
        let mut views = self.shared.view.subscribe();
        let seen = tokio::time::timeout(timeout, views.wait_for(|view| condition(view))).await;
        match seen {
            Ok(Ok(view)) => Some(view.clone()),
            _ => None,
        }
    }

    /// Takes the check engine's latest results.
    pub async fn set_checks(&self, checks: Vec<pequod_api::checks::Check>) {
        if let Ok(mut slot) = self.shared.checks.write() {
            *slot = checks;
        }
    }

    pub fn checks(&self) -> Vec<pequod_api::checks::Check> {
        self.shared.checks()
    }

    /// The configured cluster IP, once in a cluster.
    pub async fn cluster_ip(&self) -> Option<ClusterIp> {
        self.shared.view.borrow().cluster_ip
    }

    /// Hands the master's duties to the slave: step down here first, so the two never
    /// both hold the cluster IP; the slave takes over as soon as it sees it.
    pub async fn step_down_for_failover(&self, reason: &str) -> anyhow::Result<()> {
        let reason = reason.to_string();
        self.ask(|reply| Command::StepDownForFailover { reason, reply })
            .await
    }

    /// The slave's side of a manual failover, asked for by the master over SSH before
    /// it steps down: the takeover that follows its step-down is then recorded as the
    /// manual failover it is. The master steps down first, so the two never both hold
    /// the cluster IP.
    pub async fn expect_handover(&self) -> anyhow::Result<()> {
        self.ask(Command::ExpectHandover).await
    }

    /// Sets the role, epoch and configuration at once (configure, pair, leave).
    pub async fn set_membership(
        &self,
        role: Role,
        epoch: u64,
        config: Option<&ClusterConfig>,
    ) -> anyhow::Result<()> {
        let config = config.cloned().map(Box::new);
        self.ask(|reply| Command::SetMembership {
            role,
            epoch,
            config,
            reply,
        })
        .await
    }

    pub async fn set_hostname(&self, hostname: pequod_api::Hostname) -> anyhow::Result<NodeRecord> {
        self.ask(|reply| Command::SetHostname { hostname, reply })
            .await
    }

    /// The peer, when it is a slave that can take the master's duties now: heard, on
    /// a link alive now, its latest heartbeat saying slave.
    pub async fn healthy_slave(&self) -> Option<Member> {
        let node = self.node().await;
        let config = self.shared.store.load_cluster().await.ok().flatten()?;
        let peer = self.view().peer?;
        peer.is_healthy_slave()
            .then(|| config.peer_of(node.id).cloned())
            .flatten()
    }

    pub async fn publish_cluster(&self) {
        self.shared.publish_cluster().await;
    }

    /// `GET /api/v1/cluster`: this node's role, epoch, the cluster IP and its holder,
    /// and the lamp.
    pub async fn cluster_view(&self) -> Result<Cluster, StorageError> {
        self.shared.cluster_view().await
    }
}

impl Shared {
    fn interval(&self) -> Duration {
        Duration::from_millis(self.settings.timing().heartbeat_interval_ms)
    }

    fn dead_after(&self) -> Duration {
        Duration::from_millis(self.settings.timing().dead_after_ms)
    }

    fn checks(&self) -> Vec<pequod_api::checks::Check> {
        self.checks.read().map(|c| c.clone()).unwrap_or_default()
    }

    /// Records a cluster event as a finished job: failed when `error` is given.
    async fn record(
        &self,
        kind: JobKind,
        title: &str,
        log: Vec<String>,
        error: Option<String>,
    ) -> Option<JobSummary> {
        match self.jobs.record(kind, title, log, error).await {
            Ok(summary) => Some(summary),
            Err(err) => {
                tracing::error!(error = %err, "could not record the cluster event");
                None
            }
        }
    }

    async fn publish_cluster(&self) {
        match self.cluster_view().await {
            Ok(cluster) => self.events.publish(Event::Cluster(cluster)),
            Err(err) => tracing::error!(error = %err, "could not build the cluster view"),
        }
    }
    /// `GET /api/v1/cluster`: this node's role, epoch, the cluster IP and its holder,
    /// and the lamp.
    async fn cluster_view(&self) -> Result<Cluster, StorageError> {
        let node = self.node.borrow().clone();
        let config = self.store.load_cluster().await?;
        let failures = self.store.unacknowledged_failures().await?;
        let seen = self.view.borrow().clone();
        let (mut lamp, mut lamp_reasons) = lamp::lamp(&failures, &self.checks());
        // A cluster warning (a link down, the slave gone) is worth a yellow lamp.
        if let Some(warning) = seen.last_decision.as_ref().filter(|d| {
            matches!(d.action, decide::Action::Warn | decide::Action::Withhold)
                && node.role != Role::Standalone
        }) {
            if lamp == Lamp::Green {
                lamp = Lamp::Yellow;
            }
            lamp_reasons.insert(0, warning.reason.clone());
        }
        // Commits that no longer wait for the slave are worth a yellow lamp too.
        if let Some(why) = self
            .sync
            .state()
            .database
            .and_then(|db| db.degraded)
            .filter(|_| node.role == Role::Master)
        {
            if lamp == Lamp::Green {
                lamp = Lamp::Yellow;
            }
            lamp_reasons.push(format!(
                "commits do not wait for the slave (async) until it has caught up: {why}"
            ));
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
            cluster_ip: config
                .filter(|_| configured)
                .map(|c| c.cluster_ip.to_string()),
            vip_holder,
            lamp,
            lamp_reasons,
            telephony_gateway: seen.telephony.into(),
            timing: self.settings.timing(),
        })
    }
}

impl Executor {
    /// Rebuilds the runtime from the store (after a configuration change). A node
    /// whose stored role is master first listens for a peer for the grace period when
    /// `startup_grace` is set.
    async fn reload(&mut self, startup_grace: bool) -> anyhow::Result<()> {
        let node = self.node.clone();
        let config = self.shared.store.load_cluster().await?;
        // Close the old heartbeat sockets before binding the new ones.
        if let Some(old) = self.runtime.as_mut().and_then(|rt| rt.heartbeats.take()) {
            old.stop().await;
        }
        // The ARP responder outlives a reload for the same interface and address.
        let old_arp = self.runtime.take().and_then(|mut rt| {
            let key = (rt.telephony_interface.clone(), rt.cluster_ip.address);
            std::mem::replace(&mut rt.arp, Err(String::new()))
                .ok()
                .map(|arp| (key, arp))
        });
        let Some(config) = config.filter(|_| node.role != Role::Standalone) else {
            self.shared.view.send_modify(|view| view.cluster_ip = None);
            if let Err(err) = self.shared.sync.stand_by().await {
                tracing::error!(error = %err, "stopping data sync");
            }
            return Ok(());
        };
        let me = config
            .member(node.id)
            .ok_or_else(|| {
                anyhow::anyhow!("this node is not part of the stored cluster configuration")
            })?
            .clone();
        let cluster_ip = config.cluster_ip;
        let telephony_interface = me
            .telephony_interface
            .clone()
            .ok_or_else(|| anyhow::anyhow!("the telephony interface of this node is not known"))?;
        let heartbeats = match config.peer_of(node.id) {
            Some(peer) => Some(
                Heartbeats::start(
                    node.id,
                    config.secret.expose_secret().as_bytes().to_vec(),
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
                    self.shared.settings.heartbeat_port,
                    self.shared.interval(),
                    self.shared.own.subscribe(),
                )
                .await?,
            ),
            None => None,
        };
        let (telephony, probe) = probe::spawn(
            telephony_interface.clone(),
            config.gateways.clone(),
            Duration::from_millis(self.shared.settings.probe_interval_ms.max(50)),
            self.shared.settings.probe_misses.max(1),
        );
        let arp = match old_arp {
            Some((key, arp)) if key == (telephony_interface.clone(), cluster_ip.address) => Ok(arp),
            _ => ArpResponder::start(&telephony_interface, cluster_ip.address)
                .await
                .map_err(|err| {
                    let error = format!("{err:#}");
                    tracing::error!(
                        error,
                        "cannot answer ARP for the cluster IP; the kernel answers for it instead"
                    );
                    error
                }),
        };
        let (startup, grace_until) = if startup_grace && node.role == Role::Master {
            let grace = Duration::from_millis(self.shared.settings.startup_grace_ms);
            tracing::info!(
                ?grace,
                "this node was master: listening for a peer master before claiming the cluster IP"
            );
            (Startup::Grace, Some(Instant::now() + grace))
        } else {
            (Startup::Settled, None)
        };
        self.shared
            .view
            .send_modify(|view| view.cluster_ip = Some(cluster_ip));
        // What the role serves of the data; a master in its start-up grace runs its
        // database again when it claims the cluster IP, not before.
        let sync = &self.shared.sync;
        let secret = config.secret.clone();
        let result = match (node.role, config.peer_of(node.id)) {
            (Role::Slave, Some(master)) => sync
                .serve_as_slave(&endpoint(&me), &endpoint(master), &secret)
                .await
                .map(drop),
            (Role::Slave, None) => Ok(()),
            (Role::Master, _) if startup == Startup::Settled => sync
                .serve_as_master(
                    &endpoint(&me),
                    active_slave(&config, node.id).as_ref(),
                    &secret,
                )
                .await
                .map(drop),
            // Until it claims the cluster IP again, a former master's database takes
            // no writes: the slave may have taken over while it was gone.
            (Role::Master, _) => sync.refuse_writes().await,
            (Role::Standby | Role::Standalone, _) => sync.stand_by().await,
        };
        if let Err(err) = result {
            tracing::error!(error = %err, role = node.role.as_str(), "data sync could not serve the role");
        }
        self.runtime = Some(Runtime {
            config,
            cluster_ip,
            telephony_interface,
            heartbeats,
            telephony,
            probe,
            startup,
            grace_until,
            arp_probe: None,
            last_announce: None,
            services_fault: None,
            release_error: None,
            arp,
            rejoining: false,
        });
        Ok(())
    }

    /// The task: a cycle every heartbeat interval, the commands in between, until a
    /// shutdown or the last handle is gone.
    async fn run(mut self, mut commands: mpsc::Receiver<Command>) {
        let interval = self.shared.interval();
        let mut ticker = tokio::time::interval(interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        let mut guard = StallGuard::new(interval, self.shared.dead_after(), Instant::now());
        // systemd's watchdog is fed only by finished cycles: a hung agent is restarted
        // and comes back standby, like any node that starts.
        let mut watchdog = crate::systemd::Watchdog::from_env();
        loop {
            tokio::select! {
                _ = ticker.tick() => {
                    let now = Instant::now();
                    let stalled = guard.tick(now);
                    // The cycle judges the heartbeats as of this tick: a pause after it
                    // must not make the peer look older than it is.
                    if let Some(mut rt) = self.runtime.take() {
                        let result = self.cycle(&mut rt, now, stalled).await;
                        self.runtime = Some(rt);
                        if let Err(err) = result {
                            tracing::error!(error = format!("{err:#}"), "agent cycle failed");
                        }
                    }
                    guard.credit(now.elapsed());
                    watchdog.pet(Instant::now());
                }
                command = commands.recv() => match command {
                    Some(Command::Shutdown(reply)) => {
                        self.shutdown().await;
                        let _ = reply.send(());
                        return;
                    }
                    Some(command) => {
                        let started = Instant::now();
                        self.handle(command).await;
                        guard.credit(started.elapsed());
                    }
                    None => return,
                },
            }
        }
    }

    async fn handle(&mut self, command: Command) {
        match command {
            Command::Start(reply) => {
                let grace = self.node.role == Role::Master;
                let _ = reply.send(self.reload(grace).await);
            }
            Command::SetMembership {
                role,
                epoch,
                config,
                reply,
            } => {
                let _ = reply.send(self.set_membership(role, epoch, config.as_deref()).await);
            }
            Command::SetHostname { hostname, reply } => {
                let result = self
                    .change_node(|node| node.hostname = hostname)
                    .await
                    .map_err(anyhow::Error::from);
                let _ = reply.send(result.map(|()| self.node.clone()));
            }
            Command::StepDownForFailover { reason, reply } => {
                let result = match self.runtime.take() {
                    Some(mut rt) => {
                        let result = self.step_down(&mut rt, &reason).await;
                        self.runtime = Some(rt);
                        result.map_err(anyhow::Error::msg)
                    }
                    None => Err(anyhow::anyhow!("this node is not in a cluster")),
                };
                let _ = reply.send(result);
            }
            Command::ExpectHandover(reply) => {
                let result = self
                    .takeover_window()
                    .map(|until| self.handover_until = Some(until));
                let _ = reply.send(result);
            }
            Command::ForceTakeover(reply) => {
                let result = self
                    .takeover_window()
                    .map(|until| self.forced_until = Some(until));
                let _ = reply.send(result);
            }
            Command::Shutdown(reply) => {
                self.shutdown().await;
                let _ = reply.send(());
            }
        }
    }

    /// Until when a takeover asked for by the master (a handover) or by a person (a
    /// forced failover) is due; only a slave takes over.
    fn takeover_window(&self) -> anyhow::Result<Instant> {
        match self.node.role {
            Role::Slave => Ok(Instant::now() + HANDOVER_WINDOW),
            role => Err(anyhow::anyhow!(
                "this node is {} and cannot take over",
                role.as_str()
            )),
        }
    }

    /// Changes the node record, stores it and publishes it.
    async fn change_node(
        &mut self,
        change: impl FnOnce(&mut NodeRecord),
    ) -> Result<(), StorageError> {
        let mut node = self.node.clone();
        change(&mut node);
        self.shared.store.save_node(&node).await?;
        self.node = node;
        self.shared.node.send_replace(self.node.clone());
        Ok(())
    }

    /// On a stop: the master stops its services and releases the cluster IP so the
    /// slave can take over without two holders; the heartbeats end.
    async fn shutdown(&mut self) {
        let mut runtime = self.runtime.take();
        if let Some(old) = runtime.as_mut().and_then(|rt| rt.heartbeats.take()) {
            old.stop().await;
        }
        if let Some(Ok(arp)) = runtime.as_ref().map(|rt| &rt.arp) {
            arp.gate().close();
        }
        if self.node.role != Role::Master
            && let Err(err) = self.shared.sync.stand_by().await
        {
            tracing::error!(error = %err, "stopping data sync at shutdown");
        }
        if let (Some(rt), Role::Master) = (runtime, self.node.role) {
            if let Err(err) = services::stop_all(&self.shared.settings.services).await {
                tracing::error!(error = format!("{err:#}"), "stopping services at shutdown");
            }
            // No commit after the cluster IP is gone: the slave may take over.
            if let Err(err) = self.shared.sync.stand_by().await {
                tracing::error!(error = %err, "refusing writes at shutdown");
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

    /// One cycle: observe, decide, publish what was seen and decided, then carry out
    /// the decision.
    async fn cycle(&mut self, rt: &mut Runtime, now: Instant, stalled: bool) -> anyhow::Result<()> {
        let Observation {
            snapshot,
            health,
            view,
        } = self.observe(rt, now, stalled).await;
        let decision = decide::decide(&snapshot, &health);
        set_arp_gate(
            rt,
            &snapshot,
            &health,
            &decision,
            now,
            self.shared.interval(),
            self.shared.dead_after(),
        );
        let changed = self.publish(view, &decision);
        self.execute(rt, &decision, now).await;
        if changed {
            self.shared.publish_cluster().await;
        }
        Ok(())
    }

    /// What this node knows at the start of a cycle: its own addresses, the peer's
    /// heartbeats, the gateway probe; and the duties a settled master keeps up on the
    /// way (the cluster IP put back, services retried), whose faults it reports.
    async fn observe(&mut self, rt: &mut Runtime, now: Instant, stalled: bool) -> Observation {
        let node = self.node.clone();
        let dead_after = self.shared.dead_after();
        let held = vip::held(&rt.telephony_interface, rt.cluster_ip).await;
        let mut vip_presence = match &held {
            Ok(Some(_)) => Presence::Held,
            Ok(None) => Presence::NotHeld,
            Err(err) => Presence::Unknown(format!(
                "cannot read the addresses of {}: {err:#}",
                rt.telephony_interface
            )),
        };
        let telephony = *rt.telephony.borrow();

        let wall_clock = |seen: Instant| {
            Utc::now()
                - chrono::Duration::from_std(now.saturating_duration_since(seen))
                    .unwrap_or_default()
        };
        let mut peer_link_heartbeats = Vec::new();
        let mut advert = None;
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
                    // Until its first heartbeat nothing about the peer is known: not its
                    // role, not its epoch, not that it reaches the telephony network.
                    role: latest.as_ref().map(|h| h.role),
                    epoch: latest.as_ref().map_or(0, |h| h.epoch),
                    reaches_telephony: latest.as_ref().is_some_and(|h| h.reaches_telephony),
                };
                let last = last_seen.map(wall_clock);
                let vip = view.alive() && latest.as_ref().is_some_and(|h| h.holds_vip);
                advert = latest.as_ref().and_then(|h| h.database);
                (Some(view), last, vip)
            }
            _ => (None, None, false),
        };
        self.shared
            .sync
            .set_peer_alive(peer.as_ref().is_some_and(PeerView::alive));
        let database = if node.role == Role::Slave {
            self.shared.sync.readiness(advert.as_ref())
        } else {
            Readiness::NotManaged
        };
        let forced = self
            .forced_until
            .is_some_and(|until| Instant::now() < until);

        self.advance_startup(rt, now).await;

        let mut cluster_fault = None;
        if node.role == Role::Master && rt.startup == Startup::Settled {
            let wanted = rt.answered();
            if let Some(repair) = vip_repair(&held, wanted) {
                match repair {
                    Repair::Missing => {
                        tracing::warn!(ip = %rt.cluster_ip, "the cluster IP is missing on the master; adding it again")
                    }
                    Repair::Misfit => {
                        tracing::info!(ip = %rt.cluster_ip, ?wanted, "the cluster IP is added again as the ARP responder's state needs")
                    }
                }
                match vip::add(&rt.telephony_interface, rt.cluster_ip, wanted).await {
                    Ok(()) => {
                        vip_presence = Presence::Held;
                        spawn_announce(rt.telephony_interface.clone(), rt.cluster_ip);
                    }
                    Err(err) => cluster_fault = Some(ClusterFault::VipLost(format!("{err:#}"))),
                }
            }
            let services = self.retry_services(rt, now).await;
            cluster_fault = cluster_fault.or(services);
            if let Err(error) = &rt.arp {
                cluster_fault = cluster_fault.or(Some(ClusterFault::ArpResponder(error.clone())));
            }
            // A failover check the agent does not judge itself (RAID) in hard CRITICAL.
            cluster_fault = cluster_fault.or_else(|| {
                crate::checks::failover::failover_problem(&self.shared.checks())
                    .map(|check| ClusterFault::FailoverCheck { check })
            });
        }

        let snapshot = Snapshot {
            node_id: node.id,
            role: node.role,
            epoch: node.epoch,
            vip: vip_presence.clone(),
            peer: peer.clone(),
            startup: rt.startup.clone(),
            rejoining: rt.rejoining,
        };
        let health = Health {
            telephony,
            loop_stalled: stalled,
            cluster_fault,
            database,
            forced,
        };
        let view = AgentView {
            peer,
            peer_last_heartbeat: peer_last,
            peer_link_heartbeats,
            heartbeat_stats: rt.heartbeats.as_ref().map(|hb| hb.stats.clone()),
            peer_holds_vip,
            holds_vip: vip_presence.is_held(),
            reaches_telephony: telephony.heartbeat_bit(),
            telephony,
            last_decision: None,
            cluster_ip: Some(rt.cluster_ip),
        };
        Observation {
            snapshot,
            health,
            view,
        }
    }

    /// Publishes the cycle to the API's readers and the heartbeats; whether the
    /// decision changed.
    fn publish(&self, view: AgentView, decision: &Decision) -> bool {
        let changed = {
            let view = self.shared.view.borrow();
            view.last_decision.as_ref().map(|d| &d.reason) != Some(&decision.reason)
        };
        if changed {
            match decision.action {
                Action::Stay => tracing::info!("{}", decision.reason),
                _ => tracing::warn!("{}", decision.reason),
            }
        }
        let node = &self.node;
        let (telephony, holds_vip) = (view.telephony, view.holds_vip);
        let advert = self.shared.sync.advert();
        self.shared.view.send_replace(AgentView {
            last_decision: Some(decision.clone()),
            ..view
        });
        self.shared.own.send_modify(|own| {
            own.role = node.role;
            own.epoch = node.epoch;
            own.reaches_telephony = telephony.heartbeat_bit();
            own.holds_vip = holds_vip;
            own.hostname = node.hostname.to_string();
            own.database = advert;
        });
        changed
    }

    /// Carries out the one transition `decide()` chose.
    async fn execute(&mut self, rt: &mut Runtime, decision: &Decision, now: Instant) {
        match decision.action {
            Action::Stay | Action::Warn => {}
            Action::TakeOver => {
                let forced = self
                    .forced_until
                    .take()
                    .is_some_and(|until| Instant::now() < until);
                let manual = self
                    .handover_until
                    .take()
                    .is_some_and(|until| Instant::now() < until)
                    || forced;
                self.take_over(rt, &decision.reason, manual).await;
            }
            Action::StepDown => {
                // The failure is recorded in the job; the next cycles retry the release.
                let _ = self.step_down(rt, &decision.reason).await;
            }
            Action::ReleaseVip => match vip::remove(&rt.telephony_interface, rt.cluster_ip).await {
                Ok(()) => rt.release_error = None,
                Err(err) => {
                    let error = format!("{err:#}");
                    if rt.release_error.as_ref() != Some(&error) {
                        tracing::error!(error, "could not release the cluster IP");
                        rt.release_error = Some(error);
                    }
                }
            },
            Action::Reannounce => {
                if rt
                    .last_announce
                    .is_none_or(|at| at.elapsed() > Duration::from_secs(1))
                {
                    rt.last_announce = Some(Instant::now());
                    spawn_announce(rt.telephony_interface.clone(), rt.cluster_ip);
                }
            }
            Action::Withhold => {
                rt.startup = Startup::Withheld;
                rt.grace_until = None;
                rt.rejoining = false;
                if rt.arp.is_err() {
                    // Without the responder the kernel answers for the address as long
                    // as it is there: withholding means removing it. Resuming adds it.
                    if let Err(err) = vip::remove(&rt.telephony_interface, rt.cluster_ip).await {
                        tracing::error!(
                            error = format!("{err:#}"),
                            "could not withhold the cluster IP"
                        );
                    }
                }
            }
            Action::Rejoin => {
                rt.rejoining = true;
                rt.startup = Startup::Grace;
                rt.grace_until =
                    Some(now + Duration::from_millis(self.shared.settings.startup_grace_ms));
            }
            Action::ResumeMaster => {
                rt.startup = Startup::Settled;
                rt.rejoining = false;
                let mut log = vec![decision.reason.clone()];
                let (claimed, failed) = self.claim(rt).await;
                log.extend(claimed);
                self.shared
                    .record(JobKind::AutomaticFailover, "Resume as master", log, failed)
                    .await;
            }
        }
    }

    /// The start-up of a former master: when the grace period ends, the ARP probe for
    /// the cluster IP starts beside the cycle; when it has ended, its answer is kept.
    /// Until then the node stays in its grace and does not hold the cluster IP.
    async fn advance_startup(&mut self, rt: &mut Runtime, now: Instant) {
        match rt.startup {
            Startup::Grace if rt.grace_until.is_some_and(|until| now >= until) => {
                let interface = rt.telephony_interface.clone();
                let address = rt.cluster_ip.address;
                rt.arp_probe = Some(Background::spawn(async move {
                    vip::in_use(&interface, address, ARP_PROBE_WAIT).await
                }));
                rt.startup = Startup::Probing;
            }
            Startup::Probing => {
                let finished = match rt.arp_probe.as_mut() {
                    Some(probe) => probe.result().await,
                    None => Some(Err("the probe did not run".to_owned())),
                };
                if let Some(result) = finished {
                    rt.arp_probe = None;
                    let arp = match result {
                        Ok(Ok(false)) => ArpProbe::Free,
                        Ok(Ok(true)) => ArpProbe::Taken,
                        Ok(Err(err)) => ArpProbe::Failed(format!("{err:#}")),
                        Err(err) => ArpProbe::Failed(err),
                    };
                    rt.startup = Startup::GraceOver { arp };
                }
            }
            _ => {}
        }
    }

    /// The fault of services that did not start on this master, retried beside the
    /// cycle every few seconds until a start succeeds.
    async fn retry_services(&mut self, rt: &mut Runtime, now: Instant) -> Option<ClusterFault> {
        let pending = rt.services_fault.as_mut()?;
        match pending.retry.as_mut() {
            Some(retry) => {
                if let Some(result) = retry.result().await {
                    pending.retry = None;
                    pending.next_try = now + SERVICES_RETRY;
                    match result {
                        Ok(Ok(())) => {
                            tracing::info!("the managed services started on a retry");
                            rt.services_fault = None;
                            return None;
                        }
                        Ok(Err(err)) => pending.error = format!("{err:#}"),
                        Err(err) => pending.error = err,
                    }
                }
            }
            None if now >= pending.next_try => {
                let services = self.shared.settings.services.clone();
                pending.retry = Some(Background::spawn(async move {
                    services::start_all(&services).await
                }));
            }
            None => {}
        }
        Some(ClusterFault::ServicesFailed(pending.error.clone()))
    }

    /// Adds the cluster IP, announces it and starts the services. Returns the log lines
    /// and, when the IP or a service failed, why: the claim did not succeed then.
    async fn claim(&mut self, rt: &mut Runtime) -> (Vec<String>, Option<String>) {
        let mut log = Vec::new();
        let mut failed = Vec::new();
        match vip::add(&rt.telephony_interface, rt.cluster_ip, rt.answered()).await {
            Ok(()) => {
                log.push(format!(
                    "added {} to {}",
                    rt.cluster_ip, rt.telephony_interface
                ));
                spawn_announce(rt.telephony_interface.clone(), rt.cluster_ip);
                rt.last_announce = Some(Instant::now());
                log.push("sent gratuitous ARP".into());
                // Answer for it while the services start, rather than from the next
                // cycle on: the claim is this node's, and the cycle after it keeps
                // the gate as decide() says.
                self.reopen_gate(rt);
            }
            // The cycle adds the missing IP again and reports Cluster Status until then.
            Err(err) => failed.push(format!("could not add the cluster IP: {err:#}")),
        }
        // The database is primary before the services that write to it start.
        let me = rt.config.member(self.node.id).map(endpoint);
        if let Some(me) = me {
            let slave = active_slave(&rt.config, self.node.id);
            match self
                .shared
                .sync
                .serve_as_master(&me, slave.as_ref(), &rt.config.secret)
                .await
            {
                Ok(lines) => log.extend(lines),
                Err(err) => {
                    failed.push(format!("data sync could not take the master's part: {err}"))
                }
            }
            self.reopen_gate(rt);
        }
        let started = services::start_all(&self.shared.settings.services).await;
        self.reopen_gate(rt);
        match started {
            Ok(()) => {
                rt.services_fault = None;
                log.push(format!(
                    "started {} managed service(s)",
                    self.shared.settings.services.len()
                ));
            }
            Err(err) => {
                rt.services_fault = Some(ServicesFault::new(format!("{err:#}")));
                failed.push(format!("a service did not start: {err:#}"));
            }
        }
        log.extend(failed.iter().cloned());
        (log, (!failed.is_empty()).then(|| failed.join("; ")))
    }

    /// Keeps answering ARP through a claim's slow steps (a promotion, the services):
    /// the claim is this node's, and the cycle after it keeps the gate as decide() says.
    fn reopen_gate(&self, rt: &Runtime) {
        if let Ok(arp) = &rt.arp {
            let span = gate_span(self.shared.interval(), self.shared.dead_after());
            arp.gate().open_until(Instant::now() + span);
        }
    }

    /// Slave → master: a new epoch, the cluster IP, the services; the old master is
    /// kept as the node to "Add again". A takeover whose IP or services failed is a
    /// failed job, and the notifier hears of it either way.
    async fn take_over(&mut self, rt: &mut Runtime, reason: &str, manual: bool) {
        let started = Instant::now();
        let mut node = self.node.clone();
        node.epoch += 1;
        node.role = Role::Master;
        let (config, previous_master) = takeover_config(&rt.config, node.id);
        if let Err(err) = self.shared.store.save_cluster(&node, Some(&config)).await {
            tracing::error!(error = %err, "could not store the new role; continuing the takeover");
        }
        let epoch = node.epoch;
        let snapshot = node.clone();
        self.node = node;
        self.shared.node.send_replace(snapshot.clone());
        rt.config = config;
        rt.startup = Startup::Settled;
        rt.arp_probe = None;
        let mut log = vec![reason.to_string(), format!("claimed epoch {epoch}")];
        let (claimed, failed) = self.claim(rt).await;
        log.extend(claimed);
        log.push(format!("took over in {} ms", started.elapsed().as_millis()));
        self.shared.own.send_modify(|own| {
            own.role = snapshot.role;
            own.epoch = snapshot.epoch;
            own.holds_vip = true;
        });
        tracing::warn!(
            epoch,
            elapsed_ms = started.elapsed().as_millis() as u64,
            failed = failed.as_deref(),
            "this node is now master"
        );
        let (kind, title) = if manual {
            (JobKind::ManualFailover, MANUAL_TAKEOVER_TITLE)
        } else {
            (JobKind::AutomaticFailover, TAKEOVER_TITLE)
        };
        crate::audit::record_own(
            self.shared.store.as_ref(),
            "failover.takeover",
            snapshot.hostname.as_str(),
            if failed.is_some() {
                pequod_api::audit::AuditOutcome::Failure
            } else {
                pequod_api::audit::AuditOutcome::Success
            },
            match &failed {
                Some(why) => format!("{reason}; took over as epoch {epoch}, but {why}"),
                None => format!("{reason}; took over as epoch {epoch}"),
            },
        )
        .await;
        if let Some(summary) = self.shared.record(kind, title, log, failed.clone()).await {
            self.shared.events.announce(DomainEvent::TookOver(Takeover {
                job: summary.id,
                manual,
                epoch,
                reason: reason.to_string(),
                previous_master,
                failed,
            }));
        }
        self.shared.publish_cluster().await;
    }

    /// Master → standby: services stop, the cluster IP goes. Returns why it did not
    /// complete, if it did not; the job is failed then, and a cluster IP left behind
    /// is released by the next cycles.
    async fn step_down(&mut self, rt: &mut Runtime, reason: &str) -> Result<(), String> {
        // Silent from the first moment: the slave may take over before this ends.
        if let Ok(arp) = &rt.arp {
            arp.gate().close();
        }
        rt.rejoining = false;
        // No retry may start the services again behind the stop.
        rt.services_fault = None;
        rt.arp_probe = None;
        let mut log = vec![reason.to_string()];
        let mut failed = Vec::new();
        match services::stop_all(&self.shared.settings.services).await {
            Ok(()) => log.push("stopped the managed services".into()),
            Err(err) => failed.push(format!("stopping services: {err:#}")),
        }
        // No commit on this node once the cluster IP may be someone else's.
        if self.shared.sync.manages_database() {
            match self.shared.sync.refuse_writes().await {
                Ok(()) => log.push("the database refuses writes (stopped)".into()),
                Err(err) => failed.push(format!("the database could not be stopped: {err}")),
            }
        }
        match vip::remove(&rt.telephony_interface, rt.cluster_ip).await {
            Ok(()) => log.push(format!("released {}", rt.cluster_ip)),
            Err(err) => failed.push(format!("could not release the cluster IP: {err:#}")),
        }
        // Standby from now on, stored or not: a master that could not write its
        // role down must not go on as master.
        self.node.role = Role::Standby;
        if let Err(err) = self.shared.store.save_node(&self.node).await {
            tracing::error!(error = %err, "could not store the standby role");
        }
        self.shared.node.send_replace(self.node.clone());
        self.shared.own.send_modify(|own| {
            own.role = Role::Standby;
            own.holds_vip = false;
        });
        rt.startup = Startup::Settled;
        log.extend(failed.iter().cloned());
        let failed = (!failed.is_empty()).then(|| failed.join("; "));
        self.shared
            .record(
                JobKind::AutomaticFailover,
                "Stepped down to standby",
                log,
                failed.clone(),
            )
            .await;
        self.shared.publish_cluster().await;
        failed.map_or(Ok(()), Err)
    }

    /// Sets the role, epoch and configuration at once and runs what they need.
    async fn set_membership(
        &mut self,
        role: Role,
        epoch: u64,
        config: Option<&ClusterConfig>,
    ) -> anyhow::Result<()> {
        let mut node = self.node.clone();
        node.role = role;
        node.epoch = epoch;
        self.shared.store.save_cluster(&node, config).await?;
        self.node = node;
        self.shared.node.send_replace(self.node.clone());
        self.reload(false).await?;
        self.shared.publish_cluster().await;
        Ok(())
    }
}

/// What a cycle observed: the inputs of `decide()` and what the API shows of them.
struct Observation {
    snapshot: Snapshot,
    health: Health,
    view: AgentView,
}

/// Opens or closes the ARP responder's gate for this cycle's decision. Set before the
/// decision is carried out: a master about to step down is silent from now on. Open,
/// it closes by itself ([`gate_span`]) before the slave could declare this node dead,
/// unless the next cycle opens it again.
fn set_arp_gate(
    rt: &Runtime,
    snapshot: &Snapshot,
    health: &Health,
    decision: &Decision,
    now: Instant,
    interval: Duration,
    dead_after: Duration,
) {
    if let Ok(arp) = &rt.arp {
        if decide::answers_arp(snapshot, health, decision) {
            arp.gate().open_until(now + gate_span(interval, dead_after));
        } else {
            arp.gate().close();
        }
    }
}

/// How long one cycle keeps the gate open: until a tick before the slave could call
/// this node dead (its last heartbeat left at about the cycle), and at least half a
/// `dead_after`, so a tick a little late leaves no gap in the answers.
fn gate_span(interval: Duration, dead_after: Duration) -> Duration {
    dead_after.saturating_sub(interval).max(dead_after / 2)
}

/// Why a settled master adds its cluster IP again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Repair {
    /// The address vanished (someone removed it, the interface flapped).
    Missing,
    /// It is there, but answered by the wrong party: by the kernel although the
    /// responder runs (as "Configure master" or an older Pequod left it), or host-scoped
    /// although the responder could not start, so nobody would answer.
    Misfit,
}

/// What a settled master does about its cluster IP as read from its interface. One
/// whose addresses cannot be read adds nothing blindly: decide() makes that a Cluster
/// Status fault of its own.
fn vip_repair<E>(held: &Result<Option<Answered>, E>, wanted: Answered) -> Option<Repair> {
    match held {
        Ok(None) => Some(Repair::Missing),
        Ok(Some(answered)) if *answered != wanted => Some(Repair::Misfit),
        Ok(Some(_)) | Err(_) => None,
    }
}

/// The configuration after this node (`me`) took over: it becomes the active master
/// and the old master is kept, removed, as the node to "Add again". Also the old
/// master's host name, when there was one. A node that is master already keeps it.
fn takeover_config(config: &ClusterConfig, me: NodeId) -> (ClusterConfig, Option<String>) {
    let mut config = config.clone();
    if config.master.node_id == Some(me) {
        return (config, None);
    }
    let Some(mut new_master) = config.slave.take() else {
        return (config, None);
    };
    let mut old_master = config.master.clone();
    let previous = old_master.hostname.to_string();
    old_master.state = SlaveState::Removed;
    new_master.state = SlaveState::Active;
    config.master = new_master;
    config.slave = Some(old_master);
    (config, Some(previous))
}

/// A member as data sync knows it.
fn endpoint(member: &Member) -> Endpoint {
    Endpoint {
        hostname: member.hostname.to_string(),
        sync_ip: member.sync_ip,
    }
}

/// The slave that replicates from this master, if one is active.
fn active_slave(config: &ClusterConfig, me: pequod_api::NodeId) -> Option<Endpoint> {
    config
        .peer_of(me)
        .filter(|peer| peer.state == SlaveState::Active)
        .map(endpoint)
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::decide::Cause;

    const INTERVAL: Duration = Duration::from_millis(100);
    const DEAD_AFTER: Duration = Duration::from_millis(600);

    #[test]
    fn a_master_repairs_a_missing_or_misfit_cluster_ip_and_never_adds_it_blindly() {
        use Answered::{ByKernel, ByPequod};
        type Case = (
            Result<Option<Answered>, &'static str>,
            Answered,
            Option<Repair>,
        );
        let cases: [Case; 6] = [
            (Ok(None), ByPequod, Some(Repair::Missing)),
            (Ok(None), ByKernel, Some(Repair::Missing)),
            (Ok(Some(ByKernel)), ByPequod, Some(Repair::Misfit)),
            (Ok(Some(ByPequod)), ByKernel, Some(Repair::Misfit)),
            (Ok(Some(ByPequod)), ByPequod, None),
            (Err("netlink refused"), ByPequod, None),
        ];
        for (held, wanted, expected) in cases {
            assert_eq!(
                vip_repair(&held, wanted),
                expected,
                "{held:?} wanting {wanted:?}"
            );
        }
    }

    fn member(id: u128, hostname: &str, state: SlaveState) -> Member {
        Member {
            node_id: Some(NodeId(uuid::Uuid::from_u128(id))),
            hostname: pequod_api::Hostname::parse(hostname).expect("host name"),
            telephony_ip: "10.77.0.11".parse().expect("address"),
            sync_ip: "10.78.0.1".parse().expect("address"),
            telephony_interface: Some("eth0".into()),
            cluster_interface: Some("eth1".into()),
            public_key: None,
            state,
        }
    }

    fn two_nodes() -> ClusterConfig {
        ClusterConfig {
            cluster_ip: ClusterIp::parse("10.77.0.10/24").expect("cluster IP"),
            notification_email: pequod_api::EmailAddress::parse("ops@example.org")
                .expect("address"),
            gateways: Vec::new(),
            secret: "00".into(),
            master: member(1, "node1", SlaveState::Active),
            slave: Some(member(2, "node2", SlaveState::Active)),
        }
    }

    #[test]
    fn the_slave_taking_over_becomes_master_and_keeps_the_old_master_to_add_again() {
        let slave = NodeId(uuid::Uuid::from_u128(2));
        let (config, previous) = takeover_config(&two_nodes(), slave);
        assert_eq!(previous.as_deref(), Some("node1"));
        assert_eq!(config.master.node_id, Some(slave));
        assert_eq!(config.master.state, SlaveState::Active);
        let old = config.slave.expect("the old master is kept");
        assert_eq!(old.hostname.to_string(), "node1");
        assert_eq!(old.state, SlaveState::Removed);
        assert_eq!(config.cluster_ip.to_string(), "10.77.0.10/24");
    }

    #[test]
    fn a_master_taking_over_again_or_a_lone_master_changes_nothing() {
        let master = NodeId(uuid::Uuid::from_u128(1));
        let (config, previous) = takeover_config(&two_nodes(), master);
        assert_eq!((config, previous), (two_nodes(), None));
        let lone = ClusterConfig {
            slave: None,
            ..two_nodes()
        };
        let stranger = NodeId(uuid::Uuid::from_u128(3));
        assert_eq!(takeover_config(&lone, stranger), (lone.clone(), None));
    }

    #[test]
    fn the_gate_closes_a_tick_before_the_slave_could_call_this_node_dead() {
        let ms = Duration::from_millis;
        assert_eq!(gate_span(ms(100), ms(600)), ms(500));
        assert_eq!(gate_span(ms(50), ms(200)), ms(150), "the fast profile");
        assert_eq!(
            gate_span(ms(100), ms(150)),
            ms(75),
            "at least half a dead_after"
        );
    }

    #[test]
    fn a_loop_on_time_is_never_stalled() {
        let start = Instant::now();
        let mut guard = StallGuard::new(INTERVAL, DEAD_AFTER, start);
        for n in 1..50 {
            assert!(!guard.tick(start + INTERVAL * n), "tick {n}");
        }
    }

    #[test]
    fn after_a_pause_longer_than_dead_after_the_guard_covers_dead_after_from_the_resume() {
        let start = Instant::now();
        let mut guard = StallGuard::new(INTERVAL, DEAD_AFTER, start);
        assert!(!guard.tick(start + INTERVAL));
        let resume = start + INTERVAL + Duration::from_secs(3);
        assert!(guard.tick(resume), "the late tick itself");
        // Ticks on time after the resume do not end the guard early.
        let mut at = resume;
        while at + INTERVAL < resume + DEAD_AFTER {
            at += INTERVAL;
            assert!(guard.tick(at), "{:?} after the resume", at - resume);
        }
        assert!(!guard.tick(resume + DEAD_AFTER + INTERVAL));
    }

    #[test]
    fn the_tasks_own_work_is_no_stall() {
        let interval = Duration::from_millis(100);
        let dead_after = Duration::from_millis(600);
        let start = Instant::now();
        let mut guard = StallGuard::new(interval, dead_after, start);
        // A takeover that promoted the database for 900 ms made the next tick late.
        guard.credit(Duration::from_millis(900));
        assert!(!guard.tick(start + Duration::from_millis(1000)));
        // The same lateness without work of its own is a pause.
        assert!(guard.tick(start + Duration::from_millis(2000)));
    }

    #[test]
    fn a_second_pause_inside_the_guard_extends_it() {
        let start = Instant::now();
        let mut guard = StallGuard::new(INTERVAL, DEAD_AFTER, start);
        let first = start + Duration::from_secs(2);
        assert!(guard.tick(first));
        let second = first + Duration::from_millis(500);
        assert!(guard.tick(second));
        assert!(guard.tick(second + DEAD_AFTER - INTERVAL));
    }

    #[test]
    fn cluster_status_reads_the_typed_cause_not_the_sentence() {
        let fault = ClusterFault::ServicesFailed("kamailio start: exit 1".into());
        let view = |reason: &str, cause: Option<Cause>| AgentView {
            holds_vip: true,
            last_decision: Some(Decision {
                action: Action::Warn,
                reason: reason.into(),
                cause,
            }),
            ..AgentView::default()
        };
        // Reworded: no "Cluster Status failed" in the sentence, the fault still counts.
        let reworded = view(
            "The master's services are down.",
            Some(Cause::ClusterStatus(fault.clone())),
        );
        assert_eq!(reworded.cluster_fault(), Some(&fault));
        // The old words without the cause are no fault.
        let words_only = view("Cluster Status failed (something), so what.", None);
        assert_eq!(words_only.cluster_fault(), None);
        let other_cause = view("No heartbeat.", Some(Cause::MasterNodeAlive));
        assert_eq!(other_cause.cluster_fault(), None);
    }

    #[tokio::test]
    async fn background_work_is_read_without_waiting_for_it() {
        let (release, wait) = tokio::sync::oneshot::channel::<()>();
        let mut work = Background::spawn(async move {
            let _ = wait.await;
            7
        });
        assert_eq!(work.result().await, None, "still running");
        let _ = release.send(());
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            if let Some(result) = work.result().await {
                assert_eq!(result, Ok(7));
                break;
            }
            assert!(Instant::now() < deadline, "the task never ended");
            tokio::task::yield_now().await;
        }
        assert_eq!(work.result().await, None, "the result is taken once");
    }
}
