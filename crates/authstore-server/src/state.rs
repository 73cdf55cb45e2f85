//! [`AppState`]: the store, the OAuth state, users, sessions, limiters and settings every endpoint shares.

use std::sync::Arc;
use std::time::Duration;

use authstore::credentials::{Credentials, CredentialsConfig};
use authstore::oauth::{OAuth, OAuthConfig};
use authstore::ratelimit::{Limit, RateLimiter};
use authstore::session::SessionManager;
use authstore::{Clock, SharedClock, Store, SystemClock};

use authstore::audit::{AuditEvent, AuditSink};

use authstore_axum::{ClientIp, TrustedProxies};
use http::request::Parts;

use crate::audit_log::ServerAudit;
use crate::metrics::Metrics;

/// Server settings (from the CLI or the config file).
#[derive(Debug, Clone)]
pub struct Settings {
    /// The issuer URL (RFC 8414 `issuer`, RFC 9207 `iss`), without a trailing slash.
    pub issuer: String,
    /// The audience of tokens issued without a `resource`. Without
    /// resources in [`OAuthConfig::resources`](authstore::oauth::OAuthConfig::resources)
    /// (`[[resources]]`), the only resource accepted, with every scope.
    pub resource: Option<String>,
    /// Serve RFC 9728 metadata for [`Self::resource`] here too, at its
    /// path-aware well-known URL (for a resource served by this same
    /// process or host); by default the resource server serves its own.
    pub serve_resource_metadata: bool,
    /// Scopes the server advertises.
    pub scopes_supported: Vec<String>,
    /// Whether `/register` (RFC 7591) is open.
    pub registration: bool,
    /// Lifetime of secrets of dynamically registered clients (`None` = no expiry).
    pub registered_secret_ttl: Option<Duration>,
    /// How long a dynamically registered client lives after its
    /// registration or its last use (code exchange, refresh, client
    /// credentials); `None`: until deleted.
    pub registered_client_ttl: Option<Duration>,
    /// The scopes a dynamically registered client may ask for (`None`: [`Self::scopes_supported`]).
    pub registration_scopes: Option<Vec<String>>,
    /// RFC 7591 §3 initial access tokens (as SHA-256): a `/register`
    /// request bearing one may also create confidential and client
    /// credentials clients.
    pub registration_tokens: crate::registration_policy::InitialAccessTokens,
    /// Whether `/register` refuses every request without an initial access token.
    pub registration_requires_token: bool,
    /// Dynamic registrations allowed per client IP per hour.
    pub registrations_per_hour: u32,
    /// Login attempts allowed per client IP per minute, and per (user,
    /// client network) per minute.
    pub logins_per_minute: u32,
    /// Page loads (`GET /login`, `/authorize`, `/account`) allowed per
    /// client IP per minute, counted in this process (never in the store).
    pub page_requests_per_minute: u32,
    /// Keys that sign the pages' CSRF tokens (the newest signs, all
    /// verify). `None`: a random key per process, so a form only posts back
    /// to the process that served it; give every instance the same key when
    /// several serve one issuer.
    pub form_keys: Option<authstore::csrf::KeyRing>,
    /// How long a remembered consent lasts.
    pub consent_ttl: Duration,
    /// Plain-http development: cookies without `Secure` and the `__Host-` prefix.
    pub dev_cookies: bool,
    /// Issue RFC 9068 JWT access tokens (signed with `oauth.access_token_alg`,
    /// keys in the store, published at `/jwks`) instead of opaque ones.
    pub jwt_access_tokens: bool,
    /// OpenID Connect (`[openid] enabled`): ID tokens for grants with the
    /// `openid` scope, `/userinfo` and `/.well-known/openid-configuration`.
    /// Off: none of them, and `openid` is not advertised.
    pub openid: bool,
    /// OAuth lifetimes and secret hashing cost.
    pub oauth: OAuthConfig,
    /// `serve` rotates each current signing key once it is this old
    /// (checked at start and hourly); `None`: only `authstore keys rotate`
    /// rotates them.
    pub key_rotation: Option<Duration>,
    /// Password hashing cost and lockout.
    pub credentials: CredentialsConfig,
    /// How long security events are kept in the store.
    pub audit_retention: Duration,
    /// Proxies whose forwarding headers are believed when finding a
    /// request's client IP (every per-IP limit and the logs use it).
    pub trusted_proxies: TrustedProxies,
    /// Who may introspect which tokens (`[[resource_servers]]`, `[introspection]`).
    pub introspection: crate::machine::IntrospectionPolicy,
    /// Requests to `/token`, `/revoke` and `/introspect` per client IP per
    /// minute that a remembered client secret did not authenticate (`None`: unlimited).
    pub machine_requests_per_minute: Option<u32>,
    /// argon2id checks of client secrets per client id per minute, from
    /// all addresses, not counting a secret that passed before (`None`: unlimited).
    pub secret_checks_per_minute: Option<u32>,
    /// The same per (client id, client IP) per minute, so that a flood from
    /// one address spends only its share (`None`: unlimited).
    pub secret_checks_per_ip_per_minute: Option<u32>,
    /// Client ID Metadata Documents: how URL client ids are fetched and
    /// cached (`None`: URL client ids are not resolved). Scopes left open
    /// are those of dynamically registered clients.
    pub client_metadata: Option<authstore::oauth::cimd::ClientMetadataConfig>,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            issuer: "http://127.0.0.1:8080".into(),
            resource: None,
            serve_resource_metadata: false,
            scopes_supported: vec![
                "openid".into(),
                "profile".into(),
                "email".into(),
                "offline_access".into(),
            ],
            registration: true,
            registered_secret_ttl: Some(Duration::from_secs(90 * 24 * 3600)),
            registered_client_ttl: Some(Duration::from_secs(90 * 24 * 3600)),
            registration_scopes: None,
            registration_tokens: Default::default(),
            registration_requires_token: false,
            registrations_per_hour: 20,
            logins_per_minute: 10,
            page_requests_per_minute: 120,
            form_keys: None,
            consent_ttl: Duration::from_secs(90 * 24 * 3600),
            dev_cookies: false,
            jwt_access_tokens: false,
            openid: true,
            oauth: OAuthConfig::default(),
            key_rotation: Some(Duration::from_secs(30 * 24 * 3600)),
            credentials: CredentialsConfig::default(),
            audit_retention: Duration::from_secs(90 * 24 * 3600),
            trusted_proxies: TrustedProxies::none(),
            introspection: crate::machine::IntrospectionPolicy::default(),
            machine_requests_per_minute: Some(600),
            secret_checks_per_minute: Some(60),
            secret_checks_per_ip_per_minute: Some(10),
            client_metadata: Some(Default::default()),
        }
    }
}

impl Settings {
    /// The path of [`Self::issuer`] (`/tenant` for `https://as.example/tenant`;
    /// empty for an issuer without one): every endpoint is served under it.
    pub fn issuer_path(&self) -> &str {
        issuer_path(&self.issuer)
    }
}

/// The path of an issuer URL, without a trailing slash (empty for none).
pub(crate) fn issuer_path(issuer: &str) -> &str {
    let after_scheme = issuer.find("://").map_or(issuer, |i| &issuer[i + 3..]);
    match after_scheme.find('/') {
        Some(i) => after_scheme[i..].trim_end_matches('/'),
        None => "",
    }
}

/// Everything the endpoints share. Cheap to clone.
#[derive(Debug, Clone)]
pub struct AppState {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    store: Arc<dyn Store>,
    clock: SharedClock,
    oauth: OAuth,
    credentials: Credentials,
    sessions: SessionManager,
    login_by_ip: RateLimiter,
    login_by_user: RateLimiter,
    page_requests: RateLimiter,
    registrations: RateLimiter,
    machine: crate::machine::MachineLimits,
    client_metadata: Option<authstore::oauth::cimd::ClientMetadataResolver>,
    metrics: Metrics,
    audit: ServerAudit,
    settings: Settings,
}

impl AppState {
    /// State on `store` with the system clock.
    ///
    /// # Errors
    /// Invalid argon2 parameters or limiter namespaces.
    pub fn new(store: Arc<dyn Store>, settings: Settings) -> authstore::Result<Self> {
        Self::with_clock(store, settings, SystemClock)
    }

    /// State on `store`, judging time by `clock` (use the store's).
    ///
    /// # Errors
    /// Invalid argon2 parameters or limiter namespaces.
    pub fn with_clock(
        store: Arc<dyn Store>,
        mut settings: Settings,
        clock: impl Clock,
    ) -> authstore::Result<Self> {
        settings.issuer = settings.issuer.trim_end_matches('/').to_owned();
        if settings.jwt_access_tokens {
            settings.oauth.jwt_issuer = Some(settings.issuer.clone());
        }
        settings.oauth.openid = settings.openid;
        if settings.openid {
            settings.oauth.id_token_issuer = Some(settings.issuer.clone());
        } else {
            settings
                .scopes_supported
                .retain(|s| s != authstore::oauth::OPENID_SCOPE);
        }
        crate::resources::align(&mut settings)?;
        let clock: SharedClock = Arc::new(clock);
        let oauth = OAuth::with_config(
            Arc::clone(&store),
            settings.oauth.clone(),
            Arc::clone(&clock),
        )?;
        let credentials = Credentials::with_config(
            Arc::clone(&store),
            settings.credentials.clone(),
            Arc::clone(&clock),
        )?;
        let sessions =
            SessionManager::with_config(Arc::clone(&store), Default::default(), Arc::clone(&clock));
        let per_minute = Limit::per(settings.logins_per_minute.max(1), Duration::from_secs(60));
        let limiter = |limit: Limit, namespace: &str| {
            RateLimiter::with_clock(Arc::clone(&store), limit, Arc::clone(&clock))
                .namespace(namespace)
        };
        let login_by_ip = limiter(per_minute, "rl-login-ip:")?;
        let login_by_user = limiter(per_minute, "rl-login-user:")?;
        // Page loads are counted in a bounded map of this process: an
        // anonymous visitor writes nothing to the store.
        let page_store = authstore::MemoryStore::builder()
            .max_entries(65_536)
            .clock(Arc::clone(&clock))
            .build()?;
        let page_requests = RateLimiter::with_clock(
            Arc::new(page_store),
            Limit::per(
                settings.page_requests_per_minute.max(1),
                Duration::from_secs(60),
            ),
            Arc::clone(&clock),
        )
        .namespace("rl-page-ip:")?;
        let registrations = limiter(
            Limit::per(
                settings.registrations_per_hour.max(1),
                Duration::from_secs(3600),
            ),
            "rl-register:",
        )?;
        let machine = crate::machine::MachineLimits::new(
            settings.machine_requests_per_minute,
            settings.secret_checks_per_ip_per_minute,
            settings.secret_checks_per_minute,
            Arc::clone(&clock),
        )?;
        let client_metadata = crate::client_metadata::effective_config(&settings)
            .map(|config| {
                authstore::oauth::cimd::ClientMetadataResolver::new(oauth.clone(), config)
            })
            .transpose()?;
        let audit = ServerAudit::new(
            Arc::clone(&store),
            settings.audit_retention,
            Arc::clone(&clock),
        );
        Ok(Self {
            inner: Arc::new(Inner {
                audit,
                store,
                clock,
                oauth,
                credentials,
                sessions,
                login_by_ip,
                login_by_user,
                page_requests,
                registrations,
                machine,
                client_metadata,
                metrics: Metrics::new(),
                settings,
            }),
        })
    }

    /// The store.
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.inner.store
    }

    /// The clock.
    pub fn clock(&self) -> &SharedClock {
        &self.inner.clock
    }

    /// The OAuth grant state.
    pub fn oauth(&self) -> &OAuth {
        &self.inner.oauth
    }

    /// Users and passwords.
    pub fn credentials(&self) -> &Credentials {
        &self.inner.credentials
    }

    /// Login sessions of the server's own pages.
    pub fn sessions(&self) -> &SessionManager {
        &self.inner.sessions
    }

    /// Login attempts per client IP.
    pub fn login_by_ip(&self) -> &RateLimiter {
        &self.inner.login_by_ip
    }

    /// Login attempts per (username, client network).
    pub fn login_by_user(&self) -> &RateLimiter {
        &self.inner.login_by_user
    }

    /// Page loads per client IP (in this process's memory, not the store).
    pub fn page_requests(&self) -> &RateLimiter {
        &self.inner.page_requests
    }

    /// Dynamic registrations per client IP.
    pub fn registrations(&self) -> &RateLimiter {
        &self.inner.registrations
    }

    /// The limits on client authentication at the machine endpoints.
    pub fn machine_limits(&self) -> &crate::machine::MachineLimits {
        &self.inner.machine
    }

    /// The resolver of URL client ids (Client ID Metadata Documents), when enabled.
    pub fn client_metadata(&self) -> Option<&authstore::oauth::cimd::ClientMetadataResolver> {
        self.inner.client_metadata.as_ref()
    }

    /// The metrics.
    pub fn metrics(&self) -> &Metrics {
        &self.inner.metrics
    }

    /// The request's client IP, seen through [`Settings::trusted_proxies`].
    pub fn client_ip(&self, parts: &Parts) -> Option<ClientIp> {
        ClientIp::from_parts(parts, &self.inner.settings.trusted_proxies)
    }

    /// The rate-limit key of the request's client IP (IPv6 by /64), or
    /// `ip:unknown` when the server was not given the peer address.
    pub fn client_ip_key(&self, parts: &Parts) -> String {
        self.client_ip(parts)
            .map_or_else(|| "ip:unknown".to_owned(), |ip| ip.key(Some(64)))
    }

    /// The security event log.
    pub fn audit_log(&self) -> &ServerAudit {
        &self.inner.audit
    }

    /// Records a security event (see [`ServerAudit`]); never fails.
    pub async fn audit(&self, event: AuditEvent) {
        let _ = self.inner.audit.record(event).await;
    }

    /// The settings.
    pub fn settings(&self) -> &Settings {
        &self.inner.settings
    }
}
