//! authstore keeps the state authentication needs — sessions, CSRF tokens,
//! rate-limit counters, credentials, OAuth grants — behind one atomic
//! storage trait, [`Store`], with interchangeable backends.
//!
//! - [`Store`]: the contract (read its `# Contract` section).
//! - [`StoreExt`]: typed JSON helpers.
//! - [`MemoryStore`]: the embedded default backend.
#![cfg_attr(
    feature = "redis",
    doc = " - [`RedisStore`]: Redis standalone, TLS, ACL, Cluster, Sentinel (feature `redis`)."
)]
#![cfg_attr(
    feature = "postgres",
    doc = " - [`PostgresStore`]: PostgreSQL (feature `postgres`)."
)]
#![cfg_attr(
    feature = "sqlite",
    doc = " - [`SqliteStore`]: an SQLite file or in-memory database (feature `sqlite`)."
)]
//! - [`open`]: a store from a URL such as `memory://?max_entries=100000`.
//! - [`Clock`], [`SystemClock`], [`FakeClock`]: injected time.
//! - Modules written once on the trait: [`session`], [`csrf`], [`ratelimit`],
//!   [`tokens`], [`credentials`], [`audit`]; [`secret`] has their random ids and digests.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")] async fn main() -> authstore::Result<()> {
//! use authstore::{PutOptions, Store};
//! use std::time::Duration;
//!
//! let store = authstore::open("memory://").await?;
//! store.put("session:1", b"{}", PutOptions::new().ttl(Duration::from_secs(60)).create_only()).await?;
//! let once = store.take("session:1").await?;
//! assert!(once.is_some());
//! assert!(store.take("session:1").await?.is_none());
//! # Ok(()) }
//! ```

pub mod audit;
mod clock;
pub mod credentials;
pub mod csrf;
mod decimal;
mod error;
mod ext;
pub mod gcra;
mod key;
pub mod memory;
pub mod migrate;
pub mod oauth;
mod open;
pub mod password;
#[cfg(feature = "postgres")]
pub mod postgres;
pub mod ratelimit;
#[cfg(feature = "redis")]
pub mod redis;
pub mod secret;
pub mod session;
#[cfg(any(feature = "postgres", feature = "sqlite"))]
mod sql;
#[cfg(feature = "sqlite")]
pub mod sqlite;
mod store;
pub mod tokens;
mod types;

pub use clock::{Clock, FakeClock, SharedClock, SystemClock};
pub use error::{BoxError, Error, KeyProblem, Result, error_chain};
pub use ext::{StoreExt, Versioned};
pub use key::{
    DEFAULT_MAX_VALUE_SIZE, MAX_INDEX_KEYS, MAX_KEY_LEN, validate_index_keys, validate_key,
    validate_prefix, validate_put, validate_ttl,
};
pub use memory::{EvictionPolicy, MemoryStore, MemoryStoreBuilder};
pub use open::{open, open_with_clock, redact_url};
#[cfg(feature = "postgres")]
pub use postgres::{PostgresStore, PostgresStoreBuilder};
#[cfg(feature = "redis")]
pub use redis::{RedisStore, RedisStoreBuilder};
#[cfg(feature = "sqlite")]
pub use sqlite::{SqliteStore, SqliteStoreBuilder};
pub use store::Store;
pub use types::{
    Capabilities, Counter, Entry, ExpiryClock, GcraDecision, GcraParams, Health, PutItem, PutMode,
    PutOptions, ScanEntry, ScanPage, StoreStats,
};
