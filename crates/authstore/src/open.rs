//! [`open`]: build a store from a URL (`memory://`, `redis://`, `postgres://`, `sqlite://`).

use std::sync::Arc;

use crate::clock::{Clock, CoarseClock};
use crate::error::OpenError;
use crate::memory::MemoryStoreBuilder;
use crate::store::Store;
use crate::url_redact::redact_url;

/// Opens a store from a URL, with the system clock as of the kernel's last
/// tick ([`CoarseClock`](crate::CoarseClock)).
///
/// | URL | backend | cargo feature |
/// |---|---|---|
/// | `memory://?max_entries=100000` | [`MemoryStore`](crate::MemoryStore) | (always) |
/// | `redis://…`, `rediss://…` | Redis | `redis` |
/// | `postgres://…`, `postgresql://…` | PostgreSQL | `postgres` |
/// | `sqlite://path`, `sqlite::memory:` | SQLite | `sqlite` |
///
/// ```
/// # async fn demo() -> Result<(), authstore::OpenError> {
/// let store = authstore::open("memory://?max_entries=1000&eviction=lru").await?;
/// assert_eq!(store.capabilities().name, "memory");
/// assert!(!store.capabilities().durable);
/// # Ok(()) }
/// ```
///
/// # Errors
/// [`OpenError::InvalidUrl`] for a malformed URL or a parameter open or
/// the backend rejects, [`OpenError::FeatureDisabled`] for a backend not
/// compiled in, [`OpenError::UnknownScheme`] for any other scheme (these
/// three are [`is_configuration`](OpenError::is_configuration));
/// [`OpenError::Store`] with the store's [`Error`](crate::Error) when the URL is fine
/// but the store cannot be set up (connection refused, authentication, …).
pub async fn open(url: &str) -> Result<Arc<dyn Store>, OpenError> {
    open_with_clock(url, CoarseClock).await
}

/// Like [`open`], with the clock that judges expiry.
///
/// # Errors
/// As [`open`].
pub async fn open_with_clock(url: &str, clock: impl Clock) -> Result<Arc<dyn Store>, OpenError> {
    let scheme = url.split_once(':').map(|(s, _)| s).unwrap_or(url);
    match scheme {
        "memory" => {
            let parsed = url::Url::parse(url).map_err(|e| OpenError::InvalidUrl {
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
        other => Err(OpenError::UnknownScheme {
            scheme: other.to_owned(),
        }),
    }
}

#[cfg(not(all(feature = "redis", feature = "postgres", feature = "sqlite")))]
fn disabled(scheme: &str, feature: &'static str) -> Result<Arc<dyn Store>, OpenError> {
    Err(OpenError::FeatureDisabled {
        scheme: scheme.to_owned(),
        feature,
    })
}
