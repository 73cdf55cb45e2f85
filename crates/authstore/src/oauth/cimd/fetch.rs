//! Fetching one client metadata document: the host's addresses are resolved once and must all be public, the connection goes to an address that was checked (TLS verified for the host name with the webpki roots and any configured extra roots), no redirect is followed, the body is read up to 5 KiB, and all of it within one deadline.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use http::header::{ACCEPT, CACHE_CONTROL, CONTENT_LENGTH, DATE, EXPIRES, HOST, USER_AGENT};
use http::{HeaderMap, Request};
use http_body_util::{BodyExt, Empty, Limited};
use hyper_util::rt::TokioIo;
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject as _;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

use super::{
    AddressKind, DocumentHost, DocumentRefusal, DocumentUrl, MAX_DOCUMENT_BYTES, classify,
};
use crate::error::{Error, Result, error_chain};

/// A fetched document: its body and how long its headers let it be cached.
#[derive(Debug)]
pub(super) struct Fetched {
    /// The body, at most [`MAX_DOCUMENT_BYTES`].
    pub(super) body: Bytes,
    /// The lifetime its headers give (`Some(ZERO)` for `no-store`,
    /// `no-cache` or an expired `Expires`; `None` when they say nothing).
    pub(super) lifetime: Option<Duration>,
}

/// Fetches documents: one connection per fetch, never pooled.
#[derive(Clone)]
pub(super) struct Fetcher {
    tls: TlsConnector,
    timeout: Duration,
}

impl std::fmt::Debug for Fetcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Fetcher")
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

/// Aborts the connection task when the fetch ends or is dropped.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

fn unreachable(e: &dyn std::error::Error) -> DocumentRefusal {
    DocumentRefusal::Unreachable(error_chain(e))
}

impl Fetcher {
    /// A fetcher whose every fetch must finish within `timeout`, trusting
    /// the webpki roots and `extra_roots` (DER certificates).
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] for a zero timeout or an extra root that
    /// is no CA certificate; [`Error::Internal`] if TLS cannot be set up.
    pub(super) fn new(timeout: Duration, extra_roots: &[Vec<u8>]) -> Result<Self> {
        if timeout.is_zero() {
            return Err(Error::InvalidArgument(
                "the client metadata fetch timeout must be positive",
            ));
        }
        let mut roots = rustls::RootCertStore {
            roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
        };
        for der in extra_roots {
            roots.add(CertificateDer::from(der.clone())).map_err(|_| {
                Error::InvalidArgument("an extra client metadata root is no CA certificate")
            })?;
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| Error::internal("TLS set-up", e))?
            .with_root_certificates(roots)
            .with_no_client_auth();
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(Self {
            tls: TlsConnector::from(Arc::new(config)),
            timeout,
        })
    }

    /// Fetches the document at `url`; `now` (the caller's clock) dates an
    /// `Expires` header sent without `Date`.
    ///
    /// # Errors
    /// A [`DocumentRefusal`] naming what went wrong.
    pub(super) async fn fetch(
        &self,
        url: &DocumentUrl,
        now: SystemTime,
    ) -> std::result::Result<Fetched, DocumentRefusal> {
        match tokio::time::timeout(self.timeout, self.fetch_inner(url, now)).await {
            Ok(result) => result,
            Err(_) => Err(DocumentRefusal::Timeout(self.timeout)),
        }
    }

    async fn fetch_inner(
        &self,
        url: &DocumentUrl,
        now: SystemTime,
    ) -> std::result::Result<Fetched, DocumentRefusal> {
        let addresses = checked_addresses(url).await?;
        let mut last_error = None;
        let mut tcp = None;
        for address in addresses {
            match TcpStream::connect(address).await {
                Ok(stream) => {
                    tcp = Some(stream);
                    break;
                }
                Err(e) => last_error = Some(e),
            }
        }
        let Some(tcp) = tcp else {
            return Err(last_error.map_or(DocumentRefusal::UnknownHost, |e| unreachable(&e)));
        };
        let _ = tcp.set_nodelay(true);
        if url.is_plain_http() {
            return exchange(tcp, url, now).await;
        }
        let server_name = match url.host() {
            DocumentHost::Ip(ip) => rustls::pki_types::ServerName::IpAddress((*ip).into()),
            DocumentHost::Domain(name) => rustls::pki_types::ServerName::try_from(name.clone())
                .map_err(|e| DocumentRefusal::Unreachable(format!("bad TLS server name: {e}")))?,
        };
        let tls = self.tls.connect(server_name, tcp).await.map_err(|e| {
            DocumentRefusal::Unreachable(format!("TLS failed: {}", error_chain(&e)))
        })?;
        exchange(tls, url, now).await
    }
}

/// The certificates (DER) of a PEM text, for
/// [`ClientMetadataConfig::extra_roots`](super::ClientMetadataConfig::extra_roots):
/// at least one, each usable as a trust anchor; other PEM sections (keys)
/// are skipped.
///
/// # Errors
/// A description of what is wrong: no certificate, bad PEM, or a
/// certificate that cannot be a root.
pub fn certificates_from_pem(pem: &[u8]) -> std::result::Result<Vec<Vec<u8>>, String> {
    let mut certificates = Vec::new();
    let mut check = rustls::RootCertStore::empty();
    for (i, cert) in CertificateDer::pem_slice_iter(pem).enumerate() {
        let cert = cert.map_err(|e| format!("certificate {} is not valid PEM: {e}", i + 1))?;
        check
            .add(cert.clone())
            .map_err(|e| format!("certificate {} cannot be a root: {e}", i + 1))?;
        certificates.push(cert.as_ref().to_vec());
    }
    if certificates.is_empty() {
        return Err("no PEM certificate (-----BEGIN CERTIFICATE-----) found".to_owned());
    }
    Ok(certificates)
}

/// The addresses to connect to: the host's, resolved once, every one of
/// them public (or, for a development loopback URL, loopback).
///
/// # Errors
/// [`DocumentRefusal::NonPublicAddress`] naming the first bad one;
/// [`DocumentRefusal::UnknownHost`].
pub(super) async fn checked_addresses(
    url: &DocumentUrl,
) -> std::result::Result<Vec<SocketAddr>, DocumentRefusal> {
    let port = url.port();
    let ips: Vec<IpAddr> = match url.host() {
        DocumentHost::Ip(ip) => vec![*ip],
        // `localhost` in a development URL is not looked up: it is loopback.
        DocumentHost::Domain(_) if url.is_development_loopback() => vec![
            IpAddr::V4(Ipv4Addr::LOCALHOST),
            IpAddr::V6(Ipv6Addr::LOCALHOST),
        ],
        DocumentHost::Domain(name) => tokio::net::lookup_host((name.as_str(), port))
            .await
            .map_err(|_| DocumentRefusal::UnknownHost)?
            .map(|a| a.ip())
            .collect(),
    };
    if ips.is_empty() {
        return Err(DocumentRefusal::UnknownHost);
    }
    let mut addresses: Vec<SocketAddr> = Vec::with_capacity(ips.len());
    for ip in ips {
        let kind = classify(ip);
        let allowed =
            kind.is_public() || (url.is_development_loopback() && kind == AddressKind::Loopback);
        if !allowed {
            return Err(DocumentRefusal::NonPublicAddress(kind));
        }
        let address = SocketAddr::new(ip, port);
        if !addresses.contains(&address) {
            addresses.push(address);
        }
    }
    Ok(addresses)
}

/// One GET over `stream`; the answer must be a 200 with a body of at most
/// [`MAX_DOCUMENT_BYTES`].
async fn exchange<S>(
    stream: S,
    url: &DocumentUrl,
    now: SystemTime,
) -> std::result::Result<Fetched, DocumentRefusal>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| unreachable(&e))?;
    let _connection = AbortOnDrop(tokio::spawn(async move {
        let _ = connection.await;
    }));
    let request = Request::get(url.path_and_query())
        .header(HOST, url.authority())
        .header(ACCEPT, "application/json")
        .header(USER_AGENT, concat!("authstore/", env!("CARGO_PKG_VERSION")))
        .body(Empty::<Bytes>::new())
        .map_err(|e| DocumentRefusal::Unreachable(format!("could not build the request: {e}")))?;
    let response = sender
        .send_request(request)
        .await
        .map_err(|e| unreachable(&e))?;
    let status = response.status().as_u16();
    if (300..400).contains(&status) {
        return Err(DocumentRefusal::Redirect(status));
    }
    if status != 200 {
        return Err(DocumentRefusal::Status(status));
    }
    let declared = response
        .headers()
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > MAX_DOCUMENT_BYTES as u64) {
        return Err(DocumentRefusal::TooLarge);
    }
    let lifetime = cache_lifetime(response.headers(), now);
    let body = Limited::new(response.into_body(), MAX_DOCUMENT_BYTES)
        .collect()
        .await
        .map_err(|e| {
            if e.is::<http_body_util::LengthLimitError>() {
                DocumentRefusal::TooLarge
            } else {
                DocumentRefusal::Unreachable(format!("could not read the document: {e}"))
            }
        })?
        .to_bytes();
    Ok(Fetched { body, lifetime })
}

/// How long a response may be cached by its headers (RFC 9111):
/// `no-store` or `no-cache`: zero; else `max-age`; else `Expires` less
/// `Date` (or `now`), zero when it is unreadable or past; else `None`.
pub(crate) fn cache_lifetime(headers: &HeaderMap, now: SystemTime) -> Option<Duration> {
    let mut max_age = None;
    for value in headers.get_all(CACHE_CONTROL) {
        let Ok(value) = value.to_str() else {
            continue;
        };
        for directive in value.split(',') {
            let directive = directive.trim().to_ascii_lowercase();
            if directive == "no-store" || directive == "no-cache" {
                return Some(Duration::ZERO);
            }
            if let Some(secs) = directive.strip_prefix("max-age=") {
                let secs = secs.trim_matches('"');
                max_age = Some(
                    secs.parse::<u64>()
                        .map_or(Duration::ZERO, Duration::from_secs),
                );
            }
        }
    }
    if max_age.is_some() {
        return max_age;
    }
    let expires = headers.get(EXPIRES)?;
    let date = |v: &http::HeaderValue| {
        v.to_str()
            .ok()
            .and_then(|s| httpdate::parse_http_date(s.trim()).ok())
    };
    let Some(expires) = date(expires) else {
        return Some(Duration::ZERO);
    };
    let base = headers.get(DATE).and_then(date).unwrap_or(now);
    Some(expires.duration_since(base).unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(
                http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
                value.parse().unwrap(),
            );
        }
        map
    }

    #[test]
    fn cache_lifetimes_follow_the_headers() {
        let now = httpdate::parse_http_date("Thu, 03 Dec 2026 12:00:00 GMT").unwrap();
        let life = |pairs: &[(&str, &str)]| cache_lifetime(&headers(pairs), now);
        assert_eq!(life(&[]), None);
        assert_eq!(
            life(&[("cache-control", "public, max-age=600")]),
            Some(Duration::from_secs(600))
        );
        assert_eq!(
            life(&[("cache-control", "max-age=600, no-store")]),
            Some(Duration::ZERO)
        );
        assert_eq!(life(&[("cache-control", "no-cache")]), Some(Duration::ZERO));
        assert_eq!(
            life(&[("cache-control", "max-age=abc")]),
            Some(Duration::ZERO)
        );
        assert_eq!(
            life(&[("expires", "Thu, 03 Dec 2026 13:00:00 GMT")]),
            Some(Duration::from_secs(3600))
        );
        assert_eq!(
            life(&[
                ("expires", "Thu, 03 Dec 2026 13:00:00 GMT"),
                ("date", "Thu, 03 Dec 2026 12:30:00 GMT")
            ]),
            Some(Duration::from_secs(1800)),
            "Expires counts from Date"
        );
        assert_eq!(
            life(&[
                ("expires", "Thu, 03 Dec 2026 13:00:00 GMT"),
                ("cache-control", "max-age=60")
            ]),
            Some(Duration::from_secs(60)),
            "max-age wins over Expires"
        );
        assert_eq!(life(&[("expires", "0")]), Some(Duration::ZERO));
        assert_eq!(
            life(&[("expires", "Thu, 03 Dec 2026 11:00:00 GMT")]),
            Some(Duration::ZERO)
        );
    }

    #[test]
    fn extra_roots_must_be_pem_ca_certificates() {
        let none = certificates_from_pem(b"").unwrap_err();
        assert!(none.contains("no PEM certificate"), "{none}");
        let key_only = b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n";
        assert!(
            certificates_from_pem(key_only)
                .unwrap_err()
                .contains("no PEM certificate")
        );
        let junk = b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";
        let junk = certificates_from_pem(junk).unwrap_err();
        assert!(junk.contains("certificate 1 cannot be a root"), "{junk}");
        assert!(Fetcher::new(Duration::from_secs(1), &[vec![0u8; 4]]).is_err());
        assert!(Fetcher::new(Duration::from_secs(1), &[]).is_ok());
    }

    #[tokio::test]
    async fn non_public_addresses_are_refused_before_connecting() {
        for (url, kind) in [
            ("https://127.0.0.1:9/c", AddressKind::Loopback),
            ("https://10.1.2.3/c", AddressKind::Private),
            ("https://[::ffff:c0a8:1]/c", AddressKind::Private),
            ("https://169.254.169.254/latest", AddressKind::LinkLocal),
            ("https://[fd00::1]/c", AddressKind::UniqueLocal),
            ("https://100.64.1.1/c", AddressKind::Shared),
            ("https://localhost:9/c", AddressKind::Loopback),
        ] {
            let parsed = DocumentUrl::parse(url, false).unwrap();
            assert_eq!(
                checked_addresses(&parsed).await,
                Err(DocumentRefusal::NonPublicAddress(kind)),
                "{url}"
            );
        }
        for dev in [
            "http://localhost:9/c",
            "https://localhost:9/c",
            "https://127.0.0.1:9/c",
        ] {
            let dev = DocumentUrl::parse(dev, true).unwrap();
            let addresses = checked_addresses(&dev).await.unwrap();
            assert!(
                addresses
                    .iter()
                    .all(|a| a.ip().is_loopback() && a.port() == 9)
            );
        }
        // The setting admits loopback only, never a private address.
        let private = DocumentUrl::parse("https://10.1.2.3/c", true).unwrap();
        assert_eq!(
            checked_addresses(&private).await,
            Err(DocumentRefusal::NonPublicAddress(AddressKind::Private))
        );
        let public = DocumentUrl::parse("https://8.8.8.8/c", false).unwrap();
        assert_eq!(
            checked_addresses(&public).await.unwrap(),
            ["8.8.8.8:443".parse::<SocketAddr>().unwrap()]
        );
    }
}
