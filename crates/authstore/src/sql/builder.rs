//! [`SqlStoreBuilder`]: the settings every SQL backend has; each driver adds its own methods and `connect`.

use std::sync::Arc;
use std::time::Duration;

use super::{Driver, SqlSettings};
use crate::clock::{Clock, SharedClock};

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

/// Builds an [`SqlStore`](super::SqlStore). The methods here apply to every
/// driver; `url`, `connect` and the rest are the driver's own.
pub struct SqlStoreBuilder<D: Driver> {
    pub(crate) common: CommonOptions,
    pub(crate) options: D::Options,
}

impl<D: Driver> Default for SqlStoreBuilder<D> {
    fn default() -> Self {
        Self {
            common: CommonOptions::default(),
            options: D::Options::default(),
        }
    }
}

impl<D: Driver> Clone for SqlStoreBuilder<D> {
    fn clone(&self) -> Self {
        Self {
            common: self.common.clone(),
            options: self.options.clone(),
        }
    }
}

impl<D: Driver> std::fmt::Debug for SqlStoreBuilder<D> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqlStoreBuilder")
            .field("driver", &D::NAME)
            .field("common", &self.common)
            .field("options", &self.options)
            .finish()
    }
}

impl<D: Driver> SqlStoreBuilder<D> {
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
    pub fn clock(mut self, clock: impl Clock) -> Self {
        self.common.clock = crate::clock::share(clock);
        self
    }

    /// Largest value accepted by `put`, in bytes (default 1 MiB).
    pub fn max_value_size(mut self, bytes: usize) -> Self {
        self.common.settings.max_value_size = bytes;
        self
    }

    /// Whether connecting applies pending migrations (default true).
    pub fn migrate_on_open(mut self, on: bool) -> Self {
        self.common.settings.migrate_on_open = on;
        self
    }

    /// How often the background sweeper deletes expired rows; `None` disables it (default 60 s).
    pub fn sweep_interval(mut self, interval: Option<Duration>) -> Self {
        self.common.settings.sweep_interval = interval;
        self
    }

    /// Rows the sweeper deletes per statement (default 1000).
    pub fn sweep_batch(mut self, rows: usize) -> Self {
        self.common.settings.sweep_batch = rows.max(1);
        self
    }
}
