//! The TOML config file as written ([`ConfigFile`]), durations like `"90d"`, and its mapping onto [`Settings`].

#[cfg(test)]
mod client_metadata_tests;
mod sections;
mod values;

use serde::Deserialize;

use crate::config_error::{ConfigError, bad};
use crate::duration::ConfigDuration;
use crate::settings::Settings;

use crate::urls::is_loopback_url;
pub(crate) use sections::{
    HashingSection, HttpSection, IntrospectionSection, KeyRotation, KeysSection, LockoutSection,
    OpenIdSection, RateLimitsSection, RegistrationSection, ResourceServerEntry, SessionsSection,
    TokensSection,
};
pub(crate) use sections::{RawClient, RawUser};
use values::{at_least_one, check_issuer_path, check_url, positive, rate, set, signing_alg};
pub(crate) use values::{forwarded_header, trusted_proxies};

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
    /// The SHA-256 (64 hex digits) of the admin API's bearer token; the API
    /// is served on `admin_listen` only (`authstore admin-token` makes one).
    pub admin_token_sha256: Option<String>,
    /// Also open the admin API to access tokens with the `admin` scope that
    /// clients the operator created got by `client_credentials`.
    pub admin_clients: Option<bool>,
    /// Proxies whose forwarding header is believed (CIDR blocks or addresses).
    pub trusted_proxies: Option<Vec<String>>,
    /// The header the trusted proxies write: `"x-forwarded-for"` (default) or `"forwarded"` (RFC 7239).
    pub forwarded_header: Option<String>,
    /// How long security events are kept in the store.
    pub audit_retention: Option<ConfigDuration>,
    /// How often `serve` removes expired entries and index members (`"0s"`: never).
    pub cleanup_interval: Option<ConfigDuration>,
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
    /// `[sessions]`.
    #[serde(default)]
    pub sessions: SessionsSection,
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
    /// `[pages]`: product name, logo, accent colour, templates.
    #[serde(default)]
    pub pages: crate::branding::PagesSection,
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
        s.pages = self.pages.resolve(warnings).map_err(ConfigError)?;
        set(&mut s.dev_cookies, self.dev_cookies);
        set(&mut s.openid, self.openid.enabled);
        set(&mut s.registration, self.registration.enabled);
        if let Some(ttl) = self.registration.secret_ttl {
            s.registered_secret_ttl = ttl.0;
        }
        self.registration.apply(&mut s)?;
        for (key, value, field) in [
            ("consent_ttl", self.consent_ttl, &mut s.consent_ttl),
            (
                "audit_retention",
                self.audit_retention,
                &mut s.audit_retention,
            ),
        ] {
            set(field, positive(key, value)?);
        }
        if let Some(every) = self.cleanup_interval {
            s.cleanup_interval = (!every.0.is_zero()).then_some(every.0);
        }
        if let Some(proxies) = &self.trusted_proxies {
            s.trusted_proxies = trusted_proxies("trusted_proxies", proxies)?;
        }
        if let Some(header) = &self.forwarded_header {
            s.trusted_proxies = s
                .trusted_proxies
                .with_header(forwarded_header("forwarded_header", header)?);
        }
        let limits = &self.rate_limits;
        for (key, value, field, period_ms) in [
            (
                "rate_limits.logins_per_minute",
                limits.logins_per_minute,
                &mut s.logins_per_minute,
                60_000,
            ),
            (
                "rate_limits.registrations_per_hour",
                limits.registrations_per_hour,
                &mut s.registrations_per_hour,
                3_600_000,
            ),
            (
                "rate_limits.page_requests_per_minute",
                limits.page_requests_per_minute,
                &mut s.page_requests_per_minute,
                60_000,
            ),
        ] {
            set(field, rate(key, value, period_ms)?);
        }
        let t = &self.tokens;
        for (key, value, field) in [
            ("tokens.code_ttl", t.code_ttl, &mut s.oauth.code_ttl),
            (
                "tokens.code_tombstone_ttl",
                t.code_tombstone_ttl,
                &mut s.oauth.code_tombstone_ttl,
            ),
            (
                "tokens.access_token_ttl",
                t.access_token_ttl,
                &mut s.oauth.access_token_ttl,
            ),
            (
                "tokens.refresh_token_ttl",
                t.refresh_token_ttl,
                &mut s.oauth.refresh_token_ttl,
            ),
        ] {
            set(field, positive(key, value)?);
        }
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
        for (key, value, field) in [
            (
                "sessions.idle_timeout",
                self.sessions.idle_timeout,
                &mut s.sessions.idle_timeout,
            ),
            (
                "sessions.absolute_lifetime",
                self.sessions.absolute_lifetime,
                &mut s.sessions.absolute_lifetime,
            ),
        ] {
            set(field, positive(key, value)?);
        }
        if s.sessions.idle_timeout > s.sessions.absolute_lifetime {
            return bad("sessions.idle_timeout must not be longer than sessions.absolute_lifetime");
        }
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
        for (key, value, field) in [
            (
                "rate_limits.machine_requests_per_minute",
                limits.machine_requests_per_minute,
                &mut s.machine_requests_per_minute,
            ),
            (
                "rate_limits.secret_checks_per_minute",
                limits.secret_checks_per_minute,
                &mut s.secret_checks_per_minute,
            ),
            (
                "rate_limits.secret_checks_per_ip_per_minute",
                limits.secret_checks_per_ip_per_minute,
                &mut s.secret_checks_per_ip_per_minute,
            ),
        ] {
            set(field, rate(key, value, 60_000)?.map(Some));
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
