//! The mail queue and the notification address in SQLite. A mail row is written before
//! the first attempt and updated after each one; nothing is deleted, so the API can
//! show what was sent.

use async_trait::async_trait;
use chrono::{DateTime, TimeZone, Utc};
use pequod_api::notifications::{Mail, MailState};
use sqlx::FromRow;

use super::sqlite::SqliteStore;
use super::{MailCounts, MailRecord, MailRepository, NewMail, StorageError};

const MAIL_COLUMNS: &str = "id, recipient, subject, body, message_id, state, attempts, last_error, \
     next_attempt_ms, created_at, sent_at";

#[derive(FromRow)]
struct MailRow {
    id: i64,
    recipient: String,
    subject: String,
    body: String,
    message_id: String,
    state: String,
    attempts: i64,
    last_error: Option<String>,
    next_attempt_ms: i64,
    created_at: DateTime<Utc>,
    sent_at: Option<DateTime<Utc>>,
}

fn state_str(state: MailState) -> &'static str {
    match state {
        MailState::Queued => "queued",
        MailState::Sent => "sent",
        MailState::Failed => "failed",
    }
}

fn parse_state(text: &str) -> Result<MailState, StorageError> {
    match text {
        "queued" => Ok(MailState::Queued),
        "sent" => Ok(MailState::Sent),
        "failed" => Ok(MailState::Failed),
        other => Err(StorageError::Corrupt(format!("mail state {other:?}"))),
    }
}

fn from_millis(ms: i64) -> DateTime<Utc> {
    Utc.timestamp_millis_opt(ms).single().unwrap_or_default()
}

impl MailRow {
    fn record(self) -> Result<MailRecord, StorageError> {
        Ok(MailRecord {
            mail: Mail {
                id: self.id,
                to: self.recipient,
                subject: self.subject,
                state: parse_state(&self.state)?,
                attempts: u32::try_from(self.attempts).unwrap_or(u32::MAX),
                last_error: self.last_error,
                created_at: self.created_at,
                sent_at: self.sent_at,
            },
            body: self.body,
            message_id: self.message_id,
            next_attempt_at: from_millis(self.next_attempt_ms),
        })
    }
}

#[async_trait]
impl MailRepository for SqliteStore {
    #[tracing::instrument(skip(self, mail), fields(subject = %mail.subject))]
    async fn enqueue_mail(&self, mail: &NewMail) -> Result<Option<MailRecord>, StorageError> {
        let result = sqlx::query(
            "INSERT INTO mails (dedupe_key, recipient, subject, body, message_id, state, \
             attempts, next_attempt_ms, created_at) VALUES (?, ?, ?, ?, ?, 'queued', 0, ?, ?) \
             ON CONFLICT (dedupe_key) DO NOTHING",
        )
        .bind(&mail.dedupe_key)
        .bind(&mail.recipient)
        .bind(&mail.subject)
        .bind(&mail.body)
        .bind(&mail.message_id)
        .bind(mail.first_attempt_at.timestamp_millis())
        .bind(mail.created_at)
        .execute(self.pool())
        .await?;
        if result.rows_affected() == 0 {
            return Ok(None);
        }
        self.get_mail(result.last_insert_rowid()).await.map(Some)
    }

    async fn get_mail(&self, id: i64) -> Result<MailRecord, StorageError> {
        let row: Option<MailRow> =
            sqlx::query_as(&format!("SELECT {MAIL_COLUMNS} FROM mails WHERE id = ?"))
                .bind(id)
                .fetch_optional(self.pool())
                .await?;
        row.ok_or_else(|| StorageError::NotFound(format!("mail {id}")))?
            .record()
    }

    async fn queued_mails(&self) -> Result<Vec<MailRecord>, StorageError> {
        let rows: Vec<MailRow> = sqlx::query_as(&format!(
            "SELECT {MAIL_COLUMNS} FROM mails WHERE state = 'queued' ORDER BY id"
        ))
        .fetch_all(self.pool())
        .await?;
        rows.into_iter().map(MailRow::record).collect()
    }

    async fn mark_mail_sent(&self, id: i64, at: DateTime<Utc>) -> Result<(), StorageError> {
        sqlx::query(
            "UPDATE mails SET state = 'sent', attempts = attempts + 1, last_error = NULL, \
             sent_at = ? WHERE id = ?",
        )
        .bind(at)
        .bind(id)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    async fn mark_mail_attempt_failed(
        &self,
        id: i64,
        error: &str,
        next_attempt_at: Option<DateTime<Utc>>,
    ) -> Result<(), StorageError> {
        let (state, next) = match next_attempt_at {
            Some(at) => (MailState::Queued, at.timestamp_millis()),
            None => (MailState::Failed, Utc::now().timestamp_millis()),
        };
        sqlx::query(
            "UPDATE mails SET state = ?, attempts = attempts + 1, last_error = ?, \
             next_attempt_ms = ? WHERE id = ?",
        )
        .bind(state_str(state))
        .bind(error)
        .bind(next)
        .bind(id)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    async fn mail_counts(&self) -> Result<MailCounts, StorageError> {
        let rows: Vec<(String, i64)> =
            sqlx::query_as("SELECT state, COUNT(*) FROM mails GROUP BY state")
                .fetch_all(self.pool())
                .await?;
        let mut counts = MailCounts::default();
        for (state, count) in rows {
            let count = u64::try_from(count).unwrap_or(0);
            match parse_state(&state)? {
                MailState::Queued => counts.queued = count,
                MailState::Sent => counts.sent = count,
                MailState::Failed => counts.failed = count,
            }
        }
        Ok(counts)
    }

    async fn recent_mails(&self, limit: u32) -> Result<Vec<Mail>, StorageError> {
        let rows: Vec<MailRow> = sqlx::query_as(&format!(
            "SELECT {MAIL_COLUMNS} FROM mails ORDER BY id DESC LIMIT ?"
        ))
        .bind(i64::from(limit))
        .fetch_all(self.pool())
        .await?;
        rows.into_iter()
            .map(|row| row.record().map(|r| r.mail))
            .collect()
    }

    async fn notification_email(&self) -> Result<Option<String>, StorageError> {
        let row: Option<(String,)> =
            sqlx::query_as("SELECT email FROM notification_settings WHERE singleton = 1")
                .fetch_optional(self.pool())
                .await?;
        Ok(row.map(|(email,)| email))
    }

    #[tracing::instrument(skip(self))]
    async fn save_notification_email(&self, email: &str) -> Result<(), StorageError> {
        let mut tx = self.pool().begin().await?;
        sqlx::query(
            "INSERT INTO notification_settings (singleton, email) VALUES (1, ?) \
             ON CONFLICT (singleton) DO UPDATE SET email = excluded.email",
        )
        .bind(email)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "UPDATE cluster SET config = json_set(config, '$.notification_email', ?) \
             WHERE singleton = 1",
        )
        .bind(email)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    fn new_mail(key: Option<&str>, at: DateTime<Utc>) -> NewMail {
        NewMail {
            dedupe_key: key.map(str::to_string),
            recipient: "ops@example.net".into(),
            subject: "[Pequod] test".into(),
            body: "hello\n".into(),
            message_id: "<1@example.net>".into(),
            created_at: at,
            first_attempt_at: at,
        }
    }

    #[tokio::test]
    async fn a_mail_is_queued_once_per_key_and_moves_through_its_states() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("t.db")).await.unwrap();
        let now = Utc::now();
        let first = store
            .enqueue_mail(&new_mail(Some("job:1"), now))
            .await
            .unwrap()
            .expect("queued");
        assert!(
            store
                .enqueue_mail(&new_mail(Some("job:1"), now))
                .await
                .unwrap()
                .is_none(),
            "the same event is mailed once"
        );
        let second = store
            .enqueue_mail(&new_mail(None, now))
            .await
            .unwrap()
            .unwrap();
        store
            .mark_mail_attempt_failed(first.mail.id, "connection refused", Some(now))
            .await
            .unwrap();
        let retried = store.get_mail(first.mail.id).await.unwrap();
        assert_eq!(retried.mail.state, MailState::Queued);
        assert_eq!(retried.mail.attempts, 1);
        assert_eq!(
            retried.mail.last_error.as_deref(),
            Some("connection refused")
        );
        assert_eq!(
            retried.next_attempt_at.timestamp_millis(),
            now.timestamp_millis()
        );
        store.mark_mail_sent(first.mail.id, now).await.unwrap();
        store
            .mark_mail_attempt_failed(second.mail.id, "rejected", None)
            .await
            .unwrap();
        assert_eq!(
            store.mail_counts().await.unwrap(),
            MailCounts {
                queued: 0,
                failed: 1,
                sent: 1
            }
        );
        let recent = store.recent_mails(10).await.unwrap();
        assert_eq!(recent[0].id, second.mail.id, "newest first");
        assert_eq!(recent[1].attempts, 2);
        assert!(store.queued_mails().await.unwrap().is_empty());
    }

    #[tokio::test]
    async fn the_notification_address_is_kept_outside_and_inside_the_cluster_configuration() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("t.db")).await.unwrap();
        assert_eq!(store.notification_email().await.unwrap(), None);
        store
            .save_notification_email("ops@example.net")
            .await
            .unwrap();
        assert_eq!(
            store.notification_email().await.unwrap().as_deref(),
            Some("ops@example.net")
        );
        sqlx::query("INSERT INTO cluster (singleton, config) VALUES (1, ?)")
            .bind(r#"{"cluster_ip":"10.0.0.1/24","notification_email":"old@example.net"}"#)
            .execute(store.pool())
            .await
            .unwrap();
        store
            .save_notification_email("new@example.net")
            .await
            .unwrap();
        let (config,): (String,) = sqlx::query_as("SELECT config FROM cluster")
            .fetch_one(store.pool())
            .await
            .unwrap();
        let config: serde_json::Value = serde_json::from_str(&config).unwrap();
        assert_eq!(config["notification_email"], "new@example.net");
        assert_eq!(config["cluster_ip"], "10.0.0.1/24");
    }
}
