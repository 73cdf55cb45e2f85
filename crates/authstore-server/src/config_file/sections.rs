//! The sections and entries of the config file as written, with the checks and mapping that concern one section alone.

use std::time::Duration;

use authstore::oauth::GrantType;
use serde::Deserialize;

use crate::config_error::{ConfigError, bad};
use crate::duration::{ConfigDuration, SecretTtl};
use crate::settings::Settings;

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
    pub(super) fn apply(&self, s: &mut Settings) -> Result<(), ConfigError> {
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
        env: crate::config_error::Env<'_>,
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

/// `[sessions]`: how long a sign-in lasts.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SessionsSection {
    /// A session unused for this long ends (default 30 minutes).
    pub idle_timeout: Option<ConfigDuration>,
    /// A session ends this long after the sign-in, however much it is used (default 7 days).
    pub absolute_lifetime: Option<ConfigDuration>,
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
    pub(super) fn max_age(&self) -> Result<Option<Duration>, ConfigError> {
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

/// One `[[users]]` entry.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawUser {
    pub(crate) name: String,
    pub(crate) user_id: Option<String>,
    pub(crate) password: Option<String>,
    pub(crate) password_env: Option<String>,
}

/// One `[[clients]]` entry.
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
    pub(crate) id_token_alg: Option<String>,
}
