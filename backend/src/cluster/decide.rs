//! The failover policy as one pure function: `decide(snapshot, health)` looks at what
//! this node knows about itself and its peer and returns the one thing to do next,
//! with the reason as a sentence. No I/O here, so every rule is tested by a table of
//! scenarios; the executor performs the transitions.

use pequod_api::NodeId;
use pequod_api::cluster::Role;

/// What this node believes about the cluster at the start of a cycle.
#[derive(Debug, Clone, PartialEq)]
pub struct Snapshot {
    pub node_id: NodeId,
    pub role: Role,
    /// The persisted term of the current master.
    pub epoch: u64,
    /// The cluster IP is configured on our telephony interface right now.
    pub holds_vip: bool,
    /// The node in the other half of the cluster, once it has one.
    pub peer: Option<PeerView>,
    /// Where the node stands after a start with a stored role of master.
    pub startup: Startup,
}

/// The peer as its heartbeats describe it.
#[derive(Debug, Clone, PartialEq)]
pub struct PeerView {
    pub node_id: NodeId,
    pub hostname: String,
    /// A valid heartbeat arrived on the telephony link within `dead_after`.
    pub telephony_alive: bool,
    /// A valid heartbeat arrived on the cluster link within `dead_after`.
    pub cluster_alive: bool,
    /// The role and epoch of its latest heartbeat.
    pub role: Role,
    pub epoch: u64,
    /// The peer reaches the telephony gateway (its own probe, carried in heartbeats).
    pub reaches_telephony: bool,
}

impl PeerView {
    pub fn alive(&self) -> bool {
        self.telephony_alive || self.cluster_alive
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Startup {
    /// Running normally.
    Settled,
    /// Stored role is master; still listening for a peer master before claiming the VIP.
    Grace,
    /// The grace period is over; `vip_taken` tells whether an ARP probe found another
    /// holder of the cluster IP.
    GraceOver { vip_taken: bool },
}

/// This node's own health, gathered by the agent for the cycle.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Health {
    /// The telephony gateway answers our probe.
    pub reaches_telephony: bool,
    /// Our own loop ran late (paused, starved): missed heartbeats are not the peer's fault.
    pub loop_stalled: bool,
    /// The agent cannot keep the master's duties (VIP lost, a service will not start).
    pub cluster_error: Option<String>,
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
    /// A node that must not hold the VIP but does: release it.
    ReleaseVip,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    pub action: Action,
    /// One sentence for the log, the event stream and the failover e-mail.
    pub reason: String,
}

impl Decision {
    fn new(action: Action, reason: impl Into<String>) -> Self {
        Self {
            action,
            reason: reason.into(),
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
        Role::Standby | Role::Standalone => {
            if snapshot.holds_vip {
                Decision::new(
                    Action::ReleaseVip,
                    format!(
                        "This node is {} but holds the cluster IP, so it releases it.",
                        snapshot.role.as_str()
                    ),
                )
            } else {
                Decision::new(
                    Action::Stay,
                    format!("This node is {}.", snapshot.role.as_str()),
                )
            }
        }
    }
}

fn decide_master(s: &Snapshot, health: &Health) -> Decision {
    let peer = s.peer.as_ref().filter(|p| p.alive());

    // A peer master seen on either link settles who keeps the VIP, before anything else.
    if let Some(peer) = peer.filter(|p| p.role == Role::Master) {
        if yields_to(s.epoch, s.node_id, peer.epoch, peer.node_id) {
            return Decision::new(
                Action::StepDown,
                format!(
                    "{} is also master with epoch {} against our {}, so this node steps down to standby.",
                    peer.hostname, peer.epoch, s.epoch
                ),
            );
        }
        if s.startup == Startup::Settled {
            return Decision::new(
                Action::Reannounce,
                format!(
                    "{} is also master but with epoch {} against our {}, so this node stays master and announces the cluster IP again.",
                    peer.hostname, peer.epoch, s.epoch
                ),
            );
        }
    }

    match s.startup {
        Startup::Grace => {
            return Decision::new(
                Action::Stay,
                "This node was master before it stopped and listens for a peer master before claiming the cluster IP.",
            );
        }
        Startup::GraceOver { vip_taken } => {
            return if vip_taken {
                Decision::new(
                    Action::StepDown,
                    "Another host answers for the cluster IP, so this former master becomes standby.",
                )
            } else if !health.reaches_telephony {
                Decision::new(
                    Action::StepDown,
                    "The telephony gateway does not answer, so this former master becomes standby instead of claiming the cluster IP.",
                )
            } else {
                Decision::new(
                    Action::ResumeMaster,
                    "No peer master answered and nobody holds the cluster IP, so this node resumes as master.",
                )
            };
        }
        Startup::Settled => {}
    }

    let healthy_slave = peer.filter(|p| p.role == Role::Slave);
    if let Some(error) = &health.cluster_error {
        return match healthy_slave {
            Some(slave) => Decision::new(
                Action::StepDown,
                format!(
                    "Cluster Status failed ({error}), so this master steps down for {}.",
                    slave.hostname
                ),
            ),
            None => Decision::new(
                Action::Warn,
                format!(
                    "Cluster Status failed ({error}), but there is no healthy slave to take over, so this node stays master."
                ),
            ),
        };
    }
    if !health.reaches_telephony {
        return match healthy_slave {
            Some(slave) if slave.reaches_telephony => Decision::new(
                Action::StepDown,
                format!(
                    "This master cannot reach the telephony network but {} can, so it steps down (network failover).",
                    slave.hostname
                ),
            ),
            _ => Decision::new(
                Action::Warn,
                "This master cannot reach the telephony gateway, and no slave reaches it either, so it stays master.",
            ),
        };
    }
    match &s.peer {
        None => Decision::new(Action::Stay, "This node is master and has no slave."),
        Some(peer) if peer.role != Role::Slave && peer.alive() => Decision::new(
            Action::Stay,
            format!(
                "This node is master; {} is {} and waits for \"Add again\".",
                peer.hostname,
                peer.role.as_str()
            ),
        ),
        Some(peer) => link_report(peer, "master"),
    }
}

fn decide_slave(s: &Snapshot, health: &Health) -> Decision {
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
        if !health.reaches_telephony {
            return Decision::new(
                Action::Warn,
                format!(
                    "No heartbeat from {} on either link, but this node cannot reach the telephony gateway either, so it does not take over.",
                    peer.hostname
                ),
            );
        }
        return Decision::new(
            Action::TakeOver,
            format!(
                "No heartbeat from master {} on either link, so this slave takes over (Master Node Alive).",
                peer.hostname
            ),
        );
    }
    if peer.role == Role::Master && !peer.reaches_telephony && health.reaches_telephony {
        return Decision::new(
            Action::TakeOver,
            format!(
                "Master {} reports the telephony network unreachable while this slave reaches it, so this slave takes over (Network Failover).",
                peer.hostname
            ),
        );
    }
    if peer.role != Role::Master {
        // The master stepped down (Cluster Status) and nobody holds the services now.
        if peer.epoch >= s.epoch && health.reaches_telephony && peer.role == Role::Standby {
            return Decision::new(
                Action::TakeOver,
                format!(
                    "Master {} stepped down to standby, so this slave takes over.",
                    peer.hostname
                ),
            );
        }
        return Decision::new(
            Action::Warn,
            format!(
                "{} is {} rather than master.",
                peer.hostname,
                peer.role.as_str()
            ),
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
            role,
            epoch,
            reaches_telephony: true,
        }
    }

    fn node(role: Role, epoch: u64, peer: Option<PeerView>) -> Snapshot {
        Snapshot {
            node_id: LOW,
            role,
            epoch,
            holds_vip: role == Role::Master,
            peer,
            startup: Startup::Settled,
        }
    }

    fn healthy() -> Health {
        Health {
            reaches_telephony: true,
            loop_stalled: false,
            cluster_error: None,
        }
    }

    fn dead(mut p: PeerView) -> PeerView {
        p.telephony_alive = false;
        p.cluster_alive = false;
        p
    }

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
                name: "master dies while the slave's own loop stalled: no takeover this cycle",
                snapshot: node(Role::Slave, 3, master_ok().map(dead)),
                health: Health {
                    loop_stalled: true,
                    ..healthy()
                },
                expected: Action::Stay,
                reason_mentions: "ran late",
            },
            Scenario {
                name: "slave isolated from everything does not take over",
                snapshot: node(Role::Slave, 3, master_ok().map(dead)),
                health: Health {
                    reaches_telephony: false,
                    ..healthy()
                },
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
                health: Health {
                    reaches_telephony: false,
                    ..healthy()
                },
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
                health: Health {
                    reaches_telephony: false,
                    ..healthy()
                },
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
                health: Health {
                    reaches_telephony: false,
                    ..healthy()
                },
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
                snapshot: Snapshot {
                    startup: Startup::Grace,
                    holds_vip: false,
                    ..node(Role::Master, 3, None)
                },
                health: healthy(),
                expected: Action::Stay,
                reason_mentions: "listens",
            },
            Scenario {
                name: "restart of a former master that hears the new master: standby",
                snapshot: Snapshot {
                    startup: Startup::Grace,
                    holds_vip: false,
                    ..node(Role::Master, 3, Some(peer(Role::Master, 4)))
                },
                health: healthy(),
                expected: Action::StepDown,
                reason_mentions: "standby",
            },
            Scenario {
                name: "restart of a former master, nobody else around: resume",
                snapshot: Snapshot {
                    startup: Startup::GraceOver { vip_taken: false },
                    holds_vip: false,
                    ..node(Role::Master, 3, None)
                },
                health: healthy(),
                expected: Action::ResumeMaster,
                reason_mentions: "resumes",
            },
            Scenario {
                name: "restart of a former master while someone answers for the VIP: standby",
                snapshot: Snapshot {
                    startup: Startup::GraceOver { vip_taken: true },
                    holds_vip: false,
                    ..node(Role::Master, 3, None)
                },
                health: healthy(),
                expected: Action::StepDown,
                reason_mentions: "Another host",
            },
            Scenario {
                name: "restart of a former master without the telephony gateway: standby",
                snapshot: Snapshot {
                    startup: Startup::GraceOver { vip_taken: false },
                    holds_vip: false,
                    ..node(Role::Master, 3, None)
                },
                health: Health {
                    reaches_telephony: false,
                    ..healthy()
                },
                expected: Action::StepDown,
                reason_mentions: "gateway",
            },
            Scenario {
                name: "Cluster Status fails on the master with a healthy slave: step down",
                snapshot: node(Role::Master, 3, slave_ok()),
                health: Health {
                    cluster_error: Some("kamailio will not start".into()),
                    ..healthy()
                },
                expected: Action::StepDown,
                reason_mentions: "kamailio will not start",
            },
            Scenario {
                name: "Cluster Status fails without a slave: stay and warn",
                snapshot: node(Role::Master, 3, None),
                health: Health {
                    cluster_error: Some("the cluster IP vanished".into()),
                    ..healthy()
                },
                expected: Action::Warn,
                reason_mentions: "no healthy slave",
            },
            Scenario {
                name: "Cluster Status fails while the slave is dead: stay and warn",
                snapshot: node(Role::Master, 3, slave_ok().map(dead)),
                health: Health {
                    cluster_error: Some("the cluster IP vanished".into()),
                    ..healthy()
                },
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
                    holds_vip: true,
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
        ]
    }

    #[test]
    fn every_scenario_gets_the_expected_decision_with_a_fitting_reason() {
        let scenarios = scenarios();
        assert!(scenarios.len() >= 25, "{} scenarios", scenarios.len());
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
