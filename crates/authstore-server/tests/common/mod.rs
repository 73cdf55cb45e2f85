//! Shared by the server's integration tests: the fast-hashing settings, a server on a free port (on a given store or a memory store on a fake clock), a plain HTTP client, and the sign-in and consent forms submitted as a browser submits them.

#![allow(dead_code, unreachable_pub)]

use std::net::SocketAddr;
use std::sync::Arc;

use authstore::credentials::CredentialsConfig;
use authstore::oauth::OAuthConfig;
use authstore::{FakeClock, MemoryStore, Store};
use authstore_server::{AppState, Settings};
use bytes::Bytes;
use http::header::{CONTENT_TYPE, COOKIE, LOCATION, ORIGIN, SET_COOKIE};
use http::{Method, Request, Response};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use tokio::net::TcpListener;

pub const USER: &str = "ada";
pub const PASSWORD: &str = "correct horse battery staple";

/// Cheap hashing for tests; production uses the OWASP defaults.
pub fn settings(issuer: &str) -> Settings {
    Settings {
        issuer: issuer.to_owned(),
        scopes_supported: vec!["read".into(), "write".into()],
        oauth: OAuthConfig {
            secret_hash_memory_kib: 1024,
            secret_hash_iterations: 1,
            ..OAuthConfig::default()
        },
        credentials: CredentialsConfig {
            memory_kib: 1024,
            iterations: 1,
            ..CredentialsConfig::default()
        },
        ..Settings::default()
    }
}

pub struct Server {
    pub base: String,
    pub state: AppState,
}

/// The OAuth router on `store`, served on a free loopback port, with the test user registered.
pub async fn start(store: Arc<dyn Store>, tweak: impl FnOnce(&mut Settings)) -> Server {
    let (listener, base) = bind().await;
    let mut settings = settings(&base);
    tweak(&mut settings);
    let state = AppState::new(store, settings).unwrap();
    add_user(&state).await;
    serve(listener, &state);
    Server { base, state }
}

/// A server on a memory store driven by a fake clock.
pub struct Clocked {
    pub base: String,
    pub state: AppState,
    pub clock: FakeClock,
}

/// The OAuth router on a fresh memory store driven by a fake clock, served on
/// a free loopback port, with the test user registered.
pub async fn start_clocked(tweak: impl FnOnce(&mut Settings)) -> Clocked {
    let clock = FakeClock::new();
    let (listener, base) = bind().await;
    let mut settings = settings(&base);
    tweak(&mut settings);
    let state = AppState::with_clock(clocked_store(&clock), settings, clock.clone()).unwrap();
    add_user(&state).await;
    serve(listener, &state);
    Clocked { base, state, clock }
}

/// A fresh memory store whose time is `clock`.
pub fn clocked_store(clock: &FakeClock) -> Arc<dyn Store> {
    Arc::new(MemoryStore::builder().clock(clock.clone()).build().unwrap())
}

/// A free loopback port and its origin, `http://127.0.0.1:PORT`.
pub async fn bind() -> (TcpListener, String) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://127.0.0.1:{}", listener.local_addr().unwrap().port());
    (listener, base)
}

/// Serves the OAuth router of `state` on `listener` in the background.
pub fn serve(listener: TcpListener, state: &AppState) {
    let app = authstore_server::router(state.clone());
    tokio::spawn(async move {
        axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await
    });
}

/// Registers the test user, [`USER`] with [`PASSWORD`].
pub async fn add_user(state: &AppState) {
    state
        .credentials()
        .register_user(USER, "u-ada", PASSWORD)
        .await
        .unwrap();
}

/// A plain HTTP/1 client.
pub fn http() -> Client<HttpConnector, Full<Bytes>> {
    Client::builder(TokioExecutor::new()).build_http()
}

/// Sends a request; returns status, headers and body text.
pub async fn send(req: Request<Full<Bytes>>) -> Response<String> {
    let res = http().request(req).await.expect("the server answers");
    let (parts, body) = res.into_parts();
    let bytes = body.collect().await.unwrap().to_bytes();
    Response::from_parts(parts, String::from_utf8_lossy(&bytes).into_owned())
}

/// `oauth2`'s HTTP client: the same hyper client.
///
/// `oauth2` insists on an `https` revocation URL (RFC 7009 §2); the test
/// server speaks plain HTTP on loopback, so `https://127.0.0.1` is sent
/// there as `http://`, as a TLS-terminating proxy in front of it would.
pub async fn oauth_http(req: oauth2::HttpRequest) -> Result<oauth2::HttpResponse, std::io::Error> {
    let (mut parts, body) = req.into_parts();
    let uri = parts.uri.to_string();
    if let Some(rest) = uri.strip_prefix("https://127.0.0.1:") {
        parts.uri = format!("http://127.0.0.1:{rest}")
            .parse()
            .map_err(std::io::Error::other)?;
    }
    let res = http()
        .request(Request::from_parts(parts, Full::new(Bytes::from(body))))
        .await
        .map_err(std::io::Error::other)?;
    let (parts, body) = res.into_parts();
    let bytes = body
        .collect()
        .await
        .map_err(std::io::Error::other)?
        .to_bytes();
    Ok(Response::from_parts(parts, bytes.to_vec()))
}

/// The value of `name="…" value="…"` in a page.
pub fn hidden(html: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let start = html
        .find(&marker)
        .unwrap_or_else(|| panic!("no field {name} in {html}"))
        + marker.len();
    let end = html[start..].find('"').unwrap() + start;
    html[start..end]
        .replace("&#x2f;", "/")
        .replace("&#x2F;", "/")
        .replace("&quot;", "\"")
        .replace("&#x27;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

/// A browser's cookie jar, reduced to the one session cookie.
#[derive(Default)]
pub struct Browser {
    pub cookie: Option<String>,
    pub origin: String,
}

impl Browser {
    pub fn new(base: &str) -> Self {
        Self {
            cookie: None,
            origin: base.to_owned(),
        }
    }

    pub async fn get(&mut self, url: &str) -> Response<String> {
        self.go(Method::GET, url, None).await
    }

    pub async fn post_form(&mut self, url: &str, pairs: &[(&str, &str)]) -> Response<String> {
        let body = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(pairs)
            .finish();
        self.go(Method::POST, url, Some(body)).await
    }

    async fn go(&mut self, method: Method, url: &str, body: Option<String>) -> Response<String> {
        let res = browser_send(method, url, &self.origin, self.cookie.as_deref(), body).await;
        if let Some(set) = res.headers().get(SET_COOKIE) {
            let pair = set.to_str().unwrap().split(';').next().unwrap().to_owned();
            self.cookie = if set.to_str().unwrap().contains("Max-Age=0") {
                None
            } else {
                Some(pair)
            };
        }
        res
    }

    /// Signs in from `/login` as `username` with `password`; the answer
    /// (a 303 to `/account` when it worked).
    pub async fn sign_in_as(&mut self, username: &str, password: &str) -> Response<String> {
        let page = self
            .get(&format!("{}/login?return_to=/account", self.origin))
            .await;
        let csrf = hidden(page.body(), "_csrf");
        let login = format!("{}/login", self.origin);
        self.post_form(
            &login,
            &[
                ("_csrf", csrf.as_str()),
                ("return_to", "/account"),
                ("username", username),
                ("password", password),
            ],
        )
        .await
    }

    /// Signs in as [`USER`] with [`PASSWORD`]; it lands on `/account`.
    pub async fn sign_in(&mut self) {
        let res = self.sign_in_as(USER, PASSWORD).await;
        assert_eq!(res.status(), 303, "signed in: {}", res.body());
    }

    /// Follows `/authorize?…` through sign-in and consent; returns the final redirect's Location.
    pub async fn authorize(&mut self, authorize_url: &str) -> String {
        let page = self.get(authorize_url).await;
        let mut page = if page.body().contains("id=\"login\"") {
            let (csrf, return_to) = (
                hidden(page.body(), "_csrf"),
                hidden(page.body(), "return_to"),
            );
            let login_url = format!("{}/login", self.origin);
            let res = self
                .post_form(
                    &login_url,
                    &[
                        ("_csrf", &csrf),
                        ("return_to", &return_to),
                        ("username", USER),
                        ("password", PASSWORD),
                    ],
                )
                .await;
            assert_eq!(res.status(), 303, "signed in: {}", res.body());
            let next = res.headers()[LOCATION].to_str().unwrap().to_owned();
            self.get(&format!("{}{next}", self.origin)).await
        } else {
            page
        };
        if page.status() == 303 {
            return page.headers()[LOCATION].to_str().unwrap().to_owned();
        }
        assert!(
            page.body().contains("id=\"consent\""),
            "the consent page: {}",
            page.body()
        );
        let body = std::mem::take(page.body_mut());
        let res = self.approve(&body, &[]).await;
        assert_eq!(res.status(), 303, "consent accepted: {}", res.body());
        res.headers()[LOCATION].to_str().unwrap().to_owned()
    }

    /// Approves the consent page `body`, with the `extra` fields (such as `remember`).
    pub async fn approve(&mut self, body: &str, extra: &[(&str, &str)]) -> Response<String> {
        let fields = consent_fields(body);
        let mut pairs: Vec<(&str, &str)> = fields
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        pairs.push(("decision", "approve"));
        pairs.extend_from_slice(extra);
        self.post_form(&format!("{}/authorize", self.origin), &pairs)
            .await
    }
}

/// Sends a same-origin request as a browser on `origin` does: with the
/// `Cookie` header `cookie`, and `body` as a form posted from `origin`.
pub async fn browser_send(
    method: Method,
    url: &str,
    origin: &str,
    cookie: Option<&str>,
    body: Option<String>,
) -> Response<String> {
    let mut req = Request::builder()
        .method(method)
        .uri(url)
        .header("sec-fetch-site", "same-origin");
    if let Some(c) = cookie {
        req = req.header(COOKIE, c);
    }
    if body.is_some() {
        req = req
            .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
            .header(ORIGIN, origin);
    }
    send(
        req.body(Full::new(Bytes::from(body.unwrap_or_default())))
            .unwrap(),
    )
    .await
}

/// The hidden fields of a consent page (`_csrf` and the carried request), as the form posts them.
pub fn consent_fields(body: &str) -> Vec<(String, String)> {
    [
        "_csrf",
        "response_type",
        "client_id",
        "redirect_uri",
        "scope",
        "state",
        "code_challenge",
        "code_challenge_method",
        "resource",
    ]
    .into_iter()
    .filter(|name| body.contains(&format!("name=\"{name}\" value=\"")))
    .map(|name| (name.to_owned(), hidden(body, name)))
    .collect()
}
