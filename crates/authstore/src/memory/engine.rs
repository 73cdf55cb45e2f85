//! The memory store's shared state and the atomic primitives on it, each under one shard lock.

use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;

use parking_lot::RwLockWriteGuard;

use super::index::Indexes;
use super::record::{Record, Value};
use super::shard::{Shard, ShardCell, WriteCounts, hash_key, hash_stored, hash_tag};
use crate::backend::gcra;
use crate::clock::duration_to_millis;
use crate::error::{Error, Result};
use crate::types::{
    Counter, Entry, GcraDecision, GcraParams, PutItem, PutMode, PutOptions, ScanEntry, VersionCheck,
};

/// Which entry goes first when a bound is reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum EvictionPolicy {
    /// The least recently used entry (approximated by sampling, like Redis).
    #[default]
    Lru,
    /// The entry that would expire soonest; entries without TTL go last.
    SoonestExpiry,
}

/// How many random entries eviction compares.
const EVICTION_SAMPLES: usize = 8;

/// Capacity bounds, split evenly over the shards.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Bounds {
    pub(crate) max_entries_per_shard: usize,
    pub(crate) max_bytes_per_shard: usize,
    pub(crate) policy: EvictionPolicy,
}

/// State shared by every [`MemoryStore`](super::MemoryStore) handle of one store.
#[derive(Debug)]
pub(crate) struct Engine {
    shards: Box<[ShardCell]>,
    indexes: Indexes,
    hasher: ahash::RandomState,
    bounds: Bounds,
    epoch_ms: u64,
}

fn ms(d: Duration) -> u64 {
    duration_to_millis(d)
}

fn remaining(expires_at: Option<u64>, now: u64) -> Option<Duration> {
    expires_at.map(|at| Duration::from_millis(at.saturating_sub(now)))
}

impl Engine {
    pub(crate) fn new(shards: usize, bounds: Bounds, epoch_ms: u64) -> Self {
        Self {
            shards: (0..shards).map(|_| ShardCell::default()).collect(),
            indexes: Indexes::default(),
            hasher: ahash::RandomState::new(),
            bounds,
            epoch_ms,
        }
    }

    /// The LRU tick for `now`: 16 ms resolution, wraps after about two years.
    fn tick(&self, now: u64) -> u32 {
        (now.wrapping_sub(self.epoch_ms) >> 4) as u32
    }

    #[inline]
    fn locate(&self, prefix: &str, key: &str) -> (u64, &ShardCell) {
        let hash = hash_key(&self.hasher, prefix, key);
        (hash, &self.shards[self.shard_of(prefix, key, hash)])
    }

    /// The shard of a key (whose hash is `hash`): bits 32.. of the hash of
    /// its hash tag if it has one (the first non-empty `{…}`, as Redis
    /// Cluster reads it), so that the keys of one tag share one shard and a
    /// commit of them takes one lock; else of `hash`. hashbrown uses the low
    /// bits for the bucket and the top 7 for the control byte, so these stay
    /// independent; a multiply and shift maps them onto `0..len`.
    #[inline]
    fn shard_of(&self, prefix: &str, key: &str, hash: u64) -> usize {
        let hash = match hash_tag(key) {
            Some(tag) => hash_key(&self.hasher, prefix, tag),
            None => hash,
        };
        (((hash >> 32) * self.shards.len() as u64) >> 32) as usize
    }

    /// Unlists a removed or replaced record from its index keys, except those in `keep`.
    fn unlink(&self, record: &Record, keep: &[String]) {
        let prefix = std::str::from_utf8(record.prefix()).unwrap_or_default();
        for ik in record
            .index_keys()
            .filter(|ik| !keep.iter().any(|k| k == ik))
        {
            self.indexes.remove(prefix, ik, record.key());
        }
    }

    /// Removes slot `idx` and its index links; counts it as expired or deleted.
    fn remove_counted(&self, shard: &mut Shard, hash: u64, idx: u32, now: u64) -> Record {
        let record = shard.remove(hash, idx);
        self.unlink(&record, &[]);
        if record.is_expired(now) {
            shard.counts.expirations += 1;
        } else {
            shard.counts.deletes += 1;
        }
        record
    }

    pub(crate) fn get(&self, prefix: &str, key: &str, now: u64) -> Option<Entry> {
        let (hash, cell) = self.locate(prefix, key);
        let shard = cell.lock.read();
        let Some(idx) = shard.find(hash, prefix, key) else {
            cell.miss();
            return None;
        };
        let record = shard.record(idx);
        if record.is_expired(now) {
            drop(shard);
            cell.miss();
            self.drop_if_expired(prefix, key, now);
            return None;
        }
        shard.stamp(idx, self.tick(now));
        cell.hit();
        Some(Entry::from_parts(
            record.value_bytes(),
            record.version(),
            record.expires_at(),
        ))
    }

    /// Lazy expiry: removes `key` if it is (still) expired.
    fn drop_if_expired(&self, prefix: &str, key: &str, now: u64) {
        let (hash, cell) = self.locate(prefix, key);
        let mut shard = cell.lock.write();
        if let Some(idx) = shard.find(hash, prefix, key)
            && shard.record(idx).is_expired(now)
        {
            self.remove_counted(&mut shard, hash, idx, now);
        }
    }

    pub(crate) fn exists(&self, prefix: &str, key: &str, now: u64) -> bool {
        let (hash, cell) = self.locate(prefix, key);
        let shard = cell.lock.read();
        shard
            .find(hash, prefix, key)
            .is_some_and(|idx| !shard.record(idx).is_expired(now))
    }

    pub(crate) fn put(
        &self,
        prefix: &str,
        key: &str,
        value: &[u8],
        options: &PutOptions,
        now: u64,
    ) -> Result<u64> {
        let (hash, cell) = self.locate(prefix, key);
        let mut shard = cell.lock.write();
        let found = shard.find(hash, prefix, key);
        let live = found.filter(|&idx| !shard.record(idx).is_expired(now));
        let current = live.map(|idx| shard.record(idx).version());
        let version = next_version(key, options.mode, current)?;
        let expires_at = options.ttl.map(|ttl| now.saturating_add(ms(ttl)));
        let record = Record::new(
            prefix,
            key,
            &options.index_keys,
            Value::Bytes(value),
            version,
            expires_at,
        );
        self.store(&mut shard, hash, found, record, &options.index_keys, now);
        Ok(version)
    }

    /// [`Store::commit`](crate::Store::commit): every shard involved is
    /// write-locked (in shard order, so two commits never deadlock) while
    /// every condition is checked and, if all hold, every put is written.
    pub(crate) fn commit(
        &self,
        prefix: &str,
        checks: &[VersionCheck<'_>],
        puts: &[PutItem<'_>],
        now: u64,
    ) -> Result<Vec<u64>> {
        let located: Vec<(u64, usize)> = checks
            .iter()
            .map(|c| c.key)
            .chain(puts.iter().map(|p| p.key))
            .map(|key| {
                let hash = hash_key(&self.hasher, prefix, key);
                (hash, self.shard_of(prefix, key, hash))
            })
            .collect();
        let mut order: Vec<usize> = located.iter().map(|&(_, s)| s).collect();
        order.sort_unstable();
        order.dedup();
        let mut guards: Vec<RwLockWriteGuard<'_, Shard>> =
            order.iter().map(|&s| self.shards[s].lock.write()).collect();
        let guard_of = |shard: usize| order.binary_search(&shard).unwrap_or(0);
        let live_version = |guards: &[RwLockWriteGuard<'_, Shard>], at: usize, key: &str| {
            let (hash, shard) = located[at];
            let guard = &guards[guard_of(shard)];
            guard
                .find(hash, prefix, key)
                .map(|idx| guard.record(idx))
                .filter(|r| !r.is_expired(now))
                .map(Record::version)
        };
        for (at, check) in checks.iter().enumerate() {
            match live_version(&guards, at, check.key) {
                None => {
                    return Err(Error::NotFound {
                        key: check.key.into(),
                    });
                }
                Some(actual) if actual != check.version => {
                    return Err(Error::VersionConflict {
                        key: check.key.into(),
                        expected: check.version,
                        actual,
                    });
                }
                Some(_) => {}
            }
        }
        let mut versions = Vec::with_capacity(puts.len());
        for (i, put) in puts.iter().enumerate() {
            let current = live_version(&guards, checks.len() + i, put.key);
            versions.push(next_version(put.key, put.options.mode, current)?);
        }
        for (i, (put, &version)) in puts.iter().zip(&versions).enumerate() {
            let (hash, shard) = located[checks.len() + i];
            let guard = &mut guards[guard_of(shard)];
            let found = guard.find(hash, prefix, put.key);
            let record = Record::new(
                prefix,
                put.key,
                &put.options.index_keys,
                Value::Bytes(put.value),
                version,
                put.options.ttl.map(|ttl| now.saturating_add(ms(ttl))),
            );
            self.store(guard, hash, found, record, &put.options.index_keys, now);
        }
        Ok(versions)
    }

    /// Writes `record` into `found` (replacing) or a new slot, keeps indexes
    /// in step, counts the write, and evicts if a bound is exceeded.
    fn store(
        &self,
        shard: &mut RwLockWriteGuard<'_, Shard>,
        hash: u64,
        found: Option<u32>,
        record: Record,
        index_keys: &[String],
        now: u64,
    ) {
        let tick = self.tick(now);
        for ik in index_keys {
            self.indexes.add(prefix_of(&record), ik, record.key());
        }
        match found {
            Some(idx) => {
                let old = shard.replace(idx, record, tick);
                if old.is_expired(now) {
                    shard.counts.expirations += 1;
                }
                self.unlink(&old, index_keys);
            }
            None => {
                let idx = shard.insert_new(&self.hasher, hash, record, tick);
                self.enforce_bounds(shard, idx, now);
            }
        }
        shard.counts.sets += 1;
    }

    /// Evicts sampled entries (never `keep`) until the shard is within its bounds.
    fn enforce_bounds(&self, shard: &mut Shard, keep: u32, now: u64) {
        let b = self.bounds;
        while shard.len() > 1
            && (shard.len() > b.max_entries_per_shard || shard.bytes > b.max_bytes_per_shard)
        {
            let victim = shard.pick_victim(EVICTION_SAMPLES, |idx, slot| {
                let record = &slot.record;
                if idx == keep {
                    u64::MAX
                } else if record.is_expired(now) {
                    0
                } else {
                    match b.policy {
                        EvictionPolicy::Lru => 1 + u64::from(slot.stamp.load(Relaxed)),
                        EvictionPolicy::SoonestExpiry => {
                            record.expires_at().unwrap_or(u64::MAX - 1)
                        }
                    }
                }
            });
            let Some(victim) = victim.filter(|&v| v != keep).or_else(|| {
                // Only the new entry was sampled: take any other used slot.
                (0..shard.slots.len() as u32).find(|&i| i != keep && !shard.record(i).is_free())
            }) else {
                return;
            };
            let record = shard.remove_slot(&self.hasher, victim);
            self.unlink(&record, &[]);
            if record.is_expired(now) {
                shard.counts.expirations += 1;
            } else {
                shard.counts.evictions += 1;
            }
        }
    }

    pub(crate) fn take(&self, prefix: &str, key: &str, now: u64) -> Option<Entry> {
        let (hash, cell) = self.locate(prefix, key);
        let mut shard = cell.lock.write();
        let idx = shard.find(hash, prefix, key)?;
        let record = self.remove_counted(&mut shard, hash, idx, now);
        (!record.is_expired(now))
            .then(|| Entry::from_parts(record.value_bytes(), record.version(), record.expires_at()))
    }

    pub(crate) fn delete(&self, prefix: &str, key: &str, now: u64) -> bool {
        let (hash, cell) = self.locate(prefix, key);
        let mut shard = cell.lock.write();
        let Some(idx) = shard.find(hash, prefix, key) else {
            return false;
        };
        !self
            .remove_counted(&mut shard, hash, idx, now)
            .is_expired(now)
    }

    pub(crate) fn touch(&self, prefix: &str, key: &str, ttl: Duration, now: u64) -> bool {
        let (hash, cell) = self.locate(prefix, key);
        let mut shard = cell.lock.write();
        match shard.find(hash, prefix, key) {
            Some(idx) if !shard.record(idx).is_expired(now) => {
                shard
                    .record_mut(idx)
                    .set_expires_at(Some(now.saturating_add(ms(ttl))));
                shard.stamp(idx, self.tick(now));
                true
            }
            _ => false,
        }
    }

    /// Read-modify-write of a counter under one lock: `update` maps the current
    /// value (`None` if absent or expired) to the value to store, or `None` to
    /// store nothing. Returns `update`'s output and the counter's expiry.
    fn with_counter<T>(
        &self,
        prefix: &str,
        key: &str,
        now: u64,
        update: impl FnOnce(Option<(i64, Option<u64>)>) -> Result<(T, Option<(i64, Option<u64>)>)>,
    ) -> Result<T> {
        let (hash, cell) = self.locate(prefix, key);
        let mut shard = cell.lock.write();
        let found = shard.find(hash, prefix, key);
        let live = found.filter(|&idx| !shard.record(idx).is_expired(now));
        let current = match live {
            Some(idx) => {
                let record = shard.record(idx);
                Some((record.counter()?, record.expires_at()))
            }
            None => None,
        };
        let (out, write) = update(current)?;
        let Some((value, expires_at)) = write else {
            return Ok(out);
        };
        match live {
            Some(idx) if shard.record_mut(idx).set_counter(value) => {
                let record = shard.record_mut(idx);
                let version = record.version() + 1;
                record.set_version(version);
                record.set_expires_at(expires_at);
                shard.stamp(idx, self.tick(now));
                shard.counts.sets += 1;
            }
            // An expired counter without index keys is recreated in place
            // (a rate-limit state that recovered and is hit again): same
            // key, same size, so no allocation and nothing to unlink.
            None if found.is_some_and(|idx| {
                let record = shard.record(idx);
                record.index_keys().next().is_none() && record.is_counter()
            }) =>
            {
                let idx = found.expect("checked just above");
                let record = shard.record_mut(idx);
                record.set_counter(value);
                record.set_version(1);
                record.set_expires_at(expires_at);
                shard.stamp(idx, self.tick(now));
                shard.counts.expirations += 1;
                shard.counts.sets += 1;
            }
            _ => {
                // New counter, or a decimal bytes entry turned into a counter
                // (keeping its version sequence and index keys).
                let (version, index_keys) = match live {
                    Some(idx) => {
                        let r = shard.record(idx);
                        (r.version() + 1, r.index_keys().map(str::to_owned).collect())
                    }
                    None => (1, Vec::new()),
                };
                let record = Record::new(
                    prefix,
                    key,
                    &index_keys,
                    Value::Counter(value),
                    version,
                    expires_at,
                );
                self.store(&mut shard, hash, found, record, &index_keys, now);
            }
        }
        Ok(out)
    }

    pub(crate) fn incr(
        &self,
        prefix: &str,
        key: &str,
        delta: i64,
        ttl_on_create: Option<Duration>,
        now: u64,
    ) -> Result<Counter> {
        self.with_counter(prefix, key, now, |current| {
            let (base, expires_at) =
                current.unwrap_or((0, ttl_on_create.map(|ttl| now.saturating_add(ms(ttl)))));
            let value = base
                .checked_add(delta)
                .ok_or_else(|| Error::CounterOverflow { key: key.into() })?;
            let counter = Counter {
                value,
                ttl: remaining(expires_at, now),
            };
            Ok((counter, Some((value, expires_at))))
        })
    }

    pub(crate) fn gcra(
        &self,
        prefix: &str,
        key: &str,
        params: &GcraParams,
        now: u64,
    ) -> Result<GcraDecision> {
        self.with_counter(prefix, key, now, |current| {
            let tat = current.map(|(tat, _)| u64::try_from(tat).unwrap_or(0));
            let outcome = gcra::step(tat, now, params);
            let write = outcome
                .store_tat
                .map(|tat| (i64::try_from(tat).unwrap_or(i64::MAX), Some(tat)));
            Ok((outcome.decision, write))
        })
    }

    /// Live members of an index; unlinks members that are gone.
    pub(crate) fn list_index(&self, prefix: &str, index_key: &str, now: u64) -> Vec<String> {
        let mut live = Vec::new();
        for member in self.indexes.members(prefix, index_key) {
            let (hash, cell) = self.locate(prefix, &member);
            let mut shard = cell.lock.write();
            match shard.find(hash, prefix, &member) {
                Some(idx) if shard.record(idx).has_index_key(index_key) => {
                    if shard.record(idx).is_expired(now) {
                        self.remove_counted(&mut shard, hash, idx, now);
                    } else {
                        live.push(member);
                    }
                }
                _ => self.indexes.remove(prefix, index_key, &member),
            }
        }
        live.sort_unstable();
        live
    }

    /// Deletes every entry listed under an index; returns how many were live.
    pub(crate) fn delete_index(&self, prefix: &str, index_key: &str, now: u64) -> u64 {
        let mut deleted = 0;
        for member in self.indexes.members(prefix, index_key) {
            let (hash, cell) = self.locate(prefix, &member);
            let mut shard = cell.lock.write();
            match shard.find(hash, prefix, &member) {
                Some(idx) if shard.record(idx).has_index_key(index_key) => {
                    let record = self.remove_counted(&mut shard, hash, idx, now);
                    deleted += u64::from(!record.is_expired(now));
                }
                _ => self.indexes.remove(prefix, index_key, &member),
            }
        }
        deleted
    }

    /// Live entries of `prefix` whose key starts with `key_prefix`, from
    /// position (shard, slot) on. Returns them and the next position, if any.
    pub(crate) fn scan(
        &self,
        prefix: &str,
        key_prefix: &str,
        start: (usize, usize),
        limit: usize,
        now: u64,
    ) -> (Vec<ScanEntry>, Option<(usize, usize)>) {
        let mut out = Vec::new();
        let (mut s, mut slot) = start;
        while s < self.shards.len() {
            let shard = self.shards[s].lock.read();
            while slot < shard.slots.len() {
                let record = &shard.slots[slot].record;
                slot += 1;
                if record.is_free()
                    || record.prefix() != prefix.as_bytes()
                    || !record.key().starts_with(key_prefix)
                    || record.is_expired(now)
                {
                    continue;
                }
                out.push(ScanEntry {
                    key: record.key().to_owned(),
                    value: record.value_bytes(),
                    version: record.version(),
                    ttl: remaining(record.expires_at(), now),
                    index_keys: record.index_keys().map(str::to_owned).collect(),
                });
                if out.len() == limit {
                    return (out, Some((s, slot)));
                }
            }
            s += 1;
            slot = 0;
        }
        (out, None)
    }

    /// Number of shards (scan cursors name one).
    pub(crate) fn shard_count(&self) -> usize {
        self.shards.len()
    }

    /// Removes up to `limit` expired entries, shard by shard: those of
    /// `prefix` only, or of every prefix when `None`.
    pub(crate) fn purge_expired(&self, prefix: Option<&str>, limit: usize, now: u64) -> u64 {
        let mut purged = 0usize;
        for cell in self.shards.iter() {
            if purged >= limit {
                break;
            }
            let mut shard = cell.lock.write();
            let expired: Vec<u32> = (0..shard.slots.len() as u32)
                .filter(|&i| {
                    let r = shard.record(i);
                    !r.is_free()
                        && r.is_expired(now)
                        && prefix.is_none_or(|p| r.prefix() == p.as_bytes())
                })
                .take(limit - purged)
                .collect();
            for idx in expired {
                let hash = hash_stored(&self.hasher, shard.record(idx));
                self.remove_counted(&mut shard, hash, idx, now);
                purged += 1;
            }
        }
        purged as u64
    }

    /// (entries, bytes, hits, misses, write counts) summed over shards.
    pub(crate) fn totals(&self) -> (usize, usize, u64, u64, WriteCounts) {
        let mut t = (0, 0, 0, 0, WriteCounts::default());
        for cell in self.shards.iter() {
            let shard = cell.lock.read();
            t.0 += shard.len();
            t.1 += shard.bytes;
            t.2 += cell.hits.load(Relaxed);
            t.3 += cell.misses.load(Relaxed);
            t.4.sets += shard.counts.sets;
            t.4.deletes += shard.counts.deletes;
            t.4.evictions += shard.counts.evictions;
            t.4.expirations += shard.counts.expirations;
        }
        t
    }

    /// Drops every entry of every prefix; returns how many there were.
    pub(crate) fn clear(&self) -> usize {
        let n = self.shards.iter().map(|c| c.lock.write().clear()).sum();
        self.indexes.clear();
        n
    }
}

/// The version a put in `mode` writes over the live entry at `current`
/// (`None`: no live entry), or the error of its failed condition.
fn next_version(key: &str, mode: PutMode, current: Option<u64>) -> Result<u64> {
    match (mode, current) {
        (PutMode::CreateOnly, Some(_)) => Err(Error::AlreadyExists { key: key.into() }),
        (PutMode::UpdateOnly | PutMode::IfVersion(_), None) => {
            Err(Error::NotFound { key: key.into() })
        }
        (PutMode::IfVersion(expected), Some(actual)) if expected != actual => {
            Err(Error::VersionConflict {
                key: key.into(),
                expected,
                actual,
            })
        }
        _ => Ok(current.map_or(1, |v| v + 1)),
    }
}

fn prefix_of(record: &Record) -> &str {
    std::str::from_utf8(record.prefix()).unwrap_or_default()
}
