//! [`open`]: build a store from a URL (`memory://`, `redis://`, `postgres://`, `sqlite://`).

use std::sync::Arc;

use crate::clock::{Clock, SystemClock};
use crate::error::{Error, Result};
use crate::memory::MemoryStoreBuilder;
use crate::store::Store;

/// Opens a store from a URL, with the system clock.
///
/// | URL | backend | cargo feature |
/// |---|---|---|
/// | `memory://?max_entries=100000` | [`MemoryStore`](crate::MemoryStore) | (always) |
/// | `redis://…`, `rediss://…` | Redis | `redis` |
/// | `postgres://…`, `postgresql://…` | PostgreSQL | `postgres` |
/// | `sqlite://path`, `sqlite::memory:` | SQLite | `sqlite` |
///
/// ```
/// # async fn demo() -> authstore::Result<()> {
/// let store = authstore::open("memory://?max_entries=1000&eviction=lru").await?;
/// assert_eq!(store.backend(), "memory");
/// # Ok(()) }
/// ```
///
/// # Errors
/// [`Error::InvalidUrl`] for a malformed URL or bad parameter,
/// [`Error::FeatureDisabled`] for a backend not compiled in,
/// [`Error::UnknownScheme`] for anything else.
pub async fn open(url: &str) -> Result<Arc<dyn Store>> {
    open_with_clock(url, SystemClock).await
}

/// Like [`open`], with the clock that judges expiry.
///
/// # Errors
/// As [`open`].
pub async fn open_with_clock(url: &str, clock: impl Clock) -> Result<Arc<dyn Store>> {
    let scheme = url.split_once(':').map(|(s, _)| s).unwrap_or(url);
    match scheme {
        "memory" => {
            let parsed = url::Url::parse(url).map_err(|e| Error::InvalidUrl {
                url: redact_url(url),
                reason: e.to_string(),
            })?;
            let store = MemoryStoreBuilder::from_url(&parsed)?
                .clock(clock)
                .build()?;
            Ok(Arc::new(store))
        }
        #[cfg(feature = "redis")]
        "redis" | "rediss" | "redis+cluster" | "rediss+cluster" | "redis+sentinel"
        | "rediss+sentinel" => {
            // Redis judges expiry by its own clock; `clock` does not apply.
            let _ = clock;
            Ok(Arc::new(crate::redis::RedisStore::connect(url).await?))
        }
        #[cfg(not(feature = "redis"))]
        "redis" | "rediss" | "redis+cluster" | "rediss+cluster" | "redis+sentinel"
        | "rediss+sentinel" => disabled(scheme, "redis"),
        #[cfg(feature = "postgres")]
        "postgres" | "postgresql" => Ok(Arc::new(
            crate::postgres::PostgresStore::builder()
                .url(url)
                .clock(clock)
                .connect()
                .await?,
        )),
        #[cfg(not(feature = "postgres"))]
        "postgres" | "postgresql" => disabled(scheme, "postgres"),
        #[cfg(feature = "sqlite")]
        "sqlite" => Ok(Arc::new(
            crate::sqlite::SqliteStore::builder()
                .url(url)
                .clock(clock)
                .open()
                .await?,
        )),
        #[cfg(not(feature = "sqlite"))]
        "sqlite" => disabled(scheme, "sqlite"),
        other => Err(Error::UnknownScheme {
            scheme: other.to_owned(),
        }),
    }
}

#[cfg(not(all(feature = "redis", feature = "postgres", feature = "sqlite")))]
fn disabled(scheme: &str, feature: &'static str) -> Result<Arc<dyn Store>> {
    Err(Error::FeatureDisabled {
        scheme: scheme.to_owned(),
        feature,
    })
}

/// `url` with any password replaced by `***`, for logs and errors.
///
/// ```
/// assert_eq!(
///     authstore::redact_url("redis://app:hunter2@cache:6379/0"),
///     "redis://app:***@cache:6379/0"
/// );
/// ```
pub fn redact_url(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut parsed) if parsed.password().is_some() => {
            let _ = parsed.set_password(Some("***"));
            parsed.to_string()
        }
        Ok(_) => url.to_owned(),
        // Unparseable: hide everything between "://" and "@" to be safe.
        Err(_) => match (url.find("://"), url.rfind('@')) {
            (Some(s), Some(at)) if at > s => format!("{}://***@{}", &url[..s], &url[at + 1..]),
            _ => url.to_owned(),
        },
    }
}
