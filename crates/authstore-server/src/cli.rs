//! The `authstore` command line: `serve`, `user add`, `client add`, `migrate`, `export`, `import`, `stats`, `health`, `cleanup`, `keys list|rotate`, their flags, and exit statuses (0 ok, 1 failure, 2 bad usage or configuration).

use std::future::Future;
use std::io::IsTerminal as _;
use std::path::PathBuf;
use std::pin::Pin;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};
use tracing_subscriber::EnvFilter;

use crate::config::{self, ConfigError, Overrides, ServeConfig};
use crate::config_file::ConfigFile;
use crate::provision::ProvisionError;

/// authstore's OAuth 2.1 authorization server and operations CLI.
#[derive(Debug, Parser)]
#[command(name = "authstore", version, propagate_version = true)]
pub struct Cli {
    /// Log line format (logs go to stderr; filter with RUST_LOG).
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text, env = "AUTHSTORE_LOG_FORMAT")]
    pub log_format: LogFormat,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the authorization server.
    Serve(ServeArgs),
    /// Manage users.
    #[command(subcommand)]
    User(UserCommand),
    /// Manage OAuth clients.
    #[command(subcommand)]
    Client(ClientCommand),
    /// Copy every live entry from one store to another (TTLs and indexes kept; idempotent).
    Migrate(MigrateArgs),
    /// Write a store's entries to a JSON-lines file (.zst: zstd-compressed).
    Export(ExportArgs),
    /// Load an export file into a store.
    Import(ImportArgs),
    /// Entries per namespace, size and hit rate.
    Stats(StatsArgs),
    /// Check that the store answers: exit status 0 or 1, and the latency.
    Health(HealthArgs),
    /// Purge expired entries and print how many.
    Cleanup(CleanupArgs),
    /// JWT signing keys: list them, rotate the current one.
    #[command(subcommand)]
    Keys(crate::keys_cmd::KeysCommand),
}

/// `authstore migrate`.
#[derive(Debug, Clone, Args)]
pub struct MigrateArgs {
    /// The store to read (never written). Also from AUTHSTORE_MIGRATE_FROM, which keeps a password out of `ps`.
    #[arg(
        long,
        value_name = "URL",
        env = "AUTHSTORE_MIGRATE_FROM",
        hide_env_values = true
    )]
    pub from: String,
    /// The store to write. Also from AUTHSTORE_MIGRATE_TO.
    #[arg(
        long,
        value_name = "URL",
        env = "AUTHSTORE_MIGRATE_TO",
        hide_env_values = true
    )]
    pub to: String,
    /// Entries read per page.
    #[arg(long, default_value_t = 1000, value_name = "N")]
    pub batch_size: usize,
    /// Batches of writes in flight at once (each page is split into this many).
    #[arg(long, default_value_t = 16, value_name = "N")]
    pub concurrency: usize,
    /// Only keys that start with this (one namespace, e.g. `session:`).
    #[arg(long, value_name = "PREFIX")]
    pub prefix: Option<String>,
    /// Count what would be copied; write nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Afterwards compare every entry (value, index keys, TTL) and fail on any difference.
    #[arg(long, conflicts_with = "dry_run")]
    pub verify: bool,
    /// Continue from the cursor an interrupted run printed.
    #[arg(long, value_name = "CURSOR")]
    pub resume_from: Option<String>,
    /// Replace entries the target holds with a different value (default: report them).
    #[arg(long)]
    pub overwrite: bool,
    /// Print the summary as JSON.
    #[arg(long)]
    pub json: bool,
}

/// `authstore export`.
#[derive(Debug, Clone, Args)]
pub struct ExportArgs {
    /// Store and config file.
    #[command(flatten)]
    pub store: StoreArgs,
    /// The file to write; a name ending in .zst is zstd-compressed.
    #[arg(long, value_name = "FILE")]
    pub out: PathBuf,
    /// Only keys that start with this.
    #[arg(long, value_name = "PREFIX")]
    pub prefix: Option<String>,
    /// Entries read per page.
    #[arg(long, default_value_t = 1000, value_name = "N")]
    pub batch_size: usize,
}

/// `authstore import`.
#[derive(Debug, Clone, Args)]
pub struct ImportArgs {
    /// Store and config file.
    #[command(flatten)]
    pub store: StoreArgs,
    /// The export file to read (.zst: zstd-compressed).
    #[arg(long = "in", value_name = "FILE")]
    pub input: PathBuf,
    /// Stop at the first bad line (default: skip it, count it, report its line number).
    #[arg(long)]
    pub strict: bool,
    /// Replace entries the store holds with a different value.
    #[arg(long)]
    pub overwrite: bool,
    /// Lines written per batch.
    #[arg(long, default_value_t = 1000, value_name = "N")]
    pub batch_size: usize,
    /// Batches of writes in flight at once (each page is split into this many).
    #[arg(long, default_value_t = 16, value_name = "N")]
    pub concurrency: usize,
    /// Print the summary as JSON.
    #[arg(long)]
    pub json: bool,
}

/// `authstore stats`.
#[derive(Debug, Clone, Args)]
pub struct StatsArgs {
    /// Store and config file.
    #[command(flatten)]
    pub store: StoreArgs,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// `authstore health`.
#[derive(Debug, Clone, Args)]
pub struct HealthArgs {
    /// Store and config file.
    #[command(flatten)]
    pub store: StoreArgs,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// `authstore cleanup`.
#[derive(Debug, Clone, Args)]
pub struct CleanupArgs {
    /// Store and config file.
    #[command(flatten)]
    pub store: StoreArgs,
    /// Entries purged per call.
    #[arg(long, default_value_t = 10_000, value_name = "N")]
    pub batch_size: usize,
}

impl Command {
    /// The log filter when `RUST_LOG` is unset: `info` for the server, `warn` for one-shot commands.
    pub fn default_log_filter(&self) -> &'static str {
        match self {
            Self::Serve(_) => "info",
            _ => "warn",
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

/// `authstore serve`.
#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    /// Store and config file.
    #[command(flatten)]
    pub store: StoreArgs,
    /// Address to listen on (env AUTHSTORE_LISTEN; default 127.0.0.1:8080).
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<String>,
    /// Issuer URL (env AUTHSTORE_ISSUER; default http:// and the listen address).
    #[arg(long, value_name = "URL")]
    pub issuer: Option<String>,
    /// How long in-flight requests may finish after SIGTERM/SIGINT (e.g. 10s; default 30s).
    #[arg(long, value_name = "DURATION", value_parser = config::parse_duration)]
    pub shutdown_timeout: Option<Duration>,
}

/// `authstore user …`.
#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Register a user (the password is read from standard input, never from the command line).
    Add(UserAddArgs),
}

/// `authstore user add`.
#[derive(Debug, Clone, Args)]
pub struct UserAddArgs {
    /// Login name.
    pub name: String,
    /// Read the password from the first line of standard input (required).
    #[arg(long, required = true)]
    pub password_stdin: bool,
    /// The user's stable id, the OAuth subject (default: random).
    #[arg(long, value_name = "ID")]
    pub user_id: Option<String>,
    /// Print the result as JSON.
    #[arg(long)]
    pub json: bool,
    /// Store and config file.
    #[command(flatten)]
    pub store: StoreArgs,
}

/// `authstore client …`.
#[derive(Debug, Subcommand)]
pub enum ClientCommand {
    /// Register an OAuth client and print its client_id (and secret, once).
    Add(ClientAddArgs),
}

/// A grant type, by its RFC name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum GrantArg {
    /// `authorization_code` (with PKCE).
    #[value(name = "authorization_code")]
    AuthorizationCode,
    /// `refresh_token`.
    #[value(name = "refresh_token")]
    RefreshToken,
    /// `client_credentials` (confidential clients).
    #[value(name = "client_credentials")]
    ClientCredentials,
}

/// How a confidential client authenticates at the token endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum AuthMethodArg {
    /// HTTP Basic.
    #[value(name = "client_secret_basic")]
    ClientSecretBasic,
    /// In the form body.
    #[value(name = "client_secret_post")]
    ClientSecretPost,
}

/// `authstore client add`.
#[derive(Debug, Clone, Args)]
pub struct ClientAddArgs {
    /// Display name (shown on the consent page).
    #[arg(long)]
    pub name: String,
    /// A redirect URI (repeatable): https, loopback http, or a private-use scheme.
    #[arg(long = "redirect-uri", value_name = "URI")]
    pub redirect_uris: Vec<String>,
    /// A public client (no secret: native and browser apps).
    #[arg(long)]
    pub public: bool,
    /// A scope the client may request (repeatable, or space-separated).
    #[arg(long = "scope", value_name = "SCOPE")]
    pub scopes: Vec<String>,
    /// A grant type, repeatable (default: authorization_code and refresh_token, plus client_credentials if confidential).
    #[arg(long = "grant-type", value_enum, value_name = "GRANT")]
    pub grant_types: Vec<GrantArg>,
    /// How a confidential client authenticates.
    #[arg(long, value_enum, default_value_t = AuthMethodArg::ClientSecretBasic, conflicts_with = "public")]
    pub auth_method: AuthMethodArg,
    /// Lifetime of the secret, e.g. 90d (default: no expiry).
    #[arg(long, value_name = "DURATION", value_parser = config::parse_duration, conflicts_with = "public")]
    pub secret_ttl: Option<Duration>,
    /// The algorithm of the client's ID tokens: RS256, ES256 or EdDSA
    /// (default: `[tokens] id_token_alg`, RS256 unless configured).
    #[arg(long, value_name = "ALG")]
    pub id_token_alg: Option<authstore::oauth::SigningAlg>,
    /// Print the result as JSON.
    #[arg(long)]
    pub json: bool,
    /// Store and config file.
    #[command(flatten)]
    pub store: StoreArgs,
}

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

/// Loads `--config` if given.
///
/// # Errors
/// The file cannot be read or parsed.
pub fn load_config(args: &StoreArgs) -> Result<Option<ConfigFile>, Failure> {
    Ok(args.config.as_deref().map(config::load_file).transpose()?)
}

/// A command's future, boxed and type-erased (not `Send`: `export` and
/// `import` hold their files across awaits; `main` blocks on it).
type CommandFuture = Pin<Box<dyn Future<Output = Result<(), Failure>>>>;

/// Runs a subcommand.
///
/// # Errors
/// A [`Failure`] carrying the exit status.
pub async fn run(command: Command) -> Result<(), Failure> {
    dispatch(command)?.await
}

/// Each command's future, boxed behind `dyn Future`: nested in one
/// concrete type, they made its layout (and the drop glue the binary
/// instantiates for it) too deep for the compiler in release builds. Behind
/// the box, [`run`]'s future holds one pointer whatever the command.
fn dispatch(command: Command) -> Result<CommandFuture, Failure> {
    Ok(match command {
        Command::Serve(args) => {
            let file = load_config(&args.store)?;
            let flags = Overrides {
                store: args.store.store,
                listen: args.listen,
                issuer: args.issuer,
                shutdown_timeout: args.shutdown_timeout,
            };
            let config = ServeConfig::resolve(&flags, file.as_ref(), &config::process_env)?;
            Box::pin(async move {
                crate::keys_cmd::check_at_start(&config).await?;
                crate::serve::run(config).await
            })
        }
        Command::User(UserCommand::Add(args)) => Box::pin(crate::admin::user_add(args)),
        Command::Client(ClientCommand::Add(args)) => Box::pin(crate::admin::client_add(args)),
        Command::Migrate(args) => Box::pin(crate::ops::run_migrate(args)),
        Command::Export(args) => Box::pin(crate::ops::run_export(args)),
        Command::Import(args) => Box::pin(crate::ops::run_import(args)),
        Command::Stats(args) => Box::pin(crate::ops::stats(args)),
        Command::Health(args) => Box::pin(crate::ops::health(args)),
        Command::Cleanup(args) => Box::pin(crate::ops::cleanup(args)),
        Command::Keys(command) => Box::pin(crate::keys_cmd::run(command)),
    })
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines (coloured on a terminal).
    #[default]
    Text,
    /// One JSON object per line, fields at the top level.
    Json,
}

/// Installs the global subscriber. `RUST_LOG` (e.g. `info,authstore_server::access=warn`)
/// overrides `default_filter`; an invalid `RUST_LOG` is reported and ignored.
/// Logs go to stderr, so standard output stays for command results.
/// Does nothing if a subscriber is already installed.
pub fn init_logging(format: LogFormat, default_filter: &str) {
    let filter = match std::env::var("RUST_LOG") {
        Ok(spec) if !spec.trim().is_empty() => EnvFilter::try_new(&spec).unwrap_or_else(|e| {
            eprintln!("warning: ignoring invalid RUST_LOG {spec:?}: {e}");
            EnvFilter::new(default_filter)
        }),
        _ => EnvFilter::new(default_filter),
    };
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Text => builder
            .with_ansi(std::io::stderr().is_terminal())
            .try_init(),
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .try_init(),
    };
}
