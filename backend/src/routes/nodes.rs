//! `/nodes`: the nodes of the cluster, this node's settings and its interfaces.

use actix_web::{HttpResponse, get, patch, post, web};
use pequod_api::Problem;
use pequod_api::cluster::Role;
use pequod_api::jobs::JobAccepted;
use pequod_api::nodes::{Interface, LinkStates, Node, NodePatch, PrepareSlave};

use crate::error::ApiError;
use crate::extract::{AdminUser, AuthUser, ValidJson};
use crate::state::AppState;

async fn self_node(state: &AppState) -> Result<Node, ApiError> {
    let record = state.agent.node().await;
    let config = state.store.load_cluster().await?;
    let member = config.as_ref().and_then(|c| c.member(record.id));
    Ok(Node {
        id: record.id,
        hostname: record.hostname,
        version: env!("CARGO_PKG_VERSION").into(),
        role: record.role,
        is_self: true,
        public_key: state.public_key.clone(),
        tls_fingerprint: state.tls_fingerprint.clone(),
        last_heartbeat: None,
        epoch: record.epoch,
        telephony_ip: member.map(|m| m.telephony_ip.to_string()),
        sync_ip: member.map(|m| m.sync_ip.to_string()),
        links: None,
        holds_vip: state.agent.view().holds_vip,
    })
}

/// The other node as its heartbeats and the configuration describe it.
async fn peer_node(state: &AppState) -> Result<Option<Node>, ApiError> {
    let record = state.agent.node().await;
    let Some(config) = state.store.load_cluster().await? else {
        return Ok(None);
    };
    let Some(member) = config.peer_of(record.id) else {
        return Ok(None);
    };
    let view = state.agent.view();
    let peer = view.peer.as_ref();
    Ok(Some(Node {
        id: member.node_id.unwrap_or(record.id),
        hostname: member.hostname.clone(),
        version: String::new(),
        role: peer
            .filter(|p| p.alive())
            .and_then(|p| p.role)
            .unwrap_or(Role::Standby),
        is_self: false,
        public_key: member.public_key.clone().unwrap_or_default(),
        // Its certificate is the peer's own business; the heartbeats do not carry it.
        tls_fingerprint: None,
        last_heartbeat: view.peer_last_heartbeat,
        epoch: peer.map(|p| p.epoch).unwrap_or(0),
        telephony_ip: Some(member.telephony_ip.to_string()),
        sync_ip: Some(member.sync_ip.to_string()),
        links: peer.map(|p| LinkStates {
            telephony: p.telephony_alive,
            cluster: p.cluster_alive,
        }),
        holds_vip: view.peer_holds_vip,
    }))
}

/// Nodes.
///
/// This node and, in a cluster, its peer with their roles and last heartbeat.
#[utoipa::path(
    tag = "nodes",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The nodes, this one first", body = Vec<Node>),
        (status = 401, description = "No valid token", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/nodes")]
pub async fn list_nodes(
    _user: AuthUser,
    state: web::Data<AppState>,
) -> Result<web::Json<Vec<Node>>, ApiError> {
    let mut nodes = vec![self_node(&state).await?];
    nodes.extend(peer_node(&state).await?);
    Ok(web::Json(nodes))
}

/// This node.
///
/// Host name, version, role and the node's SSH public key, which "Prepare slave" on
/// the other node needs.
#[utoipa::path(
    tag = "nodes",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "This node", body = Node),
        (status = 401, description = "No valid token", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/nodes/self")]
pub async fn get_self(
    _user: AuthUser,
    state: web::Data<AppState>,
) -> Result<web::Json<Node>, ApiError> {
    Ok(web::Json(self_node(&state).await?))
}

/// Change this node.
///
/// Sets the host name (one RFC 1123 label). The two nodes of a cluster must have
/// different host names.
#[utoipa::path(
    tag = "nodes",
    security(("bearer" = [])),
    request_body = NodePatch,
    responses(
        (status = 200, description = "The changed node", body = Node),
        (status = 400, description = "The body is not JSON", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No valid token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The token's role is lower than admin", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The node is in a cluster: its host name cannot change", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A field is invalid", body = Problem, content_type = "application/problem+json"),
    )
)]
#[patch("/nodes/self")]
#[tracing::instrument(skip(_user, state, body))]
pub async fn patch_self(
    _user: AdminUser,
    state: web::Data<AppState>,
    body: ValidJson<NodePatch>,
) -> Result<web::Json<Node>, ApiError> {
    let ValidJson(change) = body;
    let record = state.agent.node().await;
    if let Some(hostname) = change.hostname {
        if record.role != Role::Standalone && hostname != record.hostname {
            return Err(ApiError::Conflict(format!(
                "this node is {} in a cluster; its host name cannot change while the cluster is active",
                record.role.as_str()
            )));
        }
        tracing::info!(from = %record.hostname, to = %hostname, "host name changed");
        state.agent.set_hostname(hostname).await?;
    }
    Ok(web::Json(self_node(&state).await?))
}

/// Network interfaces.
///
/// This node's interfaces and addresses as the kernel reports them; "Configure
/// master" picks the telephony and cluster interfaces from these.
#[utoipa::path(
    tag = "nodes",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The interfaces, by index", body = Vec<Interface>),
        (status = 401, description = "No valid token", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/nodes/self/interfaces")]
pub async fn list_interfaces(_user: AuthUser) -> Result<web::Json<Vec<Interface>>, ApiError> {
    Ok(web::Json(crate::netif::list_interfaces().await?))
}

/// Prepare slave.
///
/// Run on the node that is to become the slave, with the master's public key (shown by
/// `GET /api/v1/nodes/self` on the master). This node's SSH server then accepts the
/// master, and "Add slave" on the master can proceed.
#[utoipa::path(
    tag = "nodes",
    security(("bearer" = [])),
    request_body = PrepareSlave,
    responses(
        (status = 202, description = "The job that prepares this node", body = JobAccepted),
        (status = 400, description = "The body is not JSON, or a path or query parameter does not parse", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No valid token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The token's role is lower than admin", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "This node is the master, or the key is its own (the fields are named)", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "The key is not valid", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/nodes/self/prepare-slave")]
pub async fn prepare_slave(
    _user: AdminUser,
    state: web::Data<AppState>,
    body: ValidJson<PrepareSlave>,
) -> Result<HttpResponse, ApiError> {
    let job = state
        .cluster
        .prepare_slave(body.0.master_public_key)
        .await?;
    Ok(super::accepted(job))
}
