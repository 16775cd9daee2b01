//! `/slaves`: the slave node as the master knows it, removed ones included.

use actix_web::{HttpResponse, delete, get, post, web};
use pequod_api::Problem;
use pequod_api::jobs::JobAccepted;
use pequod_api::slaves::{AddSlave, ReaddSlave, Slave};

use crate::error::ApiError;
use crate::extract::{AuthUser, OperatorUser, ValidJson};
use crate::state::AppState;

/// Slaves.
///
/// The slave of this master, and a removed slave whose data is cached for "Add again".
/// Empty on a node that has never had a slave.
#[utoipa::path(
    tag = "slaves",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The slaves", body = Vec<Slave>),
        (status = 401, description = "No valid token", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/slaves")]
pub async fn list_slaves(
    _user: AuthUser,
    state: web::Data<AppState>,
) -> Result<web::Json<Vec<Slave>>, ApiError> {
    let config = state.store.load_cluster().await?;
    let slaves = config
        .and_then(|c| c.slave)
        .map(|s| Slave {
            hostname: s.hostname,
            telephony_ip: s.telephony_ip.to_string(),
            sync_ip: s.sync_ip.to_string(),
            state: s.state,
            public_key: s.public_key,
        })
        .into_iter()
        .collect();
    Ok(web::Json(slaves))
}

/// Add slave.
///
/// The master connects to the prepared node's sync IP over SSH, records its host key,
/// exchanges keys and the cluster secret and pushes the cluster configuration; the
/// node becomes slave. Run "Prepare slave" on it first.
#[utoipa::path(
    tag = "slaves",
    security(("bearer" = [])),
    request_body = AddSlave,
    responses(
        (status = 202, description = "The job that adds the slave", body = JobAccepted),
        (status = 400, description = "The body is not JSON, or a path or query parameter does not parse", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No valid token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The token's role is lower than operator", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Not the master, a slave is already active, or a name or address is the master's (the fields are named)", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A field is invalid", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/slaves")]
pub async fn add_slave(
    _user: OperatorUser,
    state: web::Data<AppState>,
    body: ValidJson<AddSlave>,
) -> Result<HttpResponse, ApiError> {
    Ok(super::accepted(state.cluster.add_slave(body.0).await?))
}

/// Remove slave.
///
/// The slave leaves the cluster and becomes standby; its data stays cached on the
/// master for "Add again". The master keeps the cluster IP and its services; calls go on.
#[utoipa::path(
    tag = "slaves",
    security(("bearer" = [])),
    params(("hostname" = String, Path, description = "The slave's host name")),
    responses(
        (status = 202, description = "The job that removes the slave", body = JobAccepted),
        (status = 400, description = "The body is not JSON, or a path or query parameter does not parse", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No valid token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The token's role is lower than operator", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such active slave", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Not the master", body = Problem, content_type = "application/problem+json"),
    )
)]
#[delete("/slaves/{hostname}")]
pub async fn remove_slave(
    _user: OperatorUser,
    state: web::Data<AppState>,
    hostname: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    Ok(super::accepted(
        state.cluster.remove_slave(&hostname).await?,
    ))
}

/// Add again.
///
/// Re-integrates the cached slave (after a removal or a failover). Without a body the
/// cached data is used; give new addresses for a replaced node (run "Prepare slave"
/// on it first).
#[utoipa::path(
    tag = "slaves",
    security(("bearer" = [])),
    params(("hostname" = String, Path, description = "The cached slave's host name")),
    request_body(content = Option<ReaddSlave>, description = "New data for a replaced node"),
    responses(
        (status = 202, description = "The job that adds the slave again", body = JobAccepted),
        (status = 400, description = "The body is not JSON, or a path or query parameter does not parse", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No valid token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The token's role is lower than operator", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such cached slave", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Not the master, the slave is active, or an address is the master's (the fields are named)", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A field is invalid", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/slaves/{hostname}/readd")]
pub async fn readd_slave(
    _user: OperatorUser,
    state: web::Data<AppState>,
    hostname: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let request: ReaddSlave = crate::extract::optional_json(&body)?;
    Ok(super::accepted(
        state.cluster.readd_slave(&hostname, request).await?,
    ))
}
