//! `/auth`: log in, and find out who the token belongs to.

use actix_web::{HttpRequest, get, post, web};
use pequod_api::Problem;
use pequod_api::auth::{LoginRequest, LoginResponse, Me};
use secrecy::SecretString;

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
/// The user the bearer token belongs to and when the token expires.
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
    web::Json(Me {
        expires_at: user.0.expires_at(),
        username: user.0.sub,
    })
}
