//! How pequodctl trusts a node's HTTPS certificate: pinned by its SHA-256 fingerprint
//! (`--fingerprint`, as `GET /api/v1/nodes/self` shows it and the node logs it), which
//! fits the self-signed certificate a node makes for itself, or else the web's
//! certificate authorities, for a certificate an admin installed.

use std::sync::Arc;

use anyhow::{Result, bail};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use sha2::Digest;

/// A fingerprint as given: 32 bytes in hex, with or without `:` between the pairs, in
/// either case.
pub fn parse_fingerprint(text: &str) -> Result<[u8; 32]> {
    let hex: String = text.chars().filter(|c| *c != ':').collect();
    let bytes: Option<Vec<u8>> = (0..hex.len())
        .step_by(2)
        .map(|i| {
            hex.get(i..i + 2)
                .and_then(|pair| u8::from_str_radix(pair, 16).ok())
        })
        .collect();
    match bytes.and_then(|b| <[u8; 32]>::try_from(b).ok()) {
        Some(bytes) => Ok(bytes),
        None => bail!(
            "{text:?} is not a SHA-256 fingerprint (64 hex digits, e.g. as \
             GET /api/v1/nodes/self shows it in tls_fingerprint)"
        ),
    }
}

/// Upper-case hex pairs joined by `:`, as the node shows fingerprints.
pub fn show_fingerprint(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(":")
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// The TLS settings for talking to a node: the pin when given, else the web's roots.
pub fn client_config(pin: Option<[u8; 32]>) -> Result<rustls::ClientConfig> {
    let provider = provider();
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()?;
    let config = match pin {
        Some(pin) => builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(Pinned {
                pin,
                algorithms: provider.signature_verification_algorithms,
            }))
            .with_no_client_auth(),
        None => {
            let roots =
                rustls::RootCertStore::from_iter(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
            builder.with_root_certificates(roots).with_no_client_auth()
        }
    };
    Ok(config)
}

/// Accepts exactly the certificate with the pinned SHA-256, whatever names it carries
/// (a node's self-signed one names its host, not every address it is reached at); the
/// handshake's signatures are still checked against that certificate's key.
#[derive(Debug)]
struct Pinned {
    pin: [u8; 32],
    algorithms: WebPkiSupportedAlgorithms,
}

impl ServerCertVerifier for Pinned {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let served: [u8; 32] = sha2::Sha256::digest(end_entity.as_ref()).into();
        if served == self.pin {
            return Ok(ServerCertVerified::assertion());
        }
        Err(rustls::Error::General(format!(
            "the node's certificate has the fingerprint {}, not the pinned {}",
            show_fingerprint(&served),
            show_fingerprint(&self.pin)
        )))
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprints_are_read_with_or_without_colons() {
        let shown = show_fingerprint(&[0xAB; 32]);
        assert_eq!(shown.len(), 95);
        assert_eq!(parse_fingerprint(&shown).ok(), Some([0xAB; 32]));
        assert_eq!(parse_fingerprint(&"ab".repeat(32)).ok(), Some([0xAB; 32]));
        for bad in ["", "AB:CD", &"zz".repeat(32), &"ab".repeat(33)] {
            assert!(parse_fingerprint(bad).is_err(), "{bad}");
        }
    }
}
