//! `/slaves`: the slave node as the master knows it, removed ones included.

use actix_web::{get, web};
use pequod_api::Problem;
use pequod_api::slaves::Slave;

use crate::extract::AuthUser;

/// Slaves.
///
/// The slave of this master, and removed slaves whose data is cached for "Add again".
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
pub async fn list_slaves(_user: AuthUser) -> web::Json<Vec<Slave>> {
    web::Json(Vec::new())
}
