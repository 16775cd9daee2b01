//! `/checks`: the failover and notify checks with their latest results.

use actix_web::{get, web};
use pequod_api::Problem;
use pequod_api::checks::Check;

use crate::extract::AuthUser;

/// Health checks.
///
/// Every failover and notify check this node runs, with its state and output. Empty
/// until the check engine runs on this node.
#[utoipa::path(
    tag = "checks",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The checks", body = Vec<Check>),
        (status = 401, description = "No valid token", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/checks")]
pub async fn list_checks(_user: AuthUser) -> web::Json<Vec<Check>> {
    web::Json(Vec::new())
}
