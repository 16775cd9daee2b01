//! `/cluster`: the cluster as this node sees it.

use actix_web::{get, web};
use pequod_api::Problem;
use pequod_api::cluster::Cluster;

use crate::error::ApiError;
use crate::extract::AuthUser;
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
    Ok(web::Json(crate::cluster::view(&state).await?))
}
