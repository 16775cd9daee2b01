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

/// Prometheus metrics.
///
/// The node's role, epoch and cluster IP, the other node's heartbeats per link, every
/// check's state, failovers, jobs by state and HTTP request durations, in the
/// Prometheus text format (version 0.0.4). Needs no token, like `/healthz`, so a
/// Prometheus server can scrape it; it carries states and counters, nothing secret.
#[utoipa::path(
    tag = "health",
    responses(
        (status = 200, description = "The metrics", body = String, content_type = "text/plain; version=0.0.4"),
        (status = 500, description = "The store could not be read", body = pequod_api::Problem, content_type = "application/problem+json"),
    )
)]
#[get("/metrics")]
pub async fn metrics(
    state: web::Data<crate::state::AppState>,
) -> Result<actix_web::HttpResponse, crate::error::ApiError> {
    let text = crate::metrics::render(crate::metrics::Sources {
        agent: &state.agent,
        store: state.store.as_ref(),
        checks: &state.checks,
        http: &state.http,
    })
    .await?;
    Ok(actix_web::HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(text))
}
