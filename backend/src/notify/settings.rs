//! The `[mail]` settings: which SMTP server notification mails go through, as whom,
//! and how often a failed mail is retried.

use std::time::Duration;

use secrecy::SecretString;
use serde::{Deserialize, Serialize};

/// How the connection to the SMTP server is secured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Security {
    /// Plain connection upgraded with STARTTLS (required), usually port 587.
    Starttls,
    /// TLS from the first byte (SMTPS), usually port 465.
    Tls,
    /// No encryption: only for a relay on the same host or a trusted network.
    None,
}

impl Security {
    pub fn default_port(self) -> u16 {
        match self {
            Security::Starttls => 587,
            Security::Tls => 465,
            Security::None => 25,
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Security::Starttls => "STARTTLS",
            Security::Tls => "TLS",
            Security::None => "no encryption",
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default)]
pub struct MailSettings {
    /// The SMTP server; unset, mails wait in the queue until one is configured.
    pub host: Option<String>,
    /// Unset: 587 for STARTTLS, 465 for TLS, 25 without encryption.
    pub port: Option<u16>,
    pub security: Security,
    /// Log in with these when both are set.
    pub username: Option<String>,
    /// Read verbatim from `PEQUOD_MAIL__PASSWORD` (or the TOML file); never logged.
    #[serde(skip_serializing)]
    pub password: Option<SecretString>,
    /// The sender, e.g. `Pequod <pequod@pbx.example.net>`.
    pub from: String,
    /// Attempts before a mail is given up (marked failed).
    pub max_attempts: u32,
    /// Wait after the first failed attempt; doubled after each further one, up to the cap.
    pub retry_base_ms: u64,
    pub retry_cap_ms: u64,
    /// How long one attempt (connect, dialogue) may take.
    pub timeout_secs: u64,
}

impl Default for MailSettings {
    fn default() -> Self {
        Self {
            host: None,
            port: None,
            security: Security::Starttls,
            username: None,
            password: None,
            from: "Pequod <pequod@localhost>".into(),
            max_attempts: 10,
            retry_base_ms: 30_000,
            retry_cap_ms: 3_600_000,
            timeout_secs: 30,
        }
    }
}

impl MailSettings {
    pub fn port(&self) -> u16 {
        self.port.unwrap_or(self.security.default_port())
    }

    /// e.g. `mail.example.net:587 (STARTTLS)`; none without a host.
    pub fn describe_server(&self) -> Option<String> {
        self.host
            .as_ref()
            .map(|host| format!("{host}:{} ({})", self.port(), self.security.label()))
    }

    /// The wait before the attempt after `attempts` failed ones: base · 2^(attempts−1),
    /// at most the cap.
    pub fn backoff(&self, attempts: u32) -> Duration {
        let exponent = attempts.saturating_sub(1).min(32);
        let wait = self
            .retry_base_ms
            .saturating_mul(1u64 << exponent)
            .min(self.retry_cap_ms.max(self.retry_base_ms));
        Duration::from_millis(wait)
    }

    pub fn timeout(&self) -> Duration {
        Duration::from_secs(self.timeout_secs.max(1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[allow(clippy::result_large_err)] // figment::Jail's own signature
    fn the_mail_section_comes_from_the_environment_and_the_password_verbatim() {
        use secrecy::ExposeSecret;
        figment::Jail::expect_with(|jail| {
            jail.set_env("PEQUOD_MAIL__HOST", "mail.example.net");
            jail.set_env("PEQUOD_MAIL__SECURITY", "tls");
            jail.set_env("PEQUOD_MAIL__USERNAME", "pbx");
            jail.set_env("PEQUOD_MAIL__PASSWORD", "00123");
            jail.set_env("PEQUOD_MAIL__MAX_ATTEMPTS", "3");
            let settings = crate::settings::Settings::load(&crate::cli::ServeArgs::default())
                .map_err(|e| e.to_string())?;
            let mail = settings.mail;
            assert_eq!(mail.host.as_deref(), Some("mail.example.net"));
            assert_eq!(mail.security, Security::Tls);
            assert_eq!(mail.port(), 465);
            assert_eq!(mail.username.as_deref(), Some("pbx"));
            assert_eq!(
                mail.password
                    .as_ref()
                    .map(|p| p.expose_secret().to_string()),
                Some("00123".to_string()),
                "not the number 123"
            );
            assert_eq!(mail.max_attempts, 3);
            assert_eq!(mail.retry_base_ms, 30_000, "defaults fill the rest");
            Ok(())
        });
    }

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let settings = MailSettings {
            retry_base_ms: 100,
            retry_cap_ms: 1000,
            ..MailSettings::default()
        };
        let waits: Vec<u64> = (1..=6)
            .map(|n| settings.backoff(n).as_millis() as u64)
            .collect();
        assert_eq!(waits, [100, 200, 400, 800, 1000, 1000]);
        assert_eq!(settings.backoff(1000).as_millis(), 1000);
    }

    #[test]
    fn the_server_is_described_with_its_port_and_security() {
        let mut settings = MailSettings::default();
        assert_eq!(settings.describe_server(), None);
        settings.host = Some("mail.example.net".into());
        assert_eq!(
            settings.describe_server().as_deref(),
            Some("mail.example.net:587 (STARTTLS)")
        );
        settings.security = Security::None;
        settings.port = Some(2525);
        assert_eq!(
            settings.describe_server().as_deref(),
            Some("mail.example.net:2525 (no encryption)")
        );
    }
}
