//! The three implementations under test, behind one small trait so every
//! workload runs the same loop on each (monomorphised: no dynamic dispatch
//! is added by the harness).

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use authstore::{MemoryStore, PutOptions, Store};
use dashmap::DashMap;
use futures::FutureExt;
use moka::Expiry;
use moka::ops::compute::Op as MokaOp;
use moka::sync::Cache;

use super::workload::TTL;

/// What each workload does to an implementation.
pub(crate) trait Backend: Sync {
    /// Reads `key`; true on a hit. The value is cloned out and dropped.
    fn get(&self, key: &str) -> bool;
    /// Upserts `key` with `value` and a TTL of [`TTL`].
    fn put(&self, key: &str, value: &[u8]);
    /// Adds 1 to the counter `key` (created with TTL [`TTL`]); returns the new value.
    fn incr(&self, key: &str) -> i64;
    /// Removes `key` and returns its value; true if it was there.
    fn take(&self, key: &str) -> bool;
    /// Current value of counter `key` (0 if absent), for correctness checks.
    fn counter(&self, key: &str) -> i64;
    /// Finishes deferred work after a bulk load (moka's pending tasks).
    fn settle(&self) {}
}

/// Wall clock in ms since the epoch, as MemoryStore's `SystemClock` reads it.
fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

// ---------------------------------------------------------------- MemoryStore

/// `authstore::MemoryStore` used as users do: `Arc<dyn Store>`. A get is
/// `get_inline`, falling back to the awaited `get`, as `StoreExt`'s typed
/// reads do; every other call is an `#[async_trait]` boxed future, driven
/// with `now_or_never` (MemoryStore's futures are ready on first poll, so no
/// runtime is involved).
pub(crate) struct Memory {
    store: Arc<dyn Store>,
}

impl Memory {
    pub(crate) fn new() -> Self {
        let store = MemoryStore::builder()
            .sweep_interval(None)
            .build()
            .expect("valid memory store config");
        Self {
            store: Arc::new(store),
        }
    }
}

impl Backend for Memory {
    #[inline]
    fn get(&self, key: &str) -> bool {
        let entry = match self.store.get_inline(key) {
            Some(answer) => answer,
            None => self.store.get(key).now_or_never().expect("ready"),
        };
        match entry.expect("get") {
            Some(e) => {
                black_box(&e.value);
                true
            }
            None => false,
        }
    }

    #[inline]
    fn put(&self, key: &str, value: &[u8]) {
        let v = self
            .store
            .put(key, value, PutOptions::new().ttl(TTL))
            .now_or_never()
            .expect("ready");
        black_box(v.expect("put"));
    }

    #[inline]
    fn incr(&self, key: &str) -> i64 {
        let c = self
            .store
            .incr(key, 1, Some(TTL))
            .now_or_never()
            .expect("ready");
        c.expect("incr").value
    }

    #[inline]
    fn take(&self, key: &str) -> bool {
        let entry = self.store.take(key).now_or_never().expect("ready");
        match entry.expect("take") {
            Some(e) => {
                black_box(&e.value);
                true
            }
            None => false,
        }
    }

    fn counter(&self, key: &str) -> i64 {
        let entry = self.store.get(key).now_or_never().expect("ready");
        entry.expect("get").map_or(0, |e| {
            std::str::from_utf8(&e.value)
                .expect("utf8")
                .parse()
                .expect("decimal")
        })
    }
}

// ---------------------------------------------------------------------- moka

/// A moka value with its own TTL (per-entry expiry).
#[derive(Clone)]
pub(crate) struct MokaValue {
    data: Vec<u8>,
    ttl: Duration,
}

/// A moka counter with the TTL it gets on creation.
#[derive(Clone, Copy)]
pub(crate) struct MokaCounter {
    n: i64,
    ttl: Duration,
}

/// Values expire `ttl` after each write (every put sets the TTL afresh).
struct ValueExpiry;

impl Expiry<String, MokaValue> for ValueExpiry {
    fn expire_after_create(&self, _: &String, v: &MokaValue, _: Instant) -> Option<Duration> {
        Some(v.ttl)
    }

    fn expire_after_update(
        &self,
        _: &String,
        v: &MokaValue,
        _: Instant,
        _: Option<Duration>,
    ) -> Option<Duration> {
        Some(v.ttl)
    }
}

/// Counters expire `ttl` after creation; increments keep the expiry.
struct CounterExpiry;

impl Expiry<String, MokaCounter> for CounterExpiry {
    fn expire_after_create(&self, _: &String, v: &MokaCounter, _: Instant) -> Option<Duration> {
        Some(v.ttl)
    }
}

/// `moka::sync::Cache` with per-entry expiry, no capacity bound.
pub(crate) struct Moka {
    pub(crate) values: Cache<String, MokaValue>,
    counters: Cache<String, MokaCounter>,
}

impl Moka {
    pub(crate) fn new() -> Self {
        Self {
            values: Cache::builder().expire_after(ValueExpiry).build(),
            counters: Cache::builder().expire_after(CounterExpiry).build(),
        }
    }
}

impl Backend for Moka {
    #[inline]
    fn get(&self, key: &str) -> bool {
        match self.values.get(key) {
            Some(v) => {
                black_box(&v.data);
                true
            }
            None => false,
        }
    }

    #[inline]
    fn put(&self, key: &str, value: &[u8]) {
        self.values.insert(
            key.to_owned(),
            MokaValue {
                data: value.to_vec(),
                ttl: TTL,
            },
        );
    }

    #[inline]
    fn incr(&self, key: &str) -> i64 {
        let result = self.counters.entry_by_ref(key).and_compute_with(|e| {
            let n = e.map_or(0, |e| e.into_value().n) + 1;
            MokaOp::Put(MokaCounter { n, ttl: TTL })
        });
        match result {
            moka::ops::compute::CompResult::Inserted(e)
            | moka::ops::compute::CompResult::ReplacedWith(e) => e.into_value().n,
            _ => unreachable!("incr always puts"),
        }
    }

    #[inline]
    fn take(&self, key: &str) -> bool {
        match self.values.remove(key) {
            Some(v) => {
                black_box(&v.data);
                true
            }
            None => false,
        }
    }

    fn counter(&self, key: &str) -> i64 {
        self.counters.get(key).map_or(0, |c| c.n)
    }

    fn settle(&self) {
        self.values.run_pending_tasks();
        self.counters.run_pending_tasks();
    }
}

// ------------------------------------------------------------------- dashmap

/// Bare `DashMap` (default hasher, default shard count) with an expiry
/// timestamp per entry, checked against the wall clock on every read.
pub(crate) struct Dash {
    pub(crate) values: DashMap<String, (Vec<u8>, u64)>,
    counters: DashMap<String, (i64, u64)>,
    ttl_ms: u64,
}

impl Dash {
    pub(crate) fn new() -> Self {
        Self {
            values: DashMap::new(),
            counters: DashMap::new(),
            ttl_ms: TTL.as_millis() as u64,
        }
    }
}

impl Backend for Dash {
    #[inline]
    fn get(&self, key: &str) -> bool {
        let now = now_ms();
        let value = self
            .values
            .get(key)
            .and_then(|e| (e.1 > now).then(|| e.0.clone()));
        match value {
            Some(v) => {
                black_box(&v);
                true
            }
            None => false,
        }
    }

    #[inline]
    fn put(&self, key: &str, value: &[u8]) {
        let expires = now_ms() + self.ttl_ms;
        self.values
            .insert(key.to_owned(), (value.to_vec(), expires));
    }

    #[inline]
    fn incr(&self, key: &str) -> i64 {
        let now = now_ms();
        if let Some(mut e) = self.counters.get_mut(key) {
            if e.1 > now {
                e.0 += 1;
            } else {
                *e = (1, now + self.ttl_ms);
            }
            return e.0;
        }
        // Miss: create it. If another thread created it since, `and_modify` counts us.
        self.counters
            .entry(key.to_owned())
            .and_modify(|e| e.0 += 1)
            .or_insert((1, now + self.ttl_ms))
            .0
    }

    #[inline]
    fn take(&self, key: &str) -> bool {
        let now = now_ms();
        match self.values.remove(key) {
            Some((_, (v, expires))) if expires > now => {
                black_box(&v);
                true
            }
            _ => false,
        }
    }

    fn counter(&self, key: &str) -> i64 {
        self.counters.get(key).map_or(0, |c| c.0)
    }
}
