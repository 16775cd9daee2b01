//! The HA core: the pure decision (`decide`), the agent that executes it, heartbeats,
//! the cluster IP, the managed services, the SSH control channel between the nodes and
//! the cluster operations (`flows`); plus the cluster as this node sees it, with the lamp.

pub mod agent;
pub mod config;
pub mod decide;
pub mod flows;
pub mod heartbeat;
pub mod lamp;
pub mod probe;
pub mod remote;
pub mod services;
pub mod ssh;
pub mod vip;

use pequod_api::cluster::{Cluster, ClusterMode, Role};

use crate::error::ApiError;
use crate::state::AppState;
use crate::storage::StorageError;

pub use agent::Agent;

/// `GET /api/v1/cluster`: this node's role, epoch and the lamp.
pub async fn view(state: &AppState) -> Result<Cluster, ApiError> {
    Ok(view_with(state.store.as_ref(), &state.agent).await?)
}

pub async fn view_with(
    store: &dyn crate::storage::Store,
    agent: &Agent,
) -> Result<Cluster, StorageError> {
    let node = agent.node().await;
    let config = store.load_cluster().await?;
    let failures = store.unacknowledged_failures().await?;
    let seen = agent.view();
    let (mut lamp, mut lamp_reasons) = lamp::lamp(&failures, &agent.checks());
    // A cluster warning (a link down, the slave gone) is worth a yellow lamp.
    if let Some(warning) = seen
        .last_decision
        .as_ref()
        .filter(|d| d.action == decide::Action::Warn && node.role != Role::Standalone)
    {
        if lamp == pequod_api::cluster::Lamp::Green {
            lamp = pequod_api::cluster::Lamp::Yellow;
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
        telephony_gateway: seen.telephony.into(),
    })
}
