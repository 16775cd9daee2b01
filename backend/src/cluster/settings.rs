//! How this node takes part in a cluster: ports, heartbeat timing, managed services
//! (the `[cluster]` section of the settings).

use serde::{Deserialize, Serialize};

use super::services::ManagedService;

/// How this node takes part in a cluster: ports, heartbeat timing, managed services.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct ClusterSettings {
    /// The port of the embedded SSH server (it accepts only trusted keys). It listens on
    /// this node's sync IP once a cluster is configured, on every address once Prepare
    /// slave trusted a master, and nowhere before.
    pub ssh_port: u16,
    /// A fixed `address:port` instead, bound at start and never moved.
    pub ssh_listen: Option<String>,
    /// The SSH port of the other node.
    pub peer_ssh_port: u16,
    /// UDP port of the heartbeats, on both links.
    pub heartbeat_port: u16,
    /// Default profile: 100 ms / 600 ms. Fast profile for a direct cable: 50 ms / 200 ms.
    pub heartbeat_interval_ms: u64,
    pub dead_after_ms: u64,
    /// A former master listens this long for a peer master before claiming the cluster IP.
    pub startup_grace_ms: u64,
    /// Telephony gateway probe: every so often, unreachable after so many missed rounds.
    pub probe_interval_ms: u64,
    pub probe_misses: u32,
    /// Started in order on the master, stopped everywhere else.
    pub services: Vec<ManagedService>,
}

impl Default for ClusterSettings {
    fn default() -> Self {
        Self {
            ssh_port: 2222,
            ssh_listen: None,
            peer_ssh_port: 2222,
            heartbeat_port: 7405,
            heartbeat_interval_ms: 100,
            dead_after_ms: 600,
            startup_grace_ms: 2000,
            probe_interval_ms: 200,
            probe_misses: 2,
            services: Vec::new(),
        }
    }
}
