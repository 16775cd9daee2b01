//! `/sync`: the data sync from the master to the slave, as this node sees it.

use actix_web::{get, web};
use pequod_api::Problem;
use pequod_api::sync::SyncStatus;

use crate::extract::AuthUser;
use crate::state::AppState;

/// Data sync.
///
/// The telephony database's replication (this node's database role, whether commits
/// wait for the slave and why not when they should, the standby's lag) and the file
/// mirror (which way the files go, the last pass, a pending retry, the paths that
/// differ between master and slave). A part this node does not manage is `null`.
#[utoipa::path(
    tag = "sync",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The data sync", body = SyncStatus),
        (status = 401, description = "No valid token", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/sync")]
pub async fn get_sync(_user: AuthUser, state: web::Data<AppState>) -> web::Json<SyncStatus> {
    web::Json(state.sync_status.borrow().clone())
}
