//! [`Settings`]: what the server is configured to do, from the CLI or the config file.

use std::time::Duration;

use authstore::credentials::CredentialsConfig;
use authstore::oauth::OAuthConfig;
use authstore::session::SessionConfig;
use authstore_axum::TrustedProxies;

/// The default [`Settings::cleanup_interval`].
pub(crate) const DEFAULT_CLEANUP_INTERVAL: Duration = Duration::from_secs(300);

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
    /// Sign-in sessions: idle timeout and absolute lifetime (`[sessions]`).
    pub sessions: SessionConfig,
    /// How long security events are kept in the store.
    pub audit_retention: Duration,
    /// How often `serve` removes expired entries and the index members they
    /// leave behind (`cleanup_interval`); `None`: only `authstore cleanup` does.
    pub cleanup_interval: Option<Duration>,
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
    /// The SHA-256 of the bearer token that opens the admin API
    /// (`/admin/v1` on `admin_listen`); `None`: no admin API.
    pub admin_token_sha256: Option<[u8; 32]>,
    /// Whether the admin API also accepts an access token with the
    /// [`admin` scope](crate::admin_http::ADMIN_SCOPE) that a client created
    /// by the operator got for itself (`client_credentials`).
    pub admin_clients: bool,
    /// What the pages look like (`[pages]`).
    pub pages: crate::branding::PagesSettings,
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
            sessions: SessionConfig::default(),
            audit_retention: Duration::from_secs(90 * 24 * 3600),
            cleanup_interval: Some(DEFAULT_CLEANUP_INTERVAL),
            trusted_proxies: TrustedProxies::none(),
            introspection: crate::machine::IntrospectionPolicy::default(),
            machine_requests_per_minute: Some(600),
            secret_checks_per_minute: Some(60),
            secret_checks_per_ip_per_minute: Some(10),
            client_metadata: Some(Default::default()),
            admin_token_sha256: None,
            admin_clients: false,
            pages: crate::branding::PagesSettings::default(),
        }
    }
}

impl Settings {
    /// The path of [`Self::issuer`] (`/tenant` for `https://as.example/tenant`;
    /// empty for an issuer without one): every endpoint is served under it.
    pub fn issuer_path(&self) -> &str {
        crate::urls::issuer_path(&self.issuer)
    }

    /// Whether the admin API is served (on `admin_listen`): there is a way
    /// in, the admin token or [`Self::admin_clients`].
    pub fn admin_api(&self) -> bool {
        self.admin_token_sha256.is_some() || self.admin_clients
    }
}
