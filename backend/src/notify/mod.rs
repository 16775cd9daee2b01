//! E-mail notifications: failovers, hard check state changes and slave changes become
//! mails to the cluster's notification address. Every mail is stored in the queue
//! before it is sent; a sender task delivers the queue over SMTP and retries with
//! exponential backoff, so a mail server that is down (or a restart) loses nothing.

pub mod compose;
pub mod settings;
mod smtp;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use pequod_api::checks::{Check, CheckState};
use pequod_api::cluster::Role;
use pequod_api::events::Event;
use pequod_api::jobs::{JobKind, JobState, JobSummary};
use pequod_api::notifications::{Mail, MailState, Notifications};
use tokio::sync::{Mutex, Notify, broadcast};

pub use settings::{MailSettings, Security};

use crate::cluster::agent::Agent;
use crate::events::{DomainEvent, EventBus, Takeover};
use crate::storage::{MailRecord, NewMail, StorageError, Store};

/// How many mails `GET /notifications` lists.
const RECENT: u32 = 20;
/// The sender looks at the queue at least this often, even when nobody wakes it.
const IDLE: Duration = Duration::from_secs(60);

/// The one e-mail address type, shared with the commander.
pub use pequod_api::EmailAddress;

#[derive(Debug, thiserror::Error)]
pub enum NotifyError {
    #[error("no notification e-mail address is set; set one first")]
    NoRecipient,
    #[error(transparent)]
    Storage(#[from] StorageError),
}

#[derive(Clone)]
pub struct Notifier {
    inner: Arc<Inner>,
}

struct Inner {
    store: Arc<dyn Store>,
    agent: Agent,
    settings: MailSettings,
    transport: Option<smtp::Transport>,
    /// The domain of the sender, for Message-IDs.
    domain: String,
    /// Wakes the sender when a mail is queued.
    wake: Notify,
    /// One attempt at a time, so a mail is never sent by two tasks at once.
    sending: Mutex<()>,
    /// This node's SSH key, to tell the slave a new address.
    key_path: std::path::PathBuf,
}

impl Notifier {
    /// Checks the settings (a bad sender address stops the start with a clear message).
    pub fn new(
        store: Arc<dyn Store>,
        agent: Agent,
        settings: MailSettings,
        data_dir: &std::path::Path,
    ) -> anyhow::Result<Self> {
        let from: lettre::message::Mailbox = settings.from.parse().map_err(|e| {
            anyhow::anyhow!(
                "[mail] from = {:?} is not a valid sender address: {e}",
                settings.from
            )
        })?;
        let domain = from.email.domain().to_string();
        let transport = smtp::Transport::new(&settings, from)?;
        Ok(Self {
            inner: Arc::new(Inner {
                store,
                agent,
                settings,
                transport,
                domain,
                wake: Notify::new(),
                sending: Mutex::new(()),
                key_path: data_dir.join(crate::identity::SSH_KEY_FILE),
            }),
        })
    }

    /// Starts the sender and the task that turns events into mails. Subscribe before
    /// the agent and the checks start, so no early event is missed.
    pub fn start(&self, events: &EventBus) -> Vec<tokio::task::JoinHandle<()>> {
        let watcher = self.clone();
        let receiver = events.subscribe();
        let domain_watcher = self.clone();
        let domain = events.subscribe_domain();
        let sender = self.clone();
        let durability_watcher = self.clone();
        let durability = self.inner.agent.data_sync().subscribe();
        vec![
            tokio::spawn(async move { watcher.watch(receiver).await }),
            tokio::spawn(async move { domain_watcher.watch_domain(domain).await }),
            tokio::spawn(async move { sender.run_sender().await }),
            tokio::spawn(async move { durability_watcher.watch_durability(durability).await }),
        ]
    }

    /// Where notifications go: the cluster's address, or this node's outside a cluster.
    pub async fn recipient(&self) -> Result<Option<String>, StorageError> {
        if let Some(config) = self.inner.store.load_cluster().await? {
            return Ok(Some(config.notification_email.as_str().to_string()));
        }
        self.inner.store.notification_email().await
    }

    /// The settings and the queue, for `GET /notifications`.
    pub async fn overview(&self) -> Result<Notifications, StorageError> {
        let counts = self.inner.store.mail_counts().await?;
        Ok(Notifications {
            email: self.recipient().await?.filter(|e| !e.is_empty()),
            smtp_server: self.inner.settings.describe_server(),
            queued: counts.queued,
            failed: counts.failed,
            sent: counts.sent,
            recent: self.inner.store.recent_mails(RECENT).await?,
        })
    }

    /// Sets the notification address; refused on a slave or standby node, whose
    /// configuration comes from the master. The master tells its slave at once (a
    /// slave that cannot be reached learns it with the configuration at "Add again").
    pub async fn set_recipient(&self, email: &EmailAddress) -> Result<(), SetRecipientError> {
        let node = self.inner.agent.node().await;
        let config = self.inner.store.load_cluster().await?;
        if let (Role::Slave | Role::Standby, Some(config)) = (node.role, &config) {
            return Err(SetRecipientError::NotMaster {
                role: node.role,
                cluster_ip: config.cluster_address().to_string(),
            });
        }
        self.inner
            .store
            .save_notification_email(email.as_str())
            .await?;
        tracing::info!(email = email.as_str(), "notification address set");
        let slave = config
            .filter(|_| node.role == Role::Master)
            .and_then(|c| c.slave)
            .filter(|s| s.state == pequod_api::slaves::SlaveState::Active);
        if let Some(slave) = slave {
            self.tell_slave(&slave, email).await;
        }
        Ok(())
    }

    async fn tell_slave(&self, slave: &crate::cluster::config::Member, email: &EmailAddress) {
        let port = self.inner.agent.settings().peer_ssh_port;
        let told = crate::cluster::remote::Peer::member(&self.inner.key_path, slave, port)
            .notification_email(email.as_str())
            .await;
        match told {
            Ok(_) => {
                tracing::info!(slave = %slave.hostname, "the slave has the new notification address")
            }
            Err(err) => tracing::warn!(
                slave = %slave.hostname,
                error = %err,
                "the slave could not be told the new notification address; it gets it with Add again"
            ),
        }
    }

    /// Queues a test mail and makes the first attempt now; the mail as it is after it.
    pub async fn send_test(&self) -> Result<Mail, NotifyError> {
        let node = self.inner.agent.node().await.hostname.to_string();
        let content = compose::test_mail(&node, Utc::now());
        // Not due for the sender yet: the attempt below is the first one.
        let first_attempt_at = Utc::now()
            + chrono::Duration::from_std(self.inner.settings.backoff(1)).unwrap_or_default();
        let record = self
            .queue(None, content, first_attempt_at)
            .await?
            .ok_or(NotifyError::NoRecipient)?;
        match self.attempt(record.mail.id, true).await? {
            Some(mail) => Ok(mail),
            None => Ok(self.inner.store.get_mail(record.mail.id).await?.mail),
        }
    }

    /// Stores a mail to the current recipient and wakes the sender. `Ok(None)` when
    /// there is no recipient or the event was mailed already.
    async fn queue(
        &self,
        dedupe_key: Option<String>,
        content: compose::Content,
        first_attempt_at: DateTime<Utc>,
    ) -> Result<Option<MailRecord>, NotifyError> {
        let Some(recipient) = self.recipient().await?.filter(|e| !e.is_empty()) else {
            if dedupe_key.is_none() {
                return Err(NotifyError::NoRecipient);
            }
            tracing::info!(
                subject = %content.subject,
                "no notification address is set; not mailed"
            );
            return Ok(None);
        };
        let record = self
            .inner
            .store
            .enqueue_mail(&NewMail {
                dedupe_key,
                recipient,
                subject: content.subject,
                body: compose::wrap(&content.body),
                message_id: format!("<{}@{}>", uuid::Uuid::new_v4(), self.inner.domain),
                created_at: Utc::now(),
                first_attempt_at,
            })
            .await?;
        if let Some(record) = &record {
            tracing::info!(
                mail = record.mail.id,
                subject = %record.mail.subject,
                "mail queued"
            );
            self.inner.wake.notify_one();
        }
        Ok(record)
    }

    /// Queues a notification (due at once); failures are logged, never passed on: a
    /// mail must not stop what it reports on.
    async fn notify(&self, dedupe_key: Option<String>, content: compose::Content) {
        if let Err(err) = self.queue(dedupe_key, content, Utc::now()).await {
            match err {
                NotifyError::NoRecipient => {}
                NotifyError::Storage(err) => {
                    tracing::error!(error = %err, "could not queue a notification mail")
                }
            }
        }
    }

    /// One attempt to send a queued mail (when due, or `now`). `None` when there is
    /// nothing to do: no SMTP server, the mail is not queued or not due.
    #[tracing::instrument(skip(self))]
    async fn attempt(&self, id: i64, now: bool) -> Result<Option<Mail>, StorageError> {
        let Some(transport) = &self.inner.transport else {
            return Ok(None);
        };
        let _turn = self.inner.sending.lock().await;
        let record = self.inner.store.get_mail(id).await?;
        if record.mail.state != MailState::Queued || (!now && record.next_attempt_at > Utc::now()) {
            return Ok(None);
        }
        match transport.send(&record).await {
            Ok(()) => {
                self.inner.store.mark_mail_sent(id, Utc::now()).await?;
                tracing::info!(
                    mail = id,
                    subject = %record.mail.subject,
                    to = %record.mail.to,
                    "mail sent"
                );
            }
            Err(error) => {
                let attempts = record.mail.attempts.saturating_add(1);
                let next = (attempts < self.inner.settings.max_attempts.max(1)).then(|| {
                    Utc::now()
                        + chrono::Duration::from_std(self.inner.settings.backoff(attempts))
                            .unwrap_or_default()
                });
                match next {
                    Some(at) => {
                        tracing::warn!(mail = id, attempts, error = %error, retry_at = %at, "sending a mail failed; it stays queued")
                    }
                    None => {
                        tracing::error!(mail = id, attempts, error = %error, "sending a mail failed for the last time; given up")
                    }
                }
                self.inner
                    .store
                    .mark_mail_attempt_failed(id, &error, next)
                    .await?;
            }
        }
        Ok(Some(self.inner.store.get_mail(id).await?.mail))
    }

    /// Sends what is due; returns how long until the next queued mail is.
    async fn deliver_due(&self) -> Result<Option<Duration>, StorageError> {
        if self.inner.transport.is_none() {
            return Ok(None);
        }
        for record in self.inner.store.queued_mails().await? {
            if record.next_attempt_at <= Utc::now() {
                self.attempt(record.mail.id, false).await?;
            }
        }
        let now = Utc::now();
        Ok(self
            .inner
            .store
            .queued_mails()
            .await?
            .iter()
            .map(|r| (r.next_attempt_at - now).to_std().unwrap_or_default())
            .min())
    }

    async fn run_sender(&self) {
        loop {
            let wait = match self.deliver_due().await {
                Ok(next) => next.unwrap_or(IDLE).min(IDLE),
                Err(err) => {
                    tracing::error!(error = %err, "the mail queue could not be read");
                    IDLE
                }
            };
            tokio::select! {
                () = self.inner.wake.notified() => {}
                () = tokio::time::sleep(wait) => {}
            }
        }
    }

    /// Turns events into mails: hard check changes, takeovers, slave changes.
    async fn watch(&self, mut events: broadcast::Receiver<Event>) {
        let mut hard = HardStates::default();
        loop {
            match events.recv().await {
                Ok(Event::Check(check)) => {
                    if let Some(from) = hard.change(&check) {
                        let node = self.inner.agent.node().await.hostname.to_string();
                        self.notify(None, compose::check_change(&node, &check, from))
                            .await;
                    }
                }
                Ok(Event::Job(_) | Event::Cluster(_)) => {}
                Err(broadcast::error::RecvError::Lagged(missed)) => {
                    tracing::warn!(missed, "the notifier missed events");
                }
                Err(broadcast::error::RecvError::Closed) => return,
            }
        }
    }

    /// A master whose commits stop waiting for the slave (and start again) says so.
    async fn watch_durability(
        &self,
        mut state: tokio::sync::watch::Receiver<crate::sync::service::SyncState>,
    ) {
        let mut degraded: Option<String> = None;
        loop {
            let now = state
                .borrow_and_update()
                .database
                .as_ref()
                .and_then(|db| db.degraded.clone());
            if now.is_some() != degraded.is_some() {
                let node = self.inner.agent.node().await.hostname.to_string();
                self.notify(None, compose::durability(&node, now.as_deref(), Utc::now()))
                    .await;
            }
            degraded = now;
            if state.changed().await.is_err() {
                return;
            }
        }
    }

    /// Takeovers are mailed from the agent's announcement, with what it did.
    async fn watch_domain(&self, mut events: broadcast::Receiver<DomainEvent>) {
        loop {
            match events.recv().await {
                Ok(DomainEvent::TookOver(takeover)) => self.on_takeover(&takeover).await,
                Ok(DomainEvent::OperationFinished(summary)) => self.on_operation(&summary).await,
                Err(broadcast::error::RecvError::Lagged(missed)) => {
                    tracing::warn!(missed, "the notifier missed domain events");
                }
                Err(broadcast::error::RecvError::Closed) => return,
            }
        }
    }

    async fn on_takeover(&self, takeover: &Takeover) {
        let job = match self.inner.store.get_job(takeover.job).await {
            Ok(job) => job,
            Err(err) => {
                tracing::error!(job = takeover.job, error = %err, "could not read the takeover job to mail about it");
                return;
            }
        };
        let hostname = self.inner.agent.node().await.hostname.to_string();
        let content = compose::takeover(&compose::Takeover {
            node: &hostname,
            previous_master: takeover.previous_master.as_deref(),
            epoch: takeover.epoch,
            reason: &takeover.reason,
            failed: takeover.failed.as_deref(),
            job: &job,
        });
        self.notify(Some(format!("job:{}", takeover.job)), content)
            .await;
    }

    /// Add slave, Remove, Add again, and a manual failover that failed here.
    async fn on_operation(&self, summary: &JobSummary) {
        let slave_change = matches!(
            summary.kind,
            JobKind::AddSlave | JobKind::RemoveSlave | JobKind::ReaddSlave
        );
        // The old master's side of a manual failover is told by the new master,
        // unless it failed (then there is no new master to tell).
        let failed_handover =
            summary.kind == JobKind::ManualFailover && summary.state != JobState::Succeeded;
        if !(slave_change || failed_handover) {
            return;
        }
        let job = match self.inner.store.get_job(summary.id).await {
            Ok(job) => job,
            Err(err) => {
                tracing::error!(job = summary.id, error = %err, "could not read the job to mail about it");
                return;
            }
        };
        let hostname = self.inner.agent.node().await.hostname.to_string();
        let content = compose::cluster_job(&hostname, &job);
        self.notify(Some(format!("job:{}", summary.id)), content)
            .await;
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SetRecipientError {
    #[error(
        "this node is {}; change the notification address on the master at the cluster IP {cluster_ip}",
        .role.as_str()
    )]
    NotMaster { role: Role, cluster_ip: String },
    #[error(transparent)]
    Storage(#[from] StorageError),
}

/// The confirmed state of each check as the events told it, to see hard changes.
#[derive(Debug, Default)]
struct HardStates(HashMap<String, CheckState>);

impl HardStates {
    /// The previous hard state when `check` brings a new one worth a mail. A check's
    /// first hard state is taken as it is when it is OK or UNKNOWN (a check that is
    /// "not configured" is no news); a first WARNING or CRITICAL is a change from the
    /// OK every check starts as.
    fn change(&mut self, check: &Check) -> Option<CheckState> {
        if !check.hard {
            return None;
        }
        let previous = self.0.insert(check.id.clone(), check.state);
        match previous {
            Some(from) if from != check.state => Some(from),
            Some(_) => None,
            None => match check.state {
                CheckState::Ok | CheckState::Unknown => None,
                CheckState::Warning | CheckState::Critical => Some(CheckState::Ok),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use pequod_api::checks::{CheckKind, RunsOn};

    use super::*;

    fn check(state: CheckState, hard: bool) -> Check {
        Check {
            id: "asterisk-sip".into(),
            name: "Asterisk SIP".into(),
            kind: CheckKind::Notify,
            runs_on: RunsOn::Master,
            state,
            hard,
            output: String::new(),
            configured: true,
            last_check: None,
            last_change: None,
        }
    }

    #[test]
    fn only_hard_changes_are_news() {
        let mut states = HardStates::default();
        assert_eq!(states.change(&check(CheckState::Ok, true)), None);
        assert_eq!(states.change(&check(CheckState::Critical, false)), None);
        assert_eq!(
            states.change(&check(CheckState::Critical, true)),
            Some(CheckState::Ok)
        );
        assert_eq!(states.change(&check(CheckState::Critical, true)), None);
        assert_eq!(
            states.change(&check(CheckState::Ok, true)),
            Some(CheckState::Critical)
        );
    }

    #[test]
    fn a_first_unknown_is_no_news_but_a_first_critical_is() {
        let mut states = HardStates::default();
        assert_eq!(states.change(&check(CheckState::Unknown, true)), None);
        assert_eq!(
            states.change(&check(CheckState::Critical, true)),
            Some(CheckState::Unknown)
        );
        let mut fresh = HardStates::default();
        assert_eq!(
            fresh.change(&check(CheckState::Warning, true)),
            Some(CheckState::Ok)
        );
    }

    #[test]
    fn addresses_need_a_local_part_and_a_full_domain() {
        assert_eq!(
            EmailAddress::parse(" ops@example.net ").unwrap().as_str(),
            "ops@example.net"
        );
        for bad in [
            "",
            "ops",
            "ops@",
            "@example.net",
            "ops@localhost",
            "a b@example.net",
        ] {
            assert!(EmailAddress::parse(bad).is_err(), "{bad:?}");
        }
    }
}
