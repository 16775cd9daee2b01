//! `/cluster`: the cluster as this node sees it.

use actix_web::{HttpRequest, HttpResponse, get, post, web};
use pequod_api::Problem;
use pequod_api::cluster::{Cluster, ConfigureMaster, ManualFailover};
use pequod_api::jobs::JobAccepted;

use crate::audit::AuditNote;
use crate::error::ApiError;
use crate::extract::{AdminUser, AuthUser, OperatorUser, ValidJson};
use crate::state::AppState;

/// The cluster.
///
/// Mode (standalone until a master is configured), this node's role and epoch, the
/// cluster IP and who holds it, and the status lamp with its reasons.
#[utoipa::path(
    tag = "cluster",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The cluster", body = Cluster),
        (status = 401, description = "No valid token", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/cluster")]
pub async fn get_cluster(
    _user: AuthUser,
    state: web::Data<AppState>,
) -> Result<web::Json<Cluster>, ApiError> {
    Ok(web::Json(state.agent.cluster_view().await?))
}

/// Configure master.
///
/// Makes this standalone node the master of a new cluster: checks the interfaces and
/// that the cluster IP is free, then a job stores the configuration, adds the cluster
/// IP, starts the managed services and the cluster agent. The services and network
/// configuration cannot easily be changed once the cluster is active.
#[utoipa::path(
    tag = "cluster",
    security(("bearer" = [])),
    request_body = ConfigureMaster,
    responses(
        (status = 202, description = "The job that configures the master", body = JobAccepted),
        (status = 400, description = "The body is not JSON, or a path or query parameter does not parse", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No valid token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The token's role is lower than admin", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "This node is already in a cluster, or an interface or address this node cannot use (the fields are named)", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A field is invalid", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "A program this node needs is not installed (named with its Debian package); nothing was changed", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/cluster")]
pub async fn configure_master(
    _user: AdminUser,
    state: web::Data<AppState>,
    body: ValidJson<ConfigureMaster>,
) -> Result<HttpResponse, ApiError> {
    let job = state.cluster.configure_master(body.0).await?;
    Ok(super::accepted(job))
}

/// Manual failover.
///
/// On the master: it stops its services, its database refuses writes, it releases the
/// cluster IP, and the slave takes over. Active calls are interrupted. Refused when
/// there is no healthy slave. With `force` on the slave whose master is gone: it takes
/// over even when its database lacks acknowledged commits (recorded, with how much).
/// The body may be left out.
#[utoipa::path(
    tag = "cluster",
    security(("bearer" = [])),
    request_body(content = Option<ManualFailover>, description = "Optional; `{\"force\": true}` on the slave"),
    responses(
        (status = 202, description = "The failover job", body = JobAccepted),
        (status = 400, description = "The body is not valid JSON", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No valid token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The token's role is lower than operator", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Not the master, no healthy slave, or (forced) the master is still heard", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A field is invalid", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/cluster/failover")]
pub async fn failover(
    user: OperatorUser,
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let request: ManualFailover = crate::extract::optional_json(&body)?;
    let action = if request.force {
        "failover.forced"
    } else {
        "failover.manual"
    };
    AuditNote::attach(
        &req,
        AuditNote {
            action: Some(action.into()),
            ..AuditNote::default()
        },
    );
    let (job, detail) = if request.force {
        let (job, why) = state.cluster.forced_failover().await?;
        let detail = format!(
            "forced by {} although the last decision did not promote this node: {why}",
            user.0.audit_name()
        );
        (job, detail)
    } else {
        let job = state.cluster.manual_failover().await?;
        let detail = format!("{}, asked by {}", job.title, user.0.audit_name());
        (job, detail)
    };
    AuditNote::attach(
        &req,
        AuditNote {
            detail: Some(detail),
            ..AuditNote::default()
        },
    );
    Ok(super::accepted(job))
}
