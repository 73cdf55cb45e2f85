//! The in-memory backend: sharded, bounded, with lazy expiry and a background sweeper.
//!
//! ```
//! # async fn demo() -> authstore::Result<()> {
//! use authstore::{MemoryStore, PutOptions, Store};
//! use std::time::Duration;
//!
//! let store = MemoryStore::builder().max_entries(100_000).build()?;
//! store.put("session:abc", b"{}", PutOptions::new().ttl(Duration::from_secs(60))).await?;
//! assert!(store.exists("session:abc").await?);
//! # Ok(()) }
//! ```

mod engine;
mod index;
mod record;
mod shard;
mod sweeper;

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;

pub use engine::EvictionPolicy;
use engine::{Bounds, Engine};
use sweeper::Sweeper;

use crate::clock::{Clock, CoarseClock, SharedClock};
use crate::error::{Error, Result};
use crate::key::{
    DEFAULT_MAX_VALUE_SIZE, validate_commit, validate_key, validate_prefix, validate_put,
    validate_ttl,
};
use crate::store::Store;
use crate::types::{
    Capabilities, Counter, Entry, ExpiryClock, GcraDecision, GcraParams, Health, PutItem,
    PutOptions, ScanPage, StoreStats, VersionCheck,
};

/// Default number of shards (independent locks).
const DEFAULT_SHARDS: usize = 64;

/// The engine plus its sweeper; dropping the last handle stops the sweeper.
#[derive(Debug)]
struct Shared {
    engine: Engine,
    sweeper: Sweeper,
}

impl Drop for Shared {
    fn drop(&mut self) {
        self.sweeper.signal_stop();
    }
}

/// The embedded default [`Store`]: all state in this process's memory.
///
/// Cloning is cheap and clones share the data. [`MemoryStore::with_prefix`]
/// gives a view of the same data under another key prefix (tenant isolation).
/// Expired entries vanish from reads at once and are removed lazily on access,
/// by a background sweeper thread (every 60 s by default), and by
/// [`cleanup`](MemoryStore::cleanup). Bounds (`max_entries`, `max_bytes`) are
/// enforced per shard, each shard holding an equal share, so the store as a
/// whole stays within them.
#[derive(Debug, Clone)]
pub struct MemoryStore {
    shared: Arc<Shared>,
    prefix: Arc<str>,
    clock: SharedClock,
    max_value_size: usize,
}

/// Configures a [`MemoryStore`].
#[derive(Debug, Clone)]
pub struct MemoryStoreBuilder {
    max_entries: Option<usize>,
    max_bytes: Option<usize>,
    eviction: EvictionPolicy,
    sweep_interval: Option<Duration>,
    max_value_size: usize,
    prefix: String,
    shards: Option<usize>,
    clock: SharedClock,
}

impl Default for MemoryStoreBuilder {
    fn default() -> Self {
        Self {
            max_entries: None,
            max_bytes: None,
            eviction: EvictionPolicy::Lru,
            sweep_interval: Some(Duration::from_secs(60)),
            max_value_size: DEFAULT_MAX_VALUE_SIZE,
            prefix: String::new(),
            shards: None,
            clock: Arc::new(CoarseClock),
        }
    }
}

impl MemoryStoreBuilder {
    /// Bounds the number of entries; beyond it entries are evicted.
    pub fn max_entries(mut self, n: usize) -> Self {
        self.max_entries = Some(n);
        self
    }

    /// Bounds the bytes of keys and values; beyond it entries are evicted.
    pub fn max_bytes(mut self, n: usize) -> Self {
        self.max_bytes = Some(n);
        self
    }

    /// Which entries go first when a bound is reached (default LRU).
    pub fn eviction(mut self, policy: EvictionPolicy) -> Self {
        self.eviction = policy;
        self
    }

    /// How often the sweeper purges expired entries; `None` disables it.
    pub fn sweep_interval(mut self, every: Option<Duration>) -> Self {
        self.sweep_interval = every;
        self
    }

    /// Largest value accepted (default 1 MiB).
    pub fn max_value_size(mut self, bytes: usize) -> Self {
        self.max_value_size = bytes;
        self
    }

    /// Key prefix of the store handle built.
    pub fn prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// Number of shards (default 64, fewer for small bounds).
    pub fn shards(mut self, n: usize) -> Self {
        self.shards = Some(n.max(1));
        self
    }

    /// The clock that judges expiry (default [`CoarseClock`]).
    pub fn clock(mut self, clock: impl Clock) -> Self {
        self.clock = crate::clock::share(clock);
        self
    }

    /// Builds the store and starts its sweeper.
    ///
    /// # Errors
    /// [`Error::InvalidKey`] for a bad prefix, [`Error::InvalidArgument`] for a zero bound.
    pub fn build(self) -> Result<MemoryStore> {
        validate_prefix(&self.prefix)?;
        if self.max_entries == Some(0) || self.max_bytes == Some(0) {
            return Err(Error::InvalidArgument(
                "memory store bounds must be positive",
            ));
        }
        // Small bounds get fewer shards so that each shard's share stays useful.
        let by_entries = self.max_entries.map_or(DEFAULT_SHARDS, |n| n / 64);
        let by_bytes = self.max_bytes.map_or(DEFAULT_SHARDS, |n| n / (64 * 1024));
        let shards = self
            .shards
            .unwrap_or(DEFAULT_SHARDS.min(by_entries).min(by_bytes))
            .max(1);
        let bounds = Bounds {
            max_entries_per_shard: self.max_entries.map_or(usize::MAX, |n| (n / shards).max(1)),
            max_bytes_per_shard: self.max_bytes.map_or(usize::MAX, |n| (n / shards).max(1)),
            policy: self.eviction,
        };
        let engine = Engine::new(shards, bounds, self.clock.now_millis());
        let shared = Arc::new(Shared {
            engine,
            sweeper: Sweeper::new(self.clock.clone()),
        });
        if let Some(every) = self.sweep_interval {
            shared
                .sweeper
                .start(Arc::downgrade(&shared), every, |s: &Shared, now| {
                    s.engine.purge_expired(None, usize::MAX, now)
                });
        }
        Ok(MemoryStore {
            shared,
            prefix: self.prefix.into(),
            clock: self.clock,
            max_value_size: self.max_value_size,
        })
    }

    /// Reads settings from a `memory://` URL's query: `max_entries`, `max_bytes`,
    /// `eviction` (`lru` or `soonest-expiry`), `sweep_interval_ms` (0 disables),
    /// `max_value_size`, `prefix`, `shards`. Unknown parameters are an error.
    ///
    /// # Errors
    /// [`Error::InvalidUrl`].
    pub fn from_url(url: &url::Url) -> Result<Self> {
        let bad = |reason: String| Error::InvalidUrl {
            url: url.to_string(),
            reason,
        };
        let mut b = Self::default();
        for (name, value) in url.query_pairs() {
            let number = || {
                value
                    .parse::<usize>()
                    .map_err(|_| bad(format!("{name} must be a non-negative integer")))
            };
            match name.as_ref() {
                "max_entries" => b = b.max_entries(number()?),
                "max_bytes" => b = b.max_bytes(number()?),
                "max_value_size" => b = b.max_value_size(number()?),
                "shards" => b = b.shards(number()?),
                "sweep_interval_ms" => {
                    let ms = number()? as u64;
                    b = b.sweep_interval((ms > 0).then(|| Duration::from_millis(ms)));
                }
                "eviction" => {
                    b = b.eviction(match value.as_ref() {
                        "lru" => EvictionPolicy::Lru,
                        "soonest-expiry" => EvictionPolicy::SoonestExpiry,
                        _ => return Err(bad("eviction must be lru or soonest-expiry".into())),
                    })
                }
                "prefix" => b = b.prefix(value.as_ref()),
                _ => return Err(bad(format!("unknown parameter {name:?}"))),
            }
        }
        Ok(b)
    }
}

impl Default for MemoryStore {
    fn default() -> Self {
        Self::new()
    }
}

impl MemoryStore {
    /// An unbounded store with the system clock and a 60 s sweeper.
    pub fn new() -> Self {
        MemoryStoreBuilder::default()
            .build()
            .expect("the default memory store configuration is valid")
    }

    /// A builder for a configured store.
    pub fn builder() -> MemoryStoreBuilder {
        MemoryStoreBuilder::default()
    }

    /// This store judging expiry by `clock` (the sweeper too, for every
    /// handle sharing this store's data).
    pub fn with_clock(mut self, clock: impl Clock) -> Self {
        let clock = crate::clock::share(clock);
        self.shared.sweeper.set_clock(clock.clone());
        self.clock = clock;
        self
    }

    /// A handle on the same data under another key prefix. Handles with
    /// different prefixes never see each other's entries or indexes.
    ///
    /// # Errors
    /// [`Error::InvalidKey`] for a prefix with control characters or over 512 bytes.
    pub fn with_prefix(&self, prefix: &str) -> Result<Self> {
        validate_prefix(prefix)?;
        Ok(Self {
            prefix: prefix.into(),
            ..self.clone()
        })
    }

    /// Entries held, across all prefixes, including expired ones not yet removed.
    pub fn size(&self) -> usize {
        self.shared.engine.totals().0
    }

    /// Removes every entry of every prefix; returns how many there were.
    pub fn clear(&self) -> usize {
        self.shared.engine.clear()
    }

    /// Removes all expired entries of every prefix now; returns how many.
    /// ([`Store::purge_expired`] only purges this handle's prefix.)
    pub fn cleanup(&self) -> u64 {
        self.shared
            .engine
            .purge_expired(None, usize::MAX, self.clock.now_millis())
    }

    /// Stops the background sweeper and waits for it. Also happens (without
    /// waiting) when the last handle is dropped. The store stays usable.
    pub fn shutdown(&self) {
        self.shared.sweeper.stop_and_join();
    }

    /// How many sweeps the background sweeper has completed.
    pub fn sweeps(&self) -> u64 {
        self.shared.sweeper.runs()
    }

    /// Whether the background sweeper thread is running.
    pub fn sweeper_running(&self) -> bool {
        self.shared.sweeper.is_running()
    }

    fn now(&self) -> u64 {
        self.clock.now_millis()
    }

    fn get_now(&self, key: &str) -> Result<Option<Entry>> {
        validate_key(key)?;
        Ok(self.shared.engine.get(&self.prefix, key, self.now()))
    }

    fn gcra_now(&self, key: &str, params: GcraParams) -> Result<GcraDecision> {
        validate_key(key)?;
        crate::backend::gcra::validate(&params)?;
        self.shared
            .engine
            .gcra(&self.prefix, key, &params, self.now())
    }
}

/// Formats and parses the memory store's scan cursor: `shard.slot`.
fn encode_cursor((shard, slot): (usize, usize)) -> String {
    format!("{shard}.{slot}")
}

fn decode_cursor(cursor: &str, shards: usize) -> Result<(usize, usize)> {
    let bad = || Error::InvalidArgument("not a scan cursor of this memory store");
    let (a, b) = cursor.split_once('.').ok_or_else(bad)?;
    let shard: usize = a.parse().map_err(|_| bad())?;
    let slot: usize = b.parse().map_err(|_| bad())?;
    if shard >= shards {
        return Err(bad());
    }
    Ok((shard, slot))
}

#[async_trait]
impl Store for MemoryStore {
    fn capabilities(&self) -> Capabilities {
        Capabilities {
            name: "memory",
            expiry_clock: ExpiryClock::Injected,
            durable: false,
        }
    }

    fn clock(&self) -> SharedClock {
        Arc::clone(&self.clock)
    }

    fn prefix(&self) -> &str {
        &self.prefix
    }

    async fn get(&self, key: &str) -> Result<Option<Entry>> {
        self.get_now(key)
    }

    fn get_inline(&self, key: &str) -> Option<Result<Option<Entry>>> {
        Some(self.get_now(key))
    }

    async fn put(&self, key: &str, value: &[u8], options: PutOptions) -> Result<u64> {
        validate_key(key)?;
        validate_put(value, &options, self.max_value_size)?;
        self.shared
            .engine
            .put(&self.prefix, key, value, &options, self.now())
    }

    async fn commit(&self, checks: &[VersionCheck<'_>], puts: &[PutItem<'_>]) -> Result<Vec<u64>> {
        validate_commit(checks, puts, self.max_value_size)?;
        self.shared
            .engine
            .commit(&self.prefix, checks, puts, self.now())
    }

    async fn take(&self, key: &str) -> Result<Option<Entry>> {
        validate_key(key)?;
        Ok(self.shared.engine.take(&self.prefix, key, self.now()))
    }

    async fn delete(&self, key: &str) -> Result<bool> {
        validate_key(key)?;
        Ok(self.shared.engine.delete(&self.prefix, key, self.now()))
    }

    async fn exists(&self, key: &str) -> Result<bool> {
        validate_key(key)?;
        Ok(self.shared.engine.exists(&self.prefix, key, self.now()))
    }

    async fn touch(&self, key: &str, ttl: Duration) -> Result<bool> {
        validate_key(key)?;
        validate_ttl(Some(ttl))?;
        Ok(self.shared.engine.touch(&self.prefix, key, ttl, self.now()))
    }

    async fn incr(
        &self,
        key: &str,
        delta: i64,
        ttl_on_create: Option<Duration>,
    ) -> Result<Counter> {
        validate_key(key)?;
        validate_ttl(ttl_on_create)?;
        self.shared
            .engine
            .incr(&self.prefix, key, delta, ttl_on_create, self.now())
    }

    async fn gcra(&self, key: &str, params: GcraParams) -> Result<GcraDecision> {
        self.gcra_now(key, params)
    }

    fn gcra_inline(&self, key: &str, params: GcraParams) -> Option<Result<GcraDecision>> {
        Some(self.gcra_now(key, params))
    }

    async fn list_index(&self, index_key: &str) -> Result<Vec<String>> {
        validate_key(index_key)?;
        Ok(self
            .shared
            .engine
            .list_index(&self.prefix, index_key, self.now()))
    }

    async fn delete_index(&self, index_key: &str) -> Result<u64> {
        validate_key(index_key)?;
        Ok(self
            .shared
            .engine
            .delete_index(&self.prefix, index_key, self.now()))
    }

    async fn scan(&self, prefix: &str, cursor: Option<&str>, limit: usize) -> Result<ScanPage> {
        if limit == 0 {
            return Err(Error::InvalidArgument("scan limit must be at least 1"));
        }
        let engine = &self.shared.engine;
        let start = match cursor {
            Some(c) => decode_cursor(c, engine.shard_count())?,
            None => (0, 0),
        };
        let (entries, next) = engine.scan(&self.prefix, prefix, start, limit, self.now());
        Ok(ScanPage {
            entries,
            cursor: next.map(encode_cursor),
        })
    }

    async fn purge_expired(&self, limit: usize) -> Result<u64> {
        Ok(self
            .shared
            .engine
            .purge_expired(Some(&self.prefix), limit, self.now()))
    }

    async fn stats(&self) -> Result<StoreStats> {
        let (entries, bytes, hits, misses, w) = self.shared.engine.totals();
        Ok(StoreStats {
            entries: entries as u64,
            bytes: Some(bytes as u64),
            hits,
            misses,
            sets: w.sets,
            deletes: w.deletes,
            evictions: w.evictions,
            expirations: w.expirations,
        })
    }

    async fn health(&self) -> Health {
        let started = Instant::now();
        let _ = self
            .shared
            .engine
            .exists(&self.prefix, "health:probe", self.now());
        Health {
            ok: true,
            latency: started.elapsed(),
            detail: None,
        }
    }
}
