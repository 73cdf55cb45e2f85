//! Secondary indexes of the memory store: index key → set of entry keys.
//!
//! Lock order: an entry's shard lock is always taken before an index lock,
//! never the other way round, so index upkeep happens inside the entry's
//! atomic step without deadlock.

use std::collections::{HashMap, HashSet};

use parking_lot::Mutex;

use super::record::PREFIX_SEP;

type MemberSet = HashSet<Box<str>, ahash::RandomState>;
type IndexShard = HashMap<Box<str>, MemberSet, ahash::RandomState>;

const INDEX_SHARDS: usize = 16;

/// All index sets of one memory engine.
#[derive(Debug)]
pub(crate) struct Indexes {
    shards: Box<[Mutex<IndexShard>]>,
    hasher: ahash::RandomState,
}

impl Default for Indexes {
    fn default() -> Self {
        Self {
            shards: (0..INDEX_SHARDS).map(|_| Mutex::default()).collect(),
            hasher: ahash::RandomState::new(),
        }
    }
}

/// The stored name of an index: prefix, 0x1F, index key.
fn index_name(prefix: &str, index_key: &str) -> String {
    let mut name = String::with_capacity(prefix.len() + 1 + index_key.len());
    name.push_str(prefix);
    name.push(char::from(PREFIX_SEP));
    name.push_str(index_key);
    name
}

impl Indexes {
    fn shard(&self, name: &str) -> &Mutex<IndexShard> {
        let h = self.hasher.hash_one(name);
        &self.shards[(h as usize) % INDEX_SHARDS]
    }

    /// Lists `member` under the index.
    pub(crate) fn add(&self, prefix: &str, index_key: &str, member: &str) {
        let name = index_name(prefix, index_key);
        let mut shard = self.shard(&name).lock();
        shard
            .entry(name.into_boxed_str())
            .or_default()
            .insert(member.into());
    }

    /// Unlists `member`; drops the index when it becomes empty.
    pub(crate) fn remove(&self, prefix: &str, index_key: &str, member: &str) {
        let name = index_name(prefix, index_key);
        let mut shard = self.shard(&name).lock();
        if let Some(set) = shard.get_mut(name.as_str()) {
            set.remove(member);
            if set.is_empty() {
                shard.remove(name.as_str());
            }
        }
    }

    /// The members listed under the index (live or not; callers filter).
    pub(crate) fn members(&self, prefix: &str, index_key: &str) -> Vec<String> {
        let name = index_name(prefix, index_key);
        let shard = self.shard(&name).lock();
        shard
            .get(name.as_str())
            .map(|set| set.iter().map(|m| m.to_string()).collect())
            .unwrap_or_default()
    }

    /// Number of indexes across all prefixes.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.shards.iter().map(|s| s.lock().len()).sum()
    }

    /// Drops every index.
    pub(crate) fn clear(&self) {
        for shard in self.shards.iter() {
            shard.lock().clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn add_list_remove_and_prefix_separation() {
        let ix = Indexes::default();
        ix.add("a", "user:1", "s:1");
        ix.add("a", "user:1", "s:2");
        ix.add("b", "user:1", "s:3");
        let mut m = ix.members("a", "user:1");
        m.sort();
        assert_eq!(m, ["s:1", "s:2"]);
        assert_eq!(ix.members("b", "user:1"), ["s:3"]);
        ix.remove("a", "user:1", "s:1");
        ix.remove("a", "user:1", "s:2");
        assert!(ix.members("a", "user:1").is_empty());
        assert_eq!(ix.len(), 1, "empty index sets are dropped");
    }
}
