//! `/jobs`: the job log.

use actix_web::{HttpResponse, get, post, web};
use pequod_api::Problem;
use pequod_api::events::Event;
use pequod_api::jobs::{Job, JobPage};
use serde::Deserialize;
use utoipa::IntoParams;

use crate::error::ApiError;
use crate::extract::{AuthUser, OperatorUser};
use crate::state::AppState;

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct JobQuery {
    /// 1-based page number (default 1).
    #[param(minimum = 1, maximum = 1000000)]
    pub page: Option<u32>,
    /// Jobs per page, 1–100 (default 20).
    #[param(minimum = 1, maximum = 100)]
    pub per_page: Option<u32>,
}

/// The job log.
///
/// Jobs newest first, a page at a time.
#[utoipa::path(
    tag = "jobs",
    security(("bearer" = [])),
    params(JobQuery),
    responses(
        (status = 200, description = "One page of jobs", body = JobPage),
        (status = 400, description = "The body is not JSON, or a path or query parameter does not parse", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No valid token", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A parameter is out of range", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/jobs")]
pub async fn list_jobs(
    _user: AuthUser,
    state: web::Data<AppState>,
    query: web::Query<JobQuery>,
) -> Result<web::Json<JobPage>, ApiError> {
    let (page, per_page) = super::paging(query.page, query.per_page)?;
    let (items, total) = state.store.list_jobs(page, per_page).await?;
    Ok(web::Json(JobPage {
        items,
        total,
        page,
        per_page,
    }))
}

/// One job.
///
/// The job with its ordered steps, each with its state and log lines.
#[utoipa::path(
    tag = "jobs",
    security(("bearer" = [])),
    params(("id" = i64, Path, description = "The job's id")),
    responses(
        (status = 200, description = "The job", body = Job),
        (status = 400, description = "The body is not JSON, or a path or query parameter does not parse", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No valid token", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such job", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/jobs/{id}")]
pub async fn get_job(
    _user: AuthUser,
    state: web::Data<AppState>,
    id: web::Path<i64>,
) -> Result<web::Json<Job>, ApiError> {
    Ok(web::Json(state.store.get_job(id.into_inner()).await?))
}

/// Acknowledge a job.
///
/// A failed or interrupted job keeps the status lamp yellow until someone has read it
/// and acknowledged it here.
#[utoipa::path(
    tag = "jobs",
    security(("bearer" = [])),
    params(("id" = i64, Path, description = "The job's id")),
    responses(
        (status = 200, description = "The acknowledged job", body = Job),
        (status = 400, description = "The body is not JSON, or a path or query parameter does not parse", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No valid token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The token's role is lower than operator", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such job", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The job has not ended yet", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/jobs/{id}/acknowledge")]
pub async fn acknowledge_job(
    _user: OperatorUser,
    state: web::Data<AppState>,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    let job = state.store.get_job(id).await?;
    if !job.summary.state.is_finished() {
        return Err(ApiError::Conflict(format!(
            "job {id} is still {}; it can be acknowledged once it has ended",
            job.summary.state.as_str()
        )));
    }
    let job = state.store.acknowledge_job(id).await?;
    state.events.publish(Event::Job(job.summary.clone()));
    Ok(HttpResponse::Ok().json(job))
}
