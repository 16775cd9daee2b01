//! What every handler can reach: the store, the job runner, the event bus, the token
//! service and this node's identity.

use std::sync::Arc;

use crate::auth::AuthService;
use crate::cluster::agent::Agent;
use crate::events::EventBus;
use crate::jobs::JobRunner;
use crate::storage::Store;

#[derive(Clone)]
pub struct AppState {
    pub store: Arc<dyn Store>,
    pub jobs: JobRunner,
    pub events: EventBus,
    pub auth: AuthService,
    /// This node's SSH public key (OpenSSH format).
    pub public_key: String,
    /// SHA-256 fingerprint of the certificate the API serves; none over plain HTTP.
    pub tls_fingerprint: Option<String>,
    pub agent: Agent,
    pub checks: crate::checks::engine::CheckEngine,
    /// Configure master, the slave operations and manual failover.
    pub cluster: crate::cluster::operations::Operations,
    /// HTTP request durations for `/metrics`.
    pub http: Arc<crate::metrics::HttpMetrics>,
    pub notifier: crate::notify::Notifier,
    /// The data sync's latest state, published by the sync service.
    pub sync_status: tokio::sync::watch::Receiver<pequod_api::sync::SyncStatus>,
}
