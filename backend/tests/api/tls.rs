//! HTTPS: a node serves its self-signed certificate (kept over a restart) or the one
//! configured, `nodes/self` names its fingerprint, and plain HTTP gets nowhere. The
//! client trusts exactly that one certificate and records what the handshake served.

use std::path::Path;
use std::sync::{Arc, Mutex};

use pequod::tls::{CERT_FILE, KEY_FILE, fingerprint};
use pequod_api::nodes::Node;
use reqwest::StatusCode;
use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, RootCertStore, SignatureScheme};
use tempfile::TempDir;

use crate::helpers::{TestApp, spawn_with, test_settings};

/// Verifies against a store holding only the trusted certificate, and keeps the
/// end-entity certificate of every handshake.
#[derive(Debug)]
struct Recording {
    inner: Arc<WebPkiServerVerifier>,
    served: Arc<Mutex<Vec<CertificateDer<'static>>>>,
}

impl ServerCertVerifier for Recording {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        self.served
            .lock()
            .unwrap()
            .push(end_entity.clone().into_owned());
        self.inner
            .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

/// A client that trusts `trusted` only, and the certificates its handshakes saw.
fn pinned_client(
    trusted: &CertificateDer<'static>,
) -> (reqwest::Client, Arc<Mutex<Vec<CertificateDer<'static>>>>) {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = RootCertStore::empty();
    roots.add(trusted.clone()).expect("a usable trust anchor");
    let inner = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
        .build()
        .expect("the verifier");
    let served = Arc::new(Mutex::new(Vec::new()));
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("protocol versions")
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(Recording {
            inner,
            served: served.clone(),
        }))
        .with_no_client_auth();
    let client = reqwest::Client::builder()
        .use_preconfigured_tls(config)
        .build()
        .expect("the client");
    (client, served)
}

fn read_cert(path: &Path) -> CertificateDer<'static> {
    CertificateDer::from_pem_file(path).expect("a PEM certificate")
}

/// A node with `server.tls` on, reached with `client` over https.
async fn spawn_https(
    dir: Arc<TempDir>,
    configure: impl FnOnce(&mut pequod::settings::Settings),
) -> TestApp {
    let mut settings = test_settings(dir.path());
    settings.server.tls = true;
    configure(&mut settings);
    let mut app = spawn_with(settings, dir).await;
    app.address = app.address.replacen("http://", "https://", 1);
    app
}

/// The one certificate the handshakes so far served; fails if they served several.
fn the_served(served: &Mutex<Vec<CertificateDer<'static>>>) -> CertificateDer<'static> {
    let served = served.lock().unwrap();
    let first = served.first().expect("a TLS handshake happened").clone();
    assert!(served.iter().all(|cert| *cert == first), "one certificate");
    first
}

async fn self_node(app: &TestApp) -> Node {
    let token = app.token().await;
    app.get_json("/api/v1/nodes/self", &token).await
}

#[tokio::test]
async fn the_self_signed_certificate_is_served_named_by_its_fingerprint_and_kept() {
    let dir = Arc::new(tempfile::tempdir().expect("temporary data directory"));
    let mut app = spawn_https(dir, |_| {}).await;
    let cert = read_cert(&app.data_path().join(CERT_FILE));
    let (client, served) = pinned_client(&cert);
    app.client = client;

    let node = self_node(&app).await;
    let handshake = the_served(&served);
    assert_eq!(
        handshake, cert,
        "the node serves the certificate in its data directory"
    );
    let expected = fingerprint(&handshake);
    assert_eq!(node.tls_fingerprint.as_deref(), Some(expected.as_str()));
    assert_eq!(expected.len(), 32 * 3 - 1);
    assert!(
        expected.split(':').all(|pair| pair.len() == 2
            && pair
                .chars()
                .all(|c| c.is_ascii_digit() || ('A'..='F').contains(&c))),
        "{expected}"
    );
    let nodes: Vec<Node> = app.get_json("/api/v1/nodes", &app.token().await).await;
    assert_eq!(nodes[0].tls_fingerprint.as_deref(), Some(expected.as_str()));

    // The key is the owner's only, like the node's other secrets.
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(app.data_path().join(KEY_FILE))
        .expect("the key file")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);

    // Plain HTTP on the TLS port gets no answer.
    let plain = reqwest::Client::new()
        .get(app.url("/healthz").replacen("https://", "http://", 1))
        .send()
        .await;
    assert!(plain.is_err(), "plain HTTP was answered: {plain:?}");

    // A restart serves the same certificate.
    let dir = app.stop().await;
    let mut app = spawn_https(dir, |_| {}).await;
    let (client, served) = pinned_client(&cert);
    app.client = client;
    let node = self_node(&app).await;
    assert_eq!(
        the_served(&served),
        cert,
        "the same certificate after a restart"
    );
    assert_eq!(node.tls_fingerprint.as_deref(), Some(expected.as_str()));
    app.stop().await;
}

#[tokio::test]
async fn a_configured_certificate_is_the_one_served() {
    let files = tempfile::tempdir().expect("a directory for the certificate");
    let key = rcgen::KeyPair::generate().expect("a key");
    let cert = rcgen::CertificateParams::new(vec!["127.0.0.1".to_owned(), "localhost".to_owned()])
        .expect("params")
        .self_signed(&key)
        .expect("a certificate");
    let (cert_path, key_path) = (files.path().join("cert.pem"), files.path().join("key.pem"));
    std::fs::write(&cert_path, cert.pem()).expect("writing the certificate");
    std::fs::write(&key_path, key.serialize_pem()).expect("writing the key");

    let dir = Arc::new(tempfile::tempdir().expect("temporary data directory"));
    let mut app = spawn_https(dir, |settings| {
        settings.server.tls_cert = Some(cert_path.clone());
        settings.server.tls_key = Some(key_path.clone());
    })
    .await;
    let (client, served) = pinned_client(cert.der());
    app.client = client;

    let node = self_node(&app).await;
    assert_eq!(the_served(&served), *cert.der());
    assert_eq!(node.tls_fingerprint, Some(fingerprint(cert.der())));
    assert!(
        !app.data_path().join(CERT_FILE).exists(),
        "no self-signed certificate is made when one is configured"
    );

    // A client that trusts another certificate does not get through.
    let other_key = rcgen::KeyPair::generate().expect("a key");
    let other = rcgen::CertificateParams::new(vec!["127.0.0.1".to_owned()])
        .expect("params")
        .self_signed(&other_key)
        .expect("a certificate");
    let (stranger, _) = pinned_client(other.der());
    let refused = stranger.get(app.url("/healthz")).send().await;
    assert!(
        refused.is_err(),
        "an untrusted certificate was accepted: {refused:?}"
    );
    let healthz = app
        .client
        .get(app.url("/healthz"))
        .send()
        .await
        .expect("healthz");
    assert_eq!(healthz.status(), StatusCode::OK);
    app.stop().await;
}

#[tokio::test]
async fn a_missing_configured_file_stops_the_start_naming_the_setting() {
    let dir = tempfile::tempdir().expect("temporary data directory");
    let mut settings = test_settings(dir.path());
    settings.server.tls = true;
    settings.server.tls_cert = Some(dir.path().join("missing-cert.pem"));
    settings.server.tls_key = Some(dir.path().join("missing-key.pem"));
    let err = pequod::startup::Application::build(settings)
        .await
        .err()
        .expect("the start fails");
    let text = format!("{err:#}");
    assert!(
        text.contains("server.tls_cert") && text.contains("missing-cert.pem"),
        "{text}"
    );
}
