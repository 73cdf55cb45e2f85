//! One lock's worth of the memory store: a hash table of slot numbers over a slab of records.
//!
//! The table holds only `u32` slot numbers (4 bytes plus one control byte per
//! bucket); the records live in a slab (`Vec<Slot>`) whose free slots are
//! reused. Slot numbers stay fixed while an entry lives, which gives `scan`
//! stable cursors and eviction cheap random sampling.

use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use hashbrown::HashTable;
use parking_lot::RwLock;

use super::record::{PREFIX_SEP, Record, split_stored_key};

/// Shards up to this many slots evict exactly; larger ones sample.
const EXACT_EVICTION_SLOTS: usize = 256;

/// Hashes a key under a prefix exactly as [`hash_stored`] hashes its stored form.
#[inline]
pub(crate) fn hash_key(hasher: &ahash::RandomState, prefix: &str, key: &str) -> u64 {
    let mut h = hasher.build_hasher();
    h.write(prefix.as_bytes());
    h.write_u8(PREFIX_SEP);
    h.write(key.as_bytes());
    h.finish()
}

/// A key's hash tag: what lies between its first `{` and the first `}`
/// after it, if not empty (as Redis Cluster reads it).
#[inline]
pub(crate) fn hash_tag(key: &str) -> Option<&str> {
    let open = key.find('{')?;
    let rest = &key[open + 1..];
    let close = rest.find('}')?;
    (close > 0).then(|| &rest[..close])
}

/// Hashes a record's stored key (prefix, 0x1F, key).
pub(crate) fn hash_stored(hasher: &ahash::RandomState, record: &Record) -> u64 {
    let (prefix, key) = split_stored_key(record.stored_key());
    let mut h = hasher.build_hasher();
    h.write(prefix);
    h.write_u8(PREFIX_SEP);
    h.write(key);
    h.finish()
}

/// A slab slot: a record (empty when free) and its last-access tick for LRU.
#[derive(Debug, Default)]
pub(crate) struct Slot {
    pub(crate) record: Record,
    pub(crate) stamp: AtomicU32,
}

/// Counters only changed under the shard's write lock.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct WriteCounts {
    pub(crate) sets: u64,
    pub(crate) deletes: u64,
    pub(crate) evictions: u64,
    pub(crate) expirations: u64,
}

/// The data behind one shard lock.
#[derive(Debug, Default)]
pub(crate) struct Shard {
    table: HashTable<u32>,
    pub(crate) slots: Vec<Slot>,
    free: Vec<u32>,
    pub(crate) bytes: usize,
    pub(crate) counts: WriteCounts,
    rng: u64,
}

/// A shard with its lock and read-side counters, padded to its own cache lines.
#[derive(Debug, Default)]
#[repr(align(128))]
pub(crate) struct ShardCell {
    pub(crate) lock: RwLock<Shard>,
    pub(crate) hits: AtomicU64,
    pub(crate) misses: AtomicU64,
}

impl ShardCell {
    // Reads count with a plain load and store, not a locked read-modify-write:
    // two readers of one shard at the same instant may lose one count, which
    // statistics can afford and the read path (a few ns per get) cannot.
    pub(crate) fn hit(&self) {
        bump(&self.hits);
    }

    pub(crate) fn miss(&self) {
        bump(&self.misses);
    }
}

#[inline]
fn bump(counter: &AtomicU64) {
    counter.store(counter.load(Ordering::Relaxed) + 1, Ordering::Relaxed);
}

impl Shard {
    /// Number of records (live or expired-but-not-yet-removed).
    pub(crate) fn len(&self) -> usize {
        self.table.len()
    }

    /// The slot number holding `key` under `prefix`.
    #[inline]
    pub(crate) fn find(&self, hash: u64, prefix: &str, key: &str) -> Option<u32> {
        let slots = &self.slots;
        self.table
            .find(hash, |&i| slots[i as usize].record.is_key(prefix, key))
            .copied()
    }

    pub(crate) fn record(&self, idx: u32) -> &Record {
        &self.slots[idx as usize].record
    }

    pub(crate) fn record_mut(&mut self, idx: u32) -> &mut Record {
        &mut self.slots[idx as usize].record
    }

    /// Marks the slot as used at `tick` (only writes when the tick changed).
    #[inline]
    pub(crate) fn stamp(&self, idx: u32, tick: u32) {
        let s = &self.slots[idx as usize].stamp;
        if s.load(Ordering::Relaxed) != tick {
            s.store(tick, Ordering::Relaxed);
        }
    }

    /// Inserts a record whose key is known to be absent; returns its slot.
    pub(crate) fn insert_new(
        &mut self,
        hasher: &ahash::RandomState,
        hash: u64,
        record: Record,
        tick: u32,
    ) -> u32 {
        self.bytes += record.size();
        let idx = match self.free.pop() {
            Some(idx) => {
                self.slots[idx as usize] = Slot {
                    record,
                    stamp: AtomicU32::new(tick),
                };
                idx
            }
            None => {
                self.slots.push(Slot {
                    record,
                    stamp: AtomicU32::new(tick),
                });
                (self.slots.len() - 1) as u32
            }
        };
        let slots = &self.slots;
        self.table.insert_unique(hash, idx, |&i| {
            hash_stored(hasher, &slots[i as usize].record)
        });
        idx
    }

    /// Replaces the record in slot `idx` (same key), returning the old one.
    pub(crate) fn replace(&mut self, idx: u32, record: Record, tick: u32) -> Record {
        self.bytes = self.bytes + record.size() - self.record(idx).size();
        let slot = &mut self.slots[idx as usize];
        *slot.stamp.get_mut() = tick;
        std::mem::replace(&mut slot.record, record)
    }

    /// Removes the record in slot `idx`, whose key hashes to `hash`.
    pub(crate) fn remove(&mut self, hash: u64, idx: u32) -> Record {
        if let Ok(entry) = self.table.find_entry(hash, |&i| i == idx) {
            entry.remove();
        }
        let record = std::mem::take(&mut self.slots[idx as usize].record);
        self.bytes -= record.size();
        self.free.push(idx);
        record
    }

    /// Removes slot `idx`, computing its hash from the stored key.
    pub(crate) fn remove_slot(&mut self, hasher: &ahash::RandomState, idx: u32) -> Record {
        let hash = hash_stored(hasher, self.record(idx));
        self.remove(hash, idx)
    }

    /// Drops every record.
    pub(crate) fn clear(&mut self) -> usize {
        let n = self.table.len();
        self.table = HashTable::new();
        self.slots = Vec::new();
        self.free = Vec::new();
        self.bytes = 0;
        n
    }

    /// Picks a used slot to evict: the one with the lowest `score`, judged
    /// over the whole shard when it has at most [`EXACT_EVICTION_SLOTS`]
    /// slots, else over `samples` random used slots (as Redis does).
    /// Returns `None` if the shard is empty.
    pub(crate) fn pick_victim(
        &mut self,
        samples: usize,
        score: impl Fn(u32, &Slot) -> u64,
    ) -> Option<u32> {
        if self.table.is_empty() {
            return None;
        }
        let n = self.slots.len();
        let candidates: Box<dyn Iterator<Item = u32>> = if n <= EXACT_EVICTION_SLOTS {
            Box::new(0..n as u32)
        } else {
            // Bounded probing; the slab is mostly full in steady state.
            let probes: Vec<u32> = (0..samples * 8)
                .map(|_| (self.next_random() % n as u64) as u32)
                .collect();
            Box::new(probes.into_iter())
        };
        let mut best: Option<(u64, u32)> = None;
        let mut found = 0;
        for idx in candidates {
            let slot = &self.slots[idx as usize];
            if slot.record.is_free() {
                continue;
            }
            let s = score(idx, slot);
            if best.is_none_or(|(b, _)| s < b) {
                best = Some((s, idx));
            }
            found += 1;
            if n > EXACT_EVICTION_SLOTS && found == samples {
                break;
            }
        }
        best.map(|(_, idx)| idx)
    }

    fn next_random(&mut self) -> u64 {
        // xorshift64*: quality is ample for sampling eviction candidates.
        if self.rng == 0 {
            self.rng = 0x9e37_79b9_7f4a_7c15 ^ (self.slots.len() as u64);
        }
        self.rng ^= self.rng >> 12;
        self.rng ^= self.rng << 25;
        self.rng ^= self.rng >> 27;
        self.rng.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
}

#[cfg(test)]
mod tests {
    use super::hash_tag;

    #[test]
    fn hash_tags_are_read_as_redis_cluster_reads_them() {
        assert_eq!(hash_tag("oauth-at:{g1}abc"), Some("g1"));
        assert_eq!(hash_tag("a:{g1}x{g2}"), Some("g1"));
        assert_eq!(hash_tag("a:{}{g1}"), None, "an empty first tag means none");
        assert_eq!(hash_tag("a:{g1"), None);
        assert_eq!(hash_tag("session:abc"), None);
    }
}
