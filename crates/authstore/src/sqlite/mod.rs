//! The SQLite backend (feature `sqlite`): a file that survives restarts, or `sqlite::memory:`.
//!
//! ```no_run
//! # async fn demo() -> authstore::Result<()> {
//! use authstore::{SqliteStore, PutOptions, Store};
//! let store = SqliteStore::open_url("sqlite://./auth.db").await?;
//! store.put("session:1", br#"{"user":42}"#, PutOptions::new()).await?;
//! # Ok(()) }
//! ```
//!
//! Driver: rusqlite with a bundled SQLite (no system library needed), its
//! statements cached; for a file they run in tokio's blocking pool, for
//! `sqlite::memory:` (no disk) on the calling task. It runs the same
//! statements as the PostgreSQL backend (see `docs/ARCHITECTURE.md`); index
//! keys live in a side table that triggers keep in step with the entries.
//! Files use WAL journaling; `synchronous=normal` (the default) survives a
//! crash of the process, `synchronous=full` also a power loss.

mod driver;

use std::path::PathBuf;
use std::time::Duration;

use rusqlite::Connection;

use crate::error::{Error, Result};
use crate::sql::{CommonOptions, SqlStore, Tables, delegate_store};
use driver::SqliteDriver;

const BACKEND: &str = "sqlite";
/// How long a statement waits for another connection's write lock.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// A [`Store`](crate::Store) on SQLite. Cloning is cheap; clones share the connection.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    inner: SqlStore<SqliteDriver>,
}

delegate_store!(SqliteStore);

impl SqliteStore {
    /// A builder; set a path or [`in_memory`](SqliteStoreBuilder::in_memory).
    pub fn builder() -> SqliteStoreBuilder {
        SqliteStoreBuilder::default()
    }

    /// Opens `url` (`sqlite://path`, `sqlite:path` or `sqlite::memory:`) with default settings.
    ///
    /// # Errors
    /// As [`SqliteStoreBuilder::open`].
    pub async fn open_url(url: &str) -> Result<Self> {
        Self::builder().url(url).open().await
    }

    crate::sql::common_store_methods!();
}

/// How hard SQLite syncs to disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Synchronous {
    /// No fsync: fastest, may lose recent writes on an OS crash or power loss.
    Off,
    /// fsync at WAL checkpoints: survives an application crash (the default).
    Normal,
    /// fsync every commit: also survives power loss.
    Full,
}

/// Builds a [`SqliteStore`].
#[derive(Debug, Clone)]
pub struct SqliteStoreBuilder {
    path: Option<PathBuf>,
    common: CommonOptions,
    synchronous: Synchronous,
    /// A bad URL given to [`url`](Self::url): `(redacted url, reason)`, reported by `open`.
    url_error: Option<(String, String)>,
}

impl Default for SqliteStoreBuilder {
    fn default() -> Self {
        Self {
            path: None,
            common: CommonOptions::default(),
            synchronous: Synchronous::Normal,
            url_error: None,
        }
    }
}

impl SqliteStoreBuilder {
    /// A database file, created if missing.
    pub fn path(mut self, path: impl Into<PathBuf>) -> Self {
        self.path = Some(path.into());
        self
    }

    /// A private in-memory database, gone when the last clone of the store is dropped.
    pub fn in_memory(mut self) -> Self {
        self.path = None;
        self
    }

    /// Settings from a URL: `sqlite://path`, `sqlite:path` or `sqlite::memory:`,
    /// with optional query parameters `prefix`, `table_prefix`, `migrate`,
    /// `sweep_interval_ms` (0 disables), `sweep_batch`, `max_value_size` and
    /// `synchronous` (`off`, `normal`, `full`).
    pub fn url(mut self, url: &str) -> Self {
        if let Err(Error::InvalidUrl { url, reason }) = self.apply_url(url) {
            self.url_error = Some((url, reason));
        }
        self
    }

    crate::sql::common_builder_methods!();

    /// How hard to sync to disk (default [`Synchronous::Normal`]).
    pub fn synchronous(mut self, mode: Synchronous) -> Self {
        self.synchronous = mode;
        self
    }

    /// Opens (creating if needed) the database, migrates unless disabled and
    /// starts the sweeper. Needs a tokio runtime.
    ///
    /// # Errors
    /// [`Error::InvalidUrl`] for a bad URL, [`Error::InvalidArgument`] for a bad
    /// table prefix, backend errors if the file cannot be opened.
    pub async fn open(self) -> Result<SqliteStore> {
        if let Some((url, reason)) = self.url_error {
            return Err(Error::InvalidUrl { url, reason });
        }
        let tables = Tables::new(None, &self.common.table_prefix)?;
        let (path, synchronous) = (self.path.clone(), self.synchronous);
        let inline = path.is_none();
        let conn = tokio::task::spawn_blocking(move || connect(path, synchronous))
            .await
            .map_err(|e| Error::backend(BACKEND, e))??;
        let driver = SqliteDriver::new(conn, tables, inline);
        let inner =
            SqlStore::open(BACKEND, driver, self.common.clock, self.common.settings).await?;
        Ok(SqliteStore { inner })
    }

    fn apply_url(&mut self, url: &str) -> Result<()> {
        let bad = |reason: String| Error::InvalidUrl {
            url: url.to_owned(),
            reason,
        };
        let rest = url
            .strip_prefix("sqlite:")
            .ok_or_else(|| bad("the scheme must be sqlite:".into()))?;
        let (location, query) = rest.split_once('?').unwrap_or((rest, ""));
        let location = location.strip_prefix("//").unwrap_or(location);
        self.path = match location {
            ":memory:" => None,
            "" => {
                return Err(bad(
                    "no database path (use sqlite::memory: for an in-memory database)".into(),
                ));
            }
            path => Some(PathBuf::from(path)),
        };
        for (name, value) in url::form_urlencoded::parse(query.as_bytes()) {
            if self.common.apply_param(&name, &value).map_err(bad)? {
                continue;
            }
            match &*name {
                "synchronous" => {
                    self.synchronous = match &*value {
                        "off" => Synchronous::Off,
                        "normal" => Synchronous::Normal,
                        "full" => Synchronous::Full,
                        other => return Err(bad(format!("unknown synchronous mode {other:?}"))),
                    }
                }
                other => return Err(bad(format!("unknown parameter {other:?}"))),
            }
        }
        Ok(())
    }
}

/// Creates the database file with mode 0600 (owner only) if it does not
/// exist yet, whatever the umask: it holds password and secret hashes and
/// signing keys. SQLite gives the `-wal` and `-shm` files it creates the
/// database file's mode. An existing file keeps its mode.
fn create_private(path: &std::path::Path) -> Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    match options.open(path) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(Error::backend(
            BACKEND,
            format!("cannot create the database file {}: {e}", path.display()),
        )),
    }
}

/// Opens the connection and sets it up: WAL for files, the sync mode, a busy timeout.
fn connect(path: Option<PathBuf>, synchronous: Synchronous) -> Result<Connection> {
    if let Some(p) = &path {
        create_private(p)?;
    }
    let conn = match &path {
        Some(p) => Connection::open(p),
        None => Connection::open_in_memory(),
    }
    .map_err(driver::map_error)?;
    conn.busy_timeout(BUSY_TIMEOUT).map_err(driver::map_error)?;
    if path.is_some() {
        let mode: String = conn
            .query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))
            .map_err(driver::map_error)?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(Error::backend(
                BACKEND,
                format!("could not enable WAL (journal_mode = {mode})"),
            ));
        }
    }
    let sync = match synchronous {
        Synchronous::Off => "OFF",
        Synchronous::Normal => "NORMAL",
        Synchronous::Full => "FULL",
    };
    conn.execute_batch(&format!("PRAGMA synchronous = {sync}"))
        .map_err(driver::map_error)?;
    conn.set_prepared_statement_cache_capacity(64);
    Ok(conn)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_name_a_file_or_memory_and_carry_settings() {
        let b = SqliteStore::builder().url("sqlite::memory:");
        assert!(b.url_error.is_none() && b.path.is_none());
        let b = SqliteStore::builder()
            .url("sqlite:///var/lib/auth.db?synchronous=full&table_prefix=x_&sweep_interval_ms=0");
        assert_eq!(
            b.path.as_deref(),
            Some(std::path::Path::new("/var/lib/auth.db"))
        );
        assert_eq!(
            (b.synchronous, b.common.table_prefix.as_str()),
            (Synchronous::Full, "x_")
        );
        assert_eq!(b.common.settings.sweep_interval, None);
        let b = SqliteStore::builder().url("sqlite:data/auth.db");
        assert_eq!(
            b.path.as_deref(),
            Some(std::path::Path::new("data/auth.db"))
        );
        for bad in [
            "sqlite://",
            "sqlite://a.db?synchronous=maybe",
            "sqlite://a.db?nope=1",
            "mysql://x",
        ] {
            assert!(SqliteStore::builder().url(bad).url_error.is_some(), "{bad}");
        }
    }
}
