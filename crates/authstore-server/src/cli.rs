//! The `authstore` command line: `serve`, `user add|list|show|disable|enable|set-password|delete`, `client add|list|show|update|rotate-secret|delete`, `grant list|revoke`, `session list|revoke`, `audit`, `admin-token`, `openapi`, `migrate`, `export`, `import`, `stats`, `health`, `cleanup`, `keys list|rotate`, `completions`, `man`, their flags, and exit statuses (0 ok, 1 failure, 2 bad usage or configuration).

use std::future::Future;
use std::io::IsTerminal as _;
use std::pin::Pin;

use clap::{CommandFactory as _, Parser, Subcommand};
use tracing_subscriber::EnvFilter;

pub use crate::command_prelude::Failure;
use crate::commands::{
    admin_api, audit, cleanup, client, completions, export, grant, health, import, keys, migrate,
    serve, session, stats, user,
};

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
    Serve(serve::ServeArgs),
    /// Users: add, list, show, disable, enable, set a password, delete.
    #[command(subcommand)]
    User(user::UserCommand),
    /// OAuth clients: add, list, show, update, rotate a secret, delete.
    #[command(subcommand)]
    Client(client::ClientCommand),
    /// A user's or a client's grants: list them, revoke them with their tokens.
    #[command(subcommand)]
    Grant(grant::GrantCommand),
    /// A user's sign-in sessions: list them, end them.
    #[command(subcommand)]
    Session(session::SessionCommand),
    /// Security events kept in the store, by user, client, action and time.
    Audit(audit::AuditArgs),
    /// Draw a new admin API token and print it with the hash the server is configured with.
    AdminToken(admin_api::AdminTokenArgs),
    /// Print the admin API's OpenAPI 3.1 document.
    Openapi(admin_api::OpenApiArgs),
    /// Copy every live entry from one store to another (TTLs and indexes kept; idempotent).
    Migrate(migrate::MigrateArgs),
    /// Write a store's entries to a JSON-lines file (.zst: zstd-compressed).
    Export(export::ExportArgs),
    /// Load an export file into a store.
    Import(import::ImportArgs),
    /// Entries per namespace, size and hit rate.
    Stats(stats::StatsArgs),
    /// Check that the store answers: exit status 0 or 1, and the latency.
    Health(health::HealthArgs),
    /// Purge expired entries and print how many.
    Cleanup(cleanup::CleanupArgs),
    /// JWT signing keys: list them, rotate the current one.
    #[command(subcommand)]
    Keys(keys::KeysCommand),
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell) to stdout.
    Completions(completions::CompletionsArgs),
    /// Print the man page (roff) to stdout, or write every page into a directory.
    Man(completions::ManArgs),
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

/// A command's future, boxed and type-erased (not `Send`: `export` and
/// `import` hold their files across awaits; `main` blocks on it).
type CommandFuture = Pin<Box<dyn Future<Output = Result<(), Failure>>>>;

/// Runs a subcommand.
///
/// # Errors
/// A [`Failure`] carrying the exit status.
pub async fn run(command: Command) -> Result<(), Failure> {
    dispatch(command).await
}

/// Each command's future, boxed behind `dyn Future`: nested in one
/// concrete type, they made its layout (and the drop glue the binary
/// instantiates for it) too deep for the compiler in release builds. Behind
/// the box, [`run`]'s future holds one pointer whatever the command.
fn dispatch(command: Command) -> CommandFuture {
    match command {
        Command::Serve(args) => Box::pin(serve::exec(args)),
        Command::User(command) => Box::pin(user::exec(command)),
        Command::Client(command) => Box::pin(client::exec(command)),
        Command::Grant(command) => Box::pin(grant::exec(command)),
        Command::Session(command) => Box::pin(session::exec(command)),
        Command::Audit(args) => Box::pin(audit::exec(args)),
        Command::AdminToken(args) => Box::pin(async move { admin_api::admin_token(&args) }),
        Command::Openapi(args) => Box::pin(async move { admin_api::openapi(&args) }),
        Command::Migrate(args) => Box::pin(migrate::exec(args)),
        Command::Export(args) => Box::pin(export::exec(args)),
        Command::Import(args) => Box::pin(import::exec(args)),
        Command::Stats(args) => Box::pin(stats::exec(args)),
        Command::Health(args) => Box::pin(health::exec(args)),
        Command::Cleanup(args) => Box::pin(cleanup::exec(args)),
        Command::Keys(command) => Box::pin(keys::exec(command)),
        Command::Completions(args) => {
            Box::pin(async move { completions::completions(&args, Cli::command()) })
        }
        Command::Man(args) => Box::pin(async move { completions::man(&args, Cli::command()) }),
    }
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
