//! The API's HTTPS: the certificate this node serves — a configured one, or a self-signed
//! one made on the first start and kept in the data directory — and the rustls server
//! configuration built from it, on the same `ring` provider as SSH and SMTP.

use std::fs;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use chrono::Datelike;
use pequod_api::Hostname;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use sha2::{Digest, Sha256};

use crate::identity;
use crate::settings::ServerSettings;

/// The self-signed certificate and its key, in the data directory.
pub const CERT_FILE: &str = "tls_cert.pem";
pub const KEY_FILE: &str = "tls_key.pem";

/// Years a self-made certificate is valid. Nobody renews it, and clients trust it by
/// pinning, not through a CA's rules on lifetimes.
const SELF_SIGNED_YEARS: i32 = 20;

/// What the listener serves: the rustls configuration and the certificate's fingerprint.
pub struct ServerTls {
    pub config: rustls::ServerConfig,
    /// SHA-256 of the certificate's DER, as [`fingerprint`] writes it.
    pub fingerprint: String,
}

/// The TLS configuration for `settings`, or none when `server.tls` is off. The
/// certificate is `server.tls_cert`/`server.tls_key` when given, else the node's own
/// self-signed one (made now if it does not exist yet).
pub fn load(settings: &ServerSettings, hostname: &Hostname) -> anyhow::Result<Option<ServerTls>> {
    if !settings.tls {
        if settings.tls_cert.is_some() || settings.tls_key.is_some() {
            tracing::warn!("server.tls is off: server.tls_cert and server.tls_key are ignored");
        }
        return Ok(None);
    }
    let (cert_path, key_path) = match (&settings.tls_cert, &settings.tls_key) {
        (Some(cert), Some(key)) => (cert.clone(), key.clone()),
        (None, None) => load_or_create_self_signed(settings, hostname)?,
        (Some(_), None) => anyhow::bail!("server.tls_cert is set but server.tls_key is not"),
        (None, Some(_)) => anyhow::bail!("server.tls_key is set but server.tls_cert is not"),
    };
    let chain = read_chain(&cert_path)?;
    let key = PrivateKeyDer::from_pem_file(&key_path).map_err(|err| {
        anyhow::anyhow!(
            "server.tls_key: {} holds no usable PEM private key: {err}",
            key_path.display()
        )
    })?;
    let fingerprint = chain
        .first()
        .map(|cert| fingerprint(cert))
        .unwrap_or_default();
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .context("choosing the TLS protocol versions")?
    .with_no_client_auth()
    .with_single_cert(chain, key)
    .with_context(|| {
        format!(
            "server.tls_cert {} and server.tls_key {} do not make a usable certificate",
            cert_path.display(),
            key_path.display()
        )
    })?;
    tracing::info!(cert = %cert_path.display(), %fingerprint, "serving HTTPS");
    Ok(Some(ServerTls {
        config,
        fingerprint,
    }))
}

/// SHA-256 of a certificate's DER as browsers show it: upper-case hex pairs joined by `:`.
pub fn fingerprint(cert_der: &[u8]) -> String {
    Sha256::digest(cert_der)
        .iter()
        .map(|byte| format!("{byte:02X}"))
        .collect::<Vec<_>>()
        .join(":")
}

fn read_chain(path: &Path) -> anyhow::Result<Vec<CertificateDer<'static>>> {
    let chain = CertificateDer::pem_file_iter(path)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .map_err(|err| {
            anyhow::anyhow!(
                "server.tls_cert: {} holds no usable PEM certificate: {err}",
                path.display()
            )
        })?;
    anyhow::ensure!(
        !chain.is_empty(),
        "server.tls_cert: {} holds no PEM certificate",
        path.display()
    );
    Ok(chain)
}

/// The node's own certificate files, made on the first start for its host name,
/// `localhost` and the listen address when that is a specific IP.
fn load_or_create_self_signed(
    settings: &ServerSettings,
    hostname: &Hostname,
) -> anyhow::Result<(PathBuf, PathBuf)> {
    let cert_path = settings.data_dir.join(CERT_FILE);
    let key_path = settings.data_dir.join(KEY_FILE);
    match (cert_path.exists(), key_path.exists()) {
        (true, true) => {
            identity::restrict(&key_path)?;
            return Ok((cert_path, key_path));
        }
        (false, false) => {}
        // A start that died between the two writes: the half left is of no use.
        (cert, _) => {
            let leftover = if cert { &cert_path } else { &key_path };
            tracing::warn!(path = %leftover.display(), "removing half of an unfinished self-signed certificate");
            fs::remove_file(leftover)
                .with_context(|| format!("removing {}", leftover.display()))?;
        }
    }
    let mut names = vec![hostname.to_string(), "localhost".to_owned()];
    if let Ok(listen) = settings.listen.parse::<SocketAddr>()
        && !listen.ip().is_unspecified()
    {
        names.push(listen.ip().to_string());
    }
    let mut params =
        rcgen::CertificateParams::new(names.clone()).context("naming the TLS certificate")?;
    params.distinguished_name = rcgen::DistinguishedName::new();
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, hostname.to_string());
    params
        .distinguished_name
        .push(rcgen::DnType::OrganizationName, "Pequod (self-signed)");
    let today = chrono::Utc::now().date_naive();
    let (month, day) = (
        u8::try_from(today.month()).unwrap_or(1),
        u8::try_from(today.day()).unwrap_or(1),
    );
    // From yesterday: a peer whose clock is a little behind accepts it too.
    params.not_before =
        rcgen::date_time_ymd(today.year(), month, day) - std::time::Duration::from_secs(86_400);
    params.not_after = rcgen::date_time_ymd(today.year() + SELF_SIGNED_YEARS, month, day.min(28));
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)
        .context("generating the TLS key")?;
    let cert = params
        .self_signed(&key)
        .context("signing the TLS certificate")?;
    // The key first: a certificate without its key is removed by the next start.
    identity::write_private(&key_path, key.serialize_pem().as_bytes())?;
    fs::write(&cert_path, cert.pem())
        .with_context(|| format!("writing {}", cert_path.display()))?;
    tracing::info!(
        path = %cert_path.display(),
        names = names.join(", "),
        fingerprint = fingerprint(cert.der()),
        "generated the node's self-signed TLS certificate"
    );
    Ok((cert_path, key_path))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(dir: &Path) -> ServerSettings {
        let mut settings = crate::settings::Settings::default().server;
        settings.data_dir = dir.to_path_buf();
        settings.listen = "192.0.2.7:8443".into();
        settings
    }

    #[test]
    fn the_fingerprint_is_colon_separated_upper_case_hex() {
        let text = fingerprint(b"abc");
        assert_eq!(
            text,
            "BA:78:16:BF:8F:01:CF:EA:41:41:40:DE:5D:AE:22:23:B0:03:61:A3:96:17:7A:9C:B4:10:FF:61:F2:00:15:AD"
        );
    }

    #[test]
    fn the_self_signed_certificate_is_made_once_with_a_private_key() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().expect("tempdir");
        let hostname = Hostname::parse("node1").expect("hostname");
        let first = load(&settings(dir.path()), &hostname)
            .expect("load")
            .expect("tls on");
        let mode = fs::metadata(dir.path().join(KEY_FILE))
            .expect("key file")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        let again = load(&settings(dir.path()), &hostname)
            .expect("load")
            .expect("tls on");
        assert_eq!(first.fingerprint, again.fingerprint);
    }

    #[test]
    fn half_a_configured_pair_or_a_missing_file_names_the_setting() {
        let dir = tempfile::tempdir().expect("tempdir");
        let hostname = Hostname::parse("node1").expect("hostname");
        let mut only_cert = settings(dir.path());
        only_cert.tls_cert = Some(dir.path().join("cert.pem"));
        let err = load(&only_cert, &hostname).err().expect("an error");
        assert!(err.to_string().contains("server.tls_key"), "{err}");

        let mut missing = only_cert.clone();
        missing.tls_key = Some(dir.path().join("key.pem"));
        let err = load(&missing, &hostname).err().expect("an error");
        assert!(err.to_string().contains("server.tls_cert"), "{err}");
    }

    #[test]
    fn plain_http_has_no_tls() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut plain = settings(dir.path());
        plain.tls = false;
        let hostname = Hostname::parse("node1").expect("hostname");
        assert!(load(&plain, &hostname).expect("load").is_none());
        assert!(!dir.path().join(CERT_FILE).exists());
    }
}
