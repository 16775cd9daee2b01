//! The node's event bus: jobs, checks and role changes are published here and streamed
//! to every `GET /api/v1/events` subscriber. A slow subscriber loses old events, never
//! slows a publisher.

use pequod_api::events::Event;
use tokio::sync::broadcast;

const CAPACITY: usize = 256;

#[derive(Clone, Debug)]
pub struct EventBus {
    sender: broadcast::Sender<Event>,
}

impl Default for EventBus {
    fn default() -> Self {
        let (sender, _) = broadcast::channel(CAPACITY);
        Self { sender }
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
}
