//! Configuration: the TOML file, `AUTHSTORE_*` / `REDIS_URL` / `DATABASE_URL` environment and CLI flags, resolved into a [`ServeConfig`].

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use crate::config_error::bad;
use crate::config_file::{RawClient, RawUser};
use crate::settings::Settings;

pub use crate::config_error::{ConfigError, Env};
pub use crate::config_file::ConfigFile;
pub use crate::duration::{ConfigDuration, SecretTtl, parse_duration};

/// The store URL when nothing else names one.
pub const DEFAULT_STORE: &str = "memory://";
/// The listen address when nothing else names one.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";
/// How long in-flight requests may drain after SIGTERM/SIGINT by default.
pub const DEFAULT_SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(30);

/// Values given on the command line; each wins over every other source.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Overrides {
    /// `--store`.
    pub store: Option<String>,
    /// `--listen`.
    pub listen: Option<String>,
    /// `--issuer`.
    pub issuer: Option<String>,
    /// `--shutdown-timeout`.
    pub shutdown_timeout: Option<Duration>,
}

/// Where the store URL came from (for the start-up log).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreSource {
    /// `--store`.
    Flag,
    /// `AUTHSTORE_STORE`.
    AuthstoreEnv,
    /// `store =` in the config file.
    ConfigFile,
    /// `REDIS_URL`.
    RedisUrl,
    /// `DATABASE_URL`.
    DatabaseUrl,
    /// Nothing named a store: [`DEFAULT_STORE`].
    Default,
}

impl StoreSource {
    /// A short name for logs.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Flag => "--store",
            Self::AuthstoreEnv => "AUTHSTORE_STORE",
            Self::ConfigFile => "config file",
            Self::RedisUrl => "REDIS_URL",
            Self::DatabaseUrl => "DATABASE_URL",
            Self::Default => "default",
        }
    }
}

/// The process environment, with empty variables taken as unset.
pub fn process_env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

/// Loads a config file.
///
/// # Errors
/// The file cannot be read, is not TOML, or has unknown keys or wrong types.
pub fn load_file(path: &Path) -> Result<ConfigFile, ConfigError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| ConfigError(format!("cannot read config file {}: {e}", path.display())))?;
    ConfigFile::parse(&text, &path.display().to_string())
}

/// The store URL: `--store` > `AUTHSTORE_STORE` > config `store` > `REDIS_URL` > `DATABASE_URL` > `memory://`.
pub fn resolve_store(
    flag: Option<&str>,
    file: Option<&ConfigFile>,
    env: Env<'_>,
) -> (String, StoreSource) {
    let flag = flag
        .filter(|s| !s.is_empty())
        .map(|s| (s.to_owned(), StoreSource::Flag));
    flag.or_else(|| env("AUTHSTORE_STORE").map(|s| (s, StoreSource::AuthstoreEnv)))
        .or_else(|| {
            file.and_then(|f| f.store.clone())
                .map(|s| (s, StoreSource::ConfigFile))
        })
        .or_else(|| env("REDIS_URL").map(|s| (s, StoreSource::RedisUrl)))
        .or_else(|| env("DATABASE_URL").map(|s| (s, StoreSource::DatabaseUrl)))
        .unwrap_or_else(|| (DEFAULT_STORE.to_owned(), StoreSource::Default))
}

/// A user to provision at start.
#[derive(Clone, PartialEq, Eq)]
pub struct UserSpec {
    /// Login name.
    pub name: String,
    /// Stable user id (the OAuth subject); a random one when `None`.
    pub user_id: Option<String>,
    /// The password (from `password` or the `password_env` variable).
    pub password: String,
}

impl std::fmt::Debug for UserSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UserSpec")
            .field("name", &self.name)
            .field("user_id", &self.user_id)
            .field("password", &"[redacted]")
            .finish()
    }
}

/// An OAuth client to provision at start.
#[derive(Clone, PartialEq, Eq)]
pub struct ClientSpec {
    /// Display name; also what makes a provisioned client "the same" across restarts.
    pub name: String,
    /// A fixed client id, if configured.
    pub client_id: Option<String>,
    /// Redirect URIs.
    pub redirect_uris: Vec<String>,
    /// Scopes it may request.
    pub scopes: Vec<String>,
    /// Grant types.
    pub grant_types: Vec<authstore::oauth::GrantType>,
    /// A public client (no secret).
    pub public: bool,
    /// The secret of a confidential client (from `secret` or `secret_env`).
    pub secret: Option<String>,
    /// The algorithm of its ID tokens (`id_token_alg`; `None`: `[tokens] id_token_alg`).
    pub id_token_alg: Option<authstore::oauth::SigningAlg>,
}

impl std::fmt::Debug for ClientSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientSpec")
            .field("name", &self.name)
            .field("client_id", &self.client_id)
            .field("redirect_uris", &self.redirect_uris)
            .field("scopes", &self.scopes)
            .field("grant_types", &self.grant_types)
            .field("public", &self.public)
            .field("id_token_alg", &self.id_token_alg)
            .field("secret", &self.secret.as_ref().map(|_| "[redacted]"))
            .finish()
    }
}

/// Everything `authstore serve` needs, resolved from flags, environment and file.
#[derive(Debug, Clone)]
pub struct ServeConfig {
    /// The store URL (may hold a password: log it redacted).
    pub store: String,
    /// Where the store URL came from.
    pub store_source: StoreSource,
    /// The address to listen on.
    pub listen: SocketAddr,
    /// How long in-flight requests may drain on shutdown.
    pub shutdown_timeout: Duration,
    /// Where `/metrics` and a copy of `/health` are served instead of the
    /// main address (`admin_listen`, `AUTHSTORE_ADMIN_LISTEN`).
    pub admin_listen: Option<SocketAddr>,
    /// Timeouts and limits of the HTTP edge (`[http]`).
    pub http: crate::edge::HttpLimits,
    /// The server settings.
    pub settings: Settings,
    /// Users to provision.
    pub users: Vec<UserSpec>,
    /// Clients to provision.
    pub clients: Vec<ClientSpec>,
    /// Whether the issuer is the default `http://<listen>` (then `serve`
    /// sets it from the bound address, so port 0 gives a usable issuer).
    pub issuer_defaulted: bool,
    /// Things worth a warning in the start-up log.
    pub warnings: Vec<String>,
}

impl ServeConfig {
    /// Resolves the serve configuration. Precedence, highest first: CLI flag,
    /// `AUTHSTORE_*` variable, config file, then (store only) `REDIS_URL`,
    /// `DATABASE_URL`, then the defaults.
    ///
    /// # Errors
    /// Any invalid value, or a `*_env` variable that is unset.
    pub fn resolve(
        flags: &Overrides,
        file: Option<&ConfigFile>,
        env: Env<'_>,
    ) -> Result<Self, ConfigError> {
        let empty = ConfigFile::default();
        let file_or_empty = file.unwrap_or(&empty);
        let (store, store_source) = resolve_store(flags.store.as_deref(), file, env);
        let listen_text = flags
            .listen
            .clone()
            .or_else(|| env("AUTHSTORE_LISTEN"))
            .or_else(|| file_or_empty.listen.clone())
            .unwrap_or_else(|| DEFAULT_LISTEN.to_owned());
        let listen: SocketAddr = listen_text.parse().map_err(|_| {
            ConfigError(format!(
                "invalid listen address {listen_text:?}: expected IP:PORT, e.g. 127.0.0.1:8080"
            ))
        })?;
        let mut warnings = Vec::new();
        let explicit_issuer = flags
            .issuer
            .clone()
            .or_else(|| env("AUTHSTORE_ISSUER"))
            .or_else(|| file_or_empty.issuer.clone());
        let issuer_defaulted = explicit_issuer.is_none();
        let issuer = match explicit_issuer {
            Some(issuer) => issuer,
            None => {
                if listen.ip().is_unspecified() {
                    warnings.push(format!(
                        "no issuer configured: using http://{listen}, which clients cannot reach; set --issuer or AUTHSTORE_ISSUER"
                    ));
                }
                format!("http://{listen}")
            }
        };
        let mut settings = file_or_empty.settings(issuer, &mut warnings)?;
        settings.oauth.key_encryption_key = key_encryption_key(file, env, &mut warnings)?;
        check_key_encryption(
            &mut settings,
            &store,
            file_or_empty.openid.enabled == Some(true),
            &mut warnings,
        )?;
        file_or_empty
            .registration
            .initial_access_token_from_env(&mut settings, env)?;
        if let Some(proxies) = env("AUTHSTORE_TRUSTED_PROXIES") {
            let header = settings.trusted_proxies.header();
            let texts: Vec<String> = proxies.split(',').map(str::to_owned).collect();
            settings.trusted_proxies =
                crate::config_file::trusted_proxies("AUTHSTORE_TRUSTED_PROXIES", &texts)?
                    .with_header(header);
        }
        if let Some(secret) = env("AUTHSTORE_FORM_SECRET") {
            let ring = authstore::csrf::KeyRing::new().with_key("f1", secret.as_bytes());
            settings.form_keys = Some(ring.map_err(|_| {
                ConfigError("AUTHSTORE_FORM_SECRET must be at least 32 bytes".into())
            })?);
        }
        if let Some(text) = env("AUTHSTORE_FORWARDED_HEADER") {
            let header = crate::config_file::forwarded_header("AUTHSTORE_FORWARDED_HEADER", &text)?;
            settings.trusted_proxies = settings.trusted_proxies.with_header(header);
        }
        let admin_listen = env("AUTHSTORE_ADMIN_LISTEN")
            .map(|text| ("AUTHSTORE_ADMIN_LISTEN", text))
            .or_else(|| {
                file_or_empty
                    .admin_listen
                    .clone()
                    .map(|text| ("admin_listen", text))
            })
            .map(|(key, text)| {
                text.parse::<SocketAddr>().map_err(|_| {
                    ConfigError(format!(
                        "{key}: invalid address {text:?}: expected IP:PORT, e.g. 127.0.0.1:9090"
                    ))
                })
            })
            .transpose()?;
        settings.admin_token_sha256 = admin_token_hash(file_or_empty, env)?;
        settings.admin_clients = match env(ADMIN_CLIENTS_ENV) {
            Some(text) => parse_bool(&text).ok_or_else(|| {
                ConfigError(format!(
                    "{ADMIN_CLIENTS_ENV}: expected true or false, not {text:?}"
                ))
            })?,
            None => file_or_empty.admin_clients.unwrap_or(false),
        };
        if settings.admin_api() && admin_listen.is_none() {
            let key = if settings.admin_token_sha256.is_some() {
                "admin_token_sha256"
            } else {
                "admin_clients"
            };
            return Err(ConfigError(format!(
                "{key} is set but admin_listen is not: the admin API is served only on \
                 the admin address; set admin_listen (AUTHSTORE_ADMIN_LISTEN) to a private IP:PORT"
            )));
        }
        let http = file_or_empty.http_limits()?;
        let shutdown_timeout = flags
            .shutdown_timeout
            .or(file_or_empty.shutdown_timeout.map(|d| d.0))
            .unwrap_or(DEFAULT_SHUTDOWN_TIMEOUT);
        let users = resolve_users(&file_or_empty.users, env)?;
        let clients = resolve_clients(&file_or_empty.clients, env)?;
        Ok(Self {
            store,
            store_source,
            listen,
            shutdown_timeout,
            admin_listen,
            http,
            settings,
            users,
            clients,
            issuer_defaulted,
            warnings,
        })
    }
}

/// The environment variable holding the admin API token's SHA-256 (64 hex digits).
pub const ADMIN_TOKEN_ENV: &str = "AUTHSTORE_ADMIN_TOKEN_SHA256";

/// The environment variable that turns on [`Settings::admin_clients`](crate::Settings::admin_clients) (`true` or `false`).
pub const ADMIN_CLIENTS_ENV: &str = "AUTHSTORE_ADMIN_CLIENTS";

fn parse_bool(text: &str) -> Option<bool> {
    match text.trim().to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" => Some(true),
        "false" | "0" | "no" | "off" => Some(false),
        _ => None,
    }
}

/// The admin API token's SHA-256 from [`ADMIN_TOKEN_ENV`] or the file's
/// `admin_token_sha256`.
fn admin_token_hash(file: &ConfigFile, env: Env<'_>) -> Result<Option<[u8; 32]>, ConfigError> {
    let Some((key, text)) = env(ADMIN_TOKEN_ENV)
        .map(|text| (ADMIN_TOKEN_ENV, text))
        .or_else(|| {
            file.admin_token_sha256
                .clone()
                .map(|text| ("admin_token_sha256", text))
        })
    else {
        return Ok(None);
    };
    parse_sha256_hex(text.trim()).map(Some).ok_or_else(|| {
        ConfigError(format!(
            "{key}: expected the SHA-256 of the admin token as 64 hex digits \
             (`authstore admin-token` prints a token and its hash)"
        ))
    })
}

/// 64 hex digits as 32 bytes.
pub(crate) fn parse_sha256_hex(text: &str) -> Option<[u8; 32]> {
    if text.len() != 64 || !text.is_ascii() {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&text[2 * i..2 * i + 2], 16).ok()?;
    }
    Some(out)
}

/// The environment variable holding the key-encryption key (base64url of 32 bytes).
pub const KEK_ENV: &str = "AUTHSTORE_KEY_ENCRYPTION_KEY";
/// The environment variable naming a file that holds the key-encryption key.
pub const KEK_FILE_ENV: &str = "AUTHSTORE_KEY_ENCRYPTION_KEY_FILE";

/// The key-encryption key of the JWT signing keys, first found of:
/// `AUTHSTORE_KEY_ENCRYPTION_KEY`, the file `AUTHSTORE_KEY_ENCRYPTION_KEY_FILE`
/// names, the config file's `[keys] encryption_key_file` or
/// `encryption_key_env` (not both). A key file others may read is worth a warning.
///
/// # Errors
/// A key that is not the base64url of 32 bytes (the message never shows
/// it), an unreadable file, or a named variable that is unset.
pub fn key_encryption_key(
    file: Option<&ConfigFile>,
    env: Env<'_>,
    warnings: &mut Vec<String>,
) -> Result<Option<authstore::oauth::KeyEncryptionKey>, ConfigError> {
    use authstore::oauth::KeyEncryptionKey;
    let parse = |origin: &str, text: &str| {
        KeyEncryptionKey::from_base64url(text).map_err(|e| ConfigError(format!("{origin}: {e}")))
    };
    let read = |origin: &str, path: &Path, warnings: &mut Vec<String>| {
        let text = std::fs::read_to_string(path).map_err(|e| {
            ConfigError(format!(
                "{origin}: cannot read the key-encryption key file {}: {e}",
                path.display()
            ))
        })?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            if let Ok(meta) = std::fs::metadata(path)
                && meta.permissions().mode() & 0o077 != 0
            {
                warnings.push(format!(
                    "the key-encryption key file {} is readable by others (mode {:o}): chmod 600 it",
                    path.display(),
                    meta.permissions().mode() & 0o777
                ));
            }
        }
        parse(origin, &text)
    };
    if let Some(text) = env(KEK_ENV) {
        return parse(KEK_ENV, &text).map(Some);
    }
    if let Some(path) = env(KEK_FILE_ENV) {
        return read(KEK_FILE_ENV, Path::new(&path), warnings).map(Some);
    }
    let Some(keys) = file.map(|f| &f.keys) else {
        return Ok(None);
    };
    match (&keys.encryption_key_file, &keys.encryption_key_env) {
        (Some(_), Some(_)) => {
            bad("[keys]: give encryption_key_file or encryption_key_env, not both")
        }
        (Some(path), None) => read("[keys] encryption_key_file", path, warnings).map(Some),
        (None, Some(var)) => match env(var) {
            Some(text) => parse(&format!("[keys] encryption_key_env ({var})"), &text).map(Some),
            None => bad(format!(
                "[keys] encryption_key_env: environment variable {var} is not set or empty"
            )),
        },
        (None, None) => Ok(None),
    }
}

/// Whether `url` names a store that lives only in this process, judged
/// from the URL alone, before the store is opened (an opened store is
/// judged by the command layer's `is_in_process`, which asks this too).
pub(crate) fn is_in_process_store(url: &str) -> bool {
    url.starts_with("memory:") || url.trim() == "sqlite::memory:"
}

/// Signing keys are never kept in clear in a persistent store. JWT access
/// tokens sign from the first token, so they need a key-encryption key at
/// start; so does OpenID Connect switched on explicitly (`[openid] enabled
/// = true`). OpenID Connect on by default is switched off instead, with a
/// warning: `openid` is then not advertised and no ID token is promised
/// that could not be signed, while OAuth keeps working.
fn check_key_encryption(
    settings: &mut Settings,
    store: &str,
    openid_explicit: bool,
    warnings: &mut Vec<String>,
) -> Result<(), ConfigError> {
    let persistent = !is_in_process_store(store);
    settings.oauth.require_key_encryption = persistent;
    if !persistent || settings.oauth.key_encryption_key.is_some() {
        return Ok(());
    }
    let how = format!(
        "set {KEK_ENV} to the base64url of 32 random bytes (e.g. `openssl rand 32 | basenc \
         --base64url | tr -d =`), or {KEK_FILE_ENV} or [keys] encryption_key_file to a file \
         holding it"
    );
    if settings.jwt_access_tokens {
        return bad(format!(
            "tokens.format = \"jwt\" on a persistent store needs a key-encryption key for the \
             signing keys: {how}"
        ));
    }
    if settings.openid && openid_explicit {
        return bad(format!(
            "[openid] enabled = true on a persistent store needs a key-encryption key for the \
             ID-token signing keys: {how}"
        ));
    }
    if settings.openid {
        settings.openid = false;
        warnings.push(format!(
            "OpenID Connect is off: its ID-token signing keys are never stored in clear on a \
             persistent store, and no key-encryption key is configured; {how}"
        ));
    }
    Ok(())
}

/// The settings an admin command (`user add`, `client add`) uses: hashing costs and lifetimes from the file, if any.
///
/// # Errors
/// Invalid values in the file.
pub fn admin_settings(file: Option<&ConfigFile>) -> Result<Settings, ConfigError> {
    let issuer = format!("http://{DEFAULT_LISTEN}");
    file.map_or_else(
        || Ok(Settings::default()),
        |f| f.settings(issuer, &mut Vec::new()),
    )
}

fn secret_from(
    what: &str,
    inline: &Option<String>,
    var: &Option<String>,
    env: Env<'_>,
) -> Result<Option<String>, ConfigError> {
    match (inline, var) {
        (Some(_), Some(_)) => bad(format!(
            "{what}: give the secret inline or by *_env, not both"
        )),
        (Some(value), None) if value.is_empty() => bad(format!("{what}: the secret is empty")),
        (Some(value), None) => Ok(Some(value.clone())),
        (None, Some(var)) => match env(var) {
            Some(value) => Ok(Some(value)),
            None => bad(format!(
                "{what}: environment variable {var} is not set or empty"
            )),
        },
        (None, None) => Ok(None),
    }
}

fn resolve_users(raw: &[RawUser], env: Env<'_>) -> Result<Vec<UserSpec>, ConfigError> {
    let mut seen = std::collections::HashSet::new();
    raw.iter()
        .enumerate()
        .map(|(i, user)| {
            let what = format!("[[users]] #{} ({:?})", i + 1, user.name);
            let name = user.name.trim();
            if name.is_empty() {
                return bad(format!("{what}: name must not be empty"));
            }
            if !seen.insert(name.to_lowercase()) {
                return bad(format!("{what}: duplicate user name"));
            }
            if user
                .user_id
                .as_deref()
                .is_some_and(|id| id.trim().is_empty())
            {
                return bad(format!("{what}: user_id must not be empty"));
            }
            let Some(password) = secret_from(&what, &user.password, &user.password_env, env)?
            else {
                return bad(format!("{what}: needs password or password_env"));
            };
            Ok(UserSpec {
                name: name.to_owned(),
                user_id: user.user_id.clone(),
                password,
            })
        })
        .collect()
}

fn resolve_clients(raw: &[RawClient], env: Env<'_>) -> Result<Vec<ClientSpec>, ConfigError> {
    use authstore::oauth::GrantType;
    let mut names = std::collections::HashSet::new();
    let mut ids = std::collections::HashSet::new();
    raw.iter()
        .enumerate()
        .map(|(i, client)| {
            let what = format!("[[clients]] #{} ({:?})", i + 1, client.name);
            if client.name.trim().is_empty() {
                return bad(format!("{what}: name must not be empty"));
            }
            if !names.insert(client.name.trim().to_owned()) {
                return bad(format!("{what}: duplicate client name"));
            }
            if let Some(id) = &client.client_id {
                if id.is_empty() || id.len() > 128 || id.chars().any(|c| c.is_control() || c == ' ') {
                    return bad(format!("{what}: client_id must be 1 to 128 printable characters without spaces"));
                }
                if !ids.insert(id.clone()) {
                    return bad(format!("{what}: duplicate client_id"));
                }
            }
            let secret = secret_from(&what, &client.secret, &client.secret_env, env)?;
            match (client.public, &secret) {
                (true, Some(_)) => return bad(format!("{what}: a public client has no secret")),
                (false, None) => return bad(format!("{what}: a confidential client needs secret or secret_env (or set public = true)")),
                _ => {}
            }
            let grant_types = client.grant_types.clone().unwrap_or_else(|| {
                if client.public {
                    vec![GrantType::AuthorizationCode, GrantType::RefreshToken]
                } else {
                    vec![GrantType::AuthorizationCode, GrantType::RefreshToken, GrantType::ClientCredentials]
                }
            });
            let id_token_alg = client
                .id_token_alg
                .as_deref()
                .map(|alg| alg.parse().map_err(|e| ConfigError(format!("{what}: id_token_alg: {e}"))))
                .transpose()?;
            Ok(ClientSpec {
                name: client.name.trim().to_owned(),
                client_id: client.client_id.clone(),
                redirect_uris: client.redirect_uris.clone(),
                scopes: client.scopes.clone(),
                grant_types,
                public: client.public,
                secret,
                id_token_alg,
            })
        })
        .collect()
}
