//! A fresh authorization server for one fuzz input: its router on a memory store with a fake clock, the clients, user, code and tokens the targets substitute into requests, and the invariants every answer must keep.

use std::sync::Arc;
use std::time::Duration;

use authstore::credentials::CredentialsConfig;
use authstore::oauth::{AuthorizationRequest, Client, NewClient, OAuthConfig, pkce_challenge};
use authstore::session::SessionUser;
use authstore::{FakeClock, MemoryStore, Store};
use authstore_server::{AppState, Settings};
use axum::Router;
use axum::body::Body;
use http::header::{CACHE_CONTROL, CONTENT_TYPE, COOKIE, LOCATION, ORIGIN, SET_COOKIE};
use http::{HeaderMap, Method, Request, StatusCode};
use http_body_util::BodyExt;
use tower::ServiceExt;

/// The issuer (no path, so every endpoint is at the root).
pub const ISSUER: &str = "https://as.example";
/// The one resource tokens are for.
pub const RESOURCE: &str = "https://api.example/mcp";
/// The public client.
pub const PUBLIC_ID: &str = "pub-client";
/// The confidential client, a trusted introspector.
pub const CONFIDENTIAL_ID: &str = "conf-client";
/// The confidential client's secret.
pub const SECRET: &str = "s3cret:with&special=chars+and%20more";
/// The redirect URI of both clients.
pub const REDIRECT: &str = "https://app.example/cb";
/// The public client's second, loopback redirect URI (any port matches).
pub const LOOPBACK: &str = "http://127.0.0.1/cb";
/// The PKCE verifier of the issued codes.
pub const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
/// A scope both clients may request.
pub const SCOPE: &str = "read";
/// The user.
pub const USERNAME: &str = "ada";
/// The user's password.
pub const PASSWORD: &str = "correct horse";
/// The user id.
pub const USER_ID: &str = "u-ada";
/// The initial access token of `/register`.
pub const INITIAL_TOKEN: &str = "initial-access-token-0123456789abcdef";
/// The session cookie of the pages.
pub const SESSION_COOKIE: &str = "__Host-authstore";

/// Status codes that mean "the server failed", which no input may cause.
pub fn is_server_failure(status: StatusCode) -> bool {
    status.is_server_error()
}

/// A server and what the targets substitute into requests.
pub struct Fixture {
    pub state: AppState,
    pub router: Router,
    pub clock: FakeClock,
    pub public: Client,
    pub confidential: Client,
    /// A fresh code of the public client, for `REDIRECT` and `VERIFIER`.
    pub code: String,
    /// The public client's tokens from another code.
    pub access_token: String,
    pub refresh_token: String,
}

/// Settings with cheap hashing, no network (no client metadata documents),
/// no rate limits that a fuzz input could reach, and EdDSA ID tokens (no RSA
/// key generation per input).
pub fn settings() -> Settings {
    let mut settings = Settings {
        issuer: ISSUER.into(),
        resource: Some(RESOURCE.into()),
        scopes_supported: vec![
            SCOPE.into(),
            "write".into(),
            "openid".into(),
            "offline_access".into(),
        ],
        oauth: OAuthConfig {
            secret_hash_memory_kib: 8,
            secret_hash_iterations: 1,
            id_token_alg: authstore::oauth::SigningAlg::EdDSA,
            ..OAuthConfig::default()
        },
        credentials: CredentialsConfig {
            memory_kib: 8,
            iterations: 1,
            ..CredentialsConfig::default()
        },
        client_metadata: None,
        machine_requests_per_minute: None,
        secret_checks_per_minute: None,
        secret_checks_per_ip_per_minute: None,
        // The most the configuration allows: one per millisecond.
        registrations_per_hour: 3_600_000,
        logins_per_minute: 60_000,
        page_requests_per_minute: 60_000,
        key_rotation: None,
        ..Settings::default()
    };
    settings.introspection.trusted = vec![CONFIDENTIAL_ID.into()];
    settings
        .registration_tokens
        .add_token(INITIAL_TOKEN)
        .expect("a valid initial access token");
    settings
}

/// What every fixture starts from, made once: the store's entries after the
/// clients, the user, the code and the tokens were made (argon2 and key
/// generation run once per process, not per input).
struct Template {
    entries: Vec<authstore::ScanEntry>,
    public: Client,
    confidential: Client,
    code: String,
    access_token: String,
    refresh_token: String,
}

/// The fake clock's start (ms): every fixture starts at the same instant.
const START_MS: u64 = 1_800_000_000_000;

fn template() -> &'static Template {
    static TEMPLATE: std::sync::OnceLock<Template> = std::sync::OnceLock::new();
    TEMPLATE.get_or_init(|| crate::block_on(make_template()))
}

fn fresh_store(clock: &FakeClock) -> Arc<dyn Store> {
    Arc::new(
        MemoryStore::builder()
            .sweep_interval(None)
            .shards(4)
            .clock(clock.clone())
            .build()
            .expect("a memory store builds"),
    )
}

async fn make_template() -> Template {
    let clock = FakeClock::at_millis(START_MS);
    let store = fresh_store(&clock);
    let state = AppState::with_clock(Arc::clone(&store), settings(), clock.clone())
        .expect("the settings are valid");
    let oauth = state.oauth();
    let client = |name: &str, confidential: bool| {
        let mut c = if confidential {
            NewClient::confidential(name, REDIRECT)
        } else {
            let mut c = NewClient::public(name, REDIRECT);
            c.redirect_uris.push(LOOPBACK.into());
            c
        };
        c.scopes = vec![SCOPE.into(), "openid".into(), "offline_access".into()];
        c
    };
    let (public, _) = oauth
        .put_client(PUBLIC_ID, client("Public", false), None)
        .await
        .expect("the public client registers");
    let (confidential, _) = oauth
        .put_client(CONFIDENTIAL_ID, client("Confidential", true), Some(SECRET))
        .await
        .expect("the confidential client registers");
    state
        .credentials()
        .register_user(USERNAME, USER_ID, PASSWORD)
        .await
        .expect("the user registers");
    let request = AuthorizationRequest {
        client_id: PUBLIC_ID.into(),
        redirect_uri: REDIRECT.into(),
        scope: vec![SCOPE.into(), "offline_access".into()],
        code_challenge: pkce_challenge(VERIFIER),
        subject: USER_ID.into(),
        ..Default::default()
    };
    let first = oauth.issue_code(&request).await.expect("a code");
    let tokens = oauth
        .exchange_code(&public, &first, REDIRECT, VERIFIER)
        .await
        .expect("the code exchanges");
    let code = oauth.issue_code(&request).await.expect("a code");
    let mut entries = Vec::new();
    let mut cursor = None;
    loop {
        let page = store.scan("", cursor.as_deref(), 1000).await.expect("scan");
        entries.extend(page.entries);
        cursor = page.cursor;
        if cursor.is_none() {
            break;
        }
    }
    Template {
        entries,
        public,
        confidential,
        code,
        access_token: tokens.access_token,
        refresh_token: tokens
            .refresh_token
            .expect("offline_access gives a refresh token"),
    }
}

impl Fixture {
    /// A fresh server with the default [`settings`].
    pub fn new() -> Self {
        Self::with(settings())
    }

    /// A fresh server with `settings`, holding the template's entries.
    pub fn with(settings: Settings) -> Self {
        let t = template();
        crate::block_on(Self::build(t, settings))
    }

    async fn build(t: &Template, settings: Settings) -> Self {
        let clock = FakeClock::at_millis(START_MS);
        let store = fresh_store(&clock);
        for e in &t.entries {
            let mut options = authstore::PutOptions::new();
            if let Some(ttl) = e.ttl {
                options = options.ttl(ttl);
            }
            for index in &e.index_keys {
                options = options.index(index.clone());
            }
            store
                .put(&e.key, &e.value, options)
                .await
                .expect("the template's entries fit");
        }
        let state =
            AppState::with_clock(store, settings, clock.clone()).expect("the settings are valid");
        let router = authstore_server::router(state.clone());
        Self {
            router,
            clock,
            public: t.public.clone(),
            confidential: t.confidential.clone(),
            code: t.code.clone(),
            access_token: t.access_token.clone(),
            refresh_token: t.refresh_token.clone(),
            state,
        }
    }

    /// A signed-in session of the user: the value of the session cookie.
    pub fn sign_in(&self) -> String {
        crate::block_on(async {
            let session = self
                .state
                .sessions()
                .create(Some(SessionUser::new(USER_ID)), Default::default())
                .await
                .expect("a session");
            session.id().expose().to_owned()
        })
    }

    /// Sends `request` through the router.
    pub fn send(&self, request: Request<Body>) -> Reply {
        crate::block_on(async {
            let response = self
                .router
                .clone()
                .oneshot(request)
                .await
                .expect("the router is infallible");
            let (parts, body) = response.into_parts();
            let body = body
                .collect()
                .await
                .expect("bodies are in memory")
                .to_bytes()
                .to_vec();
            Reply {
                status: parts.status,
                headers: parts.headers,
                body,
            }
        })
    }

    /// `POST path` with `body` as a form, and optional extra headers.
    pub fn post(
        &self,
        path: &str,
        content_type: Option<&str>,
        headers: &[(http::HeaderName, Vec<u8>)],
        body: Vec<u8>,
    ) -> Option<Reply> {
        let mut builder = Request::builder().method(Method::POST).uri(path);
        if let Some(ct) = content_type {
            builder = builder.header(CONTENT_TYPE, ct);
        }
        for (name, value) in headers {
            let value = http::HeaderValue::from_bytes(value).ok()?;
            builder = builder.header(name, value);
        }
        Some(self.send(builder.body(Body::from(body)).ok()?))
    }

    /// A page request as a browser sends it: same-origin, with the session
    /// cookie when given.
    pub fn page(
        &self,
        method: Method,
        uri: &str,
        cookie: Option<&str>,
        body: Option<String>,
    ) -> Option<Reply> {
        let mut builder = Request::builder()
            .method(method)
            .uri(uri)
            .header("sec-fetch-site", "same-origin");
        if let Some(cookie) = cookie {
            builder = builder.header(COOKIE, cookie);
        }
        if body.is_some() {
            builder = builder
                .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
                .header(ORIGIN, ISSUER);
        }
        let request = builder.body(Body::from(body.unwrap_or_default())).ok()?;
        Some(self.send(request))
    }

    /// Moves the fake clock.
    pub fn advance(&self, by: Duration) {
        self.clock.advance(by);
    }
}

impl Default for Fixture {
    fn default() -> Self {
        Self::new()
    }
}

/// A response, collected.
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

impl Reply {
    /// The body as JSON, if it is.
    pub fn json(&self) -> Option<serde_json::Value> {
        serde_json::from_slice(&self.body).ok()
    }

    /// The body as text (lossy).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The `Location` header.
    pub fn location(&self) -> Option<&str> {
        self.headers.get(LOCATION).and_then(|v| v.to_str().ok())
    }

    /// `name=value` of the first `Set-Cookie` naming `name`.
    pub fn cookie(&self, name: &str) -> Option<String> {
        self.headers
            .get_all(SET_COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .filter_map(|v| v.split(';').next())
            .find(|pair| pair.split_once('=').is_some_and(|(k, _)| k == name))
            .map(str::to_owned)
    }

    /// Whether `Cache-Control: no-store` is set.
    pub fn no_store(&self) -> bool {
        self.headers
            .get(CACHE_CONTROL)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.contains("no-store"))
    }

    /// Panics unless the answer is not a server failure and, for an error
    /// of the machine endpoints, an RFC 6749 §5.2 JSON body whose `error` is
    /// one of `codes`.
    pub fn assert_oauth_answer(&self, what: &str, codes: &[&str]) {
        assert!(
            !is_server_failure(self.status),
            "{what}: server failure {}: {}",
            self.status,
            self.text()
        );
        if self.status.is_client_error() {
            let json = self
                .json()
                .unwrap_or_else(|| panic!("{what}: {} without a JSON body", self.status));
            let code = json["error"]
                .as_str()
                .unwrap_or_else(|| panic!("{what}: {} without an error code: {json}", self.status));
            assert!(
                codes.contains(&code),
                "{what}: unexpected error {code:?} ({})",
                self.status
            );
            assert!(
                json["error_description"].is_string(),
                "{what}: no error_description"
            );
        }
    }
}

/// The value of a page's hidden field `name`.
pub fn hidden(html: &str, name: &str) -> Option<String> {
    let marker = format!("name=\"{name}\" value=\"");
    let start = html.find(&marker)? + marker.len();
    let end = html[start..].find('"')? + start;
    Some(
        html[start..end]
            .replace("&#x2f;", "/")
            .replace("&#x2F;", "/")
            .replace("&quot;", "\"")
            .replace("&#x27;", "'")
            .replace("&lt;", "<")
            .replace("&gt;", ">")
            .replace("&amp;", "&"),
    )
}
