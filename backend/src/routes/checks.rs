//! `/checks`: the failover and notify checks with their latest results.

use actix_web::{get, post, web};
use pequod_api::Problem;
use pequod_api::checks::{Check, CheckDetail, CheckKind, CheckState};
use serde::Deserialize;
use utoipa::IntoParams;

use crate::error::ApiError;
use crate::extract::{AuthUser, OperatorUser};
use crate::state::AppState;

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CheckQuery {
    /// Only checks in this state.
    pub state: Option<CheckState>,
    /// Only failover or only notify checks.
    pub kind: Option<CheckKind>,
}

/// Health checks.
///
/// Every check this node runs in its current role (as in the seed's tables), with its
/// state, whether that state is confirmed (hard), its output and when it last ran and
/// last changed. Checks not run yet show OK without a last check.
#[utoipa::path(
    tag = "checks",
    security(("bearer" = [])),
    params(CheckQuery),
    responses(
        (status = 200, description = "The checks", body = Vec<Check>),
        (status = 400, description = "A filter is not valid", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No valid token", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/checks")]
pub async fn list_checks(
    _user: AuthUser,
    state: web::Data<AppState>,
    query: web::Query<CheckQuery>,
) -> web::Json<Vec<Check>> {
    let role = state.agent.node().await.role;
    let checks = state
        .checks
        .list(Some(role))
        .into_iter()
        .filter(|c| query.state.is_none_or(|s| c.state == s))
        .filter(|c| query.kind.is_none_or(|k| c.kind == k))
        .collect();
    web::Json(checks)
}

/// One check.
///
/// The check with its recent results, newest first.
#[utoipa::path(
    tag = "checks",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "The check's id, e.g. `disk-usage`")),
    responses(
        (status = 200, description = "The check", body = CheckDetail),
        (status = 400, description = "The body is not JSON, or a path or query parameter does not parse", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No valid token", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such check", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/checks/{id}")]
pub async fn get_check(
    _user: AuthUser,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<web::Json<CheckDetail>, ApiError> {
    let (check, history) = state
        .checks
        .history(&id)
        .ok_or_else(|| ApiError::NotFound(format!("check {id} does not exist")))?;
    Ok(web::Json(CheckDetail { check, history }))
}

/// Run a check now.
///
/// Runs the check at once and answers with its new state.
#[utoipa::path(
    tag = "checks",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "The check's id, e.g. `disk-usage`")),
    responses(
        (status = 200, description = "The check after this run", body = Check),
        (status = 400, description = "The body is not JSON, or a path or query parameter does not parse", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No valid token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The token's role is lower than operator", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such check", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/checks/{id}/run")]
pub async fn run_check(
    _user: OperatorUser,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<web::Json<Check>, ApiError> {
    let check = state
        .checks
        .run(&id)
        .await
        .ok_or_else(|| ApiError::NotFound(format!("check {id} does not exist")))?;
    Ok(web::Json(check))
}
