//! The PostgreSQL backend (feature `postgres`).
//!
//! ```no_run
//! # async fn demo() -> authstore::Result<()> {
//! use authstore::{PostgresStore, PutOptions, Store};
//! let store = PostgresStore::connect("postgres://app@db/app?table_prefix=auth_").await?;
//! store.put("session:1", br#"{"user":42}"#, PutOptions::new()).await?;
//! # Ok(()) }
//! ```
//!
//! Client: tokio-postgres with a deadpool-postgres pool, chosen over sqlx for
//! speed: it is the leanest async PostgreSQL client (binary protocol,
//! pipelining, typed prepared statements cached per connection), and on a
//! host with few cores client CPU is a large share of each round trip.
//! SQLite uses rusqlite; both run the same statements (see
//! `docs/ARCHITECTURE.md`).
//!
//! Every operation is one autocommit statement, so it is atomic without
//! explicit transactions; serialization failures and deadlocks are retried
//! up to three times. Expiry is judged by the injected clock, passed to each
//! statement as a parameter; the database's `now()` is never used.

mod driver;
mod tls;

use std::time::Duration;

use deadpool_postgres::{ManagerConfig, Pool, RecyclingMethod, Runtime};
use tokio_postgres::config::SslMode;

use crate::error::{Error, Result};
use crate::sql::{Driver, SqlStore, SqlStoreBuilder, Tables};
use crate::store::Store;
use driver::PgExecutor;

const BACKEND: &str = "postgres";

/// The PostgreSQL [`Driver`] of [`SqlStore`].
#[derive(Debug, Clone, Copy)]
pub enum Postgres {}

impl Driver for Postgres {}

impl crate::sql::sealed::Sealed for Postgres {
    const NAME: &'static str = BACKEND;
    type Options = PgOptions;
}

/// A [`Store`] on PostgreSQL. Cloning is cheap; clones share the pool.
///
/// Tables (created by embedded migrations, at connect unless disabled):
/// `{table_prefix}entries` holds one row per entry — the value in `value`
/// (bytea), `value_json` (json, verbatim) or `counter` (bigint), plus
/// `version`, `expires_at` (ms since the epoch, indexed) and `index_keys`
/// (`text[]`, GIN-indexed).
pub type PostgresStore = SqlStore<Postgres>;

/// Builds a [`PostgresStore`]: the settings of every SQL store plus the
/// PostgreSQL ones below.
pub type PostgresStoreBuilder = SqlStoreBuilder<Postgres>;

impl SqlStore<Postgres> {
    /// Connects to `url` with default settings (see [`PostgresStoreBuilder::url`]).
    ///
    /// # Errors
    /// As [`PostgresStoreBuilder::connect`].
    pub async fn connect(url: &str) -> Result<Self> {
        Self::builder().url(url).connect().await
    }
}

mod options {
    //! The settings only this driver has: public in a private module, as the sealed [`Driver`](crate::sql::Driver) names them.

    use std::time::Duration;

    /// The settings only a PostgreSQL store has.
    #[derive(Debug, Clone)]
    pub struct PgOptions {
        pub(super) url: Option<String>,
        pub(super) schema: Option<String>,
        pub(super) pool_size: usize,
        pub(super) connect_timeout: Duration,
        pub(super) command_timeout: Duration,
        pub(super) tls_root_cert: Option<Vec<u8>>,
    }

    impl Default for PgOptions {
        fn default() -> Self {
            Self {
                url: None,
                schema: None,
                pool_size: 16,
                connect_timeout: Duration::from_secs(5),
                command_timeout: Duration::from_secs(10),
                tls_root_cert: None,
            }
        }
    }
}
use options::PgOptions;

impl SqlStoreBuilder<Postgres> {
    /// The server URL, libpq style: `postgres://user:pass@host:port/db?sslmode=require`.
    ///
    /// authstore's own settings may be given as query parameters too:
    /// `prefix`, `schema`, `table_prefix`, `pool_size`, `connect_timeout`
    /// (seconds), `command_timeout_ms`, `migrate` (`true`/`false`),
    /// `sweep_interval_ms` (0 disables), `sweep_batch`, `max_value_size`,
    /// `sslrootcert` (a PEM file). `sslmode` is `disable`, `prefer` (the
    /// default), `require`, `verify-ca` or `verify-full`, with libpq's
    /// meanings: only `verify-ca` and `verify-full` (or `require` with
    /// `sslrootcert`) check the certificate, and only `verify-full` the host
    /// name. Use `verify-full` in production.
    pub fn url(mut self, url: &str) -> Self {
        self.options.url = Some(url.to_owned());
        self
    }

    /// A schema for the tables, created if missing (default: the search path).
    pub fn schema(mut self, schema: impl Into<String>) -> Self {
        self.options.schema = Some(schema.into());
        self
    }

    /// Most connections the pool opens (default 16).
    pub fn pool_size(mut self, size: usize) -> Self {
        self.options.pool_size = size.max(1);
        self
    }

    /// Longest wait to open a connection or get one from the pool (default 5 s).
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.options.connect_timeout = timeout;
        self
    }

    /// Longest time one operation may take, waiting for a connection included (default 10 s).
    pub fn command_timeout(mut self, timeout: Duration) -> Self {
        self.options.command_timeout = timeout;
        self
    }

    /// A PEM root certificate to trust for TLS instead of the system roots.
    pub fn tls_root_cert(mut self, pem: impl Into<Vec<u8>>) -> Self {
        self.options.tls_root_cert = Some(pem.into());
        self
    }

    /// Opens the pool, checks the server answers, migrates (unless disabled)
    /// and starts the sweeper. Needs a tokio runtime.
    ///
    /// # Errors
    /// [`Error::InvalidUrl`] for a bad URL or parameter, [`Error::InvalidArgument`]
    /// for a bad schema or table prefix, backend errors if the server cannot be reached.
    pub async fn connect(mut self) -> Result<PostgresStore> {
        let url = self.options.url.clone().ok_or_else(|| Error::InvalidUrl {
            url: String::new(),
            reason: "no PostgreSQL URL given".into(),
        })?;
        let (pg_config, verify) = self.apply_url(&url)?;
        let tables = Tables::new(self.options.schema.as_deref(), &self.common.table_prefix)?;
        let manager = match pg_config.get_ssl_mode() {
            SslMode::Disable => deadpool_postgres::Manager::from_config(
                pg_config,
                tokio_postgres::NoTls,
                manager_config(),
            ),
            _ => deadpool_postgres::Manager::from_config(
                pg_config,
                tls::connector(verify, self.options.tls_root_cert.as_deref())?,
                manager_config(),
            ),
        };
        let pool = Pool::builder(manager)
            .max_size(self.options.pool_size)
            .runtime(Runtime::Tokio1)
            // Waiting for a free connection is bounded by the command timeout.
            .wait_timeout(None)
            .create_timeout(Some(self.options.connect_timeout))
            .recycle_timeout(Some(self.options.connect_timeout))
            .build()
            .map_err(|e| Error::backend(BACKEND, e))?;
        let executor = PgExecutor::new(
            pool,
            tables,
            self.options.schema.clone(),
            self.options.command_timeout,
            self.options.connect_timeout,
        );
        let migrate = self.common.settings.migrate_on_open;
        let store = SqlStore::open(executor, true, self.common.clock, self.common.settings).await?;
        if !migrate {
            let health = store.health().await;
            if !health.ok {
                return Err(Error::backend(
                    BACKEND,
                    health
                        .detail
                        .unwrap_or_else(|| "server did not answer".into()),
                ));
            }
        }
        Ok(store)
    }

    /// Takes authstore's parameters out of `url` and parses the rest with tokio-postgres.
    fn apply_url(&mut self, url: &str) -> Result<(tokio_postgres::Config, tls::Verify)> {
        let bad = |reason: String| Error::InvalidUrl {
            url: crate::url_redact::redact_url(url),
            reason,
        };
        let mut parsed = url::Url::parse(url).map_err(|e| bad(e.to_string()))?;
        if !matches!(parsed.scheme(), "postgres" | "postgresql") {
            return Err(bad("the scheme must be postgres:// or postgresql://".into()));
        }
        let mut passthrough = Vec::new();
        let (mut ssl_mode, mut verify) = (SslMode::Prefer, tls::Verify::Nothing);
        for (name, value) in parsed.query_pairs() {
            if self.common.apply_param(&name, &value).map_err(bad)? {
                continue;
            }
            let number = || -> Result<u64> {
                value
                    .parse()
                    .map_err(|_| bad(format!("{name} must be a whole number")))
            };
            match &*name {
                "schema" => self.options.schema = Some(value.to_string()),
                "pool_size" => {
                    self.options.pool_size =
                        usize::try_from(number()?).unwrap_or(usize::MAX).max(1);
                }
                "connect_timeout" => self.options.connect_timeout = Duration::from_secs(number()?),
                "command_timeout_ms" => {
                    self.options.command_timeout = Duration::from_millis(number()?)
                }
                "sslrootcert" => {
                    let pem = std::fs::read(&*value)
                        .map_err(|e| bad(format!("sslrootcert {value}: {e}")))?;
                    self.options.tls_root_cert = Some(pem);
                }
                "sslmode" => {
                    (ssl_mode, verify) = tls::parse_sslmode(&value)
                        .ok_or_else(|| bad(format!("unknown sslmode {value:?}")))?;
                }
                _ => passthrough.push((name.into_owned(), value.into_owned())),
            }
        }
        parsed.set_query(None);
        if !passthrough.is_empty() {
            parsed.query_pairs_mut().extend_pairs(passthrough);
        }
        let mut config: tokio_postgres::Config = parsed
            .as_str()
            .parse()
            .map_err(|e: tokio_postgres::Error| bad(e.to_string()))?;
        config.ssl_mode(ssl_mode);
        config.connect_timeout(self.options.connect_timeout);
        if config.get_application_name().is_none() {
            config.application_name("authstore");
        }
        Ok((config, verify))
    }
}

fn manager_config() -> ManagerConfig {
    ManagerConfig {
        // A client whose connection died is dropped on return; no ping per checkout.
        recycling_method: RecyclingMethod::Fast,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_parameters_configure_the_store_and_the_rest_reaches_tokio_postgres() {
        let mut b = PostgresStore::builder();
        let (cfg, verify) = b
            .apply_url("postgres://app:pw@db.example:6543/auth?sslmode=disable&table_prefix=t_&schema=s&pool_size=4&prefix=p:&sweep_interval_ms=0&application_name=web")
            .unwrap();
        assert_eq!(
            (cfg.get_ssl_mode(), verify),
            (SslMode::Disable, tls::Verify::Nothing)
        );
        assert_eq!(
            (
                b.common.table_prefix.as_str(),
                b.options.schema.as_deref(),
                b.options.pool_size
            ),
            ("t_", Some("s"), 4)
        );
        assert_eq!(b.common.settings.prefix, "p:");
        assert_eq!(b.common.settings.sweep_interval, None);
        assert_eq!(cfg.get_dbname(), Some("auth"));
        assert_eq!(cfg.get_ports(), &[6543]);
        assert_eq!(cfg.get_application_name(), Some("web"));
    }

    #[test]
    fn bad_urls_are_typed_errors_without_the_password() {
        let mut b = PostgresStore::builder();
        for url in [
            "postgres://u:secret@h/db?sslmode=sometimes",
            "postgres://u:secret@h/db?pool_size=many",
            "mysql://u:secret@h/db",
        ] {
            match b.apply_url(url) {
                Err(Error::InvalidUrl { url, .. }) => assert!(!url.contains("secret"), "{url}"),
                other => panic!("{url}: {other:?}"),
            }
        }
    }
}
