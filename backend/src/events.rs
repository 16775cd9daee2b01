//! The node's event buses. `Event`s (jobs, checks, role changes) are streamed to every
//! `GET /api/v1/events` subscriber; `DomainEvent`s are how the services tell each other
//! what happened, as typed values, never as display text to be matched. A slow
//! subscriber loses old events, never slows a publisher.

use pequod_api::events::Event;
use pequod_api::jobs::JobSummary;
use tokio::sync::broadcast;

const CAPACITY: usize = 256;

/// What one service tells the others.
#[derive(Clone, Debug)]
pub enum DomainEvent {
    /// This node took over the master's duties (or tried to: `failed` says why not).
    TookOver(Takeover),
    /// An operation a person or the peer started (a submitted job) has ended; jobs the
    /// agent only records (takeovers, step-downs) are not operations.
    OperationFinished(JobSummary),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Takeover {
    /// The job that records the takeover, with its steps and timeline.
    pub job: i64,
    /// A person asked for it (manual failover), or the agent decided (automatic).
    pub manual: bool,
    /// The epoch this node claimed.
    pub epoch: u64,
    /// The decision sentence.
    pub reason: String,
    /// The former master, now to be added again.
    pub previous_master: Option<String>,
    /// Why the takeover did not complete (the cluster IP or a service), if it did not.
    pub failed: Option<String>,
}

#[derive(Clone, Debug)]
pub struct EventBus {
    sender: broadcast::Sender<Event>,
    domain: broadcast::Sender<DomainEvent>,
}

impl Default for EventBus {
    fn default() -> Self {
        let (sender, _) = broadcast::channel(CAPACITY);
        let (domain, _) = broadcast::channel(CAPACITY);
        Self { sender, domain }
    }
}

impl EventBus {
    pub fn publish(&self, event: Event) {
        // No subscriber is not an error: nobody is watching.
        let _ = self.sender.send(event);
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.sender.subscribe()
    }

    /// Tells the other services what happened.
    pub fn announce(&self, event: DomainEvent) {
        let _ = self.domain.send(event);
    }

    pub fn subscribe_domain(&self) -> broadcast::Receiver<DomainEvent> {
        self.domain.subscribe()
    }
}
