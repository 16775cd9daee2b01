//! `/audit`: the audit log.

use actix_web::{get, web};
use pequod_api::Problem;
use pequod_api::audit::{AuditOutcome, AuditPage};
use serde::Deserialize;
use utoipa::IntoParams;

use crate::error::ApiError;
use crate::extract::AuthUser;
use crate::state::AppState;
use crate::storage::AuditFilter;

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    /// 1-based page number (default 1).
    #[param(minimum = 1, maximum = 1000000)]
    pub page: Option<u32>,
    /// Entries per page, 1–100 (default 20).
    #[param(minimum = 1, maximum = 100)]
    pub per_page: Option<u32>,
    /// Only this user's entries (the exact name).
    pub user: Option<String>,
    /// Only actions that start with this, e.g. `failover` or `DELETE`.
    pub action: Option<String>,
    /// Only entries with this outcome.
    pub outcome: Option<AuditOutcome>,
}

/// The audit log.
///
/// Every change made through the API (who, from which address, the action, its
/// target and the status answered), every login, and every failover with who or what
/// caused it; newest first, a page at a time. Kept for `audit.keep_days` (365 by
/// default), and at most the newest 200,000 entries. Passwords, tokens and keys never
/// appear in it.
#[utoipa::path(
    tag = "audit",
    security(("bearer" = [])),
    params(AuditQuery),
    responses(
        (status = 200, description = "One page of the audit log", body = AuditPage),
        (status = 400, description = "The query string does not parse", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No valid token", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A parameter is out of range", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/audit")]
pub async fn list_audit(
    _user: AuthUser,
    state: web::Data<AppState>,
    query: web::Query<AuditQuery>,
) -> Result<web::Json<AuditPage>, ApiError> {
    let query = query.into_inner();
    let (page, per_page) = super::paging(query.page, query.per_page)?;
    let filter = AuditFilter {
        user: query.user.filter(|u| !u.is_empty()),
        action: query.action.filter(|a| !a.is_empty()),
        outcome: query.outcome,
    };
    let (items, total) = state.store.list_audit(&filter, page, per_page).await?;
    Ok(web::Json(AuditPage {
        items,
        total,
        page,
        per_page,
    }))
}
