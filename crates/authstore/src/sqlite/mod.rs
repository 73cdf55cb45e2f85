//! The SQLite backend (feature `sqlite`): a file that survives restarts, or `sqlite::memory:`.
//!
//! ```no_run
//! # async fn demo() -> authstore::Result<()> {
//! use authstore::{SqliteStore, PutOptions, Store};
//! let store = SqliteStore::connect("sqlite://./auth.db").await?;
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
use crate::sql::{Driver, SqlStore, SqlStoreBuilder, Tables};
use driver::SqliteExecutor;

const BACKEND: &str = "sqlite";
/// How long a statement waits for another connection's write lock.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// The SQLite [`Driver`] of [`SqlStore`].
#[derive(Debug, Clone, Copy)]
pub enum Sqlite {}

impl Driver for Sqlite {}

impl crate::sql::sealed::Sealed for Sqlite {
    const NAME: &'static str = BACKEND;
    type Options = SqliteOptions;
}

/// A [`Store`](crate::Store) on SQLite. Cloning is cheap; clones share the connection.
pub type SqliteStore = SqlStore<Sqlite>;

/// Builds a [`SqliteStore`]: the settings of every SQL store plus the
/// SQLite ones below. Set a path, a URL or [`in_memory`](Self::in_memory).
pub type SqliteStoreBuilder = SqlStoreBuilder<Sqlite>;

impl SqlStore<Sqlite> {
    /// Opens `url` (`sqlite://path`, `sqlite:path` or `sqlite::memory:`) with default settings.
    ///
    /// # Errors
    /// As [`SqliteStoreBuilder::connect`].
    pub async fn connect(url: &str) -> Result<Self> {
        Self::builder().url(url).connect().await
    }
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

mod options {
    //! The settings only this driver has: public in a private module, as the sealed [`Driver`](crate::sql::Driver) names them.

    use std::path::PathBuf;

    use super::Synchronous;

    /// The settings only an SQLite store has.
    #[derive(Debug, Clone)]
    pub struct SqliteOptions {
        pub(super) path: Option<PathBuf>,
        pub(super) synchronous: Synchronous,
        /// A bad URL given to [`url`](SqlStoreBuilder::url): `(redacted url, reason)`, reported by `connect`.
        pub(super) url_error: Option<(String, String)>,
    }

    impl Default for SqliteOptions {
        fn default() -> Self {
            Self {
                path: None,
                synchronous: Synchronous::Normal,
                url_error: None,
            }
        }
    }
}
use options::SqliteOptions;

impl SqlStoreBuilder<Sqlite> {
    /// A database file, created if missing.
    pub fn path(mut self, path: impl Into<PathBuf>) -> Self {
        self.options.path = Some(path.into());
        self
    }

    /// A private in-memory database, gone when the last clone of the store is dropped.
    pub fn in_memory(mut self) -> Self {
        self.options.path = None;
        self
    }

    /// Settings from a URL: `sqlite://path`, `sqlite:path` or `sqlite::memory:`,
    /// with optional query parameters `prefix`, `table_prefix`, `migrate`,
    /// `sweep_interval_ms` (0 disables), `sweep_batch`, `max_value_size` and
    /// `synchronous` (`off`, `normal`, `full`).
    pub fn url(mut self, url: &str) -> Self {
        if let Err(Error::InvalidUrl { url, reason }) = self.apply_url(url) {
            self.options.url_error = Some((url, reason));
        }
        self
    }

    /// How hard to sync to disk (default [`Synchronous::Normal`]).
    pub fn synchronous(mut self, mode: Synchronous) -> Self {
        self.options.synchronous = mode;
        self
    }

    /// Opens (creating if needed) the database, migrates unless disabled and
    /// starts the sweeper. Needs a tokio runtime. A file is durable
    /// ([`Capabilities::durable`](crate::Capabilities::durable)); an
    /// in-memory database is not.
    ///
    /// # Errors
    /// [`Error::InvalidUrl`] for a bad URL, [`Error::InvalidArgument`] for a bad
    /// table prefix, backend errors if the file cannot be opened.
    pub async fn connect(self) -> Result<SqliteStore> {
        if let Some((url, reason)) = self.options.url_error {
            return Err(Error::InvalidUrl { url, reason });
        }
        let tables = Tables::new(None, &self.common.table_prefix)?;
        let (path, synchronous) = (self.options.path.clone(), self.options.synchronous);
        let inline = path.is_none();
        let conn = tokio::task::spawn_blocking(move || open_connection(path, synchronous))
            .await
            .map_err(|e| Error::backend(BACKEND, e))??;
        let executor = SqliteExecutor::new(conn, tables, inline);
        SqlStore::open(executor, !inline, self.common.clock, self.common.settings).await
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
        self.options.path = match location {
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
                    self.options.synchronous = match &*value {
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
fn open_connection(path: Option<PathBuf>, synchronous: Synchronous) -> Result<Connection> {
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
        enable_wal(&conn)?;
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

/// Switches a file to WAL. Two connections opening a new file at the same
/// moment can each hold a lock the other needs for the switch; SQLite then
/// answers `SQLITE_BUSY` at once rather than calling the busy handler, so
/// the switch is retried for up to the busy timeout.
fn enable_wal(conn: &Connection) -> Result<()> {
    let started = std::time::Instant::now();
    loop {
        match conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get::<_, String>(0)) {
            Ok(mode) if mode.eq_ignore_ascii_case("wal") => return Ok(()),
            Ok(mode) => {
                return Err(Error::backend(
                    BACKEND,
                    format!("could not enable WAL (journal_mode = {mode})"),
                ));
            }
            Err(e)
                if e.sqlite_error_code() == Some(rusqlite::ErrorCode::DatabaseBusy)
                    && started.elapsed() < BUSY_TIMEOUT =>
            {
                std::thread::sleep(Duration::from_millis(2));
            }
            Err(e) => return Err(driver::map_error(e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_name_a_file_or_memory_and_carry_settings() {
        let b = SqliteStore::builder().url("sqlite::memory:");
        assert!(b.options.url_error.is_none() && b.options.path.is_none());
        let b = SqliteStore::builder()
            .url("sqlite:///var/lib/auth.db?synchronous=full&table_prefix=x_&sweep_interval_ms=0");
        assert_eq!(
            b.options.path.as_deref(),
            Some(std::path::Path::new("/var/lib/auth.db"))
        );
        assert_eq!(
            (b.options.synchronous, b.common.table_prefix.as_str()),
            (Synchronous::Full, "x_")
        );
        assert_eq!(b.common.settings.sweep_interval, None);
        let b = SqliteStore::builder().url("sqlite:data/auth.db");
        assert_eq!(
            b.options.path.as_deref(),
            Some(std::path::Path::new("data/auth.db"))
        );
        for bad in [
            "sqlite://",
            "sqlite://a.db?synchronous=maybe",
            "sqlite://a.db?nope=1",
            "mysql://x",
        ] {
            assert!(
                SqliteStore::builder().url(bad).options.url_error.is_some(),
                "{bad}"
            );
        }
    }
}
