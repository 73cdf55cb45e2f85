//! [`SqlStore`]: the [`Store`](crate::Store) of the PostgreSQL and SQLite backends, written once over a [`Driver`].
//!
//! `PostgresStore` is `SqlStore<Postgres>` (feature `postgres`) and
//! `SqliteStore` is `SqlStore<Sqlite>` (feature `sqlite`). Both run the same
//! statements (see `docs/ARCHITECTURE.md`); only connecting differs, in the
//! driver-specific methods of [`SqlStoreBuilder`].
//!
//! Inside, a driver supplies an executor that runs a numbered statement
//! with parameters and returns rows of cells; every `Store` method is built
//! on that once.

mod builder;
pub(crate) mod codec;
mod dialect;
mod ops;
mod sweeper;

use std::fmt::Debug;
use std::marker::PhantomData;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use async_trait::async_trait;

pub use builder::SqlStoreBuilder;
pub(crate) use codec::{Cell, Param, Row};
pub(crate) use dialect::{
    Dialect, Q, Tables, migrations, migrations_table, named_statements, statement,
};

use crate::clock::SharedClock;
use crate::error::Result;

/// The database an [`SqlStore`] runs on: `Postgres` or `Sqlite`. Sealed:
/// only authstore's SQL backends implement it.
pub trait Driver: sealed::Sealed {}

pub(crate) mod sealed {
    //! What a [`Driver`](super::Driver) carries, hidden from other crates.

    /// Implemented by the driver types only.
    pub trait Sealed: Send + Sync + std::fmt::Debug + 'static {
        /// The backend name, as [`Capabilities::name`](crate::Capabilities::name) reports it.
        const NAME: &'static str;
        /// The builder settings only this driver has.
        type Options: Clone + Default + std::fmt::Debug + Send + Sync + 'static;
    }
}

/// Runs statements against one database. Each SQL backend has one.
#[async_trait]
pub(crate) trait Executor: Send + Sync + Debug + 'static {
    /// Runs `q` and returns its rows.
    async fn query(&self, q: Q, params: Vec<Param>) -> Result<Vec<Row>>;

    /// Runs `statements` in order in one transaction. If each returns at
    /// least one row, commits and returns their rows; otherwise rolls back
    /// at the first that returns none and gives its position.
    async fn transaction(
        &self,
        statements: Vec<(Q, Vec<Param>)>,
    ) -> Result<std::result::Result<Vec<Vec<Row>>, usize>>;

    /// Applies the migrations not yet recorded, in one transaction that holds
    /// a lock so concurrent openers apply each exactly once. Returns how many ran.
    async fn migrate(&self) -> Result<usize>;

    /// Every statement as `(name, SQL)`.
    fn statements(&self) -> Vec<(&'static str, &str)>;

    /// Where the tables are.
    fn tables(&self) -> &Tables;
}

/// Settings every SQL backend has.
#[derive(Debug, Clone)]
pub(crate) struct SqlSettings {
    pub(crate) prefix: String,
    pub(crate) max_value_size: usize,
    pub(crate) migrate_on_open: bool,
    /// `None` disables the background sweeper.
    pub(crate) sweep_interval: Option<Duration>,
    pub(crate) sweep_batch: usize,
}

impl Default for SqlSettings {
    fn default() -> Self {
        Self {
            prefix: String::new(),
            max_value_size: crate::key::DEFAULT_MAX_VALUE_SIZE,
            migrate_on_open: true,
            sweep_interval: Some(Duration::from_secs(60)),
            sweep_batch: 1000,
        }
    }
}

/// Operation counts of this process's stores on one database.
#[derive(Debug, Default)]
pub(crate) struct OpCounts {
    pub(crate) hits: AtomicU64,
    pub(crate) misses: AtomicU64,
    pub(crate) sets: AtomicU64,
    pub(crate) deletes: AtomicU64,
    pub(crate) expirations: AtomicU64,
}

impl OpCounts {
    pub(crate) fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }
}

/// What the stores of one database share: the executor, the clock, the
/// counts and the sweeper (stopped when the last store is dropped).
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) executor: Box<dyn Executor>,
    pub(crate) clock: SharedClock,
    pub(crate) counts: OpCounts,
    pub(crate) sweeper: parking_lot::Mutex<Option<tokio::task::JoinHandle<()>>>,
}

impl Drop for Shared {
    fn drop(&mut self) {
        if let Some(task) = self.sweeper.get_mut().take() {
            task.abort();
        }
    }
}

/// A [`Store`](crate::Store) on an SQL database; `D` is `Postgres` or
/// `Sqlite`. Cloning is cheap: clones share the connections, the clock and
/// the operation counts.
pub struct SqlStore<D: Driver> {
    shared: Arc<Shared>,
    prefix: Arc<str>,
    max_value_size: usize,
    /// Whether the database outlives the process (false for in-memory SQLite).
    durable: bool,
    driver: PhantomData<fn() -> D>,
}

impl<D: Driver> Clone for SqlStore<D> {
    fn clone(&self) -> Self {
        Self {
            shared: Arc::clone(&self.shared),
            prefix: Arc::clone(&self.prefix),
            max_value_size: self.max_value_size,
            durable: self.durable,
            driver: PhantomData,
        }
    }
}

impl<D: Driver> Debug for SqlStore<D> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqlStore")
            .field("driver", &D::NAME)
            .field("executor", &self.shared.executor)
            .field("prefix", &self.prefix)
            .field("max_value_size", &self.max_value_size)
            .field("durable", &self.durable)
            .finish_non_exhaustive()
    }
}

impl<D: Driver> SqlStore<D> {
    /// A builder; set at least where the database is (a URL, or for SQLite
    /// a path or `in_memory()`).
    pub fn builder() -> SqlStoreBuilder<D> {
        SqlStoreBuilder::default()
    }

    /// Wraps `executor`: migrates if asked, then starts the sweeper.
    pub(crate) async fn open(
        executor: impl Executor,
        durable: bool,
        clock: SharedClock,
        settings: SqlSettings,
    ) -> Result<Self> {
        crate::key::validate_prefix(&settings.prefix)?;
        if settings.migrate_on_open {
            executor.migrate().await?;
        }
        let shared = Arc::new(Shared {
            executor: Box::new(executor),
            clock,
            counts: OpCounts::default(),
            sweeper: parking_lot::Mutex::new(None),
        });
        if let Some(interval) = settings.sweep_interval {
            let task = sweeper::spawn(
                Arc::downgrade(&shared),
                interval,
                settings.sweep_batch.max(1),
            );
            *shared.sweeper.lock() = Some(task);
        }
        Ok(Self {
            shared,
            prefix: settings.prefix.into(),
            max_value_size: settings.max_value_size,
            durable,
            driver: PhantomData,
        })
    }

    /// A handle on the same database under another key prefix.
    ///
    /// # Errors
    /// [`Error::InvalidKey`](crate::Error::InvalidKey) for a prefix with
    /// control characters or over 512 bytes.
    pub fn with_prefix(&self, prefix: &str) -> Result<Self> {
        crate::key::validate_prefix(prefix)?;
        Ok(Self {
            prefix: prefix.into(),
            ..self.clone()
        })
    }

    /// Applies the embedded migrations not yet applied; returns how many ran.
    /// Safe to run concurrently from several processes.
    ///
    /// # Errors
    /// Database errors.
    pub async fn migrate(&self) -> Result<usize> {
        self.executor().migrate().await
    }

    /// Every statement this store runs, as `(name, SQL)`: for review by a
    /// DBA, `EXPLAIN`, or replaying with `pgbench`. Parameters are
    /// documented in `docs/ARCHITECTURE.md`.
    pub fn statements(&self) -> Vec<(&'static str, &str)> {
        self.executor().statements()
    }

    /// The (qualified) name of the entries table.
    pub fn entries_table(&self) -> &str {
        &self.executor().tables().entries
    }

    pub(crate) fn executor(&self) -> &dyn Executor {
        &*self.shared.executor
    }
}
