//! The TOML config file as written ([`ConfigFile`]), durations like `"90d"`, and its mapping onto [`Settings`].

use std::time::Duration;

use authstore::oauth::GrantType;
use serde::Deserialize;

use crate::config::{ConfigError, bad};
use crate::duration::{ConfigDuration, SecretTtl};
use crate::state::Settings;

/// The config file. Every key is optional; unknown keys are errors.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigFile {
    /// Store URL (`memory://`, `redis://…`, `postgres://…`, `sqlite://path`).
    pub store: Option<String>,
    /// Listen address, `IP:PORT`.
    pub listen: Option<String>,
    /// Issuer URL.
    pub issuer: Option<String>,
    /// The audience of tokens issued without a `resource`; without
    /// `[[resources]]`, the only resource accepted (with every scope).
    pub resource: Option<String>,
    /// `[[resources]]`: the resources (RFC 8707) tokens may be for, and their scopes.
    #[serde(default)]
    pub resources: Vec<crate::resources::ResourceEntry>,
    /// Serve RFC 9728 metadata for `resource` (off: the resource server serves it).
    pub serve_resource_metadata: Option<bool>,
    /// Scopes advertised.
    pub scopes_supported: Option<Vec<String>>,
    /// Cookies without `Secure` and `__Host-` (plain-http development only).
    pub dev_cookies: Option<bool>,
    /// How long a remembered consent lasts.
    pub consent_ttl: Option<ConfigDuration>,
    /// How long in-flight requests may drain on shutdown.
    pub shutdown_timeout: Option<ConfigDuration>,
    /// Where `/metrics` (and a copy of `/health`) are served instead of the main address, `IP:PORT`.
    pub admin_listen: Option<String>,
    /// Proxies whose forwarding header is believed (CIDR blocks or addresses).
    pub trusted_proxies: Option<Vec<String>>,
    /// The header the trusted proxies write: `"x-forwarded-for"` (default) or `"forwarded"` (RFC 7239).
    pub forwarded_header: Option<String>,
    /// How long security events are kept in the store.
    pub audit_retention: Option<ConfigDuration>,
    /// Rotate each signing key once it is this old (`"30d"` by default), or `"off"`.
    pub key_rotation: Option<KeyRotation>,
    /// `[http]`.
    #[serde(default)]
    pub http: HttpSection,
    /// `[registration]`.
    #[serde(default)]
    pub registration: RegistrationSection,
    /// `[rate_limits]`.
    #[serde(default)]
    pub rate_limits: RateLimitsSection,
    /// `[tokens]`.
    #[serde(default)]
    pub tokens: TokensSection,
    /// `[hashing]`.
    #[serde(default)]
    pub hashing: HashingSection,
    /// `[lockout]`.
    #[serde(default)]
    pub lockout: LockoutSection,
    /// `[keys]`.
    #[serde(default)]
    pub keys: KeysSection,
    /// `[client_metadata_documents]`: URL client ids (Client ID Metadata Documents).
    #[serde(default)]
    pub client_metadata_documents: crate::client_metadata::ClientMetadataSection,
    /// `[openid]`.
    #[serde(default)]
    pub openid: OpenIdSection,
    /// `[[users]]`.
    #[serde(default)]
    pub(crate) users: Vec<RawUser>,
    /// `[[clients]]`.
    #[serde(default)]
    pub(crate) clients: Vec<RawClient>,
    /// `[[resource_servers]]`: clients that may introspect their resource's tokens.
    #[serde(default)]
    pub resource_servers: Vec<ResourceServerEntry>,
    /// `[introspection]`.
    #[serde(default)]
    pub introspection: IntrospectionSection,
}

/// One `[[resource_servers]]` entry: `client_id` may introspect the access
/// tokens whose audience is `resource` (repeat the entry for more resources).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResourceServerEntry {
    /// The resource server's client id (an operator-provisioned confidential client).
    pub client_id: String,
    /// The resource (RFC 8707 audience) it serves.
    pub resource: String,
}

/// `[introspection]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IntrospectionSection {
    /// Client ids that may introspect every token.
    #[serde(default)]
    pub trusted: Vec<String>,
}

/// `[keys]`: the key-encryption key that encrypts the JWT signing keys at
/// rest (base64url of 32 bytes). `AUTHSTORE_KEY_ENCRYPTION_KEY` and
/// `AUTHSTORE_KEY_ENCRYPTION_KEY_FILE` take precedence.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeysSection {
    /// A file holding the key (owner-readable only).
    pub encryption_key_file: Option<std::path::PathBuf>,
    /// The name of an environment variable holding the key.
    pub encryption_key_env: Option<String>,
}

/// `[registration]`: dynamic client registration (RFC 7591).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegistrationSection {
    /// Whether `/register` is open.
    pub enabled: Option<bool>,
    /// Lifetime of registered clients' secrets: a duration, or `"never"`.
    pub secret_ttl: Option<SecretTtl>,
    /// How long a registered client lives after its registration or last use: a duration, or `"never"`.
    pub client_ttl: Option<SecretTtl>,
    /// The scopes a registered client may ask for (default: `scopes_supported`).
    pub scopes: Option<Vec<String>>,
    /// The environment variable holding an RFC 7591 initial access token.
    pub initial_access_token_env: Option<String>,
    /// SHA-256 (64 hex digits) of an RFC 7591 initial access token.
    pub initial_access_token_sha256: Option<String>,
    /// Whether registration needs an initial access token at all.
    pub require_initial_access_token: Option<bool>,
}

impl RegistrationSection {
    /// The registration policy keys but the environment variable (see
    /// [`initial_access_token_from_env`](Self::initial_access_token_from_env)).
    fn apply(&self, s: &mut Settings) -> Result<(), ConfigError> {
        if let Some(ttl) = self.client_ttl {
            s.registered_client_ttl = ttl.0;
        }
        if let Some(scopes) = &self.scopes {
            if let Some(bad_scope) = scopes.iter().find(|scope| {
                scope.is_empty()
                    || !scope
                        .bytes()
                        .all(|b| b.is_ascii_graphic() && b != b'"' && b != b'\\')
            }) {
                return bad(format!(
                    "registration.scopes: {bad_scope:?} is not a scope (printable ASCII without spaces, quotes or backslashes)"
                ));
            }
            s.registration_scopes = Some(scopes.clone());
        }
        if let Some(hex) = &self.initial_access_token_sha256 {
            s.registration_tokens
                .add_sha256_hex(hex)
                .map_err(|e| ConfigError(format!("registration.{e}")))?;
        }
        if let Some(require) = self.require_initial_access_token {
            s.registration_requires_token = require;
        }
        Ok(())
    }

    /// Adds the token named by `initial_access_token_env`, then checks that
    /// `require_initial_access_token` has a token to require.
    ///
    /// # Errors
    /// An unset variable, a short token, or a required token that is not configured.
    pub(crate) fn initial_access_token_from_env(
        &self,
        s: &mut Settings,
        env: crate::config::Env<'_>,
    ) -> Result<(), ConfigError> {
        if let Some(var) = &self.initial_access_token_env {
            let Some(token) = env(var) else {
                return bad(format!(
                    "registration.initial_access_token_env: environment variable {var} is not set or empty"
                ));
            };
            s.registration_tokens
                .add_token(&token)
                .map_err(|e| ConfigError(format!("registration.initial_access_token_env: {e}")))?;
        }
        if s.registration_requires_token && s.registration_tokens.is_empty() {
            return bad(
                "registration.require_initial_access_token needs initial_access_token_env or initial_access_token_sha256",
            );
        }
        Ok(())
    }
}

/// `[http]`: timeouts and limits of the HTTP edge.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpSection {
    /// How long a client may take to send a request's headers (also the keep-alive idle limit).
    pub header_read_timeout: Option<ConfigDuration>,
    /// How long a request may take until its response head.
    pub request_timeout: Option<ConfigDuration>,
    /// Connections open at once.
    pub max_connections: Option<u32>,
    /// Requests handled at once.
    pub max_concurrent_requests: Option<u32>,
}

/// `[rate_limits]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimitsSection {
    /// Login attempts per client IP, and per (user, client network), per minute.
    pub logins_per_minute: Option<u32>,
    /// Dynamic registrations per client IP per hour.
    pub registrations_per_hour: Option<u32>,
    /// Page loads (`GET /login`, `/authorize`, `/account`) per client IP per minute.
    pub page_requests_per_minute: Option<u32>,
    /// `/token`, `/revoke`, `/introspect` requests per client IP per minute
    /// not authenticated by a remembered client secret.
    pub machine_requests_per_minute: Option<u32>,
    /// argon2id checks of never-verified client secrets per client id per minute.
    pub secret_checks_per_minute: Option<u32>,
    /// The same per (client id, client IP) per minute.
    pub secret_checks_per_ip_per_minute: Option<u32>,
}

/// `[openid]`: OpenID Connect (ID tokens, `/userinfo`, OpenID discovery).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OpenIdSection {
    /// Whether OpenID Connect is on (default `true`).
    pub enabled: Option<bool>,
}

/// `[tokens]`: OAuth lifetimes.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokensSection {
    /// Authorization code lifetime.
    pub code_ttl: Option<ConfigDuration>,
    /// How long a redeemed code's tombstone catches reuse.
    pub code_tombstone_ttl: Option<ConfigDuration>,
    /// Access token lifetime.
    pub access_token_ttl: Option<ConfigDuration>,
    /// Refresh token lifetime.
    pub refresh_token_ttl: Option<ConfigDuration>,
    /// Retry window for a rotated refresh token (0 disables).
    pub refresh_grace: Option<ConfigDuration>,
    /// Access token format: `"opaque"` (the default) or `"jwt"` (RFC 9068).
    pub format: Option<String>,
    /// The algorithm of JWT access tokens: `"EdDSA"` (default), `"RS256"` or `"ES256"`.
    pub access_token_alg: Option<String>,
    /// The algorithm of ID tokens: `"RS256"` (default), `"ES256"` or `"EdDSA"`.
    pub id_token_alg: Option<String>,
}

/// `key_rotation`: a duration (whole seconds, or a string like `"30d"`), or `"off"`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(untagged)]
pub enum KeyRotation {
    /// Whole seconds.
    Seconds(u64),
    /// `"30d"`, `"12h"`, … or `"off"`.
    Text(String),
}

impl KeyRotation {
    /// The maximum age of a signing key; `None` for `"off"`.
    fn max_age(&self) -> Result<Option<Duration>, ConfigError> {
        let age = match self {
            Self::Text(text) if text.trim() == "off" => return Ok(None),
            Self::Seconds(secs) => Duration::from_secs(*secs),
            Self::Text(text) => crate::duration::parse_duration(text)
                .map_err(|e| ConfigError(format!("key_rotation: {e}, or \"off\"")))?,
        };
        if age < Duration::from_secs(3600) {
            return bad("key_rotation must be at least 1h (keys are checked hourly), or \"off\"");
        }
        Ok(Some(age))
    }
}

/// A `[tokens]` signing algorithm; `key` names it in errors.
fn signing_alg(
    key: &str,
    text: Option<&String>,
) -> Result<Option<authstore::oauth::SigningAlg>, ConfigError> {
    text.map(|t| t.parse().map_err(|e| ConfigError(format!("{key}: {e}"))))
        .transpose()
}

/// `[hashing]`: argon2id cost of passwords and client secrets.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HashingSection {
    /// Memory in KiB.
    pub memory_kib: Option<u32>,
    /// Passes.
    pub iterations: Option<u32>,
    /// How long a verified client secret is remembered in the process ("0s" disables).
    pub client_secret_cache: Option<ConfigDuration>,
    /// Client-secret checks that may wait for a core before more are refused with 503.
    pub max_waiting: Option<usize>,
}

/// `[lockout]`: password failure budget.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LockoutSection {
    /// Failures allowed in a burst.
    pub max_failures: Option<u32>,
    /// Time for one failure to be forgiven.
    pub failure_forgiven_after: Option<ConfigDuration>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawUser {
    pub(crate) name: String,
    pub(crate) user_id: Option<String>,
    pub(crate) password: Option<String>,
    pub(crate) password_env: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawClient {
    pub(crate) name: String,
    pub(crate) client_id: Option<String>,
    #[serde(default)]
    pub(crate) redirect_uris: Vec<String>,
    #[serde(default)]
    pub(crate) scopes: Vec<String>,
    pub(crate) grant_types: Option<Vec<GrantType>>,
    #[serde(default)]
    pub(crate) public: bool,
    pub(crate) secret: Option<String>,
    pub(crate) secret_env: Option<String>,
}

impl ConfigFile {
    /// Parses TOML text; `origin` names it in errors. Errors give the line and
    /// column but never echo the offending line (it may hold a secret).
    ///
    /// # Errors
    /// Syntax errors, unknown keys, wrong types.
    pub fn parse(text: &str, origin: &str) -> Result<Self, ConfigError> {
        toml::from_str(text).map_err(|e: toml::de::Error| {
            let at = e.span().map_or_else(String::new, |span| {
                let before = &text[..span.start.min(text.len())];
                let line = before.matches('\n').count() + 1;
                let column = before.len() - before.rfind('\n').map_or(0, |i| i + 1) + 1;
                format!(" (line {line}, column {column})")
            });
            ConfigError(format!(
                "invalid config file {origin}{at}: {}",
                hide_value(e.message().trim())
            ))
        })
    }

    /// The [`Settings`] this file describes, on top of the defaults.
    pub(crate) fn settings(
        &self,
        issuer: String,
        warnings: &mut Vec<String>,
    ) -> Result<Settings, ConfigError> {
        let issuer = issuer.trim_end_matches('/').to_owned();
        check_url("issuer", &issuer)?;
        check_issuer_path(&issuer)?;
        if issuer.starts_with("http://") && !is_loopback_url(&issuer) {
            warnings.push(format!(
                "issuer {issuer} is plain http: use https outside development"
            ));
        }
        let mut s = Settings {
            issuer,
            ..Settings::default()
        };
        if let Some(resource) = &self.resource {
            check_url("resource", resource)?;
        }
        crate::resources::apply(self.resource.as_deref(), &self.resources, &mut s)?;
        set(&mut s.serve_resource_metadata, self.serve_resource_metadata);
        if s.serve_resource_metadata {
            let Some(resource) = &s.resource else {
                return bad("serve_resource_metadata needs resource");
            };
            if authstore::oauth::resource::metadata_url(resource).is_err() {
                return bad(
                    "serve_resource_metadata needs resource to be an http(s) URL without query or fragment",
                );
            }
            crate::resources::check_metadata_paths(&s)?;
        }
        if let Some(scopes) = &self.scopes_supported {
            s.scopes_supported = scopes.clone();
        }
        set(&mut s.dev_cookies, self.dev_cookies);
        set(&mut s.openid, self.openid.enabled);
        set(&mut s.registration, self.registration.enabled);
        if let Some(ttl) = self.registration.secret_ttl {
            s.registered_secret_ttl = ttl.0;
        }
        self.registration.apply(&mut s)?;
        set(
            &mut s.consent_ttl,
            positive("consent_ttl", self.consent_ttl)?,
        );
        set(
            &mut s.audit_retention,
            positive("audit_retention", self.audit_retention)?,
        );
        if let Some(proxies) = &self.trusted_proxies {
            s.trusted_proxies = trusted_proxies("trusted_proxies", proxies)?;
        }
        if let Some(header) = &self.forwarded_header {
            s.trusted_proxies = s
                .trusted_proxies
                .with_header(forwarded_header("forwarded_header", header)?);
        }
        set(
            &mut s.logins_per_minute,
            at_least_one(
                "rate_limits.logins_per_minute",
                self.rate_limits.logins_per_minute,
            )?,
        );
        set(
            &mut s.registrations_per_hour,
            at_least_one(
                "rate_limits.registrations_per_hour",
                self.rate_limits.registrations_per_hour,
            )?,
        );
        set(
            &mut s.page_requests_per_minute,
            at_least_one(
                "rate_limits.page_requests_per_minute",
                self.rate_limits.page_requests_per_minute,
            )?,
        );
        let t = &self.tokens;
        set(
            &mut s.oauth.code_ttl,
            positive("tokens.code_ttl", t.code_ttl)?,
        );
        set(
            &mut s.oauth.code_tombstone_ttl,
            positive("tokens.code_tombstone_ttl", t.code_tombstone_ttl)?,
        );
        set(
            &mut s.oauth.access_token_ttl,
            positive("tokens.access_token_ttl", t.access_token_ttl)?,
        );
        set(
            &mut s.oauth.refresh_token_ttl,
            positive("tokens.refresh_token_ttl", t.refresh_token_ttl)?,
        );
        set(&mut s.oauth.refresh_grace, t.refresh_grace.map(|d| d.0));
        match t.format.as_deref() {
            None | Some("opaque") => {}
            Some("jwt") => s.jwt_access_tokens = true,
            Some(_) => return bad("tokens.format must be \"opaque\" or \"jwt\""),
        }
        set(
            &mut s.oauth.access_token_alg,
            signing_alg("tokens.access_token_alg", t.access_token_alg.as_ref())?,
        );
        set(
            &mut s.oauth.id_token_alg,
            signing_alg("tokens.id_token_alg", t.id_token_alg.as_ref())?,
        );
        if let Some(rotation) = &self.key_rotation {
            s.key_rotation = rotation.max_age()?;
        }
        if let Some(kib) = self.hashing.memory_kib {
            if !(8..=4 * 1024 * 1024).contains(&kib) {
                return bad("hashing.memory_kib must be between 8 and 4194304");
            }
            s.oauth.secret_hash_memory_kib = kib;
            s.credentials.memory_kib = kib;
        }
        if let Some(iterations) = at_least_one("hashing.iterations", self.hashing.iterations)? {
            s.oauth.secret_hash_iterations = iterations;
            s.credentials.iterations = iterations;
        }
        set(
            &mut s.oauth.secret_cache_ttl,
            self.hashing.client_secret_cache.map(|d| d.0),
        );
        set(
            &mut s.credentials.max_failures,
            at_least_one("lockout.max_failures", self.lockout.max_failures)?,
        );
        set(
            &mut s.credentials.failure_forgiven_after,
            positive(
                "lockout.failure_forgiven_after",
                self.lockout.failure_forgiven_after,
            )?,
        );
        self.machine_settings(&mut s)?;
        self.client_metadata_documents.apply(&mut s, warnings)?;
        Ok(s)
    }

    /// The machine endpoints' limits and introspection policy.
    fn machine_settings(&self, s: &mut Settings) -> Result<(), ConfigError> {
        let limits = &self.rate_limits;
        if let Some(n) = at_least_one(
            "rate_limits.machine_requests_per_minute",
            limits.machine_requests_per_minute,
        )? {
            s.machine_requests_per_minute = Some(n);
        }
        if let Some(n) = at_least_one(
            "rate_limits.secret_checks_per_minute",
            limits.secret_checks_per_minute,
        )? {
            s.secret_checks_per_minute = Some(n);
        }
        if let Some(n) = at_least_one(
            "rate_limits.secret_checks_per_ip_per_minute",
            limits.secret_checks_per_ip_per_minute,
        )? {
            s.secret_checks_per_ip_per_minute = Some(n);
        }
        set(
            &mut s.oauth.secret_hash_max_waiting,
            self.hashing.max_waiting,
        );
        for entry in &self.resource_servers {
            if entry.client_id.trim().is_empty() {
                return bad("resource_servers: client_id must not be empty");
            }
            check_url("resource_servers.resource", &entry.resource)?;
            s.introspection
                .resource_servers
                .entry(entry.client_id.clone())
                .or_default()
                .push(entry.resource.clone());
        }
        crate::resources::check_resource_servers(s)?;
        for id in &self.introspection.trusted {
            if id.trim().is_empty() {
                return bad("introspection.trusted: a client id must not be empty");
            }
            s.introspection.trusted.push(id.clone());
        }
        Ok(())
    }

    /// The [`HttpLimits`](crate::edge::HttpLimits) of `[http]`, on top of the defaults.
    pub(crate) fn http_limits(&self) -> Result<crate::edge::HttpLimits, ConfigError> {
        let mut limits = crate::edge::HttpLimits::default();
        let h = &self.http;
        set(
            &mut limits.header_read_timeout,
            positive("http.header_read_timeout", h.header_read_timeout)?,
        );
        set(
            &mut limits.request_timeout,
            positive("http.request_timeout", h.request_timeout)?,
        );
        set(
            &mut limits.max_connections,
            at_least_one("http.max_connections", h.max_connections)?.map(|n| n as usize),
        );
        set(
            &mut limits.max_concurrent_requests,
            at_least_one("http.max_concurrent_requests", h.max_concurrent_requests)?
                .map(|n| n as usize),
        );
        Ok(limits)
    }
}

/// Trusted proxies from CIDR blocks or addresses; `key` names the source in errors.
pub(crate) fn trusted_proxies(
    key: &str,
    texts: &[String],
) -> Result<authstore_axum::TrustedProxies, ConfigError> {
    let texts = texts.iter().map(|t| t.trim()).filter(|t| !t.is_empty());
    authstore_axum::TrustedProxies::parse(texts).map_err(|bad| {
        ConfigError(format!(
            "{key}: {bad:?} is not a CIDR block (10.0.0.0/8, 2001:db8::/32) or an IP address"
        ))
    })
}

/// `x-forwarded-for` or `forwarded`; `key` names the source in errors.
pub(crate) fn forwarded_header(
    key: &str,
    text: &str,
) -> Result<authstore_axum::ForwardedHeader, ConfigError> {
    text.parse().map_err(|_| {
        ConfigError(format!(
            "{key} must be \"x-forwarded-for\" or \"forwarded\""
        ))
    })
}

/// serde's "invalid type: string \"hunter2\", expected …" without the value, which may be a secret.
fn hide_value(message: &str) -> String {
    for prefix in ["invalid type: ", "invalid value: "] {
        if let Some(rest) = message.strip_prefix(prefix)
            && let Some((found, expected)) = rest.split_once(", expected ")
        {
            let kind = found.split([' ', '`', '"']).next().unwrap_or("value");
            return format!("{prefix}{kind}, expected {expected}");
        }
    }
    message.to_owned()
}

fn set<T>(field: &mut T, value: Option<T>) {
    if let Some(value) = value {
        *field = value;
    }
}

fn positive(key: &str, value: Option<ConfigDuration>) -> Result<Option<Duration>, ConfigError> {
    match value {
        Some(d) if d.0.is_zero() => bad(format!("{key} must be greater than zero")),
        other => Ok(other.map(|d| d.0)),
    }
}

fn at_least_one(key: &str, value: Option<u32>) -> Result<Option<u32>, ConfigError> {
    match value {
        Some(0) => bad(format!("{key} must be at least 1")),
        other => Ok(other),
    }
}

/// An absolute `http(s)://host…` URL without query or fragment.
fn check_url(key: &str, url: &str) -> Result<(), ConfigError> {
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"));
    let Some(rest) = rest else {
        return bad(format!(
            "{key} {url:?} must start with https:// (or http:// for development)"
        ));
    };
    if rest.is_empty() || rest.starts_with('/') {
        return bad(format!("{key} {url:?} has no host"));
    }
    if url.contains('#')
        || url.contains('?')
        || url.chars().any(|c| c.is_whitespace() || c.is_control())
    {
        return bad(format!(
            "{key} {url:?} must not have a query, fragment or spaces"
        ));
    }
    Ok(())
}

/// The issuer's path, under which every endpoint is served, must be plain
/// segments of unreserved characters (`/tenant`, `/auth/v1`).
fn check_issuer_path(issuer: &str) -> Result<(), ConfigError> {
    let path = crate::state::issuer_path(issuer);
    let plain = |segment: &str| {
        !segment.is_empty()
            && segment != "."
            && segment != ".."
            && segment
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'))
    };
    if path.is_empty() || path.split('/').skip(1).all(plain) {
        Ok(())
    } else {
        bad(format!(
            "issuer {issuer:?}: its path must be segments of letters, digits, '-', '.', '_' and '~'"
        ))
    }
}

pub(crate) fn is_loopback_url(url: &str) -> bool {
    let authority = url
        .trim_start_matches("http://")
        .split('/')
        .next()
        .unwrap_or("");
    let host = match authority.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or(""),
        None => authority.split(':').next().unwrap_or(""),
    };
    host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}
