//! `/users` and `/tokens`: the users and the API tokens, managed by admins.

use actix_web::{HttpRequest, HttpResponse, delete, get, patch, post, web};
use pequod_api::Problem;
use pequod_api::users::{
    ApiTokenList, CreatedApiToken, NewApiToken, NewUser, User, UserList, UserPatch,
};

use pequod_api::auth::PrincipalKind;

use crate::audit::AuditNote;
use crate::auth::AuthError;
use crate::error::ApiError;
use crate::extract::{AdminUser, ValidJson};
use crate::state::AppState;

fn note(req: &HttpRequest, action: &str, detail: String) {
    AuditNote::attach(
        req,
        AuditNote {
            action: Some(action.into()),
            user: None,
            detail: Some(detail),
        },
    );
}

fn checked(errors: Vec<pequod_api::FieldError>) -> Result<(), ApiError> {
    if errors.is_empty() {
        Ok(())
    } else {
        Err(ApiError::Validation(errors))
    }
}

/// Users.
///
/// Every user of the API and the commander, by name, with its role.
#[utoipa::path(
    tag = "users",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The users", body = UserList),
        (status = 401, description = "No valid token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The token's role is lower than admin", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/users")]
pub async fn list_users(
    _user: AdminUser,
    state: web::Data<AppState>,
) -> Result<web::Json<UserList>, ApiError> {
    let users = state.auth.list_users(state.store.as_ref()).await?;
    Ok(web::Json(UserList { users }))
}

/// Create a user.
///
/// A user with a name, a password (12 to 1024 characters) and a role.
#[utoipa::path(
    tag = "users",
    security(("bearer" = [])),
    request_body = NewUser,
    responses(
        (status = 201, description = "Created", body = User),
        (status = 400, description = "The body is not JSON", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No valid token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The token's role is lower than admin", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "A user of that name exists", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A field is missing or invalid", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/users")]
pub async fn create_user(
    _user: AdminUser,
    req: HttpRequest,
    state: web::Data<AppState>,
    body: ValidJson<NewUser>,
) -> Result<HttpResponse, ApiError> {
    let ValidJson(request) = body;
    let (name, role) = (request.username.clone(), request.role);
    note(&req, "user.create", format!("create user {name} as {role}"));
    checked(request.check())?;
    let user = state
        .auth
        .create_user(state.store.as_ref(), request)
        .await?;
    note(
        &req,
        "user.create",
        format!("created user {name} as {role}"),
    );
    Ok(HttpResponse::Created()
        .insert_header((
            actix_web::http::header::LOCATION,
            pequod_api::paths::user(name.as_str()),
        ))
        .json(user))
}

/// Change a user.
///
/// A new role, a new password, or both, applied together or not at all. A new
/// password ends every token of the user at once (for one's own password, use
/// `POST /api/v1/auth/password`, which needs the current one and answers a new token).
/// The last admin cannot be demoted.
#[utoipa::path(
    tag = "users",
    security(("bearer" = [])),
    params(("username" = String, Path, description = "The user's name")),
    request_body = UserPatch,
    responses(
        (status = 200, description = "Changed", body = User),
        (status = 400, description = "The body is not JSON", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No valid token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The token's role is lower than admin", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such user", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The user is the last admin; nothing was changed", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A field is invalid", body = Problem, content_type = "application/problem+json"),
    )
)]
#[patch("/users/{username}")]
pub async fn patch_user(
    _user: AdminUser,
    req: HttpRequest,
    state: web::Data<AppState>,
    username: web::Path<String>,
    body: ValidJson<UserPatch>,
) -> Result<web::Json<User>, ApiError> {
    let username = username.into_inner();
    let ValidJson(patch) = body;
    let what = match (&patch.role, &patch.password) {
        (Some(role), Some(_)) => format!("the role of {username} to {role} and its password"),
        (Some(role), None) => format!("the role of {username} to {role}"),
        (None, Some(_)) => format!("the password of {username}"),
        (None, None) => format!("nothing of {username}"),
    };
    note(&req, "user.update", format!("change {what}"));
    checked(patch.check())?;
    let ends_tokens = patch.password.is_some();
    let user = state
        .auth
        .update_user(state.store.as_ref(), &username, patch)
        .await?;
    let ended = if ends_tokens {
        "; its older tokens ended"
    } else {
        ""
    };
    note(&req, "user.update", format!("changed {what}{ended}"));
    Ok(web::Json(user))
}

/// Delete a user.
///
/// Its tokens end at once. The last admin cannot be deleted.
#[utoipa::path(
    tag = "users",
    security(("bearer" = [])),
    params(("username" = String, Path, description = "The user's name")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 400, description = "The body is not JSON, or a path or query parameter does not parse", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No valid token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The token's role is lower than admin", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such user", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The user is the last admin", body = Problem, content_type = "application/problem+json"),
    )
)]
#[delete("/users/{username}")]
pub async fn delete_user(
    _user: AdminUser,
    req: HttpRequest,
    state: web::Data<AppState>,
    username: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let username = username.into_inner();
    note(&req, "user.delete", format!("delete user {username}"));
    state
        .auth
        .delete_user(state.store.as_ref(), &username)
        .await?;
    note(
        &req,
        "user.delete",
        format!("deleted user {username}; its tokens ended"),
    );
    Ok(HttpResponse::NoContent().finish())
}

/// API tokens.
///
/// Every API token, by name, with its role, expiry and last use; never a secret.
#[utoipa::path(
    tag = "users",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The API tokens", body = ApiTokenList),
        (status = 401, description = "No valid token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The token's role is lower than admin", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/tokens")]
pub async fn list_tokens(
    _user: AdminUser,
    state: web::Data<AppState>,
) -> Result<web::Json<ApiTokenList>, ApiError> {
    let tokens = state.auth.list_api_tokens(state.store.as_ref()).await?;
    Ok(web::Json(ApiTokenList { tokens }))
}

/// Create an API token.
///
/// A named token for automation with a role and an expiry (1 to 3650 days), made by a
/// logged-in admin (not by another token). The answer holds its secret, shown this once
/// and stored only as a hash; send it as `Authorization: Bearer <secret>`. The token
/// never does more than its maker may at the time: demoting the maker lowers it,
/// deleting the maker ends it.
#[utoipa::path(
    tag = "users",
    security(("bearer" = [])),
    request_body = NewApiToken,
    responses(
        (status = 201, description = "Created; the secret is in the answer", body = CreatedApiToken),
        (status = 400, description = "The body is not JSON", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No valid token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The token's role is lower than admin, or it is an API token", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "A token of that name exists", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A field is missing or invalid", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/tokens")]
pub async fn create_token(
    user: AdminUser,
    req: HttpRequest,
    state: web::Data<AppState>,
    body: ValidJson<NewApiToken>,
) -> Result<HttpResponse, ApiError> {
    let ValidJson(request) = body;
    let (name, role, days) = (request.name.clone(), request.role, request.expires_in_days);
    note(
        &req,
        "token.create",
        format!("create API token {name} as {role}"),
    );
    if user.0.kind != PrincipalKind::User {
        // A token answers to the user who made it; one made by a token would answer to
        // no one.
        return Err(AuthError::Forbidden(
            "an API token cannot create API tokens; log in as an admin".into(),
        )
        .into());
    }
    checked(request.check())?;
    let created = state
        .auth
        .create_api_token(state.store.as_ref(), &user.0, request)
        .await?;
    note(
        &req,
        "token.create",
        format!("created API token {name} as {role}, valid for {days} days"),
    );
    Ok(HttpResponse::Created()
        .insert_header((
            actix_web::http::header::LOCATION,
            pequod_api::paths::token(name.as_str()),
        ))
        .json(created))
}

/// Revoke an API token.
///
/// The next request carrying it is refused.
#[utoipa::path(
    tag = "users",
    security(("bearer" = [])),
    params(("name" = String, Path, description = "The token's name")),
    responses(
        (status = 204, description = "Revoked"),
        (status = 400, description = "The body is not JSON, or a path or query parameter does not parse", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No valid token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The token's role is lower than admin", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such token", body = Problem, content_type = "application/problem+json"),
    )
)]
#[delete("/tokens/{name}")]
pub async fn revoke_token(
    _user: AdminUser,
    req: HttpRequest,
    state: web::Data<AppState>,
    name: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let name = name.into_inner();
    note(&req, "token.revoke", format!("revoke API token {name}"));
    state
        .auth
        .revoke_api_token(state.store.as_ref(), &name)
        .await?;
    note(&req, "token.revoke", format!("revoked API token {name}"));
    Ok(HttpResponse::NoContent().finish())
}
