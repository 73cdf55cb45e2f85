//! authstore keeps the state authentication needs — sessions, rate-limit
//! counters, OAuth grants, CSRF tokens, credentials — behind one atomic
//! storage trait, [`Store`], with interchangeable backends.
//!
//! What most applications come for:
//!
//! - **Sessions**: [`SessionManager`](session::SessionManager) creates,
//!   loads and saves [`Session`](session::Session)s with a version check,
//!   rotates the id at login, idles them out, and lists or revokes a user's
//!   sessions.
//! - **Rate limits**: [`RateLimiter`](ratelimit::RateLimiter) checks a key
//!   against one or more [`Limit`](ratelimit::Limit)s (GCRA, fixed or
//!   sliding window), shared by every process on the same store.
//! - **An OAuth 2.1 authorization server's state**: [`OAuth`](oauth::OAuth)
//!   keeps clients, PKCE-bound codes, access and rotating refresh tokens,
//!   revocation, introspection and consent; the `authstore` server binary
//!   serves it over HTTP.
//! - **A resource server's guard**: [`ResourceServer`](oauth::resource::ResourceServer)
//!   validates the bearer tokens an API or MCP server receives (same store,
//!   RFC 7662 introspection or RFC 9068 JWTs), and the `authstore-axum`
//!   crate's `BearerAuthLayer` puts it in front of axum routes.
//!
//! # Want X → use Y
//!
//! | you want | use |
//! |---|---|
//! | log users in and keep them logged in | [`session::SessionManager`]; with axum, `authstore-axum`'s `SessionLayer` and `RequestSession` |
//! | "log out other devices" | [`SessionManager::revoke_all_but`](session::SessionManager::revoke_all_but) |
//! | throttle logins or an API | [`ratelimit::RateLimiter`]; with axum, `authstore-axum`'s `RateLimitLayer` |
//! | refuse cross-site form posts | [`csrf::OriginCheck`], and tokens: [`csrf::SynchronizerTokens`] or [`csrf::SignedTokens`] |
//! | check passwords, with lockout | [`credentials::Credentials`] (hashing in [`password`]) |
//! | long-lived API keys | [`tokens::ApiTokens`] |
//! | issue OAuth 2.1 tokens | [`oauth::OAuth`], or the `authstore-server` crate's `authstore serve` |
//! | accept OAuth bearer tokens in an API or MCP server | [`oauth::resource::ResourceServer`]; with axum, `authstore-axum`'s `BearerAuthLayer` |
//! | a record of who did what, from where, and whether it succeeded | [`audit`] |
//! | move data to another backend | [`migrate`] |
//! | your own keys, atomically, on any backend | [`Store`] and [`StoreExt`] |
//!
//! The [`guide`] has a page per module, with the axum integration.
//!
//! # Stores
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
#![cfg_attr(
    feature = "metrics",
    doc = " - [`metered::MeteredStore`]: any store, its latency and errors recorded through the `metrics` facade (feature `metrics`)."
)]
//! - [`open`]: a store from a URL such as `memory://?max_entries=100000`.
//! - [`Clock`], [`SystemClock`], [`CoarseClock`], [`FakeClock`]: injected time.
//! - [`backend`]: what a new backend builds on (the argument checks, the GCRA arithmetic).
//! - Modules written once on the trait: [`session`], [`csrf`], [`ratelimit`],
//!   [`tokens`], [`credentials`], [`audit`], [`oauth`]; [`secret`] has their random ids and digests.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
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

#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod __fuzz;
pub mod audit;
pub mod backend;
mod clock;
pub mod credentials;
pub mod csrf;
mod error;
mod ext;
pub mod guide;
mod key;
pub mod memory;
#[cfg(feature = "metrics")]
pub mod metered;
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
pub mod sql;
#[cfg(feature = "sqlite")]
pub mod sqlite;
mod store;
pub mod tokens;
mod types;
mod url_redact;

pub use clock::{Clock, CoarseClock, FakeClock, SharedClock, SystemClock};
pub use error::{BoxError, Error, KeyProblem, OpenError, Result, error_chain};
pub use ext::{StoreExt, Versioned};
/// Kept at the root for `authstore-axum`; see [`backend::validate_key`].
#[doc(hidden)]
pub use key::validate_key;
pub use key::{DEFAULT_MAX_VALUE_SIZE, MAX_COMMIT_KEYS, MAX_INDEX_KEYS, MAX_KEY_LEN};
pub use memory::{EvictionPolicy, MemoryStore, MemoryStoreBuilder};
pub use open::{open, open_with_clock};
#[cfg(feature = "postgres")]
pub use postgres::{PostgresStore, PostgresStoreBuilder};
#[cfg(feature = "redis")]
pub use redis::{RedisStore, RedisStoreBuilder};
#[cfg(feature = "sqlite")]
pub use sqlite::{SqliteStore, SqliteStoreBuilder};
pub use store::Store;
pub use types::{
    Capabilities, Counter, Entry, ExpiryClock, GcraDecision, GcraParams, Health, PutItem, PutMode,
    PutOptions, ScanEntry, ScanPage, StoreStats, VersionCheck,
};
pub use url_redact::redact_url;
