//! Logging in and finding out who is logged in.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub struct LoginRequest {
    #[cfg_attr(feature = "schema", schema(example = "admin"))]
    pub username: String,
    pub password: String,
}

/// A bearer token for the `Authorization` header of every other call.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub struct LoginResponse {
    pub token: String,
    /// Always `Bearer`.
    pub token_type: String,
    pub expires_at: DateTime<Utc>,
}

/// The shortest and longest new password accepted.
pub const PASSWORD_MIN_CHARS: usize = 12;
pub const PASSWORD_MAX_CHARS: usize = 1024;

/// A change of the caller's own password.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub struct PasswordChange {
    /// The password in use now.
    pub current_password: String,
    /// The new password: 12 to 1024 characters, not the current one.
    #[cfg_attr(feature = "schema", schema(min_length = 12, max_length = 1024))]
    pub new_password: String,
}

impl PasswordChange {
    /// Whether the new password is the current one (the server answers 409 for it).
    pub fn reuses_current(&self) -> bool {
        self.new_password == self.current_password
    }

    /// What is wrong with the new password, by field; the server and the commander
    /// apply the same rule. Whether the current one is right only the server knows.
    pub fn check(&self) -> Vec<crate::FieldError> {
        if let Some(error) = crate::users::check_new_password("new_password", &self.new_password) {
            return vec![error];
        }
        if self.reuses_current() {
            return vec![crate::FieldError {
                field: "new_password".into(),
                message: "is the current password; choose another".into(),
            }];
        }
        Vec::new()
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub struct Me {
    /// The user's name, or the API token's.
    pub username: String,
    pub role: crate::users::Role,
    pub kind: PrincipalKind,
    /// When the token in use expires.
    pub expires_at: DateTime<Utc>,
}

/// Whether a bearer token is a user's login or an API token.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub enum PrincipalKind {
    User,
    ApiToken,
}
