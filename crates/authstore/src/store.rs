//! The [`Store`] trait: the atomic primitives every backend implements.

use std::fmt::Debug;
use std::time::{Duration, Instant};

use async_trait::async_trait;

use crate::clock::{SharedClock, SystemClock};
use crate::error::Result;
use crate::types::{
    Capabilities, Counter, Entry, GcraDecision, GcraParams, Health, PutItem, PutOptions, ScanPage,
    StoreStats, VersionCheck,
};

/// The key the default [`Store::health`] checks with [`Store::exists`].
const HEALTH_PROBE_KEY: &str = "health:probe";

/// A key-value store for authentication state.
///
/// Modules (sessions, CSRF, rate limits, OAuth grants…) are written once
/// against `dyn Store`; backends (memory, Redis, PostgreSQL, SQLite) implement it.
/// Use it as `Arc<dyn Store>`; typed helpers are in [`StoreExt`](crate::StoreExt).
///
/// # Contract
///
/// **Atomicity.** Every method is one atomic step: no other operation observes
/// or interleaves with a half-done call. In particular `put` with a condition,
/// `take`, `incr` and `gcra` never lose or duplicate an update under any
/// concurrency: of N concurrent `take`s of one entry exactly one gets it, and
/// N concurrent `incr`s sum exactly.
///
/// **Keys.** Keys and index keys are `namespace:id`, at most
/// [`MAX_KEY_LEN`](crate::MAX_KEY_LEN) bytes, without control characters (see
/// [`validate_key`](crate::backend::validate_key)). Every store instance has a key
/// prefix; two stores with different prefixes never see each other's entries,
/// indexes or counters, even on the same server. Keys passed in and returned
/// never include the prefix.
///
/// **Values** are bytes, at most the store's configured maximum
/// ([`DEFAULT_MAX_VALUE_SIZE`](crate::DEFAULT_MAX_VALUE_SIZE) by default).
/// A rejected put changes nothing.
///
/// **Expiry.** An entry whose TTL has passed is gone: no method returns it,
/// counts it as existing, or lets `UpdateOnly`/`IfVersion` write over it,
/// whether or not it has been physically removed yet. Expiry is judged by the
/// clock named in [`Capabilities::expiry_clock`]: the injected
/// [`Clock`](crate::Clock) for most backends, the server's for Redis.
///
/// **Versions** are positive. A created entry has version 1; every later
/// successful put of that live entry returns a greater version, and `touch`
/// leaves the version alone. A failed conditional put changes nothing. The version of a
/// counter (an entry written by `incr` or `gcra`) is backend-defined and must
/// not be used for `IfVersion`.
///
/// **Counters** are stored as decimal ASCII: `get` of a counter returns e.g.
/// `b"42"`, and `incr` accepts any entry whose value is a decimal `i64`.
///
/// **Indexes.** A put can name up to [`MAX_INDEX_KEYS`](crate::MAX_INDEX_KEYS)
/// index keys; the entry is then listed by [`list_index`](Store::list_index)
/// under each of them while it is live and still carries that index key.
/// [`delete_index`](Store::delete_index) deletes every entry listed under
/// an index key. On a single-node backend the entry and its index change in
/// the same atomic step. On a sharded backend (Redis Cluster) the entry
/// write is atomic and index upkeep may lag, but an index never lists an
/// entry that is gone or no longer carries the index key, and `delete_index`
/// never deletes an entry that was re-written without that index key.
///
/// # Errors
///
/// Every method returns [`Error::InvalidKey`](crate::Error::InvalidKey) for a
/// bad key before touching the backend, [`Error::Backend`](crate::Error::Backend)
/// or [`Error::Timeout`](crate::Error::Timeout) when the backend fails, and
/// [`Error::Corrupt`](crate::Error::Corrupt) when stored data cannot be decoded.
/// Method docs list the outcomes specific to them. A store never returns
/// [`Error::Internal`](crate::Error::Internal): that is for the modules
/// built on a store (password hashing, signing, export files).
///
/// # Implementing
///
/// A backend implements the required methods; `exists`, `put_many`,
/// `health` and `gcra_inline` have defaults built on them, which a backend
/// overrides when it has a cheaper way; `backend` reads
/// [`Capabilities::name`]; `clock` is the system clock unless the backend
/// returns the clock it was built with. A wrapper that forwards to another
/// store (metrics, fault injection) must forward every method, defaults
/// included, or the inner store's own versions are bypassed: put
/// `#[deny(clippy::missing_trait_methods)]` on its `impl Store` block.
#[async_trait]
pub trait Store: Send + Sync + Debug + 'static {
    /// What this backend is and can do: its name, whose clock judges
    /// expiry, and whether entries outlive the process.
    fn capabilities(&self) -> Capabilities;

    /// The clock this store was built with. Modules built on the store
    /// (sessions, rate limits, tokens…) read time from it unless given
    /// another, so a store on a [`FakeClock`](crate::FakeClock) moves them
    /// too. The default is the [`SystemClock`]; a backend whose expiry
    /// follows an injected clock returns that clock.
    fn clock(&self) -> SharedClock {
        std::sync::Arc::new(SystemClock)
    }

    /// This store instance's key prefix.
    fn prefix(&self) -> &str;

    /// Reads the live entry under `key`: value, version and expiry.
    /// Returns `None` when the entry is missing or expired.
    async fn get(&self, key: &str) -> Result<Option<Entry>>;

    /// Writes `value` under `key` as `options` say, and returns the new version.
    ///
    /// # Errors
    /// - [`Error::AlreadyExists`](crate::Error::AlreadyExists): `CreateOnly` and a live entry exists.
    /// - [`Error::NotFound`](crate::Error::NotFound): `UpdateOnly`/`IfVersion` and no live entry.
    /// - [`Error::VersionConflict`](crate::Error::VersionConflict): `IfVersion(v)` and the live entry's version is not `v`.
    /// - [`Error::ValueTooLarge`](crate::Error::ValueTooLarge), [`Error::TooManyIndexKeys`](crate::Error::TooManyIndexKeys),
    ///   [`Error::ZeroTtl`](crate::Error::ZeroTtl).
    ///
    /// In every error case nothing changes.
    async fn put(&self, key: &str, value: &[u8], options: PutOptions) -> Result<u64>;

    /// Writes several entries, each exactly as [`put`](Store::put) with its
    /// own options would, in order, and returns one result per item. Each
    /// write is atomic on its own; the batch is not one transaction (another
    /// client may see some of the items written and not yet the others), and
    /// one item's error does not stop the others. The default calls `put`
    /// for each in turn and never returns the outer error; a backend
    /// overrides it to send the batch in one round trip (Redis: one script
    /// on a single server).
    ///
    /// # Errors
    /// The outer error when the batch as a whole could not be sent or its
    /// answer read (then any of the items may or may not have been
    /// written); per item, the errors of `put`.
    async fn put_many(&self, items: &[PutItem<'_>]) -> Result<Vec<Result<u64>>> {
        let mut results = Vec::with_capacity(items.len());
        for item in items {
            results.push(self.put(item.key, item.value, item.options.clone()).await);
        }
        Ok(results)
    }

    /// Writes every item of `puts` if every condition holds, or nothing:
    /// each entry under `checks` is live at exactly the version given, and
    /// each put's own [`PutMode`](crate::PutMode) holds. One atomic step, as
    /// every method is: no other operation sees some of the writes and not
    /// the others, or a write made after a check it depended on failed.
    /// Returns the new versions, in the order of `puts`. A check does not
    /// change its entry (its version and TTL stay as they are).
    ///
    /// Keys that belong together (one OAuth grant and its tokens, say)
    /// share a hash tag: `{tag}` anywhere in the key, as Redis Cluster
    /// defines it. On Redis Cluster every key and index key of one commit
    /// must be in the same hash slot, which one shared tag guarantees; the
    /// other backends accept any keys.
    ///
    /// # Errors
    /// - The first condition that fails, checks first and then puts in
    ///   order: [`Error::NotFound`](crate::Error::NotFound),
    ///   [`Error::VersionConflict`](crate::Error::VersionConflict),
    ///   [`Error::AlreadyExists`](crate::Error::AlreadyExists), naming its key.
    /// - [`Error::InvalidArgument`](crate::Error::InvalidArgument): no put,
    ///   more than [`MAX_COMMIT_KEYS`](crate::MAX_COMMIT_KEYS) keys, a key
    ///   named twice, or (Redis Cluster) keys in different hash slots.
    /// - As [`put`](Store::put) for each item's key, value, TTL and index keys.
    ///
    /// In every error case nothing changes.
    async fn commit(&self, checks: &[VersionCheck<'_>], puts: &[PutItem<'_>]) -> Result<Vec<u64>>;

    /// Atomically removes and returns the live entry under `key` (get-and-delete).
    /// Of concurrent callers, exactly one receives the entry.
    async fn take(&self, key: &str) -> Result<Option<Entry>>;

    /// Deletes the entry under `key`. Returns whether a live entry was deleted.
    async fn delete(&self, key: &str) -> Result<bool>;

    /// Whether a live entry exists under `key`.
    ///
    /// The default is [`get`](Store::get) with the value dropped; a backend
    /// overrides it to check without reading the value.
    async fn exists(&self, key: &str) -> Result<bool> {
        Ok(self.get(key).await?.is_some())
    }

    /// Sets the TTL of the live entry under `key` to `ttl` from now, without
    /// rewriting its value or changing its version. Returns `false` if there
    /// is no live entry.
    ///
    /// # Errors
    /// [`Error::ZeroTtl`](crate::Error::ZeroTtl) for a zero `ttl`.
    async fn touch(&self, key: &str, ttl: Duration) -> Result<bool>;

    /// Adds `delta` (which may be negative) to the counter under `key`,
    /// creating it at 0 with `ttl_on_create` if no live entry exists.
    /// An existing counter keeps its TTL. Returns the new value and remaining TTL.
    ///
    /// # Errors
    /// [`Error::NotACounter`](crate::Error::NotACounter) if the entry is not a
    /// decimal integer, [`Error::CounterOverflow`](crate::Error::CounterOverflow)
    /// if the sum leaves `i64` (nothing changes).
    async fn incr(&self, key: &str, delta: i64, ttl_on_create: Option<Duration>)
    -> Result<Counter>;

    /// One GCRA rate-limit step on the state under `key`, atomically: decides
    /// whether a request of `params.cost` fits and, if so, records it.
    /// The state expires by itself once the limit has fully recovered.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`](crate::Error::InvalidArgument) for a zero
    /// interval or burst, or a cost above the burst;
    /// [`Error::NotACounter`](crate::Error::NotACounter) if `key` holds other data.
    async fn gcra(&self, key: &str, params: GcraParams) -> Result<GcraDecision>;

    /// [`get`](Store::get) answered in place, for backends that need no I/O
    /// for it (the memory store): `Some` with the same result `get` would
    /// give, or `None` when the backend must be awaited. [`StoreExt`]'s typed
    /// reads try it first and skip the async call's allocation. The default
    /// is `None`.
    ///
    /// [`StoreExt`]: crate::StoreExt
    fn get_inline(&self, key: &str) -> Option<Result<Option<Entry>>> {
        let _ = key;
        None
    }

    /// [`gcra`](Store::gcra) answered in place, for backends that need no
    /// I/O for it (the memory store): `Some` with the same result `gcra`
    /// would give, or `None` when the backend must be awaited. Callers on
    /// a hot path try this first and skip the async call's allocation.
    /// The default is `None`.
    fn gcra_inline(&self, key: &str, params: GcraParams) -> Option<Result<GcraDecision>> {
        let _ = (key, params);
        None
    }

    /// Keys of the live entries listed under `index_key`, sorted.
    async fn list_index(&self, index_key: &str) -> Result<Vec<String>>;

    /// Deletes every entry listed under `index_key`, and the index itself.
    /// Returns how many live entries were deleted.
    ///
    /// Each entry's removal is atomic. An entry written under the index while
    /// the call runs may survive it, exactly as if it had been written just
    /// after; every entry listed before the call began and not re-written
    /// without the index key is gone when it returns.
    async fn delete_index(&self, index_key: &str) -> Result<u64>;

    /// One page of at most `limit` live entries whose key starts with
    /// `prefix` (may be empty), with remaining TTLs and index keys.
    ///
    /// Start with `cursor = None` and pass each page's cursor back until it is
    /// `None`. Every entry that is live for the whole scan is returned; the
    /// memory and SQL backends return it exactly once, Redis at least once
    /// (its `SCAN` may repeat a key while the server rehashes; see
    /// `docs/ARCHITECTURE.md` for the one rehash case that can skip). Entries
    /// written or deleted during the scan may or may not appear.
    /// A page may hold fewer than `limit` entries before the scan is done.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`](crate::Error::InvalidArgument) for a cursor
    /// this store did not produce, or a zero limit.
    async fn scan(&self, prefix: &str, cursor: Option<&str>, limit: usize) -> Result<ScanPage>;

    /// Physically removes up to `limit` expired entries of this store's
    /// prefix; returns how many.
    async fn purge_expired(&self, limit: usize) -> Result<u64>;

    /// Entry and operation counts.
    async fn stats(&self) -> Result<StoreStats>;

    /// Checks that the backend answers, and how fast. Never fails: problems
    /// are reported as `ok: false` with a detail.
    ///
    /// The default times one [`exists`](Store::exists) of the key
    /// `health:probe`: `ok` when it answers (whether or not the entry is
    /// there), otherwise not ok with the error as the detail. A backend
    /// overrides it with its own cheapest round trip (Redis `PING`, SQL
    /// `SELECT 1`).
    async fn health(&self) -> Health {
        let started = Instant::now();
        let answer = self.exists(HEALTH_PROBE_KEY).await;
        Health {
            ok: answer.is_ok(),
            latency: started.elapsed(),
            detail: answer.err().map(|e| crate::error::error_chain(&e)),
        }
    }
}
