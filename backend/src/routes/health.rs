//! Liveness for load balancers and monitoring; no login needed.

use actix_web::{get, web};
use serde::Serialize;
use utoipa::ToSchema;

#[derive(Serialize, ToSchema)]
pub struct Health {
    /// Always `ok` while the process serves requests.
    pub status: &'static str,
    pub version: &'static str,
}

/// Liveness probe.
///
/// Answers 200 while the node's API is serving. Needs no token.
#[utoipa::path(tag = "health", responses((status = 200, description = "The node is serving", body = Health)))]
#[get("/healthz")]
pub async fn healthz() -> web::Json<Health> {
    web::Json(Health {
        status: "ok",
        version: env!("CARGO_PKG_VERSION"),
    })
}
