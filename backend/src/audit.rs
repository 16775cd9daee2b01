//! The audit log: every change made through the API (with who, from where and how it
//! ended), every login, and every failover, whether a person or the node caused it.
//! Requests are recorded by one middleware; a handler can name the action and add a
//! sentence through [`AuditNote`]. Bodies are never recorded, so no password, token or
//! key reaches the log.

use std::sync::Arc;
use std::time::Duration;

use actix_web::HttpMessage;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::Method;
use chrono::Utc;
use pequod_api::audit::AuditOutcome;
use serde::{Deserialize, Serialize};

use crate::storage::{NewAuditEntry, Store};

/// `[audit]`: how long entries are kept.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(default)]
pub struct AuditSettings {
    /// Days an entry is kept before it is purged.
    pub keep_days: u32,
}

impl Default for AuditSettings {
    fn default() -> Self {
        Self { keep_days: 365 }
    }
}

/// What a handler adds to its request's audit entry.
#[derive(Debug, Clone, Default)]
pub struct AuditNote {
    /// Replaces `METHOD /path/{template}`, e.g. `failover.forced`.
    pub action: Option<String>,
    /// The user, for a request without a token (a login names who tried).
    pub user: Option<String>,
    pub detail: Option<String>,
}

impl AuditNote {
    /// Adds the note to the request, merging with one set before.
    pub fn attach(req: &actix_web::HttpRequest, note: AuditNote) {
        let mut extensions = req.extensions_mut();
        let merged = match extensions.remove::<AuditNote>() {
            Some(old) => AuditNote {
                action: note.action.or(old.action),
                user: note.user.or(old.user),
                detail: note.detail.or(old.detail),
            },
            None => note,
        };
        extensions.insert(merged);
    }
}

/// The user a request's token was accepted for, set by the token check.
#[derive(Debug, Clone)]
pub struct AcceptedUser(pub String);

/// The longest user name, action, target or detail kept (a client chooses them).
const MAX_TEXT: usize = 512;

fn clip(mut text: String) -> String {
    if text.len() > MAX_TEXT {
        let mut end = MAX_TEXT;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
        text.push('…');
    }
    text
}

/// The most entries kept whatever their age: a flood of refused requests from the
/// network cannot fill the disk (about 200 bytes each). Checked every `TRIM_EVERY`.
pub const MAX_ENTRIES: u64 = 200_000;
const TRIM_EVERY: i64 = 1000;

/// Records an entry. A store that cannot write it is logged, never fails the action.
pub async fn record(store: &dyn Store, entry: NewAuditEntry) {
    let entry = NewAuditEntry {
        user: entry.user.map(clip),
        action: clip(entry.action),
        target: clip(entry.target),
        detail: entry.detail.map(clip),
        ..entry
    };
    match store.record_audit(&entry).await {
        Ok(id) if id % TRIM_EVERY == 0 => match store.trim_audit(MAX_ENTRIES).await {
            Ok(0) => {}
            Ok(trimmed) => tracing::warn!(
                trimmed,
                max = MAX_ENTRIES,
                "the audit log is full; dropped its oldest entries"
            ),
            Err(err) => tracing::error!(error = %err, "could not trim the audit log"),
        },
        Ok(_) => {}
        Err(err) => {
            tracing::error!(error = %err, action = %entry.action, target = %entry.target, "could not write the audit entry")
        }
    }
}

/// An action the node took by itself (an automatic takeover): no user, no client.
pub async fn record_own(
    store: &dyn Store,
    action: &str,
    target: &str,
    outcome: AuditOutcome,
    detail: String,
) {
    record(
        store,
        NewAuditEntry {
            at: Utc::now(),
            user: None,
            client: None,
            action: action.into(),
            target: target.into(),
            outcome,
            status: None,
            detail: Some(detail),
        },
    )
    .await;
}

/// Whether a request is a change to record: every method but GET, HEAD and OPTIONS
/// under the API.
pub fn is_change(req: &ServiceRequest) -> bool {
    !matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS)
        && req.path().starts_with("/api/")
}

/// The entry for a change that has been answered. The user is the note's, else the
/// one the token check accepted, else the bearer token's (none when it is not valid).
pub fn request_entry(
    response: &ServiceResponse,
    user_of: impl Fn(&str) -> Option<String>,
) -> NewAuditEntry {
    let req = response.request();
    let note = req
        .extensions()
        .get::<AuditNote>()
        .cloned()
        .unwrap_or_default();
    let accepted = req.extensions().get::<AcceptedUser>().map(|u| u.0.clone());
    let user = note.user.or(accepted).or_else(|| {
        let value = req
            .headers()
            .get(actix_web::http::header::AUTHORIZATION)?
            .to_str()
            .ok()?;
        let (scheme, token) = value.split_once(' ')?;
        scheme
            .eq_ignore_ascii_case("bearer")
            .then(|| user_of(token.trim()))?
    });
    let status = response.status();
    NewAuditEntry {
        at: Utc::now(),
        user,
        client: req.peer_addr().map(|addr| addr.ip().to_string()),
        action: note.action.unwrap_or_else(|| {
            format!(
                "{} {}",
                req.method(),
                req.match_pattern()
                    .unwrap_or_else(|| "(unknown path)".into())
            )
        }),
        target: req.path().to_string(),
        outcome: if status.is_client_error() || status.is_server_error() {
            AuditOutcome::Failure
        } else {
            AuditOutcome::Success
        },
        status: Some(status.as_u16()),
        detail: note.detail,
    }
}

/// Purges the entries older than the kept period, now and then every hour.
pub fn start_purge(store: Arc<dyn Store>, settings: AuditSettings) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut every = tokio::time::interval(Duration::from_secs(3600));
        loop {
            every.tick().await;
            // A period too long to subtract keeps everything (the entry cap still holds).
            let before = chrono::Duration::try_days(i64::from(settings.keep_days))
                .and_then(|period| Utc::now().checked_sub_signed(period))
                .unwrap_or(chrono::DateTime::<Utc>::MIN_UTC);
            match store.purge_audit(before).await {
                Ok(0) => {}
                Ok(purged) => tracing::info!(
                    purged,
                    keep_days = settings.keep_days,
                    "purged old audit entries"
                ),
                Err(err) => tracing::error!(error = %err, "could not purge old audit entries"),
            }
        }
    })
}
