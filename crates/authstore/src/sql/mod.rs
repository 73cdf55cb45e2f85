//! What the PostgreSQL and SQLite backends share: statements, schema, value encoding and every `Store` method.
//!
//! A backend only supplies a [`Driver`] that runs a numbered statement ([`Q`])
//! with [`Param`]s and returns [`Row`]s of [`Cell`]s; [`SqlStore`] implements
//! the whole [`Store`](crate::Store) contract on top of it once.

mod codec;
mod dialect;
mod ops;
mod sweeper;

use std::fmt::Debug;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use async_trait::async_trait;

pub(crate) use codec::{Cell, Param, Row};
pub(crate) use dialect::{Dialect, Q, Tables, migrations, migrations_table, statement};

use crate::clock::SharedClock;
use crate::error::Result;

/// Runs statements against one database. Implemented by each SQL backend.
#[async_trait]
pub(crate) trait Driver: Send + Sync + Debug + 'static {
    /// Runs `q` and returns its rows.
    async fn query(&self, q: Q, params: Vec<Param>) -> Result<Vec<Row>>;

    /// Applies the migrations not yet recorded, in one transaction that holds
    /// a lock so concurrent openers apply each exactly once. Returns how many ran.
    async fn migrate(&self) -> Result<usize>;
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

/// The builder options every SQL backend has.
#[derive(Debug, Clone)]
pub(crate) struct CommonOptions {
    pub(crate) settings: SqlSettings,
    pub(crate) table_prefix: String,
    pub(crate) clock: SharedClock,
}

impl Default for CommonOptions {
    fn default() -> Self {
        Self {
            settings: SqlSettings::default(),
            table_prefix: "authstore_".into(),
            clock: Arc::new(crate::clock::SystemClock),
        }
    }
}

impl CommonOptions {
    /// Applies URL query parameter `name` if every SQL backend has it;
    /// `Ok(false)` if it is not one of those.
    ///
    /// # Errors
    /// What is wrong with the value.
    pub(crate) fn apply_param(
        &mut self,
        name: &str,
        value: &str,
    ) -> std::result::Result<bool, String> {
        let number = || -> std::result::Result<u64, String> {
            value
                .parse()
                .map_err(|_| format!("{name} must be a whole number"))
        };
        let size = |n: u64| usize::try_from(n).unwrap_or(usize::MAX);
        match name {
            "prefix" => self.settings.prefix = value.to_owned(),
            "table_prefix" => self.table_prefix = value.to_owned(),
            "migrate" => {
                self.settings.migrate_on_open = value
                    .parse()
                    .map_err(|_| "migrate must be true or false".to_owned())?;
            }
            "sweep_interval_ms" => {
                let ms = number()?;
                self.settings.sweep_interval = (ms > 0).then(|| Duration::from_millis(ms));
            }
            "sweep_batch" => self.settings.sweep_batch = size(number()?).max(1),
            "max_value_size" => self.settings.max_value_size = size(number()?),
            _ => return Ok(false),
        }
        Ok(true)
    }
}

/// The builder methods every SQL backend has, for a builder with a `common: CommonOptions` field.
macro_rules! common_builder_methods {
    () => {
        /// The key prefix of this store (default empty: the tables are authstore's own).
        pub fn prefix(mut self, prefix: impl Into<String>) -> Self {
            self.common.settings.prefix = prefix.into();
            self
        }

        /// Prefix of the table names (default `authstore_`): `[a-z0-9_]`, at most 40.
        pub fn table_prefix(mut self, prefix: impl Into<String>) -> Self {
            self.common.table_prefix = prefix.into();
            self
        }

        /// The clock that judges expiry (default [`SystemClock`](crate::SystemClock)).
        pub fn clock(mut self, clock: impl $crate::Clock) -> Self {
            self.common.clock = std::sync::Arc::new(clock);
            self
        }

        /// Largest value accepted by `put`, in bytes (default 1 MiB).
        pub fn max_value_size(mut self, bytes: usize) -> Self {
            self.common.settings.max_value_size = bytes;
            self
        }

        /// Whether opening applies pending migrations (default true).
        pub fn migrate_on_open(mut self, on: bool) -> Self {
            self.common.settings.migrate_on_open = on;
            self
        }

        /// How often the background sweeper deletes expired rows; `None` disables it (default 60 s).
        pub fn sweep_interval(mut self, interval: Option<std::time::Duration>) -> Self {
            self.common.settings.sweep_interval = interval;
            self
        }

        /// Rows the sweeper deletes per statement (default 1000).
        pub fn sweep_batch(mut self, rows: usize) -> Self {
            self.common.settings.sweep_batch = rows.max(1);
            self
        }
    };
}
pub(crate) use common_builder_methods;

/// The store methods every SQL backend has, for a newtype with an `inner: SqlStore<_>` field.
macro_rules! common_store_methods {
    () => {
        /// A handle on the same database under another key prefix.
        ///
        /// # Errors
        /// [`Error::InvalidKey`](crate::Error::InvalidKey) for a prefix with
        /// control characters or over 512 bytes.
        pub fn with_prefix(&self, prefix: &str) -> $crate::Result<Self> {
            Ok(Self {
                inner: self.inner.with_prefix(prefix)?,
            })
        }

        /// Applies the embedded migrations not yet applied; returns how many ran.
        /// Safe to run concurrently from several processes.
        ///
        /// # Errors
        /// Database errors.
        pub async fn migrate(&self) -> $crate::Result<usize> {
            self.inner.migrate().await
        }

        /// Every statement this store runs, as `(name, SQL)`: for review by a
        /// DBA, `EXPLAIN`, or replaying with `pgbench`. Parameters are
        /// documented in `docs/ARCHITECTURE.md`.
        pub fn statements(&self) -> Vec<(&'static str, &str)> {
            self.inner.driver().statements()
        }

        /// The (qualified) name of the entries table.
        pub fn entries_table(&self) -> &str {
            &self.inner.driver().tables.entries
        }
    };
}
pub(crate) use common_store_methods;

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

/// What the stores of one database share: the driver, the clock, the counts
/// and the sweeper (stopped when the last store is dropped).
#[derive(Debug)]
pub(crate) struct Shared<D> {
    pub(crate) driver: D,
    pub(crate) clock: SharedClock,
    pub(crate) counts: OpCounts,
    pub(crate) sweeper: parking_lot::Mutex<Option<tokio::task::JoinHandle<()>>>,
}

impl<D> Drop for Shared<D> {
    fn drop(&mut self) {
        if let Some(task) = self.sweeper.get_mut().take() {
            task.abort();
        }
    }
}

/// The `Store` implementation of every SQL backend, generic over its driver.
#[derive(Debug)]
pub(crate) struct SqlStore<D: Driver> {
    pub(crate) shared: Arc<Shared<D>>,
    pub(crate) prefix: Arc<str>,
    pub(crate) max_value_size: usize,
    pub(crate) backend: &'static str,
}

impl<D: Driver> Clone for SqlStore<D> {
    fn clone(&self) -> Self {
        Self {
            shared: Arc::clone(&self.shared),
            prefix: Arc::clone(&self.prefix),
            max_value_size: self.max_value_size,
            backend: self.backend,
        }
    }
}

impl<D: Driver> SqlStore<D> {
    /// Wraps `driver`: migrates if asked, then starts the sweeper.
    pub(crate) async fn open(
        backend: &'static str,
        driver: D,
        clock: SharedClock,
        settings: SqlSettings,
    ) -> Result<Self> {
        crate::key::validate_prefix(&settings.prefix)?;
        if settings.migrate_on_open {
            driver.migrate().await?;
        }
        let shared = Arc::new(Shared {
            driver,
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
            backend,
        })
    }

    /// The same database under another key prefix.
    pub(crate) fn with_prefix(&self, prefix: &str) -> Result<Self> {
        crate::key::validate_prefix(prefix)?;
        Ok(Self {
            prefix: prefix.into(),
            ..self.clone()
        })
    }

    /// Applies pending migrations; returns how many ran.
    pub(crate) async fn migrate(&self) -> Result<usize> {
        self.shared.driver.migrate().await
    }

    pub(crate) fn driver(&self) -> &D {
        &self.shared.driver
    }
}

/// Implements [`Store`](crate::Store) for a newtype around [`SqlStore`] by
/// delegation. Every trait method is forwarded explicitly (the lint makes a
/// new one a compile error here), so no trait default stands in for the
/// SQL implementation.
macro_rules! delegate_store {
    ($ty:ty) => {
        #[async_trait::async_trait]
        #[deny(clippy::missing_trait_methods)]
        impl $crate::Store for $ty {
            fn backend(&self) -> &'static str {
                self.inner.backend
            }
            fn capabilities(&self) -> $crate::Capabilities {
                $crate::Capabilities {
                    expiry_clock: $crate::ExpiryClock::Injected,
                }
            }
            fn prefix(&self) -> &str {
                &self.inner.prefix
            }
            async fn get(&self, key: &str) -> $crate::Result<Option<$crate::Entry>> {
                self.inner.get(key).await
            }
            async fn put(
                &self,
                key: &str,
                value: &[u8],
                options: $crate::PutOptions,
            ) -> $crate::Result<u64> {
                self.inner.put(key, value, options).await
            }
            async fn put_many(
                &self,
                items: &[$crate::PutItem<'_>],
            ) -> $crate::Result<Vec<$crate::Result<u64>>> {
                self.inner.put_many(items).await
            }
            async fn take(&self, key: &str) -> $crate::Result<Option<$crate::Entry>> {
                self.inner.take(key).await
            }
            async fn delete(&self, key: &str) -> $crate::Result<bool> {
                self.inner.delete(key).await
            }
            async fn exists(&self, key: &str) -> $crate::Result<bool> {
                self.inner.exists(key).await
            }
            async fn touch(&self, key: &str, ttl: std::time::Duration) -> $crate::Result<bool> {
                self.inner.touch(key, ttl).await
            }
            async fn incr(
                &self,
                key: &str,
                delta: i64,
                ttl_on_create: Option<std::time::Duration>,
            ) -> $crate::Result<$crate::Counter> {
                self.inner.incr(key, delta, ttl_on_create).await
            }
            async fn gcra(
                &self,
                key: &str,
                params: $crate::GcraParams,
            ) -> $crate::Result<$crate::GcraDecision> {
                self.inner.gcra(key, params).await
            }
            fn gcra_inline(
                &self,
                _key: &str,
                _params: $crate::GcraParams,
            ) -> Option<$crate::Result<$crate::GcraDecision>> {
                None
            }
            async fn list_index(&self, index_key: &str) -> $crate::Result<Vec<String>> {
                self.inner.list_index(index_key).await
            }
            async fn delete_index(&self, index_key: &str) -> $crate::Result<u64> {
                self.inner.delete_index(index_key).await
            }
            async fn scan(
                &self,
                prefix: &str,
                cursor: Option<&str>,
                limit: usize,
            ) -> $crate::Result<$crate::ScanPage> {
                self.inner.scan(prefix, cursor, limit).await
            }
            async fn purge_expired(&self, limit: usize) -> $crate::Result<u64> {
                self.inner.purge_expired(limit).await
            }
            async fn stats(&self) -> $crate::Result<$crate::StoreStats> {
                self.inner.stats().await
            }
            async fn health(&self) -> $crate::Health {
                self.inner.health().await
            }
        }
    };
}
pub(crate) use delegate_store;
