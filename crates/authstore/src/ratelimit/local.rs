//! The in-process cache of refused keys, so blocked clients do not reach the store.

use std::collections::HashMap;

use parking_lot::Mutex;

/// Keys refused until a time (ms), bounded: when full, expired entries are
/// dropped first, then the cache is cleared (it only saves round trips).
#[derive(Debug)]
pub(super) struct BlockedKeys {
    until: Mutex<HashMap<String, u64>>,
    capacity: usize,
}

impl BlockedKeys {
    pub(super) fn new(capacity: usize) -> Self {
        Self {
            until: Mutex::new(HashMap::new()),
            capacity: capacity.max(1),
        }
    }

    /// When `key` is refused until, if that is after `now`.
    pub(super) fn blocked_until(&self, key: &str, now: u64) -> Option<u64> {
        let mut map = self.until.lock();
        match map.get(key) {
            Some(&until) if until > now => Some(until),
            Some(_) => {
                map.remove(key);
                None
            }
            None => None,
        }
    }

    pub(super) fn block(&self, key: &str, until: u64, now: u64) {
        let mut map = self.until.lock();
        if map.len() >= self.capacity && !map.contains_key(key) {
            map.retain(|_, u| *u > now);
            if map.len() >= self.capacity {
                map.clear();
            }
        }
        map.insert(key.to_owned(), until);
    }
}
