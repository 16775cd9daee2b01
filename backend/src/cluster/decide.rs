//! The failover policy as one pure function: `decide(snapshot, health)` looks at what
//! this node knows about itself and its peer and returns the one thing to do next,
//! with the reason as a sentence and, for a failover rule, its typed cause. No I/O
//! here, so every rule is tested by a table of scenarios; the executor performs the
//! transitions. Where the node cannot tell, the rules take the answer that cannot make
//! a second holder of the cluster IP.

use std::fmt;

use pequod_api::NodeId;
use pequod_api::cluster::Role;

pub use super::probe::Reachability;
pub use crate::sync::advert::Readiness;

/// What this node believes about the cluster at the start of a cycle.
#[derive(Debug, Clone, PartialEq)]
pub struct Snapshot {
    pub node_id: NodeId,
    pub role: Role,
    /// The persisted term of the current master.
    pub epoch: u64,
    /// Whether the cluster IP is configured on our telephony interface right now.
    pub vip: Presence,
    /// The node in the other half of the cluster, once it has one.
    pub peer: Option<PeerView>,
    /// Where the node stands after a start with a stored role of master.
    pub startup: Startup,
    /// The grace under way follows an isolation ([`Startup::Withheld`]), not a start:
    /// a master that kept its duties, not a former one coming back.
    pub rejoining: bool,
}

/// Whether this node holds the cluster IP, as read from its own interface.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Presence {
    Held,
    NotHeld,
    /// The addresses could not be read; the sentence says why. Not "not held": the
    /// address may well be there.
    Unknown(String),
}

impl Presence {
    pub fn is_held(&self) -> bool {
        *self == Presence::Held
    }
}

/// The peer as its heartbeats describe it.
#[derive(Debug, Clone, PartialEq)]
pub struct PeerView {
    pub node_id: NodeId,
    pub hostname: String,
    /// A valid heartbeat arrived on the telephony link within `dead_after` (before the
    /// first one, `dead_after` since listening began counts as a chance to show up).
    pub telephony_alive: bool,
    /// The same for the cluster link.
    pub cluster_alive: bool,
    /// The role of its latest heartbeat; `None` until a heartbeat arrived. Nothing
    /// about a peer not heard yet is known, least of all that it is healthy.
    pub role: Option<Role>,
    /// The epoch of its latest heartbeat (0 until one arrived).
    pub epoch: u64,
    /// The peer says it reaches the telephony gateway (false until heard).
    pub reaches_telephony: bool,
}

impl PeerView {
    pub fn alive(&self) -> bool {
        self.telephony_alive || self.cluster_alive
    }

    /// A slave that can take the master's duties now: heard, alive on a link now, and
    /// its latest heartbeat says slave. (Heard and alive means a real heartbeat within
    /// `dead_after`: the chance to show up ends `dead_after` after listening began, so
    /// a heard link gone silent outlives it.)
    pub fn is_healthy_slave(&self) -> bool {
        self.alive() && self.role == Some(Role::Slave)
    }

    fn heard_as(&self, role: Role) -> bool {
        self.role == Some(role)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Startup {
    /// Running normally.
    Settled,
    /// Stored role is master; still listening for a peer master before claiming the VIP.
    Grace,
    /// The grace period is over; the ARP probe for the cluster IP runs.
    Probing,
    /// The grace period and the ARP probe are over.
    GraceOver { arp: ArpProbe },
    /// A master cut off from both the telephony gateway and its slave: it keeps the
    /// role and the address but answers no ARP for the cluster IP, since the slave may
    /// have taken over. Back in touch, it goes through the grace and the probe again.
    Withheld,
}

/// What the ARP duplicate-address probe found for the cluster IP.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ArpProbe {
    /// Nobody answered: the address is free.
    Free,
    /// Another host answers for it.
    Taken,
    /// The probe did not run to its end (arping missing, interface down): the address
    /// may be taken.
    Failed(String),
}

/// This node's own health, gathered by the agent for the cycle.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Health {
    /// What the gateway probe says about the telephony network.
    pub telephony: Reachability,
    /// Our own loop ran late (paused, starved): missed heartbeats are not the peer's fault.
    pub loop_stalled: bool,
    /// Why the agent cannot keep the master's duties, if it cannot.
    pub cluster_fault: Option<ClusterFault>,
    /// On a slave: whether its database has every commit the master acknowledged.
    pub database: Readiness,
    /// A person forced this slave to take over whatever its database lacks.
    pub forced: bool,
}

/// Why Cluster Status fails on a master.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClusterFault {
    /// The cluster IP is missing and adding it again failed.
    VipLost(String),
    /// The node cannot read its own addresses, so it cannot tell whether it holds the IP.
    VipUnknown(String),
    /// A managed service did not start (and has not started on a retry since).
    ServicesFailed(String),
    /// Pequod cannot answer ARP for the cluster IP itself, so the kernel does, and a
    /// paused or isolated node would go on answering for it.
    ArpResponder(String),
    /// A failover check the agent does not judge itself (RAID, a custom one) is critical.
    FailoverCheck { check: String },
}

impl fmt::Display for ClusterFault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClusterFault::VipLost(error) => write!(f, "cannot hold the cluster IP: {error}"),
            ClusterFault::VipUnknown(error) => f.write_str(error),
            ClusterFault::ServicesFailed(error) => {
                write!(f, "a managed service did not start: {error}")
            }
            ClusterFault::ArpResponder(error) => {
                write!(f, "cannot answer ARP for the cluster IP itself: {error}")
            }
            ClusterFault::FailoverCheck { check } => {
                write!(f, "a failover check is critical ({check})")
            }
        }
    }
}

/// The failover rule behind a decision, for the checks and notifications that must
/// not read the sentence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cause {
    /// Cluster Status failed on this master.
    ClusterStatus(ClusterFault),
    /// No heartbeat from the master on either link.
    MasterNodeAlive,
    /// The master cannot reach the telephony network, the slave can.
    NetworkFailover,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Nothing to change.
    Stay,
    /// Nothing to change, but a person should know (a link is down, the slave is gone).
    Warn,
    /// Slave → master: claim epoch + 1, add the VIP, gratuitous ARP, start services.
    TakeOver,
    /// Master → standby: stop services, release the VIP.
    StepDown,
    /// After a healed split: we stay master; tell the LAN again where the VIP is.
    Reannounce,
    /// A former master after its start-up grace: claim the VIP again.
    ResumeMaster,
    /// A node that must not hold the VIP but does (or may): release it.
    ReleaseVip,
    /// An isolated master: stop answering for the cluster IP (see [`Startup::Withheld`]).
    Withhold,
    /// A withheld master back in touch: listen for a peer master, probe, then resume.
    Rejoin,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    pub action: Action,
    /// One sentence for the log, the event stream and the failover e-mail.
    pub reason: String,
    /// The failover rule that led here, if one did.
    pub cause: Option<Cause>,
}

impl Decision {
    fn new(action: Action, reason: impl Into<String>) -> Self {
        Self {
            action,
            reason: reason.into(),
            cause: None,
        }
    }

    fn because(mut self, cause: Cause) -> Self {
        self.cause = Some(cause);
        self
    }

    /// The Cluster Status fault behind this decision, if any.
    pub fn cluster_fault(&self) -> Option<&ClusterFault> {
        match &self.cause {
            Some(Cause::ClusterStatus(fault)) => Some(fault),
            _ => None,
        }
    }
}

/// Whether a master with (`epoch`, `id`) must give way to one with (`other_epoch`,
/// `other_id`): the higher epoch wins; on equal epochs, the lower node id.
pub fn yields_to(epoch: u64, id: NodeId, other_epoch: u64, other_id: NodeId) -> bool {
    other_epoch > epoch || (other_epoch == epoch && other_id < id)
}

pub fn decide(snapshot: &Snapshot, health: &Health) -> Decision {
    match snapshot.role {
        Role::Master => decide_master(snapshot, health),
        Role::Slave => decide_slave(snapshot, health),
        Role::Standby | Role::Standalone => release_if_held(snapshot).unwrap_or_else(|| {
            Decision::new(
                Action::Stay,
                format!("This node is {}.", snapshot.role.as_str()),
            )
        }),
    }
}

/// A node that is not master releases the cluster IP it holds, or may hold: removing an
/// absent address costs nothing, a second holder costs the calls.
fn release_if_held(s: &Snapshot) -> Option<Decision> {
    match &s.vip {
        Presence::Held => Some(Decision::new(
            Action::ReleaseVip,
            format!(
                "This node is {} but holds the cluster IP, so it releases it.",
                s.role.as_str()
            ),
        )),
        Presence::Unknown(error) => Some(Decision::new(
            Action::ReleaseVip,
            format!(
                "This node is {} and cannot tell whether it holds the cluster IP ({error}), so it removes it to be sure.",
                s.role.as_str()
            ),
        )),
        Presence::NotHeld => None,
    }
}

fn decide_master(s: &Snapshot, health: &Health) -> Decision {
    // A peer master settles who keeps the VIP, before anything else. Its heartbeat is
    // decisive even when it is not fresh: after our own pause every heartbeat looks
    // old, and a master that yields must not keep the IP while it waits for new ones.
    if let Some(peer) = s.peer.as_ref().filter(|p| p.heard_as(Role::Master)) {
        if yields_to(s.epoch, s.node_id, peer.epoch, peer.node_id) {
            return Decision::new(
                Action::StepDown,
                format!(
                    "{} is also master with epoch {} against our {}, so this node steps down to standby.",
                    peer.hostname, peer.epoch, s.epoch
                ),
            );
        }
        if peer.alive() {
            if s.startup != Startup::Settled {
                // No automatic failback: a live master keeps its duties against a
                // former master coming back, whatever the epochs say.
                return Decision::new(
                    Action::StepDown,
                    format!(
                        "{} is master (epoch {} against our {}) while this node starts again, so this former master becomes standby.",
                        peer.hostname, peer.epoch, s.epoch
                    ),
                );
            }
            return Decision::new(
                Action::Reannounce,
                format!(
                    "{} is also master but with epoch {} against our {}, so this node stays master and announces the cluster IP again.",
                    peer.hostname, peer.epoch, s.epoch
                ),
            );
        }
    }

    if matches!(s.startup, Startup::Settled | Startup::Withheld)
        && let Some(peer) = isolated_from(s, health)
    {
        return Decision::new(
            Action::Withhold,
            format!(
                "This master reaches neither the telephony gateway nor {}, so it stops answering for the cluster IP: the slave may have taken over.",
                peer.hostname
            ),
        );
    }
    match &s.startup {
        Startup::Withheld => {
            return Decision::new(
                Action::Rejoin,
                "This master is back in touch, so it listens for a peer master and probes the cluster IP before answering for it again.",
            );
        }
        Startup::Grace => {
            return Decision::new(
                Action::Stay,
                "This node was master before it stopped and listens for a peer master before claiming the cluster IP.",
            );
        }
        Startup::Probing => {
            return Decision::new(
                Action::Stay,
                "This node was master before it stopped and probes whether another host answers for the cluster IP.",
            );
        }
        Startup::GraceOver { arp } => return resume_or_not(s, health, arp),
        Startup::Settled => {}
    }

    let fault = match &s.vip {
        Presence::Unknown(error) => Some(ClusterFault::VipUnknown(error.clone())),
        Presence::Held | Presence::NotHeld => health.cluster_fault.clone(),
    };
    let healthy_slave = s.peer.as_ref().filter(|p| p.is_healthy_slave());
    if let Some(fault) = fault {
        // What keeps the responder from running (no CAP_NET_RAW, a read-only /proc)
        // is the same on the slave as a rule: handing over would drop the calls for
        // nothing. Cluster Status says so; the kernel answers meanwhile.
        let fixable_by_slave = !matches!(fault, ClusterFault::ArpResponder(_));
        let decision = match healthy_slave.filter(|_| fixable_by_slave) {
            Some(slave) => Decision::new(
                Action::StepDown,
                format!(
                    "Cluster Status failed ({fault}), so this master steps down for {}.",
                    slave.hostname
                ),
            ),
            None if !fixable_by_slave => Decision::new(
                Action::Warn,
                format!(
                    "Cluster Status failed ({fault}), which a slave could not do better, so this node stays master."
                ),
            ),
            None => Decision::new(
                Action::Warn,
                format!(
                    "Cluster Status failed ({fault}), but there is no healthy slave to take over, so this node stays master."
                ),
            ),
        };
        return decision.because(Cause::ClusterStatus(fault));
    }
    // Only a known outage moves the services: an unprobed or unconfigured gateway says
    // nothing about the telephony network.
    if health.telephony == Reachability::Unreachable {
        return match healthy_slave {
            Some(slave) if slave.reaches_telephony => Decision::new(
                Action::StepDown,
                format!(
                    "This master cannot reach the telephony network but {} can, so it steps down (network failover).",
                    slave.hostname
                ),
            )
            .because(Cause::NetworkFailover),
            _ => Decision::new(
                Action::Warn,
                "This master cannot reach the telephony gateway, and no slave reaches it either, so it stays master.",
            ),
        };
    }
    match &s.peer {
        None => Decision::new(Action::Stay, "This node is master and has no slave."),
        Some(peer) if peer.alive() && peer.role.is_none() => Decision::new(
            Action::Stay,
            format!(
                "This node is master and listens for {}, not heard yet.",
                peer.hostname
            ),
        ),
        Some(peer) if peer.alive() && !peer.heard_as(Role::Slave) => Decision::new(
            Action::Stay,
            format!(
                "This node is master; {} is {} and waits for \"Add again\".",
                peer.hostname,
                peer.role.map_or("unknown", Role::as_str)
            ),
        ),
        Some(peer) => link_report(peer, "master"),
    }
}

/// The peer a master has lost together with the telephony gateway: a slave (or a
/// member not heard yet) that reaches the gateway would take over meanwhile. A removed
/// slave (standby) never takes over, and without a configured gateway the node cannot
/// tell isolation from a dead slave, so neither withholds anything.
fn isolated_from<'a>(s: &'a Snapshot, health: &Health) -> Option<&'a PeerView> {
    if health.telephony != Reachability::Unreachable {
        return None;
    }
    s.peer.as_ref().filter(|peer| {
        !peer.alive() && matches!(peer.role, None | Some(Role::Slave) | Some(Role::Master))
    })
}

/// Whether this node answers ARP for the cluster IP after `decision`: only a settled
/// master that holds the address, whose loop runs on time and that keeps its duties
/// this cycle. Everything else (a pause, the start-up grace, an isolation, a step-down
/// under way) is silence, so a node that may have been replaced is never a second
/// holder the phones can see.
pub fn answers_arp(s: &Snapshot, health: &Health, decision: &Decision) -> bool {
    s.role == Role::Master
        && s.startup == Startup::Settled
        && s.vip.is_held()
        && !health.loop_stalled
        && matches!(
            decision.action,
            Action::Stay | Action::Warn | Action::Reannounce
        )
}

/// A former master at the end of its start-up grace claims the cluster IP again only
/// when it knows nobody else can hold it.
fn resume_or_not(s: &Snapshot, health: &Health, arp: &ArpProbe) -> Decision {
    if health.loop_stalled {
        return Decision::new(
            Action::Stay,
            "This node's own loop ran late, so it waits for fresh heartbeats before claiming the cluster IP.",
        );
    }
    match arp {
        ArpProbe::Taken => {
            return Decision::new(
                Action::StepDown,
                "Another host answers for the cluster IP, so this former master becomes standby.",
            );
        }
        ArpProbe::Failed(error) => {
            return Decision::new(
                Action::StepDown,
                format!(
                    "The ARP probe for the cluster IP failed ({error}), so the cluster IP may be taken and this former master becomes standby."
                ),
            );
        }
        ArpProbe::Free => {}
    }
    if let Some(peer) = s.peer.as_ref().filter(|p| p.alive() && p.role.is_none()) {
        return Decision::new(
            Action::Stay,
            format!(
                "This former master waits to hear {} before claiming the cluster IP.",
                peer.hostname
            ),
        );
    }
    if s.rejoining && health.telephony == Reachability::Unreachable {
        // Still cut off: back to withholding rather than to standby, so a master whose
        // slave is gone keeps its duties for when the network returns. With the slave
        // heard again, it resumes and the rules of a settled master decide.
        return match s.peer.as_ref().filter(|p| p.alive()) {
            None => Decision::new(
                Action::Withhold,
                "This master still reaches neither the telephony gateway nor its slave, so it stops answering for the cluster IP again.",
            ),
            Some(peer) => Decision::new(
                Action::ResumeMaster,
                format!(
                    "{} is heard again and no other master answers, so this master resumes its duties.",
                    peer.hostname
                ),
            ),
        };
    }
    match health.telephony {
        Reachability::Unreachable => Decision::new(
            Action::StepDown,
            "The telephony gateway does not answer, so this former master becomes standby instead of claiming the cluster IP.",
        ),
        Reachability::Unknown => Decision::new(
            Action::Stay,
            "The telephony gateway has not been probed yet, so this former master waits before claiming the cluster IP.",
        ),
        Reachability::Reachable | Reachability::NotConfigured => Decision::new(
            Action::ResumeMaster,
            "No peer master answered and nobody holds the cluster IP, so this node resumes as master.",
        ),
    }
}

fn decide_slave(s: &Snapshot, health: &Health) -> Decision {
    let decision = slave_duties(s, health);
    if decision.action == Action::TakeOver {
        return mind_the_database(decision, health);
    }
    release_if_held(s).unwrap_or(decision)
}

/// A takeover promotes the slave's database: never automatically when it lacks a
/// commit the master acknowledged (or cannot tell), unless a person forces it.
fn mind_the_database(decision: Decision, health: &Health) -> Decision {
    let Decision { reason, cause, .. } = decision;
    let reason = reason.trim_end_matches('.');
    let keep = |text: String| Decision {
        action: Action::TakeOver,
        reason: text,
        cause,
    };
    match (&health.database, health.forced) {
        (Readiness::NotManaged, _) => keep(format!("{reason}.")),
        (Readiness::CaughtUp, _) => keep(format!(
            "{reason}; its database has every commit the master acknowledged."
        )),
        (Readiness::Behind { bytes }, true) => keep(format!(
            "{reason}, forced by a person although its database lacks {bytes} bytes of WAL with commits the master acknowledged: those commits are lost."
        )),
        (Readiness::Unknown(why), true) => keep(format!(
            "{reason}, forced by a person although it cannot tell whether its database has every acknowledged commit ({why})."
        )),
        (Readiness::Behind { bytes }, false) => Decision::new(
            Action::Warn,
            format!(
                "This slave would take over, but its database lacks {bytes} bytes of WAL with commits the master acknowledged, so it is not promoted automatically; a manual failover with force takes over and loses them."
            ),
        ),
        (Readiness::Unknown(why), false) => Decision::new(
            Action::Warn,
            format!(
                "This slave would take over, but it cannot tell whether its database has every commit the master acknowledged ({why}), so it is not promoted automatically; a manual failover with force takes over."
            ),
        ),
    }
}

fn slave_duties(s: &Snapshot, health: &Health) -> Decision {
    let Some(peer) = &s.peer else {
        return Decision::new(Action::Warn, "This node is slave but knows no master.");
    };
    if health.loop_stalled {
        return Decision::new(
            Action::Stay,
            "This node's own loop ran late, so missed heartbeats do not count against the master this time.",
        );
    }
    if !peer.alive() {
        // A master never heard within `dead_after` of listening is as silent as one
        // that went quiet.
        return match health.telephony {
            Reachability::Unreachable => Decision::new(
                Action::Warn,
                format!(
                    "No heartbeat from {} on either link, but this node cannot reach the telephony gateway either, so it does not take over.",
                    peer.hostname
                ),
            ),
            Reachability::Unknown => Decision::new(
                Action::Warn,
                format!(
                    "No heartbeat from {} on either link, but this node has not probed the telephony gateway yet, so it does not take over yet.",
                    peer.hostname
                ),
            ),
            Reachability::Reachable | Reachability::NotConfigured => Decision::new(
                Action::TakeOver,
                format!(
                    "No heartbeat from master {} on either link, so this slave takes over (Master Node Alive).",
                    peer.hostname
                ),
            )
            .because(Cause::MasterNodeAlive),
        };
    }
    let Some(role) = peer.role else {
        return Decision::new(
            Action::Stay,
            format!(
                "This node is slave and listens for {}, not heard yet.",
                peer.hostname
            ),
        );
    };
    if role == Role::Master
        && !peer.reaches_telephony
        && health.telephony == Reachability::Reachable
    {
        return Decision::new(
            Action::TakeOver,
            format!(
                "Master {} reports the telephony network unreachable while this slave reaches it, so this slave takes over (Network Failover).",
                peer.hostname
            ),
        )
        .because(Cause::NetworkFailover);
    }
    if role != Role::Master {
        // The master stepped down (Cluster Status) and nobody holds the services now.
        if peer.epoch >= s.epoch && role == Role::Standby {
            return match health.telephony {
                Reachability::Reachable | Reachability::NotConfigured => Decision::new(
                    Action::TakeOver,
                    format!(
                        "Master {} stepped down to standby, so this slave takes over.",
                        peer.hostname
                    ),
                ),
                Reachability::Unknown => Decision::new(
                    Action::Warn,
                    format!(
                        "Master {} stepped down to standby, but this node has not probed the telephony gateway yet, so it does not take over yet.",
                        peer.hostname
                    ),
                ),
                Reachability::Unreachable => Decision::new(
                    Action::Warn,
                    format!(
                        "Master {} stepped down to standby, but this node cannot reach the telephony gateway, so it does not take over.",
                        peer.hostname
                    ),
                ),
            };
        }
        return Decision::new(
            Action::Warn,
            format!("{} is {} rather than master.", peer.hostname, role.as_str()),
        );
    }
    link_report(peer, "slave")
}

/// Both links up is normal; one link down is worth a warning, never a failover.
fn link_report(peer: &PeerView, own_role: &str) -> Decision {
    match (peer.telephony_alive, peer.cluster_alive) {
        (true, true) => Decision::new(
            Action::Stay,
            format!(
                "This node is {own_role}; {} answers on both links.",
                peer.hostname
            ),
        ),
        (true, false) => Decision::new(
            Action::Warn,
            format!(
                "This node is {own_role}; {} answers on the telephony link only: the cluster link is down.",
                peer.hostname
            ),
        ),
        (false, true) => Decision::new(
            Action::Warn,
            format!(
                "This node is {own_role}; {} answers on the cluster link only: the telephony link is down.",
                peer.hostname
            ),
        ),
        (false, false) => Decision::new(
            Action::Warn,
            format!(
                "This node is {own_role}; {} does not answer on either link.",
                peer.hostname
            ),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use uuid::Uuid;

    const LOW: NodeId = NodeId(Uuid::from_u128(1));
    const HIGH: NodeId = NodeId(Uuid::from_u128(2));

    fn peer(role: Role, epoch: u64) -> PeerView {
        PeerView {
            node_id: HIGH,
            hostname: "node2".into(),
            telephony_alive: true,
            cluster_alive: true,
            role: Some(role),
            epoch,
            reaches_telephony: true,
        }
    }

    /// A peer whose heartbeats have not arrived yet, still within its chance to show up.
    fn unheard() -> PeerView {
        PeerView {
            role: None,
            epoch: 0,
            reaches_telephony: false,
            ..peer(Role::Slave, 0)
        }
    }

    fn node(role: Role, epoch: u64, peer: Option<PeerView>) -> Snapshot {
        Snapshot {
            node_id: LOW,
            role,
            epoch,
            vip: if role == Role::Master {
                Presence::Held
            } else {
                Presence::NotHeld
            },
            peer,
            startup: Startup::Settled,
            rejoining: false,
        }
    }

    /// A former master after its restart, not holding the cluster IP.
    fn restarted(startup: Startup, peer: Option<PeerView>) -> Snapshot {
        Snapshot {
            startup,
            vip: Presence::NotHeld,
            ..node(Role::Master, 3, peer)
        }
    }

    fn healthy() -> Health {
        Health {
            telephony: Reachability::Reachable,
            loop_stalled: false,
            cluster_fault: None,
            database: Readiness::NotManaged,
            forced: false,
        }
    }

    fn database(database: Readiness, forced: bool) -> Health {
        Health {
            database,
            forced,
            ..healthy()
        }
    }

    fn telephony(telephony: Reachability) -> Health {
        Health {
            telephony,
            ..healthy()
        }
    }

    fn stalled() -> Health {
        Health {
            loop_stalled: true,
            ..healthy()
        }
    }

    fn fault(fault: ClusterFault) -> Health {
        Health {
            cluster_fault: Some(fault),
            ..healthy()
        }
    }

    fn dead(mut p: PeerView) -> PeerView {
        p.telephony_alive = false;
        p.cluster_alive = false;
        p
    }

    const UNREADABLE: &str = "cannot read the addresses of eth0: netlink socket refused";

    struct Scenario {
        name: &'static str,
        snapshot: Snapshot,
        health: Health,
        expected: Action,
        /// A word the reason must contain, so the sentence explains the right thing.
        reason_mentions: &'static str,
    }

    fn scenarios() -> Vec<Scenario> {
        let slave_ok = || Some(peer(Role::Slave, 3));
        let master_ok = || Some(peer(Role::Master, 3));
        vec![
            Scenario {
                name: "healthy master with a healthy slave stays",
                snapshot: node(Role::Master, 3, slave_ok()),
                health: healthy(),
                expected: Action::Stay,
                reason_mentions: "both links",
            },
            Scenario {
                name: "healthy slave with a healthy master stays",
                snapshot: node(Role::Slave, 3, master_ok()),
                health: healthy(),
                expected: Action::Stay,
                reason_mentions: "both links",
            },
            Scenario {
                name: "master dies: no heartbeat on either link, slave takes over",
                snapshot: node(Role::Slave, 3, master_ok().map(dead)),
                health: healthy(),
                expected: Action::TakeOver,
                reason_mentions: "Master Node Alive",
            },
            Scenario {
                name: "master dies, the slave's database has every acknowledged commit: takes over",
                snapshot: node(Role::Slave, 3, master_ok().map(dead)),
                health: database(Readiness::CaughtUp, false),
                expected: Action::TakeOver,
                reason_mentions: "every commit the master acknowledged",
            },
            Scenario {
                name: "master dies, the slave's database lacks acknowledged commits: not promoted",
                snapshot: node(Role::Slave, 3, master_ok().map(dead)),
                health: database(Readiness::Behind { bytes: 8192 }, false),
                expected: Action::Warn,
                reason_mentions: "lacks 8192 bytes",
            },
            Scenario {
                name: "master dies, the slave cannot read its own position: not promoted",
                snapshot: node(Role::Slave, 3, master_ok().map(dead)),
                health: database(
                    Readiness::Unknown("the standby does not answer".into()),
                    false,
                ),
                expected: Action::Warn,
                reason_mentions: "cannot tell",
            },
            Scenario {
                name: "master dies, a person forces the lagging slave: takes over and says what is lost",
                snapshot: node(Role::Slave, 3, master_ok().map(dead)),
                health: database(Readiness::Behind { bytes: 8192 }, true),
                expected: Action::TakeOver,
                reason_mentions: "forced by a person",
            },
            Scenario {
                name: "a lagging slave of a healthy master just stays",
                snapshot: node(Role::Slave, 3, master_ok()),
                health: database(Readiness::Behind { bytes: 8192 }, false),
                expected: Action::Stay,
                reason_mentions: "both links",
            },
            Scenario {
                name: "master dies while the slave's own loop stalled: no takeover this cycle",
                snapshot: node(Role::Slave, 3, master_ok().map(dead)),
                health: stalled(),
                expected: Action::Stay,
                reason_mentions: "ran late",
            },
            Scenario {
                name: "slave isolated from everything does not take over",
                snapshot: node(Role::Slave, 3, master_ok().map(dead)),
                health: telephony(Reachability::Unreachable),
                expected: Action::Warn,
                reason_mentions: "cannot reach",
            },
            Scenario {
                name: "cluster link down only: slave warns, no failover",
                snapshot: node(
                    Role::Slave,
                    3,
                    master_ok().map(|mut p| {
                        p.cluster_alive = false;
                        p
                    }),
                ),
                health: healthy(),
                expected: Action::Warn,
                reason_mentions: "cluster link is down",
            },
            Scenario {
                name: "cluster link down only: master warns, no failover",
                snapshot: node(
                    Role::Master,
                    3,
                    slave_ok().map(|mut p| {
                        p.cluster_alive = false;
                        p
                    }),
                ),
                health: healthy(),
                expected: Action::Warn,
                reason_mentions: "cluster link is down",
            },
            Scenario {
                name: "telephony heartbeats lost but cluster link up: slave warns, master is alive",
                snapshot: node(
                    Role::Slave,
                    3,
                    master_ok().map(|mut p| {
                        p.telephony_alive = false;
                        p
                    }),
                ),
                health: healthy(),
                expected: Action::Warn,
                reason_mentions: "telephony link is down",
            },
            Scenario {
                name: "master's telephony link down: slave takes over (network failover)",
                snapshot: node(
                    Role::Slave,
                    3,
                    master_ok().map(|mut p| {
                        p.telephony_alive = false;
                        p.reaches_telephony = false;
                        p
                    }),
                ),
                health: healthy(),
                expected: Action::TakeOver,
                reason_mentions: "Network Failover",
            },
            Scenario {
                name: "master's telephony link down: master steps down when the slave reaches the network",
                snapshot: node(Role::Master, 3, slave_ok()),
                health: telephony(Reachability::Unreachable),
                expected: Action::StepDown,
                reason_mentions: "network failover",
            },
            Scenario {
                name: "whole telephony network down: master stays, slave does not take over",
                snapshot: node(
                    Role::Master,
                    3,
                    slave_ok().map(|mut p| {
                        p.reaches_telephony = false;
                        p
                    }),
                ),
                health: telephony(Reachability::Unreachable),
                expected: Action::Warn,
                reason_mentions: "no slave reaches it",
            },
            Scenario {
                name: "whole telephony network down seen from the slave: no takeover",
                snapshot: node(
                    Role::Slave,
                    3,
                    master_ok().map(|mut p| {
                        p.reaches_telephony = false;
                        p
                    }),
                ),
                health: telephony(Reachability::Unreachable),
                expected: Action::Stay,
                reason_mentions: "both links",
            },
            Scenario {
                name: "both links cut: master keeps its duties and warns",
                snapshot: node(Role::Master, 3, slave_ok().map(dead)),
                health: healthy(),
                expected: Action::Warn,
                reason_mentions: "either link",
            },
            Scenario {
                name: "peer master with a higher epoch after a heal: step down",
                snapshot: node(Role::Master, 3, Some(peer(Role::Master, 4))),
                health: healthy(),
                expected: Action::StepDown,
                reason_mentions: "epoch 4",
            },
            Scenario {
                name: "peer master with a lower epoch after a heal: stay and announce again",
                snapshot: node(Role::Master, 4, Some(peer(Role::Master, 3))),
                health: healthy(),
                expected: Action::Reannounce,
                reason_mentions: "announces",
            },
            Scenario {
                name: "peer master with an equal epoch and a lower node id: step down",
                snapshot: Snapshot {
                    node_id: HIGH,
                    ..node(
                        Role::Master,
                        3,
                        Some(PeerView {
                            node_id: LOW,
                            ..peer(Role::Master, 3)
                        }),
                    )
                },
                health: healthy(),
                expected: Action::StepDown,
                reason_mentions: "steps down",
            },
            Scenario {
                name: "peer master with an equal epoch and a higher node id: stay",
                snapshot: node(Role::Master, 3, Some(peer(Role::Master, 3))),
                health: healthy(),
                expected: Action::Reannounce,
                reason_mentions: "stays master",
            },
            Scenario {
                name: "peer master seen on the cluster link only still settles the split",
                snapshot: node(
                    Role::Master,
                    3,
                    Some(PeerView {
                        telephony_alive: false,
                        ..peer(Role::Master, 5)
                    }),
                ),
                health: healthy(),
                expected: Action::StepDown,
                reason_mentions: "epoch 5",
            },
            Scenario {
                name: "restart of a former master: listen during the grace period",
                snapshot: restarted(Startup::Grace, None),
                health: healthy(),
                expected: Action::Stay,
                reason_mentions: "listens",
            },
            Scenario {
                name: "restart of a former master that hears the new master: standby",
                snapshot: restarted(Startup::Grace, Some(peer(Role::Master, 4))),
                health: healthy(),
                expected: Action::StepDown,
                reason_mentions: "standby",
            },
            Scenario {
                name: "restart of a former master, nobody else around: resume",
                snapshot: restarted(
                    Startup::GraceOver {
                        arp: ArpProbe::Free,
                    },
                    None,
                ),
                health: healthy(),
                expected: Action::ResumeMaster,
                reason_mentions: "resumes",
            },
            Scenario {
                name: "restart of a former master while someone answers for the VIP: standby",
                snapshot: restarted(
                    Startup::GraceOver {
                        arp: ArpProbe::Taken,
                    },
                    None,
                ),
                health: healthy(),
                expected: Action::StepDown,
                reason_mentions: "Another host",
            },
            Scenario {
                name: "restart of a former master without the telephony gateway: standby",
                snapshot: restarted(
                    Startup::GraceOver {
                        arp: ArpProbe::Free,
                    },
                    None,
                ),
                health: telephony(Reachability::Unreachable),
                expected: Action::StepDown,
                reason_mentions: "gateway",
            },
            Scenario {
                name: "Cluster Status fails on the master with a healthy slave: step down",
                snapshot: node(Role::Master, 3, slave_ok()),
                health: fault(ClusterFault::ServicesFailed(
                    "kamailio will not start".into(),
                )),
                expected: Action::StepDown,
                reason_mentions: "kamailio will not start",
            },
            Scenario {
                name: "Cluster Status fails without a slave: stay and warn",
                snapshot: node(Role::Master, 3, None),
                health: fault(ClusterFault::VipLost("the cluster IP vanished".into())),
                expected: Action::Warn,
                reason_mentions: "no healthy slave",
            },
            Scenario {
                name: "Cluster Status fails while the slave is dead: stay and warn",
                snapshot: node(Role::Master, 3, slave_ok().map(dead)),
                health: fault(ClusterFault::VipLost("the cluster IP vanished".into())),
                expected: Action::Warn,
                reason_mentions: "no healthy slave",
            },
            Scenario {
                name: "master stepped down to standby: the slave takes over",
                snapshot: node(Role::Slave, 3, Some(peer(Role::Standby, 3))),
                health: healthy(),
                expected: Action::TakeOver,
                reason_mentions: "stepped down",
            },
            Scenario {
                name: "master without a slave stays",
                snapshot: node(Role::Master, 3, None),
                health: healthy(),
                expected: Action::Stay,
                reason_mentions: "no slave",
            },
            Scenario {
                name: "master whose old peer came back as standby stays",
                snapshot: node(Role::Master, 4, Some(peer(Role::Standby, 3))),
                health: healthy(),
                expected: Action::Stay,
                reason_mentions: "Add again",
            },
            Scenario {
                name: "standby never takes over, even when the master is dead",
                snapshot: node(Role::Standby, 3, master_ok().map(dead)),
                health: healthy(),
                expected: Action::Stay,
                reason_mentions: "standby",
            },
            Scenario {
                name: "standby that still holds the VIP releases it",
                snapshot: Snapshot {
                    vip: Presence::Held,
                    ..node(Role::Standby, 3, master_ok())
                },
                health: healthy(),
                expected: Action::ReleaseVip,
                reason_mentions: "releases",
            },
            Scenario {
                name: "standalone node stays",
                snapshot: node(Role::Standalone, 0, None),
                health: healthy(),
                expected: Action::Stay,
                reason_mentions: "standalone",
            },
            Scenario {
                name: "slave without a known master warns",
                snapshot: node(Role::Slave, 3, None),
                health: healthy(),
                expected: Action::Warn,
                reason_mentions: "knows no master",
            },
            // The ARP probe at the end of the start-up grace.
            Scenario {
                name: "former master while its ARP probe runs: stays without the cluster IP",
                snapshot: restarted(Startup::Probing, None),
                health: healthy(),
                expected: Action::Stay,
                reason_mentions: "probes",
            },
            Scenario {
                name: "former master whose ARP probe failed: the IP may be taken, standby",
                snapshot: restarted(
                    Startup::GraceOver {
                        arp: ArpProbe::Failed("running arping: No such file".into()),
                    },
                    None,
                ),
                health: healthy(),
                expected: Action::StepDown,
                reason_mentions: "ARP probe for the cluster IP failed (running arping: No such file)",
            },
            // The node's own addresses cannot be read.
            Scenario {
                name: "standby that cannot read its addresses removes the cluster IP to be sure",
                snapshot: Snapshot {
                    vip: Presence::Unknown(UNREADABLE.into()),
                    ..node(Role::Standby, 3, master_ok())
                },
                health: healthy(),
                expected: Action::ReleaseVip,
                reason_mentions: UNREADABLE,
            },
            Scenario {
                name: "slave that cannot read its addresses removes the cluster IP to be sure",
                snapshot: Snapshot {
                    vip: Presence::Unknown(UNREADABLE.into()),
                    ..node(Role::Slave, 3, master_ok())
                },
                health: healthy(),
                expected: Action::ReleaseVip,
                reason_mentions: "cannot tell whether it holds",
            },
            Scenario {
                name: "master that cannot read its addresses: Cluster Status fails, steps down for a healthy slave",
                snapshot: Snapshot {
                    vip: Presence::Unknown(UNREADABLE.into()),
                    ..node(Role::Master, 3, slave_ok())
                },
                health: healthy(),
                expected: Action::StepDown,
                reason_mentions: UNREADABLE,
            },
            Scenario {
                name: "master that cannot read its addresses and has no slave: warns",
                snapshot: Snapshot {
                    vip: Presence::Unknown(UNREADABLE.into()),
                    ..node(Role::Master, 3, None)
                },
                health: healthy(),
                expected: Action::Warn,
                reason_mentions: "Cluster Status failed",
            },
            // A peer not heard yet is not known healthy.
            Scenario {
                name: "Cluster Status fails while the slave has not been heard yet: no step-down",
                snapshot: node(Role::Master, 3, Some(unheard())),
                health: fault(ClusterFault::ServicesFailed(
                    "kamailio will not start".into(),
                )),
                expected: Action::Warn,
                reason_mentions: "no healthy slave",
            },
            Scenario {
                name: "master cut off from the telephony network, slave not heard yet: no step-down",
                snapshot: node(
                    Role::Master,
                    3,
                    Some(PeerView {
                        reaches_telephony: true,
                        ..unheard()
                    }),
                ),
                health: telephony(Reachability::Unreachable),
                expected: Action::Warn,
                reason_mentions: "no slave reaches it",
            },
            Scenario {
                name: "master listening for a slave not heard yet stays",
                snapshot: node(Role::Master, 3, Some(unheard())),
                health: healthy(),
                expected: Action::Stay,
                reason_mentions: "not heard yet",
            },
            Scenario {
                name: "slave that has not heard the master yet waits, no Network Failover",
                snapshot: node(Role::Slave, 3, Some(unheard())),
                health: healthy(),
                expected: Action::Stay,
                reason_mentions: "not heard yet",
            },
            Scenario {
                name: "slave that never heard the master within dead_after takes over",
                snapshot: node(Role::Slave, 3, Some(dead(unheard()))),
                health: healthy(),
                expected: Action::TakeOver,
                reason_mentions: "Master Node Alive",
            },
            Scenario {
                name: "former master at the end of its grace waits for a peer it has not heard",
                snapshot: restarted(
                    Startup::GraceOver {
                        arp: ArpProbe::Free,
                    },
                    Some(unheard()),
                ),
                health: healthy(),
                expected: Action::Stay,
                reason_mentions: "waits to hear",
            },
            // The gateway probe: not probed yet, not configured.
            Scenario {
                name: "slave whose first gateway probe has not ended does not take over",
                snapshot: node(Role::Slave, 3, master_ok().map(dead)),
                health: telephony(Reachability::Unknown),
                expected: Action::Warn,
                reason_mentions: "not probed",
            },
            Scenario {
                name: "slave without a configured gateway takes over from a dead master",
                snapshot: node(Role::Slave, 3, master_ok().map(dead)),
                health: telephony(Reachability::NotConfigured),
                expected: Action::TakeOver,
                reason_mentions: "Master Node Alive",
            },
            Scenario {
                name: "slave without a configured gateway never makes a Network Failover",
                snapshot: node(
                    Role::Slave,
                    3,
                    master_ok().map(|mut p| {
                        p.reaches_telephony = false;
                        p
                    }),
                ),
                health: telephony(Reachability::NotConfigured),
                expected: Action::Stay,
                reason_mentions: "both links",
            },
            Scenario {
                name: "slave whose gateway probe has not ended makes no Network Failover",
                snapshot: node(
                    Role::Slave,
                    3,
                    master_ok().map(|mut p| {
                        p.reaches_telephony = false;
                        p
                    }),
                ),
                health: telephony(Reachability::Unknown),
                expected: Action::Stay,
                reason_mentions: "both links",
            },
            Scenario {
                name: "slave whose gateway probe has not ended waits before taking over from a standby master",
                snapshot: node(Role::Slave, 3, Some(peer(Role::Standby, 3))),
                health: telephony(Reachability::Unknown),
                expected: Action::Warn,
                reason_mentions: "not probed",
            },
            Scenario {
                name: "master without a configured gateway does not step down for the network",
                snapshot: node(Role::Master, 3, slave_ok()),
                health: telephony(Reachability::NotConfigured),
                expected: Action::Stay,
                reason_mentions: "both links",
            },
            Scenario {
                name: "master whose gateway probe has not ended does not step down for the network",
                snapshot: node(Role::Master, 3, slave_ok()),
                health: telephony(Reachability::Unknown),
                expected: Action::Stay,
                reason_mentions: "both links",
            },
            Scenario {
                name: "former master waits for the first gateway probe before resuming",
                snapshot: restarted(
                    Startup::GraceOver {
                        arp: ArpProbe::Free,
                    },
                    None,
                ),
                health: telephony(Reachability::Unknown),
                expected: Action::Stay,
                reason_mentions: "not been probed",
            },
            Scenario {
                name: "former master without a configured gateway resumes",
                snapshot: restarted(
                    Startup::GraceOver {
                        arp: ArpProbe::Free,
                    },
                    None,
                ),
                health: telephony(Reachability::NotConfigured),
                expected: Action::ResumeMaster,
                reason_mentions: "resumes",
            },
            // Stalls and restarts against a live master.
            Scenario {
                name: "former master in its grace against a live master of lower epoch: standby, no failback",
                snapshot: restarted(Startup::Grace, Some(peer(Role::Master, 2))),
                health: healthy(),
                expected: Action::StepDown,
                reason_mentions: "former master becomes standby",
            },
            Scenario {
                name: "former master in its grace against a live master of equal epoch and higher id: standby",
                snapshot: restarted(Startup::Grace, Some(peer(Role::Master, 3))),
                health: healthy(),
                expected: Action::StepDown,
                reason_mentions: "former master becomes standby",
            },
            Scenario {
                name: "former master whose ARP probe found nobody, against a live master of lower epoch: standby",
                snapshot: restarted(
                    Startup::GraceOver {
                        arp: ArpProbe::Free,
                    },
                    Some(peer(Role::Master, 2)),
                ),
                health: healthy(),
                expected: Action::StepDown,
                reason_mentions: "former master becomes standby",
            },
            Scenario {
                name: "former master whose loop stalled at the end of its grace does not resume yet",
                snapshot: restarted(
                    Startup::GraceOver {
                        arp: ArpProbe::Free,
                    },
                    None,
                ),
                health: stalled(),
                expected: Action::Stay,
                reason_mentions: "fresh heartbeats",
            },
            Scenario {
                name: "slave that stalled longer than dead_after does not take over from a live master whose heartbeats look old",
                snapshot: node(Role::Slave, 3, master_ok().map(dead)),
                health: stalled(),
                expected: Action::Stay,
                reason_mentions: "ran late",
            },
            Scenario {
                name: "slave that holds the cluster IP releases it",
                snapshot: Snapshot {
                    vip: Presence::Held,
                    ..node(Role::Slave, 3, master_ok())
                },
                health: healthy(),
                expected: Action::ReleaseVip,
                reason_mentions: "releases",
            },
            Scenario {
                name: "stalled slave that holds the cluster IP releases it",
                snapshot: Snapshot {
                    vip: Presence::Held,
                    ..node(Role::Slave, 3, master_ok().map(dead))
                },
                health: stalled(),
                expected: Action::ReleaseVip,
                reason_mentions: "releases",
            },
            Scenario {
                name: "slave that holds the cluster IP when the master dies takes over",
                snapshot: Snapshot {
                    vip: Presence::Held,
                    ..node(Role::Slave, 3, master_ok().map(dead))
                },
                health: healthy(),
                expected: Action::TakeOver,
                reason_mentions: "Master Node Alive",
            },
            Scenario {
                name: "master paused longer than dead_after sees a peer master of higher epoch in an old heartbeat: steps down at once",
                snapshot: node(Role::Master, 3, Some(dead(peer(Role::Master, 4)))),
                health: stalled(),
                expected: Action::StepDown,
                reason_mentions: "epoch 4",
            },
            Scenario {
                name: "master paused longer than dead_after with a peer master of lower epoch in an old heartbeat keeps its duties",
                snapshot: node(Role::Master, 4, Some(dead(peer(Role::Master, 3)))),
                health: stalled(),
                expected: Action::Warn,
                reason_mentions: "either link",
            },
            Scenario {
                name: "master cut off from the gateway and its slave: withholds the cluster IP",
                snapshot: node(Role::Master, 3, slave_ok().map(dead)),
                health: telephony(Reachability::Unreachable),
                expected: Action::Withhold,
                reason_mentions: "stops answering",
            },
            Scenario {
                name: "master cut off from the gateway and a slave never heard: withholds",
                snapshot: node(Role::Master, 3, Some(dead(unheard()))),
                health: telephony(Reachability::Unreachable),
                expected: Action::Withhold,
                reason_mentions: "stops answering",
            },
            Scenario {
                name: "withheld master still isolated: stays withheld",
                snapshot: Snapshot {
                    startup: Startup::Withheld,
                    ..node(Role::Master, 3, slave_ok().map(dead))
                },
                health: telephony(Reachability::Unreachable),
                expected: Action::Withhold,
                reason_mentions: "stops answering",
            },
            Scenario {
                name: "withheld master reaches the gateway again: rejoins through the grace",
                snapshot: Snapshot {
                    startup: Startup::Withheld,
                    ..node(Role::Master, 3, slave_ok().map(dead))
                },
                health: healthy(),
                expected: Action::Rejoin,
                reason_mentions: "back in touch",
            },
            Scenario {
                name: "withheld master hears the slave again: rejoins through the grace",
                snapshot: Snapshot {
                    startup: Startup::Withheld,
                    ..node(Role::Master, 3, slave_ok())
                },
                health: telephony(Reachability::Unreachable),
                expected: Action::Rejoin,
                reason_mentions: "back in touch",
            },
            Scenario {
                name: "withheld master hears the slave that took over: steps down",
                snapshot: Snapshot {
                    startup: Startup::Withheld,
                    ..node(Role::Master, 3, Some(peer(Role::Master, 4)))
                },
                health: telephony(Reachability::Unreachable),
                expected: Action::StepDown,
                reason_mentions: "epoch 4",
            },
            Scenario {
                name: "master without the gateway and with a removed slave gone: keeps answering",
                snapshot: node(Role::Master, 3, Some(dead(peer(Role::Standby, 3)))),
                health: telephony(Reachability::Unreachable),
                expected: Action::Warn,
                reason_mentions: "no slave reaches it",
            },
            Scenario {
                name: "master without the gateway and without a slave: keeps answering",
                snapshot: node(Role::Master, 3, None),
                health: telephony(Reachability::Unreachable),
                expected: Action::Warn,
                reason_mentions: "no slave reaches it",
            },
            Scenario {
                name: "rejoining master at the end of its grace, still isolated: withholds again",
                snapshot: Snapshot {
                    rejoining: true,
                    ..restarted(
                        Startup::GraceOver {
                            arp: ArpProbe::Free,
                        },
                        slave_ok().map(dead),
                    )
                },
                health: telephony(Reachability::Unreachable),
                expected: Action::Withhold,
                reason_mentions: "again",
            },
            Scenario {
                name: "rejoining master hears its slave but not the gateway: resumes",
                snapshot: Snapshot {
                    rejoining: true,
                    ..restarted(
                        Startup::GraceOver {
                            arp: ArpProbe::Free,
                        },
                        slave_ok(),
                    )
                },
                health: telephony(Reachability::Unreachable),
                expected: Action::ResumeMaster,
                reason_mentions: "heard again",
            },
            Scenario {
                name: "Pequod cannot answer ARP itself, healthy slave: Cluster Status fails, no handover",
                snapshot: node(Role::Master, 3, slave_ok()),
                health: fault(ClusterFault::ArpResponder("no CAP_NET_RAW".into())),
                expected: Action::Warn,
                reason_mentions: "could not do better",
            },
            Scenario {
                name: "master with a dead slave and an unprobed gateway: not isolated",
                snapshot: node(Role::Master, 3, slave_ok().map(dead)),
                health: telephony(Reachability::Unknown),
                expected: Action::Warn,
                reason_mentions: "either link",
            },
        ]
    }

    #[test]
    fn only_a_settled_master_on_time_that_keeps_its_duties_answers_arp() {
        let master = node(Role::Master, 3, Some(peer(Role::Slave, 3)));
        let answers = |s: &Snapshot, h: &Health| answers_arp(s, h, &decide(s, h));
        assert!(answers(&master, &healthy()));
        assert!(!answers(&master, &stalled()), "a loop that ran late");
        let cases = [
            (
                "in the start-up grace",
                Snapshot {
                    startup: Startup::Grace,
                    ..master.clone()
                },
            ),
            (
                "withheld",
                Snapshot {
                    startup: Startup::Withheld,
                    ..node(Role::Master, 3, Some(dead(peer(Role::Slave, 3))))
                },
            ),
            (
                "without the address",
                Snapshot {
                    vip: Presence::Unknown(UNREADABLE.into()),
                    ..master.clone()
                },
            ),
            ("a slave", node(Role::Slave, 3, Some(peer(Role::Master, 3)))),
            (
                "stepping down",
                node(Role::Master, 3, Some(peer(Role::Master, 4))),
            ),
        ];
        for (what, snapshot) in cases {
            assert!(!answers(&snapshot, &healthy()), "{what}");
        }
        let isolated = node(Role::Master, 3, Some(dead(peer(Role::Slave, 3))));
        assert!(!answers(&isolated, &telephony(Reachability::Unreachable)));
    }

    #[test]
    fn every_scenario_gets_the_expected_decision_with_a_fitting_reason() {
        let scenarios = scenarios();
        assert!(scenarios.len() >= 60, "{} scenarios", scenarios.len());
        let mut failures = Vec::new();
        for s in &scenarios {
            let decision = decide(&s.snapshot, &s.health);
            if decision.action != s.expected || !decision.reason.contains(s.reason_mentions) {
                failures.push(format!(
                    "{}: expected {:?} mentioning {:?}, got {:?}: {}",
                    s.name, s.expected, s.reason_mentions, decision.action, decision.reason
                ));
            }
            assert!(
                decision.reason.ends_with('.'),
                "{}: one sentence: {}",
                s.name,
                decision.reason
            );
        }
        assert!(failures.is_empty(), "{}", failures.join("\n"));
    }

    #[test]
    fn the_failover_rule_is_a_typed_cause_not_a_sentence() {
        let vip_lost = ClusterFault::VipLost("adding 10.0.0.10/24 to eth0: denied".into());
        for (snapshot, health, cause) in [
            (
                node(Role::Master, 3, Some(peer(Role::Slave, 3))),
                fault(vip_lost.clone()),
                Some(Cause::ClusterStatus(vip_lost.clone())),
            ),
            (
                node(Role::Master, 3, None),
                fault(vip_lost.clone()),
                Some(Cause::ClusterStatus(vip_lost.clone())),
            ),
            (
                Snapshot {
                    vip: Presence::Unknown(UNREADABLE.into()),
                    ..node(Role::Master, 3, None)
                },
                healthy(),
                Some(Cause::ClusterStatus(ClusterFault::VipUnknown(
                    UNREADABLE.into(),
                ))),
            ),
            (
                node(Role::Slave, 3, Some(dead(peer(Role::Master, 3)))),
                healthy(),
                Some(Cause::MasterNodeAlive),
            ),
            (
                node(
                    Role::Slave,
                    3,
                    Some(PeerView {
                        reaches_telephony: false,
                        ..peer(Role::Master, 3)
                    }),
                ),
                healthy(),
                Some(Cause::NetworkFailover),
            ),
            (
                node(Role::Master, 3, Some(peer(Role::Slave, 3))),
                telephony(Reachability::Unreachable),
                Some(Cause::NetworkFailover),
            ),
            (
                node(Role::Master, 3, Some(peer(Role::Slave, 3))),
                healthy(),
                None,
            ),
        ] {
            let decision = decide(&snapshot, &health);
            assert_eq!(decision.cause, cause, "{}", decision.reason);
        }
        let decision = decide(&node(Role::Master, 3, None), &fault(vip_lost.clone()));
        assert_eq!(decision.cluster_fault(), Some(&vip_lost));
    }

    #[test]
    fn only_a_heard_slave_alive_now_is_healthy() {
        assert!(peer(Role::Slave, 3).is_healthy_slave());
        assert!(!unheard().is_healthy_slave());
        assert!(!dead(peer(Role::Slave, 3)).is_healthy_slave());
        assert!(!peer(Role::Standby, 3).is_healthy_slave());
    }

    #[test]
    fn exactly_one_of_two_masters_yields() {
        for (a, b) in [
            ((3, LOW), (4, HIGH)),
            ((4, LOW), (3, HIGH)),
            ((3, LOW), (3, HIGH)),
            ((3, HIGH), (3, LOW)),
        ] {
            let a_yields = yields_to(a.0, a.1, b.0, b.1);
            let b_yields = yields_to(b.0, b.1, a.0, a.1);
            assert!(a_yields != b_yields, "{a:?} vs {b:?}");
        }
    }
}
