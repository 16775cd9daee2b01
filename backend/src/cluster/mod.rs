//! The HA core. For now: the cluster as this node sees it and the status lamp; roles,
//! heartbeats, the decision core and the cluster IP live here as they arrive.

pub mod config;
pub mod decide;
pub mod heartbeat;
pub mod lamp;
pub mod probe;
pub mod services;
pub mod ssh;
pub mod vip;

use pequod_api::cluster::{Cluster, ClusterMode, Role};

use crate::error::ApiError;
use crate::state::AppState;

/// `GET /api/v1/cluster`: this node's role, epoch and the lamp.
pub async fn view(state: &AppState) -> Result<Cluster, ApiError> {
    let node = state
        .store
        .load_node()
        .await?
        .ok_or_else(|| anyhow::anyhow!("the node has no identity in its store"))?;
    let failures = state.store.unacknowledged_failures().await?;
    let (lamp, lamp_reasons) = lamp::lamp(&failures, &[]);
    Ok(Cluster {
        mode: match node.role {
            Role::Standalone => ClusterMode::Standalone,
            Role::Master | Role::Slave | Role::Standby => ClusterMode::Cluster,
        },
        role: node.role,
        epoch: node.epoch,
        cluster_ip: None,
        vip_holder: None,
        lamp,
        lamp_reasons,
    })
}
