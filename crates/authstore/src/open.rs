//! [`open`]: build a store from a URL (`memory://`, `redis://`, `postgres://`, `sqlite://`).

use std::sync::Arc;

use crate::clock::{Clock, SystemClock};
use crate::error::{Error, Result};
use crate::memory::MemoryStoreBuilder;
use crate::store::Store;
use crate::url_redact::redact_url;

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
/// assert_eq!(store.capabilities().name, "memory");
/// assert!(!store.capabilities().durable);
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
                .connect()
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
