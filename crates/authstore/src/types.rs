//! Values passed to and returned by the [`Store`](crate::Store) primitives.

use std::time::{Duration, SystemTime};

use bytes::Bytes;

use crate::clock::millis_to_system_time;

/// A live entry as returned by [`Store::get`](crate::Store::get) and [`Store::take`](crate::Store::take).
#[derive(Clone, PartialEq, Eq)]
pub struct Entry {
    /// The stored bytes.
    pub value: Bytes,
    /// The entry's version: positive, and strictly greater after every write.
    pub version: u64,
    /// When the entry expires, or `None` if it never does.
    pub expires_at: Option<SystemTime>,
}

impl Entry {
    /// Builds an entry from an expiry given in milliseconds since the epoch
    /// (`None` = never expires).
    pub fn from_parts(value: Bytes, version: u64, expires_at_millis: Option<u64>) -> Self {
        Self {
            value,
            version,
            expires_at: expires_at_millis.map(millis_to_system_time),
        }
    }

    /// Time left before expiry as seen at `now`, or `None` if the entry never expires.
    pub fn ttl_at(&self, now: SystemTime) -> Option<Duration> {
        self.expires_at
            .map(|at| at.duration_since(now).unwrap_or(Duration::ZERO))
    }
}

/// Values may be secrets: Debug shows only their length.
impl std::fmt::Debug for Entry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Entry")
            .field("value", &format_args!("<{} bytes>", self.value.len()))
            .field("version", &self.version)
            .field("expires_at", &self.expires_at)
            .finish()
    }
}

/// The condition under which a [`Store::put`](crate::Store::put) writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PutMode {
    /// Write whether or not a live entry exists.
    #[default]
    Upsert,
    /// Write only if no live entry exists, else [`Error::AlreadyExists`](crate::Error::AlreadyExists).
    CreateOnly,
    /// Write only if a live entry exists, else [`Error::NotFound`](crate::Error::NotFound).
    /// A deleted or expired entry is never brought back.
    UpdateOnly,
    /// Write only if the live entry has exactly this version (compare-and-set),
    /// else [`Error::VersionConflict`](crate::Error::VersionConflict) or
    /// [`Error::NotFound`](crate::Error::NotFound).
    IfVersion(u64),
}

/// Options of a [`Store::put`](crate::Store::put).
///
/// ```
/// use authstore::PutOptions;
/// use std::time::Duration;
///
/// let opts = PutOptions::new()
///     .ttl(Duration::from_secs(3600))
///     .create_only()
///     .index("user:42");
/// assert_eq!(opts.index_keys, vec!["user:42".to_string()]);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PutOptions {
    /// Time to live from the moment of the write; `None` means the entry never expires.
    /// Every put sets the TTL afresh (it does not keep the previous one).
    pub ttl: Option<Duration>,
    /// The write condition.
    pub mode: PutMode,
    /// Index keys the entry is listed under (at most [`MAX_INDEX_KEYS`](crate::MAX_INDEX_KEYS)).
    /// A put replaces the entry's previous index keys.
    pub index_keys: Vec<String>,
}

impl PutOptions {
    /// Upsert, no TTL, no index keys.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the time to live.
    pub fn ttl(mut self, ttl: Duration) -> Self {
        self.ttl = Some(ttl);
        self
    }

    /// Sets the write condition.
    pub fn mode(mut self, mode: PutMode) -> Self {
        self.mode = mode;
        self
    }

    /// Shorthand for [`PutMode::CreateOnly`].
    pub fn create_only(self) -> Self {
        self.mode(PutMode::CreateOnly)
    }

    /// Shorthand for [`PutMode::UpdateOnly`].
    pub fn update_only(self) -> Self {
        self.mode(PutMode::UpdateOnly)
    }

    /// Shorthand for [`PutMode::IfVersion`].
    pub fn if_version(self, version: u64) -> Self {
        self.mode(PutMode::IfVersion(version))
    }

    /// Adds an index key.
    pub fn index(mut self, index_key: impl Into<String>) -> Self {
        self.index_keys.push(index_key.into());
        self
    }
}

/// The result of [`Store::incr`](crate::Store::incr).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Counter {
    /// The counter's value after the increment.
    pub value: i64,
    /// Time left before the counter expires, or `None` if it never does.
    pub ttl: Option<Duration>,
}

/// Parameters of a [`Store::gcra`](crate::Store::gcra) rate-limit step
/// (the Generic Cell Rate Algorithm, as in `governor` and `redis-cell`).
///
/// `burst` requests may be made at once; after that one request is allowed
/// every `emission_interval`. A limit of "100 per minute, burst 100" is
/// `emission_interval = 600 ms, burst = 100`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GcraParams {
    /// Time that one unit of quota takes to replenish. Must be at least 1 ms.
    pub emission_interval: Duration,
    /// Largest number of units that can be spent at once. Must be at least 1.
    pub burst: u32,
    /// Units this request spends; 0 only reports the state. Must not exceed `burst`.
    pub cost: u32,
}

impl GcraParams {
    /// `limit` requests per `period`, all of which may come in a burst; cost 1.
    ///
    /// ```
    /// let p = authstore::GcraParams::per_period(100, std::time::Duration::from_secs(60));
    /// assert_eq!(p.emission_interval.as_millis(), 600);
    /// assert_eq!(p.burst, 100);
    /// ```
    pub fn per_period(limit: u32, period: Duration) -> Self {
        let limit = limit.max(1);
        Self {
            emission_interval: period / limit,
            burst: limit,
            cost: 1,
        }
    }

    /// Sets the cost of this request.
    pub fn cost(mut self, cost: u32) -> Self {
        self.cost = cost;
        self
    }
}

/// The verdict of a [`Store::gcra`](crate::Store::gcra) step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GcraDecision {
    /// Whether the request may go ahead (its cost was spent).
    pub allowed: bool,
    /// Units that could still be spent right now after this request.
    pub remaining: u32,
    /// When denied, how long until the same request would be allowed; zero when allowed.
    pub retry_after: Duration,
    /// How long until the full burst is available again.
    pub reset_after: Duration,
}

/// One entry of a [`ScanPage`], with everything needed to copy it elsewhere.
#[derive(Clone, PartialEq, Eq)]
pub struct ScanEntry {
    /// The key, without the store's prefix.
    pub key: String,
    /// The stored bytes (a counter shows as its decimal value).
    pub value: Bytes,
    /// The entry's version.
    pub version: u64,
    /// Remaining time to live at the time of the scan; `None` if it never expires.
    pub ttl: Option<Duration>,
    /// The entry's index keys.
    pub index_keys: Vec<String>,
}

impl std::fmt::Debug for ScanEntry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ScanEntry")
            .field("key", &self.key)
            .field("value", &format_args!("<{} bytes>", self.value.len()))
            .field("version", &self.version)
            .field("ttl", &self.ttl)
            .field("index_keys", &self.index_keys)
            .finish()
    }
}

/// One page of a [`Store::scan`](crate::Store::scan).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ScanPage {
    /// Live entries of this page.
    pub entries: Vec<ScanEntry>,
    /// Opaque cursor for the next page, `None` once the scan is complete.
    pub cursor: Option<String>,
}

/// One write of [`Store::put_many`](crate::Store::put_many): what
/// [`Store::put`](crate::Store::put) takes, as one value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PutItem<'a> {
    /// The key.
    pub key: &'a str,
    /// The bytes to store.
    pub value: &'a [u8],
    /// TTL, condition and index keys.
    pub options: PutOptions,
}

/// A condition of [`Store::commit`](crate::Store::commit): the live entry
/// under `key` has exactly `version`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VersionCheck<'a> {
    /// The key.
    pub key: &'a str,
    /// The version the live entry must have.
    pub version: u64,
}

/// Operation counts reported by [`Store::stats`](crate::Store::stats).
///
/// Counts are since the store (or, for servers, the client) was opened.
/// A backend that cannot know a figure reports `None` for `bytes` and 0 for counts it cannot track.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StoreStats {
    /// Entries currently stored (may include expired entries not yet purged).
    pub entries: u64,
    /// Approximate bytes of keys and values, where the backend can tell.
    pub bytes: Option<u64>,
    /// Reads that found a live entry. The memory backend counts reads
    /// without a locked increment, so it may miss the odd one under heavy
    /// contention.
    pub hits: u64,
    /// Reads that found nothing (counted like `hits`).
    pub misses: u64,
    /// Successful writes (puts, increments, rate-limit steps that stored state).
    pub sets: u64,
    /// Entries removed by delete, take or delete_index.
    pub deletes: u64,
    /// Entries removed to respect a capacity bound.
    pub evictions: u64,
    /// Expired entries removed (lazily, by the sweeper or by purge_expired).
    pub expirations: u64,
}

/// The answer of [`Store::health`](crate::Store::health).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Health {
    /// Whether the backend answered correctly.
    pub ok: bool,
    /// How long the check took.
    pub latency: Duration,
    /// What went wrong when not ok.
    pub detail: Option<String>,
}

/// Whose clock judges expiry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExpiryClock {
    /// The store's injected [`Clock`](crate::Clock): a [`FakeClock`](crate::FakeClock) controls expiry.
    Injected,
    /// The server's own clock (e.g. Redis): TTL tests must wait real time.
    Server,
}

/// What a backend is and can do, so callers and the conformance suite
/// adapt instead of matching on names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Capabilities {
    /// Short backend name (`"memory"`, `"redis"`, `"postgres"`, `"sqlite"`).
    pub name: &'static str,
    /// Whose clock judges expiry.
    pub expiry_clock: ExpiryClock,
    /// Whether entries outlive the process: true for a database or server
    /// (Redis, PostgreSQL, an SQLite file), false for the memory store and
    /// an in-memory SQLite database.
    pub durable: bool,
}
