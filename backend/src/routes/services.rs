//! `/services`: the telephony services this node manages, and whether they run.

use actix_web::{get, web};
use pequod_api::Problem;
use pequod_api::services::ManagedService;

use crate::extract::AuthUser;
use crate::state::AppState;

/// Managed services.
///
/// The telephony services from the `cluster.services` settings, in start order, each
/// with its status now (from its status command or systemd unit) and whether this
/// node's role should run it: the master does, a slave or standby node does not.
#[utoipa::path(
    tag = "services",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The managed services", body = Vec<ManagedService>),
        (status = 401, description = "No valid token", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/services")]
pub async fn list_services(
    _user: AuthUser,
    state: web::Data<AppState>,
) -> web::Json<Vec<ManagedService>> {
    let role = state.agent.node().await.role;
    let mut services = Vec::new();
    for service in &state.agent.settings().services {
        services.push(service.describe(role).await);
    }
    web::Json(services)
}
