//! What every command shares: [`Failure`] and its exit statuses, the `--store`/`--config` arguments, the config file, opening a store (redacted URL, the in-process warning), and the clap derive traits.

use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;

use authstore::Store;

pub(crate) use authstore::error_chain;
pub(crate) use clap::{Args, Subcommand, ValueEnum};

use crate::config::{self, ConfigError, ConfigFile};
use crate::provision::ProvisionError;

/// Why a command failed, and the exit status to report it with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// 2 for bad usage or configuration, 1 for everything else.
    pub code: u8,
    /// What to tell the operator (no secrets).
    pub message: String,
}

impl Failure {
    /// A configuration problem (exit status 2).
    pub fn config(message: impl Into<String>) -> Self {
        Self {
            code: 2,
            message: message.into(),
        }
    }

    /// A runtime failure (exit status 1).
    pub fn runtime(message: impl Into<String>) -> Self {
        Self {
            code: 1,
            message: message.into(),
        }
    }
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Failure {}

impl From<ConfigError> for Failure {
    fn from(error: ConfigError) -> Self {
        Self::config(error.0)
    }
}

impl From<ProvisionError> for Failure {
    fn from(error: ProvisionError) -> Self {
        match error {
            ProvisionError::Invalid(message) => Self::config(message),
            ProvisionError::Store(message) => Self::runtime(message),
        }
    }
}

/// Where the store is: shared by every subcommand.
#[derive(Debug, Clone, Args)]
pub struct StoreArgs {
    /// Store URL: memory://, redis://…, postgres://…, sqlite://PATH. Precedence:
    /// this flag, AUTHSTORE_STORE, the config file's `store`, REDIS_URL, DATABASE_URL, memory://.
    #[arg(long, value_name = "URL")]
    pub store: Option<String>,
    /// TOML config file.
    #[arg(long, value_name = "FILE", env = "AUTHSTORE_CONFIG")]
    pub config: Option<PathBuf>,
}

/// Loads `--config` if given.
///
/// # Errors
/// The file cannot be read or parsed.
pub(crate) fn load_config(args: &StoreArgs) -> Result<Option<ConfigFile>, Failure> {
    Ok(args.config.as_deref().map(config::load_file).transpose()?)
}

/// The store URL `--store`/`--config`/the environment name, as `serve`
/// resolves it, where it came from, and the config file.
pub(crate) fn resolve_store(
    args: &StoreArgs,
) -> Result<(String, &'static str, Option<ConfigFile>), Failure> {
    let file = load_config(args)?;
    let (url, source) =
        config::resolve_store(args.store.as_deref(), file.as_ref(), &config::process_env);
    Ok((url, source.as_str(), file))
}

/// `url` safe to log: the password in the user part and the values of
/// query parameters that look secret (`password`, `secret`, `token`, …) become `***`.
pub fn log_safe_url(url: &str) -> String {
    let redacted = authstore::redact_url(url);
    let Some((base, query)) = redacted.split_once('?') else {
        return redacted;
    };
    let query: Vec<String> = query
        .split('&')
        .map(|pair| match pair.split_once('=') {
            Some((key, _)) if is_secret_param(key) => format!("{key}=***"),
            _ => pair.to_owned(),
        })
        .collect();
    format!("{base}?{}", query.join("&"))
}

fn is_secret_param(key: &str) -> bool {
    let key = key.to_ascii_lowercase();
    ["pass", "secret", "token", "key", "credential"]
        .iter()
        .any(|s| key.contains(s))
}

/// Whether `store` lives only in this process: what is written to it is
/// gone when the process exits (the memory store, an in-memory SQLite database).
pub(crate) fn is_in_process(store: &dyn Store) -> bool {
    !store.capabilities().durable
}

/// What to tell the operator when the store opened lives only in this process.
#[derive(Debug, Clone, Copy)]
pub(crate) enum InProcess<'a> {
    /// Say nothing.
    Quiet,
    /// `user add`, `client add`: what they register is lost; `source` says where the URL came from.
    Registers(&'a str),
    /// A command that reads or writes the store's entries: it sees a new,
    /// empty store; `role` says where the URL came from (or which flag named it).
    Sees(&'a str),
    /// `migrate`'s source: it must be migrated from the process that holds it.
    MigrateSource,
}

impl InProcess<'_> {
    fn warn(self, safe: &str) {
        match self {
            Self::Quiet => {}
            Self::Registers(source) => eprintln!(
                "warning: the store is {safe} (from {source}), which lives only in this process: \
                 what this command writes is lost when it exits; pass --store with a persistent store"
            ),
            Self::Sees(role) => eprintln!(
                "warning: the store is {safe} ({role}): a memory store lives only in the process that \
                 opened it, so this command sees a new, empty one and what it writes is lost when it exits"
            ),
            Self::MigrateSource => eprintln!(
                "warning: the source {safe} is a memory store that this command opened empty: \
                 a memory store lives in the process that created it. Migrate it from that \
                 process with authstore::migrate::migrate (see docs/operations.md)."
            ),
        }
    }
}

/// The future of [`authstore::open`], boxed and type-erased.
type OpenFuture<'a> =
    Pin<Box<dyn Future<Output = Result<Arc<dyn Store>, authstore::OpenError>> + Send + 'a>>;

/// [`authstore::open`], boxed and type-erased. Opening a store nests the
/// backend's whole connection set-up (Redis Cluster and Sentinel discovery,
/// TLS, the PostgreSQL pool): held inline in a command's future, that
/// nesting made the future's layout too deep for the compiler in release
/// builds. Behind a `dyn` box, a command's future holds one pointer.
fn open_boxed(url: &str) -> OpenFuture<'_> {
    Box::pin(authstore::open(url))
}

/// Maps an error of [`authstore::open`] to an exit status: 2 for a bad
/// URL ([`is_configuration`](authstore::OpenError::is_configuration)), 1 otherwise.
fn open_failure(url: &str, error: &authstore::OpenError) -> Failure {
    let message = format!("cannot open store {url}: {}", error_chain(error));
    if error.is_configuration() {
        Failure::config(message)
    } else {
        Failure::runtime(message)
    }
}

/// A store opened by URL.
pub(crate) struct Opened {
    /// The store.
    pub store: Arc<dyn Store>,
    /// Its URL, redacted by [`log_safe_url`].
    pub safe: String,
    /// Whether it lives only in this process ([`is_in_process`]).
    pub in_process: bool,
}

/// Opens the store `url` names; when it lives only in this process, says
/// so as `in_process` asks.
///
/// # Errors
/// The store cannot be opened: exit status 2 for a bad URL, 1 otherwise;
/// the message names the store by its redacted URL.
pub(crate) async fn open_store(url: &str, in_process: InProcess<'_>) -> Result<Opened, Failure> {
    let safe = log_safe_url(url);
    let store = open_boxed(url).await.map_err(|e| open_failure(&safe, &e))?;
    let is_in_process = is_in_process(store.as_ref());
    if is_in_process {
        in_process.warn(&safe);
    }
    Ok(Opened {
        store,
        safe,
        in_process: is_in_process,
    })
}

/// The store and settings of `user add` and `client add`: the store
/// `--store`/`--config`/the environment name, and the hashing costs and
/// lifetimes of `--config` if given.
pub(crate) async fn open_for_admin(
    args: &StoreArgs,
) -> Result<(Arc<dyn Store>, crate::settings::Settings), Failure> {
    let (url, source, file) = resolve_store(args)?;
    let settings = config::admin_settings(file.as_ref())?;
    let opened = open_store(&url, InProcess::Registers(source)).await?;
    tracing::info!(store = %opened.safe, source, "store opened");
    Ok((opened.store, settings))
}

/// The server's state on the store and settings `args` name, for the
/// operator's actions (see [`crate::admin`]).
///
/// # Errors
/// As [`open_for_admin`]; invalid settings (exit status 2).
pub(crate) async fn admin_state(args: &StoreArgs) -> Result<crate::state::AppState, Failure> {
    let (store, settings) = open_for_admin(args).await?;
    crate::state::AppState::new(store, settings)
        .map_err(|e| Failure::config(format!("invalid settings: {}", error_chain(&e))))
}

/// Prints `value` as one line of JSON.
pub(crate) fn print_json(value: &impl serde::Serialize) {
    match serde_json::to_string(value) {
        Ok(text) => println!("{text}"),
        Err(e) => eprintln!("cannot print the result as JSON: {e}"),
    }
}

/// Opens the store `--store`/`--config`/the environment name, as `serve`
/// does; a store in this process is worth a warning.
pub(crate) async fn open_args(args: &StoreArgs) -> Result<Opened, Failure> {
    let (url, source, _) = resolve_store(args)?;
    open_store(&url, InProcess::Sees(source)).await
}

/// A date and time in UTC, `YYYY-MM-DD HH:MM:SS`, from unix seconds.
pub(crate) fn utc(secs: u64) -> String {
    let days = (secs / 86_400) as i64;
    let rest = secs % 86_400;
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02}",
        rest / 3600,
        rest % 3600 / 60,
        rest % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utc_dates() {
        assert_eq!(utc(0), "1970-01-01 00:00:00");
        assert_eq!(utc(951_782_400), "2000-02-29 00:00:00");
        assert_eq!(utc(1_795_400_000), "2026-11-23 02:13:20");
    }

    #[test]
    fn a_bad_url_is_a_configuration_failure_and_a_store_failure_a_runtime_one() {
        let bad = authstore::OpenError::UnknownScheme {
            scheme: "ftp".into(),
        };
        let failure = open_failure("ftp://x", &bad);
        assert_eq!(failure.code, 2);
        assert_eq!(
            failure.message,
            "cannot open store ftp://x: unknown store URL scheme \"ftp\""
        );
        let down = authstore::OpenError::from(authstore::Error::backend("redis", "refused"));
        let failure = open_failure("redis://h", &down);
        assert_eq!(failure.code, 1);
        assert_eq!(
            failure.message,
            "cannot open store redis://h: redis backend error: refused"
        );
    }
}
