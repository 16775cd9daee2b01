//! Typed settings: built-in defaults < TOML file < `PEQUOD_<SECTION>__<KEY>` environment
//! variables < command-line flags. Each module owns its settings type; this one only
//! composes them into the file's sections.

use std::path::{Path, PathBuf};

use anyhow::Context;
use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use secrecy::SecretString;
use serde::{Deserialize, Serialize};

use crate::auth::AuthSettings;
use crate::checks::engine::ChecksSettings;
use crate::cli::ServeArgs;
use crate::cluster::settings::ClusterSettings;
use crate::notify::MailSettings;
use crate::sync::files::FileSyncSettings;
use crate::sync::settings::DatabaseSettings;

#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct Settings {
    pub server: ServerSettings,
    pub auth: AuthSettings,
    pub log: LogSettings,
    pub cluster: ClusterSettings,
    pub checks: ChecksSettings,
    /// The SMTP server for notification mails (`PEQUOD_MAIL__<KEY>`).
    #[serde(default)]
    pub mail: MailSettings,
    /// The telephony database Pequod runs and replicates; none without this section.
    #[serde(default)]
    pub database: Option<DatabaseSettings>,
    /// The paths mirrored from the master to the slave.
    #[serde(default)]
    pub files: FileSyncSettings,
    /// How long the audit log is kept.
    #[serde(default)]
    pub audit: crate::audit::AuditSettings,
    /// Password for the `admin` user created on the first start (`PEQUOD_ADMIN_PASSWORD`).
    /// Ignored once the user exists.
    #[serde(default, skip_serializing)]
    pub admin_password: Option<SecretString>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct ServerSettings {
    /// Address and port of the API and the UI.
    pub listen: String,
    /// Database, SSH key pair and token secret live here.
    pub data_dir: PathBuf,
    /// The built commander UI (index.html and pkg/), served at `/`.
    pub ui_dir: PathBuf,
    /// Seconds an HTTP connection gets to finish after SIGTERM.
    pub shutdown_timeout_secs: u64,
    /// Serve HTTPS (the default); off, plain HTTP.
    pub tls: bool,
    /// PEM certificate (chain) to serve instead of the node's self-signed one; needs
    /// `tls_key` too.
    #[serde(default)]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key of `tls_cert`.
    #[serde(default)]
    pub tls_key: Option<PathBuf>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct LogSettings {
    /// A tracing filter, e.g. `info` or `pequod=debug,info`; RUST_LOG wins when set.
    pub level: String,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            server: ServerSettings {
                listen: "127.0.0.1:8080".into(),
                data_dir: PathBuf::from("data"),
                ui_dir: PathBuf::from("frontend/dist"),
                shutdown_timeout_secs: 5,
                tls: true,
                tls_cert: None,
                tls_key: None,
            },
            auth: AuthSettings::default(),
            log: LogSettings {
                level: "info".into(),
            },
            cluster: ClusterSettings::default(),
            checks: ChecksSettings::default(),
            mail: MailSettings::default(),
            database: None,
            files: FileSyncSettings::default(),
            audit: crate::audit::AuditSettings::default(),
            admin_password: None,
        }
    }
}

impl Settings {
    /// Reads the settings for `pequod serve` from the process environment.
    pub fn load(args: &ServeArgs) -> anyhow::Result<Self> {
        let mut settings: Settings = Self::figment(args.config.as_deref(), args)?
            .extract()
            .context("the settings are invalid (check the --config file and PEQUOD_* variables)")?;
        crate::checks::engine::definitions(&settings.checks.custom)?;
        if let Some(database) = &settings.database {
            database.validate().map_err(anyhow::Error::msg)?;
        }
        settings.files.modules()?;
        // Read verbatim: figment would turn a numeric-looking password into a number.
        settings.admin_password = std::env::var(ADMIN_PASSWORD_VAR)
            .ok()
            .map(SecretString::from);
        if let Ok(secret) = std::env::var(AMI_SECRET_VAR) {
            settings.checks.ami_secret = Some(SecretString::from(secret));
        }
        if let Ok(password) = std::env::var(MAIL_PASSWORD_VAR) {
            settings.mail.password = Some(SecretString::from(password));
        }
        Ok(settings)
    }

    /// Defaults, then the TOML file, then `PEQUOD_<SECTION>__<KEY>`, then the flags.
    pub fn figment(config: Option<&Path>, args: &ServeArgs) -> anyhow::Result<Figment> {
        let mut figment = Figment::from(Serialized::defaults(Settings::default()));
        if let Some(path) = config {
            anyhow::ensure!(
                path.exists(),
                "settings file {} does not exist",
                path.display()
            );
            figment = figment.merge(Toml::file(path));
        }
        figment = figment.merge(
            Env::prefixed("PEQUOD_")
                .ignore(&["ADMIN_PASSWORD", "CHECKS__AMI_SECRET", "MAIL__PASSWORD"])
                .split("__"),
        );
        if let Some(listen) = &args.listen {
            figment = figment.merge(("server.listen", listen));
        }
        if let Some(dir) = &args.data_dir {
            figment = figment.merge(("server.data_dir", dir));
        }
        Ok(figment)
    }
}

/// The environment variable holding the first start's admin password.
pub const ADMIN_PASSWORD_VAR: &str = "PEQUOD_ADMIN_PASSWORD";

/// Asterisk's manager secret; like the admin password it is read verbatim, since
/// figment would turn `0123` into the number 123.
pub const AMI_SECRET_VAR: &str = "PEQUOD_CHECKS__AMI_SECRET";
/// The SMTP password, read verbatim like the admin password.
pub const MAIL_PASSWORD_VAR: &str = "PEQUOD_MAIL__PASSWORD";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[allow(clippy::result_large_err)] // figment::Jail's own signature
    fn file_then_environment_then_flags() {
        figment::Jail::expect_with(|jail| {
            jail.create_file(
                "pequod.toml",
                "[server]\nlisten = \"127.0.0.1:9000\"\ndata_dir = \"/var/lib/pequod\"\n[auth]\ntoken_ttl_secs = 60\n",
            )?;
            jail.set_env("PEQUOD_AUTH__TOKEN_TTL_SECS", "120");
            jail.set_env("PEQUOD_LOG__LEVEL", "debug");
            let args = ServeArgs {
                config: Some("pequod.toml".into()),
                listen: None,
                data_dir: Some("/tmp/node1".into()),
            };
            let settings: Settings = Settings::figment(args.config.as_deref(), &args)
                .map_err(|e| e.to_string())?
                .extract()?;
            assert_eq!(settings.server.listen, "127.0.0.1:9000");
            assert_eq!(settings.server.data_dir, PathBuf::from("/tmp/node1"));
            assert_eq!(settings.auth.token_ttl_secs, 120);
            assert_eq!(settings.log.level, "debug");
            assert_eq!(settings.auth.login_max_failures, 5);
            Ok(())
        });
    }

    #[test]
    #[allow(clippy::result_large_err)] // figment::Jail's own signature
    fn secrets_from_the_environment_are_read_verbatim() {
        use secrecy::ExposeSecret;
        figment::Jail::expect_with(|jail| {
            jail.set_env("PEQUOD_CHECKS__AMI_SECRET", "0123");
            jail.set_env("PEQUOD_ADMIN_PASSWORD", "true");
            let settings = Settings::load(&ServeArgs::default()).map_err(|e| e.to_string())?;
            let secret = settings.checks.ami_secret.expect("the AMI secret");
            assert_eq!(secret.expose_secret(), "0123");
            let password = settings.admin_password.expect("the admin password");
            assert_eq!(password.expose_secret(), "true");
            Ok(())
        });
    }

    #[test]
    #[allow(clippy::result_large_err)] // figment::Jail's own signature
    fn an_invalid_custom_check_stops_the_start_with_its_reason() {
        figment::Jail::expect_with(|jail| {
            jail.create_file(
                "pequod.toml",
                "[[checks.custom]]\nid = \"trunk\"\nname = \"Trunk\"\ncommand = [\"check_dummy\", \"0\"]\n",
            )?;
            let args = ServeArgs {
                config: Some("pequod.toml".into()),
                ..ServeArgs::default()
            };
            let err = Settings::load(&args).expect_err("relative plugin path");
            let text = format!("{err:#}");
            assert!(
                text.contains("absolute path") && text.contains("checks.custom"),
                "{text}"
            );
            Ok(())
        });
    }

    #[test]
    fn a_missing_settings_file_is_an_error() {
        let args = ServeArgs {
            config: Some("/nonexistent/pequod.toml".into()),
            ..ServeArgs::default()
        };
        let err = Settings::figment(args.config.as_deref(), &args).expect_err("must fail");
        assert!(err.to_string().contains("does not exist"), "{err}");
    }
}
