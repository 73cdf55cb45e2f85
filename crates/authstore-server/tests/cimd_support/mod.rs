//! The client metadata tests' fixture: a document server on loopback (plain http, or https with a throwaway CA made by the openssl CLI) that counts connections and records requests, and the authorization server with development loopback documents and a 300 ms fetch timeout.

#![allow(dead_code, unreachable_pub)]

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use authstore::oauth::cimd::{ClientMetadataConfig, ClientMetadataResolver, cache_key};
use authstore::oauth::pkce_challenge;
use authstore::{Clock, FakeClock};
use authstore_server::{AppState, Settings};
use bytes::Bytes;
use http::header::CONTENT_TYPE;
use http::{Request, Response};
use http_body_util::Full;
use serde_json::{Value, json};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio_rustls::TlsAcceptor;

use crate::common::{self, Browser, send};

pub const REDIRECT: &str = "http://127.0.0.1:5555/callback";
/// The second redirect URI of `/two-redirects.json`.
pub const OTHER_REDIRECT: &str = "http://127.0.0.1:5555/other-callback";
pub const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
pub const DAY: Duration = Duration::from_secs(24 * 3600);

/// A server of client metadata documents on 127.0.0.1 that counts the
/// connections it accepts and records the paths asked for.
#[derive(Clone)]
pub struct DocServer {
    pub base: String,
    pub accepts: Arc<AtomicUsize>,
    pub paths: Arc<Mutex<Vec<String>>>,
    /// When set, `/good.json` names another client_id.
    pub broken: Arc<AtomicBool>,
}

/// A throwaway CA and a certificate for 127.0.0.1 (an IP SAN) it
/// signed, made with the openssl CLI in a temporary directory.
pub struct TestPki {
    pub dir: tempfile::TempDir,
    /// The CA certificate, PEM.
    pub ca_file: std::path::PathBuf,
}

impl TestPki {
    pub fn generate() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let run = |args: &[&str]| {
            let out = std::process::Command::new("openssl")
                .args(args)
                .current_dir(dir.path())
                .output()
                .expect("the openssl CLI");
            assert!(
                out.status.success(),
                "openssl {args:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        };
        let ec = [
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
        ];
        run(&[
            &["req", "-x509"][..],
            &ec,
            &[
                "-keyout",
                "ca.key",
                "-out",
                "ca.pem",
                "-days",
                "1",
                "-subj",
                "/CN=Test CA",
                "-addext",
                "basicConstraints=critical,CA:TRUE",
                "-addext",
                "keyUsage=critical,keyCertSign",
            ],
        ]
        .concat());
        run(&[
            &["req"][..],
            &ec,
            &[
                "-keyout",
                "leaf.key",
                "-out",
                "leaf.csr",
                "-subj",
                "/CN=127.0.0.1",
            ],
        ]
        .concat());
        std::fs::write(
            dir.path().join("leaf.ext"),
            "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n",
        )
        .unwrap();
        run(&[
            "x509",
            "-req",
            "-in",
            "leaf.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-days",
            "1",
            "-extfile",
            "leaf.ext",
            "-out",
            "leaf.pem",
        ]);
        let ca_file = dir.path().join("ca.pem");
        Self { dir, ca_file }
    }

    /// A TLS acceptor presenting the 127.0.0.1 certificate.
    pub fn acceptor(&self) -> TlsAcceptor {
        use rustls::pki_types::pem::PemObject as _;
        use rustls::pki_types::{CertificateDer, PrivateKeyDer};
        let certs = CertificateDer::pem_file_iter(self.dir.path().join("leaf.pem"))
            .unwrap()
            .collect::<Result<Vec<_>, _>>()
            .unwrap();
        let key = PrivateKeyDer::from_pem_file(self.dir.path().join("leaf.key")).unwrap();
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(certs, key)
            .unwrap();
        TlsAcceptor::from(Arc::new(config))
    }
}

impl DocServer {
    pub async fn start() -> Self {
        Self::start_with(None).await
    }

    /// The same documents over https, presenting `acceptor`'s certificate.
    pub async fn start_tls(acceptor: TlsAcceptor) -> Self {
        Self::start_with(Some(acceptor)).await
    }

    async fn start_with(tls: Option<TlsAcceptor>) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let scheme = if tls.is_some() { "https" } else { "http" };
        let server = Self {
            base: format!(
                "{scheme}://127.0.0.1:{}",
                listener.local_addr().unwrap().port()
            ),
            accepts: Arc::default(),
            paths: Arc::default(),
            broken: Arc::default(),
        };
        let handler = server.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                handler.accepts.fetch_add(1, Ordering::SeqCst);
                let handler = handler.clone();
                match &tls {
                    None => {
                        tokio::spawn(handler.answer(stream));
                    }
                    Some(tls) => {
                        let tls = tls.clone();
                        tokio::spawn(async move {
                            // A client that refuses the certificate ends here.
                            if let Ok(stream) = tls.accept(stream).await {
                                handler.answer(stream).await;
                            }
                        });
                    }
                }
            }
        });
        server
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub fn port(&self) -> u16 {
        self.base.rsplit(':').next().unwrap().parse().unwrap()
    }

    pub fn accepts(&self) -> usize {
        self.accepts.load(Ordering::SeqCst)
    }

    pub fn requests_for(&self, path: &str) -> usize {
        self.paths
            .lock()
            .unwrap()
            .iter()
            .filter(|p| *p == path)
            .count()
    }

    pub fn document(client_id: &str) -> String {
        json!({
            "client_id": client_id,
            "client_name": "Doc App",
            "client_uri": "https://app.example",
            "redirect_uris": [REDIRECT],
            "grant_types": ["authorization_code", "refresh_token"],
            "response_types": ["code"],
            "token_endpoint_auth_method": "none",
            "scope": "read",
        })
        .to_string()
    }

    pub async fn answer<S: AsyncRead + AsyncWrite + Unpin>(self, mut stream: S) {
        let mut head = Vec::new();
        let mut buf = [0u8; 1024];
        while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < 8192 {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => head.extend_from_slice(&buf[..n]),
            }
        }
        let head = String::from_utf8_lossy(&head).into_owned();
        let path = head.split(' ').nth(1).unwrap_or("").to_owned();
        self.paths.lock().unwrap().push(path.clone());
        let ok = |body: String, extra: &str| {
            format!(
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n{extra}connection: close\r\n\r\n{body}",
                body.len()
            )
        };
        let response = match path.as_str() {
            "/good.json" if self.broken.load(Ordering::SeqCst) => {
                ok(Self::document("https://elsewhere.example/c.json"), "")
            }
            "/good.json" => ok(
                Self::document(&self.url("/good.json")),
                "cache-control: public, max-age=600\r\n",
            ),
            // Cache lifetimes below the server's bounds, far above them, and none.
            "/short.json" => ok(
                Self::document(&self.url("/short.json")),
                "cache-control: max-age=10\r\n",
            ),
            "/no-store.json" => ok(
                Self::document(&self.url("/no-store.json")),
                "cache-control: no-store\r\n",
            ),
            "/long.json" => ok(
                Self::document(&self.url("/long.json")),
                "cache-control: public, max-age=31536000\r\n",
            ),
            "/bare.json" => ok(Self::document(&self.url("/bare.json")), ""),
            "/two-redirects.json" => {
                let mut doc: Value =
                    serde_json::from_str(&Self::document(&self.url("/two-redirects.json")))
                        .unwrap();
                doc["redirect_uris"] = json!([REDIRECT, OTHER_REDIRECT]);
                ok(doc.to_string(), "cache-control: max-age=600\r\n")
            }
            "/delayed.json" => {
                tokio::time::sleep(Duration::from_millis(150)).await;
                ok(Self::document(&self.url("/delayed.json")), "")
            }
            "/mismatch.json" => ok(Self::document(&self.url("/other.json")), ""),
            "/redirect.json" => format!(
                "HTTP/1.1 302 Found\r\nlocation: {}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n",
                self.url("/good.json")
            ),
            "/slow.json" => {
                tokio::time::sleep(Duration::from_secs(30)).await;
                return;
            }
            "/big.json" => {
                // No Content-Length: the reader has to stop by itself.
                let _ = stream
                    .write_all(b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\nconnection: close\r\n\r\n")
                    .await;
                let mut doc = Self::document(&self.url("/big.json"));
                doc.insert_str(1, &format!("\"pad\":\"{}\",", "x".repeat(60_000)));
                let _ = stream.write_all(doc.as_bytes()).await;
                return;
            }
            p if p.starts_with("/page") => "HTTP/1.1 200 OK\r\ncontent-type: text/html\r\ncontent-length: 17\r\nconnection: close\r\n\r\n<html>hi</html>\r\n"
                .to_owned(),
            _ => "HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
                .to_owned(),
        };
        let _ = stream.write_all(response.as_bytes()).await;
    }
}

pub struct Fixture {
    pub base: String,
    pub state: AppState,
    pub clock: FakeClock,
    pub docs: DocServer,
}

/// The authorization server (fake clock, memory store) with development
/// loopback documents on and a 300 ms fetch timeout, and a document server.
pub async fn fixture(tweak: impl FnOnce(&mut Settings)) -> Fixture {
    fixture_with(DocServer::start().await, tweak).await
}

/// [`fixture`] with its client metadata settings changed by `tweak`.
pub async fn fixture_cimd(tweak: impl FnOnce(&mut ClientMetadataConfig)) -> Fixture {
    fixture(|s| tweak(s.client_metadata.as_mut().unwrap())).await
}

/// [`fixture`] with the document server `docs`.
pub async fn fixture_with(docs: DocServer, tweak: impl FnOnce(&mut Settings)) -> Fixture {
    let clock = FakeClock::new();
    let (listener, base) = common::bind().await;
    let mut settings = common::settings(&base);
    let config = settings.client_metadata.as_mut().unwrap();
    config.allow_loopback = true;
    config.timeout = Duration::from_millis(300);
    tweak(&mut settings);
    let store = common::clocked_store(&clock);
    let state = AppState::with_clock(store, settings, clock.clone()).unwrap();
    common::add_user(&state).await;
    common::serve(listener, &state);
    Fixture {
        base,
        state,
        clock,
        docs,
    }
}

impl Fixture {
    pub fn authorize_url(&self, client_id: &str, redirect_uri: &str) -> String {
        let query = form_urlencoded::Serializer::new(String::new())
            .extend_pairs([
                ("response_type", "code"),
                ("client_id", client_id),
                ("redirect_uri", redirect_uri),
                ("scope", "read"),
                ("state", "s-1"),
                ("code_challenge", &pkce_challenge(VERIFIER)),
                ("code_challenge_method", "S256"),
            ])
            .finish();
        format!("{}/authorize?{query}", self.base)
    }

    /// `GET /authorize` for `client_id`: the status and the page's text.
    pub async fn authorize_page(&self, client_id: &str) -> (u16, String) {
        let res = Browser::new(&self.base)
            .get(&self.authorize_url(client_id, REDIRECT))
            .await;
        (res.status().as_u16(), unescape(res.body()))
    }

    pub async fn token(&self, pairs: &[(&str, &str)]) -> (u16, Value) {
        let body = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(pairs)
            .finish();
        let res: Response<String> = send(
            Request::post(format!("{}/token", self.base))
                .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
                .body(Full::new(Bytes::from(body)))
                .unwrap(),
        )
        .await;
        let status = res.status().as_u16();
        (status, serde_json::from_str(res.body()).unwrap())
    }

    /// Exchanges `code` at `/token` as the public client `client_id`, with [`REDIRECT`] and [`VERIFIER`].
    pub async fn redeem(&self, client_id: &str, code: &str) -> (u16, Value) {
        self.token(&[
            ("grant_type", "authorization_code"),
            ("client_id", client_id),
            ("code", code),
            ("redirect_uri", REDIRECT),
            ("code_verifier", VERIFIER),
        ])
        .await
    }

    /// The server's authorization server metadata (RFC 8414).
    pub async fn server_metadata(&self) -> Value {
        let res = send(
            Request::get(format!(
                "{}/.well-known/oauth-authorization-server",
                self.base
            ))
            .body(Full::new(Bytes::new()))
            .unwrap(),
        )
        .await;
        serde_json::from_str(res.body()).unwrap()
    }

    /// The server's client metadata resolver.
    pub fn resolver(&self) -> ClientMetadataResolver {
        self.state.client_metadata().unwrap().clone()
    }

    /// How much longer the cached document of `url` lives, by the fake clock.
    pub async fn cache_ttl(&self, url: &str) -> Option<Duration> {
        let entry = self.state.store().get(&cache_key(url)).await.unwrap()?;
        let now = std::time::UNIX_EPOCH + Duration::from_millis(self.clock.now_millis());
        Some(entry.expires_at?.duration_since(now).unwrap())
    }

    pub async fn cached(&self, url: &str) -> bool {
        self.state
            .store()
            .get(&cache_key(url))
            .await
            .unwrap()
            .is_some()
    }

    /// Asserts that `/authorize` refuses the document at `url` with
    /// `invalid_client` and `reason`, and that nothing was cached.
    pub async fn assert_refused(&self, url: &str, reason: &str) {
        let (status, page) = self.authorize_page(url).await;
        assert_eq!(status, 400, "{page}");
        assert!(page.contains(reason), "wanted {reason:?} in {page}");
        assert!(page.contains("(invalid_client)"), "{page}");
        assert!(!self.cached(url).await, "a refused document is not cached");
    }
}

/// Page text with the template's HTML escapes undone.
pub fn unescape(html: &str) -> String {
    html.replace("&#x27;", "'")
        .replace("&#x2f;", "/")
        .replace("&#x2F;", "/")
        .replace("&quot;", "\"")
        .replace("&amp;", "&")
}

/// The query parameters of a redirect's Location.
pub fn query_of(location: &str) -> BTreeMap<String, String> {
    let query = location.split_once('?').map_or("", |(_, q)| q);
    form_urlencoded::parse(query.as_bytes())
        .into_owned()
        .collect()
}
