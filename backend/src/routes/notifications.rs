//! `/notifications`: where notification mails go, the SMTP server, the mail queue,
//! and a test mail.

use actix_web::{get, patch, post, web};
use pequod_api::Problem;
use pequod_api::notifications::{Mail, Notifications, NotificationsPatch};

use crate::error::ApiError;
use crate::extract::{AdminUser, AuthUser, ValidJson};
use crate::notify::{EmailAddress, NotifyError, SetRecipientError};
use crate::state::AppState;

impl From<NotifyError> for ApiError {
    fn from(err: NotifyError) -> Self {
        match err {
            NotifyError::NoRecipient => ApiError::Conflict(err.to_string()),
            NotifyError::Storage(err) => err.into(),
        }
    }
}

impl From<SetRecipientError> for ApiError {
    fn from(err: SetRecipientError) -> Self {
        match err {
            SetRecipientError::NotMaster { .. } => ApiError::Conflict(err.to_string()),
            SetRecipientError::Storage(err) => err.into(),
        }
    }
}

/// Notification settings and the mail queue.
///
/// The address failover, check and cluster mails go to (the cluster's notification
/// e-mail), the SMTP server from the `[mail]` settings (none: mails wait queued), how
/// many mails are queued, failed and sent, and the newest mails.
#[utoipa::path(
    tag = "notifications",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The notification settings and the queue", body = Notifications),
        (status = 401, description = "No valid token", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/notifications")]
pub async fn get_notifications(
    _user: AuthUser,
    state: web::Data<AppState>,
) -> Result<web::Json<Notifications>, ApiError> {
    Ok(web::Json(state.notifier.overview().await?))
}

/// Change the notification address.
///
/// Sets the e-mail address notifications go to, on a standalone node or on the master
/// (where it is part of the cluster's configuration). A slave or standby node answers
/// 409 with the cluster IP to use instead. An invalid address changes nothing.
#[utoipa::path(
    tag = "notifications",
    security(("bearer" = [])),
    request_body = NotificationsPatch,
    responses(
        (status = 200, description = "The changed settings", body = Notifications),
        (status = 400, description = "The body is not JSON", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No valid token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The token's role is lower than admin", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "This node is a slave or standby", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "The address is not valid", body = Problem, content_type = "application/problem+json"),
    )
)]
#[patch("/notifications")]
#[tracing::instrument(skip(_user, state, body))]
pub async fn patch_notifications(
    _user: AdminUser,
    state: web::Data<AppState>,
    body: ValidJson<NotificationsPatch>,
) -> Result<web::Json<Notifications>, ApiError> {
    let ValidJson(change) = body;
    let email = EmailAddress::parse(&change.email).map_err(|m| ApiError::field("email", m))?;
    state.notifier.set_recipient(&email).await?;
    Ok(web::Json(state.notifier.overview().await?))
}

/// Send a test mail.
///
/// Queues a test mail to the notification address and makes the first attempt to send
/// it at once; answers with the mail as it is after that attempt (sent, or still
/// queued with the reason in `last_error`; queued without an attempt when no SMTP
/// server is configured). 409 when no notification address is set.
#[utoipa::path(
    tag = "notifications",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The test mail after its first attempt", body = Mail),
        (status = 401, description = "No valid token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The token's role is lower than admin", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "No notification address is set", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/notifications/test")]
#[tracing::instrument(skip(_user, state))]
pub async fn send_test_mail(
    _user: AdminUser,
    state: web::Data<AppState>,
) -> Result<web::Json<Mail>, ApiError> {
    Ok(web::Json(state.notifier.send_test().await?))
}
