//! The HTTP face of every failure: `ApiError` maps each domain error to a status and an
//! RFC 9457 problem body. Each variant is mapped explicitly; unexpected errors are
//! logged once, with their cause chain, and become a 500 without internals.

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpResponse, ResponseError};
use pequod_api::{FieldError, Problem};

use crate::accounts::AccountError;
use crate::auth::AuthError;
use crate::cluster::operations::ClusterError;
use crate::storage::StorageError;
use crate::tool::MissingTool;

pub const PROBLEM_JSON: &str = "application/problem+json";

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The request body or parameters were understood but some fields are invalid.
    #[error("validation failed")]
    Validation(Vec<FieldError>),
    /// Fields that are well-formed but refused for what the node holds now (409) or
    /// for who asks (403): the schema cannot say so in advance, so it is not a 422.
    #[error("refused")]
    Refused(StatusCode, Vec<FieldError>),
    /// The request could not be read at all (not JSON, wrong structure).
    #[error("{0}")]
    BadRequest(String),
    #[error(transparent)]
    Auth(#[from] AuthError),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    /// This node lacks something the request needs that an admin can install (a
    /// program); nothing was changed.
    #[error("{0}")]
    Unavailable(String),
    /// The path exists, the method does not; `allow` is the `Allow` header's value.
    #[error("{detail}")]
    MethodNotAllowed { detail: String, allow: String },
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

impl ApiError {
    pub fn field(field: impl Into<String>, message: impl Into<String>) -> Self {
        ApiError::Validation(vec![FieldError {
            field: field.into(),
            message: message.into(),
        }])
    }

    /// A 409 naming the field: well-formed, but not acceptable in the node's state.
    pub fn conflict_on(field: impl Into<String>, message: impl Into<String>) -> Self {
        ApiError::Refused(
            StatusCode::CONFLICT,
            vec![FieldError {
                field: field.into(),
                message: message.into(),
            }],
        )
    }

    /// A 403 naming the field: well-formed, but not acceptable from this caller.
    pub fn forbidden_on(field: impl Into<String>, message: impl Into<String>) -> Self {
        ApiError::Refused(
            StatusCode::FORBIDDEN,
            vec![FieldError {
                field: field.into(),
                message: message.into(),
            }],
        )
    }

    fn problem(&self) -> Problem {
        let status = self.status_code();
        let title = status.canonical_reason().unwrap_or("Error").to_string();
        let (detail, errors) = match self {
            ApiError::Validation(errors) | ApiError::Refused(_, errors) => (
                Some(match errors.as_slice() {
                    [one] => format!("{}: {}", one.field, one.message),
                    _ => format!("{} fields are invalid", errors.len()),
                }),
                errors.clone(),
            ),
            ApiError::BadRequest(message)
            | ApiError::NotFound(message)
            | ApiError::Conflict(message)
            | ApiError::Unavailable(message)
            | ApiError::MethodNotAllowed {
                detail: message, ..
            } => (Some(message.clone()), Vec::new()),
            ApiError::Auth(err) => (Some(err.to_string()), Vec::new()),
            ApiError::Unexpected(_) => (
                Some("an internal error occurred; the node's log has the details".into()),
                Vec::new(),
            ),
        };
        Problem {
            kind: "about:blank".into(),
            title,
            status: status.as_u16(),
            detail,
            instance: None,
            errors,
        }
    }
}

impl From<StorageError> for ApiError {
    fn from(err: StorageError) -> Self {
        match err {
            StorageError::NotFound(what) => ApiError::NotFound(format!("{what} does not exist")),
            StorageError::Conflict(what) => ApiError::Conflict(what),
            StorageError::Database(_) | StorageError::Corrupt(_) => {
                ApiError::Unexpected(anyhow::Error::new(err).context("the store failed"))
            }
        }
    }
}

impl From<AccountError> for ApiError {
    fn from(err: AccountError) -> Self {
        match err {
            AccountError::Store(err) => err.into(),
            AccountError::Unexpected(err) => ApiError::Unexpected(err),
        }
    }
}

impl From<ClusterError> for ApiError {
    fn from(err: ClusterError) -> Self {
        match err {
            ClusterError::Invalid(errors) => ApiError::Validation(errors),
            ClusterError::Refused(errors) => ApiError::Refused(StatusCode::CONFLICT, errors),
            ClusterError::NotCached { .. } | ClusterError::NotActiveSlave { .. } => {
                ApiError::NotFound(err.to_string())
            }
            ClusterError::NotInCluster
            | ClusterError::NotMaster { .. }
            | ClusterError::AlreadyInCluster { .. }
            | ClusterError::PrepareOnMaster
            | ClusterError::SlaveActive { .. }
            | ClusterError::NoHealthySlave
            | ClusterError::ForceNotSlave { .. }
            | ClusterError::MasterStillHeard { .. } => ApiError::Conflict(err.to_string()),
            ClusterError::Storage(err) => err.into(),
            ClusterError::Unexpected(err) => match err.downcast_ref::<MissingTool>() {
                Some(missing) => ApiError::Unavailable(missing.to_string()),
                None => ApiError::Unexpected(err),
            },
        }
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            ApiError::Validation(_) => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::Refused(status, _) => *status,
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::Auth(AuthError::MissingToken)
            | ApiError::Auth(AuthError::InvalidToken)
            | ApiError::Auth(AuthError::ExpiredToken)
            | ApiError::Auth(AuthError::EndedToken)
            | ApiError::Auth(AuthError::DeletedUser)
            | ApiError::Auth(AuthError::MakerGone)
            | ApiError::Auth(AuthError::InvalidCredentials) => StatusCode::UNAUTHORIZED,
            ApiError::Auth(AuthError::Forbidden(_)) => StatusCode::FORBIDDEN,
            ApiError::Auth(AuthError::WrongCurrentPassword) => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::Auth(AuthError::ChangedMeanwhile(_)) => StatusCode::CONFLICT,
            ApiError::Auth(AuthError::RateLimited { .. }) => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Auth(AuthError::Unexpected(_)) => StatusCode::INTERNAL_SERVER_ERROR,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::MethodNotAllowed { .. } => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::Unexpected(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        if self.status_code().is_server_error() {
            tracing::error!(error = ?self, "request failed");
        }
        let mut response = problem_response(&self.problem());
        match self {
            ApiError::Auth(AuthError::RateLimited { retry_after_secs }) => {
                if let Ok(value) = HeaderValue::from_str(&retry_after_secs.to_string()) {
                    response.headers_mut().insert(header::RETRY_AFTER, value);
                }
            }
            ApiError::Auth(AuthError::MissingToken)
            | ApiError::Auth(AuthError::InvalidToken)
            | ApiError::Auth(AuthError::ExpiredToken)
            | ApiError::Auth(AuthError::EndedToken)
            | ApiError::Auth(AuthError::DeletedUser)
            | ApiError::Auth(AuthError::MakerGone) => {
                response.headers_mut().insert(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static("Bearer realm=\"pequod\""),
                );
            }
            ApiError::MethodNotAllowed { allow, .. } => {
                if let Ok(value) = HeaderValue::from_str(allow) {
                    response.headers_mut().insert(header::ALLOW, value);
                }
            }
            ApiError::Auth(AuthError::InvalidCredentials)
            | ApiError::Auth(AuthError::WrongCurrentPassword)
            | ApiError::Auth(AuthError::ChangedMeanwhile(_))
            | ApiError::Auth(AuthError::Forbidden(_))
            | ApiError::Auth(AuthError::Unexpected(_))
            | ApiError::Validation(_)
            | ApiError::Refused(..)
            | ApiError::BadRequest(_)
            | ApiError::NotFound(_)
            | ApiError::Conflict(_)
            | ApiError::Unavailable(_)
            | ApiError::Unexpected(_) => {}
        }
        response
    }
}

/// Serialises a problem with its content type.
pub fn problem_response(problem: &Problem) -> HttpResponse {
    let status = StatusCode::from_u16(problem.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    HttpResponse::build(status)
        .content_type(PROBLEM_JSON)
        .json(problem)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_program_is_a_503_that_names_its_package() {
        let missing = MissingTool {
            program: "arping".into(),
            package: "iputils-arping",
        };
        let err: ApiError = ClusterError::Unexpected(
            anyhow::Error::new(missing).context("checking that the cluster IP is free"),
        )
        .into();
        assert_eq!(err.status_code(), StatusCode::SERVICE_UNAVAILABLE);
        let problem = err.problem();
        assert_eq!(problem.status, 503);
        assert_eq!(
            problem.detail.as_deref(),
            Some("arping is not installed on this node (Debian package iputils-arping)")
        );
    }

    #[test]
    fn any_other_unexpected_error_stays_an_internal_error_without_its_text() {
        let err: ApiError = ClusterError::Unexpected(anyhow::anyhow!("secret detail")).into();
        assert_eq!(err.status_code(), StatusCode::INTERNAL_SERVER_ERROR);
        assert!(!format!("{:?}", err.problem()).contains("secret detail"));
    }
}
