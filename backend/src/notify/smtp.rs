//! The SMTP side: builds the transport from the `[mail]` settings and turns a queued
//! mail into a plain-text message with the Date and Message-ID it was queued with.

use lettre::message::header::ContentType;
use lettre::message::{Mailbox, Message};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use secrecy::ExposeSecret;

use super::settings::{MailSettings, Security};
use crate::storage::MailRecord;

pub struct Transport {
    smtp: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
}

impl Transport {
    /// `None` without a host: mails then wait in the queue.
    pub fn new(settings: &MailSettings, from: Mailbox) -> anyhow::Result<Option<Self>> {
        let Some(host) = settings.host.as_deref().map(str::trim) else {
            return Ok(None);
        };
        anyhow::ensure!(!host.is_empty(), "[mail] host is empty");
        let tls = match settings.security {
            Security::None => Tls::None,
            Security::Starttls => Tls::Required(tls_parameters(host)?),
            Security::Tls => Tls::Wrapper(tls_parameters(host)?),
        };
        let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host)
            .port(settings.port())
            .tls(tls)
            .timeout(Some(settings.timeout()));
        if let (Some(user), Some(password)) = (&settings.username, &settings.password) {
            builder = builder.credentials(Credentials::new(
                user.clone(),
                password.expose_secret().to_string(),
            ));
        }
        Ok(Some(Self {
            smtp: builder.build(),
            from,
        }))
    }

    /// One attempt; the error as a sentence for the queue's `last_error`.
    pub async fn send(&self, record: &MailRecord) -> Result<(), String> {
        let to: Mailbox = record
            .mail
            .to
            .parse()
            .map_err(|e| format!("the recipient {:?} is not valid: {e}", record.mail.to))?;
        let message = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(record.mail.subject.clone())
            .date(record.mail.created_at.into())
            .message_id(Some(record.message_id.clone()))
            .header(ContentType::TEXT_PLAIN)
            .body(record.body.clone())
            .map_err(|e| format!("the mail could not be built: {e}"))?;
        self.smtp
            .send(message)
            .await
            .map(|_| ())
            .map_err(|e| error_chain(&e))
    }
}

fn tls_parameters(host: &str) -> anyhow::Result<TlsParameters> {
    TlsParameters::new(host.to_string())
        .map_err(|e| anyhow::anyhow!("[mail] TLS for {host} cannot be set up: {e}"))
}

/// lettre's error and its causes ("Connection error: Connection refused").
fn error_chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        let line = cause.to_string();
        if !text.contains(&line) {
            text.push_str(": ");
            text.push_str(&line);
        }
        source = cause.source();
    }
    text
}
