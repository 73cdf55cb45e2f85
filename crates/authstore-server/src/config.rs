//! Configuration: the TOML file, `AUTHSTORE_*` / `REDIS_URL` / `DATABASE_URL` environment and CLI flags, resolved into a [`ServeConfig`].

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use crate::config_file::{RawClient, RawUser};
use crate::state::Settings;

pub use crate::config_file::ConfigFile;
pub use crate::duration::{ConfigDuration, SecretTtl, parse_duration};

/// The store URL when nothing else names one.
pub const DEFAULT_STORE: &str = "memory://";
/// The listen address when nothing else names one.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";
/// How long in-flight requests may drain after SIGTERM/SIGINT by default.
pub const DEFAULT_SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(30);

/// A configuration problem: the process exits with status 2 and this message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError(pub String);

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ConfigError {}

pub(crate) fn bad<T>(message: impl Into<String>) -> Result<T, ConfigError> {
    Err(ConfigError(message.into()))
}

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

/// An environment lookup: `std::env::var` in the binary, a map in tests.
pub type Env<'a> = &'a dyn Fn(&str) -> Option<String>;

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
            .field("secret", &self.secret.as_ref().map(|_| "[redacted]"))
            .finish()
    }
}

/// Everything `authstore serve` needs, resolved from flags, environment and file.
#[derive(Debug, Clone)]
pub struct ServeConfig {
    /// The store URL (may hold a password: log it through [`crate::serve::log_safe_url`]).
    pub store: String,
    /// Where the store URL came from.
    pub store_source: StoreSource,
    /// The address to listen on.
    pub listen: SocketAddr,
    /// How long in-flight requests may drain on shutdown.
    pub shutdown_timeout: Duration,
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
        let settings = file_or_empty.settings(issuer, &mut warnings)?;
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
            settings,
            users,
            clients,
            issuer_defaulted,
            warnings,
        })
    }
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
            Ok(ClientSpec {
                name: client.name.trim().to_owned(),
                client_id: client.client_id.clone(),
                redirect_uris: client.redirect_uris.clone(),
                scopes: client.scopes.clone(),
                grant_types,
                public: client.public,
                secret,
            })
        })
        .collect()
}
