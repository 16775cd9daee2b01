//! How this node takes part in a cluster: ports, heartbeat timing, managed services
//! (the `[cluster]` section of the settings).

use serde::{Deserialize, Serialize};

use pequod_api::cluster::{Timing, TimingProfile};

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
    /// The heartbeat timing by name: `conservative` (100 ms / 600 ms, the default) or
    /// `fast` (50 ms / 200 ms, for a direct cable).
    pub profile: TimingProfile,
    /// Explicit figures instead of the profile's.
    pub heartbeat_interval_ms: Option<u64>,
    pub dead_after_ms: Option<u64>,
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
            profile: TimingProfile::default(),
            heartbeat_interval_ms: None,
            dead_after_ms: None,
            startup_grace_ms: 2000,
            probe_interval_ms: 200,
            probe_misses: 2,
            services: Vec::new(),
        }
    }
}

impl ClusterSettings {
    /// The timing in effect: the profile's figures, each replaced by its explicit
    /// setting when there is one (at least 10 ms between heartbeats, 20 ms of silence).
    pub fn timing(&self) -> Timing {
        Timing {
            profile: self.profile,
            heartbeat_interval_ms: self
                .heartbeat_interval_ms
                .unwrap_or(self.profile.heartbeat_interval_ms())
                .max(10),
            dead_after_ms: self
                .dead_after_ms
                .unwrap_or(self.profile.dead_after_ms())
                .max(20),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_profile_sets_the_timing_and_an_explicit_figure_overrides_it() {
        let mut settings = ClusterSettings::default();
        let timing = settings.timing();
        assert_eq!(timing.profile, TimingProfile::Conservative);
        assert_eq!(
            (timing.heartbeat_interval_ms, timing.dead_after_ms),
            (100, 600)
        );
        assert!(!timing.overridden());

        settings.profile = TimingProfile::Fast;
        assert_eq!(
            (
                settings.timing().heartbeat_interval_ms,
                settings.timing().dead_after_ms
            ),
            (50, 200)
        );

        settings.dead_after_ms = Some(300);
        let timing = settings.timing();
        assert_eq!(
            (timing.heartbeat_interval_ms, timing.dead_after_ms),
            (50, 300)
        );
        assert!(timing.overridden());
    }
}
