//! Thin HTTP handlers, one file per resource: extract, authorize, validate, call one
//! service, map. Paths are collected into the OpenAPI document from these handlers.

pub mod audit;
pub mod auth;
pub mod checks;
pub mod cluster;
pub mod events;
pub mod health;
pub mod jobs;
pub mod nodes;
pub mod notifications;
pub mod services;
pub mod slaves;
pub mod sync;
pub mod users;

use actix_web::HttpRequest;
use utoipa_actix_web::scope::{self, Scope};
use utoipa_actix_web::service_config::ServiceConfig;

use crate::error::ApiError;

/// Everything below `/api/v1`.
pub fn api_v1() -> Scope<
    impl actix_web::dev::ServiceFactory<
        actix_web::dev::ServiceRequest,
        Config = (),
        Response = actix_web::dev::ServiceResponse,
        Error = actix_web::Error,
        InitError = (),
    >,
> {
    scope::scope(pequod_api::API_PREFIX)
        .configure(|cfg: &mut ServiceConfig| {
            cfg.service(auth::login)
                .service(auth::me)
                .service(auth::change_password)
                .service(cluster::get_cluster)
                .service(cluster::configure_master)
                .service(cluster::failover)
                .service(nodes::list_nodes)
                .service(nodes::get_self)
                .service(nodes::patch_self)
                .service(nodes::list_interfaces)
                .service(nodes::prepare_slave)
                .service(jobs::list_jobs)
                .service(jobs::get_job)
                .service(jobs::acknowledge_job)
                .service(events::events)
                .service(checks::list_checks)
                .service(checks::get_check)
                .service(checks::run_check)
                .service(services::list_services)
                .service(slaves::list_slaves)
                .service(slaves::add_slave)
                .service(slaves::remove_slave)
                .service(slaves::readd_slave)
                .service(notifications::get_notifications)
                .service(notifications::patch_notifications)
                .service(notifications::send_test_mail)
                .service(sync::get_sync)
                .service(audit::list_audit)
                .service(users::list_users)
                .service(users::create_user)
                .service(users::patch_user)
                .service(users::delete_user)
                .service(users::list_tokens)
                .service(users::create_token)
                .service(users::revoke_token);
        })
        .default_service(actix_web::web::to(api_not_found))
}

/// The most items a listing (jobs, audit log) answers in one page.
pub const MAX_PER_PAGE: u32 = 100;
/// The highest page number a listing accepts (the schemas say so as `maximum`).
pub const MAX_PAGE: u32 = 1_000_000;

/// A listing's page (1-based, default 1, at most [`MAX_PAGE`]) and page size (default
/// 20, at most [`MAX_PER_PAGE`]), or the field error naming the one out of range.
pub fn paging(page: Option<u32>, per_page: Option<u32>) -> Result<(u32, u32), ApiError> {
    let page = page.unwrap_or(1);
    let per_page = per_page.unwrap_or(20);
    if page == 0 || page > MAX_PAGE {
        return Err(ApiError::field(
            "page",
            format!("must be between 1 and {MAX_PAGE}"),
        ));
    }
    if per_page == 0 || per_page > MAX_PER_PAGE {
        return Err(ApiError::field(
            "per_page",
            format!("must be between 1 and {}", MAX_PER_PAGE),
        ));
    }
    Ok((page, per_page))
}

/// `202 Accepted` with the job and `Location: /api/v1/jobs/{id}`.
pub fn accepted(job: pequod_api::jobs::JobSummary) -> actix_web::HttpResponse {
    actix_web::HttpResponse::Accepted()
        .insert_header((
            actix_web::http::header::LOCATION,
            format!("{}/jobs/{}", pequod_api::API_PREFIX, job.id),
        ))
        .json(pequod_api::jobs::JobAccepted { job })
}

/// The methods of the API path `path` matches (a `{parameter}` segment matches any
/// non-empty segment); `None` for a path that is not part of the API.
fn allowed_methods(path: &str) -> Option<&'static [pequod_api::paths::Method]> {
    let segments: Vec<&str> = path.split('/').collect();
    pequod_api::paths::ENDPOINTS
        .iter()
        .find(|(template, _)| {
            let parts: Vec<&str> = template.split('/').collect();
            parts.len() == segments.len()
                && parts.iter().zip(&segments).all(|(part, segment)| {
                    if part.starts_with('{') {
                        !segment.is_empty()
                    } else {
                        part == segment
                    }
                })
        })
        .map(|(_, methods)| *methods)
}

/// Unknown paths below `/api` answer with a problem, not the UI's index page; a known
/// path asked with a method it lacks answers 405 with `Allow`.
pub async fn api_not_found(req: HttpRequest) -> Result<actix_web::HttpResponse, ApiError> {
    let asked = req.method().as_str();
    if let Some(methods) = allowed_methods(req.path()).filter(|methods| {
        // HEAD and OPTIONS are not offered anywhere; a listed method that got here
        // did not match its route, so the path is not that route's either.
        !matches!(asked, "HEAD" | "OPTIONS") && !methods.iter().any(|m| m.to_string() == asked)
    }) {
        let allow = methods
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(", ");
        return Err(ApiError::MethodNotAllowed {
            detail: format!(
                "{} is not allowed on {}; it allows {allow}",
                req.method(),
                req.path()
            ),
            allow,
        });
    }
    Err(ApiError::NotFound(format!(
        "{} {} is not part of the API",
        req.method(),
        req.path()
    )))
}
