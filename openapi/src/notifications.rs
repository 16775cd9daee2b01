//! E-mail notifications: where they go, whether they can be sent, and the queue.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// The notification settings and the state of the mail queue.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub struct Notifications {
    /// Failover and check e-mails go here (the cluster's notification e-mail).
    pub email: Option<String>,
    /// The SMTP server mails are sent through, e.g. `mail.example.net:587 (STARTTLS)`;
    /// none when the `[mail]` settings name no server (mails then wait in the queue).
    pub smtp_server: Option<String>,
    /// Mails waiting to be sent (new or being retried).
    pub queued: u64,
    /// Mails given up on after their last retry.
    pub failed: u64,
    /// Mails delivered to the SMTP server.
    pub sent: u64,
    /// The newest mails, newest first.
    pub recent: Vec<Mail>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub enum MailState {
    Queued,
    Sent,
    Failed,
}

/// One mail of the queue.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub struct Mail {
    pub id: i64,
    pub to: String,
    pub subject: String,
    pub state: MailState,
    pub attempts: u32,
    /// Why the last attempt failed, if it did.
    pub last_error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub sent_at: Option<DateTime<Utc>>,
}

/// Changes to the notification settings.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub struct NotificationsPatch {
    /// The new notification e-mail address, exactly as sent (no white space around it).
    #[serde(deserialize_with = "crate::domain::exact::text::<_, crate::domain::exact::Email>")]
    #[cfg_attr(feature = "schema", schema(schema_with = email_schema))]
    pub email: String,
}

#[cfg(feature = "schema")]
fn email_schema() -> utoipa::openapi::Object {
    crate::email::email_schema(
        "The new notification e-mail address.",
        "pbx-admin@example.net",
    )
}
