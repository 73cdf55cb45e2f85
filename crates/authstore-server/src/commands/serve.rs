//! `authstore serve`: resolve the configuration from flags, environment and file, check the signing keys, and run the server.

use std::time::Duration;

use crate::command_prelude::*;
use crate::config::{self, Overrides, ServeConfig};

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

/// `authstore serve`.
///
/// # Errors
/// A [`Failure`] with exit status 2 for configuration problems, 1 for the rest.
pub(crate) async fn exec(args: ServeArgs) -> Result<(), Failure> {
    let file = load_config(&args.store)?;
    let flags = Overrides {
        store: args.store.store,
        listen: args.listen,
        issuer: args.issuer,
        shutdown_timeout: args.shutdown_timeout,
    };
    let config = ServeConfig::resolve(&flags, file.as_ref(), &config::process_env)?;
    crate::signing_keys::check_at_start(&config).await?;
    crate::serve::run(config).await
}
