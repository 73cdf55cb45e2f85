//! TLS to PostgreSQL on rustls, with libpq's `sslmode` meanings.
//!
//! | `sslmode` | encrypted | certificate chain checked | host name checked |
//! |---|---|---|---|
//! | `disable` | no | – | – |
//! | `prefer` (default) | if the server offers it | no | no |
//! | `require` | yes | only if a root certificate is given | no |
//! | `verify-ca` | yes | yes | no |
//! | `verify-full` | yes | yes | yes |
//!
//! As with libpq, `prefer` and `require` without a root certificate protect
//! against eavesdropping, not against an active attacker; use `verify-full`
//! in production. Roots come from `sslrootcert` / `tls_root_cert`, else the system store.

use std::sync::Arc;

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::WebPkiSupportedAlgorithms;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, DigitallySignedStruct, SignatureScheme};
use tokio_postgres::config::SslMode;

use super::BACKEND;
use crate::error::{Error, Result};

/// What an `sslmode` asks of the server certificate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Verify {
    /// Encrypt only.
    Nothing,
    /// The chain must lead to a trusted root; any host name.
    Chain,
    /// The chain and the host name.
    ChainAndHost,
}

/// An `sslmode` value: what tokio-postgres should negotiate and what to verify.
pub(super) fn parse_sslmode(mode: &str) -> Option<(SslMode, Verify)> {
    Some(match mode {
        "disable" => (SslMode::Disable, Verify::Nothing),
        "allow" | "prefer" => (SslMode::Prefer, Verify::Nothing),
        "require" => (SslMode::Require, Verify::Nothing),
        "verify-ca" => (SslMode::Require, Verify::Chain),
        "verify-full" => (SslMode::Require, Verify::ChainAndHost),
        _ => return None,
    })
}

/// A connector that verifies as `verify` says, trusting `root_pem` or the system roots.
pub(super) fn connector(
    mut verify: Verify,
    root_pem: Option<&[u8]>,
) -> Result<tokio_postgres_rustls::MakeRustlsConnect> {
    // libpq: with a root certificate given, `require` verifies the chain.
    if verify == Verify::Nothing && root_pem.is_some() {
        verify = Verify::Chain;
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let webpki = match verify {
        Verify::Nothing => None,
        Verify::Chain | Verify::ChainAndHost => {
            let roots = Arc::new(roots(root_pem)?);
            Some(
                WebPkiServerVerifier::builder_with_provider(roots, Arc::clone(&provider))
                    .build()
                    .map_err(|e| Error::backend(BACKEND, e))?,
            )
        }
    };
    let verifier = LibpqVerifier {
        verify,
        webpki,
        algorithms: provider.signature_verification_algorithms,
    };
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::backend(BACKEND, e))?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(verifier))
        .with_no_client_auth();
    Ok(tokio_postgres_rustls::MakeRustlsConnect::new(config))
}

fn roots(root_pem: Option<&[u8]>) -> Result<rustls::RootCertStore> {
    let mut roots = rustls::RootCertStore::empty();
    match root_pem {
        Some(pem) => {
            for cert in CertificateDer::pem_slice_iter(pem) {
                let cert = cert.map_err(|_| {
                    Error::InvalidArgument("the TLS root certificate is not valid PEM")
                })?;
                roots.add(cert).map_err(|e| Error::backend(BACKEND, e))?;
            }
        }
        None => {
            roots.add_parsable_certificates(rustls_native_certs::load_native_certs().certs);
        }
    }
    Ok(roots)
}

/// Checks as much of the certificate as the `sslmode` asks; always checks
/// that the server holds the key of the certificate it presented.
#[derive(Debug)]
struct LibpqVerifier {
    verify: Verify,
    webpki: Option<Arc<WebPkiServerVerifier>>,
    algorithms: WebPkiSupportedAlgorithms,
}

impl ServerCertVerifier for LibpqVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> std::result::Result<ServerCertVerified, rustls::Error> {
        let Some(webpki) = &self.webpki else {
            return Ok(ServerCertVerified::assertion());
        };
        match webpki.verify_server_cert(end_entity, intermediates, server_name, ocsp, now) {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) if self.verify == Verify::Chain => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}
