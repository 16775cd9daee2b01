//! `/auth`: log in, find out who the token belongs to, change one's password.

use actix_web::{HttpRequest, get, post, web};
use pequod_api::Problem;
use pequod_api::auth::{LoginRequest, LoginResponse, Me, PasswordChange, PrincipalKind};
use secrecy::SecretString;

use crate::audit::AuditNote;
use crate::auth::AuthError;
use crate::error::ApiError;
use crate::extract::{AuthUser, ValidJson};
use crate::state::AppState;

/// Log in.
///
/// Checks the username and password and returns a bearer token for the
/// `Authorization` header of every other call. After too many failed attempts from one
/// client address, logins from it are refused for a while (429 with `Retry-After`).
#[utoipa::path(
    tag = "auth",
    request_body = LoginRequest,
    responses(
        (status = 200, description = "Logged in", body = LoginResponse),
        (status = 400, description = "The body is not JSON", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Wrong username or password", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A field is missing or invalid", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Too many failed logins from this address", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/auth/login")]
#[tracing::instrument(skip(req, state, body), fields(username = %body.0.username))]
pub async fn login(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: ValidJson<LoginRequest>,
) -> Result<web::Json<LoginResponse>, ApiError> {
    let ValidJson(request) = body;
    crate::audit::AuditNote::attach(
        &req,
        crate::audit::AuditNote {
            action: Some("login".into()),
            user: Some(request.username.clone()),
            detail: None,
        },
    );
    let client = req.peer_addr().map(|addr| addr.ip());
    let (token, claims) = state
        .auth
        .login(
            state.store.as_ref(),
            client,
            &request.username,
            SecretString::from(request.password),
        )
        .await?;
    Ok(web::Json(LoginResponse {
        token,
        token_type: "Bearer".into(),
        expires_at: claims.expires_at(),
    }))
}

/// Who am I.
///
/// The user or API token the bearer token belongs to, its role, and when the token
/// expires.
#[utoipa::path(
    tag = "auth",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The token's user", body = Me),
        (status = 401, description = "No valid token", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/auth/me")]
pub async fn me(user: AuthUser) -> web::Json<Me> {
    let AuthUser(principal) = user;
    web::Json(Me {
        expires_at: principal.expires_at,
        role: principal.role,
        kind: principal.kind,
        username: principal.name,
    })
}

/// Change my password.
///
/// The current password must be right; a wrong one counts as a failed login from this
/// client address (429 past the limit). Every token of the user issued before ends at
/// once, in every browser and script; the answer carries a new token for the caller.
#[utoipa::path(
    tag = "auth",
    security(("bearer" = [])),
    request_body = PasswordChange,
    responses(
        (status = 200, description = "Changed; a new token for this session", body = LoginResponse),
        (status = 400, description = "The body is not JSON", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No valid token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The current password is wrong, or the bearer token is an API token, which has no password", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The new password is the current one, or another change of this user's password landed meanwhile; nothing was changed", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A field is missing, or the new password is too short or too long", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Too many failed attempts from this address", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/auth/password")]
#[tracing::instrument(skip(req, state, body, user), fields(username = %user.0.name))]
pub async fn change_password(
    user: AuthUser,
    req: HttpRequest,
    state: web::Data<AppState>,
    body: ValidJson<PasswordChange>,
) -> Result<web::Json<LoginResponse>, ApiError> {
    let ValidJson(request) = body;
    if user.0.kind != PrincipalKind::User {
        return Err(AuthError::Forbidden(
            "an API token has no password to change; an admin can revoke it and create another"
                .into(),
        )
        .into());
    }
    let username = user.0.name;
    AuditNote::attach(
        &req,
        AuditNote {
            action: Some("password.change".into()),
            user: Some(username.clone()),
            detail: None,
        },
    );
    if request.reuses_current() {
        // Well-formed, so not a 422: refused for what the password is now.
        return Err(ApiError::conflict_on(
            "new_password",
            "is the current password; choose another",
        ));
    }
    let errors = request.check();
    if !errors.is_empty() {
        return Err(ApiError::Validation(errors));
    }
    let client = req.peer_addr().map(|addr| addr.ip());
    let (token, claims) = state
        .auth
        .change_password(
            state.store.as_ref(),
            client,
            &username,
            SecretString::from(request.current_password),
            SecretString::from(request.new_password),
        )
        .await
        .map_err(|err| match err {
            AuthError::WrongCurrentPassword => {
                ApiError::forbidden_on("current_password", "is wrong")
            }
            other => other.into(),
        })?;
    AuditNote::attach(
        &req,
        AuditNote {
            detail: Some(format!(
                "the password of {username} was changed; its older tokens ended"
            )),
            ..AuditNote::default()
        },
    );
    Ok(web::Json(LoginResponse {
        token,
        token_type: "Bearer".into(),
        expires_at: claims.expires_at(),
    }))
}
