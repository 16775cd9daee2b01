//! `/nodes`: the nodes of the cluster, this node's settings and its interfaces.

use actix_web::{get, patch, web};
use pequod_api::Problem;
use pequod_api::nodes::{Interface, Node, NodePatch};

use crate::error::ApiError;
use crate::extract::{AuthUser, ValidJson};
use crate::state::AppState;
use crate::storage::NodeRecord;

fn self_node(state: &AppState, record: NodeRecord) -> Node {
    Node {
        id: record.id,
        hostname: record.hostname,
        version: env!("CARGO_PKG_VERSION").into(),
        role: record.role,
        is_self: true,
        public_key: state.public_key.clone(),
        last_heartbeat: None,
    }
}

async fn load_self(state: &AppState) -> Result<NodeRecord, ApiError> {
    Ok(state
        .store
        .load_node()
        .await?
        .ok_or_else(|| anyhow::anyhow!("the node has no identity in its store"))?)
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
    let record = load_self(&state).await?;
    Ok(web::Json(vec![self_node(&state, record)]))
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
    let record = load_self(&state).await?;
    Ok(web::Json(self_node(&state, record)))
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
        (status = 422, description = "A field is invalid", body = Problem, content_type = "application/problem+json"),
    )
)]
#[patch("/nodes/self")]
#[tracing::instrument(skip(_user, state, body))]
pub async fn patch_self(
    _user: AuthUser,
    state: web::Data<AppState>,
    body: ValidJson<NodePatch>,
) -> Result<web::Json<Node>, ApiError> {
    let ValidJson(change) = body;
    let mut record = load_self(&state).await?;
    if let Some(hostname) = change.hostname {
        tracing::info!(from = %record.hostname, to = %hostname, "host name changed");
        record.hostname = hostname;
    }
    state.store.save_node(&record).await?;
    Ok(web::Json(self_node(&state, record)))
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
