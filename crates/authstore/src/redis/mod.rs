//! The Redis backend (feature `redis`): standalone, TLS, ACL, Cluster and Sentinel.
//!
//! ```no_run
//! # async fn demo() -> authstore::Result<()> {
//! use authstore::{RedisStore, Store, PutOptions};
//! let store = RedisStore::builder().url("redis://127.0.0.1:6379/0").prefix("myapp:").connect().await?;
//! store.put("session:1", b"{}", PutOptions::new()).await?;
//! # Ok(()) }
//! ```
//!
//! Client: redis-rs (tokio), chosen over fred because it is the most used
//! Redis client in Rust, its `ConnectionManager` gives exactly the model we
//! want (one multiplexed connection that pipelines concurrent requests and
//! reconnects with exponential backoff), and it supports Cluster, Sentinel,
//! ACL users and rustls TLS behind one `ConnectionLike` trait.

mod builder;
mod cluster;
pub(crate) mod codec;
mod commit;
mod conn;
mod ops;
mod purge;
mod scripts;

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

pub use builder::{DEFAULT_PREFIX, RedisStoreBuilder};
use conn::Conn;

use crate::error::{Error, Result};

const BACKEND: &str = "redis";

/// A [`Store`](crate::Store) on Redis. Cloning is cheap; clones share connections.
///
/// Keys are stored as `prefix + key` (default prefix `authstore:`); index
/// key `ik` is a sorted set `prefix + 0x1E + ik` scored by expiry. Expiry is
/// Redis's own (`PX`), so [`ExpiryClock::Server`](crate::ExpiryClock::Server).
#[derive(Debug, Clone)]
pub struct RedisStore {
    conn: Conn,
    prefix: Arc<str>,
    timeout: Duration,
    max_value_size: usize,
    counters: Arc<ClientCounters>,
}

/// Operation counts this client has seen (Redis does not count per prefix).
#[derive(Debug, Default)]
struct ClientCounters {
    hits: AtomicU64,
    misses: AtomicU64,
    sets: AtomicU64,
    deletes: AtomicU64,
}

impl ClientCounters {
    fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }
}

impl RedisStore {
    /// A builder; set at least a URL.
    pub fn builder() -> RedisStoreBuilder {
        RedisStoreBuilder::default()
    }

    /// Connects with the URL in `REDIS_URL`.
    ///
    /// # Errors
    /// [`Error::InvalidUrl`] if the variable is unset or malformed; connection errors.
    pub async fn from_env() -> Result<Self> {
        let url = std::env::var("REDIS_URL").map_err(|_| Error::InvalidUrl {
            url: String::new(),
            reason: "REDIS_URL is not set".into(),
        })?;
        Self::builder().url(&url).connect().await
    }

    /// Connects to `url` with default settings.
    ///
    /// # Errors
    /// As [`RedisStoreBuilder::connect`].
    pub async fn connect(url: &str) -> Result<Self> {
        Self::builder().url(url).connect().await
    }

    /// A handle on the same connections under another key prefix.
    ///
    /// # Errors
    /// [`Error::InvalidKey`] for a prefix with control characters or over 512 bytes.
    pub fn with_prefix(&self, prefix: &str) -> Result<Self> {
        crate::key::validate_prefix(prefix)?;
        Ok(Self {
            prefix: prefix.into(),
            ..self.clone()
        })
    }

    /// The full Redis key of entry `key`.
    fn entry_key(&self, key: &str) -> String {
        let mut k = String::with_capacity(self.prefix.len() + key.len());
        k.push_str(&self.prefix);
        k.push_str(key);
        k
    }

    /// The prefix of index sorted-set names: `prefix + 0x1E`.
    fn index_prefix(&self) -> String {
        format!("{}\u{1e}", self.prefix)
    }

    /// Runs one request with the command timeout, mapping errors.
    async fn exec<T>(
        &self,
        key: Option<&str>,
        request: impl Future<Output = redis::RedisResult<T>>,
    ) -> Result<T> {
        match tokio::time::timeout(self.timeout, request).await {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(e)) if e.is_timeout() => Err(Error::Timeout {
                backend: BACKEND,
                after: self.timeout,
            }),
            Ok(Err(e)) => Err(map_error(key, e)),
            Err(_) => Err(Error::Timeout {
                backend: BACKEND,
                after: self.timeout,
            }),
        }
    }
}

/// Maps a redis-rs error to authstore's, keeping it as the source.
fn map_error(key: Option<&str>, e: redis::RedisError) -> Error {
    let text = e.to_string();
    let key_owned = || key.unwrap_or_default().to_owned();
    if text.contains("authstore:not-a-counter") || text.contains("not an integer") {
        Error::NotACounter { key: key_owned() }
    } else if text.contains("would overflow") {
        Error::CounterOverflow { key: key_owned() }
    } else if text.contains("authstore:corrupt") {
        Error::Corrupt {
            key: key.map(str::to_owned),
            detail: "malformed authstore entry header in Redis".into(),
            source: Some(Box::new(e)),
        }
    } else if e.code() == Some("NOPERM") || text.contains("NOPERM") {
        Error::PermissionDenied {
            backend: BACKEND,
            source: Box::new(e),
        }
    } else {
        Error::backend(BACKEND, e)
    }
}
